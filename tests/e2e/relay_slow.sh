# sts-relay under slow clients and a hung gateway: 400 connections from
# 127.0.0.2..127.0.0.8 drip one header byte every 2 s (reopened when closed
# at the header deadline) and 50 requests wait on a gateway that never
# answers, while 200 valid requests from 127.0.0.1 must each be relayed and
# answered; each hung request must get its 504 within --timeout (+3 s), and
# the relay runs fewer than 16 threads all the while. Before the relay was
# event-driven it served each connection on a thread of its own (256 at
# most by default, so 300 slow connections locked everyone out).
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/relay_slow.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
RELAY=$STS_BIN/sts-relay
[ -x "$RELAY" ] || sts_die "no relay at $RELAY"
ulimit -n 4096 2>/dev/null || true
[ "$(ulimit -n)" -ge 2000 ] || { echo "skipped: needs 2,000 descriptors, have $(ulimit -n)"; exit 0; }

cat >"$STS_TMP/gw.py" <<'PY'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if body == b"hang":
            time.sleep(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "message/ohttp-res")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$STS_TMP/gw.py" >"$STS_TMP/gw.port" &
GW_PID=$!
STS_PIDS+=("$GW_PID")
for ((i = 0; i < 100; i++)); do
    [ -s "$STS_TMP/gw.port" ] && break
    sleep 0.05
done
GW_PORT=$(cat "$STS_TMP/gw.port")
[ -n "$GW_PORT" ] || sts_die "the fake gateway did not start"

"$RELAY" --listen 127.0.0.1:0 --gateway "http://127.0.0.1:$GW_PORT/gw" --timeout 3 \
    --header-timeout 5 --per-client-limit 64 2>"$STS_TMP/relay.err" &
RL_PID=$!
STS_PIDS+=("$RL_PID")
RL_PORT=""
for ((i = 0; i < 200; i++)); do
    RL_PORT=$(sed -n 's|^sts-relay: listening on http://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$STS_TMP/relay.err")
    [ -n "$RL_PORT" ] && break
    sleep 0.05
done
[ -n "$RL_PORT" ] || sts_die "the relay did not start: $(cat "$STS_TMP/relay.err")"

python3 "$STS_SRC/tests/e2e/lib/relay_slow.py" "$RL_PORT" 400 50 200 64 3 "$RL_PID" ||
    sts_die "valid requests went unanswered, a hung gateway held a client too long, or the relay ran a thread per connection"
kill -TERM "$RL_PID"
for ((i = 0; i < 100; i++)); do
    kill -0 "$RL_PID" 2>/dev/null || break
    sleep 0.1
done
wait "$RL_PID" || sts_die "the relay did not stop cleanly"
sts_forget "$RL_PID"
echo "relay slow clients: passed"
