# The collector's start-up and exit as an operator meets them:
#  - a bad --listen (exit 2) or a port in use (exit 1) stops it before the
#    database is created, with no totals printed;
#  - every setting of the configuration reference (README) is also a flag
#    named in --help, and a flag takes effect (--max-body: 413 above it);
#  - the database, its -wal and -shm are created 0600;
#  - the exit totals add up: answered = accepted + re-activations +
#    duplicates + invalid + failed, the writer's records = committed +
#    failed, committed = accepted + re-activations + duplicates.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/ops_startup.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
SEND="python3 $STS_SRC/tests/e2e/lib/send_reports.py"
sts_keygen

count()
{
    local n
    n=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$2:\([0-9]*\)$/\1/p")
    echo "${n:-0}"
}

# --- start-up errors before anything is created -----------------------------
db=$STS_TMP/never.db
"$COLLECTOR" serve --db "sqlite:$db" --key "$STS_TMP/key" --listen nonsense 2>"$STS_TMP/e1"
rc=$?
[ "$rc" = 2 ] || sts_die "bad --listen: exit $rc, want 2"
grep -q "bad listen address 'nonsense'" "$STS_TMP/e1" || sts_die "bad --listen: $(cat "$STS_TMP/e1")"
"$COLLECTOR" serve --db "sqlite:$db" --key "$STS_TMP/key" --listen 10.1.2.3:8080 2>"$STS_TMP/e2"
rc=$?
[ "$rc" = 2 ] || sts_die "plain HTTP off loopback: exit $rc, want 2"
# A port in use: held by a collector of this test.
sts_start "$STS_TMP/holder" --db "sqlite:$STS_TMP/holder.db" --key "$STS_TMP/key"
"$COLLECTOR" serve --db "sqlite:$db" --key "$STS_TMP/key" --listen "127.0.0.1:$SRV_PORT" 2>"$STS_TMP/e3"
rc=$?
[ "$rc" = 1 ] || sts_die "port in use: exit $rc, want 1"
grep -q "Address already in use" "$STS_TMP/e3" || sts_die "port in use: $(cat "$STS_TMP/e3")"
for f in "$STS_TMP/e1" "$STS_TMP/e2" "$STS_TMP/e3"; do
    ! grep -q "records\|answered" "$f" || sts_die "totals printed after a start-up error: $(cat "$f")"
done
[ ! -e "$db" ] || sts_die "the database was created although serve could not listen"
# The database and its side files, while serving, are the owner's only.
$SEND "$SRV_PORT" 20 0 2 >/dev/null
for f in "$STS_TMP/holder.db" "$STS_TMP/holder.db-wal" "$STS_TMP/holder.db-shm"; do
    [ -e "$f" ] || sts_die "no $f while serving"
    mode=$(stat -c %a "$f")
    [ "$mode" = 600 ] || sts_die "$f created with mode $mode, want 600"
done
sts_stop "$SRV_PID"
echo "start-up: bad --listen exit 2, port in use exit 1, nothing created; database, -wal, -shm 0600"

# --- every setting a flag ---------------------------------------------------
help=$("$COLLECTOR" --help)
names=$(sed -n '/^## Collector configuration reference/,/^## /p' "$STS_SRC/README.md" |
    sed -n 's/^| `\([a-z_]*\)`\(, `\([a-z_]*\)`\)\{0,1\} |.*/\1 \3/p')
