/* Unit tests of sts/date.h: the days-from-civil arithmetic against an
 * independent calendar walk, strict parsing and printing, ISO weeks and the
 * STS_NOW_DAY override of today. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sts/clock.h"
#include "sts/date.h"

static void test_known_values(void **state)
{
    (void)state;
    assert_int_equal(sts_day_from_ymd(1970, 1, 1), 0);
    assert_int_equal(sts_day_from_ymd(1970, 1, 2), 1);
    assert_int_equal(sts_day_from_ymd(1969, 12, 31), -1);
    assert_int_equal(sts_day_from_ymd(2000, 1, 1), 10957);
    assert_int_equal(sts_day_from_ymd(2000, 3, 1), 11017);
    assert_int_equal(sts_day_from_ymd(1900, 1, 1), -25567);
    assert_int_equal(sts_day_from_ymd(2038, 1, 19), 24855);
    assert_int_equal(sts_day_from_ymd(2026, 11, 20), 20777);
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Walks every day from 1900-01-01 to 2100-12-31 with a plain calendar (not the
 * algorithm under test) and checks both directions for each. */
static void test_round_trip_1900_2100(void **state)
{
    (void)state;
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int32_t day = sts_day_from_ymd(1900, 1, 1);
    int count = 0;
    for (int y = 1900; y <= 2100; y++) {
        for (int m = 1; m <= 12; m++) {
            int last = dim[m - 1] + (m == 2 && leap(y));
            for (int d = 1; d <= last; d++, day++, count++) {
                int yy, mm, dd;
                assert_int_equal(sts_day_from_ymd(y, m, d), day);
                sts_day_to_ymd(day, &yy, &mm, &dd);
                assert_int_equal(yy, y);
                assert_int_equal(mm, m);
                assert_int_equal(dd, d);
                assert_int_equal(sts_day_month(day), y * 12 + m - 1);
                if (d == 1)
                    assert_int_equal(sts_month_first_day(y * 12 + m - 1), day);

                char buf[STS_DAY_LEN + 1], want[32];
                snprintf(want, sizeof want, "%04d-%02d-%02d", y, m, d);
                sts_day_format(day, buf);
                assert_string_equal(buf, want);
                int32_t back = 0;
                assert_int_equal(sts_day_parse(buf, &back), STS_OK);
                assert_int_equal(back, day);
            }
        }
    }
    /* 201 years, 49 of them leap (2000 is, 1900 and 2100 are not). */
    assert_int_equal(count, 201 * 365 + 49);
}

static void test_round_trip_wide(void **state)
{
    (void)state;
    /* Years 1000..9999, the range the parser accepts, and a little around it. */
    int32_t lo = sts_day_from_ymd(990, 1, 1), hi = sts_day_from_ymd(10010, 12, 31);
    for (int32_t day = lo; day <= hi; day += 7) {
        int y, m, d;
        sts_day_to_ymd(day, &y, &m, &d);
        assert_int_equal(sts_day_from_ymd(y, m, d), day);
    }
}

static void expect_day(const char *s, enum sts_err want)
{
    int32_t day = 12345;
    enum sts_err e = sts_day_parse(s, &day);
    if (e != want)
        fail_msg("sts_day_parse(\"%s\") = %d, expected %d", s, (int)e, (int)want);
    if (e != STS_OK)
        assert_int_equal(day, 12345); /* untouched on failure */
}

