# sts-collector's options as a newcomer meets them: an option a command does
# not take is refused (exit 2) before anything is done (erase --dry-run
# erases nothing), an unknown option or a missing value is named, a bad
# setting says which values it takes, --help and --version work after every
# command, and a refused keyring names its fault. A TLS certificate that is
# not one, a key that is not its pair, a relay address that is none or a
# model name no report can carry stops serve before the database is created.
# packaging/collector.conf.example with every setting uncommented is a
# configuration serve accepts. sts-fleet names an unknown last option as
# unknown, not as one missing its value.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
sts_keygen
export STS_NOW_DAY=2026-11-20
dir=$STS_TMP
C=$COLLECTOR
fail=0

check() { sts_check "$@"; }

db=$dir/sts.db
sts_start "$dir/serve.err" --db "sqlite:$db" --key "$dir/key"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$(sts_activation "$(sts_rid 1)" "$(sts_imei 1)")" \
    "http://127.0.0.1:$SRV_PORT/v1/reports")
[ "$code" = 202 ] || sts_die "activation answered $code"
sts_stop "$SRV_PID"

held()
{
    "$C" export --imei "$(sts_imei 1)" --db "sqlite:$db" --key "$dir/key" | jq -r .held
}
[ "$(held)" = true ] || sts_die "the device is not held before the checks"

# An option of another command is refused, and nothing happens.
check "erase --dry-run is refused" 2 "erase does not take --dry-run" \
    "$C" erase --imei "$(sts_imei 1)" --db "sqlite:$db" --key "$dir/key" --dry-run
[ "$(held)" = true ] || { echo "FAIL erase --dry-run erased the device"; fail=1; }
check "keygen --db is refused" 2 "keygen does not take --db" \
    "$C" keygen --out "$dir/newkey" --db "sqlite:$db"
[ ! -e "$dir/newkey" ] || { echo "FAIL keygen with a refused option wrote a key"; fail=1; }
check "stats --imei is refused" 2 "stats does not take --imei" \
    "$C" stats sales --db "sqlite:$db" --imei "$(sts_imei 1)"
check "purge --key is refused" 2 "purge does not take --key" \
    "$C" purge --db "sqlite:$db" --key "$dir/key"
check "export --dry-run is refused" 2 "export does not take --dry-run" \
    "$C" export --imei "$(sts_imei 1)" --db "sqlite:$db" --key "$dir/key" --dry-run
check "serve --imei is refused" 2 "serve does not take --imei" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key" --imei 1
[ ! -e "$dir/never.db" ] || { echo "FAIL serve with a refused option made a database"; fail=1; }
# What each command takes still works.
check "purge --dry-run" 0 "" "$C" purge --db "sqlite:$db" --retention-months 24 --dry-run
check "audit --retention-months" 0 "" "$C" audit --db "sqlite:$db" --retention-months 24
grep -q 'folded 24 months' "$dir/out" || { echo "FAIL audit: retention not shown"; fail=1; }
check "erase" 0 "" "$C" erase --imei "$(sts_imei 1)" --db "sqlite:$db" --key "$dir/key"
[ "$(held)" = false ] || { echo "FAIL erase did not erase"; fail=1; }

# --help and --version after any command, stats included.
for args in "stats --help" "stats sales --help" "erase --help" "serve --help"; do
    check "$args" 0 "" "$C" $args
    grep -q '^usage: sts-collector' "$dir/out" || { echo "FAIL $args: no usage on stdout"; fail=1; }
done
for args in "stats --version" "serve --version" "audit --version"; do
    check "$args" 0 "" "$C" $args
    grep -qx 'sts-collector [0-9][0-9.]*' "$dir/out" || { echo "FAIL $args: $(cat "$dir/out")"; fail=1; }
done

# Unknown options and missing values, named once, under the program's name.
check "unknown option" 2 "sts-collector: unknown or ambiguous option '--frobnicate'" \
    "$C" keygen --out "$dir/k2" --frobnicate
