/* The fleet's lifetime law, its pings and the lifetime oracle. See life.h. */
#include "life.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "report.h"
#include "send.h"
#include "sts/date.h"
#include "sts/report.h"

#define DAYS_PER_MONTH 30.436875
#define STATS_MAX_BODY (16 * 1024 * 1024)
#define MAX_VERSIONS   8

/* Invented but plausible: cheap models wear out sooner, and shapes above 1
 * mean devices retire more as they age. */
static const struct fleet_life_law default_laws[] = {
    {"K400", 1.6, 14.0}, {"K500", 2.0, 17.0}, {"P10", 1.4, 11.0},
    {"P20", 1.8, 16.0},  {"X1", 2.5, 22.0},   {"M2-lite", 1.3, 8.0},
};

void fleet_life_defaults(struct fleet_life *l, uint64_t seed, int32_t today)
{
    memset(l, 0, sizeof *l);
    l->seed = seed;
    l->today = today;
    l->consent = 0.7;
    l->late = 0.2;
    l->late_max = 6;
    l->miss = 0.05;
    l->late_ping = 0.5;
    l->grace_days = 7;
    l->nlaw = sizeof default_laws / sizeof default_laws[0];
    memcpy(l->law, default_laws, sizeof default_laws);
}

static struct fleet_life_law *law_of(struct fleet_life *l, const char *model)
{
    for (size_t i = 0; i < l->nlaw; i++)
        if (strcmp(l->law[i].model, model) == 0)
            return &l->law[i];
    return NULL;
}

enum sts_err fleet_life_set_laws(struct fleet_life *l, const char *spec)
{
    const char *p = spec;
    while (*p) {
        char model[STS_TEXT_MAX + 1];
        size_t n = strcspn(p, ":");
        if (n == 0 || n > STS_TEXT_MAX || p[n] != ':')
            return STS_EINVAL;
        memcpy(model, p, n);
        model[n] = '\0';
        struct fleet_life_law *law = law_of(l, model);
        if (!law)
            return STS_EINVAL;
        char *end;
        double shape = strtod(p + n + 1, &end);
        if (*end != ':')
            return STS_EINVAL;
        double scale = strtod(end + 1, &end);
        if ((*end != ',' && *end != '\0') || !(shape >= 0.2 && shape <= 20) ||
            !(scale >= 0.5 && scale <= 600))
            return STS_EINVAL;
        law->shape = shape;
        law->scale = scale;
        p = *end == ',' ? end + 1 : end;
    }
    return STS_OK;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fleet_life_device(const struct fleet_life *l, const struct fleet *f, size_t i,
                       struct fleet_life_dev *out)
{
    const struct fleet_device *d = &f->dev[i];
    /* A stream of its own per device, apart from the activation generator's. */
    struct fleet_rng rng = {.s = mix(l->seed * 0x9e3779b97f4a7c15ULL ^ mix(i + 0x11fe))};
    double shape = 1.5, scale = 12.0;
    for (size_t m = 0; m < l->nlaw; m++)
        if (strcmp(l->law[m].model, d->facts.model) == 0) {
            shape = l->law[m].shape;
            scale = l->law[m].scale;
        }
    double u = fleet_rng_unit(&rng);
    out->lifetime = scale * pow(-log(1.0 - u), 1.0 / shape);
    bool consents = fleet_rng_unit(&rng) < l->consent;
    bool late = fleet_rng_unit(&rng) < l->late;
    int consent_age = late ? 1 + (int)(fleet_rng_next(&rng) % (uint64_t)l->late_max) : 0;
    int lag = (int)(fleet_rng_next(&rng) % 4);

