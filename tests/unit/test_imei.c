/* Unit tests of sts/imei.h: the Luhn check digit and the strict 15-digit grammar,
 * with the exact reasons a device would see in a 400 answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sts/imei.h"

/* Each was checked with an independent Luhn implementation; the first is the
 * spec's example, the second the textbook example of GSM/IMEI docs. */
static const char *const valid_imeis[] = {
    "352099001761481", "490154203237518", "356938035643809",
    "000000000000000", "999999999999994", "123456789012347",
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid_imeis / sizeof valid_imeis[0]; i++) {
        const char *why = "untouched";
        assert_true(sts_imei_valid(valid_imeis[i], &why));
        assert_null(why);
        assert_true(sts_imei_valid(valid_imeis[i], NULL));
        assert_int_equal(sts_imei_check_digit(valid_imeis[i]), valid_imeis[i][14] - '0');
    }
}

static void expect_invalid(const char *s, const char *reason)
{
    const char *why = NULL;
    assert_false(sts_imei_valid(s, &why));
    assert_non_null(why);
    assert_string_equal(why, reason);
    assert_false(sts_imei_valid(s, NULL));
}

static void test_bad_check_digit(void **state)
{
    (void)state;
    expect_invalid("352099001761480", "check digit does not match");
    expect_invalid("352099001761482", "check digit does not match");
    expect_invalid("490154203237517", "check digit does not match");
    /* Two neighbours swapped: Luhn catches most transpositions, this one included. */
    expect_invalid("350299001761481", "check digit does not match");
}

static void test_bad_length(void **state)
{
    (void)state;
    expect_invalid("", "must be exactly 15 digits");
    expect_invalid("35209900176148", "must be exactly 15 digits");
    expect_invalid("3520990017614810", "must be exactly 15 digits");
    expect_invalid("35209900176148 ", "must contain only the digits 0-9");
    expect_invalid(" 352099001761481", "must be exactly 15 digits");
}

static void test_bad_characters(void **state)
{
    (void)state;
    expect_invalid("35209900176148a", "must contain only the digits 0-9");
    expect_invalid("A52099001761481", "must contain only the digits 0-9");
    expect_invalid("35-099001761481", "must contain only the digits 0-9");
    expect_invalid("+35209900176148", "must contain only the digits 0-9");
    /* ':' and '/' sit right next to the digits in ASCII. */
    expect_invalid("35209900176148:", "must contain only the digits 0-9");
    expect_invalid("/52099001761481", "must contain only the digits 0-9");
}

/* Exactly one check digit completes any body, and Luhn catches every
 * single-digit error. */
static void test_luhn_properties(void **state)
{
    (void)state;
    char s[16];
    memcpy(s, "35209900176148", 14);
    s[15] = '\0';
    int ok = 0;
    for (char c = '0'; c <= '9'; c++) {
        s[14] = c;
        ok += sts_imei_valid(s, NULL);
    }
    assert_int_equal(ok, 1);

    for (size_t i = 0; i < sizeof valid_imeis / sizeof valid_imeis[0]; i++) {
        for (int pos = 0; pos < 15; pos++) {
            for (char c = '0'; c <= '9'; c++) {
                memcpy(s, valid_imeis[i], 16);
                if (s[pos] == c)
                    continue;
                s[pos] = c;
                assert_false(sts_imei_valid(s, NULL));
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),           cmocka_unit_test(test_bad_check_digit),
        cmocka_unit_test(test_bad_length),      cmocka_unit_test(test_bad_characters),
        cmocka_unit_test(test_luhn_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
