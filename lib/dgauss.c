/* Exact discrete Gaussian and discrete Laplace sampling (sts/dgauss.h) over a
 * ChaCha20 stream, integer arithmetic only.
 *
 * Source: C. Canonne, G. Kamath, T. Steinke, "The Discrete Gaussian for
 * Differential Privacy", NeurIPS 2020 (arXiv:2004.00010), and its reference
 * implementation discretegauss.py (github IBM/discrete-gaussian-differential-
 * privacy, commit cb190d2, Apache-2.0), followed function by function:
 *   sample_uniform / sample_bernoulli      (lines 11-26)  uniform(), bernoulli()
 *   sample_bernoulli_exp1, x in [0, 1]     (lines 30-39)  bernoulli_exp1()
 *   sample_bernoulli_exp, x >= 0           (lines 43-53)  bernoulli_exp()   Algorithm 1
 *   sample_geometric_exp_slow              (lines 57-65)  geometric_exp_slow()
 *   sample_geometric_exp_fast              (lines 69-82)  geometric_exp_fast()
 *   sample_dlaplace                        (lines 88-97)  dlaplace()        Algorithm 2
 *   floorsqrt                              (lines 101-118) floorsqrt()
 *   sample_dgauss                          (lines 125-136) sts_dgauss_sample() Algorithm 3
 *   normalizing_constant, variance         (lines 151-209) the analysis helpers
 * Python's Fraction reduces every fraction; here fractions are kept unreduced
 * as (numerator, denominator). That changes no probability: Bernoulli(n/d)
 * is "uniform m in [0, d) is below n", which is n/d whatever the
 * representation, and floor((V t + U) / s) is geometric with rate s/t for any
 * s/t. The only departure is the loop cap (sts/dgauss.h).
 *
 * Overflow bounds, for num, den <= 10^12 < 2^40 and V <= 2^16 (the cap):
 * t = floor(sqrt(N/D)) + 1 <= 2 sqrt(N/D) when N/D >= 1, else t = 1; the
 * candidate |Y| = V t + U < (2^16 + 1) t; A = |Y| D t - N has |A| <
 * (2^16 + 1) * 4 N < 2^59 (N/D >= 1) or < 2^17 D < 2^57 (N/D < 1), so A^2 <
 * 2^118; B = 2 N D t^2 <= 8 N^2 < 2^83; Algorithm 1 draws below k B with
 * k <= 2^16, < 2^99. All in unsigned 128-bit integers, every product checked
 * anyway (mul128) so that a wrong bound fails loudly instead of wrapping. */
#include "sts/dgauss.h"

#include <errno.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

__extension__ typedef unsigned __int128 u128;

#define RNG_BUF            1024
#define RNG_SEGMENT        (1ULL << 32) /* bytes per segment: 2^26 of the 2^32 blocks */
#define RNG_LABEL          "sts-rng v1"
#define RNG_KEY_LEN        32
#define RNG_IV_LEN         16
#define INTERVAL_MAX_S2    1e12
#define INTERVAL_MAX_LEVEL 0.999999 /* the sum's rounding stays far below 1 - level */

struct sts_rng {
    EVP_CIPHER_CTX *ctx;
    uint8_t key[RNG_KEY_LEN];
    uint64_t segment;  /* the nonce of the current 4 GiB segment */
    uint64_t produced; /* bytes produced in this segment */
    size_t pos;        /* next unread byte of buf */
    uint8_t buf[RNG_BUF];
};

/* (Re)starts the keystream at block 0 of rng->segment: EVP_chacha20's IV is
 * the little-endian block counter, then the nonce (sts/dgauss.h). */
static enum sts_err rng_segment_start(struct sts_rng *rng)
{
    uint8_t iv[RNG_IV_LEN] = {0};

    for (int i = 0; i < 8; i++)
        iv[4 + i] = (uint8_t)(rng->segment >> (8 * i));
    if (EVP_EncryptInit_ex(rng->ctx, EVP_chacha20(), NULL, rng->key, iv) != 1)
        return STS_ECRYPTO;
    rng->produced = 0;
    return STS_OK;
}

