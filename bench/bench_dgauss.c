/* Benchmark of the exact samplers of sts/dgauss.h: discrete Gaussian samples
 * per second at several sigma^2 (and discrete Laplace, Bernoulli(exp(-x)),
 * uniform draws), each as a ratio to 8-byte RAND_bytes calls per second
 * measured in the same run, the cost of just fetching 64 random bits from
 * OpenSSL's CSPRNG. The last figure is a fresh seeded stream per sample, as
 * a release deriving each cell's noise from a key would make. Usage: bench_dgauss [SECONDS per
 * figure, default 1]. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sts/dgauss.h"

/* CPU time of this single-threaded process, as bench_hpke measures: the
 * ratios then hold on a machine busy with other work. */
static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
    struct sts_rng *rng;
    uint64_t num, den;
};

/* Where results go, so the compiler keeps the work. */
static volatile int64_t sink;

static int op_rand_bytes(struct job *j)
{
    unsigned char b[8];
    (void)j;

    if (RAND_bytes(b, sizeof(b)) != 1)
        return 1;
    sink += b[0];
    return 0;
}

static int op_uniform(struct job *j)
{
    uint64_t u;

    if (sts_rng_uniform(j->rng, j->num, &u) != STS_OK)
        return 1;
    sink += (int64_t)(u & 1);
    return 0;
}

static int op_bernoulli(struct job *j)
{
    bool b;

    if (sts_dgauss_bernoulli_exp(j->rng, j->num, j->den, &b) != STS_OK)
        return 1;
    sink += b;
    return 0;
}

static int op_dlaplace(struct job *j)
{
    int64_t v;

    if (sts_dlaplace_sample(j->rng, j->num, j->den, &v) != STS_OK)
        return 1;
    sink += v;
    return 0;
}

static int op_dgauss(struct job *j)
{
    int64_t v;

    if (sts_dgauss_sample(j->rng, j->num, j->den, &v) != STS_OK)
        return 1;
    sink += v;
    return 0;
}

/* A release that derives each cell's stream from a key: a fresh seeded
 * stream, one sample, freed. */
static int op_cell(struct job *j)
{
    uint8_t seed[32] = {0};
    struct sts_rng *rng = NULL;
    int64_t v;
    enum sts_err err;

    for (int i = 0; i < 8; i++)
        seed[i] = (uint8_t)(j->num >> (8 * i));
    j->num++;
    if (sts_rng_new(&rng, seed, sizeof(seed)) != STS_OK)
        return 1;
    err = sts_dgauss_sample(rng, 121, 25, &v);
    sts_rng_free(rng);
    sink += v;
    return err != STS_OK;
}

/* Runs op until secs of CPU time have passed; returns operations per second. */
static double rate(double secs, int (*op)(struct job *), struct job *j)
{
    double start = now(), elapsed;
    unsigned long n = 0;

    do {
        for (int i = 0; i < 256; i++) {
            if (op(j) != 0) {
                fprintf(stderr, "bench_dgauss: operation failed\n");
                exit(1);
            }
        }
        n += 256;
        elapsed = now() - start;
    } while (elapsed < secs);
    return (double)n / elapsed;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*op)(struct job *);
        uint64_t num, den;
    } cases[] = {
        {"sts_rng_uniform(10)", op_uniform, 10, 1},
        {"bernoulli_exp(1/3)", op_bernoulli, 1, 3},
        {"dlaplace(10)", op_dlaplace, 10, 1},
        {"dgauss sigma^2=1/2", op_dgauss, 1, 2},
        {"dgauss sigma^2=4.84", op_dgauss, 121, 25},
        {"dgauss sigma^2=100", op_dgauss, 100, 1},
        {"dgauss sigma^2=10^4", op_dgauss, 10000, 1},
        {"dgauss sigma^2=10^9/7", op_dgauss, 1000000000, 7},
        {"dgauss sigma^2=10^12", op_dgauss, 1000000000000ULL, 1},
        {"new stream + dgauss 4.84", op_cell, 0, 1},
    };
    double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    struct job j = {0};
    uint8_t seed[32] = "bench_dgauss";

    if (!(secs > 0 && secs < 3600)) {
        fprintf(stderr, "usage: bench_dgauss [SECONDS]\n");
        return 2;
    }
    if (sts_rng_new(&j.rng, seed, sizeof(seed)) != STS_OK) {
        fprintf(stderr, "bench_dgauss: sts_rng_new failed\n");
        return 1;
    }
    double ref = rate(secs, op_rand_bytes, &j);
    printf("%-26s %14s %10s\n", "operation", "per second", "ratio");
    printf("%-26s %14.0f %10.3f  (reference)\n", "RAND_bytes(8 bytes)", ref, 1.0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        j.num = cases[i].num;
        j.den = cases[i].den;
        double r = rate(secs, cases[i].op, &j);
        printf("%-26s %14.0f %10.3f\n", cases[i].name, r, r / ref);
    }
    sts_rng_free(j.rng);
    return 0;
}
