/* Lower-case hexadecimal text of bytes, the one spelling every STS file and
 * identifier uses. Both directions run without branches or table lookups on
 * the data, since they carry keys. Neither allocates: the caller owns every
 * buffer. */
#ifndef STS_HEX_H
#define STS_HEX_H

#include <stddef.h>

#include "sts/err.h"

/* Writes the 2n lower-case hex digits of in[0..n) and a NUL into out, which
 * holds at least 2n + 1 bytes. */
void sts_hex_encode(const void *in, size_t n, char *out);

/* Decodes exactly len = 2n lower-case hex digits of in (no NUL needed) into
 * out[0..n). Upper case is refused: one spelling per file. On failure out is
 * wiped (it may hold part of a key). Errors: STS_EINVAL (len is not 2n, or a
 * character is not a lower-case hex digit). */
enum sts_err sts_hex_decode(const char *in, size_t len, void *out, size_t n);

#endif
