/* Drawing the simulated fleet and its ground truth. See sim.h. The catalogue
 * below is invented but shaped like a real one: two regional brands, a few
 * models of unequal success, several software versions per model, real
 * country codes weighted by market size. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/date.h"
#include "sts/imei.h"

uint64_t fleet_rng_next(struct fleet_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double fleet_rng_unit(struct fleet_rng *r)
{
    return (double)(fleet_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

struct weighted {
    const char *name;
    unsigned weight;
};

struct model {
    const char *name;
    unsigned weight;
    const char *tac;       /* 8-digit type allocation code */
    struct weighted sw[4]; /* versions, oldest first; NULL-terminated */
};

static const struct weighted brands[] = {
    {"acme-eu", 55},
    {"acme-us", 45},
    {NULL, 0},
};

static const struct model models[] = {
    {"K400", 30, "35209900", {{"K400-V10", 2}, {"K400-V11", 3}, {"K400-V12", 5}, {NULL, 0}}},
    {"K500", 25, "35209901", {{"K500-V20", 4}, {"K500-V21", 6}, {NULL, 0}}},
    {"P10", 20, "35846502", {{"P10-1.0.3", 3}, {"P10-1.1.0", 7}, {NULL, 0}}},
    {"P20", 15, "35846503", {{"P20-2.0", 5}, {"P20-2.1", 4}, {"P20-2.2", 1}, {NULL, 0}}},
    {"X1", 6, "86123404", {{"X1-A1", 1}, {NULL, 0}}},
    {"M2-lite", 4, "86123405", {{"M2-lite-7", 1}, {NULL, 0}}},
};
#define N_MODELS (sizeof models / sizeof models[0])

static const struct weighted countries_eu[] = {
    {"FR", 24}, {"DE", 24}, {"IT", 14}, {"ES", 12}, {"NL", 6}, {"BE", 5},
    {"PL", 5},  {"SE", 4},  {"AT", 3},  {"PT", 2},  {"IE", 1}, {NULL, 0},
};
static const struct weighted countries_us[] = {
    {"US", 78},
    {"CA", 15},
    {"MX", 7},
    {NULL, 0},
};

#define CONSENT_SHARE      0.70
#define REACTIVATION_SHARE 0.01
#define PEAK               0.25 /* where the sales curve peaks, as a share of the period */

static const char *pick(struct fleet_rng *r, const struct weighted *w)
{
    unsigned total = 0;
    for (const struct weighted *p = w; p->name; p++)
        total += p->weight;
    unsigned x = (unsigned)(fleet_rng_next(r) % total);
    for (const struct weighted *p = w; p->name; p++) {
        if (x < p->weight)
            return p->name;
        x -= p->weight;
    }
    return w[0].name;
}

static size_t pick_model(struct fleet_rng *r)
{
    unsigned total = 0;
    for (size_t i = 0; i < N_MODELS; i++)
        total += models[i].weight;
    unsigned x = (unsigned)(fleet_rng_next(r) % total);
    for (size_t i = 0; i < N_MODELS; i++) {
        if (x < models[i].weight)
            return i;
        x -= models[i].weight;
    }
    return 0;
}

/* The sales curve: a linear ramp-up to PEAK then a quadratic decay towards
 * the end of the period (maximum 1 at PEAK); sampled by rejection. Plain
 * arithmetic keeps the simulator free of libm. */
static double sales_time(struct fleet_rng *r)
{
    for (;;) {
        double t = fleet_rng_unit(r);
        double f = t < PEAK ? t / PEAK
                            : ((1.0 - t) / (1.0 - PEAK)) * ((1.0 - t) / (1.0 - PEAK)) * 0.9 + 0.1;
        if (fleet_rng_unit(r) < f)
            return t;
    }
}

