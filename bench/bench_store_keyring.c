/* What key rotation costs an activation: IMEIs pseudonymized under every
 * live key (1, 2, 4) and written through store_write in batches, as the
 * collector's front door and writer do, on a fresh SQLite file each time.
 * Three workloads: new devices (looked up under every key), devices known
 * under the current key (one look-up), devices known under the oldest key
 * (found there and moved to the current one). Prints ns per activation and
 * the ratio to one key, measured in the same run.
 * usage: bench_store_keyring DIR [DEVICES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "store.h"
#include "sts/imei.h"
#include "sts/pseudonym.h"

#define BATCH 512

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void imei_of(long n, char out[32])
{
    snprintf(out, 32, "35209900%06ld", n % 1000000);
    out[14] = (char)('0' + sts_imei_check_digit(out));
    out[15] = '\0';
}

/* Writes devices [from, from + count) as activations with fresh report
 * ids; returns seconds, or -1. */
static double run(struct store *st, const struct sts_pseudonymizer *pz, long from, long count,
                  int32_t day)
{
    static struct store_record recs[BATCH];
    struct store_record *ptrs[BATCH];
    struct sts_pseudonyms ps;
    char imei[32];
    double t0 = now();
    for (long done = 0; done < count;) {
        size_t n = 0;
        for (; n < BATCH && done < count; n++, done++) {
            struct store_record *r = &recs[n];
            memset(r, 0, sizeof *r);
            r->type = STS_REPORT_ACTIVATION;
            RAND_bytes(r->report_id, sizeof r->report_id);
            imei_of(from + done, imei);
            if (sts_pseudonymizer_compute_all(pz, imei, &ps) != STS_OK)
                return -1;
            memcpy(r->pseudonym, ps.p[0], STS_PSEUDONYM_LEN);
            r->key_id = ps.key_id[0];
            r->n_old = ps.n - 1;
            for (size_t k = 1; k < ps.n; k++) {
                r->old_key_id[k - 1] = ps.key_id[k];
                memcpy(r->old_pseudonym[k - 1], ps.p[k], STS_PSEUDONYM_LEN);
            }
            r->day = day;
            snprintf(r->brand, sizeof r->brand, "acme-eu");
            snprintf(r->model, sizeof r->model, "K%ld", (from + done) % 4);
            snprintf(r->sw, sizeof r->sw, "V1");
            snprintf(r->country, sizeof r->country, "FR");
            ptrs[n] = r;
        }
        if (store_write(st, ptrs, n) != STS_OK)
            return -1;
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store_keyring DIR [DEVICES]\n");
        return 2;
    }
    long devices = argc > 2 ? strtol(argv[2], NULL, 10) : 50000;
    static const size_t nkeys[] = {1, 2, 4};
    double ref[3] = {0, 0, 0};
    printf("%5s %22s %22s %22s\n", "keys", "new ns (x 1 key)", "known ns (x 1 key)",
           "moved ns (x 1 key)");
    for (size_t k = 0; k < sizeof nkeys / sizeof nkeys[0]; k++) {
        struct sts_keyring ring = {.n = nkeys[k], .current = nkeys[k] - 1};
        struct sts_keyring oldest = {.n = 1, .current = 0};
        for (size_t i = 0; i < ring.n; i++) {
            RAND_bytes(ring.key[i].secret, STS_KEY_LEN);
            ring.key[i].id = (uint32_t)(i + 1);
        }
        oldest.key[0] = ring.key[0];
        struct sts_pseudonymizer *pz = NULL, *pz_old = NULL;
        if (sts_pseudonymizer_new_ring(&ring, &pz) != STS_OK ||
            sts_pseudonymizer_new_ring(&oldest, &pz_old) != STS_OK)
            return 1;
        char path[4096], why[256];
        snprintf(path, sizeof path, "sqlite:%s/keyring-%zu.db", argv[1], nkeys[k]);
        struct store *st;
        if (store_open(path, STORE_CREATE, &st, why, sizeof why) != STS_OK) {
            fprintf(stderr, "bench_store_keyring: %s\n", why);
            return 1;
        }
        /* new: devices [0, n); known: the same again; moved: devices
         * [n, 2n) stored under the oldest key alone, then re-activated
         * under the whole ring. */
        double t[3];
        t[0] = run(st, pz, 0, devices, 20000);
        t[1] = run(st, pz, 0, devices, 20001);
        if (run(st, pz_old, devices, devices, 20000) < 0)
            return 1;
        t[2] = run(st, pz, devices, devices, 20002);
        for (int w = 0; w < 3; w++) {
            if (t[w] < 0)
                return 1;
            t[w] = t[w] * 1e9 / (double)devices;
            if (k == 0)
                ref[w] = t[w];
        }
        printf("%5zu %14.0f (%5.2f) %14.0f (%5.2f) %14.0f (%5.2f)\n", nkeys[k], t[0], t[0] / ref[0],
               t[1], t[1] / ref[1], t[2], t[2] / ref[2]);
        fflush(stdout);
        store_close(st);
        sts_pseudonymizer_free(pz);
        sts_pseudonymizer_free(pz_old);
        sts_keyring_cleanse(&ring);
        sts_keyring_cleanse(&oldest);
    }
    return 0;
}
