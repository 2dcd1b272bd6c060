"""Sends N activation reports to a collector over THREADS keep-alive
connections (report_ids from FIRST up, every one with its own IMEI) and
prints how many were answered with each status; with "close" last, each
report on a connection of its own, sent with "Connection: close", as
devices do. Usage: send_reports.py PORT N FIRST [THREADS [close]]"""
import collections
import http.client
import sys
import threading

from imei import luhn

port, n, first = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
close = len(sys.argv) > 5 and sys.argv[5] == "close"


counts = collections.Counter()
lock = threading.Lock()


def worker(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(first + k, first + n, threads):
        body = ('{"v":1,"type":"activation","report_id":"%032x","imei":"%s","brand":"acme-eu",'
                '"model":"K400","sw":"K400_1.2.0","country":"FR","day":"2026-11-20"}'
                % (i, luhn("35209900%06d" % i)))
        headers = {"Content-Type": "application/json"}
        if close:
            headers["Connection"] = "close"
        try:
            conn.request("POST", "/v1/reports", body, headers)
            r = conn.getresponse()
            r.read()
            st = r.status
            if st == 503 and not r.getheader("Retry-After"):
                st = "503-without-retry-after"
        except (OSError, http.client.HTTPException):
            st = "error"
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        if close:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with lock:
            counts[st] += 1
    conn.close()


ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(" ".join("%s:%d" % (k, v) for k, v in sorted(counts.items(), key=str)))
