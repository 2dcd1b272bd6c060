/* Unit tests of sts/clock.h: the test clocks are read once (a later setenv
 * changes nothing until sts_clock_reload), empty means unset, malformed values
 * are ignored and reported by name, and the ranges of each variable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sts/clock.h"
#include "sts/date.h"

static void set(const char *day, const char *now, const char *busy)
{
    static const char *const names[] = {"STS_NOW_DAY", "STS_AGENT_NOW",
                                        "STS_SQLITE_BUSY_TIMEOUT_MS"};
    const char *values[] = {day, now, busy};
    for (int i = 0; i < 3; i++)
        assert_int_equal(values[i] ? setenv(names[i], values[i], 1) : unsetenv(names[i]), 0);
}

static void test_read_once(void **state)
{
    (void)state;
    char why[128] = "";
    int32_t day;
    int64_t s;
    set("2026-11-20", "1800000000", "50");
    /* The first call reads; main() makes it before any thread starts. */
    assert_int_equal(sts_clock_init(why, sizeof why), STS_OK);
    assert_string_equal(why, "");
    assert_true(sts_clock_fixed_day(&day));
    assert_int_equal(day, sts_day_from_ymd(2026, 11, 20));
    assert_int_equal(sts_day_today(), day);
    assert_true(sts_clock_injected_time(&s));
    assert_int_equal(s, 1800000000);
    assert_int_equal(sts_clock_busy_timeout_ms(), 50);

    /* Changing the environment afterwards changes nothing... */
    set("2030-01-01", NULL, "7");
    assert_int_equal(sts_clock_init(why, sizeof why), STS_OK);
    assert_true(sts_clock_fixed_day(&day));
    assert_int_equal(day, sts_day_from_ymd(2026, 11, 20));
    assert_true(sts_clock_injected_time(&s));
    assert_int_equal(sts_clock_busy_timeout_ms(), 50);

    /* ...until a test asks for it to be read again. */
    sts_clock_reload();
    assert_true(sts_clock_fixed_day(&day));
    assert_int_equal(day, sts_day_from_ymd(2030, 1, 1));
    assert_false(sts_clock_injected_time(&s));
    assert_int_equal(sts_clock_busy_timeout_ms(), 7);
}

static void test_unset_and_empty(void **state)
{
    (void)state;
    int32_t day = 5;
    int64_t s = 5;
    char why[128];
    for (int round = 0; round < 2; round++) {
        if (round == 0)
            set(NULL, NULL, NULL);
        else
            set("", "", "");
        sts_clock_reload();
        assert_int_equal(sts_clock_init(why, sizeof why), STS_OK);
        assert_false(sts_clock_fixed_day(&day));
        assert_false(sts_clock_injected_time(&s));
        assert_int_equal(day, 5); /* untouched */
        assert_int_equal(s, 5);
        assert_int_equal(sts_clock_busy_timeout_ms(), 10000);
    }
}

static void expect_malformed(const char *day, const char *now, const char *busy, const char *name)
{
    char why[128] = "";
    int32_t d;
    int64_t s;
    set(day, now, busy);
    sts_clock_reload();
    assert_int_equal(sts_clock_init(why, sizeof why), STS_EINVAL);
    if (!strstr(why, name))
        fail_msg("why \"%s\" does not name %s", why, name);
    /* The malformed one falls back to the real clock or the default. */
    if (day)
        assert_false(sts_clock_fixed_day(&d));
    if (now)
        assert_false(sts_clock_injected_time(&s));
    if (busy)
        assert_int_equal(sts_clock_busy_timeout_ms(), 10000);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_malformed("2023-02-29", NULL, NULL, "STS_NOW_DAY");
    expect_malformed("20261120", NULL, NULL, "STS_NOW_DAY");
    expect_malformed(NULL, "-1", NULL, "STS_AGENT_NOW");
    expect_malformed(NULL, "253402300800", NULL, "STS_AGENT_NOW");
    expect_malformed(NULL, "12s", NULL, "STS_AGENT_NOW");
    expect_malformed(NULL, NULL, "600001", "STS_SQLITE_BUSY_TIMEOUT_MS");
    expect_malformed(NULL, NULL, "fast", "STS_SQLITE_BUSY_TIMEOUT_MS");
    /* The bounds themselves are accepted. */
    int64_t s;
    set(NULL, "253402300799", "600000");
    sts_clock_reload();
    assert_int_equal(sts_clock_init(NULL, 0), STS_OK);
    assert_true(sts_clock_injected_time(&s));
    assert_int_equal(s, 253402300799LL);
    assert_int_equal(sts_clock_busy_timeout_ms(), 600000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_once),
        cmocka_unit_test(test_unset_and_empty),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
