#!/usr/bin/env bash
# End to end: 8,000 simulated devices over 24 months with the fleet's
# lifetime law (Weibull per model, consent, late consent, missed and late
# pings). The collector's sales must equal the truth, its survival curves
# must be within 0.03 of the truth at every month that at least 1,000 devices
# of the model reached, its median lifetimes within 5 %, its cohort sizes and
# version counts exact where shown and hidden under k. Today is fixed so the
# run is the same every time.
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
fail() { echo "fleet_lifetime: FAIL: $*" >&2; exit 1; }

export STS_NOW_DAY=2026-03-18
"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --token --out "$tmp/token" 2>/dev/null
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

rc=0
timeout 500 "$bin/sts-fleet" --collector "$url" --devices 8000 --seed 11 --months 24 \
  --concurrency 16 --token-file "$tmp/token" >"$tmp/fleet.out" 2>"$tmp/fleet.err" || rc=$?
cat "$tmp/fleet.out"
[ -s "$tmp/fleet.err" ] && cat "$tmp/fleet.err" >&2
[ "$rc" -eq 0 ] || fail "sts-fleet exited with $rc"
grep -q '^verification: the collector.s figures match the truth' "$tmp/fleet.out" \
  || fail "the verification did not pass"
# The check must have had something to check.
checked=$(grep -c 'Weibull.*  ok$' "$tmp/fleet.out" || true)
[ "$checked" -ge 3 ] || fail "only $checked models had their median checked"

# The CLI reads the same figures from the database.
"$bin/sts-collector" stats lifetime --db "sqlite:$tmp/sts.db" --format json >"$tmp/cli.json"
curl -sS --max-time 30 -H "Authorization: Bearer $(head -n1 "$tmp/token")" \
  "$url/v1/stats/lifetime" >"$tmp/api.json"
cmp -s "$tmp/cli.json" <(cat "$tmp/api.json"; echo) || fail "CLI and API lifetime answers differ"
"$bin/sts-collector" stats lifetime --db "sqlite:$tmp/sts.db" --model K400 >"$tmp/cli.txt"
grep -q '^K400   all' "$tmp/cli.txt" || { cat "$tmp/cli.txt"; fail "no pooled K400 row in the table"; }
"$bin/sts-collector" stats versions --db "sqlite:$tmp/sts.db" --format csv >"$tmp/v.csv"
head -1 "$tmp/v.csv" | grep -q '^period,model,sw,pings,share' || fail "versions CSV header"
echo "fleet_lifetime: ok"
