/* Unit tests of sts/report.h: every field rule of the two reports, the strict
 * JSON codec (UTF-8, duplicates, unknown keys, size cap) and the encode/parse
 * round trip. Each refusal is checked by field and by exact reason, since both
 * travel unchanged to the device in the 400 answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/date.h"
#include "sts/report.h"

#define ID_A        "0123456789abcdef0123456789abcdef"
#define ID_L        "fedcba9876543210fedcba9876543210"
#define BAD_TEXT    "only letters, digits, space and . _ + / - are allowed"
#define BAD_ID      "must be 32 lower-case hexadecimal characters"
#define BAD_COUNTRY "not an assigned ISO 3166-1 alpha-2 code"
#define BAD_DAY     "must be a real calendar date as YYYY-MM-DD"
#define BAD_MONTH   "must be a month as YYYY-MM"

static int32_t today; /* 2026-11-20, set in main() */

/* A report body as (key, raw JSON value) pairs, in the spec's order. */
struct kv {
    const char *key;
    const char *raw;
};

static const struct kv activation[] = {
    {"v", "1"},
    {"type", "\"activation\""},
    {"report_id", "\"" ID_A "\""},
    {"imei", "\"352099001761481\""},
    {"brand", "\"acme-eu\""},
    {"model", "\"K400\""},
    {"sw", "\"K400-V12\""},
    {"country", "\"FR\""},
    {"day", "\"2026-11-20\""},
};

static const struct kv lifetime[] = {
    {"v", "1"},
    {"type", "\"lifetime\""},
    {"report_id", "\"" ID_L "\""},
    {"brand", "\"acme-eu\""},
    {"model", "\"K400\""},
    {"sw", "\"K400-V13\""},
    {"cohort", "\"2026-01\""},
    {"period", "\"2026-11\""},
    {"first", "false"},
    {"country", "\"FR\""},
};

static char body_buf[20000];

/* The base body with key's value replaced by raw (removed if raw is NULL,
 * appended if the base has no such key). */
static const char *build(const struct kv *base, size_t n, const char *key, const char *raw)
{
    size_t off = 0;
    bool seen = false;
    body_buf[off++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *v = base[i].raw;
        if (key && strcmp(base[i].key, key) == 0) {
            seen = true;
            if (!raw)
                continue;
            v = raw;
        }
        off += (size_t)snprintf(body_buf + off, sizeof body_buf - off, "%s\"%s\":%s",
                                off > 1 ? "," : "", base[i].key, v);
    }
    if (key && raw && !seen)
        off += (size_t)snprintf(body_buf + off, sizeof body_buf - off, ",\"%s\":%s", key, raw);
    assert_true(off + 2 < sizeof body_buf);
    body_buf[off++] = '}';
    body_buf[off] = '\0';
    return body_buf;
}

#define ACT(key, raw)  build(activation, sizeof activation / sizeof activation[0], key, raw)
#define LIFE(key, raw) build(lifetime, sizeof lifetime / sizeof lifetime[0], key, raw)

static unsigned fast_taken; /* bodies the fast reader took, not left to Jansson */

static enum sts_err parse_n(const char *body, size_t n, int32_t day, struct sts_report *r,
                            struct sts_field_error *err)
{
    memset(err, 0, sizeof *err);
    /* A heap copy of exactly n bytes so that ASan catches any read past the end. */
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, body, n);
    enum sts_err e = sts_report_parse(copy, n, day, r, err);
    /* Both readers agree wherever the fast one takes the body. */
    struct sts_report jr;
    struct sts_field_error je = {0};
    enum sts_err j = sts_report_parse_with(copy, n, day, STS_REPORT_READER_JANSSON, &jr, &je);
    if (j != STS_ENOMEM) {
        assert_int_equal(e, j);
        assert_string_equal(err->field, je.field);
        assert_string_equal(err->detail, je.detail);
        if (e == STS_OK)
            assert_memory_equal(r, &jr, sizeof jr);
    }
    struct sts_field_error fe = {0};
    if (sts_report_parse_with(copy, n, day, STS_REPORT_READER_FAST, &jr, &fe) != STS_EUNSUPPORTED)
        fast_taken++;
    free(copy);
    return e;
}

static void expect_ok_at(const char *body, int32_t day)
{
    struct sts_report r;
    struct sts_field_error err;
    enum sts_err e = parse_n(body, strlen(body), day, &r, &err);
    if (e != STS_OK)
        fail_msg("refused (%d) %s: %s: %s", (int)e, body, err.field, err.detail);
}

static void expect_ok(const char *body)
{
    expect_ok_at(body, today);
}

