#!/usr/bin/env bash
# The dashboard in a real browser: a collector filled by sts-fleet, the page
# loaded by headless Chromium with the token in the URL fragment, and every
# number drawn (kept in data- attributes) compared with the JSON API's: each
# figure of the differentially private release and its 95 % interval, the
# release period and budget; hidden figures must not be drawn at all.
# Saves a screenshot as build/<dir>/artifacts/dashboard.png. Installs Debian's
# chromium if it is missing (and skips, saying so, if it cannot).
set -euo pipefail

bin=${STS_BIN:?STS_BIN must point at the build directory}
tmp=$(mktemp -d)
collector_pid=""
cleanup() {
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "dashboard: FAIL: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium \
    >/dev/null 2>&1 || true
fi
command -v chromium >/dev/null || { echo "dashboard: SKIP: chromium is not installed"; exit 0; }
command -v python3 >/dev/null || fail "python3 is needed to read the page back"

# The release shows only closed periods (a month once its end plus the 7-day
# grace has passed): the fleet reports up to 2026-03-18, then the collector is
# restarted on 2026-04-15, when every month it reported on is closed. Fixed
# noise seed and fleet seed, default budget: the same figures at every run.
export STS_NOW_DAY=2026-03-18 STS_TEST_RELEASE_SEED=dashboard-e2e
"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --token --out "$tmp/token" 2>/dev/null
token=$(head -n1 "$tmp/token")
# The fleet sends months of history at once: the collector keeps each
# report on its own day (backfill) instead of moving late ones to the
# first open period, as it does for live traffic (docs/at-rest.md).
echo "backfill = 1" >"$tmp/collector.conf"
start_collector() { # log file
  "$bin/sts-collector" serve --config "$tmp/collector.conf" --listen 127.0.0.1:0 --db "sqlite:$tmp/sts.db" \
    --key "$tmp/key" --token-file "$tmp/token" 2>"$1" &
  collector_pid=$!
  url=""
  for _ in $(seq 200); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$1" || true)
    [ -n "$url" ] && break
    kill -0 "$collector_pid" 2>/dev/null || { cat "$1" >&2; fail "the collector exited"; }
    sleep 0.05
  done
  [ -n "$url" ] || fail "the collector did not start within 10 s"
}
start_collector "$tmp/collector.log"
timeout 300 "$bin/sts-fleet" --collector "$url" --devices 4000 --seed 5 --months 24 \
  --concurrency 16 --token-file "$tmp/token" --no-verify >"$tmp/fleet.out" 2>&1 \
  || { cat "$tmp/fleet.out"; fail "sts-fleet could not fill the collector"; }
kill "$collector_pid"
wait "$collector_pid" || true
collector_pid=""
export STS_NOW_DAY=2026-04-15
start_collector "$tmp/collector2.log"

# The page itself: embedded, self-contained, no token needed to fetch it.
curl -sS --max-time 10 -D "$tmp/headers" -o "$tmp/page.html" "$url/dashboard"
grep -qi '^content-type: text/html' "$tmp/headers" || fail "the page is not text/html"
grep -qi "^content-security-policy: default-src 'none'" "$tmp/headers" || fail "no CSP"
if grep -Eqi '(src|href)="(https?:)?//' "$tmp/page.html"; then fail "the page loads something external"; fi

api() { curl -sS --max-time 30 -H "Authorization: Bearer $token" "$url$1"; }
api "/v1/stats/sales?by=model&period=month" >"$tmp/sales.json"
api "/v1/stats/sales?by=country" >"$tmp/countries.json"
api "/v1/stats/lifetime?by=model" >"$tmp/lifetime.json"
api "/v1/stats/versions" >"$tmp/versions.json"
api "/v1/stats/lifetime?by=model&model=K400" >"$tmp/lifetime-k400.json"
api "/v1/stats/sales?by=model&period=month&model=K400" >"$tmp/sales-k400.json"

browse() { # url-fragment, extra chromium args...
  local frag=$1; shift
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d -p "$tmp")" --virtual-time-budget=10000 "$@" \
    "$url/dashboard#$frag" 2>>"$tmp/chromium.log"
}
browse "token=$token" --dump-dom >"$tmp/dom.html" || fail "chromium failed: $(tail -5 "$tmp/chromium.log")"
browse "token=$token&model=K400" --dump-dom >"$tmp/dom-k400.html" || fail "chromium failed"
mkdir -p "$bin/artifacts"
browse "token=$token" --hide-scrollbars --window-size=1400,2200 \
  --screenshot="$bin/artifacts/dashboard.png" >/dev/null || fail "no screenshot"
