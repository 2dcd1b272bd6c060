/* Lifetime and software-version statistics, from the anonymous lifetime
 * counters (period, cohort, brand, model, sw, country, first) -> pings.
 *
 * Lifetime: the counters of each group (by brand, model, country) and cohort
 * become a panel P(a), F(a) over the complete months, and the product-limit
 * estimator of stats_impl.h turns it into a survival curve per cohort and one
 * pooled over the cohorts; the cohort sizes come from the sales rollup, with
 * the sales table's own suppression. Only ratios of panel counts are
 * published, each from counts of at least k pings, never the counts.
 *
 * Versions: pings per month, model and software version, with the share of
 * the version within the model's pings that month; the privacy floor and
 * complementary suppression apply within each (month, model) group, whose
 * total is what the shares reveal. docs/lifetime.md explains the choices. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_impl.h"
#include "sts/date.h"

void stats_life_add(struct stats_life_acc *acc, const int64_t *P, const int64_t *F, int nobs)
{
    for (int a = 0; a + 1 < nobs && a < STATS_LIFE_MAX_AGE; a++) {
        acc->risk[a] += P[a];
        acc->cont[a] += P[a + 1] - F[a + 1];
    }
}

int stats_life_survival(const struct stats_life_acc *acc, long k, double *S)
{
    int n = 1;
    S[0] = 1.0;
    for (int a = 0; a < STATS_LIFE_MAX_AGE; a++) {
        int64_t risk = acc->risk[a], cont = acc->cont[a];
        if (risk < k || cont < k)
            break;
        double h = (double)cont / (double)risk;
        if (h > 1.0)
            h = 1.0;
        S[a + 1] = S[a] * h;
        n = a + 2;
    }
    return n;
}

double stats_life_median(const double *S, int n)
{
    for (int a = 1; a < n; a++) {
        if (S[a] <= 0.5) {
            double drop = S[a - 1] - S[a];
            return drop > 0 ? (a - 1) + (S[a - 1] - 0.5) / drop : a;
        }
    }
    return -1.0;
}

/* The last month whose pings are all in: the current month is never
 * complete, and the month before only once its late pings' grace has passed. */
static int32_t last_complete_month(const struct stats_query *q)
{
    int32_t cur = sts_day_month(q->today);
    return q->today >= sts_month_first_day(cur) + q->grace_days ? cur - 1 : cur - 2;
}

/* ---- groups keyed by dimension values ---------------------------------- */

struct cohort {
    int64_t *P, *F; /* nobs each */
    int nobs;
    int64_t size;
    bool size_known, size_hidden;
};

struct group {
    char *vals[NDIM];       /* one per dimension of the query */
    struct cohort *cohorts; /* index: cohort - first */
};

struct groups {
    const struct stats_query *q;
    int32_t first, last; /* cohorts followed */
    int32_t through;     /* last complete period */
    struct group *g;
    size_t n, cap;
    enum sts_err err;
};

static struct group *find_group(struct groups *gs, const char *const vals[NDIM])
{
    for (size_t i = gs->n; i-- > 0;) {
        size_t d;
        for (d = 0; d < gs->q->nby; d++)
            if (strcmp(gs->g[i].vals[d], vals[gs->q->by[d]]) != 0)
                break;
        if (d == gs->q->nby)
            return &gs->g[i];
    }
    if (gs->n == gs->cap) {
        size_t cap = gs->cap ? 2 * gs->cap : 16;
        struct group *g = realloc(gs->g, cap * sizeof *g);
        if (!g)
            return NULL;
        gs->g = g;
        gs->cap = cap;
    }
    struct group *g = &gs->g[gs->n];
    memset(g, 0, sizeof *g);
    g->cohorts = calloc((size_t)(gs->last - gs->first + 1), sizeof *g->cohorts);
    if (!g->cohorts)
        return NULL;
    for (size_t d = 0; d < gs->q->nby; d++) {
        if (!(g->vals[d] = strdup(vals[gs->q->by[d]]))) {
            for (size_t j = 0; j < d; j++)
                free(g->vals[j]);
            free(g->cohorts);
            return NULL;
        }
    }
    gs->n++;
    return g;
}

