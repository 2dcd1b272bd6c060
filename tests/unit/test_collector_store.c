/* The SQLite store through the store.h interface, on a temporary file:
 * outcomes (new, duplicate, re-activation) within one batch and across
 * batches, lifetime counters and ping de-duplication, the sales rollup,
 * export/erase/audit, reopening, open errors, and injected failures (a lock
 * held by another connection; an error in the middle of a batch), after which
 * every outcome is STORE_FAILED and nothing is written. Then what is kept at
 * rest (schema 4): device tables without class or day, report ids purged
 * after their window (the clock moved with STS_NOW_DAY), the late-report
 * rule, re-activations counted once a month, the WAL bounded after a burst,
 * and upgrades from real schema 1, 2 and 3 databases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "sts/clock.h"
#include "sts/date.h"

struct fixture {
    char dir[64];
    char path[128];
    char uri[160];
    struct store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sts-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/sts.db", f->dir);
    snprintf(f->uri, sizeof f->uri, "sqlite:%s", f->path);
    char why[256] = "";
    assert_int_equal(store_open(f->uri, STORE_CREATE, &f->store, why, sizeof why), STS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[200];
    store_close(f->store);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* An activation of device `dev` with report id number `rid`. */
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

static struct store_record ping(unsigned rid, int32_t cohort, int32_t period, bool first)
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
    snprintf(r.sw, sizeof r.sw, "K400-V13");
    snprintf(r.country, sizeof r.country, "FR");
    return r;
}

/* Writes recs[0..n) in one batch. */
static enum sts_err write_batch(struct store *s, struct store_record *recs, size_t n)
{
    struct store_record *ptrs[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        recs[i].outcome = STORE_PENDING;
        ptrs[i] = &recs[i];
    }
    return store_write(s, ptrs, n);
}

static int64_t count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

struct sums {
    int64_t activations, reactivations;
    size_t rows;
};

static int sum_rows(const struct store_sales_row *row, void *ctx)
{
    struct sums *s = ctx;
    s->activations += row->activations;
    s->reactivations += row->reactivations;
    s->rows++;
    return 0;
}

static struct sums sales(struct store *s, int32_t from, int32_t to)
{
    struct sums sum = {0, 0, 0};
    assert_int_equal(store_sales(s, from, to, sum_rows, &sum), STS_OK);
    return sum;
}

#define DAY 20777 /* 2026-11-20 */

static void outcomes_within_one_batch(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store_record r[5] = {
        act(1, 100, DAY, "K400", "FR"),     /* new */
        act(1, 100, DAY, "K400", "FR"),     /* same report again: duplicate */
        act(1, 101, DAY + 1, "K400", "FR"), /* same device, new report: re-activation */
        act(1, 101, DAY + 1, "K400", "FR"), /* that re-activation again: duplicate */
        act(2, 102, DAY, "K500", ""),       /* another device */
    };
    assert_int_equal(write_batch(f->store, r, 5), STS_OK);
    assert_int_equal(r[0].outcome, STORE_NEW);
    assert_int_equal(r[1].outcome, STORE_DUPLICATE);
    assert_int_equal(r[2].outcome, STORE_REACTIVATION);
    assert_int_equal(r[3].outcome, STORE_DUPLICATE);
    assert_int_equal(r[4].outcome, STORE_NEW);
    assert_int_equal(count(f->path, "SELECT count(*) FROM activation"), 2);
    assert_int_equal(count(f->path, "SELECT count(*) FROM reactivation"), 1);
    struct sums s = sales(f->store, INT32_MIN, INT32_MAX);
    assert_int_equal(s.activations, 2);
    assert_int_equal(s.reactivations, 1);
    assert_int_equal(s.rows, 3); /* K400/FR day, K400/FR day+1, K500/'' day */
}

static void outcomes_across_batches(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store_record a = act(7, 1, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &a, 1), STS_OK);
    assert_int_equal(a.outcome, STORE_NEW);
    struct store_record again = act(7, 1, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &again, 1), STS_OK);
    assert_int_equal(again.outcome, STORE_DUPLICATE);
    struct store_record re = act(7, 2, DAY + 3, "K400", "DE"); /* resold abroad */
    assert_int_equal(write_batch(f->store, &re, 1), STS_OK);
    assert_int_equal(re.outcome, STORE_REACTIVATION);
    struct store_record re2 = act(7, 2, DAY + 3, "K400", "DE");
    assert_int_equal(write_batch(f->store, &re2, 1), STS_OK);
    assert_int_equal(re2.outcome, STORE_DUPLICATE);
    /* A retry of the first activation after the re-activation is still a
     * duplicate, not a third event. */
    struct store_record old = act(7, 1, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &old, 1), STS_OK);
    assert_int_equal(old.outcome, STORE_DUPLICATE);

    struct sums s = sales(f->store, INT32_MIN, INT32_MAX);
    assert_int_equal(s.activations, 1);
    assert_int_equal(s.reactivations, 1);
    /* The device row keeps the month of its first activation, nothing more. */
    struct store_device d;
    assert_int_equal(store_device_get(f->store, a.pseudonym, &d), STS_OK);
    assert_int_equal(d.month, sts_day_month(DAY));
    assert_int_equal(d.reactivations, 1);
    assert_int_equal(d.react_month[0], sts_day_month(DAY + 3));
    assert_int_equal(d.key_id, 0x01020304);
}

