/* HPKE (RFC 9180) base mode on OpenSSL 3.0 primitives: X25519 through
 * EVP_PKEY_derive, HKDF on OpenSSL's HMAC-SHA256 (EVP_MAC)
 * (the labelled variants are built here), AEADs through EVP_CIPHER. */
#include "sts/hpke.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define MODE_BASE 0x00

/* Largest label used below is "shared_secret" (13 bytes). */
#define MAX_LABEL 16
/* "HPKE-v1" (7) + suite_id (at most 10) + label. */
#define LABEL_PREFIX_MAX (7 + 10 + MAX_LABEL)

enum role { ROLE_NONE, ROLE_SENDER, ROLE_RECEIVER };

struct sts_hpke_key {
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *dctx; /* derive-initialised on pkey; duplicated per DH (read-only) */
    uint8_t pk[STS_HPKE_NPK];
};

struct sts_hpke_ctx {
    struct sts_hpke_suite suite;
    enum role role;
    size_t nk, nn;
    uint8_t key[STS_HPKE_MAX_NK];
    uint8_t base_nonce[STS_HPKE_MAX_NN];
    uint8_t exporter_secret[STS_HPKE_NH];
    uint64_t seq;
    /* Keyed once at setup so that each message only sets its nonce: the key
     * schedule of AES is not redone per message. */
    EVP_CIPHER_CTX *cctx;
};

/* Algorithms are fetched once: a fetch by name per operation costs more than
 * the HKDF computation itself under OpenSSL 3.0. HKDF is computed as RFC 5869
 * writes it, on OpenSSL's HMAC-SHA256 (EVP_MAC): a MAC context keyed afresh
 * per step is several times cheaper than an EVP_KDF "HKDF" derivation, which
 * parses its parameters and builds an HMAC context on every call, and the
 * key schedule of one request runs about ten such steps. */
static CRYPTO_ONCE algs_once = CRYPTO_ONCE_STATIC_INIT;
static bool algs_ok;
static EVP_MAC_CTX *hmac_template; /* HMAC with the digest set; duplicated per setup */
static EVP_CIPHER *cipher_aes128gcm;
static EVP_CIPHER *cipher_chacha20poly1305;

static void algs_init(void)
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    hmac_template = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    if (hmac_template != NULL && EVP_MAC_CTX_set_params(hmac_template, params) != 1) {
        EVP_MAC_CTX_free(hmac_template);
        hmac_template = NULL;
    }
    EVP_MAC_free(hmac); /* the context keeps its own reference */
    cipher_aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    cipher_chacha20poly1305 = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    algs_ok = hmac_template != NULL && cipher_aes128gcm != NULL && cipher_chacha20poly1305 != NULL;
}

static bool algs_ready(void)
{
    return CRYPTO_THREAD_run_once(&algs_once, algs_init) == 1 && algs_ok;
}

static const EVP_CIPHER *aead_cipher(uint16_t aead_id)
{
    if (aead_id == STS_HPKE_AEAD_AES_128_GCM)
        return cipher_aes128gcm;
    if (aead_id == STS_HPKE_AEAD_CHACHA20_POLY1305)
        return cipher_chacha20poly1305;
    return NULL;
}

size_t sts_hpke_aead_nk(uint16_t aead_id)
{
    if (aead_id == STS_HPKE_AEAD_AES_128_GCM)
        return 16;
    if (aead_id == STS_HPKE_AEAD_CHACHA20_POLY1305)
        return 32;
    return 0;
}

size_t sts_hpke_aead_nn(uint16_t aead_id)
{
    if (aead_id == STS_HPKE_AEAD_AES_128_GCM || aead_id == STS_HPKE_AEAD_CHACHA20_POLY1305)
        return 12;
    return 0;
}

enum sts_err sts_hpke_suite_check(const struct sts_hpke_suite *suite)
{
    if (suite == NULL || suite->kem_id != STS_HPKE_KEM_X25519_SHA256 ||
        suite->kdf_id != STS_HPKE_KDF_HKDF_SHA256)
        return STS_EUNSUPPORTED;
    if (suite->aead_id != STS_HPKE_AEAD_AES_128_GCM &&
        suite->aead_id != STS_HPKE_AEAD_CHACHA20_POLY1305 &&
        suite->aead_id != STS_HPKE_AEAD_EXPORT_ONLY)
        return STS_EUNSUPPORTED;
    return STS_OK;
}

/* ---- HKDF ------------------------------------------------------------- */

/* New HMAC-SHA256 context for the HKDF steps of one setup (duplicated from
 * the template, so nothing is fetched). */
static EVP_MAC_CTX *kdf_new(void)
{
    if (!algs_ready())
        return NULL;
    return EVP_MAC_CTX_dup(hmac_template);
}

