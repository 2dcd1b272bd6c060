/* Unit tests of the lifetime estimator (collector/stats_life.c): known
 * answers on synthetic panels, left truncation, random misses, where a curve
 * stops, the median, and the calibration of its bootstrap intervals under the
 * release's own noise (fixed seeds). The release it runs on is tested in
 * test_collector_release.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "release.h"
#include "stats_impl.h"
#include "sts/dgauss.h"

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
    /* h(0) = 1.04 is kept in the product, then pooled with S(0) = 1: the
     * curve stays flat and S(2) is 90 / 100 of the panel. */
    assert_close(S[1], 1.0);
    assert_close(S[2], 0.9);
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

/* ---- Calibration of the intervals under the release's noise --------------- */

#define CAL_COHORTS 18
#define CAL_REPS    300

/* A synthetic model sold under nbrand brands: CAL_COHORTS monthly cohorts,
 * the last closed month CAL_COHORTS - 1 months after the first, each brand's
 * cohort of size 40 + 7 k devices in the panel from age 0 (monthly survival
 * 0.93) and 12 more joining at age 2 (late consent). Exact counts per brand,
 * cohort, age and first flag, as the collector counts them. */
struct cal_panel {
    int nbrand;
    double N[2][CAL_COHORTS][CAL_COHORTS], F[2][CAL_COHORTS][CAL_COHORTS];
};

static void cal_panel_make(struct cal_panel *p, int nbrand, double scale)
{
    memset(p, 0, sizeof *p);
    p->nbrand = nbrand;
    for (int b = 0; b < nbrand; b++)
        for (int k = 0; k < CAL_COHORTS; k++) {
            double n0 = scale * (40 + 7 * k + 5 * b), late = scale * 12;
            for (int a = 0; a < CAL_COHORTS - k; a++) {
                double alive = floor(n0 * pow(0.93, a) + 0.5);
                double alive_late = a >= 2 ? floor(late * pow(0.93, a - 2) + 0.5) : 0;
                p->F[b][k][a] = (a == 0 ? alive : 0) + (a == 2 ? alive_late : 0);
                p->N[b][k][a] = (a == 0 ? 0 : alive) + (a > 2 ? alive_late : 0);
            }
        }
}

/* The group's cohorts from the panel; with rng, every brand's cell gets its
 * own draw of the release's discrete Gaussian noise (age 0 from the age-0
 * table, later ages from the lifetime table), as the release gives them. */
static void cal_cohorts(const struct cal_panel *p, struct sts_rng *rng,
                        const struct release_noise *n0, const struct release_noise *n1,
                        struct stats_life_cohort *c, double (*buf)[4][CAL_COHORTS])
{
    for (int k = 0; k < CAL_COHORTS; k++) {
        struct stats_life_cohort *co = &c[k];
        co->month = k;
        co->nobs = CAL_COHORTS - k;
        co->N = buf[k][0];
        co->F = buf[k][1];
        co->vN = buf[k][2];
        co->vF = buf[k][3];
        memset(buf[k], 0, sizeof buf[k]);
        for (int a = 0; a < co->nobs; a++)
            for (int b = 0; b < p->nbrand; b++)
                for (int first = 0; first < 2; first++) {
                    if (a == 0 && !first)
                        continue; /* not released: zero by the protocol */
                    const struct release_noise *nz = a == 0 ? n0 : n1;
                    int64_t e = 0;
                    if (rng)
                        assert_int_equal(sts_dgauss_sample(rng, nz->s2_num, nz->s2_den, &e),
                                         STS_OK);
                    if (first) {
                        co->F[a] += p->F[b][k][a] + (double)e;
                        co->vF[a] += nz->variance;
                    } else {
                        co->N[a] += p->N[b][k][a] + (double)e;
                        co->vN[a] += nz->variance;
                    }
                }
    }
}

/* Over CAL_REPS independent releases of the same panel (fixed seeds), the
 * share of intervals holding the estimator's value on the exact counts (the
 * target the intervals are for) must lie in [lo, hi]: nominally 95 %. Ages
 * are correlated within a release, so the band is wider than a binomial one
 * over every (release, age) pair: lo = 0.92 still rejects intervals that
 * cover like 1.5 standard deviations instead of 1.96 (86.6 %). */