static void test_day_parse(void **state)
{
    (void)state;
    static const char *const ok[] = {"2024-02-29", "2000-02-29", "2026-12-31", "1999-12-31",
                                     "1000-01-01", "9999-12-31", "2026-01-01"};
    static const char *const bad[] = {
        "2023-02-29", "1900-02-29",  "2100-02-29",  "2026-13-01",
        "2026-00-10", "2026-01-00",  "2026-04-31",  "2026-01-32",
        "2026-1-1",   "2026-01-1",   "26-01-01",    "0999-12-31",
        "2026/01/01", "2026-01-01 ", " 2026-01-01", "2026-01-01T00:00:00",
        "+026-01-01", "2026--1-01",  "2026-0a-01",  "",
        "2026-01",    "20260101",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect_day(ok[i], STS_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_day(bad[i], STS_EINVAL);

    int32_t d;
    assert_int_equal(sts_day_parse("2024-02-29", &d), STS_OK);
    assert_int_equal(d, sts_day_from_ymd(2024, 2, 29));
}

static void test_month(void **state)
{
    (void)state;
    int32_t m = -1;
    char buf[STS_MONTH_LEN + 1];
    assert_int_equal(sts_month_parse("2026-11", &m), STS_OK);
    assert_int_equal(m, 2026 * 12 + 10);
    sts_month_format(m, buf);
    assert_string_equal(buf, "2026-11");
    assert_int_equal(sts_month_parse("2000-01", &m), STS_OK);
    assert_int_equal(m, 24000);
    sts_month_format(24000, buf);
    assert_string_equal(buf, "2000-01");
    sts_month_format(24000 - 1, buf);
    assert_string_equal(buf, "1999-12");

    static const char *const bad[] = {"2026-13", "2026-00", "2026-1",     "2026-011", "0999-01",
                                      "2026/01", "",        "2026-01-01", "202a-01",  " 2026-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sts_month_parse(bad[i], &m) != STS_EINVAL)
            fail_msg("sts_month_parse(\"%s\") accepted", bad[i]);
    }
    assert_int_equal(sts_day_month(sts_day_from_ymd(2026, 2, 28)), 2026 * 12 + 1);
    assert_int_equal(sts_month_first_day(2026 * 12 + 1), sts_day_from_ymd(2026, 2, 1));
}

static void expect_week(int y, int m, int d, int want_year, int want_week)
{
    int iy = 0, iw = 0;
    int32_t day = sts_day_from_ymd(y, m, d);
    sts_day_iso_week(day, &iy, &iw);
    if (iy != want_year || iw != want_week)
        fail_msg("%04d-%02d-%02d: got %d-W%02d, expected %d-W%02d", y, m, d, iy, iw, want_year,
                 want_week);
    /* The week starts on a Monday no later than day and less than a week before. */
    int32_t monday = sts_day_week_start(day);
    assert_true(monday <= day && day - monday < 7);
    int my, mw;
    sts_day_iso_week(monday, &my, &mw);
    assert_int_equal(my, iy);
    assert_int_equal(mw, iw);
}

static void test_iso_week(void **state)
{
    (void)state;
    expect_week(2020, 12, 31, 2020, 53);
    expect_week(2021, 1, 1, 2020, 53);
    expect_week(2021, 1, 3, 2020, 53);
    expect_week(2021, 1, 4, 2021, 1);
    expect_week(2026, 1, 1, 2026, 1);
    expect_week(2025, 12, 29, 2026, 1);
    expect_week(2024, 12, 30, 2025, 1);
    expect_week(2008, 12, 29, 2009, 1);
    expect_week(2010, 1, 3, 2009, 53);
    expect_week(2016, 1, 3, 2015, 53);
    expect_week(2027, 1, 1, 2026, 53);
    expect_week(2026, 11, 20, 2026, 47);
    expect_week(1970, 1, 1, 1970, 1);
    expect_week(1969, 12, 29, 1970, 1);
    expect_week(1969, 12, 28, 1969, 52);

    /* 1970-01-05 was a Monday. */
    assert_int_equal(sts_day_week_start(sts_day_from_ymd(1970, 1, 5)), 4);
    assert_int_equal(sts_day_week_start(sts_day_from_ymd(1970, 1, 11)), 4);
    assert_int_equal(sts_day_week_start(sts_day_from_ymd(1970, 1, 4)), -3);
    assert_int_equal(sts_day_week_start(-1), -3);

    /* Every week of 2000..2030 is numbered 1..52 or 53, consecutively. */
    int prev_year = 1999, prev_week = 52;
    for (int32_t d = sts_day_from_ymd(2000, 1, 3); d < sts_day_from_ymd(2031, 1, 1); d += 7) {
        int iy, iw;
        sts_day_iso_week(d, &iy, &iw);
        if (iy == prev_year) {
            assert_int_equal(iw, prev_week + 1);
        } else {
            assert_int_equal(iy, prev_year + 1);
            assert_int_equal(iw, 1);
            assert_in_range(prev_week, 52, 53);
        }
        prev_year = iy;
        prev_week = iw;
    }
}

static int32_t clock_day(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int32_t)(ts.tv_sec / 86400);
}

static void test_today_override(void **state)
{
    (void)state;
    assert_int_equal(setenv("STS_NOW_DAY", "2026-11-20", 1), 0);
    sts_clock_reload();
    assert_int_equal(sts_day_today(), sts_day_from_ymd(2026, 11, 20));
    assert_int_equal(setenv("STS_NOW_DAY", "2024-02-29", 1), 0);
    sts_clock_reload();
    assert_int_equal(sts_day_today(), sts_day_from_ymd(2024, 2, 29));

    /* A malformed override is ignored: the clock decides. */
    assert_int_equal(setenv("STS_NOW_DAY", "2023-02-29", 1), 0);
    sts_clock_reload();
    int32_t before = clock_day(), t = sts_day_today(), after = clock_day();
    assert_in_range(t, before, after);

    assert_int_equal(unsetenv("STS_NOW_DAY"), 0);
    sts_clock_reload();
    before = clock_day();
    t = sts_day_today();
    after = clock_day();
    assert_in_range(t, before, after);
    assert_true(t > sts_day_from_ymd(2024, 1, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),    cmocka_unit_test(test_round_trip_1900_2100),
        cmocka_unit_test(test_round_trip_wide), cmocka_unit_test(test_day_parse),
        cmocka_unit_test(test_month),           cmocka_unit_test(test_iso_week),
        cmocka_unit_test(test_today_override),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
