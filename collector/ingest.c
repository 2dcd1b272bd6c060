/* The group-commit writers: a mutex-protected FIFO of jobs and one or more
 * threads, each with its own store handle, that drain it into transactions.
 * While a transaction commits, new jobs pile up and go into the next one,
 * taken by whichever writer is free: batches grow with the load by
 * themselves, and with several writers (PostgreSQL) commits overlap. On
 * SQLite the wait for the disk is a thread of its own (store_defer_sync):
 * the writer commits a batch and hands it to its syncer, which answers it
 * once a sync begun after the commit has returned, while the writer goes on
 * with the next batch; one sync then covers every batch committed since the
 * last. */
#include "ingest.h"

#include "metrics.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>

/* One writer thread and the handle it alone uses. */
struct writer {
    struct ingest *ing;
    struct store *store;         /* borrowed */
    struct store_record **batch; /* max_batch pointers */
    pthread_t thread;
    bool failing; /* its last transaction failed; under ing->lock */
    /* With a deferred sync: committed jobs waiting for it, and the thread
     * that syncs and answers them. Under ing->lock. */
    bool deferred, syncer_started, writer_done;
    pthread_t syncer;
    pthread_cond_t sync_wake;
    struct ingest_job *sync_head, *sync_tail;
};

struct ingest {
    /* Read by every HTTP thread (ingest_report), replaced by
     * ingest_set_keyring under the write side of key_lock. */
    pthread_rwlock_t key_lock;
    struct sts_pseudonymizer *pseudonymizer;
    size_t n_keys; /* and the ids of its keys, the current one first */
    uint32_t key_ids[STS_KEYRING_MAX];
    size_t max_batch;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct ingest_job *head, *tail;
    bool stopping, joined;
    struct writer *writers;
    size_t n_writers, started; /* threads started */
    struct ingest_stats stats;
    atomic_uint failing; /* writers whose last transaction failed */
    size_t queued;       /* jobs in the queue */
    struct metric *m_batch, *m_seconds, *m_sync, *m_queue, *m_commits, *m_errors, *m_up;
};

void ingest_set_metrics(struct ingest *ing, struct metrics *m)
{
    static const double sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
    static const double secs[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                  0.05,   0.1,   0.25,   0.5,   1,    2.5};
    pthread_mutex_lock(&ing->lock);
    ing->m_batch = metrics_add(m, METRIC_HISTOGRAM, "sts_commit_batch_size",
                               "records per storage transaction (group commit)", NULL, sizes,
                               sizeof sizes / sizeof sizes[0]);
    ing->m_seconds = metrics_add(m, METRIC_HISTOGRAM, "sts_commit_seconds",
                                 "time to write and commit one transaction", NULL, secs,
                                 sizeof secs / sizeof secs[0]);
    ing->m_sync = metrics_add(m, METRIC_HISTOGRAM, "sts_sync_seconds",
                              "time to make committed transactions durable, where that is a "
                              "step of its own (SQLite: fdatasync of the WAL)",
                              NULL, secs, sizeof secs / sizeof secs[0]);
    ing->m_queue = metrics_add(m, METRIC_GAUGE, "sts_ingest_queue_depth",
                               "reports waiting for the writer", NULL, NULL, 0);
    ing->m_commits =
        metrics_add(m, METRIC_COUNTER, "sts_storage_transactions_total",
                    "storage transactions, by result", "result=\"committed\"", NULL, 0);
    ing->m_errors = metrics_add(m, METRIC_COUNTER, "sts_storage_transactions_total",
                                "storage transactions, by result", "result=\"failed\"", NULL, 0);
    ing->m_up = metrics_add(m, METRIC_GAUGE, "sts_storage_up",
                            "1 while storage commits, 0 from a failed transaction until the next "
                            "success",
                            NULL, NULL, 0);
    metric_set(ing->m_up, atomic_load(&ing->failing) == 0);
    pthread_mutex_unlock(&ing->lock);
}

/* Records whether w's last transaction failed; storage is up while no
 * writer's did. Called with ing->lock held, so that sts_storage_up follows
 * the count in order. */