static enum sts_err rng_refill(struct sts_rng *rng)
{
    static const uint8_t zeros[RNG_BUF];
    int len = 0;
    enum sts_err err;

    if (rng->produced >= RNG_SEGMENT) {
        rng->segment++;
        if ((err = rng_segment_start(rng)) != STS_OK)
            return err;
    }
    if (EVP_EncryptUpdate(rng->ctx, rng->buf, &len, zeros, RNG_BUF) != 1 || len != RNG_BUF)
        return STS_ECRYPTO;
    rng->produced += RNG_BUF;
    rng->pos = 0;
    return STS_OK;
}

enum sts_err sts_rng_new(struct sts_rng **out, const uint8_t *seed, size_t seed_len)
{
    struct sts_rng *rng;
    uint8_t fresh[RNG_KEY_LEN];
    unsigned int md_len = 0;
    enum sts_err err = STS_ECRYPTO;
    EVP_MD_CTX *md = NULL;

    if (seed && seed_len < STS_RNG_SEED_MIN)
        return STS_EINVAL;
    rng = calloc(1, sizeof(*rng));
    if (!rng)
        return STS_ENOMEM;
    if (!seed) {
        size_t got = 0;
        while (got < sizeof(fresh)) {
            ssize_t n = getrandom(fresh + got, sizeof(fresh) - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                goto fail;
            got += (size_t)n;
        }
        seed = fresh;
        seed_len = sizeof(fresh);
    }
    md = EVP_MD_CTX_new();
    if (!md) {
        err = STS_ENOMEM;
        goto fail;
    }
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, RNG_LABEL, strlen(RNG_LABEL)) != 1 ||
        EVP_DigestUpdate(md, seed, seed_len) != 1 ||
        EVP_DigestFinal_ex(md, rng->key, &md_len) != 1 || md_len != RNG_KEY_LEN)
        goto fail;
    rng->ctx = EVP_CIPHER_CTX_new();
    if (!rng->ctx) {
        err = STS_ENOMEM;
        goto fail;
    }
    if ((err = rng_segment_start(rng)) != STS_OK || (err = rng_refill(rng)) != STS_OK)
        goto fail;
    EVP_MD_CTX_free(md);
    OPENSSL_cleanse(fresh, sizeof(fresh));
    *out = rng;
    return STS_OK;
fail:
    EVP_MD_CTX_free(md);
    OPENSSL_cleanse(fresh, sizeof(fresh));
    sts_rng_free(rng);
    return err;
}

void sts_rng_free(struct sts_rng *rng)
{
    if (!rng)
        return;
    EVP_CIPHER_CTX_free(rng->ctx);
    OPENSSL_cleanse(rng, sizeof(*rng));
    free(rng);
}

enum sts_err sts_rng_bytes(struct sts_rng *rng, uint8_t *buf, size_t len)
{
    enum sts_err err;

    while (len > 0) {
        if (rng->pos == RNG_BUF && (err = rng_refill(rng)) != STS_OK)
            return err;
        size_t n = RNG_BUF - rng->pos;
        if (n > len)
            n = len;
        memcpy(buf, rng->buf + rng->pos, n);
        rng->pos += n;
        buf += n;
        len -= n;
    }
    return STS_OK;
}

static enum sts_err rng_u64(struct sts_rng *rng, uint64_t *out)
{
    uint8_t b[8];
    enum sts_err err = sts_rng_bytes(rng, b, sizeof(b));
    uint64_t v = 0;

    if (err != STS_OK)
        return err;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    *out = v;
    return STS_OK;
}

/* All ones from the highest set bit of v down. */
static u128 mask_of(u128 v)
{
    v |= v >> 1;
    v |= v >> 2;
    v |= v >> 4;
    v |= v >> 8;
    v |= v >> 16;
    v |= v >> 32;
    v |= v >> 64;
    return v;
}

/* sample_uniform: *out uniform in [0, n), n >= 1, by masked rejection. */
static enum sts_err uniform(struct sts_rng *rng, u128 n, u128 *out)
{
    u128 mask = mask_of(n - 1);
    enum sts_err err;

