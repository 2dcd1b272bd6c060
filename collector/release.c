/* The differentially private release (see release.h and docs/privacy.md):
 * table definitions, each table's noise under the budget, period closure,
 * per-cell noise derived from the secret seed, and the reading of released
 * cells from the store's counters. Store rows are summed to the table's
 * grain by sorting (O(n log n), memory bounded by the caller's cap). */
#include "release.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sts/date.h"
#include "sts/dgauss.h"

/* The shares add up to 1 over the tables one device can touch in a month. */
const struct release_def release_defs[REL_NTABLES] = {
#define A REL_ACTIVATION_MONTH
#define L REL_LATER_MONTHS
    [REL_SALES_MONTH] = {"sales.month", REL_MONTH, 0, 0.03, true, A, "activations per month"},
    [REL_SALES_MONTH_BM] = {"sales.month.brand.model", REL_MONTH, REL_BRAND | REL_MODEL, 0.20, true,
                            A, "activations per month, brand and model"},
    [REL_SALES_MONTH_BMC] = {"sales.month.brand.model.country", REL_MONTH,
                             REL_BRAND | REL_MODEL | REL_COUNTRY, 0.20, true, A,
                             "activations per month, brand, model and country"},
    [REL_SALES_MONTH_C] = {"sales.month.country", REL_MONTH, REL_COUNTRY, 0.06, true, A,
                           "activations per month and country"},
    [REL_SALES_MONTH_BMS] = {"sales.month.brand.model.sw", REL_MONTH,
                             REL_BRAND | REL_MODEL | REL_SW, 0.05, true, A,
                             "activations per month, brand, model and software version"},
    [REL_SALES_DAY_BM] = {"sales.day.brand.model", REL_DAY, REL_BRAND | REL_MODEL, 0.04, true, A,
                          "activations per day, brand and model"},
    [REL_REACT_MONTH_BM] = {"reactivations.month.brand.model", REL_MONTH, REL_BRAND | REL_MODEL,
                            0.06, true, A | L, "re-activations per month, brand and model"},
    [REL_LIFE0] = {"lifetime.month.brand.model.age0", REL_MONTH, REL_BRAND | REL_MODEL, 0.20, false,
                   A, "first lifetime pings at age 0 per month, brand and model"},
    [REL_LIFE] = {"lifetime.month.brand.model.cohort.first", REL_MONTH, REL_BRAND | REL_MODEL, 0.78,
                  false, L,
                  "lifetime pings at ages 1 and more per month, brand, model, cohort and first "
                  "flag"},
    [REL_VERSIONS] = {"versions.month.model.sw", REL_MONTH, REL_MODEL | REL_SW, 0.16, true, A | L,
                      "lifetime pings per month, model and software version"},
#undef A
#undef L
};

/* The standard normal quantile of 1 - RELEASE_DELTA_SELECT (10^-6): a cell
 * one device alone makes exist shows with probability below that. */
#define Z_SELECT 4.7534

enum sts_err release_noise_params(enum release_table t, double rho, long k,
                                  struct release_noise *out)
{
    memset(out, 0, sizeof *out);
    if (!(rho > 0 && rho <= 100) || t >= REL_NTABLES)
        return STS_EINVAL;
    out->rho = rho * release_defs[t].share;
    /* Each device changes one cell by at most 1, so sigma^2 = 1 / (2 rho_t)
     * gives rho_t-zCDP (Canonne, Kamath, Steinke 2020, Theorem 14). The
     * fraction is rounded up: a larger sigma^2 never spends more. */
    double s2 = 1.0 / (2.0 * out->rho);
    out->s2_den = 1000000;
    double num = ceil(s2 * (double)out->s2_den);
    if (!(num >= 1 && num <= (double)STS_DGAUSS_MAX))
        return STS_EINVAL;
    out->s2_num = (uint64_t)num;
    double sigma2 = (double)out->s2_num / (double)out->s2_den;
    out->variance = sts_dgauss_variance(sigma2);
    uint64_t h;
    if (sts_dgauss_interval(sigma2, 0.95, &h) != STS_OK)
        return STS_EINVAL;
    out->half95 = (int64_t)h;
    /* A cell holding one device is shown when 1 + noise reaches the
     * threshold: above the floor k, and high enough that this happens with
     * probability under RELEASE_DELTA_SELECT. */
    int64_t sel = (int64_t)ceil(1.0 + Z_SELECT * sqrt(sigma2));
    out->threshold = sel > k ? sel : k;
    return STS_OK;
}