[ "$(wc -w <<<"$names")" -ge 25 ] || sts_die "read only $(wc -w <<<"$names") settings from README"
for n in $names; do
    flag=--${n//_/-}
    grep -q -- "$flag\b" <<<"$help" || sts_die "setting $n has no $flag in --help"
done
"$COLLECTOR" serve --db "sqlite:$STS_TMP/x.db" --key "$STS_TMP/key" --listen 127.0.0.1:0 \
    --connection-limit nope 2>"$STS_TMP/e4"
rc=$?
[ "$rc" = 2 ] || sts_die "--connection-limit nope: exit $rc, want 2"
# Several writers are for PostgreSQL: refused on SQLite before anything is made.
"$COLLECTOR" serve --db "sqlite:$STS_TMP/w.db" --key "$STS_TMP/key" --listen 127.0.0.1:0 \
    --writers 2 2>"$STS_TMP/e5"
rc=$?
[ "$rc" = 2 ] || sts_die "--writers 2 on SQLite: exit $rc, want 2"
grep -q "SQLite has one writer" "$STS_TMP/e5" || sts_die "--writers 2 on SQLite: $(cat "$STS_TMP/e5")"
[ ! -e "$STS_TMP/w.db" ] || sts_die "--writers 2 on SQLite created the database"
sts_start "$STS_TMP/flags" --db "sqlite:$STS_TMP/flags.db" --key "$STS_TMP/key" --max-body 200 \
    --connection-limit 50 --header-timeout 5 --body-timeout 5 --timeout 20 --report-id-days 10 \
    --backfill 1 --rate-burst 5 --relay-burst 5 --per-client-limit 10
big=$(sts_activation "$(sts_rid 1)" "$(sts_imei 1)" "K400-with-a-name-long-enough-to-pass-two-hundred-bytes-of-body-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
((${#big} > 200)) || sts_die "test body only ${#big} bytes"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
    --data "$big" "http://127.0.0.1:$SRV_PORT/v1/reports")
[ "$st" = 413 ] || sts_die "--max-body 200: a ${#big}-byte report answered $st, want 413"
sts_stop "$SRV_PID"
echo "flags: $(wc -w <<<"$names") settings, each a flag in --help; --max-body 200 answers 413"

# --- totals that add up -----------------------------------------------------
db=$STS_TMP/totals.db
sts_start "$STS_TMP/totals" --db "sqlite:$db" --key "$STS_TMP/key"
a=$($SEND "$SRV_PORT" 40 0 2)   # 40 accepted
b=$($SEND "$SRV_PORT" 10 0 2)   # 10 duplicates
for i in 1 2 3; do              # 3 invalid
    curl -s -o /dev/null --max-time 5 -H 'Content-Type: application/json' \
        --data '{"v":1,"type":"activation"}' "http://127.0.0.1:$SRV_PORT/v1/reports"
done
# The file replaced under the collector: every later report fails (503).
sqlite3 "$STS_TMP/other.db" "CREATE TABLE other(x)"
mv "$STS_TMP/other.db" "$db"
c=$($SEND "$SRV_PORT" 25 1000 2)
sts_stop "$SRV_PID"
[ "$(count "$a" 202)" = 40 ] && [ "$(count "$b" 200)" = 10 ] && [ "$(count "$c" 503)" = 25 ] ||
    sts_die "sends: $a / $b / $c"
err=$STS_TMP/totals
line=$(grep "reports answered:" "$err") || sts_die "no answered line: $(cat "$err")"
read -r ans acc rea dup inv fai < <(sed -n \
    's/.*: \([0-9]*\) reports answered: \([0-9]*\) accepted, \([0-9]*\) re-activations, \([0-9]*\) duplicates (202\/200); \([0-9]*\) invalid (4xx); \([0-9]*\) failed (503)$/\1 \2 \3 \4 \5 \6/p' <<<"$line")
[ -n "${fai:-}" ] || sts_die "answered line not understood: $line"
[ "$ans" = 78 ] && [ "$acc" = 40 ] && [ "$rea" = 0 ] && [ "$dup" = 10 ] && [ "$inv" = 3 ] &&
    [ "$fai" = 25 ] || sts_die "answered totals: $line"
[ $((acc + rea + dup + inv + fai)) = "$ans" ] || sts_die "answered does not add up: $line"
line=$(grep "writer:" "$err") || sts_die "no writer line: $(cat "$err")"
read -r rec com wfail more < <(sed -n \
    's/.*writer: \([0-9]*\) records in [0-9]* transactions (largest [0-9]*): \([0-9]*\) committed (the accepted, re-activations and duplicates), \([0-9]*\) failed; \([0-9]*\) more failed without reaching it$/\1 \2 \3 \4/p' <<<"$line")
[ -n "${more:-}" ] || sts_die "writer line not understood: $line"
[ $((com + wfail)) = "$rec" ] || sts_die "writer records do not add up: $line"
[ "$com" = $((acc + rea + dup)) ] || sts_die "committed $com, answered 202/200 $((acc + rea + dup))"
[ $((wfail + more)) = "$fai" ] || sts_die "failed: writer $wfail + $more, answered $fai"
echo "totals: $ans answered = $acc + $rea + $dup + $inv + $fai; writer $rec = $com committed + $wfail failed"
echo "ops_startup: ok"
