/* The HTTP/1.1 request head and chunked body readers of the front (RFC
 * 9112), pure functions over bytes so that unit tests and a fuzz target can
 * give them anything. They are strict where leniency lets two parsers
 * disagree about where a request ends: lines end in CR LF only, no obsolete
 * line folding, no control characters in a field, a Content-Length made of
 * digits only, and everything framing.h refuses. */
#ifndef STS_FRONT_HTTP1_H
#define STS_FRONT_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framing.h"

/* A head is looked for in at most this many bytes (empty lines before it,
 * request line, fields, the blank line): past it the request is refused 414 or 431 (framing.h's
 * limits, smaller, are checked once a head is complete). */
#define HTTP1_HEAD_MAX 6144

/* Fields kept for look-up; a head with more is refused 431 anyway. */
#define HTTP1_FIELDS_MAX (FRAMING_FIELDS_MAX + 1)

struct http1_field {
    const char *name, *value; /* NUL-terminated, inside the parsed buffer */
};

struct http1_head {
    const char *method, *target; /* NUL-terminated, inside the parsed buffer */
    bool http11;
    size_t head_len; /* bytes of the head, its blank line included */
    bool chunked;
    bool has_length;
    uint64_t length;
    bool close;           /* no persistent connection after this request */
    bool expect_continue; /* "Expect: 100-continue" */
    size_t nfields;
    /* Last: http1_parse_head clears what comes before it, and only the
     * first nfields of it are ever read. */
    struct http1_field fields[HTTP1_FIELDS_MAX];
};

/* Why a head is refused: the answer's status and the JSON error's field
 * and detail (static strings). */
struct http1_refusal {
    unsigned status; /* 400, 414, 431, 501 or 505 */
    const char *field, *detail;
};

enum http1_result {
    HTTP1_MORE,    /* no complete head yet: read more */
    HTTP1_DONE,    /* *head filled */
    HTTP1_REFUSED, /* *why filled: answer and close */
};

/* Looks for a complete request head in buf[0..len). Empty lines before the
 * request line are skipped (RFC 9112 section 2.2). On HTTP1_DONE the head's
 * strings point into buf, which is modified (NULs written in place), and
 * head->head_len bytes of buf are the head; call it once a head is complete,
 * not again on the same bytes. On HTTP1_MORE nothing is written. */
enum http1_result http1_parse_head(char *buf, size_t len, struct http1_head *head,
                                   struct http1_refusal *why);

/* The value of the first field named name (case-insensitive), or NULL. */
const char *http1_field(const struct http1_head *head, const char *name);

/* A chunked body being read (zero-initialise it before the first call). */
struct http1_chunked {
    int state;
    uint64_t size;      /* of the chunk being read, or its remainder */
    unsigned digits;    /* significant digits of the chunk size so far */
    size_t line, extra; /* bytes of the current size, extension or trailer line, trailers in all */
};

/* Reads in[0..n) of a chunked body. *used gets the bytes taken; when *dlen
 * is not 0, in[*doff..*doff + *dlen) is body data. Call again with the rest
 * of the input until all of it is used. Returns HTTP1_MORE (more body to
 * come), HTTP1_DONE (the last chunk and its trailers are in; *used ends
 * there and what follows is the next request) or HTTP1_REFUSED (malformed:
 * *why says how to answer). */
enum http1_result http1_chunked_read(struct http1_chunked *c, const char *in, size_t n,
                                     size_t *used, size_t *doff, size_t *dlen,
                                     struct http1_refusal *why);

/* Whether s may be sent as a field value: HTAB, SP, VCHAR and obs-text
 * only (RFC 9110 section 5.5), the rule heads are read with, for values
 * that come from elsewhere (a gateway's answer). */
bool http1_value_valid(const char *s);

/* The value of a hexadecimal digit of either case, or -1 (for chunk sizes
 * and percent-encoded query arguments alike). */
int http1_hexval(unsigned char ch);

#endif
