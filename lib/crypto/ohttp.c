/* Oblivious HTTP (RFC 9458): key configurations, request and response
 * encapsulation on top of hpke.c, the gateway's key set and its key file. */
#include "sts/ohttp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sts/hex.h"
#include "sts/secret.h"

static const char REQUEST_LABEL[] = "message/bhttp request";   /* + 0x00 + hdr */
static const char RESPONSE_LABEL[] = "message/bhttp response"; /* exporter context */
#define REQUEST_INFO_LEN (sizeof(REQUEST_LABEL) - 1 + 1 + STS_OHTTP_HEADER_LEN)

static const char KEY_FILE_MAGIC[] = "sts-ohttp-key 1\n";

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static bool suite_implemented(uint16_t kdf_id, uint16_t aead_id)
{
    struct sts_hpke_suite s = {STS_HPKE_KEM_X25519_SHA256, kdf_id, aead_id};

    /* Export-only cannot carry a request. */
    return aead_id != STS_HPKE_AEAD_EXPORT_ONLY && sts_hpke_suite_check(&s) == STS_OK;
}

static bool config_offers(const struct sts_ohttp_key_config *cfg, uint16_t kdf_id, uint16_t aead_id)
{
    for (size_t i = 0; i < cfg->n_suites; i++)
        if (cfg->suites[i].kdf_id == kdf_id && cfg->suites[i].aead_id == aead_id)
            return true;
    return false;
}

/* ---- Key configurations ------------------------------------------------ */

static size_t config_size(const struct sts_ohttp_key_config *cfg)
{
    return 1 + 2 + STS_HPKE_NPK + 2 + 4 * cfg->n_suites;
}

enum sts_err sts_ohttp_key_config_encode(const struct sts_ohttp_key_config *cfg, uint8_t *buf,
                                         size_t cap, size_t *len)
{
    uint8_t *p = buf;

    if (cfg == NULL || len == NULL || cfg->kem_id != STS_HPKE_KEM_X25519_SHA256 ||
        cfg->n_suites == 0 || cfg->n_suites > STS_OHTTP_MAX_SUITES)
        return STS_EINVAL;
    *len = config_size(cfg);
    if (buf == NULL || cap < *len)
        return STS_ETOOBIG;
    *p++ = cfg->key_id;
    put16(p, cfg->kem_id);
    p += 2;
    memcpy(p, cfg->public_key, STS_HPKE_NPK);
    p += STS_HPKE_NPK;
    put16(p, (uint16_t)(4 * cfg->n_suites));
    p += 2;
    for (size_t i = 0; i < cfg->n_suites; i++) {
        put16(p, cfg->suites[i].kdf_id);
        put16(p + 2, cfg->suites[i].aead_id);
        p += 4;
    }
    return STS_OK;
}

/* Parses one configuration at the start of buf; *used receives its size. */
static enum sts_err config_parse(struct sts_ohttp_key_config *cfg, const uint8_t *buf, size_t len,
                                 size_t *used)
{
    size_t off, slen;

    memset(cfg, 0, sizeof(*cfg));
    if (buf == NULL || len < 3)
        return STS_EINVAL;
    cfg->key_id = buf[0];
    cfg->kem_id = get16(buf + 1);
    /* Without knowing the KEM, the length of its public key is unknown. */
    if (cfg->kem_id != STS_HPKE_KEM_X25519_SHA256)
        return STS_EUNSUPPORTED;
    off = 3;
    if (len - off < STS_HPKE_NPK + 2)
        return STS_EINVAL;
    memcpy(cfg->public_key, buf + off, STS_HPKE_NPK);
    off += STS_HPKE_NPK;
    slen = get16(buf + off);
    off += 2;
    /* RFC 9458 section 3.1: 4..65532 bytes of (kdf_id, aead_id) pairs. */
    if (slen < 4 || slen % 4 != 0 || len - off < slen)
        return STS_EINVAL;
    if (slen / 4 > STS_OHTTP_MAX_SUITES)
        return STS_ETOOBIG;
    cfg->n_suites = slen / 4;
    for (size_t i = 0; i < cfg->n_suites; i++) {
        cfg->suites[i].kdf_id = get16(buf + off + 4 * i);
        cfg->suites[i].aead_id = get16(buf + off + 4 * i + 2);
    }
    *used = off + slen;
    return STS_OK;
}

