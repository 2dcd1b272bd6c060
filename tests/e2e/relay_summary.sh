# sts-relay's running log, with a real relay (--summary-interval 1) in front
# of a gateway on 127.0.0.1 (a small python3 server) that answers, then
# fails (closes connections without an answer, and once hangs past
# --timeout), then answers again:
#  - one line at once when the gateway starts failing, one when it
#    recovers, with the count of requests that failed meanwhile;
#  - a summary every second whose figures, added up, are what the clients
#    got: requests forwarded and refused, answers by status class, gateway
#    failures by kind; connections open;
#  - no line carries an address or an identifier;
#  - --summary-interval is checked (0..86400).
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/relay_summary.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
RELAY=$STS_BIN/sts-relay
[ -x "$RELAY" ] || sts_die "no relay at $RELAY"
T=$STS_TMP

"$RELAY" --gateway http://127.0.0.1:9/ --summary-interval x >/dev/null 2>"$T/usage.err"
[ $? = 2 ] && grep -q "summary-interval wants seconds in 0..86400" "$T/usage.err" ||
    sts_die "--summary-interval x: $(cat "$T/usage.err")"

cat >"$T/gw.py" <<'PY'
import http.server, os, sys, time
mode_file = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode = open(mode_file).read().strip() if os.path.exists(mode_file) else "ok"
        if mode == "hang":
            time.sleep(5)
        if mode != "ok":
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "message/ohttp-res")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
echo ok >"$T/mode"
python3 "$T/gw.py" "$T/mode" >"$T/gw.port" &
GW_PID=$!
STS_PIDS+=("$GW_PID")
for ((i = 0; i < 100; i++)); do [ -s "$T/gw.port" ] && break; sleep 0.05; done
GW_PORT=$(cat "$T/gw.port")
[ -n "$GW_PORT" ] || sts_die "the gateway did not start"

log=$T/relay.err
"$RELAY" --listen 127.0.0.1:0 --gateway "http://127.0.0.1:$GW_PORT/gw" --timeout 1 \
    --summary-interval 1 2>"$log" &
RL_PID=$!
STS_PIDS+=("$RL_PID")
STS_ERRS[$RL_PID]=$log
RL_PORT=""
for ((i = 0; i < 200; i++)); do
    RL_PORT=$(sed -n 's|^sts-relay: listening on http://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$log")
    [ -n "$RL_PORT" ] && break
    sleep 0.05
done
[ -n "$RL_PORT" ] || sts_die "the relay did not start: $(cat "$log")"

# send: one encapsulated request through the relay; prints its status.
send()
{
    curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: message/ohttp-req' \
        -H 'Expect:' --data-binary "request" "http://127.0.0.1:$RL_PORT/"
}
# until TEXT WANT: sends (every 0.2 s, at most 40 times) until TEXT is in the
# log, checking each status is WANT; counts the requests sent in $sent.
until_logged()
{
    local i st
    sent=0
    for ((i = 0; i < 40; i++)); do
        st=$(send)
        sent=$((sent + 1))
        [ "$st" = "$2" ] || sts_die "a request got $st, want $2 (waiting for '$1')"
        grep -qF -- "$1" "$log" && return 0
        sleep 0.2
    done
    sts_die "no '$1' in the log after $sent requests: $(tail -n 5 "$log")"
}

ok=0 s502=0 s504=0 refused=0
for i in 1 2 3; do
    [ "$(send)" = 200 ] || sts_die "the gateway's answer did not pass"
    ok=$((ok + 1))
done
st=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' \
    --data-binary x "http://127.0.0.1:$RL_PORT/")
[ "$st" = 415 ] || sts_die "a wrong media type: $st"
refused=$((refused + 1))
grep -q "gateway failing: " "$log" && sts_die "failing logged while the gateway answered"

# The gateway fails: closed connections (unreachable), then one request past
# the relay's --timeout.
echo close >"$T/mode"
until_logged "gateway failing: " 502
s502=$((s502 + sent))
first_failures=$sent
echo hang >"$T/mode"
[ "$(send)" = 504 ] || sts_die "a hung gateway is not answered 504"
s504=$((s504 + 1))
echo close >"$T/mode"
[ "$(send)" = 502 ] || sts_die "a failing gateway is not answered 502"
s502=$((s502 + 1))
sleep 1.2 # the timeout's second must not look like a recovery
grep -q "gateway recovered" "$log" && sts_die "recovery logged while the gateway failed: $(grep recovered "$log")"

echo ok >"$T/mode"
until_logged "gateway recovered after " 200
ok=$((ok + sent))
failed=$((s502 + s504))
grep -q "gateway recovered after [0-9]*s: requests are answered again; $failed failed meanwhile$" "$log" ||
    sts_die "recovery line: $(grep recovered "$log"), want $failed failed"
grep -q "^sts-relay: gateway failing: [0-9]* requests in the last second got no usable answer ([0-9]* unreachable, 0 timed out, 0 too large, 0 bad answers) and were answered 502 or 504; none was answered$" "$log" ||
    sts_die "failing line: $(grep 'gateway failing' "$log")"
[ "$(grep -c '^sts-relay: gateway failing: ' "$log")" = 1 ] &&
    [ "$(grep -c '^sts-relay: gateway recovered ' "$log")" = 1 ] ||
    sts_die "one failing and one recovery line expected: $(grep 'gateway [fr]' "$log")"

# The summaries, added up, are what the clients got.
re='^sts-relay: summary of the last 1s: ([0-9]+) requests forwarded, ([0-9]+) refused; answers ([0-9]+) 2xx, ([0-9]+) 4xx, ([0-9]+) 5xx, ([0-9]+) other; ([0-9]+) gateway failures \(([0-9]+) unreachable, ([0-9]+) timeouts, ([0-9]+) too large, ([0-9]+) bad answers\); ([0-9]+) connections open; gateway (ok|failing)$'
want="$ok $refused $ok $refused $failed 0 $failed $s502 $s504 0 0"
got=""
for ((i = 0; i < 40; i++)); do
    sums=(0 0 0 0 0 0 0 0 0 0 0)
    bad=0
    while IFS= read -r line; do
        [[ "$line" =~ $re ]] || { bad=1; echo "malformed summary: $line" >&2; break; }
        for k in 0 1 2 3 4 5 6 7 8 9 10; do
            sums[k]=$((sums[k] + BASH_REMATCH[k + 1]))
        done
    done < <(grep '^sts-relay: summary' "$log")
    ((bad)) && sts_die "a summary line is malformed"
    got="${sums[*]}"
    [ "$got" = "$want" ] && break
    sleep 0.1
done
[ "$got" = "$want" ] || sts_die "the summaries add up to '$got', want '$want' (forwarded refused 2xx 4xx 5xx other failures unreachable timeouts too_large bad)"
grep -q "summary of the last 1s: .* gateway failing$" "$log" || sts_die "no summary said the gateway was failing"
summaries=$(grep -c '^sts-relay: summary' "$log")
# No client address, nor anything like an identifier, outside the start line
# (which names the relay's own address and the configured gateway).
grep -v '^sts-relay: listening on ' "$log" | grep -E '[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+|[0-9a-f]{15,}' &&
    sts_die "an address or an identifier in the log"
kill -TERM "$RL_PID"
wait "$RL_PID" || sts_die "the relay did not stop cleanly"
sts_forget "$RL_PID"
echo "relay log: failing logged after $first_failures closed connection(s), recovered once answered ($failed failed meanwhile); $summaries summaries adding up to: $ok forwarded, $refused refused, $failed 5xx ($s502 unreachable, $s504 timeout)"
echo "relay_summary: ok"
