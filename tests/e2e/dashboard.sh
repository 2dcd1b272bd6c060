#!/usr/bin/env bash
# The dashboard in a real browser: a collector filled by sts-fleet, the page
# loaded by headless Chromium with the token in the URL fragment, and every
# number drawn (kept in data- attributes) compared with the JSON API's.
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

export STS_NOW_DAY=2026-03-18
"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --token --out "$tmp/token" 2>/dev/null
token=$(head -n1 "$tmp/token")
# The fleet sends months of history at once: the collector keeps each
# report on its own day (backfill) instead of moving late ones to the
# first open period, as it does for live traffic (docs/at-rest.md).
echo "backfill = 1" >"$tmp/collector.conf"
"$bin/sts-collector" serve --config "$tmp/collector.conf" --listen 127.0.0.1:0 --db "sqlite:$tmp/sts.db" \
  --key "$tmp/key" --token-file "$tmp/token" 2>"$tmp/collector.log" &
collector_pid=$!
url=""
for _ in $(seq 200); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/collector.log" || true)
  [ -n "$url" ] && break
  kill -0 "$collector_pid" 2>/dev/null || { cat "$tmp/collector.log" >&2; fail "the collector exited"; }
  sleep 0.05
done
[ -n "$url" ] || fail "the collector did not start within 10 s"
timeout 300 "$bin/sts-fleet" --collector "$url" --devices 4000 --seed 5 --months 24 \
  --concurrency 16 --token-file "$tmp/token" --no-verify >"$tmp/fleet.out" 2>&1 \
  || { cat "$tmp/fleet.out"; fail "sts-fleet could not fill the collector"; }

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
    if got != want:
        bad.append(f"{what}: page {got!r}, API {want!r}")
dom = open(f"{d}/dom.html").read()
same("status", re.search(r'id="status"[^>]*data-state="(\w+)"', dom).group(1), "done")
sales, countries, life, vers = (load(n) for n in
    ("sales.json", "countries.json", "lifetime.json", "versions.json"))
# Activations over time: one point per visible cell, same value.
want = {(r["model"], r["period"]): r["activations"] for r in sales["rows"]
        if r["activations"] is not None}
got = {(a["data-series"], a["data-x"]): int(a["data-value"]) for a in attrs(dom, "circle")
       if "data-x" in a}
got = {k: v for k, v in got.items() if k in want or v != 0}
same("activations by model and month", got, want)
kpi = re.search(r'id="kpi-act"[^>]*data-value="(\d+)"', dom)
same("total activations", int(kpi.group(1)), sales["total"]["activations"])
# Countries.
want = {("no country" if r["country"] is None else r["country"]):
        ("hidden" if r["activations"] is None else str(r["activations"])) for r in countries["rows"]}
got = {a["data-country"]: a["data-value"] for a in attrs(dom, "rect") if "data-country" in a}
same("countries", got, want)
# Survival curves and medians.
def curves(dom):
    return {a["data-model"]: ([float(x) for x in a["data-survival"].split(",")],
                              float(a["data-median"]) if a["data-median"] else None)
            for a in attrs(dom, "path", "pooled")}
want = {g["model"]: (g["survival"], g["median"]) for g in life["groups"]}
same("survival by model", curves(dom), want)
# Version shares.
got = {}
for a in attrs(dom, "path", "version"):
    got[(a["data-model"], a["data-sw"])] = a["data-shares"]
want = {}
for m in sorted({r["model"] for r in vers["rows"]}):
    rows = [r for r in vers["rows"] if r["model"] == m]
    periods = sorted({r["period"] for r in rows})
    for sw in sorted({r["sw"] for r in rows}):
        share = {r["period"]: r["share"] for r in rows if r["sw"] == sw}
        vals = []
        for p in periods:
            v = share.get(p, 0)
            vals.append("" if v is None else (str(int(v)) if v == int(v) else repr(v)))
        want[(m, sw)] = ",".join(vals)
same("version shares", got, want)
# The model filter: K400's cohorts and pooled curve.
domk = open(f"{d}/dom-k400.html").read()
lk = load("lifetime-k400.json")
same("K400 pooled", curves(domk), {g["model"]: (g["survival"], g["median"]) for g in lk["groups"]})
gotc = {a["data-cohort"]: [float(x) for x in a["data-survival"].split(",")]
        for a in attrs(domk, "path", "cohort")}
wantc = {c["cohort"]: c["survival"] for g in lk["groups"] for c in g["cohorts"]
         if len(c["survival"]) > 1}
same("K400 cohorts", gotc, wantc)
for b in bad:
    print("dashboard:", b, file=sys.stderr)
print(f"dashboard: {len(want)} version series, {len(gotc)} cohort curves compared")
sys.exit(1 if bad else 0)
PY
echo "dashboard: ok (screenshot: $bin/artifacts/dashboard.png)"
