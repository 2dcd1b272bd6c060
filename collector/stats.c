/* Statistics the maker reads: the query parameters every statistic shares,
 * the sales figures, and the entry points for the CLI and the HTTP API. Every
 * figure is a sum of cells of the differentially private release
 * (release.h): the query picks the released table that holds its
 * dimensions, adds up the shown cells of its periods and carries each sum's
 * 95 % interval. Nothing else about the counters is ever said: a cell that
 * is not shown is not listed, counted or hinted at. Every output format is
 * rendered from the one JSON document (stats_out.c). */
#include "stats.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "release.h"
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
    q->k_floor = q->k;
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
            if (life && (d == DIM_SW || d == DIM_COUNTRY))
                return stats_bad(err, "by",
                                 "lifetime is released per brand and model: use brand, model");
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
        if (life && (d == DIM_SW || d == DIM_COUNTRY))
            return stats_bad(err, dim_names[d],
                             "lifetime is released per brand and model: filter on brand or "
                             "model");
        if (!sales && !life && (d == DIM_BRAND || d == DIM_COUNTRY))
            return stats_bad(err, dim_names[d],
                             "versions are released per model and software version: filter on "
                             "model or sw");
        q->filter[d] = f[d];
    }
    return STS_OK;
}

/* ---- Sales ------------------------------------------------------------------ */

/* Query dimensions (stats_dim order) as release key bits. */
static unsigned dims_of(const struct stats_query *q, bool with_filters)
{
    unsigned m = 0;
    for (size_t i = 0; i < q->nby; i++)
        m |= 1u << q->by[i];
    if (with_filters)
        for (int d = 0; d < NDIM; d++)
            if (q->filter[d])
                m |= 1u << d;
    return m;
}

/* The smallest monthly sales table whose cells hold every dimension in m. */
static int month_table(unsigned m)
{
    static const enum release_table order[] = {REL_SALES_MONTH, REL_SALES_MONTH_C,
                                               REL_SALES_MONTH_BM, REL_SALES_MONTH_BMC,
                                               REL_SALES_MONTH_BMS};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if ((m & ~release_defs[order[i]].dims) == 0)
            return (int)order[i];
    return -1;
}

/* One contribution to a row: a released cell's value under its bucket. */
struct part {
    char label[16];
    const char *vals[NDIM]; /* borrowed from the cells */
    int64_t n[2];           /* activations, re-activations */
    double var[2];
    int ncells[2];
    enum release_table t[2];
    int32_t day; /* a day of the row's period */
};

struct sales {
    struct stats_query q;
    struct part *p;
    size_t n, cap;
    struct release_cells cells[REL_NTABLES];
    int month_t;
    bool days;      /* some buckets come from daily cells */
    int64_t parent; /* the released total of the filtered group */
    double parent_var;
    int parent_cells;
    bool parent_known;
    bool react;                 /* re-activations are released at this level */
    struct release_cells known; /* the row table's shown cells over all closed periods */
    int known_t;                /* its table, -1 when rows are not of one period */
    const struct release_cells *known_cells; /* &known, or the answer's own cells */
};

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

static const char *cell_val(const struct release_cell *c, enum release_table t, int d)
{
    unsigned dims = release_defs[t].dims;
    if (!(dims & (1u << d)))
        return NULL;
    int j = 0;
    for (int i = 0; i < d; i++)
        j += (dims & (1u << i)) != 0;
    return c->key[j];
}

static bool cell_matches(const struct stats_query *q, const struct release_cell *c,
                         enum release_table t)
{
    for (int d = 0; d < NDIM; d++) {
        if (!q->filter[d])
            continue;
        const char *v = cell_val(c, t, d);
        if (!v || strcmp(v, q->filter[d]) != 0)
            return false;
    }
    return true;
}

static enum sts_err add_part(struct sales *s, const struct release *r, enum release_table t,
                             const struct release_cell *c, int col, int32_t day)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        struct part *p = realloc(s->p, cap * sizeof *p);
        if (!p)
            return STS_ENOMEM;
        s->p = p;
        s->cap = cap;
    }
    struct part *p = &s->p[s->n++];
    memset(p, 0, sizeof *p);
    period_label(s->q.period, day, p->label);
    p->day = day;
    for (size_t i = 0; i < s->q.nby; i++)
        p->vals[s->q.by[i]] = cell_val(c, t, (int)s->q.by[i]);
    p->n[col] = c->value;
    p->var[col] = r->noise[t].variance;
    p->ncells[col] = 1;
    p->t[col] = t;
    return STS_OK;
}