double release_month_share(unsigned months)
{
    double sum = 0;
    for (int t = 0; t < REL_NTABLES; t++)
        if (release_defs[t].months & months)
            sum += release_defs[t].share;
    return sum;
}

enum sts_err release_init(struct release *r, struct store *store, long k, int32_t today,
                          long grace_days)
{
    /* The accounting of docs/privacy.md holds only if each kind of month
     * spends at most the whole budget. */
    if (release_month_share(REL_ACTIVATION_MONTH) > 1 + 1e-9 ||
        release_month_share(REL_LATER_MONTHS) > 1 + 1e-9)
        return STS_EINVAL;
    struct store_release p;
    memset(r, 0, sizeof *r);
    enum sts_err e = store_release_get(store, &p);
    if (e != STS_OK)
        return e;
    memcpy(r->seed, p.seed, sizeof r->seed);
    r->rho = p.rho > 0 ? p.rho : RELEASE_DEFAULT_RHO;
    OPENSSL_cleanse(&p, sizeof p);
    r->k = k;
    r->today = today;
    r->grace_days = grace_days;
    /* One query may take RELEASE_TIME_LIMIT seconds of reading cells. */
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) == 0)
        r->deadline = (double)now.tv_sec + (double)now.tv_nsec / 1e9 + RELEASE_TIME_LIMIT;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    r->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (!r->mac || !EVP_MAC_init(r->mac, r->seed, sizeof r->seed, params)) {
        release_cleanup(r);
        return STS_ECRYPTO;
    }
    for (int t = 0; t < REL_NTABLES; t++) {
        e = release_noise_params((enum release_table)t, r->rho, k, &r->noise[t]);
        if (e != STS_OK) {
            release_cleanup(r);
            return e;
        }
    }
    return STS_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The allow-list as one string ("" = any model). */
static char *models_joined(const struct release *r)
{
    size_t len = 1;
    for (size_t i = 0; i < r->nmodels; i++)
        len += strlen(r->models[i]) + 1;
    char *s = malloc(len), *w = s;
    if (!s)
        return NULL;
    *w = 0;
    for (size_t i = 0; i < r->nmodels; i++)
        w += snprintf(w, len - (size_t)(w - s), "%s%s", i ? "," : "", r->models[i]);
    return s;
}

enum sts_err release_set_models(struct release *r, const char *list)
{
    if (!list || !*list)
        return STS_OK;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    if (!(r->models = calloc(n, sizeof *r->models)))
        return STS_ENOMEM;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len && !(r->models[r->nmodels++] = strndup(p, len)))
            return STS_ENOMEM; /* release_cleanup frees what was made */
        p += len + (p[len] == ',');
    }
    qsort(r->models, r->nmodels, sizeof *r->models, cmp_str);
    return (r->models_list = models_joined(r)) ? STS_OK : STS_ENOMEM;
}

/* Whether a model counts under its own name (else under RELEASE_OTHER). */
static bool allowed(const struct release *r, const char *model)
{
    return !r->models || bsearch(&model, r->models, r->nmodels, sizeof *r->models, cmp_str);
}

void release_cleanup(struct release *r)
{
    for (size_t i = 0; i < r->nmodels; i++)
        free(r->models[i]);
    free(r->models);
    free(r->models_list);
    r->models = NULL;
    r->models_list = NULL;
    r->nmodels = 0;
    OPENSSL_cleanse(r->seed, sizeof r->seed);
    EVP_MAC_CTX_free(r->mac);
    r->mac = NULL;
}

int32_t release_last_day(const struct release *r)
{
    return r->today - 1 - (int32_t)r->grace_days;
}