    const char *versions[MAX_VERSIONS];
    size_t nver = fleet_model_versions(d->facts.model, versions, MAX_VERSIONS);
    if (nver > MAX_VERSIONS)
        nver = MAX_VERSIONS;
    size_t s0 = 0;
    for (size_t v = 0; v < nver; v++)
        if (strcmp(versions[v], d->facts.sw) == 0)
            s0 = v;
    int32_t start = sts_day_month(f->first_day), cur = sts_day_month(l->today);
    int32_t span = cur - start + 1;

    out->cohort = sts_day_month(d->day);
    out->nages = cur - out->cohort + 1;
    if (out->nages > FLEET_LIFE_MAX_AGE + 1)
        out->nages = FLEET_LIFE_MAX_AGE + 1;
    out->npings = 0;
    double retire = d->day + 0.5 + out->lifetime * DAYS_PER_MONTH;
    for (int a = 0; a < out->nages; a++) {
        int32_t p = out->cohort + a;
        double m0 = sts_month_first_day(p), m1 = sts_month_first_day(p + 1);
        double from = a == 0 ? d->day : m0;
        /* Four draws every month, used or not, so each month's fate does not
         * depend on what happened before. */
        double moment = from + fleet_rng_unit(&rng) * (m1 - from);
        double u_miss = fleet_rng_unit(&rng), u_late = fleet_rng_unit(&rng);
        double send_late = m1 + fleet_rng_unit(&rng) * l->grace_days;
        out->alive[a] = moment < retire;
        if (!out->alive[a] || !consents || a < consent_age || moment > l->today)
            continue;
        if (u_miss < l->miss && (u_late >= l->late_ping || send_late > l->today))
            continue; /* lost, or its late sending is still to come */
        int32_t released = nver ? (int32_t)((int64_t)(p - lag - start) * (int64_t)nver / span) : 0;
        size_t v = released < 0 ? 0 : (size_t)released;
        if (v >= nver)
            v = nver ? nver - 1 : 0;
        if (v < s0)
            v = s0;
        struct fleet_ping *pg = &out->ping[out->npings];
        pg->period = p;
        /* first marks the month the device joined the panel (its activation
         * month, or the month its owner consented), whether or not that
         * month's ping got through: see docs/lifetime.md. */
        pg->first = a == consent_age;
        pg->sw = nver ? versions[v] : d->facts.sw;
        out->npings++;
    }
}

/* ---- sending -------------------------------------------------------------- */

struct shared {
    const struct fleet_life *l;
    const struct fleet *f;
    const struct fleet_drive_opts *opts;
    atomic_size_t next;
    struct fleet_tally tally;
};

struct worker {
    struct shared *sh;
    unsigned id;
    int error;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    struct agent_sender *s = NULL;
    struct agent_sender_opts so = {.collector = sh->opts->collector,
                                   .timeout_ms = sh->opts->timeout_ms};
    struct fleet_rng rng = {.s = sh->opts->seed ^ (0x2545f491ULL * (w->id + 7))};
    struct fleet_life_dev *dev = malloc(sizeof *dev);
    if (!dev || agent_sender_new(&so, &s) != STS_OK) {
        free(dev);
        w->error = STS_ENOMEM;
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->f->n)
            break;
        const struct fleet_device *d = &sh->f->dev[i];
        fleet_life_device(sh->l, sh->f, i, dev);
        for (int k = 0; k < dev->npings; k++) {
            /* The agent's own ping builder, with the version the device runs
             * that month. */
            struct agent_facts facts = d->facts;
            struct sts_report r;
            struct sts_field_error warn, err;
            char *json = NULL;
            snprintf(facts.sw, sizeof facts.sw, "%s", dev->ping[k].sw);
            if (agent_report_lifetime(&facts, d->consent, dev->cohort, dev->ping[k].period,
                                      dev->ping[k].first, &r, &warn, &err) != STS_OK ||
                sts_report_validate(&r, sh->l->today, &err) != STS_OK ||
                sts_report_encode(&r, &json) != STS_OK) {
                atomic_fetch_add(&sh->tally.invalid, 1);
                fleet_problem(&sh->tally, "cannot build a ping", err.field, err.detail);
                continue;
            }
            fleet_post(&sh->tally, s, sh->opts, &rng, json);
            free(json);
        }
    }
    agent_sender_free(s);
    free(dev);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum sts_err fleet_life_drive(const struct fleet_life *l, const struct fleet *f,
                              const struct fleet_drive_opts *opts, struct fleet_counts *counts)
{
    unsigned n = opts->concurrency ? opts->concurrency : 1;
    struct shared *sh = calloc(1, sizeof *sh);
    pthread_t *t = calloc(n, sizeof *t);
    struct worker *w = calloc(n, sizeof *w);
    enum sts_err rc = STS_OK;
    unsigned started = 0;
    memset(counts, 0, sizeof *counts);
    if (!sh || !t || !w) {
        rc = STS_ENOMEM;
        goto out;
    }
    sh->l = l;
    sh->f = f;
    sh->opts = opts;
    double t0 = now_s();
    for (unsigned i = 0; i < n; i++) {
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
        if (w[i].error && rc == STS_OK)
            rc = (enum sts_err)w[i].error;
    counts->seconds = now_s() - t0;
    fleet_tally_get(&sh->tally, counts);
out:
    free(sh);
    free(t);
    free(w);
    return rc;
}

/* ---- the oracle ------------------------------------------------------------ */

static void say(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
}

void fleet_life_check_defaults(struct fleet_life_check *c)
{
    c->tol = 0.03;
    c->median_tol = 0.05;
    c->min_n = 1000;
    c->share_tol = 0.02;
    c->min_group = 50;
    c->cal_min_panel = 200;
    c->cal_factor = 2.0;
}

/* The truth of one model: per age, devices whose month at that age is
 * closed, and how many of them were in use at its ping moment; the panel's
 * exact counts the collector's estimator runs on (pings at age a, and pings
 * at age a + 1 that are not a first one, summed over the cohorts that have
 * age a + 1 closed); cohort sizes; pings per version and month. */
struct model_truth {
    const char *name;
    int64_t n[FLEET_LIFE_MAX_AGE + 1], alive[FLEET_LIFE_MAX_AGE + 1];
    int64_t risk[FLEET_LIFE_MAX_AGE + 1], cont[FLEET_LIFE_MAX_AGE + 1];
    int64_t *size;  /* per cohort - first */
    int64_t *pings; /* [version][period - first] */
    const char *versions[MAX_VERSIONS];
    size_t nver;
};

struct truth {
    struct model_truth m[FLEET_LIFE_MAX_MODELS];
    size_t nm;
    int32_t first, through; /* months */
    size_t stride;          /* months from first to today's */
};

static void truth_free(struct truth *t)
{
    for (size_t i = 0; i < t->nm; i++) {
        free(t->m[i].size);
        free(t->m[i].pings);
    }
}

static enum sts_err truth_build(const struct fleet_life *l, const struct fleet *f, int32_t through,
                                struct truth *t)
{
    const char *names[FLEET_LIFE_MAX_MODELS];
    memset(t, 0, sizeof *t);
    t->nm = fleet_models(names, FLEET_LIFE_MAX_MODELS);
    if (t->nm > FLEET_LIFE_MAX_MODELS)
        t->nm = FLEET_LIFE_MAX_MODELS;
    t->first = sts_day_month(f->first_day);
    t->through = through;
    size_t months = (size_t)(sts_day_month(l->today) - t->first + 1);
    t->stride = months;
    for (size_t i = 0; i < t->nm; i++) {
        t->m[i].name = names[i];
        t->m[i].nver = fleet_model_versions(names[i], t->m[i].versions, MAX_VERSIONS);
        if (t->m[i].nver > MAX_VERSIONS)
            t->m[i].nver = MAX_VERSIONS;
        t->m[i].size = calloc(months, sizeof *t->m[i].size);
        t->m[i].pings = calloc(months * MAX_VERSIONS, sizeof *t->m[i].pings);
        if (!t->m[i].size || !t->m[i].pings)
            return STS_ENOMEM;
    }
    struct fleet_life_dev *dev = malloc(sizeof *dev);
    if (!dev)
        return STS_ENOMEM;
    for (size_t i = 0; i < f->n; i++) {
        struct model_truth *m = NULL;
        for (size_t j = 0; j < t->nm; j++)
            if (strcmp(t->m[j].name, f->dev[i].facts.model) == 0)
                m = &t->m[j];
        if (!m)
            continue;
        fleet_life_device(l, f, i, dev);
        if (dev->cohort > through)
            continue;
        m->size[dev->cohort - t->first]++;
        for (int a = 0; a < dev->nages && dev->cohort + a <= through; a++) {
            m->n[a]++;
            m->alive[a] += dev->alive[a];
        }
        for (int k = 0; k < dev->npings; k++) {
            const struct fleet_ping *pg = &dev->ping[k];
            if (pg->period > through)
                continue;
            int a = pg->period - dev->cohort;
            /* At risk at age a when age a + 1 is closed too; continuing
             * into age a when not the first ping. */
            if (pg->period + 1 <= through)
                m->risk[a]++;
            if (a >= 1 && !pg->first)
                m->cont[a - 1]++;
            for (size_t v = 0; v < m->nver; v++)
                if (m->versions[v] == pg->sw || strcmp(m->versions[v], pg->sw) == 0) {
                    m->pings[v * months + (size_t)(pg->period - t->first)]++;
                    break;
                }
        }
    }
    free(dev);
    return STS_OK;
}

/* A curve's median by the collector's own interpolation; *at is the first
 * age at or below one half, -1 if none. */
static double median_of_curve(const double *S, int n, int *at)
{
    for (int a = 1; a < n; a++)
        if (S[a] <= 0.5) {
            double drop = S[a - 1] - S[a];
            *at = a;
            return drop > 0 ? (a - 1) + (S[a - 1] - 0.5) / drop : a;
        }
    *at = -1;
    return -1;
}

/* The fleet's curve (every device, in use or not at each age's ping moment)
 * and the panel's exact curve (the collector's product-limit estimator on
 * the noise-free counts), each up to the ages some device reached. */
static int truth_curves(const struct model_truth *m, int nages, double *fleet, double *panel)
{
    int n = 1;
    fleet[0] = panel[0] = 1.0;
    for (int a = 1; a < nages && m->n[a] > 0; a++) {
        fleet[a] = (double)m->alive[a] / (double)m->n[a];
        double h = m->risk[a - 1] > 0 ? (double)m->cont[a - 1] / (double)m->risk[a - 1] : 0;
        panel[a] = panel[a - 1] * (h > 1 ? 1 : h);
        n = a + 1;
    }
    return n;
}

static struct model_truth *truth_model(struct truth *t, const char *name)
{
    for (size_t i = 0; i < t->nm; i++)
        if (strcmp(t->m[i].name, name) == 0)
            return &t->m[i];
    return NULL;
}

static const char *str(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

static bool ci_of(json_t *ci, double *lo, double *hi)
{
    json_t *a = json_array_get(ci, 0), *b = json_array_get(ci, 1);
    if (!json_is_number(a))
        return false;
    *lo = json_number_value(a);
    *hi = json_is_number(b) ? json_number_value(b) : INFINITY; /* null: not reached */
    return true;
}

static void count(struct fleet_calib *c, bool inside)
{
    c->n++;
    c->inside += inside;
}

static bool compare_life(const struct fleet_life *l, struct truth *t,
                         const struct fleet_life_check *chk, json_t *doc, FILE *out,
                         struct fleet_life_result *res, char *msg, size_t msg_size)
{
    json_t *groups = json_object_get(doc, "groups");
    if (!json_is_array(groups)) {
        say(msg, msg_size, "the lifetime answer has no \"groups\" array");
        return false;
    }
    size_t gi;
    json_t *g;
    fprintf(out,
            "\nlifetime by model, closed months through %s: survival within %.3f of the fleet's "
            "truth at ages at least %ld devices reached, medians within %.0f %%; calibration "
            "against the panel's exact curve (the estimator on noise-free counts) at ages whose "
            "panel holds at least %ld pings\n",
            json_string_value(json_object_get(doc, "through")), chk->tol, chk->min_n,
            100 * chk->median_tol, chk->cal_min_panel);
    json_array_foreach(groups, gi, g)
    {
        const char *name = json_string_value(json_object_get(g, "model"));
        struct model_truth *m = name ? truth_model(t, name) : NULL;
        if (!m) {
            say(msg, msg_size, "the lifetime answer names an unknown model");
            return false;
        }
        const struct fleet_life_law *law = NULL;
        for (size_t i = 0; i < l->nlaw; i++)
            if (strcmp(l->law[i].model, name) == 0)
                law = &l->law[i];
        json_t *surv = json_object_get(g, "survival");
        json_t *sci = json_object_get(g, "survival_ci");
        int nages = (int)(t->through - t->first + 1);
        if (nages > FLEET_LIFE_MAX_AGE + 1)
            nages = FLEET_LIFE_MAX_AGE + 1;
        double fs[FLEET_LIFE_MAX_AGE + 1], ps[FLEET_LIFE_MAX_AGE + 1];
        int nt = truth_curves(m, nages, fs, ps);
        int at, pat;
        double tmed = median_of_curve(fs, nt, &at);
        double pmed = median_of_curve(ps, nt, &pat);
        json_t *jmed = json_object_get(g, "median");
        double emed = json_is_number(jmed) ? json_number_value(jmed) : -1;
        double mlo = 0, mhi = 0;
        bool has_mci = ci_of(json_object_get(g, "median_ci"), &mlo, &mhi);
        fprintf(out,
                "\n  %s  Weibull(shape %.2f, scale %.1f months): median of the law %.2f; "
                "fleet %.2f, panel %.2f, shown %.2f",
                name, law ? law->shape : 0, law ? law->scale : 0,
                law ? law->scale * pow(log(2.0), 1.0 / law->shape) : 0, tmed, pmed, emed);
        if (has_mci)
            fprintf(out, " [%.2f, %.2f]", mlo, mhi);
        const char *verdict = "not checked (too few devices)";
        if (tmed >= 0 && at > 0 && m->n[at] >= chk->min_n) {
            res->medians_checked++;
            if (emed < 0 || fabs(emed - tmed) > chk->median_tol * tmed) {
                verdict = "MEDIAN DIFFERS";
                res->ok = false;
            } else {
                verdict = "ok";
            }
        } else if (tmed < 0 && emed >= 0 && m->n[nt - 1] >= chk->min_n) {
            verdict = "MEDIAN WHERE THERE IS NONE";
            res->ok = false;
        }
        if (pmed >= 0 && emed >= 0 && has_mci && pat > 0 &&
            m->risk[pat - 1] >= chk->cal_min_panel) {
            bool in = mlo <= pmed && pmed <= mhi;
            count(&res->medians, in);
            if (!in)
                fprintf(out, " (panel's median outside)");
        }
        fprintf(out, "  %s\n", verdict);
        fprintf(out, "    %4s %8s %8s %8s %8s %8s %17s\n", "age", "devices", "fleet", "panel",
                "shown", "diff", "95 % interval");
        double worst = 0;
        for (int a = 1; a < nt; a++) {
            json_t *v = json_array_get(surv, (size_t)a);
            const char *word = "";
            fprintf(out, "    %4d %8lld %8.4f %8.4f ", a, (long long)m->n[a], fs[a], ps[a]);
            if (!json_is_number(v)) {
                fprintf(out, "%8s\n", "-");
                continue;
            }
            double es = json_number_value(v), lo = 0, hi = 0;
            bool has_ci = ci_of(json_array_get(sci, (size_t)a), &lo, &hi);
            fprintf(out, "%8.4f %+8.4f ", es, es - fs[a]);
            if (has_ci)
                fprintf(out, "[%6.4f, %6.4f]", lo, hi);
            else
                fprintf(out, "%17s", "");
            if (m->n[a] >= chk->min_n) {
                if (fabs(es - fs[a]) > worst)
                    worst = fabs(es - fs[a]);
                if (fabs(es - fs[a]) > chk->tol) {
                    word = "  DIFFERS";
                    res->ok = false;
                }
            } else {
                word = "  (accuracy not checked)";
            }
            if (has_ci && m->risk[a - 1] >= chk->cal_min_panel) {
                bool in = lo <= ps[a] && ps[a] <= hi;
                count(&res->survival, in);
                if (!in)
                    fprintf(out, "  panel outside");
            }
            fprintf(out, "%s\n", word);
        }
        if (worst > res->survival_worst)
            res->survival_worst = worst;
        fprintf(out, "    largest checked difference %.4f\n", worst);
        /* Cohort sizes are released sales: none may be shown whose truth is 0. */
        size_t ci;
        json_t *c;
        json_array_foreach(json_object_get(g, "cohorts"), ci, c)
        {
            int32_t cm;
            json_t *size = json_object_get(c, "size");
            if (sts_month_parse(str(json_object_get(c, "cohort")), &cm) != STS_OK ||
                cm < t->first || cm > t->through) {
                say(msg, msg_size, "%s: a cohort outside the closed simulated months", name);
                return false;
            }
            if (json_is_integer(size) && m->size[cm - t->first] == 0) {
                fprintf(out, "    cohort %s: size %lld shown, truth 0  SHOWN, TRUTH 0\n",
                        str(json_object_get(c, "cohort")), (long long)json_integer_value(size));
                res->shown_zero++;
                res->ok = false;
            }
        }
    }
    return true;
}

static long long versions_threshold(json_t *doc)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(doc, "release"), "tables"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "table"));
        if (name && strncmp(name, "versions.", 9) == 0)
            return json_integer_value(json_object_get(t, "threshold"));
    }
    return -1;
}

