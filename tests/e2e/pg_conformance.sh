#!/usr/bin/env bash
# The store conformance suite (tests/unit/test_collector_conformance.c) on
# PostgreSQL: a throwaway cluster, one database, every store operation.
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
pg_stop pg
