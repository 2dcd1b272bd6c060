/* The pool of store handles (store_pool.h): a stack of idle handles under a
 * mutex, and a condition variable for borrowers waiting at the bound. A
 * handle is opened outside the lock, so that a slow connect holds up no
 * other borrower. */
#include "store_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct store_pool {
    char *uri;
    unsigned flags;
    size_t max;
    pthread_mutex_t lock;
    pthread_cond_t returned;
    struct store **idle; /* max slots, n_idle used: a stack */
    size_t n_idle;
    size_t n_open; /* idle, lent, or being opened */
    unsigned long long opened;
};

enum sts_err store_pool_new(const char *uri, unsigned flags, size_t max, struct store_pool **out)
{
    if (max == 0)
        return STS_EINVAL;
    struct store_pool *p = calloc(1, sizeof *p);
    if (!p)
        return STS_ENOMEM;
    if (!(p->uri = strdup(uri)) || !(p->idle = calloc(max, sizeof *p->idle)))
        goto fail;
    p->flags = flags;
    p->max = max;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&p->returned, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        goto fail;
    }
    *out = p;
    return STS_OK;
fail:
    free(p->idle);
    free(p->uri);
    free(p);
    return STS_ENOMEM;
}

enum sts_err store_pool_get(struct store_pool *pool, struct store **out, char *why, size_t whylen)
{
    pthread_mutex_lock(&pool->lock);
    while (pool->n_idle == 0 && pool->n_open >= pool->max)
        pthread_cond_wait(&pool->returned, &pool->lock);
    if (pool->n_idle) {
        *out = pool->idle[--pool->n_idle];
        pthread_mutex_unlock(&pool->lock);
        return STS_OK;
    }
    pool->n_open++; /* the slot is ours while we connect */
    pthread_mutex_unlock(&pool->lock);
    enum sts_err e = store_open(pool->uri, pool->flags, out, why, whylen);
    pthread_mutex_lock(&pool->lock);
    if (e == STS_OK) {
        pool->opened++;
    } else {
        pool->n_open--;
        pthread_cond_signal(&pool->returned); /* the slot is free again */
    }
    pthread_mutex_unlock(&pool->lock);
    return e;
}

void store_pool_put(struct store_pool *pool, struct store *store)
{
    if (!store)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->idle[pool->n_idle++] = store; /* n_idle < n_open <= max */
    pthread_cond_signal(&pool->returned);
    pthread_mutex_unlock(&pool->lock);
}

void store_pool_counts(struct store_pool *pool, size_t *open, unsigned long long *opened)
{
    pthread_mutex_lock(&pool->lock);
    *open = pool->n_open;
    *opened = pool->opened;
    pthread_mutex_unlock(&pool->lock);
}

void store_pool_free(struct store_pool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->n_idle; i++)
        store_close(pool->idle[i]);
    pthread_cond_destroy(&pool->returned);
    pthread_mutex_destroy(&pool->lock);
    free(pool->idle);
    free(pool->uri);
    free(pool);
}
