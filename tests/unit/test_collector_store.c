/* The SQLite store through the store.h interface, on a temporary file:
 * outcomes (new, duplicate, re-activation) within one batch and across
 * batches, lifetime counters and ping de-duplication, the sales rollup,
 * export/erase/audit, reopening, open errors, and injected failures (a lock
 * held by another connection; an error in the middle of a batch), after which
 * every outcome is STORE_FAILED and nothing is written. */
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
        act(2, 100, DAY, "K500", ""),       /* another device */
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
    /* The device row keeps its first activation. */
    struct store_device d;
    assert_int_equal(store_device_get(f->store, a.pseudonym, &d), STS_OK);
    assert_int_equal(d.day, DAY);
    assert_string_equal(d.country, "FR");
    assert_memory_equal(d.report_id, a.report_id, 16);
    assert_int_equal(d.reactivations, 1);
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

    assert_int_equal(count(f->path, "SELECT count(*) FROM ping_seen"), 3);
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
    assert_int_equal(au.pings_seen, 1);
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
    /* An erased device that comes back is a new device. */
    struct store_record back = act(1, 1, DAY, "K400", "FR");
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
    assert_string_equal(d.model, "K400");
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
    assert_int_equal(store_open("postgresql://host/db", 0, &s, why, sizeof why), STS_EUNSUPPORTED);

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
    static const char *const tables[] = {"activation", "reactivation", "sales_day",
                                         "lifetime_count", "ping_seen"};
    char sql[64];
    for (size_t i = 0; i < 5; i++) {
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
    };
    return cmocka_run_group_tests_name("collector_store", tests, NULL, NULL);
}
