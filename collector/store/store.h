/* The collector's storage interface: one implementation per database
 * (store_sqlite.c, store_pg.c). The contract every backend keeps (each
 * operation's transaction and thread-safety) is docs/internals/store.md: a
 * handle is used by one thread at a time; serve writes through one handle per
 * writer and lends the statistics requests handles of a store pool
 * (store_pool.h). Records passed in are borrowed; the
 * store keeps no pointer to them. */
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
    /* activation: the device's pseudonyms under the older live keys of the
     * keyring. A device not found under the current pseudonym is looked up
     * under each; found, its rows move to the current pseudonym and key id
     * in the same transaction (a rotation never makes it a new sale). */
    size_t n_old;
    uint32_t old_key_id[STS_KEYRING_MAX - 1];
    uint8_t old_pseudonym[STS_KEYRING_MAX - 1][STS_PSEUDONYM_LEN];
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

/* What is held about one device, for export: nothing says what the device
 * is (brand, model, sw and country live only in the counters), nor when to
 * the day. */
#define STORE_MAX_REACT_MONTHS 32
struct store_device {
    uint32_t key_id;
    int32_t month;         /* of the (counted) first activation, see sts/date.h */
    int64_t reactivations; /* months with at least one re-activation */
    int32_t react_month[STORE_MAX_REACT_MONTHS]; /* the first of them, oldest first */
};

struct store;

/* How the store keeps report ids and where it counts late reports
 * (docs/at-rest.md). */
struct store_policy {
    int report_id_days;   /* activation report ids kept this many days after receipt */
    int grace_days;       /* a day or month stays open this many days after it ends */
    bool late_shift;      /* count a report for a closed period in the first open one */
    int retention_months; /* the writer folds device rows not seen for this many months
                             (see store_fold); 0 = kept until erased */
};

/* The collector's defaults: ids kept 30 days, 7 days of grace, late reports
 * shifted, device rows kept until erased (serve sets its retention). */
void store_policy_defaults(struct store_policy *p);

/* Where a report is counted: the late-report rule, the same for every
 * backend. A day d is closed once today > d + grace_days, a month once today
 * is past its last day + grace_days; a closed cell has been released and must
 * never change. So an activation of a closed day is counted on the first
 * open day (today - grace_days), and a lifetime ping of a closed period is
 * counted in the first open month with its cohort moved by as many months,
 * keeping its age (period - cohort), which is what the lifetime estimator
 * reads. Open periods (and future ones) are kept. *day, *period and *cohort
 * get where r is counted (the fields of the other report type are copied). */
void store_counted_at(const struct store_record *r, int32_t today, int grace_days, int32_t *day,
                      int32_t *period, int32_t *cohort);

#define STORE_CREATE   1u /* create the database and its schema if missing */
#define STORE_READONLY 2u /* read only: no schema change, no upgrade, no write */

/* Opens the database named by uri ("sqlite:PATH", a plain path, or a libpq
 * URI "postgresql://..." / "postgres://..."); with
 * STORE_CREATE in flags, creates it and its schema if needed; with
 * STORE_READONLY, opens it for reading only and refuses a database that is
 * not STS's (STS_ECORRUPT) or needs an upgrade (STS_EUNSUPPORTED). On failure, why
 * (if not NULL) gets a message for the operator. Errors: STS_EINVAL (bad
 * uri), STS_ENOENT (no database and no STORE_CREATE), STS_EACCES, STS_EIO,
 * STS_ECORRUPT, STS_EUNSUPPORTED, STS_ENOMEM, STS_ECRYPTO (no randomness for
 * the keyed hash of its tallies). */
enum sts_err store_open(const char *uri, unsigned flags, struct store **out, char *why,
                        size_t whylen);

/* Sets how the store keeps report ids and counts late reports; a store
 * opened without it keeps report ids as store_policy_defaults says but
 * counts every report on its own day and period (late_shift false), which is
 * for loading data, not for serving. Errors: STS_EINVAL (a value out of
 * range: report_id_days 1..3650, grace_days 0..27, retention_months 0..1200). */
enum sts_err store_set_policy(struct store *store, const struct store_policy *p);

/* Deletes up to max report ids whose window has passed (today from
 * sts_day_today()); *purged gets how many. The writer does this too, at most
 * once an hour, and folds device rows past the policy's retention then
 * (store_fold). Errors: STS_EIO. */
