/* Sales statistics: the rollup rows are folded into the requested cells
 * (period x dimensions) in a hash table, then the privacy floor is applied:
 * a cell under k devices is suppressed, and further cells are suppressed
 * until the suppressed remainder (total minus what is shown) counts at least
 * k devices spread over at least two cells, so no hidden cell can be
 * recovered by subtraction from the total. */
/* Sales statistics, the query parameters every statistic shares, and the
 * output helpers. The rollup rows are folded into the requested cells
 * (period x dimensions) in a hash table, then the privacy floor is applied:
 * a cell under k devices is suppressed, and further cells are suppressed
 * until the suppressed remainder (total minus what is shown) counts at least
 * k devices spread over at least two cells, so no hidden cell can be
 * recovered by subtraction from the total. A cumulative column is shown for a
 * series (one combination of the dimensions) only up to its first hidden
 * cell: the difference of two running totals is a cell, so a running total
 * after a hidden cell would give it away. */
#include "stats.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats_impl.h"
#include "sts/date.h"

const char *const stats_dim_names[NDIM] = {"brand", "model", "sw", "country"};
#define dim_names stats_dim_names

enum sts_err stats_bad(struct sts_field_error *err, const char *field, const char *detail)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    snprintf(err->detail, sizeof err->detail, "%s", detail);
    return STS_EINVAL;
}

/* A day, or for lifetime and versions also a month (its first or last day). */
static bool parse_bound(const char *s, bool months, bool upper, int32_t *day)
{
    int32_t m;
    if (sts_day_parse(s, day) == STS_OK)
        return true;
    if (!months || sts_month_parse(s, &m) != STS_OK)
        return false;
    *day = upper ? sts_month_first_day(m + 1) - 1 : sts_month_first_day(m);
    return true;
}

