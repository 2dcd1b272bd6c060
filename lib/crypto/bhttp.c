/* Binary HTTP (RFC 9292) known-length codec: a strict, bounded decoder that
 * borrows from its input, and an encoder into caller memory. */
#include "sts/bhttp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define VARINT_MAX ((UINT64_C(1) << 62) - 1)

#define FRAMING_KNOWN_REQUEST          0
#define FRAMING_KNOWN_RESPONSE         1
#define FRAMING_INDETERMINATE_REQUEST  2
#define FRAMING_INDETERMINATE_RESPONSE 3

const struct sts_bhttp_limits sts_bhttp_default_limits = {
    .max_message = 64 * 1024,
    .max_fields = 64,
    .max_field_section = 16 * 1024,
    .max_content = 64 * 1024,
    .max_informational = 4,
};

/* ---- Variable-length integers ---------------------------------------- */

enum sts_err sts_bhttp_varint_decode(const uint8_t *buf, size_t len, uint64_t *v, size_t *used)
{
    size_t n;
    uint64_t x;

    if (buf == NULL || len == 0)
        return STS_EINVAL;
    n = (size_t)1 << (buf[0] >> 6);
    if (len < n)
        return STS_EINVAL;
    x = buf[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        x = (x << 8) | buf[i];
    *v = x;
    *used = n;
    return STS_OK;
}

static size_t varint_size(uint64_t v)
{
    if (v <= 63)
        return 1;
    if (v <= 16383)
        return 2;
    if (v <= 1073741823)
        return 4;
    return 8;
}

enum sts_err sts_bhttp_varint_encode(uint64_t v, uint8_t *buf, size_t cap, size_t *used)
{
    static const uint8_t prefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
    size_t n;

