#!/usr/bin/env python3
"""The attack suite of the differentially private release (issue 8, point 6).

An analyst holding the API token asks GET /v1/stats/* as often as they like,
polls over time and sends reports of their own, then tries the differencing
techniques that rebuilt the whole device table under the old suppression
design. This script is driven by tests/e2e/attack.sh, which runs a real
collector on 127.0.0.1 against a fleet database and moves "today"
(STS_NOW_DAY) between phases:

  attack.py plan URL TOKEN OUT.json     ask the fixed query plan, keep every answer
  attack.py inject URL DAY OUT.json     send the attacker's and the victims' reports
  attack.py analyze DIR                 run the attacks on the kept answers and check
                                        them against the truth in the SQLite copies

Every value the attacker believes recovered exactly is compared with the
truth (the counters of the database, read with sqlite3 after the collector
stopped); the number of exact hits must stay within what the noise allows,
from the exact discrete Gaussian pmf at the published sigma. Python 3
standard library only.
"""

import datetime
import http.client
import json
import math
import os
import random
import sqlite3
import sys
import urllib.parse
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e", "lib"))
from imei import luhn  # noqa: E402

DIMS = ("brand", "model", "sw", "country")
# The months every phase asks about by explicit range: closed from the first
# phase on (the fleet's activations run up to the first phase's today).
PLAN_MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]

# Release tables (collector/release.c) and the query dimensions they hold.
T_MONTH, T_C, T_BM, T_BMC, T_BMS, T_DAY = (
    "sales.month",
    "sales.month.country",
    "sales.month.brand.model",
    "sales.month.brand.model.country",
    "sales.month.brand.model.sw",
    "sales.day.brand.model",
)
T_VERSIONS = "versions.month.model.sw"
T_LIFE = "lifetime.month.brand.model.cohort.first"
TABLE_DIMS = {
    T_MONTH: (),
    T_C: ("country",),
    T_BM: ("brand", "model"),
    T_BMC: ("brand", "model", "country"),
    T_BMS: ("brand", "model", "sw"),
    T_DAY: ("brand", "model"),
}
MONTH_ORDER = [T_MONTH, T_C, T_BM, T_BMC, T_BMS]

# Leaks this suite has found and the release still has (see the report
# printed at the end). Each is checked: it must still reproduce, so that a
# fix shows up here and the entry is removed, and any other failure fails.
KNOWN_LEAKS = {}


