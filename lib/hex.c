/* Lower-case hex encoding and strict decoding (see sts/hex.h). Arithmetic in
 * place of tables and early exits, so that the time taken does not depend on
 * the digits of a key. */
#include "sts/hex.h"

#include <openssl/crypto.h>
#include <stdint.h>

static char digit(unsigned v)
{
    /* v in 0..15: '0' + v, plus the gap to 'a' when v > 9. */
    unsigned above9 = (9u - v) >> 8 & 1u;
    return (char)('0' + v + above9 * ('a' - '0' - 10));
}

void sts_hex_encode(const void *in, size_t n, char *out)
{
    const uint8_t *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digit(p[i] >> 4);
        out[2 * i + 1] = digit(p[i] & 15u);
    }
    out[2 * n] = '\0';
}

/* The value of c, and *bad |= 1 when c is no lower-case hex digit. */
static unsigned nibble(unsigned char c, unsigned *bad)
{
    int d = c - '0', l = c - 'a';
    /* Comparisons give 0 or 1 (set instructions, not jumps). */
    unsigned is_d = (unsigned)((d >= 0) & (d <= 9));
    unsigned is_l = (unsigned)((l >= 0) & (l <= 5));
    *bad |= (is_d | is_l) ^ 1u;
    return (is_d * (unsigned)d) | (is_l * (unsigned)(l + 10));
}

enum sts_err sts_hex_decode(const char *in, size_t len, void *out, size_t n)
{
    uint8_t *o = out;
    unsigned bad = 0;
    if (len / 2 != n || len % 2 != 0) {
        OPENSSL_cleanse(out, n);
        return STS_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned hi = nibble((unsigned char)in[2 * i], &bad);
        unsigned lo = nibble((unsigned char)in[2 * i + 1], &bad);
        o[i] = (uint8_t)(hi << 4 | lo);
    }
    if (bad) {
        OPENSSL_cleanse(out, n);
        return STS_EINVAL;
    }
    return STS_OK;
}
