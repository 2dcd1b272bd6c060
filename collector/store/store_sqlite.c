/* SQLite backend (the embedded default): WAL journal, every acknowledged
 * batch synced to disk (synchronous=FULL, or the writer's own fdatasync of
 * the WAL with store_defer_sync), so that it survives power loss. Device rows are keyed by the
 * 32-byte pseudonym as a BLOB in WITHOUT ROWID tables: one B-tree per table, and a key half the
 * size of its hex text. Sales and lifetime figures are rollup counters updated in the same
 * transaction as the rows they count.
 *
 * A write waits up to 10 s for a lock held by another connection (an admin
 * command, say) before it fails. Tests shorten that wait with
 * STS_SQLITE_BUSY_TIMEOUT_MS (sts/clock.h) to inject lock failures quickly. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/prctl.h>

#include "sqlite_wal.h"
#include "store_impl.h"
#include "store_sql.h"
#include "sts/clock.h"
#include "sts/date.h"
#include "sts/hashmap.h"

#define SCHEMA_VERSION 4

/* Schema 2: narrower rollups, so that the dashboard's statistics read a few
 * ten thousand rows at most whatever the number of devices: sales per day by
 * model and country only (the dimensions of the dashboard and its model
 * filter; sales_day keeps all four for any other query) and pings by model
 * (the survival curves). Kept in the same transaction as the rows, from
 * deltas summed per transaction. */
#define SALES_MC                                                                                   \
    "CREATE TABLE IF NOT EXISTS sales_day_mc("                                                     \
    " day INTEGER NOT NULL, model TEXT NOT NULL, country TEXT NOT NULL,"                           \
    " activations INTEGER NOT NULL, reactivations INTEGER NOT NULL,"                               \
    " PRIMARY KEY(day, model, country)) WITHOUT ROWID;"
#define LIFE_MODEL                                                                                 \
    "CREATE TABLE IF NOT EXISTS life_model("                                                       \
    " period INTEGER NOT NULL, cohort INTEGER NOT NULL, model TEXT NOT NULL,"                      \
    " first INTEGER NOT NULL, count INTEGER NOT NULL,"                                             \
    " PRIMARY KEY(period, cohort, model, first)) WITHOUT ROWID;"
#define ROLLUPS_2                                                                                  \
    SALES_MC LIFE_MODEL "CREATE TABLE IF NOT EXISTS life_sw("                                      \
                        " period INTEGER NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL,"         \
                        " count INTEGER NOT NULL, PRIMARY KEY(period, model, sw)) WITHOUT ROWID;"

/* Schema 3: the parameters of the differentially private release (see
 * docs/privacy.md): a random seed from which every released cell's noise is
 * derived, and the budget rho, both fixed when the database is created so a
 * closed period is never released twice with different noise. */
#define RELEASE_META                                                                               \
    "CREATE TABLE IF NOT EXISTS release_meta("                                                     \
    " name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;"

/* Schema 4: nothing linkable at rest (docs/at-rest.md).
 *
 * A device row holds what dedup, erasure and retention need and nothing that
 * says what the device is: its pseudonym, the key id and the MONTH of its
 * first activation. Not the day: on a quiet day the daily sales counters
 * (day, brand, model, sw, country) hold one or two devices, and a row's day
 * would tie its pseudonym to that class. A re-activation is one row per
 * device and month (what export and erase need), which also bounds what one
 * device adds to the re-activation counters: once per calendar month.
 *
 * Report ids of both kinds live in report_id with the day after which they
 * are purged: an activation's id report_id_days after it was received, a
 * ping's once the grace window of the month it is counted in has closed.
 *
 * The lifetime ping's counters are split and coarsened to what the
 * statistics read: lifetime_count (period, cohort, brand, model, first) for
 * the survival curves and version_count (period, brand, model, sw) for the
 * versions, both from the same ping. No counter ties a version or a country
 * to a cohort. On a 10,000-device fleet this took the lifetime classes
 * under k = 10 from 1,278 of 1,581 to 71 of 287, and the counter tuples
 * under k from 19,935 of 21,145 to 1,922 of 4,027 (figures and the choice
 * in docs/at-rest.md). */
#define SCHEMA_4                                                                                   \
    "CREATE TABLE IF NOT EXISTS activation("                                                       \
    " pseudonym BLOB PRIMARY KEY NOT NULL," /* HMAC-SHA256(key, IMEI) */                           \
    " key_id INTEGER NOT NULL,"                                                                    \
    " month INTEGER NOT NULL" /* year*12 + month-1 */                                              \
    ") WITHOUT ROWID;"                                                                             \
    "CREATE TABLE IF NOT EXISTS reactivation("                                                     \
    " pseudonym BLOB NOT NULL, month INTEGER NOT NULL,"                                            \
    " PRIMARY KEY(pseudonym, month)) WITHOUT ROWID;"                                               \
    "CREATE TABLE IF NOT EXISTS report_id("                                                        \
    " report_id BLOB PRIMARY KEY NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;"               \
    "CREATE TABLE IF NOT EXISTS lifetime_count("                                                   \
    " period INTEGER NOT NULL, cohort INTEGER NOT NULL, brand TEXT NOT NULL,"                      \
    " model TEXT NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL,"                        \
    " PRIMARY KEY(period, cohort, brand, model, first)) WITHOUT ROWID;"                            \
    "CREATE TABLE IF NOT EXISTS version_count("                                                    \
    " period INTEGER NOT NULL, brand TEXT NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL,"        \
    " count INTEGER NOT NULL, PRIMARY KEY(period, brand, model, sw)) WITHOUT ROWID;"

#define SALES_DAY                                                                                  \
    "CREATE TABLE IF NOT EXISTS sales_day("                                                        \
    " day INTEGER NOT NULL, brand TEXT NOT NULL, model TEXT NOT NULL, sw TEXT NOT NULL,"           \
    " country TEXT NOT NULL, activations INTEGER NOT NULL, reactivations INTEGER NOT NULL,"        \
    " PRIMARY KEY(day, brand, model, sw, country)) WITHOUT ROWID;"

static const char schema[] = SCHEMA_4 SALES_DAY SALES_MC LIFE_MODEL RELEASE_META;

/* Filling the schema 2 rollups of a schema 1 database. */
static const char upgrade_1_2[] = ROLLUPS_2
    "INSERT INTO sales_day_mc SELECT day, model, country, sum(activations), sum(reactivations)"
    " FROM sales_day GROUP BY 1, 2, 3;"
    "INSERT INTO life_model SELECT period, cohort, model, first, sum(count)"
    " FROM lifetime_count GROUP BY 1, 2, 3, 4;"
    "INSERT INTO life_sw SELECT period, model, sw, sum(count) FROM lifetime_count"
    " GROUP BY 1, 2, 3;";

/* From schema 3 (or 2) to 4: the device rows lose what the device is and
 * their day, report ids move to report_id with an expiry (sts_expiry_act,
 * sts_expiry_ping: functions of this connection, from the default policy),
 * the lifetime counter loses sw to version_count. The old tables are dropped
 * with secure_delete on, so their rows do not stay in free pages. */
static const char upgrade_3_4[] =
    "ALTER TABLE activation RENAME TO activation_3;"
    "ALTER TABLE reactivation RENAME TO reactivation_3;"
    "ALTER TABLE lifetime_count RENAME TO lifetime_count_3;" SCHEMA_4
    "INSERT INTO activation SELECT pseudonym, key_id, sts_month(day) FROM activation_3;"
    "INSERT OR IGNORE INTO reactivation SELECT pseudonym, sts_month(day) FROM reactivation_3;"
    "INSERT OR IGNORE INTO report_id SELECT report_id, sts_expiry_act(day) FROM activation_3;"
    "INSERT OR IGNORE INTO report_id SELECT report_id, sts_expiry_act(day) FROM reactivation_3;"
    "INSERT OR IGNORE INTO report_id SELECT report_id, sts_expiry_ping(period) FROM ping_seen;"
    "INSERT INTO lifetime_count SELECT period, cohort, brand, model, first, sum(count)"
    " FROM lifetime_count_3 GROUP BY 1, 2, 3, 4, 5;"
    "INSERT INTO version_count SELECT period, brand, model, sw, sum(count)"
    " FROM lifetime_count_3 GROUP BY 1, 2, 3, 4;"
    "DROP TABLE activation_3; DROP TABLE reactivation_3; DROP TABLE lifetime_count_3;"
    "DROP TABLE ping_seen; DROP TABLE life_sw;"
    "DELETE FROM report_id WHERE expires < sts_today();";

enum stmt {
    INS_ACT,
    INS_RID,
    INS_REACT,
    UP_SALES,
    UP_LIFE,
    BEGIN,
    COMMIT,
    ROLLBACK,
    UP_SALES_MC,
    UP_LIFE_M,
    UP_VERSION,
    PURGE,
    PURGE_END,
    SEL_OLD,
    MOVE_ACT,
    MOVE_REACT,
    DEL_OLD,
    NSTMT
};

