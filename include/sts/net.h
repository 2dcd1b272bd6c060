/* Small network helpers shared by the programs: listen addresses, the
 * loopback rule for plain HTTP (TLS on every hop, plain HTTP only on the
 * machine itself), and reading a PEM file into memory (certificates and keys).
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

/* A URL that passed sts_net_url_check, taken apart. path points into the
 * checked string, so it lives as long as that string does. */
struct sts_url {
    bool https;
    char host[256];   /* as written: "stats.example.com", "127.0.0.1", "[::1]" */
    unsigned port;    /* 0 when the URL names none */
    const char *path; /* what follows the authority: "" or "/...", query included */
};

/* The one rule for the URLs an STS client (agent, relay, fleet) sends to:
 * "https://" to any host, or "http://" only to a loopback host (localhost,
 * 127.x.y.z in dotted form, [::1]), so that everything leaving the machine
 * is under TLS. The scheme is case-insensitive; the authority is a host
 * name (letters, digits, '.', '-'; not "localhost." or any name ending in
 * '.'), a dotted IPv4 address or a bracketed IPv6 address, with an optional
 * port from 1 to 65535; no user information ("http://127.0.0.1@evil/" is
 * not loopback), no fragment, no blank or control character. When out is
 * not NULL it receives the parts. why (whylen bytes, may be NULL) says what
 * is wrong, for the operator. Thread-safe.
 * Errors: STS_EINVAL. */
enum sts_err sts_net_url_check(const char *url, struct sts_url *out, char *why, size_t whylen);

/* sts_net_url_check(url, NULL, NULL, 0) == STS_OK. */
bool sts_net_url_allowed(const char *url);

/* Reads the whole file at path, at most max bytes, into *out (NUL-terminated;
 * *len excludes the NUL). why gets a message on failure.
 * Errors: STS_ENOENT, STS_EACCES, STS_EIO, STS_ETOOBIG, STS_ENOMEM. */
enum sts_err sts_net_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                               size_t whylen);

#endif