static void expect_refused_n(const char *body, size_t n, int32_t day, enum sts_err want,
                             const char *field, const char *detail)
{
    struct sts_report r;
    struct sts_field_error err;
    enum sts_err e = parse_n(body, n, day, &r, &err);
    if (e != want)
        fail_msg("got %d (%s: %s), expected %d for %.*s", (int)e, err.field, err.detail, (int)want,
                 (int)(n > 300 ? 300 : n), body);
    assert_string_equal(err.field, field);
    assert_string_equal(err.detail, detail);
}

static void expect_refused(const char *body, const char *field, const char *detail)
{
    expect_refused_n(body, strlen(body), today, STS_EINVAL, field, detail);
}

/* The byte offset just past token in body, as Jansson reports errors. */
static size_t end_of(const char *body, const char *token)
{
    const char *p = strstr(body, token);
    assert_non_null(p);
    return (size_t)(p - body) + strlen(token);
}

static void test_spec_examples(void **state)
{
    (void)state;
    expect_ok("{\"v\":1,\"type\":\"activation\",\"report_id\":\"0123456789abcdef0123456789abcdef\","
              "\"imei\":\"352099001761481\",\n \"brand\":\"acme-eu\",\"model\":\"K400\","
              "\"sw\":\"K400-V12\",\"country\":\"FR\",\"day\":\"2026-11-20\"}");
    expect_ok(
        "{\"v\":1,\"type\":\"lifetime\",\"report_id\":\"fedcba9876543210fedcba9876543210\","
        "\"brand\":\"acme-eu\",\n \"model\":\"K400\",\"sw\":\"K400-V13\",\"cohort\":\"2026-01\","
        "\"period\":\"2026-11\",\"first\":false,\"country\":\"FR\"}");
    /* Key order is free. */
    expect_ok("{\"day\":\"2026-11-20\",\"country\":\"FR\",\"sw\":\"K400-V12\",\"model\":\"K400\","
              "\"brand\":\"acme-eu\",\"imei\":\"352099001761481\",\"report_id\":\"" ID_A "\","
              "\"type\":\"activation\",\"v\":1}");

    struct sts_report r;
    struct sts_field_error err;
    const char *b = ACT(NULL, NULL);
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    assert_int_equal(r.v, 1);
    assert_int_equal(r.type, STS_REPORT_ACTIVATION);
    char id[STS_REPORT_ID_LEN + 1];
    sts_report_id_hex(r.report_id, id);
    assert_string_equal(id, ID_A);
    assert_string_equal(r.imei, "352099001761481");
    assert_string_equal(r.brand, "acme-eu");
    assert_string_equal(r.model, "K400");
    assert_string_equal(r.sw, "K400-V12");
    assert_string_equal(r.country, "FR");
    assert_int_equal(r.day, sts_day_from_ymd(2026, 11, 20));
    assert_int_equal(r.cohort, 0);
    assert_int_equal(r.period, 0);

    b = LIFE("first", "true");
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    assert_int_equal(r.type, STS_REPORT_LIFETIME);
    assert_int_equal(r.cohort, 2026 * 12);
    assert_int_equal(r.period, 2026 * 12 + 10);
    assert_true(r.first);
    assert_string_equal(r.imei, "");
    assert_int_equal(r.day, 0);
}

static void test_imei(void **state)
{
    (void)state;
    expect_ok(ACT("imei", "\"490154203237518\""));
    expect_ok(ACT("imei", "\"356938035643809\""));
    expect_refused(ACT("imei", "\"352099001761480\""), "imei", "check digit does not match");
    expect_refused(ACT("imei", "\"35209900176148\""), "imei", "must be exactly 15 digits");
    expect_refused(ACT("imei", "\"3520990017614810\""), "imei", "must be exactly 15 digits");
    expect_refused(ACT("imei", "\"35209900176148a\""), "imei", "must contain only the digits 0-9");
    expect_refused(ACT("imei", "\"\""), "imei", "must be exactly 15 digits");
    expect_refused(ACT("imei", "352099001761481"), "imei", "must be a string");
    expect_refused(ACT("imei", "null"), "imei", "must be a string");
    expect_refused(ACT("imei", NULL), "imei", "missing");
}