static const char *const stmt_sql[NSTMT] = {
    [INS_ACT] = "INSERT INTO activation(pseudonym,key_id,month)"
                " VALUES(?1,?2,?3) ON CONFLICT(pseudonym) DO NOTHING",
    [INS_RID] = "INSERT INTO report_id(report_id,expires) VALUES(?1,?2) ON CONFLICT DO NOTHING",
    [INS_REACT] = "INSERT INTO reactivation(pseudonym,month) VALUES(?1,?2) ON CONFLICT DO NOTHING",
    [UP_SALES] = "INSERT INTO sales_day(day,brand,model,sw,country,activations,reactivations)"
                 " VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(day,brand,model,sw,country) DO UPDATE"
                 " SET activations=activations+excluded.activations,"
                 " reactivations=reactivations+excluded.reactivations",
    [UP_LIFE] = "INSERT INTO lifetime_count(period,cohort,brand,model,first,count)"
                " VALUES(?1,?2,?3,?4,?7,?8)"
                " ON CONFLICT(period,cohort,brand,model,first) DO UPDATE"
                " SET count=count+excluded.count",
    [UP_SALES_MC] = "INSERT INTO sales_day_mc(day,model,country,activations,reactivations)"
                    " VALUES(?1,?3,?5,?6,?7) ON CONFLICT(day,model,country) DO UPDATE"
                    " SET activations=activations+excluded.activations,"
                    " reactivations=reactivations+excluded.reactivations",
    [UP_LIFE_M] = "INSERT INTO life_model(period,cohort,model,first,count)"
                  " VALUES(?1,?2,?4,?7,?8) ON CONFLICT(period,cohort,model,first) DO UPDATE"
                  " SET count=count+excluded.count",
    [UP_VERSION] = "INSERT INTO version_count(period,brand,model,sw,count) VALUES(?1,?3,?4,?5,?8)"
                   " ON CONFLICT(period,brand,model,sw) DO UPDATE SET count=count+excluded.count",
    /* One window of the purge (see purge_window): the expired ids in
     * (?1, ?2], at most ?4 of them; the window's last id. */
    [PURGE] = "DELETE FROM report_id WHERE report_id IN (SELECT report_id FROM report_id"
              " WHERE report_id > ?1 AND report_id <= ?2 AND expires < ?3 LIMIT ?4)",
    [PURGE_END] = "SELECT report_id FROM report_id WHERE report_id > ?1"
                  " ORDER BY report_id LIMIT 1 OFFSET ?2",
    /* A device found under an older key moves to the current one. */
    [SEL_OLD] = "SELECT month FROM activation WHERE pseudonym=?1",
    [MOVE_ACT] = "UPDATE activation SET month=min(month,?2) WHERE pseudonym=?1",
    [MOVE_REACT] = "UPDATE OR REPLACE reactivation SET pseudonym=?1 WHERE pseudonym=?2",
    [DEL_OLD] = "DELETE FROM activation WHERE pseudonym=?1",
    [BEGIN] = "BEGIN IMMEDIATE",
    [COMMIT] = "COMMIT",
    [ROLLBACK] = "ROLLBACK",
};

/* WAL bytes after which the background thread checkpoints, and after which
 * the writer, finding it still behind, checkpoints itself. */
#define CHECKPOINT_BYTES      (16L << 20)
#define CHECKPOINT_HARD_BYTES (256L << 20)
/* A passive checkpoint cannot reset a WAL the writer keeps adding to: under
 * a steady load the WAL grew to the writer's hard bound (WAL_HARD_BYTES),
 * where the writer stopped for a quarter of a second, every two seconds,
 * to copy the last frames, sync the database and truncate 64 MiB (a
 * database of 1.5 M devices, bench/ingest.sh --devices). So once the WAL
 * holds RESTART_BYTES, the writer, after its first commit that follows the
 * checkpointer's next pass, copies the frames added since (nothing else
 * writes meanwhile, so it reaches the end of the WAL): its next
 * transaction starts the WAL again from its beginning, written over in
 * place (journal_size_limit keeps its size). */
#define RESTART_BYTES (32L << 20)

/* Rollup deltas of one transaction, summed per key before they are written:
 * reports of the same day, model and country (the usual case: most arrive
 * near their day) then cost one upsert per rollup, not one each. The maps
 * (sts/hashmap.h) are keyed by the times and the four texts; each value keeps
 * pointers into the records, which live until the transaction ends. */
struct agg_entry {
    int32_t t[3];     /* day, or period, cohort, first */
    const char *s[4]; /* brand, model, sw, country */
    int64_t v[2];     /* activations, reactivations; or pings */
};

/* The times, then each text and its NUL: texts hold no NUL, so distinct
 * combinations give distinct keys. */
#define AGG_KEY_MAX (3 * sizeof(int32_t) + 4 * (STS_TEXT_MAX + 1))

struct sqlite_store {
    struct store base;
    sqlite3 *db;
    struct sts_hashmap *sales, *life; /* struct agg_entry values */
    sqlite3_stmt *stmt[NSTMT];
    char *path;
    /* Background checkpointer: copying the WAL back into the database (and
     * its fsync) happens beside the commits instead of inside one of them. */
    pthread_t ckpt_thread;
    bool ckpt_running, ckpt_stop, ckpt_due, ckpt_dirty; /* dirty: committed lately */
    bool ckpt_restart;       /* the pass asked for is to prepare a restart */
    bool ckpt_restart_ready; /* it has: the writer's turn (RESTART_BYTES) */
    int ckpt_asked;          /* WAL frames when the writer last asked for a checkpoint; its own */
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_wake;
    /* Identity of the database file the writer opened (see guard_file). */
    dev_t dev;
    ino_t ino;
    bool replaced_said;
    /* Report id purge by the writer (see purge_due). */
    struct timespec last_purge;
    bool purged_once, purge_more;
    uint8_t purge_from[16]; /* the report id after which the writer's next window starts */
    int purge_from_len;     /* 0: at the first id */
    int32_t folded_before;  /* keep_from of the last complete fold by the writer */
    /* The WAL file and when it was last truncated (see wal_bound). */
    char *wal_path;
    struct timespec last_truncate, last_end; /* last_end: of the last commit */
    bool truncate_due, in_burst;
    /* store_defer_sync: the writer's connection commits with
     * synchronous=NORMAL (the WAL written, not synced) and store_sync
     * syncs the WAL through sync_fd, a descriptor of its own on the same
     * file, replaced under sync_lock when the writer reopens. */
    long page_size; /* of the database, read at open */
    bool deferred;
    int sync_fd; /* -1 until the first store_sync after an open */
    pthread_mutex_t sync_lock;
    atomic_bool sync_failed; /* set by store_sync, cleared by the writer (see sqlite_write) */
};

static struct sqlite_store *impl(struct store *s)
{
    return (struct sqlite_store *)s;
}

/* The VFS of every connection: the default one with the WAL's writes
 * gathered into one system call per commit (sqlite_wal.h). Should it fail
 * to register, the default VFS does the same work in more calls. */
static const char *vfs(void)
{
    return sqlite_wal_register() == STS_OK ? STS_WAL_VFS : NULL;
}

/* Seconds without a commit after which the checkpointer truncates the WAL. */
#define IDLE_TRUNCATE_S 1

/* SQLite syncs the database file only after a checkpoint that reached the
 * end of the WAL, which under a steady load is never a passive one: every
 * page it copied stayed dirty in the kernel until the writer's next full
 * checkpoint, whose sync took 150 ms with the writer held off (1.5 M
 * devices). Synced here after each pass instead, beside the commits, that
 * sync finds little left. Only a flush: what is durable and when SQLite
 * may reuse the WAL do not change. A failure is SQLite's to see at its own
 * sync. Opened each time, so that a database file restored or replaced
 * under the collector is the one at the path. */
static void flush_database(const struct sqlite_store *st)
{
    int fd = open(st->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fdatasync(fd);
    close(fd);
}

/* Checkpoint policy: a passive checkpoint beside the commits once the WAL
 * holds CHECKPOINT_BYTES (bounded at about that while reports flow), and
 * after a quiet second a truncating one, which gives the WAL's space back
 * after a burst. */
static void *checkpointer(void *arg)
{
    prctl(PR_SET_NAME, "sts-checkpoint"); /* for top -H and /proc: which thread is busy */
    struct sqlite_store *st = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs()) !=
        SQLITE_OK) {
        sqlite3_close(db);
        db = NULL;
    } else {
        sqlite3_busy_timeout(db, 1000);
        /* Until it has read the database once, a connection does not know
         * it is in WAL mode, and every checkpoint it asks for returns at
         * once having done nothing (the WAL grew to 150 MB in 20,000
         * reports, its database file still 4 KiB). */
        sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    }
    pthread_mutex_lock(&st->ckpt_lock);
    for (;;) {
        while (!st->ckpt_due && !st->ckpt_stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += IDLE_TRUNCATE_S;
            bool dirty = st->ckpt_dirty;
            st->ckpt_dirty = false;
            if (pthread_cond_timedwait(&st->ckpt_wake, &st->ckpt_lock, &until) != 0 && dirty &&
                !st->ckpt_dirty && db) {
                /* A whole quiet second after commits: truncate. */
                pthread_mutex_unlock(&st->ckpt_lock);
                sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
                pthread_mutex_lock(&st->ckpt_lock);
            } else if (!st->ckpt_dirty) {
                st->ckpt_dirty = dirty;
            }
        }
        if (st->ckpt_stop)
            break;
        st->ckpt_due = false;
        bool restart = st->ckpt_restart;
        st->ckpt_restart = false;
        pthread_mutex_unlock(&st->ckpt_lock);
        if (db) {
            sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            flush_database(st);
        }
        pthread_mutex_lock(&st->ckpt_lock);
        st->ckpt_restart_ready = restart;
    }
    pthread_mutex_unlock(&st->ckpt_lock);
    sqlite3_close(db);
    return NULL;
}

