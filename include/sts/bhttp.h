/* Binary HTTP messages (RFC 9292), known-length form only: the inner request
 * and response that Oblivious HTTP (ohttp.h) encrypts between agent and
 * collector.
 *
 * Ownership: a decoded message points into the input buffer (no copy), so the
 * buffer must outlive it; only the field arrays are allocated, and
 * sts_bhttp_request_cleanup / sts_bhttp_response_cleanup release them. Encoders
 * write into a caller-supplied buffer and allocate nothing.
 *
 * Strictness: the decoder rejects anything RFC 9292 calls invalid (unknown
 * framing, truncation inside a section, non-zero padding, field names that are
 * not lowercase tokens, field values with NUL/CR/LF or edge whitespace,
 * pseudo-fields, status codes out of range) with STS_EINVAL, anything over the
 * caller's limits with STS_ETOOBIG, and indeterminate-length messages
 * (framing 2 and 3) with STS_EUNSUPPORTED. Informational (1xx) responses are
 * validated and skipped: the decoded response holds the final one only.
 * Trailing empty sections may be truncated and zero padding may follow, as
 * RFC 9292 section 3.8 allows. Thread-safety: none needed (no shared state). */
#ifndef STS_BHTTP_H
#define STS_BHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

/* A byte string borrowed from somewhere else (the input, or the caller). */
struct sts_bhttp_bytes {
    const uint8_t *ptr;
    size_t len;
};

struct sts_bhttp_field {
    struct sts_bhttp_bytes name;
    struct sts_bhttp_bytes value;
};

struct sts_bhttp_fields {
    struct sts_bhttp_field *v; /* owned by a decoded message, borrowed for encoding */
    size_t n;
};

struct sts_bhttp_request {
    struct sts_bhttp_bytes method, scheme, authority, path;
    struct sts_bhttp_fields headers;
    struct sts_bhttp_bytes content;
    struct sts_bhttp_fields trailers;
};

struct sts_bhttp_response {
    unsigned int status; /* final status, 200..599 */
    struct sts_bhttp_fields headers;
    struct sts_bhttp_bytes content;
    struct sts_bhttp_fields trailers;
};

/* Hard caps for the decoder; every network input has one. */
struct sts_bhttp_limits {
    size_t max_message;       /* whole encoded message, padding included */
    size_t max_fields;        /* field lines per section */
    size_t max_field_section; /* bytes of one encoded field section */
    size_t max_content;       /* bytes of content */
    size_t max_informational; /* informational responses skipped */
};

/* Defaults sized for STS reports: 64 KiB message, 64 fields, 16 KiB of
 * fields per section, 64 KiB content, 4 informational responses. */
extern const struct sts_bhttp_limits sts_bhttp_default_limits;

/* Encoder flag: omit trailing empty sections (trailers, then content, then
 * headers), as RFC 9292 section 3.8 permits; RFC 9458's example is encoded
 * that way. */
#define STS_BHTTP_TRUNCATE 0x1u

/* Decodes the known-length request in buf[0..len) into *req (which needs no
 * initialisation). limits NULL means sts_bhttp_default_limits.
 * On error *req is left empty (nothing to clean up).
 * Errors: STS_EINVAL (malformed, or a response), STS_ETOOBIG (over a limit),
 * STS_EUNSUPPORTED (indeterminate length), STS_ENOMEM. */
enum sts_err sts_bhttp_request_decode(struct sts_bhttp_request *req, const uint8_t *buf, size_t len,
                                      const struct sts_bhttp_limits *limits);

/* Frees the field arrays of a decoded request and empties it. NULL is fine. */
void sts_bhttp_request_cleanup(struct sts_bhttp_request *req);

/* Same as above for a known-length response.
 * Errors: as sts_bhttp_request_decode. */
enum sts_err sts_bhttp_response_decode(struct sts_bhttp_response *res, const uint8_t *buf,
                                       size_t len, const struct sts_bhttp_limits *limits);
void sts_bhttp_response_cleanup(struct sts_bhttp_response *res);

/* Encodes req (known length, minimal integer encodings) into buf. *len
 * receives the encoded size; if buf is NULL or cap too small the function
 * returns STS_ETOOBIG with *len set to the size needed. The message is
 * validated with the decoder's rules first.
 * Errors: STS_EINVAL (a field the decoder would reject), STS_ETOOBIG. */
enum sts_err sts_bhttp_request_encode(const struct sts_bhttp_request *req, unsigned int flags,
                                      uint8_t *buf, size_t cap, size_t *len);

/* Same as above for a response (no informational responses are written).
 * Errors: STS_EINVAL, STS_ETOOBIG. */
enum sts_err sts_bhttp_response_encode(const struct sts_bhttp_response *res, unsigned int flags,
                                       uint8_t *buf, size_t cap, size_t *len);

/* QUIC variable-length integers (RFC 9000, section 16), exposed for tests
 * and for other encoders. decode: reads one from buf[0..len), sets *v and
 * *used; STS_EINVAL if truncated. encode: minimal size, STS_EINVAL above
 * 2^62 - 1, STS_ETOOBIG if cap is too small; *used receives the size.
 * Errors: STS_EINVAL, STS_ETOOBIG. */
enum sts_err sts_bhttp_varint_decode(const uint8_t *buf, size_t len, uint64_t *v, size_t *used);
enum sts_err sts_bhttp_varint_encode(uint64_t v, uint8_t *buf, size_t cap, size_t *used);

#endif
