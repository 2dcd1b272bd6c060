/* The listening socket, opened before anything else is created: a server
 * binds its address first, so that a bad address or a port in use stops it
 * before it makes a database or a key, and the socket is then handed to the
 * front (front_config.listen_fd). */
#ifndef STS_FRONT_LISTEN_H
#define STS_FRONT_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "sts/err.h"

/* Parses addr ("HOST:PORT", port 0 = any free port), applies the loopback
 * rule (plain HTTP, tls false, only on a loopback address), binds and
 * listens. On success *fd is a listening socket the caller owns (closed on
 * exec); why gets a message for the operator on failure.
 * Errors: STS_EINVAL (malformed or unresolvable address, plain HTTP off
 * loopback), STS_ENET (cannot bind: address in use or not available). */
enum sts_err front_listen_open(const char *addr, bool tls, int *fd, char *why, size_t whylen);

#endif
