/* Per-client-address rate limiting for the HTTP front: a token bucket per
 * address (an IPv6 client's /64, see rate_client_key), in a fixed-size table
 * in memory. The table holds a keyed 64-bit
 * hash of each address (the key drawn at start), never the address, and
 * nothing of it is stored or logged. Addresses of configured relays, through
 * which all Oblivious HTTP traffic arrives, get a limit of their own.
 *
 * When the table is full, a new address takes the slot of one whose bucket
 * has refilled (it has been quiet long enough to be forgotten without
 * effect) or else of the least recently seen one. Thread-safe. */
#ifndef STS_FRONT_RATE_H
#define STS_FRONT_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sts/err.h"

struct rate_config {
    double rate;        /* requests per second per address; 0 = no limit */
    double burst;       /* bucket size (0 = twice rate, at least 1) */
    double relay_rate;  /* the same for relay addresses; 0 = no limit */
    double relay_burst; /* 0 = twice relay_rate, at least 1 */
    const char *relays; /* comma-separated IP addresses of relays, or NULL */
};

struct rate_table;

/* Makes a table (*out stays NULL when neither limit is set). why names a
 * relay address that does not parse.
 * Errors: STS_EINVAL, STS_ENOMEM, STS_ECRYPTO (no random key). */
enum sts_err rate_new(const struct rate_config *cfg, struct rate_table **out, char *why,
                      size_t whylen);

/* Takes one token for the address sa at now_ms (a monotonic clock). Returns
 * 0 when the request may go on, else the whole seconds after which a token
 * will be there (at least 1), for Retry-After. A NULL table allows all. */
unsigned rate_take(struct rate_table *t, const struct sockaddr *sa, long long now_ms);

/* The 16 bytes a client is counted by, for its rate and its connection cap:
 * IPv4 as its IPv4-mapped IPv6 form (one client whichever way it arrives),
 * any other IPv6 address by its /64 prefix, the rest zero, since one host
 * is routinely given a whole /64 and could otherwise take a fresh address
 * for every connection. Relays are told apart by their full address
 * (rate_take). Returns false for another family (out zeroed). */
bool rate_client_key(const struct sockaddr *sa, uint8_t out[16]);

/* NULL does nothing. */
void rate_free(struct rate_table *t);

#endif
