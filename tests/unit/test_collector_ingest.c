/* The report path's keyring swap (ingest_set_keyring, SIGHUP): reports
 * pseudonymized on several threads while the keyring is replaced over and
 * over get, each, a consistent set of pseudonyms made by one keyring or the
 * other (never a mix, never freed keys: the asan build runs this), and the
 * records reach a real SQLite file through the writer as new devices. And
 * the deferred sync: no report is answered before a sync that began after
 * its commit, and a failed sync fails its reports without losing or
 * doubling one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ingest.h"
#include "store.h"
#include "store_impl.h"
#include "sts/date.h"
#include "sts/pseudonym.h"

#define THREADS    4
#define PER_THREAD 300

/* Two keyrings as a rotation makes them: A = {k1}, B = {k1, k2 current}. */
static struct sts_keyring ring_a, ring_b;

static void make_rings(void)
{
    memset(&ring_a, 0, sizeof ring_a);
    ring_a.n = 1;
    ring_a.key[0].id = 0x11111111;
    memset(ring_a.key[0].secret, 0x5a, STS_KEY_LEN);
    ring_b = ring_a;
    ring_b.n = 2;
    ring_b.key[1].id = 0x22222222;
    memset(ring_b.key[1].secret, 0xa5, STS_KEY_LEN);
    ring_b.current = 1;
}

struct worker {
    struct ingest *ing;
    int index;
    int32_t today;
    struct ingest_job *jobs;
    int under_a, under_b, mixed, bad;
};

static atomic_int finished, made, go;

static void imei_of(int n, char out[16])
{
    /* 14 digits then the Luhn check digit. */
    char body[15];
    snprintf(body, sizeof body, "35209900%06d", n);
    int sum = 0;
    for (int i = 0; i < 14; i++) {
        int d = body[i] - '0';
        if (i % 2 == 1 && (d *= 2) > 9)
            d -= 9;
        sum += d;
    }
    snprintf(out, 16, "%s%d", body, (10 - sum % 10) % 10);
}

static const struct sts_key *key_with(uint32_t id)
{
    for (size_t i = 0; i < ring_b.n; i++)
        if (ring_b.key[i].id == id)
            return &ring_b.key[i];
    return NULL;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    char day[STS_DAY_LEN + 1];
    sts_day_format(w->today, day);
    /* Paced, so that the swaps fall among the reports on any machine. */
    struct timespec pause = {0, 50 * 1000};
    while (!atomic_load(&go))
        nanosleep(&pause, NULL);
    for (int i = 0; i < PER_THREAD; i++) {
        nanosleep(&pause, NULL);
        int n = w->index * PER_THREAD + i;
        char imei[16], body[512];
        imei_of(n, imei);
        int len = snprintf(body, sizeof body,
                           "{\"v\":1,\"type\":\"activation\",\"report_id\":\"%032x\","
                           "\"imei\":\"%s\",\"brand\":\"acme\",\"model\":\"K400\","
                           "\"sw\":\"V1\",\"day\":\"%s\"}",
                           n + 1, imei, day);
        struct ingest_refusal why;
        struct ingest_job *j = &w->jobs[i];
        if (ingest_report(w->ing, body, (size_t)len, w->today, j, &why) != STS_OK) {
            w->bad++;
            continue;
        }
        /* Either A's set (k1 current, nothing older) or B's (k2 current, k1
         * older), each pseudonym the HMAC under the key it names. */
        struct store_record *r = &j->rec;
        bool is_a = r->key_id == 0x11111111 && r->n_old == 0;
        bool is_b = r->key_id == 0x22222222 && r->n_old == 1 && r->old_key_id[0] == 0x11111111;
        if (!is_a && !is_b) {
            w->mixed++;
            continue;
        }
        is_a ? w->under_a++ : w->under_b++;
        atomic_fetch_add(&made, 1);
        unsigned char want[STS_PSEUDONYM_LEN];
        if (sts_pseudonym(key_with(r->key_id), imei, want) != STS_OK ||
            memcmp(want, r->pseudonym, sizeof want) != 0)
            w->bad++;
        if (is_b && (sts_pseudonym(key_with(0x11111111), imei, want) != STS_OK ||
                     memcmp(want, r->old_pseudonym[0], sizeof want) != 0))
            w->bad++;
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done_count;

static void on_done(struct ingest_job *job)
{
    (void)job;
    pthread_mutex_lock(&done_lock);
    done_count++;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

/* Removes the database db, its side files and dir; wipes the keyrings. */
static void clean_up(const char *dir, const char *db)
{
    static const char *const ends[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[96];
        snprintf(path, sizeof path, "%s%s", db, ends[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
    sts_keyring_cleanse(&ring_a);
    sts_keyring_cleanse(&ring_b);
}

static void test_swap_under_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/sts-ingest-XXXXXX", db[64], why[256];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/sts.db", dir);
    struct store *st = NULL;
    assert_int_equal(store_open(db, STORE_CREATE, &st, why, sizeof why), STS_OK);
    make_rings();
    struct ingest *ing = NULL;
    assert_int_equal(ingest_new(&st, 1, 64, &ring_a, &ing), STS_OK);
    uint32_t ids[STS_KEYRING_MAX];
    assert_int_equal(ingest_key_ids(ing, ids), 1);
    assert_int_equal(ids[0], 0x11111111);

    static struct ingest_job jobs[THREADS][PER_THREAD];
    memset(jobs, 0, sizeof jobs);
    struct worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.ing = ing, .index = i, .today = sts_day_today(), .jobs = jobs[i]};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    /* A swap, then at least one more report made before the next: each
     * keyring is in force while reports are being made. */
    long swaps = 0;
    struct timespec pause = {0, 20 * 1000};
    atomic_store(&go, 1);
    while (atomic_load(&finished) < THREADS && swaps < 100000) {
        assert_int_equal(ingest_set_keyring(ing, swaps++ % 2 ? &ring_a : &ring_b), STS_OK);
        int before = atomic_load(&made);
        for (int i = 0; i < 50000 && atomic_load(&made) == before; i++)
            nanosleep(&pause, NULL);
    }
    int under_a = 0, under_b = 0, mixed = 0, bad = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        under_a += w[i].under_a;
        under_b += w[i].under_b;
        mixed += w[i].mixed;
        bad += w[i].bad;
    }
    print_message("%ld swaps; %d reports under keyring A, %d under B\n", swaps, under_a, under_b);
    assert_int_equal(mixed, 0);
    assert_int_equal(bad, 0);
    assert_int_equal(under_a + under_b, THREADS * PER_THREAD);
    /* The swaps went on while the reports were made: both keyrings served. */
    assert_true(swaps > 1 && under_a > 0 && under_b > 0);
    assert_int_equal(ingest_set_keyring(ing, &ring_a), STS_OK);
    assert_int_equal(ingest_key_ids(ing, ids), 1);
    assert_int_equal(ids[0], 0x11111111);
    assert_int_equal(ingest_set_keyring(ing, &ring_b), STS_OK);
    assert_int_equal(ingest_key_ids(ing, ids), 2);
    assert_int_equal(ids[0], 0x22222222);
    assert_int_equal(ids[1], 0x11111111);

    /* Every record, whichever keyring made it, is a new device. */
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < PER_THREAD; k++) {
            jobs[i][k].done = on_done;
            ingest_submit(ing, &jobs[i][k]);
        }
    pthread_mutex_lock(&done_lock);
    while (done_count < THREADS * PER_THREAD)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    int new_devices = 0;
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < PER_THREAD; k++)
            new_devices += jobs[i][k].rec.outcome == STORE_NEW;
    assert_int_equal(new_devices, THREADS * PER_THREAD);
    ingest_free(ing);
    struct store_audit au;
    assert_int_equal(store_audit(st, &au), STS_OK);
    assert_int_equal(au.devices, THREADS * PER_THREAD);
    store_close(st);
    clean_up(dir, db);
}

