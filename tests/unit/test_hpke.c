/* Unit tests of the HPKE module: the RFC 9180 Appendix A known-answer vectors
 * (read from tests/vectors/) for base mode, then round trips and failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sts/hpke.h"

/* ---- Vector files: "name: hex" lines, hex may continue on the next lines --- */

#define MAX_ENTRIES 128
#define MAX_HEX     512

struct entry {
    char name[32];
    char text[2 * MAX_HEX + 1]; /* the value as written: hex or a decimal */
};

struct vec {
    struct entry e[MAX_ENTRIES];
    size_t n;
};

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;

    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    while (s[i] == ' ')
        i++;
    memmove(s, s + i, n - i + 1);
}

static void append(struct entry *e, const char *s)
{
    size_t have = strlen(e->text), add = strlen(s);

    assert_true(have + add < sizeof(e->text));
    memcpy(e->text + have, s, add + 1);
}

static void load(struct vec *v, const char *file)
{
    const char *dir = getenv("STS_VECTORS");
    char path[1024], line[512];
    FILE *f;

    assert_non_null(dir);
    assert_true(snprintf(path, sizeof(path), "%s/%s", dir, file) < (int)sizeof(path));
    f = fopen(path, "r");
    assert_non_null(f);
    v->n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *colon;

        /* Comments, blank lines and unindented section titles carry no data. */
        if (line[0] != ' ')
            continue;
        trim(line);
        if (line[0] == '\0')
            continue;
        colon = strchr(line, ':');
        if (colon != NULL) {
            struct entry *e;

            assert_true(v->n < MAX_ENTRIES);
            e = &v->e[v->n++];
            *colon = '\0';
            assert_true(strlen(line) < sizeof(e->name));
            memcpy(e->name, line, strlen(line) + 1);
            e->text[0] = '\0';
            trim(colon + 1);
            append(e, colon + 1);
        } else {
            assert_true(v->n > 0);
            append(&v->e[v->n - 1], line);
        }
    }
    fclose(f);
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);

    assert_int_equal(n % 2, 0);
    assert_true(n / 2 <= cap);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int b;

        assert_int_equal(sscanf(s + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n / 2;
}

/* First entry called name at or after *pos; returns its index. */
static size_t find(const struct vec *v, size_t from, const char *name)
{
    for (size_t i = from; i < v->n; i++)
        if (strcmp(v->e[i].name, name) == 0)
            return i;
    fail_msg("vector field %s missing", name);
    return 0;
}

static size_t get_hex(const struct vec *v, const char *name, uint8_t *out, size_t cap)
{
    return unhex(v->e[find(v, 0, name)].text, out, cap);
}

static long get_num(const struct vec *v, size_t i)
{
    char *end;
    long x = strtol(v->e[i].text, &end, 10);

    assert_true(*end == '\0' && end != v->e[i].text);
    return x;
}

/* ---- Known-answer tests ---------------------------------------------------- */

struct kat_counts {
    size_t encryptions, exports;
};

static void run_kat(const char *file, uint16_t aead_id, struct kat_counts *counts)
{
    struct vec *v = calloc(1, sizeof(*v));
    uint8_t info[64], ikm_e[64], ikm_r[64], pk_em[32], sk_em[32], pk_rm[32], sk_rm[32];
    uint8_t enc_expect[32], enc[32], buf[32];
    size_t info_len, ikm_e_len, ikm_r_len;
    struct sts_hpke_key *eph = NULL, *rk = NULL;
    struct sts_hpke_ctx *s = NULL, *r = NULL;
    struct sts_hpke_suite suite;

    assert_non_null(v);
    load(v, file);
    assert_int_equal(get_num(v, find(v, 0, "mode")), 0);
    suite.kem_id = (uint16_t)get_num(v, find(v, 0, "kem_id"));
    suite.kdf_id = (uint16_t)get_num(v, find(v, 0, "kdf_id"));
    suite.aead_id = (uint16_t)get_num(v, find(v, 0, "aead_id"));
    assert_int_equal(suite.kem_id, STS_HPKE_KEM_X25519_SHA256);
    assert_int_equal(suite.kdf_id, STS_HPKE_KDF_HKDF_SHA256);
    assert_int_equal(suite.aead_id, aead_id);
    info_len = get_hex(v, "info", info, sizeof(info));
    ikm_e_len = get_hex(v, "ikmE", ikm_e, sizeof(ikm_e));
    ikm_r_len = get_hex(v, "ikmR", ikm_r, sizeof(ikm_r));
    assert_int_equal(get_hex(v, "pkEm", pk_em, 32), 32);
    assert_int_equal(get_hex(v, "skEm", sk_em, 32), 32);
    assert_int_equal(get_hex(v, "pkRm", pk_rm, 32), 32);
    assert_int_equal(get_hex(v, "skRm", sk_rm, 32), 32);
    assert_int_equal(get_hex(v, "enc", enc_expect, 32), 32);

    /* DeriveKeyPair gives the listed key pairs. */
    assert_int_equal(sts_hpke_key_derive(&eph, ikm_e, ikm_e_len), STS_OK);
    assert_int_equal(sts_hpke_key_derive(&rk, ikm_r, ikm_r_len), STS_OK);
    sts_hpke_key_public(eph, buf);
    assert_memory_equal(buf, pk_em, 32);
    assert_int_equal(sts_hpke_key_private(eph, buf), STS_OK);
    assert_memory_equal(buf, sk_em, 32);
    sts_hpke_key_public(rk, buf);
    assert_memory_equal(buf, pk_rm, 32);
    assert_int_equal(sts_hpke_key_private(rk, buf), STS_OK);
    assert_memory_equal(buf, sk_rm, 32);

    assert_int_equal(sts_hpke_ctx_new(&s, &suite), STS_OK);
    assert_int_equal(sts_hpke_ctx_new(&r, &suite), STS_OK);
    assert_int_equal(sts_hpke_setup_base_s(s, enc, pk_rm, info, info_len, eph), STS_OK);
    assert_memory_equal(enc, enc_expect, 32);
    assert_int_equal(sts_hpke_setup_base_r(r, enc, rk, info, info_len), STS_OK);

    /* Encryptions: seal every sequence number up to the last one listed (the
     * counter is internal, so skipped numbers get a throw-away message) and
     * compare at the listed ones; the receiver opens every message in turn. */
    long next = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint8_t pt[128], aad[64], ct_expect[256], ct[256], out[128];
        size_t pt_len, aad_len, ct_expect_len, ct_len, out_len;
        long seq;

        if (strcmp(v->e[i].name, "sequence number") != 0)
            continue;
        seq = get_num(v, i);
        pt_len = unhex(v->e[find(v, i, "pt")].text, pt, sizeof(pt));
        aad_len = unhex(v->e[find(v, i, "aad")].text, aad, sizeof(aad));
        ct_expect_len = unhex(v->e[find(v, i, "ct")].text, ct_expect, sizeof(ct_expect));
        assert_true(seq >= next);
        for (; next < seq; next++) {
            static const uint8_t dummy[3] = {1, 2, 3};

            assert_int_equal(sts_hpke_seal(s, NULL, 0, dummy, 3, ct, sizeof(ct), &ct_len), STS_OK);
            assert_int_equal(sts_hpke_open(r, NULL, 0, ct, ct_len, out, sizeof(out), &out_len),
                             STS_OK);
            assert_int_equal(out_len, 3);
            assert_memory_equal(out, dummy, 3);
        }
        assert_int_equal(sts_hpke_seal(s, aad, aad_len, pt, pt_len, ct, sizeof(ct), &ct_len),
                         STS_OK);
        assert_int_equal(ct_len, ct_expect_len);
        assert_memory_equal(ct, ct_expect, ct_len);
        assert_int_equal(sts_hpke_open(r, aad, aad_len, ct, ct_len, out, sizeof(out), &out_len),
                         STS_OK);
        assert_int_equal(out_len, pt_len);
        assert_memory_equal(out, pt, pt_len);
        next++;
        counts->encryptions++;
    }

    /* Exported values, from both ends. */
    for (size_t i = 0; i < v->n; i++) {
        uint8_t ectx[64], expect[64], out_s[64], out_r[64];
        size_t ectx_len, expect_len;
        long L;

        if (strcmp(v->e[i].name, "exporter_context") != 0)
            continue;
        ectx_len = unhex(v->e[i].text, ectx, sizeof(ectx));
        L = get_num(v, find(v, i, "L"));
        expect_len = unhex(v->e[find(v, i, "exported_value")].text, expect, sizeof(expect));
        assert_int_equal((size_t)L, expect_len);
        assert_int_equal(sts_hpke_export(s, ectx, ectx_len, out_s, (size_t)L), STS_OK);
        assert_int_equal(sts_hpke_export(r, ectx, ectx_len, out_r, (size_t)L), STS_OK);
        assert_memory_equal(out_s, expect, expect_len);
        assert_memory_equal(out_r, expect, expect_len);
        counts->exports++;
    }

    sts_hpke_ctx_free(s);
    sts_hpke_ctx_free(r);
    sts_hpke_key_free(eph);
    sts_hpke_key_free(rk);
    free(v);
}