static enum sts_err hmac_run(EVP_MAC_CTX *k, const uint8_t *key, size_t key_len, const uint8_t *a,
                             size_t a_len, const uint8_t *b, size_t b_len, const uint8_t *c,
                             size_t c_len, uint8_t out[STS_HPKE_NH])
{
    size_t len = 0;
    if (EVP_MAC_init(k, key, key_len, NULL) != 1 ||
        (a_len > 0 && EVP_MAC_update(k, a, a_len) != 1) ||
        (b_len > 0 && EVP_MAC_update(k, b, b_len) != 1) ||
        (c_len > 0 && EVP_MAC_update(k, c, c_len) != 1) ||
        EVP_MAC_final(k, out, &len, STS_HPKE_NH) != 1 || len != STS_HPKE_NH)
        return STS_ECRYPTO;
    return STS_OK;
}

/* One HKDF step (RFC 5869) on k, a context from kdf_new reused across the
 * steps of a setup. Extract: PRK = HMAC(salt, key), an empty salt being
 * HashLen zero bytes. Expand: T(i) = HMAC(key, T(i-1) || info || i). */
static enum sts_err hkdf_run(EVP_MAC_CTX *k, int mode, const uint8_t *salt, size_t salt_len,
                             const uint8_t *key, size_t key_len, const uint8_t *info,
                             size_t info_len, uint8_t *out, size_t out_len)
{
    static const uint8_t zeros[STS_HPKE_NH];
    uint8_t t[STS_HPKE_NH];
    enum sts_err rc = STS_OK;

    if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
        if (out_len != STS_HPKE_NH)
            return STS_EINVAL;
        if (salt_len == 0) {
            salt = zeros;
            salt_len = sizeof(zeros);
        }
        return hmac_run(k, salt, salt_len, key, key_len, NULL, 0, NULL, 0, out);
    }
    if (out_len == 0 || out_len > STS_HPKE_MAX_EXPORT_LEN)
        return STS_EINVAL;
    for (size_t done = 0, i = 1; done < out_len; i++) {
        uint8_t ctr = (uint8_t)i;
        rc = hmac_run(k, key, key_len, t, i > 1 ? STS_HPKE_NH : 0, info, info_len, &ctr, 1, t);
        if (rc != STS_OK)
            break;
        size_t n = out_len - done < STS_HPKE_NH ? out_len - done : STS_HPKE_NH;
        memcpy(out + done, t, n);
        done += n;
    }
    OPENSSL_cleanse(t, sizeof(t));
    return rc;
}

/* hkdf_run on a context of its own, for one-off derivations. */
static enum sts_err hkdf_once(int mode, const uint8_t *salt, size_t salt_len, const uint8_t *key,
                              size_t key_len, const uint8_t *info, size_t info_len, uint8_t *out,
                              size_t out_len)
{
    EVP_MAC_CTX *k = kdf_new();
    enum sts_err rc;

    if (k == NULL)
        return STS_ECRYPTO;
    rc = hkdf_run(k, mode, salt, salt_len, key, key_len, info, info_len, out, out_len);
    EVP_MAC_CTX_free(k);
    return rc;
}

enum sts_err sts_hpke_kdf_extract(uint16_t kdf_id, const uint8_t *salt, size_t salt_len,
                                  const uint8_t *ikm, size_t ikm_len, uint8_t prk[STS_HPKE_NH])
{
    if (kdf_id != STS_HPKE_KDF_HKDF_SHA256)
        return STS_EUNSUPPORTED;
    if (ikm == NULL || ikm_len == 0 || (salt == NULL && salt_len > 0))
        return STS_EINVAL;
    if (!algs_ready())
        return STS_ECRYPTO;
    return hkdf_once(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, salt_len, ikm, ikm_len, NULL, 0, prk,
                     STS_HPKE_NH);
}

enum sts_err sts_hpke_kdf_expand(uint16_t kdf_id, const uint8_t *prk, size_t prk_len,
                                 const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
    if (kdf_id != STS_HPKE_KDF_HKDF_SHA256)
        return STS_EUNSUPPORTED;
    if (prk == NULL || prk_len < STS_HPKE_NH || out_len == 0 || (info == NULL && info_len > 0))
        return STS_EINVAL;
    if (out_len > STS_HPKE_MAX_EXPORT_LEN || info_len > STS_HPKE_MAX_INFO)
        return STS_ETOOBIG;
    if (!algs_ready())
        return STS_ECRYPTO;
    return hkdf_once(EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0, prk, prk_len, info, info_len, out,
                     out_len);
}

/* suite_id: "KEM" || I2OSP(kem_id, 2) for the KEM, "HPKE" || kem || kdf || aead
 * for the key schedule (RFC 9180, sections 4.1 and 5.1). */
