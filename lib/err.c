/* Text for the shared error codes, for messages to people. */
#include "sts/err.h"

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
    }
    return "unknown error";
}
