/* Unit tests of sts/err.h: the errno conversion, on the values the kernel
 * really sets (a missing file, an existing one, a refused one) and on the
 * rest of its table, and words of its own for every code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sts/err.h"

static void test_table(void **state)
{
    (void)state;
    static const struct {
        int e;
        enum sts_err want;
    } cases[] = {
        {ENOMEM, STS_ENOMEM}, {ENOENT, STS_ENOENT}, {ENOTDIR, STS_ENOENT}, {EEXIST, STS_EEXIST},
        {EACCES, STS_EACCES}, {EPERM, STS_EACCES},  {EROFS, STS_EACCES},   {ENOSPC, STS_ENOSPC},
        {EDQUOT, STS_ENOSPC}, {EFBIG, STS_ETOOBIG}, {EIO, STS_EIO},        {EBADF, STS_EIO},
        {0, STS_EIO},         {EAGAIN, STS_EIO},    {-1, STS_EIO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (sts_err_from_errno(cases[i].e) != cases[i].want)
            fail_msg("errno %d (%s) gave %d, expected %d", cases[i].e, strerror(cases[i].e),
                     (int)sts_err_from_errno(cases[i].e), (int)cases[i].want);
}

/* The errno values the kernel really sets for the commonest failures. */
static void test_real_calls(void **state)
{
    (void)state;
    char dir[] = "/tmp/sts-err-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/none/file", dir);
    assert_int_equal(open(path, O_RDONLY), -1);
    assert_int_equal(sts_err_from_errno(errno), STS_ENOENT);
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(open(path, O_WRONLY | O_CREAT | O_EXCL, 0600), -1);
    assert_int_equal(sts_err_from_errno(errno), STS_EEXIST);
    /* A file below a plain file: ENOTDIR, which is "not found" too. */
    char below[80];
    snprintf(below, sizeof below, "%s/x", path);
    assert_int_equal(open(below, O_RDONLY), -1);
    assert_int_equal(sts_err_from_errno(errno), STS_ENOENT);
    if (geteuid() != 0) { /* root is not refused */
        assert_int_equal(chmod(path, 0), 0);
        assert_int_equal(open(path, O_RDONLY), -1);
        assert_int_equal(sts_err_from_errno(errno), STS_EACCES);
    }
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_words(void **state)
{
    (void)state;
    /* Every code has its own words, none of them the fallback. */
    for (int e = STS_OK; e <= STS_ENOSPC; e++) {
        const char *w = sts_strerror((enum sts_err)e);
        assert_non_null(w);
        assert_string_not_equal(w, "unknown error");
        for (int f = STS_OK; f < e; f++)
            assert_string_not_equal(w, sts_strerror((enum sts_err)f));
    }
    assert_string_equal(sts_strerror((enum sts_err)1000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_real_calls),
        cmocka_unit_test(test_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