static void groups_free(struct groups *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        for (size_t d = 0; d < gs->q->nby; d++)
            free(gs->g[i].vals[d]);
        for (int32_t c = 0; c <= gs->last - gs->first; c++) {
            free(gs->g[i].cohorts[c].P);
            free(gs->g[i].cohorts[c].F);
        }
        free(gs->g[i].cohorts);
    }
    free(gs->g);
}

static struct cohort *cohort_of(struct groups *gs, struct group *g, int32_t cohort)
{
    struct cohort *c = &g->cohorts[cohort - gs->first];
    if (!c->P) {
        c->nobs = gs->through - cohort + 1;
        c->P = calloc((size_t)c->nobs, sizeof *c->P);
        c->F = calloc((size_t)c->nobs, sizeof *c->F);
        if (!c->P || !c->F)
            return NULL;
    }
    return c;
}

static int add_ping(const struct store_life_row *row, void *ctx)
{
    struct groups *gs = ctx;
    const char *const vals[NDIM] = {row->brand, row->model, row->sw, row->country};
    if (row->cohort < gs->first || row->cohort > gs->last || row->period > gs->through ||
        row->period < row->cohort || !stats_row_matches(gs->q, vals))
        return 0;
    struct group *g = find_group(gs, vals);
    struct cohort *c = g ? cohort_of(gs, g, row->cohort) : NULL;
    if (!c) {
        gs->err = STS_ENOMEM;
        return 1;
    }
    int a = row->period - row->cohort;
    c->P[a] += row->count;
    if (row->first)
        c->F[a] += row->count;
    return 0;
}

/* The cohort sizes: activations per month from the sales table, suppressed
 * as that table is. */
static enum sts_err add_sizes(struct store *store, struct groups *gs)
{
    struct stats_query sq = *gs->q;
    struct stats_table t;
    sq.period = PERIOD_MONTH;
    sq.cumulative = false;
    sq.from = sts_month_first_day(gs->first);
    sq.to = sts_month_first_day(gs->last + 1) - 1;
    enum sts_err e = stats_sales_table(store, &sq, &t);
    if (e != STS_OK)
        return e;
    for (size_t i = 0; i < t.ncells; i++) {
        const struct stats_cell *cell = &t.cells[i];
        const char *vals[NDIM] = {"", "", "", ""};
        int32_t m;
        for (size_t d = 0; d < sq.nby; d++)
            vals[sq.by[d]] = cell->vals[1 + d];
        if (sts_month_parse(cell->vals[0], &m) != STS_OK || m < gs->first || m > gs->last)
            continue;
        struct group *g = find_group(gs, vals);
        if (!g) {
            e = STS_ENOMEM;
            break;
        }
        struct cohort *c = &g->cohorts[m - gs->first];
        c->size = cell->n[0];
        c->size_hidden = cell->hidden[0];
        c->size_known = true;
    }
    stats_table_free(&t);
    return e;
}

static json_t *curve_json(const double *S, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_real(round(S[i] * 10000.0) / 10000.0));
    return a;
}

static json_t *median_json(double m)
{
    return m < 0 ? json_null() : json_real(round(m * 100.0) / 100.0);
}

static _Thread_local int cmp_groups_nby;
static int cmp_groups(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    for (int d = 0; d < cmp_groups_nby; d++) {
        int c = strcmp(x->vals[d], y->vals[d]);
        if (c)
            return c;
    }
    return 0;
}

static void set_dims(json_t *o, const struct stats_query *q, char *const *vals)
{
    for (size_t d = 0; d < q->nby; d++)
        json_object_set_new(o, stats_dim_names[q->by[d]],
                            q->by[d] == DIM_COUNTRY && !*vals[d] ? json_null()
                                                                 : json_string(vals[d]));
}

