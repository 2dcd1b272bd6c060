/* The collector's page cache (collector/store/sqlite_pcache.c): over a fake
 * inner cache that checks, after every truncation, that no page at or past
 * the limit is left (random operations, fixed seed, and the b-tree's split
 * sequence); then over SQLite's own cache on a real database, where random
 * inserts that split pages must not truncate the inner cache at every
 * commit, and a rolled-back transaction that grew the file must, leaving a
 * database that passes integrity_check with exactly the committed rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_pcache.h"

/* --- A fake inner cache: a fixed set of slots, each a page or free. --- */

#define SLOTS 64

struct fake_page {
    sqlite3_pcache_page base;
    unsigned key;
    bool used;
};

struct fake {
    struct fake_page page[SLOTS];
    int truncations; /* calls that reached it */
};

static struct fake_page *fake_find(struct fake *f, unsigned key)
{
    for (int i = 0; i < SLOTS; i++)
        if (f->page[i].used && f->page[i].key == key)
            return &f->page[i];
    return NULL;
}

static sqlite3_pcache *fake_create(int sz, int extra, int purgeable)
{
    (void)sz, (void)extra, (void)purgeable;
    return (sqlite3_pcache *)calloc(1, sizeof(struct fake));
}

static void fake_cachesize(sqlite3_pcache *p, int n)
{
    (void)p, (void)n;
}

static int fake_pagecount(sqlite3_pcache *p)
{
    struct fake *f = (struct fake *)p;
    int n = 0;
    for (int i = 0; i < SLOTS; i++)
        n += f->page[i].used;
    return n;
}

/* Creates in a free slot; with none free, evicts a random page without
 * saying so, as SQLite's cache may. */
static sqlite3_pcache_page *fake_fetch(sqlite3_pcache *p, unsigned key, int create)
{
    struct fake *f = (struct fake *)p;
    struct fake_page *pg = fake_find(f, key);
    if (pg || !create)
        return pg ? &pg->base : NULL;
    for (int i = 0; i < SLOTS && !pg; i++)
        if (!f->page[i].used)
            pg = &f->page[i];
    if (!pg)
        pg = &f->page[rand() % SLOTS];
    pg->used = true;
    pg->key = key;
    return &pg->base;
}

static void fake_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard)
{
    (void)p;
    if (discard)
        ((struct fake_page *)page)->used = false;
}

static void fake_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned old, unsigned key)
{
    struct fake_page *pg = (struct fake_page *)page;
    struct fake_page *there = fake_find((struct fake *)p, key);
    (void)old;
    if (there && there != pg)
        there->used = false; /* SQLite's cache drops a page already at key */
    pg->key = key;
}

static void fake_truncate(sqlite3_pcache *p, unsigned limit)
{
    struct fake *f = (struct fake *)p;
    f->truncations++;
    for (int i = 0; i < SLOTS; i++)
        if (f->page[i].used && f->page[i].key >= limit)
            f->page[i].used = false;
}

static void fake_destroy(sqlite3_pcache *p)
{
    free(p);
}

static void fake_shrink(sqlite3_pcache *p)
{
    (void)p;
}

static const sqlite3_pcache_methods2 fake_methods = {
    .iVersion = 1,
    .xCreate = fake_create,
    .xCachesize = fake_cachesize,
    .xPagecount = fake_pagecount,
    .xFetch = fake_fetch,
    .xUnpin = fake_unpin,
    .xRekey = fake_rekey,
    .xTruncate = fake_truncate,
    .xDestroy = fake_destroy,
    .xShrink = fake_shrink,
};

/* The cache under test, and the fake inside it: the wrapper's first field. */
struct under_test {
    sqlite3_pcache_methods2 m;
    sqlite3_pcache *cache;
    struct fake *fake;
};

static void open_fake(struct under_test *t)
{
    sqlite_pcache_methods(&fake_methods, &t->m);
    t->cache = t->m.xCreate(1024, 0, 1);
    assert_non_null(t->cache);
    t->fake = *(struct fake **)t->cache;
}

static sqlite3_pcache_page *fetch(struct under_test *t, unsigned key)
{
    sqlite3_pcache_page *pg = t->m.xFetch(t->cache, key, 2);
    assert_non_null(pg);
    return pg;
}

