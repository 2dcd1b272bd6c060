/* SQLite backend (the embedded default): WAL journal, synchronous=FULL so a
 * committed batch survives power loss. Device rows are keyed by the 32-byte
 * pseudonym as a BLOB in WITHOUT ROWID tables: one B-tree per table, and a key
 * half the size of its hex text. Sales and lifetime figures are rollup
 * counters updated in the same transaction as the rows they count.
 *
 * A write waits up to 10 s for a lock held by another connection (an admin
 * command, say) before it fails. The environment variable
 * STS_SQLITE_BUSY_TIMEOUT_MS (0..600000) changes that wait; tests set it low
 * to inject lock failures without waiting. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_impl.h"

#define SCHEMA_VERSION 1

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS activation("
    " pseudonym BLOB PRIMARY KEY NOT NULL," /* HMAC-SHA256(key, IMEI) */
    " key_id INTEGER NOT NULL,"
    " report_id BLOB NOT NULL,"
    " day INTEGER NOT NULL,"                 /* days since 1970-01-01 */
    " brand TEXT NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL,"
    " country TEXT NOT NULL"                 /* '' = not consented */
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS reactivation("
    " pseudonym BLOB NOT NULL, report_id BLOB NOT NULL, day INTEGER NOT NULL,"
    " brand TEXT NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL, country TEXT NOT NULL,"
    " PRIMARY KEY(pseudonym, report_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS sales_day("
    " day INTEGER NOT NULL, brand TEXT NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL,"
    " country TEXT NOT NULL, activations INTEGER NOT NULL, reactivations INTEGER NOT NULL,"
    " PRIMARY KEY(day, brand, model, sw, country)) WITHOUT ROWID;"
    /* Lifetime pings carry no device identifier: only counters are kept. */
    "CREATE TABLE IF NOT EXISTS lifetime_count("
    " period INTEGER NOT NULL, cohort INTEGER NOT NULL, brand TEXT NOT NULL,"
    " model TEXT NOT NULL, sw TEXT NOT NULL, country TEXT NOT NULL, first INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " PRIMARY KEY(period, cohort, brand, model, sw, country, first)) WITHOUT ROWID;"
    /* Random report ids of pings, so a retried ping is not counted twice. */
    "CREATE TABLE IF NOT EXISTS ping_seen("
    " report_id BLOB PRIMARY KEY NOT NULL, period INTEGER NOT NULL) WITHOUT ROWID;";

enum stmt {
    INS_ACT, GET_ACT_RID, INS_REACT, UP_SALES, INS_PING, UP_LIFE, BEGIN, COMMIT, ROLLBACK,
    NSTMT
};

static const char *const stmt_sql[NSTMT] = {
    [INS_ACT] = "INSERT INTO activation(pseudonym,key_id,report_id,day,brand,model,sw,country)"
                " VALUES(?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(pseudonym) DO NOTHING",
    [GET_ACT_RID] = "SELECT report_id FROM activation WHERE pseudonym=?1",
    [INS_REACT] = "INSERT INTO reactivation(pseudonym,report_id,day,brand,model,sw,country)"
                  " VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT DO NOTHING",
    [UP_SALES] = "INSERT INTO sales_day(day,brand,model,sw,country,activations,reactivations)"
                 " VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(day,brand,model,sw,country) DO UPDATE"
                 " SET activations=activations+excluded.activations,"
                 " reactivations=reactivations+excluded.reactivations",
    [INS_PING] = "INSERT INTO ping_seen(report_id,period) VALUES(?1,?2) ON CONFLICT DO NOTHING",
    [UP_LIFE] = "INSERT INTO lifetime_count(period,cohort,brand,model,sw,country,first,count)"
                " VALUES(?1,?2,?3,?4,?5,?6,?7,1)"
                " ON CONFLICT(period,cohort,brand,model,sw,country,first) DO UPDATE"
                " SET count=count+1",
    [BEGIN] = "BEGIN IMMEDIATE",
    [COMMIT] = "COMMIT",
    [ROLLBACK] = "ROLLBACK",
};

