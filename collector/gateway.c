/* Oblivious HTTP gateway of the collector (see gateway.h). The answers follow
 * RFC 9458 section 5.2: what goes wrong before the encapsulation is removed is
 * answered in clear with a 4xx (a key problem with the section 5.3 problem
 * type); what goes wrong after, and every answer of the report path, is sealed
 * in the encapsulated response under an outer 200. */
#include "gateway.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sts/bhttp.h"

static const char *key_file_error(enum sts_err e)
{
    switch (e) {
    case STS_ENOENT:
        return "no such file; create one with 'sts-collector keygen --ohttp --out FILE'";
    case STS_EPERM:
        return "the key file is a symbolic link or not a regular file, or is readable by "
               "others; chmod 600 it";
    case STS_ECORRUPT: return "not a gateway key file written by 'sts-collector keygen --ohttp'";
    default: return sts_strerror(e);
    }
}

enum sts_err gateway_load(const char *const *paths, size_t n, struct sts_ohttp_gateway **out,
                          char *why, size_t whylen)
{
    struct sts_ohttp_gateway *gw = NULL;
    enum sts_err e;
    *out = NULL;
    if (n == 0 || n > GATEWAY_MAX_KEYS) {
        snprintf(why, whylen, "give one or two gateway keys (current and previous), not %zu", n);
        return STS_EINVAL;
    }
    if ((e = sts_ohttp_gateway_new(&gw)) != STS_OK) {
        snprintf(why, whylen, "%s", sts_strerror(e));
        return e;
    }
    for (size_t i = 0; i < n; i++) {
        struct sts_ohttp_gateway_key *key = NULL;
        e = sts_ohttp_gateway_key_read_file(&key, paths[i]);
        if (e != STS_OK) {
            snprintf(why, whylen, "%s: %s", paths[i], key_file_error(e));
            goto fail;
        }
        e = sts_ohttp_gateway_add_key(gw, key);
        if (e != STS_OK) {
            snprintf(why, whylen, "%s: another key file has the same key id %u; make a new key",
                     paths[i], (unsigned)sts_ohttp_gateway_key_config(key)->key_id);
            sts_ohttp_gateway_key_free(key);
            e = STS_EINVAL;
            goto fail;
        }
    }
    *out = gw;
    return STS_OK;
fail:
    sts_ohttp_gateway_free(gw);
    return e;
}

static enum gateway_verdict fail_with(struct gateway_error *err, enum gateway_verdict v,
                                      unsigned status, const char *kind, const char *field,
                                      const char *detail)
{
    err->status = status;
    err->key_problem = false;
    err->kind = kind;
    err->field = field;
    err->detail = detail;
    return v;
}

static bool bytes_eq(struct sts_bhttp_bytes b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && memcmp(b.ptr, s, n) == 0;
}

/* The value of header field name (lowercase), or a zero-length value. */
static struct sts_bhttp_bytes field_value(const struct sts_bhttp_fields *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (bytes_eq(f->v[i].name, name))
            return f->v[i].value;
    return (struct sts_bhttp_bytes){NULL, 0};
}

/* application/json, optionally with parameters (charset=utf-8). */
static bool is_json(struct sts_bhttp_bytes ct)
{
    static const char json[] = "application/json";
    size_t n = sizeof json - 1;
    if (ct.len < n || strncasecmp((const char *)ct.ptr, json, n) != 0)
        return false;
    return ct.len == n || ct.ptr[n] == ';' || ct.ptr[n] == ' ';
}

enum gateway_verdict gateway_open(const struct sts_ohttp_gateway *gw, const uint8_t *enc,
                                  size_t len, size_t max_body, struct gateway_inner *in,
                                  struct gateway_error *err)
{
    memset(in, 0, sizeof *in);
    if (len < STS_OHTTP_REQUEST_OVERHEAD)
        return fail_with(err, GATEWAY_OUTER_ERROR, 400, "invalid", "body",
                         "not an encapsulated request (RFC 9458): too short");
    in->plain = malloc(len);
    if (!in->plain)
        return GATEWAY_NOMEM;
    enum sts_err e =
        sts_ohttp_gateway_decap(gw, enc, len, in->plain, len, &in->plain_len, &in->rctx);
    switch (e) {
    case STS_OK: break;
    case STS_ENOMEM: return GATEWAY_NOMEM;
    case STS_ENOENT:
        fail_with(err, GATEWAY_OUTER_ERROR, 400, "ohttp_key", "key_id", "key identifier unknown");
        err->key_problem = true;
        return GATEWAY_OUTER_ERROR;
    case STS_EUNSUPPORTED:
        fail_with(err, GATEWAY_OUTER_ERROR, 400, "ohttp_key", "suite",
                  "algorithms not offered by this key");
        err->key_problem = true;
        return GATEWAY_OUTER_ERROR;
    case STS_ECRYPTO:
        fail_with(err, GATEWAY_OUTER_ERROR, 400, "ohttp_key", "enc",
                  "decryption failed: wrong key configuration or altered request");
        err->key_problem = true;
        return GATEWAY_OUTER_ERROR;
    case STS_ETOOBIG:
        return fail_with(err, GATEWAY_OUTER_ERROR, 413, "too_large", "body",
                         "encapsulated request too large");
    default:
        return fail_with(err, GATEWAY_OUTER_ERROR, 400, "invalid", "body",
                         "not an encapsulated request (RFC 9458)");
    }

