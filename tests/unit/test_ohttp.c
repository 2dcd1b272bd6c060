/* Unit tests of Oblivious HTTP: RFC 9458 Appendix A reproduced byte for byte
 * (every intermediate value too), then key configurations, the gateway's key
 * rotation and error classes, tampering, truncation and the key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sts/ohttp.h"

/* ---- Vector file: "name:" then hex lines ------------------------------------ */

static size_t load_hex(const char *name, uint8_t *out, size_t cap)
{
    const char *dir = getenv("STS_VECTORS");
    char path[1024], line[256], want[64];
    int in_entry = 0;
    size_t n = 0;
    FILE *f;

    assert_non_null(dir);
    assert_true(snprintf(path, sizeof(path), "%s/rfc9458_appendix_a.txt", dir) < (int)sizeof(path));
    assert_true(snprintf(want, sizeof(want), "%s:", name) < (int)sizeof(want));
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = line;

        if (line[0] != ' ') {
            if (in_entry)
                break;
            continue;
        }
        while (*s == ' ')
            s++;
        if (strchr(s, ':') != NULL) {
            if (in_entry)
                break;
            in_entry = strncmp(s, want, strlen(want)) == 0 && s[strlen(want)] == '\n';
            continue;
        }
        if (!in_entry)
            continue;
        for (; *s != '\0' && *s != '\n'; s += 2) {
            unsigned int b;

            assert_true(n < cap);
            assert_int_equal(sscanf(s, "%2x", &b), 1);
            out[n++] = (uint8_t)b;
        }
    }
    fclose(f);
    assert_true(n > 0);
    return n;
}

/* The RFC 9458 example, loaded once per test. */
struct example {
    uint8_t server_sk[32], key_config[64], request[64], eph_sk[32], eph_pk[32], info[64];
    uint8_t enc_request[128], response[8], export_secret[16], salt[64], prk[32];
    uint8_t aead_key[16], aead_nonce[12], response_nonce[16], enc_response[64];
    size_t key_config_len, request_len, info_len, enc_request_len, response_len, salt_len;
    size_t enc_response_len;
};

static void load_example(struct example *x)
{
    assert_int_equal(load_hex("server_sk", x->server_sk, 32), 32);
    x->key_config_len = load_hex("key_config", x->key_config, sizeof(x->key_config));
    x->request_len = load_hex("request", x->request, sizeof(x->request));
    assert_int_equal(load_hex("ephemeral_sk", x->eph_sk, 32), 32);
    assert_int_equal(load_hex("ephemeral_pk", x->eph_pk, 32), 32);
    x->info_len = load_hex("info", x->info, sizeof(x->info));
    x->enc_request_len = load_hex("enc_request", x->enc_request, sizeof(x->enc_request));
    x->response_len = load_hex("response", x->response, sizeof(x->response));
    assert_int_equal(load_hex("export_secret", x->export_secret, 16), 16);
    x->salt_len = load_hex("salt", x->salt, sizeof(x->salt));
    assert_int_equal(load_hex("prk", x->prk, 32), 32);
    assert_int_equal(load_hex("aead_key", x->aead_key, 16), 16);
    assert_int_equal(load_hex("aead_nonce", x->aead_nonce, 12), 12);
    assert_int_equal(load_hex("response_nonce", x->response_nonce, 16), 16);
    x->enc_response_len = load_hex("enc_response", x->enc_response, sizeof(x->enc_response));
}

static const struct sts_ohttp_suite aes = {STS_HPKE_KDF_HKDF_SHA256, STS_HPKE_AEAD_AES_128_GCM};
static const struct sts_ohttp_suite chacha = {STS_HPKE_KDF_HKDF_SHA256,
                                              STS_HPKE_AEAD_CHACHA20_POLY1305};

/* A gateway holding the example's key. */
static struct sts_ohttp_gateway *example_gateway(const struct example *x)
{
    struct sts_ohttp_key_config cfg;
    struct sts_ohttp_gateway_key *key = NULL;
    struct sts_ohttp_gateway *gw = NULL;

    assert_int_equal(sts_ohttp_key_config_decode(&cfg, x->key_config, x->key_config_len), STS_OK);
    assert_int_equal(sts_ohttp_gateway_key_new(&key, &cfg, x->server_sk), STS_OK);
    assert_int_equal(sts_ohttp_gateway_new(&gw), STS_OK);
    assert_int_equal(sts_ohttp_gateway_add_key(gw, key), STS_OK);
    return gw;
}

