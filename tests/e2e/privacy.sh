# Privacy at rest: after 200 activations (distinct IMEIs) and a lifetime ping,
# no raw IMEI may be found in the database, its WAL (a copy taken while the
# collector runs, and whatever is left after it stops), its shared-memory
# file, or the collector's output; not as ASCII, not as the hex of its ASCII
# digits, not as a 64-bit integer. The client address must not be in the
# database files, nor the pseudonym key, whose file must be mode 600.
# Then what schema 4 keeps (docs/at-rest.md): the device tables hold no
# class, day or report id; report ids past their window are gone from the
# database files, not only from their table.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export LC_ALL=C
export STS_NOW_DAY=2026-11-20

N=200
dir=$STS_TMP
db=$dir/sts.db
"$COLLECTOR" keygen --out "$dir/key" 2>/dev/null || sts_die "keygen failed"
sts_start "$dir/log" --db "sqlite:$db" --key "$dir/key"
url=http://127.0.0.1:$SRV_PORT/v1/reports

post()
{
    curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$1" "$url"
}

# Report ids as random as the agent's (the search below must not match the
# zeros of a page).
rid()
{
    printf 'rid %s' "$1" | sha256sum | cut -c1-32
}

: >"$dir/imeis"
for ((i = 1; i <= N; i++)); do
    imei=$(sts_imei $((i * 7919)))
    echo "$imei" >>"$dir/imeis"
    code=$(post "$(sts_activation "$(rid "$i")" "$imei" K400 FR)")
    [ "$code" = 202 ] || sts_die "activation $i ($imei): status $code"
done
[ "$(sort -u "$dir/imeis" | wc -l)" -eq "$N" ] || sts_die "the test IMEIs are not distinct"
code=$(post '{"v":1,"type":"lifetime","report_id":"fedcba9876543210fedcba9876543210","brand":"acme-eu","model":"K400","sw":"K400-V13","cohort":"2026-01","period":"2026-11","first":false,"country":"FR"}')
[ "$code" = 202 ] || sts_die "lifetime ping: status $code"

# The WAL as it stands while the collector runs (SQLite removes it at close).
[ -f "$db-wal" ] || sts_die "no WAL file while the collector runs (journal_mode=WAL expected)"
cp "$db-wal" "$dir/wal-copy"
[ -f "$db-shm" ] && cp "$db-shm" "$dir/shm-copy"
sts_stop "$SRV_PID"

[ "$(sqlite3 "$db" 'SELECT count(*) FROM activation')" = "$N" ] ||
    sts_die "expected $N activation rows"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM lifetime_count')" = 1 ] ||
    sts_die "expected one lifetime counter"

files=("$db" "$dir/wal-copy")
for f in "$db-wal" "$db-shm" "$dir/shm-copy"; do
    [ -f "$f" ] && files+=("$f")
done
logs=("$dir/log" "$dir/log.out")

# Patterns: every IMEI as text, and as the hex of its ASCII digits (lower
# and upper case).
: >"$dir/pat-text"
: >"$dir/pat-hex"
: >"$dir/pat-int"
while read -r imei; do
    echo "$imei" >>"$dir/pat-text"
    hex=$(printf '%s' "$imei" | od -An -tx1 | tr -d ' \n')
    echo "$hex" >>"$dir/pat-hex"
    echo "${hex^^}" >>"$dir/pat-hex"
done <"$dir/imeis"

# Positive control: the same search does find text that is stored.
n=$(cat "$db" "$dir/wal-copy" | grep -c -a -F 'acme-eu')
[ "$n" -gt 0 ] || sts_die "control: 'acme-eu' not found in the database files; the search is broken"
n=$(printf 'x%sx' "$(head -n1 "$dir/imeis")" | grep -c -a -F -f "$dir/pat-text")
[ "$n" -eq 1 ] || sts_die "control: an IMEI pattern does not match itself"

fail=0
for f in "${files[@]}" "${logs[@]}"; do
    n=$(grep -c -a -F -f "$dir/pat-text" "$f")
    [ "$n" -eq 0 ] || { echo "raw IMEI found in $f ($n lines)"; fail=1; }
    n=$(grep -c -a -F -f "$dir/pat-hex" "$f")
    [ "$n" -eq 0 ] || { echo "hex-encoded IMEI found in $f ($n lines)"; fail=1; }
done
for f in "${files[@]}"; do
    n=$(grep -c -a -F '127.0.0.1' "$f")
    [ "$n" -eq 0 ] || { echo "client address found in $f"; fail=1; }
done

