"""Raw-socket framing cases for the HTTP front (tests/e2e/front_framing.sh).

Each case sends bytes no well-behaved client would, then checks the exact
status, the JSON error (never HTML, one answer only) and whether the server
closed the connection. Usage: framing.py PORT [DEADLINE]. Exits 1 on any
difference.

framing.py --survey PORT [DEADLINE] sends the same cases to any server and
checks nothing: it prints one JSON line per case with what was expected and
what was answered (status, Content-Type, JSON or not, whether the answer came
from the application: an X-Noop header, number of status lines, closed or
not), for bench/front_choice.sh."""
import json
import re
import socket
import sys
import time

SURVEY = len(sys.argv) > 1 and sys.argv[1] == "--survey"
ARGS = sys.argv[2:] if SURVEY else sys.argv[1:]
PORT = int(ARGS[0])
REPORT = ('{"v":1,"type":"activation","report_id":"%032x","imei":"352099001761481",'
          '"brand":"acme-eu","model":"K400","sw":"K400_1.2.0","country":"FR","day":"2026-11-20"}')
failures = 0


def exchange(raw, wait=1.0):
    """Sends raw, reads until the server closes or wait seconds pass (under
    the 2 s header deadline the test gives, which closes idle connections).
    Returns (bytes read, closed by the server)."""
    s = socket.create_connection(("127.0.0.1", PORT))
    s.settimeout(0.2)
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, closed, end = b"", False, time.time() + wait
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not d:
            closed = True
            break
        data += d
    s.close()
    return data, closed


