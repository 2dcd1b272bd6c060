/* Unit tests of the Binary HTTP codec: the RFC 9292 section 5 examples and
 * the RFC 9458 Appendix A inner messages decoded and re-encoded byte for byte
 * (vectors in tests/vectors/), QUIC varints, truncation, padding, limits and
 * every kind of invalid message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sts/bhttp.h"

/* ---- Vector files: "name:" then hex lines (spaces ignored) ----------------- */

#define MAX_BYTES 1024

static size_t load_hex(const char *file, const char *name, uint8_t *out, size_t cap)
{
    const char *dir = getenv("STS_VECTORS");
    char path[1024], line[256], want[64];
    int in_entry = 0;
    size_t n = 0;
    FILE *f;

    assert_non_null(dir);
    assert_true(snprintf(path, sizeof(path), "%s/%s", dir, file) < (int)sizeof(path));
    assert_true(snprintf(want, sizeof(want), "%s:", name) < (int)sizeof(want));
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = line;

        if (line[0] != ' ') { /* comment, blank or title: ends an entry */
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
        for (; *s != '\0' && *s != '\n'; s++) {
            unsigned int b;

            if (*s == ' ')
                continue;
            assert_true(n < cap);
            assert_int_equal(sscanf(s, "%2x", &b), 1);
            out[n++] = (uint8_t)b;
            s++;
        }
    }
    fclose(f);
    assert_true(n > 0); /* the entry exists and is not empty */
    return n;
}

#define RFC9292 "rfc9292_examples.txt"
#define RFC9458 "rfc9458_appendix_a.txt"

static void assert_bytes(struct sts_bhttp_bytes b, const char *s)
{
    assert_int_equal(b.len, strlen(s));
    if (b.len > 0)
        assert_memory_equal(b.ptr, s, b.len);
}

static void assert_field(const struct sts_bhttp_field *f, const char *name, const char *value)
{
    assert_bytes(f->name, name);
    assert_bytes(f->value, value);
}

/* ---- RFC examples ---------------------------------------------------------- */

static void check_hello_request(const struct sts_bhttp_request *req)
{
    assert_bytes(req->method, "GET");
    assert_bytes(req->scheme, "https");
    assert_bytes(req->authority, "");
    assert_bytes(req->path, "/hello.txt");
    assert_int_equal(req->headers.n, 3);
    assert_field(&req->headers.v[0], "user-agent",
                 "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3");
    assert_field(&req->headers.v[1], "host", "www.example.com");
    assert_field(&req->headers.v[2], "accept-language", "en, mi");
    assert_int_equal(req->content.len, 0);
    assert_int_equal(req->trailers.n, 0);
}

static void test_rfc9292_request(void **state)
{
    (void)state;
    uint8_t msg[MAX_BYTES], out[MAX_BYTES], padded[MAX_BYTES];
    size_t len = load_hex(RFC9292, "known_length_request", msg, sizeof(msg)), out_len;
    struct sts_bhttp_request req;

    (void)state;
    assert_int_equal(sts_bhttp_request_decode(&req, msg, len, NULL), STS_OK);
    check_hello_request(&req);

    /* Re-encoded byte for byte. */
    assert_int_equal(sts_bhttp_request_encode(&req, 0, out, sizeof(out), &out_len), STS_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, msg, len);
    /* Truncated: "the last two bytes ... can each be removed". */
    assert_int_equal(sts_bhttp_request_encode(&req, STS_BHTTP_TRUNCATE, out, sizeof(out), &out_len),
                     STS_OK);
    assert_int_equal(out_len, len - 2);
    assert_memory_equal(out, msg, len - 2);
    /* Too small a buffer: the size needed is reported. */
    assert_int_equal(sts_bhttp_request_encode(&req, 0, out, len - 1, &out_len), STS_ETOOBIG);
    assert_int_equal(out_len, len);
    assert_int_equal(sts_bhttp_request_encode(&req, 0, NULL, 0, &out_len), STS_ETOOBIG);
    assert_int_equal(out_len, len);
    sts_bhttp_request_cleanup(&req);

    /* Both truncations decode to the same message. */
    for (size_t cut = 1; cut <= 2; cut++) {
        assert_int_equal(sts_bhttp_request_decode(&req, msg, len - cut, NULL), STS_OK);
        check_hello_request(&req);
        sts_bhttp_request_cleanup(&req);
    }
    /* Zero padding is allowed, non-zero padding is not. */
    memcpy(padded, msg, len);
    memset(padded + len, 0, 10);
    assert_int_equal(sts_bhttp_request_decode(&req, padded, len + 10, NULL), STS_OK);
    check_hello_request(&req);
    sts_bhttp_request_cleanup(&req);
    padded[len + 9] = 0x01;
    assert_int_equal(sts_bhttp_request_decode(&req, padded, len + 10, NULL), STS_EINVAL);
    assert_null(req.headers.v);

    /* A response is not a request. */
    len = load_hex(RFC9292, "known_length_response", msg, sizeof(msg));
    assert_int_equal(sts_bhttp_request_decode(&req, msg, len, NULL), STS_EINVAL);
}