enum sts_err store_purge(struct store *store, int64_t max, int64_t *purged);

/* Closes the store; store_close(NULL) does nothing. */
void store_close(struct store *store);

/* Writes n records in one durable transaction and sets each outcome. If the
 * transaction fails nothing is written and every outcome is STORE_FAILED.
 * n = 0 makes an empty transaction, which tells whether storage commits.
 * Errors: STS_EIO. Not thread-safe: one writer per store. */
enum sts_err store_write(struct store *store, struct store_record *const *recs, size_t n);

/* From this call on, store_write returns once its transaction is committed
 * (visible, and kept if the process is killed) but before the disk has it,
 * and store_sync makes it durable: a writer then waits for the disk on one
 * thread while it writes the next transaction on another, and acknowledges
 * a transaction only once a store_sync that began after it returned STS_OK.
 * A backend whose commits are durable by themselves (PostgreSQL) answers
 * STS_EUNSUPPORTED, and store_write stays durable. Call it before the
 * first store_write. Errors: STS_EUNSUPPORTED, STS_EIO. */
enum sts_err store_defer_sync(struct store *store);

/* Makes durable every transaction store_write committed before this call.
 * The one operation that may run on another thread while the handle's
 * writer is inside store_write. After a failed sync the transactions
 * since the last good one may be lost in a crash, so each later store_sync
 * fails too until store_write has copied everything into the database file
 * and synced it. Errors: STS_EIO. */
enum sts_err store_sync(struct store *store);

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
    STORE_MONTH, /* rows will be summed per month: a backend may sum them, or send days */
    STORE_ALL    /* summed over the whole range: one row per combination, its day the first */
};

struct store_query {
    int32_t from, to;       /* days for sales, months for lifetime; inclusive */
    unsigned dims;          /* STORE_DIM_* to keep */
    const char *filter[4];  /* brand, model, sw, country to match exactly, NULL = any */
    enum store_grain grain; /* sales only */
};

/* Calls cb with the sums of the sales rollup over q at q->grain: by day
 * (STORE_DAY; STORE_MONTH may come by day or by the first day of each month)
 * or one row per combination (STORE_ALL, its day the first one that has
 * reports). Errors: STS_EIO. */
enum sts_err store_sales_sum(struct store *store, const struct store_query *q, store_sales_cb cb,
                             void *ctx);

/* Calls cb with the sums of the lifetime counters (period, cohort, brand,
 * model, first; schema 4, docs/at-rest.md) with from <= period <= to over
 * q's dimensions. Software version and country are not stored with a cohort,
 * so a query that keeps or filters on them fails with STS_EUNSUPPORTED (the
 * versions are store_versions_sum). Errors: STS_EIO, STS_EUNSUPPORTED. */
enum sts_err store_lifetime_sum(struct store *store, const struct store_query *q, store_life_cb cb,
                                void *ctx);

/* One versions counter: pings of one period from one brand, model and
 * software version, whatever their cohort. */
struct store_version_row {
    int32_t period; /* month, see sts/date.h */
    const char *brand, *model, *sw;
    int64_t count;
};

typedef int (*store_version_cb)(const struct store_version_row *row, void *ctx);

/* Calls cb with the sums of the versions counters (period, brand, model, sw)
 * with from <= period <= to over q's dimensions (country is not stored with
 * a ping: keeping or filtering on it fails with STS_EUNSUPPORTED).
 * Errors: STS_EIO, STS_EUNSUPPORTED. */
enum sts_err store_versions_sum(struct store *store, const struct store_query *q,
                                store_version_cb cb, void *ctx);

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
    int64_t version_cells;  /* (period, brand, model, sw) counters */
    int64_t report_ids;     /* report ids kept for de-duplication, of both kinds */
    int64_t report_ids_due; /* of which past their window, purged soon */
};
/* Fills *out. Errors: STS_EIO. */
enum sts_err store_audit(struct store *store, struct store_audit *out);

/* The smallest classes among the stored counters: how many cells or classes
 * of each counter hold fewer than k devices (or pings), and the smallest
 * non-zero one, so the residual risk of a copy of the database is a number.
 * Lifetime classes are (cohort, brand, model), the classes of the lifetime
 * counters, sized by their activations; sales cells are (day, brand, model,
 * sw, country). */