static _Thread_local const struct stats_query *sort_q;
static int cmp_parts(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    for (size_t i = 0; !c && i < sort_q->nby; i++)
        c = strcmp(x->vals[sort_q->by[i]], y->vals[sort_q->by[i]]);
    return c;
}

/* Series first (for running totals), then period. */
static int cmp_series(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    int c = 0;
    for (size_t i = 0; !c && i < sort_q->nby; i++)
        c = strcmp(x->vals[sort_q->by[i]], y->vals[sort_q->by[i]]);
    return c ? c : strcmp(x->label, y->label);
}

/* Reads table t over [from, to] (days, or months for monthly tables) into
 * s->cells[t] and adds its matching cells as parts of column col. */
static enum sts_err gather(struct sales *s, const struct release *r, struct store *store,
                           enum release_table t, int32_t from, int32_t to, int col,
                           size_t max_cells)
{
    struct release_filter f = {{s->q.filter[0], s->q.filter[1], s->q.filter[2], s->q.filter[3]}};
    size_t first = s->cells[t].n;
    enum sts_err e = release_read(r, store, t, from, to, &f, max_cells, &s->cells[t]);
    for (size_t i = first; e == STS_OK && i < s->cells[t].n; i++) {
        const struct release_cell *c = &s->cells[t].cell[i];
        if (!cell_matches(&s->q, c, t))
            continue;
        int32_t day = release_defs[t].grain == REL_DAY ? c->period : sts_month_first_day(c->period);
        e = add_part(s, r, t, c, col, day);
    }
    return e;
}

/* Sums the parts of each row; leaves them sorted. */
static void fold(struct sales *s, int (*cmp)(const void *, const void *))
{
    sort_q = &s->q;
    if (s->n > 1)
        qsort(s->p, s->n, sizeof *s->p, cmp_parts);
    size_t w = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (cmp_parts(&s->p[w], &s->p[i]) == 0) {
            for (int col = 0; col < 2; col++) {
                s->p[w].n[col] += s->p[i].n[col];
                s->p[w].var[col] += s->p[i].var[col];
                if (s->p[i].ncells[col])
                    s->p[w].t[col] = s->p[i].t[col];
                s->p[w].ncells[col] += s->p[i].ncells[col];
            }
        } else {
            s->p[++w] = s->p[i];
        }
    }
    if (s->n)
        s->n = w + 1;
    if (cmp != cmp_parts && s->n > 1)
        qsort(s->p, s->n, sizeof *s->p, cmp);
}

int64_t stats_half95(const struct release *r, enum release_table t, int ncells, double var)
{
    if (ncells == 1)
        return r->noise[t].half95;
    return (int64_t)ceil(1.96 * sqrt(var));
}

json_t *stats_ci_json(int64_t v, int64_t half)
{
    return json_pack("[I,I]", (json_int_t)(v - half > 0 ? v - half : 0), (json_int_t)(v + half));
}

static bool aligned_month_start(int32_t day)
{
    return day == INT32_MIN || sts_month_first_day(sts_day_month(day)) == day;
}

static bool aligned_month_end(int32_t day)
{
    return day == INT32_MAX || sts_month_first_day(sts_day_month(day) + 1) - 1 == day;
}

/* The cell cap of one query: past it the answer is refused, not truncated. */
#define SALES_MAX_CELLS 1000000

