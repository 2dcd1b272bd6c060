/* The privacy floor of the sales statistics, checked against ground truth on
 * random tables (seeded, so a failure can be replayed) and a few fixed ones.
 *
 * The rule stats.c implements, per column (activations, re-activations):
 * a cell counting 1..k-1 devices is hidden; more cells are hidden, smallest
 * first, until the hidden cells add up to at least k over at least two
 * cells; if that cannot be reached the total is hidden too, and a total
 * under k is always hidden. For every query this test proves:
 *   - every published figure is right, and is 0 or at least k;
 *   - every cell of the truth appears exactly once (hidden or not);
 *   - when the total is published, total - sum(published) is the hidden sum,
 *     and it is 0 or (at least k and spread over at least two cells), so no
 *     hidden cell can be recovered by subtraction from the total.
 * The rule protects one table; figures of different queries (another --by,
 * another --from/--to) can still be combined, which no test here claims
 * otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"
#include "store.h"
#include "sts/date.h"

#define DAY      20777 /* 2026-11-20 */
#define MAX_RECS 1200

static const char *const models[] = {"K400", "K500", "K600", "K700"};
static const char *const countries[] = {"FR", "DE", "IT", "ES", ""};
static const char *const brands[] = {"acme-eu", "acme-us"};

/* What was written, for the ground truth. */
struct truth_rec {
    int32_t day;
    const char *brand, *model, *sw, *country;
    int reactivation;
};

struct fixture {
    char dir[64];
    char path[128];
    struct store *store;
    struct truth_rec recs[MAX_RECS];
    size_t nrecs;
    unsigned next_dev, next_rid;
};

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Skewed towards 0, so that tables have many small cells. */
static unsigned skewed(unsigned n)
{
    unsigned a = below(n), b = below(n), c = below(n);
    unsigned m = a < b ? a : b;
    return m < c ? m : c;
}