/* ---- RFC 9458 Appendix A ----------------------------------------------------- */

static void test_rfc9458_key_config(void **state)
{
    (void)state;
    struct example x;
    struct sts_ohttp_key_config cfg;
    struct sts_hpke_key *sk = NULL;
    uint8_t out[128], pk[32];
    size_t len;

    (void)state;
    load_example(&x);
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, x.key_config, x.key_config_len), STS_OK);
    assert_int_equal(cfg.key_id, 1);
    assert_int_equal(cfg.kem_id, STS_HPKE_KEM_X25519_SHA256);
    assert_int_equal(cfg.n_suites, 2);
    assert_int_equal(cfg.suites[0].kdf_id, 1);
    assert_int_equal(cfg.suites[0].aead_id, 1);
    assert_int_equal(cfg.suites[1].kdf_id, 1);
    assert_int_equal(cfg.suites[1].aead_id, 3);
    /* The public key in the configuration is the server key's. */
    assert_int_equal(sts_hpke_key_from_private(&sk, x.server_sk), STS_OK);
    sts_hpke_key_public(sk, pk);
    assert_memory_equal(pk, cfg.public_key, 32);
    sts_hpke_key_free(sk);
    assert_int_equal(sts_ohttp_key_config_encode(&cfg, out, sizeof(out), &len), STS_OK);
    assert_int_equal(len, x.key_config_len);
    assert_memory_equal(out, x.key_config, len);
    /* As application/ohttp-keys: a 2-byte length, then the same bytes. */
    assert_int_equal(sts_ohttp_keys_encode(&cfg, 1, out, sizeof(out), &len), STS_OK);
    assert_int_equal(len, 2 + x.key_config_len);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], x.key_config_len);
    assert_memory_equal(out + 2, x.key_config, x.key_config_len);
}

static void test_rfc9458_request_and_response(void **state)
{
    (void)state;
    struct example x;
    struct sts_ohttp_key_config cfg;
    struct sts_ohttp_client *client = NULL;
    struct sts_ohttp_gateway *gw;
    struct sts_ohttp_response_ctx *rctx = NULL;
    struct sts_hpke_key *eph = NULL;
    uint8_t out[256], req[256], pk[32];
    size_t len, req_len;

    (void)state;
    load_example(&x);
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, x.key_config, x.key_config_len), STS_OK);
    assert_int_equal(sts_hpke_key_from_private(&eph, x.eph_sk), STS_OK);
    sts_hpke_key_public(eph, pk);
    assert_memory_equal(pk, x.eph_pk, 32);

    /* Client: the Encapsulated Request, byte for byte. */
    assert_int_equal(sts_ohttp_client_new(&client, &cfg, &aes), STS_OK);
    assert_int_equal(
        sts_ohttp_client_encap(client, x.request, x.request_len, eph, out, sizeof(out), &len),
        STS_OK);
    assert_int_equal(len, x.enc_request_len);
    assert_memory_equal(out, x.enc_request, len);
    /* Only once per client. */
    assert_int_equal(
        sts_ohttp_client_encap(client, x.request, x.request_len, eph, out, sizeof(out), &len),
        STS_EINVAL);

    /* Gateway: decapsulates, then the Encapsulated Response with the given
     * nonce, byte for byte. */
    gw = example_gateway(&x);
    assert_int_equal(sts_ohttp_gateway_decap(gw, x.enc_request, x.enc_request_len, req, sizeof(req),
                                             &req_len, &rctx),
                     STS_OK);
    assert_int_equal(req_len, x.request_len);
    assert_memory_equal(req, x.request, req_len);
    assert_int_equal(sts_ohttp_response_encap(rctx, x.response, x.response_len, x.response_nonce,
                                              out, sizeof(out), &len),
                     STS_OK);
    assert_int_equal(len, x.enc_response_len);
    assert_memory_equal(out, x.enc_response, len);

    /* Client: opens it. */
    assert_int_equal(sts_ohttp_client_decap(client, x.enc_response, x.enc_response_len, req,
                                            sizeof(req), &req_len),
                     STS_OK);
    assert_int_equal(req_len, x.response_len);
    assert_memory_equal(req, x.response, req_len);

    sts_ohttp_response_ctx_free(rctx);
    sts_ohttp_gateway_free(gw);
    sts_ohttp_client_free(client);
    sts_hpke_key_free(eph);
}

