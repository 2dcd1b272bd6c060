#!/usr/bin/env bash
# Several writers in one collector on PostgreSQL (--writers 4), and the
# statistics API's long-lived read-only handles. Under load from 16
# connections every report is stored once; the same report sent over two
# connections at once is answered 202 exactly once and counted once; a run of
# statistics requests reuses one connection (the same backend in
# pg_stat_activity before and after); PostgreSQL killed (immediate shutdown)
# under load gives 503 with Retry-After, then every writer reconnects by
# itself, nothing acknowledged is lost and the statistics answer again.
set -euo pipefail
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_skip_unless_available
sts_setup
pg_setup

W=4
pg_init pg
pg_start pg
pg_createdb pg sts
uri=$(pg_uri pg sts)
sts_keygen
"$COLLECTOR" keygen --token --out "$STS_TMP/token" 2>/dev/null
token=$(head -1 "$STS_TMP/token")
sts_start "$STS_TMP/c.err" --db "$uri" --key "$STS_TMP/key" --token-file "$STS_TMP/token" \
    --writers $W
port=$SRV_PORT
grep -q "writers $W," "$STS_TMP/c.err" || sts_die "the start line does not say writers $W"
conns() { pg_sql pg sts "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sts-collector'"; }
echo "collector with $W writers on port $port: $(conns) connections to PostgreSQL"
[ "$(conns)" -eq $W ] || sts_die "expected $W writer connections before any statistics request"

# 1. Distinct reports from 16 connections at once, then the same reports
# again (all duplicates), then 300 reports each sent twice at once.
n=3000
python3 "$STS_SRC/tests/e2e/lib/pg_load.py" load "$port" $n 1 16 0 120 "$STS_TMP/acked" \
    >"$STS_TMP/load.json"
echo "load: $(cat "$STS_TMP/load.json")"
[ "$(jq .acked "$STS_TMP/load.json")" -eq $n ] || sts_die "not every report was acknowledged"
[ "$(wc -l <"$STS_TMP/acked")" -eq $n ] || sts_die "not every report was answered 202 once"
python3 "$STS_SRC/tests/e2e/lib/pg_load.py" load "$port" $n 1 16 0 120 "$STS_TMP/acked2" \
    >"$STS_TMP/again.json"
echo "the same reports again: $(cat "$STS_TMP/again.json")"
[ "$(jq '."200" // 0' "$STS_TMP/again.json")" -eq $n ] || sts_die "a report sent again was not a duplicate"
twice=$(python3 "$STS_SRC/tests/e2e/lib/pg_load.py" twice "$port" "$port" 300 500000)
echo "300 reports each over two connections at once: $twice"
[ "$(jq .exactly_one_202 <<<"$twice")" -eq 300 ] || sts_die "a report was not answered 202 exactly once"
devices=$("$COLLECTOR" audit --db "$uri" --format json | jq .devices)
sold=$(pg_sql pg sts "SELECT sum(activations) FROM sales_day")
echo "stored: $devices devices, $sold activations counted"
[ "$devices" -eq $((n + 300)) ] && [ "$sold" -eq $((n + 300)) ] ||
    sts_die "$devices devices / $sold counted for $((n + 300)) reports"