static size_t kem_suite_id(uint8_t out[10])
{
    memcpy(out, "KEM", 3);
    out[3] = STS_HPKE_KEM_X25519_SHA256 >> 8;
    out[4] = STS_HPKE_KEM_X25519_SHA256 & 0xff;
    return 5;
}

static size_t hpke_suite_id(const struct sts_hpke_suite *s, uint8_t out[10])
{
    memcpy(out, "HPKE", 4);
    out[4] = (uint8_t)(s->kem_id >> 8);
    out[5] = (uint8_t)s->kem_id;
    out[6] = (uint8_t)(s->kdf_id >> 8);
    out[7] = (uint8_t)s->kdf_id;
    out[8] = (uint8_t)(s->aead_id >> 8);
    out[9] = (uint8_t)s->aead_id;
    return 10;
}

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id ||
 * label || ikm). The concatenation lives on the stack and is wiped, since ikm
 * is often a secret (the DH output, the shared secret). */
static enum sts_err labeled_extract(EVP_MAC_CTX *k, const uint8_t *suite_id, size_t suite_id_len,
                                    const uint8_t *salt, size_t salt_len, const char *label,
                                    const uint8_t *ikm, size_t ikm_len, uint8_t prk[STS_HPKE_NH])
{
    uint8_t buf[LABEL_PREFIX_MAX + STS_HPKE_MAX_INFO];
    size_t label_len = strlen(label), n = 0;
    enum sts_err rc;

    if (ikm_len > STS_HPKE_MAX_INFO || label_len > MAX_LABEL)
        return STS_ETOOBIG;
    memcpy(buf, "HPKE-v1", 7);
    n = 7;
    memcpy(buf + n, suite_id, suite_id_len);
    n += suite_id_len;
    memcpy(buf + n, label, label_len);
    n += label_len;
    if (ikm_len > 0)
        memcpy(buf + n, ikm, ikm_len);
    n += ikm_len;
    rc = hkdf_run(k, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, salt_len, buf, n, NULL, 0, prk,
                  STS_HPKE_NH);
    OPENSSL_cleanse(buf, n);
    return rc;
}

/* LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" ||
 * suite_id || label || info, L). */
static enum sts_err labeled_expand(EVP_MAC_CTX *k, const uint8_t *suite_id, size_t suite_id_len,
                                   const uint8_t prk[STS_HPKE_NH], const char *label,
                                   const uint8_t *info, size_t info_len, uint8_t *out, size_t L)
{
    uint8_t buf[2 + LABEL_PREFIX_MAX + STS_HPKE_MAX_EXPORTER_CONTEXT + 1 + 2 * STS_HPKE_NH];
    size_t label_len = strlen(label), n = 0;
    enum sts_err rc;

    if (info_len > sizeof(buf) - 2 - LABEL_PREFIX_MAX || label_len > MAX_LABEL ||
        L > STS_HPKE_MAX_EXPORT_LEN)
        return STS_ETOOBIG;
    buf[0] = (uint8_t)(L >> 8);
    buf[1] = (uint8_t)L;
    memcpy(buf + 2, "HPKE-v1", 7);
    n = 9;
    memcpy(buf + n, suite_id, suite_id_len);
    n += suite_id_len;
    memcpy(buf + n, label, label_len);
    n += label_len;
    if (info_len > 0)
        memcpy(buf + n, info, info_len);
    n += info_len;
    rc = hkdf_run(k, EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0, prk, STS_HPKE_NH, buf, n, out, L);
    OPENSSL_cleanse(buf, n);
    return rc;
}

/* ---- X25519 keys ------------------------------------------------------- */

static enum sts_err key_wrap(struct sts_hpke_key **out, EVP_PKEY *pkey)
{
    struct sts_hpke_key *k;
    size_t len = STS_HPKE_NPK;

    if (EVP_PKEY_get_raw_public_key(pkey, NULL, &len) != 1 || len != STS_HPKE_NPK) {
        EVP_PKEY_free(pkey);
        return STS_ECRYPTO;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return STS_ENOMEM;
    }
    if (EVP_PKEY_get_raw_public_key(pkey, k->pk, &len) != 1) {
        EVP_PKEY_free(pkey);
        free(k);
        return STS_ECRYPTO;
    }
    k->pkey = pkey;
    /* Fetching the key exchange and making its context cost more than a
     * duplicate of one made now. */
    k->dctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (k->dctx == NULL || EVP_PKEY_derive_init(k->dctx) != 1) {
        sts_hpke_key_free(k);
        return STS_ECRYPTO;
    }
    *out = k;
    return STS_OK;
}

enum sts_err sts_hpke_key_from_private(struct sts_hpke_key **out, const uint8_t sk[STS_HPKE_NSK])
{
    EVP_PKEY *pkey;

    if (out == NULL || sk == NULL)
        return STS_EINVAL;
    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, STS_HPKE_NSK);
    if (pkey == NULL)
        return STS_ECRYPTO;
    return key_wrap(out, pkey);
}

