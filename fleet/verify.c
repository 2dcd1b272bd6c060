/* Judging the collector's released sales figures against the truth. See
 * verify.h. */
#include "verify.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "send.h"
#include "sts/date.h"

#define STATS_MAX_BODY (16 * 1024 * 1024)
#define KEY_MAX        (STS_MONTH_LEN + 3 * (STS_TEXT_MAX + 1) + 1)

static void say(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
}

/* ---- calibration ----------------------------------------------------------- */

/* The published intervals hold the true value with probability at least 0.95
 * (a single cell's from the exact discrete Gaussian quantile, rounded up to
 * an integer, so a little more: 0.95 to 0.97 depending on sigma). The band
 * takes the binomial spread of n independent values at 0.95 with z = 3.29
 * (one chance in 2,000 of rejecting calibrated intervals) below, and above
 * allows up to 0.99 plus its own binomial spread: intervals holding the
 * truth more often than that are wider than they claim to be (which only a
 * thousand values or more can tell). */
#define CAL_P     0.95
#define CAL_Z     3.29
#define CAL_UPPER 0.99

void fleet_calib_band(long n, double *lo, double *hi)
{
    double sd = n > 0 ? sqrt(CAL_P * (1 - CAL_P) / (double)n) : 1.0;
    *lo = CAL_P - CAL_Z * sd;
    *hi = CAL_UPPER + CAL_Z * sqrt(CAL_UPPER * (1 - CAL_UPPER) / (double)(n > 0 ? n : 1));
    if (*lo < 0)
        *lo = 0;
    if (*hi > 1)
        *hi = 1;
}

bool fleet_calib_ok(const struct fleet_calib *c)
{
    double lo, hi;
    if (c->n == 0)
        return true;
    fleet_calib_band(c->n, &lo, &hi);
    double share = (double)c->inside / (double)c->n;
    return share >= lo && share <= hi;
}

void fleet_calib_print(FILE *out, const char *what, const struct fleet_calib *c)
{
    double lo, hi;
    fleet_calib_band(c->n, &lo, &hi);
    if (c->n == 0) {
        fprintf(out, "  %-34s nothing to calibrate\n", what);
        return;
    }
    fprintf(out, "  %-34s %5ld of %5ld inside = %6.2f %%  (band %.2f..%.2f %%)  %s\n", what,
            c->inside, c->n, 100.0 * (double)c->inside / (double)c->n, 100 * lo, 100 * hi,
            fleet_calib_ok(c) ? "ok" : "OUT OF BAND");
}

void fleet_sales_check_defaults(struct fleet_sales_check *c)
{
    c->min_cell = 50;
    c->median_tol = 0.02;
    c->cal_factor = 2.0;
}

/* ---- the truth of one "by" ------------------------------------------------- */

/* One month x key cell: its truth, and the smallest truth among the released
 * cells it is the sum of (the brands of a model; itself otherwise). */
struct cell {
    char key[KEY_MAX]; /* "YYYY-MM|value[|value]" */
    long long truth;
    long long min_part;
    bool seen;
};

struct cells {
    struct cell *c;
    size_t n, cap;
};

static struct cell *cell_get(struct cells *cs, const char *key, bool add)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->c[i].key, key) == 0)
            return &cs->c[i];
    if (!add)
        return NULL;
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? 2 * cs->cap : 256;
        struct cell *nc = realloc(cs->c, cap * sizeof *nc);
        if (nc == NULL)
            return NULL;
        cs->c = nc;
        cs->cap = cap;
    }
    struct cell *c = &cs->c[cs->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->key, sizeof c->key, "%s", key);
    c->min_part = -1;
    return c;
}

enum by { BY_MODEL, BY_BRAND_MODEL, BY_COUNTRY };