enum sts_err sts_ohttp_key_config_decode(struct sts_ohttp_key_config *cfg, const uint8_t *buf,
                                         size_t len)
{
    size_t used = 0;
    enum sts_err rc;

    if (cfg == NULL)
        return STS_EINVAL;
    rc = config_parse(cfg, buf, len, &used);
    if (rc == STS_OK && used != len)
        rc = STS_EINVAL;
    return rc;
}

enum sts_err sts_ohttp_keys_encode(const struct sts_ohttp_key_config *cfgs, size_t n, uint8_t *buf,
                                   size_t cap, size_t *len)
{
    size_t total = 0, used;
    enum sts_err rc;

    if (cfgs == NULL || n == 0 || len == NULL)
        return STS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (cfgs[i].kem_id != STS_HPKE_KEM_X25519_SHA256 || cfgs[i].n_suites == 0 ||
            cfgs[i].n_suites > STS_OHTTP_MAX_SUITES)
            return STS_EINVAL;
        total += 2 + config_size(&cfgs[i]);
    }
    *len = total;
    if (buf == NULL || cap < total)
        return STS_ETOOBIG;
    for (size_t i = 0, off = 0; i < n; i++) {
        rc = sts_ohttp_key_config_encode(&cfgs[i], buf + off + 2, cap - off - 2, &used);
        if (rc != STS_OK)
            return rc;
        put16(buf + off, (uint16_t)used);
        off += 2 + used;
    }
    return STS_OK;
}

enum sts_err sts_ohttp_keys_decode(struct sts_ohttp_key_config *cfgs, size_t cap, size_t *n,
                                   const uint8_t *buf, size_t len)
{
    size_t off = 0, count = 0;

    if (cfgs == NULL || n == NULL || buf == NULL || len == 0)
        return STS_EINVAL;
    *n = 0;
    if (len > STS_OHTTP_MAX_KEYS_LIST)
        return STS_ETOOBIG;
    while (off < len) {
        struct sts_ohttp_key_config tmp;
        size_t clen, used = 0;
        enum sts_err rc;

        if (len - off < 2)
            return STS_EINVAL;
        clen = get16(buf + off);
        off += 2;
        if (clen == 0 || len - off < clen)
            return STS_EINVAL;
        rc = config_parse(&tmp, buf + off, clen, &used);
        if (rc == STS_OK && used != clen)
            rc = STS_EINVAL;
        if (rc == STS_OK) {
            if (count == cap)
                return STS_ETOOBIG;
            cfgs[count++] = tmp;
        } else if (rc != STS_EUNSUPPORTED) {
            return rc == STS_ETOOBIG ? STS_ETOOBIG : STS_EINVAL;
        }
        off += clen;
    }
    if (count == 0)
        return STS_EUNSUPPORTED;
    *n = count;
    return STS_OK;
}

/* ---- Shared request/response pieces --------------------------------------- */

static void request_header(uint8_t hdr[STS_OHTTP_HEADER_LEN], uint8_t key_id,
                           const struct sts_hpke_suite *s)
{
    hdr[0] = key_id;
    put16(hdr + 1, s->kem_id);
    put16(hdr + 3, s->kdf_id);
    put16(hdr + 5, s->aead_id);
}

/* info = "message/bhttp request" || 0x00 || hdr */
static void request_info(uint8_t info[REQUEST_INFO_LEN], const uint8_t hdr[STS_OHTTP_HEADER_LEN])
{
    size_t l = sizeof(REQUEST_LABEL) - 1;

    memcpy(info, REQUEST_LABEL, l);
    info[l] = 0x00;
    memcpy(info + l + 1, hdr, STS_OHTTP_HEADER_LEN);
}

