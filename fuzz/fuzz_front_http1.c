/* libFuzzer target of the front's request reader (front/http1.c). The first
 * byte splits the input: the head parser gets the bytes before the split,
 * the chunked reader the bytes after. Beyond memory safety it checks the
 * reader's promises: a head it takes ends in CR LF CR LF within the input,
 * its method is a token, its target holds no white space or control byte,
 * its fields no CR, LF or NUL, a length only when the field was digits;
 * a refusal has a status and names a field. The chunked reader must give
 * the same verdict and the same data whether fed at once or a byte at a
 * time. Seeds: fuzz/corpus/front_http1/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_front_http1: %s\n", what);
    abort();
}

static void check_head(const uint8_t *data, size_t n)
{
    char *buf = malloc(n + 1);
    if (!buf)
        return;
    memcpy(buf, data, n);
    struct http1_head h;
    struct http1_refusal why = {0};
    enum http1_result r = http1_parse_head(buf, n, &h, &why);
    if (r == HTTP1_REFUSED && (!why.status || !why.field || !why.detail))
        die("a refusal without a status, field or detail");
    if (r == HTTP1_DONE) {
        if (h.head_len < 4 || h.head_len > n || memcmp(data + h.head_len - 4, "\r\n\r\n", 4) != 0)
            die("a head that does not end in a blank line inside the input");
        if (!*h.method)
            die("an empty method");
        for (const char *p = h.target; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                die("white space or a control byte in the target");
        for (size_t i = 0; i < h.nfields; i++)
            for (const char *p = h.fields[i].value; *p; p++)
                if (*p == '\r' || *p == '\n')
                    die("a line break inside a field value");
        if (h.has_length && h.chunked)
            die("Content-Length beside Transfer-Encoding accepted");
    }
    free(buf);
}

/* Feeds in[0..n) in steps of step bytes; the data goes to out. */
static enum http1_result chunked(const uint8_t *in, size_t n, size_t step, uint8_t *out,
                                 size_t *out_len, size_t *consumed)
{
    struct http1_chunked c = {0};
    struct http1_refusal why;
    size_t pos = 0;
    *out_len = 0;
    while (pos < n) {
        size_t len = n - pos < step ? n - pos : step;
        size_t off = 0;
        while (off < len) {
            size_t used, doff, dlen;
            enum http1_result r = http1_chunked_read(&c, (const char *)in + pos + off, len - off,
                                                     &used, &doff, &dlen, &why);
            if (r == HTTP1_REFUSED)
                return r;
            if (used > len - off || doff + dlen > used)
                die("the chunked reader used more than it was given");
            memcpy(out + *out_len, in + pos + off + doff, dlen);
            *out_len += dlen;
            off += used;
            if (r == HTTP1_DONE) {
                *consumed = pos + off;
                return r;
            }
            if (!used)
                die("the chunked reader took nothing and asked for more");
        }
        pos += len;
    }
    *consumed = n;
    return HTTP1_MORE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] * size / 256;
    if (split >= size)
        split = size - 1;
    check_head(data + 1, split);
    const uint8_t *b = data + 1 + split;
    size_t n = size - 1 - split;
    uint8_t *o1 = malloc(n + 1), *o2 = malloc(n + 1);
    if (o1 && o2) {
        size_t l1, l2, c1, c2;
        enum http1_result r1 = chunked(b, n, n ? n : 1, o1, &l1, &c1);
        enum http1_result r2 = chunked(b, n, 1, o2, &l2, &c2);
        if (r1 != r2)
            die("a different verdict a byte at a time");
        if (r1 != HTTP1_REFUSED && (l1 != l2 || memcmp(o1, o2, l1) != 0 || c1 != c2))
            die("different data a byte at a time");
    }
    free(o1);
    free(o2);
    return 0;
}
