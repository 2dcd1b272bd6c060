#!/usr/bin/env bash
# bench/store_size.sh: what the database holds per device and per lifetime ping, on
# SQLite and on PostgreSQL, for docs/scale.md. The same sts-fleet (N devices, 12 months
# of history, their monthly lifetime pings) goes to a collector on a fresh SQLite file and
# to one on a fresh database of a throwaway PostgreSQL cluster; then, per table, rows and
# bytes (SQLite: dbstat pages; PostgreSQL: pg_total_relation_size, indexes included), and
# the same after `purge` once every report id's window has passed (the steady state: what
# stays per device). Usage: bench/store_size.sh [--devices N] [--bin DIR]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
devices=10000
bin=${STS_BIN:-$HERE/../build/release}
while [ $# -gt 0 ]; do
    case $1 in
    --devices) devices=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "usage: bench/store_size.sh [--devices N] [--bin DIR]" >&2; exit 2 ;;
    esac
done
STS_BIN=$(cd "$bin" && pwd)
STS_SRC=$HERE/..
export STS_BIN STS_SRC
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_available || { echo "bench/store_size.sh: needs the PostgreSQL server (scripts/deps.sh)" >&2; exit 1; }
sts_setup
pg_setup
export STS_NOW_DAY=2026-03-18 STS_TEST_RELEASE_SEED=store_size
pg_init pg
pg_start pg
pg_createdb pg sts
dbs=("sqlite:$STS_TMP/sts.db" "$(pg_uri pg sts)")
"$COLLECTOR" keygen --out "$STS_TMP/key" 2>/dev/null
echo "backfill = 1" >"$STS_TMP/collector.conf"
tables="activation reactivation report_id sales_day sales_day_mc lifetime_count life_model version_count"

sizes() { # backend index: "table rows bytes" lines
    local t
    if [ "$1" -eq 0 ]; then
        for t in $tables; do
            sqlite3 "$STS_TMP/sts.db" "SELECT '$t', (SELECT count(*) FROM $t),
                (SELECT sum(pgsize) FROM dbstat WHERE name = '$t' OR name IN
                 (SELECT name FROM sqlite_master WHERE tbl_name = '$t' AND type = 'index'))"
        done | tr '|' ' '
    else
        for t in $tables; do
            pg_sql pg sts "SELECT '$t', (SELECT count(*) FROM $t), pg_total_relation_size('$t')"
        done | tr '|' ' '
    fi
}

for b in 0 1; do
    sts_start "$STS_TMP/c$b.err" --config "$STS_TMP/collector.conf" --db "${dbs[$b]}" --key "$STS_TMP/key"
    timeout 600 "$STS_BIN/sts-fleet" --collector "http://127.0.0.1:$SRV_PORT" --devices "$devices" \
        --seed 5 --months 12 --concurrency 16 --no-verify >"$STS_TMP/fleet$b.out" 2>&1 ||
        { cat "$STS_TMP/fleet$b.out" >&2; sts_die "sts-fleet failed"; }
    sts_stop "$SRV_PID"
    [ "$b" -eq 1 ] && pg_sql pg sts "VACUUM ANALYZE" >/dev/null
    sizes "$b" >"$STS_TMP/live$b"
    STS_NOW_DAY=2027-06-30 "$COLLECTOR" purge --db "${dbs[$b]}" >/dev/null
    if [ "$b" -eq 0 ]; then sqlite3 "$STS_TMP/sts.db" "VACUUM"; else pg_sql pg sts "VACUUM FULL" >/dev/null; fi
    sizes "$b" >"$STS_TMP/steady$b"
done
pings=$(sed -n 's/^sent \([0-9]*\) lifetime pings.*/\1/p' "$STS_TMP/fleet0.out")
echo "fleet: $devices devices over 12 months, $pings lifetime pings ($(grep '^answers' "$STS_TMP/fleet0.out" | head -1))"
printf '%-15s %10s %12s %10s %12s   %10s %12s %10s %12s\n' table sqlite-rows sqlite-bytes pg-rows pg-bytes \
    "rows" "bytes" "rows" "bytes"
printf '%-15s %47s   %s\n' "" "(report ids kept: live)" "(after purge: steady state)"
paste -d' ' "$STS_TMP/live0" "$STS_TMP/live1" "$STS_TMP/steady0" "$STS_TMP/steady1" |
    awk -v d="$devices" -v p="$pings" '{
        printf "%-15s %10d %12d %10d %12d   %10d %12d %10d %12d\n", $1, $2, $3, $5, $6, $8, $9, $11, $12
        ls += $3; lp += $6; ss += $9; sp += $12 }
      END {
        printf "%-15s %10s %12d %10s %12d   %10s %12d %10s %12d\n", "total", "", ls, "", lp, "", ss, "", sp
        printf "bytes per device, live (ids kept, pings included): SQLite %.0f, PostgreSQL %.0f\n", ls / d, lp / d
        printf "bytes per device, steady state (after purge):      SQLite %.0f, PostgreSQL %.0f\n", ss / d, sp / d
      }'
for b in 0 1; do
    awk -v b=$b '$1 == "activation" { a = $3 } $1 == "report_id" { r = $3; n = $2 }
        END { printf "%s: activation row %.0f bytes, report id %.0f bytes each (index included)\n",
              b ? "PostgreSQL" : "SQLite", a / '"$devices"', r / n }' "$STS_TMP/live$b"
done
pg_stop pg