    if (n == 1) {
        *out = 0;
        return STS_OK;
    }
    for (int round = 0; round < STS_DGAUSS_LOOP_CAP; round++) {
        uint64_t lo, hi = 0;
        if ((err = rng_u64(rng, &lo)) != STS_OK)
            return err;
        if ((mask >> 64) != 0 && (err = rng_u64(rng, &hi)) != STS_OK)
            return err;
        u128 v = (((u128)hi << 64) | lo) & mask;
        if (v < n) {
            *out = v;
            return STS_OK;
        }
    }
    return STS_ETOOBIG;
}

enum sts_err sts_rng_uniform(struct sts_rng *rng, uint64_t n, uint64_t *out)
{
    u128 v;
    enum sts_err err;

    if (n == 0)
        return STS_EINVAL;
    if ((err = uniform(rng, n, &v)) != STS_OK)
        return err;
    *out = (uint64_t)v;
    return STS_OK;
}

/* *out = a * b, or false when it does not fit. */
static bool mul128(u128 a, u128 b, u128 *out)
{
    if (a != 0 && b > (~(u128)0) / a)
        return false;
    *out = a * b;
    return true;
}

/* sample_bernoulli: *out = 1 with probability num/den, 0 <= num <= den. */
static enum sts_err bernoulli(struct sts_rng *rng, u128 num, u128 den, bool *out)
{
    u128 m;
    enum sts_err err = uniform(rng, den, &m);

    if (err == STS_OK)
        *out = m < num;
    return err;
}

/* sample_bernoulli_exp1: Bernoulli(exp(-x)), x = num/den in [0, 1]. K is the
 * first k with Bernoulli(x/k) = 0; P[K > k] = x^k / k!, and K odd has
 * probability sum (-x)^k / k! = exp(-x). */
static enum sts_err bernoulli_exp1(struct sts_rng *rng, u128 num, u128 den, bool *out)
{
    enum sts_err err;

    for (uint64_t k = 1; k <= STS_DGAUSS_LOOP_CAP; k++) {
        u128 kden;
        bool b;
        if (!mul128(den, k, &kden))
            return STS_ETOOBIG;
        if ((err = bernoulli(rng, num, kden, &b)) != STS_OK)
            return err;
        if (!b) {
            *out = (k % 2) == 1;
            return STS_OK;
        }
    }
    return STS_ETOOBIG;
}

/* sample_bernoulli_exp (Algorithm 1): Bernoulli(exp(-x)), x = num/den >= 0,
 * as floor-many Bernoulli(exp(-1)) then one of the fractional part. */
static enum sts_err bernoulli_exp(struct sts_rng *rng, u128 num, u128 den, bool *out)
{
    enum sts_err err;

    for (int round = 0; num > den; round++) {
        bool b;
        if (round == STS_DGAUSS_LOOP_CAP)
            return STS_ETOOBIG;
        if ((err = bernoulli_exp1(rng, 1, 1, &b)) != STS_OK)
            return err;
        if (!b) {
            *out = false;
            return STS_OK;
        }
        num -= den;
    }
    return bernoulli_exp1(rng, num, den, out);
}

enum sts_err sts_dgauss_bernoulli_exp(struct sts_rng *rng, uint64_t num, uint64_t den, bool *out)
{
    if (den == 0 || den > STS_DGAUSS_MAX || num > STS_DGAUSS_MAX)
        return STS_EINVAL;
    return bernoulli_exp(rng, num, den, out);
}

/* sample_geometric_exp_slow with x = 1: the number of Bernoulli(exp(-1))
 * successes before the first failure, geometric with P[V >= v] = e^-v. */
static enum sts_err geometric_exp1(struct sts_rng *rng, uint64_t *out)
{
    enum sts_err err;

    for (uint64_t k = 0; k < STS_DGAUSS_LOOP_CAP; k++) {
        bool b;
        if ((err = bernoulli_exp1(rng, 1, 1, &b)) != STS_OK)
            return err;
        if (!b) {
            *out = k;
            return STS_OK;
        }
    }
    return STS_ETOOBIG;
}

/* sample_geometric_exp_fast: geometric with P[G >= g] = exp(-g s / t), for
 * x = s/t > 0. U is exp(-u/t)-weighted on [0, t), V geometric(1 - e^-1),
 * so V t + U has rate 1/t and dividing by s makes it s/t. */
