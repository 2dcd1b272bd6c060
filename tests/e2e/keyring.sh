# Key rotation end to end, through a real collector on 127.0.0.1: three
# known devices, a rotation, a restart; a known device that re-activates is a
# re-activation (never a fourth sale) and moves to the new key; export and
# erase find a device under the old key; the old key is retired only once no
# row needs it; a keyring file of the first format keeps working.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
dir=$STS_TMP
C=$COLLECTOR
db=$dir/sts.db
fail=0

post()
{
    local code
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "$1" "$url/v1/reports")
    [ "$code" = "$2" ] || sts_die "post: status $code, expected $2 for $1"
}
# sales: activations and re-activations in the counters.
sales() { sqlite3 "$db" 'SELECT sum(activations) || " " || sum(reactivations) FROM sales_day'; }

# A key file of the first format, as an older collector wrote it: still read.
old_id=0a1b2c3d
printf 'sts-pseudonym-key 1\nid %s\nsecret %s\n' "$old_id" \
    000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f >"$dir/key"
chmod 600 "$dir/key"

sts_start "$dir/serve.err" --db "sqlite:$db" --key "$dir/key"
url=http://127.0.0.1:$SRV_PORT
for n in 1 2 3; do
    post "$(sts_activation "$(sts_rid "$n")" "$(sts_imei "$n")")" 202
done
sts_stop "$SRV_PID"
[ "$(sales)" = "3 0" ] || { echo "FAIL before rotation: sales $(sales)"; fail=1; }

"$C" keygen --rotate "$dir/key" 2>"$dir/err" || sts_die "keygen --rotate: $(cat "$dir/err")"
grep -q "now current; 2 key(s)" "$dir/err" || { echo "FAIL rotate message: $(cat "$dir/err")"; fail=1; }
[ "$(stat -c %a "$dir/key")" = 600 ] || { echo "FAIL rotate: mode $(stat -c %a "$dir/key")"; fail=1; }
new_id=$(sed -n 's/^current //p' "$dir/key")
grep -q "^key $old_id " "$dir/key" || { echo "FAIL rotate dropped the old key"; fail=1; }
[ -n "$new_id" ] && [ "$new_id" != "$old_id" ] || { echo "FAIL rotate: current '$new_id'"; fail=1; }
"$C" keygen --rotate "$dir/nokey" 2>"$dir/err" && { echo "FAIL rotate of a missing keyring"; fail=1; }

# After the restart: device 1 re-activates (a new report id, a later day),
# device 4 is new. Known devices never count again.
sts_start "$dir/serve.err" --db "sqlite:$db" --key "$dir/key"
url=http://127.0.0.1:$SRV_PORT
post "$(sts_activation "$(sts_rid 1 1)" "$(sts_imei 1)" K400 FR 2026-11-21)" 202
post "$(sts_activation "$(sts_rid 4)" "$(sts_imei 4)")" 202
post "$(sts_activation "$(sts_rid 1 1)" "$(sts_imei 1)" K400 FR 2026-11-21)" 200
sts_stop "$SRV_PID"
grep -q '1 accepted, 1 re-activations, 1 duplicates' "$dir/serve.err" ||
    { echo "FAIL counters after rotation: $(tail -n 2 "$dir/serve.err")"; fail=1; }
[ "$(sales)" = "4 1" ] || { echo "FAIL after rotation: sales $(sales), expected 4 1"; fail=1; }
[ "$(sqlite3 "$db" 'SELECT count(*) FROM activation')" = 4 ] || { echo "FAIL device rows"; fail=1; }

# Device 1 moved to the new key, its first month kept; device 2 is still
# under the old one, and export finds it there.
"$C" export --imei "$(sts_imei 1)" --db "sqlite:$db" --key "$dir/key" >"$dir/out" || fail=1
[ "$(jq -c '[.held, .key_id, .month, .reactivations, (.records | length), (.keys_searched | length)]' "$dir/out")" = \
    "[true,\"$new_id\",\"2026-11\",1,1,2]" ] || { echo "FAIL export of the moved device: $(cat "$dir/out")"; fail=1; }