/* Called by SQLite after each commit of the writer connection. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sqlite_store *st = arg;
    long bytes = (long)pages * st->page_size;
    if (bytes >= CHECKPOINT_HARD_BYTES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    /* Once per CHECKPOINT_BYTES of growth, not at every commit past it: a
     * passive checkpoint cannot reset a WAL the writer keeps adding to, so
     * the WAL stays past the mark, and a checkpoint per commit re-reads and
     * sorts its whole index each time for a few new frames (under callgrind,
     * 21,000 checkpoints in 12 s of load). */
    if (pages < st->ckpt_asked)
        st->ckpt_asked = 0; /* the WAL was reset */
    bool due = (long)(pages - st->ckpt_asked) * st->page_size >= CHECKPOINT_BYTES;
    if (due)
        st->ckpt_asked = pages;
    pthread_mutex_lock(&st->ckpt_lock);
    st->ckpt_dirty = true;
    if (due) {
        st->ckpt_due = true;
        st->ckpt_restart = bytes >= RESTART_BYTES;
        pthread_cond_signal(&st->ckpt_wake);
    }
    bool restart = st->ckpt_restart_ready;
    st->ckpt_restart_ready = false;
    pthread_mutex_unlock(&st->ckpt_lock);
    /* Busy at once if the checkpointer has started another pass: then the
     * restart waits for that one. */
    if (restart)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
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

static void stop_checkpointer(struct sqlite_store *st)
{
    if (!st->ckpt_running)
        return;
    pthread_mutex_lock(&st->ckpt_lock);
    st->ckpt_stop = true;
    pthread_cond_signal(&st->ckpt_wake);
    pthread_mutex_unlock(&st->ckpt_lock);
    pthread_join(st->ckpt_thread, NULL);
    st->ckpt_running = st->ckpt_stop = st->ckpt_due = st->ckpt_dirty = false;
    st->ckpt_restart = st->ckpt_restart_ready = false;
}