static enum sts_err sales_gather(struct sales *s, const struct release *r, struct store *store,
                                 struct sts_field_error *err)
{
    const struct stats_query *q = &s->q;
    unsigned need = dims_of(q, true);
    bool bm_only = (need & ~(unsigned)(REL_BRAND | REL_MODEL)) == 0;
    bool daily = q->period == PERIOD_DAY || q->period == PERIOD_WEEK;
    bool edges = !aligned_month_start(q->from) || !aligned_month_end(q->to);
    s->month_t = month_table(need);
    if (s->month_t < 0)
        return stats_bad(err, "by",
                         "sales by software version and country together are not released; "
                         "ask for one of them, or filter on the other through a separate query");
    if ((daily || edges) && !bm_only)
        return stats_bad(err, daily ? "period" : (aligned_month_start(q->from) ? "to" : "from"),
                         daily ? "daily and weekly sales are released by brand and model only: "
                                 "use period=month for country or sw"
                               : "sales by country or sw are released per whole month: give "
                                 "from as a month's first day and to as a month's last day");
    enum sts_err e = STS_OK;
    int32_t last_month = release_last_month(r);
    s->react = bm_only && !daily && !edges;
    if (daily) {
        s->days = true;
        e = gather(s, r, store, REL_SALES_DAY_BM, q->from, q->to, 0, SALES_MAX_CELLS);
    } else {
        /* Whole months from the monthly table, the days at the edges from the daily one. */
        int32_t m0 = q->from == INT32_MIN ? INT32_MIN : sts_day_month(q->from);
        int32_t m1 = q->to == INT32_MAX ? INT32_MAX : sts_day_month(q->to);
        bool head = !aligned_month_start(q->from), tail = !aligned_month_end(q->to);
        if (head) {
            int32_t end = sts_month_first_day(m0 + 1) - 1;
            s->days = true;
            e = gather(s, r, store, REL_SALES_DAY_BM, q->from, end < q->to ? end : q->to, 0,
                       SALES_MAX_CELLS);
            m0++;
        }
        if (e == STS_OK && tail && !(head && m1 < m0)) {
            s->days = true;
            e = gather(s, r, store, REL_SALES_DAY_BM, sts_month_first_day(m1), q->to, 0,
                       SALES_MAX_CELLS);
            m1--;
        }
        if (e == STS_OK && m0 <= m1)
            e = gather(s, r, store, (enum release_table)s->month_t, m0, m1, 0, SALES_MAX_CELLS);
        if (e == STS_OK && s->react && m0 <= m1)
            e = gather(s, r, store, REL_REACT_MONTH_BM, m0, m1, 1, SALES_MAX_CELLS);
    }
    if (e == STS_ETOOBIG) {
        stats_bad(err, "by",
                  "this query spans more released cells than one answer may hold or read in "
                  "its time limit: narrow the dates or filter on a model");
        return STS_ETOOBIG;
    }
    if (e != STS_OK)
        return e;
    /* Rows of one released period each (months from the monthly table, or
     * days) say how many of their parts are under the threshold: which
     * parts a group has comes from the table's shown cells of every closed
     * period, so it is the same whatever the dates asked. */
    s->known_t = -1;
    if ((q->period == PERIOD_MONTH && !s->days) || q->period == PERIOD_DAY ||
        q->period == PERIOD_WEEK) {
        enum release_table kt = s->days ? REL_SALES_DAY_BM : (enum release_table)s->month_t;
        struct release_filter f = {{q->filter[0], q->filter[1], q->filter[2], q->filter[3]}};
        s->known_cells = &s->known;
        if (q->from == INT32_MIN && q->to == INT32_MAX) /* the answer read them all */
            s->known_cells = &s->cells[kt];
        else
            e = release_read(r, store, kt, INT32_MIN, INT32_MAX, &f, SALES_MAX_CELLS, &s->known);
        if (e == STS_OK)
            s->known_t = (int)kt;
        else if (e == STS_ETOOBIG)
            e = STS_OK; /* then rows say nothing of their parts */
        else
            return e;
    }
    /* The group's total, from the table of the filtered dimensions alone,
     * when the answer is made of whole months. */
    int pt = month_table(dims_of(q, true) & ~dims_of(q, false));
    /* (A filter on a dimension the table lacks matches none of its cells:
     * no total then, and no read of it.) */
    for (int d = 0; pt >= 0 && d < NDIM; d++)
        if (q->filter[d] && !(release_defs[pt].dims & (1u << d)))
            pt = -1;
    if (!s->days && pt >= 0) {
        struct release_cells pc = {0};
        struct release_filter f = {{q->filter[0], q->filter[1], q->filter[2], q->filter[3]}};
        int32_t m0 = q->from == INT32_MIN ? INT32_MIN : sts_day_month(q->from);
        int32_t m1 = q->to == INT32_MAX ? last_month : sts_day_month(q->to);
        e = release_read(r, store, (enum release_table)pt, m0, m1, &f, SALES_MAX_CELLS, &pc);
        for (size_t i = 0; e == STS_OK && i < pc.n; i++) {
            if (!cell_matches(q, &pc.cell[i], (enum release_table)pt))
                continue;
            s->parent += pc.cell[i].value;
            s->parent_var += r->noise[pt].variance;
            s->parent_cells++;
        }
        s->parent_known = e == STS_OK;
        release_cells_free(&pc);
        if (e == STS_ETOOBIG)
            e = STS_OK, s->parent_known = false;
    }
    return e;
}