browse "token=$token&model=K400" --hide-scrollbars --window-size=1400,2200 \
  --screenshot="$bin/artifacts/dashboard-k400.png" >/dev/null || fail "no screenshot"
[ -s "$bin/artifacts/dashboard.png" ] || fail "empty screenshot"
# Without a token the page says what to do and shows no figure.
browse "" --dump-dom >"$tmp/dom-notoken.html" || fail "chromium failed"
grep -q 'No token' "$tmp/dom-notoken.html" || fail "no advice without a token"
grep -q 'class="point"' "$tmp/dom-notoken.html" && fail "figures drawn without a token"

# The token lives in the URL fragment only: never written into the page.
for f in dom.html dom-k400.html; do
  grep -qF "$token" "$tmp/$f" && fail "the token is written into the page ($f)"
done

python3 - "$tmp" <<'PY' || fail "the page's numbers differ from the API's"
import html, json, re, sys
d = sys.argv[1]
def load(n): return json.load(open(f"{d}/{n}"))
def attrs(dom, tag, cls=None):
    out = []
    for m in re.finditer(r"<%s\b([^>]*)>" % tag, dom):
        a = dict((k, html.unescape(v)) for k, v in re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        if cls is None or cls in a.get("class", "").split():
            out.append(a)
    return out
bad = []
def same(what, got, want):
    if got == want:
        return
    if isinstance(got, dict) and isinstance(want, dict):
        keys = sorted(set(got) | set(want), key=repr)
        diff = [f"{k!r}: page {got.get(k, 'absent')!r}, API {want.get(k, 'absent')!r}"
                for k in keys if got.get(k, "absent") != want.get(k, "absent")]
        bad.append(f"{what}: {len(diff)} differ: " + "; ".join(diff[:3]))
    else:
        bad.append(f"{what}: page {got!r}, API {want!r}")
def num(x): return None if x == "" else float(x)
def ci(x):  # "lo:hi" (hi empty when open) -> (lo, hi); "" -> None
    if x == "": return None
    lo, hi = x.split(":")
    return (float(lo), num(hi))
def api_ci(c): return None if c is None else (float(c[0]), None if c[1] is None else float(c[1]))
def nums(x): return [num(v) for v in x.split(",")]
def cis(x): return [ci(v) for v in x.split(",")]
def by_id(dom, i):
    m = re.search(r'<[a-z]+ [^>]*id="%s"[^>]*>' % i, dom)
    if not m: bad.append(f"no element #{i}"); return {}
    return dict((k, html.unescape(v)) for k, v in re.findall(r'([\w-]+)="([^"]*)"', m.group(0)))
def text(dom):
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))