    /* From here on every answer is sealed. */
    struct sts_bhttp_limits lim = sts_bhttp_default_limits;
    lim.max_content = max_body;
    struct sts_bhttp_request req;
    e = sts_bhttp_request_decode(&req, in->plain, in->plain_len, &lim);
    if (e == STS_ENOMEM)
        return GATEWAY_NOMEM;
    if (e == STS_ETOOBIG) {
        /* The same words as POST /v1/reports gives for the same body. */
        snprintf(err->detail_buf, sizeof err->detail_buf, "larger than %zu bytes", max_body);
        return fail_with(err, GATEWAY_INNER_ERROR, 413, "too_large", "body", err->detail_buf);
    }
    if (e != STS_OK)
        return fail_with(err, GATEWAY_INNER_ERROR, 400, "invalid", "bhttp",
                         "not a known-length binary HTTP request (RFC 9292)");
    enum gateway_verdict v = GATEWAY_INNER_ERROR;
    struct sts_bhttp_bytes expect = field_value(&req.headers, "expect");
    if (!bytes_eq(req.path, "/v1/reports"))
        fail_with(err, v, 404, "not_found", "path", "only /v1/reports is served through OHTTP");
    else if (!bytes_eq(req.method, "POST"))
        fail_with(err, v, 405, "method_not_allowed", "method", "use POST");
    else if (expect.len > 0) /* RFC 9458 section 5.1 */
        fail_with(err, v, 417, "expectation_failed", "expect",
                  "100-continue cannot be used inside OHTTP");
    else if (!is_json(field_value(&req.headers, "content-type")))
        fail_with(err, v, 415, "unsupported_media_type", "content-type",
                  "reports must be sent as application/json");
    else {
        /* The content lies inside plain, which in owns. */
        in->body = (char *)in->plain + (req.content.ptr - in->plain);
        in->body_len = req.content.len;
        v = GATEWAY_REPORT;
    }
    sts_bhttp_request_cleanup(&req);
    return v;
}

enum sts_err gateway_seal(struct gateway_inner *in, unsigned status, const char *json, size_t len,
                          uint8_t **out, size_t *out_len)
{
    struct sts_bhttp_field f[2] = {
        {{(const uint8_t *)"content-type", 12}, {(const uint8_t *)"application/json", 16}},
    };
    size_t nf = 1;
    if (status == 503 || status == 429)
        f[nf++] = (struct sts_bhttp_field){{(const uint8_t *)"retry-after", 11},
                                           {(const uint8_t *)"1", 1}};
    else if (status == 405)
        f[nf++] =
            (struct sts_bhttp_field){{(const uint8_t *)"allow", 5}, {(const uint8_t *)"POST", 4}};
    struct sts_bhttp_response res = {
        .status = status,
        .headers = {f, nf},
        .content = {(const uint8_t *)json, len},
    };
    *out = NULL;
    if (!in->rctx)
        return STS_EINVAL;
    size_t blen = 0;
    enum sts_err e = sts_bhttp_response_encode(&res, STS_BHTTP_TRUNCATE, NULL, 0, &blen);
    if (e != STS_ETOOBIG)
        return e == STS_OK ? STS_EINVAL : e;
    size_t cap = blen + STS_OHTTP_RESPONSE_OVERHEAD;
    uint8_t *buf = malloc(blen + cap);
    if (!buf)
        return STS_ENOMEM;
    e = sts_bhttp_response_encode(&res, STS_BHTTP_TRUNCATE, buf, blen, &blen);
    if (e == STS_OK)
        e = sts_ohttp_response_encap(in->rctx, buf, blen, NULL, buf + blen, cap, out_len);
    if (e != STS_OK) {
        free(buf);
        return e;
    }
    /* Only the sealed part leaves: move it to the front. */
    memmove(buf, buf + blen, *out_len);
    OPENSSL_cleanse(buf + *out_len, blen);
    *out = buf;
    sts_ohttp_response_ctx_free(in->rctx);
    in->rctx = NULL;
    return STS_OK;
}

void gateway_inner_cleanup(struct gateway_inner *in)
{
    if (in->plain) {
        OPENSSL_cleanse(in->plain, in->plain_len);
        free(in->plain);
    }
    sts_ohttp_response_ctx_free(in->rctx);
    memset(in, 0, sizeof *in);
}
