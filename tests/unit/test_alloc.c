/* Allocation failures in libsts (tests/unit/alloc_fail.h): the report codec,
 * Binary HTTP, HPKE and a whole Oblivious HTTP exchange, the gateway key file,
 * secret files, the pseudonymizer and the hash map, each run with its Nth
 * allocation failed for every N until it succeeds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "sts/bhttp.h"
#include "sts/date.h"
#include "sts/hashmap.h"
#include "sts/hpke.h"
#include "sts/ohttp.h"
#include "sts/pseudonym.h"
#include "sts/report.h"
#include "sts/secret.h"

static const enum sts_err nomem[] = {STS_ENOMEM};
/* OpenSSL reports its own allocation failures as failed operations. */
static const enum sts_err nomem_or_crypto[] = {STS_ENOMEM, STS_ECRYPTO};

#define LOOP(name, op, ctx, allowed)                                                               \
    alloc_fail_loop(name, op, ctx, allowed, sizeof allowed / sizeof allowed[0])

/* ---- Report codec --------------------------------------------------------- */

static const char activation[] =
    "{\"v\":1,\"type\":\"activation\",\"report_id\":\"0123456789abcdef0123456789abcdef\","
    "\"imei\":\"490154203237518\",\"brand\":\"Acme\",\"model\":\"K400\",\"sw\":\"1.2.3\","
    "\"country\":\"FR\",\"day\":\"2026-11-20\"}";

/* ctx: the reader (enum sts_report_reader). */
static enum sts_err parse_op(void *ctx)
{
    struct sts_report r;
    struct sts_field_error fe;
    enum sts_err e =
        sts_report_parse_with(activation, strlen(activation), sts_day_from_ymd(2026, 11, 20),
                              *(const enum sts_report_reader *)ctx, &r, &fe);
    if (e == STS_OK) { /* every field whole */
        char id[STS_REPORT_ID_LEN + 1];
        sts_report_id_hex(r.report_id, id);
        assert_string_equal(id, "0123456789abcdef0123456789abcdef");
        assert_string_equal(r.imei, "490154203237518");
        assert_string_equal(r.brand, "Acme");
        assert_string_equal(r.model, "K400");
        assert_string_equal(r.sw, "1.2.3");
        assert_string_equal(r.country, "FR");
        assert_int_equal(r.day, sts_day_from_ymd(2026, 11, 20));
    }
    return e;
}

struct encode_ctx {
    struct sts_report r;
    char *want; /* the encoding with nothing failing */
};

static enum sts_err encode_op(void *ctx)
{
    const struct encode_ctx *x = ctx;
    char *out = NULL;
    enum sts_err e = sts_report_encode(&x->r, &out);
    if (e == STS_OK) {
        assert_string_equal(out, x->want); /* a survived failure loses nothing */
        free(out);
    } else {
        assert_null(out);
    }
    return e;
}

/* Escapes make Jansson's lexer decode a string in a second pass. */
static const char escaped[] =
    "{\"v\":1,\"type\":\"activation\",\"report_id\":\"0123456789abcdef0123456789abcdef\","
    "\"imei\":\"490154203237518\",\"brand\":\"A\\u0063m\\u0065 \\u0045urope\","
    "\"model\":\"K\\u0034\\u0030\\u0030\",\"sw\":\"1.2.3\",\"day\":\"2026-11-20\"}";

static enum sts_err escaped_op(void *ctx)
{
    (void)ctx;
    struct sts_report r;
    struct sts_field_error fe;
    enum sts_err e =
        sts_report_parse(escaped, strlen(escaped), sts_day_from_ymd(2026, 11, 20), &r, &fe);
    if (e == STS_OK) {
        assert_string_equal(r.brand, "Acme Europe");
        assert_string_equal(r.model, "K400");
    }
    return e;
}

/* A duplicate key: the codec names it, and allocates to find its name. */
static enum sts_err duplicate_op(void *ctx)
{
    (void)ctx;
    static const char body[] = "{\"v\":1,\"v\":1}";
    struct sts_report r;
    struct sts_field_error fe;
    enum sts_err e = sts_report_parse(body, strlen(body), 0, &r, &fe);
    return e == STS_EINVAL ? STS_OK : e; /* STS_EINVAL is the right answer here */
}