static void key_of(enum by by, int32_t month, const char *brand, const char *model,
                   const char *country, char out[KEY_MAX])
{
    char m[STS_MONTH_LEN + 1];
    sts_month_format(month, m);
    if (by == BY_MODEL)
        snprintf(out, KEY_MAX, "%s|%s", m, model);
    else if (by == BY_BRAND_MODEL)
        snprintf(out, KEY_MAX, "%s|%s|%s", m, brand, model);
    else
        snprintf(out, KEY_MAX, "%s|%s", m, country);
}

/* Activations per month and key over the months first..through. For by
 * model, min_part is the smallest of the month's brand x model cells. */
static enum sts_err truth_of(const struct fleet *f, enum by by, int32_t through, struct cells *out)
{
    struct cells parts = {0};
    char key[KEY_MAX];
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < f->n; i++) {
        const struct fleet_device *d = &f->dev[i];
        int32_t m = sts_day_month(d->day);
        if (m > through)
            continue;
        const char *country = d->consent ? d->facts.country : "";
        key_of(by, m, d->facts.brand, d->facts.model, country, key);
        struct cell *c = cell_get(out, key, true);
        if (c == NULL)
            goto nomem;
        c->truth++;
        if (by == BY_MODEL) {
            key_of(BY_BRAND_MODEL, m, d->facts.brand, d->facts.model, country, key);
            struct cell *p = cell_get(&parts, key, true);
            if (p == NULL)
                goto nomem;
            p->truth++;
        }
    }
    for (size_t i = 0; i < out->n; i++)
        out->c[i].min_part = out->c[i].truth;
    for (size_t i = 0; i < parts.n; i++) {
        /* "YYYY-MM|brand|model" -> "YYYY-MM|model" */
        const char *p = parts.c[i].key;
        const char *bar1 = strchr(p, '|');
        const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (bar2 == NULL)
            continue;
        snprintf(key, sizeof key, "%.*s%s", (int)(bar1 - p), p, bar2);
        struct cell *c = cell_get(out, key, false);
        if (c && parts.c[i].truth < c->min_part)
            c->min_part = parts.c[i].truth;
    }
    free(parts.c);
    return STS_OK;
nomem:
    free(parts.c);
    free(out->c);
    memset(out, 0, sizeof *out);
    return STS_ENOMEM;
}

/* ---- judging ----------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, size_t n)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The threshold of the answer's first sales table ("release.tables"). */
static long long threshold_of(json_t *doc)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(doc, "release"), "tables"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "table"));
        json_t *th = json_object_get(t, "threshold");
        if (name && strncmp(name, "sales.", 6) == 0 && json_is_integer(th))
            return json_integer_value(th);
    }
    return -1;
}

static const char *field(json_t *row, const char *name, bool null_is_none)
{
    json_t *v = json_object_get(row, name);
    if (null_is_none && json_is_null(v))
        return "";
    return json_is_string(v) ? json_string_value(v) : NULL;
}