/* A cache holding pages 1 to 10, kept in pg[1..10] when pg is not NULL. */
static void open_ten(struct under_test *t, sqlite3_pcache_page *pg[11])
{
    open_fake(t);
    for (unsigned k = 1; k <= 10; k++) {
        sqlite3_pcache_page *page = fetch(t, k);
        if (pg)
            pg[k] = page;
    }
}

static void assert_nothing_from(const struct fake *f, unsigned limit)
{
    for (int i = 0; i < SLOTS; i++)
        if (f->page[i].used && f->page[i].key >= limit)
            fail_msg("page %u left after a truncation to %u", f->page[i].key, limit);
}

#define TEMP_KEY 1048577u /* where balance_nonroot parks a page with 1 KiB pages */

/* balance_nonroot's swap of two new siblings, then the commit's truncation
 * to the database's size: nothing past it, so nothing reaches the inner
 * cache; and every page is where the swap put it. */
static void split_swap_is_not_a_truncation(void **state)
{
    (void)state;
    struct under_test t;
    sqlite3_pcache_page *pg[11];
    open_ten(&t, pg);
    t.m.xRekey(t.cache, pg[5], 5, TEMP_KEY);
    t.m.xRekey(t.cache, pg[7], 7, 5);
    t.m.xRekey(t.cache, pg[5], TEMP_KEY, 7);
    t.m.xTruncate(t.cache, 11);
    assert_int_equal(t.fake->truncations, 0);
    assert_int_equal(((struct fake_page *)pg[5])->key, 7);
    assert_int_equal(((struct fake_page *)pg[7])->key, 5);
    assert_int_equal(t.m.xPagecount(t.cache), 10);
    t.m.xDestroy(t.cache);
}

/* A truncation that removes something reaches the inner cache; the same
 * one again cannot, and is skipped; a page fetched past it again makes the
 * next one needed. */
static void needed_truncations_pass(void **state)
{
    (void)state;
    struct under_test t;
    open_ten(&t, NULL);
    t.m.xTruncate(t.cache, 6);
    assert_int_equal(t.fake->truncations, 1);
    assert_nothing_from(t.fake, 6);
    assert_int_equal(t.m.xPagecount(t.cache), 5);
    t.m.xTruncate(t.cache, 6);
    assert_int_equal(t.fake->truncations, 1);
    fetch(&t, 8);
    t.m.xTruncate(t.cache, 6);
    assert_int_equal(t.fake->truncations, 2);
    assert_nothing_from(t.fake, 6);
    t.m.xTruncate(t.cache, 1); /* sqlite3PcacheClear */
    assert_int_equal(t.m.xPagecount(t.cache), 0);
    t.m.xDestroy(t.cache);
}

/* A page left above the bound (unpinned, not discarded: it may still be
 * cached) keeps the truncation needed until one has removed it; a page
 * discarded there does not. More pages above the bound than are followed
 * raise the bound, so truncations pass again. */
static void pages_left_above(void **state)
{
    (void)state;
    struct under_test t;
    sqlite3_pcache_page *pg[11];
    open_ten(&t, pg);
    t.m.xRekey(t.cache, pg[3], 3, TEMP_KEY);
    t.m.xUnpin(t.cache, pg[3], 0);
    t.m.xTruncate(t.cache, 11);
    assert_int_equal(t.fake->truncations, 1);
    assert_nothing_from(t.fake, 11);
    t.m.xTruncate(t.cache, 11);
    assert_int_equal(t.fake->truncations, 1);

    t.m.xRekey(t.cache, pg[4], 4, TEMP_KEY);
    t.m.xUnpin(t.cache, pg[4], 1);
    t.m.xTruncate(t.cache, 11);
    assert_int_equal(t.fake->truncations, 1);

    for (unsigned k = 5; k <= 10; k++)
        t.m.xRekey(t.cache, pg[k], k, 2000 + k);
    t.m.xTruncate(t.cache, 11);
    assert_int_equal(t.fake->truncations, 2);
    assert_nothing_from(t.fake, 11);
    t.m.xDestroy(t.cache);
}

/* Random fetches, rekeys, unpins and truncations, the fake evicting pages
 * behind the wrapper's back: after every truncation nothing at or past
 * the limit is left. Fixed seed. */
