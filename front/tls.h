/* The servers' TLS certificate and key, replaceable while serving: every
 * new connection takes the current OpenSSL context, so that SIGHUP can load
 * a renewed certificate without dropping a connection. Connections already
 * open keep the context (and session) they started with: a context is
 * reference-counted, freed with its last connection.
 *
 * The pair is one per process: every front of a process serves the same
 * certificate, which is how the collector's main and metrics addresses and
 * the relay use it.
 *
 * Ownership: PEM strings are borrowed for the call; front_tls_context
 * gives a reference the caller frees with SSL_CTX_free. Thread-safety:
 * every function may be called from any thread. */
#ifndef STS_FRONT_TLS_H
#define STS_FRONT_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "sts/err.h"

/* Loads cert_pem (a chain, leaf first) and key_pem, checks that they are a
 * pair, and makes them the pair new connections get (TLS 1.2 at least). On
 * failure the pair in use stays and why says why.
 * Errors: STS_EINVAL (not PEM, no certificate, or not a pair), STS_ENOMEM,
 * STS_ECRYPTO (OpenSSL failed). */
enum sts_err front_tls_set(const char *cert_pem, const char *key_pem, char *why, size_t whylen);

/* A reference to the current context, or NULL when none was set. */
SSL_CTX *front_tls_context(void);

/* Drops the current pair. Only once no server runs. */
void front_tls_cleanup(void);

#endif
