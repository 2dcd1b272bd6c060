/* Error codes shared by every STS module.
 * Functions return an enum sts_err; results travel through out-parameters. */
#ifndef STS_ERR_H
#define STS_ERR_H

enum sts_err {
    STS_OK = 0,
    STS_ENOMEM,       /* an allocation failed */
    STS_EINVAL,       /* the input failed validation; a struct sts_field_error says why */
    STS_ETOOBIG,      /* the input is larger than its hard cap */
    STS_EIO,          /* a file or database operation failed */
    STS_ENOENT,       /* the thing asked for does not exist */
    STS_EEXIST,       /* the thing to create already exists */
    STS_EPERM,        /* wrong file permissions (a secret readable by others) */
    STS_ECORRUPT,     /* stored data does not parse */
    STS_ECRYPTO,      /* a cryptographic operation failed or did not authenticate */
    STS_ENET,         /* a network operation failed */
    STS_EUNSUPPORTED, /* a version, algorithm or option we do not implement */
    STS_EACCES,       /* the system refused access (permissions, a read-only file system) */
    STS_ENOSPC        /* the disk, or the owner's quota, is full */
};

/* Returns a short English description of err; never NULL, static storage. */
const char *sts_strerror(enum sts_err err);

/* Converts an errno value to the shared codes, at the system-call boundary
 * (libuv's UV__ERR), so that no caller maps errno by hand:
 *   ENOMEM -> STS_ENOMEM; ENOENT, ENOTDIR -> STS_ENOENT; EEXIST -> STS_EEXIST;
 *   EACCES, EPERM, EROFS -> STS_EACCES; ENOSPC, EDQUOT -> STS_ENOSPC;
 *   EFBIG -> STS_ETOOBIG; anything else (EIO, EBADF, 0...) -> STS_EIO.
 * EINTR is the caller's to retry, never passed here. ELOOP (a symbolic link
 * refused by O_NOFOLLOW) is mapped by the caller that asked for it.
 * Errors: none (the result is the converted code, never STS_OK). */
enum sts_err sts_err_from_errno(int e);

#endif
