/* Error codes shared by every STS module.
 * Functions return an enum sts_err; results travel through out-parameters. */
#ifndef STS_ERR_H
#define STS_ERR_H

enum sts_err {
    STS_OK = 0,
    STS_ENOMEM,      /* an allocation failed */
    STS_EINVAL,      /* the input failed validation; a struct sts_field_error says why */
    STS_ETOOBIG,     /* the input is larger than its hard cap */
    STS_EIO,         /* a file or database operation failed */
    STS_ENOENT,      /* the thing asked for does not exist */
    STS_EEXIST,      /* the thing to create already exists */
    STS_EPERM,       /* wrong file permissions (a secret readable by others) */
    STS_ECORRUPT,    /* stored data does not parse */
    STS_ECRYPTO,     /* a cryptographic operation failed or did not authenticate */
    STS_ENET,        /* a network operation failed */
    STS_EUNSUPPORTED /* a version, algorithm or option we do not implement */
};

/* Returns a short English description of err; never NULL, static storage. */
const char *sts_strerror(enum sts_err err);

#endif
