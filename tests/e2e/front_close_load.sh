# Reports each on a connection of its own ("Connection: close", as devices
# send them): every one answered 202 and stored, and the collector still up.
# Such a connection closes at once after its answer (no lingering close: the
# client asked to close and nothing of its is left to read), so no answer
# may be lost to a reset. Then the same with the client's side shut right
# after each request, 200 at a time: the FIN is an event on the connection
# while its answer comes from the writer's thread, and an answer that closed
# its connection in the middle of a batch of epoll events used to free it
# under a later event of that batch (a use-after-free: the asan build of
# this test caught it in 3 runs of 3 before the fix, and none after).
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/front_close_load.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
SEND="python3 $STS_SRC/tests/e2e/lib/send_reports.py"
sts_keygen
db=$STS_TMP/close.db
sts_start "$STS_TMP/err" --db "sqlite:$db" --key "$STS_TMP/key"
total=0
for round in 0 1 2; do
    out=$($SEND "$SRV_PORT" 3000 $((round * 10000)) 128 close)
    n=$(tr ' ' '\n' <<<"$out" | sed -n 's/^202:\([0-9]*\)$/\1/p')
    [ "${n:-0}" = 3000 ] || sts_die "round $round: $out (want 202:3000)"
    kill -0 "$SRV_PID" 2>/dev/null || sts_die "the collector died: $(tail -20 "$STS_TMP/err")"
    total=$((total + n))
done
out=$(python3 "$STS_SRC/tests/e2e/lib/half_close.py" "$SRV_PORT" 30 200 "$STS_NOW_DAY" 100000)
[ "$out" = "202:6000 other:0" ] || sts_die "half-closed: $out (want 202:6000 other:0)"
kill -0 "$SRV_PID" 2>/dev/null || sts_die "the collector died: $(tail -20 "$STS_TMP/err")"
total=$((total + 6000))
sts_stop "$SRV_PID"
stored=$(sqlite3 "$db" "SELECT count(*) FROM activation")
[ "$stored" = "$total" ] || sts_die "$stored rows stored, $total acknowledged"
echo "close load: $total of $total reports on connections of their own (6,000 half-closed) answered 202 and stored"
