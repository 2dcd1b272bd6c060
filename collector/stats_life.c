/* Lifetime and software-version statistics, from the released lifetime
 * table (pings per month, brand, model, cohort and first flag, every cell of
 * its public domain with noise) and the released versions table.
 *
 * Lifetime: each group's cohorts become N(a), F(a) over the closed months and
 * the product-limit estimator (stats_impl.h) turns them into a curve per
 * cohort and one pooled over the cohorts. The 95 % intervals of a curve and
 * its median come from re-running the estimator on the released values with
 * the release's own noise drawn again (a parametric bootstrap: post-
 * processing, it sees nothing but released values). Cohort sizes are the
 * released monthly sales of the group.
 *
 * Versions: the released pings of each (month, model, version), and their
 * share of the model's released pings that month (from the lifetime table,
 * whose sums are unbiased), with intervals by the delta method.
 * docs/lifetime.md and docs/privacy.md explain the choices. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stats_impl.h"
#include "sts/date.h"

#define dim_names stats_dim_names

void stats_life_add(struct stats_life_acc *acc, const double *N, const double *F, int nobs)
{
    for (int a = 0; a + 1 < nobs && a < STATS_LIFE_MAX_AGE; a++) {
        acc->risk[a] += N[a] + F[a];
        acc->cont[a] += N[a + 1];
    }
}

int stats_life_survival(const struct stats_life_acc *acc, double min_panel, double *S)
{
    /* The product of the monthly shares, each only floored at 0: capping
     * them at 1 (so the curve never rises) biased the curve down wherever
     * the noise is a fair part of a month's panel, since a share is then
     * often above 1 by chance. The curve is made non-increasing afterwards
     * by a weighted isotonic regression (pool adjacent violators), each age
     * weighted by the panel behind its step, S(0) = 1 fixed, then kept in
     * [0, 1]. */
    static _Thread_local double w[STATS_LIFE_MAX_AGE + 1], bv[STATS_LIFE_MAX_AGE + 1],
        bw[STATS_LIFE_MAX_AGE + 1];
    static _Thread_local int bn[STATS_LIFE_MAX_AGE + 1];
    int n = 1;
    S[0] = 1.0;
    w[0] = INFINITY;
    for (int a = 0; a < STATS_LIFE_MAX_AGE; a++) {
        double risk = acc->risk[a], cont = acc->cont[a];
        if (risk < min_panel || risk <= 0)
            break;
        double h = cont / risk;
        S[a + 1] = S[a] * (h < 0 ? 0 : h);
        w[a + 1] = risk;
        n = a + 2;
    }
    int nb = 0;
    for (int a = 0; a < n; a++) {
        bv[nb] = S[a];
        bw[nb] = w[a];
        bn[nb++] = 1;
        while (nb > 1 && bv[nb - 2] < bv[nb - 1]) {
            double wa = bw[nb - 2], wb = bw[nb - 1];
            bv[nb - 2] = isinf(wa) ? bv[nb - 2] : (wa * bv[nb - 2] + wb * bv[nb - 1]) / (wa + wb);
            bw[nb - 2] = wa + wb;
            bn[nb - 2] += bn[nb - 1];
            nb--;
        }
    }
    for (int b = 0, a = 0; b < nb; b++)
        for (int j = 0; j < bn[b]; j++, a++)
            S[a] = bv[b] < 0 ? 0 : bv[b] > 1 ? 1 : bv[b];
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

/* Replicates of the parametric bootstrap behind every lifetime interval. */
#define BOOT           200
#define LIFE_MAX_CELLS 1000000

/* A small deterministic generator for the bootstrap (xoshiro256**): the
 * intervals must not change between two identical queries, and this
 * randomness protects nothing (it only re-draws noise of known size). */
