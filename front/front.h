/* The HTTP front shared by sts-collector and sts-relay: an HTTP/1.1 server
 * of its own on epoll (http1.h reads the requests), listening (the loopback
 * rule for plain HTTP, TLS through OpenSSL from PEM), the RFC 9112 framing
 * rules, routing on the raw request target, deadlines for a connection's
 * idle time, a request's headers and its body, connection caps per client
 * address and overall, rate limits, and JSON error answers.
 *
 * A handler sees a request once its head has passed the framing rules
 * (framing.h) and its whole body is in: exactly one Host, a valid one, at most one
 * Content-Length of digits only, at most one Content-Type and one
 * Authorization, no Content-Length beside
 * Transfer-Encoding, no coding but a single "chunked", no white space in a
 * header name, no control character in a field, no encoded NUL in the
 * target. Anything else is answered here, once, with a JSON error, and the
 * connection is closed (RFC 9112 sections 6.1 and 6.3). A client address
 * over its rate (rate.h) is answered 429 with Retry-After. The path a
 * handler routes on is the raw target up to '?', never percent-decoded, so
 * "%2f" or "%00" cannot make a path look like a route.
 *
 * Client addresses are used for the caps and rates only, held in memory and
 * never logged or passed on. It lives outside libsts because the agent
 * links no server.
 *
 * Ownership: strings in front_config are borrowed for the call (the
 * certificate and key go to front/tls.h, replaceable by SIGHUP). A request
 * and everything it points to stay valid until it is answered. Thread-safety:
 * handlers run on the server's threads; a request is answered exactly once,
 * from the handler or later from any thread. */
#ifndef STS_FRONT_H
#define STS_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "rate.h"
#include "sts/err.h"

/* One request (see front_req_* below). */
struct front_req;

/* Called once per request, with its whole body in (or refused: see
 * front_req_body); the handler answers it now or later, exactly once. */
typedef void (*front_handler_fn)(void *cls, struct front_req *r);

struct front_config {
    const char *listen;       /* "HOST:PORT", port 0 = any free port */
    const char *tls_cert_pem; /* NULL: plain HTTP, on a loopback address only */
    const char *tls_key_pem;
    unsigned threads;          /* event threads on epoll (0 = 1) */
    unsigned connection_limit; /* open connections in all (0 = 4096) */
    unsigned per_client_limit; /* open connections per client address (0 = no cap) */
    unsigned header_timeout_s; /* request line and headers (0 = 10 s), counted from
                                  the connection's start, or from the first byte of
                                  a request on a kept-alive connection */
    unsigned body_timeout_s;   /* the body, from the end of the headers (0 = 10 s) */
    unsigned idle_timeout_s;   /* a kept-alive connection between requests, counted
                                  from the end of the previous answer (0 = 30 s) */
    size_t max_body;           /* largest body a handler gets (0 = 64 KiB); a larger
                                  one is read and dropped, up to FRONT_DRAIN_MAX */
    struct metrics *metrics;   /* NULL, or where the front registers its series
                                  (sts_http_*: answers by status, open connections,
                                  rate-limited, refused framing, deadlines) */
    bool use_listen_fd;        /* listen_fd holds a socket from front_listen_open */
    int listen_fd;             /* consumed by front_start, also on failure; listen
                                  names its address (checked, and in messages) */
    struct rate_config rate;   /* requests per client address; zero = no limit */
/* Suggested caps per client address when serving HTTPS; on plain HTTP, which
 * listens on loopback only, every client is the same local address (a proxy,
 * a test), so a cap there would only refuse it. */
#define FRONT_TLS_PER_CLIENT_LIMIT 64
    front_handler_fn handler;
    void *cls;
};

struct front_counters {
    unsigned long long refused_framing; /* answered by the front, connection closed */
    unsigned long long deadline_closed; /* connections closed at a deadline */
    unsigned long long rate_limited;    /* answered 429 */
};

struct front;

/* Starts serving. why gets a message for the operator on failure.
 * Errors: STS_EINVAL (bad listen address, plain HTTP on an address that is
 * not loopback, or a relay address that does not parse), STS_ENET (cannot
 * listen, or the certificate or key is unusable), STS_ENOMEM, STS_EIO (a
 * server thread could not start), STS_ECRYPTO (no random key for the rate
 * limiter or the client table). */
