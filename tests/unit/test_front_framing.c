/* Unit tests of front/framing.c: the RFC 9112 framing rules the HTTP front
 * applies to a request's header fields (front/http1.c parses them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "framing.h"

/* Feeds "Key\tValue" pairs, NULL-terminated, and returns the verdict. */
static bool refused(bool http11, const char *target, const char *const *fields, unsigned *status,
                    const char **field)
{
    struct framing f = {0};
    char key[128];
    for (size_t i = 0; fields[i]; i++) {
        const char *tab = strchr(fields[i], '\t');
        assert_non_null(tab);
        size_t n = (size_t)(tab - fields[i]);
        assert_true(n < sizeof key);
        memcpy(key, fields[i], n);
        key[n] = '\0';
        framing_add(&f, key, tab + 1);
    }
    const char *detail = NULL;
    bool r = framing_refused(&f, http11, target, status, field, &detail);
    if (r)
        assert_non_null(detail);
    return r;
}

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void accepted(void **state)
{
    (void)state;
    unsigned st;
    const char *fl;
    assert_false(refused(true, "/v1/reports", FIELDS("Host\tx", "Content-Length\t10"), &st, &fl));
    assert_false(
        refused(true, "/v1/reports", FIELDS("host\tx", "transfer-encoding\tChunked"), &st, &fl));
    assert_false(refused(false, "/healthz", FIELDS("Accept\t*/*"), &st, &fl)); /* 1.0: no Host */
    assert_false(refused(true, "/v1/stats/sales?by=%2C", FIELDS("Host\tx"), &st, &fl));
    /* Host values RFC 9112 section 3.2 allows: names, addresses, ports, empty. */
    const char *hosts[] = {"collector.example:443", "127.0.0.1:8080", "[::1]:8080", "[2001:db8::1]",
                           "my_host-1.example",     "a%41b",          "x:",         ""};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "Host\t%s", hosts[i]);
        if (refused(true, "/", FIELDS(line), &st, &fl))
            fail_msg("Host '%s' refused", hosts[i]);
    }
}

static void expect_refused(bool http11, const char *target, const char *const *fields,
                           unsigned want_status, const char *want_field)
{
    unsigned st = 0;
    const char *fl = NULL;
    assert_true(refused(http11, target, fields, &st, &fl));
    assert_int_equal(st, want_status);
    assert_string_equal(fl, want_field);
}

static void refusals(void **state)
{
    (void)state;
    expect_refused(true, "/", FIELDS("Accept\t*/*"), 400, "host");
    expect_refused(true, "/", FIELDS("Host\tx", "Host\ty"), 400, "host");
    /* Singletons a handler acts on: the front would take the first, a proxy
     * before it may have checked the last. */
    expect_refused(true, "/",
                   FIELDS("Host\tx", "Content-Type\tapplication/json", "content-type\ttext/plain"),
                   400, "content-type");
    expect_refused(true, "/",
                   FIELDS("Host\tx", "Authorization\tBearer a", "AUTHORIZATION\tBearer b"), 400,
                   "authorization");
    /* A Host that is no host (RFC 9112 section 3.2 answers 400): two parsers
     * could read another authority out of it. */
    const char *bad_hosts[] = {"a b",  "x/y",    "user@host", "h\xffst", "\"q\"",
                               "[::1", "[::1]x", "[]",        "x:80a",   "x:1:2",
                               "a%4",  "a%zz",   "x\\y",      "x?y",     "x#y"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "Host\t%s", bad_hosts[i]);
        expect_refused(true, "/", FIELDS(line), 400, "host");
    }
    expect_refused(false, "/", FIELDS("Host\tx", "Host\tx"), 400, "host");
    expect_refused(true, "/", FIELDS("Host\tx", "Content-Length\t1", "Content-Length\t1"), 400,
                   "content-length");
    expect_refused(true, "/", FIELDS("Host\tx", "Content-Length\t5", "Transfer-Encoding\tchunked"),
                   400, "transfer-encoding");
    expect_refused(true, "/",
                   FIELDS("Host\tx", "Transfer-Encoding\tchunked", "Transfer-Encoding\tchunked"),
                   400, "transfer-encoding");
    expect_refused(true, "/", FIELDS("Host\tx", "Transfer-Encoding\tgzip, chunked"), 400,
                   "transfer-encoding");
    expect_refused(true, "/", FIELDS("Host\tx", "Transfer-Encoding\txchunked"), 501,
                   "transfer-encoding");
    expect_refused(true, "/", FIELDS("Host\tx", "Transfer-Encoding\tidentity"), 501,
                   "transfer-encoding");
    expect_refused(false, "/", FIELDS("Transfer-Encoding\tchunked"), 400, "transfer-encoding");
    expect_refused(true, "/", FIELDS("Host\tx", "Transfer-Encoding \tchunked"), 400, "header");
    expect_refused(true, "/", FIELDS("Host \tx"), 400, "header");
    expect_refused(true, "/", FIELDS("Host\tx", "\tempty name"), 400, "header");
    expect_refused(true, "/", FIELDS("Host\tx", "X(y)\t1"), 400, "header");
    expect_refused(true, "/v1/reports%00.json", FIELDS("Host\tx"), 400, "target");
    expect_refused(true, "/v1/reports?x=%00", FIELDS("Host\tx"), 400, "target");
    /* Heads past the limits get 414 and 431. */
    char target[FRAMING_TARGET_MAX + 2];
    memset(target, 'a', sizeof target - 1);
    target[0] = '/';
    target[sizeof target - 1] = '\0';
    expect_refused(true, target, FIELDS("Host\tx"), 414, "target");
    target[FRAMING_TARGET_MAX] = '\0';
    assert_false(refused(true, target, FIELDS("Host\tx"), &(unsigned){0}, &(const char *){NULL}));
    char big[FRAMING_HEAD_MAX];
    memset(big, 'a', sizeof big - 1);
    memcpy(big, "X\t", 2);
    big[sizeof big - 1] = '\0';
    expect_refused(true, "/", FIELDS("Host\tx", big), 431, "header");
    const char *many[FRAMING_FIELDS_MAX + 2];
    for (size_t i = 0; i <= FRAMING_FIELDS_MAX; i++)
        many[i] = "X\t1";
    many[FRAMING_FIELDS_MAX + 1] = NULL;
    many[0] = "Host\tx";
    expect_refused(true, "/", many, 431, "header");
    many[FRAMING_FIELDS_MAX] = NULL;
    assert_false(refused(true, "/", many, &(unsigned){0}, &(const char *){NULL}));
    /* A bad name is answered first, whatever else is wrong. */
    expect_refused(true, "/%00", FIELDS("Bad Name\t1", "Host\tx", "Host\ty"), 400, "header");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