static void test_rfc9180_a1_1_aes128gcm(void **state)
{
    (void)state;
    struct kat_counts c = {0, 0};

    (void)state;
    run_kat("rfc9180_a1_1_x25519_sha256_aes128gcm_base.txt", STS_HPKE_AEAD_AES_128_GCM, &c);
    /* Every listed encryption (sequence numbers 0, 1, 2, 4, 255, 256) and
     * export (3) was checked: a parser that lost a record would fail here. */
    assert_int_equal(c.encryptions, 6);
    assert_int_equal(c.exports, 3);
}

static void test_rfc9180_a2_1_chacha20poly1305(void **state)
{
    (void)state;
    struct kat_counts c = {0, 0};

    (void)state;
    run_kat("rfc9180_a2_1_x25519_sha256_chacha20poly1305_base.txt", STS_HPKE_AEAD_CHACHA20_POLY1305,
            &c);
    assert_int_equal(c.encryptions, 6);
    assert_int_equal(c.exports, 3);
}

/* ---- Round trips and failures ---------------------------------------------- */

static const struct sts_hpke_suite aes_suite = {
    STS_HPKE_KEM_X25519_SHA256, STS_HPKE_KDF_HKDF_SHA256, STS_HPKE_AEAD_AES_128_GCM};

struct pair {
    struct sts_hpke_key *rk;
    struct sts_hpke_ctx *s, *r;
    uint8_t enc[STS_HPKE_NENC];
};

