/* The differentially private release (collector/release.c) on a real SQLite
 * store in a temporary file: a cell carries the same noise at every read, a
 * cell of one device stays hidden, the budget shares of each month kind add
 * up to at most 1, thresholds are never below k, and periods close at the
 * right day at month ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "release.h"
#include "store.h"
#include "sts/date.h"

struct fixture {
    char dir[64];
    char path[128];
    char uri[160];
    struct store *store;
    int32_t day; /* the day every activation carries */
};

#define BIG_N 60

static struct store_record act(unsigned dev, int32_t day, const char *model, const char *country)
{
    struct store_record r;
    memset(&r, 0, sizeof r);
    r.type = STS_REPORT_ACTIVATION;
    memcpy(r.report_id, &dev, sizeof dev);
    r.report_id[15] = 0xa1;
    memcpy(r.pseudonym, &dev, sizeof dev);
    r.pseudonym[31] = 0x5e;
    r.key_id = 1;
    r.day = day;
    snprintf(r.brand, sizeof r.brand, "acme-eu");
    snprintf(r.model, sizeof r.model, "%s", model);
    snprintf(r.sw, sizeof r.sw, "%s-V12", model);
    snprintf(r.country, sizeof r.country, "%s", country);
    return r;
}

/* BIG_N devices of model BIG and one of model ONE, all on one day of
 * 2026-03. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sts-release-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/sts.db", f->dir);
    snprintf(f->uri, sizeof f->uri, "sqlite:%s", f->path);
    char why[256] = "";
    assert_int_equal(store_open(f->uri, STORE_CREATE, &f->store, why, sizeof why), STS_OK);
    f->day = sts_day_from_ymd(2026, 3, 10);
    struct store_record recs[BIG_N + 1], *ptrs[BIG_N + 1];
    for (unsigned i = 0; i < BIG_N; i++)
        recs[i] = act(i + 1, f->day, "BIG", "FR");
    recs[BIG_N] = act(1000, f->day, "ONE", "DE");
    for (size_t i = 0; i <= BIG_N; i++)
        ptrs[i] = &recs[i];
    assert_int_equal(store_write(f->store, ptrs, BIG_N + 1), STS_OK);
    for (size_t i = 0; i <= BIG_N; i++)
        assert_int_equal(recs[i].outcome, STORE_NEW);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[200];
    store_close(f->store);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t find(const struct release_cells *c, const char *model)
{
    for (size_t i = 0; i < c->n; i++)
        for (int j = 0; j < 4 && c->cell[i].key[j]; j++)
            if (strcmp(c->cell[i].key[j], model) == 0)
                return c->cell[i].value;
    return INT64_MIN;
}

/* Two reads, and two releases over the same store, give every cell the
 * same value: the noise is the cell's own, not the read's. */
static void same_cell_same_noise(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct release r1, r2;
    int32_t today = sts_day_from_ymd(2026, 6, 1);
    assert_int_equal(release_init(&r1, f->store, 10, today, 7), STS_OK);
    assert_int_equal(release_init(&r2, f->store, 10, today + 40, 7), STS_OK);
    int32_t m = sts_day_month(f->day);
    for (int t = 0; t < REL_NTABLES; t++) {
        if (t == REL_LIFE || t == REL_LIFE0 || t == REL_VERSIONS || t == REL_REACT_MONTH_BM)
            continue;
        int32_t from = release_defs[t].grain == REL_DAY ? f->day : m;
        struct release_cells a = {0}, b = {0};
        assert_int_equal(
            release_read(&r1, f->store, (enum release_table)t, from, from, NULL, 1000, &a), STS_OK);
        assert_int_equal(
            release_read(&r2, f->store, (enum release_table)t, from, from, NULL, 1000, &b), STS_OK);
        assert_int_equal(a.n, b.n);
        for (size_t i = 0; i < a.n; i++)
            assert_int_equal(a.cell[i].value, b.cell[i].value);
        /* BIG_N devices are far above every threshold: shown, with the
         * noise release_cell_noise gives that cell. */
        if (release_defs[t].dims & REL_MODEL) {
            int64_t v = find(&a, "BIG"), noise;
            assert_true(v != INT64_MIN);
            const char *key[4];
            size_t nk = 0;
            const char *vals[4] = {"acme-eu", "BIG", "BIG-V12", "FR"};
            for (unsigned d = 0; d < 4; d++)
                if (release_defs[t].dims & (1u << d))
                    key[nk++] = vals[d];
            assert_int_equal(release_cell_noise(&r1, (enum release_table)t, from, key, nk, &noise),
                             STS_OK);
            assert_int_equal(v, BIG_N + noise);
            assert_true(llabs(noise) <= 10 * (long long)r1.noise[t].half95 + 1);
        }
        release_cells_free(&a);
        release_cells_free(&b);
    }
    release_cleanup(&r1);
    release_cleanup(&r2);
}