def answers(data):
    """Splits data into (status, headers, body) answers, using Content-Length.
    A status line that does not parse ends the split (None, {}, the rest);
    an answer without Content-Length runs to the close."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        first = lines[0].split()
        if not sep or len(first) < 2 or not first[1].isdigit():
            out.append((None, {}, data))
            break
        status = int(first[1])
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            hdrs[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        cl = hdrs.get("content-length", "")
        n = int(cl) if cl.isdigit() else (0 if status < 200 or status in (204, 304) else len(rest))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def is_json(hdrs, body):
    if not hdrs.get("content-type", "").startswith("application/json"):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def survey(name, expect, expect_closed, data, closed, **extra):
    """Prints what name was answered (--survey), one JSON line."""
    rec = {"case": name, "expect": expect, "expect_closed": expect_closed, "closed": closed,
           "bytes": len(data),
           "status_lines": len(re.findall(rb"HTTP/1\.[01] [2-5][0-9][0-9] ", data)),
           "answers": [{"status": st, "type": h.get("content-type"), "json": is_json(h, b),
                        "app": "x-noop" in h, "body": b[:60].decode("latin-1")}
                       for st, h, b in answers(data)]}
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def check(name, raw, status, field=None, closed=True, error=None):
    global failures
    data, was_closed = exchange(raw)
    if SURVEY:
        survey(name, status, closed, data, was_closed)
        return
    got = answers(data)
    why = []
    if len(got) != 1:
        why.append("%d answers, expected 1" % len(got))
    if got:
        st, hdrs, body = got[0]
        if st != status:
            why.append("status %s, expected %d" % (st, status))
        if not hdrs.get("content-type", "").startswith("application/json"):
            why.append("Content-Type %r, expected JSON" % hdrs.get("content-type"))
        try:
            j = json.loads(body)
        except ValueError:
            j = {}
            why.append("body is not JSON: %r" % body[:80])
        if field is not None and j.get("field") != field:
            why.append("field %r, expected %r" % (j.get("field"), field))
        if error is not None and j.get("error") != error:
            why.append("error %r, expected %r" % (j.get("error"), error))
    if was_closed != closed:
        why.append("connection %s, expected %s" % ("closed" if was_closed else "open",
                                                   "closed" if closed else "open"))
    if why:
        failures += 1
        print("FAIL %s: %s" % (name, "; ".join(why)))
    else:
        print("ok   %s" % name)


def post(headers, body=b"", target=b"/v1/reports"):
    return b"POST " + target + b" HTTP/1.1\r\n" + headers + b"\r\n" + body


def chunked(body):
    return b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


H = b"Host: collector\r\nContent-Type: application/json\r\n"
body = (REPORT % 1).encode()
CL = b"Content-Length: %d\r\n" % len(body)

check("valid report, kept alive", post(H + CL, body), 202, closed=False)
# RFC 9112 section 6.1: both framings together is an attack; the report
# smuggled behind the first body must never be read (the script counts rows).
smuggled = post(H + CL, (REPORT % 2).encode())
check("Content-Length with Transfer-Encoding", post(
    H + CL + b"Transfer-Encoding: chunked\r\n", chunked(body) + smuggled), 400,
    "transfer-encoding", error="bad_request")
check("two different Content-Length", post(H + CL + b"Content-Length: 5\r\n", body), 400,
      "content-length")
check("two equal Content-Length", post(H + CL + CL, body), 400, "content-length")
check("Transfer-Encoding with a space before the colon",
      post(H + b"Transfer-Encoding : chunked\r\n", chunked(body)), 400, "header")
check("Host with a space before the colon",
      post(b"Host : x\r\nContent-Type: application/json\r\n" + CL, body), 400, "header")
for te, st in ((b"xchunked", 501), (b"identity", 501), (b"gzip", 501),
               (b"gzip, chunked", 400), (b"chunked, chunked", 400)):
    check("Transfer-Encoding: " + te.decode(),
          post(H + b"Transfer-Encoding: " + te + b"\r\n", chunked(body)), st,
          "transfer-encoding", error="unsupported" if st == 501 else "bad_request")
check("Transfer-Encoding twice", post(
    H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked(body)), 400,
    "transfer-encoding")
check("Transfer-Encoding in HTTP/1.0", b"POST /v1/reports HTTP/1.0\r\n" + H +
      b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body), 400, "transfer-encoding")
check("no Host", post(b"Content-Type: application/json\r\n" + CL, body), 400, "host")
check("two Host", post(H + b"Host: other\r\n" + CL, body), 400, "host")
# Singletons a handler acts on: the first would be taken, a proxy before the
# front may have checked the last.
check("two Content-Type", post(H + b"Content-Type: text/plain\r\n" + CL, body), 400,
      "content-type")
check("two Authorization", b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
      b"Authorization: Bearer b\r\n\r\n", 400, "authorization")
# RFC 9112 section 3.2: a Host value that is no host and port is refused too.
for bad in (b"a b", b"x/y", b"user@host", b"h\xffst"):
    check("Host: %r" % bad.decode("latin-1"),
          post(b"Host: " + bad + b"\r\nContent-Type: application/json\r\n" + CL, body), 400, "host")
check("encoded NUL in the path", post(H + CL, body, b"/v1/reports%00.json"), 400, "target")
check("encoded NUL in the query", post(H + CL, body, b"/v1/reports?a=%00"), 400, "target")
# The body was read whole (its length is known): the connection stays.
check("encoded slash", post(H + CL, body, b"/v1%2freports"), 404, "path", closed=False)
check("encoded letter", post(H + CL, body, b"/v1/report%73"), 404, "path", closed=False)
check("GET encoded slash", b"GET /v1%2fohttp-keys HTTP/1.1\r\nHost: x\r\n\r\n", 404, "path",
      closed=False)

# Heads over the front's limits are refused in JSON, once, and closed.
check("request target over 2048 bytes", b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
      414, "target", error="too_large")
check("one header field of 3500 bytes", post(H + CL + b"X-Big: " + b"a" * 3500 + b"\r\n", body),
      431, "header", error="too_large")
check("60 header fields", post(H + CL + b"X-A: 1\r\n" * 60, body), 431, "header",
      error="too_large")

# Content-Length that is not a plain number of bytes: one JSON answer, closed.
for cl in (b"-1", b"+182", b"0x10", b"1e3", b"182, 182", b"18446744073709551617", b"",
           b" 182 x", b"1.0", b"99999999999999999999"):
    check("Content-Length: %r" % cl.decode(), post(H + b"Content-Length: " + cl + b"\r\n", body),
          400, "content-length")
# Lines and fields no two parsers read the same way.
check("bare LF line ends", b"POST /v1/reports HTTP/1.1\nHost: x\n" + CL + b"\n" + body, 400,
      "header")
check("bare CR in a field", post(H + CL + b"X-A: a\rb\r\n", body), 400, "header")
check("obsolete line folding", post(H + CL + b"X-A: a\r\n b\r\n", body), 400, "header")
check("NUL in a header value", post(H + CL + b"X-A: a\x00b\r\n", body), 400, "header")
check("control character in a value", post(H + CL + b"X-A: a\x01b\r\n", body), 400, "header")
check("header line without a colon", post(H + CL + b"X-A\r\n", body), 400, "header")
check("empty header name", post(H + CL + b": x\r\n", body), 400, "header")
check("HTTP/2.0 request line", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "version")
# A request line that can never be one is answered as soon as it is in,
# not at the header deadline (2 s here, after this check has stopped reading).
check("HTTP/0.9 request", b"GET /healthz\r\n", 400, "target")
check("TLS handshake on the plain port", bytes.fromhex("16030100f4010000f00303") + b"\x00" * 32,
      400, "method")
check("HTTP/1.1 in lower case", b"GET /healthz http/1.1\r\nHost: x\r\n\r\n", 400, "version")
check("no version", b"GET /healthz\r\nHost: x\r\n\r\n", 400, "target")
check("two spaces in the request line", b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400,
      "target")
check("tab in the request line", b"GET\t/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method")
check("high byte in the target", b"GET /health\xffz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target")
# Heads past the input buffer (8 KiB), which libmicrohttpd answered in HTML.
check("head of 9000 bytes in one field", post(H + CL + b"X-Big: " + b"a" * 9000 + b"\r\n", body),
      431, "header", error="too_large")
check("request line of 9000 bytes", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
      414, "target", error="too_large")
# Empty lines before a request are skipped, but count towards the head's
# limit: 20,000 bytes of CR LF used to fill the input buffer with no verdict,
# the connection's thread spinning until the header deadline answered 408.
check("20000 bytes of empty lines", b"\r\n" * 10000, 400, "header")
check("empty lines, then a head cut short",
      b"\r\n" * 2000 + b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 5000, 431, "header")
# Chunked bodies that are not well formed.
for name, raw in (("size not hex", b"zz\r\n"), ("size with junk", b"5zz\r\nhello\r\n0\r\n\r\n"),
                  ("data longer than its size", b"2\r\nhello\r\n0\r\n\r\n"),
                  ("size line ends in LF", b"5\nhello\r\n0\r\n\r\n"),
                  ("negative size", b"-5\r\nhello\r\n0\r\n\r\n")):
    check("chunked: " + name, post(H + b"Transfer-Encoding: chunked\r\n", raw), 400, "body")
check("chunked: a 64 GiB chunk", post(H + b"Transfer-Encoding: chunked\r\n", b"1000000000\r\n"),
      413, "body")
# Trailer fields are dropped, but only if they are header fields.
for name, trailer in (("without a colon", b"no-colon"), ("with a space in its name", b"X Y: z"),
                      ("with a control character", b"X: a\x01b")):
    check("chunked: a trailer " + name, post(H + b"Transfer-Encoding: chunked\r\n",
          b"%x\r\n" % len(body) + body + b"\r\n0\r\n" + trailer + b"\r\n\r\n"), 400, "body")
# Well-formed chunked: extensions and trailers are allowed and ignored.
ext = b"%x;name=value\r\n" % len((REPORT % 3).encode()) + (REPORT % 3).encode() + \
    b"\r\n0\r\nX-Trailer: t\r\n\r\n"
check("chunked with an extension and a trailer", post(H + b"Transfer-Encoding: chunked\r\n", ext),
      202, closed=False)
# Chunk sizes may have leading zeros (1*HEXDIG): "000000000b6" is not a chunk
# over the 8-digit limit (it was refused 413).
padded = (REPORT % 81).encode()
check("chunk sizes with leading zeros",
      post(H + b"Transfer-Encoding: chunked\r\n",
           b"%012x\r\n" % len(padded) + padded + b"\r\n0000000000\r\n\r\n"), 202, closed=False)
# HTTP/1.0 closes unless it asks to keep alive.
check("HTTP/1.0 closes", b"GET /healthz HTTP/1.0\r\n\r\n", 200, closed=True)
check("HTTP/1.0 keep-alive", b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200,
      closed=False)
data, _ = exchange(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0.5)
got = answers(data)
if not got or got[0][1].get("connection", "").lower() != "keep-alive":
    failures += 1
    print("FAIL HTTP/1.0 keep-alive: the answer does not say Connection: keep-alive")
else:
    print("ok   HTTP/1.0 keep-alive: the answer says Connection: keep-alive")
check("Connection: close", b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      200, closed=True)
# Expect: 100-continue gets its interim answer, then the final one.
s = socket.create_connection(("127.0.0.1", PORT))
s.settimeout(2)
b4 = (REPORT % 4).encode()
s.sendall(post(H + b"Content-Length: %d\r\nExpect: 100-continue\r\n" % len(b4)))
interim = s.recv(100)
s.sendall(b4)
final = b""
try:
    while b"\r\n\r\n" not in final:
        final += s.recv(4096)
except socket.timeout:
    pass
s.close()
if SURVEY:
    survey("Expect: 100-continue", 202, False, final, False,
           interim=interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"))
elif not interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n") or b" 202 " not in final.split(b"\r\n")[0]:
    failures += 1
    print("FAIL Expect: 100-continue: %r then %r" % (interim[:40], final[:40]))
else:
    print("ok   Expect: 100-continue, then 202")
# A declared body far over the limit is answered at once, in JSON, and closed.
check("Content-Length of 10 GiB", post(H + b"Content-Length: 10737418240\r\n", b"a" * 1000), 413,
      "body")

# Keep-alive after GET: every pipelined request answered on one connection.
data, was_closed = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
got = answers(data)
if SURVEY:
    survey("20 pipelined GET", 200, False, data, was_closed, requests=20)
elif len(got) != 20 or was_closed or any(a[0] != 200 for a in got):
    failures += 1
    print("FAIL 20 pipelined GET: %d answers, closed %s" % (len(got), was_closed))
else:
    print("ok   20 pipelined GET answered on one kept-alive connection")

# A refused chunked body is read up to 1 MiB, then the connection is closed.
s = socket.create_connection(("127.0.0.1", PORT))
s.settimeout(5)
s.sendall(post(H + b"Transfer-Encoding: chunked\r\n"))
chunk = b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n"
sent = 0
try:
    for _ in range(3200):  # 200 MiB at most
        s.sendall(chunk)
        sent += 65536
except (BrokenPipeError, ConnectionResetError, socket.timeout):
    pass
if SURVEY:
    # What the server answered, if anything, before or after it stopped reading.
    if sent == 3200 * 65536:
        s.sendall(b"0\r\n\r\n")
    s.settimeout(1)
    data, was_closed = b"", False
    try:
        while True:
            d = s.recv(65536)
            if not d:
                was_closed = True
                break
            data += d
    except socket.timeout:
        pass
    except (BrokenPipeError, ConnectionResetError):
        was_closed = True
    survey("refused chunked body of 200 MiB", 413, True, data, was_closed, taken=sent)
s.close()
# Socket buffers on both sides hold a few MiB at most.
if SURVEY:
    pass
elif sent > 16 * 1024 * 1024:
    failures += 1
    print("FAIL refused chunked body: %d bytes taken before the close" % sent)
else:
    print("ok   refused chunked body: closed after %d bytes sent" % sent)

# Past the drain limit a chunked body is not read to its end, so the
# connection closes after the answer even on a route that refuses nothing
# about bodies: what follows must never be read as a request.
big_chunk = b"%x\r\n" % (1536 * 1024) + b"a" * (1536 * 1024) + b"\r\n0\r\n\r\n"
check("1.5 MiB chunked body to a route without a body", post(
    H + b"Transfer-Encoding: chunked\r\n", big_chunk, b"/healthz"), 405, "method")

# A refused chunked body within the drain limit: 413, then closed.
check("chunked body over the cap", post(H + b"Transfer-Encoding: chunked\r\n",
                                        chunked(b"a" * 20000)), 413, "body")

# Header deadline: one byte a second does not keep a connection open.
deadline = float(ARGS[1]) if len(ARGS) > 1 else 2.0
s = socket.create_connection(("127.0.0.1", PORT))
s.settimeout(0.05)
start, closed_after = time.time(), None
for ch in post(H + b"X-Slow: " + b"a" * 200):
    try:
        s.send(bytes([ch]))
        if s.recv(1) == b"":
            closed_after = time.time() - start
            break
    except socket.timeout:
        pass
    except (BrokenPipeError, ConnectionResetError):
        closed_after = time.time() - start
        break
    time.sleep(0.25)
    if time.time() - start > deadline + 5:
        break
s.close()
if SURVEY:
    survey("slow headers", None, True, b"", closed_after is not None, closed_after=closed_after,
           deadline=deadline)
elif closed_after is None or closed_after > deadline + 3:
    failures += 1
    print("FAIL slow headers: not closed within %.1f s of a %.0f s deadline (%s)"
          % (deadline + 3, deadline, closed_after))
else:
    print("ok   slow headers closed after %.1f s (deadline %.0f s)" % (closed_after, deadline))

sys.exit(1 if failures else 0)