static void sales_free(struct sales *s)
{
    for (int t = 0; t < REL_NTABLES; t++)
        release_cells_free(&s->cells[t]);
    release_cells_free(&s->known);
    free(s->p);
}

/* Is any released cell, over all closed time, carrying the filtered value?
 * An unknown value is said to be unknown instead of answered with nothing. */
static enum sts_err check_filters(const struct release *r, struct store *store,
                                  const struct stats_query *q, struct sts_field_error *err)
{
    static const enum release_table home[NDIM] = {REL_SALES_MONTH_BM, REL_SALES_MONTH_BM,
                                                  REL_SALES_MONTH_BMS, REL_SALES_MONTH_C};
    for (int d = 0; d < NDIM; d++) {
        if (!q->filter[d])
            continue;
        struct release_filter f = {{NULL, NULL, NULL, NULL}};
        struct release_cells c = {0};
        f.value[d] = q->filter[d];
        /* Decided on the released cells alone: shown or not, never on how
         * many stored rows carry the value. */
        enum sts_err e =
            release_read(r, store, home[d], INT32_MIN, INT32_MAX, &f, SALES_MAX_CELLS, &c);
        bool found = c.n > 0;
        release_cells_free(&c);
        if (e == STS_ETOOBIG) {
            stats_bad(err, dim_names[d],
                      "this filter spans more released cells than one answer may read");
            return e;
        }
        if (e != STS_OK)
            return e;
        if (!found) {
            char why[160];
            snprintf(why, sizeof why,
                     "no published figure has %s '%s' (it is unknown, or too rare to show)",
                     dim_names[d], d == DIM_COUNTRY && !*q->filter[d] ? "-" : q->filter[d]);
            return stats_bad(err, dim_names[d], why);
        }
    }
    return STS_OK;
}

json_t *stats_filter_json(const struct stats_query *q)
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

json_t *stats_release_json(const struct release *r, const enum release_table *tables,
                           size_t ntables)
{
    json_t *rel = json_object(), *tabs = json_array();
    char label[STS_DAY_LEN + 1];
    if (!rel || !tabs) {
        json_decref(rel);
        json_decref(tabs);
        return NULL;
    }
    for (size_t i = 0; i < ntables; i++) {
        const struct release_noise *n = &r->noise[tables[i]];
        json_array_append_new(tabs,
                              json_pack("{s:s,s:f,s:f,s:I}", "table", release_defs[tables[i]].name,
                                        "sigma", sqrt((double)n->s2_num / (double)n->s2_den), "rho",
                                        n->rho, "threshold", (json_int_t)n->threshold));
    }
    sts_day_format(release_last_day(r), label);
    json_object_set_new(rel, "rho_per_month", json_real(r->rho));
    json_object_set_new(rel, "through_day", json_string(label));
    sts_month_format(release_last_month(r), label);
    json_object_set_new(rel, "through_month", json_string(label));
    json_object_set_new(rel, "tables", tabs);
    return rel;
}

static json_t *count_with_ci(json_t *row, const char *name, const struct release *r,
                             enum release_table t, int ncells, int64_t v, double var)
{
    char ci[48];
    snprintf(ci, sizeof ci, "%s_ci", name);
    if (ncells == 0) {
        json_object_set_new(row, name, json_null());
        json_object_set_new(row, ci, json_null());
    } else {
        json_object_set_new(row, name, json_integer(v));
        json_object_set_new(row, ci, stats_ci_json(v, stats_half95(r, t, ncells, var)));
    }
    return row;
}

/* ---- Rows with parts under the threshold ------------------------------------ */

