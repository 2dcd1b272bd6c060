"""TLS probes for the reload tests. Usage:
  tls_probe.py fingerprint PORT          SHA-256 of the certificate a new
                                         connection to 127.0.0.1:PORT gets
  tls_probe.py keepalive PORT PATH FIFO  opens one connection, GETs PATH,
                                         prints the status and certificate
                                         fingerprint, then waits for a line
                                         on FIFO and GETs PATH again on the
                                         same connection (printing the same),
                                         so a reload in between can be seen
                                         not to drop it
  tls_probe.py slowpost PORT BODY FIFO   plain HTTP: sends the headers and
                                         half of BODY to /v1/reports, waits
                                         for a line on FIFO, sends the rest
                                         and prints "sent" once the first
                                         half is out, then the answer's status"""
import hashlib
import http.client
import socket
import ssl
import sys


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def fp(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


cmd, port = sys.argv[1], int(sys.argv[2])
if cmd == "fingerprint":
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx().wrap_socket(raw) as s:
            print(fp(s))
elif cmd == "keepalive":
    path, fifo = sys.argv[3], sys.argv[4]
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx())
    for i in range(2):
        if i == 1:
            with open(fifo) as f:
                f.readline()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        print(r.status, fp(conn.sock), flush=True)
elif cmd == "slowpost":
    body, fifo = sys.argv[3].encode(), sys.argv[4]
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2])
    print("sent", flush=True)
    with open(fifo) as f:
        f.readline()
    s.sendall(body[len(body) // 2:])
    answer = s.recv(4096).decode(errors="replace")
    print(answer.split(" ")[1] if answer.startswith("HTTP/1.1 ") else "none:" + answer[:40])
