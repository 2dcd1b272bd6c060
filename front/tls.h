/* The servers' TLS certificate and key, replaceable while serving: the
 * front hands libmicrohttpd a certificate callback (GnuTLS, the library's
 * TLS backend) that gives each new handshake the current pair, so that
 * SIGHUP can load a renewed certificate without dropping a connection.
 * Connections already open keep the session they negotiated.
 *
 * The pair is one per process (a GnuTLS certificate callback carries no
 * pointer of its own): every front of a process serves the same
 * certificate, which is how the collector's main and metrics addresses
 * and the relay use it. A replaced pair is kept until it cannot be in a
 * handshake any more (10 minutes, far past the header deadline that
 * bounds one), then wiped and freed; the rest at front_tls_cleanup.
 *
 * Ownership: PEM strings are borrowed for the call. Thread-safety: every
 * function may be called from any thread. */
#ifndef STS_FRONT_TLS_H
#define STS_FRONT_TLS_H

#include <stddef.h>

#include "sts/err.h"

/* Loads cert_pem (a chain, leaf first) and key_pem, checks that they are a
 * pair, and makes them the pair new handshakes get. On failure the pair in
 * use stays and why says why.
 * Errors: STS_EINVAL (not PEM, no certificate, or not a pair), STS_ENOMEM,
 * STS_ECRYPTO (GnuTLS failed). */
enum sts_err front_tls_set(const char *cert_pem, const char *key_pem, char *why, size_t whylen);

/* The callback to pass as MHD_OPTION_HTTPS_CERT_CALLBACK. */
void *front_tls_callback(void);

/* Frees every pair. Only once no server runs. */
void front_tls_cleanup(void);

#endif