def every_month(ps):  # the axis: every month from the first to the last, gaps included
    y, m = map(int, ps[0].split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= ps[-1]:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
dom = open(f"{d}/dom.html").read()
same("status", by_id(dom, "status").get("data-state"), "done")
sales, countries, life, vers = (load(n) for n in
    ("sales.json", "countries.json", "lifetime.json", "versions.json"))
if len(sales["rows"]) < 20 or len(life["groups"]) < 3 or len(vers["rows"]) < 50:
    bad.append("the release has too few figures to check the page with")

# The release: its period, and every table it draws on with its noise.
th = by_id(dom, "through")
same("figures through (day)", th.get("data-through-day"), sales["release"]["through_day"])
same("figures through (month)", th.get("data-through-month"), sales["release"]["through_month"])
same("lifetime through", life["through"], sales["release"]["through_month"])
want = {}
for doc in (sales, countries, life, vers):
    for t in doc["release"]["tables"]:
        want[t["table"]] = (t["sigma"], t["rho"], t["threshold"])
got = {a["data-table"]: (float(a["data-sigma"]), float(a["data-rho"]), int(a["data-threshold"]))
       for a in attrs(dom, "tr") if "data-table" in a}
same("budget tables", got, want)
words = text(dom)
for phrase in ("slightly blurred on purpose", "19 times out of 20", "not shown at all",
               "ρ = %s" % sales["release"]["rho_per_month"]):
    if phrase not in words: bad.append(f"the page does not say {phrase!r}")

# Activations over time: one point per shown cell, its value and range; no other point.
def points(dom):
    return {(a["data-series"], a["data-x"]): (int(a["data-value"]), ci(a["data-ci"]))
            for a in attrs(dom, "circle", "point")}
def sales_want(doc):
    return {(r["model"], r["period"]): (r["activations"], api_ci(r["activations_ci"]))
            for r in doc["rows"] if r["activations"] is not None}
same("activations by model and month", points(dom), sales_want(sales))
same("activations axis", by_id(dom, "sales-chart").get("data-periods", "").split(","),
     every_month(sorted({r["period"] for r in sales["rows"]})))
def kpi(dom, i):
    a = by_id(dom, i)
    return (num(a.get("data-value", "")), ci(a.get("data-ci", "")))
tot = sales["total"]
same("total activations", kpi(dom, "kpi-act"), (tot["activations"], api_ci(tot["activations_ci"])))
same("total re-activations", kpi(dom, "kpi-react"),
     (tot.get("reactivations"), api_ci(tot.get("reactivations_ci"))))
same("not shown", num(by_id(dom, "kpi-hidden").get("data-value", "")), tot["not_shown"])

# Countries: a bar per shown country with its range, nothing for the others.
want = {("no country" if r["country"] is None else r["country"]):
        (r["activations"], api_ci(r["activations_ci"])) for r in countries["rows"]}
got = {a["data-country"]: (int(a["data-value"]), ci(a["data-ci"]))
       for a in attrs(dom, "rect") if "data-country" in a}
same("countries", got, want)
if countries["total"]["not_shown"]:
    same("countries not shown", num(by_id(dom, "countries-hidden").get("data-value", "")),
         countries["total"]["not_shown"])

# Survival curves with their bands, medians with their ranges.
def curves(dom):
    return {a["data-model"]: (nums(a["data-survival"]), cis(a["data-ci"]),
                              num(a["data-median"]), ci(a["data-median-ci"]))
            for a in attrs(dom, "path", "pooled")}
def curves_want(doc):
    return {g["model"]: (g["survival"], [api_ci(c) for c in g["survival_ci"]], g["median"],
                         api_ci(g["median_ci"])) for g in doc["groups"]}
same("survival by model", curves(dom), curves_want(life))
def medians(dom):
    return {a["data-series"]: ci(a["data-ci"]) for a in attrs(dom, "line", "median-ci")}
def medians_want(doc):
    return {g["model"]: api_ci(g["median_ci"]) for g in doc["groups"] if g["median"] is not None}
same("median ranges drawn", medians(dom), medians_want(life))
same("median dots", {a["data-series"]: float(a["data-median"]) for a in attrs(dom, "circle", "median")},
     {g["model"]: g["median"] for g in life["groups"] if g["median"] is not None})
ys = sorted(float(a["data-y"]) for a in attrs(dom, "text", "median-label"))
same("median labels", len(ys), len(medians_want(life)))
if any(b - a < 12 for a, b in zip(ys, ys[1:])):
    bad.append(f"median labels overlap (rows at y = {ys})")
if len(medians_want(life)) < 2:
    bad.append("fewer than two medians: the labels' placement is not tested")
# The lifetime table: median and the shares still in use at 6, 12, 18 months.
got = {}
for m in re.finditer(r'<tr data-model="([^"]*)">(.*?)</tr>', dom, re.S):
    for a in attrs(m.group(2), "td"):
        if "data-age" in a:
            got[(m.group(1), int(a["data-age"]))] = (num(a["data-value"]), ci(a["data-ci"]))
        elif "data-median" in a:
            got[(m.group(1), "median")] = (num(a["data-median"]), ci(a["data-ci"]))
want = {}
for g in life["groups"]:
    want[(g["model"], "median")] = (g["median"], api_ci(g["median_ci"]))
    for age in (6, 12, 18):
        s = g["survival"]
        want[(g["model"], age)] = ((s[age], api_ci(g["survival_ci"][age])) if age < len(s)
                                   else (None, None))
same("lifetime table", got, want)

# Version shares and their ranges, in one panel per model titled with the model.
got = {(a["data-model"], a["data-sw"]): (a["data-shares"], a["data-ci"])
       for a in attrs(dom, "path", "version")}
def fnum(v): return "" if v is None else (str(int(v)) if v == int(v) else repr(v))
def fci(c): return "" if c is None else fnum(c[0]) + ":" + fnum(c[1])
want = {}
models = sorted({r["model"] for r in vers["rows"]})
for m in models:
    rows = [r for r in vers["rows"] if r["model"] == m]
    if all(r["share"] is None for r in rows):
        continue  # nothing to draw: the panel says so
    periods = every_month(sorted({r["period"] for r in rows}))
    for sw in sorted({r["sw"] for r in rows}):
        cell = {r["period"]: r for r in rows if r["sw"] == sw}
        want[(m, sw)] = (",".join(fnum(cell[p]["share"]) if p in cell else "" for p in periods),
                         ",".join(fci(cell[p]["share_ci"]) if p in cell and cell[p]["share"] is not None
                                  else "" for p in periods))
same("version shares", got, want)
titles = {}
for m in re.finditer(r'<h3 class="vtitle" data-model="([^"]*)">(.*?)</h3>', dom, re.S):
    titles[m.group(1)] = text(m.group(2)).split()[0]
same("version panel titles", titles, {m: m for m in models})

# The model filter: K400's sales, pooled curve and every cohort with its band.
domk = open(f"{d}/dom-k400.html").read()
lk, sk = load("lifetime-k400.json"), load("sales-k400.json")
same("K400 status", by_id(domk, "status").get("data-state"), "done")
same("K400 activations", points(domk), sales_want(sk))
same("K400 pooled", curves(domk), curves_want(lk))
same("K400 median", medians(domk), medians_want(lk))
gotc = {a["data-cohort"]: (nums(a["data-survival"]), cis(a["data-ci"]))
        for a in attrs(domk, "path", "cohort")}
wantc = {c["cohort"]: (c["survival"], [api_ci(x) for x in c["survival_ci"]])
         for g in lk["groups"] for c in g["cohorts"] if len(c["survival"]) > 1}
same("K400 cohorts", gotc, wantc)
if len(wantc) < 5:
    bad.append(f"only {len(wantc)} K400 cohort curves to compare")
for b in bad:
    print("dashboard:", b, file=sys.stderr)
print(f"dashboard: {len(sales_want(sales))} activation points, {len(want)} version series, "
      f"{len(ys)} medians, {len(gotc)} cohort curves compared")
sys.exit(1 if bad else 0)
PY
echo "dashboard: ok (screenshot: $bin/artifacts/dashboard.png)"