static void test_rfc9292_every_truncation(void **state)
{
    (void)state;
    uint8_t msg[MAX_BYTES];
    size_t len = load_hex(RFC9292, "known_length_request", msg, sizeof(msg));
    /* Valid cut points: after the path (23), after the header section (133),
     * after the content (134) and the whole message (135). */
    const size_t ok[] = {23, 133, 134, 135};
    struct sts_bhttp_request req;

    (void)state;
    assert_int_equal(len, 135);
    for (size_t cut = 0; cut <= len; cut++) {
        int valid = 0;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            valid |= ok[i] == cut;
        assert_int_equal(sts_bhttp_request_decode(&req, msg, cut, NULL),
                         valid ? STS_OK : STS_EINVAL);
        if (valid) {
            assert_bytes(req.path, "/hello.txt");
            assert_int_equal(req.headers.n, cut >= 133 ? 3 : 0);
        }
        sts_bhttp_request_cleanup(&req);
    }
}

static void test_rfc9292_response(void **state)
{
    (void)state;
    uint8_t msg[MAX_BYTES], out[MAX_BYTES];
    size_t len = load_hex(RFC9292, "known_length_response", msg, sizeof(msg)), out_len;
    struct sts_bhttp_response res;

    (void)state;
    assert_int_equal(sts_bhttp_response_decode(&res, msg, len, NULL), STS_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.headers.n, 0);
    assert_bytes(res.content, "This content contains CRLF.\r\n");
    assert_int_equal(res.trailers.n, 1);
    assert_field(&res.trailers.v[0], "trailer", "text");
    assert_int_equal(sts_bhttp_response_encode(&res, 0, out, sizeof(out), &out_len), STS_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, msg, len);
    /* Nothing to truncate: trailers are present. */
    assert_int_equal(
        sts_bhttp_response_encode(&res, STS_BHTTP_TRUNCATE, out, sizeof(out), &out_len), STS_OK);
    assert_int_equal(out_len, len);
    sts_bhttp_response_cleanup(&res);
    /* Cutting into the trailer section is invalid. */
    assert_int_equal(sts_bhttp_response_decode(&res, msg, len - 1, NULL), STS_EINVAL);
    /* A request is not a response. */
    len = load_hex(RFC9292, "known_length_request", msg, sizeof(msg));
    assert_int_equal(sts_bhttp_response_decode(&res, msg, len, NULL), STS_EINVAL);
}

static void test_rfc9292_indeterminate_unsupported(void **state)
{
    (void)state;
    uint8_t msg[MAX_BYTES];
    size_t len;
    struct sts_bhttp_request req;
    struct sts_bhttp_response res;

    (void)state;
    len = load_hex(RFC9292, "indeterminate_length_request", msg, sizeof(msg));
    assert_int_equal(sts_bhttp_request_decode(&req, msg, len, NULL), STS_EUNSUPPORTED);
    len = load_hex(RFC9292, "indeterminate_length_response", msg, sizeof(msg));
    assert_int_equal(sts_bhttp_response_decode(&res, msg, len, NULL), STS_EUNSUPPORTED);
}