static void lifetime_counters_and_dedup(void **state)
{
    (void)state;
    struct fixture *f = *state;
    int32_t jan = 2026 * 12, nov = 2026 * 12 + 10;
    struct store_record r[4] = {
        ping(1, jan, nov, false), ping(1, jan, nov, false), /* retried in the same batch */
        ping(2, jan, nov, false),                           /* another device of the same cell */
        ping(3, jan, nov, true), /* first ping since consent: its own cell */
    };
    assert_int_equal(write_batch(f->store, r, 4), STS_OK);
    assert_int_equal(r[0].outcome, STORE_NEW);
    assert_int_equal(r[1].outcome, STORE_DUPLICATE);
    assert_int_equal(r[2].outcome, STORE_NEW);
    assert_int_equal(r[3].outcome, STORE_NEW);
    struct store_record again = ping(2, jan, nov, false);
    assert_int_equal(write_batch(f->store, &again, 1), STS_OK);
    assert_int_equal(again.outcome, STORE_DUPLICATE);

    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id"), 3);
    assert_int_equal(count(f->path, "SELECT count(*) FROM lifetime_count"), 2);
    assert_int_equal(count(f->path, "SELECT count FROM lifetime_count WHERE first=0"), 2);
    assert_int_equal(count(f->path, "SELECT count FROM lifetime_count WHERE first=1"), 1);
    /* Pings carry no device: nothing in the device tables. */
    assert_int_equal(count(f->path, "SELECT count(*) FROM activation"), 0);
    assert_int_equal(count(f->path, "SELECT count(*) FROM sales_day"), 0);
}

static void sales_rollup_sums(void **state)
{
    (void)state;
    struct fixture *f = *state;
    static const char *const models[] = {"K400", "K500", "K600"};
    static const char *const countries[] = {"FR", "DE", ""};
    int64_t per_day[10] = {0};
    unsigned rid = 1000;
    /* 300 devices over 10 days in batches of 37; every 5th device is
     * activated a second time. */
    struct store_record batch[64];
    size_t n = 0;
    int64_t reacts = 0;
    for (unsigned dev = 1; dev <= 300; dev++) {
        int32_t d = (int32_t)(dev * 7 % 10);
        batch[n++] = act(dev, rid++, DAY + d, models[dev % 3], countries[dev / 3 % 3]);
        per_day[d]++;
        if (dev % 5 == 0) {
            batch[n++] = act(dev, rid++, DAY + d, models[dev % 3], countries[dev / 3 % 3]);
            reacts++;
        }
        if (n >= 37 || dev == 300) {
            assert_int_equal(write_batch(f->store, batch, n), STS_OK);
            n = 0;
        }
    }
    struct sums all = sales(f->store, INT32_MIN, INT32_MAX);
    assert_int_equal(all.activations, 300);
    assert_int_equal(all.reactivations, reacts);
    assert_int_equal(count(f->path, "SELECT sum(activations) FROM sales_day"), 300);
    for (int d = 0; d < 10; d++) {
        struct sums one = sales(f->store, DAY + d, DAY + d);
        assert_int_equal(one.activations, per_day[d]);
    }
    struct sums some = sales(f->store, DAY + 2, DAY + 4);
    assert_int_equal(some.activations, per_day[2] + per_day[3] + per_day[4]);
    struct sums none = sales(f->store, DAY + 100, DAY + 200);
    assert_int_equal(none.rows, 0);
}

static int stop_after_one(const struct store_sales_row *row, void *ctx)
{
    (void)row;
    (*(int *)ctx)++;
    return 1;
}

static void sales_callback_stops(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store_record r[3] = {act(1, 1, DAY, "K400", "FR"), act(2, 2, DAY + 1, "K400", "FR"),
                                act(3, 3, DAY + 2, "K400", "FR")};
    assert_int_equal(write_batch(f->store, r, 3), STS_OK);
    int calls = 0;
    assert_int_equal(store_sales(f->store, INT32_MIN, INT32_MAX, stop_after_one, &calls), STS_OK);
    assert_int_equal(calls, 1);
}

static void export_erase_audit(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store_record r[4] = {act(1, 1, DAY, "K400", "FR"), act(1, 2, DAY + 1, "K400", "FR"),
                                act(2, 3, DAY, "K500", "DE"),
                                ping(9, 2026 * 12, 2026 * 12 + 10, false)};
    assert_int_equal(write_batch(f->store, r, 4), STS_OK);
    struct store_audit au;
    assert_int_equal(store_audit(f->store, &au), STS_OK);
    assert_int_equal(au.devices, 2);
    assert_int_equal(au.reactivations, 1);
    assert_int_equal(au.sales_cells, 3);
    assert_int_equal(au.lifetime_cells, 1);
    assert_int_equal(au.version_cells, 1);
    assert_int_equal(au.report_ids, 4); /* 3 activations, 1 ping */
    assert_int_equal(au.key_ids, 1);

    int64_t erased = -1;
    assert_int_equal(store_device_erase(f->store, r[0].pseudonym, &erased), STS_OK);
    assert_int_equal(erased, 2);
    struct store_device d;
    assert_int_equal(store_device_get(f->store, r[0].pseudonym, &d), STS_ENOENT);
    assert_int_equal(store_device_get(f->store, r[2].pseudonym, &d), STS_OK);
    assert_int_equal(store_device_erase(f->store, r[0].pseudonym, &erased), STS_OK);
    assert_int_equal(erased, 0);
    /* Anonymous counters stay. */
    struct sums s = sales(f->store, INT32_MIN, INT32_MAX);
    assert_int_equal(s.activations, 2);
    assert_int_equal(s.reactivations, 1);
    /* An erased device that comes back is a new device; a retry of a report
     * it sent before is still a duplicate while its id is kept (report ids
     * name no device, so erasure does not find them; they expire). */
    struct store_record retry = act(1, 1, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &retry, 1), STS_OK);
    assert_int_equal(retry.outcome, STORE_DUPLICATE);
    struct store_record back = act(1, 7, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &back, 1), STS_OK);
    assert_int_equal(back.outcome, STORE_NEW);
}