/* The one device of model ONE (and of country DE) is in no cell read back,
 * in any sparse table, whatever the filter. */
static void one_device_never_shown(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct release r;
    assert_int_equal(release_init(&r, f->store, 10, sts_day_from_ymd(2026, 6, 1), 7), STS_OK);
    struct release_filter one = {{NULL, "ONE", NULL, NULL}}, de = {{NULL, NULL, NULL, "DE"}};
    for (int t = 0; t < REL_NTABLES; t++) {
        if (!release_defs[t].sparse || t == REL_VERSIONS)
            continue;
        int32_t p = release_defs[t].grain == REL_DAY ? f->day : sts_day_month(f->day);
        struct release_cells c = {0};
        assert_int_equal(release_read(&r, f->store, (enum release_table)t, p, p, NULL, 1000, &c),
                         STS_OK);
        assert_true(find(&c, "ONE") == INT64_MIN);
        for (size_t i = 0; i < c.n; i++)
            assert_true(c.cell[i].value >= r.noise[t].threshold);
        release_cells_free(&c);
        if (release_defs[t].dims & REL_MODEL) {
            assert_int_equal(
                release_read(&r, f->store, (enum release_table)t, p, p, &one, 1000, &c), STS_OK);
            assert_int_equal(c.n, 0);
            release_cells_free(&c);
        }
        if (release_defs[t].dims & REL_COUNTRY) {
            assert_int_equal(release_read(&r, f->store, (enum release_table)t, p, p, &de, 1000, &c),
                             STS_OK);
            assert_int_equal(c.n, 0);
            release_cells_free(&c);
        }
    }
    release_cleanup(&r);
}

/* Nothing of an open period: the month of the data read on its last day
 * plus the grace days is empty; a day later it is released. */
static void open_period_empty(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct release r;
    int32_t m = sts_day_month(f->day);
    int32_t end = sts_month_first_day(m + 1) - 1;
    for (int later = 0; later < 2; later++) {
        assert_int_equal(release_init(&r, f->store, 10, end + 7 + later, 7), STS_OK);
        struct release_cells c = {0};
        assert_int_equal(release_read(&r, f->store, REL_SALES_MONTH_BM, m, m, NULL, 1000, &c),
                         STS_OK);
        assert_int_equal(c.n, (size_t)later);
        release_cells_free(&c);
        release_cleanup(&r);
    }
}

/* What one device spends in a month: the shares of the tables of its
 * activation month, and of its later months, add up to at most 1. */
static void shares_of_each_month_kind(void **state)
{
    (void)state;
    static const unsigned kinds[] = {REL_ACTIVATION_MONTH, REL_LATER_MONTHS};
    for (size_t i = 0; i < 2; i++) {
        double sum = 0;
        int n = 0;
        for (int t = 0; t < REL_NTABLES; t++)
            if (release_defs[t].months & kinds[i]) {
                assert_true(release_defs[t].share > 0);
                sum += release_defs[t].share;
                n++;
            }
        assert_true(n > 0);
        assert_true(sum <= 1.0 + 1e-9);
    }
    for (int t = 0; t < REL_NTABLES; t++)
        assert_true(release_defs[t].months != 0);
}

/* Thresholds: never below k, and for a sparse table high enough that one
 * device alone shows with probability under 1e-6 (1 + 4.75 sigma). */
