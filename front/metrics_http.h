/* GET /metrics on an address of its own (--metrics-listen), for a
 * Prometheus that scrapes without the API token: a second front that
 * answers nothing else. Like every front it serves plain HTTP on loopback
 * only, HTTPS elsewhere (with the server's certificate).
 *
 * Ownership: m and the PEM strings are borrowed (the PEM is copied by the
 * front); m must outlive the server. Thread-safety: as front.h. */
#ifndef STS_FRONT_METRICS_HTTP_H
#define STS_FRONT_METRICS_HTTP_H

#include "front.h"
#include "metrics.h"

/* Answers r with m in the Prometheus text format (200, no-store). For
 * every route that serves /metrics. Errors: STS_ENOMEM (r is closed). */
enum sts_err metrics_http_answer(struct front_req *r, struct metrics *m);

/* Starts serving m at listen, on listen_fd when it is >= 0 (a socket from
 * front_listen_open, consumed). why gets a message for the operator.
 * Errors: as front_start. */
enum sts_err metrics_http_start(const char *listen, int listen_fd, const char *tls_cert_pem,
                                const char *tls_key_pem, struct metrics *m, struct front **out,
                                char *why, size_t whylen);

#endif
