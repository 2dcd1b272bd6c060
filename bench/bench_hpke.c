/* Benchmark of the Oblivious HTTP request path: client encapsulations
 * (seals) and gateway decapsulations (opens) per second, next to raw X25519
 * derivations per second measured the way `openssl speed ecdhx25519` does
 * (one EVP_PKEY_derive on a prepared context). Usage: bench_hpke [SECONDS]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "sts/bhttp.h"
#include "sts/ohttp.h"

/* CPU time of this (single-threaded) process, the divisor `openssl speed`
 * uses by default too, so that the ratio bench/hpke.sh prints compares like
 * with like and holds on a machine busy with other work. */
static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs op until secs have passed; returns operations per second. */
static double rate(double secs, int (*op)(void *), void *arg)
{
    double start = now(), elapsed;
    unsigned long n = 0;

    do {
        for (int i = 0; i < 64; i++) {
            if (op(arg) != 0) {
                fprintf(stderr, "bench_hpke: operation failed\n");
                exit(1);
            }
        }
        n += 64;
        elapsed = now() - start;
    } while (elapsed < secs);
    return (double)n / elapsed;
}

struct x25519 {
    EVP_PKEY_CTX *ctx;
};

static int op_x25519(void *arg)
{
    struct x25519 *x = arg;
    unsigned char secret[32];
    size_t len = sizeof(secret);

    return EVP_PKEY_derive(x->ctx, secret, &len) == 1 ? 0 : 1;
}

struct ohttp {
    struct sts_ohttp_key_config cfg;
    struct sts_ohttp_gateway *gw;
    uint8_t req[256], enc[512], out[512];
    size_t req_len, enc_len;
};

static int op_seal(void *arg)
{
    struct ohttp *o = arg;
    struct sts_ohttp_client *c = NULL;
    size_t len;
    int rc;

    if (sts_ohttp_client_new(&c, &o->cfg, NULL) != STS_OK)
        return 1;
    rc =
        sts_ohttp_client_encap(c, o->req, o->req_len, NULL, o->out, sizeof(o->out), &len) != STS_OK;
    sts_ohttp_client_free(c);
    return rc;
}

static int op_open(void *arg)
{
    struct ohttp *o = arg;
    struct sts_ohttp_response_ctx *r = NULL;
    size_t len;
    int rc;

    rc = sts_ohttp_gateway_decap(o->gw, o->enc, o->enc_len, o->out, sizeof(o->out), &len, &r) !=
         STS_OK;
    sts_ohttp_response_ctx_free(r);
    return rc;
}

int main(int argc, char **argv)
{
    static const char body[] = "{\"v\":1,\"type\":\"activation\",\"report_id\":"
                               "\"0123456789abcdef0123456789abcdef\",\"imei\":\"352099001761481\"}";
    double secs = 3.0, x, s, o;
    struct ohttp oh;
    struct x25519 xx;
    struct sts_ohttp_gateway_key *key = NULL;
    struct sts_ohttp_client *c = NULL;
    struct sts_bhttp_request req;
    EVP_PKEY *a = NULL, *b = NULL;
    EVP_PKEY_CTX *kg;

    if (argc > 1) {
        char *end;

        secs = strtod(argv[1], &end);
        if (*end != '\0' || secs <= 0 || secs > 3600) {
            fprintf(stderr, "usage: bench_hpke [SECONDS]\n");
            return 2;
        }
    }

    /* Raw X25519: two key pairs, a derive context prepared once. */
    kg = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
    if (kg == NULL || EVP_PKEY_keygen_init(kg) != 1 || EVP_PKEY_keygen(kg, &a) != 1 ||
        EVP_PKEY_keygen(kg, &b) != 1)
        return 1;
    xx.ctx = EVP_PKEY_CTX_new(a, NULL);
    if (xx.ctx == NULL || EVP_PKEY_derive_init(xx.ctx) != 1 ||
        EVP_PKEY_derive_set_peer(xx.ctx, b) != 1)
        return 1;

    /* OHTTP: a gateway key, and one encapsulated request of a report. */
    memset(&oh, 0, sizeof(oh));
    memset(&req, 0, sizeof(req));
    req.method = (struct sts_bhttp_bytes){(const uint8_t *)"POST", 4};
    req.scheme = (struct sts_bhttp_bytes){(const uint8_t *)"https", 5};
    req.authority = (struct sts_bhttp_bytes){(const uint8_t *)"collector.example", 17};
    req.path = (struct sts_bhttp_bytes){(const uint8_t *)"/v1/reports", 11};
    req.content = (struct sts_bhttp_bytes){(const uint8_t *)body, sizeof(body) - 1};
    if (sts_bhttp_request_encode(&req, STS_BHTTP_TRUNCATE, oh.req, sizeof(oh.req), &oh.req_len) !=
            STS_OK ||
        sts_ohttp_gateway_key_generate(&key) != STS_OK)
        return 1;
    oh.cfg = *sts_ohttp_gateway_key_config(key);
    if (sts_ohttp_gateway_new(&oh.gw) != STS_OK ||
        sts_ohttp_gateway_add_key(oh.gw, key) != STS_OK ||
        sts_ohttp_client_new(&c, &oh.cfg, NULL) != STS_OK ||
        sts_ohttp_client_encap(c, oh.req, oh.req_len, NULL, oh.enc, sizeof(oh.enc), &oh.enc_len) !=
            STS_OK)
        return 1;
    sts_ohttp_client_free(c);

    x = rate(secs, op_x25519, &xx);
    s = rate(secs, op_seal, &oh);
    o = rate(secs, op_open, &oh);
    printf("bench_hpke: %.1f s per figure, request %zu bytes (encapsulated %zu)\n", secs,
           oh.req_len, oh.enc_len);
    printf("x25519_derive_per_s %.0f\n", x);
    printf("ohttp_seal_per_s %.0f\n", s);
    printf("ohttp_open_per_s %.0f\n", o);

    sts_ohttp_gateway_free(oh.gw);
    EVP_PKEY_CTX_free(xx.ctx);
    EVP_PKEY_CTX_free(kg);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    return 0;
}
