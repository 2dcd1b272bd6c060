#!/usr/bin/env python3
"""Writes the hostile-list cases tests/data/1NNN-hostile-*.case (format in
tests/data/README.md): one valid report at a time with one field made
hostile, plus hostile paths, methods and media types. Each case states its
exact status and JSON error, derived here from the protocol's rules (not
from running the collector), and names no rows, so the runner checks that
every table stayed empty. Run it again after changing the rules:

    python3 tests/data/gen_hostile.py        # rewrites tests/data/1*-hostile-*.case
"""
import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

ACT = [("v", 1), ("type", "activation"), ("report_id", "0123456789abcdef0123456789abcdef"),
       ("imei", "352099001761481"), ("brand", "acme-eu"), ("model", "K400"), ("sw", "K400-V12"),
       ("country", "FR"), ("day", "2026-11-20")]
LIFE = [("v", 1), ("type", "lifetime"), ("report_id", "0123456789abcdef0123456789abcdef"),
        ("brand", "acme-eu"), ("model", "K400"), ("sw", "K400-V12"), ("country", "FR"),
        ("cohort", "2026-10"), ("period", "2026-11"), ("first", False)]

BAD_TEXT = "only letters, digits, space and . _ + / - are allowed"
BAD_ID = "must be 32 lower-case hexadecimal characters"
BAD_COUNTRY = "not an assigned ISO 3166-1 alpha-2 code"
BAD_DAY = "must be a real calendar date as YYYY-MM-DD"
BAD_MONTH = "must be a month as YYYY-MM"
NUL = "must not contain NUL characters"
NOT_STRING = "must be a string"
REPORT_ERROR = {"error": "invalid"}

cases = []


def enc(v):
    """JSON text of a value; a raw string (starting with RAW:) goes in as is,
    for escapes such as \\u0000 that json.dumps would write differently."""
    if isinstance(v, str) and v.startswith("RAW:"):
        return v[4:]
    return json.dumps(v, ensure_ascii=False)


def body_of(fields):
    return "{" + ",".join("%s:%s" % (json.dumps(k), enc(v)) for k, v in fields) + "}"


def err(field, detail, kind="invalid"):
    return json.dumps({"error": kind, "field": field, "detail": detail}, separators=(",", ":"),
                      ensure_ascii=False)


def report(slug, title, fields, field, detail):
    cases.append({"slug": slug, "title": title, "body": body_of(fields), "status": 400,
                  "expect": err(field, detail)})


def with_field(base, key, value):
    return [(k, value if k == key else v) for k, v in base]


def without(base, key):
    return [(k, v) for k, v in base if k != key]


def slugify(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:40]


WRONG_TYPES = [("number", 1), ("real", 1.5), ("true", True), ("false", False), ("null", None),
               ("empty-array", []), ("array", ["x"]), ("object", {"x": "y"})]

# --- brand, model, sw: text fields ------------------------------------------
BAD_CHARS = "<>'\\\";&|`$(){}%*=?!@#,:~^[]"
NON_ASCII = [("e-acute", "caf\u00e9"), ("e-acute-escaped", "RAW:\"caf\\u00e9\""),
             ("zero-width-space", "RAW:\"K4\\u200b00\""), ("emoji", "RAW:\"K\\ud83d\\ude00\""),
             ("bom", "RAW:\"\\ufeffK400\""), ("rtl-override", "RAW:\"K\\u202e004\""),
             ("fullwidth-k", "\uff2b400"), ("cyrillic-a", "\u0430cme")]
CONTROLS = [("tab", "RAW:\"K\\t400\""), ("newline", "RAW:\"K400\\n\""), ("cr", "RAW:\"K400\\r\""),
            ("soh", "RAW:\"K\\u0001400\""), ("del", "RAW:\"K\\u007f400\""),
            ("escape-seq", "RAW:\"\\u001b[31mK400\""), ("crlf-injection",
                                                      "RAW:\"K400\\r\\nX-Injected: 1\"")]
INJECTIONS = [("sql-quote", "x' OR '1'='1"), ("sql-drop", "Robert'); DROP TABLE activation;--"),
              ("html-script", "<script>alert(1)</script>"),
              ("format-string", "%s%s%n"), ("shell", "$(reboot)"), ("template", "{{7*7}}")]