static void test_text_fields(void **state)
{
    (void)state;
    static const char *const fields[] = {"brand", "model", "sw"};
    char raw[200];
    for (size_t i = 0; i < 3; i++) {
        const char *f = fields[i];
        snprintf(raw, sizeof raw, "\"%.64s\"",
                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._+/-");
        expect_ok(ACT(f, raw));
        expect_ok(LIFE(f, raw));
        expect_ok(ACT(f, "\"A\""));
        expect_ok(ACT(f, "\"K400 V1.2_b+3/4-5\""));
        expect_ok(ACT(f, "\"a\\/b\"")); /* an escaped solidus is still '/' */
        snprintf(raw, sizeof raw, "\"%.65s\"",
                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._+/-");
        expect_refused(ACT(f, raw), f, "longer than 64 characters");
        expect_refused(LIFE(f, raw), f, "longer than 64 characters");
        expect_refused(ACT(f, "\"\""), f, "must not be empty");
        expect_refused(ACT(f, "\"K\xc3\xa9\""), f, BAD_TEXT);        /* é, raw UTF-8 */
        expect_refused(ACT(f, "\"K\\u00e9\""), f, BAD_TEXT);         /* é, escaped */
        expect_refused(ACT(f, "\"\xf0\x9f\x93\xb1\""), f, BAD_TEXT); /* U+1F4F1 */
        /* 40 characters, 80 bytes: refused for the alphabet, not the length. */
        snprintf(
            raw, sizeof raw, "\"%s\"",
            "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
            "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
            "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
            "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
        expect_refused(ACT(f, raw), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a\\\"b\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a;b\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a'b\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a\\nb\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a\\tb\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a,b\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a\\\\b\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"<b>\""), f, BAD_TEXT);
        expect_refused(ACT(f, "\"a\\u0000b\""), f, "must not contain NUL characters");
        expect_refused(ACT(f, "42"), f, "must be a string");
        expect_refused(ACT(f, "[\"x\"]"), f, "must be a string");
        expect_refused(ACT(f, NULL), f, "missing");
        expect_refused(LIFE(f, NULL), f, "missing");
    }
}

static void test_text_valid_charset(void **state)
{
    (void)state;
    char s[2] = {0};
    int allowed = 0;
    for (int c = 1; c < 256; c++) {
        s[0] = (char)c;
        allowed += sts_report_text_valid(s);
    }
    assert_int_equal(allowed, 26 + 26 + 10 + 5); /* a space alone is not */
    assert_false(sts_report_text_valid(""));
    assert_true(sts_report_text_valid("acme eu"));
    assert_false(sts_report_text_valid("acme "));
    assert_false(sts_report_text_valid(" acme"));
    assert_true(
        sts_report_text_valid("0123456789012345678901234567890123456789012345678901234567890123"));
    assert_false(
        sts_report_text_valid("01234567890123456789012345678901234567890123456789012345678901234"));
}

static void test_country(void **state)
{
    (void)state;
    static const char *const ok[] = {"FR", "DE", "US", "GB", "AX", "BQ"};
    static const char *const bad[] = {"XX", "EU", "UK", "ZZ", "fr", "Fr", "F", "F1"};
    char raw[16];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(raw, sizeof raw, "\"%s\"", ok[i]);
        expect_ok(ACT("country", raw));
        expect_ok(LIFE("country", raw));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(raw, sizeof raw, "\"%s\"", bad[i]);
        expect_refused(ACT("country", raw), "country", BAD_COUNTRY);
        expect_refused(LIFE("country", raw), "country", BAD_COUNTRY);
    }
    expect_refused(ACT("country", "\"FRA\""), "country", BAD_COUNTRY);
    expect_refused(ACT("country", "\"France\""), "country", BAD_COUNTRY);

    /* Absent means no consent and is fine; present-but-empty is not. */
    struct sts_report r;
    struct sts_field_error err;
    const char *b = ACT("country", NULL);
    assert_null(strstr(b, "country"));
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    assert_string_equal(r.country, "");
    b = LIFE("country", NULL);
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    assert_string_equal(r.country, "");
    expect_refused(ACT("country", "\"\""), "country",
                   "must be omitted, not empty, without consent");
    expect_refused(LIFE("country", "\"\""), "country",
                   "must be omitted, not empty, without consent");
    expect_refused(ACT("country", "null"), "country", "must be a string");
    expect_refused(ACT("country", "false"), "country", "must be a string");
}

static void test_day(void **state)
{
    (void)state;
    expect_ok(ACT("day", "\"2024-02-29\""));
    expect_ok(ACT("day", "\"2000-01-01\""));
    expect_ok(ACT("day", "\"2026-11-21\"")); /* today + 1: clock skew */
    expect_refused(ACT("day", "\"2026-11-22\""), "day", "more than one day in the future");
    expect_refused(ACT("day", "\"2999-01-01\""), "day", "more than one day in the future");
    expect_refused(ACT("day", "\"1999-12-31\""), "day", "before 2000-01-01");
    expect_refused(ACT("day", "\"1000-01-01\""), "day", "before 2000-01-01");
    expect_refused(ACT("day", "\"2023-02-29\""), "day", BAD_DAY);
    expect_refused(ACT("day", "\"2026-13-01\""), "day", BAD_DAY);
    expect_refused(ACT("day", "\"2026-00-10\""), "day", BAD_DAY);
    expect_refused(ACT("day", "\"2026-1-1\""), "day", BAD_DAY);
    expect_refused(ACT("day", "\"2026-04-31\""), "day", BAD_DAY);
    expect_refused(ACT("day", "\"2026-11-20T10:00:00Z\""), "day", BAD_DAY);
    expect_refused(ACT("day", "\"20261120\""), "day", BAD_DAY);
    expect_refused(ACT("day", "\"\""), "day", BAD_DAY);
    expect_refused(ACT("day", "20261120"), "day", "must be a string");
    expect_refused(ACT("day", NULL), "day", "missing");

    /* The limit moves with today. */
    int32_t leap_day = sts_day_from_ymd(2024, 2, 28);
    expect_ok_at(ACT("day", "\"2024-02-29\""), leap_day);
    expect_refused_n(ACT("day", "\"2024-03-01\""), strlen(body_buf), leap_day, STS_EINVAL, "day",
                     "more than one day in the future");
}

static void test_report_id(void **state)
{
    (void)state;
    expect_ok(ACT("report_id", "\"00000000000000000000000000000000\""));
    expect_ok(LIFE("report_id", "\"ffffffffffffffffffffffffffffffff\""));
    expect_refused(ACT("report_id", "\"0123456789ABCDEF0123456789abcdef\""), "report_id", BAD_ID);
    expect_refused(ACT("report_id", "\"0123456789abcdef0123456789abcde\""), "report_id", BAD_ID);
    expect_refused(ACT("report_id", "\"0123456789abcdef0123456789abcdef0\""), "report_id", BAD_ID);
    expect_refused(ACT("report_id", "\"0123456789abcdef0123456789abcdeg\""), "report_id", BAD_ID);
    expect_refused(ACT("report_id", "\"0123456789abcdef-123456789abcdef\""), "report_id", BAD_ID);
    expect_refused(ACT("report_id", "\"\""), "report_id", BAD_ID);
    expect_refused(LIFE("report_id", "\"0123456789ABCDEF0123456789abcdef\""), "report_id", BAD_ID);
    expect_refused(ACT("report_id", "12345"), "report_id", "must be a string");
    expect_refused(ACT("report_id", NULL), "report_id", "missing");
    expect_refused(LIFE("report_id", NULL), "report_id", "missing");
}

static void test_version(void **state)
{
    (void)state;
    expect_refused(ACT("v", "2"), "v", "unsupported protocol version 2 (this side speaks 1)");
    expect_refused(LIFE("v", "2"), "v", "unsupported protocol version 2 (this side speaks 1)");
    expect_refused(ACT("v", "0"), "v", "unsupported protocol version 0 (this side speaks 1)");
    expect_refused(ACT("v", "-1"), "v", "unsupported protocol version -1 (this side speaks 1)");
    expect_refused(ACT("v", "\"1\""), "v", "must be an integer");
    expect_refused(ACT("v", "1.0"), "v", "must be an integer");
    expect_refused(ACT("v", "1e0"), "v", "must be an integer");
    expect_refused(ACT("v", "true"), "v", "must be an integer");
    expect_refused(ACT("v", "null"), "v", "must be an integer");
    expect_refused(ACT("v", NULL), "v", "missing");
    expect_refused(LIFE("v", NULL), "v", "missing");
}

static void test_type(void **state)
{
    (void)state;
    static const char *const msg = "must be \"activation\" or \"lifetime\"";
    expect_refused(ACT("type", "\"Activation\""), "type", msg);
    expect_refused(ACT("type", "\"sale\""), "type", msg);
    expect_refused(ACT("type", "\"\""), "type", msg);
    expect_refused(ACT("type", "\"activation \""), "type", msg);
    expect_refused(ACT("type", "1"), "type", "must be a string");
    expect_refused(ACT("type", NULL), "type", "missing");
    expect_refused("{}", "type", "missing");
}

static void test_unknown_and_misplaced_keys(void **state)
{
    (void)state;
    expect_refused(ACT("phone", "\"+33612345678\""), "phone",
                   "unknown field (not allowed by protocol v1)");
    expect_refused(LIFE("phone", "\"+33612345678\""), "phone",
                   "unknown field (not allowed by protocol v1)");
    expect_refused(ACT("serial", "\"R58M123\""), "serial",
                   "unknown field (not allowed by protocol v1)");
    expect_refused(ACT("IMEI", "\"352099001761481\""), "IMEI",
                   "unknown field (not allowed by protocol v1)");
    expect_refused(ACT("", "1"), "", "unknown field (not allowed by protocol v1)");
    expect_refused(LIFE("imei", "\"352099001761481\""), "imei", "not allowed in a lifetime report");
    expect_refused(LIFE("day", "\"2026-11-20\""), "day", "not allowed in a lifetime report");
    expect_refused(ACT("cohort", "\"2026-01\""), "cohort", "not allowed in an activation report");
    expect_refused(ACT("period", "\"2026-01\""), "period", "not allowed in an activation report");
    expect_refused(ACT("first", "true"), "first", "not allowed in an activation report");

    /* A long or non-ASCII key is named, cut to fit the field on a character
     * boundary so that the error stays valid UTF-8. */
    expect_refused(ACT("location_latitude_longitude_accuracy", "1"),
                   "location_latitude_longitude_acc", "unknown field (not allowed by protocol v1)");
    expect_refused(ACT("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                       "1"),
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                   "unknown field (not allowed by protocol v1)");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    static const char *const msg = "appears more than once";
    expect_refused(ACT("imei", "\"352099001761481\",\"imei\":\"490154203237518\""), "imei", msg);
    expect_refused(ACT("imei", "\"352099001761481\",\"imei\":\"352099001761481\""), "imei", msg);
    expect_refused(ACT("country", "\"FR\",\"country\":\"DE\""), "country", msg);
    expect_refused(LIFE("first", "true,\"first\":false"), "first", msg);
    expect_refused(ACT("v", "1,\"v\":1"), "v", msg);
    expect_refused(ACT("phone", "\"1\",\"phone\":\"2\""), "phone", msg);
    /* The duplicate is named by its value, not by how it was escaped. */
    expect_refused(ACT("imei", "\"352099001761481\",\"im\\u0065i\":\"352099001761481\""), "imei",
                   msg);
    /* Jansson only quotes short tokens in its message; a long key is still named. */
    expect_refused(ACT("phone_number_of_the_owner", "\"1\",\"phone_number_of_the_owner\":\"2\""),
                   "phone_number_of_the_owner", msg);
    expect_refused(
        ACT("a_key_with_\\\"quotes\\\"_in_it", "1,\"a_key_with_\\\"quotes\\\"_in_it\":2"),
        "a_key_with_\"quotes\"_in_it", msg);
}

static void test_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xf0\x80\x80\xaf", /* overlong, 4 bytes */
        "\xed\xa0\x80",     /* U+D800, a surrogate */
        "\xed\xbf\xbf",     /* U+DFFF */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* truncated */
        "\xf0\x9f\x93",     /* truncated */
        "\x80",             /* lone continuation byte */
        "\xbf",
        "\xfe",
        "\xff",
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xc3\x28",             /* bad continuation */
    };
    char body[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "\"K%sK\"", bad[i]);
        expect_refused(ACT("brand", body), "body", "not valid UTF-8");
        expect_refused(ACT(bad[i], "1"), "body", "not valid UTF-8");
    }
    /* Truncated at the very end of the body. */
    const char *b = ACT(NULL, NULL);
    size_t n = strlen(b);
    memcpy(body, b, n);
    body[n] = '\xe2';
    body[n + 1] = '\x82';
    expect_refused_n(body, n + 2, today, STS_EINVAL, "body", "not valid UTF-8");
    body[n] = '\xc3';
    expect_refused_n(body, n + 1, today, STS_EINVAL, "body", "not valid UTF-8");

    /* Valid UTF-8 is then judged by the field grammar: 2, 3 and 4 bytes. */
    expect_refused(ACT("model", "\"\xc3\xa9\""), "model", BAD_TEXT);
    expect_refused(ACT("model", "\"\xe2\x82\xac\""), "model", BAD_TEXT);
    expect_refused(ACT("model", "\"\xf4\x8f\xbf\xbf\""), "model", BAD_TEXT);
    expect_refused(ACT("model", "\"\xef\xbb\xbf\""), "model", BAD_TEXT);
    /* Lone surrogates written as escapes are refused too. */
    b = ACT("model", "\"\\ud800\"");
    char want[160];
    snprintf(want, sizeof want,
             "not valid JSON: invalid Unicode '\\uD800' near '\"\\ud800\"' at byte %zu",
             end_of(b, "\"\\ud800\""));
    expect_refused(b, "body", want);
}