int32_t release_last_month(const struct release *r)
{
    int32_t last = release_last_day(r);
    int32_t m = sts_day_month(last);
    /* A month is closed once its last day is. */
    return sts_month_first_day(m + 1) - 1 == last ? m : m - 1;
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

enum sts_err release_cell_noise(const struct release *r, enum release_table t, int32_t period,
                                const char *const *key, size_t nkey, int64_t *noise)
{
    /* The cell's identity, unambiguously framed: table name, period, then
     * each key value with its length. Its HMAC under the seed (a copy of the
     * context keyed once in release_init) keys the cell's own stream. */
    uint8_t seed[32], b4[4];
    enum sts_err e = STS_ECRYPTO;
    struct sts_rng *rng = NULL;
    EVP_MAC_CTX *ctx = r->mac ? EVP_MAC_CTX_dup(r->mac) : NULL;
    size_t outl = 0;
    if (!ctx)
        goto out;
    const char *name = release_defs[t].name;
    put32(b4, (uint32_t)strlen(name));
    if (!EVP_MAC_update(ctx, b4, 4) || !EVP_MAC_update(ctx, (const uint8_t *)name, strlen(name)))
        goto out;
    put32(b4, (uint32_t)period);
    if (!EVP_MAC_update(ctx, b4, 4))
        goto out;
    for (size_t i = 0; i < nkey; i++) {
        put32(b4, (uint32_t)strlen(key[i]));
        if (!EVP_MAC_update(ctx, b4, 4) ||
            !EVP_MAC_update(ctx, (const uint8_t *)key[i], strlen(key[i])))
            goto out;
    }
    /* A RELEASE_OTHER cell sums every model outside the allow-list: the
     * list is part of its identity. (Cells of a named model count the same
     * under any list and keep their noise.) */
    size_t mi = release_defs[t].dims & REL_BRAND ? 1 : 0;
    if (r->models_list && (release_defs[t].dims & REL_MODEL) && mi < nkey &&
        strcmp(key[mi], RELEASE_OTHER) == 0 && !allowed(r, RELEASE_OTHER)) {
        size_t len = strlen(r->models_list);
        put32(b4, (uint32_t)len);
        if (!EVP_MAC_update(ctx, b4, 4) ||
            !EVP_MAC_update(ctx, (const uint8_t *)r->models_list, len))
            goto out;
    }
    if (!EVP_MAC_final(ctx, seed, &outl, sizeof seed) || outl != sizeof seed)
        goto out;
    e = sts_rng_new(&rng, seed, sizeof seed);
    if (e == STS_OK)
        e = sts_dgauss_sample(rng, r->noise[t].s2_num, r->noise[t].s2_den, noise);
out:
    sts_rng_free(rng);
    OPENSSL_cleanse(seed, sizeof seed);
    EVP_MAC_CTX_free(ctx);
    return e;
}

bool release_expired(const struct release *r)
{
    struct timespec now;
    if (r->deadline <= 0 || clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return false;
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9 > r->deadline;
}

/* ---- Reading counters and summing them to a table's grain ---------------- */

/* One summed counter before noise: the period, up to four key strings (a
 * single allocation each), the cohort and first flag of REL_LIFE. */
struct row {
    enum release_table table;
    int32_t period;
    int32_t cohort;
    bool first;
    char *key[4];
    int64_t n;
};

struct rows {
    const struct release *rel;
    struct row *r;
    size_t n, cap, max;
    size_t nkey;
    enum release_table t;
    const struct release_filter *filter;
    enum sts_err err;
};

static int nkeys(unsigned dims)
{
    int n = 0;
    for (unsigned d = 1; d <= REL_COUNTRY; d <<= 1)
        n += (dims & d) != 0;
    return n;
}

static bool rows_push(struct rows *rs, int32_t period, int32_t cohort, bool first,
                      const char *const vals[4], int64_t n)
{
    if (rs->n == rs->cap) {
        if (rs->n >= rs->max) {
            rs->err = STS_ETOOBIG;
            return false;
        }
        size_t cap = rs->cap ? rs->cap * 2 : 256;
        struct row *p = realloc(rs->r, cap * sizeof *p);
        if (!p) {
            rs->err = STS_ENOMEM;
            return false;
        }
        rs->r = p;
        rs->cap = cap;
    }
    struct row *w = &rs->r[rs->n];
    memset(w, 0, sizeof *w);
    w->table = rs->t;
    w->period = period;
    w->cohort = cohort;
    w->first = first;
    w->n = n;
    size_t j = 0;
    unsigned dims = release_defs[rs->t].dims;
    for (unsigned d = 0; d < 4; d++) {
        if (!(dims & (1u << d)))
            continue;
        if (!(w->key[j++] = strdup(vals[d]))) {
            for (size_t i = 0; i + 1 < j; i++)
                free(w->key[i]);
            rs->err = STS_ENOMEM;
            return false;
        }
    }
    rs->n++;
    return true;
}

static void rows_free(struct rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        for (size_t j = 0; j < rs->nkey; j++)
            free(rs->r[i].key[j]);
    free(rs->r);
    rs->r = NULL;
    rs->n = rs->cap = 0;
}

static bool passes(const struct release_filter *f, const char *const vals[4])
{
    for (int d = 0; d < 4; d++)
        if (f && f->value[d] && strcmp(f->value[d], vals[d]) != 0)
            return false;
    return true;
}

static int sales_row(const struct store_sales_row *row, void *ctx)
{
    struct rows *rs = ctx;
    bool ok = allowed(rs->rel, row->model);
    const char *const vals[4] = {row->brand, ok ? row->model : RELEASE_OTHER,
                                 ok ? row->sw : RELEASE_OTHER, row->country};
    if (!passes(rs->filter, vals))
        return 0;
    int64_t n = rs->t == REL_REACT_MONTH_BM ? row->reactivations : row->activations;
    if (n == 0)
        return 0;
    int32_t period = release_defs[rs->t].grain == REL_DAY ? row->day : sts_day_month(row->day);
    return rows_push(rs, period, 0, false, vals, n) ? 0 : 1;
}

static int life_row(const struct store_life_row *row, void *ctx)
{
    struct rows *rs = ctx;
    bool ok = allowed(rs->rel, row->model);
    const char *const vals[4] = {row->brand, ok ? row->model : RELEASE_OTHER,
                                 ok ? row->sw : RELEASE_OTHER, row->country};
    if (!passes(rs->filter, vals) || row->count == 0)
        return 0;
    return rows_push(rs, row->period, row->cohort, row->first, vals, row->count) ? 0 : 1;
}

/* Versions counters are summed over cohorts and the first flag. */
static int version_row(const struct store_version_row *row, void *ctx)
{
    struct rows *rs = ctx;
    bool ok = allowed(rs->rel, row->model);
    const char *const vals[4] = {row->brand, ok ? row->model : RELEASE_OTHER,
                                 ok ? row->sw : RELEASE_OTHER, ""};
    if (!passes(rs->filter, vals) || row->count == 0)
        return 0;
    return rows_push(rs, row->period, 0, false, vals, row->count) ? 0 : 1;
}

static int cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->period != y->period)
        return x->period < y->period ? -1 : 1;
    for (int i = 0; i < 4 && x->key[i]; i++) {
        int c = strcmp(x->key[i], y->key[i]);
        if (c)
            return c;
    }
    if (x->cohort != y->cohort)
        return x->cohort < y->cohort ? -1 : 1;
    return (int)x->first - (int)y->first;
}

