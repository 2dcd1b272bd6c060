#!/usr/bin/env bash
# PostgreSQL stopped and started again under load: two collectors answer 503
# with Retry-After meanwhile, reconnect by themselves once it is back, and
# every report they acknowledged is stored once. Prints the seconds without
# service seen by the senders.
set -euo pipefail
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_skip_unless_available
sts_setup
pg_setup

pg_init pg
pg_start pg
pg_createdb pg sts
uri=$(pg_uri pg sts)
sts_keygen
ports=() pids=()
for i in 1 2; do
    sts_start "$STS_TMP/c$i.err" --db "$uri" --key "$STS_TMP/key"
    ports+=("$SRV_PORT")
    pids+=("$SRV_PID")
done

n=3000
python3 "$STS_SRC/tests/e2e/lib/pg_load.py" load "${ports[0]},${ports[1]}" $n 1 8 4 90 \
    "$STS_TMP/acked" >"$STS_TMP/load.json" &
load_pid=$!
STS_PIDS+=("$load_pid")
pg_wait_sql pg sts "SELECT count(*) >= 500 FROM activation" t 30 || sts_die "no load reached the database"
pg_stop pg
down=$(date +%s%N)
echo "PostgreSQL stopped under load (at least 500 reports stored)"
# Meanwhile: 503 with Retry-After, for a report and for the statistics.
body=$(sts_activation "$(sts_rid 9999999)" "$(sts_imei 999999)")
code=$(curl -s -o /dev/null -D "$STS_TMP/h" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data "$body" "http://127.0.0.1:${ports[0]}/v1/reports")
retry=$(tr -d '\r' <"$STS_TMP/h" | sed -n 's/^[Rr]etry-[Aa]fter: *//p')
echo "while PostgreSQL is down: a report gets $code, Retry-After: ${retry:-none}"
[ "$code" = 503 ] && [ -n "$retry" ] || sts_die "expected 503 with Retry-After while the database is down"
sleep 2
pg_start pg
up=$(date +%s%N)
echo "PostgreSQL started again after $(((up - down) / 1000000)) ms"
wait "$load_pid" || sts_die "the load failed"
sts_forget "$load_pid"
load=$(cat "$STS_TMP/load.json")
echo "load: $load"
[ "$(jq .acked <<<"$load")" -eq $n ] || sts_die "not every report was acknowledged within 90 s"
[ "$(jq '."503" // 0' <<<"$load")" -gt 0 ] || sts_die "no 503 seen while the database was down"
[ "$(jq '."503-without-retry-after" // 0' <<<"$load")" -eq 0 ] || sts_die "a 503 without Retry-After"
devices=$("$COLLECTOR" audit --db "$uri" --format json | jq .devices)
sold=$(pg_sql pg sts "SELECT sum(activations) FROM sales_day")
acked202=$(wc -l <"$STS_TMP/acked")
echo "stored: $devices devices, $sold activations counted; $acked202 answered 202, the rest 200 on a retry"
[ "$devices" -eq $n ] && [ "$sold" -eq $n ] || sts_die "$devices devices / $sold counted for $n reports"
for i in 1 2; do
    grep -q 'reconnected to PostgreSQL' "$STS_TMP/c$i.err" || sts_die "collector $i did not say it reconnected"
done
echo "seconds without service (longest gap between acknowledgments): $(jq .longest_gap_s <<<"$load")"
for p in "${pids[@]}"; do sts_stop "$p"; done
pg_stop pg
echo "pg_restart: ok"
