/* Whole-file reads under a cap and atomic, durable replacement. See file.h. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int (*agent_file_fault)(const char *step);
int agent_file_fault_errno = EIO;

static int fault(const char *step)
{
    if (agent_file_fault != NULL && agent_file_fault(step) != 0) {
        errno = agent_file_fault_errno;
        return 1;
    }
    return 0;
}

enum sts_err agent_file_read(const char *path, size_t max, char **out, size_t *len)
{
    enum sts_err rc = STS_EIO;
    char *buf = NULL;
    size_t used = 0, cap = 0;
    *out = NULL;
    *len = 0;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sts_err_from_errno(errno);
    for (;;) {
        if (cap - used < 4096) {
            size_t ncap = cap ? cap * 2 : 8192;
            if (ncap > max + 2)
                ncap = max + 2;
            if (ncap <= used + 1) {
                rc = STS_ETOOBIG;
                goto fail;
            }
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                rc = STS_ENOMEM;
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + used, cap - used - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = sts_err_from_errno(errno);
            goto fail;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max) {
            rc = STS_ETOOBIG;
            goto fail;
        }
    }
    close(fd);
    if (buf == NULL) {
        buf = malloc(1);
        if (buf == NULL)
            return STS_ENOMEM;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return STS_OK;
fail:
    close(fd);
    free(buf);
    return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        if (fault("write"))
            return -1;
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

enum sts_err agent_file_write_atomic(const char *dir, const char *name, const char *data,
                                     size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int n1 = snprintf(path, sizeof path, "%s/%s", dir, name);
    int n2 = snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof tmp)
        return STS_EIO;

    int fd = -1, saved;
    if (fault("open"))
        goto fail;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    if (write_all(fd, data, len) != 0)
        goto fail_unlink;
    if (fault("fsync") || fsync(fd) != 0)
        goto fail_unlink;
    if (close(fd) != 0) {
        fd = -1;
        goto fail_unlink;
    }
    fd = -1;
    if (fault("rename") || rename(tmp, path) != 0)
        goto fail_unlink;

    /* The rename is durable only once the directory entry is. */
    if (fault("dirsync"))
        goto fail;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto fail;
    int src = fsync(dfd);
    saved = errno;
    close(dfd);
    errno = saved;
    if (src != 0)
        goto fail;
    return STS_OK;

fail_unlink:
    /* The caller reports errno: the cleanup must not change it. */
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return sts_err_from_errno(saved);
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
    return sts_err_from_errno(saved);
}
