/* libFuzzer target for the Binary HTTP decoder: every input is decoded as a
 * request and as a response; whatever decodes must re-encode and decode again
 * to the same message (a round-trip oracle, not only a crash detector). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sts/bhttp.h"

static int same_bytes(struct sts_bhttp_bytes a, struct sts_bhttp_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int same_fields(const struct sts_bhttp_fields *a, const struct sts_bhttp_fields *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (!same_bytes(a->v[i].name, b->v[i].name) || !same_bytes(a->v[i].value, b->v[i].value))
            return 0;
    return 1;
}

static void request(const uint8_t *data, size_t size)
{
    struct sts_bhttp_request a, b;
    uint8_t *out;
    size_t len = 0;

    if (sts_bhttp_request_decode(&a, data, size, NULL) != STS_OK)
        return;
    if (sts_bhttp_request_encode(&a, 0, NULL, 0, &len) != STS_ETOOBIG)
        abort();
    out = malloc(len);
    if (out == NULL || sts_bhttp_request_encode(&a, STS_BHTTP_TRUNCATE, out, len, &len) != STS_OK)
        abort();
    if (sts_bhttp_request_decode(&b, out, len, NULL) != STS_OK)
        abort();
    if (!same_bytes(a.method, b.method) || !same_bytes(a.scheme, b.scheme) ||
        !same_bytes(a.authority, b.authority) || !same_bytes(a.path, b.path) ||
        !same_fields(&a.headers, &b.headers) || !same_bytes(a.content, b.content) ||
        !same_fields(&a.trailers, &b.trailers))
        abort();
    sts_bhttp_request_cleanup(&b);
    sts_bhttp_request_cleanup(&a);
    free(out);
}

static void response(const uint8_t *data, size_t size)
{
    struct sts_bhttp_response a, b;
    uint8_t *out;
    size_t len = 0;

    if (sts_bhttp_response_decode(&a, data, size, NULL) != STS_OK)
        return;
    if (sts_bhttp_response_encode(&a, 0, NULL, 0, &len) != STS_ETOOBIG)
        abort();
    out = malloc(len);
    if (out == NULL || sts_bhttp_response_encode(&a, 0, out, len, &len) != STS_OK)
        abort();
    if (sts_bhttp_response_decode(&b, out, len, NULL) != STS_OK)
        abort();
    if (a.status != b.status || !same_fields(&a.headers, &b.headers) ||
        !same_bytes(a.content, b.content) || !same_fields(&a.trailers, &b.trailers))
        abort();
    sts_bhttp_response_cleanup(&b);
    sts_bhttp_response_cleanup(&a);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request(data, size);
    response(data, size);
    return 0;
}
