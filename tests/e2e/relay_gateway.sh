# sts-relay against a misbehaving gateway (a small python3 server on
# 127.0.0.1): a status outside 100-599, a 60 KB Content-Type and one holding
# control characters (which the relay used to pass on verbatim) become 502
# with the JSON error, a gateway that never answers costs the client at most
# --timeout (504), and a well-formed answer still passes through; the relay
# serves the next client after each.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/relay_gateway.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
RELAY=$STS_BIN/sts-relay
[ -x "$RELAY" ] || sts_die "no relay at $RELAY"

cat >"$STS_TMP/gw.py" <<'PY'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        mode = body.decode(errors="replace")
        if mode == "hang":
            time.sleep(30)
            return
        if mode == "status204":
            self.send_response(204)
            self.send_header("Content-Type", "message/ohttp-res")
            self.end_headers()
            return
        self.send_response(999 if mode == "status999" else 200)
        ct = "message/ohttp-res" + (";x=" + "a" * 60000 if mode == "bigtype" else
                                    "\x01\x7f" if mode == "ctltype" else "")
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
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

"$RELAY" --listen 127.0.0.1:0 --gateway "http://127.0.0.1:$GW_PORT/gw" --timeout 2 \
    2>"$STS_TMP/relay.err" &
RL_PID=$!
STS_PIDS+=("$RL_PID")
RL_PORT=""
for ((i = 0; i < 200; i++)); do
    RL_PORT=$(sed -n 's|^sts-relay: listening on http://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$STS_TMP/relay.err")
    [ -n "$RL_PORT" ] && break
    sleep 0.05
done
[ -n "$RL_PORT" ] || sts_die "the relay did not start: $(cat "$STS_TMP/relay.err")"

# send MODE: prints "STATUS BODY" of the relay's answer.
send()
{
    curl -sS --max-time 10 -o "$STS_TMP/out" -w '%{http_code} ' -H 'Content-Type: message/ohttp-req' \
        -H 'Expect:' --data-binary "$1" "http://127.0.0.1:$RL_PORT/"
    cat "$STS_TMP/out"
}

got=$(send status999)
[ "$got" = '502 {"error":"bad_gateway","field":"relay","detail":"the gateway answered with a status outside 100-599"}' ] ||
    sts_die "gateway status 999: $got"
got=$(send bigtype)
[ "$got" = "502 {\"error\":\"bad_gateway\",\"field\":\"relay\",\"detail\":\"the gateway's Content-Type is over the relay's size limit\"}" ] ||
    sts_die "60 KB gateway Content-Type: $got"
got=$(send ctltype)
[ "$got" = "502 {\"error\":\"bad_gateway\",\"field\":\"relay\",\"detail\":\"the gateway's Content-Type holds a control character\"}" ] ||
    sts_die "gateway Content-Type with control characters: $got"
# A 204 passed on carries no Content-Length (RFC 9110 section 8.6), and the
# connection serves a next request after it.
python3 - "$RL_PORT" <<'CHECK' || sts_die "gateway 204 passed on wrongly"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
req = (b"POST / HTTP/1.1\r\nHost: r\r\nContent-Type: message/ohttp-req\r\n"
       b"Content-Length: 9\r\n\r\nstatus204")
s.sendall(req + req.replace(b"status204", b"fine00000"))
data = b""
while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"ok"):
    d = s.recv(4096)
    if not d:
        break
    data += d
first, _, rest = data.partition(b"\r\n\r\n")
if not first.startswith(b"HTTP/1.1 204 ") or b"content-length" in first.lower():
    sys.exit("first answer: %r" % first)
if not rest.startswith(b"HTTP/1.1 200 ") or not rest.endswith(b"\r\n\r\nok"):
    sys.exit("second answer: %r" % rest)
CHECK
start=$(date +%s%N)
got=$(send hang)
took=$((($(date +%s%N) - start) / 1000000))
[ "${got%% *}" = 504 ] || sts_die "hung gateway: $got"
((took < 4000)) || sts_die "hung gateway held the client ${took} ms with --timeout 2"
got=$(send fine)
[ "$got" = "200 ok" ] || sts_die "a well-formed gateway answer: $got"
kill -TERM "$RL_PID"
wait "$RL_PID" || sts_die "the relay did not stop cleanly"
sts_forget "$RL_PID"
echo "relay gateway: 999 -> 502, 60 KB Content-Type -> 502, control characters -> 502, 204 without Content-Length, hung gateway -> 504 in ${took} ms, ok -> 200"