static json_t *header_json(const char *stat, const struct stats_query *q)
{
    json_t *root = json_object(), *by = json_array();
    if (!root || !by) {
        json_decref(root);
        json_decref(by);
        return NULL;
    }
    for (size_t i = 0; i < q->nby; i++)
        json_array_append_new(by, json_string(stats_dim_names[q->by[i]]));
    json_object_set_new(root, "stat", json_string(stat));
    json_object_set_new(root, "by", by);
    json_object_set_new(root, "k", json_integer(q->k));
    json_t *f = NULL;
    for (size_t d = 0; d < NDIM; d++) {
        if (!q->filter[d])
            continue;
        if (!f && !(f = json_object()))
            break;
        json_object_set_new(f, stats_dim_names[d],
                            d == DIM_COUNTRY && !*q->filter[d] ? json_null()
                                                               : json_string(q->filter[d]));
    }
    if (f)
        json_object_set_new(root, "filter", f);
    return root;
}

enum sts_err stats_lifetime_json(struct store *store, const struct stats_query *q, json_t **out)
{
    struct groups gs = {.q = q};
    char label[STS_MONTH_LEN + 1];
    enum sts_err e = STS_OK;
    double *S = malloc((STATS_LIFE_MAX_AGE + 1) * sizeof *S);
    struct stats_life_acc *acc = malloc(sizeof *acc), *one = malloc(sizeof *one);
    json_t *root = NULL, *groups = NULL;
    if (!S || !acc || !one) {
        e = STS_ENOMEM;
        goto out;
    }
    gs.through = last_complete_month(q);
    gs.first = q->from == INT32_MIN ? INT32_MIN : sts_day_month(q->from);
    gs.last = q->to == INT32_MAX ? gs.through : sts_day_month(q->to);
    if (gs.last > gs.through)
        gs.last = gs.through;
    if (gs.first < gs.through - STATS_LIFE_MAX_AGE + 1)
        gs.first = gs.through - STATS_LIFE_MAX_AGE + 1;
    if (gs.first <= gs.last) {
        struct store_query sq;
        stats_store_query(q, &sq);
        sq.from = gs.first;
        sq.to = gs.through;
        e = store_lifetime_sum(store, &sq, add_ping, &gs);
        if (e == STS_OK && gs.err != STS_OK)
            e = gs.err;
        if (e == STS_OK)
            e = add_sizes(store, &gs);
        if (e != STS_OK)
            goto out;
    }
    cmp_groups_nby = (int)q->nby;
    if (gs.n > 1)
        qsort(gs.g, gs.n, sizeof *gs.g, cmp_groups);