static void test_body_shape(void **state)
{
    (void)state;
    expect_refused("[]", "body", "must be a JSON object");
    expect_refused("[{\"v\":1}]", "body", "must be a JSON object");
    expect_refused("", "body", "not valid JSON: '[' or '{' expected near end of file at byte 0");
    expect_refused("   ", "body", "not valid JSON: '[' or '{' expected near end of file at byte 3");
    expect_refused("null", "body", "not valid JSON: '[' or '{' expected near 'null' at byte 4");
    expect_refused("\"x\"", "body", "not valid JSON: '[' or '{' expected near '\"x\"' at byte 3");
    expect_refused("42", "body", "not valid JSON: '[' or '{' expected near '42' at byte 2");
    expect_refused("{", "body",
                   "not valid JSON: string or '}' expected near end of file at byte 1");

    char body[1024];
    const char *b = ACT(NULL, NULL);
    snprintf(body, sizeof body, "%s x", b);
    char want[256];
    snprintf(want, sizeof want, "not valid JSON: end of file expected near 'x' at byte %zu",
             strlen(b) + 2);
    expect_refused(body, "body", want);
    snprintf(body, sizeof body, "%s{}", b);
    snprintf(want, sizeof want, "not valid JSON: end of file expected near '{' at byte %zu",
             strlen(b) + 1);
    expect_refused(body, "body", want);
    /* Found by fuzz_report: Jansson quotes the input near an invalid escape
     * byte by byte, and stopped inside a 2-byte character; the answer must
     * still be valid UTF-8. */
    static const char esc[] = "\"p\xc7\x95\\\\\\\\\\\xc6\x9d\xc7\x9f\x11";
    expect_refused_n(esc, sizeof esc - 1, today, STS_EINVAL, "body",
                     "not valid JSON: invalid escape near '\"p\xc7\x95\\\\\\\\\\?' at byte 10");

    /* Whitespace around the object is fine. */
    snprintf(body, sizeof body, " \n\t%s\r\n ", b);
    expect_ok(body);
    /* A NUL byte inside the given length is not the end of the body. */
    memcpy(body, b, strlen(b));
    body[strlen(b)] = '\0';
    struct sts_report r;
    struct sts_field_error err;
    assert_int_equal(parse_n(body, strlen(b) + 1, today, &r, &err), STS_EINVAL);
    assert_string_equal(err.field, "body");
}

