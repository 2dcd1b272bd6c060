/* Unit tests of sts/dgauss.h: the seeded ChaCha20 stream against OpenSSL
 * directly, uniform draws without bias, and the exact samplers against their
 * exact distributions (pmfs summed here, independently of the library's
 * analysis helpers, which are checked against the same sums). Every stream is
 * seeded, so a run is deterministic; each statistical check still rejects
 * only at p < 1e-6 (|z| > 4.89 two-sided, or an exact chi-square or Poisson
 * p-value below 1e-6), and test_power shows the checks do reject a sampler
 * whose sigma^2 is 10 % off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/dgauss.h"

#define Z_MAX    4.89 /* two-sided normal p = 1e-6 */
#define P_MIN    1e-6
#define N_DGAUSS 200000
#define N_BERN   1000000
#define MIN_BIN  20.0 /* least expected count of a chi-square bin */

/* ---- p-values: regularized incomplete gamma (series / continued fraction) ---- */

static double gamma_series(double a, double x) /* P(a, x) for x < a + 1 */
{
    double ap = a, del = 1 / a, sum = del;

    for (int n = 0; n < 100000 && fabs(del) > fabs(sum) * 1e-16; n++) {
        ap += 1;
        del *= x / ap;
        sum += del;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

static double gamma_cfrac(double a, double x) /* Q(a, x) for x >= a + 1 */
{
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;

    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a), del;
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

static double gamma_p(double a, double x)
{
    if (x <= 0)
        return 0;
    return x < a + 1 ? gamma_series(a, x) : 1 - gamma_cfrac(a, x);
}

static double gamma_q(double a, double x)
{
    if (x <= 0)
        return 1;
    return x < a + 1 ? 1 - gamma_series(a, x) : gamma_cfrac(a, x);
}

/* P[chi-square(df) >= stat]. */
static double chi2_p(double stat, int df)
{
    return gamma_q(df / 2.0, stat / 2.0);
}

/* Two-sided p-value of k events when Poisson(lambda) was expected. */
static double poisson_p(uint64_t k, double lambda)
{
    double lower = gamma_q((double)k + 1, lambda);          /* P[X <= k] */
    double upper = k == 0 ? 1 : gamma_p((double)k, lambda); /* P[X >= k] */
    double p = 2 * (lower < upper ? lower : upper);
    return p < 1 ? p : 1;
}

/* ---- exact distributions on [-l, l], summed here ---- */

struct dist {
    int64_t l;   /* support considered: [-l, l]; the mass outside is < 1e-25 */
    double *p;   /* p[x + l] */
    double var;  /* E[X^2] (the mean is 0 by symmetry) */
    double m4;   /* E[X^4] */
    double tail; /* P[X^2 > tail_x2]: the 3 sigma tail */
    double tail_x2;
};

/* Fills d from unnormalised weights w(x) = exp(-f(x)). */
static void dist_fill(struct dist *d, int64_t l, double (*f)(int64_t, double), double param,
                      double tail_x2)
{
    double c = 0;

    d->l = l;
    d->p = calloc((size_t)(2 * l + 1), sizeof(double));
    assert_non_null(d->p);
    /* outside in, small terms first */
    for (int64_t x = l; x >= 0; x--) {
        d->p[x + l] = exp(-f(x, param));
        d->p[-x + l] = d->p[x + l];
        c += x == 0 ? d->p[l] : 2 * d->p[x + l];
    }
    d->var = d->m4 = d->tail = 0;
    d->tail_x2 = tail_x2;
    for (int64_t x = l; x >= -l; x--) {
        double p = d->p[x + l] /= c, x2 = (double)x * (double)x;
        d->var += x2 * p;
        d->m4 += x2 * x2 * p;
        if (x2 > tail_x2)
            d->tail += p;
    }
}

static double gauss_exponent(int64_t x, double sigma2)
{
    return (double)x * (double)x / (2 * sigma2);
}

static double laplace_exponent(int64_t x, double scale)
{
    return (double)(x < 0 ? -x : x) / scale;
}

static void dist_gauss(struct dist *d, double sigma2)
{
    dist_fill(d, (int64_t)(12 * sqrt(sigma2)) + 12, gauss_exponent, sigma2, 9 * sigma2);
}

static void dist_laplace(struct dist *d, double scale)
{
    double var = 2 * exp(-1 / scale) / pow(1 - exp(-1 / scale), 2);
    dist_fill(d, (int64_t)(60 * scale) + 60, laplace_exponent, scale, 9 * var);
}

struct verdict {
    double z_mean, z_var; /* standardised deviations of the mean and E[X^2] */
    double p_chi2;        /* tail-lumped chi-square over bins of >= MIN_BIN */
    double p_tail;        /* count of x^2 > tail_x2 against Poisson(n tail) */
    int df;
};

static struct verdict judge(const struct dist *d, const int64_t *s, size_t n)
{
    struct verdict v = {0};
    double sum = 0, sum2 = 0, chi2 = 0;
    uint64_t *count = calloc((size_t)(2 * d->l + 1), sizeof(uint64_t)), tail = 0;
    int64_t k;

    assert_non_null(count);
    for (size_t i = 0; i < n; i++) {
        double x2 = (double)s[i] * (double)s[i];
        assert_true(s[i] >= -d->l && s[i] <= d->l);
        count[s[i] + d->l]++;
        sum += (double)s[i];
        sum2 += x2;
        if (x2 > d->tail_x2)
            tail++;
    }
    v.z_mean = (sum / (double)n) / sqrt(d->var / (double)n);
    v.z_var = (sum2 / (double)n - d->var) / sqrt((d->m4 - d->var * d->var) / (double)n);
    v.p_tail = poisson_p(tail, (double)n * d->tail);

    /* k: the largest x whose upper tail P[X >= x] still expects MIN_BIN;
     * bins (-inf, -k], each of (-k, k), [k, inf). */
    double upper = 0;
    for (k = d->l; k > 0; k--) {
        upper += d->p[k + d->l];
        if ((double)n * upper >= MIN_BIN)
            break;
    }
    assert_true(k >= 1);
    double e_tail = upper * (double)n;
    uint64_t o_lo = 0, o_hi = 0;
    for (int64_t x = k; x <= d->l; x++) {
        o_hi += count[x + d->l];
        o_lo += count[-x + d->l];
    }
    chi2 += pow((double)o_lo - e_tail, 2) / e_tail + pow((double)o_hi - e_tail, 2) / e_tail;
    for (int64_t x = -k + 1; x < k; x++) {
        double e = d->p[x + d->l] * (double)n;
        chi2 += pow((double)count[x + d->l] - e, 2) / e;
    }
    v.df = (int)(2 * k + 1) - 1;
    v.p_chi2 = chi2_p(chi2, v.df);
    free(count);
    return v;
}

static void assert_fits(const char *what, struct verdict v)
{
    printf("  %-28s z_mean %+6.2f  z_var %+6.2f  chi2 p %.3g (df %d)  tail p %.3g\n", what,
           v.z_mean, v.z_var, v.p_chi2, v.df, v.p_tail);
    assert_true(fabs(v.z_mean) < Z_MAX);
    assert_true(fabs(v.z_var) < Z_MAX);
    assert_true(v.p_chi2 > P_MIN);
    assert_true(v.p_tail > P_MIN);
}

static struct sts_rng *seeded(const char *label)
{
    uint8_t seed[32] = {0};
    struct sts_rng *rng = NULL;

    snprintf((char *)seed, sizeof(seed), "test_dgauss %s", label);
    assert_int_equal(sts_rng_new(&rng, seed, sizeof(seed)), STS_OK);
    return rng;
}

/* ---- the stream ---- */

/* The documented construction, computed with OpenSSL alone. */
static void test_rng_known_answer(void **state)
{
    (void)state;
    static const uint8_t seed[20] = "0123456789abcdefghij";
    uint8_t key[32], iv[16] = {0}, zeros[3000] = {0}, want[3000], got[3000];
    unsigned int key_len = 0;
    int len = 0;
    struct sts_rng *rng = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();

    assert_non_null(md);
    assert_non_null(cc);
    assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(md, "sts-rng v1", 10), 1);
    assert_int_equal(EVP_DigestUpdate(md, seed, sizeof(seed)), 1);
    assert_int_equal(EVP_DigestFinal_ex(md, key, &key_len), 1);
    assert_int_equal(EVP_EncryptInit_ex(cc, EVP_chacha20(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(cc, want, &len, zeros, sizeof(zeros)), 1);
    assert_int_equal(len, (int)sizeof(zeros));

    assert_int_equal(sts_rng_new(&rng, seed, sizeof(seed)), STS_OK);
    /* in uneven pieces, across the stream's internal refills */
    assert_int_equal(sts_rng_bytes(rng, got, 1), STS_OK);
    assert_int_equal(sts_rng_bytes(rng, got + 1, 1500), STS_OK);
    assert_int_equal(sts_rng_bytes(rng, got + 1501, sizeof(got) - 1501), STS_OK);
    assert_memory_equal(got, want, sizeof(want));
    sts_rng_free(rng);
    EVP_MD_CTX_free(md);
    EVP_CIPHER_CTX_free(cc);
}

static void test_rng_determinism(void **state)
{
    (void)state;
    struct sts_rng *a = seeded("same"), *b = seeded("same"), *c = seeded("other");
    struct sts_rng *u = NULL, *w = NULL;
    uint8_t x[64], y[64];

    for (int i = 0; i < 2000; i++) {
        int64_t va, vb;
        assert_int_equal(sts_dgauss_sample(a, 121, 25, &va), STS_OK);
        assert_int_equal(sts_dgauss_sample(b, 121, 25, &vb), STS_OK);
        assert_int_equal(va, vb);
    }
    assert_int_equal(sts_rng_bytes(a, x, sizeof(x)), STS_OK);
    assert_int_equal(sts_rng_bytes(c, y, sizeof(y)), STS_OK);
    assert_memory_not_equal(x, y, sizeof(x));

    /* unseeded streams come from getrandom and differ */
    assert_int_equal(sts_rng_new(&u, NULL, 0), STS_OK);
    assert_int_equal(sts_rng_new(&w, NULL, 0), STS_OK);
    assert_int_equal(sts_rng_bytes(u, x, sizeof(x)), STS_OK);
    assert_int_equal(sts_rng_bytes(w, y, sizeof(y)), STS_OK);
    assert_memory_not_equal(x, y, sizeof(x));

    sts_rng_free(a);
    sts_rng_free(b);
    sts_rng_free(c);
    sts_rng_free(u);
    sts_rng_free(w);
    sts_rng_free(NULL);
}

static void test_invalid(void **state)
{
    (void)state;
    struct sts_rng *rng = NULL;
    uint8_t seed[STS_RNG_SEED_MIN] = {1};
    uint64_t u;
    int64_t v;
    bool b;

    assert_int_equal(sts_rng_new(&rng, seed, sizeof(seed) - 1), STS_EINVAL);
    assert_null(rng);
    rng = seeded("invalid");
    assert_int_equal(sts_rng_uniform(rng, 0, &u), STS_EINVAL);
    assert_int_equal(sts_rng_uniform(rng, 1, &u), STS_OK);
    assert_int_equal(u, 0);
    assert_int_equal(sts_dgauss_sample(rng, 0, 1, &v), STS_EINVAL);
    assert_int_equal(sts_dgauss_sample(rng, 1, 0, &v), STS_EINVAL);
    assert_int_equal(sts_dgauss_sample(rng, STS_DGAUSS_MAX + 1, 1, &v), STS_EINVAL);
    assert_int_equal(sts_dgauss_sample(rng, 1, STS_DGAUSS_MAX + 1, &v), STS_EINVAL);
    assert_int_equal(sts_dlaplace_sample(rng, 0, 1, &v), STS_EINVAL);
    assert_int_equal(sts_dlaplace_sample(rng, 1, 0, &v), STS_EINVAL);
    assert_int_equal(sts_dgauss_bernoulli_exp(rng, 1, 0, &b), STS_EINVAL);
    assert_int_equal(sts_dgauss_bernoulli_exp(rng, STS_DGAUSS_MAX + 1, 1, &b), STS_EINVAL);
    assert_int_equal(sts_dgauss_interval(0, 0.95, &u), STS_EINVAL);
    assert_int_equal(sts_dgauss_interval(NAN, 0.95, &u), STS_EINVAL);
    assert_int_equal(sts_dgauss_interval(1, 1, &u), STS_EINVAL);
    assert_int_equal(sts_dgauss_interval(1, 0, &u), STS_EINVAL);
    assert_true(isnan(sts_dgauss_variance(-1)));
    assert_true(isnan(sts_dgauss_pmf(0, 0)));
    sts_rng_free(rng);
}

/* n values binned by value >> shift into bins equal-probability bins: a
 * modulo reduction of 64-bit draws would double the first bins. */
static void uniform_case(struct sts_rng *rng, uint64_t n, int shift, int bins, size_t draws)
{
    uint64_t count[16] = {0};
    double chi2 = 0, e = (double)draws / bins;

    for (size_t i = 0; i < draws; i++) {
        uint64_t u;
        assert_int_equal(sts_rng_uniform(rng, n, &u), STS_OK);
        assert_true(u < n);
        assert_true((u >> shift) < (uint64_t)bins);
        count[u >> shift]++;
    }
    for (int i = 0; i < bins; i++)
        chi2 += pow((double)count[i] - e, 2) / e;
    printf("  uniform n=%-20llu chi2 p %.3g (df %d)\n", (unsigned long long)n,
           chi2_p(chi2, bins - 1), bins - 1);
    assert_true(chi2_p(chi2, bins - 1) > P_MIN);
}

static void test_uniform(void **state)
{
    (void)state;
    struct sts_rng *rng = seeded("uniform");

    uniform_case(rng, 10, 0, 10, 500000);
    uniform_case(rng, 3ULL << 62, 62, 3, 300000);
    uniform_case(rng, 5ULL << 61, 61, 5, 300000);
    uniform_case(rng, 12, 2, 3, 300000); /* 12 = 3 * 4: bins of 4 values */
    sts_rng_free(rng);
}

/* ---- Bernoulli(exp(-gamma)) ---- */

static void bern_case(struct sts_rng *rng, uint64_t num, uint64_t den)
{
    double p = exp(-(double)num / (double)den);
    uint64_t ones = 0;

    for (int i = 0; i < N_BERN; i++) {
        bool b;
        assert_int_equal(sts_dgauss_bernoulli_exp(rng, num, den, &b), STS_OK);
        ones += b;
    }
    if ((double)N_BERN * p < 1000) { /* rare: count against Poisson */
        double pv = poisson_p(ones, (double)N_BERN * p);
        printf("  bernoulli exp(-%llu/%llu) %llu ones, Poisson p %.3g\n", (unsigned long long)num,
               (unsigned long long)den, (unsigned long long)ones, pv);
        assert_true(pv > P_MIN);
    } else {
        double z = ((double)ones - N_BERN * p) / sqrt(N_BERN * p * (1 - p));
        printf("  bernoulli exp(-%llu/%llu) freq %.5f want %.5f z %+.2f\n", (unsigned long long)num,
               (unsigned long long)den, (double)ones / N_BERN, p, z);
        assert_true(fabs(z) < Z_MAX);
    }
}

static void test_bernoulli_exp(void **state)
{
    (void)state;
    struct sts_rng *rng = seeded("bernoulli");

    for (int i = 0; i < 1000; i++) { /* exp(-0) = 1 */
        bool b = false;
        assert_int_equal(sts_dgauss_bernoulli_exp(rng, 0, 7, &b), STS_OK);
        assert_true(b);
    }
    bern_case(rng, 1, 10);
    bern_case(rng, 1, 1);
    bern_case(rng, 5, 1);
    bern_case(rng, 1, 3);
    bern_case(rng, 7, 2);                                    /* > 1 with a fraction */
    bern_case(rng, STS_DGAUSS_MAX, STS_DGAUSS_MAX / 10 - 3); /* ~10, large terms */
    sts_rng_free(rng);
}

/* ---- discrete Laplace and Gaussian ---- */

static void laplace_case(struct sts_rng *rng, uint64_t num, uint64_t den)
{
    struct dist d;
    int64_t *s = malloc(N_DGAUSS * sizeof(*s));
    char what[64];

    assert_non_null(s);
    dist_laplace(&d, (double)num / (double)den);
    for (size_t i = 0; i < N_DGAUSS; i++)
        assert_int_equal(sts_dlaplace_sample(rng, num, den, &s[i]), STS_OK);
    snprintf(what, sizeof(what), "dlaplace %llu/%llu", (unsigned long long)num,
             (unsigned long long)den);
    assert_fits(what, judge(&d, s, N_DGAUSS));
    free(d.p);
    free(s);
}

static void test_dlaplace(void **state)
{
    (void)state;
    struct sts_rng *rng = seeded("dlaplace");

    laplace_case(rng, 1, 2);
    laplace_case(rng, 1, 1);
    laplace_case(rng, 7, 3);
    laplace_case(rng, 10, 1);
    laplace_case(rng, 100, 3);
    sts_rng_free(rng);
}

static struct verdict gauss_verdict(struct sts_rng *rng, uint64_t num, uint64_t den,
                                    double model_sigma2)
{
    struct dist d;
    int64_t *s = malloc(N_DGAUSS * sizeof(*s));
    struct verdict v;

    assert_non_null(s);
    dist_gauss(&d, model_sigma2);
    for (size_t i = 0; i < N_DGAUSS; i++)
        assert_int_equal(sts_dgauss_sample(rng, num, den, &s[i]), STS_OK);
    v = judge(&d, s, N_DGAUSS);

    /* The library's variance and 95 % half-width against the sums here,
     * and the samples inside the interval against its exact mass. */
    double var = sts_dgauss_variance(model_sigma2), inside = 0, below = 0;
    uint64_t h = 0, outside = 0;
    assert_true(fabs(var - d.var) <= 1e-9 * d.var);
    assert_true(var <= model_sigma2);
    assert_int_equal(sts_dgauss_interval(model_sigma2, 0.95, &h), STS_OK);
    for (int64_t x = -(int64_t)h; x <= (int64_t)h; x++)
        inside += d.p[x + d.l];
    for (int64_t x = -(int64_t)h + 1; x < (int64_t)h; x++)
        below += d.p[x + d.l];
    assert_true(inside >= 0.95);
    assert_true(h == 0 || below < 0.95);
    for (size_t i = 0; i < N_DGAUSS; i++)
        outside += s[i] > (int64_t)h || s[i] < -(int64_t)h;
    v.p_tail = fmin(v.p_tail, poisson_p(outside, (1 - inside) * N_DGAUSS));
    free(d.p);
    free(s);
    return v;
}

static void test_dgauss(void **state)
{
    (void)state;
    static const uint64_t cases[][2] = {{1, 2}, {2, 1}, {121, 25}, {100, 1}, {10000, 1}};
    struct sts_rng *rng = seeded("dgauss");

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[64];
        double sigma2 = (double)cases[i][0] / (double)cases[i][1];
        snprintf(what, sizeof(what), "dgauss %llu/%llu", (unsigned long long)cases[i][0],
                 (unsigned long long)cases[i][1]);
        assert_fits(what, gauss_verdict(rng, cases[i][0], cases[i][1], sigma2));
    }
    sts_rng_free(rng);
}

/* The same checks reject samples whose sigma^2 is 10 % off the model. */
static void test_power(void **state)
{
    (void)state;
    struct sts_rng *rng = seeded("power");
    struct verdict hi = gauss_verdict(rng, 1331, 250, 4.84);  /* 5.324 = 1.1 * 4.84 */
    struct verdict lo = gauss_verdict(rng, 4356, 1000, 4.84); /* 4.356 = 0.9 * 4.84 */

    printf("  sigma^2 +10%%: z_var %+.1f chi2 p %.3g; -10%%: z_var %+.1f chi2 p %.3g\n", hi.z_var,
           hi.p_chi2, lo.z_var, lo.p_chi2);
    assert_true(hi.z_var > Z_MAX && hi.p_chi2 < P_MIN);
    assert_true(lo.z_var < -Z_MAX && lo.p_chi2 < P_MIN);
    sts_rng_free(rng);
}

/* The ends of the supported range run, with the spread they should have. */
static void test_extremes(void **state)
{
    (void)state;
    struct sts_rng *rng = seeded("extremes");
    double sum2 = 0;
    const int n = 20000;

    for (int i = 0; i < 1000; i++) { /* sigma^2 = 10^-12: P[x != 0] ~ e^-(5 10^11) */
        int64_t v;
        assert_int_equal(sts_dgauss_sample(rng, 1, STS_DGAUSS_MAX, &v), STS_OK);
        assert_int_equal(v, 0);
    }
    for (int i = 0; i < n; i++) { /* sigma^2 = 10^12, where E[X^4] = 3 sigma^4 to 1e-300 */
        int64_t v;
        assert_int_equal(sts_dgauss_sample(rng, STS_DGAUSS_MAX, 1, &v), STS_OK);
        sum2 += (double)v * (double)v;
    }
    double s2 = 1e12, z = (sum2 / n - s2) / sqrt(2 * s2 * s2 / n);
    printf("  dgauss 10^12: z_var %+.2f\n", z);
    assert_true(fabs(z) < Z_MAX);
    assert_true(fabs(sts_dgauss_variance(s2) - s2) <= 1e-12 * s2);
    sts_rng_free(rng);
}

/* Normaliser and pmf against the direct sum over a wide range. */
static void test_analysis(void **state)
{
    (void)state;
    static const double sigma2s[] = {1e-3, 0.05, 0.5, 1, 2, 4.84, 100, 1e4, 1e6};

    for (size_t i = 0; i < sizeof(sigma2s) / sizeof(sigma2s[0]); i++) {
        double s2 = sigma2s[i], c = 0;
        int64_t l = (int64_t)(40 * sqrt(s2)) + 40;
        for (int64_t x = l; x >= 1; x--)
            c += 2 * exp(-(double)x * (double)x / (2 * s2));
        c += 1;
        assert_true(fabs(sts_dgauss_normaliser(s2) - c) <= 1e-12 * c);
        assert_true(fabs(sts_dgauss_pmf(s2, 0) - 1 / c) <= 1e-12 / c);
        assert_true(fabs(sts_dgauss_pmf(s2, -3) - exp(-9 / (2 * s2)) / c) <= 1e-12 / c);
        assert_true(sts_dgauss_variance(s2) <= s2);
    }
    /* far below sigma^2 = 1 the variance is about 2 e^(-1/(2 sigma^2)) */
    assert_true(fabs(sts_dgauss_variance(0.1) - 2 * exp(-5) / (1 + 2 * exp(-5))) < 1e-6);
    /* a wide Gaussian's 95 % half-width is 1.96 sigma, to one step */
    uint64_t h;
    assert_int_equal(sts_dgauss_interval(1e6, 0.95, &h), STS_OK);
    assert_true(h >= 1959 && h <= 1961);
    assert_int_equal(sts_dgauss_interval(1e-3, 0.95, &h), STS_OK);
    assert_int_equal(h, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_known_answer), cmocka_unit_test(test_rng_determinism),
        cmocka_unit_test(test_invalid),          cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_bernoulli_exp),    cmocka_unit_test(test_dlaplace),
        cmocka_unit_test(test_dgauss),           cmocka_unit_test(test_power),
        cmocka_unit_test(test_extremes),         cmocka_unit_test(test_analysis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
