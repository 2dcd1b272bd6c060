/* What the statistics modules share (stats.c: parameters, sales, entry
 * points; stats_life.c: lifetime and versions; stats_out.c: table and CSV
 * rendering of the JSON documents), and the pure pieces the unit tests call
 * directly. Only the collector's own files and its tests include this. */
#ifndef STS_STATS_IMPL_H
#define STS_STATS_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "release.h"
#include "stats.h"

enum stats_dim { DIM_BRAND, DIM_MODEL, DIM_SW, DIM_COUNTRY, NDIM };
extern const char *const stats_dim_names[NDIM];

enum stats_period { PERIOD_ALL, PERIOD_DAY, PERIOD_WEEK, PERIOD_MONTH };

/* Longest age (months since the activation month) the lifetime estimate
 * follows: 20 years. */
#define STATS_LIFE_MAX_AGE 240

/* A parsed query. Days for sales; the lifetime and versions statistics turn
 * them into months. */
struct stats_query {
    enum stats_dim by[NDIM];
    size_t nby;
    enum stats_period period;
    int32_t from, to; /* days, inclusive */
    long k;           /* display threshold of this query (never below k_floor) */
    long k_floor;     /* the collector's configured floor */
    bool cumulative;
    const char *filter[NDIM]; /* exact value a row must have, NULL = any */
    int32_t today;            /* day */
    long grace_days;
};

/* Parses args into q; which says the statistic, for the rules that differ.
 * Errors: STS_EINVAL with *err naming the parameter. */
enum sts_err stats_parse_query(const char *which, const struct stats_args *args,
                               struct stats_query *q, struct sts_field_error *err);

/* Sets err and returns STS_EINVAL. Errors: STS_EINVAL (always). */
enum sts_err stats_bad(struct sts_field_error *err, const char *field, const char *detail);

/* Half-width of the 95 % interval of a sum of ncells released cells of
 * table t whose noise variances add up to var: the exact one of the
 * discrete Gaussian for one cell, the normal one for a sum. */
int64_t stats_half95(const struct release *r, enum release_table t, int ncells, double var);

/* [max(0, v - half), v + half] as a JSON array; NULL when out of memory. */
json_t *stats_ci_json(int64_t v, int64_t half);

/* The query's filters as a JSON object, NULL when there is none. */
json_t *stats_filter_json(const struct stats_query *q);

/* What an answer was released from: the budget, the closed periods and, per
 * table used, its noise and threshold. NULL when out of memory. */
json_t *stats_release_json(const struct release *r, const enum release_table *tables,
                           size_t ntables);

/* The three statistics as JSON documents; *out is the caller's.
 * Errors: STS_EINVAL (*err names the parameter), STS_ETOOBIG (the query spans
 * more cells than an answer may hold; *err says so), STS_EIO (store),
 * STS_ECRYPTO, STS_ENOMEM. */
enum sts_err stats_sales_json(const struct release *r, struct store *store,
                              const struct stats_query *q, json_t **out,
                              struct sts_field_error *err);
enum sts_err stats_lifetime_json(const struct release *r, struct store *store,
                                 const struct stats_query *q, json_t **out,
                                 struct sts_field_error *err);
enum sts_err stats_versions_json(const struct release *r, struct store *store,
                                 const struct stats_query *q, json_t **out,
                                 struct sts_field_error *err);

/* The product-limit (life-table) estimator over the released monthly ping
 * counts. For one group and one cohort, per age a (months since the
 * activation month), N(a) pings of devices already in the panel and F(a)
 * first pings (devices joining the panel at that age); P(a) = N(a) + F(a).
 * The share of the panel still in use a month later is h(a) = N(a+1) / P(a),
 * summed over the cohorts whose month a+1 is closed; S(0) = 1 and
 * S(a+1) = S(a) h(a), h capped to [0, 1]. The curve stops where P(a) is
 * under min_panel (the noise would dominate). */
struct stats_life_acc {
    double risk[STATS_LIFE_MAX_AGE]; /* sum of P(a) */
    double cont[STATS_LIFE_MAX_AGE]; /* sum of N(a+1) */
};

/* Adds one cohort: N[0..nobs-1] and F[0..nobs-1], ages 0..nobs-1 closed. */
void stats_life_add(struct stats_life_acc *acc, const double *N, const double *F, int nobs);

/* Writes S[0..n-1] and returns n. S has room for STATS_LIFE_MAX_AGE + 1. */
int stats_life_survival(const struct stats_life_acc *acc, double min_panel, double *S);

/* The age where S crosses 0.5, interpolated linearly between the two months
 * around it; a negative value when S[0..n-1] stays above 0.5. */
double stats_life_median(const double *S, int n);

/* One cohort of a lifetime group: the released N(a) and F(a) at ages
 * 0..nobs-1 (each possibly a sum of several released cells, one per brand)
 * and the variances of their noise (the sum of those cells' variances). */
struct stats_life_cohort {
    int32_t month;
    int nobs;
    double *N, *F, *vN, *vF;
};

/* A survival curve with its 95 % intervals: S[0..n-1], [lo, hi] per age;
 * the median (negative when S stays above 0.5) and its interval (median_hi
 * infinite when a re-drawn curve does not reach 0.5). */
struct stats_life_curve {
    int n;
    double S[STATS_LIFE_MAX_AGE + 2], lo[STATS_LIFE_MAX_AGE + 2], hi[STATS_LIFE_MAX_AGE + 2];
    double median, median_lo, median_hi;
};

/* The curve of cohorts c[0..nc-1] pooled (or of c[one] alone when one >= 0),
 * stopping where the panel is under min_panel plus five standard deviations
 * of its noise (from the entries' variances), and its intervals from a
 * parametric bootstrap: the estimator re-run on the released values with
 * each entry's noise drawn again from a generator seeded with seed (so the
 * same values always give the same intervals). Borrows c; fills *out.
 * Errors: STS_ENOMEM. */
enum sts_err stats_life_curve(const struct stats_life_cohort *c, size_t nc, long one,
                              double min_panel, uint64_t seed, struct stats_life_curve *out);

/* Renders a statistic's JSON document as "table" or "csv" (stats_out.c). */
void stats_render(const json_t *doc, const char *which, const char *format, FILE *out);

/* Shared output helpers (stats_out.c). */
void stats_csv_field(FILE *out, const char *s);
/* Prints rows of text cells as an aligned table: ncol columns, cells[r *
 * ncol + c]; right-aligns the columns flagged in numeric. A rule is drawn
 * under the header and before the last `footer` rows. */
void stats_print_aligned(FILE *out, const char *const *cells, size_t nrows, size_t ncol,
                         const bool *numeric, size_t footer);

#endif