# Binary searches go through a hex dump of the file, so that any byte
# (newline, NUL) may occur in the pattern; matches must be byte-aligned.
for f in "${files[@]}"; do
    od -An -v -tx1 "$f" | tr -d ' \n' >"$f.hex"
done
# has_bytes FILE HEX: the number of byte-aligned occurrences of HEX in FILE.
has_bytes()
{
    grep -ob -F "$2" "$1.hex" | awk -F: '$1 % 2 == 0' | wc -l
}

# Control: the header "SQLite format 3\0" is found this way.
[ "$(has_bytes "$db" 53514c69746520666f726d6174203300)" -eq 1 ] ||
    sts_die "control: the binary search does not find the SQLite header"

# The IMEI as a 64-bit integer, big- and little-endian (SQLite stores
# integers big-endian).
while read -r imei; do
    be=$(printf '%016x' "$imei")
    le=$(printf '%s' "$be" | sed 's/../&\n/g' | tac | tr -d '\n')
    echo "$be" >>"$dir/pat-int"
    echo "$le" >>"$dir/pat-int"
done <"$dir/imeis"
for f in "${files[@]}"; do
    n=$(grep -ob -F -f "$dir/pat-int" "$f.hex" | awk -F: '$1 % 2 == 0' | wc -l)
    [ "$n" -eq 0 ] || { echo "IMEI as a binary integer found in $f"; fail=1; }
done

# The key: mode 600, and neither its secret (hex or raw bytes) nor its file
# in the database files.
mode=$(stat -c %a "$dir/key")
[ "$mode" = 600 ] || { echo "key file mode is $mode, not 600"; fail=1; }
secret=$(sed -n 's/^key [0-9a-f]\{8\} //p' "$dir/key")
[ ${#secret} -eq 64 ] || sts_die "cannot read the secret from the key file"
for f in "${files[@]}"; do
    n=$(grep -c -a -i -F "$secret" "$f")
    [ "$n" -eq 0 ] || { echo "key secret (hex) found in $f"; fail=1; }
    n=$(has_bytes "$f" "$secret")
    [ "$n" -eq 0 ] || { echo "key secret (raw bytes) found in $f"; fail=1; }
    n=$(grep -c -a -F 'sts-pseudonym-key' "$f")
    [ "$n" -eq 0 ] || { echo "key file contents found in $f"; fail=1; }
done
case $(realpath "$dir/key") in
"$(realpath "$db")"*) echo "the key file lives at the database path"; fail=1 ;;
esac

# The device tables: a pseudonym, a key id, a month; nothing else.
[ "$(sqlite3 "$db" "SELECT group_concat(name) FROM pragma_table_info('activation')")" = \
    pseudonym,key_id,month ] || { echo "activation columns: $(sqlite3 "$db" 'PRAGMA table_info(activation)')"; fail=1; }
[ "$(sqlite3 "$db" "SELECT group_concat(name) FROM pragma_table_info('reactivation')")" = \
    pseudonym,month ] || { echo "reactivation columns changed"; fail=1; }

# Report ids: all 201 kept now, in the files as 16-byte blobs (control);
# after their window (30 days for activations, November's grace for the
# ping) the purge deletes them and nothing of them is left in the files.
rid_hex()
{
    local i
    for ((i = 1; i <= N; i++)); do rid "$i"; done
    echo fedcba9876543210fedcba9876543210
}
rid_hex >"$dir/pat-rid"
n=$(grep -c -F -f "$dir/pat-rid" "$db.hex")
[ "$n" -gt 0 ] || sts_die "control: the report ids are not found in the database file"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM report_id')" = $((N + 1)) ] || sts_die "expected $((N + 1)) report ids"
out=$(STS_NOW_DAY=2026-12-21 "$COLLECTOR" purge --db "sqlite:$db") || sts_die "purge failed"
[ "$(head -n 1 <<<"$out")" = "purged $((N + 1)) report id(s) past their window" ] || sts_die "purge: $out"
for f in "$db" "$db-wal"; do
    [ -f "$f" ] || continue
    od -An -v -tx1 "$f" | tr -d ' \n' >"$f.hex"
    n=$(grep -ob -F -f "$dir/pat-rid" "$f.hex" | awk -F: '$1 % 2 == 0' | wc -l)
    [ "$n" -eq 0 ] || { echo "$n purged report ids still in $f"; fail=1; }
done

[ "$fail" -eq 0 ] || sts_die "privacy at rest"
echo "privacy: $N IMEIs, ${#files[@]} database files and 2 logs searched: nothing found;" \
    "$((N + 1)) report ids purged and gone from the files"