/* The intermediate values of the example, through the HPKE API directly. */
static void test_rfc9458_intermediates(void **state)
{
    (void)state;
    static const struct sts_hpke_suite suite = {
        STS_HPKE_KEM_X25519_SHA256, STS_HPKE_KDF_HKDF_SHA256, STS_HPKE_AEAD_AES_128_GCM};
    struct example x;
    struct sts_hpke_key *sk = NULL;
    struct sts_hpke_ctx *ctx = NULL;
    uint8_t secret[16], prk[32], key[16], nonce[12];

    (void)state;
    load_example(&x);
    /* info = "message/bhttp request" || 0x00 || hdr, hdr = enc_request[0..7) */
    assert_int_equal(x.info_len, 21 + 1 + 7);
    assert_memory_equal(x.info, "message/bhttp request", 21);
    assert_int_equal(x.info[21], 0);
    assert_memory_equal(x.info + 22, x.enc_request, 7);
    /* salt = enc || response_nonce */
    assert_int_equal(x.salt_len, 32 + 16);
    assert_memory_equal(x.salt, x.eph_pk, 32);
    assert_memory_equal(x.salt + 32, x.response_nonce, 16);

    assert_int_equal(sts_hpke_key_from_private(&sk, x.server_sk), STS_OK);
    assert_int_equal(sts_hpke_ctx_new(&ctx, &suite), STS_OK);
    assert_int_equal(sts_hpke_setup_base_r(ctx, x.eph_pk, sk, x.info, x.info_len), STS_OK);
    assert_int_equal(
        sts_hpke_export(ctx, (const uint8_t *)"message/bhttp response", 22, secret, sizeof(secret)),
        STS_OK);
    assert_memory_equal(secret, x.export_secret, 16);
    assert_int_equal(sts_hpke_kdf_extract(STS_HPKE_KDF_HKDF_SHA256, x.salt, x.salt_len, secret,
                                          sizeof(secret), prk),
                     STS_OK);
    assert_memory_equal(prk, x.prk, 32);
    assert_int_equal(
        sts_hpke_kdf_expand(STS_HPKE_KDF_HKDF_SHA256, prk, 32, (const uint8_t *)"key", 3, key, 16),
        STS_OK);
    assert_memory_equal(key, x.aead_key, 16);
    assert_int_equal(sts_hpke_kdf_expand(STS_HPKE_KDF_HKDF_SHA256, prk, 32,
                                         (const uint8_t *)"nonce", 5, nonce, 12),
                     STS_OK);
    assert_memory_equal(nonce, x.aead_nonce, 12);
    sts_hpke_ctx_free(ctx);
    sts_hpke_key_free(sk);
}

/* ---- Gateway error classes ----------------------------------------------------- */

static enum sts_err decap(const struct sts_ohttp_gateway *gw, const uint8_t *m, size_t len)
{
    struct sts_ohttp_response_ctx *rctx = NULL;
    uint8_t out[256];
    size_t out_len;
    enum sts_err rc = sts_ohttp_gateway_decap(gw, m, len, out, sizeof(out), &out_len, &rctx);

    if (rc != STS_OK)
        assert_null(rctx);
    sts_ohttp_response_ctx_free(rctx);
    return rc;
}

