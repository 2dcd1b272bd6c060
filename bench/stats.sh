#!/usr/bin/env bash
# Statistics at scale: fills a temporary SQLite store with ACTIVATIONS
# (default 10,000,000) and their lifetime counters, then prints the time of
# every statistics query (each one the dashboard makes, and a few heavier
# ones) next to a plain GROUP BY over the raw activation table.
# usage: bash bench/stats.sh [ACTIVATIONS] [REPEAT]   (needs ~3 GB of disk)
# Needs a release build (bash scripts/build.sh release). Run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STS_BIN:-build/release}
tmp=$(mktemp -d -p "${TMPDIR:-/tmp}")
trap 'rm -rf "$tmp"' EXIT
"$bin/bench/bench_store_stats" "$tmp" "${1:-10000000}" "${2:-5}"