static bool compare_versions(struct truth *t, const struct fleet_life_check *chk, json_t *doc,
                             FILE *out, struct fleet_life_result *res, char *msg, size_t msg_size)
{
    json_t *rows = json_object_get(doc, "rows");
    long long threshold = versions_threshold(doc);
    size_t i;
    json_t *r;
    if (!json_is_array(rows) || threshold < 0) {
        say(msg, msg_size, "the versions answer has no \"rows\" array or no versions table");
        return false;
    }
    size_t cells = t->nm * MAX_VERSIONS * t->stride + 1;
    double *shown = malloc(cells * sizeof *shown); /* share shown, -1 if not */
    if (!shown) {
        say(msg, msg_size, "out of memory");
        return false;
    }
    for (size_t j = 0; j < cells; j++)
        shown[j] = -1;
    long long cal_min = (long long)ceil(chk->cal_factor * (double)threshold);
    fprintf(out,
            "\nversion shares per month and model, closed months through %s: within %.1f points "
            "of the truth in groups of at least %ld pings (a version not shown counts as 0); "
            "calibration over groups whose versions have 0 or at least %lld pings each (%.1f x "
            "the threshold %lld)\n"
            "  %-7s %-8s %-12s %6s %6s %8s %8s %17s\n",
            json_string_value(json_object_get(doc, "through")), 100 * chk->share_tol,
            chk->min_group, cal_min, chk->cal_factor, threshold, "month", "model", "sw", "pings",
            "group", "truth", "shown", "95 % interval");
    json_array_foreach(rows, i, r)
    {
        const char *model = json_string_value(json_object_get(r, "model"));
        const char *sw = json_string_value(json_object_get(r, "sw"));
        const char *period = json_string_value(json_object_get(r, "period"));
        struct model_truth *m = model ? truth_model(t, model) : NULL;
        int32_t p;
        size_t v = MAX_VERSIONS;
        if (m && sw)
            for (v = 0; v < m->nver; v++)
                if (strcmp(m->versions[v], sw) == 0)
                    break;
        if (!m || !period || sts_month_parse(period, &p) != STS_OK || v >= m->nver ||
            p < t->first) {
            fprintf(out, "  versions: unexpected row %s %s %s  SHOWN, TRUTH 0\n",
                    period ? period : "?", model ? model : "?", sw ? sw : "?");
            res->shown_zero++;
            res->ok = false;
            continue;
        }
        if (p > t->through) {
            fprintf(out, "  versions: %s %s %s  SHOWN IN AN OPEN MONTH\n", period, model, sw);
            res->shown_open++;
            res->ok = false;
            continue;
        }
        size_t col = (size_t)(p - t->first);
        int64_t truth = m->pings[v * t->stride + col], group = 0;
        /* A share is calibrated when every version of its group is far
         * above the threshold or has no pings at all: a version near the
         * threshold is shown or not by its noise, and the collector's
         * denominator moves with it. */
        bool clear = true;
        for (size_t w = 0; w < m->nver; w++) {
            int64_t n = m->pings[w * t->stride + col];
            group += n;
            if (n > 0 && n < cal_min)
                clear = false;
        }
        json_t *js = json_object_get(r, "share");
        double share = json_is_number(js) ? json_number_value(js) : -1;
        double ts = group > 0 ? (double)truth / (double)group : 0, lo = 0, hi = 0;
        bool has_ci = ci_of(json_object_get(r, "share_ci"), &lo, &hi);
        const char *word = "";
        if (truth == 0) {
            word = "  SHOWN, TRUTH 0";
            res->shown_zero++;
            res->ok = false;
        }
        shown[((size_t)(m - t->m) * MAX_VERSIONS + v) * t->stride + col] = share;
        fprintf(out, "  %-7s %-8s %-12s %6lld %6lld %8.4f %8.4f ", period, model, sw,
                (long long)truth, (long long)group, ts, share);
        if (has_ci)
            fprintf(out, "[%6.4f, %6.4f]", lo, hi);
        else
            fprintf(out, "%17s", "");
        if (has_ci && share >= 0 && clear) {
            bool in = lo <= ts && ts <= hi;
            count(&res->shares, in);
            if (!in)
                fprintf(out, "  outside");
        }
        fprintf(out, "%s\n", word);
    }
    /* Accuracy over every version of every large enough group, shown or not. */
    double worst = 0;
    for (size_t j = 0; j < t->nm; j++) {
        struct model_truth *m = &t->m[j];
        for (int32_t p = t->first; p <= t->through; p++) {
            size_t col = (size_t)(p - t->first);
            int64_t group = 0;
            for (size_t v = 0; v < m->nver; v++)
                group += m->pings[v * t->stride + col];
            if (group < chk->min_group)
                continue;
            for (size_t v = 0; v < m->nver; v++) {
                double ts = (double)m->pings[v * t->stride + col] / (double)group;
                double es = shown[(j * MAX_VERSIONS + v) * t->stride + col];
                double err = fabs((es < 0 ? 0 : es) - ts);
                res->share_checked++;
                if (err > worst)
                    worst = err;
                if (err > chk->share_tol) {
                    char month[STS_MONTH_LEN + 1];
                    sts_month_format(p, month);
                    fprintf(out, "  share of %s %s %s: truth %.4f, shown %s%.4f  DIFFERS\n", month,
                            m->name, m->versions[v], ts, es < 0 ? "nothing, " : "",
                            es < 0 ? 0 : es);
                    res->share_out++;
                    res->ok = false;
                }
            }
        }
    }
    free(shown);
    if (worst > res->share_worst)
        res->share_worst = worst;
    fprintf(out,
            "  %ld shares checked in groups of >= %ld pings, largest error %.4f, %ld over "
            "%.1f points\n",
            res->share_checked, chk->min_group, worst, res->share_out, 100 * chk->share_tol);
    return true;
}