enum sts_err front_start(const struct front_config *cfg, struct front **out, char *why,
                         size_t whylen);

/* The port actually bound. */
uint16_t front_port(const struct front *f);

void front_get_counters(struct front *f, struct front_counters *out);

/* Stops accepting new connections and closes the listening socket, so that
 * new clients are refused at once (and go to another server); open ones are
 * still served. */
void front_quiesce(struct front *f);

/* front_quiesce, then waits, at most timeout_ms, until every request that
 * reached the handler has been answered. Returns false at the timeout. */
bool front_drain(struct front *f, unsigned timeout_ms);

/* Stops the server's threads, closes every connection and frees. Every
 * request must have been answered. NULL does nothing. */
void front_stop(struct front *f);

/* The request's method and its path (the raw target up to '?'). */
const char *front_req_method(const struct front_req *r);
const char *front_req_path(const struct front_req *r);

/* The value of the first header field named name (case-insensitive), or
 * NULL. */
const char *front_req_header(const struct front_req *r, const char *name);

/* The first query argument named name, percent-decoded ('+' as a space)
 * into a string that lives as long as the request, or NULL when absent. */
const char *front_req_arg(struct front_req *r, const char *name);

/* The i-th query argument (from 0, in the order sent), decoded as
 * front_req_arg does; name and value live as long as the request. Lets a
 * handler refuse arguments it does not know or that come twice.
 * Errors: STS_ENOENT (fewer than i + 1 arguments), STS_ENOMEM. */
enum sts_err front_req_arg_at(struct front_req *r, size_t i, const char **name, const char **value);

/* The body (writable: a handler may wipe it) and its length. *too_big says
 * that it was longer than max_body: it was dropped, and len is 0. */
char *front_req_body(struct front_req *r, size_t *len, bool *too_big);

/* Extra answer options for front_send. */
enum {
    FRONT_CLOSE = 1, /* Connection: close after this answer */
};

/* Answers r: status, Content-Type type (NULL: none), body (len bytes,
 * copied), headers (NULL, or more "Name: value\r\n"
 * lines). 503 and 429 answers carry Retry-After: 1, a 401 asks for a
 * Bearer token. r is gone once this returns. Callable from any thread.
 * Errors: STS_ENOMEM (the connection is closed instead). */
enum sts_err front_send(struct front_req *r, unsigned status, const char *type, const void *body,
                        size_t len, const char *headers, unsigned flags);

/* Closes r's connection without an answer (out of memory). r is gone. */
void front_abort(struct front_req *r);

/* front_send of json as type (FRONT_CLOSE when close).
 * Errors: STS_ENOMEM (the connection is closed instead). */
enum sts_err front_send_json(struct front_req *r, unsigned status, const char *json, size_t len,
                             const char *type, bool close);

/* Answers {"error":kind,"field":field,"detail":detail} (escaped) as
 * application/json. A 405 names allow in its Allow header (allow may be
 * NULL otherwise). Errors: STS_ENOMEM (the connection is closed instead). */
enum sts_err front_send_error(struct front_req *r, unsigned status, const char *kind,
                              const char *field, const char *detail, const char *allow);

/* front_send_error with Connection: close, for a refused body.
 * Errors: STS_ENOMEM (the connection is closed instead). */
enum sts_err front_send_refusal(struct front_req *r, unsigned status, const char *kind,
                                const char *field, const char *detail);

/* The same JSON error text, malloc'ed (NULL when out of memory), for
 * answers that are sealed or sent otherwise. */
char *front_error_json(const char *kind, const char *field, const char *detail);

/* Largest body read (and dropped) past max_body before its 413 is sent and
 * the connection closed, so that a client still sending reads the answer
 * rather than a broken pipe; a longer one is answered at once. */
#define FRONT_DRAIN_MAX (1024 * 1024)

/* Wipes and frees a NUL-terminated secret. NULL does nothing. */
void front_wipe_free(char *secret);

#endif
