/* SQL text shared by the store backends (store_sqlite.c, store_pg.c). */
#ifndef STS_STORE_SQL_H
#define STS_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Builds into sql (cap bytes) "SELECT time, brand, model, sw, country, sums
 * FROM table WHERE time_col BETWEEN <1> AND <2> [AND dim = <3..6>] GROUP BY
 * ...", keeping only the dimensions in dims or filtered on (cols[d] names
 * them in table; the others come back as ''); all sums over the whole range,
 * its time column min(day). Parameters are written mark followed by their
 * number: '?' for SQLite, '$' for PostgreSQL; 1 and 2 are the range, 3..6
 * the filters on brand, model, sw, country. */
void store_sum_sql(char *sql, size_t cap, char mark, const char *time_cols, bool all,
                   const char *table, const char *time_col, const char *const cols[4],
                   unsigned dims, const char *const filter[4], const char *sums);

/* The dimensions a query needs: those it keeps and those it filters on
 * (STORE_DIM_*), which decide the rollup a backend may read. */
unsigned store_needed_dims(const struct store_query *q);

/* The groups whose sizes store_classes counts, one query each giving a
 * column n, and where each count goes; the same SQL on every backend (both
 * define sts_month(day)). */
#define STORE_CLASS_QUERIES 5
struct store_class_query {
    const char *sql;
    size_t offset; /* of the struct store_class_count in struct store_classes */
};
extern const struct store_class_query store_class_queries[STORE_CLASS_QUERIES];

/* Makes a new release seed from the system's generator. Tests fix it with
 * STS_TEST_RELEASE_SEED (any text, hashed) so that their noisy figures repeat
 * from run to run; nothing else may. Errors: STS_ECRYPTO. */
enum sts_err store_seed_make(uint8_t seed[STORE_SEED_LEN]);

#endif