enum sts_err fleet_compare(const struct fleet *f, const char *by_text, const char *body,
                           const struct fleet_sales_check *chk, FILE *out,
                           struct fleet_sales_result *res, char *msg, size_t msg_size)
{
    enum by by;
    if (strcmp(by_text, "model") == 0)
        by = BY_MODEL;
    else if (strcmp(by_text, "brand,model") == 0)
        by = BY_BRAND_MODEL;
    else if (strcmp(by_text, "country") == 0)
        by = BY_COUNTRY;
    else
        return STS_EINVAL;
    struct cells truth = {0};
    double *rel = NULL;
    size_t nrel = 0;
    enum sts_err rc = STS_ECORRUPT;
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    json_t *rows = json_object_get(doc, "rows");
    const char *through_s =
        json_string_value(json_object_get(json_object_get(doc, "release"), "through_month"));
    int32_t through;
    long long threshold = threshold_of(doc);
    if (!json_is_object(doc) || !json_is_array(rows) || !through_s ||
        sts_month_parse(through_s, &through) != STS_OK || threshold < 0) {
        say(msg, msg_size,
            "by=%s: the answer is not {\"rows\":[...],\"release\":{\"through_month\",\"tables\"}}: "
            "%.200s",
            by_text, body);
        goto out;
    }
    if (truth_of(f, by, through, &truth) != STS_OK) {
        rc = STS_ENOMEM;
        goto out;
    }
    rel = calloc(truth.n + 1, sizeof *rel);
    if (rel == NULL) {
        rc = STS_ENOMEM;
        goto out;
    }
    long long cal_min = (long long)ceil(chk->cal_factor * (double)threshold);
    bool calibrate = by != BY_MODEL; /* the sums of released cells are not independent of them */
    bool accuracy = by == BY_MODEL;
    fprintf(out,
            "\nsales by month and %s, closed months through %s (display threshold %lld)\n"
            "  %-7s %-22s %8s %8s %17s %8s\n",
            by_text, through_s, threshold, "month", by_text, "truth", "shown", "95 % interval",
            "rel.err");
    if (accuracy)
        fprintf(out, "  (accuracy: cells of truth >= %ld, median relative error <= %.1f %%)\n",
                chk->min_cell, 100 * chk->median_tol);
    else
        fprintf(out, "  (calibration: cells of truth >= %lld = %.1f x the threshold)\n", cal_min,
                chk->cal_factor);

    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *period = field(row, "period", false);
        const char *brand = field(row, "brand", false);
        const char *model = field(row, "model", false);
        const char *country = field(row, "country", true);
        json_t *act = json_object_get(row, "activations");
        json_t *ci = json_object_get(row, "activations_ci");
        int32_t month;
        if (json_is_null(act) && json_is_null(ci))
            continue; /* only its re-activations are shown */
        if (!period || sts_month_parse(period, &month) != STS_OK || !json_is_integer(act) ||
            !json_is_array(ci) || json_array_size(ci) != 2 || (by != BY_COUNTRY && !model) ||
            (by == BY_BRAND_MODEL && !brand) || (by == BY_COUNTRY && !country)) {
            say(msg, msg_size,
                "by=%s: row %zu is not a monthly row with activations and their "
                "interval",
                by_text, i);
            goto out;
        }
        char key[KEY_MAX];
        key_of(by, month, brand ? brand : "", model ? model : "", country ? country : "", key);
        struct cell *c = cell_get(&truth, key, false);
        long long shown = json_integer_value(act);
        long long lo = json_integer_value(json_array_get(ci, 0));
        long long hi = json_integer_value(json_array_get(ci, 1));
        long long t = c ? c->truth : 0;
        const char *verdict = "";
        if (c && c->seen) {
            say(msg, msg_size, "by=%s: row '%s' appears twice", by_text, key);
            goto out;
        }
        if (c)
            c->seen = true;
        const char *label = strchr(key, '|') + 1;
        if (month > through) {
            verdict = "  SHOWN IN AN OPEN MONTH";
            res->shown_open++;
            res->ok = false;
        } else if (t == 0) {
            verdict = "  SHOWN, TRUTH 0";
            res->shown_zero++;
            res->ok = false;
        }
        bool inside = lo <= t && t <= hi;
        /* A row whose group has parts under the threshold adds up the shown
         * ones only (docs/privacy.md), and its interval is for them: below
         * the truth by design, not a miss of its interval (above it is). */
        json_t *ns = json_object_get(row, "parts_not_shown");
        long long not_shown = json_is_integer(ns) ? json_integer_value(ns) : 0;
        char part_note[64] = "";
        if (t > hi && not_shown > 0)
            snprintf(part_note, sizeof part_note, "  lower: %lld part%s not shown", not_shown,
                     not_shown > 1 ? "s" : "");
        if (calibrate && c && c->min_part >= cal_min) {
            res->cal.n++;
            res->cal.inside += inside;
        }
        double r = t > 0 ? fabs((double)(shown - t)) / (double)t : 0;
        if (accuracy && t >= chk->min_cell)
            rel[nrel++] = r;
        fprintf(out, "  %-7s %-22s %8lld %8lld   [%5lld, %5lld] %7.2f%%%s%s\n", period,
                label[0] ? label : "(no country)", t, shown, lo, hi, 100 * r,
                inside         ? ""
                : part_note[0] ? part_note
                               : "  outside",
                verdict);
    }
    /* Cells the collector did not show: fine under the threshold; a large
     * one missing is an error of 100 % in the accuracy figure. */
    long hidden = 0, hidden_large = 0;
    for (size_t j = 0; j < truth.n; j++) {
        struct cell *c = &truth.c[j];
        if (c->seen)
            continue;
        hidden++;
        if (accuracy && c->truth >= chk->min_cell) {
            rel[nrel++] = 1.0;
            hidden_large++;
            fprintf(out, "  %-7.7s %-22s %8lld %8s %17s %7.2f%%  NOT SHOWN\n", c->key,
                    strchr(c->key, '|') + 1, c->truth, "-", "", 100.0);
        }
    }
    fprintf(out, "  %ld cells with reports not shown (%ld of them of truth >= %ld)\n", hidden,
            hidden_large, chk->min_cell);
    if (accuracy) {
        double med = median_of(rel, nrel);
        res->median_rel = med;
        res->accuracy_cells = (long)nrel;
        bool good = nrel == 0 || med <= chk->median_tol;
        fprintf(out,
                "  accuracy: median relative error over %zu cells of truth >= %ld: %s%.2f %%"
                " (target <= %.1f %%)  %s\n",
                nrel, chk->min_cell, nrel ? "" : "none, ", nrel ? 100 * med : 0.0,
                100 * chk->median_tol,
                nrel == 0 ? "not checked"
                : good    ? "ok"
                          : "MISSED");
        if (!good)
            res->ok = false;
    }
    rc = STS_OK;
