/* Unit tests of sts/country.h: only officially assigned ISO 3166-1 alpha-2
 * codes pass; reserved, user-assigned, withdrawn and malformed codes do not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sts/country.h"

static void test_assigned(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "FR", "DE", "US", "GB", "AX", "BQ", "AD", "ZW", "SS",
        "CW", "SX", "BL", "MF", "TL", "PS", "JE", "VA", "AQ",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(sts_country_valid(ok[i]));
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "XX",  "EU",  "UK", "ZZ",       /* user-assigned or reserved */
        "XK",  "AA",  "QM", "OO",       /* user-assigned (Kosovo's code is not ISO's) */
        "AN",  "CS",  "YU", "SU", "TP", /* withdrawn */
        "fr",  "Fr",  "fR", "de",       /* lower case */
        "FRA", "DEU", "F",  "",   "FR ", " FR", "F1", "12", "F-",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sts_country_valid(bad[i]))
            fail_msg("\"%s\" was accepted", bad[i]);
    }
}

/* The official list has 249 codes: every other pair of capitals is refused. */
static void test_count(void **state)
{
    (void)state;
    int accepted = 0, tried = 0;
    char code[3] = {0};
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            code[0] = a;
            code[1] = b;
            tried++;
            accepted += sts_country_valid(code);
        }
    }
    assert_int_equal(tried, 676);
    assert_int_equal(accepted, 249);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assigned),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