struct boot_rng {
    uint64_t s[4];
    uint64_t bits; /* unused 16-bit indexes of the last draw */
    int nbits;
};

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t boot_next(struct boot_rng *g)
{
    uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* A standard normal draw, exact enough for a bootstrap: one of 65,536
 * fixed normal values (drawn once, then standardised to mean 0 and variance
 * 1) picked by 16 random bits. Computing a logarithm and a cosine per draw
 * was most of a lifetime answer's time. */
#define NORMAL_TABLE 65536
static double normal_table[NORMAL_TABLE];
static pthread_once_t normal_once = PTHREAD_ONCE_INIT;

static void normal_table_fill(void)
{
    struct boot_rng g = {{0x6e6f726d616c2121ull, 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull,
                          0x94d049bb133111ebull},
                         0,
                         0};
    double sum = 0, sq = 0;
    for (size_t i = 0; i < NORMAL_TABLE; i += 2) {
        double u1 = ((double)(boot_next(&g) >> 11) + 0.5) / 9007199254740992.0;
        double u2 = (double)(boot_next(&g) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1));
        normal_table[i] = r * cos(6.283185307179586 * u2);
        normal_table[i + 1] = r * sin(6.283185307179586 * u2);
    }
    for (size_t i = 0; i < NORMAL_TABLE; i++)
        sum += normal_table[i];
    double mean = sum / NORMAL_TABLE;
    for (size_t i = 0; i < NORMAL_TABLE; i++)
        sq += (normal_table[i] - mean) * (normal_table[i] - mean);
    double sd = sqrt(sq / NORMAL_TABLE);
    for (size_t i = 0; i < NORMAL_TABLE; i++)
        normal_table[i] = (normal_table[i] - mean) / sd;
}

static double boot_normal(struct boot_rng *g)
{
    if (g->nbits == 0) {
        g->bits = boot_next(g);
        g->nbits = 4;
    }
    double z = normal_table[g->bits & (NORMAL_TABLE - 1)];
    g->bits >>= 16;
    g->nbits--;
    return z;
}

static void boot_seed(struct boot_rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull; /* splitmix64 */
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        g->s[i] = z ^ (z >> 31);
    }
    g->nbits = 0;
    pthread_once(&normal_once, normal_table_fill);
}

/* The k-th smallest of v[0..n-1] (0-based), reordering v: Hoare's
 * selection, linear on average, where sorting each age's replicates was the
 * bulk of a lifetime answer's time. */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* ---- Lifetime groups ------------------------------------------------------ */

struct group {
    const char *vals[NDIM]; /* borrowed from the released cells */
    struct stats_life_cohort *c;
    size_t nc;
};

static int group_cmp(const struct stats_query *q, const struct release_cell *x,
                     const struct release_cell *y)
{
    for (size_t i = 0; i < q->nby; i++) {
        int d = q->by[i] == DIM_BRAND ? 0 : 1;
        int c = strcmp(x->key[d], y->key[d]);
        if (c)
            return c;
    }
    return 0;
}

static _Thread_local const struct stats_query *life_q;
static int cmp_life_cells(const void *a, const void *b)
{
    const struct release_cell *x = a, *y = b;
    int c = group_cmp(life_q, x, y);
    if (c)
        return c;
    if (x->cohort != y->cohort)
        return x->cohort < y->cohort ? -1 : 1;
    return x->period < y->period ? -1 : x->period > y->period;
}

static void groups_free(struct group *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < g[i].nc; j++) {
            free(g[i].c[j].N);
            free(g[i].c[j].F);
            free(g[i].c[j].vN);
            free(g[i].c[j].vF);
        }
        free(g[i].c);
    }
    free(g);
}

