#!/usr/bin/env python3
"""The accuracy table of the differentially private release, side by side
with the naive baseline, from one fleet run (see bench/privacy.sh).

usage: privacy.py DB ANSWERS_DIR FLEET_OUTPUT [SEED]

DB is a copy of the collector's SQLite database (its exact counters are the
truth of sales and pings); ANSWERS_DIR holds the collector's JSON answers
saved by bench/privacy.sh; FLEET_OUTPUT is sts-fleet's output, whose
lifetime tables give the fleet's true survival per model and age.

The baseline: one Gaussian draw per cell with sigma^2 = 5 (rho = 0.5 split
over 5 tables: 1 / (2 x 0.1)), no threshold, over month x model sales,
month x model x country sales, lifetime P(a) and C(a+1) per model pooled,
and versions per month x model x sw, over the same closed months."""
import collections
import json
import math
import random
import re
import sqlite3
import statistics
import sys

SIGMA = math.sqrt(5.0)


def month_label(m):
    return "%04d-%02d" % (m // 12, m % 12 + 1)


def day_month(day):
    # days since 1970-01-01 -> months since year 0 as the store counts them
    import datetime
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
    return d.year * 12 + d.month - 1


def med(v):
    return statistics.median(v) if v else float("nan")


def main():
    db_path, answers, fleet_out = sys.argv[1:4]
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    load = lambda name: json.load(open("%s/%s.json" % (answers, name)))
    sales_m = load("sales_model")
    sales_mc = load("sales_model_country")
    life = load("lifetime")
    vers = load("versions")
    through = sales_m["release"]["through_month"]
    db = sqlite3.connect(db_path)

    # --- truth from the exact counters, closed months only
    t_m = collections.Counter()
    t_mc = collections.Counter()
    for day, model, country, n in db.execute(
            "SELECT day, model, country, sum(activations) FROM sales_day GROUP BY 1, 2, 3"):
        m = month_label(day_month(day))
        if m > through:
            continue
        t_m[(m, model)] += n
        t_mc[(m, model, country if country else None)] += n
    noise = lambda: rng.gauss(0, SIGMA)

    def rel(shown, truth):
        return abs(shown - truth) / truth

    out = []
    row = lambda what, design, base: out.append((what, design, base))

    # 1. month x model, cells >= 50
    d_m = {(r["period"], r["model"]): r for r in sales_m["rows"] if r["activations"] is not None}
    big = [k for k, v in t_m.items() if v >= 50]
    d_err = [rel(d_m[k]["activations"], t_m[k]) if k in d_m else 1.0 for k in big]
    b_err = [rel(t_m[k] + noise(), t_m[k]) for k in big]
    row("sales month x model, cells >= 50: median rel. error (%d cells)" % len(big),
        "%.2f %%" % (100 * med(d_err)), "%.2f %%" % (100 * med(b_err)))
    # coverage of the month x model intervals (all cells of truth >= 50)
    d_cov = [1 if k in d_m and d_m[k]["activations_ci"][0] <= t_m[k] <= d_m[k]["activations_ci"][1]
             else 0 for k in big]
    b_cov = [1 if abs(noise()) <= 1.96 * SIGMA else 0 for k in big]

    # 2. month x model x country, cells 10..49
    d_mc = {(r["period"], r["model"], r["country"]): r for r in sales_mc["rows"]
            if r["activations"] is not None}
    mid = [k for k, v in t_mc.items() if 10 <= v <= 49]
    shown = [k for k in mid if k in d_mc]
    d_err = [rel(d_mc[k]["activations"], t_mc[k]) for k in shown]
    d_err_all = d_err + [1.0] * (len(mid) - len(shown))
    b_err = [rel(t_mc[k] + noise(), t_mc[k]) for k in mid]
    row("sales month x model x country, cells 10-49: median rel. error (%d cells)" % len(mid),
        "%.2f %% shown (%d %% shown); %.2f %% counting hidden as 100 %%"
        % (100 * med(d_err), round(100 * len(shown) / max(1, len(mid))), 100 * med(d_err_all)),
        "%.2f %%" % (100 * med(b_err)))

    # 3. survival: the fleet's truth from sts-fleet's table; the baseline from
    # the exact panel counts P(a) (pings at age a with age a + 1 closed) and
    # C(a+1) (pings at age a + 1 that are not first ones), pooled per model.
    fleet = {}
    fleet_med = {}
    model = None
    for line in open(fleet_out):
        mm = re.match(r"^  (\S+)  Weibull.*; fleet (-?[0-9.]+), panel", line)
        if mm:
            model = mm.group(1)
            fleet[model] = {}
            fleet_med[model] = float(mm.group(2))
            continue
        mm = re.match(r"^ +(\d+) +(\d+) +([0-9.]+) +([0-9.]+) ", line)
        if model and mm:
            fleet[model][int(mm.group(1))] = (int(mm.group(2)), float(mm.group(3)))
        if line.startswith("version shares per month"):
            model = None
    thr = int(life["through"][:4]) * 12 + int(life["through"][5:]) - 1
    P = collections.Counter()
    C = collections.Counter()
    for period, cohort, mdl, first, n in db.execute(
            "SELECT period, cohort, model, first, sum(count) FROM lifetime_count "
            "GROUP BY 1, 2, 3, 4"):
        if period > thr:
            continue
        a = period - cohort
        if period + 1 <= thr:
            P[(mdl, a)] += n
        if a >= 1 and not first:
            C[(mdl, a - 1)] += n
    d_groups = {g["model"]: g for g in life["groups"]}
    d_worst, b_worst, d_med, b_med = {}, {}, {}, {}
    for mdl, ages in fleet.items():
        S, curve = 1.0, [1.0]
        for a in range(0, max(ages) + 1):
            p = P[(mdl, a)] + noise()
            c = C[(mdl, a)] + noise()
            h = min(1.0, max(0.0, c / p)) if p > 0 else 0.0
            S *= h
            curve.append(S)
        checked = [a for a, (n, _) in ages.items() if n >= 1000]
        g = d_groups.get(mdl, {})
        ds = g.get("survival", [])
        d_worst[mdl] = max([abs(ds[a] - ages[a][1]) if a < len(ds) else 1.0 for a in checked],
                           default=None)
        b_worst[mdl] = max([abs(curve[a] - ages[a][1]) for a in checked], default=None)
        # medians, by the collector's interpolation
        bm = None
        for a in range(1, len(curve)):
            if curve[a] <= 0.5:
                drop = curve[a - 1] - curve[a]
                bm = (a - 1) + (curve[a - 1] - 0.5) / drop if drop > 0 else a
                break
        tm = fleet_med[mdl]
        if tm > 0 and checked:
            dm = g.get("median")
            d_med[mdl] = abs(dm - tm) / tm if dm is not None else 1.0
            b_med[mdl] = abs(bm - tm) / tm if bm is not None else 1.0
    fmt = lambda d: ", ".join("%s %.4f" % (k, v) for k, v in d.items() if v is not None)
    row("survival per model, max error at ages >= 1,000 devices", fmt(d_worst), fmt(b_worst))
    fmtp = lambda d: ", ".join("%s %.1f %%" % (k, 100 * v) for k, v in d.items())
    row("median lifetime, relative error", fmtp(d_med), fmtp(b_med))

    # 4. version shares per month x model, groups >= 50 pings
    tv = collections.Counter()
    for period, mdl, sw, n in db.execute(
            "SELECT period, model, sw, sum(count) FROM version_count GROUP BY 1, 2, 3"):
        if period <= thr:
            tv[(month_label(period), mdl, sw)] += n
    groups = collections.defaultdict(dict)
    for (m, mdl, sw), n in tv.items():
        groups[(m, mdl)][sw] = n
    d_v = {(r["period"], r["model"], r["sw"]): r for r in vers["rows"]}
    d_e, b_e, d_in, b_in = [], [], [], []
    for (m, mdl), g in groups.items():
        tot = sum(g.values())
        if tot < 50:
            continue
        noisy = {sw: n + noise() for sw, n in g.items()}
        ntot = sum(noisy.values())
        for sw, n in g.items():
            ts = n / tot
            r = d_v.get((m, mdl, sw))
            ds = r["share"] if r and r["share"] is not None else 0.0
            d_e.append(abs(ds - ts))
            b_e.append(abs(noisy[sw] / ntot - ts))
    row("version shares, groups >= 50 pings: median / max abs. error (%d shares)" % len(d_e),
        "%.2f / %.2f points" % (100 * med(d_e), 100 * max(d_e, default=0)),
        "%.2f / %.2f points" % (100 * med(b_e), 100 * max(b_e, default=0)))
    row("95 %% interval coverage, month x model cells >= 50 (%d)" % len(big),
        "%.1f %%" % (100 * sum(d_cov) / max(1, len(d_cov))),
        "%.1f %%" % (100 * sum(b_cov) / max(1, len(b_cov))))

    w = max(len(r[0]) for r in out)
    print("%-*s | %s | %s" % (w, "figure (closed months through %s)" % through, "this release",
                              "naive baseline (sigma^2 = 5 per cell)"))
    for what, d, b in out:
        print("%-*s | %s | %s" % (w, what, d, b))


if __name__ == "__main__":
    main()