/* WAL pages after which the background thread checkpoints, and after which
 * the writer, finding it still behind, checkpoints itself. */
#define CHECKPOINT_PAGES 4000
#define CHECKPOINT_HARD_PAGES 64000

struct sqlite_store {
    struct store base;
    sqlite3 *db;
    sqlite3_stmt *stmt[NSTMT];
    char *path;
    /* Background checkpointer: copying the WAL back into the database (and
     * its fsync) happens beside the commits instead of inside one of them. */
    pthread_t ckpt_thread;
    bool ckpt_running, ckpt_stop, ckpt_due;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_wake;
};

static struct sqlite_store *impl(struct store *s)
{
    return (struct sqlite_store *)s;
}

static void *checkpointer(void *arg)
{
    struct sqlite_store *st = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        db = NULL;
    } else {
        sqlite3_busy_timeout(db, 1000);
    }
    pthread_mutex_lock(&st->ckpt_lock);
    for (;;) {
        while (!st->ckpt_due && !st->ckpt_stop)
            pthread_cond_wait(&st->ckpt_wake, &st->ckpt_lock);
        if (st->ckpt_stop)
            break;
        st->ckpt_due = false;
        pthread_mutex_unlock(&st->ckpt_lock);
        if (db)
            sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&st->ckpt_lock);
    }
    pthread_mutex_unlock(&st->ckpt_lock);
    sqlite3_close(db);
    return NULL;
}

/* Called by SQLite after each commit of the writer connection. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sqlite_store *st = arg;
    if (pages >= CHECKPOINT_HARD_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CHECKPOINT_PAGES) {
        pthread_mutex_lock(&st->ckpt_lock);
        st->ckpt_due = true;
        pthread_cond_signal(&st->ckpt_wake);
        pthread_mutex_unlock(&st->ckpt_lock);
    }
    return SQLITE_OK;
}

static void start_checkpointer(struct sqlite_store *st)
{
    if (st->ckpt_running)
        return;
    if (pthread_create(&st->ckpt_thread, NULL, checkpointer, st) != 0)
        return; /* SQLite's own automatic checkpoints stay on */
    st->ckpt_running = true;
    sqlite3_wal_autocheckpoint(st->db, 0);
    sqlite3_wal_hook(st->db, wal_hook, st);
}

