/* What each storage backend provides to store.c: a table of operations.
 * Only store.c and the backends include this. */
#ifndef STS_STORE_IMPL_H
#define STS_STORE_IMPL_H

#include "store.h"

struct store_ops {
    void (*close)(struct store *store);
    enum sts_err (*write)(struct store *store, struct store_record *const *recs, size_t n);
    /* NULL where commits are durable by themselves. */
    enum sts_err (*defer_sync)(struct store *store);
    enum sts_err (*sync)(struct store *store);
    enum sts_err (*sales)(struct store *store, int32_t from, int32_t to, store_sales_cb cb,
                          void *ctx);
    enum sts_err (*sales_sum)(struct store *store, const struct store_query *q, store_sales_cb cb,
                              void *ctx);
    enum sts_err (*lifetime_sum)(struct store *store, const struct store_query *q, store_life_cb cb,
                                 void *ctx);
    enum sts_err (*versions_sum)(struct store *store, const struct store_query *q,
                                 store_version_cb cb, void *ctx);
    enum sts_err (*device_get)(struct store *store, const uint8_t *pseudonym,
                               struct store_device *out);
    enum sts_err (*device_erase)(struct store *store, const uint8_t *pseudonym, int64_t *erased);
    enum sts_err (*audit)(struct store *store, struct store_audit *out);
    enum sts_err (*release_get)(struct store *store, struct store_release *out);
    enum sts_err (*release_set_rho)(struct store *store, double rho);
    enum sts_err (*purge)(struct store *store, int64_t max, int64_t *purged);
    enum sts_err (*classes)(struct store *store, long k, struct store_classes *out);
    enum sts_err (*device_erase_all)(struct store *store, const uint8_t *pseudonyms, size_t n,
                                     struct store_erased *out);
    enum sts_err (*key_use)(struct store *store, struct store_key_use *out, size_t cap, size_t *n);
    enum sts_err (*fold)(struct store *store, int32_t keep_from, int64_t max, bool dry_run,
                         struct store_folded *out);
    enum sts_err (*columns)(struct store *store, struct store_column **out, size_t *n);
    /* What becomes of deleted rows here (store_deleted_rows); static. */
    const char *deleted_rows;
};

/* Every backend's handle starts with this. */
struct store {
    const struct store_ops *ops;
    struct store_policy policy; /* see store_set_policy */
    /* store_write_failed's memory: failing since the last batch written,
     * and the reason last logged. */
    bool write_failing;
    char write_why[256];
};

/* A backend's write failed for why: logged on stderr when writes start
 * failing or the reason changes, not at every batch. A failing disk fails
 * every batch, thousands a second while clients retry, and a journal that
 * drops lines under that flood drops the ones that matter. The writer's
 * thread only (each writer has its own store). */
void store_write_failed(struct store *s, const char *why);

/* The SQLite backend behind store_open (same flags, errors and why).
 * Errors: STS_ENOENT, STS_EIO, STS_ECORRUPT, STS_EUNSUPPORTED, STS_ENOMEM. */
enum sts_err store_sqlite_open(const char *path, unsigned flags, struct store **out, char *why,
                               size_t whylen);

/* The PostgreSQL backend behind store_open: uri is a libpq URI
 * ("postgresql://..." or "postgres://...", multi-host allowed), passed to
 * libpq as it is. Same flags and why; why never repeats the URI (it may hold
 * a password). Errors: STS_ENOENT (no STS schema and no STORE_CREATE),
 * STS_EIO (cannot connect), STS_ECORRUPT (STORE_READONLY on a database
 * without STS's schema), STS_EUNSUPPORTED, STS_ENOMEM. */
enum sts_err store_pg_open(const char *uri, unsigned flags, struct store **out, char *why,
                           size_t whylen);

#endif