struct store_class_count {
    int64_t total;    /* cells or classes */
    int64_t under_k;  /* of which 1..k-1 */
    int64_t singles;  /* of which exactly 1 */
    int64_t smallest; /* smallest non-zero size, 0 if none */
};
struct store_classes {
    struct store_class_count sales_cells;      /* per day */
    struct store_class_count sales_months;     /* (month, brand, model, sw, country) */
    struct store_class_count lifetime_cells;   /* pings per (period, cohort, brand, model, first) */
    struct store_class_count version_cells;    /* pings per (period, brand, model, sw) */
    struct store_class_count lifetime_classes; /* devices per (cohort, brand, model) */
};
/* Fills *out for threshold k >= 2. Errors: STS_EINVAL, STS_EIO. */
enum sts_err store_classes(struct store *store, long k, struct store_classes *out);

/* Data protection (docs/PRIVACY.md). Every operation below has the same
 * contract on every backend; the SQLite notes say how this one meets it. */

/* What an erasure deleted. */
struct store_erased {
    int64_t activations;   /* device rows (at most one per key) */
    int64_t reactivations; /* their rows of months with a re-activation */
};

/* Erases one device: deletes, in one transaction, every row that names any
 * of the n pseudonyms at pseudonyms (n * STS_PSEUDONYM_LEN bytes: the
 * device under each live key): its activation rows
 * and their re-activation rows. Nothing else changes: the counters are
 * anonymous, and report ids name no device (they expire, see store_purge).
 * Deleted rows must not stay readable in the files: SQLite deletes with
 * secure_delete, checked on the deleting connection before the transaction
 * (STS_EIO if it cannot be set), and truncates the WAL afterwards; on
 * PostgreSQL the rows stay in dead tuples until VACUUM and in WAL and
 * backups until their horizon (docs/PRIVACY.md). Idempotent: erasing again
 * deletes 0 rows and succeeds. Errors: STS_EINVAL (n = 0), STS_EIO,
 * STS_EUNSUPPORTED (the backend lacks the operation; the same below). */
enum sts_err store_device_erase_all(struct store *store, const uint8_t *pseudonyms, size_t n,
                                    struct store_erased *out);

/* One key id and how many rows still need it: device rows stored under it,
 * and their re-activation rows. */
struct store_key_use {
    uint32_t key_id;
    int64_t devices;
    int64_t reactivations;
};

/* Lists the key ids that device rows are stored under, ascending, up to cap
 * of them into out; *n gets how many there are (may exceed cap). Reads
 * only. Errors: STS_EIO, STS_EUNSUPPORTED. */
enum sts_err store_key_use(struct store *store, struct store_key_use *out, size_t cap, size_t *n);

/* What a fold deleted (or would delete). */
struct store_folded {
    int64_t activations;   /* device rows whose device was last seen before keep_from */
    int64_t reactivations; /* re-activation rows of months before keep_from */
};

/* Retention: folds device rows older than month keep_from (sts/date.h
 * months), in one transaction: deletes every re-activation row of a month
 * before keep_from, and every activation row of a month before keep_from
 * whose device has no re-activation in keep_from or later (a device is kept
 * while it was seen within the retention). Counters, report ids and the
 * release never change, so every published figure stays the same. At most
 * max rows of each table go per call (call again while a count equals max).
 * With dry_run nothing is deleted and *out says what would go. Deletes as
 * store_device_erase_all does (secure_delete on SQLite). A folded device
 * that activates again counts as a new sale. Errors: STS_EIO,
 * STS_EUNSUPPORTED. */
enum sts_err store_fold(struct store *store, int32_t keep_from, int64_t max, bool dry_run,
                        struct store_folded *out);

/* What becomes of deleted rows (erasures, folds, purges) in this backend's
 * files, WAL and backups, and what the operator must do about it: a
 * sentence for audit. Static, owned by the backend; never NULL. */
const char *store_deleted_rows(const struct store *store);

/* One column of the live schema. */
struct store_column {
    char table[64];
    char column[64];
};

/* Every column of every table of the live database (from the catalogue:
 * sqlite_master and pragma table_info on SQLite, information_schema on
 * PostgreSQL), the backend's internal tables excluded, ordered by table
 * then column position. *out is a new array of *n entries, the caller's to
 * free(). Reads only. Errors: STS_EIO, STS_ENOMEM, STS_EUNSUPPORTED. */
enum sts_err store_columns(struct store *store, struct store_column **out, size_t *n);

#endif
