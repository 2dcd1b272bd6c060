/* Statistics the maker reads, computed from the rollup counters, with the
 * privacy floor applied to every figure before it leaves this module. The
 * same query rules and results serve the CLI (table, CSV, JSON) and the HTTP
 * API (JSON). */
#ifndef STS_STATS_H
#define STS_STATS_H

#include <stdio.h>

#include "store.h"
#include "sts/report.h"

#define STATS_DEFAULT_K 10

#define STATS_DEFAULT_GRACE_DAYS 7

/* Query parameters as text, as they come from flags or a query string; NULL
 * means "not given".
 *   sales:     by, period, from/to (days), cumulative, filters
 *   lifetime:  by (brand, model, country), from/to (cohorts), filters
 *   versions:  from/to (periods), filters */
struct stats_args {
    const char *by;                           /* comma list of brand, model, sw, country */
    const char *period;                       /* day | week | month; NULL = whole range */
    const char *from;                         /* YYYY-MM-DD or YYYY-MM, inclusive */
    const char *to;                           /* YYYY-MM-DD or YYYY-MM, inclusive */
    const char *k;                            /* privacy floor; may only raise k_min */
    const char *cumulative;                   /* "1"/"true": add running totals (sales) */
    const char *brand, *model, *sw, *country; /* keep only rows with this value */
    long k_min;                               /* the configured floor (0 = STATS_DEFAULT_K) */
    long grace_days;                          /* days after a month's end its late pings may still
                                                 arrive: 0 = STATS_DEFAULT_GRACE_DAYS, -1 = none */
    int32_t today;                            /* 0 = sts_day_today() */
    const char *models;                       /* the maker's models (comma list), NULL or
                                                 "" = any; others count as "other" */
    bool cache;                               /* keep released tables in the process for later
                                                 queries (a server whose closed periods are
                                                 final: not while backfilling history) */
};

/* Runs statistic `which` ("sales", "lifetime" or "versions") and renders it
 * as JSON into *json (caller frees). Errors: STS_ENOENT (unknown statistic),
 * STS_EINVAL (bad parameter, *err says which), STS_EIO, STS_ENOMEM. */
enum sts_err stats_api(struct store *store, const char *which, const struct stats_args *args,
                       char **json, struct sts_field_error *err);

/* Same, rendered as "table", "csv" or "json" to out.
 * Errors: those of stats_api, and STS_EIO when out cannot be written. */
enum sts_err stats_print(struct store *store, const char *which, const struct stats_args *args,
                         const char *format, FILE *out, struct sts_field_error *err);

#endif