static void test_rfc9458_inner_messages(void **state)
{
    (void)state;
    uint8_t msg[MAX_BYTES], out[MAX_BYTES];
    size_t len = load_hex(RFC9458, "request", msg, sizeof(msg)), out_len;
    struct sts_bhttp_request req;
    struct sts_bhttp_response res;

    (void)state;
    assert_int_equal(sts_bhttp_request_decode(&req, msg, len, NULL), STS_OK);
    assert_bytes(req.method, "GET");
    assert_bytes(req.scheme, "https");
    assert_bytes(req.authority, "example.com");
    assert_bytes(req.path, "/");
    assert_int_equal(req.headers.n, 0);
    assert_int_equal(req.content.len, 0);
    assert_int_equal(sts_bhttp_request_encode(&req, STS_BHTTP_TRUNCATE, out, sizeof(out), &out_len),
                     STS_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, msg, len);
    /* Untruncated, three zero lengths follow. */
    assert_int_equal(sts_bhttp_request_encode(&req, 0, out, sizeof(out), &out_len), STS_OK);
    assert_int_equal(out_len, len + 3);
    sts_bhttp_request_cleanup(&req);

    len = load_hex(RFC9458, "response", msg, sizeof(msg));
    assert_int_equal(sts_bhttp_response_decode(&res, msg, len, NULL), STS_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(
        sts_bhttp_response_encode(&res, STS_BHTTP_TRUNCATE, out, sizeof(out), &out_len), STS_OK);
    assert_int_equal(out_len, 3);
    assert_memory_equal(out, msg, 3);
    sts_bhttp_response_cleanup(&res);
}

/* ---- Varints --------------------------------------------------------------- */

static void test_varint(void **state)
{
    (void)state;
    /* RFC 9000 Appendix A.1 examples. */
    static const struct {
        uint8_t enc[8];
        size_t len;
        uint64_t v;
        int minimal;
    } ex[] = {
        {{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}, 8, UINT64_C(151288809941952652), 1},
        {{0x9d, 0x7f, 0x3e, 0x7d}, 4, 494878333, 1},
        {{0x7b, 0xbd}, 2, 15293, 1},
        {{0x25}, 1, 37, 1},
        {{0x40, 0x25}, 2, 37, 0},
    };
    uint8_t buf[8];
    uint64_t v;
    size_t used;

    (void)state;
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        assert_int_equal(sts_bhttp_varint_decode(ex[i].enc, ex[i].len, &v, &used), STS_OK);
        assert_int_equal(v, ex[i].v);
        assert_int_equal(used, ex[i].len);
        assert_int_equal(sts_bhttp_varint_decode(ex[i].enc, ex[i].len - 1, &v, &used), STS_EINVAL);
        if (ex[i].minimal) {
            assert_int_equal(sts_bhttp_varint_encode(ex[i].v, buf, sizeof(buf), &used), STS_OK);
            assert_int_equal(used, ex[i].len);
            assert_memory_equal(buf, ex[i].enc, used);
        }
    }
    assert_int_equal(sts_bhttp_varint_encode(UINT64_C(1) << 62, buf, 8, &used), STS_EINVAL);
    assert_int_equal(sts_bhttp_varint_encode((UINT64_C(1) << 62) - 1, buf, 8, &used), STS_OK);
    assert_int_equal(used, 8);
    assert_int_equal(sts_bhttp_varint_encode(16384, buf, 3, &used), STS_ETOOBIG);
    assert_int_equal(used, 4);
}

/* ---- Invalid messages and limits -------------------------------------------- */

#define REQ(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static enum sts_err dec_req(const uint8_t *b, size_t n)
{
    struct sts_bhttp_request req;
    enum sts_err rc = sts_bhttp_request_decode(&req, b, n, NULL);

    sts_bhttp_request_cleanup(&req);
    return rc;
}

static enum sts_err dec_res(const uint8_t *b, size_t n, const struct sts_bhttp_limits *lim)
{
    struct sts_bhttp_response res;
    enum sts_err rc = sts_bhttp_response_decode(&res, b, n, lim);