for f in ("brand", "model", "sw"):
    for where, raw in (("start", "\\u0000K400"), ("middle", "K4\\u000000"), ("end", "K400\\u0000"),
                       ("only", "\\u0000")):
        report("%s-nul-%s" % (f, where), "%s with a NUL at the %s" % (f, where),
               with_field(ACT, f, "RAW:\"%s\"" % raw), f, NUL)
    for name, v in CONTROLS:
        report("%s-%s" % (f, name), "%s with a control character (%s)" % (f, name),
               with_field(ACT, f, v), f, BAD_TEXT)
    for i, ch in enumerate(BAD_CHARS):
        report("%s-char-%02d" % (f, i), "%s with the character %s" % (f, ch),
               with_field(ACT, f, "K4" + ch + "00"), f, BAD_TEXT)
    for name, v in NON_ASCII:
        report("%s-%s" % (f, name), "%s with a character outside ASCII (%s)" % (f, name),
               with_field(ACT, f, v), f, BAD_TEXT)
    for name, v in INJECTIONS:
        report("%s-%s" % (f, name), "%s carrying an injection attempt (%s)" % (f, name),
               with_field(ACT, f, v), f, BAD_TEXT)
    report("%s-empty" % f, "%s empty" % f, with_field(ACT, f, ""), f, "must not be empty")
    report("%s-65" % f, "%s of 65 characters" % f, with_field(ACT, f, "a" * 65), f,
           "longer than 64 characters")
    report("%s-4000" % f, "%s of 4,000 characters" % f, with_field(ACT, f, "a" * 4000), f,
           "longer than 64 characters")
    report("%s-40-e-acute" % f, "%s of 40 non-ASCII characters (80 bytes)" % f,
           with_field(ACT, f, "\u00e9" * 40), f, BAD_TEXT)
    for name, v in WRONG_TYPES:
        report("%s-%s" % (f, name), "%s as a JSON %s" % (f, name), with_field(ACT, f, v), f,
               NOT_STRING)
    report("%s-lifetime-nul" % f, "%s with a NUL in a lifetime ping" % f,
           with_field(LIFE, f, "RAW:\"K400\\u0000x\""), f, NUL)

# --- type --------------------------------------------------------------------
for name, v, detail in [
        ("nul-suffix", "RAW:\"activation\\u0000+33612345678\"", NUL),
        ("nul-only", "RAW:\"\\u0000\"", NUL),
        ("lifetime-nul", "RAW:\"lifetime\\u0000\"", NUL),
        ("capitalised", "Activation", "must be \"activation\" or \"lifetime\""),
        ("upper", "ACTIVATION", "must be \"activation\" or \"lifetime\""),
        ("trailing-space", "activation ", "must be \"activation\" or \"lifetime\""),
        ("empty", "", "must be \"activation\" or \"lifetime\""),
        ("other", "sale", "must be \"activation\" or \"lifetime\""),
        ("number", 1, NOT_STRING), ("null", None, NOT_STRING), ("array", ["activation"], NOT_STRING),
        ("object", {"activation": True}, NOT_STRING)]:
    report("type-%s" % name, "type %s" % name, with_field(ACT, "type", v), "type", detail)
report("type-missing", "no type", without(ACT, "type"), "type", "missing")

# --- v -----------------------------------------------------------------------
for name, v, detail in [
        ("string", "1", "must be an integer"), ("real", 1.0, "must be an integer"),
        ("null", None, "must be an integer"), ("true", True, "must be an integer"),
        ("array", [1], "must be an integer"),
        ("two", 2, "unsupported protocol version 2 (this side speaks 1)"),
        ("zero", 0, "unsupported protocol version 0 (this side speaks 1)"),
        ("negative", -1, "unsupported protocol version -1 (this side speaks 1)"),
        ("large", 4294967297, "unsupported protocol version 4294967297 (this side speaks 1)")]:
    report("v-%s" % name, "v %s" % name, with_field(ACT, "v", v), "v", detail)
report("v-missing", "no v", without(ACT, "v"), "v", "missing")

# --- report_id -----------------------------------------------------------------
for name, v, detail in [
        ("nul", "RAW:\"0123456789abcdef\\u00000123456789abcde\"", NUL),
        ("31", "0123456789abcdef0123456789abcde", BAD_ID),
        ("33", "0123456789abcdef0123456789abcdef0", BAD_ID),
        ("upper", "0123456789ABCDEF0123456789ABCDEF", BAD_ID),
        ("not-hex", "0123456789abcdeg0123456789abcdef", BAD_ID),
        ("uuid", "01234567-89ab-cdef-0123-456789abcdef", BAD_ID),
        ("spaces", " 0123456789abcdef0123456789abcde", BAD_ID), ("empty", "", BAD_ID),
        ("number", 123, NOT_STRING), ("null", None, NOT_STRING)]:
    report("report-id-%s" % name, "report_id %s" % name, with_field(ACT, "report_id", v),
           "report_id", detail)

