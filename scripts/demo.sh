#!/usr/bin/env bash
# The newcomer's demo: sets up what is missing, builds, creates a pseudonym key
# and an API token, starts a collector on a fresh SQLite file on 127.0.0.1,
# drives a simulated fleet through it (activations and two years of lifetime
# pings), prints the sales, lifetime and version figures, saves a picture of
# the dashboard and stops the collector. Everything it makes stays in
# ./demo-run/.
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${STS_DEMO_DEVICES:-10000}

bash scripts/deps.sh
bash scripts/build.sh release >/dev/null
bin=build/release

run=demo-run
rm -rf "$run"
# The database and the pseudonym key live in separate folders: a backup or
# copy of the database's folder must not carry the key that re-identifies
# its rows (docs/THREATS.md).
data=$run/data
keys=$run/keys
mkdir -p "$data" "$keys"
chmod 700 "$keys"
"$bin/sts-collector" keygen --out "$keys/pseudonym.key"
"$bin/sts-collector" keygen --token --out "$run/api.token"

# The fleet sends months of history at once: the collector keeps each
# report on its own day (backfill) instead of moving late ones to the
# first open period, as it does for live traffic (docs/at-rest.md).
echo "backfill = 1" >"$run/collector.conf"
"$bin/sts-collector" serve --config "$run/collector.conf" --listen 127.0.0.1:0 --db "sqlite:$data/sts.db" \
  --key "$keys/pseudonym.key" --token-file "$run/api.token" 2>"$run/collector.log" &
collector=$!
trap 'kill "$collector" 2>/dev/null || true; wait "$collector" 2>/dev/null || true' EXIT

url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$run/collector.log" || true)
  [ -n "$url" ] && break
  kill -0 "$collector" 2>/dev/null || { cat "$run/collector.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "demo: the collector did not start" >&2; exit 1; }
echo "demo: collector on $url, database $data/sts.db"

# The fleet judges the collector's released figures against its ground truth:
# the calibration of the 95 % intervals and the privacy sanity checks. The
# accuracy targets are printed, not judged: they are met at 100,000 devices
# (bench/privacy.sh), not at the demo's size. Every figure checked, truth
# beside the shown value and its interval, is in demo-run/oracle.txt.
rc=0
"$bin/sts-fleet" --collector "$url" --devices "$devices" --seed 1 --months 24 \
  --concurrency 32 --token-file "$run/api.token" --no-accuracy --calibrate sales,shares \
  >"$run/oracle.txt" || rc=$?
sed -n '1,5p' "$run/oracle.txt"
echo
echo "== The fleet's truth beside the released figures: sales by month and model (first rows)"
sed -n '/^sales by month and model,/,/^$/p' "$run/oracle.txt" | sed -n '1,16p'
echo "   ..."
sed -n '/^summary/,$p' "$run/oracle.txt"
[ "$rc" -eq 0 ] || { echo "demo: the fleet's verification failed (see $run/oracle.txt)" >&2; exit 1; }

echo
echo "== Activations by model"
"$bin/sts-collector" stats sales --db "sqlite:$data/sts.db" --by model
echo
echo "== Activations by country ('-' = the owner did not consent to share it)"
"$bin/sts-collector" stats sales --db "sqlite:$data/sts.db" --by country

echo
echo "== Lifetime: share still in use after N months, median (months), per model"
"$bin/sts-collector" stats lifetime --db "sqlite:$data/sts.db" --by model | cut -c1-150 \
  | awk 'NR <= 3 || / all /'
echo
echo "== Software versions: how fast each spread"
"$bin/sts-collector" stats versions --db "sqlite:$data/sts.db" | sed -n '/How fast/,$p'

if command -v chromium >/dev/null; then
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --virtual-time-budget=10000 --hide-scrollbars \
    --window-size=1400,2200 --screenshot="$run/dashboard.png" \
    "$url/dashboard#token=$(head -n1 "$run/api.token")" >/dev/null 2>&1 \
    && echo && echo "demo: the dashboard as a picture: $run/dashboard.png"
fi
echo "demo: to browse it, run the collector again and open http://HOST:PORT/dashboard#token=TOKEN"

kill "$collector"
wait "$collector" || true
trap - EXIT
echo
tail -1 "$run/collector.log"
echo "demo: done; the database is in $data/, the pseudonym key in $keys/, the token and log in $run/"