/* Builds the groups from cells sorted by group, cohort, period. */
static enum sts_err build_groups(const struct release *r, const struct stats_query *q,
                                 const struct release_cells *cells, int32_t c0, int32_t c1,
                                 int32_t last, struct group **out, size_t *nout)
{
    struct group *g = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < cells->n;) {
        size_t j = i;
        while (j < cells->n && group_cmp(q, &cells->cell[i], &cells->cell[j]) == 0)
            j++;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct group *p = realloc(g, cap * sizeof *p);
            if (!p)
                goto nomem;
            g = p;
        }
        struct group *gr = &g[n++];
        memset(gr, 0, sizeof *gr);
        for (size_t b = 0; b < q->nby; b++)
            gr->vals[q->by[b]] = cells->cell[i].key[q->by[b] == DIM_BRAND ? 0 : 1];
        int32_t lo = INT32_MAX, hi = INT32_MIN;
        for (size_t k = i; k < j; k++) {
            int32_t c = cells->cell[k].cohort;
            if (c < c0 || c > c1)
                continue;
            lo = c < lo ? c : lo;
            hi = c > hi ? c : hi;
        }
        if (lo <= hi) {
            gr->nc = (size_t)(hi - lo + 1);
            if (!(gr->c = calloc(gr->nc, sizeof *gr->c)))
                goto nomem;
            for (size_t k = 0; k < gr->nc; k++) {
                struct stats_life_cohort *co = &gr->c[k];
                co->month = lo + (int32_t)k;
                co->nobs = last - co->month + 1;
                if (co->nobs > STATS_LIFE_MAX_AGE + 1)
                    co->nobs = STATS_LIFE_MAX_AGE + 1;
                co->N = calloc((size_t)co->nobs, sizeof *co->N);
                co->F = calloc((size_t)co->nobs, sizeof *co->F);
                co->vN = calloc((size_t)co->nobs, sizeof *co->vN);
                co->vF = calloc((size_t)co->nobs, sizeof *co->vF);
                if (!co->N || !co->F || !co->vN || !co->vF)
                    goto nomem;
            }
            for (size_t k = i; k < j; k++) {
                const struct release_cell *c = &cells->cell[k];
                if (c->cohort < lo || c->cohort > hi)
                    continue;
                struct stats_life_cohort *co = &gr->c[c->cohort - lo];
                int age = c->period - c->cohort;
                if (age < 0 || age >= co->nobs)
                    continue;
                /* A group sums the cells of several brands: the noise of
                 * each entry is that of every cell added into it. */
                (c->first ? co->F : co->N)[age] += (double)c->value;
                (c->first ? co->vF : co->vN)[age] += r->noise[c->table].variance;
            }
        }
        i = j;
    }
    *out = g;
    *nout = n;
    return STS_OK;
nomem:
    groups_free(g, n);
    return STS_ENOMEM;
}

/* One curve (pooled when one is negative) from the released values,
 * perturbed by the release's noise when g is not NULL: each entry by a
 * normal draw of its own noise variance. Without g the curve stops where
 * the panel P(a) is under min_panel plus 5 standard deviations of its own
 * noise (the variances of every cell summed into it): past that the noise
 * dominates, and clipping h(a) to [0, 1] there biases the curve down. */
