/* Unit tests of the lifetime estimator and of the privacy floor
 * (collector/stats.c, collector/stats_life.c): known answers on synthetic
 * counters, left truncation, the median, and randomised tables on which no
 * published figure counts fewer than k devices and no hidden cell can be
 * recovered from the totals, the running totals or the shares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "stats_impl.h"
#include "store.h"
#include "sts/date.h"

#define EPS 1e-9

static void assert_close(double got, double want)
{
    if (got < want - EPS || got > want + EPS)
        fail_msg("got %.12f, expected %.12f", got, want);
}

/* One cohort of 1000 devices losing 10 % a month, all in from age 0. */
static void survival_geometric(void **state)
{
    int64_t P[6] = {1000, 900, 810, 729, 656, 590}, F[6] = {1000, 0, 0, 0, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    memset(&acc, 0, sizeof acc);
    stats_life_add(&acc, P, F, 6);
    int n = stats_life_survival(&acc, 10, S);
    assert_int_equal(n, 6);
    assert_close(S[0], 1.0);
    assert_close(S[1], 0.9);
    assert_close(S[2], 0.81);
    assert_close(S[3], 0.729);
    /* The last observed age has no month after it: no hazard from it. */
    assert_int_equal(acc.risk[5], 0);
}

/* Late consent: devices that join the panel at age 2 (first pings there) add
 * to the panel from age 2 only and change nothing when they fare the same. */
static void survival_left_truncation(void **state)
{
    /* 1000 from age 0; 500 more join at age 2 (450 of whom are at age 3). */
    int64_t P[5] = {1000, 800, 600 + 500, 450 + 375, 300 + 250};
    int64_t F[5] = {1000, 0, 500, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    memset(&acc, 0, sizeof acc);
    stats_life_add(&acc, P, F, 5);
    int n = stats_life_survival(&acc, 10, S);
    assert_int_equal(n, 5);
    assert_close(S[1], 0.8);
    assert_close(S[2], 0.6);
    assert_close(S[3], 0.45);
    assert_close(S[4], 0.3);
    /* The pooled curve over cohorts observed for different lengths. */
    int64_t P2[3] = {100, 80, 60}, F2[3] = {100, 0, 0};
    stats_life_add(&acc, P2, F2, 3);
    n = stats_life_survival(&acc, 10, S);
    assert_close(S[1], (800.0 + 80) / (1000 + 100));
    assert_close(S[2], S[1] * (600.0 + 60) / (800 + 80));
    assert_close(S[3], S[2] * 0.75); /* the second cohort stops at age 2 */
}

/* Missing months at random thin every month alike and cancel out, as long as
 * the month a device joined keeps first=true even when its ping is lost. */
static void survival_random_misses(void **state)
{
    /* True panel 1000, 900, 810, 729; 5 % of each month's pings are lost,
     * including 5 % of the joining month's first pings. */
    int64_t P[4] = {950, 855, 770, 693}, F[4] = {950, 0, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    memset(&acc, 0, sizeof acc);
    stats_life_add(&acc, P, F, 4);
    stats_life_survival(&acc, 10, S);
    assert_true(S[1] > 0.899 && S[1] < 0.901);
    assert_true(S[3] > 0.728 && S[3] < 0.731);
}

/* The curve stops where fewer than k pings back a month, never rises. */
static void survival_floor(void **state)
{
    int64_t P[5] = {100, 40, 12, 9, 3}, F[5] = {100, 0, 0, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    memset(&acc, 0, sizeof acc);
    stats_life_add(&acc, P, F, 5);
    assert_int_equal(stats_life_survival(&acc, 10, S), 3); /* ages 0..2: 9 < k at age 3 */
    assert_int_equal(stats_life_survival(&acc, 50, S), 1);
    int64_t Q[3] = {100, 104, 90}, G[3] = {100, 0, 0};
    memset(&acc, 0, sizeof acc);
    stats_life_add(&acc, Q, G, 3);
    assert_int_equal(stats_life_survival(&acc, 10, S), 3);
    assert_close(S[1], 1.0);
    assert_close(S[2], 90.0 / 104);
}

static void median(void **state)
{
    double a[] = {1.0, 0.8, 0.6, 0.4, 0.2};
    assert_close(stats_life_median(a, 5), 2.5);
    double b[] = {1.0, 0.5};
    assert_close(stats_life_median(b, 2), 1.0);
    double c[] = {1.0, 0.9, 0.7};
    assert_true(stats_life_median(c, 3) < 0);
    double d[] = {1.0, 0.9, 0.7, 0.55, 0.45};
    assert_close(stats_life_median(d, 5), 3.5);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random tables: no shown count under k, and what the total reveals of the
 * hidden counts (their sum) pins none of them down. */
static void suppress_random(void **state)
{
    for (int round = 0; round < 20000; round++) {
        size_t m = 1 + next() % 12;
        long k = 2 + (long)(next() % 12);
        int64_t n[12];
        bool hidden[12];
        for (size_t i = 0; i < m; i++)
            n[i] = next() % 3 == 0 ? (int64_t)(next() % (uint64_t)k) : (int64_t)(next() % 60);
        bool total_hidden = stats_suppress(n, m, k, hidden);
        int64_t total = 0, hsum = 0;
        size_t nh = 0;
        for (size_t i = 0; i < m; i++) {
            total += n[i];
            if (hidden[i]) {
                hsum += n[i];
                nh++;
                assert_true(n[i] > 0);
            } else if (n[i] > 0 && n[i] < k) {
                fail_msg("round %d: count %lld shown under k = %ld", round, (long long)n[i], k);
            }
        }
        if (total > 0 && total < k)
            assert_true(total_hidden);
        if (!total_hidden && hsum > 0) {
            /* Each hidden count is >= 1 and they add up to hsum: each one
             * could be anything from 1 to hsum - (nh - 1), so two values at
             * least, and the sum counts k devices at least. */
            if (nh < 2 || hsum < k || hsum - (int64_t)(nh - 1) < 2)
                fail_msg("round %d: %zu hidden counts adding to %lld (k %ld) can be recovered",
                         round, nh, (long long)hsum, k);
        }
    }
}

/* A store with random activations, for the end-to-end properties. */
static struct store *random_store(char *path, size_t cap, int seed)
{
    struct store *st;
    char why[256];
    snprintf(path, cap, "/tmp/sts-test-stats-%d-%d.db", (int)getpid(), seed);
    unlink(path);
    char uri[300];
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    assert_int_equal(store_open(uri, STORE_CREATE, &st, why, sizeof why), STS_OK);
    static const char *const models[] = {"K400", "K500", "P10", "X1"};
    static const char *const countries[] = {"FR", "DE", "IT", ""};
    size_t n = 200 + next() % 600;
    struct store_record *recs = calloc(n, sizeof *recs);
    struct store_record **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        struct store_record *r = &recs[i];
        r->type = STS_REPORT_ACTIVATION;
        for (int b = 0; b < 32; b++)
            r->pseudonym[b] = (uint8_t)next();
        for (int b = 0; b < 16; b++)
            r->report_id[b] = (uint8_t)next();
        /* Skewed: a few big cells, many small ones. */
        size_t m = next() % 7 < 4 ? 0 : 1 + next() % 3;
        r->day = sts_day_from_ymd(2026, 1 + (int)(next() % 4), 1 + (int)(next() % 28));
        snprintf(r->brand, sizeof r->brand, "acme");
        snprintf(r->model, sizeof r->model, "%s", models[m]);
        snprintf(r->sw, sizeof r->sw, "%s-1", models[m]);
        snprintf(r->country, sizeof r->country, "%s", countries[next() % 4]);
        ptrs[i] = r;
    }
    assert_int_equal(store_write(st, ptrs, n), STS_OK);
    /* And lifetime pings over the months. */
    size_t np = 300 + next() % 900;
    struct store_record *pings = calloc(np, sizeof *pings);
    struct store_record **pp = calloc(np, sizeof *pp);
    for (size_t i = 0; i < np; i++) {
        struct store_record *r = &pings[i];
        r->type = STS_REPORT_LIFETIME;
        for (int b = 0; b < 16; b++)
            r->report_id[b] = (uint8_t)next();
        size_t m = next() % 3;
        r->cohort = 2026 * 12 + (int32_t)(next() % 3);
        r->period = r->cohort + (int32_t)(next() % 3);
        r->first = r->period == r->cohort;
        snprintf(r->brand, sizeof r->brand, "acme");
        snprintf(r->model, sizeof r->model, "%s", models[m]);
        snprintf(r->sw, sizeof r->sw, "%s-%d", models[m], (int)(next() % 3));
        snprintf(r->country, sizeof r->country, "%s", countries[next() % 4]);
        pp[i] = r;
    }
    assert_int_equal(store_write(st, pp, np), STS_OK);
    free(recs);
    free(ptrs);
    free(pings);
    free(pp);
    return st;
}

static json_t *api(struct store *st, const char *which, struct stats_args *a)
{
    char *out = NULL;
    struct sts_field_error fe;
    a->today = sts_day_from_ymd(2026, 6, 20);
    a->k_min = 4; /* small tables: a floor they reach, so both sides are tested */
    enum sts_err e = stats_api(st, which, a, &out, &fe);
    if (e != STS_OK)
        fail_msg("%s: %s %s", which, fe.field, fe.detail);
    json_t *doc = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(doc);
    return doc;
}

/* Sales with running totals, on random stores: no shown count under k; the
 * hidden cells are safe against the total; a running total is shown only
 * while every cell of its series so far is shown, and it is right. */
static void sales_random(void **state)
{
    for (int round = 0; round < 25; round++) {
        char path[256];
        struct store *st = random_store(path, sizeof path, round);
        static const char *const bys[] = {"model", "model,country", "country", "brand,model,sw"};
        static const char *const periods[] = {"day", "week", "month", NULL};
        struct stats_args a = {.by = bys[round % 4],
                               .period = periods[(round / 4) % 4],
                               .cumulative = "1",
                               .k = round % 2 ? "5" : NULL};
        json_t *doc = api(st, "sales", &a);
        long k = (long)json_integer_value(json_object_get(doc, "k"));
        json_t *rows = json_object_get(doc, "rows"), *r;
        size_t i;
        int64_t shown = 0, nh = 0;
        json_t *seen = json_object(); /* series -> [running truth, any hidden] */
        json_array_foreach(rows, i, r)
        {
            json_t *act = json_object_get(r, "activations");
            if (json_is_integer(act)) {
                int64_t v = json_integer_value(act);
                if (v > 0 && v < k)
                    fail_msg("a count of %lld shown under k %ld", (long long)v, k);
                shown += v;
            } else {
                nh++;
            }
            char key[256] = "";
            const char *dims[] = {"brand", "model", "sw", "country"};
            for (int d = 0; d < 4; d++) {
                json_t *v = json_object_get(r, dims[d]);
                if (v)
                    snprintf(key + strlen(key), sizeof key - strlen(key), "%s|",
                             json_is_string(v) ? json_string_value(v) : "-");
            }
            json_t *cum = json_object_get(r, "cumulative");
            json_t *s = json_object_get(seen, key);
            bool any_hidden = (s && json_is_true(json_array_get(s, 1))) || !json_is_integer(act);
            int64_t run = (s ? json_integer_value(json_array_get(s, 0)) : 0) +
                          (json_is_integer(act) ? json_integer_value(act) : 0);
            if (json_is_integer(cum)) {
                assert_false(any_hidden);
                assert_int_equal(json_integer_value(cum), run);
            } else {
                assert_true(any_hidden);
            }
            json_object_set_new(seen, key, json_pack("[Ib]", (json_int_t)run, any_hidden));
        }
        json_decref(seen);
        json_t *total = json_object_get(json_object_get(doc, "total"), "activations");
        if (json_is_integer(total) && nh > 0) {
            int64_t hsum = json_integer_value(total) - shown;
            assert_true(nh >= 2 && hsum >= k && hsum > nh);
        }
        json_decref(doc);
        store_close(st);
        unlink(path);
    }
}

/* Versions and lifetime on random stores: shares and counts under k hidden,
 * every (month, model) group safe against its total, and the lifetime
 * answer's cohort sizes under k hidden. */
static void versions_lifetime_random(void **state)
{
    for (int round = 0; round < 15; round++) {
        char path[256];
        struct store *st = random_store(path, sizeof path, 100 + round);
        struct stats_args a = {.k = round % 2 ? "5" : NULL};
        json_t *doc = api(st, "versions", &a);
        long k = (long)json_integer_value(json_object_get(doc, "k"));
        json_t *rows = json_object_get(doc, "rows"), *r;
        size_t i;
        /* Group the rows by month and model; the shares give the total. */
        json_t *groups = json_object();
        json_array_foreach(rows, i, r)
        {
            char key[64];
            snprintf(key, sizeof key, "%s|%s", json_string_value(json_object_get(r, "period")),
                     json_string_value(json_object_get(r, "model")));
            json_t *n = json_object_get(r, "pings"), *sh = json_object_get(r, "share");
            if (json_is_integer(n) && json_integer_value(n) > 0)
                assert_true(json_integer_value(n) >= k);
            if (!json_is_integer(n))
                assert_true(json_is_null(sh));
            json_t *g = json_object_get(groups, key);
            if (!g) {
                g = json_pack("[iiif]", 0, 0, 0, 0.0); /* shown, hidden, any share, share sum */
                json_object_set_new(groups, key, g);
            }
            if (json_is_integer(n))
                json_array_set_new(
                    g, 0,
                    json_integer(json_integer_value(json_array_get(g, 0)) + json_integer_value(n)));
            else
                json_array_set_new(g, 1,
                                   json_integer(json_integer_value(json_array_get(g, 1)) + 1));
            if (json_is_number(sh))
                json_array_set_new(g, 2, json_integer(1));
        }
        const char *key;
        json_t *g;
        json_object_foreach(groups, key, g)
        {
            /* A group with a hidden count and shares shown: the total is
             * known (count / share), so the hidden ones must stay safe. */
            if (json_integer_value(json_array_get(g, 1)) > 0 &&
                json_integer_value(json_array_get(g, 2)))
                assert_true(json_integer_value(json_array_get(g, 1)) >= 2);
        }
        json_decref(groups);
        json_decref(doc);

        struct stats_args l = {.by = round % 2 ? "brand,model" : "model", .k = a.k};
        doc = api(st, "lifetime", &l);
        json_t *gr;
        json_array_foreach(json_object_get(doc, "groups"), i, gr)
        {
            size_t ci;
            json_t *c;
            json_array_foreach(json_object_get(gr, "cohorts"), ci, c)
            {
                json_t *size = json_object_get(c, "size");
                if (json_is_integer(size) && json_integer_value(size) > 0)
                    assert_true(json_integer_value(size) >= k);
                if (!json_is_integer(size) || json_integer_value(size) < k)
                    assert_int_equal(json_array_size(json_object_get(c, "survival")), 1);
            }
        }
        json_decref(doc);
        store_close(st);
        unlink(path);
    }
}

static void bad_parameters(void **state)
{
    char path[256];
    struct store *st = random_store(path, sizeof path, 999);
    struct sts_field_error fe;
    char *out = NULL;
    struct stats_args a = {.by = "sw"};
    assert_int_equal(stats_api(st, "lifetime", &a, &out, &fe), STS_EINVAL);
    assert_string_equal(fe.field, "by");
    struct stats_args b = {.period = "month"};
    assert_int_equal(stats_api(st, "versions", &b, &out, &fe), STS_EINVAL);
    struct stats_args c = {.cumulative = "maybe"};
    assert_int_equal(stats_api(st, "sales", &c, &out, &fe), STS_EINVAL);
    struct stats_args d = {.model = "bad\"model"};
    assert_int_equal(stats_api(st, "sales", &d, &out, &fe), STS_EINVAL);
    assert_int_equal(stats_api(st, "nope", &d, &out, &fe), STS_ENOENT);
    store_close(st);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(survival_geometric),
        cmocka_unit_test(survival_left_truncation),
        cmocka_unit_test(survival_random_misses),
        cmocka_unit_test(survival_floor),
        cmocka_unit_test(median),
        cmocka_unit_test(suppress_random),
        cmocka_unit_test(sales_random),
        cmocka_unit_test(versions_lifetime_random),
        cmocka_unit_test(bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
