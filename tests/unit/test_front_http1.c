/* Unit tests of front/http1.c: the request head reader (what it takes, what
 * it refuses and with which status and field) and the chunked body reader
 * (split anywhere, extensions and trailers, malformed sizes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"

/* Parses text (copied, since the reader writes into its buffer). */
static enum http1_result parse(const char *text, struct http1_head *h, struct http1_refusal *why,
                               char **keep)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    memcpy(buf, text, n + 1);
    enum http1_result r = http1_parse_head(buf, n, h, why);
    *keep = buf;
    return r;
}

static void expect_refused(const char *text, unsigned status, const char *field)
{
    struct http1_head h;
    struct http1_refusal why = {0};
    char *buf;
    enum http1_result r = parse(text, &h, &why, &buf);
    if (r != HTTP1_REFUSED || why.status != status || strcmp(why.field, field) != 0)
        fail_msg("%s: result %d, status %u, field %s; expected %u %s", text, r, why.status,
                 why.field ? why.field : "-", status, field);
    free(buf);
}

static void takes_a_head(void **state)
{
    (void)state;
    struct http1_head h;
    struct http1_refusal why;
    char *buf;
    const char *req = "\r\nPOST /v1/reports?x=1 HTTP/1.1\r\nHost: c\r\nContent-Length: 12 \r\n"
                      "Content-Type:application/json\r\nConnection: keep-alive, Close\r\n\r\nBODY";
    assert_int_equal(parse(req, &h, &why, &buf), HTTP1_DONE);
    assert_string_equal(h.method, "POST");
    assert_string_equal(h.target, "/v1/reports?x=1");
    assert_true(h.http11);
    assert_true(h.has_length);
    assert_int_equal(h.length, 12);
    assert_false(h.chunked);
    assert_true(h.close);
    assert_int_equal(h.head_len, strlen(req) - 4);
    assert_string_equal(http1_field(&h, "content-type"), "application/json");
    assert_string_equal(http1_field(&h, "CONTENT-LENGTH"), "12");
    assert_null(http1_field(&h, "Expect"));
    free(buf);

    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h, &why, &buf),
                     HTTP1_DONE);
    assert_false(h.http11);
    assert_false(h.close);
    free(buf);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &h, &why, &buf), HTTP1_DONE);
    assert_true(h.close);
    free(buf);
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n"
                           "Expect: 100-continue\r\n\r\n",
                           &h, &why, &buf),
                     HTTP1_DONE);
    assert_true(h.chunked);
    assert_true(h.expect_continue);
    free(buf);
}

static void waits_for_more(void **state)
{
    (void)state;
    const char *parts[] = {"",
                           "G",
                           "GET / HTTP/1.1",
                           "GET / HTTP/1.1\r",
                           "GET / HTTP/1.1\r\n",
                           "GET / HTTP/1.1\r\nHost: x\r\n",
                           "GET / HTTP/1.1\r\nHost: x\r\n\r",
                           "\r\nGE",
                           "GET /a",
                           "GET /a HTTP/1.",
                           "GET /a HTTP/1.1\r"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        struct http1_head h;
        struct http1_refusal why;
        char *buf;
        assert_int_equal(parse(parts[i], &h, &why, &buf), HTTP1_MORE);
        free(buf);
    }
}