static void open_fresh(struct fixture *f)
{
    char why[256] = "";
    unlink(f->path);
    char p[200];
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    assert_int_equal(store_open(f->path, STORE_CREATE, &f->store, why, sizeof why), STS_OK);
    f->nrecs = 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sts-stats-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/sts.db", f->dir);
    open_fresh(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    char p[200];
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Adds `n` new devices of one cell (and `re` re-activations of them). */
static void add_devices(struct fixture *f, int32_t day, const char *brand, const char *model,
                        const char *country, unsigned n, unsigned re)
{
    struct store_record recs[64], *ptrs[64];
    size_t m = 0;
    assert_true(re <= n);
    for (unsigned i = 0; i < n + re; i++) {
        bool react = i >= n;
        unsigned dev = f->next_dev + (react ? i - n : i);
        struct store_record *r = &recs[m];
        memset(r, 0, sizeof *r);
        r->type = STS_REPORT_ACTIVATION;
        unsigned rid = ++f->next_rid;
        memcpy(r->report_id, &rid, sizeof rid);
        memcpy(r->pseudonym, &dev, sizeof dev);
        r->day = day;
        snprintf(r->brand, sizeof r->brand, "%s", brand);
        snprintf(r->model, sizeof r->model, "%s", model);
        snprintf(r->sw, sizeof r->sw, "%s-V%u", model, 12 + dev % 2);
        snprintf(r->country, sizeof r->country, "%s", country);
        assert_true(f->nrecs < MAX_RECS);
        struct truth_rec *t = &f->recs[f->nrecs++];
        t->day = day;
        t->brand = brand;
        t->model = model;
        t->sw = dev % 2 ? "13" : "12"; /* only compared through the suffix below */
        t->country = country;
        t->reactivation = react;
        ptrs[m] = r;
        if (++m == 64 || i + 1 == n + re) {
            assert_int_equal(store_write(f->store, ptrs, m), STS_OK);
            for (size_t j = 0; j < m; j++)
                assert_int_equal(recs[j].outcome,
                                 j + (i + 1 - m) >= n ? STORE_REACTIVATION : STORE_NEW);
            m = 0;
        }
    }
    f->next_dev += n;
}

/* ---- ground truth ---- */

struct query_spec {
    const char *by;     /* as given to the API */
    const char *period; /* NULL, day, week, month */
    long k;
};

static void label(const char *period, int32_t day, char out[16])
{
    int y, w;
    if (!period)
        out[0] = '\0';
    else if (strcmp(period, "day") == 0)
        sts_day_format(day, out);
    else if (strcmp(period, "month") == 0)
        sts_month_format(sts_day_month(day), out);
    else {
        sts_day_iso_week(day, &y, &w);
        snprintf(out, 16, "%04d-W%02d", y, w);
    }
}

static bool by_has(const char *by, const char *dim)
{
    size_t n = strlen(dim);
    for (const char *p = by; (p = strstr(p, dim)); p += n)
        if ((p == by || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* The key of a cell: period label, then the values of the asked dimensions
 * in the order brand, model, sw, country (separated by '|'). */
static void truth_key(const struct query_spec *q, const struct truth_rec *t, char *out, size_t cap)
{
    char l[16];
    label(q->period, t->day, l);
    char swv[80];
    snprintf(swv, sizeof swv, "%s-V%s", t->model, t->sw);
    snprintf(out, cap, "%s|%s|%s|%s|%s", l, by_has(q->by, "brand") ? t->brand : "*",
             by_has(q->by, "model") ? t->model : "*", by_has(q->by, "sw") ? swv : "*",
             by_has(q->by, "country") ? (t->country[0] ? t->country : "-") : "*");
}

static void row_key(const struct query_spec *q, json_t *row, char *out, size_t cap)
{
    const char *vals[4];
    static const char *const dims[] = {"brand", "model", "sw", "country"};
    for (int d = 0; d < 4; d++) {
        if (!by_has(q->by, dims[d])) {
            assert_null(json_object_get(row, dims[d]));
            vals[d] = "*";
            continue;
        }
        json_t *v = json_object_get(row, dims[d]);
        assert_non_null(v);
        if (d == 3 && json_is_null(v))
            vals[d] = "-";
        else {
            assert_true(json_is_string(v));
            vals[d] = json_string_value(v);
        }
    }
    json_t *p = json_object_get(row, "period");
    if (q->period)
        assert_true(json_is_string(p));
    else
        assert_null(p);
    snprintf(out, cap, "%s|%s|%s|%s|%s", p ? json_string_value(p) : "", vals[0], vals[1], vals[2],
             vals[3]);
}

struct cell {
    char key[160];
    int64_t n[2];
    bool seen;
};

static int cmp_cell(const void *a, const void *b)
{
    return strcmp(((const struct cell *)a)->key, ((const struct cell *)b)->key);
}

/* Runs one query and checks every property listed at the top. */
static void check_query(struct fixture *f, const struct query_spec *q)
{
    static struct cell cells[MAX_RECS];
    size_t ncells = 0;
    int64_t total[2] = {0, 0};
    for (size_t i = 0; i < f->nrecs; i++) {
        struct cell c = {.seen = false};
        truth_key(q, &f->recs[i], c.key, sizeof c.key);
        c.n[f->recs[i].reactivation] = 1;
        cells[ncells++] = c;
        total[f->recs[i].reactivation]++;
    }
    qsort(cells, ncells, sizeof cells[0], cmp_cell);
    size_t u = 0;
    for (size_t i = 0; i < ncells; i++) {
        if (u && strcmp(cells[u - 1].key, cells[i].key) == 0) {
            cells[u - 1].n[0] += cells[i].n[0];
            cells[u - 1].n[1] += cells[i].n[1];
        } else {
            cells[u++] = cells[i];
        }
    }
    ncells = u;

    struct stats_args args = {.by = q->by, .period = q->period, .k_min = q->k};
    struct sts_field_error fe;
    char *text = NULL;
    assert_int_equal(stats_api(f->store, "sales", &args, &text, &fe), STS_OK);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        fail_msg("stats JSON does not parse: %s in %s", jerr.text, text);
    assert_int_equal(json_integer_value(json_object_get(root, "k")), q->k);
    json_t *rows = json_object_get(root, "rows");
    assert_true(json_is_array(rows));
    assert_int_equal(json_array_size(rows), ncells);

    int64_t published[2] = {0, 0}, hidden_sum[2] = {0, 0};
    size_t hidden[2] = {0, 0};
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        struct cell key;
        row_key(q, row, key.key, sizeof key.key);
        struct cell *c = bsearch(&key, cells, ncells, sizeof cells[0], cmp_cell);
        if (!c)
            fail_msg("row %s is not a cell of the truth (query by=%s period=%s)", key.key, q->by,
                     q->period ? q->period : "-");
        assert_false(c->seen);
        c->seen = true;
        bool any_hidden = false;
        static const char *const cols[] = {"activations", "reactivations"};
        for (int col = 0; col < 2; col++) {
            json_t *v = json_object_get(row, cols[col]);
            assert_non_null(v);
            if (json_is_null(v)) {
                /* Only cells with devices are hidden. */
                assert_true(c->n[col] > 0);
                hidden[col]++;
                hidden_sum[col] += c->n[col];
                any_hidden = true;
                continue;
            }
            int64_t n = json_integer_value(v);
            assert_int_equal(n, c->n[col]);
            if (n != 0 && n < q->k)
                fail_msg("published %s %lld under k=%ld in cell %s", cols[col], (long long)n, q->k,
                         c->key);
            published[col] += n;
        }
        assert_int_equal(json_is_true(json_object_get(row, "suppressed")), any_hidden);
    }
    assert_int_equal(json_integer_value(json_object_get(root, "suppressed_cells")), hidden[0]);

    json_t *tot = json_object_get(root, "total");
    static const char *const cols[] = {"activations", "reactivations"};
    for (int col = 0; col < 2; col++) {
        json_t *v = json_object_get(tot, cols[col]);
        assert_non_null(v);
        if (json_is_null(v)) {
            assert_true(total[col] > 0);
            continue;
        }
        int64_t t = json_integer_value(v);
        assert_int_equal(t, total[col]);
        if (t != 0 && t < q->k)
            fail_msg("published total %lld under k=%ld", (long long)t, q->k);
        /* What the total reveals about the hidden cells. */
        assert_int_equal(t - published[col], hidden_sum[col]);
        if (hidden_sum[col] > 0 && (hidden_sum[col] < q->k || hidden[col] < 2))
            fail_msg("%s: hidden cells recoverable from the total: %zu hidden cell(s) summing "
                     "to %lld, k=%ld",
                     cols[col], hidden[col], (long long)hidden_sum[col], q->k);
    }
    json_decref(root);
    free(text);
}

static const char *const bys[] = {
    "", "model", "country", "model,country", "country,model", "brand,model,sw,country", "sw"};
static const char *const periods[] = {NULL, "day", "week", "month"};
static const long ks[] = {2, 5, 10, 20};

static void check_all_queries(struct fixture *f)
{
    for (size_t b = 0; b < sizeof bys / sizeof bys[0]; b++)
        for (size_t p = 0; p < 4; p++)
            for (size_t k = 0; k < 4; k++) {
                struct query_spec q = {bys[b], periods[p], ks[k]};
                check_query(f, &q);
            }
}

static void random_tables(void **state)
{
    struct fixture *f = *state;
    const char *env = getenv("STS_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : 20261120;
    for (int trial = 0; trial < 30; trial++) {
        rng_state = seed * 1000 + (uint64_t)trial;
        print_message("trial %d (STS_TEST_SEED=%llu)\n", trial, (unsigned long long)seed);
        store_close(f->store);
        open_fresh(f);
        unsigned ngroups = 1 + below(40);
        unsigned nmodels = 1 + below(4), ncountries = 1 + below(5);
        unsigned ndays = 1 + below(70);
        for (unsigned g = 0; g < ngroups && f->nrecs < MAX_RECS - 80; g++) {
            unsigned n = 1 + skewed(35);
            unsigned re = below(4) == 0 ? below(n + 1) : 0;
            add_devices(f, DAY - (int32_t)below(ndays), brands[below(2)], models[skewed(nmodels)],
                        countries[skewed(ncountries)], n, re);
        }
        check_all_queries(f);
    }
}

/* The case of the CLI test: 25 K400/FR, 12 K500/DE, 3 K500/IT at k = 10. */
static void complementary_cell(void **state)
{
    struct fixture *f = *state;
    add_devices(f, DAY, "acme-eu", "K400", "FR", 25, 0);
    add_devices(f, DAY, "acme-eu", "K500", "DE", 12, 0);
    add_devices(f, DAY, "acme-eu", "K500", "IT", 3, 0);
    struct stats_args args = {.by = "model,country", .k_min = 10};
    struct sts_field_error fe;
    char *text = NULL;
    assert_int_equal(stats_api(f->store, "sales", &args, &text, &fe), STS_OK);
    assert_string_equal(
        text, "{\"stat\":\"sales\",\"by\":[\"model\",\"country\"],\"period\":null,\"k\":10,"
              "\"rows\":[{\"model\":\"K400\",\"country\":\"FR\",\"activations\":25,"
              "\"reactivations\":0},{\"model\":\"K500\",\"country\":\"DE\",\"activations\":null,"
              "\"reactivations\":0,\"suppressed\":true},{\"model\":\"K500\",\"country\":\"IT\","
              "\"activations\":null,\"reactivations\":0,\"suppressed\":true}],"
              "\"total\":{\"activations\":40,\"reactivations\":0},\"suppressed_cells\":2}");
    free(text);
    check_all_queries(f);
}

/* Edge tables: one small cell; small cells adding up to k; a cell of exactly
 * k; many small cells; nothing at all. */
static void edge_tables(void **state)
{
    struct fixture *f = *state;
    static const unsigned sets[][5] = {
        {3, 0, 0, 0, 0}, {9, 0, 0, 0, 0}, {10, 0, 0, 0, 0},   {10, 1, 0, 0, 0},
        {4, 4, 2, 0, 0}, {3, 3, 3, 3, 0}, {1, 100, 0, 0, 0},  {9, 9, 50, 0, 0},
        {1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}, {10, 10, 10, 9, 0}, {2, 30, 30, 30, 30},
    };
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        store_close(f->store);
        open_fresh(f);
        for (unsigned c = 0; c < 5; c++)
            if (sets[s][c])
                add_devices(f, DAY - (int32_t)c, "acme-eu", models[c % 4], countries[c], sets[s][c],
                            sets[s][c] / 3);
        check_all_queries(f);
    }
}

static void bad_queries(void **state)
{
    struct fixture *f = *state;
    struct sts_field_error fe;
    char *text = NULL;
    struct {
        struct stats_args a;
        const char *field;
    } cases[] = {
        {{.by = "imei"}, "by"},
        {{.by = "model,model"}, "by"},
        {{.by = "model,"}, "by"},
        {{.by = ",model"}, "by"},
        {{.period = "year"}, "period"},
        {{.from = "2026-02-30"}, "from"},
        {{.to = "tomorrow"}, "to"},
        {{.from = "2026-11-20", .to = "2026-11-19"}, "to"},
        {{.k = "5"}, "k"},
        {{.k = "12x"}, "k"},
        {{.k = "25", .k_min = 30}, "k"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&fe, 0, sizeof fe);
        assert_int_equal(stats_api(f->store, "sales", &cases[i].a, &text, &fe), STS_EINVAL);
        assert_string_equal(fe.field, cases[i].field);
    }
    struct stats_args ok = {.k = "25"};
    assert_int_equal(stats_api(f->store, "sales", &ok, &text, &fe), STS_OK);
    assert_non_null(strstr(text, "\"k\":25"));
    free(text);
    assert_int_equal(stats_api(f->store, "lifetime-secret", &ok, &text, &fe), STS_ENOENT);
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    assert_int_equal(stats_print(f->store, "sales", &ok, "xml", devnull, &fe), STS_EINVAL);
    assert_string_equal(fe.field, "format");
    fclose(devnull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(complementary_cell, setup, teardown),
        cmocka_unit_test_setup_teardown(edge_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(random_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_queries, setup, teardown),
    };
    return cmocka_run_group_tests_name("collector_stats", tests, NULL, NULL);
}
