#!/usr/bin/env bash
# The accuracy of the differentially private release at the default budget
# (rho = 0.5), side by side with the naive baseline of issue 8 (one Gaussian
# draw per cell, sigma^2 = 5), on one simulated fleet: DEVICES devices
# (default 100,000) over 24 months with the lifetime law, sent to a fresh
# collector. Prints sts-fleet's verdict (accuracy judged at this size), the
# table of bench/privacy.py, and the time of every dashboard query and of the
# lifetime query, as ratios to fetching the dashboard page itself.
# usage: bash bench/privacy.sh [DEVICES] [extra sts-fleet options]
# Needs a release build (bash scripts/build.sh release) and python3. Run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
bin=${STS_BIN:-build/release}
devices=${1:-100000}; shift || true
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
# A fixed today and noise seed: the same figures at every run of one build.
export STS_NOW_DAY=${STS_NOW_DAY:-2026-03-18} STS_TEST_RELEASE_SEED=${STS_TEST_RELEASE_SEED:-bench}
"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --token --out "$tmp/token" 2>/dev/null
# The fleet sends months of history at once: the collector keeps each
# report on its own day (backfill) instead of moving late ones to the
# first open period, as it does for live traffic (docs/at-rest.md).
echo "backfill = 1" >"$tmp/collector.conf"
"$bin/sts-collector" serve --config "$tmp/collector.conf" --listen 127.0.0.1:0 \
  --db "sqlite:$tmp/sts.db" --key "$tmp/key" --token-file "$tmp/token" 2>"$tmp/log" &
pid=$!
url=""
for _ in $(seq 200); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/log" || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { cat "$tmp/log" >&2; exit 1; }
start=$(date +%s)
rc=0
"$bin/sts-fleet" --collector "$url" --devices "$devices" --months 24 --seed 2026 \
  --concurrency 32 --token-file "$tmp/token" "$@" >"$tmp/fleet.out" || rc=$?
sed -n '/^summary/,$p' "$tmp/fleet.out"
# STS_BENCH_KEEP=DIR keeps the oracle's full output (every figure checked).
[ -n "${STS_BENCH_KEEP:-}" ] && cp "$tmp/fleet.out" "$STS_BENCH_KEEP/fleet.out"
echo "privacy bench: $devices devices, $(( $(date +%s) - start )) s, sts-fleet exit $rc"

token=$(head -n1 "$tmp/token")
mkdir -p "$tmp/ans"
get() { curl -sS --max-time 60 -H "Authorization: Bearer $token" -o "$2" "$url$1"; }
get "/v1/stats/sales?by=model&period=month" "$tmp/ans/sales_model.json"
get "/v1/stats/sales?by=model,country&period=month" "$tmp/ans/sales_model_country.json"
get "/v1/stats/lifetime?by=model" "$tmp/ans/lifetime.json"
get "/v1/stats/versions" "$tmp/ans/versions.json"
echo
python3 "$src/bench/privacy.py" "$tmp/sts.db" "$tmp/ans" "$tmp/fleet.out" || rc=1

# Query times: the best of 5, each a fresh request, against the dashboard page.
best() {
  local b=""
  for _ in 1 2 3 4 5; do
    t=$(curl -sS --max-time 60 -H "Authorization: Bearer $token" -o /dev/null \
      -w '%{time_total}' "$url$1")
    b=$(python3 -c "print(min(float('$t'), float('${b:-1e9}')))")
  done
  echo "$b"
}
ref=$(best "/dashboard")
echo
printf '%-62s %9s %8s\n' "query ($devices devices)" "ms" "x page"
for q in "/v1/stats/sales?by=model&period=month" "/v1/stats/sales?by=country" \
         "/v1/stats/lifetime?by=model" "/v1/stats/versions" \
         "/v1/stats/sales?by=model&period=month&model=K400" \
         "/v1/stats/sales?by=country&model=K400" "/v1/stats/lifetime?by=model&model=K400" \
         "/v1/stats/versions?model=K400" "/v1/stats/sales?by=model&period=day"; do
  t=$(best "$q")
  printf '%-62s %9.1f %8.1f\n' "$q" "$(python3 -c "print($t*1000)")" \
    "$(python3 -c "print($t/max($ref,1e-6))")"
done
printf '%-62s %9.1f\n' "/dashboard (reference)" "$(python3 -c "print($ref*1000)")"
exit $rc