static void thresholds_at_least_k(void **state)
{
    (void)state;
    static const double rhos[] = {0.01, 0.5, 2, 100};
    static const long ks[] = {1, 10, 50, 200};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++)
            for (int t = 0; t < REL_NTABLES; t++) {
                struct release_noise n;
                assert_int_equal(release_noise_params((enum release_table)t, rhos[i], ks[j], &n),
                                 STS_OK);
                double s2 = (double)n.s2_num / (double)n.s2_den;
                assert_true(n.threshold >= ks[j]);
                assert_true(s2 >= 1.0 / (2.0 * rhos[i] * release_defs[t].share) - 1e-12);
                if (release_defs[t].sparse)
                    assert_true((double)n.threshold >= 1.0 + 4.7534 * sqrt(s2) - 1e-9);
            }
    struct release_noise n;
    assert_int_equal(release_noise_params(REL_SALES_MONTH, 0, 10, &n), STS_EINVAL);
    assert_int_equal(release_noise_params(REL_SALES_MONTH, 101, 10, &n), STS_EINVAL);
}

/* The last closed day and month around month ends, a leap February and a
 * year end, with and without grace days. */
static void last_day_and_month(void **state)
{
    (void)state;
    static const struct {
        int y, m, d;
        long grace;
        int ly, lm, ld; /* last closed day */
        int my, mm;     /* last closed month */
    } cases[] = {
        {2026, 2, 8, 7, 2026, 1, 31, 2026, 1},   {2026, 2, 7, 7, 2026, 1, 30, 2025, 12},
        {2024, 3, 8, 7, 2024, 2, 29, 2024, 2},   {2024, 3, 7, 7, 2024, 2, 28, 2024, 1},
        {2027, 1, 1, 0, 2026, 12, 31, 2026, 12}, {2026, 12, 31, 0, 2026, 12, 30, 2026, 11},
        {2026, 3, 1, 0, 2026, 2, 28, 2026, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct release r;
        memset(&r, 0, sizeof r);
        r.today = sts_day_from_ymd(cases[i].y, cases[i].m, cases[i].d);
        r.grace_days = cases[i].grace;
        assert_int_equal(release_last_day(&r),
                         sts_day_from_ymd(cases[i].ly, cases[i].lm, cases[i].ld));
        assert_int_equal(release_last_month(&r), cases[i].my * 12 + cases[i].mm - 1);
    }
}

static void assert_same_cells(const struct release_cells *a, const struct release_cells *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct release_cell *x = &a->cell[i], *y = &b->cell[i];
        assert_int_equal(x->table, y->table);
        assert_int_equal(x->period, y->period);
        assert_int_equal(x->cohort, y->cohort);
        assert_int_equal(x->first, y->first);
        assert_int_equal(x->value, y->value);
        for (int j = 0; j < 4; j++) {
            assert_int_equal(x->key[j] == NULL, y->key[j] == NULL);
            if (x->key[j])
                assert_string_equal(x->key[j], y->key[j]);
        }
    }
}

/* The cache of released tables answers exactly as the store does: every
 * table, whole or cut to a period range, filtered on its own dimensions (a
 * filter on one it does not have is refused by both), read twice; and releases
 * with another floor k or a later closed period never share an entry. */
