/* The differentially private release: the only way a figure leaves the
 * collector. It fixes which tables are published, at which grain, with which
 * share of the budget rho, and gives every cell of a closed period its noise,
 * derived from the database's secret seed and the cell's identity alone, so
 * the same cell always carries the same noise whatever the query that asks
 * for it. The statistics (stats.c, stats_life.c) only add released cells up
 * and format them. The mathematics are in docs/privacy.md.
 *
 * Ownership: a struct release holds a copy of the seed and wipes it in
 * release_cleanup; the cells a read returns belong to the caller
 * (release_cells_free). Thread-safety: a struct release is read-only after
 * release_init and may be shared; reads use the store they are given. */
#ifndef STS_RELEASE_H
#define STS_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "store.h"
#include "sts/err.h"

/* The default budget: rho-zCDP per device per calendar month. */
#define RELEASE_DEFAULT_RHO 0.5

/* The published tables. In a month, one device's reports touch at most one
 * cell of each table: an activation (once in a device's life) the six sales
 * tables; a re-activation, counted at most once a month, one; a lifetime
 * ping, at most one a month, one lifetime cell and one versions cell. A
 * device pings at age 0 in its activation month and at ages 1 and more only
 * in later months, so the tables split into those of the activation month
 * and those of later months, and the shares of each set add up to at most 1:
 * what one device spends in any month is bounded by rho (docs/privacy.md). */
enum release_table {
    REL_SALES_MONTH,     /* activations per month */
    REL_SALES_MONTH_BM,  /* ... per month, brand and model */
    REL_SALES_MONTH_BMC, /* ... per month, brand, model and country */
    REL_SALES_MONTH_C,   /* ... per month and country */
    REL_SALES_MONTH_BMS, /* ... per month, brand, model and software version */
    REL_SALES_DAY_BM,    /* ... per day, brand and model */
    REL_REACT_MONTH_BM,  /* re-activations per month, brand and model */
    REL_LIFE0,           /* first pings at age 0 per month, brand and model */
    REL_LIFE,            /* pings at ages 1.. per month, brand, model, cohort and first flag */
    REL_VERSIONS,        /* pings per month, model and software version */
    REL_NTABLES
};

/* Which months of a device's life a table's cells can come from. */
#define REL_ACTIVATION_MONTH 1u
#define REL_LATER_MONTHS     2u

enum release_grain { REL_DAY, REL_MONTH };

/* Key dimensions, in the order the key values come in a cell (a subset of
 * brand, model, sw, country; REL_LIFE adds the cohort and the first flag). */
#define REL_BRAND   1u
#define REL_MODEL   2u
#define REL_SW      4u
#define REL_COUNTRY 8u

struct release_def {
    const char *name;
    enum release_grain grain;
    unsigned dims;
    double share;    /* of rho */
    bool sparse;     /* only cells that hold reports exist: shown above a threshold */
    unsigned months; /* REL_ACTIVATION_MONTH, REL_LATER_MONTHS */
    const char *what;
};

extern const struct release_def release_defs[REL_NTABLES];

/* One table's noise and display rule under a given rho. */
struct release_noise {
    double rho;      /* this table's share of the budget */
    uint64_t s2_num; /* sigma^2 = s2_num / s2_den, exactly, as the sampler takes it */
    uint64_t s2_den;
    double variance;   /* of the discrete Gaussian with that sigma^2 */
    int64_t half95;    /* P(|noise| <= half95) >= 0.95, from the exact distribution */
    int64_t threshold; /* a sparse table's cell is shown when its noisy value reaches this */
};

struct release {
    uint8_t seed[STORE_SEED_LEN];
    double rho;
    long k;          /* display floor (a table's threshold is never below it) */
    int32_t today;   /* day */
    long grace_days; /* late reports accepted after a period's end */
    struct release_noise noise[REL_NTABLES];
    EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed with the seed, copied per cell */
    double deadline;  /* CLOCK_MONOTONIC seconds after which reads give up */
    char **models;    /* sorted allow-list of model names, NULL = any */
    size_t nmodels;
    char *models_list; /* the sorted allow-list joined with commas, NULL = any */
    bool cache;        /* reads may use and fill the process's cache of released tables (false
                          after release_init): only where the counters of a closed period
                          never change, i.e. not while history is backfilled */
};

/* The model name every model outside the allow-list is counted under. */
#define RELEASE_OTHER "other"