static int curve(const struct stats_life_cohort *c, size_t nc, long one, double min_panel,
                 struct boot_rng *g, double *S)
{
    static _Thread_local struct stats_life_acc acc;
    static _Thread_local double N[STATS_LIFE_MAX_AGE + 1], F[STATS_LIFE_MAX_AGE + 1];
    /* Only the ages some cohort reaches are added to; the estimator stops at
     * the first age with no panel, so zeroing those (and one more) is enough. */
    size_t k0 = one >= 0 ? (size_t)one : 0, k1 = one >= 0 ? (size_t)one + 1 : nc;
    int maxn = 0;
    for (size_t k = k0; k < k1; k++)
        maxn = c[k].nobs > maxn ? c[k].nobs : maxn;
    maxn = maxn + 1 < STATS_LIFE_MAX_AGE ? maxn + 1 : STATS_LIFE_MAX_AGE;
    memset(acc.risk, 0, (size_t)maxn * sizeof acc.risk[0]);
    memset(acc.cont, 0, (size_t)maxn * sizeof acc.cont[0]);
    static _Thread_local double rvar[STATS_LIFE_MAX_AGE + 1];
    if (!g)
        memset(rvar, 0, (size_t)maxn * sizeof rvar[0]);
    for (size_t k = k0; k < k1; k++) {
        const struct stats_life_cohort *co = &c[k];
        for (int a = 0; !g && a + 1 < co->nobs && a < STATS_LIFE_MAX_AGE; a++)
            rvar[a] += co->vN[a] + co->vF[a];
        for (int a = 0; a < co->nobs; a++) {
            N[a] = co->N[a] + (g && co->vN[a] > 0 ? sqrt(co->vN[a]) * boot_normal(g) : 0);
            F[a] = co->F[a] + (g && co->vF[a] > 0 ? sqrt(co->vF[a]) * boot_normal(g) : 0);
        }
        stats_life_add(&acc, N, F, co->nobs);
    }
    if (g)
        return stats_life_survival(&acc, 0, S);
    int n = stats_life_survival(&acc, 0, S);
    for (int a = 0; a + 1 < n; a++)
        if (acc.risk[a] < min_panel + 5.0 * sqrt(rvar[a]))
            return a + 1;
    return n;
}

enum sts_err stats_life_curve(const struct stats_life_cohort *c, size_t nc, long one,
                              double min_panel, uint64_t seed, struct stats_life_curve *out)
{
    double B[STATS_LIFE_MAX_AGE + 2];
    int n = curve(c, nc, one, min_panel, NULL, out->S);
    double *reps = malloc((size_t)BOOT * (size_t)(n + 1) * sizeof *reps);
    if (!reps)
        return STS_ENOMEM;
    out->n = n;
    struct boot_rng g;
    boot_seed(&g, seed);
    for (int b = 0; b < BOOT; b++) {
        int m = curve(c, nc, one, 0, &g, B);
        for (int a = 0; a < n; a++)
            reps[(size_t)a * BOOT + (size_t)b] = a < m ? B[a] : 0;
        double med = stats_life_median(B, m);
        reps[(size_t)n * BOOT + (size_t)b] = med < 0 ? INFINITY : med;
    }
    for (int a = 0; a <= n; a++) {
        double *v = reps + (size_t)a * BOOT;
        double lo = select_kth(v, BOOT, BOOT / 40), hi = select_kth(v, BOOT, BOOT - 1 - BOOT / 40);
        if (a < n) {
            out->lo[a] = lo;
            out->hi[a] = hi;
        } else {
            out->median_lo = lo;
            out->median_hi = hi;
        }
    }
    out->median = stats_life_median(out->S, n);
    free(reps);
    return STS_OK;
}

static json_t *round4(double v)
{
    return json_real(round(v * 10000) / 10000);
}

/* The curve, its interval per age and the median with its interval. */
static enum sts_err curve_json(json_t *o, const struct group *gr, long one, double min_panel)
{
    static _Thread_local struct stats_life_curve cv;
    json_t *surv = json_array(), *ci = json_array();
    uint64_t seed = 0x5354535f4c494645ull ^ (uint64_t)(one >= 0 ? gr->c[one].month : -1);
    if (!surv || !ci || stats_life_curve(gr->c, gr->nc, one, min_panel, seed, &cv) != STS_OK) {
        json_decref(surv);
        json_decref(ci);
        return STS_ENOMEM;
    }
    for (int a = 0; a < cv.n; a++) {
        json_array_append_new(surv, round4(cv.S[a]));
        json_array_append_new(ci, json_pack("[o,o]", round4(cv.lo[a]), round4(cv.hi[a])));
    }
    double med = cv.median;
    json_object_set_new(o, "median", med < 0 ? json_null() : json_real(round(med * 100) / 100));
    if (med < 0)
        json_object_set_new(o, "median_ci", json_null());
    else
        json_object_set_new(o, "median_ci",
                            json_pack("[o,o]", json_real(round(cv.median_lo * 100) / 100),
                                      isinf(cv.median_hi)
                                          ? json_null()
                                          : json_real(round(cv.median_hi * 100) / 100)));
    json_object_set_new(o, "survival", surv);
    json_object_set_new(o, "survival_ci", ci);
    return STS_OK;
}