static size_t response_nonce_len(uint16_t aead_id)
{
    size_t nk = sts_hpke_aead_nk(aead_id), nn = sts_hpke_aead_nn(aead_id);

    return nk > nn ? nk : nn;
}

/* RFC 9458 section 4.4: secret = Export("message/bhttp response",
 * max(Nn, Nk)); prk = Extract(enc || response_nonce, secret); key and nonce
 * = Expand(prk, "key", Nk), Expand(prk, "nonce", Nn). */
static enum sts_err response_keys(const struct sts_hpke_ctx *ctx, const uint8_t enc[STS_HPKE_NENC],
                                  const uint8_t *rnonce, uint8_t key[STS_HPKE_MAX_NK],
                                  uint8_t nonce[STS_HPKE_MAX_NN])
{
    const struct sts_hpke_suite *s = sts_hpke_ctx_suite(ctx);
    size_t nlen = response_nonce_len(s->aead_id);
    uint8_t secret[STS_HPKE_MAX_NK], salt[STS_HPKE_NENC + STS_HPKE_MAX_NK], prk[STS_HPKE_NH];
    enum sts_err rc;

    rc = sts_hpke_export(ctx, (const uint8_t *)RESPONSE_LABEL, sizeof(RESPONSE_LABEL) - 1, secret,
                         nlen);
    if (rc != STS_OK)
        goto out;
    memcpy(salt, enc, STS_HPKE_NENC);
    memcpy(salt + STS_HPKE_NENC, rnonce, nlen);
    rc = sts_hpke_kdf_extract(s->kdf_id, salt, STS_HPKE_NENC + nlen, secret, nlen, prk);
    if (rc != STS_OK)
        goto out;
    rc = sts_hpke_kdf_expand(s->kdf_id, prk, sizeof(prk), (const uint8_t *)"key", 3, key,
                             sts_hpke_aead_nk(s->aead_id));
    if (rc != STS_OK)
        goto out;
    rc = sts_hpke_kdf_expand(s->kdf_id, prk, sizeof(prk), (const uint8_t *)"nonce", 5, nonce,
                             sts_hpke_aead_nn(s->aead_id));
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(prk, sizeof(prk));
    return rc;
}

/* ---- Client -------------------------------------------------------------- */

struct sts_ohttp_client {
    struct sts_ohttp_key_config cfg;
    struct sts_hpke_suite suite;
    struct sts_hpke_ctx *ctx; /* NULL until the request is encapsulated */
    uint8_t enc[STS_HPKE_NENC];
};

enum sts_err sts_ohttp_client_new(struct sts_ohttp_client **out,
                                  const struct sts_ohttp_key_config *cfg,
                                  const struct sts_ohttp_suite *suite)
{
    struct sts_ohttp_client *c;
    const struct sts_ohttp_suite *pick = NULL;

    if (out == NULL || cfg == NULL)
        return STS_EINVAL;
    if (cfg->kem_id != STS_HPKE_KEM_X25519_SHA256)
        return STS_EUNSUPPORTED;
    if (suite != NULL) {
        if (config_offers(cfg, suite->kdf_id, suite->aead_id) &&
            suite_implemented(suite->kdf_id, suite->aead_id))
            pick = suite;
    } else {
        for (size_t i = 0; i < cfg->n_suites && pick == NULL; i++)
            if (suite_implemented(cfg->suites[i].kdf_id, cfg->suites[i].aead_id))
                pick = &cfg->suites[i];
    }
    if (pick == NULL)
        return STS_EUNSUPPORTED;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return STS_ENOMEM;
    c->cfg = *cfg;
    c->suite.kem_id = cfg->kem_id;
    c->suite.kdf_id = pick->kdf_id;
    c->suite.aead_id = pick->aead_id;
    *out = c;
    return STS_OK;
}

