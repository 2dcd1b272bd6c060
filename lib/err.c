/* Text for the shared error codes, for messages to people, and the one
 * conversion from errno (see sts/err.h). */
#include "sts/err.h"

#include <errno.h>

const char *sts_strerror(enum sts_err err)
{
    switch (err) {
    case STS_OK: return "success";
    case STS_ENOMEM: return "out of memory";
    case STS_EINVAL: return "invalid input";
    case STS_ETOOBIG: return "input too large";
    case STS_EIO: return "input/output error";
    case STS_ENOENT: return "not found";
    case STS_EEXIST: return "already exists";
    case STS_EPERM: return "unsafe file permissions";
    case STS_ECORRUPT: return "stored data is corrupt";
    case STS_ECRYPTO: return "cryptographic failure";
    case STS_ENET: return "network failure";
    case STS_EUNSUPPORTED: return "not supported";
    case STS_EACCES: return "permission denied";
    case STS_ENOSPC: return "no space left on the device";
    }
    return "unknown error";
}

enum sts_err sts_err_from_errno(int e)
{
    switch (e) {
    case ENOMEM: return STS_ENOMEM;
    case ENOENT:
    case ENOTDIR: return STS_ENOENT;
    case EEXIST: return STS_EEXIST;
    case EACCES:
    case EPERM:
    case EROFS: return STS_EACCES;
    case ENOSPC:
    case EDQUOT: return STS_ENOSPC;
    case EFBIG: return STS_ETOOBIG;
    default: return STS_EIO;
    }
}