    sts_bhttp_response_cleanup(&res);
    return rc;
}

static void test_invalid_requests(void **state)
{
    (void)state;
    /* Baseline: POST https a / with header "a: b" and content "x". */
    assert_int_equal(dec_req(REQ(0, 4, 'P', 'O', 'S', 'T', 5, 'h', 't', 't', 'p', 's', 1, 'a', 1,
                                 '/', 4, 1, 'a', 1, 'b', 1, 'x', 0)),
                     STS_OK);
    /* Uppercase field name. */
    assert_int_equal(dec_req(REQ(0, 4, 'P', 'O', 'S', 'T', 5, 'h', 't', 't', 'p', 's', 1, 'a', 1,
                                 '/', 4, 1, 'A', 1, 'b', 1, 'x', 0)),
                     STS_EINVAL);
    /* Pseudo-field. */
    assert_int_equal(dec_req(REQ(0, 4, 'P', 'O', 'S', 'T', 5, 'h', 't', 't', 'p', 's', 1, 'a', 1,
                                 '/', 5, 2, ':', 'p', 1, 'b', 0, 0)),
                     STS_EINVAL);
    /* Empty field name. */
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 2, 0, 0)), STS_EINVAL);
    /* Field values with CR, LF, NUL, or edge whitespace. */
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 4, 1, 'a', 1, '\r')),
                     STS_EINVAL);
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 4, 1, 'a', 1, '\n')),
                     STS_EINVAL);
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 4, 1, 'a', 1, 0)), STS_EINVAL);
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 5, 1, 'a', 2, ' ', 'b')),
                     STS_EINVAL);
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 5, 1, 'a', 2, 'b', '\t')),
                     STS_EINVAL);
    /* Field line running past its section. */
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 3, 1, 'a', 2, 'b', 'c')),
                     STS_EINVAL);
    /* Method empty or not a token; path with a space; scheme starting with a
     * digit. */
    assert_int_equal(dec_req(REQ(0, 0, 0, 0, 1, '/')), STS_EINVAL);
    assert_int_equal(dec_req(REQ(0, 2, 'G', ' ', 0, 0, 1, '/')), STS_EINVAL);
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 2, '/', ' ')), STS_EINVAL);
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 1, '1', 0, 1, '/')), STS_EINVAL);
    /* Control data truncated. */
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0)), STS_EINVAL);
    assert_int_equal(dec_req(REQ(0)), STS_EINVAL);
    assert_int_equal(dec_req(NULL, 0), STS_EINVAL);
    /* Unknown framing; varint cut short. */
    assert_int_equal(dec_req(REQ(4, 3, 'G', 'E', 'T', 0, 0, 1, '/')), STS_EINVAL);
    assert_int_equal(dec_req(REQ(0x40)), STS_EINVAL);
    /* Content length far beyond the input and the cap. */
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 0, 0xbf, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 'x')),
                     STS_ETOOBIG);
    /* Content length a bit beyond the input (truncated content). */
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 0, 5, 'a', 'b')), STS_EINVAL);
    /* Garbage after the trailers. */
    assert_int_equal(dec_req(REQ(0, 3, 'G', 'E', 'T', 0, 0, 1, '/', 0, 0, 0, 'x')), STS_EINVAL);
}

