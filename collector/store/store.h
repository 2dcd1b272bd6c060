/* The collector's storage interface: one implementation per database
 * (store_sqlite.c; PostgreSQL later). A store is used by one writer thread
 * (store_write) and, through a separate handle, by readers (statistics, admin).
 * Records passed in are borrowed; the store keeps no pointer to them. */
#ifndef STS_STORE_H
#define STS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"
#include "sts/pseudonym.h"
#include "sts/report.h"

enum store_outcome {
    STORE_PENDING = 0,
    STORE_NEW,          /* first activation of a device, or a new lifetime ping */
    STORE_REACTIVATION, /* known device, new report_id: factory reset or resale */
    STORE_DUPLICATE,    /* report_id already stored: nothing new written */
    STORE_FAILED        /* the transaction failed: nothing written */
};

/* What is stored of one report: never the raw IMEI, never an address. */
struct store_record {
    enum sts_report_type type;
    uint8_t report_id[16];
    char brand[STS_TEXT_MAX + 1];
    char model[STS_TEXT_MAX + 1];
    char sw[STS_TEXT_MAX + 1];
    char country[3]; /* "" = owner did not consent */
    /* activation */
    uint8_t pseudonym[STS_PSEUDONYM_LEN];
    uint32_t key_id;
    int32_t day;
    /* lifetime */
    int32_t cohort;
    int32_t period;
    bool first;
    enum store_outcome outcome; /* set by store_write */
};

/* One row of the sales rollup: activations of one day and one combination of
 * brand, model, sw and country (country "" = not consented). */
struct store_sales_row {
    int32_t day;
    const char *brand, *model, *sw, *country;
    int64_t activations;
    int64_t reactivations;
};

/* Receives rows; returns 0 to go on, non-zero to stop early. Strings are
 * valid only during the call. */
typedef int (*store_sales_cb)(const struct store_sales_row *row, void *ctx);

/* One lifetime counter: pings of one period from one activation cohort and
 * one combination of brand, model, sw, country and first-ping flag. */
struct store_life_row {
    int32_t period, cohort; /* months, see sts/date.h */
    const char *brand, *model, *sw, *country;
    bool first;
    int64_t count;
};

typedef int (*store_life_cb)(const struct store_life_row *row, void *ctx);

/* What is held about one device, for export. */
struct store_device {
    uint32_t key_id;
    uint8_t report_id[16];
    int32_t day;
    char brand[STS_TEXT_MAX + 1], model[STS_TEXT_MAX + 1], sw[STS_TEXT_MAX + 1];
    char country[3];
    int64_t reactivations;
};

struct store;

#define STORE_CREATE   1u /* create the database and its schema if missing */
#define STORE_READONLY 2u /* read only: no schema change, no upgrade, no write */

/* Opens the database named by uri ("sqlite:PATH" or a plain path); with
 * STORE_CREATE in flags, creates it and its schema if needed; with
 * STORE_READONLY, opens it for reading only and refuses a database that is
 * not STS's (STS_ECORRUPT) or needs an upgrade (STS_EUNSUPPORTED). On failure, why
 * (if not NULL) gets a message for the operator. Errors: STS_EINVAL (bad
 * uri), STS_ENOENT (no database and no STORE_CREATE), STS_EACCES, STS_EIO,
 * STS_ECORRUPT, STS_EUNSUPPORTED, STS_ENOMEM, STS_ECRYPTO (no randomness for
 * the keyed hash of its tallies). */
enum sts_err store_open(const char *uri, unsigned flags, struct store **out, char *why,
                        size_t whylen);

/* Closes the store; store_close(NULL) does nothing. */
void store_close(struct store *store);

/* Writes n records in one durable transaction and sets each outcome. If the
 * transaction fails nothing is written and every outcome is STORE_FAILED.
 * n = 0 makes an empty transaction, which tells whether storage commits.
 * Errors: STS_EIO. Not thread-safe: one writer per store. */
enum sts_err store_write(struct store *store, struct store_record *const *recs, size_t n);

/* Calls cb for every sales rollup row with from <= day <= to.
 * Errors: STS_EIO. */
enum sts_err store_sales(struct store *store, int32_t from, int32_t to, store_sales_cb cb,
                         void *ctx);

/* A summing query over the rollups: only the dimensions in dims (and those
 * filtered on) are kept, the others come back as ""; the store picks the
 * smallest rollup that holds them and sums in the database. */
#define STORE_DIM_BRAND   1u
#define STORE_DIM_MODEL   2u
#define STORE_DIM_SW      4u
#define STORE_DIM_COUNTRY 8u

enum store_grain {
    STORE_DAY,   /* one row per day */
    STORE_MONTH, /* rows will be summed per month */
    STORE_ALL    /* rows will be summed over the whole range: one row per combination */
};

struct store_query {
    int32_t from, to;       /* days for sales, months for lifetime; inclusive */
    unsigned dims;          /* STORE_DIM_* to keep */
    const char *filter[4];  /* brand, model, sw, country to match exactly, NULL = any */
    enum store_grain grain; /* sales only */
};

/* Calls cb with the sums of the sales rollup over q, by day (grain is a hint
 * a backend may use; rows may always come by day). Errors: STS_EIO. */
enum sts_err store_sales_sum(struct store *store, const struct store_query *q, store_sales_cb cb,
                             void *ctx);

/* Calls cb with the sums of the lifetime counters with from <= period <= to
 * over q's dimensions (cohort, period and first are always kept, except when
 * only model and sw are asked for: then cohort = period and first = false,
 * the shape the versions statistic needs). Errors: STS_EIO. */
enum sts_err store_lifetime_sum(struct store *store, const struct store_query *q, store_life_cb cb,
                                void *ctx);

/* Looks up a device by pseudonym. Errors: STS_ENOENT, STS_EIO. */
enum sts_err store_device_get(struct store *store, const uint8_t pseudonym[STS_PSEUDONYM_LEN],
                              struct store_device *out);

/* Deletes every row that names the device (activation and re-activations);
 * anonymous counters stay. *erased gets the number of rows deleted.
 * Errors: STS_EIO. */
enum sts_err store_device_erase(struct store *store, const uint8_t pseudonym[STS_PSEUDONYM_LEN],
                                int64_t *erased);

/* The parameters of the differentially private release (docs/privacy.md),
 * fixed for the life of the database: the secret seed every cell's noise is
 * derived from, and the budget rho per device and month (0 = not fixed yet). */
#define STORE_SEED_LEN 32
struct store_release {
    uint8_t seed[STORE_SEED_LEN];
    double rho;
};

/* Reads the release parameters into *out (the caller wipes the seed).
 * Errors: STS_EIO, STS_ECORRUPT (no seed). */
enum sts_err store_release_get(struct store *store, struct store_release *out);

/* Fixes rho if it is not fixed yet; a fixed rho is kept (compare with
 * store_release_get). Errors: STS_EIO. */
enum sts_err store_release_set_rho(struct store *store, double rho);

/* Counts for the audit command. */
struct store_audit {
    int64_t devices, reactivations, sales_cells, lifetime_cells, pings_seen;
    int64_t key_ids;
};
/* Fills *out. Errors: STS_EIO. */
enum sts_err store_audit(struct store *store, struct store_audit *out);

#endif