grep -q '^keygen:' "$dir/err" && { echo "FAIL the command is named as the program"; fail=1; }
[ ! -e "$dir/k2" ] || { echo "FAIL keygen with an unknown option wrote a key"; fail=1; }
check "missing value" 2 "sts-collector: --out needs a value" "$C" keygen --out
check "unknown statistic" 2 "unknown statistic 'frobnicate': use sales, lifetime or versions" \
    "$C" stats frobnicate --db "sqlite:$db"
grep -q -- '--statistic' "$dir/err" && { echo "FAIL names a flag that does not exist"; fail=1; }

# A bad setting says what it takes, from a flag or from the file.
check "bad --max-body" 2 "bad value '10' for max_body (--max-body): expected a whole number from 64 to 8192" \
    "$C" serve --db "sqlite:$dir/never.db" --key "$dir/key" --max-body 10
check "bad --rho" 2 "bad value '0' for rho (--rho): expected a number above 0" \
    "$C" serve --db "sqlite:$dir/never.db" --key "$dir/key" --rho 0
printf 'relay_burst = 0\n' >"$dir/bad.conf"
check "bad setting in a file" 2 "bad.conf:1: bad value '0' for relay_burst (--relay-burst): expected a whole number from 1 to 1000000" \
    "$C" serve --config "$dir/bad.conf" --db "sqlite:$dir/never.db" --key "$dir/key"
[ ! -e "$dir/never.db" ] || { echo "FAIL a refused setting made a database"; fail=1; }
# A relay address that is none, with or without a limit set, stops serve
# before anything is made; so does a model name no report can carry.
check "bad relay address" 2 "'notanip' is not an IP address" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key" \
    --relay-addresses 192.0.2.1,notanip
check "bad relay address with a limit" 2 "'192.0.2.300' is not an IP address" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key" \
    --relay-addresses 192.0.2.300 --relay-rate-limit 50
[ ! -e "$dir/never.db" ] || { echo "FAIL a bad relay address made a database"; fail=1; }
check "bad model name" 2 "'K400;K500' is not a model name" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key" --models 'K400;K500'
check "empty model name" 2 "'' is not a model name" "$C" stats sales --db "sqlite:$db" --models K400,,K500
check "trailing comma in models" 2 "a comma at the end" "$C" stats sales --db "sqlite:$db" --models K400,
check "models" 0 "" "$C" stats sales --db "sqlite:$db" --models 'K400,K500,M2-lite'
[ ! -e "$dir/never.db" ] || { echo "FAIL a bad model name made a database"; fail=1; }

# A refused keyring says which fault it has; a secret file that cannot be
# made says why.
cp "$dir/key" "$dir/key640"
chmod 640 "$dir/key640"
check "keyring of mode 0640" 1 "the key file has mode 0640: it is readable by others; chmod 600 it" \
    "$C" export --imei "$(sts_imei 1)" --db "sqlite:$db" --key "$dir/key640"
ln -s "$dir/key" "$dir/keylink"
check "keyring through a link" 1 "the key file is a symbolic link; give the path of the file itself" \
    "$C" keygen --rotate "$dir/keylink"
mkdir "$dir/keydir"
check "keyring that is a directory" 1 "the key file is not a regular file" \
    "$C" audit --db "sqlite:$db" --key "$dir/keydir"
for kind in "" --token --ohttp; do
    check "keygen $kind into a missing directory" 1 "its directory does not exist" \
        "$C" keygen $kind --out "$dir/nodir/secret"
done
"$C" keygen --token --out "$dir/token1" 2>/dev/null || sts_die "keygen --token"
check "keygen --token over a file" 1 "already exists; an existing key is never overwritten" \
    "$C" keygen --token --out "$dir/token1"

# TLS files checked before anything is made.
for n in a b; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$dir/tls-$n.key" -out "$dir/tls-$n.pem" 2>/dev/null ||
        sts_die "openssl req failed"
    chmod 600 "$dir/tls-$n.key"
