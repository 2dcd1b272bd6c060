/* The collector's WAL-buffering VFS (collector/store/sqlite_wal.c) on real
 * SQLite files: commits through it are in the file for other connections
 * (on the default VFS, so nothing but the file is shared), with
 * synchronous=FULL and with no sync at all; its writes are gathered; a
 * reader never sees a transaction before its commit; a transaction larger
 * than the buffer; a write failure (RLIMIT_FSIZE) and a full disk (a small
 * tmpfs, when this process may mount one) fail the transaction, keep every
 * earlier commit, and leave on disk exactly what a restart after kill -9
 * should recover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sqlite_wal.h"

struct fixture {
    char dir[64];
    char path[128];
    bool mounted;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sts-wal-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    assert_int_equal(sqlite_wal_register(), STS_OK);
    *state = f;
    return 0;
}

static void unlink_db(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[200];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char copy[160];
    unlink_db(f->path);
    snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
    unlink_db(copy);
    if (f->mounted)
        umount(f->dir);
    rmdir(f->dir);
    free(f);
    return 0;
}

static sqlite3 *open_db(const char *path, const char *vfs, const char *pragmas)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, pragmas, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* The writer, as store_sqlite.c opens it; checkpoints left to the test, so
 * that the WAL only grows. */
static sqlite3 *open_writer(const char *path, const char *sync)
{
    char pragmas[200];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             " CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB NOT NULL);",
             sync);
    sqlite3 *db = open_db(path, STS_WAL_VFS, pragmas);
    sqlite3_wal_autocheckpoint(db, 0);
    return db;
}

/* A reader on the default VFS: it sees only what is in the files. */
static sqlite3 *open_reader(const char *path)
{
    return open_db(path, NULL, "PRAGMA query_only=1;");
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    int64_t v = -1;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    else
        print_error("%s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return v;
}

static void assert_intact(sqlite3 *db)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
}

/* Inserts n rows of len random bytes, in the open transaction or its own. */
static int insert(sqlite3 *db, int n, int len)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
             " INSERT INTO t(v) SELECT randomblob(%d) FROM c",
             n, len);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The count and a checksum of what a connection sees. */
#define ROWS "SELECT count(*) FROM t"
#define SUM  "SELECT total(length(v) + instr(v, x'41') * 3 + instr(v, x'ff') * 7) FROM t"

static void commits_reach_other_connections(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_writer(f->path, "FULL");
    sqlite3 *r = open_reader(f->path);
    struct sqlite_wal_stats before, after;
    for (int i = 1; i <= 20; i++) {
        sqlite_wal_stats(&before);
        assert_int_equal(insert(w, 50, 300), SQLITE_OK);
        sqlite_wal_stats(&after);
        /* Each of the transaction's frames was two writes; they reached the
         * file in one or two system calls. */
        uint64_t writes = after.writes - before.writes, calls = after.syscalls - before.syscalls;
        assert_true(writes >= 8);
        assert_in_range(calls, 1, writes / 4);
        assert_int_equal(scalar(r, ROWS), 50 * i);
        assert_int_equal(scalar(r, SUM), scalar(w, SUM));
    }
    assert_intact(r);
    sqlite3_close(w);
    sqlite3_close(r);
}

/* Without any sync, the commit's frames still reach the file before the
 * wal-index says they exist: a reader in another connection reads them. */
static void commits_without_sync(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_writer(f->path, "OFF");
    sqlite3 *r = open_reader(f->path);
    for (int i = 1; i <= 20; i++) {
        assert_int_equal(insert(w, 40, 500), SQLITE_OK);
        assert_int_equal(scalar(r, ROWS), 40 * i);
        assert_int_equal(scalar(r, SUM), scalar(w, SUM));
    }
    assert_intact(r);
    sqlite3_close(w);
    sqlite3_close(r);
}

/* Uncommitted frames, buffered or spilled to the file by a small page
 * cache, are never seen by a reader: neither the one holding a snapshot
 * nor one starting meanwhile. The writer itself reads its spilled pages
 * back (from the buffer's frames) and sees its own writes. */
