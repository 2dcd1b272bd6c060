/* Secret files (keys, tokens): the one way STS reads them. A secret file must
 * be a regular file, not a symbolic link, with no access for group or others,
 * and no larger than the caller's cap. Opening never blocks (a FIFO put in a
 * key's place is refused, not waited on), interrupted reads are retried, and
 * every buffer that held the secret is wiped on every path, errors included.
 *
 * Ownership: sts_secret_file_read returns a heap struct sts_secret that the
 * caller wipes and frees with sts_secret_free, never with free(). */
#ifndef STS_SECRET_H
#define STS_SECRET_H

#include <stddef.h>

#include "sts/err.h"

struct sts_secret {
    size_t len;  /* bytes read */
    char data[]; /* len bytes of the file, then a NUL (the file may hold NULs too) */
};

/* Reads the whole file at path, at most max bytes (max < SIZE_MAX / 2), into
 * a new *out; *out is NULL on failure. An empty file is read as len 0: its
 * format is the caller's to judge.
 * Errors: STS_ENOENT (no such file), STS_EPERM (not a regular file, a
 * symbolic link, or readable or writable by group or others), STS_EACCES (the
 * system refused to open it), STS_ETOOBIG (larger than max), STS_ENOMEM,
 * STS_EIO (a read failed, or the file changed size while it was read). */
enum sts_err sts_secret_file_read(const char *path, size_t max, struct sts_secret **out);

/* Wipes (OPENSSL_cleanse) and frees s. NULL does nothing. */
void sts_secret_free(struct sts_secret *s);

#endif
