/* For tests only, loaded with LD_PRELOAD: fsync and fdatasync of a file
 * whose name ends in "-wal" fail with EIO while the file named by
 * $STS_FAIL_SYNC_FLAG exists, as a failing disk would answer them
 * (tests/e2e/storage_faults.sh). Every other call goes to the C library. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool failing(int fd)
{
    const char *flag = getenv("STS_FAIL_SYNC_FLAG");
    if (!flag || access(flag, F_OK) != 0)
        return false;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path);
    return n >= 4 && memcmp(path + n - 4, "-wal", 4) == 0;
}

static int call(const char *name, int fd)
{
    void *sym = dlsym(RTLD_NEXT, name);
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