static void readers_see_commits_only(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_writer(f->path, "FULL");
    assert_int_equal(sqlite3_exec(w, "PRAGMA cache_size=10", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert(w, 100, 200), SQLITE_OK);
    sqlite3 *snap = open_reader(f->path);
    assert_int_equal(sqlite3_exec(snap, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(scalar(snap, ROWS), 100);
    int64_t sum = scalar(snap, SUM);
    assert_int_equal(sqlite3_exec(w, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    int64_t mine = 0;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(insert(w, 100, 1000), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(w, "UPDATE t SET v = randomblob(900) WHERE id % 5 = 2", NULL, NULL, NULL),
            SQLITE_OK);
        int64_t now = scalar(w, SUM);
        assert_int_not_equal(now, mine);
        mine = now;
        assert_int_equal(scalar(w, ROWS), 100 * (i + 2));
        sqlite3 *r = open_reader(f->path);
        assert_int_equal(scalar(r, ROWS), 100);
        assert_int_equal(scalar(r, SUM), sum);
        sqlite3_close(r);
        assert_int_equal(scalar(snap, ROWS), 100);
    }
    assert_int_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(scalar(snap, ROWS), 100);
    assert_int_equal(sqlite3_exec(snap, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(scalar(snap, ROWS), 1100);
    assert_int_equal(scalar(snap, SUM), mine);
    assert_intact(snap);
    sqlite3_close(w);
    sqlite3_close(snap);
}

/* A transaction of 12 MB: the buffer (4 MiB) is written as it fills. */
static void transaction_larger_than_buffer(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_writer(f->path, "FULL");
    sqlite3 *r = open_reader(f->path);
    assert_int_equal(insert(w, 3000, 4000), SQLITE_OK);
    assert_int_equal(scalar(r, ROWS), 3000);
    assert_int_equal(scalar(r, SUM), scalar(w, SUM));
    assert_int_equal(sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(scalar(r, ROWS), 3000);
    assert_intact(r);
    sqlite3_close(w);
    sqlite3_close(r);
}

/* The database and its WAL copied as they are on disk, without the
 * wal-index: what a restart after kill -9 recovers from. */
static sqlite3 *open_copy(const struct fixture *f)
{
    char from[160], to[160], cmd[400];
    snprintf(to, sizeof to, "%s/copy.db", f->dir);
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s%s", f->path, i ? "-wal" : "");
        snprintf(cmd, sizeof cmd, "cp '%s' '%s%s'", from, to, i ? "-wal" : "");
        assert_int_equal(system(cmd), 0);
    }
    return open_reader(to);
}

/* A WAL that may not grow past its size: the commit fails with
 * SQLITE_IOERR_WRITE and is rolled back; the earlier commits are intact, and
 * the failed frames are not written later (not at close either: a copy of
 * the files recovers the earlier commits only); once the limit goes,
 * commits work again. */
static void write_failure_fails_the_transaction(void **state)
{
    struct fixture *f = *state;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    sqlite3 *w = open_writer(f->path, "FULL");
    sqlite3 *r = open_reader(f->path);
    for (int i = 0; i < 10; i++)
        assert_int_equal(insert(w, 20, 1000), SQLITE_OK); /* a WAL past the 32 KiB -shm */
    int64_t sum = scalar(w, SUM);
    FILE *fp = fopen(wal, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    fclose(fp);
    assert_true(size > 64 * 1024);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 10000; /* a couple of frames more */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = insert(w, 50, 1000);
    int ext = sqlite3_extended_errcode(w);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    assert_int_equal(rc, SQLITE_IOERR);
    assert_int_equal(ext, SQLITE_IOERR_WRITE);
    assert_int_equal(sqlite3_get_autocommit(w), 1);

    assert_int_equal(scalar(r, ROWS), 200);
    assert_int_equal(scalar(r, SUM), sum);
    assert_intact(r);
    assert_int_equal(scalar(w, ROWS), 200);
    sqlite3_close(w); /* the reader stays: no checkpoint at close */
    sqlite3 *copy = open_copy(f);
    assert_int_equal(scalar(copy, ROWS), 200);
    assert_int_equal(scalar(copy, SUM), sum);
    assert_intact(copy);
    sqlite3_close(copy);

    w = open_writer(f->path, "FULL");
    assert_int_equal(insert(w, 50, 1000), SQLITE_OK);
    assert_int_equal(scalar(r, ROWS), 250);
    assert_int_equal(scalar(r, SUM), scalar(w, SUM));
    assert_intact(r);
    sqlite3_close(w);
    copy = open_copy(f);
    assert_int_equal(scalar(copy, ROWS), 250);
    sqlite3_close(copy);
    sqlite3_close(r);
}

/* A full disk is SQLITE_FULL, as without the buffer: the collector answers
 * 503 and retries. Every commit before it is intact, and after space comes
 * back commits work again. */
static void full_disk_is_sqlite_full(void **state)
{
    struct fixture *f = *state;
    if (mount("tmpfs", f->dir, "tmpfs", 0, "size=512k") != 0) {
        print_message("no tmpfs mount here: disk full not tested (tests/e2e/storage_faults.sh "
                      "tests it through the collector where it can)\n");
        skip();
    }
    f->mounted = true;
    sqlite3 *w = open_writer(f->path, "FULL");
    sqlite3 *r = open_reader(f->path);
    int rc = SQLITE_OK, commits = 0;
    while (commits < 200 && (rc = insert(w, 10, 2000)) == SQLITE_OK)
        commits++;
    assert_int_equal(rc, SQLITE_FULL);
    assert_in_range(commits, 1, 199);
    assert_int_equal(sqlite3_get_autocommit(w), 1);
    assert_int_equal(scalar(r, ROWS), 10 * commits);
    assert_int_equal(scalar(r, SUM), scalar(w, SUM));
    assert_intact(r);
    assert_int_equal(mount("tmpfs", f->dir, "tmpfs", MS_REMOUNT, "size=16m"), 0);
    assert_int_equal(insert(w, 10, 2000), SQLITE_OK);
    assert_int_equal(scalar(r, ROWS), 10 * commits + 10);
    assert_intact(r);
    sqlite3_close(w);
    sqlite3_close(r);
    unlink_db(f->path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(commits_reach_other_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(commits_without_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(readers_see_commits_only, setup, teardown),
        cmocka_unit_test_setup_teardown(transaction_larger_than_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(write_failure_fails_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk_is_sqlite_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