static void test_size_cap(void **state)
{
    (void)state;
    static char body[STS_REPORT_MAX_BODY + 16];
    const char *b = ACT(NULL, NULL);
    size_t n = strlen(b);
    /* Valid report padded with spaces before its closing brace to exactly 8 KiB. */
    memset(body, ' ', sizeof body);
    memcpy(body, b, n - 1);
    body[STS_REPORT_MAX_BODY - 1] = '}';
    struct sts_report r;
    struct sts_field_error err;
    assert_int_equal(parse_n(body, STS_REPORT_MAX_BODY, today, &r, &err), STS_OK);
    assert_string_equal(r.imei, "352099001761481");

    body[STS_REPORT_MAX_BODY - 1] = ' ';
    body[STS_REPORT_MAX_BODY] = '}';
    expect_refused_n(body, STS_REPORT_MAX_BODY + 1, today, STS_ETOOBIG, "body",
                     "larger than 8192 bytes");
    /* The cap is checked before anything else. */
    memset(body, '\xff', sizeof body);
    expect_refused_n(body, STS_REPORT_MAX_BODY + 1, today, STS_ETOOBIG, "body",
                     "larger than 8192 bytes");
}

static void test_lifetime_months(void **state)
{
    (void)state;
    expect_ok(LIFE("cohort", "\"2000-01\""));
    expect_ok(LIFE("period", "\"2026-01\"")); /* period == cohort */
    expect_ok(build(lifetime, 10, NULL, NULL));
    expect_refused(LIFE("cohort", "\"1999-12\""), "cohort", "before 2000-01");
    expect_refused(LIFE("period", "\"1999-12\""), "period", "before 2000-01");
    expect_refused(LIFE("period", "\"2025-12\""), "period", "before the cohort month");
    expect_refused(LIFE("cohort", "\"2026-12\""), "cohort", "in the future");
    expect_refused(LIFE("period", "\"2026-12\""), "period", "in the future");
    expect_refused(LIFE("cohort", "\"2026-13\""), "cohort", BAD_MONTH);
    expect_refused(LIFE("cohort", "\"2026-00\""), "cohort", BAD_MONTH);
    expect_refused(LIFE("cohort", "\"2026-1\""), "cohort", BAD_MONTH);
    expect_refused(LIFE("period", "\"2026-11-01\""), "period", BAD_MONTH);
    expect_refused(LIFE("period", "\"\""), "period", BAD_MONTH);
    expect_refused(LIFE("period", "202611"), "period", "must be a string");
    expect_refused(LIFE("cohort", NULL), "cohort", "missing");
    expect_refused(LIFE("period", NULL), "period", "missing");

    /* Next month is accepted only from the last day of this one (one day of skew). */
    const char *b = LIFE("period", "\"2026-12\"");
    expect_ok_at(b, sts_day_from_ymd(2026, 11, 30));
    expect_refused_n(b, strlen(b), sts_day_from_ymd(2026, 11, 29), STS_EINVAL, "period",
                     "in the future");
    expect_ok_at(LIFE("period", "\"2027-01\""), sts_day_from_ymd(2026, 12, 31));

    expect_ok(LIFE("first", "true"));
    expect_refused(LIFE("first", "\"true\""), "first", "must be true or false");
    expect_refused(LIFE("first", "1"), "first", "must be true or false");
    expect_refused(LIFE("first", "null"), "first", "must be true or false");
    expect_refused(LIFE("first", NULL), "first", "missing");
}