static void set_failing_locked(struct writer *w, bool failing)
{
    struct ingest *ing = w->ing;
    if (w->failing != failing) {
        w->failing = failing;
        if (failing)
            atomic_fetch_add(&ing->failing, 1);
        else
            atomic_fetch_sub(&ing->failing, 1);
    }
    metric_set(ing->m_up, atomic_load(&ing->failing) == 0);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* While its storage fails, a writer tries an empty transaction this often,
 * so that health comes back (and each writer reconnects) without waiting for
 * a report. */
#define PROBE_NS (1000 * 1000 * 1000L)

static void wait_for_work(struct writer *w)
{
    struct ingest *ing = w->ing;
    if (!w->failing) {
        pthread_cond_wait(&ing->wake, &ing->lock);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += PROBE_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_cond_timedwait(&ing->wake, &ing->lock, &until) != 0 && !ing->head &&
        !ing->stopping) {
        pthread_mutex_unlock(&ing->lock);
        bool failed = store_write(w->store, w->batch, 0) != STS_OK;
        pthread_mutex_lock(&ing->lock);
        set_failing_locked(w, failed);
    }
}

static void answer(struct ingest_job *first);

static void *writer_main(void *arg)
{
    prctl(PR_SET_NAME, "sts-writer"); /* for top -H and /proc: which thread is busy */
    struct writer *w = arg;
    struct ingest *ing = w->ing;
    for (;;) {
        pthread_mutex_lock(&ing->lock);
        while (!ing->head && !ing->stopping)
            wait_for_work(w);
        if (!ing->head) {
            w->writer_done = true;
            pthread_cond_signal(&w->sync_wake);
            pthread_mutex_unlock(&ing->lock);
            return NULL;
        }
        struct ingest_job *first = ing->head, *last = first;
        size_t n = 1;
        while (last->next && n < ing->max_batch) {
            last = last->next;
            n++;
        }
        ing->head = last->next;
        if (!ing->head)
            ing->tail = NULL;
        last->next = NULL;
        ing->queued -= n;
        metric_set(ing->m_queue, (int64_t)ing->queued);
        pthread_mutex_unlock(&ing->lock);

        size_t i = 0;
        for (struct ingest_job *j = first; j; j = j->next)
            w->batch[i++] = &j->rec;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        enum sts_err e = store_write(w->store, w->batch, n);
        metric_observe(ing->m_seconds, seconds_since(&t0));
        metric_observe(ing->m_batch, (double)n);
        metric_add(e == STS_OK ? ing->m_commits : ing->m_errors, 1);

        pthread_mutex_lock(&ing->lock);
        set_failing_locked(w, e != STS_OK);
        ing->stats.batches++;
        ing->stats.records += n;
        if (e != STS_OK)
            ing->stats.failed += n;
        if (n > ing->stats.largest_batch)
            ing->stats.largest_batch = n;
        if (e == STS_OK && w->deferred) {
            if (w->sync_tail)
                w->sync_tail->next = first;
            else
                w->sync_head = first;
            w->sync_tail = last;
            pthread_cond_signal(&w->sync_wake);
            first = NULL;
        }
        pthread_mutex_unlock(&ing->lock);
        answer(first);
    }
}

static void answer(struct ingest_job *first)
{
    for (struct ingest_job *j = first, *next; j; j = next) {
        next = j->next; /* done() may free j */
        j->done(j);
    }
}

/* Makes the writer's committed batches durable and answers them: every job
 * taken here was committed before its store_sync began. A failed sync fails
 * them (503: the client sends again, and a report that was kept after all is
 * then a duplicate, never counted twice). */
static void *syncer_main(void *arg)
{
    prctl(PR_SET_NAME, "sts-sync"); /* for top -H and /proc: which thread is busy */
    struct writer *w = arg;
    struct ingest *ing = w->ing;
    pthread_mutex_lock(&ing->lock);
    for (;;) {
        while (!w->sync_head && !w->writer_done)
            pthread_cond_wait(&w->sync_wake, &ing->lock);
        struct ingest_job *first = w->sync_head;
        if (!first)
            break;
        w->sync_head = w->sync_tail = NULL;
        pthread_mutex_unlock(&ing->lock);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        enum sts_err e = store_sync(w->store);
        metric_observe(ing->m_sync, seconds_since(&t0));
        size_t n = 0;
        if (e != STS_OK)
            for (struct ingest_job *j = first; j; j = j->next, n++)
                j->rec.outcome = STORE_FAILED;
        pthread_mutex_lock(&ing->lock);
        if (e != STS_OK) {
            ing->stats.failed += n;
            set_failing_locked(w, true);
        }
        pthread_mutex_unlock(&ing->lock);
        if (e != STS_OK)
            metric_add(ing->m_errors, 1);
        answer(first);
        pthread_mutex_lock(&ing->lock);
    }
    pthread_mutex_unlock(&ing->lock);
    return NULL;
}

/* The ids of keyring's keys, in the pseudonymizer's order (current first). */
static void keep_ids(struct ingest *ing, const struct sts_keyring *keyring)
{
    ing->n_keys = 0;
    ing->key_ids[ing->n_keys++] = sts_keyring_current(keyring)->id;
    for (size_t i = 0; i < keyring->n; i++)
        if (i != keyring->current)
            ing->key_ids[ing->n_keys++] = keyring->key[i].id;
}

enum sts_err ingest_new(struct store *const *stores, size_t n_stores, size_t max_batch,
                        const struct sts_keyring *keyring, struct ingest **out)
{
    if (n_stores == 0)
        return STS_EINVAL;
    struct ingest *ing = calloc(1, sizeof *ing);
    if (!ing)
        return STS_ENOMEM;
    enum sts_err e = sts_pseudonymizer_new_ring(keyring, &ing->pseudonymizer);
    if (e != STS_OK) {
        free(ing);
        return e;
    }
    keep_ids(ing, keyring);
    e = STS_ENOMEM;
    ing->max_batch = max_batch ? max_batch : 1;
    atomic_init(&ing->failing, 0);
    if (!(ing->writers = calloc(n_stores, sizeof *ing->writers)))
        goto fail_writers;
    ing->n_writers = n_stores;
    for (size_t i = 0; i < n_stores; i++) {
        ing->writers[i].ing = ing;
        ing->writers[i].store = stores[i];
        if (!(ing->writers[i].batch = calloc(ing->max_batch, sizeof *ing->writers[i].batch)))
            goto fail_writers;
    }
    if (pthread_rwlock_init(&ing->key_lock, NULL) != 0)
        goto fail_writers;
    if (pthread_mutex_init(&ing->lock, NULL) != 0)
        goto fail_rwlock;
    if (pthread_cond_init(&ing->wake, NULL) != 0)
        goto fail_mutex;
    for (; ing->started < n_stores; ing->started++) {
        struct writer *w = &ing->writers[ing->started];
        if (pthread_cond_init(&w->sync_wake, NULL) != 0)
            goto fail_threads;
        w->deferred = store_defer_sync(w->store) == STS_OK;
        if (w->deferred && pthread_create(&w->syncer, NULL, syncer_main, w) != 0) {
            pthread_cond_destroy(&w->sync_wake);
            e = STS_EIO;
            goto fail_threads;
        }
        w->syncer_started = w->deferred;
        if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
            pthread_mutex_lock(&ing->lock);
            w->writer_done = true;
            pthread_cond_signal(&w->sync_wake);
            pthread_mutex_unlock(&ing->lock);
            if (w->syncer_started)
                pthread_join(w->syncer, NULL);
            pthread_cond_destroy(&w->sync_wake);
            e = STS_EIO;
            goto fail_threads;
        }
    }
    *out = ing;
    return STS_OK;
fail_threads:
    ingest_stop(ing); /* joins the ones started: nothing is queued yet */
    for (size_t i = 0; i < ing->started; i++)
        pthread_cond_destroy(&ing->writers[i].sync_wake);
    pthread_cond_destroy(&ing->wake);
fail_mutex:
    pthread_mutex_destroy(&ing->lock);
fail_rwlock:
    pthread_rwlock_destroy(&ing->key_lock);
fail_writers:
    for (size_t i = 0; ing->writers && i < ing->n_writers; i++)
        free(ing->writers[i].batch);
    free(ing->writers);
    sts_pseudonymizer_free(ing->pseudonymizer);
    free(ing);
    return e;
}

