/* Unit tests of sts/secret.h on real files: what a secret file may be (a
 * regular file, mode 0600 or 0400) and everything put in its place that must
 * be refused without blocking or leaking: a FIFO, a symbolic link, a
 * directory, a 0644 file, an oversize one, one without read permission. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sts/secret.h"

struct fixture {
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/sts-secret-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/secret", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d))) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            char p[sizeof f->dir + sizeof ent->d_name + 1];
            snprintf(p, sizeof p, "%s/%s", f->dir, ent->d_name);
            if (unlink(p) != 0)
                rmdir(p);
        }
        closedir(d);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static void expect(const char *path, size_t max, enum sts_err want)
{
    struct sts_secret *s = (struct sts_secret *)&s; /* must be reset */
    enum sts_err e = sts_secret_file_read(path, max, &s);
    if (e != want)
        fail_msg("%s: got %s, expected %s", path, sts_strerror(e), sts_strerror(want));
    if (want != STS_OK)
        assert_null(s);
    sts_secret_free(s);
}

static void test_read(void **state)
{
    (void)state;
    struct fixture *f = *state;
    static const char text[] = "sts-token\nsecond line\n";
    struct sts_secret *s = NULL;
    write_file(f->path, text, sizeof text - 1, 0600);
    assert_int_equal(sts_secret_file_read(f->path, 4096, &s), STS_OK);
    assert_int_equal(s->len, sizeof text - 1);
    assert_memory_equal(s->data, text, sizeof text); /* and its NUL */
    sts_secret_free(s);
    sts_secret_free(NULL);

    /* Read-only for the owner is as good. Bytes of any value are kept. */
    static const char bin[] = {'a', '\0', '\xff', '\n'};
    write_file(f->path, bin, sizeof bin, 0400);
    assert_int_equal(sts_secret_file_read(f->path, sizeof bin, &s), STS_OK);
    assert_int_equal(s->len, sizeof bin);
    assert_memory_equal(s->data, bin, sizeof bin);
    assert_int_equal(s->data[sizeof bin], '\0');
    sts_secret_free(s);
}

static void test_empty(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct sts_secret *s = NULL;
    write_file(f->path, "", 0, 0600);
    assert_int_equal(sts_secret_file_read(f->path, 16, &s), STS_OK);
    assert_int_equal(s->len, 0);
    assert_int_equal(s->data[0], '\0');
    sts_secret_free(s);
}

static void test_cap(void **state)
{
    (void)state;
    struct fixture *f = *state;
    char big[1025];
    memset(big, 'k', sizeof big);
    write_file(f->path, big, 1024, 0600);
    expect(f->path, 1024, STS_OK); /* exactly the cap */
    expect(f->path, 1023, STS_ETOOBIG);
    expect(f->path, 0, STS_ETOOBIG);
    expect(f->path, SIZE_MAX, STS_ETOOBIG); /* a cap that cannot be honoured */
}

static void test_modes(void **state)
{
    (void)state;
    struct fixture *f = *state;
    static const mode_t refused[] = {0644, 0640, 0604, 0660, 0606, 0610, 0601, 0777, 0620};
    write_file(f->path, "secret", 6, 0600);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(chmod(f->path, refused[i]), 0);
        expect(f->path, 64, STS_EPERM);
    }
    if (geteuid() != 0) { /* root reads anything */
        assert_int_equal(chmod(f->path, 0200), 0);
        expect(f->path, 64, STS_EACCES);
    }
}

static void test_not_regular(void **state)
{
    (void)state;
    struct fixture *f = *state;
    char other[128];
    snprintf(other, sizeof other, "%s/other", f->dir);

    /* A FIFO: refused at once. Without O_NONBLOCK the open would wait for a
     * writer forever, and this test would hang rather than fail. */
    assert_int_equal(mkfifo(other, 0600), 0);
    expect(other, 64, STS_EPERM);
    assert_int_equal(unlink(other), 0);

    /* A directory. */
    assert_int_equal(mkdir(other, 0700), 0);
    expect(other, 64, STS_EPERM);
    assert_int_equal(rmdir(other), 0);

    /* A symbolic link, even to a good secret file. */
    write_file(f->path, "secret", 6, 0600);
    assert_int_equal(symlink(f->path, other), 0);
    expect(other, 64, STS_EPERM);
    assert_int_equal(unlink(other), 0);

    /* A character device. */
    expect("/dev/null", 64, STS_EPERM);
}

static void test_missing(void **state)
{
    (void)state;
    struct fixture *f = *state;
    char p[160];
    expect(f->path, 64, STS_ENOENT);
    snprintf(p, sizeof p, "%s/no-such-dir/secret", f->dir);
    expect(p, 64, STS_ENOENT);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_read),  T(test_empty),       T(test_cap),
        T(test_modes), T(test_not_regular), T(test_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