static bool flag_on(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

enum sts_err stats_parse_query(const char *which, const struct stats_args *a, struct stats_query *q,
                               struct sts_field_error *err)
{
    bool sales = strcmp(which, "sales") == 0;
    bool life = strcmp(which, "lifetime") == 0;
    memset(q, 0, sizeof *q);
    q->from = INT32_MIN;
    q->to = INT32_MAX;
    q->k = a->k_min > 0 ? a->k_min : STATS_DEFAULT_K;
    q->today = a->today ? a->today : sts_day_today();
    q->grace_days = a->grace_days == 0  ? STATS_DEFAULT_GRACE_DAYS
                    : a->grace_days < 0 ? 0
                                        : a->grace_days;
    if (a->by && *a->by) {
        const char *p = a->by;
        while (*p) {
            size_t len = strcspn(p, ",");
            size_t d;
            for (d = 0; d < NDIM; d++)
                if (strlen(dim_names[d]) == len && strncmp(p, dim_names[d], len) == 0)
                    break;
            if (d == NDIM)
                return stats_bad(err, "by", "use a comma list of brand, model, sw, country");
            if (life && d == DIM_SW)
                return stats_bad(err, "by",
                                 "a device changes software over its life: use brand, "
                                 "model, country");
            for (size_t i = 0; i < q->nby; i++)
                if (q->by[i] == (enum stats_dim)d)
                    return stats_bad(err, "by", "a dimension appears twice");
            q->by[q->nby++] = (enum stats_dim)d;
            p += len;
            if (*p == ',' && *++p == '\0')
                return stats_bad(err, "by", "use a comma list of brand, model, sw, country");
        }
    } else if (life) {
        q->by[q->nby++] = DIM_MODEL; /* a lifetime is a property of a model */
    }
    if (!sales && a->by && *a->by && !life)
        return stats_bad(err, "by", "versions are always per model and software version");
    if (a->period) {
        if (!sales)
            return stats_bad(err, "period",
                             "only sales have a period; lifetime and versions are "
                             "monthly");
        if (strcmp(a->period, "day") == 0)
            q->period = PERIOD_DAY;
        else if (strcmp(a->period, "week") == 0)
            q->period = PERIOD_WEEK;
        else if (strcmp(a->period, "month") == 0)
            q->period = PERIOD_MONTH;
        else
            return stats_bad(err, "period", "must be day, week or month");
    }
    if (a->from && !parse_bound(a->from, !sales, false, &q->from))
        return stats_bad(err, "from",
                         sales ? "must be a date as YYYY-MM-DD"
                               : "must be a month as YYYY-MM or a date as YYYY-MM-DD");
    if (a->to && !parse_bound(a->to, !sales, true, &q->to))
        return stats_bad(err, "to",
                         sales ? "must be a date as YYYY-MM-DD"
                               : "must be a month as YYYY-MM or a date as YYYY-MM-DD");
    if (q->from > q->to)
        return stats_bad(err, "to", "before from");
    if (a->k) {
        char *end;
        long k = strtol(a->k, &end, 10);
        if (*end || end == a->k || k < q->k || k > 1000000)
            return stats_bad(err, "k", "must be an integer not below the collector's floor");
        q->k = k;
    }
    if (a->cumulative) {
        if (!flag_on(a->cumulative) && strcmp(a->cumulative, "0") != 0 &&
            strcmp(a->cumulative, "false") != 0)
            return stats_bad(err, "cumulative", "must be 1 or 0");
        if (!sales && flag_on(a->cumulative))
            return stats_bad(err, "cumulative", "only sales have running totals");
        q->cumulative = flag_on(a->cumulative);
    }
    const char *const f[NDIM] = {a->brand, a->model, a->sw, a->country};
    for (size_t d = 0; d < NDIM; d++) {
        if (!f[d])
            continue;
        if (d == DIM_COUNTRY && strcmp(f[d], "-") == 0) {
            q->filter[d] = ""; /* the owners who did not consent */
            continue;
        }
        if (!sts_report_text_valid(f[d]))
            return stats_bad(err, dim_names[d], "not a value any report can carry");
        if (life && d == DIM_SW)
            return stats_bad(err, "sw",
                             "a device changes software over its life; filter on "
                             "brand, model or country");
        q->filter[d] = f[d];
    }
    return STS_OK;
}

bool stats_row_matches(const struct stats_query *q, const char *const vals[NDIM])
{
    for (size_t d = 0; d < NDIM; d++)
        if (q->filter[d] && strcmp(q->filter[d], vals[d]) != 0)
            return false;
    return true;
}

void stats_store_query(const struct stats_query *q, struct store_query *sq)
{
    memset(sq, 0, sizeof *sq);
    sq->from = q->from;
    sq->to = q->to;
    for (size_t i = 0; i < q->nby; i++)
        sq->dims |= 1u << q->by[i]; /* enum stats_dim follows STORE_DIM_* bit order */
    for (size_t d = 0; d < NDIM; d++)
        sq->filter[d] = q->filter[d];
    sq->grain = q->period == PERIOD_ALL     ? STORE_ALL
                : q->period == PERIOD_MONTH ? STORE_MONTH
                                            : STORE_DAY;
}

bool stats_suppress(const int64_t *n, size_t m, long k, bool *hidden)
{
    int64_t hidden_sum = 0, total = 0;
    size_t nhidden = 0;
    bool total_hidden = false;
    for (size_t i = 0; i < m; i++) {
        hidden[i] = n[i] > 0 && n[i] < k;
        total += n[i];
        if (hidden[i]) {
            hidden_sum += n[i];
            nhidden++;
        }
    }
    /* The total reveals hidden_sum: make it safe to reveal, or hide the total.
     * Safe: at least k devices over at least two cells, and more devices than
     * cells, or every hidden cell would be known to hold exactly one. */
    while (hidden_sum > 0 && (hidden_sum < k || nhidden < 2 || hidden_sum <= (int64_t)nhidden)) {
        size_t smallest = m;
        for (size_t i = 0; i < m; i++)
            if (!hidden[i] && n[i] > 0 && (smallest == m || n[i] < n[smallest]))
                smallest = i;
        if (smallest == m) {
            total_hidden = true;
            break;
        }
        hidden[smallest] = true;
        hidden_sum += n[smallest];
        nhidden++;
    }
    return total_hidden || (total > 0 && total < k);
}

static void period_label(enum stats_period p, int32_t day, char out[16])
{
    int y, w;
    switch (p) {
    case PERIOD_ALL: out[0] = '\0'; break;
    case PERIOD_DAY: sts_day_format(day, out); break;
    case PERIOD_MONTH: sts_month_format(sts_day_month(day), out); break;
    case PERIOD_WEEK:
        sts_day_iso_week(day, &y, &w);
        snprintf(out, 16, "%04d-W%02d", y % 10000, w % 100);
        break;
    }
}

static uint64_t hash_vals(char *const *vals, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        for (const char *p = vals[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0x1f) * 1099511628211ull;
    }
    return h;
}

static bool same_vals(char *const *a, char *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static bool grow(struct stats_table *t)
{
    size_t nslots = t->nslots ? t->nslots * 2 : 256;
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return false;
    size_t nv = 1 + t->q.nby;
    for (size_t i = 0; i < t->ncells; i++) {
        size_t s = hash_vals(t->cells[i].vals, nv) & (nslots - 1);
        while (slots[s])
            s = (s + 1) & (nslots - 1);
        slots[s] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return true;
}

static int add_row(const struct store_sales_row *row, void *ctx)
{
    struct stats_table *t = ctx;
    const char *const src[NDIM] = {row->brand, row->model, row->sw, row->country};
    char label[16];
    char *vals[1 + NDIM];
    size_t nv = 1 + t->q.nby;
    if (!stats_row_matches(&t->q, src))
        return 0;
    period_label(t->q.period, row->day, label);
    vals[0] = label;
    for (size_t i = 0; i < t->q.nby; i++)
        vals[1 + i] = (char *)src[t->q.by[i]];
    if (2 * (t->ncells + 1) > t->nslots && !grow(t))
        goto nomem;
    size_t s = hash_vals(vals, nv) & (t->nslots - 1);
    while (t->slots[s] && !same_vals(t->cells[t->slots[s] - 1].vals, vals, nv))
        s = (s + 1) & (t->nslots - 1);
    if (!t->slots[s]) {
        if (t->ncells == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 128;
            struct stats_cell *c = realloc(t->cells, cap * sizeof *c);
            if (!c)
                goto nomem;
            t->cells = c;
            t->cap = cap;
        }
        struct stats_cell *c = &t->cells[t->ncells];
        memset(c, 0, sizeof *c);
        for (size_t i = 0; i < nv; i++) {
            if (!(c->vals[i] = strdup(vals[i]))) {
                for (size_t j = 0; j < i; j++)
                    free(c->vals[j]);
                goto nomem;
            }
        }
        t->slots[s] = ++t->ncells;
    }
    struct stats_cell *c = &t->cells[t->slots[s] - 1];
    c->n[0] += row->activations;
    c->n[1] += row->reactivations;
    t->total[0] += row->activations;
    t->total[1] += row->reactivations;
    return 0;
nomem:
    t->err = STS_ENOMEM;
    return 1;
}

void stats_table_free(struct stats_table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        for (size_t v = 0; v < 1 + t->q.nby; v++)
            free(t->cells[i].vals[v]);
    free(t->cells);
    free(t->slots);
    t->cells = NULL;
    t->slots = NULL;
    t->ncells = t->cap = t->nslots = 0;
}

/* Order of values compared from `first`; qsort has no context argument. */
static _Thread_local int cmp_first, cmp_nv;
static int cmp_cells(const void *a, const void *b)
{
    const struct stats_cell *x = a, *y = b;
    for (int i = cmp_first; i < cmp_first + cmp_nv; i++) {
        int c = strcmp(x->vals[i % cmp_nv], y->vals[i % cmp_nv]);
        if (c)
            return c;
    }
    return 0;
}

/* Suppression of column col (0 = activations, 1 = reactivations). */
static void suppress(struct stats_table *t, int col)
{
    int64_t *n = calloc(t->ncells + 1, sizeof *n);
    bool *hidden = malloc((t->ncells + 1) * sizeof *hidden);
    if (!n || !hidden) {
        free(n);
        free(hidden);
        t->err = STS_ENOMEM;
        return;
    }
    for (size_t i = 0; i < t->ncells; i++)
        n[i] = t->cells[i].n[col];
    t->total_hidden[col] = stats_suppress(n, t->ncells, t->q.k, hidden);
    t->nhidden[col] = 0;
    for (size_t i = 0; i < t->ncells; i++) {
        t->cells[i].hidden[col] = hidden[i];
        t->nhidden[col] += hidden[i];
    }
    free(n);
    free(hidden);
}

/* Running activations per series, in period order, each shown only while no
 * cell of its series so far is hidden. Leaves the cells sorted by series then
 * period; the caller sorts them back. */
static void cumulate(struct stats_table *t)
{
    cmp_first = 1;
    cmp_nv = (int)(1 + t->q.nby);
    if (t->ncells > 1)
        qsort(t->cells, t->ncells, sizeof *t->cells, cmp_cells);
    for (size_t i = 0; i < t->ncells; i++) {
        struct stats_cell *c = &t->cells[i];
        const struct stats_cell *prev = i ? &t->cells[i - 1] : NULL;
        bool same = prev && same_vals(prev->vals + 1, c->vals + 1, t->q.nby);
        c->cum = (same ? prev->cum : 0) + c->n[0];
        c->cum_hidden = (same && prev->cum_hidden) || c->hidden[0];
    }
}

enum sts_err stats_sales_table(struct store *store, const struct stats_query *q,
                               struct stats_table *t)
{
    memset(t, 0, sizeof *t);
    t->q = *q;
    struct store_query sq;
    stats_store_query(&t->q, &sq);
    enum sts_err e = store_sales_sum(store, &sq, add_row, t);
    if (e == STS_OK && t->err != STS_OK)
        e = t->err;
    if (e == STS_OK) {
        suppress(t, 0);
        suppress(t, 1);
        e = t->err;
    }
    if (e == STS_OK && t->q.cumulative)
        cumulate(t);
    if (e != STS_OK) {
        stats_table_free(t);
        return e;
    }
    cmp_first = 0;
    cmp_nv = (int)(1 + t->q.nby);
    if (t->ncells > 1) /* cells is NULL when there is none: not for qsort */
        qsort(t->cells, t->ncells, sizeof *t->cells, cmp_cells);
    return STS_OK;
}

static json_t *count_json(int64_t n, bool hidden)
{
    return hidden ? json_null() : json_integer(n);
}

static json_t *filter_json(const struct stats_query *q)
{
    json_t *f = NULL;
    for (size_t d = 0; d < NDIM; d++) {
        if (!q->filter[d])
            continue;
        if (!f && !(f = json_object()))
            return NULL;
        json_object_set_new(f, dim_names[d],
                            d == DIM_COUNTRY && !*q->filter[d] ? json_null()
                                                               : json_string(q->filter[d]));
    }
    return f;
}

static enum sts_err sales_json(const struct stats_table *t, json_t **out)
{
    json_t *root = json_object(), *by = json_array(), *rows = json_array();
    static const char *const period_names[] = {NULL, "day", "week", "month"};
    if (!root || !by || !rows)
        goto nomem;
    for (size_t i = 0; i < t->q.nby; i++)
        json_array_append_new(by, json_string(dim_names[t->q.by[i]]));
    for (size_t i = 0; i < t->ncells; i++) {
        const struct stats_cell *c = &t->cells[i];
        json_t *r = json_object();
        if (!r)
            goto nomem;
        if (t->q.period != PERIOD_ALL)
            json_object_set_new(r, "period", json_string(c->vals[0]));
        for (size_t d = 0; d < t->q.nby; d++) {
            const char *v = c->vals[1 + d];
            json_object_set_new(r, dim_names[t->q.by[d]],
                                t->q.by[d] == DIM_COUNTRY && !*v ? json_null() : json_string(v));
        }
        json_object_set_new(r, "activations", count_json(c->n[0], c->hidden[0]));
        json_object_set_new(r, "reactivations", count_json(c->n[1], c->hidden[1]));
        if (t->q.cumulative)
            json_object_set_new(r, "cumulative", count_json(c->cum, c->cum_hidden));
        if (c->hidden[0] || c->hidden[1])
            json_object_set_new(r, "suppressed", json_true());
        json_array_append_new(rows, r);
    }
    json_object_set_new(root, "stat", json_string("sales"));
    json_object_set_new(root, "by", by);
    by = NULL;
    json_object_set_new(root, "period",
                        period_names[t->q.period] ? json_string(period_names[t->q.period])
                                                  : json_null());
    json_object_set_new(root, "k", json_integer(t->q.k));
    json_t *f = filter_json(&t->q);
    if (f)
        json_object_set_new(root, "filter", f);
    json_object_set_new(root, "rows", rows);
    rows = NULL;
    json_object_set_new(root, "total",
                        json_pack("{s:o,s:o}", "activations",
                                  count_json(t->total[0], t->total_hidden[0]), "reactivations",
                                  count_json(t->total[1], t->total_hidden[1])));
    json_object_set_new(root, "suppressed_cells", json_integer((json_int_t)t->nhidden[0]));
    *out = root;
    return STS_OK;
nomem:
    json_decref(root);
    json_decref(by);
    json_decref(rows);
    return STS_ENOMEM;
}

static const char *cell_text(const struct stats_table *t, const struct stats_cell *c, size_t v)
{
    if (v > 0 && t->q.by[v - 1] == DIM_COUNTRY && !*c->vals[v])
        return "-";
    return c->vals[v];
}

static void fmt_count(char *buf, size_t cap, int64_t n, bool hidden)
{
    if (hidden)
        snprintf(buf, cap, "*");
    else
        snprintf(buf, cap, "%lld", (long long)n);
}

void stats_print_aligned(FILE *out, const char *const *cells, size_t nrows, size_t ncol,
                         const bool *numeric, size_t footer)
{
    size_t *width = calloc(ncol ? ncol : 1, sizeof *width), line = 0;
    if (!width)
        return;
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncol; c++)
            if (strlen(cells[r * ncol + c]) > width[c])
                width[c] = strlen(cells[r * ncol + c]);
    for (size_t c = 0; c < ncol; c++)
        line += width[c] + (c ? 2 : 0);
    for (size_t r = 0; r < nrows; r++) {
        if (r == 1 || (footer && r == nrows - footer)) {
            for (size_t i = 0; i < line; i++)
                fputc('-', out);
            fputc('\n', out);
        }
        for (size_t c = 0; c < ncol; c++) {
            const char *s = cells[r * ncol + c];
            if (c + 1 == ncol && !numeric[c])
                fprintf(out, "%s%s", c ? "  " : "", s); /* no trailing blanks */
            else
                fprintf(out, "%s%*s", c ? "  " : "", numeric[c] ? (int)width[c] : -(int)width[c],
                        s);
        }
        fputc('\n', out);
    }
    free(width);
}

static void render_table(const struct stats_table *t, FILE *out)
{
    const char *heads[2 + NDIM + 3];
    size_t ncol = 0, first_val = t->q.period == PERIOD_ALL ? 1 : 0;
    size_t nnum = t->q.cumulative ? 3 : 2;
    if (first_val == 0)
        heads[ncol++] = "period";
    for (size_t d = 0; d < t->q.nby; d++)
        heads[ncol++] = dim_names[t->q.by[d]];
    heads[ncol++] = "activations";
    heads[ncol++] = "reactivations";
    if (t->q.cumulative)
        heads[ncol++] = "cumulative";
    size_t width[2 + NDIM + 3];
    for (size_t i = 0; i < ncol; i++)
        width[i] = strlen(heads[i]);
    char num[3][32];
    for (size_t i = 0; i < t->ncells; i++) {
        const struct stats_cell *c = &t->cells[i];
        size_t col = 0;
        for (size_t v = first_val; v < 1 + t->q.nby; v++, col++)
            if (strlen(cell_text(t, c, v)) > width[col])
                width[col] = strlen(cell_text(t, c, v));
        for (size_t k = 0; k < nnum; k++, col++) {
            fmt_count(num[k], sizeof num[k], k < 2 ? c->n[k] : c->cum,
                      k < 2 ? c->hidden[k] : c->cum_hidden);
            if (strlen(num[k]) > width[col])
                width[col] = strlen(num[k]);
        }
    }
    for (int k = 0; k < 2; k++) {
        fmt_count(num[k], sizeof num[k], t->total[k], t->total_hidden[k]);
        if (strlen(num[k]) > width[ncol - nnum + (size_t)k])
            width[ncol - nnum + (size_t)k] = strlen(num[k]);
    }
    size_t line = 0;
    for (size_t i = 0; i < ncol; i++) {
        bool numeric = i >= ncol - nnum;
        fprintf(out, "%s%*s%s", i ? "  " : "", numeric ? (int)width[i] : -(int)width[i], heads[i],
                "");
        line += width[i] + (i ? 2 : 0);
    }
    fputc('\n', out);
    for (size_t i = 0; i < line; i++)
        fputc('-', out);
    fputc('\n', out);
    for (size_t i = 0; i < t->ncells; i++) {
        const struct stats_cell *c = &t->cells[i];
        size_t col = 0;
        for (size_t v = first_val; v < 1 + t->q.nby; v++, col++)
            fprintf(out, "%s%-*s", col ? "  " : "", (int)width[col], cell_text(t, c, v));
        for (size_t k = 0; k < nnum; k++, col++) {
            fmt_count(num[k], sizeof num[k], k < 2 ? c->n[k] : c->cum,
                      k < 2 ? c->hidden[k] : c->cum_hidden);
            fprintf(out, "%s%*s", col ? "  " : "", (int)width[col], num[k]);
        }
        fputc('\n', out);
    }
    for (size_t i = 0; i < line; i++)
        fputc('-', out);
    fputc('\n', out);
    size_t label_w = 0;
    for (size_t i = 0; i + nnum < ncol; i++)
        label_w += width[i] + (i ? 2 : 0);
    fprintf(out, "%-*s", (int)label_w, "total");
    for (int k = 0; k < 2; k++) {
        fmt_count(num[k], sizeof num[k], t->total[k], t->total_hidden[k]);
        fprintf(out, "%s%*s", label_w || k ? "  " : "", (int)width[ncol - nnum + (size_t)k],
                num[k]);
    }
    fputc('\n', out);
    if (t->nhidden[0] || t->nhidden[1] || t->total_hidden[0] || t->total_hidden[1])
        fprintf(out,
                "* suppressed: fewer than %ld devices, or hidden so that such a cell cannot "
                "be recovered from the total%s\n",
                t->q.k,
                t->q.cumulative ? "; a running total stops at the first hidden cell of its row"
                                : "");
}

/* RFC 4180: quote a field only if it needs it. */
void stats_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void render_csv(const struct stats_table *t, FILE *out)
{
    size_t first_val = t->q.period == PERIOD_ALL ? 1 : 0;
    if (!first_val)
        fputs("period,", out);
    for (size_t d = 0; d < t->q.nby; d++)
        fprintf(out, "%s,", dim_names[t->q.by[d]]);
    fputs(t->q.cumulative ? "activations,reactivations,cumulative\r\n"
                          : "activations,reactivations\r\n",
          out);
    for (size_t i = 0; i < t->ncells; i++) {
        const struct stats_cell *c = &t->cells[i];
        for (size_t v = first_val; v < 1 + t->q.nby; v++) {
            stats_csv_field(out, c->vals[v]);
            fputc(',', out);
        }
        for (int k = 0; k < 2; k++) {
            if (!c->hidden[k])
                fprintf(out, "%lld", (long long)c->n[k]);
            if (k == 0 || t->q.cumulative)
                fputc(',', out);
        }
        if (t->q.cumulative && !c->cum_hidden)
            fprintf(out, "%lld", (long long)c->cum);
        fputs("\r\n", out);
    }
}

static bool known_stat(const char *which)
{
    return strcmp(which, "sales") == 0 || strcmp(which, "lifetime") == 0 ||
           strcmp(which, "versions") == 0;
}

/* Runs a statistic into a JSON document; for sales also keeps the table. */
static enum sts_err run(struct store *store, const char *which, const struct stats_args *args,
                        json_t **doc, struct stats_table *t, struct sts_field_error *err)
{
    struct stats_query q;
    enum sts_err e = stats_parse_query(which, args, &q, err);
    if (e != STS_OK)
        return e;
    if (strcmp(which, "lifetime") == 0)
        return stats_lifetime_json(store, &q, doc);
    if (strcmp(which, "versions") == 0)
        return stats_versions_json(store, &q, doc);
    e = stats_sales_table(store, &q, t);
    if (e != STS_OK)
        return e;
    e = sales_json(t, doc);
    if (e != STS_OK)
        stats_table_free(t);
    return e;
}

enum sts_err stats_api(struct store *store, const char *which, const struct stats_args *args,
                       char **json, struct sts_field_error *err)
{
    struct stats_table t;
    json_t *doc = NULL;
    memset(&t, 0, sizeof t);
    if (!known_stat(which)) {
        stats_bad(err, "path",
                  "unknown statistic: use /v1/stats/sales, /v1/stats/lifetime or "
                  "/v1/stats/versions");
        return STS_ENOENT;
    }
    enum sts_err e = run(store, which, args, &doc, &t, err);
    if (e != STS_OK)
        return e;
    *json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(doc);
    stats_table_free(&t);
    return *json ? STS_OK : STS_ENOMEM;
}

enum sts_err stats_print(struct store *store, const char *which, const struct stats_args *args,
                         const char *format, FILE *out, struct sts_field_error *err)
{
    struct stats_table t;
    json_t *doc = NULL;
    memset(&t, 0, sizeof t);
    if (!known_stat(which)) {
        stats_bad(err, "statistic", "unknown statistic: use sales, lifetime or versions");
        return STS_ENOENT;
    }
    if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return stats_bad(err, "format", "must be table, csv or json");
    enum sts_err e = run(store, which, args, &doc, &t, err);
    if (e != STS_OK)
        return e;
    if (strcmp(format, "json") == 0) {
        char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (s)
            fprintf(out, "%s\n", s);
        else
            e = STS_ENOMEM;
        free(s);
    } else if (strcmp(which, "lifetime") == 0) {
        stats_lifetime_print(doc, format, out);
    } else if (strcmp(which, "versions") == 0) {
        stats_versions_print(doc, format, out);
    } else if (strcmp(format, "csv") == 0) {
        render_csv(&t, out);
    } else {
        render_table(&t, out);
    }
    json_decref(doc);
    stats_table_free(&t);
    return e;
}