static void test_report_codec(void **state)
{
    (void)state;
    struct encode_ctx x;
    struct sts_field_error fe;
    static const enum sts_report_reader jansson = STS_REPORT_READER_JANSSON,
                                        any = STS_REPORT_READER_ANY;
    assert_true(LOOP("report parse, Jansson", parse_op, (void *)&jansson, nomem) > 0);
    /* The plain report takes the fast reader, which allocates nothing. */
    assert_int_equal(LOOP("report parse", parse_op, (void *)&any, nomem), 0);
    assert_int_equal(
        sts_report_parse(activation, strlen(activation), sts_day_from_ymd(2026, 11, 20), &x.r, &fe),
        STS_OK);
    assert_int_equal(sts_report_encode(&x.r, &x.want), STS_OK);
    assert_true(LOOP("report encode", encode_op, &x, nomem) > 0);
    free(x.want);
    LOOP("report parse, duplicate key", duplicate_op, NULL, nomem);
    assert_true(LOOP("report parse, escapes", escaped_op, NULL, nomem) > 0);
}

/* ---- Binary HTTP ---------------------------------------------------------- */

struct bhttp_ctx {
    uint8_t msg[512];
    size_t len;
};

static enum sts_err bhttp_op(void *ctx)
{
    struct bhttp_ctx *b = ctx;
    struct sts_bhttp_request req;
    enum sts_err e = sts_bhttp_request_decode(&req, b->msg, b->len, NULL);
    if (e == STS_OK) {
        assert_int_equal(req.headers.n, 2);
        sts_bhttp_request_cleanup(&req);
    } else {
        assert_int_equal(req.headers.n, 0); /* left empty: nothing to clean up */
        assert_null(req.headers.v);
    }
    return e;
}

static void test_bhttp(void **state)
{
    (void)state;
    struct bhttp_ctx b;
    struct sts_bhttp_field h[2] = {
        {{(const uint8_t *)"content-type", 12}, {(const uint8_t *)"application/json", 16}},
        {{(const uint8_t *)"x-a", 3}, {(const uint8_t *)"b", 1}},
    };
    struct sts_bhttp_field t[1] = {{{(const uint8_t *)"x-t", 3}, {(const uint8_t *)"1", 1}}};
    struct sts_bhttp_request req = {
        .method = {(const uint8_t *)"POST", 4},
        .scheme = {(const uint8_t *)"https", 5},
        .authority = {(const uint8_t *)"collector.example", 17},
        .path = {(const uint8_t *)"/v1/reports", 11},
        .headers = {h, 2},
        .content = {(const uint8_t *)activation, sizeof activation - 1},
        .trailers = {t, 1},
    };
    assert_int_equal(sts_bhttp_request_encode(&req, 0, b.msg, sizeof b.msg, &b.len), STS_OK);
    assert_true(LOOP("bhttp request decode", bhttp_op, &b, nomem) > 0);
}

/* ---- HPKE and Oblivious HTTP ---------------------------------------------- */

static enum sts_err hpke_key_op(void *ctx)
{
    (void)ctx;
    struct sts_hpke_key *k = NULL;
    enum sts_err e = sts_hpke_key_generate(&k);
    if (e != STS_OK)
        assert_null(k);
    sts_hpke_key_free(k);
    return e;
}

static enum sts_err gateway_key_op(void *ctx)
{
    (void)ctx;
    struct sts_ohttp_gateway_key *k = NULL;
    enum sts_err e = sts_ohttp_gateway_key_generate(&k);
    if (e != STS_OK)
        assert_null(k);
    sts_ohttp_gateway_key_free(k);
    return e;
}

struct exchange {
    struct sts_ohttp_gateway *gw;
    struct sts_ohttp_key_config cfg;
    char keyfile[1024];
    size_t keyfile_len;
};

