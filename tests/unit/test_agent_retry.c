/* Unit tests of the agent's retry policy (agent/retry.c): classification of
 * answers, backoff ceilings and full-jitter bounds, Retry-After parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"

#define J "application/json"

static enum agent_verdict classify(long status, const char *ctype, const char *body)
{
    return agent_retry_classify(status, ctype, body, body ? strlen(body) : 0);
}

static void classify_done(void **state)
{
    (void)state;
    assert_int_equal(classify(202, J, "{\"status\":\"accepted\"}"), AGENT_DONE);
    assert_int_equal(classify(200, J, "{\"status\":\"duplicate\"}"), AGENT_DONE);
    assert_int_equal(classify(200, "application/json; charset=utf-8", "{\"status\":\"duplicate\"}"),
                     AGENT_DONE);
    /* A 200 that is not the collector's acknowledgement: a captive portal. */
    assert_int_equal(classify(200, "text/html", "<html>Welcome to the hotel</html>"),
                     AGENT_RETRY_LONG);
    assert_int_equal(classify(200, J, "{\"ok\":true}"), AGENT_RETRY_LONG);
    assert_int_equal(classify(202, J, NULL), AGENT_RETRY_LONG);
    assert_int_equal(classify(200, J, "[\"status\"]"), AGENT_RETRY_LONG);
}

static void classify_retry(void **state)
{
    (void)state;
    static const long transient[] = {0, 408, 429, 500, 502, 503, 504, 599};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        assert_int_equal(classify(transient[i], NULL, NULL), AGENT_RETRY);
        /* A proxy's HTML 502 is just as transient. */
        assert_int_equal(classify(transient[i], "text/html", "<h1>Bad gateway</h1>"), AGENT_RETRY);
    }
}

static void classify_reject(void **state)
{
    (void)state;
    /* Final only when the collector itself says why. */
    assert_int_equal(
        classify(400, J, "{\"error\":\"invalid\",\"field\":\"imei\",\"detail\":\"x\"}"),
        AGENT_REJECT);
    assert_int_equal(classify(413, J, "{\"error\":\"too_large\"}"), AGENT_REJECT);
    assert_int_equal(classify(415, "Application/JSON", "{\"error\":\"unsupported_media_type\"}"),
                     AGENT_REJECT);
    assert_string_equal(agent_verdict_name(AGENT_REJECT), "reject");
}

static void classify_not_the_collector(void **state)
{
    (void)state;
    /* Redirects, a WAF's 403, a wrong path's 404, a proxy's HTML: retried
     * in hours, never final, whatever the body. */
    static const long other[] = {301, 302, 307, 308, 401, 403, 404, 405,
                                 409, 410, 422, 100, 201, 204, 600, -1};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        assert_int_equal(classify(other[i], NULL, NULL), AGENT_RETRY_LONG);
        assert_int_equal(classify(other[i], J, "{\"error\":\"not_found\"}"), AGENT_RETRY_LONG);
    }
    assert_int_equal(classify(400, "text/html", "<h1>400 Bad Request</h1>"), AGENT_RETRY_LONG);
    assert_int_equal(classify(400, J, "not json"), AGENT_RETRY_LONG);
    assert_int_equal(classify(413, "text/plain", "{\"error\":\"too_large\"}"), AGENT_RETRY_LONG);
    assert_int_equal(classify(400, "application/jsonx", "{\"error\":\"invalid\"}"),
                     AGENT_RETRY_LONG);
    assert_string_equal(agent_verdict_name(AGENT_RETRY_LONG), "retry-long");
}

static void long_delay_is_hours(void **state)
{
    (void)state;
    const int64_t hour = 3600 * 1000;
    assert_int_equal(agent_retry_long_delay_ms(1, 0), hour / 2);
    assert_int_equal(agent_retry_long_delay_ms(1, UINT64_MAX),
                     hour / 2 + (UINT64_MAX % (hour / 2 + 1)));
    for (unsigned f = 1; f < 40; f++) {
        for (uint64_t r = 0; r < 5; r++) {
            int64_t d = agent_retry_long_delay_ms(f, r * 0x9e3779b97f4a7c15ULL);
            int64_t ceiling = agent_retry_ceiling_ms(f, hour, 24 * hour);
            assert_true(d >= ceiling / 2);
            assert_true(d <= ceiling);
            assert_true(d <= 24 * hour);
        }
    }
    assert_int_equal(agent_retry_long_delay_ms(30, 0), 12 * hour);
}

