/* Sales statistics: the rollup rows are folded into the requested cells
 * (period x dimensions) in a hash table, then the privacy floor is applied:
 * a cell under k devices is suppressed, and further cells are suppressed
 * until the suppressed remainder (total minus what is shown) counts at least
 * k devices spread over at least two cells, so no hidden cell can be
 * recovered by subtraction from the total. */
#include "stats.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sts/date.h"

enum dim { DIM_BRAND, DIM_MODEL, DIM_SW, DIM_COUNTRY, NDIM };
static const char *const dim_names[NDIM] = {"brand", "model", "sw", "country"};

enum period { PERIOD_ALL, PERIOD_DAY, PERIOD_WEEK, PERIOD_MONTH };

struct query {
    enum dim by[NDIM];
    size_t nby;
    enum period period;
    int32_t from, to;
    long k;
};

/* One published cell. vals[0] is the period label ("" for PERIOD_ALL), then
 * one value per dimension of the query. */
struct cell {
    char *vals[1 + NDIM];
    int64_t n[2];      /* activations, reactivations */
    bool hidden[2];
};

struct table {
    struct query q;
    struct cell *cells;
    size_t ncells, cap;
    size_t *slots; /* open addressing: index+1 into cells, 0 = empty */
    size_t nslots;
    int64_t total[2];
    bool total_hidden[2];
    size_t nhidden[2];
    enum sts_err err;
};

static enum sts_err bad(struct sts_field_error *err, const char *field, const char *detail)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    snprintf(err->detail, sizeof err->detail, "%s", detail);
    return STS_EINVAL;
}

static enum sts_err parse_query(const struct stats_args *a, struct query *q,
                                struct sts_field_error *err)
{
    memset(q, 0, sizeof *q);
    q->from = INT32_MIN;
    q->to = INT32_MAX;
    q->k = a->k_min > 0 ? a->k_min : STATS_DEFAULT_K;
    if (a->by && *a->by) {
        const char *p = a->by;
        while (*p) {
            size_t len = strcspn(p, ",");
            size_t d;
            for (d = 0; d < NDIM; d++)
                if (strlen(dim_names[d]) == len && strncmp(p, dim_names[d], len) == 0)
                    break;
            if (d == NDIM)
                return bad(err, "by", "use a comma list of brand, model, sw, country");
            for (size_t i = 0; i < q->nby; i++)
                if (q->by[i] == (enum dim)d)
                    return bad(err, "by", "a dimension appears twice");
            q->by[q->nby++] = (enum dim)d;
            p += len;
            if (*p == ',' && *++p == '\0')
                return bad(err, "by", "use a comma list of brand, model, sw, country");
        }
    }
    if (a->period) {
        if (strcmp(a->period, "day") == 0)
            q->period = PERIOD_DAY;
        else if (strcmp(a->period, "week") == 0)
            q->period = PERIOD_WEEK;
        else if (strcmp(a->period, "month") == 0)
            q->period = PERIOD_MONTH;
        else
            return bad(err, "period", "must be day, week or month");
    }
    if (a->from && sts_day_parse(a->from, &q->from) != STS_OK)
        return bad(err, "from", "must be a date as YYYY-MM-DD");
    if (a->to && sts_day_parse(a->to, &q->to) != STS_OK)
        return bad(err, "to", "must be a date as YYYY-MM-DD");
    if (q->from > q->to)
        return bad(err, "to", "before from");
    if (a->k) {
        char *end;
        long k = strtol(a->k, &end, 10);
        if (*end || end == a->k || k < q->k || k > 1000000)
            return bad(err, "k", "must be an integer not below the collector's floor");
        q->k = k;
    }
    return STS_OK;
}

static void period_label(enum period p, int32_t day, char out[16])
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

static bool grow(struct table *t)
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
    struct table *t = ctx;
    char label[16];
    char *vals[1 + NDIM];
    size_t nv = 1 + t->q.nby;
    period_label(t->q.period, row->day, label);
    vals[0] = label;
    for (size_t i = 0; i < t->q.nby; i++) {
        const char *const src[NDIM] = {row->brand, row->model, row->sw, row->country};
        vals[1 + i] = (char *)src[t->q.by[i]];
    }
    if (2 * (t->ncells + 1) > t->nslots && !grow(t))
        goto nomem;
    size_t s = hash_vals(vals, nv) & (t->nslots - 1);
    while (t->slots[s] && !same_vals(t->cells[t->slots[s] - 1].vals, vals, nv))
        s = (s + 1) & (t->nslots - 1);
    if (!t->slots[s]) {
        if (t->ncells == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 128;
            struct cell *c = realloc(t->cells, cap * sizeof *c);
            if (!c)
                goto nomem;
            t->cells = c;
            t->cap = cap;
        }
        struct cell *c = &t->cells[t->ncells];
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
    struct cell *c = &t->cells[t->slots[s] - 1];
    c->n[0] += row->activations;
    c->n[1] += row->reactivations;
    t->total[0] += row->activations;
    t->total[1] += row->reactivations;
    return 0;
nomem:
    t->err = STS_ENOMEM;
    return 1;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        for (size_t v = 0; v < 1 + t->q.nby; v++)
            free(t->cells[i].vals[v]);
    free(t->cells);
    free(t->slots);
}