    if (!(root = header_json("lifetime", q)) || !(groups = json_array())) {
        e = STS_ENOMEM;
        goto out;
    }
    sts_month_format(gs.through, label);
    json_object_set_new(root, "through", json_string(label));
    json_object_set_new(root, "grace_days", json_integer(q->grace_days));
    for (size_t i = 0; i < gs.n; i++) {
        struct group *g = &gs.g[i];
        json_t *gj = json_object(), *cj = json_array();
        if (!gj || !cj) {
            json_decref(gj);
            json_decref(cj);
            e = STS_ENOMEM;
            goto out;
        }
        set_dims(gj, q, g->vals);
        memset(acc, 0, sizeof *acc);
        for (int32_t c = gs.first; c <= gs.last; c++) {
            struct cohort *co = &g->cohorts[c - gs.first];
            if (!co->P && !co->size_known)
                continue;
            json_t *row = json_object();
            if (!row)
                continue;
            sts_month_format(c, label);
            json_object_set_new(row, "cohort", json_string(label));
            json_object_set_new(row, "size",
                                co->size_hidden ? json_null() : json_integer(co->size));
            int n = 1;
            S[0] = 1.0;
            /* A cohort under k devices shows no curve of its own (its pings
             * still count in the pooled curve, which needs k at every age). */
            if (co->P && !co->size_hidden && co->size >= q->k) {
                memset(one, 0, sizeof *one);
                stats_life_add(one, co->P, co->F, co->nobs);
                n = stats_life_survival(one, q->k, S);
            }
            if (co->P)
                stats_life_add(acc, co->P, co->F, co->nobs);
            json_object_set_new(row, "median", median_json(stats_life_median(S, n)));
            json_object_set_new(row, "survival", curve_json(S, n));
            json_array_append_new(cj, row);
        }
        int n = stats_life_survival(acc, q->k, S);
        json_object_set_new(gj, "median", median_json(stats_life_median(S, n)));
        json_object_set_new(gj, "survival", curve_json(S, n));
        json_object_set_new(gj, "cohorts", cj);
        json_array_append_new(groups, gj);
    }
    json_object_set_new(root, "groups", groups);
    groups = NULL;
    *out = root;
    root = NULL;
out:
    json_decref(root);
    json_decref(groups);
    groups_free(&gs);
    free(S);
    free(acc);
    free(one);
    return e;
}

/* ---- versions ----------------------------------------------------------- */

struct vrow {
    int32_t period;
    char *model, *sw;
    int64_t n;
    bool hidden, share_hidden;
    double share;
};

struct vtable {
    const struct stats_query *q;
    int32_t first, through;
    struct vrow *r;
    size_t n, cap;
    size_t *slots;
    size_t nslots;
    enum sts_err err;
};

static uint64_t vhash(int32_t period, const char *model, const char *sw)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uint32_t)period;
    for (const char *p = model; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
    for (const char *p = sw; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h * 1099511628211ull;
}

static bool vgrow(struct vtable *t)
{
    size_t nslots = t->nslots ? 2 * t->nslots : 256;
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        size_t s = vhash(t->r[i].period, t->r[i].model, t->r[i].sw) & (nslots - 1);
        while (slots[s])
            s = (s + 1) & (nslots - 1);
        slots[s] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return true;
}

static int add_version(const struct store_life_row *row, void *ctx)
{
    struct vtable *t = ctx;
    const char *const vals[NDIM] = {row->brand, row->model, row->sw, row->country};
    if (row->period < t->first || row->period > t->through || !stats_row_matches(t->q, vals))
        return 0;
    if (2 * (t->n + 1) > t->nslots && !vgrow(t))
        goto nomem;
    size_t s = vhash(row->period, row->model, row->sw) & (t->nslots - 1);
    while (t->slots[s]) {
        struct vrow *r = &t->r[t->slots[s] - 1];
        if (r->period == row->period && strcmp(r->model, row->model) == 0 &&
            strcmp(r->sw, row->sw) == 0)
            break;
        s = (s + 1) & (t->nslots - 1);
    }
    if (!t->slots[s]) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 128;
            struct vrow *r = realloc(t->r, cap * sizeof *r);
            if (!r)
                goto nomem;
            t->r = r;
            t->cap = cap;
        }
        struct vrow *r = &t->r[t->n];
        memset(r, 0, sizeof *r);
        r->period = row->period;
        r->model = strdup(row->model);
        r->sw = strdup(row->sw);
        if (!r->model || !r->sw) {
            free(r->model);
            free(r->sw);
            goto nomem;
        }
        t->slots[s] = ++t->n;
    }
    t->r[t->slots[s] - 1].n += row->count;
    return 0;
nomem:
    t->err = STS_ENOMEM;
    return 1;
}

static int cmp_vrows(const void *a, const void *b)
{
    const struct vrow *x = a, *y = b;
    int c = strcmp(x->model, y->model);
    if (c)
        return c;
    if (x->period != y->period)
        return x->period < y->period ? -1 : 1;
    return strcmp(x->sw, y->sw);
}