/* Sets the allow-list from a comma list (NULL or "" = any model). Fresh
 * model strings then cost nothing: they all fall into RELEASE_OTHER, and so
 * do their software versions. What a RELEASE_OTHER cell counts depends on
 * the list, so its noise is drawn for the list too: under another list it is
 * another cell, never the same noise over other counts (which would give the
 * models moved in or out of it exactly). Errors: STS_ENOMEM. */
enum sts_err release_set_models(struct release *r, const char *list);

/* Seconds one query may spend reading released cells. */
#define RELEASE_TIME_LIMIT 10.0

/* True once r's deadline has passed. */
bool release_expired(const struct release *r);

/* The probability, per sparse table, with which a cell that one device alone
 * makes exist is shown anyway: the thresholds are set from it. */
#define RELEASE_DELTA_SELECT 1e-6

/* Loads the release parameters from store (its seed and fixed rho; rho is
 * RELEASE_DEFAULT_RHO when the database has none yet) and derives every
 * table's noise. k is the display floor, today the current day, grace_days
 * how long a period stays open after its end.
 * Errors: STS_EIO, STS_ECORRUPT (no seed), STS_EINVAL (rho out of range). */
enum sts_err release_init(struct release *r, struct store *store, long k, int32_t today,
                          long grace_days);

/* The shares of rho spent by the tables whose cells can come from the given
 * kind of month (REL_ACTIVATION_MONTH or REL_LATER_MONTHS): at most 1. */
double release_month_share(unsigned months);

/* Wipes the seed. */
void release_cleanup(struct release *r);

/* Derives one table's noise parameters under rho (what release_init does for
 * each table; exposed for audit and tests). Errors: STS_EINVAL (rho <= 0 or
 * above 100, or a sigma^2 the sampler cannot take). */
enum sts_err release_noise_params(enum release_table t, double rho, long k,
                                  struct release_noise *out);

/* The last closed day and month: a period is released only once its late
 * reports can no longer arrive (its end plus grace_days has passed). */
int32_t release_last_day(const struct release *r);
int32_t release_last_month(const struct release *r);

/* The noise of one cell: a draw from the discrete Gaussian of table t, taken
 * from a stream keyed by the seed and the cell's identity (table, period and
 * key values; for a RELEASE_OTHER cell also r's allow-list), so it is the
 * same at every call. key holds nkey strings (for REL_LIFE: brand, model,
 * cohort as "YYYY-MM" and "0"/"1").
 * Errors: STS_ENOMEM, STS_ECRYPTO. */
enum sts_err release_cell_noise(const struct release *r, enum release_table t, int32_t period,
                                const char *const *key, size_t nkey, int64_t *noise);

/* A released cell: key values as in the table's dimension order. */
struct release_cell {
    enum release_table table; /* REL_LIFE0 or REL_LIFE in a lifetime read */
    int32_t period;           /* day or month */
    char *key[4];             /* brand, model, sw, country in table order (only dims present) */
    int32_t cohort;           /* REL_LIFE */
    bool first;               /* REL_LIFE */
    int64_t value;            /* true count + noise */
};

struct release_cells {
    struct release_cell *cell;
    size_t n, cap;
};

/* Filters on brand, model, sw, country: NULL = any; "" for country = none. */
struct release_filter {
    const char *value[4];
};

/* Reads the released cells of table t for periods from..to (days or months,
 * inclusive, cut at the last closed period) that pass filter, into *out
 * (appended). A sparse table returns only the cells shown (value at or above
 * its threshold); REL_LIFE returns every cell of its domain (REL_LIFE0 at age 0), the models with
 * a released sales cell times each cohort since the model's first, zeros
 * included, so sums over it are unbiased. Memory is bounded by max_cells:
 * past it, or past r's deadline, the read stops with STS_ETOOBIG.
 * With r->cache, a table is read whole once and kept in the process (at
 * most 32 tables and 2,000,000 cells, the oldest dropped first; a table of
 * more than 250,000 shown cells is not kept, and reads of it read what they
 * ask, until the next period closes) and later reads of
 * the same release and closed periods are served from it: the same cells
 * with the same values, since a closed period's counters never change.
 * A filter may only name the table's own dimensions.
 * Errors: STS_EINVAL (a filter on a dimension t does not have), STS_EIO,
 * STS_ENOMEM, STS_ECRYPTO, STS_ETOOBIG. */
enum sts_err release_read(const struct release *r, struct store *store, enum release_table t,
                          int32_t from, int32_t to, const struct release_filter *filter,
                          size_t max_cells, struct release_cells *out);

void release_cells_free(struct release_cells *c);

#endif