static void sqlite_close(struct store *s)
{
    struct sqlite_store *st = impl(s);
    stop_checkpointer(st);
    pthread_mutex_destroy(&st->ckpt_lock);
    pthread_cond_destroy(&st->ckpt_wake);
    free(st->path);
    sts_hashmap_free(st->sales);
    sts_hashmap_free(st->life);
    free(st->wal_path);
    if (st->sync_fd >= 0)
        close(st->sync_fd);
    pthread_mutex_destroy(&st->sync_lock);
    for (int i = 0; i < NSTMT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
}

/* Adds v0, v1 to the key's sums. Returns false when out of memory. */
static bool agg_add(struct sts_hashmap *g, const int32_t t[3], const char *const s[4], int64_t v0,
                    int64_t v1)
{
    unsigned char key[AGG_KEY_MAX];
    size_t klen = 3 * sizeof(int32_t);
    memcpy(key, t, klen);
    for (int i = 0; i < 4; i++) {
        size_t n = strnlen(s[i], STS_TEXT_MAX) + 1;
        memcpy(key + klen, s[i], n - 1);
        key[klen + n - 1] = '\0';
        klen += n;
    }
    struct agg_entry *e;
    bool created;
    if (sts_hashmap_put(g, key, klen, (void **)&e, &created) != STS_OK)
        return false;
    if (created) {
        memcpy(e->t, t, sizeof e->t);
        memcpy(e->s, s, sizeof e->s);
    }
    e->v[0] += v0;
    e->v[1] += v1;
    return true;
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

static int count_sale(struct sqlite_store *st, const struct store_record *r, int32_t day,
                      bool reactivation)
{
    const int32_t t[3] = {day, 0, 0};
    const char *const s[4] = {r->brand, r->model, r->sw, r->country};
    return agg_add(st->sales, t, s, reactivation ? 0 : 1, reactivation ? 1 : 0) ? SQLITE_OK
                                                                                : SQLITE_NOMEM;
}

/* Writes the summed rollup deltas of the transaction. */
static int flush_rollups(struct sqlite_store *st)
{
    int rc = SQLITE_OK;
    static const enum stmt sales[] = {UP_SALES, UP_SALES_MC};
    static const enum stmt life[] = {UP_LIFE, UP_LIFE_M, UP_VERSION};
    for (size_t i = 0; rc == SQLITE_OK && i < sts_hashmap_count(st->sales); i++) {
        const struct agg_entry *e = sts_hashmap_at(st->sales, i, NULL, NULL);
        for (size_t k = 0; rc == SQLITE_OK && k < 2; k++) {
            sqlite3_stmt *up = st->stmt[sales[k]];
            sqlite3_bind_int(up, 1, e->t[0]);
            for (int d = 0; d < 4; d++)
                sqlite3_bind_text(up, 2 + d, e->s[d], -1, SQLITE_STATIC);
            sqlite3_bind_int64(up, 6, e->v[0]);
            sqlite3_bind_int64(up, 7, e->v[1]);
            rc = run(up);
        }
    }
    for (size_t i = 0; rc == SQLITE_OK && i < sts_hashmap_count(st->life); i++) {
        const struct agg_entry *e = sts_hashmap_at(st->life, i, NULL, NULL);
        for (size_t k = 0; rc == SQLITE_OK && k < 3; k++) {
            sqlite3_stmt *up = st->stmt[life[k]];
            sqlite3_bind_int(up, 1, e->t[0]);
            sqlite3_bind_int(up, 2, e->t[1]);
            for (int d = 0; d < 4; d++)
                sqlite3_bind_text(up, 3 + d, e->s[d], -1, SQLITE_STATIC);
            sqlite3_bind_int(up, 7, e->t[2]);
            sqlite3_bind_int64(up, 8, e->v[0]);
            rc = run(up);
        }
    }
    sts_hashmap_clear(st->sales);
    sts_hashmap_clear(st->life);
    return rc;
}

/* Where r is counted: the late-report rule unless the policy keeps every
 * report where it says (store_set_policy). */
static void counted_at(const struct sqlite_store *st, const struct store_record *r, int32_t today,
                       int32_t *day, int32_t *period, int32_t *cohort)
{
    if (st->base.policy.late_shift) {
        store_counted_at(r, today, st->base.policy.grace_days, day, period, cohort);
    } else {
        *day = r->day;
        *period = r->period;
        *cohort = r->cohort;
    }
}

/* Binds and runs INS_RID: *fresh is false when the id is already kept. */
static int keep_report_id(struct sqlite_store *st, const uint8_t rid[16], int32_t expires,
                          bool *fresh)
{
    sqlite3_stmt *ins = st->stmt[INS_RID];
    sqlite3_bind_blob(ins, 1, rid, 16, SQLITE_STATIC);
    sqlite3_bind_int(ins, 2, expires);
    int rc = run(ins);
    *fresh = rc == SQLITE_OK && sqlite3_changes(st->db) == 1;
    return rc;
}

/* r's device, just inserted under the current pseudonym: if it is held
 * under an older key, its first month and re-activations move to the
 * current pseudonym and the old row goes, all in the open transaction.
 * *known tells whether it was found. One look-up per older key, only for a
 * device the current key does not know. */
static int move_old_keys(struct sqlite_store *st, const struct store_record *r, bool *known)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < r->n_old; i++) {
        const uint8_t *old = r->old_pseudonym[i];
        sqlite3_stmt *sel = st->stmt[SEL_OLD];
        sqlite3_bind_blob(sel, 1, old, STS_PSEUDONYM_LEN, SQLITE_STATIC);
        rc = sqlite3_step(sel);
        int month = rc == SQLITE_ROW ? sqlite3_column_int(sel, 0) : 0;
        bool found = rc == SQLITE_ROW;
        sqlite3_reset(sel);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return rc;
        rc = SQLITE_OK;
        if (!found)
            continue;
        *known = true;
        sqlite3_stmt *mv = st->stmt[MOVE_ACT];
        sqlite3_bind_blob(mv, 1, r->pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
        sqlite3_bind_int(mv, 2, month);
        if ((rc = run(mv)) != SQLITE_OK)
            return rc;
        sqlite3_stmt *mr = st->stmt[MOVE_REACT];
        sqlite3_bind_blob(mr, 1, r->pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(mr, 2, old, STS_PSEUDONYM_LEN, SQLITE_STATIC);
        if ((rc = run(mr)) != SQLITE_OK)
            return rc;
        sqlite3_stmt *del = st->stmt[DEL_OLD];
        sqlite3_bind_blob(del, 1, old, STS_PSEUDONYM_LEN, SQLITE_STATIC);
        rc = run(del);
    }
    return rc;
}

/* A report id is checked first: a retry while its id is kept is a
 * duplicate. After the window a retried first activation finds its device
 * known and counts as a re-activation, never as a new sale. */
static int write_activation(struct sqlite_store *st, struct store_record *r, int32_t today)
{
    const struct store_policy *pol = &st->base.policy;
    int32_t day, period, cohort;
    bool fresh;
    int rc;
    counted_at(st, r, today, &day, &period, &cohort);
    if ((rc = keep_report_id(st, r->report_id, today + pol->report_id_days, &fresh)) != SQLITE_OK)
        return rc;
    if (!fresh) {
        r->outcome = STORE_DUPLICATE;
        return SQLITE_OK;
    }
    sqlite3_stmt *ins = st->stmt[INS_ACT];
    sqlite3_bind_blob(ins, 1, r->pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, r->key_id);
    sqlite3_bind_int(ins, 3, sts_day_month(day));
    if ((rc = run(ins)) != SQLITE_OK)
        return rc;
    if (sqlite3_changes(st->db) == 1) {
        bool known = false;
        if ((rc = move_old_keys(st, r, &known)) != SQLITE_OK)
            return rc;
        if (!known) {
            r->outcome = STORE_NEW;
            return count_sale(st, r, day, false);
        }
    }
    /* A known device: counted once per calendar month at most, so one device
     * adds at most one to the re-activation counters of a month. */
    sqlite3_stmt *re = st->stmt[INS_REACT];
    sqlite3_bind_blob(re, 1, r->pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
    sqlite3_bind_int(re, 2, sts_day_month(day));
    if ((rc = run(re)) != SQLITE_OK)
        return rc;
    r->outcome = STORE_REACTIVATION;
    return sqlite3_changes(st->db) == 1 ? count_sale(st, r, day, true) : SQLITE_OK;
}

static int write_ping(struct sqlite_store *st, struct store_record *r, int32_t today)
{
    const struct store_policy *pol = &st->base.policy;
    int32_t day, period, cohort;
    bool fresh;
    int rc;
    counted_at(st, r, today, &day, &period, &cohort);
    /* Kept until the month it is counted in closes: a retry can't arrive
     * later than that and still be counted. A month already closed (kept as
     * sent, see store_policy) keeps its ids for a grace window from today. */
    int32_t expires = sts_month_first_day(period + 1) - 1 + pol->grace_days;
    if (expires < today + pol->grace_days)
        expires = today + pol->grace_days;
    if ((rc = keep_report_id(st, r->report_id, expires, &fresh)) != SQLITE_OK)
        return rc;
    if (!fresh) {
        r->outcome = STORE_DUPLICATE;
        return SQLITE_OK;
    }
    const int32_t t[3] = {period, cohort, r->first ? 1 : 0};
    const char *const s[4] = {r->brand, r->model, r->sw, ""}; /* country: not kept */
    r->outcome = STORE_NEW;
    return agg_add(st->life, t, s, 1, 0) ? SQLITE_OK : SQLITE_NOMEM;
}

/* Storage faults. The database file may be deleted or replaced under a
 * running collector; SQLite would go on committing into the open, unlinked
 * inode, and every report acknowledged from then on would be gone at the
 * next start. So before each transaction the writer compares the identity
 * (st_dev, st_ino) of the file now at the path with the one it opened. A
 * deleted file is restored from the open handle, which still sees every
 * committed page, WAL included: copied into a new file at the path (created
 * exclusively, so nothing that appeared there is overwritten), then the
 * writer reopens it. A replaced file is left alone and every transaction
 * fails (503) until an operator restarts the collector on the file they
 * mean. */
/* page_size (of a new database only): a report inserts into two tables
 * keyed at random (pseudonym, report id), so each dirties a leaf page of its
 * own, written whole to the WAL and checksummed there, then copied back by
 * the checkpoint: 1 KiB pages write a quarter of what 4 KiB pages do per
 * report (bench/README.md). secure_delete: a deleted row (an erasure, a
 * purged report id) is overwritten with zeros, not left in a free page;
 * journal_size_limit: a restarted WAL keeps up to WAL_HARD_BYTES, written
 * over in place (see RESTART_BYTES and wal_bound). */
static const char connect_pragmas[] =
    "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
    " PRAGMA cache_size=-65536; PRAGMA foreign_keys=OFF;"
    " PRAGMA secure_delete=ON; PRAGMA journal_size_limit=67108864;";

enum file_state { FILE_SAME, FILE_GONE, FILE_REPLACED };

static enum file_state file_state(const struct sqlite_store *st)
{
    struct stat sb;
    if (stat(st->path, &sb) != 0)
        return errno == ENOENT ? FILE_GONE : FILE_REPLACED;
    return sb.st_dev == st->dev && sb.st_ino == st->ino ? FILE_SAME : FILE_REPLACED;
}

static bool remember_file(struct sqlite_store *st)
{
    struct stat sb;
    if (stat(st->path, &sb) != 0)
        return false;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    return true;
}

static int prepare_all(struct sqlite_store *st)
{
    for (int i = 0; i < NSTMT; i++) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[i], NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static void unlink_side_files(const char *path)
{
    char side[4096];
    static const char *const suffix[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 3; i++)
        if ((size_t)snprintf(side, sizeof side, "%s%s", path, suffix[i]) < sizeof side)
            unlink(side);
}

/* Copies the open, unlinked database into a new file at the path and
 * reopens the writer there. */
static int restore_deleted(struct sqlite_store *st)
{
    stop_checkpointer(st); /* its connection is on the unlinked file */
    /* The side files at the path belong to the unlinked database (this
     * connection keeps its own descriptors): left there, the new file would
     * replay the old WAL. */
    unlink_side_files(st->path);
    int fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return SQLITE_CANTOPEN;
    close(fd);
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(st->path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs());
    if (rc == SQLITE_OK) {
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", st->db, "main");
        rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(dst);
        int fin = b ? sqlite3_backup_finish(b) : SQLITE_OK;
        if (rc == SQLITE_DONE)
            rc = fin;
    }
    sqlite3_close(dst);
    if (rc != SQLITE_OK) {
        unlink(st->path); /* a partial copy must not pass for the database */
        return rc;
    }
    for (int i = 0; i < NSTMT; i++) {
        sqlite3_finalize(st->stmt[i]);
        st->stmt[i] = NULL;
    }
    sqlite3_close(st->db);
    st->db = NULL;
    unlink_side_files(st->path);
    rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs());
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(st->db, sts_clock_busy_timeout_ms());
        rc = sqlite3_exec(st->db, connect_pragmas, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK && st->deferred)
        rc = sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    /* The restored file was synced by its copy (a rollback-journal commit
     * with synchronous=FULL); later syncs go to its own WAL. */
    pthread_mutex_lock(&st->sync_lock);
    if (st->sync_fd >= 0)
        close(st->sync_fd);
    st->sync_fd = -1;
    pthread_mutex_unlock(&st->sync_lock);
    if (rc == SQLITE_OK)
        rc = prepare_all(st);
    if (rc == SQLITE_OK && !remember_file(st))
        rc = SQLITE_IOERR;
    return rc;
}

/* Before a transaction: SQLITE_OK when the file at the path is the one the
 * writer has open (restored first if it was deleted). */
static int guard_file(struct sqlite_store *st)
{
    enum file_state fs = st->db ? file_state(st) : FILE_GONE;
    if (fs == FILE_SAME)
        return SQLITE_OK;
    if (fs == FILE_REPLACED) {
        if (!st->replaced_said)
            fprintf(stderr,
                    "sts-collector: the database file %s was replaced while serving: "
                    "refusing to write to either; restart the collector on the file to use\n",
                    st->path);
        st->replaced_said = true;
        return SQLITE_IOERR;
    }
    if (!st->db)
        return SQLITE_IOERR; /* a failed restore left no writer: see below */
    int rc = restore_deleted(st);
    fprintf(stderr, "sts-collector: the database file %s was deleted while serving: %s\n", st->path,
            rc == SQLITE_OK ? "restored from the open handle, every committed report kept"
                            : "could not restore it; refusing writes");
    if (rc != SQLITE_OK && st->db) {
        sqlite3_close(st->db); /* never write to the unlinked file */
        st->db = NULL;
    }
    return rc;
}

/* Report ids have no index on their expiry: it cost every report a third
 * random insert, about 10,000 instructions and a WAL frame (callgrind:
 * 68,209 instructions per activation with it, 57,484 and 58,794 without),
 * to serve a purge that runs once an hour. The purge walks the table in key
 * order instead, a window of PURGE_WINDOW ids at a time. */
#define PURGE_WINDOW 5000

/* One window in the open transaction: the ids after from[0..*from_len)
 * (length 0: from the first), at most PURGE_WINDOW of them, of which the
 * expired ones are deleted, at most max. from then holds the window's last
 * id, or *from_len is 0 and *at_end true when the window reached the end
 * of the table. */
static int purge_window(struct sqlite_store *st, int32_t today, uint8_t from[16], int *from_len,
                        int64_t max, int64_t *purged, bool *at_end)
{
    static const uint8_t past_all[17] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* after any 16-byte id */
    uint8_t end[16];
    int end_len = 0;
    *purged = 0;
    sqlite3_stmt *e = st->stmt[PURGE_END];
    sqlite3_bind_blob(e, 1, from, *from_len, SQLITE_STATIC);
    sqlite3_bind_int(e, 2, PURGE_WINDOW - 1);
    int rc = sqlite3_step(e);
    if (rc == SQLITE_ROW) {
        end_len = sqlite3_column_bytes(e, 0);
        if (end_len > (int)sizeof end)
            end_len = (int)sizeof end; /* ids are 16 bytes; a longer one only ends early */
        memcpy(end, sqlite3_column_blob(e, 0), (size_t)end_len);
    }
    sqlite3_reset(e);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rc;
    *at_end = rc == SQLITE_DONE;
    sqlite3_stmt *d = st->stmt[PURGE];
    sqlite3_bind_blob(d, 1, from, *from_len, SQLITE_STATIC);
    if (*at_end)
        sqlite3_bind_blob(d, 2, past_all, sizeof past_all, SQLITE_STATIC);
    else
        sqlite3_bind_blob(d, 2, end, end_len, SQLITE_STATIC);
    sqlite3_bind_int(d, 3, today);
    sqlite3_bind_int64(d, 4, max);
    if ((rc = run(d)) != SQLITE_OK)
        return rc;
    *purged = sqlite3_changes(st->db);
    memcpy(from, end, (size_t)end_len);
    *from_len = *at_end ? 0 : end_len;
    return SQLITE_OK;
}

/* Deletes up to max expired report ids in the open transaction, walking the
 * whole table from its first id (store_purge: fewer than max means none is
 * left). */
static int purge_ids(struct sqlite_store *st, int32_t today, int64_t max, int64_t *purged)
{
    uint8_t from[16];
    int from_len = 0;
    bool at_end = false;
    int rc = SQLITE_OK;
    *purged = 0;
    while (rc == SQLITE_OK && !at_end && *purged < max) {
        int64_t n = 0;
        rc = purge_window(st, today, from, &from_len, max - *purged, &n, &at_end);
        *purged += n;
    }
    if (rc != SQLITE_OK)
        *purged = 0;
    return rc;
}

static int fold_rows(sqlite3 *db, int32_t keep_from, int64_t max, bool dry_run,
                     struct store_folded *out);
static bool secure_delete_on(sqlite3 *db);

/* Device rows the writer folds per transaction, and how often it purges: a
 * walk through the report ids at most once an hour of wall time, one
 * window after each commit until it has reached the end (and as many
 * folds), so the purge costs a commit nothing most of the time. */
#define PURGE_BATCH    5000
#define PURGE_PERIOD_S 3600

static bool purge_due(struct sqlite_store *st)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (st->purged_once && !st->purge_more && now.tv_sec - st->last_purge.tv_sec < PURGE_PERIOD_S)
        return false;
    st->last_purge = now;
    st->purged_once = true;
    return true;
}

/* After a commit: the purge, in its own transaction so that a failure costs
 * the reports nothing (they are committed). */
static bool writer_purge(struct sqlite_store *st, int32_t today)
{
    int64_t n = 0;
    struct store_folded f = {0, 0};
    int retention = st->base.policy.retention_months;
    int32_t keep_from = sts_day_month(today) - retention;
    if (!purge_due(st) || run(st->stmt[BEGIN]) != SQLITE_OK)
        return false;
    /* Device rows only become foldable when the month turns: after one
     * complete fold the next waits for the next month (or a restart). */
    bool fold = retention > 0 && keep_from != st->folded_before;
    uint8_t from[16];
    memcpy(from, st->purge_from, sizeof from);
    int from_len = st->purge_from_len;
    bool at_end = false;
    if (purge_window(st, today, from, &from_len, INT64_MAX, &n, &at_end) != SQLITE_OK ||
        (fold && fold_rows(st->db, keep_from, PURGE_BATCH, false, &f) != SQLITE_OK) ||
        run(st->stmt[COMMIT]) != SQLITE_OK) {
        run(st->stmt[ROLLBACK]);
        return false;
    }
    /* Moved on only once committed: a failed window is walked again. */
    memcpy(st->purge_from, from, sizeof from);
    st->purge_from_len = from_len;
    bool fold_more = f.activations == PURGE_BATCH || f.reactivations == PURGE_BATCH;
    if (fold && !fold_more)
        st->folded_before = keep_from;
    st->purge_more = !at_end || fold_more;
    return n > 0 || f.activations > 0 || f.reactivations > 0;
}

/* The WAL keeps the page images of every commit until it is reset, rows
 * since deleted or purged included; journal_size_limit alone bounds only
 * what stays after a reset. So once a burst is over (a commit of at most
 * WAL_QUIET_BATCH records that began WAL_QUIET_GAP_MS or more after the
 * previous one ended: the writer's queue had drained), the WAL is
 * checkpointed and truncated to zero if it holds WAL_BOUND_BYTES or its
 * oldest frames are WAL_MAX_AGE_S old; during a burst only past
 * WAL_HARD_BYTES, so the copying stays with the background checkpointer
 * (which resets it past RESTART_BYTES). After a purge or an erasure it
 * is due at once. It is tried without waiting: a reader still on an old
 * snapshot makes it fail, and the next commit tries again. The first quiet
 * commit after a burst truncates it whatever its size. */
#define WAL_BOUND_BYTES (4 << 20)
#define WAL_HARD_BYTES  (64 << 20)
#define WAL_MAX_AGE_S   600
#define WAL_QUIET_BATCH 64
/* Under a steady load small batches follow each other without a gap (64
 * connections give batches of a dozen): without the gap, every 4 MiB of WAL
 * the writer would stop to copy it all back, and the load would wait. */
#define WAL_QUIET_GAP_MS 100

static bool wal_truncate(struct sqlite_store *st, int wait_ms)
{
    /* Past the hard bound, and when the queue has drained, it waits for the
     * background checkpointer rather than let the WAL grow on or stay
     * behind. SQLite never calls the busy handler while another connection
     * holds the checkpointer lock (it answers SQLITE_BUSY at once), so the
     * waiting is a loop of short sleeps, bounded by wait_ms. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    sqlite3_busy_timeout(st->db, wait_ms > 0 ? 100 : 0);
    int rc;
    for (;;) {
        rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (rc != SQLITE_BUSY || ms >= wait_ms)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (rc == SQLITE_OK) {
        clock_gettime(CLOCK_MONOTONIC, &st->last_truncate);
        st->truncate_due = false;
    }
    sqlite3_busy_timeout(st->db, sts_clock_busy_timeout_ms());
    return rc == SQLITE_OK;
}

/* After a commit of batch records begun at *begun (NULL: after a deletion
 * outside the writer's batches); due: rows were just deleted. */
static void wal_bound(struct sqlite_store *st, size_t batch, bool due, const struct timespec *begun)
{
    struct stat sb;
    struct timespec t;
    st->truncate_due |= due;
    if (!st->wal_path || stat(st->wal_path, &sb) != 0 || sb.st_size == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long gap_ms = begun ? (begun->tv_sec - st->last_end.tv_sec) * 1000 +
                              (begun->tv_nsec - st->last_end.tv_nsec) / 1000000
                        : WAL_QUIET_GAP_MS;
    bool quiet = batch <= WAL_QUIET_BATCH && gap_ms >= WAL_QUIET_GAP_MS;
    st->in_burst |= !quiet;
    bool due_now = st->truncate_due || sb.st_size >= WAL_HARD_BYTES ||
                   (quiet && (st->in_burst || sb.st_size >= WAL_BOUND_BYTES ||
                              t.tv_sec - st->last_truncate.tv_sec >= WAL_MAX_AGE_S));
    /* Past the hard bound no commit goes on until the WAL is cut: the
     * writer waits as long as a commit may (the checkpointer's copy of the
     * WAL, slow on a loaded disk, is what it waits for). */
    int wait_ms = sb.st_size >= WAL_HARD_BYTES ? sts_clock_busy_timeout_ms() : quiet ? 2000 : 0;
    if (due_now && wal_truncate(st, wait_ms) && quiet)
        st->in_burst = false;
}

static enum sts_err sqlite_write(struct store *s, struct store_record *const *recs, size_t n)
{
    struct sqlite_store *st = impl(s);
    /* A read-only handle commits nothing, not even the empty probe. */
    int rc = st->db && sqlite3_db_readonly(st->db, "main") == 1 ? SQLITE_READONLY : guard_file(st);
    if (rc != SQLITE_OK) {
        for (size_t i = 0; i < n; i++)
            recs[i]->outcome = STORE_FAILED;
        return STS_EIO;
    }
    /* After a failed sync, what the disk lost of the WAL is unknown, and a
     * hole in it would cut off, at recovery, every later commit: nothing
     * more is written until a checkpoint has copied the whole WAL (read
     * back from the page cache) into the database file, synced it and
     * emptied the WAL. */
    if (atomic_load(&st->sync_failed)) {
        if (!wal_truncate(st, 2000)) {
            for (size_t i = 0; i < n; i++)
                recs[i]->outcome = STORE_FAILED;
            return STS_EIO;
        }
        atomic_store(&st->sync_failed, false);
        fprintf(stderr,
                "sts-collector: the database file was synced again after a failed WAL sync\n");
    }
    int32_t today = sts_day_today();
    struct timespec begun;
    clock_gettime(CLOCK_MONOTONIC, &begun);
    start_checkpointer(st);
    rc = run(st->stmt[BEGIN]);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        if (recs[i]->type == STS_REPORT_ACTIVATION)
            rc = write_activation(st, recs[i], today);
        else
            rc = write_ping(st, recs[i], today);
    }
    if (rc == SQLITE_OK)
        rc = flush_rollups(st);
    else {
        sts_hashmap_clear(st->sales);
        sts_hashmap_clear(st->life);
    }
    if (rc == SQLITE_OK)
        rc = run(st->stmt[COMMIT]);
    if (rc == SQLITE_OK) {
        wal_bound(st, n, writer_purge(st, today), &begun);
        clock_gettime(CLOCK_MONOTONIC, &st->last_end);
        return STS_OK;
    }
    store_write_failed(&st->base, sqlite3_errmsg(st->db));
    if (!sqlite3_get_autocommit(st->db))
        run(st->stmt[ROLLBACK]);
    for (size_t i = 0; i < n; i++)
        recs[i]->outcome = STORE_FAILED;
    return STS_EIO;
}

/* NORMAL: a commit writes the WAL and does not sync it; a checkpoint still
 * syncs the WAL before it copies from it, so an unsynced commit is lost in a
 * crash of the machine, never half-kept (sqlite.org/pragma.html#pragma_synchronous). */
static enum sts_err sqlite_defer_sync(struct store *s)
{
    struct sqlite_store *st = impl(s);
    if (!st->db || sqlite3_db_readonly(st->db, "main") != 0)
        return STS_EUNSUPPORTED;
    if (sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        return STS_EIO;
    st->deferred = true;
    return STS_OK;
}

/* fdatasync on any descriptor of a file writes out all its dirty pages, the
 * writer connection's included. */
static enum sts_err sqlite_sync(struct store *s)
{
    struct sqlite_store *st = impl(s);
    if (atomic_load(&st->sync_failed))
        return STS_EIO;
    pthread_mutex_lock(&st->sync_lock);
    if (st->sync_fd < 0)
        st->sync_fd = open(st->wal_path, O_RDONLY | O_CLOEXEC);
    int rc = st->sync_fd < 0 ? -1 : fdatasync(st->sync_fd);
    int err = errno;
    pthread_mutex_unlock(&st->sync_lock);
    if (rc == 0)
        return STS_OK;
    atomic_store(&st->sync_failed, true);
    fprintf(stderr, "sts-collector: syncing the WAL %s failed: %s\n", st->wal_path, strerror(err));
    return STS_EIO;
}

static int bind_filters(sqlite3_stmt *q, const char *const filter[4])
{
    for (int d = 0; d < 4; d++)
        if (filter[d])
            sqlite3_bind_text(q, 3 + d, filter[d], -1, SQLITE_STATIC);
    return 0;
}

static enum sts_err sales_rows(struct sqlite_store *st, const char *sql, int32_t from, int32_t to,
                               bool months, const char *const filter[4], store_sales_cb cb,
                               void *ctx, bool *stop)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_int(q, 1, from);
    sqlite3_bind_int(q, 2, to);
    bind_filters(q, filter);
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
        if (months)
            row.day = sts_month_first_day(row.day);
        if (!row.brand || !row.model || !row.sw || !row.country) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (cb(&row, ctx) != 0) {
            *stop = true;
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STS_OK : STS_EIO;
}

static enum sts_err sqlite_sales(struct store *s, int32_t from, int32_t to, store_sales_cb cb,
                                 void *ctx)
{
    static const char *const no_filter[4] = {NULL, NULL, NULL, NULL};
    bool stop = false;
    return sales_rows(impl(s),
                      "SELECT day,brand,model,sw,country,activations,reactivations"
                      " FROM sales_day WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
                      from, to, false, no_filter, cb, ctx, &stop);
}

/* Days from 2000-01-01 to 9999-12-31 bound every stored day. */
#define DAY_MIN 10957
#define DAY_MAX 2932896

static enum sts_err sqlite_sales_sum(struct store *s, const struct store_query *q,
                                     store_sales_cb cb, void *ctx)
{
    struct sqlite_store *st = impl(s);
    static const char *const full[4] = {"brand", "model", "sw", "country"};
    static const char *const mc[4] = {"''", "model", "''", "country"};
    const char *sums = "sum(activations), sum(reactivations)";
    bool stop = false;
    int32_t from = q->from < DAY_MIN ? DAY_MIN : q->from, to = q->to > DAY_MAX ? DAY_MAX : q->to;
    unsigned need = q->dims;
    for (int d = 0; d < 4; d++)
        if (q->filter[d])
            need |= 1u << d;
    bool narrow = !(need & (STORE_DIM_BRAND | STORE_DIM_SW));
    if (from > to)
        return STS_OK;
    /* Day rows: the narrow day rollup when it holds the dimensions. */
    char day_sql[1024];
    store_sum_sql(day_sql, sizeof day_sql, '?', "day", q->grain == STORE_ALL,
                  narrow ? "sales_day_mc" : "sales_day", "day", narrow ? mc : full, q->dims,
                  q->filter, sums);
    return sales_rows(st, day_sql, from, to, false, q->filter, cb, ctx, &stop);
}

/* The caller's callback of a lifetime or versions sum. */
struct life_cb {
    store_life_cb life;
    store_version_cb version;
    void *ctx;
};

/* Runs a lifetime or versions sum built by sum_sql over [from, to]: each row
 * goes to row(), which reads the statement's columns and calls the caller's
 * callback; row() returns < 0 out of memory, > 0 to stop. */
static enum sts_err life_rows(struct sqlite_store *st, const char *sql, const struct store_query *q,
                              int (*row)(sqlite3_stmt *stmt, const struct life_cb *cb),
                              const struct life_cb *cb)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_int(stmt, 1, q->from);
    sqlite3_bind_int(stmt, 2, q->to);
    bind_filters(stmt, q->filter);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int r = row(stmt, cb);
        if (r < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (r > 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? STS_OK : STS_EIO;
}

/* Columns: period, cohort, first, brand, model, sw, country, count. */
static int life_row(sqlite3_stmt *stmt, const struct life_cb *cb)
{
    struct store_life_row row = {
        .period = sqlite3_column_int(stmt, 0),
        .cohort = sqlite3_column_int(stmt, 1),
        .first = sqlite3_column_int(stmt, 2) != 0,
        .brand = (const char *)sqlite3_column_text(stmt, 3),
        .model = (const char *)sqlite3_column_text(stmt, 4),
        .sw = (const char *)sqlite3_column_text(stmt, 5),
        .country = (const char *)sqlite3_column_text(stmt, 6),
        .count = sqlite3_column_int64(stmt, 7),
    };
    if (!row.brand || !row.model || !row.sw || !row.country)
        return -1;
    return cb->life(&row, cb->ctx) != 0;
}

/* Columns: period, brand, model, sw, country, count. */
static int version_row(sqlite3_stmt *stmt, const struct life_cb *cb)
{
    struct store_version_row row = {
        .period = sqlite3_column_int(stmt, 0),
        .brand = (const char *)sqlite3_column_text(stmt, 1),
        .model = (const char *)sqlite3_column_text(stmt, 2),
        .sw = (const char *)sqlite3_column_text(stmt, 3),
        .count = sqlite3_column_int64(stmt, 5),
    };
    if (!row.brand || !row.model || !row.sw)
        return -1;
    return cb->version(&row, cb->ctx) != 0;
}

static enum sts_err sqlite_lifetime_sum(struct store *s, const struct store_query *q,
                                        store_life_cb cb, void *ctx)
{
    static const char *const full[4] = {"brand", "model", "''", "''"};
    static const char *const by_model[4] = {"''", "model", "''", "''"};
    char sql[1024];
    unsigned need = store_needed_dims(q);
    if (need & (STORE_DIM_SW | STORE_DIM_COUNTRY))
        return STS_EUNSUPPORTED; /* no counter ties a version or a country to a cohort */
    bool narrow = !(need & ~STORE_DIM_MODEL);
    store_sum_sql(sql, sizeof sql, '?', "period, cohort, first", false,
                  narrow ? "life_model" : "lifetime_count", "period", narrow ? by_model : full,
                  q->dims, q->filter, "sum(count)");
    const struct life_cb c = {.life = cb, .ctx = ctx};
    return life_rows(impl(s), sql, q, life_row, &c);
}

static enum sts_err sqlite_versions_sum(struct store *s, const struct store_query *q,
                                        store_version_cb cb, void *ctx)
{
    static const char *const by_sw[4] = {"brand", "model", "sw", "''"};
    char sql[1024];
    if (store_needed_dims(q) & STORE_DIM_COUNTRY)
        return STS_EUNSUPPORTED; /* a ping carries no country */
    store_sum_sql(sql, sizeof sql, '?', "period", false, "version_count", "period", by_sw, q->dims,
                  q->filter, "sum(count)");
    const struct life_cb c = {.version = cb, .ctx = ctx};
    return life_rows(impl(s), sql, q, version_row, &c);
}

static enum sts_err sqlite_device_get(struct store *s, const uint8_t *pseudonym,
                                      struct store_device *out)
{
    struct sqlite_store *st = impl(s);
    sqlite3_stmt *q;
    enum sts_err e = STS_EIO;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT key_id, month, NULL FROM activation WHERE pseudonym=?1"
                           " UNION ALL SELECT NULL, NULL, month FROM"
                           " (SELECT month FROM reactivation WHERE pseudonym=?1 ORDER BY month)",
                           -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_blob(q, 1, pseudonym, STS_PSEUDONYM_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_NULL)) {
        e = STS_ENOENT; /* re-activations without their device: erased between reads */
    } else if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->key_id = (uint32_t)sqlite3_column_int64(q, 0);
        out->month = sqlite3_column_int(q, 1);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            if (out->reactivations < STORE_MAX_REACT_MONTHS)
                out->react_month[out->reactivations] = sqlite3_column_int(q, 2);
            out->reactivations++;
        }
        e = rc == SQLITE_DONE ? STS_OK : STS_EIO;
    }
    sqlite3_finalize(q);
    return e;
}

static enum sts_err sqlite_device_erase(struct store *s, const uint8_t *pseudonym, int64_t *erased)
{
    struct sqlite_store *st = impl(s);
    static const char *const sql[] = {"DELETE FROM activation WHERE pseudonym=?1",
                                      "DELETE FROM reactivation WHERE pseudonym=?1"};
    int64_t total = 0;
    if (!secure_delete_on(st->db) || run(st->stmt[BEGIN]) != SQLITE_OK)
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
    /* secure_delete zeroed the rows in the database pages; the WAL's older
     * page images go too. */
    if (total)
        wal_bound(st, 0, true, NULL);
    *erased = total;
    return STS_OK;
fail:
    run(st->stmt[ROLLBACK]);
    return STS_EIO;
}

static enum sts_err sqlite_purge(struct store *s, int64_t max, int64_t *purged)
{
    struct sqlite_store *st = impl(s);
    *purged = 0;
    if (!secure_delete_on(st->db) || run(st->stmt[BEGIN]) != SQLITE_OK)
        return STS_EIO;
    if (purge_ids(st, sts_day_today(), max, purged) != SQLITE_OK ||
        run(st->stmt[COMMIT]) != SQLITE_OK) {
        run(st->stmt[ROLLBACK]);
        *purged = 0;
        return STS_EIO;
    }
    if (*purged)
        wal_bound(st, 0, true, NULL);
    return STS_OK;
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
    char sql[128];
    out->devices = scalar(db, "SELECT count(*) FROM activation");
    out->reactivations = scalar(db, "SELECT count(*) FROM reactivation");
    out->sales_cells = scalar(db, "SELECT count(*) FROM sales_day");
    out->lifetime_cells = scalar(db, "SELECT count(*) FROM lifetime_count");
    out->version_cells = scalar(db, "SELECT count(*) FROM version_count");
    out->report_ids = scalar(db, "SELECT count(*) FROM report_id");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM report_id WHERE expires < %d",
             (int)sts_day_today());
    out->report_ids_due = scalar(db, sql);
    out->pings_seen = out->report_ids; /* one table for both kinds since schema 4 */
    out->key_ids = scalar(db, "SELECT count(DISTINCT key_id) FROM activation");
    return out->devices < 0 || out->key_ids < 0 || out->report_ids < 0 || out->version_cells < 0
               ? STS_EIO
               : STS_OK;
}

/* Sizes the groups of one query: total, under k, ones, smallest. */
static enum sts_err class_count(sqlite3 *db, const char *groups, long k,
                                struct store_class_count *out)
{
    char sql[640];
    sqlite3_stmt *q;
    snprintf(sql, sizeof sql,
             "SELECT count(*), coalesce(sum(n < ?1), 0), coalesce(sum(n = 1), 0),"
             " coalesce(min(n), 0) FROM (%s) WHERE n > 0",
             groups);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_int64(q, 1, k);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->total = sqlite3_column_int64(q, 0);
        out->under_k = sqlite3_column_int64(q, 1);
        out->singles = sqlite3_column_int64(q, 2);
        out->smallest = sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? STS_OK : STS_EIO;
}

static enum sts_err sqlite_classes(struct store *s, long k, struct store_classes *out)
{
    sqlite3 *db = impl(s)->db;
    enum sts_err e;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < STORE_CLASS_QUERIES; i++) {
        const struct store_class_query *c = &store_class_queries[i];
        if ((e = class_count(db, c->sql, k,
                             (struct store_class_count *)((char *)out + c->offset))) != STS_OK)
            return e;
    }
    return STS_OK;
}

