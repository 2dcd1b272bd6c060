/* sts_log: one line per call, the priority prefix only when asked for,
 * embedded newlines folded, long messages cut, read back through a pipe
 * on stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sts/log.h"

/* Runs fn with stderr on a pipe and returns what it wrote (static). */
static const char *capture(void (*fn)(void))
{
    static char buf[8192];
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void two_lines(void)
{
    sts_log(STS_LOG_WARNING, "storage failing: %d", 3);
    sts_log(STS_LOG_INFO, "a\nb");
}

static void test_plain(void **state)
{
    (void)state;
    setenv("STS_LOG_PRIORITY", "0", 1);
    sts_log_init("sts-test");
    assert_false(sts_log_prefixed());
    assert_string_equal(capture(two_lines), "sts-test: storage failing: 3\nsts-test: a b\n");
}

static void test_prefixed(void **state)
{
    (void)state;
    setenv("STS_LOG_PRIORITY", "1", 1);
    sts_log_init("sts-test");
    assert_true(sts_log_prefixed());
    assert_string_equal(capture(two_lines), "<4>sts-test: storage failing: 3\n<6>sts-test: a b\n");
    unsetenv("STS_LOG_PRIORITY");
    setenv("JOURNAL_STREAM", "8:1234", 1);
    sts_log_init("sts-test");
    assert_true(sts_log_prefixed());
    unsetenv("JOURNAL_STREAM");
    sts_log_init("sts-test");
    assert_false(sts_log_prefixed());
}

static void long_line(void)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sts_log(STS_LOG_INFO, "%s", big);
}

static void test_long(void **state)
{
    (void)state;
    sts_log_init("sts-test");
    const char *out = capture(long_line);
    size_t n = strlen(out);
    assert_true(n > 1000 && n < 1100);
    assert_int_equal(out[n - 1], '\n');
    assert_ptr_equal(strchr(out, '\n'), out + n - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_prefixed),
        cmocka_unit_test(test_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