static void test_gateway_errors(void **state)
{
    (void)state;
    struct example x;
    struct sts_ohttp_gateway *gw;
    struct sts_ohttp_response_ctx *rctx = NULL;
    uint8_t m[256], out[256];
    size_t out_len;

    (void)state;
    load_example(&x);
    gw = example_gateway(&x);
    assert_int_equal(decap(gw, x.enc_request, x.enc_request_len), STS_OK);

    /* Unknown key id, and a known id with another KEM: STS_ENOENT. */
    memcpy(m, x.enc_request, x.enc_request_len);
    m[0] = 0x02;
    assert_int_equal(decap(gw, m, x.enc_request_len), STS_ENOENT);
    m[0] = 0x01;
    m[2] = 0x21; /* kem 0x0021 */
    assert_int_equal(decap(gw, m, x.enc_request_len), STS_ENOENT);
    m[2] = 0x20;
    /* AEAD not offered (AES-256-GCM) or not implemented: STS_EUNSUPPORTED. */
    m[6] = 0x02;
    assert_int_equal(decap(gw, m, x.enc_request_len), STS_EUNSUPPORTED);
    m[6] = 0x01;
    m[4] = 0x02; /* HKDF-SHA384 */
    assert_int_equal(decap(gw, m, x.enc_request_len), STS_EUNSUPPORTED);
    m[4] = 0x01;
    /* Same header but ChaCha20-Poly1305 (offered): the ciphertext was made
     * under another info and AEAD, so it fails to open. */
    m[6] = 0x03;
    assert_int_equal(decap(gw, m, x.enc_request_len), STS_ECRYPTO);
    m[6] = 0x01;

    /* Tampering anywhere after the header: STS_ECRYPTO. */
    for (size_t i = STS_OHTTP_HEADER_LEN; i < x.enc_request_len; i += 7) {
        m[i] ^= 0x04;
        assert_int_equal(decap(gw, m, x.enc_request_len), STS_ECRYPTO);
        m[i] ^= 0x04;
    }
    /* Every truncation: malformed until enc and a tag fit, then bad
     * encapsulation. */
    for (size_t len = 0; len < x.enc_request_len; len++)
        assert_int_equal(decap(gw, m, len),
                         len < STS_OHTTP_REQUEST_OVERHEAD ? STS_EINVAL : STS_ECRYPTO);
    /* Appended garbage changes the ciphertext. */
    m[x.enc_request_len] = 0;
    assert_int_equal(decap(gw, m, x.enc_request_len + 1), STS_ECRYPTO);
    /* Oversize input and too small an output buffer: STS_ETOOBIG. */
    assert_int_equal(decap(gw, m, STS_OHTTP_MAX_MESSAGE + STS_OHTTP_REQUEST_OVERHEAD + 1),
                     STS_ETOOBIG);
    assert_int_equal(
        sts_ohttp_gateway_decap(gw, m, x.enc_request_len, out, x.request_len - 1, &out_len, &rctx),
        STS_ETOOBIG);
    assert_null(rctx);
    sts_ohttp_gateway_free(gw);
}

static void test_response_errors(void **state)
{
    (void)state;
    struct example x;
    struct sts_ohttp_key_config cfg;
    struct sts_ohttp_client *client = NULL;
    struct sts_hpke_key *eph = NULL;
    uint8_t out[256], res[64], bad[64];
    size_t len;

    (void)state;
    load_example(&x);
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, x.key_config, x.key_config_len), STS_OK);
    assert_int_equal(sts_hpke_key_from_private(&eph, x.eph_sk), STS_OK);
    assert_int_equal(sts_ohttp_client_new(&client, &cfg, NULL), STS_OK); /* picks AES */
    /* Before the request, there is nothing to open. */
    assert_int_equal(
        sts_ohttp_client_decap(client, x.enc_response, x.enc_response_len, res, sizeof(res), &len),
        STS_EINVAL);
    assert_int_equal(
        sts_ohttp_client_encap(client, x.request, x.request_len, eph, out, sizeof(out), &len),
        STS_OK);
    assert_memory_equal(out, x.enc_request, len);
    for (size_t i = 0; i < x.enc_response_len; i++) {
        memcpy(bad, x.enc_response, x.enc_response_len);
        bad[i] ^= 0x10; /* nonce, ciphertext or tag */
        assert_int_equal(
            sts_ohttp_client_decap(client, bad, x.enc_response_len, res, sizeof(res), &len),
            STS_ECRYPTO);
    }
    for (size_t n = 0; n < x.enc_response_len; n++)
        assert_int_equal(sts_ohttp_client_decap(client, x.enc_response, n, res, sizeof(res), &len),
                         n < 16 + STS_HPKE_NT ? STS_EINVAL : STS_ECRYPTO);
    assert_int_equal(
        sts_ohttp_client_decap(client, x.enc_response, x.enc_response_len, res, 2, &len),
        STS_ETOOBIG);
    assert_int_equal(
        sts_ohttp_client_decap(client, x.enc_response, x.enc_response_len, res, sizeof(res), &len),
        STS_OK);
    assert_memory_equal(res, x.response, x.response_len);
    sts_ohttp_client_free(client);
    sts_hpke_key_free(eph);
}

/* ---- Key configurations ------------------------------------------------------- */