void sts_ohttp_client_free(struct sts_ohttp_client *c)
{
    if (c == NULL)
        return;
    sts_hpke_ctx_free(c->ctx);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

enum sts_err sts_ohttp_client_encap(struct sts_ohttp_client *c, const uint8_t *req, size_t req_len,
                                    const struct sts_hpke_key *eph, uint8_t *out, size_t cap,
                                    size_t *out_len)
{
    uint8_t hdr[STS_OHTTP_HEADER_LEN], info[REQUEST_INFO_LEN];
    struct sts_hpke_ctx *ctx = NULL;
    size_t ct_len;
    enum sts_err rc;

    if (c == NULL || out_len == NULL || (req == NULL && req_len > 0) || c->ctx != NULL)
        return STS_EINVAL;
    if (req_len > STS_OHTTP_MAX_MESSAGE)
        return STS_ETOOBIG;
    *out_len = STS_OHTTP_REQUEST_OVERHEAD + req_len;
    if (out == NULL || cap < *out_len)
        return STS_ETOOBIG;
    request_header(hdr, c->cfg.key_id, &c->suite);
    request_info(info, hdr);
    rc = sts_hpke_ctx_new(&ctx, &c->suite);
    if (rc != STS_OK)
        return rc;
    rc = sts_hpke_setup_base_s(ctx, c->enc, c->cfg.public_key, info, sizeof(info), eph);
    if (rc != STS_OK)
        goto fail;
    rc = sts_hpke_seal(ctx, NULL, 0, req, req_len, out + STS_OHTTP_HEADER_LEN + STS_HPKE_NENC,
                       cap - STS_OHTTP_HEADER_LEN - STS_HPKE_NENC, &ct_len);
    if (rc != STS_OK)
        goto fail;
    memcpy(out, hdr, STS_OHTTP_HEADER_LEN);
    memcpy(out + STS_OHTTP_HEADER_LEN, c->enc, STS_HPKE_NENC);
    c->ctx = ctx;
    return STS_OK;
fail:
    sts_hpke_ctx_free(ctx);
    return rc;
}

enum sts_err sts_ohttp_client_decap(struct sts_ohttp_client *c, const uint8_t *enc_res, size_t len,
                                    uint8_t *res, size_t cap, size_t *res_len)
{
    uint8_t key[STS_HPKE_MAX_NK], nonce[STS_HPKE_MAX_NN];
    size_t nlen;
    enum sts_err rc;

    if (c == NULL || c->ctx == NULL || enc_res == NULL || res_len == NULL)
        return STS_EINVAL;
    if (len > STS_OHTTP_MAX_MESSAGE + STS_OHTTP_RESPONSE_OVERHEAD)
        return STS_ETOOBIG;
    nlen = response_nonce_len(c->suite.aead_id);
    if (len < nlen + STS_HPKE_NT)
        return STS_EINVAL;
    rc = response_keys(c->ctx, c->enc, enc_res, key, nonce);
    if (rc == STS_OK)
        rc = sts_hpke_aead_open(c->suite.aead_id, key, nonce, NULL, 0, enc_res + nlen, len - nlen,
                                res, cap, res_len);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(nonce, sizeof(nonce));
    return rc;
}

/* ---- Gateway keys --------------------------------------------------------- */

struct sts_ohttp_gateway_key {
    struct sts_ohttp_key_config cfg;
    struct sts_hpke_key *sk;
};

enum sts_err sts_ohttp_gateway_key_generate(struct sts_ohttp_gateway_key **out)
{
    struct sts_ohttp_gateway_key *k;
    enum sts_err rc;

    if (out == NULL)
        return STS_EINVAL;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return STS_ENOMEM;
    if (RAND_bytes(&k->cfg.key_id, 1) != 1) {
        rc = STS_ECRYPTO;
        goto fail;
    }
    rc = sts_hpke_key_generate(&k->sk);
    if (rc != STS_OK)
        goto fail;
    k->cfg.kem_id = STS_HPKE_KEM_X25519_SHA256;
    sts_hpke_key_public(k->sk, k->cfg.public_key);
    k->cfg.n_suites = 2;
    k->cfg.suites[0] =
        (struct sts_ohttp_suite){STS_HPKE_KDF_HKDF_SHA256, STS_HPKE_AEAD_AES_128_GCM};
    k->cfg.suites[1] =
        (struct sts_ohttp_suite){STS_HPKE_KDF_HKDF_SHA256, STS_HPKE_AEAD_CHACHA20_POLY1305};
    *out = k;
    return STS_OK;
fail:
    free(k);
    return rc;
}

enum sts_err sts_ohttp_gateway_key_new(struct sts_ohttp_gateway_key **out,
                                       const struct sts_ohttp_key_config *cfg,
                                       const uint8_t sk[STS_HPKE_NSK])
{
    struct sts_ohttp_gateway_key *k;
    uint8_t pk[STS_HPKE_NPK];
    enum sts_err rc;

    if (out == NULL || cfg == NULL || sk == NULL || cfg->n_suites == 0 ||
        cfg->n_suites > STS_OHTTP_MAX_SUITES)
        return STS_EINVAL;
    if (cfg->kem_id != STS_HPKE_KEM_X25519_SHA256)
        return STS_EUNSUPPORTED;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return STS_ENOMEM;
    rc = sts_hpke_key_from_private(&k->sk, sk);
    if (rc != STS_OK)
        goto fail;
    sts_hpke_key_public(k->sk, pk);
    if (CRYPTO_memcmp(pk, cfg->public_key, STS_HPKE_NPK) != 0) {
        rc = STS_EINVAL;
        goto fail;
    }
    k->cfg = *cfg;
    *out = k;
    return STS_OK;
fail:
    sts_hpke_key_free(k->sk);
    free(k);
    return rc;
}

const struct sts_ohttp_key_config *
sts_ohttp_gateway_key_config(const struct sts_ohttp_gateway_key *key)
{
    return &key->cfg;
}

void sts_ohttp_gateway_key_free(struct sts_ohttp_gateway_key *key)
{
    if (key == NULL)
        return;
    sts_hpke_key_free(key->sk);
    free(key);
}

/* Parses "<prefix><hex>\n" at *p (len left), at most cap bytes of data. */
static bool get_hex_line(const char **p, size_t *left, const char *prefix, uint8_t *out, size_t cap,
                         size_t *n)
{
    size_t plen = strlen(prefix);
    const char *s = *p, *nl;

    if (*left < plen || memcmp(s, prefix, plen) != 0)
        return false;
    s += plen;
    nl = memchr(s, '\n', *left - plen);
    if (nl == NULL)
        return false; /* every line ends with "\n" */
    size_t digits = (size_t)(nl - s);
    if (digits > 2 * cap || sts_hex_decode(s, digits, out, digits / 2) != STS_OK)
        return false;
    *left -= plen + digits + 1;
    *p = nl + 1;
    *n = digits / 2;
    return true;
}

enum sts_err sts_ohttp_gateway_key_save(const struct sts_ohttp_gateway_key *key, char *buf,
                                        size_t cap, size_t *len)
{
    uint8_t cfg[1 + 2 + STS_HPKE_NPK + 2 + 4 * STS_OHTTP_MAX_SUITES], sk[STS_HPKE_NSK];
    size_t clen, need, off;
    enum sts_err rc;

    if (key == NULL || len == NULL)
        return STS_EINVAL;
    rc = sts_ohttp_key_config_encode(&key->cfg, cfg, sizeof(cfg), &clen);
    if (rc != STS_OK)
        return rc;
    need = strlen(KEY_FILE_MAGIC) + strlen("config ") + 2 * clen + 1 + strlen("private ") +
           2 * STS_HPKE_NSK + 1;
    *len = need;
    if (buf == NULL || cap < need)
        return STS_ETOOBIG;
    rc = sts_hpke_key_private(key->sk, sk);
    if (rc != STS_OK)
        return rc;
    off = strlen(KEY_FILE_MAGIC);
    memcpy(buf, KEY_FILE_MAGIC, off);
    memcpy(buf + off, "config ", 7);
    off += 7;
    sts_hex_encode(cfg, clen, buf + off); /* its NUL is overwritten next */
    off += 2 * clen;
    buf[off++] = '\n';
    memcpy(buf + off, "private ", 8);
    off += 8;
    sts_hex_encode(sk, sizeof(sk), buf + off); /* likewise */
    off += 2 * sizeof(sk);
    buf[off++] = '\n';
    OPENSSL_cleanse(sk, sizeof(sk));
    return STS_OK;
}

enum sts_err sts_ohttp_gateway_key_load(struct sts_ohttp_gateway_key **out, const char *buf,
                                        size_t len)
{
    uint8_t cfgb[1 + 2 + STS_HPKE_NPK + 2 + 4 * STS_OHTTP_MAX_SUITES], sk[STS_HPKE_NSK];
    struct sts_ohttp_key_config cfg;
    const char *p = buf;
    size_t left = len, clen = 0, sklen = 0;
    enum sts_err rc = STS_ECORRUPT;

    if (out == NULL || buf == NULL)
        return STS_EINVAL;
    if (len > STS_OHTTP_KEY_FILE_MAX)
        return STS_ETOOBIG;
    if (left < strlen(KEY_FILE_MAGIC) || memcmp(p, KEY_FILE_MAGIC, strlen(KEY_FILE_MAGIC)) != 0)
        return STS_ECORRUPT;
    p += strlen(KEY_FILE_MAGIC);
    left -= strlen(KEY_FILE_MAGIC);
    if (!get_hex_line(&p, &left, "config ", cfgb, sizeof(cfgb), &clen))
        goto out;
    if (!get_hex_line(&p, &left, "private ", sk, sizeof(sk), &sklen) || sklen != sizeof(sk) ||
        left != 0)
        goto out;
    rc = sts_ohttp_key_config_decode(&cfg, cfgb, clen);
    if (rc == STS_EUNSUPPORTED)
        goto out;
    if (rc != STS_OK) {
        rc = STS_ECORRUPT;
        goto out;
    }
    rc = sts_ohttp_gateway_key_new(out, &cfg, sk);
    if (rc == STS_EINVAL)
        rc = STS_ECORRUPT; /* the private key is not the configuration's */
out:
    OPENSSL_cleanse(sk, sizeof(sk));
    return rc;
}

enum sts_err sts_ohttp_gateway_key_write_file(const struct sts_ohttp_gateway_key *key,
                                              const char *path)
{
    char buf[STS_OHTTP_KEY_FILE_MAX];
    size_t len = 0, done = 0;
    enum sts_err rc;
    int fd;

    if (key == NULL || path == NULL)
        return STS_EINVAL;
    rc = sts_ohttp_gateway_key_save(key, buf, sizeof(buf), &len);
    if (rc != STS_OK)
        goto out;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = sts_err_from_errno(errno);
        goto out;
    }
    rc = STS_EIO; /* a write of 0 bytes */
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = sts_err_from_errno(errno);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (done == len)
        rc = fsync(fd) == 0 ? STS_OK : sts_err_from_errno(errno);
    if (close(fd) != 0 && rc == STS_OK)
        rc = sts_err_from_errno(errno);
    if (rc != STS_OK)
        (void)unlink(path); /* never leave half a key behind */
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

enum sts_err sts_ohttp_gateway_key_read_file(struct sts_ohttp_gateway_key **out, const char *path)
{
    struct sts_secret *file = NULL;
    enum sts_err rc;

    if (out == NULL || path == NULL)
        return STS_EINVAL;
    rc = sts_secret_file_read(path, STS_OHTTP_KEY_FILE_MAX, &file);
    if (rc != STS_OK)
        return rc;
    rc = sts_ohttp_gateway_key_load(out, file->data, file->len);
    sts_secret_free(file);
    return rc;
}

/* ---- Gateway ------------------------------------------------------------- */

struct sts_ohttp_gateway {
    /* keys[0] is the oldest; n live keys. */
    struct sts_ohttp_gateway_key *keys[STS_OHTTP_MAX_GATEWAY_KEYS];
    size_t n;
};

struct sts_ohttp_response_ctx {
    struct sts_hpke_ctx *ctx;
    uint8_t enc[STS_HPKE_NENC];
};

enum sts_err sts_ohttp_gateway_new(struct sts_ohttp_gateway **out)
{
    if (out == NULL)
        return STS_EINVAL;
    *out = calloc(1, sizeof(**out));
    return *out == NULL ? STS_ENOMEM : STS_OK;
}

void sts_ohttp_gateway_free(struct sts_ohttp_gateway *gw)
{
    if (gw == NULL)
        return;
    for (size_t i = 0; i < gw->n; i++)
        sts_ohttp_gateway_key_free(gw->keys[i]);
    free(gw);
}

enum sts_err sts_ohttp_gateway_add_key(struct sts_ohttp_gateway *gw,
                                       struct sts_ohttp_gateway_key *key)
{
    if (gw == NULL || key == NULL)
        return STS_EINVAL;
    for (size_t i = 0; i < gw->n; i++)
        if (gw->keys[i]->cfg.key_id == key->cfg.key_id)
            return STS_EEXIST;
    if (gw->n == STS_OHTTP_MAX_GATEWAY_KEYS) {
        sts_ohttp_gateway_key_free(gw->keys[0]);
        memmove(&gw->keys[0], &gw->keys[1], (gw->n - 1) * sizeof(gw->keys[0]));
        gw->n--;
    }
    gw->keys[gw->n++] = key;
    return STS_OK;
}

enum sts_err sts_ohttp_gateway_remove_key(struct sts_ohttp_gateway *gw, uint8_t key_id)
{
    if (gw == NULL)
        return STS_EINVAL;
    for (size_t i = 0; i < gw->n; i++) {
        if (gw->keys[i]->cfg.key_id != key_id)
            continue;
        sts_ohttp_gateway_key_free(gw->keys[i]);
        memmove(&gw->keys[i], &gw->keys[i + 1], (gw->n - i - 1) * sizeof(gw->keys[0]));
        gw->n--;
        return STS_OK;
    }
    return STS_ENOENT;
}

enum sts_err sts_ohttp_gateway_keys_encode(const struct sts_ohttp_gateway *gw, uint8_t *buf,
                                           size_t cap, size_t *len)
{
    struct sts_ohttp_key_config cfgs[STS_OHTTP_MAX_GATEWAY_KEYS];

    if (gw == NULL || len == NULL)
        return STS_EINVAL;
    if (gw->n == 0)
        return STS_ENOENT;
    for (size_t i = 0; i < gw->n; i++)
        cfgs[i] = gw->keys[gw->n - 1 - i]->cfg; /* newest first */
    return sts_ohttp_keys_encode(cfgs, gw->n, buf, cap, len);
}

enum sts_err sts_ohttp_gateway_decap(const struct sts_ohttp_gateway *gw, const uint8_t *enc_req,
                                     size_t len, uint8_t *req, size_t cap, size_t *req_len,
                                     struct sts_ohttp_response_ctx **rctx)
{
    const struct sts_ohttp_gateway_key *key = NULL;
    struct sts_ohttp_response_ctx *r = NULL;
    uint8_t info[REQUEST_INFO_LEN];
    struct sts_hpke_suite suite;
    const uint8_t *ct;
    size_t ct_len;
    enum sts_err rc;

    if (gw == NULL || req_len == NULL || rctx == NULL || (enc_req == NULL && len > 0))
        return STS_EINVAL;
    *rctx = NULL;
    if (len > STS_OHTTP_MAX_MESSAGE + STS_OHTTP_REQUEST_OVERHEAD)
        return STS_ETOOBIG;
    if (len < STS_OHTTP_HEADER_LEN)
        return STS_EINVAL;
    suite.kem_id = get16(enc_req + 1);
    suite.kdf_id = get16(enc_req + 3);
    suite.aead_id = get16(enc_req + 5);
    for (size_t i = 0; i < gw->n && key == NULL; i++)
        if (gw->keys[i]->cfg.key_id == enc_req[0] && gw->keys[i]->cfg.kem_id == suite.kem_id)
            key = gw->keys[i];
    if (key == NULL)
        return STS_ENOENT;
    if (!config_offers(&key->cfg, suite.kdf_id, suite.aead_id) ||
        !suite_implemented(suite.kdf_id, suite.aead_id))
        return STS_EUNSUPPORTED;
    if (len < STS_OHTTP_REQUEST_OVERHEAD)
        return STS_EINVAL;
    ct = enc_req + STS_OHTTP_HEADER_LEN + STS_HPKE_NENC;
    ct_len = len - STS_OHTTP_HEADER_LEN - STS_HPKE_NENC;
    *req_len = ct_len - STS_HPKE_NT;
    if ((req == NULL && *req_len > 0) || cap < *req_len)
        return STS_ETOOBIG;

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return STS_ENOMEM;
    memcpy(r->enc, enc_req + STS_OHTTP_HEADER_LEN, STS_HPKE_NENC);
    request_info(info, enc_req);
    rc = sts_hpke_ctx_new(&r->ctx, &suite);
    if (rc != STS_OK)
        goto fail;
    rc = sts_hpke_setup_base_r(r->ctx, r->enc, key->sk, info, sizeof(info));
    if (rc != STS_OK)
        goto fail;
    rc = sts_hpke_open(r->ctx, NULL, 0, ct, ct_len, req, cap, req_len);
    if (rc != STS_OK)
        goto fail;
    *rctx = r;
    return STS_OK;
fail:
    sts_ohttp_response_ctx_free(r);
    /* Whatever went wrong past the header is a bad encapsulation to the
     * caller, except running out of memory. */
    return rc == STS_ENOMEM ? STS_ENOMEM : STS_ECRYPTO;
}

enum sts_err sts_ohttp_response_encap(struct sts_ohttp_response_ctx *rctx, const uint8_t *res,
                                      size_t res_len, const uint8_t *nonce, uint8_t *out,
                                      size_t cap, size_t *out_len)
{
    const struct sts_hpke_suite *s;
    uint8_t key[STS_HPKE_MAX_NK], aead_nonce[STS_HPKE_MAX_NN], rnonce[STS_HPKE_MAX_NK];
    size_t nlen, ct_len;
    enum sts_err rc;

    if (rctx == NULL || out_len == NULL || (res == NULL && res_len > 0))
        return STS_EINVAL;
    if (res_len > STS_OHTTP_MAX_MESSAGE)
        return STS_ETOOBIG;
    s = sts_hpke_ctx_suite(rctx->ctx);
    nlen = response_nonce_len(s->aead_id);
    *out_len = nlen + res_len + STS_HPKE_NT;
    if (out == NULL || cap < *out_len)
        return STS_ETOOBIG;
    if (nonce != NULL)
        memcpy(rnonce, nonce, nlen);
    else if (RAND_bytes(rnonce, (int)nlen) != 1)
        return STS_ECRYPTO;
    rc = response_keys(rctx->ctx, rctx->enc, rnonce, key, aead_nonce);
    if (rc == STS_OK)
        rc = sts_hpke_aead_seal(s->aead_id, key, aead_nonce, NULL, 0, res, res_len, out + nlen,
                                cap - nlen, &ct_len);
    if (rc == STS_OK)
        memcpy(out, rnonce, nlen);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(aead_nonce, sizeof(aead_nonce));
    return rc;
}

void sts_ohttp_response_ctx_free(struct sts_ohttp_response_ctx *rctx)
{
    if (rctx == NULL)
        return;
    sts_hpke_ctx_free(rctx->ctx);
    free(rctx);
}