static int cmp_cells_nv;
static int cmp_cells(const void *a, const void *b)
{
    const struct cell *x = a, *y = b;
    for (int i = 0; i < cmp_cells_nv; i++) {
        int c = strcmp(x->vals[i], y->vals[i]);
        if (c)
            return c;
    }
    return 0;
}

/* Suppression of column col (0 = activations, 1 = reactivations). */
static void suppress(struct table *t, int col)
{
    long k = t->q.k;
    int64_t hidden_sum = 0;
    size_t hidden = 0;
    for (size_t i = 0; i < t->ncells; i++) {
        struct cell *c = &t->cells[i];
        if (c->n[col] > 0 && c->n[col] < k) {
            c->hidden[col] = true;
            hidden_sum += c->n[col];
            hidden++;
        }
    }
    /* The total reveals hidden_sum: make it safe to reveal, or hide the total. */
    while (hidden_sum > 0 && (hidden_sum < k || hidden < 2)) {
        struct cell *smallest = NULL;
        for (size_t i = 0; i < t->ncells; i++) {
            struct cell *c = &t->cells[i];
            if (!c->hidden[col] && c->n[col] > 0 && (!smallest || c->n[col] < smallest->n[col]))
                smallest = c;
        }
        if (!smallest) {
            t->total_hidden[col] = true;
            break;
        }
        smallest->hidden[col] = true;
        hidden_sum += smallest->n[col];
        hidden++;
    }
    if (t->total[col] > 0 && t->total[col] < k)
        t->total_hidden[col] = true;
    t->nhidden[col] = hidden;
}

static enum sts_err run_sales(struct store *store, const struct stats_args *args,
                              struct table *t, struct sts_field_error *err)
{
    memset(t, 0, sizeof *t);
    enum sts_err e = parse_query(args, &t->q, err);
    if (e != STS_OK)
        return e;
    e = store_sales(store, t->q.from, t->q.to, add_row, t);
    if (e == STS_OK && t->err != STS_OK)
        e = t->err;
    if (e != STS_OK) {
        table_free(t);
        return e;
    }
    cmp_cells_nv = (int)(1 + t->q.nby);
    if (t->ncells > 1) /* cells is NULL when there is none: not for qsort */
        qsort(t->cells, t->ncells, sizeof *t->cells, cmp_cells);
    suppress(t, 0);
    suppress(t, 1);
    return STS_OK;
}

static json_t *count_json(int64_t n, bool hidden)
{
    return hidden ? json_null() : json_integer(n);
}