/* The release seed, made once from the system's generator. */
static enum sts_err release_seed_create(sqlite3 *db)
{
    uint8_t seed[STORE_SEED_LEN];
    sqlite3_stmt *q;
    if (store_seed_make(seed) != STS_OK)
        return STS_EIO;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO release_meta VALUES('seed',?1)", -1, &q,
                           NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_blob(q, 1, seed, sizeof seed, SQLITE_TRANSIENT);
    OPENSSL_cleanse(seed, sizeof seed);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STS_OK : STS_EIO;
}

static enum sts_err sqlite_release_get(struct store *s, struct store_release *out)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    bool seed = false;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(db, "SELECT name, value FROM release_meta", -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        if (strcmp(name, "seed") == 0 && sqlite3_column_bytes(q, 1) == STORE_SEED_LEN) {
            memcpy(out->seed, sqlite3_column_blob(q, 1), STORE_SEED_LEN);
            seed = true;
        } else if (strcmp(name, "rho") == 0) {
            out->rho = sqlite3_column_double(q, 1);
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return STS_EIO;
    return seed ? STS_OK : STS_ECORRUPT;
}

static enum sts_err sqlite_release_set_rho(struct store *s, double rho)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO release_meta VALUES('rho',?1)", -1, &q,
                           NULL) != SQLITE_OK)
        return STS_EIO;
    sqlite3_bind_double(q, 1, rho);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STS_OK : STS_EIO;
}

