# The pseudonym keyring reloaded on SIGHUP, through a real collector on
# 127.0.0.1 (SQLite), without a restart:
#  - keygen --rotate, SIGHUP: a device first seen under the old key
#    re-activates (a re-activation, never a second sale) and moves to the new
#    key; a new device is stored under the new key id; a device not seen
#    again stays found under the old key (export, audit --format json);
#  - refused, the keyring in use kept and the log saying why, reports still
#    accepted: a keyring that drops an older key rows still need, one that
#    lost the current key, a file that is not a keyring;
#  - accepted: a keyring that drops an older key no row needs;
#  - sts_reloads_total counts the reloads by result; the exit totals add up.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/keyring_reload.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
T=$STS_TMP
key=$T/key
db=sqlite:$T/sts.db

post()
{
    local code
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "$1" "$url/v1/reports")
    [ "$code" = "$2" ] || sts_die "post: status $code, expected $2 for $1"
}
current_of() { sed -n 's/^current //p' "$1"; }
# export_of N [KEYFILE]: "key_id reactivations" of device N, or "absent".
export_of()
{
    "$COLLECTOR" export --imei "$(sts_imei "$1")" --db "$db" --key "${2:-$key}" --format json |
        jq -r 'if .held then "\(.key_id) \(.reactivations)" else "absent" end'
}
# reload: SIGHUP, then waits (at most 5 s) for one more reload line and
# prints it.
reload()
{
    local i n
    n=$(($(grep -c 'reload (SIGHUP): ' "$log") + 1))
    kill -HUP "$SRV_PID"
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'reload (SIGHUP): ' "$log")" -ge "$n" ] && break
        sleep 0.05
    done
    grep 'reload (SIGHUP): ' "$log" | sed -n "${n}p"
}
metric() { curl -sS --max-time 5 "http://127.0.0.1:$MPORT/metrics" | grep -F "$1" | cut -d' ' -f2; }

# K0 never makes a row (it is current before the collector starts for the
# first time only in the file); K1 is current at start.
"$COLLECTOR" keygen --out "$key" 2>/dev/null || sts_die "keygen"
k0=$(current_of "$key")
"$COLLECTOR" keygen --rotate "$key" 2>/dev/null || sts_die "keygen --rotate"
k1=$(current_of "$key")