done
check "serve with a key as its certificate" 1 "the TLS certificate is not a PEM certificate chain" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key" \
    --tls-cert "$dir/tls-a.key" --tls-key "$dir/tls-a.key"
[ ! -e "$dir/never.db" ] || { echo "FAIL a bad certificate made a database"; fail=1; }
check "serve with a certificate and another's key" 1 "the TLS certificate and key are not a pair" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key" \
    --tls-cert "$dir/tls-a.pem" --tls-key "$dir/tls-b.key"
[ ! -e "$dir/never.db" ] || { echo "FAIL a key of another certificate made a database"; fail=1; }
grep -q 'starting' "$dir/err" && { echo "FAIL serve said it was starting"; fail=1; }

# A database its user may not open: the system's reason, not only SQLite's.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
    chmod 711 "$dir" # the file is found; opening it is what is refused
    check "audit of a database nobody may read" 1 "unable to open database file (Permission denied)" \
        runuser -u nobody -- "$C" audit --db "sqlite:$db"
    chmod 700 "$dir"
fi

# The shipped example, every setting uncommented, on this test's files and a
# loopback port without TLS: serve accepts every line of it.
"$C" keygen --token --out "$dir/token" 2>/dev/null || sts_die "keygen --token"
"$C" keygen --ohttp --out "$dir/ohttp.key" 2>"$dir/err" || sts_die "keygen --ohttp"
id=$(grep -o 'key id [0-9]*' "$dir/err")
for _ in 1 2 3 4 5; do # the previous key needs a key id of its own (one random byte)
    rm -f "$dir/ohttp-previous.key"
    "$C" keygen --ohttp --out "$dir/ohttp-previous.key" 2>"$dir/err" || sts_die "keygen --ohttp"
    [ "$(grep -o 'key id [0-9]*' "$dir/err")" != "$id" ] && break
done
sed -e 's/^# \([a-z_]* = \)/\1/' \
    -e "s#^listen = .*#listen = 127.0.0.1:0#" \
    -e "s#^db = .*#db = sqlite:$dir/example.db#" \
    -e "s#^key = .*#key = $dir/key#" \
    -e "s#^token_file = .*#token_file = $dir/token#" \
    -e "s#^ohttp_key = .*previous.*#ohttp_key = $dir/ohttp-previous.key#" \
    -e "s#^ohttp_key = /etc.*#ohttp_key = $dir/ohttp.key#" \
    -e "s#^metrics_listen = .*#metrics_listen = 127.0.0.1:0#" \
    -e '/^tls_/d' \
    "$STS_SRC/packaging/collector.conf.example" >"$dir/example.conf"
settings=$(grep -c '^[a-z_]* = ' "$dir/example.conf")
[ "$settings" -ge 25 ] || sts_die "the example has only $settings settings"
# Every setting of the README's reference is in the example.
for name in $(sed -n 's/^| `\([a-z_]*\)`\(, `\([a-z_]*\)`\)\{0,1\} |.*/\1 \3/p' "$STS_SRC/README.md"); do
    grep -q "^\(# \)\{0,1\}$name = " "$STS_SRC/packaging/collector.conf.example" ||
        { echo "FAIL the example lacks $name"; fail=1; }
done
sts_start "$dir/example.err" --config "$dir/example.conf"
grep -q 'relays set' "$dir/example.err" || { echo "FAIL the example's relays were not read"; fail=1; }
sts_stop "$SRV_PID"
echo "ok   the example configuration ($settings settings) is accepted"

# sts-fleet: what the last argument is.
F=$STS_BIN/sts-fleet
check "fleet unknown last option" 2 "sts-fleet: unknown option: --frobnicate" \
    "$F" --collector http://127.0.0.1:1 --devices 10 --frobnicate
check "fleet missing value" 2 "sts-fleet: missing value after: --devices" \
    "$F" --collector http://127.0.0.1:1 --devices
check "fleet unknown option" 2 "sts-fleet: unknown option: --frobnicate" \
    "$F" --collector http://127.0.0.1:1 --frobnicate 3

exit $fail