static enum sts_err geometric_exp_fast(struct sts_rng *rng, uint64_t s, uint64_t t, uint64_t *out)
{
    enum sts_err err;
    u128 u = 0;
    uint64_t v;
    bool b = false;

    for (int round = 0; !b; round++) {
        if (round == STS_DGAUSS_LOOP_CAP)
            return STS_ETOOBIG;
        if ((err = uniform(rng, t, &u)) != STS_OK || (err = bernoulli_exp(rng, u, t, &b)) != STS_OK)
            return err;
    }
    if ((err = geometric_exp1(rng, &v)) != STS_OK)
        return err;
    /* v < 2^16 and t <= 10^12 + 1 (the sts/dgauss.h range): no overflow. */
    *out = (v * t + (uint64_t)u) / s;
    return STS_OK;
}

/* sample_dlaplace (Algorithm 2), scale = num/den, i.e. x = 1/scale = den/num:
 * a sign and a magnitude, the pair (negative, 0) rejected so 0 is not
 * counted twice. */
static enum sts_err dlaplace(struct sts_rng *rng, uint64_t num, uint64_t den, int64_t *out)
{
    enum sts_err err;

    for (int round = 0; round < STS_DGAUSS_LOOP_CAP; round++) {
        bool negative;
        uint64_t magnitude;
        if ((err = bernoulli(rng, 1, 2, &negative)) != STS_OK ||
            (err = geometric_exp_fast(rng, den, num, &magnitude)) != STS_OK)
            return err;
        if (negative && magnitude == 0)
            continue;
        *out = negative ? -(int64_t)magnitude : (int64_t)magnitude;
        return STS_OK;
    }
    return STS_ETOOBIG;
}

enum sts_err sts_dlaplace_sample(struct sts_rng *rng, uint64_t num, uint64_t den, int64_t *out)
{
    if (num == 0 || den == 0 || num > STS_DGAUSS_MAX || den > STS_DGAUSS_MAX)
        return STS_EINVAL;
    return dlaplace(rng, num, den, out);
}

/* floorsqrt of the rational n/d: the largest a with a^2 d <= n, by doubling
 * then bisection, comparisons only. n, d <= 10^12 keep b^2 d below 2^82. */
static uint64_t floorsqrt(uint64_t n, uint64_t d)
{
    u128 a = 0, b = 1;

    while (b * b * d <= n)
        b *= 2;
    while (a + 1 < b) {
        u128 c = (a + b) / 2;
        if (c * c * d <= n)
            a = c;
        else
            b = c;
    }
    return (uint64_t)a;
}

/* sample_dgauss (Algorithm 3): a discrete Laplace candidate Y of scale
 * t = floor(sigma) + 1, kept with probability exp(-(|Y| - sigma^2/t)^2 /
 * (2 sigma^2)). With sigma^2 = N/D that exponent is A^2 / B, A = |Y| D t - N
 * and B = 2 N D t^2, both exact integers (bounds at the top of the file). */
enum sts_err sts_dgauss_sample(struct sts_rng *rng, uint64_t sigma2_num, uint64_t sigma2_den,
                               int64_t *out)
{
    const uint64_t n = sigma2_num, d = sigma2_den;
    enum sts_err err;
    uint64_t t;
    u128 b;

    if (n == 0 || d == 0 || n > STS_DGAUSS_MAX || d > STS_DGAUSS_MAX)
        return STS_EINVAL;
    t = floorsqrt(n, d) + 1;
    if (!mul128((u128)2 * n * d, (u128)t * t, &b))
        return STS_ETOOBIG;
    for (int round = 0; round < STS_DGAUSS_LOOP_CAP; round++) {
        int64_t y;
        u128 ydt, a, a2;
        bool keep;
        if ((err = dlaplace(rng, t, 1, &y)) != STS_OK)
            return err;
        if (!mul128((u128)(y < 0 ? -(uint64_t)y : (uint64_t)y), (u128)d * t, &ydt))
            return STS_ETOOBIG;
        a = ydt >= n ? ydt - n : n - ydt;
        if (!mul128(a, a, &a2))
            return STS_ETOOBIG;
        if ((err = bernoulli_exp(rng, a2, b, &keep)) != STS_OK)
            return err;
        if (keep) {
            *out = y;
            return STS_OK;
        }
    }
    return STS_ETOOBIG;
}

