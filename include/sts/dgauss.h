/* Exact discrete Gaussian noise for the differentially private release: a
 * ChaCha20 stream (struct sts_rng) and, drawn from it with integer arithmetic
 * only, Bernoulli(exp(-gamma)), the discrete Laplace and the discrete Gaussian
 * N_Z(0, sigma^2) of Canonne, Kamath and Steinke, "The Discrete Gaussian for
 * Differential Privacy" (NeurIPS 2020), Algorithms 1-3. The floating-point
 * helpers at the end are for analysis (variance, intervals), never sampling.
 *
 * Ownership: sts_rng_new returns a stream the caller owns and frees with
 * sts_rng_free; every other function borrows its arguments. A stream is not
 * thread-safe: use one per thread (or per released cell).
 *
 * Supported parameters: every rational (sigma^2, gamma, the Laplace scale) is
 * num/den with 1 <= num, den <= STS_DGAUSS_MAX (10^12); so sigma^2 ranges over
 * [10^-12, 10^12], e.g. 121/25 for 4.84. Within that range no intermediate
 * can overflow (lib/dgauss.c gives the bounds and also checks them).
 *
 * Loop caps: each loop of the algorithms stops after STS_DGAUSS_LOOP_CAP
 * rounds with STS_ETOOBIG. Each round continues with probability at most
 * 1 - 1/e (or 1/k for the series of Algorithm 1), so a cap is reached with
 * probability below 10^-13000 per call: the samples are exact in any
 * physical sense, and a call never runs unbounded even on a broken stream. */
#ifndef STS_DGAUSS_H
#define STS_DGAUSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

#define STS_DGAUSS_MAX      1000000000000ULL /* largest numerator or denominator */
#define STS_DGAUSS_LOOP_CAP 65536            /* rounds of any one loop */
#define STS_RNG_SEED_MIN    16               /* shortest seed accepted, bytes */

/* A stream of uniform bytes: the ChaCha20 keystream (OpenSSL EVP_chacha20)
 * under the key SHA-256("sts-rng v1" || seed), in segments of 4 GiB: segment
 * s starts at the 16-byte IV (32-bit block counter 0, s as 64 bits little-
 * endian, 32 zero bits). A segment uses 2^26 blocks, so segments never
 * overlap whether OpenSSL carries its block counter into the next word or
 * not. */
struct sts_rng;

/* Creates a stream. seed NULL: the key is 32 bytes from getrandom(2) (the
 * kernel CSPRNG), for noise nobody can re-derive. Otherwise the stream is a
 * pure function of the seed_len bytes at seed, so that tests are repeatable
 * and a release can derive each cell's noise from a secret key and the cell
 * (the seed is then as secret as that key). seed_len must be at least
 * STS_RNG_SEED_MIN. The seed is copied and wiped; *out is owned by the caller.
 * Errors: STS_EINVAL (seed too short), STS_ENOMEM, STS_ECRYPTO (getrandom or
 * OpenSSL failed). */
enum sts_err sts_rng_new(struct sts_rng **out, const uint8_t *seed, size_t seed_len);

/* Wipes and frees rng; NULL does nothing. */
void sts_rng_free(struct sts_rng *rng);

/* Fills buf with the next len bytes of the stream. Errors: STS_ECRYPTO. */
enum sts_err sts_rng_bytes(struct sts_rng *rng, uint8_t *buf, size_t len);

/* *out uniform in [0, n), without modulo bias: 64-bit draws masked to the
 * bit length of n - 1 and rejected when >= n (n == 1 draws nothing).
 * Errors: STS_EINVAL (n == 0), STS_ECRYPTO, STS_ETOOBIG (loop cap). */
enum sts_err sts_rng_uniform(struct sts_rng *rng, uint64_t n, uint64_t *out);

/* *out = 1 with probability exp(-num/den), exactly (Algorithm 1; gamma >= 0,
 * num may be 0). Errors: STS_EINVAL (den == 0, or num or den above
 * STS_DGAUSS_MAX), STS_ECRYPTO, STS_ETOOBIG (loop cap). */
enum sts_err sts_dgauss_bernoulli_exp(struct sts_rng *rng, uint64_t num, uint64_t den, bool *out);

/* *out drawn from the discrete Laplace with scale s = num/den (Algorithm 2):
 * P[x] = exp(-|x|/s) (e^{1/s} - 1) / (e^{1/s} + 1) for every integer x.
 * Errors: STS_EINVAL (num or den 0 or above STS_DGAUSS_MAX), STS_ECRYPTO,
 * STS_ETOOBIG (loop cap). */
enum sts_err sts_dlaplace_sample(struct sts_rng *rng, uint64_t num, uint64_t den, int64_t *out);

/* *out drawn from the discrete Gaussian N_Z(0, sigma^2), sigma^2 =
 * sigma2_num / sigma2_den (Algorithm 3): P[x] = exp(-x^2 / (2 sigma^2)) / C
 * for every integer x, C = sum over all integers y of exp(-y^2 / (2 sigma^2)).
 * Errors: STS_EINVAL (num or den 0 or above STS_DGAUSS_MAX), STS_ECRYPTO,
 * STS_ETOOBIG (loop cap). */
enum sts_err sts_dgauss_sample(struct sts_rng *rng, uint64_t sigma2_num, uint64_t sigma2_den,
                               int64_t *out);

/* Analysis only (double precision, relative error about 1e-15): the
 * normaliser C above, by the direct series for sigma2 <= 1 and by Poisson
 * summation above (the reference implementation's normalizing_constant).
 * sigma2 must be positive and finite, else NaN. */
double sts_dgauss_normaliser(double sigma2);

/* Analysis only: P[Z = x] for Z ~ N_Z(0, sigma2); NaN for a bad sigma2. */
double sts_dgauss_pmf(double sigma2, int64_t x);

/* Analysis only: the variance of N_Z(0, sigma2), a little below sigma2 (the
 * reference implementation's variance, Lemma 20 of the paper above 1/100);
 * NaN for a bad sigma2. */
double sts_dgauss_variance(double sigma2);

/* Analysis only: *half_width = the smallest integer h >= 0 with
 * P[|Z| <= h] >= level for Z ~ N_Z(0, sigma2), from the pmf summed outwards
 * from 0, so that [v - h, v + h] around a noisy value v covers the true value
 * with probability at least level (up to the sum's rounding, about 1e-12).
 * Errors: STS_EINVAL (sigma2 not positive and finite, or above 10^12; level
 * not in (0, 0.999999]). */
enum sts_err sts_dgauss_interval(double sigma2, double level, uint64_t *half_width);

#endif