static void test_responses_and_limits(void **state)
{
    (void)state;
    struct sts_bhttp_limits lim = sts_bhttp_default_limits;
    struct sts_bhttp_response res;
    /* 103 with "link: </a>;x", then 200 with content "ok". */
    static const uint8_t info[] = {0x01, 0x40, 0x67, 0x0c, 0x04, 'l',  'i',  'n',  'k',  0x06, '<',
                                   '/',  'a',  '>',  ';',  'x',  0x40, 0xc8, 0x00, 0x02, 'o',  'k'};

    (void)state;
    assert_int_equal(sts_bhttp_response_decode(&res, info, sizeof(info), NULL), STS_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.headers.n, 0);
    assert_bytes(res.content, "ok");
    sts_bhttp_response_cleanup(&res);
    lim.max_informational = 0;
    assert_int_equal(dec_res(info, sizeof(info), &lim), STS_ETOOBIG);
    /* An informational response alone is not a message. */
    assert_int_equal(dec_res(info, 16, NULL), STS_EINVAL);

    /* Status codes out of range. */
    assert_int_equal(dec_res(REQ(1, 0x40, 99), NULL), STS_EINVAL);
    assert_int_equal(dec_res(REQ(1, 0x42, 0x58), NULL), STS_EINVAL); /* 600 */
    assert_int_equal(dec_res(REQ(1, 0x42, 0x57), NULL), STS_OK);     /* 599 */
    assert_int_equal(dec_res(REQ(1), NULL), STS_EINVAL);

    /* Limits: message, content, fields per section, section size. */
    lim = sts_bhttp_default_limits;
    lim.max_message = 4;
    assert_int_equal(dec_res(REQ(1, 0x40, 0xc8, 0, 1, 'x'), &lim), STS_ETOOBIG);
    lim = sts_bhttp_default_limits;
    lim.max_content = 1;
    assert_int_equal(dec_res(REQ(1, 0x40, 0xc8, 0, 1, 'x'), &lim), STS_OK);
    assert_int_equal(dec_res(REQ(1, 0x40, 0xc8, 0, 2, 'x', 'y'), &lim), STS_ETOOBIG);
    lim = sts_bhttp_default_limits;
    lim.max_fields = 1;
    assert_int_equal(dec_res(REQ(1, 0x40, 0xc8, 4, 1, 'a', 1, 'b'), &lim), STS_OK);
    assert_int_equal(dec_res(REQ(1, 0x40, 0xc8, 8, 1, 'a', 1, 'b', 1, 'c', 1, 'd'), &lim),
                     STS_ETOOBIG);
    lim = sts_bhttp_default_limits;
    lim.max_field_section = 3;
    assert_int_equal(dec_res(REQ(1, 0x40, 0xc8, 4, 1, 'a', 1, 'b'), &lim), STS_ETOOBIG);
}

static void test_encoder_rejects_invalid(void **state)
{
    (void)state;
    struct sts_bhttp_field bad = {{(const uint8_t *)"Host", 4}, {(const uint8_t *)"x", 1}};
    struct sts_bhttp_request req = {0};
    struct sts_bhttp_response res = {0};
    uint8_t out[64];
    size_t len;

    (void)state;
    req.method = (struct sts_bhttp_bytes){(const uint8_t *)"POST", 4};
    req.scheme = (struct sts_bhttp_bytes){(const uint8_t *)"https", 5};
    req.path = (struct sts_bhttp_bytes){(const uint8_t *)"/v1/reports", 11};
    req.headers.v = &bad;
    req.headers.n = 1;
    assert_int_equal(sts_bhttp_request_encode(&req, 0, out, sizeof(out), &len), STS_EINVAL);
    bad.name.ptr = (const uint8_t *)"host";
    assert_int_equal(sts_bhttp_request_encode(&req, 0, out, sizeof(out), &len), STS_OK);
    req.method.len = 0;
    assert_int_equal(sts_bhttp_request_encode(&req, 0, out, sizeof(out), &len), STS_EINVAL);
    res.status = 101;
    assert_int_equal(sts_bhttp_response_encode(&res, 0, out, sizeof(out), &len), STS_EINVAL);
    res.status = 202;
    res.content = (struct sts_bhttp_bytes){(const uint8_t *)"{}", 2};
    assert_int_equal(sts_bhttp_response_encode(&res, STS_BHTTP_TRUNCATE, out, sizeof(out), &len),
                     STS_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(out, ((const uint8_t[]){1, 0x40, 0xca, 0, 2, '{', '}'}), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9292_request),
        cmocka_unit_test(test_rfc9292_every_truncation),
        cmocka_unit_test(test_rfc9292_response),
        cmocka_unit_test(test_rfc9292_indeterminate_unsupported),
        cmocka_unit_test(test_rfc9458_inner_messages),
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_responses_and_limits),
        cmocka_unit_test(test_encoder_rejects_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
