/* Unit tests of the store's data-protection operations (store.h: key
 * migration on the write path, store_device_erase_all, store_key_use,
 * store_fold) through the store API alone, on the backend named by
 * STS_STORE_URI: a fresh SQLite file when it is unset, a PostgreSQL database
 * when tests/e2e/pg_conformance.sh has started a cluster (its public schema
 * is dropped before each case). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "sts/date.h"

static const char *pg_uri; /* NULL: SQLite */

struct fixture {
    char dir[64];
    char path[128];
    struct store *store;
};

/* An empty PostgreSQL database: the schema is made again by store_open. */
static int pg_wipe(void)
{
    PGconn *c = PQconnectdb(pg_uri);
    int rc = PQstatus(c) == CONNECTION_OK ? 0 : -1;
    if (rc == 0) {
        PGresult *r = PQexec(c, "SET client_min_messages = warning;"
                                " DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc)
            fprintf(stderr, "wipe: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    char why[256];
    if (!f)
        return -1;
    if (pg_uri) {
        if (pg_wipe() != 0 || store_open(pg_uri, STORE_CREATE, &f->store, why, sizeof why)) {
            free(f);
            return -1;
        }
        *state = f;
        return 0;
    }
    snprintf(f->dir, sizeof f->dir, "%s/sts-dpo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/sts.db", f->dir);
    if (store_open(f->path, STORE_CREATE, &f->store, why, sizeof why) != STS_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    store_close(f->store);
    if (!pg_uri) {
        for (size_t i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
            unlink(p);
        }
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

#define KEY_A 0xaaaa0001u
#define KEY_B 0xbbbb0002u

/* Device dev's pseudonym under key (distinct per device and key). */
static void pseudonym(unsigned dev, uint32_t key, uint8_t out[STS_PSEUDONYM_LEN])
{
    memset(out, 0x11, STS_PSEUDONYM_LEN);
    memcpy(out, &dev, sizeof dev);
    memcpy(out + 8, &key, sizeof key);
}

static unsigned next_rid;

/* An activation of dev on day, under key, with the older key old (0: none)
 * looked up as well, report id rid. */
static void make_act(struct store_record *r, unsigned dev, uint32_t key, uint32_t old, int32_t day,
                     unsigned rid)
{
    memset(r, 0, sizeof *r);
    r->type = STS_REPORT_ACTIVATION;
    memcpy(r->report_id, &rid, sizeof rid);
    pseudonym(dev, key, r->pseudonym);
    r->key_id = key;
    if (old) {
        r->n_old = 1;
        r->old_key_id[0] = old;
        pseudonym(dev, old, r->old_pseudonym[0]);
    }
    r->day = day;
    snprintf(r->model, sizeof r->model, "K400");
}

/* Writes one activation of dev on day, under key, with the older key old
 * (0: none) looked up as well; returns its outcome. */
static enum store_outcome activate(struct store *s, unsigned dev, uint32_t key, uint32_t old,
                                   int32_t day)
{
    struct store_record r, *p = &r;
    memset(&r, 0, sizeof r);
    r.type = STS_REPORT_ACTIVATION;
    next_rid++;
    memcpy(r.report_id, &next_rid, sizeof next_rid);
    pseudonym(dev, key, r.pseudonym);
    r.key_id = key;
    if (old) {
        r.n_old = 1;
        r.old_key_id[0] = old;
        pseudonym(dev, old, r.old_pseudonym[0]);
    }
    r.day = day;
    snprintf(r.brand, sizeof r.brand, "acme-eu");
    snprintf(r.model, sizeof r.model, "K400");
    snprintf(r.sw, sizeof r.sw, "K400-V12");
    snprintf(r.country, sizeof r.country, "FR");
    assert_int_equal(store_write(s, &p, 1), STS_OK);
    return r.outcome;
}

static int sum_sales(const struct store_sales_row *row, void *ctx)
{
    int64_t *t = ctx;
    t[0] += row->activations;
    t[1] += row->reactivations;
    return 0;
}

static void sales(struct store *s, int64_t out[2])
{
    out[0] = out[1] = 0;
    assert_int_equal(store_sales(s, 0, 4000000, sum_sales, out), STS_OK);
}

static int32_t day(int y, int m, int d)
{
    return sts_day_from_ymd(y, m, d);
}

/* A device known under an older key is a re-activation under the new one,
 * moves with its first month and its re-activation months, and the old key
 * no longer names a row. */
static void test_rotation_moves_device(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->store;
    struct store_device dev;
    uint8_t p[STS_PSEUDONYM_LEN];
    int64_t t[2];
    assert_int_equal(activate(s, 1, KEY_A, 0, day(2026, 1, 10)), STORE_NEW);
    assert_int_equal(activate(s, 1, KEY_A, 0, day(2026, 2, 10)), STORE_REACTIVATION);
    assert_int_equal(activate(s, 2, KEY_A, 0, day(2026, 1, 11)), STORE_NEW);
    /* After the rotation: B is current, A is looked up. */
    assert_int_equal(activate(s, 1, KEY_B, KEY_A, day(2026, 3, 10)), STORE_REACTIVATION);
    assert_int_equal(activate(s, 3, KEY_B, KEY_A, day(2026, 3, 11)), STORE_NEW);
    assert_int_equal(activate(s, 1, KEY_B, KEY_A, day(2026, 3, 12)), STORE_REACTIVATION);
    sales(s, t);
    assert_int_equal(t[0], 3); /* devices 1, 2, 3: never a fourth sale */
    assert_int_equal(t[1], 2); /* device 1 in 2026-02 and 2026-03 */

    pseudonym(1, KEY_A, p);
    assert_int_equal(store_device_get(s, p, &dev), STS_ENOENT);
    pseudonym(1, KEY_B, p);
    assert_int_equal(store_device_get(s, p, &dev), STS_OK);
    assert_int_equal(dev.key_id, KEY_B);
    assert_int_equal(dev.month, sts_day_month(day(2026, 1, 10)));
    assert_int_equal(dev.reactivations, 2);
    assert_int_equal(dev.react_month[0], sts_day_month(day(2026, 2, 1)));
    assert_int_equal(dev.react_month[1], sts_day_month(day(2026, 3, 1)));

    struct store_key_use use[4];
    size_t n = 0;
    assert_int_equal(store_key_use(s, use, 4, &n), STS_OK);
    assert_int_equal(n, 2);
    /* Ascending ids: A (device 2), then B (devices 1 and 3, 2 re-activations). */
    assert_int_equal(use[0].key_id, KEY_A);
    assert_int_equal(use[0].devices, 1);
    assert_int_equal(use[0].reactivations, 0);
    assert_int_equal(use[1].key_id, KEY_B);
    assert_int_equal(use[1].devices, 2);
    assert_int_equal(use[1].reactivations, 2);
}

/* The same decisions for a batch as for records written one by one: two
 * reports of a device known under the older key (its re-activation of this
 * month already stored there), and a device new under both keys. */
static void test_rotation_in_one_batch(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->store;
    struct store_record r[3], *p[3];
    struct store_device dev;
    int64_t t[2];
    assert_int_equal(activate(s, 1, KEY_A, 0, day(2026, 1, 10)), STORE_NEW);
    assert_int_equal(activate(s, 1, KEY_A, 0, day(2026, 3, 2)), STORE_REACTIVATION);
    memset(r, 0, sizeof r);
    for (unsigned i = 0; i < 3; i++) {
        unsigned d = i < 2 ? 1 : 5;
        p[i] = &r[i];
        r[i].type = STS_REPORT_ACTIVATION;
        next_rid++;
        memcpy(r[i].report_id, &next_rid, sizeof next_rid);
        pseudonym(d, KEY_B, r[i].pseudonym);
        r[i].key_id = KEY_B;
        r[i].n_old = 1;
        r[i].old_key_id[0] = KEY_A;
        pseudonym(d, KEY_A, r[i].old_pseudonym[0]);
        r[i].day = day(2026, 3, 20 + (int)i);
        snprintf(r[i].model, sizeof r[i].model, "K400");
    }
    assert_int_equal(store_write(s, p, 3), STS_OK);
    assert_int_equal(r[0].outcome, STORE_REACTIVATION);
    assert_int_equal(r[1].outcome, STORE_REACTIVATION);
    assert_int_equal(r[2].outcome, STORE_NEW);
    sales(s, t);
    assert_int_equal(t[0], 2); /* devices 1 and 5 */
    assert_int_equal(t[1], 1); /* device 1 in 2026-03, once */
    pseudonym(1, KEY_B, r[0].pseudonym);
    assert_int_equal(store_device_get(s, r[0].pseudonym, &dev), STS_OK);
    assert_int_equal(dev.key_id, KEY_B);
    assert_int_equal(dev.month, sts_day_month(day(2026, 1, 10)));
    assert_int_equal(dev.reactivations, 1);
    pseudonym(1, KEY_A, r[0].pseudonym);
    assert_int_equal(store_device_get(s, r[0].pseudonym, &dev), STS_ENOENT);
}

/* Two handles (two collectors) receiving re-activations of the same devices,
 * known under the older key, at once: each device moves once, none is a new
 * sale, each is counted once in the month. */
#define RACE_N     400
#define RACE_BATCH 50
static pthread_barrier_t race_start;

struct racer {
    struct store *s;
    unsigned salt;
    int news, reacts, failed;
};

static void *race(void *arg)
{
    struct racer *w = arg;
    struct store_record r[RACE_BATCH], *p[RACE_BATCH];
    pthread_barrier_wait(&race_start);
    for (unsigned b = 0; b < RACE_N / RACE_BATCH; b++) {
        for (unsigned i = 0; i < RACE_BATCH; i++) {
            make_act(&r[i], b * RACE_BATCH + i, KEY_B, KEY_A, day(2026, 3, 10),
                     w->salt + b * RACE_BATCH + i);
            p[i] = &r[i];
        }
        if (store_write(w->s, p, RACE_BATCH) != STS_OK) {
            if (++w->failed > 20)
                return NULL;
            b--; /* nothing was written: again, as an agent would */
            continue;
        }
        for (unsigned i = 0; i < RACE_BATCH; i++) {
            w->news += r[i].outcome == STORE_NEW;
            w->reacts += r[i].outcome == STORE_REACTIVATION;
        }
    }
    return NULL;
}

static void test_rotation_two_writers(void **state)
{
    struct fixture *f = *state;
    static struct store_record first[RACE_N];
    struct store_record *p[RACE_N];
    char why[256];
    int64_t t[2];
    for (unsigned i = 0; i < RACE_N; i++) {
        make_act(&first[i], i, KEY_A, 0, day(2026, 1, 10), 0x40000000u + i);
        p[i] = &first[i];
    }
    assert_int_equal(store_write(f->store, p, RACE_N), STS_OK);
    struct racer w[2] = {{.s = f->store, .salt = 0x50000000u}, {.salt = 0x60000000u}};
    assert_int_equal(store_open(pg_uri ? pg_uri : f->path, 0, &w[1].s, why, sizeof why), STS_OK);
    pthread_t th[2];
    assert_int_equal(pthread_barrier_init(&race_start, NULL, 2), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&race_start);
    store_close(w[1].s);
    print_message("two writers after a rotation: new %d + %d, re-activations %d + %d, failed "
                  "batches %d + %d\n",
                  w[0].news, w[1].news, w[0].reacts, w[1].reacts, w[0].failed, w[1].failed);
    assert_int_equal(w[0].news + w[1].news, 0);
    assert_int_equal(w[0].reacts + w[1].reacts, 2 * RACE_N);
    sales(f->store, t);
    assert_int_equal(t[0], RACE_N); /* the first activations only */
    assert_int_equal(t[1], RACE_N); /* each device once in 2026-03 */
    struct store_key_use use[4];
    size_t n = 0;
    assert_int_equal(store_key_use(f->store, use, 4, &n), STS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(use[0].key_id, KEY_B);
    assert_int_equal(use[0].devices, RACE_N);
    assert_int_equal(use[0].reactivations, RACE_N);
}

/* Erasure deletes the device under every key given, in one call, leaves
 * the counters and the other devices, and is idempotent. */
static void test_erase_all(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->store;
    uint8_t ps[2][STS_PSEUDONYM_LEN];
    struct store_erased e;
    struct store_device dev;
    int64_t before[2], after[2];
    activate(s, 1, KEY_A, 0, day(2026, 1, 10));
    activate(s, 1, KEY_A, 0, day(2026, 2, 10));
    activate(s, 2, KEY_A, 0, day(2026, 1, 10));
    /* The same IMEI stored under B too (a collector that had only key B). */
    activate(s, 1, KEY_B, 0, day(2026, 3, 10));
    sales(s, before);
    pseudonym(1, KEY_B, ps[0]);
    pseudonym(1, KEY_A, ps[1]);
    assert_int_equal(store_device_erase_all(s, &ps[0][0], 0, &e), STS_EINVAL);
    assert_int_equal(store_device_erase_all(s, &ps[0][0], 2, &e), STS_OK);
    assert_int_equal(e.activations, 2);
    assert_int_equal(e.reactivations, 1);
    assert_int_equal(store_device_get(s, ps[0], &dev), STS_ENOENT);
    assert_int_equal(store_device_get(s, ps[1], &dev), STS_ENOENT);
    assert_int_equal(store_device_erase_all(s, &ps[0][0], 2, &e), STS_OK);
    assert_int_equal(e.activations + e.reactivations, 0);
    uint8_t other[STS_PSEUDONYM_LEN];
    pseudonym(2, KEY_A, other);
    assert_int_equal(store_device_get(s, other, &dev), STS_OK);
    sales(s, after);
    assert_memory_equal(before, after, sizeof before);
    /* An erased device that comes back is a new sale: nothing remembers it. */
    assert_int_equal(activate(s, 1, KEY_B, KEY_A, day(2026, 4, 10)), STORE_NEW);
}

/* Folding: device rows of devices not seen since keep_from go, those seen
 * since stay, a dry run changes nothing, max bounds one call, counters
 * stay. */
static void test_fold(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->store;
    struct store_folded fo;
    struct store_device dev;
    uint8_t p[STS_PSEUDONYM_LEN];
    int64_t before[2], after[2];
    int32_t keep_from = sts_day_month(day(2025, 1, 1));
    activate(s, 1, KEY_A, 0, day(2023, 5, 1)); /* old, never seen again: folded */
    activate(s, 2, KEY_A, 0, day(2023, 6, 1)); /* old, re-activated in 2023-08: folded */
    activate(s, 2, KEY_A, 0, day(2023, 8, 1));
    activate(s, 3, KEY_A, 0, day(2023, 7, 1)); /* old, re-activated since: kept */
    activate(s, 3, KEY_A, 0, day(2023, 9, 1));
    activate(s, 3, KEY_A, 0, day(2025, 3, 1));
    activate(s, 4, KEY_A, 0, day(2025, 2, 1)); /* recent: kept */
    sales(s, before);
    assert_int_equal(store_fold(s, keep_from, 1000, true, &fo), STS_OK);
    assert_int_equal(fo.activations, 2);
    assert_int_equal(fo.reactivations, 2);
    pseudonym(1, KEY_A, p);
    assert_int_equal(store_device_get(s, p, &dev), STS_OK); /* dry run: still there */
    assert_int_equal(store_fold(s, keep_from, 1, false, &fo), STS_OK);
    assert_int_equal(fo.activations, 1);
    assert_int_equal(fo.reactivations, 1);
    assert_int_equal(store_fold(s, keep_from, 1000, false, &fo), STS_OK);
    assert_int_equal(fo.activations, 1);
    assert_int_equal(fo.reactivations, 1);
    assert_int_equal(store_fold(s, keep_from, 1000, false, &fo), STS_OK);
    assert_int_equal(fo.activations + fo.reactivations, 0);
    for (unsigned d = 1; d <= 2; d++) {
        pseudonym(d, KEY_A, p);
        assert_int_equal(store_device_get(s, p, &dev), STS_ENOENT);
    }
    pseudonym(3, KEY_A, p);
    assert_int_equal(store_device_get(s, p, &dev), STS_OK);
    assert_int_equal(dev.reactivations, 1); /* 2023-09 folded, 2025-03 kept */
    assert_int_equal(dev.react_month[0], sts_day_month(day(2025, 3, 1)));
    sales(s, after);
    assert_memory_equal(before, after, sizeof before);
    /* A folded device that comes back is a new sale. */
    assert_int_equal(activate(s, 1, KEY_A, 0, day(2026, 1, 1)), STORE_NEW);
}

int main(void)
{
    const char *u = getenv("STS_STORE_URI");
    pg_uri = u && strncmp(u, "postgres", 8) == 0 ? u : NULL;
    print_message("store backend: %s\n", pg_uri ? "PostgreSQL" : "SQLite");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotation_moves_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_two_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
