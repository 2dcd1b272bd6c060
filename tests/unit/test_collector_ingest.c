/* The report path's keyring swap (ingest_set_keyring, SIGHUP): reports
 * pseudonymized on several threads while the keyring is replaced over and
 * over get, each, a consistent set of pseudonyms made by one keyring or the
 * other (never a mix, never freed keys: the asan build runs this), and the
 * records reach a real SQLite file through the writer as new devices. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