static void pair_setup(struct pair *p, const struct sts_hpke_suite *suite)
{
    uint8_t pk[STS_HPKE_NPK];
    static const uint8_t info[] = "test info";

    memset(p, 0, sizeof(*p));
    assert_int_equal(sts_hpke_key_generate(&p->rk), STS_OK);
    sts_hpke_key_public(p->rk, pk);
    assert_int_equal(sts_hpke_ctx_new(&p->s, suite), STS_OK);
    assert_int_equal(sts_hpke_ctx_new(&p->r, suite), STS_OK);
    assert_int_equal(sts_hpke_setup_base_s(p->s, p->enc, pk, info, sizeof(info), NULL), STS_OK);
    assert_int_equal(sts_hpke_setup_base_r(p->r, p->enc, p->rk, info, sizeof(info)), STS_OK);
}

static void pair_free(struct pair *p)
{
    sts_hpke_ctx_free(p->s);
    sts_hpke_ctx_free(p->r);
    sts_hpke_key_free(p->rk);
}

static void test_roundtrip_and_tamper(void **state)
{
    (void)state;
    static const uint8_t msg[] = "activation report";
    uint8_t ct[64], pt[64];
    size_t ct_len, pt_len;
    struct pair p;

    (void)state;
    pair_setup(&p, &aes_suite);
    assert_int_equal(
        sts_hpke_seal(p.s, (const uint8_t *)"a", 1, msg, sizeof(msg), ct, sizeof(ct), &ct_len),
        STS_OK);
    assert_int_equal(ct_len, sizeof(msg) + STS_HPKE_NT);

    /* A flipped bit anywhere (body or tag) fails and does not advance seq. */
    ct[3] ^= 0x01;
    assert_int_equal(
        sts_hpke_open(p.r, (const uint8_t *)"a", 1, ct, ct_len, pt, sizeof(pt), &pt_len),
        STS_ECRYPTO);
    ct[3] ^= 0x01;
    ct[ct_len - 1] ^= 0x80;
    assert_int_equal(
        sts_hpke_open(p.r, (const uint8_t *)"a", 1, ct, ct_len, pt, sizeof(pt), &pt_len),
        STS_ECRYPTO);
    ct[ct_len - 1] ^= 0x80;
    /* Wrong associated data. */
    assert_int_equal(
        sts_hpke_open(p.r, (const uint8_t *)"b", 1, ct, ct_len, pt, sizeof(pt), &pt_len),
        STS_ECRYPTO);
    /* Shorter than a tag: malformed, not a crypto failure. */
    assert_int_equal(sts_hpke_open(p.r, NULL, 0, ct, STS_HPKE_NT - 1, pt, sizeof(pt), &pt_len),
                     STS_EINVAL);
    /* Output too small. */
    assert_int_equal(sts_hpke_open(p.r, (const uint8_t *)"a", 1, ct, ct_len, pt, 3, &pt_len),
                     STS_ETOOBIG);
    assert_int_equal(pt_len, sizeof(msg));
    /* The untouched message still opens at sequence number 0. */
    assert_int_equal(
        sts_hpke_open(p.r, (const uint8_t *)"a", 1, ct, ct_len, pt, sizeof(pt), &pt_len), STS_OK);
    assert_int_equal(pt_len, sizeof(msg));
    assert_memory_equal(pt, msg, sizeof(msg));
    /* Replaying it fails: the receiver is now at sequence number 1. */
    assert_int_equal(
        sts_hpke_open(p.r, (const uint8_t *)"a", 1, ct, ct_len, pt, sizeof(pt), &pt_len),
        STS_ECRYPTO);
    /* In-place seal then open. */
    memcpy(ct, msg, sizeof(msg));
    assert_int_equal(sts_hpke_seal(p.s, NULL, 0, ct, sizeof(msg), ct, sizeof(ct), &ct_len), STS_OK);
    assert_int_equal(sts_hpke_open(p.r, NULL, 0, ct, ct_len, ct, sizeof(ct), &pt_len), STS_OK);
    assert_memory_equal(ct, msg, sizeof(msg));
    pair_free(&p);
}