static void cache_answers_as_the_store(void **state)
{
    struct fixture *f = *state;
    int32_t days[2] = {sts_day_from_ymd(2026, 6, 1), sts_day_from_ymd(2026, 7, 20)};
    long ks[2] = {10, 40};
    long checked = 0, cells = 0;
    int32_t m = sts_day_month(f->day);
    const struct release_filter filters[] = {
        {{NULL, NULL, NULL, NULL}}, {{NULL, "BIG", NULL, NULL}},  {{"acme-eu", NULL, NULL, NULL}},
        {{NULL, NULL, NULL, "FR"}}, {{NULL, "NOPE", NULL, NULL}},
    };
    for (int d = 0; d < 2; d++)
        for (int kk = 0; kk < 2; kk++) {
            struct release plain, cached;
            assert_int_equal(release_init(&plain, f->store, ks[kk], days[d], 7), STS_OK);
            assert_int_equal(release_init(&cached, f->store, ks[kk], days[d], 7), STS_OK);
            cached.cache = true;
            for (int t = 0; t < REL_NTABLES; t++) {
                if (t == REL_LIFE0)
                    continue; /* read through REL_LIFE */
                bool day = release_defs[t].grain == REL_DAY;
                int32_t ranges[3][2] = {{INT32_MIN, INT32_MAX},
                                        {day ? f->day : m, day ? f->day : m},
                                        {day ? f->day + 1 : m + 1, INT32_MAX}};
                for (size_t fi = 0; fi < sizeof filters / sizeof filters[0]; fi++)
                    for (int ri = 0; ri < 3; ri++)
                        for (int rep = 0; rep < 2; rep++) {
                            struct release_cells a = {0}, b = {0};
                            enum release_table tt = (enum release_table)t;
                            /* A filter on a dimension the table does
                             * not have is refused either way. */
                            bool foreign = false;
                            for (unsigned dd = 0; dd < 4; dd++)
                                foreign = foreign || (filters[fi].value[dd] &&
                                                      !(release_defs[t].dims & (1u << dd)));
                            enum sts_err ea = release_read(&plain, f->store, tt, ranges[ri][0],
                                                           ranges[ri][1], &filters[fi], 1000, &a);
                            enum sts_err eb = release_read(&cached, f->store, tt, ranges[ri][0],
                                                           ranges[ri][1], &filters[fi], 1000, &b);
                            assert_int_equal(ea, eb);
                            assert_int_equal(ea, foreign ? STS_EINVAL : STS_OK);
                            checked += ea == STS_OK;
                            cells += (long)a.n;
                            assert_same_cells(&a, &b);
                            release_cells_free(&a);
                            release_cells_free(&b);
                        }
            }
            release_cleanup(&plain);
            release_cleanup(&cached);
        }
    assert_true(checked > 300);
    assert_true(cells > 100);
}

/* A model moved into the allow-list leaves the RELEASE_OTHER cells of
 * closed months: if those kept their noise, the other cell under the old
 * list less the one under the new list would be the moved model's exact
 * count, cells under the threshold included. Twelve months of models A (30
 * devices), B (25) and C (20): B in "other" under the list "A", then named
 * under "A,B". The attacker's difference may hit B's count only as often as
 * two independent draws coincide (about 1 in 8 per cell), not every time. */
static void allow_list_change_keeps_other_noisy(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *model;
        unsigned n;
    } mix[] = {{"A", 30}, {"B", 25}, {"C", 20}};
    enum { MONTHS = 12, PER_MONTH = 75 };
    struct store_record *recs = calloc(MONTHS * PER_MONTH, sizeof *recs);
    struct store_record **ptrs = calloc(MONTHS * PER_MONTH, sizeof *ptrs);
    assert_non_null(recs);
    assert_non_null(ptrs);
    size_t n = 0;
    for (int m = 0; m < MONTHS; m++)
        for (size_t i = 0; i < 3; i++)
            for (unsigned j = 0; j < mix[i].n; j++, n++) {
                recs[n] =
                    act(5000 + (unsigned)n, sts_day_from_ymd(2025, m + 1, 5), mix[i].model, "FR");
                ptrs[n] = &recs[n];
            }
    assert_int_equal(store_write(f->store, ptrs, n), STS_OK);
    int32_t today = sts_day_from_ymd(2026, 6, 1), m0 = sts_day_month(sts_day_from_ymd(2025, 1, 5));
    static const enum release_table tables[] = {REL_SALES_MONTH_BM, REL_SALES_MONTH_BMC,
                                                REL_SALES_MONTH_BMS};
    int compared = 0, exact = 0;
    for (size_t ti = 0; ti < sizeof tables / sizeof tables[0]; ti++) {
        struct release old_list, new_list;
        assert_int_equal(release_init(&old_list, f->store, 10, today, 7), STS_OK);
        assert_int_equal(release_init(&new_list, f->store, 10, today, 7), STS_OK);
        assert_int_equal(release_set_models(&old_list, "A"), STS_OK);
        assert_int_equal(release_set_models(&new_list, "A,B"), STS_OK);
        for (int m = 0; m < MONTHS; m++) {
            struct release_cells a = {0}, b = {0};
            assert_int_equal(
                release_read(&old_list, f->store, tables[ti], m0 + m, m0 + m, NULL, 1000, &a),
                STS_OK);
            assert_int_equal(
                release_read(&new_list, f->store, tables[ti], m0 + m, m0 + m, NULL, 1000, &b),
                STS_OK);
            int64_t before = find(&a, RELEASE_OTHER), after = find(&b, RELEASE_OTHER);
            /* The named cells are the same cells under both lists. */
            assert_true(find(&a, "A") != INT64_MIN);
            assert_int_equal(find(&a, "A"), find(&b, "A"));
            if (before != INT64_MIN && after != INT64_MIN) {
                compared++;
                exact += before - after == 25;
            }
            release_cells_free(&a);
            release_cells_free(&b);
        }
        release_cleanup(&old_list);
        release_cleanup(&new_list);
    }
    print_message("other cells compared %d, their difference B's exact count %d\n", compared,
                  exact);
    assert_true(compared >= 24);
    assert_true(exact * 3 <= compared); /* with the same noise: every one */
    free(recs);
    free(ptrs);
}