static void calibration_run(int nbrand, long one, double scale, const char *what)
{
    struct cal_panel *p = malloc(sizeof *p);
    double(*buf)[4][CAL_COHORTS] = calloc(CAL_COHORTS, sizeof *buf);
    struct stats_life_cohort c[CAL_COHORTS];
    struct stats_life_curve *exact = malloc(sizeof *exact), *cv = malloc(sizeof *cv);
    struct release_noise n0, n1;
    assert_non_null(p);
    assert_non_null(buf);
    assert_non_null(exact);
    assert_non_null(cv);
    assert_int_equal(release_noise_params(REL_LIFE0, RELEASE_DEFAULT_RHO, 10, &n0), STS_OK);
    assert_int_equal(release_noise_params(REL_LIFE, RELEASE_DEFAULT_RHO, 10, &n1), STS_OK);
    cal_panel_make(p, nbrand, scale);
    cal_cohorts(p, NULL, &n0, &n1, c, buf);
    assert_int_equal(stats_life_curve(c, CAL_COHORTS, one, 0, 1, exact), STS_OK);
    long in = 0, n = 0, med_in = 0, med_n = 0;
    double bias = 0;
    for (int r = 0; r < CAL_REPS; r++) {
        uint8_t seed[32] = {
            'c', 'a', 'l', (uint8_t)nbrand, (uint8_t)(one + 1), (uint8_t)(r >> 8), (uint8_t)r};
        struct sts_rng *rng;
        assert_int_equal(sts_rng_new(&rng, seed, sizeof seed), STS_OK);
        cal_cohorts(p, rng, &n0, &n1, c, buf);
        sts_rng_free(rng);
        assert_int_equal(stats_life_curve(c, CAL_COHORTS, one, 10, (uint64_t)r, cv), STS_OK);
        for (int a = 1; a < exact->n && a < cv->n; a++) {
            n++;
            in += cv->lo[a] <= exact->S[a] && exact->S[a] <= cv->hi[a];
            bias += cv->S[a] - exact->S[a];
        }
        if (exact->median >= 0 && cv->median >= 0) {
            med_n++;
            med_in += cv->median_lo <= exact->median && exact->median <= cv->median_hi;
        }
    }
    double share = (double)in / (double)n, med_share = med_n ? (double)med_in / med_n : 1;
    print_message("  %s: survival %ld of %ld inside (%.1f %%), mean error %+.4f; "
                  "medians %ld of %ld (%.1f %%)\n",
                  what, in, n, 100 * share, bias / (double)n, med_in, med_n, 100 * med_share);
    assert_true(n >= CAL_REPS * 5);
    assert_true(share >= 0.92 && share <= 0.99);
    assert_true(med_n == 0 || (med_share >= 0.90 && med_share <= 0.995));
    /* Unbiased enough for the intervals to mean what they say. */
    assert_true(fabs(bias / (double)n) < 0.01);
    free(p);
    free(buf);
    free(exact);
    free(cv);
}

static void calibration_one_brand(void **state)
{
    (void)state;
    calibration_run(1, -1, 1, "one brand, pooled");
}

/* A model sold under two brands: every entry of the group is the sum of two
 * released cells, so it carries twice the variance of one. */
static void calibration_two_brands(void **state)
{
    (void)state;
    calibration_run(2, -1, 1, "two brands, pooled");
}

/* A small fleet's panel (cohorts of 8 to 30 devices per brand), where the
 * noise is a large part of each count and the clipping of h(a) to 1 could
 * bias the curve: the oracle once saw survival 0.04 low at 3,000 devices. */
static void calibration_small_panel(void **state)
{
    (void)state;
    calibration_run(2, -1, 0.2, "two brands, small panel, pooled");
}

static void calibration_one_cohort(void **state)
{
    (void)state;
    calibration_run(2, 3, 1, "two brands, cohort 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(survival_geometric),
        cmocka_unit_test(survival_left_truncation),
        cmocka_unit_test(survival_random_misses),
        cmocka_unit_test(survival_floor),
        cmocka_unit_test(median),
        cmocka_unit_test(calibration_one_brand),
        cmocka_unit_test(calibration_two_brands),
        cmocka_unit_test(calibration_one_cohort),
        cmocka_unit_test(calibration_small_panel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