enum sts_err sts_hpke_key_generate(struct sts_hpke_key **out)
{
    EVP_PKEY_CTX *pctx;
    EVP_PKEY *pkey = NULL;

    if (out == NULL)
        return STS_EINVAL;
    pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
    if (pctx == NULL)
        return STS_ENOMEM;
    if (EVP_PKEY_keygen_init(pctx) != 1 || EVP_PKEY_keygen(pctx, &pkey) != 1) {
        EVP_PKEY_CTX_free(pctx);
        return STS_ECRYPTO;
    }
    EVP_PKEY_CTX_free(pctx);
    return key_wrap(out, pkey);
}

enum sts_err sts_hpke_key_derive(struct sts_hpke_key **out, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t suite_id[10], prk[STS_HPKE_NH], sk[STS_HPKE_NSK];
    size_t sid_len = kem_suite_id(suite_id);
    EVP_MAC_CTX *k;
    enum sts_err rc;

    if (out == NULL || ikm == NULL || ikm_len < STS_HPKE_NSK)
        return STS_EINVAL;
    k = kdf_new();
    if (k == NULL)
        return STS_ECRYPTO;
    /* dkp_prk = LabeledExtract("", "dkp_prk", ikm);
     * sk = LabeledExpand(dkp_prk, "sk", "", Nsk) (RFC 9180, section 7.1.3). */
    rc = labeled_extract(k, suite_id, sid_len, NULL, 0, "dkp_prk", ikm, ikm_len, prk);
    if (rc != STS_OK)
        goto out;
    rc = labeled_expand(k, suite_id, sid_len, prk, "sk", NULL, 0, sk, sizeof(sk));
    if (rc != STS_OK)
        goto out;
    rc = sts_hpke_key_from_private(out, sk);
out:
    EVP_MAC_CTX_free(k);
    OPENSSL_cleanse(prk, sizeof(prk));
    OPENSSL_cleanse(sk, sizeof(sk));
    return rc;
}

void sts_hpke_key_public(const struct sts_hpke_key *key, uint8_t pk[STS_HPKE_NPK])
{
    memcpy(pk, key->pk, STS_HPKE_NPK);
}

enum sts_err sts_hpke_key_private(const struct sts_hpke_key *key, uint8_t sk[STS_HPKE_NSK])
{
    size_t len = STS_HPKE_NSK;

    if (key == NULL || sk == NULL)
        return STS_EINVAL;
    if (EVP_PKEY_get_raw_private_key(key->pkey, sk, &len) != 1 || len != STS_HPKE_NSK) {
        OPENSSL_cleanse(sk, STS_HPKE_NSK);
        return STS_ECRYPTO;
    }
    return STS_OK;
}

void sts_hpke_key_free(struct sts_hpke_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_CTX_free(key->dctx);
    EVP_PKEY_free(key->pkey); /* OpenSSL wipes the private key it holds */
    free(key);
}

/* The peer's public key of a DH lives in a per-thread EVP_PKEY whose key is
 * replaced in place (EVP_PKEY_set1_encoded_public_key): building a new
 * EVP_PKEY from raw bytes fetches the key manager by name and costs as much
 * as the rest of the key schedule. The thread's key is freed when it exits. */
static pthread_once_t peer_once = PTHREAD_ONCE_INIT;
static pthread_key_t peer_tls;
static bool peer_tls_ok;

static void peer_free(void *p)
{
    EVP_PKEY_free(p);
}

static void peer_init(void)
{
    peer_tls_ok = pthread_key_create(&peer_tls, peer_free) == 0;
}

static EVP_PKEY *thread_peer(const uint8_t pk[STS_HPKE_NPK])
{
    EVP_PKEY *p;
    if (pthread_once(&peer_once, peer_init) != 0 || !peer_tls_ok)
        return NULL;
    p = pthread_getspecific(peer_tls);
    if (p != NULL)
        return EVP_PKEY_set1_encoded_public_key(p, pk, STS_HPKE_NPK) == 1 ? p : NULL;
    p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, STS_HPKE_NPK);
    if (p != NULL && pthread_setspecific(peer_tls, p) != 0) {
        EVP_PKEY_free(p);
        p = NULL;
    }
    return p;
}

/* DH(sk, pk): X25519 of our private key with the peer's serialised public key.
 * Every 32-byte string is a valid X25519 public key, so the peer check of
 * EVP_PKEY_derive_set_peer (a second context per call) is skipped; what does
 * matter is an all-zero result (a low-order peer point, RFC 7748 section 6.1),
 * which OpenSSL refuses and the explicit check below refuses again. */
