#!/usr/bin/env bash
# Failover without loss: a primary with a synchronous standby (streaming
# replication, pg_basebackup -R), two collectors on a multi-host URI with
# target_session_attrs=read-write, load from 8 senders that retry as agents
# do. The primary is killed with SIGKILL (its postmaster and every process
# of it) once 500 reports are stored, the standby promoted a second later; the
# collectors find the new primary by themselves. Every acknowledged report is
# there afterwards, each counted once; the seconds without service are
# printed.
set -euo pipefail
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_skip_unless_available
sts_setup
pg_setup

pg_init primary
pg_start primary
pport=$PG_PORT
pg_createdb primary sts
sdir=$STS_TMP/standby
mkdir -p "$sdir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$sdir"
pg_as_owner "$PG_BIN/pg_basebackup" -D "$sdir/data" -R -X stream -c fast -h "$STS_TMP/primary" \
    -p "$pport" -U sts >"$sdir/basebackup.log" 2>&1 ||
    { cat "$sdir/basebackup.log" >&2; sts_die "pg_basebackup failed"; }
pg_start standby
sport=$PG_PORT
# Synchronous once the standby is there ('*': the first standby connected);
# a commit then returns once the standby has its WAL on disk.
pg_sql primary postgres "ALTER SYSTEM SET synchronous_standby_names = '*'" >/dev/null
pg_sql primary postgres "SELECT pg_reload_conf()" >/dev/null
pg_wait_sql primary postgres "SELECT sync_state FROM pg_stat_replication" sync 30 ||
    sts_die "the standby did not become synchronous"
echo "primary on port $pport, synchronous standby on port $sport (ready after $SECONDS s)"

uri="postgresql://sts@/sts?host=$STS_TMP/primary,$sdir&port=$pport,$sport&target_session_attrs=read-write"
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
pg_wait_sql primary sts "SELECT count(*) >= 500 FROM activation" t 30 ||
    sts_die "no load reached the database"
pg_kill9 primary
killed=$(date +%s%N)
echo "primary killed with SIGKILL under load"
sleep 1
pg_as_owner "$PG_BIN/pg_ctl" -D "$sdir/data" -w -t 30 promote >/dev/null || sts_die "promote failed"
echo "standby promoted $((($(date +%s%N) - killed) / 1000000)) ms after the kill"
wait "$load_pid" || sts_die "the load failed"
sts_forget "$load_pid"
load=$(cat "$STS_TMP/load.json")
echo "load (done after $SECONDS s): $load"
[ "$(jq .acked <<<"$load")" -eq $n ] || sts_die "not every report was acknowledged within 90 s"
[ "$(jq '."503-without-retry-after" // 0' <<<"$load")" -eq 0 ] || sts_die "a 503 without Retry-After"

# Every report answered 202 is on the new primary, and nothing twice.
devices=$("$COLLECTOR" audit --db "$uri" --format json | jq .devices)
sold=$(pg_sql standby sts "SELECT sum(activations) FROM sales_day")
acked202=$(wc -l <"$STS_TMP/acked")
list=$(printf '%032x,' $(cat "$STS_TMP/acked"))
cat >"$STS_TMP/ids.sql" <<SQL
SELECT count(*), count(*) FILTER (WHERE NOT EXISTS
    (SELECT 1 FROM report_id r WHERE r.report_id = decode(h, 'hex')))
FROM unnest('{${list%,}}'::text[]) AS a(h);
SQL
read -r checked missing < <(psql -X -q -At -F ' ' -h "$sdir" -p "$sport" -U sts -d sts \
    -f "$STS_TMP/ids.sql")
[ "$checked" -eq "$acked202" ] || sts_die "checked $checked report ids of $acked202"
echo "after failover: $devices devices, $sold activations counted; $acked202 answered 202" \
    "(the rest 200 on a retry), $missing of them missing"
[ "$missing" -eq 0 ] || sts_die "$missing acknowledged reports lost in the failover"
[ "$devices" -eq $n ] && [ "$sold" -eq $n ] || sts_die "$devices devices / $sold counted for $n reports"
for i in 1 2; do
    grep -q 'reconnected to PostgreSQL' "$STS_TMP/c$i.err" || sts_die "collector $i did not reconnect"
done
echo "seconds without service (longest gap between acknowledgments): $(jq .longest_gap_s <<<"$load")"
for p in "${pids[@]}"; do sts_stop "$p"; done
pg_stop standby
echo "pg_failover: ok ($SECONDS s)"