static void ceiling_doubles_then_caps(void **state)
{
    (void)state;
    assert_int_equal(agent_retry_ceiling_ms(1, 2000, 21600000), 2000);
    assert_int_equal(agent_retry_ceiling_ms(2, 2000, 21600000), 4000);
    assert_int_equal(agent_retry_ceiling_ms(3, 2000, 21600000), 8000);
    assert_int_equal(agent_retry_ceiling_ms(14, 2000, 21600000), 16384000);
    assert_int_equal(agent_retry_ceiling_ms(15, 2000, 21600000), 21600000);
    /* No overflow however many failures. */
    assert_int_equal(agent_retry_ceiling_ms(1000000, 2000, 21600000), 21600000);
    assert_int_equal(agent_retry_ceiling_ms(200, INT64_MAX / 3, INT64_MAX), INT64_MAX);
    /* Degenerate inputs are clamped. */
    assert_int_equal(agent_retry_ceiling_ms(0, 2000, 21600000), 2000);
    assert_int_equal(agent_retry_ceiling_ms(5, 0, 0), 1);
    assert_int_equal(agent_retry_ceiling_ms(3, 5000, 1000), 1000);
}

static void full_jitter_bounds(void **state)
{
    (void)state;
    /* The delay spans [0, ceiling]: both ends reachable, nothing outside. */
    assert_int_equal(agent_retry_delay_ms(3, 100, 10000, -1, 0), 0);
    assert_int_equal(agent_retry_delay_ms(3, 100, 10000, -1, 400), 400);
    assert_int_equal(agent_retry_delay_ms(3, 100, 10000, -1, 401), 0);
    assert_int_equal(agent_retry_delay_ms(3, 100, 10000, -1, 400 + 401 * 7), 400);
    uint64_t x = 0x243f6a8885a308d3ULL;
    for (unsigned f = 1; f < 40; f++) {
        int64_t ceiling = agent_retry_ceiling_ms(f, 2000, 21600000);
        for (int i = 0; i < 200; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t d = agent_retry_delay_ms(f, 2000, 21600000, -1, x);
            assert_in_range(d, 0, ceiling);
        }
    }
}

static void retry_after_is_a_lower_bound(void **state)
{
    (void)state;
    /* Jitter drew 0, the server asked for 30 s: 30 s. */
    assert_int_equal(agent_retry_delay_ms(1, 2000, 21600000, 30000, 0), 30000);
    /* Jitter drew more than Retry-After: jitter stands. */
    assert_int_equal(agent_retry_delay_ms(3, 2000, 21600000, 1000, 5000), 5000);
    /* Retry-After beyond the cap is still honoured... */
    assert_int_equal(agent_retry_delay_ms(1, 100, 1000, 5000, 0), 5000);
    /* ...up to a day. */
    assert_int_equal(agent_retry_delay_ms(1, 100, 1000, INT64_MAX / 2, 0),
                     AGENT_RETRY_AFTER_MAX_MS);
    assert_int_equal(agent_retry_delay_ms(1, 100, 1000, 0, 50), 50);
}

static void retry_after_parse(void **state)
{
    (void)state;
    int64_t d = -1;
    const int64_t now = 784111777LL * 1000; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_true(agent_retry_after_parse("120", now, &d));
    assert_int_equal(d, 120000);
    assert_true(agent_retry_after_parse("  0 \r\n", now, &d));
    assert_int_equal(d, 0);
    assert_true(agent_retry_after_parse("Sun, 06 Nov 1994 08:50:07 GMT", now, &d));
    assert_int_equal(d, 30000);
    /* The obsolete forms recipients must accept. */
    assert_true(agent_retry_after_parse("Sunday, 06-Nov-94 08:49:47 GMT", now, &d));
    assert_int_equal(d, 10000);
    assert_true(agent_retry_after_parse("Sun Nov  6 08:49:57 1994", now, &d));
    assert_int_equal(d, 20000);
    /* A date in the past: no wait. */
    assert_true(agent_retry_after_parse("Sat, 05 Nov 1994 08:49:37 GMT", now, &d));
    assert_int_equal(d, 0);
    /* Huge delta-seconds saturate instead of overflowing. */
    assert_true(agent_retry_after_parse("99999999999999999999999", now, &d));
    assert_true(d > 0);

    assert_false(agent_retry_after_parse("", now, &d));
    assert_false(agent_retry_after_parse("   ", now, &d));
    assert_false(agent_retry_after_parse("-5", now, &d));
    assert_false(agent_retry_after_parse("12s", now, &d));
    assert_false(agent_retry_after_parse("1.5", now, &d));
    assert_false(agent_retry_after_parse("soon", now, &d));
    assert_false(agent_retry_after_parse(NULL, now, &d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_done),       cmocka_unit_test(classify_retry),
        cmocka_unit_test(classify_reject),     cmocka_unit_test(classify_not_the_collector),
        cmocka_unit_test(long_delay_is_hours), cmocka_unit_test(ceiling_doubles_then_caps),
        cmocka_unit_test(full_jitter_bounds),  cmocka_unit_test(retry_after_is_a_lower_bound),
        cmocka_unit_test(retry_after_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