static enum sts_err render_json(const struct table *t, char **out)
{
    json_t *root = json_object(), *by = json_array(), *rows = json_array();
    static const char *const period_names[] = {NULL, "day", "week", "month"};
    if (!root || !by || !rows)
        goto nomem;
    for (size_t i = 0; i < t->q.nby; i++)
        json_array_append_new(by, json_string(dim_names[t->q.by[i]]));
    for (size_t i = 0; i < t->ncells; i++) {
        const struct cell *c = &t->cells[i];
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
    json_object_set_new(root, "rows", rows);
    rows = NULL;
    json_object_set_new(root, "total",
                        json_pack("{s:o,s:o}", "activations",
                                  count_json(t->total[0], t->total_hidden[0]), "reactivations",
                                  count_json(t->total[1], t->total_hidden[1])));
    json_object_set_new(root, "suppressed_cells", json_integer((json_int_t)t->nhidden[0]));
    *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *out ? STS_OK : STS_ENOMEM;
nomem:
    json_decref(root);
    json_decref(by);
    json_decref(rows);
    return STS_ENOMEM;
}

static const char *cell_text(const struct table *t, const struct cell *c, size_t v)
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

static void render_table(const struct table *t, FILE *out)
{
    const char *heads[2 + NDIM + 2];
    size_t ncol = 0, first_val = t->q.period == PERIOD_ALL ? 1 : 0;
    if (first_val == 0)
        heads[ncol++] = "period";
    for (size_t d = 0; d < t->q.nby; d++)
        heads[ncol++] = dim_names[t->q.by[d]];
    heads[ncol++] = "activations";
    heads[ncol++] = "reactivations";
    size_t width[2 + NDIM + 2];
    for (size_t i = 0; i < ncol; i++)
        width[i] = strlen(heads[i]);
    char num[2][32];
    for (size_t i = 0; i < t->ncells; i++) {
        const struct cell *c = &t->cells[i];
        size_t col = 0;
        for (size_t v = first_val; v < 1 + t->q.nby; v++, col++)
            if (strlen(cell_text(t, c, v)) > width[col])
                width[col] = strlen(cell_text(t, c, v));
        for (int k = 0; k < 2; k++, col++) {
            fmt_count(num[k], sizeof num[k], c->n[k], c->hidden[k]);
            if (strlen(num[k]) > width[col])
                width[col] = strlen(num[k]);
        }
    }
    for (int k = 0; k < 2; k++) {
        fmt_count(num[k], sizeof num[k], t->total[k], t->total_hidden[k]);
        if (strlen(num[k]) > width[ncol - 2 + k])
            width[ncol - 2 + k] = strlen(num[k]);
    }
    size_t line = 0;
    for (size_t i = 0; i < ncol; i++) {
        bool numeric = i >= ncol - 2;
        fprintf(out, "%s%*s%s", i ? "  " : "", numeric ? (int)width[i] : -(int)width[i],
                heads[i], "");
        line += width[i] + (i ? 2 : 0);
    }
    fputc('\n', out);
    for (size_t i = 0; i < line; i++)
        fputc('-', out);
    fputc('\n', out);
    for (size_t i = 0; i < t->ncells; i++) {
        const struct cell *c = &t->cells[i];
        size_t col = 0;
        for (size_t v = first_val; v < 1 + t->q.nby; v++, col++)
            fprintf(out, "%s%-*s", col ? "  " : "", (int)width[col], cell_text(t, c, v));
        for (int k = 0; k < 2; k++, col++) {
            fmt_count(num[k], sizeof num[k], c->n[k], c->hidden[k]);
            fprintf(out, "%s%*s", col ? "  " : "", (int)width[col], num[k]);
        }
        fputc('\n', out);
    }
    for (size_t i = 0; i < line; i++)
        fputc('-', out);
    fputc('\n', out);
    size_t label_w = 0;
    for (size_t i = 0; i + 2 < ncol; i++)
        label_w += width[i] + (i ? 2 : 0);
    fprintf(out, "%-*s", (int)label_w, "total");
    for (int k = 0; k < 2; k++) {
        fmt_count(num[k], sizeof num[k], t->total[k], t->total_hidden[k]);
        fprintf(out, "%s%*s", label_w || k ? "  " : "", (int)width[ncol - 2 + k], num[k]);
    }
    fputc('\n', out);
    if (t->nhidden[0] || t->nhidden[1] || t->total_hidden[0] || t->total_hidden[1])
        fprintf(out, "* suppressed: fewer than %ld devices, or hidden so that such a cell cannot "
                     "be recovered from the total\n",
                t->q.k);
}

/* RFC 4180: quote a field only if it needs it. */
static void csv_field(FILE *out, const char *s)
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

static void render_csv(const struct table *t, FILE *out)
{
    size_t first_val = t->q.period == PERIOD_ALL ? 1 : 0;
    if (!first_val)
        fputs("period,", out);
    for (size_t d = 0; d < t->q.nby; d++)
        fprintf(out, "%s,", dim_names[t->q.by[d]]);
    fputs("activations,reactivations\r\n", out);
    for (size_t i = 0; i < t->ncells; i++) {
        const struct cell *c = &t->cells[i];
        for (size_t v = first_val; v < 1 + t->q.nby; v++) {
            csv_field(out, c->vals[v]);
            fputc(',', out);
        }
        for (int k = 0; k < 2; k++) {
            if (!c->hidden[k])
                fprintf(out, "%lld", (long long)c->n[k]);
            fputs(k ? "\r\n" : ",", out);
        }
    }
}

enum sts_err stats_api(struct store *store, const char *which, const struct stats_args *args,
                       char **json, struct sts_field_error *err)
{
    struct table t;
    if (strcmp(which, "sales") != 0) {
        bad(err, "path", "unknown statistic: use /v1/stats/sales");
        return STS_ENOENT;
    }
    enum sts_err e = run_sales(store, args, &t, err);
    if (e != STS_OK)
        return e;
    e = render_json(&t, json);
    table_free(&t);
    return e;
}

enum sts_err stats_print(struct store *store, const char *which, const struct stats_args *args,
                         const char *format, FILE *out, struct sts_field_error *err)
{
    struct table t;
    if (strcmp(which, "sales") != 0) {
        bad(err, "statistic", "unknown statistic: use sales");
        return STS_ENOENT;
    }
    if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 &&
        strcmp(format, "json") != 0)
        return bad(err, "format", "must be table, csv or json");
    enum sts_err e = run_sales(store, args, &t, err);
    if (e != STS_OK)
        return e;
    if (strcmp(format, "json") == 0) {
        char *s = NULL;
        e = render_json(&t, &s);
        if (s)
            fprintf(out, "%s\n", s);
        free(s);
    } else if (strcmp(format, "csv") == 0) {
        render_csv(&t, out);
    } else {
        render_table(&t, out);
    }
    table_free(&t);
    return e;
}