static void assert_reports_equal(const struct sts_report *a, const struct sts_report *b)
{
    assert_int_equal(a->v, b->v);
    assert_int_equal(a->type, b->type);
    assert_memory_equal(a->report_id, b->report_id, sizeof a->report_id);
    assert_string_equal(a->brand, b->brand);
    assert_string_equal(a->model, b->model);
    assert_string_equal(a->sw, b->sw);
    assert_string_equal(a->country, b->country);
    assert_string_equal(a->imei, b->imei);
    assert_int_equal(a->day, b->day);
    assert_int_equal(a->cohort, b->cohort);
    assert_int_equal(a->period, b->period);
    assert_int_equal(a->first, b->first);
}

/* Encodes r, checks the exact text and the key set, parses it back. */
static void round_trip(const struct sts_report *r, const char *want_json, size_t want_keys)
{
    char *s = NULL;
    assert_int_equal(sts_report_encode(r, &s), STS_OK);
    assert_non_null(s);
    assert_string_equal(s, want_json);

    json_error_t jerr;
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), want_keys);
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        static const char *const act_keys[] = {"v",     "type", "report_id", "imei", "brand",
                                               "model", "sw",   "country",   "day"};
        static const char *const life_keys[] = {"v",  "type",   "report_id", "brand", "model",
                                                "sw", "cohort", "period",    "first", "country"};
        const char *const *allowed = r->type == STS_REPORT_ACTIVATION ? act_keys : life_keys;
        size_t nallowed = r->type == STS_REPORT_ACTIVATION ? 9 : 10;
        bool found = false;
        for (size_t i = 0; i < nallowed; i++)
            found |= strcmp(allowed[i], key) == 0;
        if (!found)
            fail_msg("key \"%s\" not allowed", key);
    }
    assert_int_equal(json_object_get(o, "country") != NULL, r->country[0] != '\0');
    json_decref(o);

    struct sts_report back;
    struct sts_field_error err;
    assert_int_equal(parse_n(s, strlen(s), today, &back, &err), STS_OK);
    assert_reports_equal(r, &back);
    free(s);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct sts_report r;
    struct sts_field_error err;
    const char *b = ACT(NULL, NULL);
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    round_trip(&r,
               "{\"v\":1,\"type\":\"activation\",\"report_id\":\"" ID_A "\","
               "\"imei\":\"352099001761481\",\"brand\":\"acme-eu\",\"model\":\"K400\","
               "\"sw\":\"K400-V12\",\"country\":\"FR\",\"day\":\"2026-11-20\"}",
               9);

    b = ACT("country", NULL);
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    round_trip(&r,
               "{\"v\":1,\"type\":\"activation\",\"report_id\":\"" ID_A "\","
               "\"imei\":\"352099001761481\",\"brand\":\"acme-eu\",\"model\":\"K400\","
               "\"sw\":\"K400-V12\",\"day\":\"2026-11-20\"}",
               8);

    b = LIFE(NULL, NULL);
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    round_trip(&r,
               "{\"v\":1,\"type\":\"lifetime\",\"report_id\":\"" ID_L "\",\"brand\":\"acme-eu\","
               "\"model\":\"K400\",\"sw\":\"K400-V13\",\"cohort\":\"2026-01\","
               "\"period\":\"2026-11\",\"first\":false,\"country\":\"FR\"}",
               10);

    b = LIFE("country", NULL);
    assert_int_equal(parse_n(b, strlen(b), today, &r, &err), STS_OK);
    r.first = true;
    round_trip(&r,
               "{\"v\":1,\"type\":\"lifetime\",\"report_id\":\"" ID_L "\",\"brand\":\"acme-eu\","
               "\"model\":\"K400\",\"sw\":\"K400-V13\",\"cohort\":\"2026-01\","
               "\"period\":\"2026-11\",\"first\":true}",
               9);

    /* A report built in code, with every character the text grammar allows. */
    struct sts_report m;
    memset(&m, 0, sizeof m);
    m.v = STS_PROTOCOL_VERSION;
    m.type = STS_REPORT_ACTIVATION;
    assert_int_equal(sts_report_new_id(m.report_id), STS_OK);
    snprintf(m.imei, sizeof m.imei, "490154203237518");
    snprintf(m.brand, sizeof m.brand, "A z/0.9_+-");
    snprintf(m.model, sizeof m.model, "%s",
             "0123456789012345678901234567890123456789012345678901234567890123");
    snprintf(m.sw, sizeof m.sw, "v/1");
    snprintf(m.country, sizeof m.country, "AX");
    m.day = sts_day_from_ymd(2000, 1, 1);
    assert_int_equal(sts_report_validate(&m, today, &err), STS_OK);
    char *s = NULL;
    assert_int_equal(sts_report_encode(&m, &s), STS_OK);
    struct sts_report back;
    assert_int_equal(parse_n(s, strlen(s), today, &back, &err), STS_OK);
    assert_reports_equal(&m, &back);
    free(s);

    /* An unknown type is not encoded. */
    m.type = (enum sts_report_type)0;
    s = NULL;
    assert_int_equal(sts_report_encode(&m, &s), STS_EINVAL);
    assert_null(s);
}