static void test_key_config_decoding(void **state)
{
    (void)state;
    struct example x;
    struct sts_ohttp_key_config cfg, list[2];
    uint8_t m[256];
    size_t n;

    (void)state;
    load_example(&x);
    /* Truncated anywhere: malformed. */
    for (size_t len = 0; len < x.key_config_len; len++)
        assert_int_equal(sts_ohttp_key_config_decode(&cfg, x.key_config, len), STS_EINVAL);
    /* Trailing byte. */
    memcpy(m, x.key_config, x.key_config_len);
    m[x.key_config_len] = 0;
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, m, x.key_config_len + 1), STS_EINVAL);
    /* Suites length 0, or not a multiple of 4. */
    m[35] = 0;
    m[36] = 0;
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, m, 37), STS_EINVAL);
    m[36] = 6;
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, m, 43), STS_EINVAL);
    /* Unknown KEM: unsupported. */
    memcpy(m, x.key_config, x.key_config_len);
    m[2] = 0x10;
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, m, x.key_config_len), STS_EUNSUPPORTED);

    /* A list with an unknown-KEM config (skipped) then the example's. */
    m[0] = 0;
    m[1] = 5;
    memcpy(m + 2, ((const uint8_t[]){7, 0x00, 0x10, 0xaa, 0xbb}), 5);
    m[7] = 0;
    m[8] = (uint8_t)x.key_config_len;
    memcpy(m + 9, x.key_config, x.key_config_len);
    assert_int_equal(sts_ohttp_keys_decode(list, 2, &n, m, 9 + x.key_config_len), STS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].key_id, 1);
    assert_memory_equal(list[0].public_key, x.key_config + 3, 32);
    /* A damaged length discards the whole list. */
    m[8]++;
    assert_int_equal(sts_ohttp_keys_decode(list, 2, &n, m, 9 + x.key_config_len), STS_EINVAL);
    m[8] -= 2;
    assert_int_equal(sts_ohttp_keys_decode(list, 2, &n, m, 9 + x.key_config_len), STS_EINVAL);
    /* Nothing usable. */
    assert_int_equal(sts_ohttp_keys_decode(list, 2, &n, m, 7), STS_EUNSUPPORTED);
    /* Empty body and zero-length entry. */
    assert_int_equal(sts_ohttp_keys_decode(list, 2, &n, m, 0), STS_EINVAL);
    assert_int_equal(sts_ohttp_keys_decode(list, 2, &n, (const uint8_t[]){0, 0}, 2), STS_EINVAL);
    /* A client refuses a suite the config does not offer. */
    {
        struct sts_ohttp_client *c = NULL;
        struct sts_ohttp_suite aes256 = {1, 2};

        assert_int_equal(sts_ohttp_key_config_decode(&cfg, x.key_config, x.key_config_len), STS_OK);
        assert_int_equal(sts_ohttp_client_new(&c, &cfg, &aes256), STS_EUNSUPPORTED);
        cfg.n_suites = 1; /* AES-128-GCM only */
        assert_int_equal(sts_ohttp_client_new(&c, &cfg, &chacha), STS_EUNSUPPORTED);
        assert_null(c);
    }
}

/* ---- Rotation, round trips ------------------------------------------------------ */

static struct sts_ohttp_gateway_key *make_key(uint8_t id)
{
    struct sts_ohttp_gateway_key *gen = NULL, *key = NULL;
    struct sts_ohttp_key_config cfg;
    char file[STS_OHTTP_KEY_FILE_MAX];
    size_t len;

    /* Generate, then change the id through the key file (the only way in). */
    assert_int_equal(sts_ohttp_gateway_key_generate(&gen), STS_OK);
    cfg = *sts_ohttp_gateway_key_config(gen);
    assert_int_equal(cfg.n_suites, 2);
    assert_int_equal(cfg.suites[0].aead_id, STS_HPKE_AEAD_AES_128_GCM);
    assert_int_equal(cfg.suites[1].aead_id, STS_HPKE_AEAD_CHACHA20_POLY1305);
    assert_int_equal(sts_ohttp_gateway_key_save(gen, file, sizeof(file), &len), STS_OK);
    /* "sts-ohttp-key 1\nconfig " then the key id in hex. */
    file[23] = "0123456789abcdef"[id >> 4];
    file[24] = "0123456789abcdef"[id & 15];
    assert_int_equal(sts_ohttp_gateway_key_load(&key, file, len), STS_OK);
    assert_int_equal(sts_ohttp_gateway_key_config(key)->key_id, id);
    sts_ohttp_gateway_key_free(gen);
    return key;
}

