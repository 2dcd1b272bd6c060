/* The RFC 9112 framing rules of the HTTP front (front.h), apart from
 * the server so that unit tests and a fuzz target can give them any
 * header fields: exactly one Host (HTTP/1.1; at most one in HTTP/1.0), a
 * valid one (RFC 9112 section 3.2: a host name or address, a port), at
 * most one Content-Length, never beside Transfer-Encoding, no coding but a
 * single "chunked" (none at all in HTTP/1.0), header names made of tchar
 * only (so "Name : value" is refused), at most one Content-Type and one
 * Authorization (the first would be taken, a proxy may check the last), no
 * encoded NUL in the target.
 * Strings passed in are borrowed for the call, except that the coding value
 * given to framing_add must live until framing_refused. */
#ifndef STS_FRONT_FRAMING_H
#define STS_FRONT_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

/* Reports, relays and dashboards send heads of a few hundred bytes: these
 * limits leave them ample room and keep a connection's buffer small. */
#define FRAMING_TARGET_MAX 2048
#define FRAMING_HEAD_MAX   3072 /* target and fields, as "Name: value\r\n" */
#define FRAMING_FIELDS_MAX 48

struct framing {
    unsigned host, content_length, transfer_encoding, fields;
    unsigned content_type, authorization; /* singletons the handlers act on */
    size_t head_bytes;                    /* the fields so far, as "Name: value\r\n" */
    const char *coding;                   /* the last Transfer-Encoding value */
    bool bad_name;
    bool bad_host; /* a Host value that is not uri-host [":" port] */
};

/* Counts one header field (zero-initialise f first). */
void framing_add(struct framing *f, const char *key, const char *value);

/* Whether the request must be refused; if so *status (400, 414, 431 or
 * 501), *field
 * and *detail (static strings) say how to answer. target is the whole raw
 * request target. */
bool framing_refused(const struct framing *f, bool http11, const char *target, unsigned *status,
                     const char **field, const char **detail);

#endif