/* Sorts and merges rows with the same cell. */
static void rows_merge(struct rows *rs)
{
    if (rs->n < 2)
        return;
    qsort(rs->r, rs->n, sizeof *rs->r, cmp_row);
    size_t w = 0;
    for (size_t i = 1; i < rs->n; i++) {
        if (cmp_row(&rs->r[w], &rs->r[i]) == 0) {
            rs->r[w].n += rs->r[i].n;
            for (size_t j = 0; j < rs->nkey; j++)
                free(rs->r[i].key[j]);
        } else {
            rs->r[++w] = rs->r[i];
        }
    }
    rs->n = w + 1;
}

static enum sts_err read_rows(const struct release *r, struct store *store, enum release_table t,
                              int32_t from, int32_t to, const struct release_filter *filter,
                              size_t max, struct rows *rs)
{
    const struct release_def *def = &release_defs[t];
    struct store_query q;
    memset(rs, 0, sizeof *rs);
    rs->rel = r;
    rs->t = t;
    rs->nkey = (size_t)nkeys(def->dims);
    rs->filter = filter;
    rs->max = max;
    memset(&q, 0, sizeof q);
    q.dims = def->dims;
    for (int d = 0; d < 4; d++)
        q.filter[d] = filter ? filter->value[d] : NULL;
    /* "other" gathers many stored models: filter on it after the mapping. */
    if (r->models && q.filter[1] && !allowed(r, q.filter[1]))
        q.filter[1] = q.filter[2] = NULL;
    enum sts_err e;
    if (t == REL_LIFE || t == REL_VERSIONS) {
        int32_t last = release_last_month(r);
        q.from = from;
        q.to = to < last ? to : last;
        if (q.from > q.to)
            return STS_OK;
        e = t == REL_VERSIONS ? store_versions_sum(store, &q, version_row, rs)
                              : store_lifetime_sum(store, &q, life_row, rs);
    } else {
        if (def->grain == REL_DAY) {
            int32_t last = release_last_day(r);
            q.from = from;
            q.to = to < last ? to : last;
            q.grain = STORE_DAY;
        } else {
            int32_t last = release_last_month(r);
            int32_t tm = to < last ? to : last;
            q.from = from == INT32_MIN ? INT32_MIN : sts_month_first_day(from);
            q.to = sts_month_first_day(tm + 1) - 1;
            q.grain = STORE_MONTH;
            if (from > tm)
                return STS_OK;
        }
        if (q.from > q.to)
            return STS_OK;
        e = store_sales_sum(store, &q, sales_row, rs);
    }
    if (e == STS_OK)
        e = rs->err;
    if (e == STS_OK)
        rows_merge(rs);
    if (e != STS_OK)
        rows_free(rs);
    return e;
}

