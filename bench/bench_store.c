/* Measures the storage layer alone: activations with distinct random
 * pseudonyms written through store_write in batches, as the group-commit
 * writer does, durable (synchronous=FULL). Prints records/s per batch size.
 * With --fill, writes RECORDS such activations into the store at URI (created
 * if need be) and stops: the devices a database already holds when another
 * benchmark starts (bench/ingest.sh --devices).
 * usage: bench_store DIR [RECORDS] | bench_store --fill URI RECORDS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "store.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const models[] = {"K400", "K500", "P10", "P20"};
static const char *const countries[] = {"FR", "DE", "IT", "ES", ""};

/* Fills recs[0..n) with activations numbered from *done on, over 300 days. */
static void make_batch(struct store_record *recs, struct store_record **ptrs, size_t n, long *done)
{
    for (size_t i = 0; i < n; i++) {
        struct store_record *r = &recs[i];
        long k = (*done)++;
        memset(r, 0, sizeof *r);
        r->type = STS_REPORT_ACTIVATION;
        RAND_bytes(r->pseudonym, sizeof r->pseudonym);
        RAND_bytes(r->report_id, sizeof r->report_id);
        r->key_id = 1;
        r->day = 20000 + (int)(k % 300);
        snprintf(r->brand, sizeof r->brand, "acme-eu");
        snprintf(r->model, sizeof r->model, "%s", models[k % 4]);
        snprintf(r->sw, sizeof r->sw, "%s-V1%ld", models[k % 4], k % 3);
        snprintf(r->country, sizeof r->country, "%s", countries[k % 5]);
        ptrs[i] = r;
    }
}

static int fill(const char *uri, long total)
{
    enum { BATCH = 4096 };
    char why[256];
    struct store *st;
    if (store_open(uri, STORE_CREATE, &st, why, sizeof why) != STS_OK) {
        fprintf(stderr, "bench_store: %s\n", why);
        return 1;
    }
    struct store_record *recs = calloc(BATCH, sizeof *recs);
    struct store_record **ptrs = calloc(BATCH, sizeof *ptrs);
    int rc = recs && ptrs ? 0 : 1;
    long done = 0;
    while (rc == 0 && done < total) {
        size_t n = total - done < BATCH ? (size_t)(total - done) : BATCH;
        make_batch(recs, ptrs, n, &done);
        if (store_write(st, ptrs, n) != STS_OK) {
            fprintf(stderr, "bench_store: writing to %s failed\n", uri);
            rc = 1;
        }
    }
    store_close(st);
    free(recs);
    free(ptrs);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--fill") == 0) {
        char *end;
        long n = strtol(argv[3], &end, 10);
        if (*end || n <= 0) {
            fprintf(stderr, "bench_store: --fill wants a count of records > 0\n");
            return 2;
        }
        return fill(argv[2], n);
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_store DIR [RECORDS] | bench_store --fill URI RECORDS\n");
        return 2;
    }
    long total = argc > 2 ? strtol(argv[2], NULL, 10) : 200000;
    static const size_t batches[] = {1, 16, 64, 256, 1024};
    printf("%8s %12s %10s\n", "batch", "records/s", "commits/s");
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        char path[4096], why[256];
        snprintf(path, sizeof path, "sqlite:%s/bench-%zu.db", argv[1], batches[b]);
        struct store *st;
        if (store_open(path, STORE_CREATE, &st, why, sizeof why) != STS_OK) {
            fprintf(stderr, "bench_store: %s\n", why);
            return 1;
        }
        size_t n = batches[b];
        struct store_record *recs = calloc(n, sizeof *recs);
        struct store_record **ptrs = calloc(n, sizeof *ptrs);
        if (!recs || !ptrs)
            return 1;
        long done = 0, commits = 0;
        double t0 = now();
        while (done < total) {
            make_batch(recs, ptrs, n, &done);
            if (store_write(st, ptrs, n) != STS_OK)
                return 1;
            commits++;
        }
        double dt = now() - t0;
        printf("%8zu %12.0f %10.0f\n", n, done / dt, commits / dt);
        fflush(stdout);
        store_close(st);
        free(recs);
        free(ptrs);
    }
    return 0;
}
