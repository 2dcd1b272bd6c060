/* Picks the storage backend from the database URI and forwards calls to it. */
#include <stdio.h>
#include <string.h>

#include "store_impl.h"
#include "sts/date.h"
#include "sts/log.h"

void store_policy_defaults(struct store_policy *p)
{
    p->report_id_days = 30;
    p->grace_days = 7;
    p->late_shift = true;
    p->retention_months = 0;
}

void store_counted_at(const struct store_record *r, int32_t today, int grace_days, int32_t *day,
                      int32_t *period, int32_t *cohort)
{
    /* The first open day is today - grace_days; the first open month is the
     * one holding it (a month is closed once its last day is closed). */
    int32_t open_day = today - grace_days, open_month = sts_day_month(open_day);
    *day = r->day;
    *period = r->period;
    *cohort = r->cohort;
    if (r->type == STS_REPORT_ACTIVATION) {
        if (r->day < open_day)
            *day = open_day;
    } else if (r->period < open_month) {
        *cohort += open_month - r->period;
        *period = open_month;
    }
}

enum sts_err store_set_policy(struct store *store, const struct store_policy *p)
{
    if (p->report_id_days < 1 || p->report_id_days > 3650 || p->grace_days < 0 ||
        p->grace_days > 27 || p->retention_months < 0 || p->retention_months > 1200)
        return STS_EINVAL;
    store->policy = *p;
    return STS_OK;
}

enum sts_err store_purge(struct store *store, int64_t max, int64_t *purged)
{
    return store->ops->purge(store, max, purged);
}

enum sts_err store_classes(struct store *store, long k, struct store_classes *out)
{
    if (k < 2)
        return STS_EINVAL;
    return store->ops->classes(store, k, out);
}

enum sts_err store_open(const char *uri, unsigned flags, struct store **out, char *why,
                        size_t whylen)
{
    if (strncmp(uri, "sqlite:", 7) == 0)
        return store_sqlite_open(uri + 7, flags, out, why, whylen);
    if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0)
        return store_pg_open(uri, flags, out, why, whylen);
    if (strstr(uri, "://")) {
        if (why)
            snprintf(why, whylen,
                     "unknown database URI scheme in '%s' (use sqlite:PATH or postgresql://...)",
                     uri);
        return STS_EINVAL;
    }
    return store_sqlite_open(uri, flags, out, why, whylen);
}

void store_close(struct store *store)
{
    if (store)
        store->ops->close(store);
}

enum sts_err store_write(struct store *store, struct store_record *const *recs, size_t n)
{
    enum sts_err e = store->ops->write(store, recs, n);
    if (e == STS_OK && n > 0) /* not the empty probe, which may commit while batches fail */
        store->write_failing = false;
    return e;
}

void store_write_failed(struct store *s, const char *why)
{
    if (s->write_failing && strcmp(s->write_why, why) == 0)
        return;
    s->write_failing = true;
    snprintf(s->write_why, sizeof s->write_why, "%s", why);
    sts_log(STS_LOG_ERR, "database write failed: %s", why);
}

enum sts_err store_defer_sync(struct store *store)
{
    return store->ops->defer_sync ? store->ops->defer_sync(store) : STS_EUNSUPPORTED;
}

enum sts_err store_sync(struct store *store)
{
    return store->ops->sync ? store->ops->sync(store) : STS_OK;
}

enum sts_err store_sales(struct store *store, int32_t from, int32_t to, store_sales_cb cb,
                         void *ctx)
{
    return store->ops->sales(store, from, to, cb, ctx);
}

enum sts_err store_sales_sum(struct store *store, const struct store_query *q, store_sales_cb cb,
                             void *ctx)
{
    return store->ops->sales_sum(store, q, cb, ctx);
}

enum sts_err store_lifetime_sum(struct store *store, const struct store_query *q, store_life_cb cb,
                                void *ctx)
{
    return store->ops->lifetime_sum(store, q, cb, ctx);
}

enum sts_err store_versions_sum(struct store *store, const struct store_query *q,
                                store_version_cb cb, void *ctx)
{
    return store->ops->versions_sum(store, q, cb, ctx);
}

enum sts_err store_device_get(struct store *store, const uint8_t pseudonym[STS_PSEUDONYM_LEN],
                              struct store_device *out)
{
    return store->ops->device_get(store, pseudonym, out);
}

enum sts_err store_device_erase(struct store *store, const uint8_t pseudonym[STS_PSEUDONYM_LEN],
                                int64_t *erased)
{
    return store->ops->device_erase(store, pseudonym, erased);
}

enum sts_err store_audit(struct store *store, struct store_audit *out)
{
    return store->ops->audit(store, out);
}

enum sts_err store_release_get(struct store *store, struct store_release *out)
{
    return store->ops->release_get(store, out);
}

enum sts_err store_release_set_rho(struct store *store, double rho)
{
    return store->ops->release_set_rho(store, rho);
}

/* The data-protection operations came after the first backends: one that
 * lacks an operation answers STS_EUNSUPPORTED rather than crash, and the
 * commands say so. */
enum sts_err store_device_erase_all(struct store *store, const uint8_t *pseudonyms, size_t n,
                                    struct store_erased *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return STS_EINVAL;
    if (!store->ops->device_erase_all)
        return STS_EUNSUPPORTED;
    return store->ops->device_erase_all(store, pseudonyms, n, out);
}

enum sts_err store_key_use(struct store *store, struct store_key_use *out, size_t cap, size_t *n)
{
    *n = 0;
    if (!store->ops->key_use)
        return STS_EUNSUPPORTED;
    return store->ops->key_use(store, out, cap, n);
}

enum sts_err store_fold(struct store *store, int32_t keep_from, int64_t max, bool dry_run,
                        struct store_folded *out)
{
    memset(out, 0, sizeof *out);
    if (!store->ops->fold)
        return STS_EUNSUPPORTED;
    return store->ops->fold(store, keep_from, max, dry_run, out);
}

enum sts_err store_columns(struct store *store, struct store_column **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!store->ops->columns)
        return STS_EUNSUPPORTED;
    return store->ops->columns(store, out, n);
}

const char *store_deleted_rows(const struct store *store)
{
    return store->ops->deleted_rows ? store->ops->deleted_rows
                                    : "this backend does not say what becomes of deleted rows";
}