# --- imei ----------------------------------------------------------------------
for name, v, detail in [
        ("nul", "RAW:\"3520990017614\\u00001\"", NUL),
        ("14", "35209900176148", "must be exactly 15 digits"),
        ("16", "3520990017614810", "must be exactly 15 digits"),
        ("letters", "35209900176148a", "must contain only the digits 0-9"),
        ("spaces", "35209900 176148", "must contain only the digits 0-9"),
        ("dashes", "35-209900-17614", "must contain only the digits 0-9"),
        ("arabic-digit", "35209900176148\u0661", "must be exactly 15 digits"),
        ("luhn", "352099001761482", "check digit does not match"),
        ("zeros-luhn", "000000000000001", "check digit does not match"),
        ("empty", "", "must be exactly 15 digits"), ("number", 352099001761481, NOT_STRING),
        ("null", None, NOT_STRING)]:
    report("imei-%s" % name, "imei %s" % name, with_field(ACT, "imei", v), "imei", detail)
report("imei-in-lifetime", "an IMEI in a lifetime ping", LIFE + [("imei", "352099001761481")],
       "imei", "not allowed in a lifetime report")

# --- country -------------------------------------------------------------------
for name, v, detail in [
        ("nul", "RAW:\"F\\u0000\"", NUL), ("lower", "fr", BAD_COUNTRY), ("xx", "XX", BAD_COUNTRY),
        ("alpha3", "FRA", BAD_COUNTRY), ("one", "F", BAD_COUNTRY), ("digits", "33", BAD_COUNTRY),
        ("empty", "", "must be omitted, not empty, without consent"),
        ("number", 33, NOT_STRING), ("null", None, NOT_STRING)]:
    report("country-%s" % name, "country %s" % name, with_field(ACT, "country", v), "country",
           detail)

# --- day -----------------------------------------------------------------------
for name, v, detail in [
        ("nul", "RAW:\"2026-11-2\\u0000\"", NUL), ("feb-30", "2026-02-30", BAD_DAY),
        ("month-13", "2026-13-01", BAD_DAY), ("short-month", "2026-1-20", BAD_DAY),
        ("compact", "20261120", BAD_DAY), ("slashes", "2026/11/20", BAD_DAY),
        ("with-time", "2026-11-20T00:00:00Z", BAD_DAY), ("empty", "", BAD_DAY),
        ("day-00", "2026-11-00", BAD_DAY), ("year-0", "0000-01-01", BAD_DAY),
        ("before-2000", "1999-12-31", "before 2000-01-01"),
        ("future", "2026-11-22", "more than one day in the future"),
        ("far-future", "9999-12-31", "more than one day in the future"),
        ("number", 20777, NOT_STRING), ("null", None, NOT_STRING)]:
    report("day-%s" % name, "day %s" % name, with_field(ACT, "day", v), "day", detail)
report("day-in-lifetime", "a day in a lifetime ping", LIFE + [("day", "2026-11-20")], "day",
       "not allowed in a lifetime report")

# --- cohort, period, first -------------------------------------------------------
for f in ("cohort", "period"):
    for name, v, detail in [
            ("nul", "RAW:\"2026-1\\u0000\"", NUL), ("month-13", "2026-13", BAD_MONTH),
            ("short", "2026-1", BAD_MONTH), ("day", "2026-11-01", BAD_MONTH),
            ("empty", "", BAD_MONTH), ("number", 24322, NOT_STRING), ("null", None, NOT_STRING),
            ("before-2000", "1999-12", "before 2000-01"), ("future", "2027-01", "in the future")]:
        report("%s-%s" % (f, name), "%s %s" % (f, name), with_field(LIFE, f, v), f, detail)
report("period-before-cohort", "period before the cohort month",
       with_field(LIFE, "period", "2026-09"), "period", "before the cohort month")
for name, v in [("string", "true"), ("number", 1), ("null", None), ("array", [True])]:
    report("first-%s" % name, "first as %s" % name, with_field(LIFE, "first", v), "first",
           "must be true or false")