/* ---- the deferred sync, watched ---- */

#define SYNC_JOBS 3000

/* A store over a real SQLite one that numbers its commits and its syncs:
 * synced is the number of commits made before the last sync that returned
 * STS_OK began, so a report answered as stored with a commit number above it
 * was answered before the disk had it. */
struct watched {
    struct store base;
    struct store *real;
    pthread_mutex_t lock;
    long commits, synced;
    int syncs, fail_at; /* the sync numbered fail_at fails */
};

static struct watched watched;
static struct ingest_job sync_jobs[SYNC_JOBS];
static long commit_of[SYNC_JOBS];
static atomic_int early, failed_answers, answered;

static enum sts_err watched_write(struct store *s, struct store_record *const *recs, size_t n)
{
    struct watched *w = (struct watched *)s;
    enum sts_err e = store_write(w->real, recs, n);
    if (e != STS_OK)
        return e;
    pthread_mutex_lock(&w->lock);
    long c = ++w->commits;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        struct ingest_job *j =
            (struct ingest_job *)((char *)recs[i] - offsetof(struct ingest_job, rec));
        if (j >= sync_jobs && j < sync_jobs + SYNC_JOBS)
            commit_of[j - sync_jobs] = c;
    }
    return STS_OK;
}

static enum sts_err watched_defer(struct store *s)
{
    return store_defer_sync(((struct watched *)s)->real);
}

static enum sts_err watched_sync(struct store *s)
{
    struct watched *w = (struct watched *)s;
    pthread_mutex_lock(&w->lock);
    long upto = w->commits;
    int k = ++w->syncs;
    pthread_mutex_unlock(&w->lock);
    /* A slow disk: commits pile up behind the sync. It lasts until two
     * more are made (at most 50 ms, for the last ones), so that the next
     * sync covers several however the threads are scheduled on a busy
     * machine: a fixed pause let every commit have a sync of its own. */
    struct timespec pause = {0, 200 * 1000};
    for (int i = 0; i < 250; i++) {
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&w->lock);
        bool piled = w->commits >= upto + 2;
        pthread_mutex_unlock(&w->lock);
        if (piled)
            break;
    }
    enum sts_err e = k == w->fail_at ? STS_EIO : store_sync(w->real);
    if (e == STS_OK) {
        pthread_mutex_lock(&w->lock);
        w->synced = upto;
        pthread_mutex_unlock(&w->lock);
    }
    return e;
}

