/* A bounded set of long-lived store handles on one database, shared by
 * threads: serve's statistics requests each borrow a handle for the length of
 * a query instead of opening the database per request (on PostgreSQL a full
 * connection, on SQLite a file open and its schema checks).
 *
 * Ownership: the pool owns its handles; a borrowed handle is the borrower's
 * alone until it is returned. Thread-safety: every function but
 * store_pool_free may be called from any thread at once. */
#ifndef STS_STORE_POOL_H
#define STS_STORE_POOL_H

#include <stddef.h>

#include "store.h"

struct store_pool;

/* A pool of at most max handles on uri (copied), each opened with flags
 * (store_open's) when first needed: nothing is opened here. Errors:
 * STS_EINVAL (max = 0), STS_ENOMEM. */
enum sts_err store_pool_new(const char *uri, unsigned flags, size_t max, struct store_pool **out);

/* Lends a handle: an idle one (the one returned last, whose connection is
 * the likeliest warm), or a new one when fewer than max are open, or else
 * the first one returned (waiting for it). On failure nothing is lent and
 * why (if not NULL) says why. Errors: those of store_open. */
enum sts_err store_pool_get(struct store_pool *pool, struct store **out, char *why, size_t whylen);

/* Gives back a handle lent by store_pool_get. A handle whose last operation
 * failed is kept all the same: the PostgreSQL backend resets a lost
 * connection before the handle's next use, so the pool never reconnects by
 * itself. NULL store does nothing. */
void store_pool_put(struct store_pool *pool, struct store *store);

/* How many handles are open (idle or lent), and how many stores were opened
 * since the pool was made: for tests and the exit log. */
void store_pool_counts(struct store_pool *pool, size_t *open, unsigned long long *opened);

/* Closes every handle; all must have been given back. NULL does nothing. */
void store_pool_free(struct store_pool *pool);

#endif