static int32_t through_of(json_t *doc)
{
    int32_t m;
    const char *s = json_string_value(json_object_get(doc, "through"));
    return s && sts_month_parse(s, &m) == STS_OK ? m : INT32_MIN;
}

enum sts_err fleet_life_compare(const struct fleet_life *l, const struct fleet *f,
                                const struct fleet_life_check *chk, const char *life_body,
                                const char *versions_body, FILE *out, struct fleet_life_result *res,
                                char *msg, size_t msg_size)
{
    json_error_t jerr;
    json_t *life = json_loads(life_body, 0, &jerr);
    json_t *ver = json_loads(versions_body, 0, &jerr);
    struct truth t;
    enum sts_err rc = STS_ECORRUPT;
    memset(&t, 0, sizeof t);
    int32_t through = life ? through_of(life) : INT32_MIN;
    if (!json_is_object(life) || !json_is_object(ver) || through == INT32_MIN ||
        through_of(ver) != through) {
        say(msg, msg_size, "the lifetime or versions answer is not the expected JSON");
        goto out;
    }
    if (truth_build(l, f, through, &t) != STS_OK) {
        rc = STS_ENOMEM;
        goto out;
    }
    if (!compare_life(l, &t, chk, life, out, res, msg, msg_size) ||
        !compare_versions(&t, chk, ver, out, res, msg, msg_size))
        goto out;
    rc = STS_OK;
out:
    truth_free(&t);
    json_decref(life);
    json_decref(ver);
    return rc;
}