/* Within each (month, model) group: the floor and complementary suppression
 * on the counts, then the shares, hidden with their count, and all of the
 * group's shares hidden when its total cannot be shown (a share and a count
 * give the total). */
static enum sts_err suppress_versions(struct vtable *t)
{
    int64_t *n = calloc(t->n + 1, sizeof *n);
    bool *hidden = malloc((t->n + 1) * sizeof *hidden);
    if (!n || !hidden) {
        free(n);
        free(hidden);
        return STS_ENOMEM;
    }
    for (size_t i = 0; i < t->n;) {
        size_t j = i;
        int64_t total = 0;
        while (j < t->n && t->r[j].period == t->r[i].period &&
               strcmp(t->r[j].model, t->r[i].model) == 0) {
            n[j - i] = t->r[j].n;
            total += t->r[j].n;
            j++;
        }
        bool total_hidden = stats_suppress(n, j - i, t->q->k, hidden);
        for (size_t x = i; x < j; x++) {
            t->r[x].hidden = hidden[x - i];
            t->r[x].share_hidden = hidden[x - i] || total_hidden || total == 0;
            t->r[x].share = total ? (double)t->r[x].n / (double)total : 0;
        }
        i = j;
    }
    free(n);
    free(hidden);
    return STS_OK;
}

/* How fast each version spread: the first month it was seen (shown), and
 * the first month after that where it made at least half of its model's
 * pings. */
static json_t *spread_json(const struct vtable *t)
{
    json_t *spread = json_array();
    char label[STS_MONTH_LEN + 1];
    /* The rows are sorted by model then month; walk each model's versions. */
    for (size_t i = 0; spread && i < t->n;) {
        size_t j = i;
        int32_t model_first = INT32_MAX;
        while (j < t->n && strcmp(t->r[j].model, t->r[i].model) == 0) {
            if (!t->r[j].hidden && t->r[j].period < model_first)
                model_first = t->r[j].period;
            j++;
        }
        for (size_t v = i; v < j; v++) {
            bool seen_before = false;
            for (size_t w = i; w < v && !seen_before; w++)
                seen_before = strcmp(t->r[w].sw, t->r[v].sw) == 0;
            if (seen_before)
                continue;
            int32_t first = INT32_MAX, half = INT32_MAX;
            double peak = -1;
            for (size_t w = v; w < j; w++) {
                const struct vrow *r = &t->r[w];
                if (strcmp(r->sw, t->r[v].sw) != 0 || r->hidden)
                    continue;
                if (first == INT32_MAX)
                    first = r->period;
                if (!r->share_hidden) {
                    if (r->share > peak)
                        peak = r->share;
                    if (r->share >= 0.5 && half == INT32_MAX)
                        half = r->period;
                }
            }
            if (first == INT32_MAX)
                continue; /* never shown: not even its existence is published */
            json_t *o = json_object();
            if (!o)
                continue;
            json_object_set_new(o, "model", json_string(t->r[v].model));
            json_object_set_new(o, "sw", json_string(t->r[v].sw));
            sts_month_format(first, label);
            json_object_set_new(o, "first_seen", json_string(label));
            json_object_set_new(o, "seen_from_start", json_boolean(first == model_first));
            if (half != INT32_MAX) {
                sts_month_format(half, label);
                json_object_set_new(o, "half_share", json_string(label));
                json_object_set_new(o, "months_to_half", json_integer(half - first));
            } else {
                json_object_set_new(o, "half_share", json_null());
                json_object_set_new(o, "months_to_half", json_null());
            }
            json_object_set_new(o, "peak_share",
                                peak < 0 ? json_null() : json_real(round(peak * 10000) / 10000));
            json_array_append_new(spread, o);
        }
        i = j;
    }
    return spread;
}