static void watched_close(struct store *s)
{
    (void)s;
}

static const struct store_ops watched_ops = {
    .close = watched_close,
    .write = watched_write,
    .defer_sync = watched_defer,
    .sync = watched_sync,
};

static void on_synced(struct ingest_job *j)
{
    long i = j - sync_jobs;
    if (j->rec.outcome == STORE_NEW) {
        pthread_mutex_lock(&watched.lock);
        if (commit_of[i] == 0 || commit_of[i] > watched.synced)
            atomic_fetch_add(&early, 1);
        pthread_mutex_unlock(&watched.lock);
    } else if (j->rec.outcome == STORE_FAILED) {
        atomic_fetch_add(&failed_answers, 1);
    }
    atomic_fetch_add(&answered, 1);
}

static void make_record(int n, struct store_record *r)
{
    memset(r, 0, sizeof *r);
    r->type = STS_REPORT_ACTIVATION;
    r->report_id[0] = 0x5e;
    memcpy(r->report_id + 1, &n, sizeof n);
    r->pseudonym[0] = 0x77;
    memcpy(r->pseudonym + 1, &n, sizeof n);
    r->key_id = 0x11111111;
    r->day = sts_day_today();
    snprintf(r->brand, sizeof r->brand, "acme");
    snprintf(r->model, sizeof r->model, "K400");
    snprintf(r->sw, sizeof r->sw, "V1");
}

static void wait_answered(int n)
{
    struct timespec pause = {0, 1000 * 1000};
    for (int i = 0; i < 20000 && atomic_load(&answered) < n; i++)
        nanosleep(&pause, NULL);
    assert_int_equal(atomic_load(&answered), n);
}

static void test_deferred_sync(void **state)
{
    (void)state;
    char dir[] = "/tmp/sts-ingest-XXXXXX", db[64], why[256];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/sts.db", dir);
    memset(&watched, 0, sizeof watched);
    watched.base.ops = &watched_ops;
    assert_int_equal(pthread_mutex_init(&watched.lock, NULL), 0);
    assert_int_equal(store_open(db, STORE_CREATE, &watched.real, why, sizeof why), STS_OK);
    watched.fail_at = 3;
    make_rings();
    struct ingest *ing = NULL;
    struct store *stores[1] = {&watched.base};
    assert_int_equal(ingest_new(stores, 1, 64, &ring_a, &ing), STS_OK);

    /* In bursts, so that several batches wait for each sync. */
    struct timespec pause = {0, 300 * 1000};
    for (int i = 0; i < SYNC_JOBS; i++) {
        make_record(i, &sync_jobs[i].rec);
        sync_jobs[i].done = on_synced;
        ingest_submit(ing, &sync_jobs[i]);
        if (i % 50 == 49)
            nanosleep(&pause, NULL);
    }
    wait_answered(SYNC_JOBS);
    pthread_mutex_lock(&watched.lock);
    long commits = watched.commits;
    int syncs = watched.syncs;
    pthread_mutex_unlock(&watched.lock);
    print_message("%d reports in %ld commits and %d syncs; %d failed with the 3rd sync\n",
                  SYNC_JOBS, commits, syncs, atomic_load(&failed_answers));
    assert_int_equal(atomic_load(&early), 0);
    /* Syncs covered several commits each, and one failed with its reports. */
    assert_true(syncs >= watched.fail_at && syncs < commits);
    assert_true(atomic_load(&failed_answers) > 0);
    struct ingest_stats stats;
    ingest_get_stats(ing, &stats);
    assert_int_equal(stats.failed, (unsigned long long)atomic_load(&failed_answers));

    /* The failed ones were committed after all: sent again, each is a
     * duplicate, and no device is counted twice. */
    int failed = atomic_load(&failed_answers), again = 0;
    static struct ingest_job retry[SYNC_JOBS];
    atomic_store(&answered, 0);
    for (int i = 0; i < SYNC_JOBS; i++)
        if (sync_jobs[i].rec.outcome == STORE_FAILED) {
            make_record(i, &retry[again].rec);
            retry[again].done = on_synced;
            ingest_submit(ing, &retry[again++]);
        }
    assert_int_equal(again, failed);
    wait_answered(again);
    for (int i = 0; i < again; i++)
        assert_int_equal(retry[i].rec.outcome, STORE_DUPLICATE);
    assert_true(ingest_healthy(ing));
    ingest_free(ing);
    struct store_audit au;
    assert_int_equal(store_audit(watched.real, &au), STS_OK);
    assert_int_equal(au.devices, SYNC_JOBS);
    store_close(watched.real);
    pthread_mutex_destroy(&watched.lock);
    clean_up(dir, db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_under_load),
        cmocka_unit_test(test_deferred_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
