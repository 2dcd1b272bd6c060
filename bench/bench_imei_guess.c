/* Why the pseudonym is keyed: an IMEI is a TAC (8 digits, public per
 * model) and a 6-digit serial with a check digit, so one TAC has 10^6
 * IMEIs. With the key, every pseudonym of a TAC is computed in the time
 * printed here, and a stolen database is re-identified TAC by TAC; without
 * it the HMAC gives nothing to try. The reference, measured in the same run,
 * is an unkeyed SHA-256 of the IMEI (what a plain hash would cost the
 * attacker: no more). usage: bench_imei_guess [SERIALS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sts/imei.h"
#include "sts/pseudonym.h"

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

int main(int argc, char **argv)
{
    long serials = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    struct sts_key key = {.id = 1};
    struct sts_pseudonymizer *pz = NULL;
    unsigned char out[STS_PSEUDONYM_LEN], acc = 0;
    char imei[32];
    RAND_bytes(key.secret, sizeof key.secret);
    if (serials < 1 || sts_pseudonymizer_new(&key, &pz) != STS_OK)
        return 1;
    double t0 = now();
    for (long s = 0; s < serials; s++) {
        imei_of(s, imei);
        unsigned int len = 0;
        if (!EVP_Digest(imei, 15, out, &len, EVP_sha256(), NULL))
            return 1;
        acc ^= out[0];
    }
    double sha = now() - t0;
    t0 = now();
    for (long s = 0; s < serials; s++) {
        imei_of(s, imei);
        if (sts_pseudonymizer_compute(pz, imei, out) != STS_OK)
            return 1;
        acc ^= out[0];
    }
    double hmac = now() - t0;
    sts_pseudonymizer_free(pz);
    sts_key_cleanse(&key);
    printf("serials tried: %ld (one TAC has 10^6)\n"
           "unkeyed SHA-256 (reference): %.0f ns each, %.2f s per TAC\n"
           "HMAC-SHA256 with the key:    %.0f ns each, %.2f s per TAC (x %.2f the reference)\n"
           "without the key: no pseudonym can be computed at all (256-bit secret)\n"
           "(checksum %u)\n",
           serials, sha * 1e9 / serials, sha * 1e6 / serials, hmac * 1e9 / serials,
           hmac * 1e6 / serials, hmac / sha, acc);
    return 0;
}