static bool cells_push(struct release_cells *c, const struct row *w, size_t nkey, int64_t value,
                       size_t max)
{
    if (c->n == c->cap) {
        if (c->n >= max)
            return false;
        size_t cap = c->cap ? c->cap * 2 : 256;
        struct release_cell *p = realloc(c->cell, cap * sizeof *p);
        if (!p)
            return false;
        c->cell = p;
        c->cap = cap;
    }
    struct release_cell *o = &c->cell[c->n];
    memset(o, 0, sizeof *o);
    o->period = w->period;
    o->cohort = w->cohort;
    o->first = w->first;
    o->value = value;
    o->table = w->table;
    for (size_t j = 0; j < nkey; j++) {
        if (!(o->key[j] = strdup(w->key[j]))) {
            for (size_t i = 0; i < j; i++)
                free(o->key[i]);
            return false;
        }
    }
    c->n++;
    return true;
}

void release_cells_free(struct release_cells *c)
{
    for (size_t i = 0; i < c->n; i++)
        for (int j = 0; j < 4; j++)
            free(c->cell[i].key[j]);
    free(c->cell);
    memset(c, 0, sizeof *c);
}

/* The noise key of a lifetime cell: brand, model, cohort month, first. */
static enum sts_err life_noise(const struct release *r, enum release_table t, const struct row *w,
                               int64_t *noise)
{
    char cohort[STS_MONTH_LEN + 1];
    sts_month_format(w->cohort, cohort);
    const char *key[4] = {w->key[0], w->key[1], cohort, w->first ? "1" : "0"};
    return release_cell_noise(r, t, w->period, key, 4, noise);
}

static int cmp_life_key(const struct row *x, int32_t period, const char *brand, const char *model,
                        int32_t cohort, bool first)
{
    if (x->period != period)
        return x->period < period ? -1 : 1;
    int c = strcmp(x->key[0], brand);
    if (c)
        return c;
    if ((c = strcmp(x->key[1], model)))
        return c;
    if (x->cohort != cohort)
        return x->cohort < cohort ? -1 : 1;
    return (int)x->first - (int)first;
}