static void set_dims(json_t *o, const struct stats_query *q, const char *const *vals)
{
    for (size_t d = 0; d < q->nby; d++)
        json_object_set_new(o, dim_names[q->by[d]], json_string(vals[q->by[d]]));
}

static json_t *header_json(const char *stat, const struct stats_query *q, int32_t through)
{
    json_t *root = json_object(), *by = json_array();
    char label[STS_MONTH_LEN + 1];
    if (!root || !by) {
        json_decref(root);
        json_decref(by);
        return NULL;
    }
    for (size_t i = 0; i < q->nby; i++)
        json_array_append_new(by, json_string(dim_names[q->by[i]]));
    json_object_set_new(root, "stat", json_string(stat));
    json_object_set_new(root, "by", by);
    json_object_set_new(root, "k", json_integer(q->k));
    json_t *f = stats_filter_json(q);
    if (f)
        json_object_set_new(root, "filter", f);
    sts_month_format(through, label);
    json_object_set_new(root, "through", json_string(label));
    json_object_set_new(root, "grace_days", json_integer(q->grace_days));
    return root;
}

/* The released sales of a group's cohort month: its size. */
static void cohort_size(json_t *row, const struct release *r, const struct release_cells *sales,
                        const struct stats_query *q, const struct group *gr, int32_t month)
{
    int64_t n = 0;
    int cells = 0;
    for (size_t i = 0; i < sales->n; i++) {
        const struct release_cell *c = &sales->cell[i];
        if (c->period != month)
            continue;
        bool same = true;
        for (size_t b = 0; same && b < q->nby; b++)
            same = strcmp(c->key[q->by[b] == DIM_BRAND ? 0 : 1], gr->vals[q->by[b]]) == 0;
        if (same)
            n += c->value, cells++;
    }
    if (cells == 0 || n < q->k) {
        json_object_set_new(row, "size", json_null());
        json_object_set_new(row, "size_ci", json_null());
        return;
    }
    json_object_set_new(row, "size", json_integer(n));
    json_object_set_new(
        row, "size_ci",
        stats_ci_json(n, stats_half95(r, REL_SALES_MONTH_BM, cells,
                                      cells * r->noise[REL_SALES_MONTH_BM].variance)));
}

static struct release_filter filter_of(const struct stats_query *q)
{
    struct release_filter f = {{q->filter[0], q->filter[1], q->filter[2], q->filter[3]}};
    return f;
}

/* Reads two released tables for one answer; past the cap or the time limit
 * *err says how to narrow the query. Errors: those of release_read. */
static enum sts_err read_two(const struct release *r, struct store *store, enum release_table ta,
                             int32_t a0, int32_t a1, const struct release_filter *fa,
                             struct release_cells *ca, enum release_table tb, int32_t b0,
                             int32_t b1, const struct release_filter *fb, struct release_cells *cb,
                             struct sts_field_error *err)
{
    enum sts_err e = release_read(r, store, ta, a0, a1, fa, LIFE_MAX_CELLS, ca);
    if (e == STS_OK)
        e = release_read(r, store, tb, b0, b1, fb, LIFE_MAX_CELLS, cb);
    if (e == STS_ETOOBIG)
        stats_bad(err, "model",
                  "this query spans more released cells than one answer may hold or read in its "
                  "time limit: filter on a model");
    return e;
}