enum sts_err stats_versions_json(struct store *store, const struct stats_query *q, json_t **out)
{
    struct vtable t = {.q = q};
    struct stats_query vq = *q;
    enum sts_err e;
    char label[STS_MONTH_LEN + 1];
    json_t *root = NULL, *rows = NULL;
    vq.nby = 2;
    vq.by[0] = DIM_MODEL;
    vq.by[1] = DIM_SW;
    t.through = last_complete_month(q);
    if (q->to != INT32_MAX && sts_day_month(q->to) < t.through)
        t.through = sts_day_month(q->to);
    t.first = q->from == INT32_MIN ? INT32_MIN : sts_day_month(q->from);
    struct store_query sq;
    stats_store_query(&vq, &sq);
    sq.from = t.first;
    sq.to = t.through;
    e = t.first <= t.through ? store_lifetime_sum(store, &sq, add_version, &t) : STS_OK;
    if (e == STS_OK && t.err != STS_OK)
        e = t.err;
    if (e != STS_OK)
        goto out;
    if (t.n > 1)
        qsort(t.r, t.n, sizeof *t.r, cmp_vrows);
    if ((e = suppress_versions(&t)) != STS_OK)
        goto out;
    e = STS_ENOMEM;
    if (!(root = header_json("versions", &vq)) || !(rows = json_array()))
        goto out;
    sts_month_format(t.through, label);
    json_object_set_new(root, "through", json_string(label));
    for (size_t i = 0; i < t.n; i++) {
        const struct vrow *r = &t.r[i];
        json_t *o = json_object();
        if (!o)
            goto out;
        sts_month_format(r->period, label);
        json_object_set_new(o, "period", json_string(label));
        json_object_set_new(o, "model", json_string(r->model));
        json_object_set_new(o, "sw", json_string(r->sw));
        json_object_set_new(o, "pings", r->hidden ? json_null() : json_integer(r->n));
        json_object_set_new(
            o, "share", r->share_hidden ? json_null() : json_real(round(r->share * 10000) / 10000));
        if (r->hidden)
            json_object_set_new(o, "suppressed", json_true());
        json_array_append_new(rows, o);
    }
    json_object_set_new(root, "rows", rows);
    rows = NULL;
    json_object_set_new(root, "spread", spread_json(&t));
    *out = root;
    root = NULL;
    e = STS_OK;
out:
    json_decref(root);
    json_decref(rows);
    for (size_t i = 0; i < t.n; i++) {
        free(t.r[i].model);
        free(t.r[i].sw);
    }
    free(t.r);
    free(t.slots);
    return e;
}

/* ---- text output ---------------------------------------------------------- */

static const char *dim_text(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "-";
}

static void fmt_share(char *buf, size_t cap, json_t *v, bool csv)
{
    if (!json_is_number(v))
        snprintf(buf, cap, "%s", csv ? "" : "*");
    else if (csv)
        snprintf(buf, cap, "%.4f", json_number_value(v));
    else
        snprintf(buf, cap, "%.1f", 100.0 * json_number_value(v));
}

