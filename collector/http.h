/* The collector's HTTP routes, served by the shared front (front/front.h:
 * a few event threads on epoll, HTTPS when given a certificate, plain HTTP
 * only on a loopback address, framing checks, deadlines and connection
 * caps). A report is parsed and validated on the HTTP thread, its
 * connection waits while the group-commit writer stores it, and the answer
 * is sent from the writer's thread when the record is committed. A report may come as a plain POST
 * /v1/reports or sealed in an Oblivious HTTP request to POST /v1/ohttp (gateway.h): both take the
 * same path and get the same answers, sealed for the second. Never reads or logs the client's (or
 * the relay's) address. */
#ifndef STS_HTTP_H
#define STS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "rate.h"
#include "sts/ohttp.h"
#include "sts/pseudonym.h"

struct store_pool;

struct http_config {
    const char *listen;        /* "HOST:PORT", port 0 = any free port */
    bool use_listen_fd;        /* listen_fd: its socket, bound already (front/listen.h) */
    int listen_fd;             /* consumed by http_start, also on failure */
    unsigned threads;          /* HTTP threads; 0 = number of CPUs */
    size_t max_body;           /* bytes, at most STS_REPORT_MAX_BODY */
    unsigned connection_limit; /* open connections in all */
    unsigned per_client_limit; /* open connections per client address (0 = no cap) */
    unsigned header_timeout_s; /* deadline for a request's headers (0 = 10 s) */
    unsigned body_timeout_s;   /* deadline for its body, once the headers are in (0 = 10 s) */
    unsigned timeout_s;        /* a kept-alive connection idle between requests */
    struct rate_config rate;   /* requests per client address (front/rate.h) */
    const char *token;         /* bearer token of the statistics API, NULL = API off */
    struct store_pool *db;     /* the statistics API's read-only handles; with token */
    const char *models;        /* the maker's models (comma list), NULL = any */
    bool stats_cache;          /* keep released tables between queries (not when backfilling) */
    long k;                    /* privacy floor of the statistics API (0 = default) */
    const char *tls_cert_pem;  /* PEM certificate chain; NULL = plain HTTP (loopback only) */
    const char *tls_key_pem;   /* PEM private key, with tls_cert_pem */
    const struct sts_ohttp_gateway *gateway; /* NULL = no OHTTP routes */
    long grace_days;                         /* see stats_args (0 = default) */
    struct metrics *metrics; /* borrowed; NULL = no GET /metrics (behind the token) */
    /* The metrics have an address of their own (metrics_listen): counted
     * here, not served here, where the API token would open them. */
    bool metrics_elsewhere;
};

struct http_server;

/* Starts serving. ing, cfg->db (store_pool.h) and cfg->gateway are borrowed
 * and must outlive the server; the PEM strings are copied (the key copy is
 * wiped at http_stop).
 * why gets a message for the operator on failure.
 * Errors: STS_EINVAL (bad listen address, plain HTTP on an address that is
 * not loopback, or a token without db), STS_ENET (cannot listen, or the
 * certificate or key is unusable), STS_ENOMEM, STS_EIO (a server thread
 * could not start). */
enum sts_err http_start(const struct http_config *cfg, struct ingest *ing, struct http_server **out,
                        char *why, size_t whylen);

/* The port actually bound. */
uint16_t http_port(const struct http_server *srv);

/* Counters since start. */
struct http_counters {
    unsigned long long accepted, duplicates, reactivations, invalid, failed;
};
void http_get_counters(struct http_server *srv, struct http_counters *out);

/* Stops accepting new connections; open ones are still served. */
void http_quiesce(struct http_server *srv);

/* Stops accepting new connections, then waits, at most timeout_ms, until
 * every request whose head was in has been answered.
 * Returns false if some were still open at the timeout (they are answered
 * 503 once the ingest queue stops). Keep-alive connections stay open. */
bool http_drain(struct http_server *srv, unsigned timeout_ms);

/* Replaces the API token (token not NULL; copied) and the Oblivious HTTP
 * gateway (gw not NULL; borrowed from now on, and its key list is served at
 * /v1/ohttp-keys), for requests that start from now on; nothing else
 * changes, no connection is dropped. *old gets the gateway replaced, which
 * no request uses any more once this returns: the caller may free it. Only
 * what was on at start can be replaced. Thread-safe. On failure nothing
 * changes and why says why.
 * Errors: STS_EINVAL (token or gateway off at start), STS_ENOMEM. */
enum sts_err http_reload(struct http_server *srv, const char *token,
                         const struct sts_ohttp_gateway *gw, const struct sts_ohttp_gateway **old,
                         char *why, size_t whylen);

/* Stops accepting, lets requests in the writer's queue finish, stops the
 * threads and frees. If final is not NULL it gets the counters as they stand
 * once the last answer has left. NULL srv does nothing. The ingest queue must
 * still run. */
void http_stop(struct http_server *srv, struct http_counters *final);

#endif
