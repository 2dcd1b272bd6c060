/* Small network helpers shared by the programs: listen addresses, the
 * loopback rule for plain HTTP (TLS on every hop, plain HTTP only on the
 * machine itself), and reading a PEM file into memory for libmicrohttpd.
 *
 * Ownership: sts_net_read_file returns a malloc'ed buffer the caller frees
 * (wiping it first when it holds a private key). Thread-safety: none needed. */
#ifndef STS_NET_H
#define STS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sts/err.h"

/* Parses "HOST:PORT" ("[::1]:8080" for IPv6; port 0 = any free port) into
 * *ss. why gets a message for the operator on failure.
 * Errors: STS_EINVAL (malformed, or the host does not resolve). */
enum sts_err sts_net_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                                  char *why, size_t whylen);

/* Whether sa is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x.y.z). */
bool sts_net_is_loopback(const struct sockaddr *sa);

/* Whether url is "https://...", or "http://" to a loopback host (localhost,
 * 127.x.y.z, [::1]): the only URLs an STS client may send to. */
bool sts_net_url_allowed(const char *url);

/* Reads the whole file at path, at most max bytes, into *out (NUL-terminated;
 * *len excludes the NUL). why gets a message on failure.
 * Errors: STS_ENOENT, STS_EACCES, STS_EIO, STS_ETOOBIG, STS_ENOMEM. */
enum sts_err sts_net_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                               size_t whylen);

#endif