    if (v > VARINT_MAX)
        return STS_EINVAL;
    n = varint_size(v);
    *used = n;
    if (buf == NULL || cap < n)
        return STS_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        buf[n - 1 - i] = (uint8_t)(v >> (8 * i));
    buf[0] |= prefix[n];
    return STS_OK;
}

/* ---- Validation (shared by decoder and encoder) ----------------------- */

/* tchar of RFC 9110 section 5.6.2, lowercase only: HTTP/2 (RFC 9113 section
 * 8.2.1), whose rules RFC 9292 adopts, forbids uppercase in field names. */
static bool is_tchar(uint8_t c, bool lower_only)
{
    if (c >= 'a' && c <= 'z')
        return true;
    if (c >= 'A' && c <= 'Z')
        return !lower_only;
    if (c >= '0' && c <= '9')
        return true;
    return strchr("!#$%&'*+-.^_`|~", c) != NULL && c != '\0';
}

static bool valid_field_name(struct sts_bhttp_bytes b)
{
    if (b.len == 0)
        return false;
    /* Pseudo-fields (':' first) are either the forbidden control-data names
     * or extensions we do not implement; both are refused. */
    for (size_t i = 0; i < b.len; i++)
        if (!is_tchar(b.ptr[i], true))
            return false;
    return true;
}

/* RFC 9113 section 8.2.1: no NUL, CR or LF; no leading or trailing SP/HTAB. */
static bool valid_field_value(struct sts_bhttp_bytes b)
{
    for (size_t i = 0; i < b.len; i++)
        if (b.ptr[i] == 0x00 || b.ptr[i] == '\r' || b.ptr[i] == '\n')
            return false;
    if (b.len > 0 && (b.ptr[0] == ' ' || b.ptr[0] == '\t' || b.ptr[b.len - 1] == ' ' ||
                      b.ptr[b.len - 1] == '\t'))
        return false;
    return true;
}

static bool valid_method(struct sts_bhttp_bytes b)
{
    if (b.len == 0)
        return false;
    for (size_t i = 0; i < b.len; i++)
        if (!is_tchar(b.ptr[i], false))
            return false;
    return true;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986); empty is
 * allowed for the CONNECT form. */
static bool valid_scheme(struct sts_bhttp_bytes b)
{
    for (size_t i = 0; i < b.len; i++) {
        uint8_t c = b.ptr[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

        if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')))
            return false;
    }
    return true;
}

/* Authority and path: visible ASCII only (no space, no control, no 8-bit). */
static bool valid_visible(struct sts_bhttp_bytes b)
{
    for (size_t i = 0; i < b.len; i++)
        if (b.ptr[i] <= 0x20 || b.ptr[i] >= 0x7f)
            return false;
    return true;
}

static bool valid_fields(const struct sts_bhttp_fields *f)
{
    if (f->n > 0 && f->v == NULL)
        return false;
    for (size_t i = 0; i < f->n; i++)
        if (!valid_field_name(f->v[i].name) || !valid_field_value(f->v[i].value))
            return false;
    return true;
}

/* ---- Decoder ---------------------------------------------------------- */

struct reader {
    const uint8_t *p;
    size_t left;
};

static enum sts_err read_varint(struct reader *r, uint64_t *v)
{
    size_t used;

    if (sts_bhttp_varint_decode(r->p, r->left, v, &used) != STS_OK)
        return STS_EINVAL;
    r->p += used;
    r->left -= used;
    return STS_OK;
}

/* A length-prefixed byte string: the length must fit in what is left. */
static enum sts_err read_bytes(struct reader *r, size_t cap, struct sts_bhttp_bytes *out)
{
    uint64_t n;

    if (read_varint(r, &n) != STS_OK)
        return STS_EINVAL;
    /* Over the cap is reported first: it is the answer a sender can act on
     * (413), whether or not the bytes are all there. */
    if (n > cap)
        return STS_ETOOBIG;
    if (n > r->left)
        return STS_EINVAL;
    out->ptr = r->p;
    out->len = (size_t)n;
    r->p += n;
    r->left -= (size_t)n;
    return STS_OK;
}

/* A known-length field section. At the end of input it is a truncated empty
 * section (RFC 9292 section 3.8). With store false it is validated and
 * dropped (informational responses). Two passes: count and validate, then
 * allocate exactly and fill, so a hostile count cannot make us grow first. */
static enum sts_err read_fields(struct reader *r, const struct sts_bhttp_limits *lim,
                                struct sts_bhttp_fields *out, bool store)
{
    struct sts_bhttp_bytes section;
    struct reader sec;
    size_t n = 0;
    enum sts_err rc;

    out->v = NULL;
    out->n = 0;
    if (r->left == 0)
        return STS_OK;
    rc = read_bytes(r, lim->max_field_section, &section);
    if (rc != STS_OK)
        return rc;
    sec.p = section.ptr;
    sec.left = section.len;
    while (sec.left > 0) {
        struct sts_bhttp_field f;

        if (n == lim->max_fields)
            return STS_ETOOBIG;
        if (read_bytes(&sec, SIZE_MAX, &f.name) != STS_OK ||
            read_bytes(&sec, SIZE_MAX, &f.value) != STS_OK)
            return STS_EINVAL; /* a field line running past its section */
        if (!valid_field_name(f.name) || !valid_field_value(f.value))
            return STS_EINVAL;
        n++;
    }
    if (!store || n == 0)
        return STS_OK;
    out->v = calloc(n, sizeof(*out->v));
    if (out->v == NULL)
        return STS_ENOMEM;
    sec.p = section.ptr;
    sec.left = section.len;
    for (size_t i = 0; i < n; i++) {
        (void)read_bytes(&sec, SIZE_MAX, &out->v[i].name);
        (void)read_bytes(&sec, SIZE_MAX, &out->v[i].value);
    }
    out->n = n;
    return STS_OK;
}

/* Known-length content; absent at the end of input means empty. */
static enum sts_err read_content(struct reader *r, const struct sts_bhttp_limits *lim,
                                 struct sts_bhttp_bytes *out)
{
    out->ptr = NULL;
    out->len = 0;
    if (r->left == 0)
        return STS_OK;
    return read_bytes(r, lim->max_content, out);
}

/* Whatever follows the trailers must be zero padding. */
static enum sts_err check_padding(const struct reader *r)
{
    for (size_t i = 0; i < r->left; i++)
        if (r->p[i] != 0)
            return STS_EINVAL;
    return STS_OK;
}

static enum sts_err read_framing(struct reader *r, uint64_t want)
{
    uint64_t framing;

    if (read_varint(r, &framing) != STS_OK)
        return STS_EINVAL;
    if (framing == FRAMING_INDETERMINATE_REQUEST || framing == FRAMING_INDETERMINATE_RESPONSE)
        return STS_EUNSUPPORTED;
    return framing == want ? STS_OK : STS_EINVAL;
}

void sts_bhttp_request_cleanup(struct sts_bhttp_request *req)
{
    if (req == NULL)
        return;
    free(req->headers.v);
    free(req->trailers.v);
    memset(req, 0, sizeof(*req));
}

void sts_bhttp_response_cleanup(struct sts_bhttp_response *res)
{
    if (res == NULL)
        return;
    free(res->headers.v);
    free(res->trailers.v);
    memset(res, 0, sizeof(*res));
}

enum sts_err sts_bhttp_request_decode(struct sts_bhttp_request *req, const uint8_t *buf, size_t len,
                                      const struct sts_bhttp_limits *lim)
{
    struct reader r = {buf, len};
    enum sts_err rc;

    if (req == NULL || (buf == NULL && len > 0))
        return STS_EINVAL;
    memset(req, 0, sizeof(*req));
    if (lim == NULL)
        lim = &sts_bhttp_default_limits;
    if (len > lim->max_message)
        return STS_ETOOBIG;
    rc = read_framing(&r, FRAMING_KNOWN_REQUEST);
    if (rc != STS_OK)
        goto fail;
    /* Control data cannot be truncated: every length must be present. */
    if ((rc = read_bytes(&r, lim->max_field_section, &req->method)) != STS_OK ||
        (rc = read_bytes(&r, lim->max_field_section, &req->scheme)) != STS_OK ||
        (rc = read_bytes(&r, lim->max_field_section, &req->authority)) != STS_OK ||
        (rc = read_bytes(&r, lim->max_field_section, &req->path)) != STS_OK)
        goto fail;
    if (!valid_method(req->method) || !valid_scheme(req->scheme) ||
        !valid_visible(req->authority) || !valid_visible(req->path)) {
        rc = STS_EINVAL;
        goto fail;
    }
    if ((rc = read_fields(&r, lim, &req->headers, true)) != STS_OK ||
        (rc = read_content(&r, lim, &req->content)) != STS_OK ||
        (rc = read_fields(&r, lim, &req->trailers, true)) != STS_OK ||
        (rc = check_padding(&r)) != STS_OK)
        goto fail;
    return STS_OK;
fail:
    sts_bhttp_request_cleanup(req);
    return rc;
}

enum sts_err sts_bhttp_response_decode(struct sts_bhttp_response *res, const uint8_t *buf,
                                       size_t len, const struct sts_bhttp_limits *lim)
{
    struct reader r = {buf, len};
    size_t informational = 0;
    enum sts_err rc;

    if (res == NULL || (buf == NULL && len > 0))
        return STS_EINVAL;
    memset(res, 0, sizeof(*res));
    if (lim == NULL)
        lim = &sts_bhttp_default_limits;
    if (len > lim->max_message)
        return STS_ETOOBIG;
    rc = read_framing(&r, FRAMING_KNOWN_RESPONSE);
    if (rc != STS_OK)
        goto fail;
    for (;;) {
        struct sts_bhttp_fields skipped;
        uint64_t status;

        if (read_varint(&r, &status) != STS_OK) {
            rc = STS_EINVAL;
            goto fail;
        }
        if (status >= 200 && status <= 599) {
            res->status = (unsigned int)status;
            break;
        }
        if (status < 100 || status > 199) {
            rc = STS_EINVAL;
            goto fail;
        }
        if (++informational > lim->max_informational) {
            rc = STS_ETOOBIG;
            goto fail;
        }
        rc = read_fields(&r, lim, &skipped, false);
        if (rc != STS_OK)
            goto fail;
    }
    if ((rc = read_fields(&r, lim, &res->headers, true)) != STS_OK ||
        (rc = read_content(&r, lim, &res->content)) != STS_OK ||
        (rc = read_fields(&r, lim, &res->trailers, true)) != STS_OK ||
        (rc = check_padding(&r)) != STS_OK)
        goto fail;
    return STS_OK;
fail:
    sts_bhttp_response_cleanup(res);
    return rc;
}

/* ---- Encoder ---------------------------------------------------------- */

/* Encoded size of a length-prefixed string; 0 (never a valid size) when the
 * length cannot be a varint. */
static size_t bytes_size(struct sts_bhttp_bytes b)
{
    if (b.len > VARINT_MAX || (b.len > 0 && b.ptr == NULL))
        return 0;
    return varint_size(b.len) + b.len;
}

static enum sts_err fields_body_size(const struct sts_bhttp_fields *f, size_t *size)
{
    size_t total = 0;

    for (size_t i = 0; i < f->n; i++) {
        size_t a = bytes_size(f->v[i].name), b = bytes_size(f->v[i].value);

        if (a == 0 || b == 0 || total > VARINT_MAX - a - b)
            return STS_ETOOBIG;
        total += a + b;
    }
    *size = total;
    return STS_OK;
}

struct writer {
    uint8_t *p;
};

static void put_varint(struct writer *w, uint64_t v)
{
    size_t used = 0;

    (void)sts_bhttp_varint_encode(v, w->p, 8, &used);
    w->p += used;
}

static void put_bytes(struct writer *w, struct sts_bhttp_bytes b)
{
    put_varint(w, b.len);
    if (b.len > 0)
        memcpy(w->p, b.ptr, b.len);
    w->p += b.len;
}

static void put_fields(struct writer *w, const struct sts_bhttp_fields *f, size_t body)
{
    put_varint(w, body);
    for (size_t i = 0; i < f->n; i++) {
        put_bytes(w, f->v[i].name);
        put_bytes(w, f->v[i].value);
    }
}

/* The part shared by requests and responses: headers, content, trailers,
 * with the trailing empty ones dropped under STS_BHTTP_TRUNCATE. */
struct tail {
    const struct sts_bhttp_fields *headers, *trailers;
    struct sts_bhttp_bytes content;
    size_t hbody, tbody;
    int keep; /* how many of headers, content, trailers are written */
};

static enum sts_err tail_plan(struct tail *t, unsigned int flags, size_t *size)
{
    size_t csize;

    if (!valid_fields(t->headers) || !valid_fields(t->trailers))
        return STS_EINVAL;
    if (fields_body_size(t->headers, &t->hbody) != STS_OK ||
        fields_body_size(t->trailers, &t->tbody) != STS_OK)
        return STS_ETOOBIG;
    csize = bytes_size(t->content);
    if (csize == 0)
        return STS_EINVAL;
    t->keep = 3;
    if (flags & STS_BHTTP_TRUNCATE) {
        if (t->trailers->n == 0) {
            t->keep = 2;
            if (t->content.len == 0) {
                t->keep = 1;
                if (t->headers->n == 0)
                    t->keep = 0;
            }
        }
    }
    *size = 0;
    if (t->keep >= 1)
        *size += varint_size(t->hbody) + t->hbody;
    if (t->keep >= 2)
        *size += csize;
    if (t->keep >= 3)
        *size += varint_size(t->tbody) + t->tbody;
    return STS_OK;
}

static void tail_write(struct writer *w, const struct tail *t)
{
    if (t->keep >= 1)
        put_fields(w, t->headers, t->hbody);
    if (t->keep >= 2)
        put_bytes(w, t->content);
    if (t->keep >= 3)
        put_fields(w, t->trailers, t->tbody);
}

enum sts_err sts_bhttp_request_encode(const struct sts_bhttp_request *req, unsigned int flags,
                                      uint8_t *buf, size_t cap, size_t *len)
{
    struct tail t;
    size_t size = 1, tsize, parts[4];
    const struct sts_bhttp_bytes *cd[4];
    struct writer w;
    enum sts_err rc;

    if (req == NULL || len == NULL)
        return STS_EINVAL;
    cd[0] = &req->method;
    cd[1] = &req->scheme;
    cd[2] = &req->authority;
    cd[3] = &req->path;
    if (!valid_method(req->method) || !valid_scheme(req->scheme) ||
        !valid_visible(req->authority) || !valid_visible(req->path))
        return STS_EINVAL;
    for (size_t i = 0; i < 4; i++) {
        parts[i] = bytes_size(*cd[i]);
        if (parts[i] == 0)
            return STS_EINVAL;
        size += parts[i];
    }
    t.headers = &req->headers;
    t.trailers = &req->trailers;
    t.content = req->content;
    rc = tail_plan(&t, flags, &tsize);
    if (rc != STS_OK)
        return rc;
    size += tsize;
    *len = size;
    if (buf == NULL || cap < size)
        return STS_ETOOBIG;
    w.p = buf;
    put_varint(&w, FRAMING_KNOWN_REQUEST);
    for (size_t i = 0; i < 4; i++)
        put_bytes(&w, *cd[i]);
    tail_write(&w, &t);
    return STS_OK;
}

enum sts_err sts_bhttp_response_encode(const struct sts_bhttp_response *res, unsigned int flags,
                                       uint8_t *buf, size_t cap, size_t *len)
{
    struct tail t;
    size_t size, tsize;
    struct writer w;
    enum sts_err rc;

    if (res == NULL || len == NULL)
        return STS_EINVAL;
    if (res->status < 200 || res->status > 599)
        return STS_EINVAL;
    t.headers = &res->headers;
    t.trailers = &res->trailers;
    t.content = res->content;
    rc = tail_plan(&t, flags, &tsize);
    if (rc != STS_OK)
        return rc;
    size = 1 + varint_size(res->status) + tsize;
    *len = size;
    if (buf == NULL || cap < size)
        return STS_ETOOBIG;
    w.p = buf;
    put_varint(&w, FRAMING_KNOWN_RESPONSE);
    put_varint(&w, res->status);
    tail_write(&w, &t);
    return STS_OK;
}
