/* The fleet's sending threads. See drive.h. POSIX threads rather than C11
 * <threads.h>: ThreadSanitizer follows the former only. */
#include "drive.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "retry.h"
#include "send.h"

#define MAX_PROBLEMS_SHOWN 5

struct shared {
    const struct fleet *f;
    const struct fleet_drive_opts *opts;
    bool reactivations; /* the phase: first activations, then resets */
    atomic_size_t next; /* next device index to take */
    struct fleet_tally tally;
};

struct worker {
    struct shared *sh;
    unsigned id;
    int error; /* enum sts_err when the thread could not start work */
};

/* Prints "sts-fleet: what: a: b" for the first few problems only. */
void fleet_problem(struct fleet_tally *t, const char *what, const char *a, const char *b)
{
    unsigned n = atomic_fetch_add(&t->problems, 1);
    if (n < MAX_PROBLEMS_SHOWN)
        fprintf(stderr, "sts-fleet: %s: %s: %s\n", what, a, b);
    else if (n == MAX_PROBLEMS_SHOWN)
        fprintf(stderr, "sts-fleet: (further problems not shown)\n");
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void fleet_post(struct fleet_tally *t, struct agent_sender *s, const struct fleet_drive_opts *o,
                struct fleet_rng *rng, const char *json)
{
    for (unsigned attempt = 1;; attempt++) {
        struct agent_answer ans;
        enum sts_err rc = agent_sender_post(s, json, strlen(json), &ans);
        enum agent_verdict v = rc == STS_ENOMEM ? AGENT_RETRY
                                                : agent_retry_classify(ans.status, ans.content_type,
                                                                       ans.body, ans.body_len);
        if (v == AGENT_DONE) {
            atomic_fetch_add(ans.status == 202 ? &t->accepted : &t->duplicate, 1);
        } else if (v == AGENT_REJECT) {
            atomic_fetch_add(&t->rejected, 1);
            fleet_problem(t, "rejected", json, ans.body ? ans.body : "(no body)");
        } else if (attempt >= o->max_attempts) {
            atomic_fetch_add(&t->failed, 1);
            fleet_problem(t, "gave up after the last attempt", json,
                          ans.status ? "HTTP error" : ans.error);
        } else {
            atomic_fetch_add(&t->retries, 1);
            int64_t d = agent_retry_delay_ms(attempt, o->retry_base_ms, o->retry_cap_ms,
                                             ans.retry_after_ms, fleet_rng_next(rng));
            agent_answer_cleanup(&ans);
            sleep_ms(d);
            continue;
        }
        agent_answer_cleanup(&ans);
        return;
    }
}

void fleet_tally_get(struct fleet_tally *t, struct fleet_counts *c)
{
    c->accepted = atomic_load(&t->accepted);
    c->duplicate = atomic_load(&t->duplicate);
    c->rejected = atomic_load(&t->rejected);
    c->failed = atomic_load(&t->failed);
    c->retries = atomic_load(&t->retries);
    c->invalid = atomic_load(&t->invalid);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    const struct fleet_drive_opts *o = sh->opts;
    struct agent_sender *s = NULL;
    struct agent_sender_opts so = {
        .collector = o->collector,
        .timeout_ms = o->timeout_ms,
    };
    struct fleet_rng rng = {.s = o->seed ^ (0x5bd1e995ULL * (w->id + 1))};

    if (agent_sender_new(&so, &s) != STS_OK) {
        w->error = STS_ENOMEM;
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->f->n)
            break;
        const struct fleet_device *d = &sh->f->dev[i];
        if (sh->reactivations && d->react_day == 0)
            continue;
        struct agent_facts facts = d->facts;
        int32_t day = d->day;
        if (sh->reactivations) {
            memcpy(facts.sw, d->react_sw, sizeof facts.sw);
            day = d->react_day;
        }
        struct sts_report r;
        struct sts_field_error warn, err;
        char *json = NULL;
        if (agent_report_activation(&facts, d->consent, day, &r, &warn, &err) != STS_OK ||
            sts_report_encode(&r, &json) != STS_OK) {
            atomic_fetch_add(&sh->tally.invalid, 1);
            fleet_problem(&sh->tally, "cannot build a report", err.field, err.detail);
            continue;
        }
        fleet_post(&sh->tally, s, sh->opts, &rng, json);
        free(json);
    }
    agent_sender_free(s);
    return NULL;
}

static enum sts_err run_phase(struct shared *sh, unsigned n_threads)
{
    pthread_t *t = calloc(n_threads, sizeof *t);
    struct worker *w = calloc(n_threads, sizeof *w);
    unsigned started = 0;
    enum sts_err rc = STS_OK;
    if (t == NULL || w == NULL) {
        rc = STS_ENOMEM;
        goto out;
    }
    atomic_store(&sh->next, 0);
    for (unsigned i = 0; i < n_threads; i++) {
        w[i].sh = sh;
        w[i].id = i;
        if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
            break;
        started++;
    }
    if (started == 0)
        rc = STS_ENET;
    for (unsigned i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < started; i++)
        if (w[i].error != 0 && rc == STS_OK)
            rc = (enum sts_err)w[i].error;
out:
    free(t);
    free(w);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum sts_err fleet_drive(const struct fleet *f, const struct fleet_drive_opts *opts,
                         struct fleet_counts *counts)
{
    struct shared *sh = calloc(1, sizeof *sh);
    memset(counts, 0, sizeof *counts);
    if (sh == NULL)
        return STS_ENOMEM;
    sh->f = f;
    sh->opts = opts;
    double t0 = now_s();
    sh->reactivations = false;
    enum sts_err rc = run_phase(sh, opts->concurrency);
    if (rc == STS_OK && f->reactivations > 0) {
        sh->reactivations = true;
        rc = run_phase(sh, opts->concurrency);
    }
    counts->seconds = now_s() - t0;
    fleet_tally_get(&sh->tally, counts);
    free(sh);
    return rc;
}