/* Client request, gateway decapsulation, gateway response, client reads it. */
static enum sts_err exchange_op(void *ctx)
{
    struct exchange *x = ctx;
    struct sts_ohttp_client *c = NULL;
    struct sts_ohttp_response_ctx *rctx = NULL;
    uint8_t enc[1024], req[1024], res_enc[1024], res[1024];
    size_t enc_len, req_len, res_enc_len, res_len;
    static const uint8_t answer[] = "\x40\xcc"; /* a known-length response, 204 */
    enum sts_err e;
    if ((e = sts_ohttp_client_new(&c, &x->cfg, NULL)) != STS_OK) {
        assert_null(c);
        return e;
    }
    if ((e = sts_ohttp_client_encap(c, (const uint8_t *)activation, sizeof activation - 1, NULL,
                                    enc, sizeof enc, &enc_len)) != STS_OK)
        goto out;
    if ((e = sts_ohttp_gateway_decap(x->gw, enc, enc_len, req, sizeof req, &req_len, &rctx)) !=
        STS_OK) {
        assert_null(rctx);
        goto out;
    }
    assert_memory_equal(req, activation, sizeof activation - 1);
    if ((e = sts_ohttp_response_encap(rctx, answer, 2, NULL, res_enc, sizeof res_enc,
                                      &res_enc_len)) != STS_OK)
        goto out;
    if ((e = sts_ohttp_client_decap(c, res_enc, res_enc_len, res, sizeof res, &res_len)) != STS_OK)
        goto out;
    assert_int_equal(res_len, 2);
    assert_memory_equal(res, answer, 2);
out:
    sts_ohttp_response_ctx_free(rctx);
    sts_ohttp_client_free(c);
    return e;
}

static enum sts_err key_load_op(void *ctx)
{
    struct exchange *x = ctx;
    struct sts_ohttp_gateway_key *k = NULL;
    enum sts_err e = sts_ohttp_gateway_key_load(&k, x->keyfile, x->keyfile_len);
    if (e != STS_OK)
        assert_null(k);
    sts_ohttp_gateway_key_free(k);
    return e;
}

static enum sts_err gateway_new_op(void *ctx)
{
    struct exchange *x = ctx;
    struct sts_ohttp_gateway *gw = NULL;
    struct sts_ohttp_gateway_key *k = NULL;
    enum sts_err e = sts_ohttp_gateway_new(&gw);
    if (e != STS_OK)
        return e;
    if ((e = sts_ohttp_gateway_key_load(&k, x->keyfile, x->keyfile_len)) == STS_OK &&
        (e = sts_ohttp_gateway_add_key(gw, k)) != STS_OK)
        sts_ohttp_gateway_key_free(k);
    sts_ohttp_gateway_free(gw);
    return e;
}

static void test_hpke_ohttp(void **state)
{
    (void)state;
    struct exchange x;
    struct sts_ohttp_gateway_key *k = NULL;
    LOOP("hpke key generate", hpke_key_op, NULL, nomem_or_crypto);
    LOOP("ohttp gateway key generate", gateway_key_op, NULL, nomem_or_crypto);

    assert_int_equal(sts_ohttp_gateway_key_generate(&k), STS_OK);
    x.cfg = *sts_ohttp_gateway_key_config(k);
    assert_int_equal(sts_ohttp_gateway_key_save(k, x.keyfile, sizeof x.keyfile, &x.keyfile_len),
                     STS_OK);
    assert_int_equal(sts_ohttp_gateway_new(&x.gw), STS_OK);
    assert_int_equal(sts_ohttp_gateway_add_key(x.gw, k), STS_OK);
    assert_true(LOOP("ohttp exchange", exchange_op, &x, nomem_or_crypto) > 0);
    assert_true(LOOP("ohttp gateway key load", key_load_op, &x, nomem_or_crypto) > 0);
    LOOP("ohttp gateway with a key", gateway_new_op, &x, nomem_or_crypto);
    sts_ohttp_gateway_free(x.gw);
}

/* ---- Secret files, pseudonyms --------------------------------------------- */

struct files {
    char dir[64], key[96], ohttp[96];
};