static int64_t life_count(const struct rows *rs, int32_t period, const char *brand,
                          const char *model, int32_t cohort, bool first)
{
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_life_key(&rs->r[mid], period, brand, model, cohort, first);
        if (c == 0)
            return rs->r[mid].n;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int cmp_model_period(const void *a, const void *b)
{
    const struct release_cell *x = a, *y = b;
    int c = strcmp(x->key[0], y->key[0]);
    if (c || (c = strcmp(x->key[1], y->key[1])))
        return c;
    return x->period < y->period ? -1 : x->period > y->period;
}

/* REL_LIFE over its public domain: every model with a released sales cell,
 * every cohort from that model's first released month, every period from
 * the cohort to the last closed month, both first flags. */
static enum sts_err read_life(const struct release *r, struct store *store, int32_t from,
                              int32_t to, const struct release_filter *filter, size_t max,
                              struct release_cells *out)
{
    struct release_filter mf = {
        {filter ? filter->value[0] : NULL, filter ? filter->value[1] : NULL, NULL, NULL}};
    struct release_cells models = {0};
    struct rows rs;
    int32_t last = release_last_month(r);
    if (to > last)
        to = last;
    enum sts_err e = release_read(r, store, REL_SALES_MONTH_BM, INT32_MIN, last, &mf, max, &models);
    if (e != STS_OK)
        return e;
    e = read_rows(r, store, REL_LIFE, INT32_MIN, to, &mf, max, &rs);
    if (e != STS_OK)
        goto out;
    /* Each model's first released month: sort by model, then period. */
    if (models.n > 1)
        qsort(models.cell, models.n, sizeof *models.cell, cmp_model_period);
    for (size_t i = 0; i < models.n && e == STS_OK; i++) {
        const struct release_cell *m = &models.cell[i];
        if (i > 0 && strcmp(models.cell[i - 1].key[0], m->key[0]) == 0 &&
            strcmp(models.cell[i - 1].key[1], m->key[1]) == 0)
            continue;
        for (int32_t c = m->period; c <= to && e == STS_OK; c++) {
            for (int32_t p = c > from ? c : from; p <= to && e == STS_OK; p++) {
                for (int f = 0; f < 2 && e == STS_OK; f++) {
                    /* A device joins the panel in its activation month at the
                     * latest, so every ping of age 0 is a first one: that cell
                     * is zero by the protocol and is not released at all. */
                    if (p == c && f == 0)
                        continue;
                    struct row w = {.period = p,
                                    .cohort = c,
                                    .first = f != 0,
                                    .key = {m->key[0], m->key[1], NULL, NULL}};
                    int64_t noise;
                    w.n = life_count(&rs, p, m->key[0], m->key[1], c, f != 0);
                    if ((out->n & 4095) == 4095 && release_expired(r)) {
                        e = STS_ETOOBIG;
                        break;
                    }
                    enum release_table lt = p == c ? REL_LIFE0 : REL_LIFE;
                    e = life_noise(r, lt, &w, &noise);
                    if (e == STS_OK && !cells_push(out, &w, 2, w.n + noise, max))
                        e = out->n >= max ? STS_ETOOBIG : STS_ENOMEM;
                    if (e == STS_OK)
                        out->cell[out->n - 1].table = lt;
                }
            }
        }
    }
    rows_free(&rs);
out:
    release_cells_free(&models);
    return e;
}

static enum sts_err read_store(const struct release *r, struct store *store, enum release_table t,
                               int32_t from, int32_t to, const struct release_filter *filter,
                               size_t max_cells, struct release_cells *out)
{
    if (t == REL_LIFE)
        return read_life(r, store, from, to, filter, max_cells, out);
    struct rows rs;
    enum sts_err e = read_rows(r, store, t, from, to, filter, max_cells, &rs);
    if (e != STS_OK)
        return e;
    for (size_t i = 0; i < rs.n && e == STS_OK; i++) {
        int64_t noise;
        if ((i & 4095) == 4095 && release_expired(r)) {
            e = STS_ETOOBIG;
            break;
        }
        e = release_cell_noise(r, t, rs.r[i].period, (const char *const *)rs.r[i].key, rs.nkey,
                               &noise);
        if (e != STS_OK)
            break;
        int64_t v = rs.r[i].n + noise;
        if (v < r->noise[t].threshold)
            continue; /* never shown, never summed: as if the cell did not exist */
        if (!cells_push(out, &rs.r[i], rs.nkey, v, max_cells))
            e = out->n >= max_cells ? STS_ETOOBIG : STS_ENOMEM;
    }
    rows_free(&rs);
    return e;
}

/* ---- The cache of released tables ------------------------------------------ */

/* Every cell of a closed period is final (late reports count in open
 * periods, erasures never touch a counter), so a table's released cells,
 * once read whole, answer every later query of the same release until the
 * next period closes: reading and noising them again is the cost of a query.
 * Entries are keyed by the release's identity (a value derived from the
 * seed, never the seed itself), its parameters, the allow-list and the last
 * closed period; they hold what release_read would return unfiltered. The
 * lock is held only to look up, copy and insert, never while reading the
 * store, so ingestion and other queries never wait on a read. */
#define CACHE_ENTRIES    32
#define CACHE_MAX_CELLS  2000000
#define CACHE_FILL_CELLS 250000 /* the largest table one query reads whole to keep it */

struct cache_entry {
    bool used;
    bool too_big; /* larger than CACHE_FILL_CELLS: not kept, reads go to the store */
    uint8_t id[32];
    double rho;
    long k;
    int32_t last;
    enum release_table t;
    char *models; /* the allow-list joined, "" = any */
    struct release_cells cells;
    uint64_t stamp;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry cache[CACHE_ENTRIES];
static size_t cache_cells;
static uint64_t cache_clock;

/* The release's identity: HMAC(seed, "release cache"), so two databases
 * never share entries and the cache holds nothing the seed could be had from. */
static bool cache_id(const struct release *r, uint8_t id[32])
{
    static const char label[] = "release cache";
    EVP_MAC_CTX *ctx = r->mac ? EVP_MAC_CTX_dup(r->mac) : NULL;
    size_t outl = 0;
    bool ok = ctx && EVP_MAC_update(ctx, (const uint8_t *)label, sizeof label - 1) &&
              EVP_MAC_final(ctx, id, &outl, 32) && outl == 32;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static bool cache_match(const struct cache_entry *c, const uint8_t id[32], const struct release *r,
                        enum release_table t, int32_t last, const char *models)
{
    return c->used && c->t == t && c->last == last && c->k == r->k && c->rho == r->rho &&
           memcmp(c->id, id, 32) == 0 && strcmp(c->models, models) == 0;
}

static void cache_drop(struct cache_entry *c)
{
    cache_cells -= c->cells.n;
    release_cells_free(&c->cells);
    free(c->models);
    memset(c, 0, sizeof *c);
}

/* Appends the cells of src within from..to that pass filter. */
static enum sts_err cells_select(const struct release_cells *src, enum release_table t,
                                 int32_t from, int32_t to, const struct release_filter *filter,
                                 size_t max, struct release_cells *out)
{
    unsigned dims = release_defs[t].dims;
    size_t nkey = (size_t)nkeys(dims);
    for (size_t i = 0; i < src->n; i++) {
        const struct release_cell *c = &src->cell[i];
        if (c->period < from || c->period > to)
            continue;
        const char *vals[4] = {NULL, NULL, NULL, NULL};
        for (unsigned d = 0, j = 0; d < 4; d++)
            if (dims & (1u << d))
                vals[d] = c->key[j++];
        bool pass = true;
        for (int d = 0; d < 4 && pass; d++)
            pass = !filter || !filter->value[d] || strcmp(filter->value[d], vals[d]) == 0;
        if (!pass)
            continue;
        struct row w = {.table = c->table,
                        .period = c->period,
                        .cohort = c->cohort,
                        .first = c->first,
                        .key = {c->key[0], c->key[1], c->key[2], c->key[3]}};
        if (!cells_push(out, &w, nkey, c->value, max))
            return out->n >= max ? STS_ETOOBIG : STS_ENOMEM;
        out->cell[out->n - 1].table = c->table;
    }
    return STS_OK;
}

/* Keeps all (a whole table) under the lock, or marks it too big to keep;
 * takes all and models when kept. */
static void cache_insert(const uint8_t id[32], const struct release *r, enum release_table t,
                         int32_t last, char **models, struct release_cells *all, bool too_big)
{
    bool dup = false;
    for (size_t i = 0; i < CACHE_ENTRIES; i++)
        dup = dup || cache_match(&cache[i], id, r, t, last, *models);
    if (dup || all->n > CACHE_MAX_CELLS)
        return;
    /* The oldest entry makes room, then others while over the cap. */
    size_t victim = 0;
    for (size_t i = 0; i < CACHE_ENTRIES; i++) {
        if (!cache[i].used) {
            victim = i;
            break;
        }
        if (cache[i].stamp < cache[victim].stamp)
            victim = i;
    }
    if (cache[victim].used)
        cache_drop(&cache[victim]);
    while (cache_cells + all->n > CACHE_MAX_CELLS) {
        size_t old = CACHE_ENTRIES;
        for (size_t i = 0; i < CACHE_ENTRIES; i++)
            if (cache[i].used && (old == CACHE_ENTRIES || cache[i].stamp < cache[old].stamp))
                old = i;
        if (old == CACHE_ENTRIES)
            break;
        cache_drop(&cache[old]);
    }
    struct cache_entry *c = &cache[victim];
    c->used = true;
    c->too_big = too_big;
    memcpy(c->id, id, sizeof c->id);
    c->rho = r->rho;
    c->k = r->k;
    c->last = last;
    c->t = t;
    c->models = *models;
    c->cells = *all;
    c->stamp = ++cache_clock;
    cache_cells += all->n;
    *models = NULL;
    memset(all, 0, sizeof *all);
}

enum sts_err release_read(const struct release *r, struct store *store, enum release_table t,
                          int32_t from, int32_t to, const struct release_filter *filter,
                          size_t max_cells, struct release_cells *out)
{
    /* A filter on a dimension the table does not have would sum part of a
     * cell's counters under the whole cell's noise: that sum less the cell
     * is the other part's exact count. Only the table's own cells are read. */
    if (t >= REL_NTABLES)
        return STS_EINVAL;
    for (unsigned d = 0; d < 4; d++)
        if (filter && filter->value[d] && !(release_defs[t].dims & (1u << d)))
            return STS_EINVAL;
    uint8_t id[32];
    if (!r->cache || !cache_id(r, id))
        return read_store(r, store, t, from, to, filter, max_cells, out);
    int32_t last = release_defs[t].grain == REL_DAY ? release_last_day(r) : release_last_month(r);
    char *models = models_joined(r);
    if (!models)
        return STS_ENOMEM;
    enum sts_err e = STS_OK;
    bool hit = false, too_big = false;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_ENTRIES && !hit; i++) {
        if (cache_match(&cache[i], id, r, t, last, models)) {
            hit = true;
            too_big = cache[i].too_big;
            cache[i].stamp = ++cache_clock;
            if (!too_big)
                e = cells_select(&cache[i].cells, t, from, to, filter, max_cells, out);
        }
    }
    pthread_mutex_unlock(&cache_lock);
    if (hit && !too_big) {
        free(models);
        return e;
    }
    /* A miss reads the whole table once (outside the lock), keeps it and
     * answers from it. A whole table can be far larger than what a filtered
     * query asks (fresh model strings without an allow-list): past
     * CACHE_FILL_CELLS the table is marked too big until the next period
     * closes, and this read and the later ones read what they ask. */
    struct release_cells all = {0};
    if (!too_big) {
        size_t cap = max_cells < CACHE_FILL_CELLS ? max_cells : CACHE_FILL_CELLS;
        e = read_store(r, store, t, INT32_MIN, last, NULL, cap, &all);
        if (e == STS_OK) {
            e = cells_select(&all, t, from, to, filter, max_cells, out);
            pthread_mutex_lock(&cache_lock);
            cache_insert(id, r, t, last, &models, &all, false);
            pthread_mutex_unlock(&cache_lock);
            release_cells_free(&all);
            free(models);
            return e;
        }
        release_cells_free(&all);
        if (e != STS_ETOOBIG || release_expired(r)) {
            free(models);
            return e;
        }
        pthread_mutex_lock(&cache_lock);
        cache_insert(id, r, t, last, &models, &all, true);
        pthread_mutex_unlock(&cache_lock);
    }
    free(models);
    return read_store(r, store, t, from, to, filter, max_cells, out);
}