"$C" export --imei "$(sts_imei 2)" --db "sqlite:$db" --key "$dir/key" >"$dir/out" || fail=1
[ "$(jq -c '[.held, .key_id, .records[0].current_key]' "$dir/out")" = "[true,\"$old_id\",false]" ] ||
    { echo "FAIL export under the old key: $(cat "$dir/out")"; fail=1; }
"$C" export --imei "$(sts_imei 2)" --db "sqlite:$db" --key "$dir/key" --format text >"$dir/out" || fail=1
grep -q "stored under key $old_id (an older key)" "$dir/out" || { echo "FAIL export text: $(cat "$dir/out")"; fail=1; }

# Retiring: refused for the current key, and while rows need the old one.
"$C" rekey --retire "$new_id" --db "sqlite:$db" --key "$dir/key" 2>"$dir/err" &&
    { echo "FAIL retired the current key"; fail=1; }
"$C" rekey --retire "$old_id" --db "sqlite:$db" --key "$dir/key" 2>"$dir/err"
rc=$?
[ "$rc" = 1 ] && grep -q "still needed by 2 device row(s)" "$dir/err" ||
    { echo "FAIL retire while needed: exit $rc, $(cat "$dir/err")"; fail=1; }
"$C" rekey --retire zz --db "sqlite:$db" --key "$dir/key" 2>/dev/null
[ $? = 2 ] || { echo "FAIL retire of a bad id: not a usage error"; fail=1; }

# Erase finds the device under the old key; erasing again deletes nothing.
# Its pseudonym is in the files before, and nowhere in them after
# (secure_delete, then the WAL truncated).
p2=$("$C" export --imei "$(sts_imei 2)" --db "sqlite:$db" --key "$dir/key" | jq -r .pseudonym)
hexdump_db() { cat "$db" "$db-wal" 2>/dev/null | od -An -tx1 -v | tr -d ' \n'; }
hexdump_db | grep -q "$p2" || { echo "FAIL the pseudonym is not in the file before the erase"; fail=1; }
"$C" erase --imei "$(sts_imei 2)" --db "sqlite:$db" --key "$dir/key" >"$dir/out" || fail=1
grep -q '^erased 1 row(s) naming this device: 1 activation row(s), 0 re-activation row(s), looked up under 2 key(s)' "$dir/out" ||
    { echo "FAIL erase under the old key: $(cat "$dir/out")"; fail=1; }
hexdump_db | grep -q "$p2" && { echo "FAIL the erased pseudonym is still in the database files"; fail=1; }
"$C" erase --imei "$(sts_imei 3)" --db "sqlite:$db" --key "$dir/key" >/dev/null || fail=1
"$C" erase --imei "$(sts_imei 3)" --db "sqlite:$db" --key "$dir/key" >"$dir/out" || fail=1
grep -q '^erased 0 row(s)' "$dir/out" || { echo "FAIL second erase: $(cat "$dir/out")"; fail=1; }

# No row needs the old key now: it goes from the file, the others stay.
"$C" rekey --retire "$old_id" --db "sqlite:$db" --key "$dir/key" >"$dir/out" 2>"$dir/err" ||
    { echo "FAIL retire: $(cat "$dir/err")"; fail=1; }
grep -q "^key $old_id " "$dir/key" && { echo "FAIL the retired key is still in the file"; fail=1; }
grep -q "^current $new_id$" "$dir/key" || { echo "FAIL the current key changed"; fail=1; }
grep -q 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f "$dir/key" &&
    { echo "FAIL the retired secret is still in the file"; fail=1; }
"$C" export --imei "$(sts_imei 1)" --db "sqlite:$db" --key "$dir/key" >"$dir/out" || fail=1
[ "$(jq -c '[.held, .key_id]' "$dir/out")" = "[true,\"$new_id\"]" ] || { echo "FAIL export after retire"; fail=1; }

grep -q 'runtime error\|Sanitizer' "$dir/serve.err" && { echo "FAIL serve: $(cat "$dir/serve.err")"; fail=1; }
[ "$fail" -eq 0 ] || sts_die "keyring"
echo "keyring: all checks passed"
