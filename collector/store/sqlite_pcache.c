/* The collector's SQLite page cache (sqlite_pcache.h): SQLite's own, with
 * the truncations that cannot remove anything skipped.
 *
 * Why. SQLite truncates a connection's page cache to the database's size at
 * the end of every transaction (pager_end_transaction). The default cache
 * (pcache1) keeps the largest key it has held since its last truncation
 * and, when that key lies more than its hash table's size above the limit,
 * scans the whole table. The b-tree makes that the usual case: when it
 * splits a page and puts the new siblings in page order (balance_nonroot),
 * it moves one page for a moment to the key just past the lock-byte page,
 * 1,048,577 with 1 KiB pages. Reports insert at random keys, so nearly
 * every batch splits a page, and every commit scanned every bucket: a
 * seventh of the writer's time under bench/ingest.sh (perf, 8,192 buckets
 * on a small database), and 65,536 buckets with the 64 MiB cache full.
 *
 * How. Each cache wraps one of the inner cache (SQLite's, or a test's) and
 * keeps an upper bound of the keys its pages may hold: the largest key
 * fetched since the last truncation, apart from a few pages moved above it
 * (rekeyed), which it follows by address until they move back under the
 * bound or are discarded. A truncation is passed to the inner cache only
 * when a page may be at or past the limit; otherwise nothing could be
 * removed, so skipping it changes nothing SQLite sees. The inner cache may
 * evict a followed page without saying so; the page then stays followed,
 * which only passes on a truncation that could have been skipped.
 *
 * Ownership and threads: a cache belongs to its connection, which calls it
 * from one thread at a time, and keeps the inner methods it was created
 * over; those are set before SQLite starts (a test may set others later,
 * for the caches it creates itself). */
#include <stdbool.h>
#include <stddef.h>

#include "sqlite_pcache.h"

/* Pages followed above the bound: a split moves one at a time. Past that,
 * the bound itself rises. */
#define HIGH_MAX 4

struct high {
    sqlite3_pcache_page *page;
    unsigned key;
};

struct cache {
    sqlite3_pcache *inner;            /* first: tests reach their own cache through it */
    const sqlite3_pcache_methods2 *m; /* inner's methods when it was created */
    unsigned bound;                   /* every page not in high[] has a key <= bound */
    unsigned n_high;
    struct high high[HIGH_MAX];
};

/* The methods caches are created over from now on. */
static const sqlite3_pcache_methods2 *inner;

static int pc_init(void *arg)
{
    (void)arg;
    return inner->xInit ? inner->xInit(inner->pArg) : SQLITE_OK;
}

static void pc_shutdown(void *arg)
{
    (void)arg;
    if (inner->xShutdown)
        inner->xShutdown(inner->pArg);
}

static sqlite3_pcache *pc_create(int page_size, int extra, int purgeable)
{
    struct cache *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = (struct cache){.inner = inner->xCreate(page_size, extra, purgeable), .m = inner};
    if (!c->inner) {
        sqlite3_free(c);
        return NULL;
    }
    return (sqlite3_pcache *)c;
}

static void pc_cachesize(sqlite3_pcache *p, int n)
{
    struct cache *c = (struct cache *)p;
    c->m->xCachesize(c->inner, n);
}

static int pc_pagecount(sqlite3_pcache *p)
{
    struct cache *c = (struct cache *)p;
    return c->m->xPagecount(c->inner);
}

static sqlite3_pcache_page *pc_fetch(sqlite3_pcache *p, unsigned key, int create)
{
    struct cache *c = (struct cache *)p;
    sqlite3_pcache_page *page = c->m->xFetch(c->inner, key, create);
    if (page && key > c->bound)
        c->bound = key;
    return page;
}

static struct high *followed(struct cache *c, const sqlite3_pcache_page *page)
{
    for (unsigned i = 0; i < c->n_high; i++)
        if (c->high[i].page == page)
            return &c->high[i];
    return NULL;
}

static void unfollow(struct cache *c, struct high *h)
{
    *h = c->high[--c->n_high];
}

static void pc_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard)
{
    struct cache *c = (struct cache *)p;
    struct high *h;
    if (discard && (h = followed(c, page)))
        unfollow(c, h);
    c->m->xUnpin(c->inner, page, discard);
}

static void pc_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned old_key,
                     unsigned new_key)
{
    struct cache *c = (struct cache *)p;
    struct high *h = followed(c, page);
    if (new_key <= c->bound) {
        if (h)
            unfollow(c, h);
    } else if (h) {
        h->key = new_key;
    } else if (c->n_high < HIGH_MAX) {
        c->high[c->n_high++] = (struct high){page, new_key};
    } else {
        c->bound = new_key;
    }
    c->m->xRekey(c->inner, page, old_key, new_key);
}

static void pc_truncate(sqlite3_pcache *p, unsigned limit)
{
    struct cache *c = (struct cache *)p;
    bool needed = limit <= c->bound;
    for (unsigned i = 0; !needed && i < c->n_high; i++)
        needed = c->high[i].key >= limit;
    if (!needed)
        return;
    c->m->xTruncate(c->inner, limit);
    if (limit <= c->bound)
        c->bound = limit ? limit - 1 : 0;
    for (unsigned i = 0; i < c->n_high;) {
        if (c->high[i].key >= limit)
            unfollow(c, &c->high[i]);
        else
            i++;
    }
}

static void pc_destroy(sqlite3_pcache *p)
{
    struct cache *c = (struct cache *)p;
    c->m->xDestroy(c->inner);
    sqlite3_free(c);
}

static void pc_shrink(sqlite3_pcache *p)
{
    struct cache *c = (struct cache *)p;
    if (c->m->xShrink)
        c->m->xShrink(c->inner);
}

void sqlite_pcache_methods(const sqlite3_pcache_methods2 *in, sqlite3_pcache_methods2 *out)
{
    inner = in;
    *out = (sqlite3_pcache_methods2){
        .iVersion = in->iVersion,
        .xInit = pc_init,
        .xShutdown = pc_shutdown,
        .xCreate = pc_create,
        .xCachesize = pc_cachesize,
        .xPagecount = pc_pagecount,
        .xFetch = pc_fetch,
        .xUnpin = pc_unpin,
        .xRekey = pc_rekey,
        .xTruncate = pc_truncate,
        .xDestroy = pc_destroy,
        .xShrink = pc_shrink, /* called whatever iVersion says */
    };
}

enum sts_err sqlite_pcache_install(void)
{
    static sqlite3_pcache_methods2 def; /* outlives every cache */
    sqlite3_pcache_methods2 ours;
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &def) != SQLITE_OK || !def.xCreate)
        return STS_EIO;
    sqlite_pcache_methods(&def, &ours);
    return sqlite3_config(SQLITE_CONFIG_PCACHE2, &ours) == SQLITE_OK ? STS_OK : STS_EIO;
}