void ingest_submit(struct ingest *ing, struct ingest_job *job)
{
    job->next = NULL;
    job->rec.outcome = STORE_PENDING;
    pthread_mutex_lock(&ing->lock);
    if (ing->stopping) {
        pthread_mutex_unlock(&ing->lock);
        job->rec.outcome = STORE_FAILED;
        job->done(job);
        return;
    }
    if (ing->tail)
        ing->tail->next = job;
    else
        ing->head = job;
    ing->tail = job;
    ing->queued++;
    metric_set(ing->m_queue, (int64_t)ing->queued);
    pthread_cond_signal(&ing->wake);
    pthread_mutex_unlock(&ing->lock);
}

void ingest_stop(struct ingest *ing)
{
    if (ing->joined)
        return;
    pthread_mutex_lock(&ing->lock);
    ing->stopping = true;
    pthread_cond_broadcast(&ing->wake);
    pthread_mutex_unlock(&ing->lock);
    for (size_t i = 0; i < ing->started; i++) {
        pthread_join(ing->writers[i].thread, NULL);
        if (ing->writers[i].syncer_started)
            pthread_join(ing->writers[i].syncer, NULL); /* it answers what is left first */
    }
    ing->joined = true;
}

void ingest_free(struct ingest *ing)
{
    if (!ing)
        return;
    ingest_stop(ing);
    for (size_t i = 0; i < ing->started; i++)
        pthread_cond_destroy(&ing->writers[i].sync_wake);
    pthread_cond_destroy(&ing->wake);
    pthread_mutex_destroy(&ing->lock);
    pthread_rwlock_destroy(&ing->key_lock);
    for (size_t i = 0; i < ing->n_writers; i++)
        free(ing->writers[i].batch);
    free(ing->writers);
    sts_pseudonymizer_free(ing->pseudonymizer);
    free(ing);
}