static enum sts_err sqlite_device_erase_all(struct store *s, const uint8_t *pseudonyms, size_t n,
                                            struct store_erased *out);
static enum sts_err sqlite_key_use(struct store *s, struct store_key_use *out, size_t cap,
                                   size_t *n);
static enum sts_err sqlite_fold(struct store *s, int32_t keep_from, int64_t max, bool dry_run,
                                struct store_folded *out);
static enum sts_err sqlite_columns(struct store *s, struct store_column **out, size_t *n);

static const struct store_ops sqlite_ops = {
    .release_get = sqlite_release_get,
    .release_set_rho = sqlite_release_set_rho,
    .close = sqlite_close,
    .write = sqlite_write,
    .defer_sync = sqlite_defer_sync,
    .sync = sqlite_sync,
    .sales = sqlite_sales,
    .sales_sum = sqlite_sales_sum,
    .lifetime_sum = sqlite_lifetime_sum,
    .versions_sum = sqlite_versions_sum,
    .device_get = sqlite_device_get,
    .device_erase = sqlite_device_erase,
    .audit = sqlite_audit,
    .purge = sqlite_purge,
    .classes = sqlite_classes,
    .device_erase_all = sqlite_device_erase_all,
    .key_use = sqlite_key_use,
    .fold = sqlite_fold,
    .columns = sqlite_columns,
    .deleted_rows =
        "deleted rows (erasures, folds, purged report ids, a device's row under an older key) "
        "are overwritten with zeros in the database file (secure_delete) and the WAL is "
        "truncated after each purge, fold or erasure; backups taken before keep them until "
        "they expire (docs/PRIVACY.md)",
};

