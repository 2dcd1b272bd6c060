#!/usr/bin/env python3
"""Something that is not the collector, on 127.0.0.1, for the agent's tests:
answers every request with the status, content type and body given on the
command line (a redirect, a proxy's HTML page, a captive portal, a JSON error)
and prints its port on stdout. Stopped by the test, by PID.

Usage: fake_server.py STATUS CONTENT_TYPE BODY [HEADER: VALUE]
"""
import http.server
import sys

STATUS = int(sys.argv[1])
CTYPE = sys.argv[2]
BODY = sys.argv[3].encode()
EXTRA = sys.argv[4:]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(STATUS)
        self.send_header("Content-Type", CTYPE)
        self.send_header("Content-Length", str(len(BODY)))
        for h in EXTRA:
            name, value = h.split(":", 1)
            self.send_header(name, value.strip())
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
