/* sts-relay: an Oblivious HTTP relay (RFC 9458 "Oblivious Relay Resource")
 * for tests and small deployments. It accepts POSTs of message/ohttp-req,
 * forwards each body to one configured gateway URL carrying nothing of the
 * client but the body and its Content-Type (no address, no Forwarded, Via,
 * User-Agent or cookies), and returns the gateway's status, Content-Type and
 * body. Optionally GET /v1/ohttp-keys is fetched from the gateway's key URL,
 * so that every client gets the same key configurations.
 *
 * It never logs or forwards the client's address (the front counts
 * connections per address in memory for its cap, nothing more). Bodies,
 * answers, connections and gateway time are bounded; a gateway status
 * outside 100-599 or an oversized gateway Content-Type is answered 502. The
 * shared front serves (HTTPS from PEM files; plain HTTP only on a loopback
 * address), libcurl forwards (HTTPS required towards a gateway that is not
 * on loopback). */
#ifndef STS_RELAY_H
#define STS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

struct relay_config {
    const char *listen;       /* HOST:PORT, port 0 = any free port */
    const char *gateway;      /* URL encapsulated requests go to */
    const char *keys_url;     /* NULL: GET /v1/ohttp-keys answers 404 */
    const char *ca_file;      /* NULL: the system store, to verify the gateway */
    const char *tls_cert_pem; /* NULL: plain HTTP (loopback only) */
    const char *tls_key_pem;
    size_t max_body;           /* request and answer bodies, bytes */
    unsigned max_connections;  /* open client connections (0 = 1024) */
    unsigned per_client_limit; /* connections per client address (0 = 64 with TLS,
                                  none on plain HTTP, which is loopback only) */
    unsigned header_timeout_s; /* deadline for a request's headers (0 = 10 s) */
    unsigned body_timeout_s;   /* deadline for its body (0 = 10 s) */
    unsigned timeout_s;        /* per forwarded request, and idle connections */
    struct metrics *metrics;   /* NULL, or where the relay registers its series */
};

struct relay_counters {
    unsigned long long forwarded, refused, gateway_errors;
};

struct relay;

/* Starts the relay; strings are copied. why gets a message for the operator.
 * Errors: STS_EINVAL (listen address, plain HTTP off loopback, a gateway URL
 * that is not https and not loopback), STS_ENET (cannot listen, or
 * unusable certificate),
 * STS_ENOMEM, STS_EIO (the forwarding thread could not start). */
enum sts_err relay_start(const struct relay_config *cfg, struct relay **out, char *why,
                         size_t whylen);

uint16_t relay_port(const struct relay *r);

void relay_get_counters(struct relay *r, struct relay_counters *out);

/* Stops accepting connections and waits, at most timeout_ms, for the
 * requests being forwarded to be answered. Returns false at the timeout. */
bool relay_drain(struct relay *r, unsigned timeout_ms);

/* Stops serving and frees. NULL does nothing. */
void relay_stop(struct relay *r);

#endif