/* SQL functions of each connection: months and expiry days computed as
 * the C code does, for the schema 4 upgrade and the audit. */
static void fn_month(sqlite3_context *c, int n, sqlite3_value **v)
{
    (void)n;
    sqlite3_result_int(c, sts_day_month(sqlite3_value_int(v[0])));
}

static void fn_today(sqlite3_context *c, int n, sqlite3_value **v)
{
    (void)n;
    (void)v;
    sqlite3_result_int(c, sts_day_today());
}

static void fn_expiry_act(sqlite3_context *c, int n, sqlite3_value **v)
{
    const struct sqlite_store *st = sqlite3_user_data(c);
    (void)n;
    sqlite3_result_int(c, sqlite3_value_int(v[0]) + st->base.policy.report_id_days);
}

static void fn_expiry_ping(sqlite3_context *c, int n, sqlite3_value **v)
{
    const struct sqlite_store *st = sqlite3_user_data(c);
    (void)n;
    sqlite3_result_int(c, sts_month_first_day(sqlite3_value_int(v[0]) + 1) - 1 +
                              st->base.policy.grace_days);
}

static int register_functions(struct sqlite_store *st)
{
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {{"sts_month", 1, fn_month},
               {"sts_today", 0, fn_today},
               {"sts_expiry_act", 1, fn_expiry_act},
               {"sts_expiry_ping", 1, fn_expiry_ping}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        int rc = sqlite3_create_function(st->db, fns[i].name, fns[i].nargs,
                                         SQLITE_UTF8 |
                                             (fns[i].fn == fn_today ? 0 : SQLITE_DETERMINISTIC),
                                         st, fns[i].fn, NULL, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
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
    store_policy_defaults(&st->base.policy);
    st->base.policy.late_shift = false; /* serve sets its policy (store_set_policy) */
    int prc = pthread_mutex_init(&st->ckpt_lock, NULL);
    if (prc != 0) {
        free(st);
        return sts_err_from_errno(prc);
    }
    if ((prc = pthread_cond_init(&st->ckpt_wake, NULL)) != 0) {
        pthread_mutex_destroy(&st->ckpt_lock);
        free(st);
        return sts_err_from_errno(prc);
    }
    if ((prc = pthread_mutex_init(&st->sync_lock, NULL)) != 0) {
        pthread_cond_destroy(&st->ckpt_wake);
        pthread_mutex_destroy(&st->ckpt_lock);
        free(st);
        return sts_err_from_errno(prc);
    }
    st->sync_fd = -1;
    atomic_init(&st->sync_failed, false);
    if (!(st->path = strdup(path))) {
        e = STS_ENOMEM;
        goto fail;
    }
    if ((e = sts_hashmap_new(sizeof(struct agg_entry), 0, &st->sales)) != STS_OK ||
        (e = sts_hashmap_new(sizeof(struct agg_entry), 0, &st->life)) != STS_OK) {
        if (why)
            snprintf(why, whylen, "cannot open database '%s': %s", path, sts_strerror(e));
        goto fail;
    }
    e = STS_EIO;
    if (!(flags & STORE_CREATE) && access(path, F_OK) != 0) {
        e = sts_err_from_errno(errno);
        if (why)
            snprintf(why, whylen, "no database at '%s': %s", path, strerror(errno));
        goto fail;
    }
    int oflags = (flags & STORE_READONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                 SQLITE_OPEN_NOMUTEX | (flags & STORE_CREATE ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &st->db, oflags, vfs()) != SQLITE_OK)
        goto fail_msg;
    sqlite3_busy_timeout(st->db, sts_clock_busy_timeout_ms());
    /* WAL lets statistics read while ingestion writes; FULL makes every
     * commit durable (the WAL is synced before COMMIT returns), until the
     * writer takes the sync on itself (store_defer_sync). */
    if (sqlite3_exec(st->db, flags & STORE_READONLY ? "PRAGMA cache_size=-65536;" : connect_pragmas,
                     NULL, NULL, &msg) != SQLITE_OK ||
        register_functions(st) != SQLITE_OK)
        goto fail_msg;
    /* A connection that may delete runs with secure_delete, whatever the
     * build's default (see secure_delete_on). */
    if (!(flags & STORE_READONLY) && scalar(st->db, "PRAGMA secure_delete") != 1)
        goto fail_msg;
    size_t wal_len = strlen(path) + sizeof "-wal";
    if (!(st->wal_path = malloc(wal_len))) {
        e = STS_ENOMEM;
        goto fail;
    }
    snprintf(st->wal_path, wal_len, "%s-wal", path);
    st->page_size = (long)scalar(st->db, "PRAGMA page_size");
    if (st->page_size <= 0)
        st->page_size = 4096;
    int64_t version = scalar(st->db, "PRAGMA user_version");
    if (version < 0)
        goto fail_msg; /* unread, not "no schema": never build one over a database */
    if (version > SCHEMA_VERSION) {
        if (why)
            snprintf(why, whylen, "database schema version %lld is newer than this collector's %d",
                     (long long)version, SCHEMA_VERSION);
        e = STS_EUNSUPPORTED;
        goto fail;
    }
    if ((flags & STORE_READONLY) &&
        (version < SCHEMA_VERSION || scalar(st->db, "SELECT count(*) FROM sqlite_master WHERE "
                                                    "name='release_meta'") != 1)) {
        /* A reader never adds tables to a file: someone else's database
         * stays as it is, and an old STS one waits for serve to upgrade it. */
        if (why)
            snprintf(why, whylen,
                     version == 0 ? "'%s' is not an STS database"
                                  : "'%s' has an older STS schema: start serve on it once to "
                                    "upgrade it",
                     path);
        e = version == 0 ? STS_ECORRUPT : STS_EUNSUPPORTED;
        goto fail;
    }
    if (version < SCHEMA_VERSION) {
        /* Older databases are brought to schema 4 in one transaction. */
        const char *steps = version == 0 ? schema : version == 1 ? upgrade_1_2 : "";
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, steps, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, RELEASE_META, NULL, NULL, &msg) != SQLITE_OK ||
            (version > 0 && sqlite3_exec(st->db, upgrade_3_4, NULL, NULL, &msg) != SQLITE_OK) ||
            release_seed_create(st->db) != STS_OK ||
            sqlite3_exec(st->db, "PRAGMA user_version=4; COMMIT", NULL, NULL, &msg) != SQLITE_OK)
            goto fail_msg;
        /* The dropped tables' pages were zeroed (secure_delete); their old
         * images in the WAL go now. */
        if (version > 0)
            wal_truncate(st, sts_clock_busy_timeout_ms());
    }
    /* Databases made before keep an index on the ids' expiry that nothing
     * reads any more (purge_window) and every report pays for. A failure
     * (another process writing) leaves it for the next start. */
    if (!(flags & STORE_READONLY) &&
        scalar(st->db, "SELECT count(*) FROM sqlite_master WHERE name='report_id_expires'") == 1)
        sqlite3_exec(st->db, "DROP INDEX report_id_expires", NULL, NULL, NULL);
    if (prepare_all(st) != SQLITE_OK || !remember_file(st))
        goto fail_msg;
    *out = &st->base;
    return STS_OK;
fail_msg:
    if (why) {
        /* SQLite's "unable to open database file" says not why: the
         * system's error does (a file the user may not read, say). */
        int sys = st->db && !msg ? sqlite3_system_errno(st->db) : 0;
        snprintf(why, whylen, "cannot open database '%s': %s%s%s%s", path,
                 msg      ? msg
                 : st->db ? sqlite3_errmsg(st->db)
                          : "out of memory",
                 sys ? " (" : "", sys ? strerror(sys) : "", sys ? ")" : "");
    }
    if (st->db && sqlite3_errcode(st->db) == SQLITE_CORRUPT)
        e = STS_ECORRUPT;
    if (st->db && sqlite3_errcode(st->db) == SQLITE_NOTADB)
        e = STS_ECORRUPT;
    /* No handle at all is SQLite out of memory too (sqlite3_open_v2). */
    if (!st->db || sqlite3_errcode(st->db) == SQLITE_NOMEM)
        e = STS_ENOMEM;
fail:
    sqlite3_free(msg);
    sqlite_close(&st->base);
    return e;
}