static void round_trip(const struct sts_ohttp_gateway *gw, const struct sts_ohttp_key_config *cfg,
                       const struct sts_ohttp_suite *suite, enum sts_err expect)
{
    static const uint8_t body[] = "{\"v\":1,\"type\":\"lifetime\"}";
    struct sts_ohttp_client *c = NULL;
    struct sts_ohttp_response_ctx *rctx = NULL;
    uint8_t enc[256], plain[256], res[256];
    size_t enc_len, plain_len, res_len;

    assert_int_equal(sts_ohttp_client_new(&c, cfg, suite), STS_OK);
    assert_int_equal(
        sts_ohttp_client_encap(c, body, sizeof(body), NULL, enc, sizeof(enc), &enc_len), STS_OK);
    assert_int_equal(enc_len, sizeof(body) + STS_OHTTP_REQUEST_OVERHEAD);
    assert_int_equal(
        sts_ohttp_gateway_decap(gw, enc, enc_len, plain, sizeof(plain), &plain_len, &rctx), expect);
    if (expect == STS_OK) {
        assert_memory_equal(plain, body, sizeof(body));
        assert_int_equal(sts_ohttp_response_encap(rctx, (const uint8_t *)"ok", 2, NULL, enc,
                                                  sizeof(enc), &enc_len),
                         STS_OK);
        assert_int_equal(sts_ohttp_client_decap(c, enc, enc_len, res, sizeof(res), &res_len),
                         STS_OK);
        assert_int_equal(res_len, 2);
        assert_memory_equal(res, "ok", 2);
    }
    sts_ohttp_response_ctx_free(rctx);
    sts_ohttp_client_free(c);
}

static void test_rotation(void **state)
{
    (void)state;
    struct sts_ohttp_gateway_key *k1 = make_key(0x11), *k2 = make_key(0x22), *k3 = make_key(0x33),
                                 *dup = make_key(0x22);
    struct sts_ohttp_key_config c1 = *sts_ohttp_gateway_key_config(k1),
                                c2 = *sts_ohttp_gateway_key_config(k2),
                                c3 = *sts_ohttp_gateway_key_config(k3), list[4];
    struct sts_ohttp_gateway *gw = NULL;
    uint8_t keys[512];
    size_t len, n;

    (void)state;
    assert_int_equal(sts_ohttp_gateway_new(&gw), STS_OK);
    assert_int_equal(sts_ohttp_gateway_keys_encode(gw, keys, sizeof(keys), &len), STS_ENOENT);
    assert_int_equal(sts_ohttp_gateway_add_key(gw, k1), STS_OK);
    assert_int_equal(sts_ohttp_gateway_add_key(gw, k2), STS_OK);
    assert_int_equal(sts_ohttp_gateway_add_key(gw, dup), STS_EEXIST);
    sts_ohttp_gateway_key_free(dup); /* not consumed on error */
    round_trip(gw, &c1, &aes, STS_OK);
    round_trip(gw, &c2, &chacha, STS_OK);
    round_trip(gw, &c3, NULL, STS_ENOENT);
    /* The third key retires the first. */
    assert_int_equal(sts_ohttp_gateway_add_key(gw, k3), STS_OK);
    round_trip(gw, &c1, NULL, STS_ENOENT);
    round_trip(gw, &c2, NULL, STS_OK);
    round_trip(gw, &c3, &chacha, STS_OK);
    /* Served newest first. */
    assert_int_equal(sts_ohttp_gateway_keys_encode(gw, keys, sizeof(keys), &len), STS_OK);
    assert_int_equal(sts_ohttp_keys_decode(list, 4, &n, keys, len), STS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].key_id, 0x33);
    assert_int_equal(list[1].key_id, 0x22);
    assert_memory_equal(list[0].public_key, c3.public_key, 32);
    assert_int_equal(sts_ohttp_gateway_remove_key(gw, 0x33), STS_OK);
    assert_int_equal(sts_ohttp_gateway_remove_key(gw, 0x33), STS_ENOENT);
    round_trip(gw, &c3, NULL, STS_ENOENT);
    round_trip(gw, &c2, &aes, STS_OK);
    sts_ohttp_gateway_free(gw);
}

