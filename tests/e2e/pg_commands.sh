#!/usr/bin/env bash
# Every collector command on both backends, with the same answers: the same
# fleet (sts-fleet, same seed) and the same reports go to a collector on
# SQLite and to one on PostgreSQL, with the release's noise seed and today
# fixed; then stats (sales, lifetime, versions), audit, export, erase and
# purge are run on each database and their outputs compared.
set -euo pipefail
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_skip_unless_available
sts_setup
pg_setup
export STS_NOW_DAY=2026-03-18 STS_TEST_RELEASE_SEED=pg_commands

pg_init pg
pg_start pg
pg_createdb pg sts
dbs=("sqlite:$STS_TMP/sts.db" "$(pg_uri pg sts)")
names=(sqlite postgresql)
"$COLLECTOR" keygen --out "$STS_TMP/key" 2>/dev/null
echo "backfill = 1" >"$STS_TMP/collector.conf"
for b in 0 1; do
    sts_start "$STS_TMP/${names[$b]}.err" --config "$STS_TMP/collector.conf" --db "${dbs[$b]}" \
        --key "$STS_TMP/key"
    timeout 120 "$STS_BIN/sts-fleet" --collector "http://127.0.0.1:$SRV_PORT" --devices 500 \
        --seed 3 --months 6 --concurrency 8 --no-verify >"$STS_TMP/${names[$b]}.fleet" 2>&1 ||
        { cat "$STS_TMP/${names[$b]}.fleet" >&2; sts_die "sts-fleet on ${names[$b]}"; }
    PG_LOAD_DAY=2026-02-10 python3 "$STS_SRC/tests/e2e/lib/pg_load.py" load "$SRV_PORT" 20 1 2 0 30 \
        "$STS_TMP/${names[$b]}.acked" >/dev/null
    sts_stop "$SRV_PID"
    echo "${names[$b]}: $(grep '^answers' "$STS_TMP/${names[$b]}.fleet")"
done

imei=$(sts_luhn 35209901000005)
run()
{
    local b=$1 out=$STS_TMP/${names[$1]}.out db=${dbs[$1]}
    : >"$out"
    {
        "$COLLECTOR" stats sales --db "$db" --by model,country --format csv
        "$COLLECTOR" stats sales --db "$db" --period day --format csv
        "$COLLECTOR" stats lifetime --db "$db" --format csv
        "$COLLECTOR" stats versions --db "$db" --format csv
        "$COLLECTOR" audit --db "$db" --format json
        "$COLLECTOR" export --imei "$imei" --db "$db" --key "$STS_TMP/key"
        "$COLLECTOR" erase --imei "$imei" --db "$db" --key "$STS_TMP/key"
        "$COLLECTOR" export --imei "$imei" --db "$db" --key "$STS_TMP/key"
        "$COLLECTOR" audit --db "$db" --format json
        STS_NOW_DAY=2026-06-30 "$COLLECTOR" purge --db "$db"
        STS_NOW_DAY=2026-06-30 "$COLLECTOR" audit --db "$db" --format json
    } >>"$out" 2>&1
}
run 0
run 1
echo "outputs: sqlite $(wc -l <"$STS_TMP/sqlite.out") lines, postgresql $(wc -l <"$STS_TMP/postgresql.out") lines"
if ! diff -u "$STS_TMP/sqlite.out" "$STS_TMP/postgresql.out"; then
    sts_die "the commands answer differently on SQLite and PostgreSQL"
fi
grep -q '"devices": *5[0-9][0-9]' "$STS_TMP/sqlite.out" || sts_die "audit did not count the devices"
grep -q '"held": true' "$STS_TMP/sqlite.out" || sts_die "export did not find the device"
grep -q '^{"held":false}$' "$STS_TMP/sqlite.out" || sts_die "the device was still there after erase"
[ "$(grep -c '^[0-9]\{4\}-[0-9][0-9],' "$STS_TMP/sqlite.out")" -gt 10 ] || sts_die "too few released figures"
sed -n '1,6p' "$STS_TMP/postgresql.out"
grep -i '^purged\|^erased\|"held"' "$STS_TMP/postgresql.out"
pg_stop pg
echo "pg_commands: ok (identical on both backends)"
