#!/usr/bin/env bash
# The store conformance suite (tests/unit/test_collector_conformance.c), the
# data-protection operations (test_collector_store_dpo.c) and the data
# inventory's check of the live schema (test_collector_inventory.c) on
# PostgreSQL: a throwaway cluster, one database each.
set -euo pipefail
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_skip_unless_available
sts_setup
pg_setup

pg_init pg
pg_start pg
pg_createdb pg sts_conf
uri=$(pg_uri pg sts_conf)
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on port $PG_PORT"
start=$(date +%s%N)
STS_STORE_URI=$uri "$STS_BIN/tests/test_collector_conformance"
echo "conformance suite on PostgreSQL: passed in $((($(date +%s%N) - start) / 1000000)) ms"
for t in store_dpo inventory; do
    pg_createdb pg "sts_$t"
    start=$(date +%s%N)
    STS_STORE_URI=$(pg_uri pg "sts_$t") "$STS_BIN/tests/test_collector_$t"
    echo "test_collector_$t on PostgreSQL: passed in $((($(date +%s%N) - start) / 1000000)) ms"
done
pg_stop pg