enum sts_err ingest_set_keyring(struct ingest *ing, const struct sts_keyring *keyring)
{
    struct sts_pseudonymizer *fresh = NULL, *old;
    enum sts_err e = sts_pseudonymizer_new_ring(keyring, &fresh);
    if (e != STS_OK)
        return e;
    pthread_rwlock_wrlock(&ing->key_lock);
    old = ing->pseudonymizer;
    ing->pseudonymizer = fresh;
    keep_ids(ing, keyring);
    pthread_rwlock_unlock(&ing->key_lock);
    /* No report is being pseudonymized with it any more; freeing wipes the
     * keyed HMAC states (OpenSSL cleanses a MAC context's key). */
    sts_pseudonymizer_free(old);
    return STS_OK;
}

size_t ingest_key_ids(struct ingest *ing, uint32_t ids[STS_KEYRING_MAX])
{
    pthread_rwlock_rdlock(&ing->key_lock);
    size_t n = ing->n_keys;
    memcpy(ids, ing->key_ids, n * sizeof ids[0]);
    pthread_rwlock_unlock(&ing->key_lock);
    return n;
}

/* The device's pseudonym under the current key (what is stored) and under
 * each older live key (what the store looks it up by, see store_record). */
static enum sts_err device_pseudonyms(const struct sts_pseudonymizer *pz, const char *imei,
                                      struct store_record *r)
{
    struct sts_pseudonyms all;
    enum sts_err e = sts_pseudonymizer_compute_all(pz, imei, &all);
    if (e == STS_OK) {
        memcpy(r->pseudonym, all.p[0], STS_PSEUDONYM_LEN);
        r->key_id = all.key_id[0];
        r->n_old = all.n - 1;
        for (size_t i = 1; i < all.n; i++) {
            r->old_key_id[i - 1] = all.key_id[i];
            memcpy(r->old_pseudonym[i - 1], all.p[i], STS_PSEUDONYM_LEN);
        }
    }
    OPENSSL_cleanse(&all, sizeof all);
    return e;
}

enum sts_err ingest_report(struct ingest *ing, char *body, size_t len, int32_t today,
                           struct ingest_job *job, struct ingest_refusal *why)
{
    struct sts_report rep;
    memset(rep.imei, 0, sizeof rep.imei); /* wiped below, even when refused early */
    enum sts_err e = sts_report_parse(body, len, today, &rep, &why->fe);
    OPENSSL_cleanse(body, len);
    if (e == STS_EINVAL || e == STS_ETOOBIG) {
        why->status = e == STS_ETOOBIG ? 413 : 400;
        why->kind = e == STS_ETOOBIG ? "too_large" : "invalid";
        e = STS_EINVAL;
        goto out;
    }
    if (e != STS_OK)
        goto out;
    struct store_record *r = &job->rec;
    memset(r, 0, sizeof *r);
    r->type = rep.type;
    memcpy(r->report_id, rep.report_id, sizeof r->report_id);
    memcpy(r->brand, rep.brand, sizeof r->brand);
    memcpy(r->model, rep.model, sizeof r->model);
    memcpy(r->sw, rep.sw, sizeof r->sw);
    memcpy(r->country, rep.country, sizeof r->country);
    if (rep.type == STS_REPORT_ACTIVATION) {
        r->day = rep.day;
        pthread_rwlock_rdlock(&ing->key_lock);
        e = device_pseudonyms(ing->pseudonymizer, rep.imei, r);
        pthread_rwlock_unlock(&ing->key_lock);
        if (e != STS_OK)
            goto out;
    } else {
        r->cohort = rep.cohort;
        r->period = rep.period;
        r->first = rep.first;
    }
out:
    OPENSSL_cleanse(rep.imei, sizeof rep.imei);
    return e;
}

unsigned ingest_answer(const struct ingest_job *job, const char **json, size_t *len)
{
    static const char accepted[] = "{\"status\":\"accepted\"}";
    static const char duplicate[] = "{\"status\":\"duplicate\"}";
    static const char failed[] = "{\"error\":\"unavailable\",\"field\":\"body\",\"detail\":"
                                 "\"the report could not be stored; retry later\"}";
    switch (job->rec.outcome) {
    case STORE_NEW:
    case STORE_REACTIVATION: *json = accepted, *len = sizeof accepted - 1; return 202;
    case STORE_DUPLICATE: *json = duplicate, *len = sizeof duplicate - 1; return 200;
    default: *json = failed, *len = sizeof failed - 1; return 503;
    }
}

void ingest_get_stats(struct ingest *ing, struct ingest_stats *out)
{
    pthread_mutex_lock(&ing->lock);
    *out = ing->stats;
    pthread_mutex_unlock(&ing->lock);
}

bool ingest_healthy(struct ingest *ing)
{
    return atomic_load(&ing->failing) == 0;
}
