"""Sorts what each server answered to the framing cases of
tests/e2e/lib/framing.py (its --survey lines) into classes, for
bench/front_choice.sh. Usage: survey.py [-v] NAME=FILE.jsonl ...

A case that must be refused (an expected status of 400 or more, with the
connection closed) falls in the first class that fits:
  accepted  the request reached the handler (its answer has X-Noop)
  silent    closed with no answer
  hung      no answer, still open when the client gave up (1 s)
  twice     more than one status line
  html/text one answer, not JSON
  open      one JSON refusal, connection left open
  json      one JSON refusal, connection closed (what RFC 9112 and the
            project need); "status" counts those of another status.
Well-formed requests (the rest) count as passed when each was answered by the
handler, with the expected status (any, for /healthz, which the no-op servers
do not have) and the connection kept or closed as expected. The 200 MiB
chunked body and the slow head are printed apart. -v lists every case."""
import json
import sys

CLASSES = ["json", "open", "html/text", "twice", "hung", "silent", "accepted"]


# The kinds of case, in framing.py's order, for the summary by kind.
KINDS = [
    ("framing headers", ("Content-Length with", "two different Content-Length",
                         "two equal Content-Length", "space before the colon",
                         "Transfer-Encoding")),
    ("Host", ("no Host", "two Host")),
    ("encoded NUL", ("encoded NUL",)),
    ("head too large", ("over 2048", "3500 bytes", "60 header fields", "9000 bytes")),
    ("Content-Length value", ("Content-Length:", "Content-Length of")),
    ("field syntax", ("bare LF", "bare CR", "obsolete line folding", "NUL in a header",
                      "control character", "without a colon", "empty header name")),
    ("request line", ("HTTP/2.0", "lower case", "no version", "two spaces", "tab in",
                      "high byte")),
    ("chunked body", ("chunked:", "chunked body over")),
]


def kind(name):
    for k, keys in KINDS:
        if any(name.startswith(x) or x in name for x in keys):
            return k
    return "other"


def classify(r):
    ans = r["answers"]
    n = max(len([a for a in ans if a["status"] is None or a["status"] >= 200]),
            r["status_lines"])
    if any(a["app"] for a in ans):
        return "accepted"
    if n == 0:
        return "silent" if r["closed"] else "hung"
    if n > 1:
        return "twice"
    if not ans[0]["json"]:
        return "html/text"
    if not r["closed"]:
        return "open"
    return "json"


def valid_ok(r):
    ans = [a for a in r["answers"] if a["status"] is None or a["status"] >= 200]
    want = r.get("requests", 1)
    if len(ans) != want or r["status_lines"] != want or r["closed"] != r["expect_closed"]:
        return False
    if "interim" in r and not r["interim"]:
        return False
    return all(a["app"] and (r["expect"] == 200 or a["status"] == r["expect"]) for a in ans)


def what(r):
    a = r["answers"]
    s = ", ".join("%s %s%s" % (x["status"], x["type"], " (handler)" if x["app"] else "")
                  for x in a) or "no answer"
    return "%s; %d status lines; %s" % (s, r["status_lines"], "closed" if r["closed"] else "open")


def main():
    verbose = "-v" in sys.argv
    servers = [a.split("=", 1) for a in sys.argv[1:] if a != "-v"]
    rows = []
    for name, path in servers:
        recs = [json.loads(l) for l in open(path) if l.startswith("{")]
        counts = dict.fromkeys(CLASSES, 0)
        by_kind = {}
        wrong_status, valid, valid_n, stream, slow = 0, 0, 0, "", ""
        for r in recs:
            if r["case"] == "slow headers":
                slow = ("closed at %.0f s" % r["closed_after"]) if r["closed"] else \
                    "open at %.0f s" % (r["deadline"] + 5)
                continue
            if r["case"].startswith("refused chunked body of"):
                c = classify(r)
                stream = "%s, %.1f MiB taken" % (c, r["taken"] / 1048576.0)
                if verbose:
                    print("%-22s %-10s %s: %s" % (name, c, r["case"], what(r)))
                continue
            if r["expect"] >= 400 and r["expect_closed"]:
                c = classify(r)
                counts[c] += 1
                k = by_kind.setdefault(kind(r["case"]), {})
                k[c] = k.get(c, 0) + 1
                if c == "json" and r["answers"][0]["status"] != r["expect"]:
                    wrong_status += 1
            else:
                valid_n += 1
                ok = valid_ok(r)
                valid += ok
                c = "ok" if ok else "WRONG"
            if verbose:
                print("%-22s %-10s %s: %s" % (name, c, r["case"], what(r)))
        rows.append((name, counts, wrong_status, valid, valid_n, stream, slow, by_kind))
    n = sum(rows[0][1].values()) if rows else 0
    print("\nFraming cases that must be refused (%d), per server:" % n)
    hdr = "%-22s" % "server" + "".join("%10s" % c for c in CLASSES) + "  json, other status"
    print(hdr)
    for name, counts, ws, *_ in rows:
        print("%-22s" % name + "".join("%10d" % counts[c] for c in CLASSES) + "  %d" % ws)
    print("\n%-22s %-12s %-36s %s" % ("server", "well-formed", "refused chunked body of 200 MiB",
                                      "slow head (1 byte/0.25 s)"))
    for name, _, _, valid, valid_n, stream, slow, _ in rows:
        print("%-22s %-12s %-36s %s" % (name, "%d/%d ok" % (valid, valid_n), stream, slow))

    print("\nBy kind of case (cases: what was answered):")
    for k, _ in KINDS + [("other", ())]:
        cells = []
        for name, *_, by_kind in rows:
            if k in by_kind:
                cells.append("%s %s" % (name, ", ".join(
                    "%d %s" % (by_kind[k][c], c) for c in CLASSES if c in by_kind[k])))
        if cells:
            n = sum(rows[0][-1].get(k, {}).values())
            print("  %s (%d): %s" % (k, n, "; ".join(cells)))


main()
