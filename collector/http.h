/* The collector's HTTP front: libmicrohttpd with a small thread pool on epoll.
 * A report is parsed and validated on the HTTP thread, its connection is
 * suspended while the group-commit writer stores it, and the answer is sent
 * when the record is committed. Never reads or logs the client's address. */
#ifndef STS_HTTP_H
#define STS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "sts/pseudonym.h"

struct http_config {
    const char *listen;        /* "HOST:PORT", port 0 = any free port */
    unsigned threads;          /* HTTP threads; 0 = number of CPUs */
    size_t max_body;           /* bytes, at most STS_REPORT_MAX_BODY */
    unsigned connection_limit;
    unsigned timeout_s;        /* idle connection timeout */
    const char *token;         /* bearer token of the statistics API, NULL = API off */
    const char *db_uri;        /* database the statistics API reads */
    long k;                    /* privacy floor of the statistics API (0 = default) */
};

struct http_server;

/* Starts serving. key and ing are borrowed and must outlive the server.
 * why gets a message for the operator on failure.
 * Errors: STS_EINVAL (bad listen address), STS_ENET (cannot listen), STS_ENOMEM. */
enum sts_err http_start(const struct http_config *cfg, const struct sts_key *key,
                        struct ingest *ing, struct http_server **out, char *why, size_t whylen);

/* The port actually bound. */
uint16_t http_port(const struct http_server *srv);

/* Counters since start. */
struct http_counters {
    unsigned long long accepted, duplicates, reactivations, invalid, failed;
};
void http_get_counters(struct http_server *srv, struct http_counters *out);

/* Stops accepting new connections; open ones are still served. */
void http_quiesce(struct http_server *srv);

/* Stops accepting, lets requests in the writer's queue finish, stops the
 * threads and frees. If final is not NULL it gets the counters as they stand
 * once the last answer has left. NULL srv does nothing. The ingest queue must
 * still run. */
void http_stop(struct http_server *srv, struct http_counters *final);

#endif
