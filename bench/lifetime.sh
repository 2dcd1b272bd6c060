#!/usr/bin/env bash
# The full-size lifetime comparison: 100,000 simulated devices over 24 months
# with the fleet's lifetime law, sent to a fresh collector as fast as it takes
# them; prints the fleet's comparison of the collector's sales, survival
# curves, median lifetimes and software versions with the ground truth.
# usage: bash bench/lifetime.sh [DEVICES] [extra sts-fleet options]
# Needs a release build (bash scripts/build.sh release).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STS_BIN:-build/release}
devices=${1:-100000}; shift || true
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --token --out "$tmp/token" 2>/dev/null
# The fleet sends months of history at once: the collector keeps each
# report on its own day (backfill) instead of moving late ones to the
# first open period, as it does for live traffic (docs/at-rest.md).
echo "backfill = 1" >"$tmp/collector.conf"
"$bin/sts-collector" serve --config "$tmp/collector.conf" --listen 127.0.0.1:0 --db "sqlite:$tmp/sts.db" --key "$tmp/key" \
  --token-file "$tmp/token" 2>"$tmp/log" &
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
  --concurrency 32 --token-file "$tmp/token" "$@" || rc=$?
echo "lifetime bench: $devices devices, $(( $(date +%s) - start )) s, sts-fleet exit $rc"
exit $rc
