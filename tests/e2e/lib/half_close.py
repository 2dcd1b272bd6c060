"""Sends ROUNDS x WIDTH activation reports, each on a connection of its own
with "Connection: close", the client's side shut (FIN) right after the
request, WIDTH connections open at once; then reads every answer and prints
how many began "HTTP/1.1 202" and how many did not. The FIN reaches the
server while the report waits for its commit, as an event on the same
connection as the answer. Usage: half_close.py PORT ROUNDS WIDTH DAY FIRST"""
import socket
import sys

from imei import luhn

port, rounds, width = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
day, first = sys.argv[4], int(sys.argv[5])


ok = bad = 0
for r in range(rounds):
    socks = []
    for k in range(width):
        i = first + r * width + k
        body = ('{"v":1,"type":"activation","report_id":"%032x","imei":"%s","brand":"acme",'
                '"model":"K400","sw":"V1","country":"FR","day":"%s"}'
                % (i, luhn("35209911%06d" % i), day)).encode()
        req = (b"POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            bad += 1
            continue
        socks.append(s)
    for s in socks:
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        s.close()
        if data.startswith(b"HTTP/1.1 202"):
            ok += 1
        else:
            bad += 1
print("202:%d other:%d" % (ok, bad))