/* ---- Analysis only: double precision, never used to sample. ---- */

static bool sigma2_ok(double sigma2)
{
    return isfinite(sigma2) && sigma2 > 0;
}

/* normalizing_constant: sum over integers of exp(-x^2 / (2 sigma2)), by the
 * series itself for sigma2 <= 1, by Poisson summation, sqrt(2 pi sigma2) *
 * sum over integers of exp(-2 pi^2 sigma2 y^2), from 1/100 up; the mean of
 * both where both apply. Sums run from small terms to large. */
double sts_dgauss_normaliser(double sigma2)
{
    double original = 0, poisson = 0;
    bool have_original = false, have_poisson = false;

    if (!sigma2_ok(sigma2))
        return NAN;
    if (sigma2 <= 1) {
        for (int x = 1000; x > 0; x--)
            original += exp(-(double)x * x / (2.0 * sigma2));
        original = 2 * original + 1;
        have_original = true;
    }
    if (sigma2 * 100 >= 1) {
        for (int y = 1000; y > 0; y--)
            poisson += exp(-M_PI * M_PI * sigma2 * 2 * (double)y * y);
        poisson = sqrt(2 * M_PI * sigma2) * (1 + 2 * poisson);
        have_poisson = true;
    }
    if (!have_poisson)
        return original;
    if (!have_original)
        return poisson;
    return (original + poisson) / 2;
}

double sts_dgauss_pmf(double sigma2, int64_t x)
{
    if (!sigma2_ok(sigma2))
        return NAN;
    return exp(-(double)x * (double)x / (2.0 * sigma2)) / sts_dgauss_normaliser(sigma2);
}

/* variance: the series sum x^2 exp(-x^2/(2 sigma2)) / C for sigma2 <= 1; from
 * 1/100 up Lemma 20's sigma2 (1 - 4 pi^2 sigma2 Var(1 / (4 pi^2 sigma2))),
 * whose series converges fast for large sigma2. */
double sts_dgauss_variance(double sigma2)
{
    double original = 0, poisson = 0;
    bool have_original = false, have_poisson = false;

    if (!sigma2_ok(sigma2))
        return NAN;
    if (sigma2 <= 1) {
        for (int x = 1000; x > 0; x--)
            original += (double)x * x * exp(-(double)x * x / (2.0 * sigma2));
        original = 2 * original / sts_dgauss_normaliser(sigma2);
        have_original = true;
    }
    if (sigma2 * 100 >= 1) {
        for (int y = 1000; y > 0; y--)
            poisson += (double)y * y * exp(-(double)y * y * 2 * sigma2 * M_PI * M_PI);
        poisson = 2 * poisson / sts_dgauss_normaliser(1 / (4 * sigma2 * M_PI * M_PI));
        poisson = sigma2 * (1 - 4 * sigma2 * poisson * M_PI * M_PI);
        have_poisson = true;
    }
    if (!have_poisson)
        return original;
    if (!have_original)
        return poisson;
    return (original + poisson) / 2;
}

enum sts_err sts_dgauss_interval(double sigma2, double level, uint64_t *half_width)
{
    double c, covered;
    uint64_t h = 0;

    if (!sigma2_ok(sigma2) || sigma2 > INTERVAL_MAX_S2 ||
        !(level > 0 && level <= INTERVAL_MAX_LEVEL))
        return STS_EINVAL;
    c = sts_dgauss_normaliser(sigma2);
    covered = 1 / c;
    /* Terms decrease outwards; the mass beyond h is below 2 exp(-h^2 / (2
     * sigma2)) / (1 - exp(-h / sigma2)), so h reaches about sigma
     * sqrt(2 ln(2 / (1 - level))) + 1 and never 40 sigma + 40. */
    while (covered < level) {
        if (h > 40 * sqrt(sigma2) + 40)
            return STS_EINVAL;
        h++;
        covered += 2 * exp(-(double)h * (double)h / (2.0 * sigma2)) / c;
    }
    *half_width = h;
    return STS_OK;
}