for f in ("cohort", "period", "first"):
    report("%s-in-activation" % f, "%s in an activation" % f, ACT + [(f, dict(LIFE)[f])], f,
           "not allowed in an activation report")

# --- missing, unknown and repeated keys ----------------------------------------
for f in ("report_id", "imei", "brand", "model", "sw", "day"):
    report("missing-%s" % f, "an activation without %s" % f, without(ACT, f), f, "missing")
for f in ("report_id", "brand", "model", "sw", "cohort", "period", "first"):
    report("missing-life-%s" % f, "a lifetime ping without %s" % f, without(LIFE, f), f,
           "missing")
for key in ("ip", "imsi", "msisdn", "phone", "serial", "location", "mac", "__proto__",
            "constructor", "Brand", "IMEI", "report-id", ""):
    report("unknown-%s" % (slugify(key) or "empty"), "unknown field '%s'" % key,
           ACT + [(key, "x")], key, "unknown field (not allowed by protocol v1)")
for f, v in ACT:
    report("repeated-%s" % f.replace("_", "-"), "%s given twice" % f, ACT + [(f, v)], f,
           "appears more than once")

# --- the body as a whole ----------------------------------------------------------
cases.append({"slug": "body-array", "title": "a JSON array of reports",
              "body": "[" + body_of(ACT) + "]", "status": 400,
              "expect": err("body", "must be a JSON object")})
cases.append({"slug": "body-too-large", "title": "a report padded past 8,192 bytes",
              "body": body_of(ACT), "pad": 8193, "status": 413,
              "expect": err("body", "larger than 8192 bytes", "too_large")})

# --- transport: paths, methods, media types -------------------------------------------
NOT_FOUND = err("path", "no such endpoint", "not_found")
for name, path in [("encoded-slash", "/v1%2freports"), ("encoded-slash-upper", "/v1%2Freports"),
                   ("encoded-letter", "/v1/report%73"), ("upper", "/V1/REPORTS"),
                   ("trailing-slash", "/v1/reports/"), ("double-slash", "/v1//reports"),
                   ("suffix", "/v1/reports.json"), ("semicolon", "/v1/reports;x"),
                   ("encoded-dot", "/v1/%2e%2e/v1/reports"), ("backslash", "/v1\\reports")]:
    cases.append({"slug": "path-%s" % name, "title": "path %s" % path, "path": path,
                  "body": body_of(ACT), "status": 404, "expect": NOT_FOUND})
for name, path in [("nul-suffix", "/v1/reports%00.json"), ("nul-query", "/v1/reports?x=%00")]:
    cases.append({"slug": "path-%s" % name, "title": "path %s" % path, "path": path,
                  "body": body_of(ACT), "status": 400,
                  "expect": err("target", "an encoded NUL in the request target", "bad_request")})
for m in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT-X"):
    cases.append({"slug": "method-%s" % m.lower(), "title": "%s on the report endpoint" % m,
                  "method": m, "body": body_of(ACT), "status": 405,
                  "expect": err("method", "use POST", "method_not_allowed"),
                  "header": "Allow: POST"})
for name, ct in [("text-plain", "text/plain"), ("jsonx", "application/jsonx"),
                 ("json-patch", "application/json-patch+json"),
                 ("form", "application/x-www-form-urlencoded"), ("multipart", "multipart/form-data"),
                 ("ohttp", "message/ohttp-req"), ("none", "none"), ("xml", "application/xml")]:
    cases.append({"slug": "type-header-%s" % name, "title": "Content-Type %s" % ct, "type": ct,
                  "body": body_of(ACT), "status": 415,
                  "expect": err("content-type", "reports must be sent as application/json",
                                "unsupported_media_type")})

for old in glob.glob(os.path.join(HERE, "1[0-9][0-9][0-9]-hostile-*.case")):
    os.remove(old)
for i, c in enumerate(cases):
    lines = ["# generated by tests/data/gen_hostile.py", "title %s" % c["title"]]
    for k in ("method", "path", "type"):
        if k in c:
            lines.append("%s %s" % (k, c[k]))
    lines.append("body %s" % c["body"])
    if "pad" in c:
        lines.append("pad %d" % c["pad"])
    lines.append("status %d" % c["status"])
    lines.append("expect %s" % c["expect"])
    if "header" in c:
        lines.append("header %s" % c["header"])
    name = "%04d-hostile-%s.case" % (1000 + i, slugify(c["slug"]))
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
print("%d cases written" % len(cases))
