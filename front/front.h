/* The HTTP front shared by sts-collector and sts-relay: listening (the
 * loopback rule for plain HTTP, TLS from PEM), the RFC 9112 framing checks
 * libmicrohttpd leaves to its user, routing on the raw request target,
 * deadlines for a request's headers and for its body, connection caps per
 * client address and overall, and JSON error answers. It lives outside
 * libsts because the agent links no server.
 *
 * A handler sees a request only once the front has accepted its framing:
 * exactly one Host, at most one Content-Length, no Content-Length beside
 * Transfer-Encoding, no coding but a single "chunked", no white space in a
 * header name, no encoded NUL in the target. Anything else is answered here
 * with a JSON error and the connection is closed (RFC 9112 section 6.1,
 * 6.3). A client address over its rate (rate.h) is answered 429 with
 * Retry-After. path is the raw target up to '?', never percent-decoded, so "%2f"
 * or "%00" cannot make a path look like a route.
 *
 * Client addresses are used for the caps only, held in memory and never
 * logged or passed on. Ownership: strings in front_config are borrowed for
 * the call (the certificate and key go to front/tls.h, replaceable by SIGHUP).
 * Thread-safety: handlers run on the server's threads; the send helpers are
 * called from a handler. */
#ifndef STS_FRONT_H
#define STS_FRONT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "rate.h"
#include "sts/err.h"

/* Called like an MHD_AccessHandlerCallback, with path the raw target's path
 * (see above) and *ctx the handler's own per-request pointer (NULL at the
 * first call). */
typedef enum MHD_Result (*front_handler_fn)(void *cls, struct MHD_Connection *c, const char *path,
                                            const char *method, const char *upload,
                                            size_t *upload_size, void **ctx);

/* Called once per request that reached the handler, when it ends (answered
 * or not), to free *ctx. */
typedef void (*front_completed_fn)(void *cls, void **ctx);

struct front_config {
    const char *listen;       /* "HOST:PORT", port 0 = any free port */
    const char *tls_cert_pem; /* NULL: plain HTTP, on a loopback address only */
    const char *tls_key_pem;
    unsigned threads;          /* event threads on epoll; 0 = a thread per connection */
    bool suspend;              /* handlers may suspend connections */
    unsigned connection_limit; /* open connections in all (0 = 4096) */
    unsigned per_client_limit; /* open connections per client address (0 = no cap) */
    unsigned header_timeout_s; /* request line and headers (0 = 10 s), counted from
                                  the connection's start or the previous answer */
    unsigned body_timeout_s;   /* the body, from the end of the headers (0 = 10 s) */
    unsigned idle_timeout_s;   /* libmicrohttpd's inactivity timer (0 = 30 s) */
    size_t memory_limit;       /* per connection (0 = libmicrohttpd's default) */
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
    front_completed_fn completed; /* may be NULL */
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
 * not loopback, or a relay address that does not parse), STS_EUNSUPPORTED (libmicrohttpd without
 * TLS), STS_ENET (cannot listen, or the certificate or key is unusable), STS_ENOMEM, STS_EIO (the
 * deadline thread could not start), STS_ECRYPTO (no random key for the rate limiter). */
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
 * reached the handler has completed. Returns false at the timeout. */
bool front_drain(struct front *f, unsigned timeout_ms);

/* Stops the server's threads and frees. NULL does nothing. */
void front_stop(struct front *f);

/* Queues json (len bytes, copied) as the answer with Content-Type type.
 * 503 and 429 answers carry Retry-After: 1. close adds Connection: close. */
enum MHD_Result front_send_json(struct MHD_Connection *c, unsigned status, const char *json,
                                size_t len, const char *type, bool close);

/* Queues {"error":kind,"field":field,"detail":detail} (escaped) as
 * application/json. A 405 names allow in its Allow header (allow may be
 * NULL otherwise); a 401 asks for a Bearer token. */
enum MHD_Result front_send_error(struct MHD_Connection *c, unsigned status, const char *kind,
                                 const char *field, const char *detail, const char *allow);

/* front_send_error with Connection: close, for a refused body. */
enum MHD_Result front_send_refusal(struct MHD_Connection *c, unsigned status, const char *kind,
                                   const char *field, const char *detail);

/* The same JSON error text, malloc'ed (NULL when out of memory), for
 * answers that are sealed or sent otherwise. */
char *front_error_json(const char *kind, const char *field, const char *detail);

/* Largest refused body read (and dropped) before its answer, so that a
 * client still sending reads the answer rather than a broken pipe. */
#define FRONT_DRAIN_MAX (1024 * 1024)

/* A request body being read into a caller-owned buffer of cap bytes. Past
 * cap the body is refused: it is read and dropped up to FRONT_DRAIN_MAX in
 * all (chunked bodies included), then answered with Connection: close.
 * Beyond FRONT_DRAIN_MAX the connection is closed at once: libmicrohttpd
 * 0.9.75 cannot queue an answer while a body is still arriving. */
struct front_body {
    size_t cap, len, seen;
    bool discard; /* refused already (e.g. its media type): read and drop */
    bool too_big;
};

enum front_body_step {
    FRONT_BODY_MORE,  /* keep reading */
    FRONT_BODY_CLOSE, /* over FRONT_DRAIN_MAX: return MHD_NO to close */
};

/* Sets up b at a request's first call. Returns true when the declared
 * Content-Length is already over FRONT_DRAIN_MAX: answer at once (with the
 * body unread, the connection closes after the answer). */
bool front_body_init(struct front_body *b, struct MHD_Connection *c, size_t cap, bool discard);

/* Takes n bytes of upload: copies them into buf while they fit. */
enum front_body_step front_body_feed(struct front_body *b, void *buf, const char *data, size_t n);

/* Wipes and frees a NUL-terminated secret. NULL does nothing. */
void front_wipe_free(char *secret);

#endif