static void test_validate_struct(void **state)
{
    (void)state;
    struct sts_report r, ok;
    struct sts_field_error err;
    const char *b = ACT(NULL, NULL);
    assert_int_equal(parse_n(b, strlen(b), today, &ok, &err), STS_OK);
    assert_int_equal(sts_report_validate(&ok, today, NULL), STS_OK);

    r = ok;
    r.v = 2;
    assert_int_equal(sts_report_validate(&r, today, &err), STS_EINVAL);
    assert_string_equal(err.field, "v");
    assert_string_equal(err.detail, "unsupported protocol version 2 (this side speaks 1)");
    assert_int_equal(sts_report_validate(&r, today, NULL), STS_EINVAL);

    r = ok;
    r.type = (enum sts_report_type)3;
    assert_int_equal(sts_report_validate(&r, today, &err), STS_EINVAL);
    assert_string_equal(err.field, "type");

    r = ok;
    r.imei[14] = '0';
    assert_int_equal(sts_report_validate(&r, today, &err), STS_EINVAL);
    assert_string_equal(err.field, "imei");
    assert_string_equal(err.detail, "check digit does not match");

    r = ok;
    r.country[0] = '\0'; /* no consent */
    assert_int_equal(sts_report_validate(&r, today, &err), STS_OK);
}

