/* The running logs' one-second clock (see tick.h): a condition variable
 * waited on with a one-second deadline, so that tick_stop wakes it at once. */
#include "tick.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sys/prctl.h>

struct tick {
    tick_fn fn;
    void *ctx;
    long summary_s;
    long long ticks;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

static void *run(void *arg)
{
    prctl(PR_SET_NAME, "sts-tick"); /* for top -H and /proc: which thread is busy */
    struct tick *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (t->stopping)
            break;
        pthread_mutex_unlock(&t->lock);
        t->ticks++;
        t->fn(t->ctx, t->summary_s > 0 && t->ticks % t->summary_s == 0, false);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    t->fn(t->ctx, false, true);
    return NULL;
}

enum sts_err tick_start(tick_fn fn, void *ctx, long summary_s, struct tick **out)
{
    struct tick *t = calloc(1, sizeof *t);
    if (!t)
        return STS_ENOMEM;
    t->fn = fn;
    t->ctx = ctx;
    t->summary_s = summary_s;
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&t->wake, NULL) != 0)
        goto fail_mutex;
    if (pthread_create(&t->thread, NULL, run, t) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return STS_EIO;
    }
    *out = t;
    return STS_OK;
fail_mutex:
    pthread_mutex_destroy(&t->lock);
fail:
    free(t);
    return STS_ENOMEM;
}

void tick_stop(struct tick *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
