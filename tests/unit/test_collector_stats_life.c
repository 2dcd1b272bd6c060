/* Unit tests of the lifetime estimator (collector/stats_life.c): known
 * answers on synthetic panels, left truncation, random misses, where a curve
 * stops, the median. The release it runs on is tested in
 * test_collector_release.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats_impl.h"

#define EPS 1e-9

static void assert_close(double got, double want)
{
    if (got < want - EPS || got > want + EPS)
        fail_msg("got %.12f, expected %.12f", got, want);
}

/* Adds a cohort given as P (all pings) and F (first pings), as counted. */
static void add_pf(struct stats_life_acc *acc, const double *P, const double *F, int n)
{
    double N[16];
    for (int a = 0; a < n; a++)
        N[a] = P[a] - F[a];
    stats_life_add(acc, N, F, n);
}

/* One cohort of 1000 devices losing 10 % a month, all in from age 0. */
static void survival_geometric(void **state)
{
    (void)state;
    double P[6] = {1000, 900, 810, 729, 656, 590}, F[6] = {1000, 0, 0, 0, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    (void)state;
    memset(&acc, 0, sizeof acc);
    add_pf(&acc, P, F, 6);
    int n = stats_life_survival(&acc, 10, S);
    assert_int_equal(n, 6);
    assert_close(S[0], 1.0);
    assert_close(S[1], 0.9);
    assert_close(S[2], 0.81);
    assert_close(S[3], 0.729);
    /* The last observed age has no month after it: no hazard from it. */
    assert_close(acc.risk[5], 0);
}

/* Late consent: devices that join the panel at age 2 (first pings there) add
 * to the panel from age 2 only and change nothing when they fare the same. */
static void survival_left_truncation(void **state)
{
    (void)state;
    /* 1000 from age 0; 500 more join at age 2 (450 of whom are at age 3). */
    double P[5] = {1000, 800, 600 + 500, 450 + 375, 300 + 250};
    double F[5] = {1000, 0, 500, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    (void)state;
    memset(&acc, 0, sizeof acc);
    add_pf(&acc, P, F, 5);
    int n = stats_life_survival(&acc, 10, S);
    assert_int_equal(n, 5);
    assert_close(S[1], 0.8);
    assert_close(S[2], 0.6);
    assert_close(S[3], 0.45);
    assert_close(S[4], 0.3);
    /* The pooled curve over cohorts observed for different lengths. */
    double P2[3] = {100, 80, 60}, F2[3] = {100, 0, 0};
    add_pf(&acc, P2, F2, 3);
    n = stats_life_survival(&acc, 10, S);
    assert_close(S[1], (800.0 + 80) / (1000 + 100));
    assert_close(S[2], S[1] * (600.0 + 60) / (800 + 80));
    assert_close(S[3], S[2] * 0.75); /* the second cohort stops at age 2 */
}

/* Missing months at random thin every month alike and cancel out, as long as
 * the month a device joined keeps first=true even when its ping is lost. */
static void survival_random_misses(void **state)
{
    (void)state;
    double P[4] = {950, 855, 770, 693}, F[4] = {950, 0, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    (void)state;
    memset(&acc, 0, sizeof acc);
    add_pf(&acc, P, F, 4);
    stats_life_survival(&acc, 10, S);
    assert_true(S[1] > 0.899 && S[1] < 0.901);
    assert_true(S[3] > 0.728 && S[3] < 0.731);
}

/* The curve stops where the panel is under the minimum; noise that makes a
 * month look larger than the one before never makes the curve rise, and a
 * negative noisy count never makes it negative. */
static void survival_floor(void **state)
{
    (void)state;
    double P[5] = {100, 40, 12, 9, 3}, F[5] = {100, 0, 0, 0, 0};
    struct stats_life_acc acc;
    double S[STATS_LIFE_MAX_AGE + 1];
    (void)state;
    memset(&acc, 0, sizeof acc);
    add_pf(&acc, P, F, 5);
    assert_int_equal(stats_life_survival(&acc, 10, S), 4);  /* P(3) = 9 < 10: stops after 3 */
    assert_int_equal(stats_life_survival(&acc, 50, S), 2);  /* P(1) = 40 < 50 */
    assert_int_equal(stats_life_survival(&acc, 150, S), 1); /* P(0) = 100 < 150 */
    double Q[3] = {100, 104, 90}, G[3] = {100, 0, 0};
    memset(&acc, 0, sizeof acc);
    add_pf(&acc, Q, G, 3);
    assert_int_equal(stats_life_survival(&acc, 10, S), 3);
    assert_close(S[1], 1.0);
    assert_close(S[2], 90.0 / 104);
    double R[3] = {100, -3, 5}, H[3] = {100, 0, 0};
    memset(&acc, 0, sizeof acc);
    add_pf(&acc, R, H, 3);
    stats_life_survival(&acc, 0, S);
    assert_close(S[1], 0.0);
}

static void median(void **state)
{
    (void)state;
    double a[] = {1.0, 0.8, 0.6, 0.4, 0.2};
    assert_close(stats_life_median(a, 5), 2.5);
    double b[] = {1.0, 0.5};
    assert_close(stats_life_median(b, 2), 1.0);
    double c[] = {1.0, 0.9, 0.7};
    assert_true(stats_life_median(c, 3) < 0);
    double d[] = {1.0, 0.9, 0.7, 0.55, 0.45};
    assert_close(stats_life_median(d, 5), 3.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(survival_geometric),
        cmocka_unit_test(survival_left_truncation),
        cmocka_unit_test(survival_random_misses),
        cmocka_unit_test(survival_floor),
        cmocka_unit_test(median),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
