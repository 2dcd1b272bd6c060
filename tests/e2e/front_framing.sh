# Raw-socket framing cases against the collector's HTTP front
# (tests/e2e/lib/framing.py): RFC 9112 refusals answered once in JSON with the
# connection closed, routing on the raw target, keep-alive after GET, the
# bound on refused chunked bodies and the header deadline; then checks that
# only the one valid report was stored (nothing smuggled behind a refusal).
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/front_framing.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20

sts_keygen
printf 'header_timeout = 2\nbody_timeout = 2\n' >"$STS_TMP/conf"
sts_start "$STS_TMP/err" --db "sqlite:$STS_TMP/db" --key "$STS_TMP/key" --config "$STS_TMP/conf"
python3 "$STS_SRC/tests/e2e/lib/framing.py" "$SRV_PORT" 2 || sts_die "framing cases failed"
# The collector still answers after all that.
got=$(curl -sS --max-time 5 "http://127.0.0.1:$SRV_PORT/healthz") || sts_die "healthz failed"
[ "$got" = '{"status":"ok"}' ] || sts_die "healthz answered $got"
sts_stop "$SRV_PID"
rows=$(sqlite3 "$STS_TMP/db" "SELECT count(*) FROM activation")
[ "$rows" = 1 ] || sts_die "$rows activations stored, expected exactly the one device of the valid reports"
echo "front framing: all cases passed, 1 row stored"
