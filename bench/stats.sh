#!/usr/bin/env bash
# Statistics at scale: fills a temporary SQLite store with the counters of
# ACTIVATIONS (default 10,000,000) and their lifetime pings, written directly
# in SQL, then prints the time of every statistics query (each one the
# dashboard makes, and a few heavier ones) as a ratio to SELECT count(*) over
# the finest sales counter table, timed in the same run.
# usage: bash bench/stats.sh [ACTIVATIONS] [REPEAT] [nocache]   (~100 MB of disk)
# Needs a release build (bash scripts/build.sh release). Run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STS_BIN:-build/release}
tmp=$(mktemp -d -p "${TMPDIR:-/tmp}")
trap 'rm -rf "$tmp"' EXIT
"$bin/bench/bench_store_stats" "$tmp" "${1:-10000000}" "${2:-5}" ${3:+"$3"}
