/* Unit tests of sts/hex.h: every byte value both ways, against snprintf's
 * "%02x", and the strict decoder's refusals (upper case, odd length, stray
 * characters) with the output wiped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sts/hex.h"

static void test_every_byte(void **state)
{
    (void)state;
    uint8_t all[256], back[256];
    char text[2 * 256 + 1], ref[3];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    sts_hex_encode(all, sizeof all, text);
    assert_int_equal(strlen(text), 512);
    for (int i = 0; i < 256; i++) {
        snprintf(ref, sizeof ref, "%02x", i);
        assert_memory_equal(text + 2 * i, ref, 2);
    }
    assert_int_equal(sts_hex_decode(text, 512, back, sizeof back), STS_OK);
    assert_memory_equal(back, all, sizeof all);
}

static void test_empty(void **state)
{
    (void)state;
    char text[1] = {'x'};
    uint8_t out[1] = {7};
    sts_hex_encode(out, 0, text);
    assert_int_equal(text[0], '\0');
    assert_int_equal(sts_hex_decode("", 0, out, 0), STS_OK);
    assert_int_equal(out[0], 7);
}

static void expect_refused(const char *in, size_t len, size_t n)
{
    uint8_t out[8];
    memset(out, 0xaa, sizeof out);
    if (sts_hex_decode(in, len, out, n) != STS_EINVAL)
        fail_msg("\"%.*s\" into %zu bytes was accepted", (int)len, in, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], 0); /* wiped, not half a key */
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("0A", 2, 1); /* one spelling: lower case only */
    expect_refused("Ff", 2, 1);
    expect_refused("0g", 2, 1);
    expect_refused("0/", 2, 1); /* the characters either side of the ranges */
    expect_refused("0:", 2, 1);
    expect_refused("0`", 2, 1);
    expect_refused("-1", 2, 1);
    expect_refused(" 1", 2, 1);
    expect_refused("a\0", 2, 1);
    expect_refused("abc", 3, 1); /* odd, or not 2n */
    expect_refused("abcd", 4, 1);
    expect_refused("ab", 2, 2);
    expect_refused("00112233445566\xff", 16, 8);
    /* A bad digit late does not leave the good bytes before it. */
    expect_refused("001122334455667z", 16, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
