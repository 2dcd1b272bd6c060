/* The failing allocator and the N-loop of alloc_fail.h. */
#include "alloc_fail.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <execinfo.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/jsonmem.h"

/* SQLite is linked only into the tests of the collector. */
#pragma weak sqlite3_config

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static atomic_bool armed, persistent, fired;
static atomic_ulong target, seen;

/* With ALLOC_FAIL_TRACE set, the stack of each failed allocation goes to
 * stderr: the way to find the call that did not handle it. */
static void trace(void)
{
    if (getenv("ALLOC_FAIL_TRACE")) {
        void *frames[32];
        backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
        fputs("----\n", stderr);
    }
}

/* Whether this allocation is to fail. */
static bool fail_now(void)
{
    if (!atomic_load(&armed))
        return false;
    unsigned long k = atomic_fetch_add(&seen, 1) + 1;
    unsigned long n = atomic_load(&target);
    if (k == n || (atomic_load(&persistent) && k > n)) {
        atomic_store(&fired, true);
        trace();
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : __real_strndup(s, n);
}

static void *crypto_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return __wrap_malloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return __wrap_realloc(p, n);
}

static void crypto_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* SQLite wants the size of a block back: keep it in a header, 16 bytes so
 * that the block stays aligned for any type. */
#define HDR 16

static void *sq_malloc(int n)
{
    unsigned char *p = fail_now() ? NULL : __real_malloc((size_t)n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    return p + HDR;
}

static void sq_free(void *p)
{
    if (p)
        free((unsigned char *)p - HDR);
}

static int sq_size(void *p)
{
    int n;
    memcpy(&n, (unsigned char *)p - HDR, sizeof n);
    return n;
}

static void *sq_realloc(void *p, int n)
{
    if (!p)
        return sq_malloc(n);
    unsigned char *q =
        fail_now() ? NULL : __real_realloc((unsigned char *)p - HDR, (size_t)n + HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof n);
    return q + HDR;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *app)
{
    (void)app;
    return SQLITE_OK;
}

static void sq_shutdown(void *app)
{
    (void)app;
}

void alloc_fail_install(void)
{
    /* Links lib/jsonmem.c in, whose constructor routes Jansson's allocations
     * through malloc, and so through the wrapper. */
    sts_json_watch_start();
    static const sqlite3_mem_methods sq = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                           sq_roundup, sq_init, sq_shutdown, NULL};
    if (!CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free)) {
        fprintf(stderr, "alloc_fail: OpenSSL allocated before alloc_fail_install\n");
        abort();
    }
    if (sqlite3_config && sqlite3_config(SQLITE_CONFIG_MALLOC, &sq) != SQLITE_OK) {
        fprintf(stderr, "alloc_fail: SQLite was initialised before alloc_fail_install\n");
        abort();
    }
}

void alloc_fail_arm(unsigned long n, bool persist)
{
    atomic_store(&seen, 0);
    atomic_store(&target, n);
    atomic_store(&persistent, persist);
    atomic_store(&fired, false);
    atomic_store(&armed, true);
}

bool alloc_fail_disarm(void)
{
    atomic_store(&armed, false);
    return atomic_load(&fired);
}

/* A bound on N: an operation that still fails after this many allocations
 * is looping, not allocating. */
#define N_MAX 200000

unsigned long alloc_fail_loop(const char *name, alloc_fail_op op, void *ctx,
                              const enum sts_err *allowed, size_t nallowed)
{
    unsigned long most = 0;
    /* One run first with nothing failing: libraries set up global state on
     * first use (OpenSSL's providers and its random generator), and OpenSSL
     * makes a failure there permanent, by design. That happens once, at
     * start-up, where a program out of memory stops anyway. */
    enum sts_err first = op(ctx);
    if (first != STS_OK)
        fail_msg("%s: fails with nothing failing: %s", name, sts_strerror(first));
    for (int mode = 0; mode < 2; mode++) {
        unsigned long n;
        unsigned long outcomes[32] = {0};
        for (n = 1; n <= N_MAX; n++) {
            alloc_fail_arm(n, mode == 1);
            enum sts_err e = op(ctx);
            bool failed = alloc_fail_disarm();
            if (!failed) {
                if (e != STS_OK)
                    fail_msg("%s: no allocation failed at N=%lu, yet it returned %s", name, n,
                             sts_strerror(e));
                break;
            }
            /* STS_OK: the failure was survived (OpenSSL, say, does without
             * an error-queue entry). The operation checks its results. */
            size_t i = 0;
            while (e != STS_OK && i < nallowed && allowed[i] != e)
                i++;
            if (e != STS_OK && i == nallowed)
                fail_msg("%s: allocation %lu failed (%s), and it returned %s", name, n,
                         mode ? "and every one after" : "alone", sts_strerror(e));
            outcomes[(unsigned)e < 32 ? (unsigned)e : 31]++;
        }
        if (n > N_MAX)
            fail_msg("%s: still failing after %d allocations", name, N_MAX);
        if (n - 1 > most)
            most = n - 1;
        printf("%s (%s): %lu allocations;", name, mode ? "from the Nth on" : "the Nth alone",
               n - 1);
        for (unsigned i = 0; i < 32; i++)
            if (outcomes[i])
                printf(" %lu x %s", outcomes[i], sts_strerror((enum sts_err)i));
        printf("\n");
    }
    return most;
}