out:
    json_decref(doc);
    free(rel);
    free(truth.c);
    return rc;
}

enum sts_err fleet_verify(const struct fleet *f, const char *collector, const char *token,
                          long timeout_ms, const struct fleet_sales_check *chk, FILE *out,
                          struct fleet_sales_result *res, char *msg, size_t msg_size)
{
    static const struct {
        const char *by, *path;
    } dims[] = {
        {"model", "/v1/stats/sales?by=model&period=month"},
        {"brand,model", "/v1/stats/sales?by=brand,model&period=month"},
        {"country", "/v1/stats/sales?by=country&period=month"},
    };
    struct agent_sender *s = NULL;
    struct agent_sender_opts so = {.collector = collector, .timeout_ms = timeout_ms};
    enum sts_err rc = agent_sender_new(&so, &s);
    if (rc != STS_OK)
        return rc;
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        struct agent_answer ans;
        rc = agent_sender_get(s, dims[i].path, token, STATS_MAX_BODY, &ans);
        if (rc != STS_OK) {
            say(msg, msg_size, "GET %s%s: %s", collector, dims[i].path,
                rc == STS_ENET ? ans.error : sts_strerror(rc));
            agent_answer_cleanup(&ans);
            break;
        }
        if (ans.status != 200) {
            say(msg, msg_size, "GET %s%s: HTTP %ld %.200s%s", collector, dims[i].path, ans.status,
                ans.body ? ans.body : "",
                ans.status == 401 || ans.status == 403 ? " (check --token-file)" : "");
            agent_answer_cleanup(&ans);
            rc = STS_ENET;
            break;
        }
        rc = fleet_compare(f, dims[i].by, ans.body ? ans.body : "", chk, out, res, msg, msg_size);
        agent_answer_cleanup(&ans);
        if (rc != STS_OK)
            break;
    }
    agent_sender_free(s);
    return rc;
}