log=$T/serve.err
sts_start "$log" --db "$db" --key "$key" --metrics-listen 127.0.0.1:0
url=http://127.0.0.1:$SRV_PORT
MPORT=$(sed -n 's|^sts-collector: metrics listening on http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$log")
[ -n "$MPORT" ] || sts_die "no metrics address in the log: $(cat "$log")"
# Devices 1 (re-activates after the rotation) and 3 (not seen again).
post "$(sts_activation "$(sts_rid 1)" "$(sts_imei 1)")" 202
post "$(sts_activation "$(sts_rid 3)" "$(sts_imei 3)")" 202

# --- rotation and SIGHUP -------------------------------------------------
"$COLLECTOR" keygen --rotate "$key" 2>"$T/rotate.err" || sts_die "keygen --rotate: $(cat "$T/rotate.err")"
grep -q "Reload serve (SIGHUP) to make new pseudonyms with it" "$T/rotate.err" ||
    sts_die "keygen --rotate does not say to reload: $(cat "$T/rotate.err")"
k2=$(current_of "$key")
line=$(reload)
[[ "$line" == *"pseudonym keys: reloaded (current key $k2, was $k1; 3 key(s))" ]] ||
    sts_die "reload after the rotation: $line"
cp -p "$key" "$T/good.key"
post "$(sts_activation "$(sts_rid 1 1)" "$(sts_imei 1)")" 202 # device 1 re-activates
post "$(sts_activation "$(sts_rid 2)" "$(sts_imei 2)")" 202   # a new device
post "$(sts_activation "$(sts_rid 1 1)" "$(sts_imei 1)")" 200 # retried: duplicate
[ "$(export_of 1)" = "$k2 1" ] || sts_die "device 1 after the reload: $(export_of 1), want '$k2 1'"
[ "$(export_of 2)" = "$k2 0" ] || sts_die "new device after the reload: $(export_of 2), want '$k2 0'"
[ "$(export_of 3)" = "$k1 0" ] || sts_die "device 3 under the old key: $(export_of 3), want '$k1 0'"
audit=$("$COLLECTOR" audit --db "$db" --key "$key" --format json)
got=$(jq -c '[.devices, .reactivations, [.keys.in_file[] | [.key_id, .current, .devices]]]' <<<"$audit")
want="[3,1,[[\"$k0\",false,0],[\"$k1\",false,1],[\"$k2\",true,2]]]"
[ "$got" = "$want" ] || sts_die "audit after the reload: $got, want $want"
[ "$(metric 'sts_reports_total{type="activation",outcome="reactivation"}')" = 1 ] ||
    sts_die "re-activations in /metrics: $(metric 'outcome="reactivation"')"
echo "rotation + SIGHUP: device 1 re-activated and moved to $k2 (3 devices, 1 re-activation: no second sale), device 2 stored under $k2, device 3 still found under $k1"

# --- refused: the keyring in use stays -------------------------------------
# An older key that a device row still needs (device 3 under K1).
grep -v "^key $k1 " "$T/good.key" >"$key"
line=$(reload)
[[ "$line" == *"pseudonym keys: kept (older key $k1 is not in the new keyring but 1 device row(s) are stored under it"* ]] ||
    sts_die "a keyring without a needed key: $line"
post "$(sts_activation "$(sts_rid 4)" "$(sts_imei 4)")" 202
[ "$(export_of 4 "$T/good.key")" = "$k2 0" ] || sts_die "device 4 after a refused reload: $(export_of 4 "$T/good.key")"
# A keyring that lost the current key: another collector's file, say.
rm -f "$key" && "$COLLECTOR" keygen --out "$key" 2>/dev/null
line=$(reload)
[[ "$line" == *"pseudonym keys: kept (the current key $k2 is not in the new keyring"* ]] ||
    sts_die "a keyring without the current key: $line"
# Not a keyring at all.
echo "not a key" >"$key"
line=$(reload)
[[ "$line" == *"pseudonym keys: kept ($key: not a key file written by 'sts-collector keygen')" ]] ||
    sts_die "a broken key file: $line"
grep -q "^sts-collector: reload (SIGHUP): .*kept" "$log" || sts_die "no warning line"
post "$(sts_activation "$(sts_rid 5)" "$(sts_imei 5)")" 202
post "$(sts_activation "$(sts_rid 3 1)" "$(sts_imei 3)")" 202 # device 3, still under K1
[ "$(export_of 5 "$T/good.key")" = "$k2 0" ] || sts_die "device 5 after a broken key file: $(export_of 5 "$T/good.key")"
[ "$(export_of 3 "$T/good.key")" = "$k2 1" ] || sts_die "device 3 after a broken key file: $(export_of 3 "$T/good.key")"
echo "refused, old keyring kept, reports accepted: a needed key dropped, the current key lost, a broken file"

# --- accepted: K0, which no row needs, dropped ------------------------------
grep -v "^key $k0 " "$T/good.key" >"$key"
line=$(reload)
[[ "$line" == *"pseudonym keys: reloaded (current key $k2, unchanged; 2 key(s))" ]] ||
    sts_die "a keyring without an unneeded key: $line"
post "$(sts_activation "$(sts_rid 6)" "$(sts_imei 6)")" 202
[ "$(export_of 6)" = "$k2 0" ] || sts_die "device 6: $(export_of 6)"
[ "$(metric 'sts_reloads_total{result="ok"}')" = 2 ] && [ "$(metric 'sts_reloads_total{result="failed"}')" = 3 ] ||
    sts_die "sts_reloads_total: ok $(metric 'result="ok"'), failed $(metric 'result="failed"'), want 2 and 3"
sts_stop "$SRV_PID"
grep -q "answered: 6 accepted, 2 re-activations, 1 duplicates" "$log" ||
    sts_die "exit totals: $(grep 'answered' "$log")"
got=$("$COLLECTOR" audit --db "$db" --format json | jq -c '[.devices, .reactivations]')
[ "$got" = "[6,2]" ] || sts_die "audit at the end: $got, want [6,2]"
# The logs name key ids, never a device.
grep -q "$(sts_imei 1)" "$log" && sts_die "an IMEI in the log"
echo "reloads: 2 ok, 3 failed (sts_reloads_total); 6 devices, 2 re-activations, 0 counted twice"
echo "keyring_reload: ok"