static enum sts_err fetch(struct agent_sender *s, const char *collector, const char *path,
                          const char *token, struct agent_answer *ans, char *msg, size_t msg_size)
{
    enum sts_err rc = agent_sender_get(s, path, token, STATS_MAX_BODY, ans);
    if (rc != STS_OK) {
        say(msg, msg_size, "GET %s%s: %s", collector, path,
            rc == STS_ENET ? ans->error : sts_strerror(rc));
        return rc;
    }
    if (ans->status != 200 || !ans->body) {
        say(msg, msg_size, "GET %s%s: HTTP %ld %.200s", collector, path, ans->status,
            ans->body ? ans->body : "");
        return STS_ENET;
    }
    return STS_OK;
}

enum sts_err fleet_life_verify(const struct fleet_life *l, const struct fleet *f,
                               const struct fleet_life_check *chk, const char *collector,
                               const char *token, long timeout_ms, FILE *out,
                               struct fleet_life_result *res, char *msg, size_t msg_size)
{
    struct agent_sender *s = NULL;
    struct agent_sender_opts so = {.collector = collector, .timeout_ms = timeout_ms};
    struct agent_answer life, ver;
    memset(&life, 0, sizeof life);
    memset(&ver, 0, sizeof ver);
    enum sts_err rc = agent_sender_new(&so, &s);
    if (rc != STS_OK)
        return rc;
    rc = fetch(s, collector, "/v1/stats/lifetime?by=model", token, &life, msg, msg_size);
    if (rc == STS_OK)
        rc = fetch(s, collector, "/v1/stats/versions", token, &ver, msg, msg_size);
    if (rc == STS_OK)
        rc = fleet_life_compare(l, f, chk, life.body, ver.body, out, res, msg, msg_size);
    agent_answer_cleanup(&life);
    agent_answer_cleanup(&ver);
    agent_sender_free(s);
    return rc;
}