static void reopen_keeps_data(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store_record r[2] = {act(1, 1, DAY, "K400", "FR"), ping(5, 2026 * 12, 2026 * 12, true)};
    assert_int_equal(write_batch(f->store, r, 2), STS_OK);
    store_close(f->store);
    f->store = NULL;
    char why[256] = "";
    /* Reopen without STORE_CREATE, as the admin commands do. */
    assert_int_equal(store_open(f->path, 0, &f->store, why, sizeof why), STS_OK);
    struct store_device d;
    assert_int_equal(store_device_get(f->store, r[0].pseudonym, &d), STS_OK);
    assert_int_equal(d.month, sts_day_month(DAY));
    struct store_record again[2] = {act(1, 1, DAY, "K400", "FR"),
                                    ping(5, 2026 * 12, 2026 * 12, true)};
    assert_int_equal(write_batch(f->store, again, 2), STS_OK);
    assert_int_equal(again[0].outcome, STORE_DUPLICATE);
    assert_int_equal(again[1].outcome, STORE_DUPLICATE);
}

static void open_errors(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store *s = NULL;
    char why[256] = "", p[200];

    snprintf(p, sizeof p, "sqlite:%s/missing.db", f->dir);
    assert_int_equal(store_open(p, 0, &s, why, sizeof why), STS_ENOENT);
    assert_non_null(strstr(why, "no database at"));
    assert_int_equal(access(p + 7, F_OK), -1);

    why[0] = '\0';
    assert_int_equal(store_open("mysql://host/db", 0, &s, why, sizeof why), STS_EINVAL);
    assert_non_null(strstr(why, "unknown database URI scheme"));
    /* A PostgreSQL URI goes to libpq: no server behind this socket directory. */
    snprintf(p, sizeof p, "postgresql:///db?host=%s/no-such-dir", f->dir);
    assert_int_equal(store_open(p, 0, &s, why, sizeof why), STS_EIO);
    assert_non_null(strstr(why, "cannot connect to PostgreSQL"));

    /* A file that is not a database. */
    snprintf(p, sizeof p, "%s/not-a-db", f->dir);
    FILE *junk = fopen(p, "w");
    assert_non_null(junk);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database file\n", junk);
    fclose(junk);
    why[0] = '\0';
    assert_int_equal(store_open(p, 0, &s, why, sizeof why), STS_ECORRUPT);
    assert_true(why[0] != '\0');
    unlink(p);

    /* A database from a newer collector. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(f->path, 0, &s, why, sizeof why), STS_EUNSUPPORTED);
    assert_non_null(strstr(why, "newer"));
}

static void expect_all_failed(struct store_record *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r[i].outcome, STORE_FAILED);
}

static void expect_nothing_written(const char *path)
{
    static const char *const tables[] = {"activation",     "reactivation",  "sales_day",
                                         "lifetime_count", "version_count", "report_id"};
    char sql[64];
    for (size_t i = 0; i < 6; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
        assert_int_equal(count(path, sql), 0);
    }
}

/* Another connection holds the write lock: BEGIN IMMEDIATE times out. */
static void fails_when_locked(void **state)
{
    (void)state;
    struct fixture *f = *state;
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    struct store_record r[3] = {act(1, 1, DAY, "K400", "FR"), act(1, 2, DAY, "K400", "FR"),
                                ping(3, 2026 * 12, 2026 * 12, false)};
    assert_int_equal(write_batch(f->store, r, 3), STS_EIO);
    expect_all_failed(r, 3);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    expect_nothing_written(f->path);

    /* Once the lock is gone the same records go in, as if never tried. */
    assert_int_equal(write_batch(f->store, r, 3), STS_OK);
    assert_int_equal(r[0].outcome, STORE_NEW);
    assert_int_equal(r[1].outcome, STORE_REACTIVATION);
    assert_int_equal(r[2].outcome, STORE_NEW);
}

/* A statement fails in the middle of a batch, after earlier records of the
 * batch were written: the whole batch is rolled back. */
static void fails_mid_batch(void **state)
{
    (void)state;
    struct fixture *f = *state;
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other,
                                  "CREATE TRIGGER inject BEFORE INSERT ON sales_day"
                                  " WHEN NEW.model = 'BOOM'"
                                  " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    struct store_record r[4] = {act(1, 1, DAY, "K400", "FR"), ping(2, 2026 * 12, 2026 * 12, false),
                                act(3, 3, DAY, "BOOM", "FR"), act(4, 4, DAY, "K500", "FR")};
    assert_int_equal(write_batch(f->store, r, 4), STS_EIO);
    expect_all_failed(r, 4);
    expect_nothing_written(f->path);

    /* The store is usable afterwards. */
    assert_int_equal(sqlite3_exec(other, "DROP TRIGGER inject", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(write_batch(f->store, r, 4), STS_OK);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(r[i].outcome, STORE_NEW);
    assert_int_equal(count(f->path, "SELECT count(*) FROM activation"), 3);
}

/* Erase while another connection holds the lock fails and erases nothing. */
static void erase_fails_when_locked(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store_record r = act(1, 1, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &r, 1), STS_OK);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    int64_t erased = -1;
    assert_int_equal(store_device_erase(f->store, r.pseudonym, &erased), STS_EIO);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    struct store_device d;
    assert_int_equal(store_device_get(f->store, r.pseudonym, &d), STS_OK);
}

/* ---- what is kept at rest (schema 4) ---- */

/* The columns of a table, "a,b,c". */
static void columns(const char *path, const char *table, char *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    char sql[128];
    size_t n = 0;
    out[0] = '\0';
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", table);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "",
                              (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* No column of a device table says what the device is, when to the day, or
 * which report it sent; and the values are what the columns say. */
static void device_tables_hold_no_class(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct store_record r[4] = {act(1, 1, DAY, "K400", "FR"), act(1, 2, DAY + 12, "K400", "FR"),
                                act(2, 3, DAY, "K500", "DE"),
                                ping(4, 2026 * 12, 2026 * 12 + 10, false)};
    assert_int_equal(write_batch(f->store, r, 4), STS_OK);
    char cols[256];
    columns(f->path, "activation", cols, sizeof cols);
    assert_string_equal(cols, "pseudonym,key_id,month");
    columns(f->path, "reactivation", cols, sizeof cols);
    assert_string_equal(cols, "pseudonym,month");
    /* Report ids are kept apart from any pseudonym. */
    columns(f->path, "report_id", cols, sizeof cols);
    assert_string_equal(cols, "report_id,expires");
    /* No table but the counters holds a class: every table with a pseudonym
     * has none of these columns. */
    assert_int_equal(count(f->path, "SELECT count(*) FROM sqlite_master m,"
                                    " pragma_table_info(m.name) c WHERE m.type = 'table'"
                                    " AND m.name IN (SELECT m2.name FROM sqlite_master m2,"
                                    " pragma_table_info(m2.name) c2 WHERE c2.name = 'pseudonym')"
                                    " AND c.name IN ('brand','model','sw','country','report_id',"
                                    " 'day','cohort','period')"),
                     0);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM activation WHERE month = %d",
             (int)sts_day_month(DAY));
    assert_int_equal(count(f->path, sql), 2);
    assert_int_equal(count(f->path, "SELECT count(*) FROM reactivation"), 1);
    /* The lifetime counters hold no sw and no country: those are in the
     * version counter, which holds no cohort. */
    columns(f->path, "lifetime_count", cols, sizeof cols);
    assert_string_equal(cols, "period,cohort,brand,model,first,count");
    columns(f->path, "version_count", cols, sizeof cols);
    assert_string_equal(cols, "period,brand,model,sw,count");
}

static void late_report_rule(void **state)
{
    (void)state;
    int32_t today = sts_day_from_ymd(2026, 12, 5), day, period, cohort;
    struct store_record a = act(1, 1, today - 7, "K400", "FR");
    /* Day d is closed once today > d + 7: today - 7 is open, today - 8 not. */
    store_counted_at(&a, today, 7, &day, &period, &cohort);
    assert_int_equal(day, today - 7);
    a.day = today - 8;
    store_counted_at(&a, today, 7, &day, &period, &cohort);
    assert_int_equal(day, today - 7);
    a.day = today - 400;
    store_counted_at(&a, today, 7, &day, &period, &cohort);
    assert_int_equal(day, today - 7);
    a.day = today + 1;
    store_counted_at(&a, today, 7, &day, &period, &cohort);
    assert_int_equal(day, today + 1);
    a.day = today - 3;
    store_counted_at(&a, today, 0, &day, &period, &cohort);
    assert_int_equal(day, today);

    /* November closes after 2026-12-07 with 7 days of grace. */
    int32_t jan = 2026 * 12, oct = 2026 * 12 + 9, nov = oct + 1, dec = nov + 1;
    struct store_record p = ping(1, jan, nov, false);
    store_counted_at(&p, sts_day_from_ymd(2026, 12, 7), 7, &day, &period, &cohort);
    assert_int_equal(period, nov);
    assert_int_equal(cohort, jan);
    store_counted_at(&p, sts_day_from_ymd(2026, 12, 8), 7, &day, &period, &cohort);
    assert_int_equal(period, dec);
    assert_int_equal(cohort, jan + 1); /* the same age, ten months */
    p.period = oct;
    p.cohort = oct;
    p.first = true;
    store_counted_at(&p, sts_day_from_ymd(2026, 12, 5), 7, &day, &period, &cohort);
    assert_int_equal(period, nov);
    assert_int_equal(cohort, nov);
    /* An open month is kept. */
    p.period = dec;
    p.cohort = jan;
    store_counted_at(&p, sts_day_from_ymd(2026, 12, 5), 7, &day, &period, &cohort);
    assert_int_equal(period, dec);
    assert_int_equal(cohort, jan);
}

static void serve_policy(struct store *s)
{
    struct store_policy pol;
    store_policy_defaults(&pol);
    assert_true(pol.late_shift);
    assert_int_equal(pol.report_id_days, 30);
    assert_int_equal(pol.grace_days, 7);
    assert_int_equal(store_set_policy(s, &pol), STS_OK);
    struct store_policy bad = pol;
    bad.report_id_days = 0;
    assert_int_equal(store_set_policy(s, &bad), STS_EINVAL);
    bad = pol;
    bad.grace_days = 28;
    assert_int_equal(store_set_policy(s, &bad), STS_EINVAL);
}

/* Late reports go to the first open period; the closed cells don't move. */
static void late_reports_counted_open(void **state)
{
    (void)state;
    struct fixture *f = *state;
    setenv("STS_NOW_DAY", "2026-12-10", 1);
    sts_clock_reload();
    serve_policy(f->store);
    int32_t today = sts_day_from_ymd(2026, 12, 10);
    int32_t jan = 2026 * 12, oct = jan + 9, nov = jan + 10, dec = jan + 11;
    struct store_record r[4] = {act(1, 1, DAY, "K400", "FR"), /* 2026-11-20: closed */
                                act(2, 2, today - 2, "K400", "FR"), ping(3, jan, oct, false),
                                ping(4, jan, dec, false)};
    assert_int_equal(write_batch(f->store, r, 4), STS_OK);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT activations FROM sales_day WHERE day = %d", (int)today - 7);
    assert_int_equal(count(f->path, sql), 1);
    snprintf(sql, sizeof sql, "SELECT activations FROM sales_day WHERE day = %d", (int)today - 2);
    assert_int_equal(count(f->path, sql), 1);
    assert_int_equal(count(f->path, "SELECT count(*) FROM sales_day"), 2);
    snprintf(sql, sizeof sql, "SELECT sum(count) FROM lifetime_count WHERE period = %d", (int)dec);
    assert_int_equal(count(f->path, sql), 2);
    snprintf(sql, sizeof sql, "SELECT count FROM lifetime_count WHERE cohort = %d", (int)jan + 2);
    assert_int_equal(count(f->path, sql), 1); /* October's ping: age 9 kept */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM lifetime_count WHERE period <= %d", (int)nov);
    assert_int_equal(count(f->path, sql), 0);
    snprintf(sql, sizeof sql, "SELECT sum(count) FROM version_count WHERE period = %d", (int)dec);
    assert_int_equal(count(f->path, sql), 2);
    /* The device row has the month it is counted in. */
    snprintf(sql, sizeof sql, "SELECT month FROM activation WHERE month = %d", (int)dec);
    assert_int_equal(count(f->path, sql), dec);
    unsetenv("STS_NOW_DAY");
    sts_clock_reload();
}

/* Activation ids go report_id_days after receipt, ping ids when their month
 * closes; a first activation retried after its window is a re-activation. */
static void report_ids_expire(void **state)
{
    (void)state;
    struct fixture *f = *state;
    setenv("STS_NOW_DAY", "2026-11-20", 1);
    sts_clock_reload();
    serve_policy(f->store);
    int32_t nov = 2026 * 12 + 10;
    struct store_record r[2] = {act(1, 1, DAY, "K400", "FR"), ping(2, 2026 * 12, nov, false)};
    assert_int_equal(write_batch(f->store, r, 2), STS_OK);
    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id"), 2);
    int64_t purged = -1;
    /* 2026-12-08: November's grace window has closed, the activation's 30
     * days have not. */
    setenv("STS_NOW_DAY", "2026-12-08", 1);
    sts_clock_reload();
    assert_int_equal(store_purge(f->store, 100, &purged), STS_OK);
    assert_int_equal(purged, 1);
    struct store_record again = act(1, 1, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &again, 1), STS_OK);
    assert_int_equal(again.outcome, STORE_DUPLICATE);
    /* 2026-12-21: the activation's id is gone (kept until 2026-12-20). */
    setenv("STS_NOW_DAY", "2026-12-21", 1);
    sts_clock_reload();
    assert_int_equal(store_purge(f->store, 100, &purged), STS_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id"), 0);
    again = act(1, 1, DAY, "K400", "FR");
    assert_int_equal(write_batch(f->store, &again, 1), STS_OK);
    assert_int_equal(again.outcome, STORE_REACTIVATION);
    struct sums s = sales(f->store, INT32_MIN, INT32_MAX);
    assert_int_equal(s.activations, 1); /* never a second sale */
    assert_int_equal(s.reactivations, 1);

    /* The writer purges too: the first commit of a store opened later. */
    store_close(f->store);
    char why[256];
    assert_int_equal(store_open(f->uri, 0, &f->store, why, sizeof why), STS_OK);
    serve_policy(f->store);
    setenv("STS_NOW_DAY", "2027-02-01", 1);
    sts_clock_reload();
    struct store_record other = act(9, 9, sts_day_from_ymd(2027, 2, 1), "K400", "FR");
    assert_int_equal(write_batch(f->store, &other, 1), STS_OK);
    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id"), 1); /* only its own */
    unsetenv("STS_NOW_DAY");
    sts_clock_reload();
}

/* Writes n activations numbered from first, in batches of 500, today. */
static void write_many(struct store *s, unsigned first, unsigned n)
{
    static struct store_record batch[500];
    struct store_record *ptrs[500];
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done < 500 ? n - done : 500;
        for (unsigned i = 0; i < k; i++, done++) {
            batch[i] = act(first + done, first + done, sts_day_today(), "K400", "FR");
            ptrs[i] = &batch[i];
        }
        assert_int_equal(store_write(s, ptrs, k), STS_OK);
    }
}

/* The purge walks the report ids in windows of 5,000 (there is no index on
 * their expiry): store_purge deletes up to its max and, when it deletes
 * fewer, none expired is left, wherever they lie in the table; the writer
 * goes on with one window after each commit until it has walked the whole
 * table, then stops; ids not yet expired stay. A database made with the old
 * index on the expiry loses it at open. */
static void purge_walks_every_window(void **state)
{
    struct fixture *f = *state;
    setenv("STS_NOW_DAY", "2026-11-01", 1);
    sts_clock_reload();
    serve_policy(f->store);
    write_many(f->store, 0, 12000); /* kept until 2026-12-01 */
    setenv("STS_NOW_DAY", "2026-11-20", 1);
    sts_clock_reload();
    write_many(f->store, 100000, 3000); /* until 2026-12-20 */
    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id"), 15000);

    setenv("STS_NOW_DAY", "2026-12-05", 1);
    sts_clock_reload();
    int64_t purged = -1;
    assert_int_equal(store_purge(f->store, 5000, &purged), STS_OK);
    assert_int_equal(purged, 5000);
    assert_int_equal(store_purge(f->store, 5000, &purged), STS_OK);
    assert_int_equal(purged, 5000);
    assert_int_equal(store_purge(f->store, 5000, &purged), STS_OK);
    assert_int_equal(purged, 2000);
    assert_int_equal(store_purge(f->store, 5000, &purged), STS_OK);
    assert_int_equal(purged, 0);
    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id"), 3000);
    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id WHERE expires < 20792"), 0);

    /* The writer: 12,000 more expired among 15,000 ids. An old database's
     * index, made here by hand, goes at the next open. */
    setenv("STS_NOW_DAY", "2026-11-01", 1);
    sts_clock_reload();
    write_many(f->store, 200000, 12000);
    store_close(f->store);
    f->store = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE INDEX report_id_expires ON report_id(expires)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    setenv("STS_NOW_DAY", "2026-12-05", 1);
    sts_clock_reload();
    char why[256];
    assert_int_equal(store_open(f->uri, 0, &f->store, why, sizeof why), STS_OK);
    serve_policy(f->store);
    assert_int_equal(
        count(f->path, "SELECT count(*) FROM sqlite_master WHERE name='report_id_expires'"), 0);
    int commits = 0;
    for (; commits < 10 && count(f->path, "SELECT count(*) FROM report_id WHERE expires < "
                                          "20792") > 0;
         commits++)
        write_many(f->store, 300000 + (unsigned)commits, 1);
    print_message("the writer purged 12,000 of 15,000 ids in %d commits\n", commits);
    assert_true(commits >= 3 && commits <= 4); /* 15,000 ids: three windows, four with the new */
    assert_int_equal(count(f->path, "SELECT count(*) FROM report_id"), 3000 + commits);
    unsetenv("STS_NOW_DAY");
    sts_clock_reload();
}

/* A device adds at most one re-activation to the counters per month; every
 * re-activation is still answered as one. */
static void reactivation_once_a_month(void **state)
{
    (void)state;
    struct fixture *f = *state;
    int32_t dec1 = sts_day_from_ymd(2026, 12, 1);
    struct store_record r[5] = {act(1, 1, DAY, "K400", "FR"), act(1, 2, DAY + 1, "K400", "FR"),
                                act(1, 3, DAY + 2, "K400", "FR"), act(1, 4, DAY + 5, "K400", "FR"),
                                act(1, 5, dec1, "K400", "FR")};
    assert_int_equal(write_batch(f->store, r, 3), STS_OK);
    assert_int_equal(write_batch(f->store, r + 3, 2), STS_OK);
    assert_int_equal(r[0].outcome, STORE_NEW);
    for (int i = 1; i < 5; i++)
        assert_int_equal(r[i].outcome, STORE_REACTIVATION);
    struct sums s = sales(f->store, INT32_MIN, INT32_MAX);
    assert_int_equal(s.activations, 1);
    assert_int_equal(s.reactivations, 2); /* November once, December once */
    assert_int_equal(count(f->path, "SELECT count(*) FROM reactivation"), 2);
    struct store_device d;
    assert_int_equal(store_device_get(f->store, r[0].pseudonym, &d), STS_OK);
    assert_int_equal(d.reactivations, 2);
    assert_int_equal(d.react_month[1], sts_day_month(dec1));
}

static long file_size(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    return n;
}

/* A burst of writes much larger than the WAL bound leaves a WAL under it
 * once it is over; during it the WAL stays under the hard bound. */
static void wal_bounded_after_burst(void **state)
{
    (void)state;
    struct fixture *f = *state;
    static struct store_record batch[1000];
    struct store_record *ptrs[1000];
    static const char *const models[] = {"K400", "K500", "K600", "P10", "X1"};
    unsigned dev = 0;
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    long largest = 0;
    for (int b = 0; b < 61; b++) {
        size_t n = b < 60 ? 1000 : 10; /* the last: the queue has drained */
        for (size_t i = 0; i < n; i++, dev++) {
            batch[i] = act(dev, dev, DAY - (int32_t)(dev % 300), models[dev % 5], "FR");
            snprintf(batch[i].sw, sizeof batch[i].sw, "V%u", dev % 97);
            ptrs[i] = &batch[i];
        }
        long before = file_size(wal);
        assert_int_equal(store_write(f->store, ptrs, n), STS_OK);
        if (before > largest)
            largest = before;
    }
    /* After the burst the WAL goes: at the first quiet commit, or within a
     * quiet second by the background checkpointer when that commit found
     * it busy (a loaded machine); wait for it, boundedly. */
    long after = file_size(wal);
    for (int i = 0; i < 150 && after != 0; i++) {
        usleep(100 * 1000);
        after = file_size(wal);
    }
    long db = file_size(f->path);
    print_message("database %ld bytes, largest WAL %ld bytes, after the burst %ld\n", db, largest,
                  after);
    /* The burst wrote more than the bound (the WAL held more than it at
     * some point, so the check below is not vacuous)... */
    assert_true(db > (4L << 20));
    assert_true(largest > (4L << 20));
    /* ...never more than the hard bound and a batch, and after it nothing. */
    assert_true(largest <= (64L << 20) + (8L << 20));
    assert_int_equal(after, 0);
    assert_int_equal(count(f->path, "SELECT count(*) FROM activation"), 60010);
}

/* The salt of the WAL's header (bytes 16 to 23): new at every restart. */
static uint64_t wal_salt(const char *wal)
{
    unsigned char h[24] = {0};
    FILE *fp = fopen(wal, "rb");
    if (fp) {
        if (fread(h, 1, sizeof h, fp) != sizeof h)
            memset(h, 0, sizeof h);
        fclose(fp);
    }
    uint64_t v = 0;
    for (int i = 16; i < 24; i++)
        v = v << 8 | h[i];
    return v;
}

/* Under a steady load (batches back to back, never a quiet one) the WAL
 * starts again from its beginning once it holds 32 MiB, without being
 * truncated: its header gets a new salt while the file keeps its size,
 * written over in place. Before, a passive checkpoint seldom reached the
 * end of a WAL still growing, and the WAL went to the writer's 64 MiB
 * bound, where it was truncated. */
static void wal_restarts_in_place(void **state)
{
    struct fixture *f = *state;
    static struct store_record batch[500];
    struct store_record *ptrs[500];
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    unsigned dev = 0;
    int in_place = 0, truncated = 0;
    long largest = 0, prev_size = 0;
    uint64_t prev_salt = 0;
    for (int b = 0; b < 200; b++) {
        for (size_t i = 0; i < 500; i++, dev++) {
            batch[i] = act(dev, dev, DAY - (int32_t)(dev % 300), "K400", "FR");
            ptrs[i] = &batch[i];
        }
        assert_int_equal(store_write(f->store, ptrs, 500), STS_OK);
        long size = file_size(wal);
        uint64_t salt = wal_salt(wal);
        if (b > 0 && salt != prev_salt) {
            if (size >= prev_size)
                in_place++;
            else
                truncated++;
        }
        if (size > largest)
            largest = size;
        prev_size = size, prev_salt = salt;
    }
    print_message("WAL restarts: %d in place, %d after a truncation; largest %ld bytes\n", in_place,
                  truncated, largest);
    /* Without the checkpointer's restarts (SQLite's own come only when a
     * pass happens to catch up between two batches) the WAL reached 63 MiB
     * and was truncated there 4 times. */
    assert_true(in_place >= 1);
    assert_int_equal(truncated, 0);
    assert_true(largest < (56L << 20));
    assert_int_equal(count(f->path, "SELECT count(*) FROM activation"), 100000);
}

/* ---- upgrades from real old databases ---- */

static const char schema1[] =
    "CREATE TABLE activation(pseudonym BLOB PRIMARY KEY NOT NULL, key_id INTEGER NOT NULL,"
    " report_id BLOB NOT NULL, day INTEGER NOT NULL, brand TEXT NOT NULL, model TEXT NOT NULL,"
    " sw TEXT NOT NULL, country TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE reactivation(pseudonym BLOB NOT NULL, report_id BLOB NOT NULL,"
    " day INTEGER NOT NULL, brand TEXT NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL,"
    " country TEXT NOT NULL, PRIMARY KEY(pseudonym, report_id)) WITHOUT ROWID;"
    "CREATE TABLE sales_day(day INTEGER NOT NULL, brand TEXT NOT NULL, model TEXT NOT NULL,"
    " sw TEXT NOT NULL, country TEXT NOT NULL, activations INTEGER NOT NULL,"
    " reactivations INTEGER NOT NULL, PRIMARY KEY(day, brand, model, sw, country)) WITHOUT ROWID;"
    "CREATE TABLE lifetime_count(period INTEGER NOT NULL, cohort INTEGER NOT NULL,"
    " brand TEXT NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL, country TEXT NOT NULL,"
    " first INTEGER NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY(period, cohort, brand, model, sw, country, first)) WITHOUT ROWID;"
    "CREATE TABLE ping_seen(report_id BLOB PRIMARY KEY NOT NULL, period INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    /* Two devices of 2026-11-20 (one re-activated twice), pings of November. */
    "INSERT INTO activation VALUES(x'01', 7, x'a1000000000000000000000000000000', 20777, 'acme', "
    "'K400', 'K400-V12', 'FR'),"
    " (x'02', 7, x'a2000000000000000000000000000000', 20777, 'acme', 'K400', 'K400-V12', '');"
    "INSERT INTO reactivation VALUES(x'01', x'a3000000000000000000000000000000', 20778, 'acme', "
    "'K400', 'K400-V12', 'DE'),"
    " (x'01', x'a4000000000000000000000000000000', 20779, 'acme', 'K400', 'K400-V12', 'DE');"
    "INSERT INTO sales_day VALUES(20777, 'acme', 'K400', 'K400-V12', 'FR', 1, 0),"
    " (20777, 'acme', 'K400', 'K400-V12', '', 1, 0), (20778, 'acme', 'K400', 'K400-V12', 'DE', 0, "
    "1),"
    " (20779, 'acme', 'K400', 'K400-V12', 'DE', 0, 1);"
    "INSERT INTO lifetime_count VALUES(24322, 24312, 'acme', 'K400', 'K400-V12', 'FR', 0, 3),"
    " (24322, 24312, 'acme', 'K400', 'K400-V13', 'DE', 0, 2),"
    " (24322, 24312, 'acme', 'K400', 'K400-V13', 'FR', 0, 1);"
    "INSERT INTO ping_seen VALUES(x'b1000000000000000000000000000000', 24322), "
    "(x'b2000000000000000000000000000000', 24322), (x'b3000000000000000000000000000000', 24310);";
static const char schema2[] =
    "CREATE TABLE sales_day_mc(day INTEGER NOT NULL, model TEXT NOT NULL, country TEXT NOT NULL,"
    " activations INTEGER NOT NULL, reactivations INTEGER NOT NULL,"
    " PRIMARY KEY(day, model, country)) WITHOUT ROWID;"
    "CREATE TABLE life_model(period INTEGER NOT NULL, cohort INTEGER NOT NULL,"
    " model TEXT NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY(period, cohort, model, first)) WITHOUT ROWID;"
    "CREATE TABLE life_sw(period INTEGER NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL,"
    " count INTEGER NOT NULL, PRIMARY KEY(period, model, sw)) WITHOUT ROWID;"
    "INSERT INTO sales_day_mc SELECT day, model, country, sum(activations), sum(reactivations)"
    " FROM sales_day GROUP BY 1, 2, 3;"
    "INSERT INTO life_model SELECT period, cohort, model, first, sum(count) FROM lifetime_count"
    " GROUP BY 1, 2, 3, 4;"
    "INSERT INTO life_sw SELECT period, model, sw, sum(count) FROM lifetime_count GROUP BY 1, 2, "
    "3;";
static const char schema3[] =
    "CREATE TABLE release_meta(name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;"
    "INSERT INTO release_meta VALUES('seed', zeroblob(32)), ('rho', 0.25);";

static void upgrade_from(const char *path, int version)
{
    sqlite3 *db;
    char sql[64];
    unlink(path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema1, NULL, NULL, NULL), SQLITE_OK);
    if (version >= 2)
        assert_int_equal(sqlite3_exec(db, schema2, NULL, NULL, NULL), SQLITE_OK);
    if (version >= 3)
        assert_int_equal(sqlite3_exec(db, schema3, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", version);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* 2026-11-25: the November ids are in their window, the ping of
     * 2026-09 (x'b3000000000000000000000000000000') is not. */
    setenv("STS_NOW_DAY", "2026-11-25", 1);
    sts_clock_reload();
    struct store *s;
    char why[256] = "";
    assert_int_equal(store_open(path, 0, &s, why, sizeof why), STS_OK);
    assert_int_equal(count(path, "PRAGMA user_version"), 4);
    char cols[256];
    columns(path, "activation", cols, sizeof cols);
    assert_string_equal(cols, "pseudonym,key_id,month");
    columns(path, "reactivation", cols, sizeof cols);
    assert_string_equal(cols, "pseudonym,month");
    assert_int_equal(count(path, "SELECT count(*) FROM activation WHERE month = 24322"), 2);
    assert_int_equal(count(path, "SELECT count(*) FROM reactivation WHERE month = 24322"), 1);
    assert_int_equal(count(path, "SELECT count(*) FROM report_id"), 6);
    assert_int_equal(count(path, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                 " ('ping_seen', 'life_sw', 'activation_3', 'reactivation_3',"
                                 " 'lifetime_count_3')"),
                     0);
    assert_int_equal(count(path, "SELECT sum(count) FROM lifetime_count"), 6);
    assert_int_equal(count(path, "SELECT count(*) FROM lifetime_count"), 1);
    assert_int_equal(count(path, "SELECT count FROM version_count WHERE sw = 'K400-V13'"), 3);
    assert_int_equal(count(path, "SELECT sum(count) FROM life_model"), 6);
    assert_int_equal(count(path, "SELECT sum(activations) FROM sales_day_mc"), 2);
    struct store_release rel;
    assert_int_equal(store_release_get(s, &rel), STS_OK);
    static const uint8_t zero[STORE_SEED_LEN] = {0};
    if (version == 3) { /* the release parameters are kept */
        assert_memory_equal(rel.seed, zero, STORE_SEED_LEN);
        assert_true(rel.rho == 0.25);
    } else {
        assert_memory_not_equal(rel.seed, zero, STORE_SEED_LEN);
    }
    /* Retries of the old reports are still duplicates. */
    struct store_record r[3] = {act(0, 0, 20777, "K400", "FR"), act(0, 0, 20777, "K400", "FR"),
                                ping(0, 24312, 24322, false)};
    memset(r[0].pseudonym, 0, sizeof r[0].pseudonym);
    r[0].pseudonym[0] = 1;
    memset(r[0].report_id, 0, 16);
    r[0].report_id[0] = 0xa4;
    r[1] = r[0];
    r[1].report_id[0] = 0xa1;
    memset(r[2].report_id, 0, 16);
    r[2].report_id[0] = 0xb2;
    assert_int_equal(write_batch(s, r, 3), STS_OK);
    assert_int_equal(r[0].outcome, STORE_DUPLICATE);
    assert_int_equal(r[1].outcome, STORE_DUPLICATE);
    assert_int_equal(r[2].outcome, STORE_DUPLICATE);
    store_close(s);
    unsetenv("STS_NOW_DAY");
    sts_clock_reload();
}

static void upgrades(void **state)
{
    (void)state;
    struct fixture *f = *state;
    char path[200];
    for (int v = 1; v <= 3; v++) {
        snprintf(path, sizeof path, "%s/v%d.db", f->dir, v);
        upgrade_from(path, v);
        static const char *const suffix[] = {"", "-wal", "-shm"};
        char p[220];
        for (size_t i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s%s", path, suffix[i]);
            unlink(p);
        }
    }
}

int main(void)
{
    /* Lock waits of 50 ms instead of 10 s (sts/clock.h: read at first use). */
    setenv("STS_SQLITE_BUSY_TIMEOUT_MS", "50", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(outcomes_within_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(outcomes_across_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(lifetime_counters_and_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(sales_rollup_sums, setup, teardown),
        cmocka_unit_test_setup_teardown(sales_callback_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(export_erase_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(fails_when_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(fails_mid_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(erase_fails_when_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(device_tables_hold_no_class, setup, teardown),
        cmocka_unit_test(late_report_rule),
        cmocka_unit_test_setup_teardown(late_reports_counted_open, setup, teardown),
        cmocka_unit_test_setup_teardown(report_ids_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(reactivation_once_a_month, setup, teardown),
        cmocka_unit_test_setup_teardown(purge_walks_every_window, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_bounded_after_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_restarts_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(upgrades, setup, teardown),
    };
    return cmocka_run_group_tests_name("collector_store", tests, NULL, NULL);
}
