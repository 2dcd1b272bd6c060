"""Sends N activation reports (report_ids and IMEIs from FIRST up) from each
of the source addresses given (127.0.0.x), one keep-alive connection per
address, and prints how many were answered with each status. Usage:
send_from.py PORT N FIRST ADDR..."""
import collections
import http.client
import sys

from imei import luhn

port, n, first = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
addrs = sys.argv[4:]


counts = collections.Counter()
k = first
for a in addrs:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(a, 0))
    for _ in range(n):
        body = ('{"v":1,"type":"activation","report_id":"%032x","imei":"%s","brand":"acme-eu",'
                '"model":"K400","sw":"K400_1.2.0","country":"FR","day":"2026-11-20"}'
                % (k, luhn("35209900%06d" % k)))
        k += 1
        try:
            conn.request("POST", "/v1/reports", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            counts[r.status] += 1
        except (OSError, http.client.HTTPException):
            counts["error"] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                              source_address=(a, 0))
print(" ".join("%s:%d" % kv for kv in sorted(counts.items(), key=str)))
