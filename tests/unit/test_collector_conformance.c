/* The store contract (docs/internals/store.md) run against one backend, named
 * by STS_STORE_URI: a fresh SQLite file when it is unset, a PostgreSQL
 * database when tests/e2e/pg_conformance.sh has started a cluster (every
 * table of that database is dropped between cases). Every operation goes
 * through store.h only; the few things a backend cannot be asked through it
 * (empty the database, mark its schema newer, cut or lock its connection) are
 * done by the backend's own library here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_pool.h"
#include "sts/clock.h"
#include "sts/date.h"

static char uri[1024];
static bool pg;
static char dir[64], path[128];

/* ---- The backend's own side -------------------------------------------- */

static void pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(uri);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static void sqlite_exec(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Leaves no database (SQLite: no file; PostgreSQL: an empty one). */
static void wipe(void)
{
    if (pg) {
        pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        return;
    }
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[200];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static void set_schema_version(int v)
{
    char sql[80];
    if (pg) {
        snprintf(sql, sizeof sql, "UPDATE sts_schema SET version = %d", v);
        pg_exec(sql);
    } else {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
        sqlite_exec(sql);
    }
}

/* ---- Fixture and records ------------------------------------------------ */

static struct store *open_new(void)
{
    struct store *s = NULL;
    char why[512] = "";
    enum sts_err e = store_open(uri, STORE_CREATE, &s, why, sizeof why);
    if (e != STS_OK)
        fail_msg("store_open: %s (%s)", sts_strerror(e), why);
    return s;
}

static int setup(void **state)
{
    unsetenv("STS_NOW_DAY");
    sts_clock_reload();
    wipe();
    *state = open_new();
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    unsetenv("STS_NOW_DAY");
    sts_clock_reload();
    return 0;
}

#define DAY (sts_day_from_ymd(2026, 11, 20))

static struct store_record act(unsigned dev, unsigned rid, int32_t day, const char *model,
                               const char *country)
{
    struct store_record r;
    memset(&r, 0, sizeof r);
    r.type = STS_REPORT_ACTIVATION;
    memcpy(r.report_id, &rid, sizeof rid);
    r.report_id[15] = 0xa1;
    memcpy(r.pseudonym, &dev, sizeof dev);
    r.pseudonym[31] = 0x5e;
    r.key_id = 0x01020304;
    r.day = day;
    snprintf(r.brand, sizeof r.brand, "acme-eu");
    snprintf(r.model, sizeof r.model, "%s", model);
    snprintf(r.sw, sizeof r.sw, "%s-V12", model);
    snprintf(r.country, sizeof r.country, "%s", country);
    return r;
}

static struct store_record ping(unsigned rid, int32_t cohort, int32_t period, bool first,
                                const char *sw)
{
    struct store_record r;
    memset(&r, 0, sizeof r);
    r.type = STS_REPORT_LIFETIME;
    memcpy(r.report_id, &rid, sizeof rid);
    r.report_id[15] = 0xb2;
    r.cohort = cohort;
    r.period = period;
    r.first = first;
    snprintf(r.brand, sizeof r.brand, "acme-eu");
    snprintf(r.model, sizeof r.model, "K400");
    snprintf(r.sw, sizeof r.sw, "%s", sw);
    snprintf(r.country, sizeof r.country, "FR");
    return r;
}

static enum sts_err write_batch(struct store *s, struct store_record *recs, size_t n)
{
    struct store_record *ptrs[256];
    assert_true(n <= 256);
    for (size_t i = 0; i < n; i++) {
        recs[i].outcome = STORE_PENDING;
        ptrs[i] = &recs[i];
    }
    return store_write(s, ptrs, n);
}

struct sums {
    int64_t a, r, rows;
};

static int sum_sales(const struct store_sales_row *row, void *ctx)
{
    struct sums *s = ctx;
    s->a += row->activations;
    s->r += row->reactivations;
    s->rows++;
    return 0;
}

static struct sums sales_sum(struct store *s, enum store_grain grain, unsigned dims,
                             const char *model, const char *country)
{
    struct store_query q = {.from = INT32_MIN, .to = INT32_MAX, .dims = dims, .grain = grain};
    q.filter[1] = model;
    q.filter[3] = country;
    struct sums sum = {0, 0, 0};
    assert_int_equal(store_sales_sum(s, &q, sum_sales, &sum), STS_OK);
    return sum;
}

static struct store_audit audit(struct store *s)
{
    struct store_audit a;
    assert_int_equal(store_audit(s, &a), STS_OK);
    return a;
}

static void serve_policy(struct store *s)
{
    struct store_policy pol;
    store_policy_defaults(&pol);
    assert_int_equal(store_set_policy(s, &pol), STS_OK);
}

/* ---- Cases ---------------------------------------------------------------- */

/* New, re-activation and duplicate within one batch and across batches. */
static void write_outcomes(void **state)
{
    struct store *s = *state;
    struct store_record r[6] = {act(1, 1, DAY, "K400", "FR"),
                                act(1, 2, DAY, "K400", "FR"),
                                act(1, 1, DAY, "K400", "FR"),
                                act(2, 3, DAY + 1, "K500", ""),
                                ping(10, 2026 * 12, 2026 * 12 + 10, true, "V1"),
                                ping(10, 2026 * 12, 2026 * 12 + 10, true, "V1")};
    assert_int_equal(write_batch(s, r, 6), STS_OK);
    assert_int_equal(r[0].outcome, STORE_NEW);
    assert_int_equal(r[1].outcome, STORE_REACTIVATION);
    assert_int_equal(r[2].outcome, STORE_DUPLICATE);
    assert_int_equal(r[3].outcome, STORE_NEW);
    assert_int_equal(r[4].outcome, STORE_NEW);
    assert_int_equal(r[5].outcome, STORE_DUPLICATE);
    /* The same reports again: all duplicates, nothing counted. */
    assert_int_equal(write_batch(s, r, 6), STS_OK);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(r[i].outcome, STORE_DUPLICATE);
    /* A re-activation of device 1 in the same month: not counted again; in
     * another month: counted. */
    struct store_record more[2] = {act(1, 4, DAY + 2, "K400", "FR"),
                                   act(1, 5, sts_day_from_ymd(2026, 12, 3), "K400", "FR")};
    assert_int_equal(write_batch(s, more, 2), STS_OK);
    assert_int_equal(more[0].outcome, STORE_REACTIVATION);
    assert_int_equal(more[1].outcome, STORE_REACTIVATION);
    struct sums t = sales_sum(s, STORE_ALL, 0, NULL, NULL);
    assert_int_equal(t.a, 2);
    assert_int_equal(t.r, 2);
    assert_int_equal(t.rows, 1);
    struct store_audit a = audit(s);
    assert_int_equal(a.devices, 2);
    assert_int_equal(a.reactivations, 2);
    assert_int_equal(a.report_ids, 6);
    assert_int_equal(a.key_ids, 1);
    /* An empty batch commits. */
    assert_int_equal(store_write(s, NULL, 0), STS_OK);
}

/* A device's row comes from its first record in the batch whose report id
 * is fresh, though an earlier record of it carries an id kept already (on
 * PostgreSQL that kept id also fails the batch's first, plain try, which is
 * then written again). */
static void first_fresh_record_decides(void **state)
{
    struct store *s = *state;
    struct store_record first = act(1, 20, DAY, "K400", "FR");
    assert_int_equal(write_batch(s, &first, 1), STS_OK);
    assert_int_equal(first.outcome, STORE_NEW);
    struct store_record r[4] = {
        act(8, 20, DAY, "K500", "DE"), act(8, 22, sts_day_from_ymd(2026, 12, 2), "K500", "DE"),
        act(8, 23, sts_day_from_ymd(2027, 1, 9), "K500", "DE"), act(9, 24, DAY, "K500", "DE")};
    assert_int_equal(write_batch(s, r, 4), STS_OK);
    assert_int_equal(r[0].outcome, STORE_DUPLICATE);
    assert_int_equal(r[1].outcome, STORE_NEW);
    assert_int_equal(r[2].outcome, STORE_REACTIVATION);
    assert_int_equal(r[3].outcome, STORE_NEW);
    struct store_device d;
    assert_int_equal(store_device_get(s, r[1].pseudonym, &d), STS_OK);
    assert_int_equal(d.month, 2026 * 12 + 11); /* the fresh record's, not the kept one's */
    assert_int_equal(d.reactivations, 1);
    assert_int_equal(d.react_month[0], 2027 * 12);
    struct sums t = sales_sum(s, STORE_ALL, 0, NULL, NULL);
    assert_int_equal(t.a, 3);
    assert_int_equal(t.r, 1);
    /* The next batches (after a kept id) decide the same way. */
    struct store_record again[2] = {act(8, 25, sts_day_from_ymd(2027, 2, 1), "K500", "DE"),
                                    act(10, 26, DAY, "K500", "DE")};
    assert_int_equal(write_batch(s, again, 2), STS_OK);
    assert_int_equal(again[0].outcome, STORE_REACTIVATION);
    assert_int_equal(again[1].outcome, STORE_NEW);
    struct store_audit a = audit(s);
    assert_int_equal(a.devices, 4);
    assert_int_equal(a.reactivations, 2);
    assert_int_equal(a.report_ids, 6); /* 20, 22..26 */
}

/* store_sales and store_sales_sum at every grain, with dimensions and
 * filters. */
static void sales_queries(void **state)
{
    struct store *s = *state;
    struct store_record r[5] = {act(1, 1, DAY, "K400", "FR"), act(2, 2, DAY, "K400", "DE"),
                                act(3, 3, DAY + 1, "K400", "FR"), act(4, 4, DAY + 12, "K500", "FR"),
                                act(5, 5, DAY + 12, "K500", "")};
    assert_int_equal(write_batch(s, r, 5), STS_OK);
    struct sums all = {0, 0, 0};
    assert_int_equal(store_sales(s, DAY, DAY + 1, sum_sales, &all), STS_OK);
    assert_int_equal(all.a, 3);
    assert_int_equal(all.rows, 3);
    struct sums d = sales_sum(s, STORE_DAY, STORE_DIM_MODEL, NULL, NULL);
    assert_int_equal(d.a, 5);
    assert_int_equal(d.rows, 3); /* (DAY, K400) (DAY+1, K400) (DAY+12, K500) */
    struct sums m = sales_sum(s, STORE_MONTH, STORE_DIM_COUNTRY, NULL, NULL);
    assert_int_equal(m.a, 5);
    struct sums a = sales_sum(s, STORE_ALL, STORE_DIM_MODEL, NULL, NULL);
    assert_int_equal(a.a, 5);
    assert_int_equal(a.rows, 2);
    struct sums fr = sales_sum(s, STORE_ALL, STORE_DIM_BRAND | STORE_DIM_SW, NULL, "FR");
    assert_int_equal(fr.a, 3);
    assert_int_equal(fr.rows, 2); /* K400-V12, K500-V12 */
    struct sums k5 = sales_sum(s, STORE_DAY, 0, "K500", NULL);
    assert_int_equal(k5.a, 2);
    struct sums none = sales_sum(s, STORE_ALL, 0, "K999", NULL);
    assert_int_equal(none.rows, 0);
}

static int stop_first(const struct store_sales_row *row, void *ctx)
{
    (void)row;
    ++*(int *)ctx;
    return 1;
}

static void sales_callback_stops(void **state)
{
    struct store *s = *state;
    struct store_record r[2] = {act(1, 1, DAY, "K400", "FR"), act(2, 2, DAY + 1, "K400", "FR")};
    assert_int_equal(write_batch(s, r, 2), STS_OK);
    int calls = 0;
    assert_int_equal(store_sales(s, INT32_MIN, INT32_MAX, stop_first, &calls), STS_OK);
    assert_int_equal(calls, 1);
}

struct life_sums {
    int64_t count, first, rows;
};

static int sum_life(const struct store_life_row *row, void *ctx)
{
    struct life_sums *s = ctx;
    s->count += row->count;
    s->first += row->first ? row->count : 0;
    s->rows++;
    return 0;
}

static int sum_versions(const struct store_version_row *row, void *ctx)
{
    struct life_sums *s = ctx;
    s->count += row->count;
    s->first += strcmp(row->sw, "V2") == 0 ? row->count : 0;
    s->rows++;
    return 0;
}

/* Lifetime and versions counters from the same pings. */
static void lifetime_and_versions(void **state)
{
    struct store *s = *state;
    int32_t jan = 2026 * 12, feb = jan + 1;
    struct store_record r[4] = {ping(1, jan, jan, true, "V1"), ping(2, jan, feb, false, "V2"),
                                ping(3, feb, feb, true, "V2"), ping(4, jan, feb, false, "V1")};
    assert_int_equal(write_batch(s, r, 4), STS_OK);
    struct store_query q = {.from = jan, .to = feb, .dims = STORE_DIM_MODEL};
    struct life_sums l = {0, 0, 0};
    assert_int_equal(store_lifetime_sum(s, &q, sum_life, &l), STS_OK);
    assert_int_equal(l.count, 4);
    assert_int_equal(l.first, 2);
    assert_int_equal(l.rows, 3); /* (jan,jan,1) (feb,jan,0) x2 (feb,feb,1) */
    q.dims = STORE_DIM_BRAND | STORE_DIM_MODEL;
    q.from = feb;
    memset(&l, 0, sizeof l);
    assert_int_equal(store_lifetime_sum(s, &q, sum_life, &l), STS_OK);
    assert_int_equal(l.count, 3);
    q.dims = STORE_DIM_MODEL | STORE_DIM_SW;
    assert_int_equal(store_lifetime_sum(s, &q, sum_life, &l), STS_EUNSUPPORTED);
    struct life_sums v = {0, 0, 0};
    q.from = jan;
    assert_int_equal(store_versions_sum(s, &q, sum_versions, &v), STS_OK);
    assert_int_equal(v.count, 4);
    assert_int_equal(v.first, 2); /* V2 pings */
    assert_int_equal(v.rows, 3);  /* (jan,V1) (feb,V1) (feb,V2) */
    q.filter[2] = "V1";
    memset(&v, 0, sizeof v);
    assert_int_equal(store_versions_sum(s, &q, sum_versions, &v), STS_OK);
    assert_int_equal(v.count, 2);
    q.filter[2] = NULL;
    q.dims = STORE_DIM_COUNTRY;
    assert_int_equal(store_versions_sum(s, &q, sum_versions, &v), STS_EUNSUPPORTED);
}

/* Batches with no device twice and no older pseudonym, which PostgreSQL
 * writes in one round trip, counting from what C knows: the first record of
 * each id new, the rest duplicates. One that meets a row already there must
 * be decided by the database all the same, and its first try leave nothing
 * counted: a known device here, a kept id in plain_batch_kept_id (each the
 * first conflict of its store, since one makes the next batches careful). */
static void plain_batch_known_device(void **state)
{
    struct store *s = *state;
    int32_t jan = 2026 * 12;
    struct store_record a[5] = {act(1, 31, DAY, "K400", "FR"), act(2, 32, DAY, "K400", "FR"),
                                act(3, 33, DAY + 1, "K500", "DE"),
                                ping(40, jan, jan + 10, true, "V1"),
                                ping(40, jan, jan + 10, true, "V1")};
    assert_int_equal(write_batch(s, a, 5), STS_OK);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(a[i].outcome, STORE_NEW);
    assert_int_equal(a[4].outcome, STORE_DUPLICATE);
    /* Device 1 again in December, with a new id, beside a new device. */
    struct store_record b[2] = {act(1, 34, sts_day_from_ymd(2026, 12, 2), "K400", "FR"),
                                act(4, 35, DAY, "K400", "FR")};
    assert_int_equal(write_batch(s, b, 2), STS_OK);
    assert_int_equal(b[0].outcome, STORE_REACTIVATION);
    assert_int_equal(b[1].outcome, STORE_NEW);
    /* A full batch of new devices, in no key order. */
    struct store_record many[256];
    for (unsigned i = 0; i < 256; i++)
        many[i] = act(1000 + i * 7919u % 256, 5000 + i, DAY + (int32_t)(i % 3), "K400",
                      i % 2 ? "FR" : "BE");
    assert_int_equal(write_batch(s, many, 256), STS_OK);
    for (size_t i = 0; i < 256; i++)
        assert_int_equal(many[i].outcome, STORE_NEW);
    struct sums t = sales_sum(s, STORE_ALL, 0, NULL, NULL);
    assert_int_equal(t.a, 4 + 256);
    assert_int_equal(t.r, 1);
    assert_int_equal(sales_sum(s, STORE_ALL, STORE_DIM_COUNTRY, NULL, "BE").a, 128);
    struct store_query q = {.from = jan, .to = jan + 11, .dims = STORE_DIM_MODEL};
    struct life_sums l = {0, 0, 0};
    assert_int_equal(store_lifetime_sum(s, &q, sum_life, &l), STS_OK);
    assert_int_equal(l.count, 1);
    struct store_audit au = audit(s);
    assert_int_equal(au.devices, 4 + 256);
    assert_int_equal(au.reactivations, 1);
    assert_int_equal(au.report_ids, 6 + 256); /* 31..35, 40, 5000.. */
}

static void plain_batch_kept_id(void **state)
{
    struct store *s = *state;
    int32_t jan = 2026 * 12;
    struct store_record a[2] = {act(1, 31, DAY, "K400", "FR"), ping(40, jan, jan + 10, true, "V1")};
    assert_int_equal(write_batch(s, a, 2), STS_OK);
    assert_int_equal(a[0].outcome, STORE_NEW);
    assert_int_equal(a[1].outcome, STORE_NEW);
    /* The kept ping again, beside a new device and a new ping. */
    struct store_record b[3] = {ping(40, jan, jan + 10, true, "V1"), act(2, 32, DAY, "K400", "FR"),
                                ping(41, jan, jan + 10, false, "V2")};
    assert_int_equal(write_batch(s, b, 3), STS_OK);
    assert_int_equal(b[0].outcome, STORE_DUPLICATE);
    assert_int_equal(b[1].outcome, STORE_NEW);
    assert_int_equal(b[2].outcome, STORE_NEW);
    struct sums t = sales_sum(s, STORE_ALL, 0, NULL, NULL);
    assert_int_equal(t.a, 2);
    assert_int_equal(t.r, 0);
    struct store_query q = {.from = jan, .to = jan + 11, .dims = STORE_DIM_MODEL};
    struct life_sums l = {0, 0, 0};
    assert_int_equal(store_lifetime_sum(s, &q, sum_life, &l), STS_OK);
    assert_int_equal(l.count, 2);
    assert_int_equal(l.first, 1);
    struct store_audit au = audit(s);
    assert_int_equal(au.devices, 2);
    assert_int_equal(au.report_ids, 4);
}

/* Export, erase, then nothing left that names the device; counters stay. */
static void device_get_and_erase(void **state)
{
    struct store *s = *state;
    struct store_record r[3] = {act(7, 1, DAY, "K400", "FR"),
                                act(7, 2, sts_day_from_ymd(2026, 12, 2), "K400", "FR"),
                                act(7, 3, sts_day_from_ymd(2027, 1, 9), "K400", "FR")};
    assert_int_equal(write_batch(s, r, 3), STS_OK);
    struct store_device d;
    assert_int_equal(store_device_get(s, r[0].pseudonym, &d), STS_OK);
    assert_int_equal(d.key_id, 0x01020304);
    assert_int_equal(d.month, 2026 * 12 + 10);
    assert_int_equal(d.reactivations, 2);
    assert_int_equal(d.react_month[0], 2026 * 12 + 11);
    assert_int_equal(d.react_month[1], 2027 * 12);
    uint8_t other[STS_PSEUDONYM_LEN] = {0};
    assert_int_equal(store_device_get(s, other, &d), STS_ENOENT);
    int64_t n = -1;
    assert_int_equal(store_device_erase(s, r[0].pseudonym, &n), STS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(store_device_get(s, r[0].pseudonym, &d), STS_ENOENT);
    assert_int_equal(store_device_erase(s, r[0].pseudonym, &n), STS_OK);
    assert_int_equal(n, 0);
    struct store_audit a = audit(s);
    assert_int_equal(a.devices, 0);
    assert_int_equal(a.reactivations, 0);
    assert_int_equal(sales_sum(s, STORE_ALL, 0, NULL, NULL).a, 1);
}

static void audit_and_classes(void **state)
{
    struct store *s = *state;
    int32_t jan = 2026 * 12;
    struct store_record r[5] = {act(1, 1, DAY, "K400", "FR"), act(2, 2, DAY, "K400", "FR"),
                                act(3, 3, DAY, "K500", "FR"), ping(4, jan, jan + 1, false, "V1"),
                                ping(5, jan, jan + 1, false, "V2")};
    assert_int_equal(write_batch(s, r, 5), STS_OK);
    struct store_audit a = audit(s);
    assert_int_equal(a.devices, 3);
    assert_int_equal(a.sales_cells, 2);
    assert_int_equal(a.lifetime_cells, 1);
    assert_int_equal(a.version_cells, 2);
    assert_int_equal(a.report_ids, 5);
    struct store_classes c;
    assert_int_equal(store_classes(s, 1, &c), STS_EINVAL);
    assert_int_equal(store_classes(s, 3, &c), STS_OK);
    assert_int_equal(c.sales_cells.total, 2);
    assert_int_equal(c.sales_cells.under_k, 2); /* sizes 2 and 1 */
    assert_int_equal(c.sales_cells.singles, 1);
    assert_int_equal(c.sales_cells.smallest, 1);
    assert_int_equal(c.sales_months.total, 2);
    assert_int_equal(c.lifetime_cells.total, 1);
    assert_int_equal(c.lifetime_cells.smallest, 2);
    assert_int_equal(c.version_cells.singles, 2);
    assert_int_equal(c.lifetime_classes.total, 2);
}

/* The seed is made with the database and kept; rho is fixed once. */
static void release_meta(void **state)
{
    struct store *s = *state;
    struct store_release a, b;
    assert_int_equal(store_release_get(s, &a), STS_OK);
    assert_true(a.rho == 0);
    assert_int_equal(store_release_set_rho(s, 0.5), STS_OK);
    assert_int_equal(store_release_set_rho(s, 0.7), STS_OK);
    store_close(s);
    *state = s = open_new();
    assert_int_equal(store_release_get(s, &b), STS_OK);
    assert_memory_equal(a.seed, b.seed, STORE_SEED_LEN);
    assert_true(b.rho == 0.5);
}

/* Report ids purged after their window; a retried first activation then
 * finds its device and counts as a re-activation, never a new sale. */
static void purge_and_late_rule(void **state)
{
    struct store *s = *state;
    setenv("STS_NOW_DAY", "2026-11-20", 1);
    sts_clock_reload();
    serve_policy(s);
    int32_t today = DAY, nov = 2026 * 12 + 10;
    struct store_record r[3] = {act(1, 1, today, "K400", "FR"),
                                act(2, 2, today - 30, "K400", "FR"),       /* closed day */
                                ping(3, 2026 * 12, nov - 2, false, "V1")}; /* closed month */
    assert_int_equal(write_batch(s, r, 3), STS_OK);
    /* The late-report rule: the closed day counted on the first open one,
     * the closed month's ping in November with its age kept. */
    struct sums d = sales_sum(s, STORE_DAY, 0, NULL, NULL);
    assert_int_equal(d.a, 2);
    assert_int_equal(d.rows, 2);
    struct store_query q = {.from = nov - 2, .to = nov - 1, .dims = STORE_DIM_MODEL};
    struct life_sums l = {0, 0, 0};
    assert_int_equal(store_lifetime_sum(s, &q, sum_life, &l), STS_OK);
    assert_int_equal(l.count, 0);
    q.from = q.to = nov;
    assert_int_equal(store_lifetime_sum(s, &q, sum_life, &l), STS_OK);
    assert_int_equal(l.count, 1);
    assert_int_equal(audit(s).report_ids, 3);
    /* 2026-12-08: November's grace has closed, the activations' 30 days not. */
    setenv("STS_NOW_DAY", "2026-12-08", 1);
    sts_clock_reload();
    int64_t purged = -1;
    assert_int_equal(store_purge(s, 100, &purged), STS_OK);
    assert_int_equal(purged, 1);
    setenv("STS_NOW_DAY", "2026-12-21", 1);
    sts_clock_reload();
    assert_int_equal(store_purge(s, 1, &purged), STS_OK);
    assert_int_equal(purged, 1); /* bounded by max */
    assert_int_equal(store_purge(s, 100, &purged), STS_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(audit(s).report_ids, 0);
    struct store_record again = act(1, 1, today, "K400", "FR");
    assert_int_equal(write_batch(s, &again, 1), STS_OK);
    assert_int_equal(again.outcome, STORE_REACTIVATION);
}

/* A read-only handle refuses every write and writes nothing; opening
 * refuses a database that is not STS's, a missing one, a newer schema. */
static void readonly_and_open_refusals(void **state)
{
    struct store *s = *state, *ro = NULL;
    struct store_record r[2] = {act(1, 1, DAY, "K400", "FR"), act(2, 2, DAY, "K400", "FR")};
    assert_int_equal(write_batch(s, r, 1), STS_OK);
    char why[512] = "";
    assert_int_equal(store_open(uri, STORE_READONLY, &ro, why, sizeof why), STS_OK);
    assert_int_equal(write_batch(ro, r + 1, 1), STS_EIO);
    assert_int_equal(r[1].outcome, STORE_FAILED);
    assert_int_equal(store_write(ro, NULL, 0), STS_EIO);
    assert_int_equal(audit(ro).devices, 1);
    store_close(ro);
    assert_int_equal(audit(s).devices, 1);
    store_close(s);
    *state = NULL;

    set_schema_version(99);
    why[0] = '\0';
    assert_int_equal(store_open(uri, STORE_CREATE, &ro, why, sizeof why), STS_EUNSUPPORTED);
    assert_non_null(strstr(why, "newer"));
    assert_int_equal(store_open(uri, STORE_READONLY, &ro, why, sizeof why), STS_EUNSUPPORTED);

    wipe();
    assert_int_equal(store_open(uri, 0, &ro, why, sizeof why), STS_ENOENT);
    if (!pg) {
        FILE *fp = fopen(path, "w"); /* an empty file: a database, not STS's */
        assert_non_null(fp);
        fclose(fp);
    }
    assert_int_equal(store_open(uri, STORE_READONLY, &ro, why, sizeof why), STS_ECORRUPT);
    *state = open_new();
}

/* Cuts every other connection to the database and waits until their
 * backends have gone (their last words sent, as in a restart). */
static void pg_cut_connections(void)
{
    pg_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND datname = current_database()");
    PGconn *conn = PQconnectdb(uri);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid <>"
                                     " pg_backend_pid() AND datname = current_database()");
        gone = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "0") == 0;
        PQclear(res);
        if (!gone)
            usleep(50 * 1000);
    }
    PQfinish(conn);
    assert_true(gone);
}

/* An injected failure (SQLite: the write lock held elsewhere; PostgreSQL: a
 * counter row refused by a constraint added meanwhile) fails the whole batch
 * and writes nothing; the next batch works without reopening. On
 * PostgreSQL, a connection cut while idle is then found and reset before
 * the next batch, which commits. */
static void failure_then_recovery(void **state)
{
    struct store *s = *state;
    struct store_record r[3] = {act(1, 1, DAY, "K400", "FR"), act(2, 2, DAY, "K400", "FR"),
                                ping(3, 2026 * 12, 2026 * 12 + 1, false, "V1")};
    assert_int_equal(write_batch(s, r, 1), STS_OK);
    sqlite3 *lock = NULL;
    if (pg) {
        pg_exec("ALTER TABLE sales_day ADD CONSTRAINT refuse CHECK (activations < 0) NOT VALID");
    } else {
        setenv("STS_SQLITE_BUSY_TIMEOUT_MS", "100", 1);
        sts_clock_reload();
        store_close(s);
        *state = s = open_new(); /* with the short wait */
        assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
        assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(write_batch(s, r + 1, 2), STS_EIO);
    assert_int_equal(r[1].outcome, STORE_FAILED);
    assert_int_equal(r[2].outcome, STORE_FAILED);
    if (lock) {
        sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(lock);
        unsetenv("STS_SQLITE_BUSY_TIMEOUT_MS");
        sts_clock_reload();
    }
    if (pg) {
        pg_exec("ALTER TABLE sales_day DROP CONSTRAINT refuse");
        pg_cut_connections();
    }
    assert_int_equal(write_batch(s, r + 1, 2), STS_OK);
    assert_int_equal(r[1].outcome, STORE_NEW); /* the failed batch left nothing */
    assert_int_equal(r[2].outcome, STORE_NEW);
    assert_int_equal(audit(s).devices, 2);
}

/* Two handles writing the same reports at once: each counted once. */
#define SAME_N     1000
#define SAME_BATCH 50
static pthread_barrier_t start_line;

struct writer {
    struct store *s;
    int news, dups, react, failed;
};

static void *write_same(void *arg)
{
    struct writer *w = arg;
    struct store_record r[SAME_BATCH];
    pthread_barrier_wait(&start_line);
    for (int b = 0; b < SAME_N / SAME_BATCH; b++) {
        for (int i = 0; i < SAME_BATCH; i++)
            r[i] = act((unsigned)(b * SAME_BATCH + i), (unsigned)(b * SAME_BATCH + i), DAY, "K400",
                       "FR");
        struct store_record *ptrs[SAME_BATCH];
        for (int i = 0; i < SAME_BATCH; i++)
            ptrs[i] = &r[i];
        if (store_write(w->s, ptrs, SAME_BATCH) != STS_OK) {
            w->failed++;
            b--; /* a failed batch wrote nothing: send it again, as an agent would */
            if (w->failed > 20)
                return NULL;
            continue;
        }
        for (int i = 0; i < SAME_BATCH; i++) {
            w->news += r[i].outcome == STORE_NEW;
            w->dups += r[i].outcome == STORE_DUPLICATE;
            w->react += r[i].outcome == STORE_REACTIVATION;
        }
    }
    return NULL;
}

static void concurrent_writers(void **state)
{
    struct writer w[2] = {{.s = *state}, {.s = open_new()}};
    pthread_t t[2];
    assert_int_equal(pthread_barrier_init(&start_line, NULL, 2), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, write_same, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    store_close(w[1].s);
    print_message("concurrent writers: new %d + %d, duplicates %d + %d, failed batches %d + %d\n",
                  w[0].news, w[1].news, w[0].dups, w[1].dups, w[0].failed, w[1].failed);
    assert_int_equal(w[0].news + w[1].news, SAME_N);
    assert_int_equal(w[0].dups + w[1].dups, SAME_N);
    assert_int_equal(w[0].react + w[1].react, 0);
    assert_int_equal(sales_sum(w[0].s, STORE_ALL, 0, NULL, NULL).a, SAME_N);
    assert_int_equal(audit(w[0].s).devices, SAME_N);
}

/* The statistics' pool of read-only handles: a handle given back is lent
 * again (no new connection), at most max are open and a borrower beyond
 * them waits for one, and a kept handle whose connection the server closed
 * meanwhile (PostgreSQL) answers its next read after resetting itself. */
struct borrower {
    struct store_pool *pool;
    struct store *got;
    atomic_bool done;
};

static void *borrow(void *arg)
{
    struct borrower *b = arg;
    assert_int_equal(store_pool_get(b->pool, &b->got, NULL, 0), STS_OK);
    atomic_store(&b->done, true);
    return NULL;
}

static void pool_lends_and_waits(void **state)
{
    struct store_record r[1] = {act(1, 1, DAY, "K400", "FR")};
    assert_int_equal(write_batch(*state, r, 1), STS_OK);
    struct store_pool *pool;
    assert_int_equal(store_pool_new(uri, STORE_READONLY, 0, &pool), STS_EINVAL);
    assert_int_equal(store_pool_new(uri, STORE_READONLY, 2, &pool), STS_OK);
    struct store *a, *b, *c;
    size_t open;
    unsigned long long opened;
    store_pool_counts(pool, &open, &opened);
    assert_int_equal(open, 0); /* nothing opened before it is needed */
    assert_int_equal(store_pool_get(pool, &a, NULL, 0), STS_OK);
    store_pool_put(pool, a);
    assert_int_equal(store_pool_get(pool, &b, NULL, 0), STS_OK);
    assert_ptr_equal(a, b); /* the same handle again */
    assert_int_equal(store_pool_get(pool, &c, NULL, 0), STS_OK);
    assert_ptr_not_equal(b, c);
    store_pool_counts(pool, &open, &opened);
    assert_int_equal(open, 2);
    assert_int_equal(opened, 2);
    /* A third borrower waits until a handle comes back. */
    struct borrower w = {.pool = pool};
    atomic_init(&w.done, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, borrow, &w), 0);
    usleep(100 * 1000);
    assert_false(atomic_load(&w.done));
    store_pool_put(pool, c);
    pthread_join(t, NULL);
    assert_ptr_equal(w.got, c);
    store_pool_put(pool, w.got);
    store_pool_put(pool, b);
    store_pool_counts(pool, &open, &opened);
    assert_int_equal(opened, 2);
    /* Handles kept while the server drops their connections (and their
     * backends have gone, as after a restart). */
    if (pg)
        pg_cut_connections();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_pool_get(pool, &a, NULL, 0), STS_OK);
        assert_int_equal(audit(a).devices, 1);
        store_pool_put(pool, a);
    }
    store_pool_counts(pool, &open, &opened);
    assert_int_equal(opened, 2); /* reset in place, not opened again */
    store_pool_free(pool);
    store_pool_free(NULL);
}

int main(void)
{
    const char *u = getenv("STS_STORE_URI");
    if (u && *u) {
        snprintf(uri, sizeof uri, "%s", u);
        pg = strncmp(u, "postgres", 8) == 0;
    } else {
        snprintf(dir, sizeof dir, "/tmp/sts-conf-XXXXXX");
        if (!mkdtemp(dir))
            return 1;
        snprintf(path, sizeof path, "%s/sts.db", dir);
        snprintf(uri, sizeof uri, "sqlite:%s", path);
    }
    print_message("store backend: %s\n", pg ? "PostgreSQL" : "SQLite");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(write_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(first_fresh_record_decides, setup, teardown),
        cmocka_unit_test_setup_teardown(plain_batch_known_device, setup, teardown),
        cmocka_unit_test_setup_teardown(plain_batch_kept_id, setup, teardown),
        cmocka_unit_test_setup_teardown(sales_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(sales_callback_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(lifetime_and_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(device_get_and_erase, setup, teardown),
        cmocka_unit_test_setup_teardown(audit_and_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(release_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(purge_and_late_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(readonly_and_open_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(pool_lends_and_waits, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (!pg) {
        wipe();
        rmdir(dir);
    }
    return rc;
}
