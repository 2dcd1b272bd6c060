#!/usr/bin/env bash
# End to end: 1,000 simulated devices, 32 concurrent senders, against a fresh
# collector at the default budget (rho = 0.5), with the release's noise seed
# and today fixed so the run is the same every time. Every 202 the fleet
# counts must be one stored row (activations plus re-activations), and the
# fleet's oracle must pass: the published 95 % intervals of the sales cells
# and version shares hold the truth about 95 % of the time, and nothing is
# shown whose truth is 0 or whose month is still open. 1,000 devices are far
# too few for the accuracy targets (the noise is absolute: sigma 2.5 devices
# per cell), so they are printed, not judged (bench/privacy.sh judges them at
# 100,000 devices); so are the survival and median calibrations, which the
# collector's pooled survival fails today (see bench/README.md).
set -euo pipefail

bin=${STS_BIN:?STS_BIN must point at the build directory}
tmp=$(mktemp -d)
collector_pid=""
cleanup() {
  [ -n "$collector_pid" ] && kill -9 "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "fleet_1000: FAIL: $*" >&2; exit 1; }

# The command line first: help, version, usage errors.
"$bin/sts-fleet" --help | grep -q 'Usage: sts-fleet' || fail "--help"
"$bin/sts-fleet" --version | grep -q '^sts-fleet [0-9]' || fail "--version"
for bad in "" "--devices 10" "--collector http://127.0.0.1:1" \
           "--collector http://127.0.0.1:1 --devices 0 --no-verify" \
           "--collector http://127.0.0.1:1 --devices 10" \
           "--collector ftp://x --devices 10 --no-verify" "--bogus"; do
  rc=0; "$bin/sts-fleet" $bad >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "'sts-fleet $bad' exited $rc, expected 2"
done
# Nothing listens: reports cannot be delivered, a runtime failure (bounded).
rc=0; timeout 120 "$bin/sts-fleet" --collector http://127.0.0.1:9 --devices 1 --no-verify \
  --max-attempts 3 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "sending to nothing exited $rc, expected 1"

export STS_NOW_DAY=2026-03-18 STS_TEST_RELEASE_SEED=fleet_1000
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
timeout 300 "$bin/sts-fleet" --collector "$url" --devices 1000 --seed 7 --months 12 \
  --concurrency 32 --token-file "$tmp/token" --no-accuracy --calibrate sales,shares \
  >"$tmp/fleet.out" 2>"$tmp/fleet.err" || rc=$?
cat "$tmp/fleet.out"
[ -s "$tmp/fleet.err" ] && cat "$tmp/fleet.err" >&2
[ "$rc" -eq 0 ] || fail "sts-fleet exited with $rc"
grep -q '^verification: PASSED' "$tmp/fleet.out" || fail "the verification did not pass"
# Something was calibrated, and no figure of truth 0 or of an open month shown.
n=$(sed -n 's/^  sales cells  *[0-9]* of  *\([0-9]*\) inside.*/\1/p' "$tmp/fleet.out")
[ -n "$n" ] && [ "$n" -ge 5 ] || fail "only '${n}' sales cells calibrated"
grep -q '^  sanity: 0 shown figures whose truth is 0, 0 of a period not closed' "$tmp/fleet.out" \
  || fail "the sanity line"

accepted=$(sed -n 's/^answers: \([0-9]*\) accepted (202).*/\1/p' "$tmp/fleet.out")
[ -n "$accepted" ] || fail "no count of 202s in the fleet's output"

kill -TERM "$collector_pid"
wait "$collector_pid" || true
collector_pid=""
rows=$(sqlite3 "$tmp/sts.db" "SELECT (SELECT count(*) FROM activation) + (SELECT count(*) FROM reactivation)")
activations=$(sqlite3 "$tmp/sts.db" "SELECT count(*) FROM activation")
[ "$rows" -eq "$accepted" ] || fail "$rows rows stored but $accepted reports answered 202"
[ "$activations" -eq 1000 ] || fail "$activations activation rows, expected 1000"
echo "fleet_1000: ok ($accepted accepted, $rows rows)"