static void refuses(void **state)
{
    (void)state;
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
                   "content-length");
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400,
                   "content-length");
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", 400,
                   "content-length");
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n", 400,
                   "content-length");
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                   400, "content-length");
    expect_refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n",
                   400, "transfer-encoding");
    expect_refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
                   "transfer-encoding");
    expect_refused("GET / HTTP/1.1\nHost: x\r\n\r\n", 400, "header");
    expect_refused("GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n", 400, "header");
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "header");
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n", 400, "header");
    expect_refused("GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "header");
    expect_refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "header");
    expect_refused("GET / HTTP/1.1\r\n\r\n", 400, "host");
    expect_refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "version");
    expect_refused("GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400, "version");
    expect_refused("GET /\r\nHost: x\r\n\r\n", 400, "target");
    expect_refused("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target");
    expect_refused(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method");
    expect_refused("GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target");

    /* What can never become a request line is refused before the head is
     * complete (it waited for the header deadline): HTTP/0.9, a TLS
     * ClientHello on the plain port, a target with a control byte. */
    expect_refused("GET /healthz\r\n", 400, "target");
    expect_refused("\x16\x03\x01\x02", 400, "method");
    expect_refused("\r\n\r\nGET /a\x01", 400, "target");
    expect_refused("GET /a HTTP/1.1 \r\n", 400, "version");
    expect_refused("GET /a HTTP/2.0\r\n", 505, "version");

    /* A NUL anywhere in the head. */
    char nul[] = "GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n";
    struct http1_head h;
    struct http1_refusal why;
    assert_int_equal(http1_parse_head(nul, sizeof nul - 1, &h, &why), HTTP1_REFUSED);
    assert_int_equal(why.status, 400);

    /* Too long: a request line, then fields, without an end in sight. */
    char *big = malloc(HTTP1_HEAD_MAX + 64);
    assert_non_null(big);
    memset(big, 'a', HTTP1_HEAD_MAX + 63);
    memcpy(big, "GET /", 5);
    big[HTTP1_HEAD_MAX + 63] = '\0';
    expect_refused(big, 414, "target");
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    expect_refused(big, 431, "header");

    /* Empty lines before the request line count towards the limit, so that
     * the connection's buffer (larger than the limit) never fills without a
     * verdict: only CR LF, then CR LF before a head cut short. */
    for (size_t i = 0; i + 1 < HTTP1_HEAD_MAX + 63; i += 2)
        memcpy(big + i, "\r\n", 2);
    expect_refused(big, 400, "header");
    memcpy(big + 4000, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 4019, 'a', HTTP1_HEAD_MAX + 63 - 4019);
    expect_refused(big, 431, "header");
    memset(big, 'a', HTTP1_HEAD_MAX + 63);
    memcpy(big + 2, "GET /", 5);
    memcpy(big, "\r\n", 2);
    expect_refused(big, 414, "target");
    free(big);
}

/* Reads body through the chunked reader in steps of step bytes. */
static enum http1_result read_chunked(const char *body, size_t step, char *out, size_t *out_len,
                                      size_t *end, struct http1_refusal *why)
{
    struct http1_chunked c = {0};
    size_t n = strlen(body), pos = 0;
    *out_len = 0;
    while (pos < n) {
        size_t len = n - pos < step ? n - pos : step, off = 0;
        while (off < len) {
            size_t used, doff, dlen;
            enum http1_result r =
                http1_chunked_read(&c, body + pos + off, len - off, &used, &doff, &dlen, why);
            if (r == HTTP1_REFUSED)
                return r;
            memcpy(out + *out_len, body + pos + off + doff, dlen);
            *out_len += dlen;
            off += used;
            if (r == HTTP1_DONE) {
                *end = pos + off;
                return r;
            }
        }
        pos += len;
    }
    return HTTP1_MORE;
}

static void chunked_bodies(void **state)
{
    (void)state;
    const char *body =
        "5;a=b\r\nhello\r\n1A\r\n, chunked, with a trailer.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    for (size_t step = 1; step <= strlen(body); step++) {
        char out[128];
        size_t len = 0, end = 0;
        struct http1_refusal why;
        assert_int_equal(read_chunked(body, step, out, &len, &end, &why), HTTP1_DONE);
        out[len] = '\0';
        assert_string_equal(out, "hello, chunked, with a trailer.");
        assert_int_equal(end, strlen(body) - 4);
    }
    const char *bad[] = {"z\r\n", "5x\r\nhello\r\n0\r\n\r\n", "2\r\nhello\r\n", "5\nhello\r\n",
                         "5\r\nhello\n", "0\r\n\nX",
                         /* trailers that are not header fields */
                         "0\r\nno-colon\r\n\r\n", "0\r\nX Y: z\r\n\r\n", "0\r\nX : z\r\n\r\n",
                         "0\r\n: z\r\n\r\n", "0\r\nX: a\x01b\r\n\r\n", "0\r\nX: a\x7f\r\n\r\n",
                         "0\r\nX: a\r\n folded\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[64];
        size_t len = 0, end = 0;
        struct http1_refusal why;
        assert_int_equal(read_chunked(bad[i], 64, out, &len, &end, &why), HTTP1_REFUSED);
        assert_int_equal(why.status, 400);
    }
    char out[8];
    size_t len = 0, end = 0;
    struct http1_refusal why;
    assert_int_equal(read_chunked("123456789\r\n", 64, out, &len, &end, &why), HTTP1_REFUSED);
    assert_int_equal(why.status, 413);
    /* Leading zeros make no chunk larger (they were counted as digits and
     * "000000005" refused 413), but a size line stays bounded. */
    assert_int_equal(
        read_chunked("0000000000005\r\nhello\r\n0000000000\r\n\r\n", 64, out, &len, &end, &why),
        HTTP1_DONE);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(read_chunked("0000000123456789\r\n", 64, out, &len, &end, &why),
                     HTTP1_REFUSED);
    assert_int_equal(why.status, 413);
    static const char tail[] = "5\r\nhello\r\n0\r\n\r\n";
    char zeros[300 + sizeof tail];
    memset(zeros, '0', 300);
    memcpy(zeros + 300, tail, sizeof tail);
    assert_int_equal(read_chunked(zeros, 64, out, &len, &end, &why), HTTP1_REFUSED);
    assert_int_equal(why.status, 400);
}

/* The value rule heads are read with, for values sent on (a gateway's). */
static void field_values(void **state)
{
    (void)state;
    assert_true(http1_value_valid("message/ohttp-res"));
    assert_true(http1_value_valid("a\tb c \xff"));
    assert_true(http1_value_valid(""));
    assert_false(http1_value_valid("message/ohttp-res\x01"));
    assert_false(http1_value_valid("a\x7f"));
    assert_false(http1_value_valid("a\rSet-Cookie: x"));
    assert_false(http1_value_valid("a\nb"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(takes_a_head), cmocka_unit_test(waits_for_more),
        cmocka_unit_test(refuses),      cmocka_unit_test(chunked_bodies),
        cmocka_unit_test(field_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