static void set(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

enum sts_err fleet_generate(uint64_t seed, size_t n, int months, int32_t today, struct fleet *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || n > FLEET_MAX_DEVICES || months < 1 || months > 240)
        return STS_EINVAL;
    out->dev = calloc(n, sizeof out->dev[0]);
    if (out->dev == NULL)
        return STS_ENOMEM;
    out->n = n;
    out->last_day = today;
    out->first_day = today - (int32_t)(months * 30.436875 + 0.5);
    int32_t span = today - out->first_day + 1;

    struct fleet_rng rng = {.s = seed};
    /* Serial numbers: a per-model counter pushed through a permutation of
     * 0..999999 (multiplying by a number prime to 10^6), so IMEIs are distinct
     * without looking sequential. */
    uint32_t counter[N_MODELS] = {0};
    uint64_t offset = fleet_rng_next(&rng) % 1000000;

    for (size_t i = 0; i < n; i++) {
        struct fleet_device *d = &out->dev[i];
        size_t m = pick_model(&rng);
        const char *brand = pick(&rng, brands);
        set(d->facts.brand, sizeof d->facts.brand, brand);
        set(d->facts.model, sizeof d->facts.model, models[m].name);
        set(d->facts.sw, sizeof d->facts.sw, pick(&rng, models[m].sw));
        const char *country =
            pick(&rng, strcmp(brand, "acme-us") == 0 ? countries_us : countries_eu);
        set(d->facts.country, sizeof d->facts.country, country);
        d->consent = fleet_rng_unit(&rng) < CONSENT_SHARE;

        uint64_t serial = ((uint64_t)counter[m]++ * 387371u + offset) % 1000000;
        char body[15];
        snprintf(body, sizeof body, "%.8s%06u", models[m].tac, (unsigned)serial);
        snprintf(d->facts.imei, sizeof d->facts.imei, "%.14s%d", body, sts_imei_check_digit(body));

        int32_t off = (int32_t)(sales_time(&rng) * span);
        d->day = out->first_day + (off < span ? off : span - 1);

        /* A factory reset some time after the activation, on the newest
         * software of the model. */
        if (fleet_rng_unit(&rng) < REACTIVATION_SHARE && d->day < today) {
            d->react_day =
                d->day + 1 + (int32_t)(fleet_rng_next(&rng) % (uint64_t)(today - d->day));
            const struct weighted *v = models[m].sw;
            while (v[1].name != NULL)
                v++;
            set(d->react_sw, sizeof d->react_sw, v->name);
            out->reactivations++;
        }
    }
    return STS_OK;
}

size_t fleet_models(const char **out, size_t max)
{
    for (size_t i = 0; i < N_MODELS && i < max; i++)
        out[i] = models[i].name;
    return N_MODELS;
}

size_t fleet_model_versions(const char *model, const char **out, size_t max)
{
    for (size_t i = 0; i < N_MODELS; i++) {
        if (strcmp(models[i].name, model) != 0)
            continue;
        size_t n = 0;
        for (const struct weighted *v = models[i].sw; v->name; v++, n++)
            if (n < max)
                out[n] = v->name;
        return n;
    }
    return 0;
}

void fleet_cleanup(struct fleet *f)
{
    free(f->dev);
    memset(f, 0, sizeof *f);
}

static int cell_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fleet_cell *)a)->key, ((const struct fleet_cell *)b)->key);
}

enum sts_err fleet_truth(const struct fleet *f, enum fleet_dim dim, struct fleet_cell **cells,
                         size_t *count)
{
    size_t cap = 16, used = 0;
    struct fleet_cell *c = calloc(cap, sizeof *c);
    *cells = NULL;
    *count = 0;
    if (c == NULL)
        return STS_ENOMEM;
    for (size_t i = 0; i < f->n; i++) {
        const struct fleet_device *d = &f->dev[i];
        const char *key = dim == FLEET_BY_MODEL ? d->facts.model
                          : d->consent          ? d->facts.country
                                                : "";
        size_t j;
        for (j = 0; j < used; j++)
            if (strcmp(c[j].key, key) == 0)
                break;
        if (j == used) {
            if (used == cap) {
                struct fleet_cell *nc = realloc(c, 2 * cap * sizeof *c);
                if (nc == NULL) {
                    free(c);
                    return STS_ENOMEM;
                }
                c = nc;
                cap *= 2;
            }
            memset(&c[used], 0, sizeof c[used]);
            set(c[used].key, sizeof c[used].key, key);
            used++;
        }
        c[j].activations++;
        if (d->react_day != 0)
            c[j].reactivations++;
    }
    qsort(c, used, sizeof *c, cell_cmp);
    *cells = c;
    *count = used;
    return STS_OK;
}