static void sqlite_close(struct store *s)
{
    struct sqlite_store *st = impl(s);
    if (st->ckpt_running) {
        pthread_mutex_lock(&st->ckpt_lock);
        st->ckpt_stop = true;
        pthread_cond_signal(&st->ckpt_wake);
        pthread_mutex_unlock(&st->ckpt_lock);
        pthread_join(st->ckpt_thread, NULL);
    }
    pthread_mutex_destroy(&st->ckpt_lock);
    pthread_cond_destroy(&st->ckpt_wake);
    free(st->path);
    for (int i = 0; i < NSTMT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
}

/* Runs one prepared statement to completion; SQLITE_ROW results are ignored. */
static int run(sqlite3_stmt *stmt)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        ;
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_dims(sqlite3_stmt *stmt, int first, const struct store_record *r)
{
    sqlite3_bind_text(stmt, first, r->brand, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, first + 1, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, first + 2, r->sw, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, first + 3, r->country, -1, SQLITE_STATIC);
}

static int count_sale(struct sqlite_store *st, const struct store_record *r, bool reactivation)
{
    sqlite3_stmt *up = st->stmt[UP_SALES];
    sqlite3_bind_int(up, 1, r->day);
    bind_dims(up, 2, r);
    sqlite3_bind_int(up, 6, reactivation ? 0 : 1);
    sqlite3_bind_int(up, 7, reactivation ? 1 : 0);
    return run(up);
}

static int write_activation(struct sqlite_store *st, struct store_record *r)
{
    sqlite3_stmt *ins = st->stmt[INS_ACT];
    int rc;
    sqlite3_bind_blob(ins, 1, r->pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, r->key_id);
    sqlite3_bind_blob(ins, 3, r->report_id, 16, SQLITE_STATIC);
    sqlite3_bind_int(ins, 4, r->day);
    bind_dims(ins, 5, r);
    if ((rc = run(ins)) != SQLITE_OK)
        return rc;
    if (sqlite3_changes(st->db) == 1) {
        r->outcome = STORE_NEW;
        return count_sale(st, r, false);
    }

    /* The device is known: a retry of its first activation, or a new one. */
    sqlite3_stmt *get = st->stmt[GET_ACT_RID];
    sqlite3_bind_blob(get, 1, r->pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
    rc = sqlite3_step(get);
    bool same = rc == SQLITE_ROW && sqlite3_column_bytes(get, 0) == 16 &&
                memcmp(sqlite3_column_blob(get, 0), r->report_id, 16) == 0;
    sqlite3_reset(get);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
    if (same) {
        r->outcome = STORE_DUPLICATE;
        return SQLITE_OK;
    }
    sqlite3_stmt *re = st->stmt[INS_REACT];
    sqlite3_bind_blob(re, 1, r->pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(re, 2, r->report_id, 16, SQLITE_STATIC);
    sqlite3_bind_int(re, 3, r->day);
    bind_dims(re, 4, r);
    if ((rc = run(re)) != SQLITE_OK)
        return rc;
    if (sqlite3_changes(st->db) == 0) {
        r->outcome = STORE_DUPLICATE;
        return SQLITE_OK;
    }
    r->outcome = STORE_REACTIVATION;
    return count_sale(st, r, true);
}

static int write_ping(struct sqlite_store *st, struct store_record *r)
{
    sqlite3_stmt *seen = st->stmt[INS_PING];
    int rc;
    sqlite3_bind_blob(seen, 1, r->report_id, 16, SQLITE_STATIC);
    sqlite3_bind_int(seen, 2, r->period);
    if ((rc = run(seen)) != SQLITE_OK)
        return rc;
    if (sqlite3_changes(st->db) == 0) {
        r->outcome = STORE_DUPLICATE;
        return SQLITE_OK;
    }
    sqlite3_stmt *up = st->stmt[UP_LIFE];
    sqlite3_bind_int(up, 1, r->period);
    sqlite3_bind_int(up, 2, r->cohort);
    bind_dims(up, 3, r);
    sqlite3_bind_int(up, 7, r->first ? 1 : 0);
    r->outcome = STORE_NEW;
    return run(up);
}

static enum sts_err sqlite_write(struct store *s, struct store_record *const *recs, size_t n)
{
    struct sqlite_store *st = impl(s);
    start_checkpointer(st);
    int rc = run(st->stmt[BEGIN]);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        if (recs[i]->type == STS_REPORT_ACTIVATION)
            rc = write_activation(st, recs[i]);
        else
            rc = write_ping(st, recs[i]);
    }
    if (rc == SQLITE_OK)
        rc = run(st->stmt[COMMIT]);
    if (rc == SQLITE_OK)
        return STS_OK;
    fprintf(stderr, "sts-collector: database write failed: %s\n", sqlite3_errmsg(st->db));
    if (!sqlite3_get_autocommit(st->db))
        run(st->stmt[ROLLBACK]);
    for (size_t i = 0; i < n; i++)
        recs[i]->outcome = STORE_FAILED;
    return STS_EIO;
}

static enum sts_err sqlite_sales(struct store *s, int32_t from, int32_t to, store_sales_cb cb,
                                 void *ctx)
{
    struct sqlite_store *st = impl(s);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT day,brand,model,sw,country,activations,reactivations"
                           " FROM sales_day WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
                           -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_int(q, 1, from);
    sqlite3_bind_int(q, 2, to);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_sales_row row = {
            .day = sqlite3_column_int(q, 0),
            .brand = (const char *)sqlite3_column_text(q, 1),
            .model = (const char *)sqlite3_column_text(q, 2),
            .sw = (const char *)sqlite3_column_text(q, 3),
            .country = (const char *)sqlite3_column_text(q, 4),
            .activations = sqlite3_column_int64(q, 5),
            .reactivations = sqlite3_column_int64(q, 6),
        };
        if (!row.brand || !row.model || !row.sw || !row.country) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (cb(&row, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STS_OK : STS_EIO;
}

static enum sts_err sqlite_lifetime(struct store *s, int32_t from, int32_t to,
                                    store_life_cb cb, void *ctx)
{
    struct sqlite_store *st = impl(s);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT period,cohort,brand,model,sw,country,first,count"
                           " FROM lifetime_count WHERE period BETWEEN ?1 AND ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_int(q, 1, from);
    sqlite3_bind_int(q, 2, to);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_life_row row = {
            .period = sqlite3_column_int(q, 0),
            .cohort = sqlite3_column_int(q, 1),
            .brand = (const char *)sqlite3_column_text(q, 2),
            .model = (const char *)sqlite3_column_text(q, 3),
            .sw = (const char *)sqlite3_column_text(q, 4),
            .country = (const char *)sqlite3_column_text(q, 5),
            .first = sqlite3_column_int(q, 6) != 0,
            .count = sqlite3_column_int64(q, 7),
        };
        if (!row.brand || !row.model || !row.sw || !row.country) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (cb(&row, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STS_OK : STS_EIO;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static enum sts_err sqlite_device_get(struct store *s, const uint8_t *pseudonym,
                                      struct store_device *out)
{
    struct sqlite_store *st = impl(s);
    sqlite3_stmt *q;
    enum sts_err e = STS_EIO;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT key_id,report_id,day,brand,model,sw,country,"
                           " (SELECT count(*) FROM reactivation r WHERE r.pseudonym=a.pseudonym)"
                           " FROM activation a WHERE pseudonym=?1",
                           -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_blob(q, 1, pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        e = STS_ENOENT;
    } else if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->key_id = (uint32_t)sqlite3_column_int64(q, 0);
        if (sqlite3_column_bytes(q, 1) == 16)
            memcpy(out->report_id, sqlite3_column_blob(q, 1), 16);
        out->day = sqlite3_column_int(q, 2);
        copy_text(out->brand, sizeof out->brand, sqlite3_column_text(q, 3));
        copy_text(out->model, sizeof out->model, sqlite3_column_text(q, 4));
        copy_text(out->sw, sizeof out->sw, sqlite3_column_text(q, 5));
        copy_text(out->country, sizeof out->country, sqlite3_column_text(q, 6));
        out->reactivations = sqlite3_column_int64(q, 7);
        e = STS_OK;
    }
    sqlite3_finalize(q);
    return e;
}

static enum sts_err sqlite_device_erase(struct store *s, const uint8_t *pseudonym,
                                        int64_t *erased)
{
    struct sqlite_store *st = impl(s);
    static const char *const sql[] = {"DELETE FROM activation WHERE pseudonym=?1",
                                      "DELETE FROM reactivation WHERE pseudonym=?1"};
    int64_t total = 0;
    if (run(st->stmt[BEGIN]) != SQLITE_OK)
        return STS_EIO;
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(st->db, sql[i], -1, &q, NULL) != SQLITE_OK)
            goto fail;
        sqlite3_bind_blob(q, 1, pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            goto fail;
        total += sqlite3_changes(st->db);
    }
    if (run(st->stmt[COMMIT]) != SQLITE_OK)
        goto fail;
    *erased = total;
    return STS_OK;
fail:
    run(st->stmt[ROLLBACK]);
    return STS_EIO;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static enum sts_err sqlite_audit(struct store *s, struct store_audit *out)
{
    sqlite3 *db = impl(s)->db;
    out->devices = scalar(db, "SELECT count(*) FROM activation");
    out->reactivations = scalar(db, "SELECT count(*) FROM reactivation");
    out->sales_cells = scalar(db, "SELECT count(*) FROM sales_day");
    out->lifetime_cells = scalar(db, "SELECT count(*) FROM lifetime_count");
    out->pings_seen = scalar(db, "SELECT count(*) FROM ping_seen");
    out->key_ids = scalar(db, "SELECT count(DISTINCT key_id) FROM activation");
    return out->devices < 0 || out->key_ids < 0 ? STS_EIO : STS_OK;
}

static const struct store_ops sqlite_ops = {
    .close = sqlite_close,
    .write = sqlite_write,
    .sales = sqlite_sales,
    .lifetime = sqlite_lifetime,
    .device_get = sqlite_device_get,
    .device_erase = sqlite_device_erase,
    .audit = sqlite_audit,
};

static int busy_timeout_ms(void)
{
    const char *env = getenv("STS_SQLITE_BUSY_TIMEOUT_MS");
    char *end;
    if (!env || !*env)
        return 10000;
    long ms = strtol(env, &end, 10);
    return *end || ms < 0 || ms > 600000 ? 10000 : (int)ms;
}

enum sts_err store_sqlite_open(const char *path, unsigned flags, struct store **out, char *why,
                               size_t whylen)
{
    struct sqlite_store *st = calloc(1, sizeof *st);
    enum sts_err e = STS_EIO;
    char *msg = NULL;
    if (!st)
        return STS_ENOMEM;
    st->base.ops = &sqlite_ops;
    pthread_mutex_init(&st->ckpt_lock, NULL);
    pthread_cond_init(&st->ckpt_wake, NULL);
    if (!(st->path = strdup(path))) {
        e = STS_ENOMEM;
        goto fail;
    }
    if (!(flags & STORE_CREATE) && access(path, F_OK) != 0) {
        if (why)
            snprintf(why, whylen, "no database at '%s': %s", path, strerror(errno));
        e = STS_ENOENT;
        goto fail;
    }
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                 (flags & STORE_CREATE ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &st->db, oflags, NULL) != SQLITE_OK)
        goto fail_msg;
    sqlite3_busy_timeout(st->db, busy_timeout_ms());
    /* WAL lets statistics read while ingestion writes; FULL makes every
     * commit durable (the WAL is synced before COMMIT returns). */
    if (sqlite3_exec(st->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     " PRAGMA cache_size=-65536; PRAGMA foreign_keys=OFF;",
                     NULL, NULL, &msg) != SQLITE_OK)
        goto fail_msg;
    int64_t version = scalar(st->db, "PRAGMA user_version");
    if (version > SCHEMA_VERSION) {
        if (why)
            snprintf(why, whylen, "database schema version %lld is newer than this collector's %d",
                     (long long)version, SCHEMA_VERSION);
        e = STS_EUNSUPPORTED;
        goto fail;
    }
    if (version < SCHEMA_VERSION) {
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, "PRAGMA user_version=1; COMMIT", NULL, NULL, &msg) != SQLITE_OK)
            goto fail_msg;
    }
    for (int i = 0; i < NSTMT; i++)
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK)
            goto fail_msg;
    *out = &st->base;
    return STS_OK;
fail_msg:
    if (why)
        snprintf(why, whylen, "cannot open database '%s': %s", path,
                 msg ? msg : st->db ? sqlite3_errmsg(st->db) : "out of memory");
    if (st->db && sqlite3_errcode(st->db) == SQLITE_CORRUPT)
        e = STS_ECORRUPT;
    if (st->db && sqlite3_errcode(st->db) == SQLITE_NOTADB)
        e = STS_ECORRUPT;
fail:
    sqlite3_free(msg);
    sqlite_close(&st->base);
    return e;
}
