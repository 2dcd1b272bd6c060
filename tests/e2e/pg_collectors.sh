#!/usr/bin/env bash
# Three collectors on one PostgreSQL. sts-fleet (1,000 devices, 24 keep-alive
# senders) goes through a round-robin relay in front of all three, as behind a
# load balancer: every 202 must be one stored row, every device one, and the
# fleet's oracle (reading the release through the relay, so from any of the
# three) must pass. Then the same reports are sent to two collectors at once:
# each is counted once, one answer 202 and the other 200.
set -euo pipefail
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_skip_unless_available
sts_setup
pg_setup
export STS_NOW_DAY=2026-03-18 STS_TEST_RELEASE_SEED=pg_collectors

pg_init pg
pg_start pg
pg_createdb pg sts
uri=$(pg_uri pg sts)
sts_keygen
"$COLLECTOR" keygen --token --out "$STS_TMP/token" 2>/dev/null
echo "backfill = 1" >"$STS_TMP/collector.conf" # months of history at once, as fleet_1000
pids=() ports=()
for i in 1 2 3; do
    sts_start "$STS_TMP/c$i.err" --config "$STS_TMP/collector.conf" --db "$uri" \
        --key "$STS_TMP/key" --token-file "$STS_TMP/token"
    pids+=("$SRV_PID")
    ports+=("$SRV_PORT")
done
echo "three collectors on ports ${ports[*]}, one PostgreSQL on port $PG_PORT"

python3 "$STS_SRC/tests/e2e/lib/rr_proxy.py" "$STS_TMP/proxy.port" "${ports[@]}" &
proxy_pid=$!
STS_PIDS+=("$proxy_pid")
for ((i = 0; i < 100; i++)); do
    [ -s "$STS_TMP/proxy.port" ] && break
    sleep 0.05
done
[ -s "$STS_TMP/proxy.port" ] || sts_die "the relay did not start"
relay="http://127.0.0.1:$(cat "$STS_TMP/proxy.port")"

start=$(date +%s%N)
rc=0
timeout 300 "$STS_BIN/sts-fleet" --collector "$relay" --devices 1000 --seed 7 --months 12 \
    --concurrency 24 --token-file "$STS_TMP/token" --no-accuracy --calibrate sales,shares \
    >"$STS_TMP/fleet.out" 2>"$STS_TMP/fleet.err" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
grep -E '^(answers|sent|run|verification)' "$STS_TMP/fleet.out" || true
[ "$rc" -eq 0 ] || { cat "$STS_TMP/fleet.out" "$STS_TMP/fleet.err" >&2; sts_die "sts-fleet exited $rc"; }
grep -q '^verification: PASSED' "$STS_TMP/fleet.out" || sts_die "the fleet's verification did not pass"
accepted=$(sed -n 's/^answers: \([0-9]*\) accepted (202).*/\1/p' "$STS_TMP/fleet.out")
[ -n "$accepted" ] || sts_die "no count of 202s in the fleet's output"

audit() { "$COLLECTOR" audit --db "$uri" --format json; }
a=$(audit)
devices=$(jq .devices <<<"$a")
reacts=$(jq .reactivations <<<"$a")
echo "fleet through 3 collectors: $accepted accepted in $ms ms; stored $devices devices + $reacts re-activations"
[ "$devices" -eq 1000 ] || sts_die "$devices devices stored, the fleet has 1000"
[ $((devices + reacts)) -eq "$accepted" ] ||
    sts_die "$((devices + reacts)) rows stored but $accepted reports answered 202"
for i in 1 2 3; do
    n=$(grep -c 'database write failed' "$STS_TMP/c$i.err" || true)
    echo "collector $i: $n write failures logged (one line per episode)"
done

# The same report at two collectors at once.
twice=$(PG_LOAD_DAY=2026-03-10 python3 "$STS_SRC/tests/e2e/lib/pg_load.py" twice \
    "${ports[0]}" "${ports[1]}" 300 5000000)
echo "the same report to two collectors at once: $twice"
[ "$(jq .exactly_one_202 <<<"$twice")" -eq 300 ] || sts_die "a report was not answered 202 exactly once"
after=$(audit | jq .devices)
[ "$after" -eq $((devices + 300)) ] || sts_die "$after devices after 300 new ones on top of $devices"
echo "devices: $devices + 300 = $after"

kill -9 "$proxy_pid"
wait "$proxy_pid" 2>/dev/null || true
sts_forget "$proxy_pid"
for p in "${pids[@]}"; do sts_stop "$p"; done
pg_stop pg
echo "pg_collectors: ok"