enum sts_err stats_lifetime_json(const struct release *r, struct store *store,
                                 const struct stats_query *q, json_t **out,
                                 struct sts_field_error *err)
{
    struct release_cells cells = {0}, sales = {0};
    struct release_filter f = filter_of(q);
    struct group *g = NULL;
    size_t ng = 0;
    json_t *root = NULL, *groups = NULL;
    int32_t last = release_last_month(r);
    int32_t c0 = q->from == INT32_MIN ? INT32_MIN : sts_day_month(q->from);
    int32_t c1 = q->to == INT32_MAX ? INT32_MAX : sts_day_month(q->to);
    enum sts_err e = read_two(r, store, REL_LIFE, INT32_MIN, last, &f, &cells, REL_SALES_MONTH_BM,
                              INT32_MIN, last, &f, &sales, err);
    if (e != STS_OK)
        goto out;
    for (int d = 0; d < 2; d++) {
        if (q->filter[d] && sales.n == 0) {
            char why[160];
            snprintf(why, sizeof why, "no published figure has %s '%s'", dim_names[d],
                     q->filter[d]);
            e = stats_bad(err, dim_names[d], why);
            goto out;
        }
    }
    life_q = q;
    if (cells.n > 1)
        qsort(cells.cell, cells.n, sizeof *cells.cell, cmp_life_cells);
    if ((e = build_groups(r, q, &cells, c0, c1, last, &g, &ng)) != STS_OK)
        goto out;
    e = STS_ENOMEM;
    if (!(root = header_json("lifetime", q, last)) || !(groups = json_array()))
        goto out;
    /* A curve goes on while its panel outweighs the noise on it: k plus five
     * standard deviations of the panel's own noise (stats_life_curve). */
    for (size_t i = 0; i < ng; i++) {
        const struct group *gr = &g[i];
        json_t *gj = json_object(), *cj = json_array();
        if (!gj || !cj) {
            json_decref(gj);
            json_decref(cj);
            goto out;
        }
        set_dims(gj, q, gr->vals);
        if (curve_json(gj, gr, -1, (double)q->k) != STS_OK) {
            json_decref(gj);
            json_decref(cj);
            goto out;
        }
        for (size_t k = 0; k < gr->nc; k++) {
            json_t *row = json_object();
            char label[STS_MONTH_LEN + 1];
            if (!row)
                break;
            sts_month_format(gr->c[k].month, label);
            json_object_set_new(row, "cohort", json_string(label));
            cohort_size(row, r, &sales, q, gr, gr->c[k].month);
            if (curve_json(row, gr, (long)k, (double)q->k) != STS_OK) {
                json_decref(row);
                break;
            }
            json_array_append_new(cj, row);
        }
        json_object_set_new(gj, "cohorts", cj);
        json_array_append_new(groups, gj);
    }
    json_object_set_new(root, "groups", groups);
    groups = NULL;
    {
        enum release_table used[] = {REL_LIFE0, REL_LIFE, REL_SALES_MONTH_BM};
        json_object_set_new(root, "release", stats_release_json(r, used, 3));
    }
    *out = root;
    root = NULL;
    e = STS_OK;
out:
    json_decref(root);
    json_decref(groups);
    groups_free(g, ng);
    release_cells_free(&cells);
    release_cells_free(&sales);
    return e;
}

/* ---- Versions ------------------------------------------------------------- */

struct total {
    int32_t period;
    const char *model;
    double n;
    double var; /* of the noise in n */
};

static int cmp_total(const void *a, const void *b)
{
    const struct total *x = a, *y = b;
    int c = strcmp(x->model, y->model);
    return c ? c : x->period < y->period ? -1 : x->period > y->period;
}

/* Versions by model, then version, then month. */
static int cmp_versions(const void *a, const void *b)
{
    const struct release_cell *x = a, *y = b;
    int c = strcmp(x->key[0], y->key[0]);
    if (c || (c = strcmp(x->key[1], y->key[1])))
        return c;
    return x->period < y->period ? -1 : x->period > y->period;
}

static const struct total *find_total(const struct total *t, size_t n, int32_t period,
                                      const char *model)
{
    struct total key = {.period = period, .model = model};
    if (n == 0)
        return NULL; /* t may be NULL then, which bsearch must not be given */
    return bsearch(&key, t, n, sizeof *t, cmp_total);
}