static enum sts_err secret_op(void *ctx)
{
    struct files *f = ctx;
    struct sts_secret *s = (struct sts_secret *)&s;
    enum sts_err e = sts_secret_file_read(f->key, 4096, &s);
    if (e != STS_OK)
        assert_null(s);
    sts_secret_free(s);
    return e;
}

static enum sts_err key_file_op(void *ctx)
{
    struct files *f = ctx;
    struct sts_key key;
    struct sts_pseudonymizer *p = NULL;
    enum sts_err e = sts_key_load(f->key, &key);
    if (e != STS_OK)
        return e;
    e = sts_pseudonymizer_new(&key, &p);
    sts_key_cleanse(&key);
    if (e != STS_OK)
        return e;
    unsigned char out[STS_PSEUDONYM_LEN];
    e = sts_pseudonymizer_compute(p, "490154203237518", out);
    sts_pseudonymizer_free(p);
    return e;
}

static enum sts_err ohttp_file_op(void *ctx)
{
    struct files *f = ctx;
    struct sts_ohttp_gateway_key *k = NULL;
    enum sts_err e = sts_ohttp_gateway_key_read_file(&k, f->ohttp);
    if (e != STS_OK)
        assert_null(k);
    sts_ohttp_gateway_key_free(k);
    return e;
}

static void test_secret_files(void **state)
{
    (void)state;
    struct files f;
    struct sts_ohttp_gateway_key *k = NULL;
    snprintf(f.dir, sizeof f.dir, "/tmp/sts-alloc-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.key, sizeof f.key, "%s/pseudonym.key", f.dir);
    snprintf(f.ohttp, sizeof f.ohttp, "%s/ohttp.key", f.dir);
    assert_int_equal(sts_key_generate(f.key), STS_OK);
    assert_int_equal(sts_ohttp_gateway_key_generate(&k), STS_OK);
    assert_int_equal(sts_ohttp_gateway_key_write_file(k, f.ohttp), STS_OK);
    sts_ohttp_gateway_key_free(k);

    assert_true(LOOP("secret file read", secret_op, &f, nomem) > 0);
    assert_true(LOOP("pseudonym key and pseudonymizer", key_file_op, &f, nomem_or_crypto) > 0);
    assert_true(LOOP("ohttp gateway key file", ohttp_file_op, &f, nomem_or_crypto) > 0);
    assert_int_equal(unlink(f.key), 0);
    assert_int_equal(unlink(f.ohttp), 0);
    assert_int_equal(rmdir(f.dir), 0);
}

/* ---- Hash map ------------------------------------------------------------- */

static enum sts_err hashmap_op(void *ctx)
{
    (void)ctx;
    struct sts_hashmap *m = NULL;
    enum sts_err e = sts_hashmap_new(sizeof(long), 0, &m);
    if (e != STS_OK) {
        assert_null(m);
        return e;
    }
    /* Enough keys to grow every array several times. */
    int i;
    for (i = 0; i < 300 && e == STS_OK; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        long *v;
        if ((e = sts_hashmap_put(m, k, (size_t)n, (void **)&v, NULL)) == STS_OK)
            *v = i;
        else
            assert_null(v);
    }
    /* Whatever was inserted before the failure is intact, nothing else. */
    size_t kept = e == STS_OK ? 300 : (size_t)i - 1;
    assert_int_equal(sts_hashmap_count(m), kept);
    for (size_t j = 0; j < kept; j++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%zu", j);
        long *v = sts_hashmap_get(m, k, (size_t)n);
        assert_non_null(v);
        assert_int_equal(*v, (long)j);
    }
    sts_hashmap_free(m);
    return e;
}

static void test_hashmap(void **state)
{
    (void)state;
    assert_true(LOOP("hash map", hashmap_op, NULL, nomem) > 0);
}

int main(void)
{
    alloc_fail_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_codec), cmocka_unit_test(test_bhttp),
        cmocka_unit_test(test_hpke_ohttp),   cmocka_unit_test(test_secret_files),
        cmocka_unit_test(test_hashmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
