/* What the statistics modules share (stats.c: parameters, sales, output;
 * stats_life.c: lifetime and versions), and the pure pieces the unit tests
 * call directly: the suppression rule and the lifetime estimator. Only the
 * collector's own files and its tests include this. */
#ifndef STS_STATS_IMPL_H
#define STS_STATS_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
    long k;
    bool cumulative;
    const char *filter[NDIM]; /* exact value a row must have, NULL = any */
    int32_t today;            /* day */
    long grace_days;
};

/* Parses args into q; which says the statistic, for the rules that differ.
 * Errors: STS_EINVAL with *err naming the parameter. */
enum sts_err stats_parse_query(const char *which, const struct stats_args *args,
                               struct stats_query *q, struct sts_field_error *err);

/* True if a row with these values passes q's filters. */
bool stats_row_matches(const struct stats_query *q, const char *const vals[NDIM]);

/* The store query that serves q: its dimensions and filters. */
void stats_store_query(const struct stats_query *q, struct store_query *sq);

/* Sets err and returns STS_EINVAL. Errors: STS_EINVAL (always). */
enum sts_err stats_bad(struct sts_field_error *err, const char *field, const char *detail);

/* The privacy floor over one group of m counts whose total is published:
 * every count in 1..k-1 is hidden, then further counts (smallest first) until
 * what is hidden adds up to at least k devices over at least two counts and
 * to more devices than counts, so that total minus the shown counts reveals
 * no single hidden count (each could hold more than one value). Sets
 * hidden[i]; returns true when that cannot be reached and the total itself
 * must be hidden too (or the total is under k). Counts of 0 are shown: they
 * reveal that nobody is there, which is not a person. */
bool stats_suppress(const int64_t *n, size_t m, long k, bool *hidden);

/* The product-limit (life-table) estimator over anonymous monthly pings.
 * Per age a (months since the activation month) a cohort contributes
 * P(a) pings, of which F(a) were the first since the owner's consent. A
 * device seen at age a and still in use at age a+1 sends a ping at a+1 that
 * is not a first one, so the share of the panel still in use one month later
 * is h(a) = C(a+1) / P(a) with C(a+1) = P(a+1) - F(a+1), counted over the
 * cohorts whose month a+1 is complete; S(0) = 1 and S(a+1) = S(a) h(a).
 * Devices that consent late join the panel at the age of their first ping
 * (left truncation) and add nothing to the ages before it. */
struct stats_life_acc {
    int64_t risk[STATS_LIFE_MAX_AGE]; /* sum of P(a) */
    int64_t cont[STATS_LIFE_MAX_AGE]; /* sum of C(a+1) */
};

/* Adds one cohort: P[0..nobs-1] and F[0..nobs-1], ages 0..nobs-1 complete. */
void stats_life_add(struct stats_life_acc *acc, const int64_t *P, const int64_t *F, int nobs);

/* Writes S[0..n-1] and returns n: the curve stops before the first age
 * whose panel counts (P(a) or C(a+1)) are under k, or that nothing
 * observed. h is capped at 1 so the curve never rises. S has room for
 * STATS_LIFE_MAX_AGE + 1 values. */
int stats_life_survival(const struct stats_life_acc *acc, long k, double *S);

/* The age where S crosses 0.5, interpolated linearly between the two months
 * around it; a negative value when S[0..n-1] stays above 0.5. */
double stats_life_median(const double *S, int n);

/* Lifetime and versions: run and render (stats_life.c); *out is the caller's.
 * Errors: STS_EIO (store), STS_ENOMEM. */
enum sts_err stats_lifetime_json(struct store *store, const struct stats_query *q, json_t **out);
enum sts_err stats_versions_json(struct store *store, const struct stats_query *q, json_t **out);
void stats_lifetime_print(const json_t *doc, const char *format, FILE *out);
void stats_versions_print(const json_t *doc, const char *format, FILE *out);

/* Shared output helpers (stats.c). */
void stats_csv_field(FILE *out, const char *s);
/* Prints rows of text cells as an aligned table: ncol columns, cells[r *
 * ncol + c]; right-aligns the columns flagged in numeric. A rule is drawn
 * under the header and before the last `footer` rows. */
void stats_print_aligned(FILE *out, const char *const *cells, size_t nrows, size_t ncol,
                         const bool *numeric, size_t footer);

/* The sales table, folded and suppressed, for lifetime's cohort sizes. */
struct stats_cell {
    char *vals[1 + NDIM]; /* period label, then one value per dimension of the query */
    int64_t n[2];         /* activations, reactivations */
    bool hidden[2];
    int64_t cum; /* running activations of this series up to this period */
    bool cum_hidden;
};

struct stats_table {
    struct stats_query q;
    struct stats_cell *cells;
    size_t ncells, cap;
    size_t *slots;
    size_t nslots;
    int64_t total[2];
    bool total_hidden[2];
    size_t nhidden[2];
    enum sts_err err;
};

/* Runs the sales query q into t (stats_table_cleanup frees it).
 * Errors: STS_EIO (store), STS_ENOMEM. */
enum sts_err stats_sales_table(struct store *store, const struct stats_query *q,
                               struct stats_table *t);
void stats_table_free(struct stats_table *t);

#endif