static void random_operations_never_leave_a_page(void **state)
{
    (void)state;
    srand(20261201);
    for (int round = 0; round < 200; round++) {
        struct under_test t;
        open_fake(&t);
        sqlite3_pcache_page *held[8] = {0};
        int skipped = 0;
        for (int op = 0; op < 500; op++) {
            int r = rand() % 100;
            unsigned key = 1 + (unsigned)(rand() % 100);
            int h = rand() % 8;
            if (r < 45) {
                held[h] = fetch(&t, key);
            } else if (r < 65 && held[h]) {
                unsigned to = rand() % 4 ? key : TEMP_KEY + (unsigned)(rand() % 3);
                unsigned from = ((struct fake_page *)held[h])->key;
                if (((struct fake_page *)held[h])->used)
                    t.m.xRekey(t.cache, held[h], from, to);
            } else if (r < 80 && held[h]) {
                if (((struct fake_page *)held[h])->used)
                    t.m.xUnpin(t.cache, held[h], rand() % 2);
                held[h] = NULL;
            } else {
                int before = t.fake->truncations;
                unsigned limit = 1 + (unsigned)(rand() % 110);
                t.m.xTruncate(t.cache, limit);
                assert_nothing_from(t.fake, limit);
                skipped += t.fake->truncations == before;
                for (int i = 0; i < 8; i++)
                    if (held[i] && !((struct fake_page *)held[i])->used)
                        held[i] = NULL;
            }
        }
        assert_true(skipped > 0); /* the wrapper skipped some, and was right to */
        t.m.xDestroy(t.cache);
    }
}

/* --- Over SQLite's own cache. --- */

static sqlite3_pcache_methods2 sqlite_default;
static int default_truncations;

static void counting_truncate(sqlite3_pcache *p, unsigned limit)
{
    default_truncations++;
    sqlite_default.xTruncate(p, limit);
}

static int64_t count_rows(sqlite3 *db)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

/* 300 commits of 30 random 32-byte keys each into a WITHOUT ROWID table on
 * 1 KiB pages, as the collector's activations are: they split leaves all
 * the time, yet almost no commit truncates the inner cache (the default
 * cache alone would be asked at every one). Then a transaction that grows
 * the file by thousands of pages is rolled back: that truncation must
 * reach it, and the database is intact, with exactly the committed rows. */
static void real_database(void **state)
{
    (void)state;
    char dir[] = "/tmp/sts-pcache-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
             " PRAGMA cache_size=-8192;"
             " CREATE TABLE t(k BLOB PRIMARY KEY, v INTEGER) WITHOUT ROWID;");
    sqlite3_stmt *ins;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES(randomblob(32), ?1)", -1, &ins, NULL),
        SQLITE_OK);
    int before = default_truncations;
    for (int c = 0; c < 300; c++) {
        exec(db, "BEGIN");
        for (int i = 0; i < 30; i++) {
            sqlite3_bind_int(ins, 1, c);
            assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
            sqlite3_reset(ins);
        }
        exec(db, "COMMIT");
    }
    int per_commits = default_truncations - before;
    printf("inner truncations in 300 commits: %d\n", per_commits);
    assert_true(per_commits < 30);
    assert_int_equal(count_rows(db), 9000);

    before = default_truncations;
    exec(db, "BEGIN; INSERT INTO t SELECT randomblob(32), -1 FROM t; ROLLBACK;");
    assert_true(default_truncations > before);
    assert_int_equal(count_rows(db), 9000);

    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* What a new connection reads: the same. */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(count_rows(db), 9000);
    sqlite3_close(db);
    char side[80];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    /* SQLite's own cache, with its truncations counted, under the module's:
     * configured before SQLite starts, as sqlite_pcache_install does. */
    sqlite3_pcache_methods2 ours;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &sqlite_default), SQLITE_OK);
    sqlite3_pcache_methods2 counting = sqlite_default;
    counting.xTruncate = counting_truncate;
    sqlite_pcache_methods(&counting, &ours);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_PCACHE2, &ours), SQLITE_OK);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_database),
        cmocka_unit_test(split_swap_is_not_a_truncation),
        cmocka_unit_test(needed_truncations_pass),
        cmocka_unit_test(pages_left_above),
        cmocka_unit_test(random_operations_never_leave_a_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
