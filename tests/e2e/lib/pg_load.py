"""Load for the multi-collector and failover tests: activation reports
(report ids and IMEIs from FIRST up, all distinct) sent to collectors on
127.0.0.1, retried with the same report id on 503 or a lost connection as an
agent would (Retry-After honoured, at most 1 s), until acknowledged (202, or
200 for a report already stored) or the deadline. Usage:
  pg_load.py load PORTS N FIRST THREADS PACE_MS DEADLINE_S ACKED_FILE
    PORTS: comma-separated; each thread keeps one connection to one of them
    (round robin). Prints one JSON line: answers by status, reports
    acknowledged, the longest time in seconds without any acknowledgment,
    503s without Retry-After. ACKED_FILE gets the report ids answered 202.
  pg_load.py twice PORT_A PORT_B N FIRST
    each report sent to both collectors at once (two threads released
    together); prints one JSON line: answers by status and how many reports
    got exactly one 202."""
import collections
import http.client
import json
import os
import sys
import threading
import time

from imei import luhn


DAY = os.environ.get("PG_LOAD_DAY", "2026-11-20")  # the reports' day


def body(i):
    return ('{"v":1,"type":"activation","report_id":"%032x","imei":"%s","brand":"acme-eu",'
            '"model":"K400","sw":"K400_1.2.0","country":"FR","day":"%s"}'
            % (i, luhn("35209901%06d" % (i % 1000000)), DAY))


def post(conn, i):
    conn.request("POST", "/v1/reports", body(i), {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader("Retry-After")


def load(ports, n, first, threads, pace, deadline_s, acked_file):
    counts = collections.Counter()
    lock = threading.Lock()
    state = {"last": time.monotonic(), "gap": 0.0, "acked": 0}
    acked202 = []
    deadline = time.monotonic() + deadline_s

    def worker(k):
        port = ports[k % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(first + k, first + n, threads):
            while time.monotonic() < deadline:
                try:
                    st, retry = post(conn, i)
                except (OSError, http.client.HTTPException):
                    st, retry = "error", None
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                now = time.monotonic()
                with lock:
                    counts[st] += 1
                    if st == 503 and not retry:
                        counts["503-without-retry-after"] += 1
                    if st in (200, 202):
                        state["gap"] = max(state["gap"], now - state["last"])
                        state["last"] = now
                        state["acked"] += 1
                        if st == 202:
                            acked202.append(i)
                if st in (200, 202):
                    break
                if st not in (503, "error"):
                    break  # refused for good: counted, not retried
                try:
                    wait = min(float(retry), 1.0) if retry else 0.1
                except ValueError:
                    wait = 0.1
                time.sleep(wait)
            if pace:
                time.sleep(pace / 1000.0)
        conn.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(acked_file, "w") as f:
        for i in sorted(acked202):
            f.write("%d\n" % i)
    out = {str(k): v for k, v in counts.items()}
    out.update(acked=state["acked"], sent=n, longest_gap_s=round(state["gap"], 2))
    print(json.dumps(out, sort_keys=True))


def twice(pa, pb, n, first):
    counts = collections.Counter()
    one_202 = 0
    conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=10) for p in (pa, pb)]
    for i in range(first, first + n):
        res = [None, None]
        gate = threading.Barrier(2)

        def send(k):
            gate.wait()
            try:
                res[k] = post(conns[k], i)[0]
            except (OSError, http.client.HTTPException):
                res[k] = "error"

        ts = [threading.Thread(target=send, args=(k,)) for k in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for s in res:
            counts[s] += 1
        one_202 += sorted(map(str, res)) == ["200", "202"]
    out = {str(k): v for k, v in counts.items()}
    out.update(reports=n, exactly_one_202=one_202)
    print(json.dumps(out, sort_keys=True))


if sys.argv[1] == "load":
    load([int(p) for p in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4]),
         int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), sys.argv[8])
else:
    twice(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