/* A read of a table filtered on a dimension the table lacks would sum part
 * of each cell under the whole cell's noise: 60 devices of BIG in FR and 20
 * in IT on one day, read by brand and model with and without country = FR,
 * would differ by exactly IT's 20, which the country tables only show with
 * their noise. Such a read is refused. */
static void foreign_filter_refused(void **state)
{
    struct fixture *f = *state;
    struct store_record recs[20], *ptrs[20];
    for (unsigned i = 0; i < 20; i++) {
        recs[i] = act(3000 + i, f->day, "BIG", "IT");
        ptrs[i] = &recs[i];
    }
    assert_int_equal(store_write(f->store, ptrs, 20), STS_OK);
    struct release r;
    assert_int_equal(release_init(&r, f->store, 10, sts_day_from_ymd(2026, 6, 1), 7), STS_OK);
    int32_t m = sts_day_month(f->day);
    const struct release_filter fr = {{NULL, NULL, NULL, "FR"}}, big = {{NULL, "BIG", NULL, NULL}};
    static const enum release_table bm[] = {REL_SALES_MONTH_BM, REL_SALES_MONTH_BMS,
                                            REL_SALES_DAY_BM};
    for (size_t i = 0; i < sizeof bm / sizeof bm[0]; i++) {
        int32_t p = release_defs[bm[i]].grain == REL_DAY ? f->day : m;
        struct release_cells all = {0}, part = {0};
        assert_int_equal(release_read(&r, f->store, bm[i], p, p, NULL, 1000, &all), STS_OK);
        enum sts_err e = release_read(&r, f->store, bm[i], p, p, &fr, 1000, &part);
        if (e == STS_OK) /* the attack: the difference is IT's exact count */
            assert_true(find(&all, "BIG") - find(&part, "BIG") != 20);
        assert_int_equal(e, STS_EINVAL);
        release_cells_free(&all);
        release_cells_free(&part);
    }
    struct release_cells c = {0};
    assert_int_equal(release_read(&r, f->store, REL_SALES_MONTH_C, m, m, &big, 1000, &c),
                     STS_EINVAL);
    assert_int_equal(c.n, 0);
    release_cleanup(&r);
}

int main(void)
{
    setenv("STS_TEST_RELEASE_SEED", "test_collector_release", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_cell_same_noise, setup, teardown),
        cmocka_unit_test_setup_teardown(one_device_never_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(open_period_empty, setup, teardown),
        cmocka_unit_test(shares_of_each_month_kind),
        cmocka_unit_test(thresholds_at_least_k),
        cmocka_unit_test(last_day_and_month),
        cmocka_unit_test_setup_teardown(cache_answers_as_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(allow_list_change_keeps_other_noisy, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_filter_refused, setup, teardown),
    };
    return cmocka_run_group_tests_name("collector_release", tests, NULL, NULL);
}