static void test_roles_and_wrong_key(void **state)
{
    (void)state;
    uint8_t ct[64], pt[64], pk[32], enc[32];
    size_t ct_len, pt_len;
    struct sts_hpke_key *other = NULL;
    struct sts_hpke_ctx *r2 = NULL;
    struct pair p;

    (void)state;
    pair_setup(&p, &aes_suite);
    /* A receiver cannot seal, a sender cannot open, a context is set up once. */
    assert_int_equal(sts_hpke_seal(p.r, NULL, 0, pt, 1, ct, sizeof(ct), &ct_len), STS_EINVAL);
    assert_int_equal(sts_hpke_open(p.s, NULL, 0, ct, 20, pt, sizeof(pt), &pt_len), STS_EINVAL);
    sts_hpke_key_public(p.rk, pk);
    assert_int_equal(sts_hpke_setup_base_s(p.s, enc, pk, NULL, 0, NULL), STS_EINVAL);

    /* A receiver with another private key gets another context. */
    assert_int_equal(sts_hpke_key_generate(&other), STS_OK);
    assert_int_equal(sts_hpke_ctx_new(&r2, &aes_suite), STS_OK);
    assert_int_equal(
        sts_hpke_setup_base_r(r2, p.enc, other, (const uint8_t *)"test info", sizeof("test info")),
        STS_OK);
    assert_int_equal(sts_hpke_seal(p.s, NULL, 0, (const uint8_t *)"x", 1, ct, sizeof(ct), &ct_len),
                     STS_OK);
    assert_int_equal(sts_hpke_open(r2, NULL, 0, ct, ct_len, pt, sizeof(pt), &pt_len), STS_ECRYPTO);
    /* Different info: different context too. */
    sts_hpke_ctx_free(r2);
    r2 = NULL;
    assert_int_equal(sts_hpke_ctx_new(&r2, &aes_suite), STS_OK);
    assert_int_equal(sts_hpke_setup_base_r(r2, p.enc, p.rk, (const uint8_t *)"other", 5), STS_OK);
    assert_int_equal(sts_hpke_open(r2, NULL, 0, ct, ct_len, pt, sizeof(pt), &pt_len), STS_ECRYPTO);
    sts_hpke_ctx_free(r2);
    sts_hpke_key_free(other);
    pair_free(&p);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    static const uint8_t zero[32];
    struct sts_hpke_suite bad = aes_suite;
    struct sts_hpke_ctx *ctx = NULL;
    struct sts_hpke_key *k = NULL;
    uint8_t enc[32], big[STS_HPKE_MAX_INFO + 1], out[32];

    (void)state;
    bad.aead_id = 0x0002; /* AES-256-GCM: not implemented */
    assert_int_equal(sts_hpke_ctx_new(&ctx, &bad), STS_EUNSUPPORTED);
    bad = aes_suite;
    bad.kem_id = 0x0010;
    assert_int_equal(sts_hpke_suite_check(&bad), STS_EUNSUPPORTED);
    bad = aes_suite;
    bad.kdf_id = 0x0002;
    assert_int_equal(sts_hpke_suite_check(&bad), STS_EUNSUPPORTED);

    /* DeriveKeyPair needs at least Nsk bytes of input keying material. */
    assert_int_equal(sts_hpke_key_derive(&k, zero, 31), STS_EINVAL);
    assert_null(k);

    /* The all-zero public key is a low-order point: DH must fail. */
    assert_int_equal(sts_hpke_ctx_new(&ctx, &aes_suite), STS_OK);
    assert_int_equal(sts_hpke_setup_base_s(ctx, enc, zero, NULL, 0, NULL), STS_ECRYPTO);
    /* Oversize info. */
    memset(big, 'i', sizeof(big));
    assert_int_equal(sts_hpke_key_generate(&k), STS_OK);
    sts_hpke_key_public(k, out);
    assert_int_equal(sts_hpke_setup_base_s(ctx, enc, out, big, sizeof(big), NULL), STS_ETOOBIG);
    assert_int_equal(sts_hpke_setup_base_r(ctx, zero, k, NULL, 0), STS_ECRYPTO);
    /* Export before setup. */
    assert_int_equal(sts_hpke_export(ctx, NULL, 0, out, 32), STS_EINVAL);
    assert_int_equal(sts_hpke_setup_base_s(ctx, enc, out, big, 64, NULL), STS_OK);
    assert_int_equal(sts_hpke_export(ctx, big, STS_HPKE_MAX_EXPORTER_CONTEXT + 1, out, 32),
                     STS_ETOOBIG);
    assert_int_equal(sts_hpke_export(ctx, big, STS_HPKE_MAX_EXPORTER_CONTEXT, out, 32), STS_OK);
    assert_int_equal(sts_hpke_export(ctx, NULL, 0, out, 0), STS_EINVAL);
    sts_hpke_ctx_free(ctx);
    sts_hpke_key_free(k);
    sts_hpke_ctx_free(NULL);
    sts_hpke_key_free(NULL);
}

