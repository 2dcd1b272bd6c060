# Rate limiting per client address in the HTTP front: a collector limited to
# 5 requests/s (burst 5) per address, with 127.0.0.3 configured as a relay
# that may send 1000/s. From 127.0.0.2, 20 quick requests: the first 5
# answered, the rest 429 with Retry-After and the JSON error, and a report
# refused that way is not stored; 127.0.0.4 has its own bucket; the relay
# address is not held back.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/front_rate.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20

sts_keygen
printf 'rate_burst = 5\n' >"$STS_TMP/conf"
sts_start "$STS_TMP/err" --db "sqlite:$STS_TMP/db" --key "$STS_TMP/key" --config "$STS_TMP/conf" \
    --rate-limit 5 --relay-rate-limit 1000 --relay-addresses 127.0.0.3
python3 - "$SRV_PORT" <<'PY' || sts_die "rate limit cases failed"
import json, socket, sys
port = int(sys.argv[1])
report = ('{"v":1,"type":"activation","report_id":"%032x","imei":"352099001761481",'
          '"brand":"acme-eu","model":"K400","sw":"K400_1.2.0","country":"FR","day":"2026-11-20"}')

def ask(source, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    s.sendall(raw)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
        head, _, body = data.partition(b"\r\n\r\n")
        n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        if n and len(body) >= n[0]:
            break
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    hdrs = {l.split(b":")[0].lower(): l.split(b":", 1)[1].strip() for l in lines[1:]}
    return int(lines[0].split()[1]), hdrs, body

def get(source):
    return ask(source, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

fail = 0
got = [get("127.0.0.2")[0] for _ in range(20)]
if got[:5] != [200] * 5 or got[5:] != [429] * 15:
    print("FAIL 127.0.0.2: statuses", got); fail = 1
st, hdrs, body = get("127.0.0.2")
j = json.loads(body)
if st != 429 or int(hdrs.get(b"retry-after", b"0")) < 1 or j.get("error") != "too_many_requests" \
        or hdrs.get(b"content-type") != b"application/json":
    print("FAIL 429 answer:", st, hdrs, body); fail = 1
b = (report % 7).encode()
st, _, body = ask("127.0.0.2", b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(b) + b)
if st != 429:
    print("FAIL rate-limited report: status", st, body); fail = 1
got = [get("127.0.0.4")[0] for _ in range(5)]
if got != [200] * 5:
    print("FAIL 127.0.0.4 (its own bucket):", got); fail = 1
got = [get("127.0.0.3")[0] for _ in range(50)]
if got != [200] * 50:
    print("FAIL relay address:", got.count(429), "of 50 refused"); fail = 1
print("rate limit: 5 of 20 answered from one address, the rest 429; relay address 50 of 50")
sys.exit(fail)
PY
sts_stop "$SRV_PID"
rows=$(sqlite3 "$STS_TMP/db" "SELECT count(*) FROM activation")
[ "$rows" = 0 ] || sts_die "$rows activations stored from a rate-limited address"
echo "front rate: ok"