/* A row that adds up cells over a dimension the query does not group by (a
 * model's brands, for sales by model) may miss a part whose cell is under
 * its threshold in that period. Which parts a row has is known from the
 * released cells alone: the values of the summed-over dimensions that some
 * shown cell of the same group carries in any period of the answer. A row
 * holding fewer says how many are not shown in its period: post-processing
 * of what is published, saying nothing of cells never shown anywhere. */
struct group_parts {
    char *key;   /* the group's values, then the part's, joined by '\x1f' */
    size_t glen; /* length of the group's prefix */
};

static int cmp_group_parts(const void *a, const void *b)
{
    return strcmp(((const struct group_parts *)a)->key, ((const struct group_parts *)b)->key);
}

/* The group key of the query's by dimensions from vals; the part key from
 * the table's other dimensions. */
static size_t join_vals(char *out, size_t size, const char *const *vals, unsigned dims)
{
    size_t n = 0;
    out[0] = '\0';
    for (int d = 0; d < NDIM; d++)
        if (dims & (1u << d))
            n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s\x1f",
                                  vals[d] ? vals[d] : "");
    return n < size ? n : size - 1;
}

struct parts_index {
    struct group_parts *g; /* distinct (group, part), sorted */
    size_t n;
    unsigned by, extra;
    bool on; /* rows say how many parts they miss */
};

static void parts_index_free(struct parts_index *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->g[i].key);
    free(x->g);
    memset(x, 0, sizeof *x);
}

static enum sts_err parts_index_build(const struct sales *s, enum release_table t,
                                      struct parts_index *x)
{
    const struct release_cells *cells = s->known_cells;
    memset(x, 0, sizeof *x);
    x->by = dims_of(&s->q, false);
    x->extra = release_defs[t].dims & ~x->by;
    /* A row of one period has parts when it sums over other dimensions; a
     * week's row also has its days. */
    x->on = x->extra || s->q.period == PERIOD_WEEK;
    if (!x->on || cells->n == 0)
        return STS_OK;
    if (!(x->g = calloc(cells->n, sizeof *x->g)))
        return STS_ENOMEM;
    for (size_t i = 0; i < cells->n; i++) {
        const struct release_cell *c = &cells->cell[i];
        if (!cell_matches(&s->q, c, t))
            continue;
        const char *vals[NDIM];
        for (int d = 0; d < NDIM; d++)
            vals[d] = cell_val(c, t, d);
        char key[4 * (STS_TEXT_MAX + 2) + 8];
        size_t glen = join_vals(key, sizeof key, vals, x->by);
        join_vals(key + glen, sizeof key - glen, vals, x->extra);
        if (!(x->g[x->n].key = strdup(key))) {
            parts_index_free(x);
            return STS_ENOMEM;
        }
        x->g[x->n++].glen = glen;
    }
    if (x->n > 1)
        qsort(x->g, x->n, sizeof *x->g, cmp_group_parts);
    size_t w = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (w && strcmp(x->g[w - 1].key, x->g[i].key) == 0)
            free(x->g[i].key);
        else
            x->g[w++] = x->g[i];
    }
    x->n = w;
    return STS_OK;
}

/* The released days of the ISO week holding day that the query asks for
 * (1 when rows are not weekly). */
static long week_days(const struct sales *s, const struct release *r, int32_t day)
{
    if (s->q.period != PERIOD_WEEK)
        return 1;
    int32_t monday = day - ((day + 3) % 7 + 7) % 7, last = release_last_day(r);
    long n = 0;
    for (int32_t d = monday; d < monday + 7; d++)
        n += d >= s->q.from && d <= s->q.to && d <= last;
    return n;
}