static enum sts_err x25519_dh(const struct sts_hpke_key *sk, const uint8_t peer[STS_HPKE_NPK],
                              uint8_t dh[32])
{
    static const uint8_t zero[32];
    EVP_PKEY *peer_key;
    EVP_PKEY_CTX *dctx = NULL;
    size_t len = 32;
    enum sts_err rc = STS_ECRYPTO;

    peer_key = thread_peer(peer);
    if (peer_key == NULL)
        return STS_ECRYPTO;
    dctx = EVP_PKEY_CTX_dup(sk->dctx);
    if (dctx == NULL) {
        rc = STS_ENOMEM;
        goto fail;
    }
    if (EVP_PKEY_derive_set_peer_ex(dctx, peer_key, 0) != 1 ||
        EVP_PKEY_derive(dctx, dh, &len) != 1 || len != 32)
        goto fail;
    if (CRYPTO_memcmp(dh, zero, 32) == 0)
        goto fail;
    rc = STS_OK;
fail:
    if (rc != STS_OK)
        OPENSSL_cleanse(dh, 32);
    EVP_PKEY_CTX_free(dctx); /* drops its reference to the peer key */
    return rc;
}

/* ExtractAndExpand(dh, kem_context) with kem_context = enc || pkRm
 * (RFC 9180, section 4.1). */
static enum sts_err kem_shared_secret(EVP_MAC_CTX *k, const uint8_t dh[32],
                                      const uint8_t enc[STS_HPKE_NENC],
                                      const uint8_t pk_r[STS_HPKE_NPK], uint8_t shared[STS_HPKE_NH])
{
    uint8_t suite_id[10], kem_context[STS_HPKE_NENC + STS_HPKE_NPK], prk[STS_HPKE_NH];
    size_t sid_len = kem_suite_id(suite_id);
    enum sts_err rc;

    memcpy(kem_context, enc, STS_HPKE_NENC);
    memcpy(kem_context + STS_HPKE_NENC, pk_r, STS_HPKE_NPK);
    rc = labeled_extract(k, suite_id, sid_len, NULL, 0, "eae_prk", dh, 32, prk);
    if (rc == STS_OK)
        rc = labeled_expand(k, suite_id, sid_len, prk, "shared_secret", kem_context,
                            sizeof(kem_context), shared, STS_HPKE_NH);
    OPENSSL_cleanse(prk, sizeof(prk));
    return rc;
}

/* ---- Contexts ---------------------------------------------------------- */

enum sts_err sts_hpke_ctx_new(struct sts_hpke_ctx **out, const struct sts_hpke_suite *suite)
{
    struct sts_hpke_ctx *ctx;

    if (out == NULL)
        return STS_EINVAL;
    if (sts_hpke_suite_check(suite) != STS_OK)
        return STS_EUNSUPPORTED;
    if (!algs_ready())
        return STS_ECRYPTO;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return STS_ENOMEM;
    ctx->suite = *suite;
    ctx->nk = sts_hpke_aead_nk(suite->aead_id);
    ctx->nn = sts_hpke_aead_nn(suite->aead_id);
    *out = ctx;
    return STS_OK;
}

void sts_hpke_ctx_free(struct sts_hpke_ctx *ctx)
{
    if (ctx == NULL)
        return;
    EVP_CIPHER_CTX_free(ctx->cctx);
    OPENSSL_cleanse(ctx, sizeof(*ctx));
    free(ctx);
}

const struct sts_hpke_suite *sts_hpke_ctx_suite(const struct sts_hpke_ctx *ctx)
{
    return &ctx->suite;
}

/* psk_id_hash = LabeledExtract("", "psk_id_hash", "") is a constant of the
 * suite in base mode (the PSK id is empty), so it is computed once for each
 * AEAD: one HKDF step fewer on every setup. */
static const uint16_t psk_aeads[3] = {STS_HPKE_AEAD_AES_128_GCM, STS_HPKE_AEAD_CHACHA20_POLY1305,
                                      STS_HPKE_AEAD_EXPORT_ONLY};
static CRYPTO_ONCE psk_once = CRYPTO_ONCE_STATIC_INIT;
static bool psk_ok;
static uint8_t psk_id_hash[3][STS_HPKE_NH];

static void psk_init(void)
{
    EVP_MAC_CTX *k = kdf_new();
    bool ok = k != NULL;

    for (size_t i = 0; i < 3 && ok; i++) {
        struct sts_hpke_suite s = {STS_HPKE_KEM_X25519_SHA256, STS_HPKE_KDF_HKDF_SHA256,
                                   psk_aeads[i]};
        uint8_t suite_id[10];
        size_t sid_len = hpke_suite_id(&s, suite_id);

        ok = labeled_extract(k, suite_id, sid_len, NULL, 0, "psk_id_hash", NULL, 0,
                             psk_id_hash[i]) == STS_OK;
    }
    EVP_MAC_CTX_free(k);
    psk_ok = ok;
}