static void test_ids(void **state)
{
    (void)state;
    char a[STS_REPORT_ID_LEN + 1], b[STS_REPORT_ID_LEN + 1];
    uint8_t ra[16], rb[16];
    assert_int_equal(sts_report_new_id(ra), STS_OK);
    assert_int_equal(sts_report_new_id(rb), STS_OK);
    sts_report_id_hex(ra, a);
    sts_report_id_hex(rb, b);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);

    uint8_t raw[16];
    assert_int_equal(sts_report_id_bytes(ID_A, raw), STS_OK);
    static const uint8_t want[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                     0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    assert_memory_equal(raw, want, 16);
    assert_int_equal(sts_report_id_bytes("0123456789ABCDEF0123456789abcdef", raw), STS_EINVAL);
    assert_int_equal(sts_report_id_bytes("0123456789abcdef", raw), STS_EINVAL);

    assert_string_equal(sts_report_type_name(STS_REPORT_ACTIVATION), "activation");
    assert_string_equal(sts_report_type_name(STS_REPORT_LIFETIME), "lifetime");
    assert_null(sts_report_type_name((enum sts_report_type)0));
    assert_null(sts_report_type_name((enum sts_report_type)3));
}

/* The fast reader takes the plain report and refusals inside it, and leaves
 * escapes, duplicates and invalid JSON to Jansson (parse_n compares both). */
static void test_fast_reader(void **state)
{
    (void)state;
    struct sts_report r;
    struct sts_field_error err;
    static const struct {
        bool life, taken;
        const char *key, *raw;
    } cases[] = {
        {false, true, NULL, NULL},
        {true, true, "first", "true"},
        {false, true, "imei", "\"352099001761480\""},
        {false, true, "v", "2"},
        {false, true, "day", "\"2026-13-01\""},
        {false, false, "brand", "\"acme\\u002deu\""},
        {false, false, "v", "1.0"},
        {false, false, "v", "01"},
        {false, false, "extra", "1"},
        {false, false, "brand", "\"\xc3\xa9\""},
        {true, false, "imei", "\"352099001761481\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *b =
            cases[i].life ? LIFE(cases[i].key, cases[i].raw) : ACT(cases[i].key, cases[i].raw);
        unsigned before = fast_taken;
        parse_n(b, strlen(b), today, &r, &err);
        assert_int_equal(fast_taken, before + (cases[i].taken ? 1 : 0));
    }
    const char *dup = "{\"v\":1,\"v\":1}";
    unsigned before = fast_taken;
    parse_n(dup, strlen(dup), today, &r, &err);
    assert_int_equal(fast_taken, before);
}

int main(void)
{
    today = sts_day_from_ymd(2026, 11, 20);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples),
        cmocka_unit_test(test_imei),
        cmocka_unit_test(test_text_fields),
        cmocka_unit_test(test_text_valid_charset),
        cmocka_unit_test(test_country),
        cmocka_unit_test(test_day),
        cmocka_unit_test(test_report_id),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_unknown_and_misplaced_keys),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_body_shape),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_lifetime_months),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_validate_struct),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_fast_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
