# Reports each on a connection of its own ("Connection: close", as devices
# send them), 128 at a time: every one answered 202 and stored, and the
# collector still up. Such a connection now closes at once after its answer
# (no lingering close: the client asked to close and nothing of its is left
# to read), so this checks no answer is lost to a reset. The same path under
# wrk's load (bench/ingest.sh --modes close) showed a use-after-free in the
# asan build, a connection freed by its answer while the same batch of epoll
# events still held one for it (fixed in front.c's loop_run); this Python
# client did not reproduce that in three runs against the unfixed build.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/front_close_load.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
SEND="python3 $STS_SRC/tests/e2e/lib/send_reports.py"
"$COLLECTOR" keygen --out "$STS_TMP/key" 2>/dev/null || sts_die "keygen failed"
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
sts_stop "$SRV_PID"
stored=$(sqlite3 "$db" "SELECT count(*) FROM activation")
[ "$stored" = "$total" ] || sts_die "$stored rows stored, $total acknowledged"
echo "close load: $total of $total reports on connections of their own answered 202 and stored"