static const uint8_t *cached_psk_id_hash(uint16_t aead_id)
{
    if (CRYPTO_THREAD_run_once(&psk_once, psk_init) != 1 || !psk_ok)
        return NULL;
    for (size_t i = 0; i < 3; i++)
        if (psk_aeads[i] == aead_id)
            return psk_id_hash[i];
    return NULL;
}

/* KeySchedule(mode_base, shared_secret, info, "", "") of RFC 9180 section
 * 5.1, then the AEAD keyed for the role. */
static enum sts_err key_schedule(EVP_MAC_CTX *k, struct sts_hpke_ctx *ctx, enum role role,
                                 const uint8_t shared[STS_HPKE_NH], const uint8_t *info,
                                 size_t info_len)
{
    uint8_t suite_id[10], ksc[1 + 2 * STS_HPKE_NH], secret[STS_HPKE_NH];
    size_t sid_len = hpke_suite_id(&ctx->suite, suite_id);
    const EVP_CIPHER *cipher;
    const uint8_t *psk;
    enum sts_err rc;

    ksc[0] = MODE_BASE;
    psk = cached_psk_id_hash(ctx->suite.aead_id);
    if (psk == NULL) {
        rc = STS_ECRYPTO;
        goto out;
    }
    memcpy(ksc + 1, psk, STS_HPKE_NH);
    rc = labeled_extract(k, suite_id, sid_len, NULL, 0, "info_hash", info, info_len,
                         ksc + 1 + STS_HPKE_NH);
    if (rc != STS_OK)
        goto out;
    rc = labeled_extract(k, suite_id, sid_len, shared, STS_HPKE_NH, "secret", NULL, 0, secret);
    if (rc != STS_OK)
        goto out;
    if (ctx->nk > 0) {
        rc = labeled_expand(k, suite_id, sid_len, secret, "key", ksc, sizeof(ksc), ctx->key,
                            ctx->nk);
        if (rc != STS_OK)
            goto out;
        rc = labeled_expand(k, suite_id, sid_len, secret, "base_nonce", ksc, sizeof(ksc),
                            ctx->base_nonce, ctx->nn);
        if (rc != STS_OK)
            goto out;
    }
    rc = labeled_expand(k, suite_id, sid_len, secret, "exp", ksc, sizeof(ksc), ctx->exporter_secret,
                        STS_HPKE_NH);
    if (rc != STS_OK)
        goto out;

    cipher = aead_cipher(ctx->suite.aead_id);
    if (cipher != NULL) {
        ctx->cctx = EVP_CIPHER_CTX_new();
        if (ctx->cctx == NULL) {
            rc = STS_ENOMEM;
            goto out;
        }
        if (EVP_CipherInit_ex(ctx->cctx, cipher, NULL, ctx->key, NULL,
                              role == ROLE_SENDER ? 1 : 0) != 1) {
            rc = STS_ECRYPTO;
            goto out;
        }
    }
    ctx->role = role;
    ctx->seq = 0;
out:
    if (rc != STS_OK) {
        EVP_CIPHER_CTX_free(ctx->cctx);
        ctx->cctx = NULL;
        OPENSSL_cleanse(ctx->key, sizeof(ctx->key));
        OPENSSL_cleanse(ctx->base_nonce, sizeof(ctx->base_nonce));
        OPENSSL_cleanse(ctx->exporter_secret, sizeof(ctx->exporter_secret));
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

enum sts_err sts_hpke_setup_base_s(struct sts_hpke_ctx *ctx, uint8_t enc[STS_HPKE_NENC],
                                   const uint8_t pk_r[STS_HPKE_NPK], const uint8_t *info,
                                   size_t info_len, const struct sts_hpke_key *eph)
{
    struct sts_hpke_key *fresh = NULL;
    uint8_t dh[32], shared[STS_HPKE_NH];
    EVP_MAC_CTX *k = NULL;
    enum sts_err rc;

    if (ctx == NULL || enc == NULL || pk_r == NULL || (info == NULL && info_len > 0) ||
        ctx->role != ROLE_NONE)
        return STS_EINVAL;
    if (info_len > STS_HPKE_MAX_INFO)
        return STS_ETOOBIG;
    if (eph == NULL) {
        rc = sts_hpke_key_generate(&fresh);
        if (rc != STS_OK)
            return rc;
        eph = fresh;
    }
    k = kdf_new();
    if (k == NULL) {
        rc = STS_ECRYPTO;
        goto out;
    }
    /* Encap(pkR): enc = pkEm, shared = ExtractAndExpand(DH(skE, pkR), enc||pkRm) */
    rc = x25519_dh(eph, pk_r, dh);
    if (rc != STS_OK)
        goto out;
    rc = kem_shared_secret(k, dh, eph->pk, pk_r, shared);
    if (rc != STS_OK)
        goto out;
    rc = key_schedule(k, ctx, ROLE_SENDER, shared, info, info_len);
    if (rc == STS_OK)
        memcpy(enc, eph->pk, STS_HPKE_NENC);
out:
    OPENSSL_cleanse(dh, sizeof(dh));
    OPENSSL_cleanse(shared, sizeof(shared));
    EVP_MAC_CTX_free(k);
    sts_hpke_key_free(fresh);
    return rc;
}

enum sts_err sts_hpke_setup_base_r(struct sts_hpke_ctx *ctx, const uint8_t enc[STS_HPKE_NENC],
                                   const struct sts_hpke_key *sk_r, const uint8_t *info,
                                   size_t info_len)
{
    uint8_t dh[32], shared[STS_HPKE_NH];
    EVP_MAC_CTX *k;
    enum sts_err rc;

    if (ctx == NULL || enc == NULL || sk_r == NULL || (info == NULL && info_len > 0) ||
        ctx->role != ROLE_NONE)
        return STS_EINVAL;
    if (info_len > STS_HPKE_MAX_INFO)
        return STS_ETOOBIG;
    k = kdf_new();
    if (k == NULL)
        return STS_ECRYPTO;
    /* Decap(enc, skR): shared = ExtractAndExpand(DH(skR, pkE), enc||pkRm) */
    rc = x25519_dh(sk_r, enc, dh);
    if (rc != STS_OK)
        goto out;
    rc = kem_shared_secret(k, dh, enc, sk_r->pk, shared);
    if (rc != STS_OK)
        goto out;
    rc = key_schedule(k, ctx, ROLE_RECEIVER, shared, info, info_len);
out:
    EVP_MAC_CTX_free(k);
    OPENSSL_cleanse(dh, sizeof(dh));
    OPENSSL_cleanse(shared, sizeof(shared));
    return rc;
}

/* ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn). */
static void compute_nonce(const struct sts_hpke_ctx *ctx, uint8_t nonce[STS_HPKE_MAX_NN])
{
    uint64_t seq = ctx->seq;

    memcpy(nonce, ctx->base_nonce, ctx->nn);
    for (size_t i = 0; i < 8; i++)
        nonce[ctx->nn - 1 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* One AEAD operation on an already keyed cipher context. */
static enum sts_err aead_run(EVP_CIPHER_CTX *c, int encrypt, const uint8_t *nonce,
                             const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                             uint8_t *out, uint8_t tag[STS_HPKE_NT])
{
    uint8_t spare[32]; /* Final writes nothing for these AEADs, but wants a buffer */
    int len = 0;

    if (in_len > INT32_MAX || aad_len > INT32_MAX)
        return STS_ETOOBIG;
    if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, encrypt) != 1)
        return STS_ECRYPTO;
    if (aad_len > 0 && EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_len) != 1)
        return STS_ECRYPTO;
    if (in_len > 0 && EVP_CipherUpdate(c, out, &len, in, (int)in_len) != 1)
        return STS_ECRYPTO;
    if (!encrypt && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, STS_HPKE_NT, tag) != 1)
        return STS_ECRYPTO;
    if (EVP_CipherFinal_ex(c, in_len > 0 ? out + in_len : spare, &len) != 1)
        return STS_ECRYPTO;
    if (encrypt && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, STS_HPKE_NT, tag) != 1)
        return STS_ECRYPTO;
    return STS_OK;
}

