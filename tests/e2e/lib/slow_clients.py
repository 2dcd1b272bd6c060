"""Slow clients against the collector (tests/e2e/front_slow_clients.sh).

Opens SLOW connections from 127.0.0.2 upwards (per_client_limit of them per
address), each sending a request one byte every 2 s, reopening whatever the
server closes, while one valid client on 127.0.0.1 sends VALID reports, one
connection each. Prints how many were answered 202 and the p50/p99 latency;
exits 1 unless every valid report was answered.
Usage: slow_clients.py PORT SLOW VALID PER_ADDRESS"""
import selectors
import socket
import sys
import time

port, n_slow, n_valid, per_addr = (int(a) for a in sys.argv[1:5])
REPORT = ('{"v":1,"type":"activation","report_id":"%032x","imei":"352099001761481",'
          '"brand":"acme-eu","model":"K400","sw":"K400_1.2.0","country":"FR","day":"2026-11-20"}')
SLOW = (b"POST /v1/reports HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
        b"X-Slow: " + b"a" * 4000)

sel = selectors.DefaultSelector()
slow = {}  # socket -> (source address, bytes sent)


def open_slow(i):
    src = "127.0.%d.%d" % (((i // per_addr) + 2) // 256, ((i // per_addr) + 2) % 256)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(src, 0))
    except OSError:
        return False
    s.setblocking(False)
    slow[s] = (i, 0)
    sel.register(s, selectors.EVENT_READ)
    return True


opened = sum(open_slow(i) for i in range(n_slow))
print("slow connections opened: %d of %d" % (opened, n_slow))
reopened = 0
answered, latencies, next_drip = 0, [], time.time() + 2
for k in range(n_valid):
    # Keep the slow ones dripping and reopen those the server closed.
    for key, _ in sel.select(timeout=0):
        s = key.fileobj
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not d:
            i = slow.pop(s)[0]
            sel.unregister(s)
            s.close()
            reopened += open_slow(i)
    if time.time() >= next_drip:
        for s, (i, n) in list(slow.items()):
            try:
                s.send(SLOW[n % len(SLOW):n % len(SLOW) + 1])
                slow[s] = (i, n + 1)
            except OSError:
                pass
        next_drip = time.time() + 2
    body = (REPORT % (0x5000 + k)).encode()
    start = time.time()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: collector\r\nContent-Type: "
                  b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        got = b""
        while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
            d = c.recv(4096)
            if not d:
                break
            got += d
        c.close()
        if got.startswith(b"HTTP/1.1 202"):
            answered += 1
            latencies.append(time.time() - start)
    except OSError:
        pass
    time.sleep(0.01)
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else -1
print("valid reports answered 202: %d of %d; latency p50 %.1f ms, p99 %.1f ms; "
      "slow connections still open %d, reopened %d" % (answered, n_valid, p(0.5), p(0.99),
                                                       len(slow), reopened))
for s in slow:
    s.close()
sys.exit(0 if answered == n_valid else 1)
