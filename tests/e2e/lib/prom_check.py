"""A strict reader of the Prometheus text exposition format (0.0.4) for
the tests: every line is a HELP, a TYPE or a sample; a family's HELP and TYPE
come once, before its samples; names and label names are well formed, label
values quoted and escaped; values are numbers; a histogram has increasing
le buckets with non-decreasing counts, a +Inf bucket equal to its _count,
and a _sum. Label names must be among ALLOWED, and no label value may look
like an address or an identifier (a dotted quad, 32 hex digits). Prints
every sample as 'name{labels} value' (labels sorted); exits 1 on the first
fault, naming the line. Usage: prom_check.py FILE"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')
ALLOWED = {"type", "outcome", "code", "result", "kind", "le", "program", "version"}
SUSPECT = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-f]{32}|:[0-9a-f]*:")


def fault(n, line, why):
    print("line %d: %s: %r" % (n, why, line), file=sys.stderr)
    sys.exit(1)


def labels_of(n, line, text):
    out, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            fault(n, line, "bad label list")
        k, v = m.group(1), m.group(2)
        if k in out:
            fault(n, line, "label %s twice" % k)
        if k not in ALLOWED:
            fault(n, line, "label %s not allowed" % k)
        if SUSPECT.search(v):
            fault(n, line, "label value %r looks like an address or an identifier" % v)
        out[k] = v
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                fault(n, line, "labels not separated by ','")
            pos += 1
    return out


def main():
    text = open(sys.argv[1]).read()
    if not text.endswith("\n"):
        fault(0, text[-40:], "no final newline")
    types, helps, seen_samples = {}, set(), set()
    samples = []
    hist = {}  # (family, labels without le) -> list of (le, count), sum, count
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not NAME.match(parts[2]) or parts[2] in helps:
                fault(n, line, "bad or repeated HELP")
            helps.add(parts[2])
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or not NAME.match(parts[2]) or parts[2] in types:
                fault(n, line, "bad or repeated TYPE")
            if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                fault(n, line, "unknown type")
            if parts[2] in seen_samples:
                fault(n, line, "TYPE after the family's samples")
            types[parts[2]] = parts[3]
            continue
        if line.startswith("#") or not line:
            fault(n, line, "stray comment or empty line")
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if not m:
            fault(n, line, "not a sample")
        name, ltext, value = m.group(1), m.group(2) or "", m.group(3)
        labels = labels_of(n, line, ltext)
        try:
            v = float(value)
        except ValueError:
            fault(n, line, "value is not a number")
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                family = name[: -len(suffix)]
        if family not in types:
            fault(n, line, "sample before its TYPE")
        seen_samples.add(family)
        if types[family] == "counter" and (v < 0 or math.isnan(v)):
            fault(n, line, "negative counter")
        if types[family] == "histogram":
            if family == name:
                fault(n, line, "histogram sample without _bucket/_sum/_count")
            key = (family, tuple(sorted((k, x) for k, x in labels.items() if k != "le")))
            h = hist.setdefault(key, {"buckets": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                if "le" not in labels:
                    fault(n, line, "bucket without le")
                le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
                if h["buckets"] and (le <= h["buckets"][-1][0] or v < h["buckets"][-1][1]):
                    fault(n, line, "buckets not increasing")
                h["buckets"].append((le, v))
            elif name.endswith("_sum"):
                h["sum"] = v
            else:
                h["count"] = v
        key = name + "{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"
        samples.append("%s %s" % (key, value))
    for (family, _), h in hist.items():
        b = h["buckets"]
        if not b or b[-1][0] != float("inf") or h["sum"] is None or h["count"] != b[-1][1]:
            fault(0, family, "histogram without +Inf = _count, or without _sum")
    print("\n".join(samples))


main()