static enum sts_err seal_with(EVP_CIPHER_CTX *c, const uint8_t *nonce, const uint8_t *aad,
                              size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct,
                              size_t ct_cap, size_t *ct_len)
{
    uint8_t tag[STS_HPKE_NT];
    enum sts_err rc;

    if ((pt == NULL && pt_len > 0) || (aad == NULL && aad_len > 0) || ct_len == NULL)
        return STS_EINVAL;
    if (pt_len > SIZE_MAX - STS_HPKE_NT)
        return STS_ETOOBIG;
    *ct_len = pt_len + STS_HPKE_NT;
    if (ct == NULL || ct_cap < pt_len + STS_HPKE_NT)
        return STS_ETOOBIG;
    rc = aead_run(c, 1, nonce, aad, aad_len, pt, pt_len, ct, tag);
    if (rc != STS_OK)
        return rc;
    memcpy(ct + pt_len, tag, STS_HPKE_NT);
    return STS_OK;
}

static enum sts_err open_with(EVP_CIPHER_CTX *c, const uint8_t *nonce, const uint8_t *aad,
                              size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt,
                              size_t pt_cap, size_t *pt_len)
{
    uint8_t tag[STS_HPKE_NT];
    size_t n;
    enum sts_err rc;

    if (ct == NULL || (aad == NULL && aad_len > 0) || pt_len == NULL || ct_len < STS_HPKE_NT)
        return STS_EINVAL;
    n = ct_len - STS_HPKE_NT;
    *pt_len = n;
    if ((pt == NULL && n > 0) || pt_cap < n)
        return STS_ETOOBIG;
    /* Copy the tag first: with in-place decryption it would be overwritten. */
    memcpy(tag, ct + n, STS_HPKE_NT);
    rc = aead_run(c, 0, nonce, aad, aad_len, ct, n, pt, tag);
    if (rc != STS_OK && n > 0)
        OPENSSL_cleanse(pt, n); /* never hand out unauthenticated plaintext */
    return rc;
}