void stats_lifetime_print(const json_t *doc, const char *format, FILE *out)
{
    bool csv = strcmp(format, "csv") == 0;
    json_t *by = json_object_get(doc, "by"), *groups = json_object_get(doc, "groups");
    size_t nby = json_array_size(by), maxage = 0, gi, ci;
    json_t *g, *c;
    json_array_foreach(groups, gi, g)
    {
        if (json_array_size(json_object_get(g, "survival")) > maxage + 1)
            maxage = json_array_size(json_object_get(g, "survival")) - 1;
        json_array_foreach(json_object_get(g, "cohorts"), ci,
                           c) if (json_array_size(json_object_get(c, "survival")) > maxage + 1)
            maxage = json_array_size(json_object_get(c, "survival")) - 1;
    }
    size_t ncol = nby + 3 + maxage, nrows = 1;
    json_array_foreach(groups, gi, g) nrows += 1 + json_array_size(json_object_get(g, "cohorts"));
    const char **cells = calloc(nrows * ncol, sizeof *cells);
    char(*buf)[24] = calloc(nrows * ncol, sizeof *buf);
    bool *numeric = calloc(ncol, sizeof *numeric);
    if (!cells || !buf || !numeric)
        goto out;
    for (size_t d = 0; d < nby; d++)
        cells[d] = json_string_value(json_array_get(by, d));
    cells[nby] = "cohort";
    cells[nby + 1] = "size";
    cells[nby + 2] = "median";
    for (size_t a = 1; a <= maxage; a++) {
        snprintf(buf[nby + 2 + a], sizeof buf[0], csv ? "s%zu" : "%zum", a);
        cells[nby + 2 + a] = buf[nby + 2 + a];
    }
    for (size_t i = nby + 1; i < ncol; i++)
        numeric[i] = true;
    size_t r = 1;
    json_array_foreach(groups, gi, g)
    {
        json_t *rowsrc[1 + 512];
        size_t nsrc = 0;
        rowsrc[nsrc++] = g;
        json_array_foreach(json_object_get(g, "cohorts"), ci,
                           c) if (nsrc < sizeof rowsrc / sizeof rowsrc[0]) rowsrc[nsrc++] = c;
        for (size_t s = 0; s < nsrc; s++, r++) {
            const char **row = cells + r * ncol;
            char(*rb)[24] = buf + r * ncol;
            json_t *src = rowsrc[s];
            for (size_t d = 0; d < nby; d++)
                row[d] = dim_text(json_object_get(g, json_string_value(json_array_get(by, d))));
            row[nby] = s == 0 ? "all" : json_string_value(json_object_get(src, "cohort"));
            json_t *size = json_object_get(src, "size");
            row[nby + 1] = s == 0 || csv ? "" : "*";
            if (s > 0 && json_is_integer(size)) {
                snprintf(rb[nby + 1], sizeof rb[0], "%lld", (long long)json_integer_value(size));
                row[nby + 1] = rb[nby + 1];
            }
            json_t *med = json_object_get(src, "median");
            row[nby + 2] = csv ? "" : "-";
            if (json_is_number(med)) {
                snprintf(rb[nby + 2], sizeof rb[0], "%.1f", json_number_value(med));
                row[nby + 2] = rb[nby + 2];
            }
            json_t *surv = json_object_get(src, "survival");
            for (size_t a = 1; a <= maxage; a++) {
                json_t *v = json_array_get(surv, a);
                if (v)
                    fmt_share(rb[nby + 2 + a], sizeof rb[0], v, csv);
                row[nby + 2 + a] = v ? rb[nby + 2 + a] : "";
            }
        }
    }
    if (csv) {
        for (size_t i = 0; i < nrows; i++)
            for (size_t j = 0; j < ncol; j++) {
                stats_csv_field(out, cells[i * ncol + j] ? cells[i * ncol + j] : "");
                fputs(j + 1 < ncol ? "," : "\r\n", out);
            }
    } else {
        fprintf(out,
                "Share of devices still in use after N months (%%), complete months "
                "through %s; k = %lld\n",
                json_string_value(json_object_get(doc, "through")),
                (long long)json_integer_value(json_object_get(doc, "k")));
        for (size_t i = 0; i < nrows * ncol; i++)
            if (!cells[i])
                cells[i] = "";
        stats_print_aligned(out, cells, nrows, ncol, numeric, 0);
        fputs("size: activations of the cohort month (* under k, or hidden so that such a cell "
              "cannot be recovered); median in months; a curve stops where fewer than k "
              "devices report\n",
              out);
    }
out:
    free(cells);
    free(buf);
    free(numeric);
}

