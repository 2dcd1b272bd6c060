"""Slow clients and a hung gateway against sts-relay (tests/e2e/relay_slow.sh).

Opens SLOW connections from 127.0.0.2 upwards (PER_ADDRESS per address) that
send a request's headers one byte every 2 s, reopening whatever the relay
closes, and HUNG requests (from 127.0.1.x) whose body tells the fake gateway
never to answer; meanwhile VALID requests from 127.0.0.1 are relayed one
after the other and must each be answered 200 with the gateway's body. Then
every hung request must have been answered 504 within TIMEOUT + 3 s.
With all of them open, the relay (process PID) must run fewer than 16
threads: connections cost no thread of their own. Prints the counts and the
valid requests' p50/p99 latency.
Usage: relay_slow.py PORT SLOW HUNG VALID PER_ADDRESS TIMEOUT PID"""
import selectors
import socket
import sys
import time

port, n_slow, n_hung, n_valid, per_addr, timeout, pid = (int(a) for a in sys.argv[1:8])


def threads():
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("Threads:")).split()[1])
SLOW = b"POST / HTTP/1.1\r\nHost: relay\r\nContent-Type: message/ohttp-req\r\nX-Slow: " + b"a" * 4000


def request(body):
    return (b"POST / HTTP/1.1\r\nHost: relay\r\nContent-Type: message/ohttp-req\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


sel = selectors.DefaultSelector()
slow = {}  # socket -> (index, bytes sent)
hung = {}  # socket -> [sent at, answer so far, answered after]


def open_slow(i):
    a = i // per_addr + 2
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                     source_address=("127.0.%d.%d" % (a // 256, a % 256), 0))
    except OSError:
        return False
    s.setblocking(False)
    slow[s] = (i, 0)
    sel.register(s, selectors.EVENT_READ)
    return True


opened = sum(open_slow(i) for i in range(n_slow))
for i in range(n_hung):
    s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                 source_address=("127.0.1.%d" % (1 + i % 250), 0))
    s.sendall(request(b"hang"))
    s.setblocking(False)
    hung[s] = [time.time(), b"", None]
    sel.register(s, selectors.EVENT_READ)
time.sleep(0.5)  # the relay accepts them
busy = threads()
print("slow connections opened: %d of %d; hung requests sent: %d; relay threads: %d"
      % (opened, n_slow, n_hung, busy))


def pump():
    for key, _ in sel.select(timeout=0):
        s = key.fileobj
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if s in hung:
            h = hung[s]
            h[1] += d
            if h[2] is None and (not d or h[1].endswith(b"}")):
                h[2] = time.time() - h[0]
                sel.unregister(s)
            continue
        if not d:
            i = slow.pop(s)[0]
            sel.unregister(s)
            s.close()
            open_slow(i)


answered, latencies, next_drip = 0, [], time.time() + 2
for k in range(n_valid):
    pump()
    if time.time() >= next_drip:
        for s, (i, n) in list(slow.items()):
            try:
                s.send(SLOW[n % len(SLOW):n % len(SLOW) + 1])
                slow[s] = (i, n + 1)
            except OSError:
                pass
        next_drip = time.time() + 2
    start = time.time()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(request(b"report %d" % k))
        got = b""
        while not got.endswith(b"\r\n\r\nok"):
            d = c.recv(4096)
            if not d:
                break
            got += d
        c.close()
        if got.startswith(b"HTTP/1.1 200") and got.endswith(b"\r\n\r\nok"):
            answered += 1
            latencies.append(time.time() - start)
    except OSError:
        pass
    time.sleep(0.01)
end = time.time() + timeout + 3
while time.time() < end and any(h[2] is None for h in hung.values()):
    pump()
    time.sleep(0.05)
late = [h for h in hung.values() if h[2] is None or h[2] > timeout + 3 or
        not h[1].startswith(b"HTTP/1.1 504")]
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else -1
held = max((h[2] for h in hung.values() if h[2] is not None), default=-1)
print("valid requests relayed: %d of %d; latency p50 %.1f ms, p99 %.1f ms; hung requests "
      "answered 504 within %d s: %d of %d (longest %.1f s)"
      % (answered, n_valid, p(0.5), p(0.99), timeout + 3, n_hung - len(late), n_hung, held))
for s in list(slow) + list(hung):
    s.close()
sys.exit(0 if answered == n_valid and not late and busy < 16 else 1)