/* ---- Key file -------------------------------------------------------------------- */

static void test_key_file(void **state)
{
    (void)state;
    struct example x;
    struct sts_ohttp_key_config cfg;
    struct sts_ohttp_gateway_key *key = NULL, *back = NULL;
    struct sts_ohttp_gateway *gw = NULL;
    char file[STS_OHTTP_KEY_FILE_MAX], bad[STS_OHTTP_KEY_FILE_MAX], dir[] = "/tmp/sts-ohttp-XXXXXX",
                                                                    path[64];
    size_t len;
    struct stat st;

    (void)state;
    load_example(&x);
    assert_int_equal(sts_ohttp_key_config_decode(&cfg, x.key_config, x.key_config_len), STS_OK);
    assert_int_equal(sts_ohttp_gateway_key_new(&key, &cfg, x.server_sk), STS_OK);
    assert_int_equal(sts_ohttp_gateway_key_save(key, file, 10, &len), STS_ETOOBIG);
    assert_int_equal(sts_ohttp_gateway_key_save(key, file, sizeof(file), &len), STS_OK);
    /* The documented format, exactly. */
    {
        const char *expect =
            "sts-ohttp-key 1\n"
            "config 01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e"
            "79815500080001000100010003\n"
            "private 3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a\n";

        assert_int_equal(len, strlen(expect));
        assert_memory_equal(file, expect, len);
    }
    assert_int_equal(sts_ohttp_gateway_key_load(&back, file, len), STS_OK);
    assert_int_equal(sts_ohttp_gateway_new(&gw), STS_OK);
    assert_int_equal(sts_ohttp_gateway_add_key(gw, back), STS_OK);
    back = NULL; /* the gateway owns it now */
    assert_int_equal(decap(gw, x.enc_request, x.enc_request_len), STS_OK);
    sts_ohttp_gateway_free(gw);

    /* Corruptions: truncated, trailing data, uppercase hex, wrong magic, a
     * private key that is not the configuration's. */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(sts_ohttp_gateway_key_load(&back, file, cut), STS_ECORRUPT);
    memcpy(bad, file, len);
    bad[len] = '\n';
    assert_int_equal(sts_ohttp_gateway_key_load(&back, bad, len + 1), STS_ECORRUPT);
    memcpy(bad, file, len);
    bad[len - 2] = 'A';
    assert_int_equal(sts_ohttp_gateway_key_load(&back, bad, len), STS_ECORRUPT);
    memcpy(bad, file, len);
    bad[14] = '2';
    assert_int_equal(sts_ohttp_gateway_key_load(&back, bad, len), STS_ECORRUPT);
    memcpy(bad, file, len);
    bad[len - 2] = bad[len - 2] == '0' ? '1' : '0';
    assert_int_equal(sts_ohttp_gateway_key_load(&back, bad, len), STS_ECORRUPT);
    assert_null(back);

    /* Files: 0600, no overwrite, refused when others can read it. */
    assert_non_null(mkdtemp(dir));
    assert_true(snprintf(path, sizeof(path), "%s/gateway.key", dir) < (int)sizeof(path));
    assert_int_equal(sts_ohttp_gateway_key_read_file(&back, path), STS_ENOENT);
    assert_int_equal(sts_ohttp_gateway_key_write_file(key, path), STS_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sts_ohttp_gateway_key_write_file(key, path), STS_EEXIST);
    assert_int_equal(sts_ohttp_gateway_key_read_file(&back, path), STS_OK);
    assert_memory_equal(sts_ohttp_gateway_key_config(back)->public_key, cfg.public_key, 32);
    sts_ohttp_gateway_key_free(back);
    back = NULL;
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(sts_ohttp_gateway_key_read_file(&back, path), STS_EPERM);
    assert_null(back);
    assert_int_equal(unlink(path), 0);

    /* A FIFO in the key's place is refused at once: before the key was read
     * as a secret file, opening it waited for a writer and start-up hung. */
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(sts_ohttp_gateway_key_read_file(&back, path), STS_EPERM);
    assert_null(back);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    sts_ohttp_gateway_key_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9458_key_config),
        cmocka_unit_test(test_rfc9458_request_and_response),
        cmocka_unit_test(test_rfc9458_intermediates),
        cmocka_unit_test(test_gateway_errors),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_key_config_decoding),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_key_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