enum sts_err stats_versions_json(const struct release *r, struct store *store,
                                 const struct stats_query *q, json_t **out,
                                 struct sts_field_error *err)
{
    struct release_cells v = {0}, life = {0};
    struct release_filter f = filter_of(q), lf = {{NULL, q->filter[DIM_MODEL], NULL, NULL}};
    struct total *tot = NULL;
    size_t nt = 0;
    json_t *root = NULL, *rows = NULL, *spread = NULL;
    int32_t last = release_last_month(r);
    int32_t m0 = q->from == INT32_MIN ? INT32_MIN : sts_day_month(q->from);
    int32_t m1 = q->to == INT32_MAX ? last : sts_day_month(q->to);
    enum sts_err e =
        read_two(r, store, REL_VERSIONS, m0, m1, &f, &v, REL_LIFE, m0, m1, &lf, &life, err);
    if (e != STS_OK)
        goto out;
    for (int d = DIM_MODEL; d <= DIM_SW; d++) {
        if (q->filter[d] && v.n == 0) {
            struct release_cells any = {0};
            e = release_read(r, store, REL_VERSIONS, INT32_MIN, last, &f, LIFE_MAX_CELLS, &any);
            bool found = any.n > 0;
            release_cells_free(&any);
            if (e != STS_OK)
                goto out;
            e = STS_OK;
            if (!found) {
                char why[160];
                snprintf(why, sizeof why, "no published figure has %s '%s'", dim_names[d],
                         q->filter[d]);
                e = stats_bad(err, dim_names[d], why);
                goto out;
            }
        }
    }
    /* Each model's released pings per month: the denominator of the shares. */
    e = STS_ENOMEM;
    if (life.n && !(tot = calloc(life.n, sizeof *tot)))
        goto out;
    for (size_t i = 0; i < life.n; i++)
        tot[i] =
            (struct total){life.cell[i].period, life.cell[i].key[1], (double)life.cell[i].value, 1};
    if (life.n > 1)
        qsort(tot, life.n, sizeof *tot, cmp_total);
    for (size_t i = 0; i < life.n; i++) {
        if (nt && cmp_total(&tot[nt - 1], &tot[i]) == 0) {
            tot[nt - 1].n += tot[i].n;
            tot[nt - 1].var += tot[i].var;
        } else {
            tot[nt++] = tot[i];
        }
    }
    /* The shown versions' own sum per (month, model): a floor under the
     * model's total (a hidden version must not inflate the others' shares). */
    struct total *vs = v.n ? calloc(v.n, sizeof *vs) : NULL;
    size_t nvs = 0;
    if (v.n && !vs)
        goto out;
    for (size_t i = 0; i < v.n; i++)
        vs[i] = (struct total){v.cell[i].period, v.cell[i].key[0], (double)v.cell[i].value,
                               r->noise[REL_VERSIONS].variance};
    if (v.n > 1)
        qsort(vs, v.n, sizeof *vs, cmp_total);
    for (size_t i = 0; i < v.n; i++) {
        if (nvs && cmp_total(&vs[nvs - 1], &vs[i]) == 0) {
            vs[nvs - 1].n += vs[i].n;
            vs[nvs - 1].var += vs[i].var;
        } else {
            vs[nvs++] = vs[i];
        }
    }
    for (size_t i = 0; i < nt; i++) {
        /* The lifetime total is unbiased; the shown versions never add up to
         * more than their model, so it is at least their sum. */
        const struct total *sv = find_total(vs, nvs, tot[i].period, tot[i].model);
        if (sv && sv->n > tot[i].n) {
            tot[i].n = sv->n;
            tot[i].var = -sv->var; /* negative: the shares' own sum, see below */
        }
    }
    free(vs);
    if (v.n > 1)
        qsort(v.cell, v.n, sizeof *v.cell, cmp_versions);
    if (!(root = header_json("versions", q, last)) || !(rows = json_array()) ||
        !(spread = json_array()))
        goto out;
    double var_v = r->noise[REL_VERSIONS].variance;
    char label[STS_MONTH_LEN + 1];
    int32_t model_first = INT32_MAX;
    for (size_t i = 0; i < v.n;) {
        size_t j = i;
        int32_t first = INT32_MAX, half = INT32_MAX;
        if (i == 0 || strcmp(v.cell[i - 1].key[0], v.cell[i].key[0]) != 0) {
            model_first = INT32_MAX; /* the model's first month with a version shown */
            for (size_t k = i; k < v.n && strcmp(v.cell[k].key[0], v.cell[i].key[0]) == 0; k++)
                if (v.cell[k].value >= q->k && v.cell[k].period < model_first)
                    model_first = v.cell[k].period;
        }
        double peak = -1;
        while (j < v.n && strcmp(v.cell[j].key[0], v.cell[i].key[0]) == 0 &&
               strcmp(v.cell[j].key[1], v.cell[i].key[1]) == 0)
            j++;
        for (size_t k = i; k < j; k++) {
            const struct release_cell *c = &v.cell[k];
            if (c->value < q->k)
                continue;
            json_t *o = json_object();
            if (!o)
                goto out;
            sts_month_format(c->period, label);
            json_object_set_new(o, "period", json_string(label));
            json_object_set_new(o, "model", json_string(c->key[0]));
            json_object_set_new(o, "sw", json_string(c->key[1]));
            json_object_set_new(o, "pings", json_integer(c->value));
            json_object_set_new(o, "pings_ci",
                                stats_ci_json(c->value, r->noise[REL_VERSIONS].half95));
            const struct total *t = find_total(tot, nt, c->period, c->key[0]);
            if (t && t->n >= (double)q->k) {
                double s = (double)c->value / t->n, sd;
                if (t->var < 0) /* n_i / sum of n_j: the shared noise partly cancels */
                    sd = sqrt((1 - s) * (1 - s) * var_v + s * s * (-t->var - var_v)) / t->n;
                else
                    sd = s * sqrt(var_v / ((double)c->value * (double)c->value) +
                                  t->var / (t->n * t->n));
                double lo = s - 1.96 * sd, hi = s + 1.96 * sd;
                if (s > 1)
                    s = 1;
                json_object_set_new(o, "share", round4(s));
                json_object_set_new(
                    o, "share_ci",
                    json_pack("[o,o]", round4(lo < 0 ? 0 : lo), round4(hi > 1 ? 1 : hi)));
                if (s > peak)
                    peak = s;
                if (s >= 0.5 && half == INT32_MAX)
                    half = c->period;
            } else {
                json_object_set_new(o, "share", json_null());
                json_object_set_new(o, "share_ci", json_null());
            }
            if (first == INT32_MAX)
                first = c->period;
            json_array_append_new(rows, o);
        }
        if (first != INT32_MAX) {
            /* How fast it spread: first month shown, first month at half of
             * its model's pings. */
            json_t *o = json_object();
            if (!o)
                goto out;
            json_object_set_new(o, "model", json_string(v.cell[i].key[0]));
            json_object_set_new(o, "sw", json_string(v.cell[i].key[1]));
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
            json_object_set_new(o, "peak_share", peak < 0 ? json_null() : round4(peak));
            json_array_append_new(spread, o);
        }
        i = j;
    }
    json_object_set_new(root, "rows", rows);
    json_object_set_new(root, "spread", spread);
    rows = spread = NULL;
    {
        enum release_table used[] = {REL_VERSIONS, REL_LIFE0, REL_LIFE};
        json_object_set_new(root, "release", stats_release_json(r, used, 3));
    }
    *out = root;
    root = NULL;
    e = STS_OK;
out:
    json_decref(root);
    json_decref(rows);
    json_decref(spread);
    free(tot);
    release_cells_free(&v);
    release_cells_free(&life);
    return e;
}