void stats_versions_print(const json_t *doc, const char *format, FILE *out)
{
    bool csv = strcmp(format, "csv") == 0;
    json_t *rows = json_object_get(doc, "rows"), *spread = json_object_get(doc, "spread");
    size_t i;
    json_t *r;
    if (csv) {
        fputs("period,model,sw,pings,share\r\n", out);
        json_array_foreach(rows, i, r)
        {
            char n[32] = "", sh[32];
            json_t *p = json_object_get(r, "pings");
            if (json_is_integer(p))
                snprintf(n, sizeof n, "%lld", (long long)json_integer_value(p));
            fmt_share(sh, sizeof sh, json_object_get(r, "share"), true);
            fprintf(out, "%s,", json_string_value(json_object_get(r, "period")));
            stats_csv_field(out, json_string_value(json_object_get(r, "model")));
            fputc(',', out);
            stats_csv_field(out, json_string_value(json_object_get(r, "sw")));
            fprintf(out, ",%s,%s\r\n", n, sh);
        }
        return;
    }
    size_t n = json_array_size(rows) + 1, ns = json_array_size(spread) + 1;
    size_t cap = n > ns ? n : ns;
    const char **cells = calloc(cap * 5, sizeof *cells);
    char(*buf)[32] = calloc(cap * 5, sizeof *buf);
    static const bool numeric[5] = {false, false, false, true, true};
    if (!cells || !buf)
        goto out;
    const char *heads[5] = {"period", "model", "sw", "pings", "share%"};
    memcpy(cells, heads, sizeof heads);
    json_array_foreach(rows, i, r)
    {
        const char **row = cells + (i + 1) * 5;
        char(*rb)[32] = buf + (i + 1) * 5;
        json_t *p = json_object_get(r, "pings");
        row[0] = json_string_value(json_object_get(r, "period"));
        row[1] = json_string_value(json_object_get(r, "model"));
        row[2] = json_string_value(json_object_get(r, "sw"));
        if (json_is_integer(p))
            snprintf(rb[3], sizeof rb[0], "%lld", (long long)json_integer_value(p));
        else
            snprintf(rb[3], sizeof rb[0], "*");
        fmt_share(rb[4], sizeof rb[0], json_object_get(r, "share"), false);
        row[3] = rb[3];
        row[4] = rb[4];
    }
    fprintf(out, "Software versions in use (lifetime pings per month), through %s; k = %lld\n",
            json_string_value(json_object_get(doc, "through")),
            (long long)json_integer_value(json_object_get(doc, "k")));
    stats_print_aligned(out, cells, n, 5, numeric, 0);
    fputs("* suppressed: fewer than k devices, or hidden so that such a cell cannot be "
          "recovered from the model's total\n\n",
          out);
    static const bool snum[5] = {false, false, false, false, true};
    const char *sheads[5] = {"model", "sw", "first seen", "half share", "months"};
    memcpy(cells, sheads, sizeof sheads);
    json_array_foreach(spread, i, r)
    {
        const char **row = cells + (i + 1) * 5;
        char(*rb)[32] = buf + (i + 1) * 5;
        json_t *m = json_object_get(r, "months_to_half");
        row[0] = json_string_value(json_object_get(r, "model"));
        row[1] = json_string_value(json_object_get(r, "sw"));
        snprintf(rb[2], sizeof rb[0], "%s%s", json_string_value(json_object_get(r, "first_seen")),
                 json_is_true(json_object_get(r, "seen_from_start")) ? " (start)" : "");
        row[2] = rb[2];
        row[3] = json_is_string(json_object_get(r, "half_share"))
                     ? json_string_value(json_object_get(r, "half_share"))
                     : "-";
        if (json_is_integer(m))
            snprintf(rb[4], sizeof rb[0], "%lld", (long long)json_integer_value(m));
        else
            snprintf(rb[4], sizeof rb[0], "-");
        row[4] = rb[4];
    }
    fputs("How fast each version spread (months from first seen to half of its model's "
          "pings)\n",
          out);
    stats_print_aligned(out, cells, ns, 5, snum, 0);
out:
    free(cells);
    free(buf);
}
