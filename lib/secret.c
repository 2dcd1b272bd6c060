/* Reading keys and tokens from files (see sts/secret.h). The checks are made
 * on the opened descriptor (fstat), not on the name, so that nothing can be
 * swapped in between the check and the read. */
#include "sts/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum sts_err sts_secret_file_read(const char *path, size_t max, struct sts_secret **out)
{
    struct sts_secret *s = NULL;
    struct stat st;
    enum sts_err e;
    size_t got = 0, want;
    *out = NULL;
    if (max >= SIZE_MAX / 2)
        return STS_ETOOBIG;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: a
     * link could point anywhere the service can read; O_NOCTTY: a terminal
     * device must not become ours. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return errno == ELOOP ? STS_EPERM : sts_err_from_errno(errno);
    if (fstat(fd, &st) != 0) {
        e = sts_err_from_errno(errno);
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        e = STS_EPERM;
        goto fail;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
        e = STS_ETOOBIG;
        goto fail;
    }
    /* One byte more than the size, to see a file that grew under us. */
    want = (size_t)st.st_size + 1;
    if (!(s = malloc(sizeof *s + want + 1))) {
        e = STS_ENOMEM;
        goto fail;
    }
    while (got < want) {
        ssize_t r = read(fd, s->data + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = sts_err_from_errno(errno);
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got != (size_t)st.st_size) {
        e = STS_EIO; /* it changed while we read it: a half-written key */
        goto fail;
    }
    close(fd);
    s->len = got;
    s->data[got] = '\0';
    *out = s;
    return STS_OK;
fail:
    if (s) {
        OPENSSL_cleanse(s->data, got);
        free(s);
    }
    close(fd);
    return e;
}

void sts_secret_free(struct sts_secret *s)
{
    if (!s)
        return;
    /* Only data[0..len] was ever written; the rest of the block never held
     * the secret. */
    OPENSSL_cleanse(s->data, s->len + 1);
    free(s);
}
