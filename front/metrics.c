/* The metrics registry (see metrics.h): a fixed array of series, each a
 * counter, a gauge or a histogram with its own atomics; rendering walks the
 * array and writes HELP and TYPE once per family. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BOUNDS 24

struct metric {
    enum metric_type type;
    const char *name, *help, *labels;
    atomic_llong value; /* counter, gauge; histogram: count */
    size_t nbounds;
    double bounds[MAX_BOUNDS];
    atomic_ullong buckets[MAX_BOUNDS]; /* not cumulative; +Inf is value */
    atomic_ullong sum_bits;            /* a double, updated by compare and swap */
};

struct metrics {
    size_t n;
    struct metric series[METRICS_MAX];
};

enum sts_err metrics_new(struct metrics **out)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return STS_ENOMEM;
    *out = m;
    return STS_OK;
}

void metrics_free(struct metrics *m)
{
    free(m);
}

struct metric *metrics_add(struct metrics *m, enum metric_type type, const char *name,
                           const char *help, const char *labels, const double *bounds,
                           size_t nbounds)
{
    if (!m || m->n >= METRICS_MAX)
        return NULL;
    if (type == METRIC_HISTOGRAM && (nbounds == 0 || nbounds > MAX_BOUNDS))
        return NULL;
    for (size_t i = 1; type == METRIC_HISTOGRAM && i < nbounds; i++)
        if (!(bounds[i] > bounds[i - 1]))
            return NULL;
    struct metric *x = &m->series[m->n++];
    x->type = type;
    x->name = name;
    x->help = help;
    x->labels = labels;
    if (type == METRIC_HISTOGRAM) {
        x->nbounds = nbounds;
        memcpy(x->bounds, bounds, nbounds * sizeof *bounds);
    }
    return x;
}

void metric_add(struct metric *x, int64_t n)
{
    if (x)
        atomic_fetch_add(&x->value, n);
}

void metric_set(struct metric *x, int64_t v)
{
    if (x)
        atomic_store(&x->value, v);
}

static double bits_double(unsigned long long b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static unsigned long long double_bits(double d)
{
    unsigned long long b;
    memcpy(&b, &d, sizeof b);
    return b;
}

void metric_observe(struct metric *x, double v)
{
    if (!x || x->type != METRIC_HISTOGRAM || isnan(v))
        return;
    for (size_t i = 0; i < x->nbounds; i++)
        if (v <= x->bounds[i]) {
            atomic_fetch_add(&x->buckets[i], 1);
            break;
        }
    unsigned long long old = atomic_load(&x->sum_bits);
    while (!atomic_compare_exchange_weak(&x->sum_bits, &old, double_bits(bits_double(old) + v)))
        ;
    atomic_fetch_add(&x->value, 1);
}

int64_t metric_value(const struct metric *x)
{
    return x ? atomic_load(&((struct metric *)x)->value) : 0;
}

struct metric *metrics_find(struct metrics *m, const char *name, const char *labels)
{
    for (size_t i = 0; m && i < m->n; i++) {
        struct metric *x = &m->series[i];
        if (strcmp(x->name, name) == 0 &&
            (x->labels && labels ? strcmp(x->labels, labels) == 0 : x->labels == labels))
            return x;
    }
    return NULL;
}

int64_t metrics_sum(struct metrics *m, const char *name, const char *prefix)
{
    int64_t sum = 0;
    size_t plen = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; m && i < m->n; i++) {
        struct metric *x = &m->series[i];
        if (x->type != METRIC_HISTOGRAM && strcmp(x->name, name) == 0 &&
            (plen == 0 || (x->labels && strncmp(x->labels, prefix, plen) == 0)))
            sum += metric_value(x);
    }
    return sum;
}

/* A growing text buffer; on failure it stays failed and render says so. */
struct text {
    char *s;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    for (int tries = 0; !t->failed && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

static const char *const type_name[] = {"counter", "gauge", "histogram"};

/* {labels} or {labels,extra} or {extra} or nothing. */
static void put_labels(struct text *t, const char *labels, const char *extra)
{
    bool l = labels && *labels, e = extra && *extra;
    if (!l && !e)
        return;
    put(t, "{%s%s%s}", l ? labels : "", l && e ? "," : "", e ? extra : "");
}

enum sts_err metrics_render(struct metrics *m, char **out, size_t *len)
{
    struct text t = {.cap = 4096};
    if (!(t.s = malloc(t.cap)))
        return STS_ENOMEM;
    t.s[0] = '\0';
    for (size_t i = 0; i < m->n; i++) {
        struct metric *x = &m->series[i];
        if (i == 0 || strcmp(m->series[i - 1].name, x->name) != 0)
            put(&t, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name, type_name[x->type]);
        if (x->type != METRIC_HISTOGRAM) {
            put(&t, "%s", x->name);
            put_labels(&t, x->labels, NULL);
            put(&t, " %lld\n", (long long)atomic_load(&x->value));
            continue;
        }
        /* The count is read first: buckets observed meanwhile only make
         * the +Inf bucket (the count) lag, never the buckets exceed it. */
        long long count = atomic_load(&x->value);
        unsigned long long cum = 0;
        char le[48];
        for (size_t b = 0; b < x->nbounds; b++) {
            cum += atomic_load(&x->buckets[b]);
            snprintf(le, sizeof le, "le=\"%.10g\"", x->bounds[b]);
            put(&t, "%s_bucket", x->name);
            put_labels(&t, x->labels, le);
            put(&t, " %llu\n", cum < (unsigned long long)count ? cum : (unsigned long long)count);
        }
        put(&t, "%s_bucket", x->name);
        put_labels(&t, x->labels, "le=\"+Inf\"");
        put(&t, " %lld\n%s_sum", count, x->name);
        put_labels(&t, x->labels, NULL);
        put(&t, " %.17g\n%s_count", bits_double(atomic_load(&x->sum_bits)), x->name);
        put_labels(&t, x->labels, NULL);
        put(&t, " %lld\n", count);
    }
    if (t.failed) {
        free(t.s);
        return STS_ENOMEM;
    }
    *out = t.s;
    *len = t.len;
    return STS_OK;
}