def fail(msg):
    print("attack: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# ---- dates -------------------------------------------------------------------


def day_of(s):
    return datetime.date.fromisoformat(s)


def month_key(s):
    y, m = s.split("-")[:2]
    return int(y) * 12 + int(m) - 1


def month_label(mk):
    return "%04d-%02d" % (mk // 12, mk % 12 + 1)


def month_first(mk):
    return datetime.date(mk // 12, mk % 12 + 1, 1)


def month_last(mk):
    return month_first(mk + 1) - datetime.timedelta(days=1)


def epoch_day(d):
    return (d - datetime.date(1970, 1, 1)).days


def from_epoch(n):
    return datetime.date(1970, 1, 1) + datetime.timedelta(days=n)


def week_label(d):
    y, w, _ = d.isocalendar()
    return "%04d-W%02d" % (y, w)


# ---- HTTP --------------------------------------------------------------------


class Client:
    def __init__(self, url, token=None):
        u = urllib.parse.urlsplit(url)
        assert u.hostname == "127.0.0.1", "only loopback"
        self.host, self.port = u.hostname, u.port
        self.token = token
        self.conn = None
        self.queries = 0

    def _req(self, method, path, body=None):
        headers = {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read().decode()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, stat, params):
        self.queries += 1
        qs = urllib.parse.urlencode(params)
        return self._req("GET", "/v1/stats/%s%s" % (stat, "?" + qs if qs else ""))

    def post(self, report):
        status, _ = self._req("POST", "/v1/reports", json.dumps(report))
        return status


def qkey(stat, params):
    return stat + "?" + urllib.parse.urlencode(sorted(params.items()))


# ---- the query plan ----------------------------------------------------------


def by_sets():
    out = []
    for mask in range(16):
        out.append(tuple(d for i, d in enumerate(DIMS) if mask & (1 << i)))
    return out


def allowed(by):
    return not ("sw" in by and "country" in by)


def bm_only(by):
    return all(d in ("brand", "model") for d in by)


def plan(client, out_path):
    """Asks the plan, every query once (a prefix twice), keeps every answer."""
    answers = {}

    def ask(stat, params):
        k = qkey(stat, params)
        if k in answers:
            return answers[k]
        status, body = client.get(stat, params)
        answers[k] = {"status": status, "body": body}
        return answers[k]

    def ok(stat, params):
        a = ask(stat, params)
        if a["status"] != 200:
            fail("%s: status %d: %s" % (qkey(stat, params), a["status"], a["body"][:200]))
        return json.loads(a["body"])

    models = sorted({r["model"] for r in ok("sales", {"by": "model"})["rows"]})
    countries = sorted(
        {r["country"] or "-" for r in ok("sales", {"by": "country", "period": "month"})["rows"]}
    )
    months = [month_key(m) for m in PLAN_MONTHS]
    for by in by_sets():
        b = ",".join(by)
        base = {"by": b} if b else {}
        if not allowed(by):
            ask("sales", dict(base, period="month"))  # must be refused, naming by
            continue
        for period in (None, "month") + (("day", "week") if bm_only(by) else ()):
            p = dict(base, period=period) if period else dict(base)
            ok("sales", p)
        ok("sales", dict(base, period="month", cumulative="1"))
        last = month_last(months[-1]).isoformat()
        for mk in months:
            f, t = month_first(mk).isoformat(), month_last(mk).isoformat()
            ok("sales", dict(base, **{"from": f, "to": t}))  # one month
            ok("sales", dict(base, **{"from": f, "to": last}))  # month .. end
            ok("sales", dict(base, **{"from": f, "to": t, "period": "month"}))
            f2 = (month_first(mk) + datetime.timedelta(days=1)).isoformat()
            f3 = (month_first(mk) + datetime.timedelta(days=2)).isoformat()
            t2 = (month_last(mk) - datetime.timedelta(days=1)).isoformat()
            if bm_only(by):
                # one day off either end, and two: differences of one day
                ok("sales", dict(base, **{"from": f2, "to": t}))
                ok("sales", dict(base, **{"from": f3, "to": t}))
                ok("sales", dict(base, **{"from": f, "to": t2}))
            elif mk == months[0]:
                ask("sales", dict(base, **{"from": f2, "to": t}))  # refused: not whole months
                ask("sales", dict(base, **{"from": f, "to": t2}))
    # filters: the same cells through other queries
    for m in models:
        ok("sales", {"by": "model", "model": m, "period": "month"})
        ok("sales", {"by": "country", "model": m, "period": "month"})
        ok("sales", {"by": "sw", "model": m, "period": "month"})
        ok("versions", {"model": m})
        ok("lifetime", {"model": m})
    for c in countries:
        ok("sales", {"by": "model", "country": c, "period": "month"})
    # k sweeps, and k values that must be refused
    for k in range(10, 61, 5):
        ok("sales", {"by": "model,country", "period": "month", "k": str(k)})
        ok("sales", {"by": "model", "k": str(k)})
        ok("versions", {"k": str(k)})
        ok("lifetime", {"k": str(k)})
    for k in ("9", "1", "0", "-1", "abc", "10.5"):
        ask("sales", {"by": "model", "k": k})
        ask("lifetime", {"k": k})
        ask("versions", {"k": k})
    ok("versions", {})
    ok("lifetime", {})
    ok("lifetime", {"by": "brand,model"})
    for mk in months[1:4]:
        ok("versions", {"from": month_label(mk), "to": month_label(mk)})
        ok("lifetime", {"from": month_label(mk)})
    # the same query twice: every answer of a prefix of the plan asked again
    again = {}
    for k in list(answers)[:60]:
        stat, qs = k.split("?", 1)
        status, body = client.get(stat, dict(urllib.parse.parse_qsl(qs)))
        again[k] = {"status": status, "body": body}
    with open(out_path, "w") as f:
        json.dump({"answers": answers, "again": again, "queries": client.queries}, f)
    print("attack: plan: %d queries asked, %d distinct" % (client.queries, len(answers)))


# ---- reports -----------------------------------------------------------------


class Sender:
    def __init__(self, client, salt):
        self.c, self.salt, self.n = client, salt, 0

    def rid(self):
        self.n += 1
        return "%08x%024x" % (self.salt, self.n)

    def imei(self, i):
        return luhn("35%06d%06d" % (self.salt % 1000000, i % 1000000))

    def activation(self, imei, brand, model, sw, country, day):
        r = {"v": 1, "type": "activation", "report_id": self.rid(), "imei": imei, "brand": brand,
             "model": model, "sw": sw, "day": day}
        if country:
            r["country"] = country
        status = self.c.post(r)
        if status not in (200, 202):
            fail("activation %s: status %d" % (json.dumps(r), status))

    def lifetime(self, brand, model, sw, country, cohort, period, first):
        r = {"v": 1, "type": "lifetime", "report_id": self.rid(), "brand": brand, "model": model,
             "sw": sw, "cohort": cohort, "period": period, "first": first, "country": country}
        status = self.c.post(r)
        if status != 202:
            fail("lifetime %s: status %d" % (json.dumps(r), status))


INJ_K = 30  # the attacker's own reports per (brand, model) cell of the open month


def inject(url, db_path, out_path):
    """Today is the second phase's. Sends, in that order: one late activation
    and one late first ping into closed periods (polling must see nothing),
    one device that re-activates three times in the open month, victims'
    activations spread over the open month, and the attacker's INJ_K known
    activations per (brand, model) on one open day, to subtract later."""
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    combos = db.execute(
        "SELECT brand, model, min(sw) FROM sales_day GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    sws = {}
    for b, m, s in db.execute("SELECT DISTINCT brand, model, sw FROM sales_day ORDER BY 1,2,3"):
        sws.setdefault((b, m), []).append(s)
    db.close()
    client = Client(url)
    s = Sender(client, 0xA77AC4)
    b0, m0, sw0 = combos[0]
    log = {"closed": [], "react": [], "victims": [], "attacker": [], "k": INJ_K}
    # closed day and month (released at this phase's today)
    s.activation(s.imei(1), b0, m0, sw0, "FR", "2026-03-10")
    log["closed"].append(["activation", b0, m0, sw0, "FR", "2026-03-10"])
    s.lifetime(b0, m0, sw0, "FR", "2026-05", "2026-05", True)
    log["closed"].append(["lifetime", b0, m0, sw0, "FR", "2026-05", "2026-05", True])
    # one device, activated and re-activated three times in the open month
    im = s.imei(2)
    for _ in range(4):
        s.activation(im, b0, m0, sw0, "DE", "2026-08-19")
    log["react"].append([b0, m0, sw0, "DE", "2026-08-19", 3])
    # victims: a few devices per (brand, model, country) over the open month
    rng = random.Random(20261201)
    n = 100
    for b, m, _ in combos:
        for country in ("FR", "DE", "US", ""):
            for _ in range(rng.randrange(0, 7)):
                n += 1
                sw = rng.choice(sws[(b, m)])
                day = "2026-08-%02d" % rng.randrange(18, 25)  # days still open
                s.activation(s.imei(n), b, m, sw, country, day)
                log["victims"].append([b, m, sw, country, day])
    # the attacker's known reports: INJ_K per (brand, model), one country, one version
    for b, m, sw in combos:
        for _ in range(INJ_K):
            n += 1
            s.activation(s.imei(n), b, m, sw, "FR", "2026-08-20")
        log["attacker"].append([b, m, sw, "FR", "2026-08-20"])
    with open(out_path, "w") as f:
        json.dump(log, f)
    print("attack: injected %d reports (%d victims, %d of the attacker's)"
          % (s.n, len(log["victims"]), INJ_K * len(combos)))


# ---- the truth -----------------------------------------------------------------


class Truth:
    """Exact counters of a database copy, summed to each released table."""

    def __init__(self, path):
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        self.sales = [
            (from_epoch(d), b, m, s, c, a, r)
            for d, b, m, s, c, a, r in db.execute(
                "SELECT day, brand, model, sw, country, activations, reactivations FROM sales_day")
        ]
        self.versions = db.execute(
            "SELECT period, brand, model, sw, count FROM version_count").fetchall()
        self.react_rows = db.execute(
            "SELECT pseudonym, month FROM reactivation").fetchall()
        db.close()
        self.cells = {}
        for t, dims in TABLE_DIMS.items():
            cells = {}
            for d, b, m, s, c, a, _ in self.sales:
                if a == 0:
                    continue
                v = {"brand": b, "model": m, "sw": s, "country": c}
                per = d.isoformat() if t == T_DAY else month_label(d.year * 12 + d.month - 1)
                k = (per,) + tuple(v[x] for x in dims)
                cells[k] = cells.get(k, 0) + a
            self.cells[t] = cells
        v = {}
        for p, _, m, s, n in self.versions:
            k = (month_label(p), m, s)
            v[k] = v.get(k, 0) + n
        self.cells[T_VERSIONS] = v

    def sales_sum(self, by, flt, lo, hi, period):
        """True activations per answer row: {(period label, by values...): n}."""
        out = {}
        for d, b, m, s, c, a, _ in self.sales:
            if a == 0 or d < lo or d > hi:
                continue
            v = {"brand": b, "model": m, "sw": s, "country": c}
            if any(v[x] != y for x, y in flt.items()):
                continue
            if period == "day":
                per = d.isoformat()
            elif period == "week":
                per = week_label(d)
            elif period == "month":
                per = d.isoformat()[:7]
            else:
                per = None
            k = (per,) + tuple(v[x] for x in by)
            out[k] = out.get(k, 0) + a
        return out


# ---- the exact discrete Gaussian -------------------------------------------------


class DGauss:
    def __init__(self, sigma):
        s2 = sigma * sigma
        self.r = int(math.ceil(12 * sigma)) + 2
        w = [math.exp(-x * x / (2 * s2)) for x in range(-self.r, self.r + 1)]
        z = sum(w)
        self.pmf = {x: w[x + self.r] / z for x in range(-self.r, self.r + 1)}
        self.sigma = sigma

    def p(self, x):
        return self.pmf.get(x, 0.0)

    def tail(self, a):  # P(X >= a)
        return sum(v for x, v in self.pmf.items() if x >= a)

    def cond_max(self, a):
        """max_x P(X = x | X >= a): the best an attacker can do guessing the
        noise of a cell they know is shown (its true count n, threshold T:
        a = T - n)."""
        t = self.tail(a)
        return 1.0 if t <= 0 else self.p(max(a, 0)) / t


# ---- the analysis ----------------------------------------------------------------


class Report:
    def __init__(self):
        self.lines = []
        self.failures = []
        self.leaks = {}

    def say(self, s):
        self.lines.append(s)
        print("attack: " + s)

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("attack: FAIL: " + what, file=sys.stderr)

    def leak(self, name, what):
        self.leaks.setdefault(name, []).append(what)
        print("attack: LEAK [%s]: %s" % (name, what))


class Claims:
    """Values an attacker believes exact, with the probability bound that each
    is right by chance: exact hits are compared with the sum of the bounds."""

    def __init__(self, name):
        self.name, self.n, self.hits, self.expect, self.var = name, 0, 0, 0.0, 0.0
        self.seen = set()
        self.example = None

    def add(self, ident, claim, truth, p):
        if ident in self.seen:
            return
        self.seen.add(ident)
        self.n += 1
        p = min(max(p, 0.0), 1.0)
        self.expect += p
        self.var += p * (1 - p)
        if claim == truth:
            self.hits += 1
        elif self.example is None:
            self.example = (ident, claim, truth)

    def verdict(self, rep, may_be_empty=False):
        bound = self.expect + 4 * math.sqrt(self.var) + 3
        rep.say("%-34s %5d cells attacked, %4d exact (%.1f %%), expected by chance <= %.1f, "
                "allowed %.1f" % (self.name, self.n, self.hits,
                                  100.0 * self.hits / self.n if self.n else 0.0, self.expect, bound))
        rep.check(self.n > 0 or may_be_empty, "%s: no cell attacked (the attack found nothing to work on)"
                  % self.name)
        rep.check(self.hits <= bound, "%s: %d exact recoveries of %d, more than the noise allows "
                  "(%.1f)" % (self.name, self.hits, self.n, bound))


def parse_answers(path):
    with open(path) as f:
        return json.load(f)


def body(snap, stat, params):
    a = snap["answers"].get(qkey(stat, params))
    if a is None:
        fail("query not in the plan: " + qkey(stat, params))
    return a["status"], json.loads(a["body"])


def row_key(doc, r):
    by = doc["by"]
    return (r.get("period"),) + tuple(r.get(d) if r.get(d) is not None else "" for d in by)


def rows_of(doc, col="activations"):
    return {row_key(doc, r): r[col] for r in doc["rows"] if r.get(col) is not None}


def sigmas(doc):
    return {t["table"]: (t["sigma"], t["threshold"]) for t in doc["release"]["tables"]}


def analyze(d):
    rep = Report()
    A = parse_answers(os.path.join(d, "A.json"))
    B = parse_answers(os.path.join(d, "B.json"))
    C = parse_answers(os.path.join(d, "C.json"))
    D = parse_answers(os.path.join(d, "D.json"))
    with open(os.path.join(d, "inject.json")) as f:
        inj = json.load(f)
    truthA = Truth(os.path.join(d, "truthA.db"))
    truthD = Truth(os.path.join(d, "truthD.db"))
    nq = sum(s["queries"] for s in (A, B, C, D))
    rep.say("%d queries over four phases (%d distinct per phase)" % (nq, len(A["answers"])))

    # Noise of each table at the published sigma, and which cells are shown:
    # every table is read at its own grain, so shown cells and their values
    # (hence their noise against the truth) are known to the test.
    _, bm = body(A, "sales", {"by": "brand,model", "period": "month"})
    sig = {}
    for k in A["answers"]:
        a = A["answers"][k]
        if a["status"] == 200:
            for t in json.loads(a["body"]).get("release", {}).get("tables", []):
                sig[t["table"]] = (t["sigma"], t["threshold"])
    dg = {t: DGauss(s) for t, (s, _) in sig.items()}
    thr = {t: th for t, (_, th) in sig.items()}
    for t in (T_MONTH, T_C, T_BM, T_BMC, T_BMS, T_DAY, T_VERSIONS):
        rep.check(t in sig, "table %s never named in a release block" % t)
    rep.say("published sigma: " + ", ".join("%s %.3f (threshold %d, P(noise=0) %.3f)"
                                            % (t, s, th, dg[t].p(0))
                                            for t, (s, th) in sorted(sig.items())))
    grain_query = {
        T_MONTH: {"period": "month"},
        T_C: {"by": "country", "period": "month"},
        T_BM: {"by": "brand,model", "period": "month"},
        T_BMC: {"by": "brand,model,country", "period": "month"},
        T_BMS: {"by": "brand,model,sw", "period": "month"},
        T_DAY: {"by": "brand,model", "period": "day"},
    }
    shown = {}
    for t, q in grain_query.items():
        _, doc = body(A, "sales", q)
        shown[t] = {tuple([k[0]] + list(k[1:])): v for k, v in rows_of(doc).items()}
    noise_seen = {}
    for t, cells in shown.items():
        for k, v in cells.items():
            n = truthA.cells[t].get(k)
            rep.check(n is not None, "%s cell %s shown (%d) but holds no report" % (t, k, v))
            if n is None:
                continue
            rep.check(v >= thr[t], "%s cell %s shown under its threshold" % (t, k))
            noise_seen.setdefault(t, []).append(v - n)

    # 0. The noise is real: shown cells differ from the truth, as often as
    # the pmf says (a release of exact counts fails here).
    for t, ns in sorted(noise_seen.items()):
        zero = sum(1 for x in ns if x == 0)
        mean = sum(ns) / len(ns)
        rep.say("noise of %-32s %4d shown cells, %3d exact, mean %+.2f, sd %.2f (sigma %.2f)"
                % (t, len(ns), zero, mean,
                   math.sqrt(sum(x * x for x in ns) / len(ns)), dg[t].sigma))
        if len(ns) >= 20:
            rep.check(zero <= len(ns) * dg[t].cond_max(-100) + 4 * math.sqrt(len(ns)) + 3,
                      "%s: %d of %d shown cells exact" % (t, zero, len(ns)))
            rep.check(any(x != 0 for x in ns), "%s: every shown cell is exact" % t)

    def shown_components(t, pred):
        """The shown cells of table t among those pred accepts, with the best
        chance of guessing each one's noise exactly given that it is shown."""
        out = []
        for k, n in truthA.cells[t].items():
            if pred(k) and k in shown[t]:
                out.append(dg[t].cond_max(thr[t] - n))
        return out

    def chance(components):
        # P(a sum of independent noises equals a given value) is at most the
        # largest pmf value of any one of them; no shown cell: a hit is only
        # possible by accident (a hidden count of 0 does not exist).
        return min(components) if components else 0.0

    def month_of(k):
        return k[0][:7]

    def matches(t, k, flt, by_key, by):
        names = TABLE_DIMS[t]
        vals = dict(zip(names, k[1:]))
        for x, y in flt.items():
            if vals.get(x) != y:
                return False
        for x, y in zip(by, by_key):
            if vals.get(x) != y:
                return False
        return True

    months = [month_key(m) for m in PLAN_MONTHS]
    last_day = month_last(months[-1])

    # 1. Date shifts: [M .. end] minus [M+1 .. end] is month M, for every by
    # set; at day grain (brand/model sets), [M-01 ..] minus [M-02 ..] is day
    # M-01 and [M-02 ..] minus [M-03 ..] is day M-02.
    cm = Claims("date shift: month")
    cd = Claims("date shift: day")
    refusals = 0
    for by in by_sets():
        b = ",".join(by)
        base = {"by": b} if b else {}
        if not allowed(by):
            st, doc = body(A, "sales", dict(base, period="month"))
            rep.check(st == 400 and doc.get("field") == "by", "by=%s not refused naming by" % b)
            refusals += 1
            continue
        t = [x for x in MONTH_ORDER if all(y in TABLE_DIMS[x] for y in by)][0]
        for i, mk in enumerate(months[:-1]):
            f0 = month_first(mk)
            _, a1 = body(A, "sales", dict(base, **{"from": f0.isoformat(), "to": last_day.isoformat()}))
            _, a2 = body(A, "sales", dict(base, **{"from": month_first(mk + 1).isoformat(),
                                                 "to": last_day.isoformat()}))
            r1, r2 = rows_of(a1), rows_of(a2)
            tr = truthA.sales_sum(by, {}, f0, month_last(mk), None)
            for k in r1:
                if k not in r2:
                    continue
                truth = tr.get(k, 0)
                if truth == 0:
                    continue
                comps = shown_components(t, lambda c: month_of(c) == month_label(mk)
                                         and matches(t, c, {}, k[1:], by))
                cm.add((b, mk, k), r1[k] - r2[k], truth, chance(comps))
        if not bm_only(by):
            f0 = month_first(months[0])
            for q in ({"from": (f0 + datetime.timedelta(days=1)).isoformat(),
                       "to": month_last(months[0]).isoformat()},
                      {"from": f0.isoformat(),
                       "to": (month_last(months[0]) - datetime.timedelta(days=1)).isoformat()}):
                st, _ = body(A, "sales", dict(base, **q))
                rep.check(st == 400, "by=%s over part of a month answered %d, not 400" % (b, st))
                refusals += 1
            continue
        for mk in months:
            f0, t0 = month_first(mk), month_last(mk)
            f1, f2 = f0 + datetime.timedelta(days=1), f0 + datetime.timedelta(days=2)
            t1 = t0 - datetime.timedelta(days=1)
            _, a0 = body(A, "sales", dict(base, **{"from": f0.isoformat(), "to": t0.isoformat()}))
            _, a1 = body(A, "sales", dict(base, **{"from": f1.isoformat(), "to": t0.isoformat()}))
            _, a2 = body(A, "sales", dict(base, **{"from": f2.isoformat(), "to": t0.isoformat()}))
            _, a3 = body(A, "sales", dict(base, **{"from": f0.isoformat(), "to": t1.isoformat()}))
            r0, r1, r2, r3 = rows_of(a0), rows_of(a1), rows_of(a2), rows_of(a3)
            for (x, y, day, tabs) in ((r0, r1, f0, (T_BM, T_DAY)), (r1, r2, f1, (T_DAY,)),
                                      (r0, r3, t0, (T_BM, T_DAY))):
                tr = truthA.sales_sum(by, {}, day, day, None)
                for k in x:
                    if k not in y or tr.get(k, 0) == 0:
                        continue
                    comps = []
                    for tt in tabs:
                        per = month_label(mk) if tt == T_BM else None
                        comps += shown_components(
                            tt, lambda c: (c[0] == day.isoformat() if tt == T_DAY else
                                           month_of(c) == per) and matches(tt, c, {}, k[1:], by))
                    cd.add((b, day, k), x[k] - y[k], tr[k], chance(comps))
    cm.verdict(rep)
    # The part months come from the daily table, whose cells are shown from
    # its (high) threshold only: most shifted answers have no row to subtract.
    cd.verdict(rep, may_be_empty=True)
    rep.say("%d by sets or ranges refused (sw with country; part months by country or sw)"
            % refusals)

    # 2. One hierarchy level minus another: a country's month minus its shown
    # model rows is the country's hidden cells; a total minus its rows (the
    # answer's own "not_shown") is the hidden rest.
    ch = Claims("hierarchy: country - model,country")
    _, by_c = body(A, "sales", {"by": "country", "period": "month"})
    _, by_mc = body(A, "sales", {"by": "brand,model,country", "period": "month"})
    rc, rmc = rows_of(by_c), rows_of(by_mc)
    for (per, c), v in rc.items():
        parts = [(k, x) for k, x in rmc.items() if k[0] == per and k[3] == c]
        hidden_truth = sum(n for k, n in truthA.cells[T_BMC].items()
                           if k[0] == per and k[3] == c and k not in shown[T_BMC])
        if hidden_truth == 0:
            continue
        comps = shown_components(T_C, lambda k: k == (per, c)) + shown_components(
            T_BMC, lambda k: k[0] == per and k[3] == c)
        ch.add((per, c), v - sum(x for _, x in parts), hidden_truth, chance(comps))
    ch.verdict(rep)
    ct = Claims("hierarchy: total - rows")
    for k, a in A["answers"].items():
        if a["status"] != 200 or not k.startswith("sales?"):
            continue
        doc = json.loads(a["body"])
        tot = doc.get("total", {})
        if tot.get("not_shown") is None or doc.get("period") is not None:
            continue
        params = dict(urllib.parse.parse_qsl(k.split("?", 1)[1]))
        if "from" not in params or "k" in params:
            continue
        lo, hi = day_of(params["from"]), day_of(params["to"])
        by = tuple(doc["by"])
        flt = {x: params[x] for x in DIMS if x in params}
        tr = truthA.sales_sum(by, flt, lo, hi, None)
        shown_keys = set(rows_of(doc))
        hidden = sum(n for kk, n in tr.items() if kk not in shown_keys)
        if hidden == 0:
            continue
        ct.add(k, tot["not_shown"], hidden, dg[T_MONTH].p(0) if by else 0.0)
    ct.verdict(rep)

    # 3. Hidden rows: nothing is said about a cell that is not shown. No row
    # without a figure, no word of suppression, no figure under k, and no
    # combination of one or two devices listed.
    rows_checked = 0
    tiny = 0
    for snap in (A, B, C, D):
        for k, a in snap["answers"].items():
            if a["status"] != 200:
                continue
            low = a["body"].lower()
            for word in ("suppress", "hidden", "secret", "\"*\""):
                rep.check(word not in low, "%s: the answer says %s" % (k, word))
            doc = json.loads(a["body"])
            kk = doc.get("k", 10)
            for r in doc.get("rows", []):
                rows_checked += 1
                figs = [r.get(c) for c in ("activations", "reactivations", "pings")]
                rep.check(any(f is not None for f in figs), "%s: row without a figure: %s" % (k, r))
                for f in figs:
                    rep.check(f is None or f >= kk, "%s: figure under k: %s" % (k, r))
    for k, n in truthA.cells[T_BMC].items():
        if n <= 2:
            tiny += 1
            rep.check(k not in shown[T_BMC], "a cell of %d device(s) is listed: %s" % (n, k))
    rep.say("hidden rows: %d rows checked, %d cells of 1-2 devices never listed" % (rows_checked, tiny))

    # 4. k sweeps: a raised k only hides rows, never changes or adds one; k
    # under the floor, or not a number, is refused.
    _, base = body(A, "sales", {"by": "model,country", "period": "month", "k": "10"})
    r10 = rows_of(base)
    sweeps = 0
    for k in range(15, 61, 5):
        _, doc = body(A, "sales", {"by": "model,country", "period": "month", "k": str(k)})
        rk = rows_of(doc)
        rep.check(rk == {x: v for x, v in r10.items() if v >= k},
                  "k=%d: the rows are not those of k=10 at or above %d" % (k, k))
        _, lk = body(A, "lifetime", {"k": str(k)})
        _, l10 = body(A, "lifetime", {"k": "10"})
        s10 = {(g["model"], c["cohort"]): c["size"] for g in l10["groups"] for c in g["cohorts"]}
        for g in lk["groups"]:
            for c in g["cohorts"]:
                rep.check(c["size"] is None or c["size"] == s10.get((g["model"], c["cohort"])),
                          "lifetime k=%d: a cohort size changed with k" % k)
        sweeps += 1
    for kv in ("9", "1", "0", "-1", "abc", "10.5"):
        for stat in ("sales", "lifetime", "versions"):
            p = {"k": kv, "by": "model"} if stat == "sales" else {"k": kv}
            st, doc = body(A, stat, p)
            rep.check(st == 400 and doc.get("field") == "k", "%s?k=%s answered %d, not 400" % (stat, kv, st))
    rep.say("k sweeps: %d steps of k over sales and lifetime, 18 k values refused" % sweeps)

    # 5. count / share: a version's pings over its share is the model's
    # monthly total; minus the shown versions, the hidden ones.
    cs = Claims("count / share: group totals")
    chv = Claims("count / share: hidden versions")
    _, ver = body(A, "versions", {})
    groups = {}
    for r in ver["rows"]:
        if r.get("share"):
            groups.setdefault((r["period"], r["model"]), []).append(r)
    for (per, m), rs in groups.items():
        est = [round(r["pings"] / r["share"]) for r in rs if r["share"] > 0]
        total = max(set(est), key=est.count)
        truth = sum(n for k, n in truthA.cells[T_VERSIONS].items() if k[0] == per and k[1] == m)
        comps = [dg[T_VERSIONS].cond_max(thr[T_VERSIONS] - truthA.cells[T_VERSIONS].get(
            (per, m, r["sw"]), 0)) for r in rs]
        # the denominator is the shown versions' sum or the lifetime table's
        p = max(chance(comps), DGauss(sig.get(T_LIFE, (1.0, 0))[0]).p(0) if T_LIFE in sig else 1.0)
        cs.add((per, m), total, truth, p)
        hidden_truth = truth - sum(truthA.cells[T_VERSIONS].get((per, m, r["sw"]), 0) for r in rs)
        if hidden_truth > 0:
            chv.add((per, m), total - sum(r["pings"] for r in rs), hidden_truth, p)
    cs.verdict(rep)
    chv.verdict(rep)

    # 6. The same query twice, and the same cell through several queries.
    same = 0
    for snap in (A, B, C, D):
        for k, a in snap["again"].items():
            rep.check(a == snap["answers"][k], "asked twice, answered differently: " + k)
            same += 1
    _, bym = body(A, "sales", {"by": "model", "period": "month"})
    rm = rows_of(bym)
    _, life = body(A, "lifetime", {})
    sizes = {(c["cohort"], g["model"]): c["size"] for g in life["groups"] for c in g["cohorts"]}
    through = 0
    for m in sorted({k[1] for k in rm}):
        _, f = body(A, "sales", {"by": "model", "model": m, "period": "month"})
        for k, v in rows_of(f).items():
            rep.check(rm.get(k) == v, "month x model %s: %s by=model, %s with model=%s"
                      % (k, rm.get(k), v, m))
            through += 1
        _, lm = body(A, "lifetime", {"model": m})
        for g in lm["groups"]:
            for c in g["cohorts"]:
                rep.check(sizes.get((c["cohort"], m)) == c["size"],
                          "cohort %s of %s: size differs with a model filter" % (c["cohort"], m))
                through += 1
    for mk in months:
        ml = month_label(mk)
        _, one = body(A, "sales", {"by": "model", "from": month_first(mk).isoformat(),
                                   "to": month_last(mk).isoformat()})
        for k, v in rows_of(one).items():
            rep.check(rm.get((ml,) + k[1:]) == v, "model %s in %s: %s by month, %s by range"
                      % (k[1:], ml, rm.get((ml,) + k[1:]), v))
            through += 1
        _, onem = body(A, "sales", {"by": "model", "from": month_first(mk).isoformat(),
                                    "to": month_last(mk).isoformat(), "period": "month"})
        rep.check(rows_of(onem) == {x: v for x, v in rm.items() if x[0] == ml},
                  "by=model in %s: the one-month answer is not the month's rows" % ml)
        for (cohort, m), sz in sizes.items():
            if cohort == ml and sz is not None:
                rep.check(rm.get((ml, m)) == sz, "cohort %s of %s: size %s, sales %s"
                          % (ml, m, sz, rm.get((ml, m))))
                through += 1
    rep.say("same query twice: %d answers identical; same cell through other queries: %d checks"
            % (same, through))

    # 7. Polling over time. A -> B: today moved on a month, nothing sent:
    # every released figure is what it was. B -> C: reports sent into closed
    # and open periods: still nothing may move. C -> D: today moved on again.
    def released(snap, last_month):
        """Figures of closed months, by query and row: those of period=month
        answers with the period closed, and whole answers over the plan's
        explicit ranges."""
        out = {}
        for k, a in snap["answers"].items():
            if a["status"] != 200:
                continue
            params = dict(urllib.parse.parse_qsl(k.split("?", 1)[1])) if "?" in k else {}
            doc = json.loads(a["body"])
            if k.startswith("sales?") and (params.get("period") in ("month", "day", "week")
                                           and "from" not in params):
                for r in doc["rows"]:
                    if r["period"][:7] <= last_month and len(r["period"]) != 8:
                        out[(k, row_key(doc, r))] = (r.get("activations"), r.get("reactivations"))
            elif k.startswith("sales?") and "from" in params:
                for r in doc["rows"]:
                    out[(k, row_key(doc, r))] = (r.get("activations"), r.get("reactivations"))
                out[(k, "total")] = json.dumps(doc["total"], sort_keys=True)
            elif k.startswith("lifetime?"):
                for g in doc["groups"]:
                    for c in g["cohorts"]:
                        if c["cohort"] <= last_month:
                            out[(k, g.get("model"), g.get("brand"), c["cohort"])] = c["size"]
            elif k.startswith("versions?"):
                for r in doc["rows"]:
                    if r["period"] <= last_month:
                        out[(k, r["period"], r["model"], r["sw"])] = r["pings"]
        return out

    def compare(x, y, last_month, what):
        rx, ry = released(x, last_month), released(y, last_month)
        changed = [(k, rx[k], ry.get(k)) for k in rx if ry.get(k) != rx[k]]
        rep.say("%s: %d released figures compared, %d changed" % (what, len(rx), len(changed)))
        return changed

    thA = json.loads(A["answers"][qkey("sales", {"by": "model"})]["body"])["release"]
    thC = json.loads(C["answers"][qkey("sales", {"by": "model"})]["body"])["release"]
    ch_ab = compare(A, B, thA["through_month"], "polling A->B (today +1 month, nothing sent)")
    for k, old, new in ch_ab[:5]:
        rep.check(False, "A->B: %s was %s, now %s" % (k, old, new))
    ch_bc = compare(B, C, thC["through_month"], "polling B->C (late and open-period reports)")
    ch_cd = compare(C, D, thC["through_month"], "polling C->D (today +3 weeks)")
    for k, old, new in ch_cd[:5]:
        rep.check(False, "C->D: %s was %s, now %s" % (k, old, new))
    if ch_bc:
        # what one late device gives away: the exact difference of released cells
        diffs = {}
        for k, old, new in ch_bc:
            if isinstance(old, tuple) and isinstance(new, tuple) and old[0] is not None \
                    and new[0] is not None:
                diffs[new[0] - old[0]] = diffs.get(new[0] - old[0], 0) + 1
        # the released cells, each at its own table's grain, that moved
        grain = {qkey("sales", q): t for t, q in grain_query.items()}
        moved = sorted("%s %s: %s -> %s" % (grain[k[0]], "/".join(x for x in k[1] if x),
                                             old[0], new[0])
                       for k, old, new in ch_bc if k[0] in grain)
        rep.say("cells moved by the late reports: " + "; ".join(moved))
        ex = ch_bc[0]
        rep.leak("closed-period-changes",
                 "%d released figures of closed months changed after one late activation "
                 "(day %s) and one late first ping (period %s); differences seen %s; e.g. "
                 "%s: %s -> %s" % (len(ch_bc), inj["closed"][0][5], inj["closed"][1][6],
                                   dict(sorted(diffs.items())), ex[0], ex[1], ex[2]))
    # open periods are never shown: no row of the open month in C
    for k, a in C["answers"].items():
        if a["status"] != 200:
            continue
        doc = json.loads(a["body"])
        pers = [r.get("period") or "" for r in doc.get("rows", [])] + [
            c["cohort"] for g in doc.get("groups", []) for c in g["cohorts"]]
        if any(p.startswith("2026-08") for p in pers if p):
            rep.check(False, "%s shows the open month 2026-08" % k)
            break

    # 8. The sensitivity the budget assumes: one device, at most one
    # re-activation counted per month.
    per_dev = {}
    for p, month in truthD.react_rows:
        kk = (p, month)
        per_dev[kk] = per_dev.get(kk, 0) + 1
    worst = max(per_dev.values()) if per_dev else 0
    if worst > 1:
        rep.leak("reactivation-sensitivity",
                 "one device holds %d re-activations in one month, each counted into "
                 "reactivations.month.brand.model (sensitivity %d, the budget assumes 1: "
                 "that device spends %d x that table's rho)" % (worst, worst, worst * worst))

    # 9. Known reports injected, subtracted once their month is released.
    ci = Claims("injected reports subtracted")
    _, dbm = body(D, "sales", {"by": "brand,model", "period": "month"})
    _, dbmc = body(D, "sales", {"by": "brand,model,country", "period": "month"})
    _, dbms = body(D, "sales", {"by": "brand,model,sw", "period": "month"})
    _, dc = body(D, "sales", {"by": "country", "period": "month"})
    _, dm = body(D, "sales", {"period": "month"})
    _, dday = body(D, "sales", {"by": "brand,model", "period": "day"})
    sigD = {}
    for doc in (dbm, dbmc, dbms, dc, dm, dday):
        sigD.update(sigmas(doc))
    K = inj["k"]
    att = inj["attacker"]
    mine = {T_BM: {}, T_BMC: {}, T_BMS: {}, T_C: {}, T_MONTH: {}, T_DAY: {}}
    for b, m, sw, c, day in att:
        for t, k in ((T_BM, ("2026-08", b, m)), (T_BMC, ("2026-08", b, m, c)),
                     (T_BMS, ("2026-08", b, m, sw)), (T_C, ("2026-08", c)), (T_MONTH, ("2026-08",)),
                     (T_DAY, (day, b, m))):
            mine[t][k] = mine[t].get(k, 0) + K
    remainders = []
    for t, doc in ((T_BM, dbm), (T_BMC, dbmc), (T_BMS, dbms), (T_C, dc), (T_MONTH, dm),
                   (T_DAY, dday)):
        got = rows_of(doc)
        for k, n_mine in mine[t].items():
            if k not in got:
                # The noise may take a cell under its threshold; one far above
                # it must show.
                total = truthD.cells[t].get(k, 0)
                rep.check(total < sigD[t][1] + 7 * sigD[t][0],
                          "%s: the attacker's own cell %s (%d reports, %d in all) is not shown"
                          % (t, k, n_mine, total))
                rep.say("injected: %s %s not shown (%d in all, threshold %d, sigma %.2f)"
                        % (t, k, total, sigD[t][1], sigD[t][0]))
                continue
            total = truthD.cells[t].get(k, 0)
            others = total - n_mine
            rem = got[k] - n_mine
            remainders.append(rem - others)
            g = DGauss(sigD[t][0])
            ci.add((t, k), rem, others, g.cond_max(sigD[t][1] - total))
            rep.check(abs(rem - others) <= 7 * g.sigma + 1,
                      "%s %s: remainder %d vs %d others, beyond the noise" % (t, k, rem, others))
    ci.verdict(rep)
    if remainders:
        rep.say("injected: remainder - truth over %d cells: %d zero, mean %+.2f"
                % (len(remainders), remainders.count(0), sum(remainders) / len(remainders)))

    # 10. Lifetime cohort sizes against the truth (released monthly sales).
    cl = Claims("lifetime cohort sizes")
    for (cohort, m), sz in sizes.items():
        if sz is None:
            continue
        truth = sum(n for k, n in truthA.cells[T_BM].items() if k[0] == cohort and k[2] == m)
        comps = shown_components(T_BM, lambda k: k[0] == cohort and k[2] == m)
        cl.add((cohort, m), sz, truth, chance(comps))
    cl.verdict(rep)

    rep.say("tau-ARGUS-style interval audit: not run (every figure carries noise; "
            "no exact constraint to propagate)")
    for name, what in sorted(rep.leaks.items()):
        if name not in KNOWN_LEAKS:
            rep.check(False, "new leak %s: %s" % (name, what[0]))
    for name in KNOWN_LEAKS:
        if name not in rep.leaks:
            rep.check(False, "known leak '%s' no longer reproduces: remove it from KNOWN_LEAKS"
                      % name)
    if rep.leaks:
        print("attack: %d known leak(s) reproduced: %s" % (len(rep.leaks), ", ".join(sorted(rep.leaks))))
    if rep.failures:
        fail("%d check(s) failed" % len(rep.failures))
    print("attack: ok")


def main(argv):
    if len(argv) == 5 and argv[1] == "plan":
        with open(argv[3]) as f:
            token = f.read().split()[-1]
        plan(Client(argv[2], token), argv[4])
    elif len(argv) == 5 and argv[1] == "inject":
        inject(argv[2], argv[3], argv[4])
    elif len(argv) == 3 and argv[1] == "analyze":
        analyze(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