static void test_export_only_and_chacha(void **state)
{
    (void)state;
    struct sts_hpke_suite exp_only = aes_suite, chacha = aes_suite;
    uint8_t a[48], b[48], ct[32];
    size_t ct_len;
    struct pair p;

    (void)state;
    exp_only.aead_id = STS_HPKE_AEAD_EXPORT_ONLY;
    pair_setup(&p, &exp_only);
    assert_int_equal(sts_hpke_seal(p.s, NULL, 0, a, 1, ct, sizeof(ct), &ct_len), STS_EINVAL);
    assert_int_equal(sts_hpke_export(p.s, (const uint8_t *)"ctx", 3, a, sizeof(a)), STS_OK);
    assert_int_equal(sts_hpke_export(p.r, (const uint8_t *)"ctx", 3, b, sizeof(b)), STS_OK);
    assert_memory_equal(a, b, sizeof(a));
    assert_int_equal(sts_hpke_export(p.r, (const uint8_t *)"ctY", 3, b, sizeof(b)), STS_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    pair_free(&p);

    chacha.aead_id = STS_HPKE_AEAD_CHACHA20_POLY1305;
    pair_setup(&p, &chacha);
    assert_int_equal(sts_hpke_seal(p.s, NULL, 0, (const uint8_t *)"hi", 2, ct, sizeof(ct), &ct_len),
                     STS_OK);
    assert_int_equal(sts_hpke_open(p.r, NULL, 0, ct, ct_len, a, sizeof(a), &ct_len), STS_OK);
    assert_int_equal(ct_len, 2);
    assert_memory_equal(a, "hi", 2);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9180_a1_1_aes128gcm),
        cmocka_unit_test(test_rfc9180_a2_1_chacha20poly1305),
        cmocka_unit_test(test_roundtrip_and_tamper),
        cmocka_unit_test(test_roles_and_wrong_key),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_export_only_and_chacha),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