/* How many distinct parts the group of vals has among the shown cells. */
static long parts_of(const struct parts_index *x, const char *const *vals)
{
    char key[4 * (STS_TEXT_MAX + 2) + 8];
    size_t glen = join_vals(key, sizeof key, vals, x->by);
    size_t lo = 0, hi = x->n;
    while (lo < hi) { /* the first entry not below the group's prefix */
        size_t mid = lo + (hi - lo) / 2;
        if (strncmp(x->g[mid].key, key, glen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    long n = 0;
    for (size_t i = lo; i < x->n && x->g[i].glen == glen && strncmp(x->g[i].key, key, glen) == 0;
         i++)
        n++;
    return n;
}

static enum sts_err sales_json(struct sales *s, const struct release *r, json_t **out)
{
    static const char *const period_names[] = {NULL, "day", "week", "month"};
    const struct stats_query *q = &s->q;
    json_t *root = json_object(), *by = json_array(), *rows = json_array();
    int64_t shown = 0, react = 0, cum = 0;
    double shown_var = 0, react_var = 0, cum_var = 0;
    int shown_cells = 0, react_cells = 0, cum_cells = 0;
    struct parts_index parts = {0};
    if (!root || !by || !rows)
        goto nomem;
    for (size_t i = 0; i < q->nby; i++)
        json_array_append_new(by, json_string(dim_names[q->by[i]]));
    /* Rows of one released period each (months from the monthly table, or
     * days) say how many of their parts are under the threshold. */
    if (s->known_t >= 0 && parts_index_build(s, (enum release_table)s->known_t, &parts) != STS_OK)
        goto nomem;
    fold(s, q->cumulative ? cmp_series : cmp_parts);
    for (size_t i = 0; i < s->n; i++) {
        struct part *p = &s->p[i];
        bool same = i > 0 && q->cumulative;
        for (size_t d = 0; same && d < q->nby; d++)
            same = strcmp(s->p[i - 1].vals[q->by[d]], p->vals[q->by[d]]) == 0;
        if (!same)
            cum = 0, cum_var = 0, cum_cells = 0;
        /* A raised k only hides more: it never uncovers a cell. */
        if (p->ncells[0] && p->n[0] < q->k)
            p->ncells[0] = 0;
        if (p->ncells[1] && p->n[1] < q->k)
            p->ncells[1] = 0;
        if (!p->ncells[0] && !p->ncells[1])
            continue;
        json_t *row = json_object();
        if (!row)
            goto nomem;
        if (q->period != PERIOD_ALL)
            json_object_set_new(row, "period", json_string(p->label));
        for (size_t d = 0; d < q->nby; d++) {
            const char *v = p->vals[q->by[d]];
            json_object_set_new(row, dim_names[q->by[d]],
                                q->by[d] == DIM_COUNTRY && !*v ? json_null() : json_string(v));
        }
        count_with_ci(row, "activations", r, p->t[0], p->ncells[0], p->n[0], p->var[0]);
        if (parts.on) {
            long known = parts_of(&parts, p->vals) * week_days(s, r, p->day);
            long missing = known > p->ncells[0] ? known - p->ncells[0] : 0;
            json_object_set_new(row, "parts_not_shown",
                                p->ncells[0] ? json_integer(missing) : json_null());
        }
        if (s->react)
            count_with_ci(row, "reactivations", r, p->t[1], p->ncells[1], p->n[1], p->var[1]);
        if (p->ncells[0]) {
            shown += p->n[0], shown_var += p->var[0], shown_cells += p->ncells[0];
            cum += p->n[0], cum_var += p->var[0], cum_cells += p->ncells[0];
        }
        if (p->ncells[1])
            react += p->n[1], react_var += p->var[1], react_cells += p->ncells[1];
        if (q->cumulative)
            count_with_ci(row, "cumulative", r, p->t[0], cum_cells, cum, cum_var);
        json_array_append_new(rows, row);
    }
    json_object_set_new(root, "stat", json_string("sales"));
    json_object_set_new(root, "by", by);
    by = NULL;
    json_object_set_new(root, "period",
                        period_names[q->period] ? json_string(period_names[q->period])
                                                : json_null());
    json_object_set_new(root, "k", json_integer(q->k));
    json_t *f = stats_filter_json(q);
    if (f)
        json_object_set_new(root, "filter", f);
    json_object_set_new(root, "rows", rows);
    rows = NULL;
    /* Parts add up to the total: what the rows do not show is one remainder,
     * never split by cell. */
    json_t *total = json_object();
    if (!total)
        goto nomem;
    int64_t tot = shown;
    double tot_var = shown_var;
    int tot_cells = shown_cells;
    enum release_table tt = (enum release_table)s->month_t;
    if (s->parent_known && s->parent_cells > 0 && s->parent >= shown) {
        tot = s->parent, tot_var = s->parent_var, tot_cells = s->parent_cells;
        tt = (enum release_table)month_table(dims_of(q, true) & ~dims_of(q, false));
    }
    count_with_ci(total, "activations", r, tt, tot_cells, tot, tot_var);
    json_object_set_new(total, "not_shown",
                        s->parent_known && tot_cells > 0 ? json_integer(tot - shown) : json_null());
    if (s->react)
        count_with_ci(total, "reactivations", r, REL_REACT_MONTH_BM, react_cells, react, react_var);
    json_object_set_new(root, "total", total);
    enum release_table used[4];
    size_t nused = 0;
    if (!(q->period == PERIOD_DAY || q->period == PERIOD_WEEK))
        used[nused++] = (enum release_table)s->month_t;
    if (tt != (enum release_table)s->month_t && tot_cells > 0 && tt != REL_SALES_DAY_BM)
        used[nused++] = tt;
    if (s->days)
        used[nused++] = REL_SALES_DAY_BM;
    if (s->react)
        used[nused++] = REL_REACT_MONTH_BM;
    json_object_set_new(root, "release", stats_release_json(r, used, nused));
    parts_index_free(&parts);
    *out = root;
    return STS_OK;
nomem:
    parts_index_free(&parts);
    json_decref(root);
    json_decref(by);
    json_decref(rows);
    return STS_ENOMEM;
}

enum sts_err stats_sales_json(const struct release *r, struct store *store,
                              const struct stats_query *q, json_t **out,
                              struct sts_field_error *err)
{
    struct sales s;
    memset(&s, 0, sizeof s);
    s.q = *q;
    enum sts_err e = check_filters(r, store, q, err);
    if (e == STS_OK)
        e = sales_gather(&s, r, store, err);
    if (e == STS_OK)
        e = sales_json(&s, r, out);
    sales_free(&s);
    return e;
}

static bool known_stat(const char *which)
{
    return strcmp(which, "sales") == 0 || strcmp(which, "lifetime") == 0 ||
           strcmp(which, "versions") == 0;
}

/* Runs a statistic into its JSON document. */
static enum sts_err run(struct store *store, const char *which, const struct stats_args *args,
                        json_t **doc, struct sts_field_error *err)
{
    struct stats_query q;
    struct release r;
    enum sts_err e = stats_parse_query(which, args, &q, err);
    if (e != STS_OK)
        return e;
    e = release_init(&r, store, q.k_floor, q.today, q.grace_days);
    if (e != STS_OK)
        return e;
    r.cache = args->cache;
    if ((e = release_set_models(&r, args->models)) != STS_OK) {
        release_cleanup(&r);
        return e;
    }
    if (strcmp(which, "lifetime") == 0)
        e = stats_lifetime_json(&r, store, &q, doc, err);
    else if (strcmp(which, "versions") == 0)
        e = stats_versions_json(&r, store, &q, doc, err);
    else
        e = stats_sales_json(&r, store, &q, doc, err);
    release_cleanup(&r);
    return e;
}

enum sts_err stats_api(struct store *store, const char *which, const struct stats_args *args,
                       char **json, struct sts_field_error *err)
{
    json_t *doc = NULL;
    if (!known_stat(which)) {
        stats_bad(err, "path",
                  "unknown statistic: use /v1/stats/sales, /v1/stats/lifetime or "
                  "/v1/stats/versions");
        return STS_ENOENT;
    }
    enum sts_err e = run(store, which, args, &doc, err);
    if (e != STS_OK)
        return e;
    *json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(doc);
    return *json ? STS_OK : STS_ENOMEM;
}

enum sts_err stats_print(struct store *store, const char *which, const struct stats_args *args,
                         const char *format, FILE *out, struct sts_field_error *err)
{
    json_t *doc = NULL;
    if (!known_stat(which)) {
        stats_bad(err, "statistic", "unknown statistic: use sales, lifetime or versions");
        return STS_ENOENT;
    }
    if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return stats_bad(err, "format", "must be table, csv or json");
    enum sts_err e = run(store, which, args, &doc, err);
    if (e != STS_OK)
        return e;
    if (strcmp(format, "json") == 0) {
        char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (s)
            fprintf(out, "%s\n", s);
        else
            e = STS_ENOMEM;
        free(s);
    } else {
        stats_render(doc, which, format, out);
    }
    json_decref(doc);
    if (e == STS_OK && ferror(out))
        e = STS_EIO;
    return e;
}
