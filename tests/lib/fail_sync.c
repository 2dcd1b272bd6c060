/* For tests only, loaded with LD_PRELOAD, a disk that fails on demand
 * (tests/e2e/storage_faults.sh):
 *  - while the file named by $STS_FAIL_SYNC_FLAG exists, fsync and
 *    fdatasync of a file whose name ends in "-wal" fail with EIO;
 *  - while the file named by $STS_FAIL_WRITE_FLAG exists, every write to a
 *    file whose path starts with $STS_FAIL_PREFIX fails with EROFS, as on a
 *    file system remounted read-only after an error (Linux refuses the
 *    remount itself while a file is open for writing).
 * Every other call goes to the C library. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The path of fd's file into path (not NUL-terminated); its length, or -1. */
static ssize_t fd_path(int fd, char path[4096])
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    return readlink(link, path, 4096);
}

static bool flagged(const char *var)
{
    const char *flag = getenv(var);
    return flag && access(flag, F_OK) == 0;
}

static bool failing(int fd)
{
    char path[4096];
    if (!flagged("STS_FAIL_SYNC_FLAG"))
        return false;
    ssize_t n = fd_path(fd, path);
    return n >= 4 && memcmp(path + n - 4, "-wal", 4) == 0;
}

static bool read_only(int fd)
{
    char path[4096];
    const char *prefix = getenv("STS_FAIL_PREFIX");
    if (!prefix || !flagged("STS_FAIL_WRITE_FLAG"))
        return false;
    size_t len = strlen(prefix);
    ssize_t n = fd_path(fd, path);
    return n >= 0 && (size_t)n >= len && memcmp(path, prefix, len) == 0;
}

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (read_only(fd)) {
        errno = EROFS;
        return -1;
    }
    ssize_t (*real)(int, const void *, size_t, off_t);
    void *sym = next("pwrite64");
    memcpy(&real, &sym, sizeof real);
    return sym ? real(fd, buf, n, off) : (errno = ENOSYS, -1);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite64(fd, buf, n, off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (read_only(fd)) {
        errno = EROFS;
        return -1;
    }
    ssize_t (*real)(int, const void *, size_t);
    void *sym = next("write");
    memcpy(&real, &sym, sizeof real);
    return sym ? real(fd, buf, n) : (errno = ENOSYS, -1);
}

static int call(const char *name, int fd)
{
    void *sym = next(name);
    int (*real)(int);
    memcpy(&real, &sym, sizeof real); /* ISO C has no cast from void * to a function */
    if (!sym) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd)
{
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return call("fdatasync", fd);
}

int fsync(int fd)
{
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return call("fsync", fd);
}