enum sts_err sts_hpke_seal(struct sts_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                           const uint8_t *pt, size_t pt_len, uint8_t *ct, size_t ct_cap,
                           size_t *ct_len)
{
    uint8_t nonce[STS_HPKE_MAX_NN];
    enum sts_err rc;

    if (ctx == NULL || ctx->role != ROLE_SENDER || ctx->cctx == NULL)
        return STS_EINVAL;
    /* Nn is 12 bytes, so the 2^96 - 1 limit of RFC 9180 section 5.2 is the
     * 64-bit counter's own limit. */
    if (ctx->seq == UINT64_MAX)
        return STS_ECRYPTO;
    compute_nonce(ctx, nonce);
    rc = seal_with(ctx->cctx, nonce, aad, aad_len, pt, pt_len, ct, ct_cap, ct_len);
    if (rc == STS_OK)
        ctx->seq++;
    return rc;
}

enum sts_err sts_hpke_open(struct sts_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                           const uint8_t *ct, size_t ct_len, uint8_t *pt, size_t pt_cap,
                           size_t *pt_len)
{
    uint8_t nonce[STS_HPKE_MAX_NN];
    enum sts_err rc;

    if (ctx == NULL || ctx->role != ROLE_RECEIVER || ctx->cctx == NULL)
        return STS_EINVAL;
    if (ctx->seq == UINT64_MAX)
        return STS_ECRYPTO;
    compute_nonce(ctx, nonce);
    rc = open_with(ctx->cctx, nonce, aad, aad_len, ct, ct_len, pt, pt_cap, pt_len);
    if (rc == STS_OK)
        ctx->seq++;
    return rc;
}

enum sts_err sts_hpke_export(const struct sts_hpke_ctx *ctx, const uint8_t *exporter_context,
                             size_t exporter_context_len, uint8_t *out, size_t L)
{
    uint8_t suite_id[10];
    size_t sid_len;
    EVP_MAC_CTX *k;
    enum sts_err rc;

    if (ctx == NULL || ctx->role == ROLE_NONE || out == NULL || L == 0 ||
        (exporter_context == NULL && exporter_context_len > 0))
        return STS_EINVAL;
    if (exporter_context_len > STS_HPKE_MAX_EXPORTER_CONTEXT || L > STS_HPKE_MAX_EXPORT_LEN)
        return STS_ETOOBIG;
    sid_len = hpke_suite_id(&ctx->suite, suite_id);
    k = kdf_new();
    if (k == NULL)
        return STS_ECRYPTO;
    rc = labeled_expand(k, suite_id, sid_len, ctx->exporter_secret, "sec", exporter_context,
                        exporter_context_len, out, L);
    EVP_MAC_CTX_free(k);
    return rc;
}

/* One-shot AEAD with a key of its own (used for OHTTP responses). */
static enum sts_err aead_oneshot(uint16_t aead_id, int encrypt, const uint8_t *key,
                                 const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                                 const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    const EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *c;
    enum sts_err rc;

    if (key == NULL || nonce == NULL)
        return STS_EINVAL;
    if (!algs_ready())
        return STS_ECRYPTO;
    cipher = aead_cipher(aead_id);
    if (cipher == NULL)
        return STS_EUNSUPPORTED;
    c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return STS_ENOMEM;
    if (EVP_CipherInit_ex(c, cipher, NULL, key, NULL, encrypt) != 1) {
        rc = STS_ECRYPTO;
        goto out;
    }
    if (encrypt)
        rc = seal_with(c, nonce, aad, aad_len, in, in_len, out, cap, out_len);
    else
        rc = open_with(c, nonce, aad, aad_len, in, in_len, out, cap, out_len);
out:
    EVP_CIPHER_CTX_free(c); /* wipes the key schedule */
    return rc;
}

enum sts_err sts_hpke_aead_seal(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                                const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                                size_t pt_len, uint8_t *ct, size_t ct_cap, size_t *ct_len)
{
    return aead_oneshot(aead_id, 1, key, nonce, aad, aad_len, pt, pt_len, ct, ct_cap, ct_len);
}

enum sts_err sts_hpke_aead_open(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                                const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                                size_t ct_len, uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
    return aead_oneshot(aead_id, 0, key, nonce, aad, aad_len, ct, ct_len, pt, pt_cap, pt_len);
}