# Every writer took batches: commits overlapped on several connections.
busy=$(pg_sql pg sts "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sts-collector'
    AND xact_start IS NULL AND state = 'idle' AND query LIKE 'COMMIT%'")
echo "writer connections whose last statement was a COMMIT: $busy of $W"
[ "$busy" -ge 2 ] || sts_die "fewer than two writers committed"

# 2. Statistics requests in a row: one connection, reused.
stats() {
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port/v1/stats/sales?period=month"
}
backends() {
    pg_sql pg sts "SELECT pid || '@' || backend_start FROM pg_stat_activity
        WHERE application_name = 'sts-collector' ORDER BY 1"
}
[ "$(stats)" = 200 ] || sts_die "the statistics did not answer 200"
before=$(backends)
for ((i = 0; i < 30; i++)); do
    code=$(stats)
    [ "$code" = 200 ] || sts_die "statistics request $i answered $code"
done
after=$(backends)
echo "connections after 31 statistics requests: $(conns) ($W writers + the statistics')"
[ "$(conns)" -eq $((W + 1)) ] || sts_die "expected $W writers and one statistics connection"
[ "$before" = "$after" ] || sts_die "the statistics requests did not reuse their connection"

# 3. PostgreSQL killed under load: 503 with Retry-After, then recovery.
n2=3000
python3 "$STS_SRC/tests/e2e/lib/pg_load.py" load "$port" $n2 100000 16 2 120 "$STS_TMP/acked3" \
    >"$STS_TMP/kill.json" &
load_pid=$!
STS_PIDS+=("$load_pid")
pg_wait_sql pg sts "SELECT count(*) >= $((n + 300 + 300)) FROM activation" t 30 ||
    sts_die "no load reached the database"
pg_as_owner "$PG_BIN/pg_ctl" -D "$STS_TMP/pg/data" -m immediate -w -t 30 stop >/dev/null
pg_forget pg
down=$(date +%s%N)
body=$(sts_activation "$(sts_rid 9999999)" "$(sts_imei 999999)")
code=$(curl -s -o /dev/null -D "$STS_TMP/h" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data "$body" "http://127.0.0.1:$port/v1/reports")
retry=$(tr -d '\r' <"$STS_TMP/h" | sed -n 's/^[Rr]etry-[Aa]fter: *//p')
scode=$(stats)
echo "PostgreSQL killed: a report gets $code, Retry-After: ${retry:-none}; statistics: $scode"
[ "$code" = 503 ] && [ -n "$retry" ] || sts_die "expected 503 with Retry-After while the database is down"
[ "$scode" = 503 ] || sts_die "expected the statistics to answer 503 while the database is down"
sleep 2
pg_start pg
echo "PostgreSQL started again after $((($(date +%s%N) - down) / 1000000)) ms"
wait "$load_pid" || sts_die "the load failed"
sts_forget "$load_pid"
echo "load: $(cat "$STS_TMP/kill.json")"
[ "$(jq .acked "$STS_TMP/kill.json")" -eq $n2 ] || sts_die "not every report was acknowledged"
[ "$(jq '."503" // 0' "$STS_TMP/kill.json")" -gt 0 ] || sts_die "no 503 seen while the database was down"
# More load, so that a writer idle through the outage takes a batch too.
python3 "$STS_SRC/tests/e2e/lib/pg_load.py" load "$port" 2000 200000 16 0 60 "$STS_TMP/acked4" \
    >"$STS_TMP/after.json"
[ "$(jq .acked "$STS_TMP/after.json")" -eq 2000 ] || sts_die "the load after recovery was not acknowledged"
for ((i = 0; i < 5; i++)); do
    code=$(stats)
    [ "$code" = 200 ] || sts_die "statistics request $i after the restart answered $code"
done
reconnects=$(grep -c 'reconnected to PostgreSQL' "$STS_TMP/c.err" || true)
echo "after the restart: statistics 200, $reconnects reconnections logged, $(conns) connections"
[ "$reconnects" -ge $((W + 1)) ] || sts_die "$reconnects reconnections: not every writer and the statistics reconnected"
[ "$(conns)" -eq $((W + 1)) ] || sts_die "expected $W writers and one statistics connection after the restart"
total=$((n + 300 + n2 + 2000))
devices=$("$COLLECTOR" audit --db "$uri" --format json | jq .devices)
sold=$(pg_sql pg sts "SELECT sum(activations) FROM sales_day")
echo "stored: $devices devices, $sold activations counted, for $total reports"
[ "$devices" -eq $total ] && [ "$sold" -eq $total ] || sts_die "$devices devices / $sold counted for $total"
sts_stop "$SRV_PID"
grep -q 'committed' "$STS_TMP/c.err" || sts_die "no exit totals"
pg_stop pg
echo "pg_writers: ok"