/* Data protection (store.h). */

/* secure_delete is set with the connection's other pragmas; every
 * operation that deletes what names a device sets it again and reads it
 * back first, so that no build default or earlier pragma decides whether
 * an erased row stays in a free page. */
static bool secure_delete_on(sqlite3 *db)
{
    return sqlite3_exec(db, "PRAGMA secure_delete=ON", NULL, NULL, NULL) == SQLITE_OK &&
           scalar(db, "PRAGMA secure_delete") == 1;
}

/* Runs sql with the n pseudonyms bound to ?1 one at a time; *changes gets
 * the rows it changed in all. */
static int each_pseudonym(sqlite3 *db, const char *sql, const uint8_t *pseudonyms, size_t n,
                          int64_t *changes)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_blob(q, 1, pseudonyms + i * STS_PSEUDONYM_LEN, STS_PSEUDONYM_LEN,
                          SQLITE_STATIC);
        rc = run(q);
        *changes += sqlite3_changes(db);
    }
    sqlite3_finalize(q);
    return rc;
}

static enum sts_err sqlite_device_erase_all(struct store *s, const uint8_t *pseudonyms, size_t n,
                                            struct store_erased *out)
{
    struct sqlite_store *st = impl(s);
    if (!secure_delete_on(st->db) || run(st->stmt[BEGIN]) != SQLITE_OK)
        return STS_EIO;
    if (each_pseudonym(st->db, "DELETE FROM reactivation WHERE pseudonym=?1", pseudonyms, n,
                       &out->reactivations) != SQLITE_OK ||
        each_pseudonym(st->db, "DELETE FROM activation WHERE pseudonym=?1", pseudonyms, n,
                       &out->activations) != SQLITE_OK ||
        run(st->stmt[COMMIT]) != SQLITE_OK) {
        run(st->stmt[ROLLBACK]);
        out->activations = out->reactivations = 0;
        return STS_EIO;
    }
    /* secure_delete zeroed the rows in the database pages; the WAL's older
     * page images go too. */
    if (out->activations || out->reactivations)
        wal_bound(st, 0, true, NULL);
    return STS_OK;
}

static enum sts_err sqlite_key_use(struct store *s, struct store_key_use *out, size_t cap,
                                   size_t *n)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(impl(s)->db,
                           "SELECT a.key_id, count(DISTINCT a.pseudonym), count(r.month)"
                           " FROM activation a LEFT JOIN reactivation r USING(pseudonym)"
                           " GROUP BY a.key_id ORDER BY a.key_id",
                           -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n < cap) {
            out[*n].key_id = (uint32_t)sqlite3_column_int64(q, 0);
            out[*n].devices = sqlite3_column_int64(q, 1);
            out[*n].reactivations = sqlite3_column_int64(q, 2);
        }
        (*n)++;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STS_OK : STS_EIO;
}

/* The rows a fold takes: activation rows first (they are judged by the
 * re-activations of keep_from and later, which the fold keeps), then the
 * older re-activation rows. ?1 = keep_from, ?2 = max. */
#define FOLD_ACT                                                                                   \
    "SELECT pseudonym FROM activation a WHERE month < ?1 AND NOT EXISTS"                           \
    " (SELECT 1 FROM reactivation r WHERE r.pseudonym = a.pseudonym AND r.month >= ?1) LIMIT ?2"
#define FOLD_REACT "SELECT pseudonym, month FROM reactivation WHERE month < ?1 LIMIT ?2"

static int fold_step(sqlite3 *db, const char *sql, int32_t keep_from, int64_t max, int64_t *count)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int(q, 1, keep_from);
    sqlite3_bind_int64(q, 2, max);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(q, 0);
        rc = SQLITE_DONE;
    }
    if (rc == SQLITE_DONE) {
        *count = *count >= 0 ? *count : sqlite3_changes(db);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return rc;
}

/* The fold in the open transaction (see store_fold). */
static int fold_rows(sqlite3 *db, int32_t keep_from, int64_t max, bool dry_run,
                     struct store_folded *out)
{
    static const char *const count_sql[2] = {"SELECT count(*) FROM (" FOLD_ACT ")",
                                             "SELECT count(*) FROM (" FOLD_REACT ")"};
    static const char *const delete_sql[2] = {
        "DELETE FROM activation WHERE pseudonym IN (" FOLD_ACT ")",
        "DELETE FROM reactivation WHERE (pseudonym, month) IN (" FOLD_REACT ")"};
    int64_t *counts[2] = {&out->activations, &out->reactivations};
    int rc = SQLITE_OK;
    if (!dry_run && !secure_delete_on(db))
        return SQLITE_ERROR;
    for (int i = 0; rc == SQLITE_OK && i < 2; i++) {
        *counts[i] = dry_run ? 0 : -1;
        rc = fold_step(db, dry_run ? count_sql[i] : delete_sql[i], keep_from, max, counts[i]);
    }
    return rc;
}

static enum sts_err sqlite_fold(struct store *s, int32_t keep_from, int64_t max, bool dry_run,
                                struct store_folded *out)
{
    struct sqlite_store *st = impl(s);
    if (run(st->stmt[BEGIN]) != SQLITE_OK)
        return STS_EIO;
    if (fold_rows(st->db, keep_from, max, dry_run, out) != SQLITE_OK ||
        run(st->stmt[dry_run ? ROLLBACK : COMMIT]) != SQLITE_OK) {
        run(st->stmt[ROLLBACK]);
        memset(out, 0, sizeof *out);
        return STS_EIO;
    }
    if (!dry_run && (out->activations || out->reactivations))
        wal_bound(st, 0, true, NULL);
    return STS_OK;
}

static enum sts_err sqlite_columns(struct store *s, struct store_column **out, size_t *n)
{
    sqlite3_stmt *q;
    size_t cap = 0;
    /* pragma_table_info as a table-valued function: one query for every
     * table, read from the catalogue as it is now, not from this file. */
    if (sqlite3_prepare_v2(impl(s)->db,
                           "SELECT m.name, p.name FROM sqlite_master m,"
                           " pragma_table_info(m.name) p WHERE m.type = 'table'"
                           " AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, p.cid",
                           -1, &q, NULL) != SQLITE_OK)
        return STS_EIO;
    int rc;
    enum sts_err e = STS_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        const char *c = (const char *)sqlite3_column_text(q, 1);
        if (!t || !c) {
            e = STS_ENOMEM;
            break;
        }
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            struct store_column *grown = realloc(*out, ncap * sizeof *grown);
            if (!grown) {
                e = STS_ENOMEM;
                break;
            }
            *out = grown;
            cap = ncap;
        }
        snprintf((*out)[*n].table, sizeof(*out)[*n].table, "%s", t);
        snprintf((*out)[*n].column, sizeof(*out)[*n].column, "%s", c);
        (*n)++;
    }
    sqlite3_finalize(q);
    if (e == STS_OK && rc != SQLITE_DONE)
        e = STS_EIO;
    if (e != STS_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return e;
}
