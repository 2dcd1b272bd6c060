/* PostgreSQL backend through libpq: schema 4's tables (docs/at-rest.md) on a
 * server that several collectors share. Every decision that could count a
 * report or a device twice is taken by a unique constraint inside the
 * database, so concurrent writers on one database stay exact (contract:
 * docs/internals/store.md).
 *
 * A batch is one transaction of a few statements whatever its size: each
 * step sends the whole batch as arrays (INSERT ... SELECT FROM unnest(...)
 * ON CONFLICT DO NOTHING RETURNING key: the keys returned are those
 * inserted), and the counters are upserted in the same transaction. A lost
 * connection fails the batch in flight; the next write resets it, and libpq
 * finds the primary of a multi-host URI (target_session_attrs=read-write). */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "store_impl.h"
#include "store_sql.h"
#include "sts/date.h"
#include "sts/hashmap.h"
#include "sts/hex.h"

#define SCHEMA_VERSION 4

/* Taken by the transaction that creates or migrates the schema, so that
 * collectors started together on an empty database build it once. */
#define SCHEMA_LOCK_KEY 0x5354535343484dLL /* "STSSCHM" */

/* Schema 4, the same tables, columns and keys as store_sqlite.c's, with
 * sts_month(day) as the C code computes it (sts/date.h). */
static const char schema_4[] =
    "CREATE TABLE sts_schema(version integer NOT NULL);"
    "CREATE TABLE activation(pseudonym bytea PRIMARY KEY, key_id bigint NOT NULL,"
    " month integer NOT NULL);"
    "CREATE TABLE reactivation(pseudonym bytea NOT NULL, month integer NOT NULL,"
    " PRIMARY KEY(pseudonym, month));"
    "CREATE TABLE report_id(report_id bytea PRIMARY KEY, expires integer NOT NULL);"
    "CREATE INDEX report_id_expires ON report_id(expires);"
    "CREATE TABLE lifetime_count(period integer NOT NULL, cohort integer NOT NULL,"
    " brand text NOT NULL, model text NOT NULL, first integer NOT NULL, count bigint NOT NULL,"
    " PRIMARY KEY(period, cohort, brand, model, first));"
    "CREATE TABLE version_count(period integer NOT NULL, brand text NOT NULL,"
    " model text NOT NULL, sw text NOT NULL, count bigint NOT NULL,"
    " PRIMARY KEY(period, brand, model, sw));"
    "CREATE TABLE sales_day(day integer NOT NULL, brand text NOT NULL, model text NOT NULL,"
    " sw text NOT NULL, country text NOT NULL, activations bigint NOT NULL,"
    " reactivations bigint NOT NULL, PRIMARY KEY(day, brand, model, sw, country));"
    "CREATE TABLE sales_day_mc(day integer NOT NULL, model text NOT NULL, country text NOT NULL,"
    " activations bigint NOT NULL, reactivations bigint NOT NULL,"
    " PRIMARY KEY(day, model, country));"
    "CREATE TABLE life_model(period integer NOT NULL, cohort integer NOT NULL,"
    " model text NOT NULL, first integer NOT NULL, count bigint NOT NULL,"
    " PRIMARY KEY(period, cohort, model, first));"
    "CREATE TABLE release_meta(name text PRIMARY KEY, value bytea NOT NULL);"
    "CREATE FUNCTION sts_month(day integer) RETURNS integer LANGUAGE sql IMMUTABLE AS"
    " 'SELECT (extract(year FROM d) * 12 + extract(month FROM d) - 1)::integer"
    " FROM (SELECT date ''1970-01-01'' + day AS d) x';"
    "INSERT INTO sts_schema VALUES(4);";

/* Migrations: migrations[v] brings schema v to v + 1 (none yet past 4; a
 * database is created at 4 directly). */
static const char *const migrations[SCHEMA_VERSION] = {NULL, NULL, NULL, NULL};

/* A growing text buffer for array literals. */
struct buf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void buf_reset(struct buf *b)
{
    b->n = 0;
    b->oom = false;
    if (b->p)
        b->p[0] = '\0';
}

static void buf_add(struct buf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

/* Appends one element of an array literal: a separator, then the text
 * quoted (empty texts and any punctuation survive). */
static void buf_elem(struct buf *b, const char *s)
{
    buf_add(b, b->n > 1 ? ",\"" : "\"", b->n > 1 ? 2 : 1);
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\')
            buf_add(b, "\\", 1);
        buf_add(b, c, 1);
    }
    buf_add(b, "\"", 1);
}

static void buf_hex(struct buf *b, const uint8_t *v, size_t n)
{
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    sts_hex_encode(v, n, hex);
    buf_elem(b, hex);
}

static void buf_int(struct buf *b, long long v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    buf_elem(b, num);
}

/* The array parameters of one statement. */
#define MAX_COLS 8
struct arrays {
    struct buf col[MAX_COLS];
    size_t ncols, rows;
};

static void arrays_start(struct arrays *a, size_t ncols)
{
    a->ncols = ncols;
    a->rows = 0;
    for (size_t i = 0; i < ncols; i++) {
        buf_reset(&a->col[i]);
        buf_add(&a->col[i], "{", 1);
    }
}

static bool arrays_end(struct arrays *a)
{
    bool ok = true;
    for (size_t i = 0; i < a->ncols; i++) {
        buf_add(&a->col[i], "}", 1);
        ok &= !a->col[i].oom;
    }
    return ok;
}

struct pg_store {
    struct store base;
    PGconn *conn;
    bool readonly;
    bool reset_due;          /* the connection failed: reset it before the next use */
    bool prepared;           /* the writer's statements are prepared on this connection */
    struct arrays arr, arr2; /* arr2: a second statement's, in the same pipeline */
    /* Keys the last statement returned, and which records claimed them. */
    struct sts_hashmap *seen; /* value: bool claimed */
    struct sts_hashmap *sent; /* keys already put in the arrays */
    /* Per record of the batch being written. */
    struct rec_state *rs;
    size_t rs_cap;
    /* The writer's purge, at most once an hour (as store_sqlite.c). */
    struct timespec last_purge;
    bool purged_once, purge_more;
    int32_t folded_before; /* keep_from of the writer's last complete fold */
};

struct rec_state {
    int32_t day, period, cohort, expires;
    bool fresh;
    bool react; /* an activation of a known device */
};

static struct pg_store *impl(struct store *s)
{
    return (struct pg_store *)s;
}

/* Notices are not logged; but a FATAL one arriving while the connection is
 * idle is the server saying why it is about to close it (a restart, a
 * terminated backend): the connection is reset before its next use. */
static void on_notice(void *arg, const PGresult *res)
{
    struct pg_store *st = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
        st->reset_due = true;
}

/* The message of the last failure on the connection, on one line. */
static void conn_error(const struct pg_store *st, const PGresult *res, char *out, size_t cap)
{
    const char *m = res ? PQresultErrorMessage(res) : "";
    if (!m || !*m)
        m = PQerrorMessage(st->conn);
    snprintf(out, cap, "%s", m && *m ? m : "unknown error");
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    for (char *c = out; *c; c++) /* one log line */
        if (*c == '\n' || *c == '\t')
            *c = ' ';
}

/* Runs sql with text parameters; NULL when it failed (and then the
 * connection is reset before the next use if it was lost). */
static PGresult *run(struct pg_store *st, const char *sql, int n, const char *const *values,
                     const unsigned *types)
{
    PGresult *res = PQexecParams(st->conn, sql, n, types, values, NULL, NULL, 0);
    ExecStatusType t = PQresultStatus(res);
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
        return res;
    if (PQstatus(st->conn) != CONNECTION_OK)
        st->reset_due = true;
    return res; /* the caller checks with ok() and clears */
}

static bool ok(const PGresult *res)
{
    ExecStatusType t = PQresultStatus(res);
    return t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK;
}

/* Runs sql, which may hold several commands (no parameters). */
static bool exec_ok(struct pg_store *st, const char *sql)
{
    PGresult *res = PQexec(st->conn, sql);
    bool good = ok(res);
    if (!good && PQstatus(st->conn) != CONNECTION_OK)
        st->reset_due = true;
    PQclear(res);
    return good;
}

/* Settings of every session, applied again after a reset. */
static bool session_setup(struct pg_store *st)
{
    return exec_ok(st, st->readonly ? "SET default_transaction_read_only = on;"
                                      " SET client_min_messages = warning"
                                    : "SET client_min_messages = warning");
}

/* Before a use: resets a lost connection (libpq tries every host of the URI
 * again). A connection the server closed while it sat idle (a restart, a
 * terminated backend; a handle kept in a pool, a writer without work) has
 * said so on its socket: reading and parsing what is there, which never
 * waits (libpq's socket is non-blocking), finds its FATAL message
 * (on_notice) or the end of the stream now, rather than failing the next
 * statement. */
static bool ensure_conn(struct pg_store *st)
{
    if (!st->reset_due && PQstatus(st->conn) == CONNECTION_OK && PQconsumeInput(st->conn)) {
        PQisBusy(st->conn); /* parses what was read: a FATAL goes to on_notice */
        if (!st->reset_due && PQstatus(st->conn) == CONNECTION_OK)
            return true;
    }
    PQreset(st->conn);
    if (PQpipelineStatus(st->conn) != PQ_PIPELINE_OFF) /* left by a pipeline cut short */
        PQexitPipelineMode(st->conn);
    if (PQstatus(st->conn) != CONNECTION_OK || !session_setup(st))
        return false;
    st->reset_due = false;
    st->prepared = false; /* a new session has none */
    fprintf(stderr, "sts-collector: reconnected to PostgreSQL (%s)\n", PQhost(st->conn));
    return true;
}

static void pg_close(struct store *s)
{
    struct pg_store *st = impl(s);
    if (st->conn)
        PQfinish(st->conn);
    for (size_t i = 0; i < MAX_COLS; i++) {
        free(st->arr.col[i].p);
        free(st->arr2.col[i].p);
    }
    sts_hashmap_free(st->seen);
    sts_hashmap_free(st->sent);
    free(st->rs);
    free(st);
}

/* ---- Writing ---------------------------------------------------------- */

static const unsigned text_array = 1009; /* text[] */

static bool collect_keys(struct pg_store *st, PGresult *res);

/* The writer's statements (below), prepared once per connection: parsed and
 * planned once, not at every batch. */
enum wstmt { W_RID, W_ACT, W_REACT, W_MOVE, W_SALES, W_LIFE, W_N };
static const char *const wname[W_N] = {"sts_rid",  "sts_act",   "sts_react",
                                       "sts_move", "sts_sales", "sts_life"};

/* Runs an INSERT ... RETURNING over the arrays built; the keys returned go
 * to st->seen, their column 0 (and 1 when two) hex and text joined. */
static bool insert_returning(struct pg_store *st, enum wstmt w, PGresult **errres)
{
    const char *values[MAX_COLS];
    if (!arrays_end(&st->arr))
        return false;
    for (size_t i = 0; i < st->arr.ncols; i++)
        values[i] = st->arr.col[i].p;
    sts_hashmap_clear(st->seen);
    PGresult *res = PQexecPrepared(st->conn, wname[w], (int)st->arr.ncols, values, NULL, NULL, 0);
    if (!ok(res)) {
        if (PQstatus(st->conn) != CONNECTION_OK)
            st->reset_due = true;
        *errres = res;
        return false;
    }
    return collect_keys(st, res);
}

/* The keys res returned go to st->seen (see insert_returning); clears res. */
static bool collect_keys(struct pg_store *st, PGresult *res)
{
    bool good = true;
    for (int r = 0; good && r < PQntuples(res); r++) {
        char key[128];
        snprintf(key, sizeof key, "%s/%s", PQgetvalue(res, r, 0),
                 PQnfields(res) > 1 ? PQgetvalue(res, r, 1) : "");
        void *v;
        good = sts_hashmap_put(st->seen, key, strlen(key), &v, NULL) == STS_OK;
    }
    PQclear(res);
    return good;
}

/* Whether key was returned and not yet claimed by an earlier record of the
 * batch: the first record with it gets it. */
static bool claim(struct pg_store *st, const char *key)
{
    bool *claimed = sts_hashmap_get(st->seen, key, strlen(key));
    if (!claimed || *claimed)
        return false;
    *claimed = true;
    return true;
}

/* Adds key to the arrays only once per statement (an INSERT ... ON CONFLICT
 * may not meet one key twice to be unambiguous about who inserted it). */
static bool first_send(struct pg_store *st, const char *key, bool *oom)
{
    bool created = false;
    void *v;
    if (sts_hashmap_put(st->sent, key, strlen(key), &v, &created) != STS_OK)
        *oom = true;
    return created;
}

static void hex_key(const uint8_t *v, size_t n, const char *suffix, char *out, size_t cap)
{
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    sts_hex_encode(v, n, hex);
    snprintf(out, cap, "%s/%s", hex, suffix);
}

static const char ins_rid[] =
    "INSERT INTO report_id(report_id, expires)"
    " SELECT decode(r, 'hex'), e::integer FROM unnest($1::text[], $2::text[]) AS u(r, e)"
    " ORDER BY 1 ON CONFLICT DO NOTHING RETURNING encode(report_id, 'hex')";
static const char ins_act[] =
    "INSERT INTO activation(pseudonym, key_id, month)"
    " SELECT decode(p, 'hex'), k::bigint, m::integer"
    " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(p, k, m)"
    " ORDER BY 1 ON CONFLICT DO NOTHING RETURNING encode(pseudonym, 'hex')";
static const char ins_react[] =
    "INSERT INTO reactivation(pseudonym, month)"
    " SELECT decode(p, 'hex'), m::integer FROM unnest($1::text[], $2::text[]) AS u(p, m)"
    " ORDER BY 1, 2 ON CONFLICT DO NOTHING RETURNING encode(pseudonym, 'hex'), month";
/* Devices new under the current key ($1) looked up under their older keys'
 * pseudonyms ($2), as store_sqlite.c's move_old_keys: an old row found is
 * deleted (its row lock decides against a concurrent erasure), its first
 * month kept if earlier and its re-activation months moved to the current
 * pseudonym; the current pseudonyms of the devices found come back. */
static const char move_old[] =
    "WITH u AS (SELECT decode(n, 'hex') AS n, decode(o, 'hex') AS o"
    " FROM unnest($1::text[], $2::text[]) AS u(n, o)),"
    " d AS (DELETE FROM activation a USING u WHERE a.pseudonym = u.o"
    " RETURNING u.n AS n, u.o AS o, a.month AS month),"
    " m AS (UPDATE activation a SET month = least(a.month, x.month)"
    " FROM (SELECT n, min(month) AS month FROM d GROUP BY n) x WHERE a.pseudonym = x.n),"
    " r AS (DELETE FROM reactivation t USING d WHERE t.pseudonym = d.o"
    " RETURNING d.n AS n, t.month AS month),"
    " i AS (INSERT INTO reactivation SELECT DISTINCT n, month FROM r ORDER BY 1, 2"
    " ON CONFLICT DO NOTHING)"
    " SELECT DISTINCT encode(n, 'hex') FROM d";
/* The counters of the batch, one row per counted report, summed by key. */
static const char up_sales[] =
    "WITH u AS (SELECT d::integer AS d, b, m, s, c, a::bigint AS a, r::bigint AS r"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
    " $7::text[]) AS u(d, b, m, s, c, a, r)),"
    " x AS (INSERT INTO sales_day AS t SELECT d, b, m, s, c, sum(a), sum(r) FROM u"
    " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    " ON CONFLICT(day, brand, model, sw, country) DO UPDATE"
    " SET activations = t.activations + excluded.activations,"
    " reactivations = t.reactivations + excluded.reactivations)"
    " INSERT INTO sales_day_mc AS t SELECT d, m, c, sum(a), sum(r) FROM u"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT(day, model, country) DO UPDATE"
    " SET activations = t.activations + excluded.activations,"
    " reactivations = t.reactivations + excluded.reactivations";
static const char up_life[] =
    "WITH u AS (SELECT p::integer AS p, c::integer AS c, b, m, s, f::integer AS f"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
    " AS u(p, c, b, m, s, f)),"
    " x AS (INSERT INTO lifetime_count AS t SELECT p, c, b, m, f, count(*) FROM u"
    " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    " ON CONFLICT(period, cohort, brand, model, first) DO UPDATE SET count = t.count + "
    "excluded.count),"
    " y AS (INSERT INTO life_model AS t SELECT p, c, m, f, count(*) FROM u"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    " ON CONFLICT(period, cohort, model, first) DO UPDATE SET count = t.count + excluded.count)"
    " INSERT INTO version_count AS t SELECT p, b, m, s, count(*) FROM u"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    " ON CONFLICT(period, brand, model, sw) DO UPDATE SET count = t.count + excluded.count";

/* Prepares the writer's statements on a connection that has none. */
static bool prepare_writer(struct pg_store *st, PGresult **errres)
{
    static const char *const sql[W_N] = {ins_rid, ins_act, ins_react, move_old, up_sales, up_life};
    for (int w = 0; !st->prepared && w < W_N; w++) {
        PGresult *res = PQprepare(st->conn, wname[w], sql[w], 0, NULL);
        if (!ok(res)) {
            if (PQstatus(st->conn) != CONNECTION_OK)
                st->reset_due = true;
            else
                exec_ok(st, "DEALLOCATE ALL"); /* the next try prepares them all again */
            *errres = res;
            return false;
        }
        PQclear(res);
    }
    st->prepared = true;
    return true;
}

/* One statement of a pipeline: a prepared one (name) or plain SQL without
 * parameters. */
struct stmt {
    const char *name, *sql;
    int n;
    const char *values[MAX_COLS];
};

/* The arrays built as the parameters of one pipelined statement. The
 * arrays' buffers must stay as they are until the pipeline has been sent. */
static bool stmt_arrays(struct arrays *a, enum wstmt w, struct stmt *out)
{
    if (!arrays_end(a))
        return false;
    out->name = wname[w];
    out->sql = NULL;
    out->n = (int)a->ncols;
    for (size_t i = 0; i < a->ncols; i++)
        out->values[i] = a->col[i].p;
    return true;
}

/* Sends n statements at once in pipeline mode (libpq 14) and reads their
 * results: one round trip instead of n, for statements that do not need
 * each other's results (BEGIN and the first insert; the counters and
 * COMMIT, which also shortens the time a batch holds the counters' row
 * locks, the part concurrent writers wait on). keep, if not NULL, gets the
 * last statement's result (the caller clears it). A failed statement makes
 * the server skip the rest (PGRES_PIPELINE_ABORTED) up to the sync;
 * *errres gets the first failure. Leaves the connection out of pipeline
 * mode, whatever happens. */
static bool run_pipeline(struct pg_store *st, const struct stmt *stmts, size_t n, PGresult **keep,
                         PGresult **errres)
{
    bool good = PQenterPipelineMode(st->conn) == 1;
    size_t sent = 0;
    while (good && sent < n) {
        const struct stmt *t = &stmts[sent];
        good = (t->name ? PQsendQueryPrepared(st->conn, t->name, t->n, t->values, NULL, NULL, 0)
                        : PQsendQueryParams(st->conn, t->sql, 0, NULL, NULL, NULL, NULL, 0)) == 1;
        sent += good;
    }
    if (PQpipelineSync(st->conn) != 1)
        good = false, sent = 0; /* nothing will come back */
    for (size_t i = 0; i < sent; i++) {
        PGresult *res = PQgetResult(st->conn);
        if (!res) { /* the connection failed */
            good = false;
            break;
        }
        if (!ok(res)) {
            if (good && PQresultStatus(res) != PGRES_PIPELINE_ABORTED)
                *errres = res, res = NULL;
            good = false;
        } else if (keep && i == n - 1) {
            *keep = res, res = NULL;
        }
        PQclear(res);
        while ((res = PQgetResult(st->conn))) /* the end of this statement's results */
            PQclear(res);
    }
    /* Up to the sync, so that the connection takes plain statements again. */
    for (PGresult *res; PQstatus(st->conn) == CONNECTION_OK && (res = PQgetResult(st->conn));) {
        bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (sync)
            break;
    }
    if (PQexitPipelineMode(st->conn) != 1 || PQstatus(st->conn) != CONNECTION_OK) {
        st->reset_due = true;
        good = false;
    }
    if (!good && keep && *keep) {
        PQclear(*keep);
        *keep = NULL;
    }
    return good;
}

/* Where r is counted and until when its id is kept (as store_sqlite.c). */
static void place(const struct pg_store *st, const struct store_record *r, int32_t today,
                  struct rec_state *x)
{
    const struct store_policy *pol = &st->base.policy;
    if (pol->late_shift) {
        store_counted_at(r, today, pol->grace_days, &x->day, &x->period, &x->cohort);
    } else {
        x->day = r->day;
        x->period = r->period;
        x->cohort = r->cohort;
    }
    if (r->type == STS_REPORT_ACTIVATION) {
        x->expires = today + pol->report_id_days;
    } else {
        x->expires = sts_month_first_day(x->period + 1) - 1 + pol->grace_days;
        if (x->expires < today + pol->grace_days)
            x->expires = today + pol->grace_days;
    }
    x->fresh = x->react = false;
}

/* One attempt at the batch, inside BEGIN ... COMMIT. false: failed (*errres
 * may hold the failed result, for its message and SQLSTATE). */
static bool write_once(struct pg_store *st, struct store_record *const *recs, size_t n,
                       int32_t today, PGresult **errres)
{
    struct arrays *a = &st->arr;
    char key[128];
    bool oom = false;
    size_t i;
    for (i = 0; i < n; i++) {
        recs[i]->outcome = STORE_PENDING;
        place(st, recs[i], today, &st->rs[i]);
    }
    /* 1. Report ids: a kept one is a duplicate. BEGIN goes with them. */
    arrays_start(a, 2);
    sts_hashmap_clear(st->sent);
    for (i = 0; i < n; i++) {
        hex_key(recs[i]->report_id, 16, "", key, sizeof key);
        if (first_send(st, key, &oom)) {
            buf_hex(&a->col[0], recs[i]->report_id, 16);
            buf_int(&a->col[1], st->rs[i].expires);
        }
    }
    struct stmt first[2] = {{.sql = "BEGIN"}};
    PGresult *rid = NULL;
    if (oom || !prepare_writer(st, errres) || !stmt_arrays(a, W_RID, &first[1]))
        return false;
    sts_hashmap_clear(st->seen);
    if (!run_pipeline(st, first, 2, &rid, errres) || !collect_keys(st, rid))
        return false;
    for (i = 0; i < n; i++) {
        hex_key(recs[i]->report_id, 16, "", key, sizeof key);
        st->rs[i].fresh = claim(st, key);
        if (!st->rs[i].fresh)
            recs[i]->outcome = STORE_DUPLICATE;
    }
    /* 2. Devices of fresh activations: inserted means new. */
    arrays_start(a, 3);
    sts_hashmap_clear(st->sent);
    size_t acts = 0;
    for (i = 0; i < n; i++) {
        if (recs[i]->type != STS_REPORT_ACTIVATION || !st->rs[i].fresh)
            continue;
        acts++;
        hex_key(recs[i]->pseudonym, STS_PSEUDONYM_LEN, "", key, sizeof key);
        if (first_send(st, key, &oom)) {
            buf_hex(&a->col[0], recs[i]->pseudonym, STS_PSEUDONYM_LEN);
            buf_int(&a->col[1], recs[i]->key_id);
            buf_int(&a->col[2], sts_day_month(st->rs[i].day));
        }
    }
    if (oom || (acts && !insert_returning(st, W_ACT, errres)))
        return false;
    size_t reacts = 0, olds = 0;
    for (i = 0; acts && i < n; i++) {
        if (recs[i]->type != STS_REPORT_ACTIVATION || !st->rs[i].fresh)
            continue;
        hex_key(recs[i]->pseudonym, STS_PSEUDONYM_LEN, "", key, sizeof key);
        if (claim(st, key)) {
            recs[i]->outcome = STORE_NEW;
            olds += recs[i]->n_old;
        } else {
            recs[i]->outcome = STORE_REACTIVATION;
            st->rs[i].react = true;
            reacts++;
        }
    }
    /* 2b. New under the current key: known under an older one? */
    if (olds) {
        arrays_start(a, 2);
        sts_hashmap_clear(st->sent);
        for (i = 0; i < n; i++) {
            if (recs[i]->outcome != STORE_NEW || recs[i]->type != STS_REPORT_ACTIVATION)
                continue;
            for (size_t k = 0; k < recs[i]->n_old; k++) {
                hex_key(recs[i]->old_pseudonym[k], STS_PSEUDONYM_LEN, "", key, sizeof key);
                if (first_send(st, key, &oom)) {
                    buf_hex(&a->col[0], recs[i]->pseudonym, STS_PSEUDONYM_LEN);
                    buf_hex(&a->col[1], recs[i]->old_pseudonym[k], STS_PSEUDONYM_LEN);
                }
            }
        }
        if (oom || !insert_returning(st, W_MOVE, errres))
            return false;
        for (i = 0; i < n; i++) {
            if (recs[i]->outcome != STORE_NEW || recs[i]->type != STS_REPORT_ACTIVATION ||
                !recs[i]->n_old)
                continue;
            hex_key(recs[i]->pseudonym, STS_PSEUDONYM_LEN, "", key, sizeof key);
            if (claim(st, key)) {
                recs[i]->outcome = STORE_REACTIVATION;
                st->rs[i].react = true;
                reacts++;
            }
        }
    }
    /* 3. Re-activations: counted once a device and month. */
    arrays_start(a, 2);
    sts_hashmap_clear(st->sent);
    for (i = 0; reacts && i < n; i++) {
        if (!st->rs[i].react)
            continue;
        char month[16];
        snprintf(month, sizeof month, "%d", (int)sts_day_month(st->rs[i].day));
        hex_key(recs[i]->pseudonym, STS_PSEUDONYM_LEN, month, key, sizeof key);
        if (first_send(st, key, &oom)) {
            buf_hex(&a->col[0], recs[i]->pseudonym, STS_PSEUDONYM_LEN);
            buf_elem(&a->col[1], month);
        }
    }
    if (oom || (reacts && !insert_returning(st, W_REACT, errres)))
        return false;
    for (i = 0; reacts && i < n; i++) {
        if (!st->rs[i].react)
            continue;
        char month[16];
        snprintf(month, sizeof month, "%d", (int)sts_day_month(st->rs[i].day));
        hex_key(recs[i]->pseudonym, STS_PSEUDONYM_LEN, month, key, sizeof key);
        st->rs[i].react = claim(st, key); /* now: counted */
    }
    /* 4. The counters and COMMIT, at once: the counters of sales in one set
     * of arrays, of lifetime pings in the other. */
    struct stmt last[3];
    size_t nlast = 0;
    arrays_start(a, 7);
    for (i = 0; i < n; i++) {
        const struct store_record *r = recs[i];
        if (r->type != STS_REPORT_ACTIVATION ||
            !(r->outcome == STORE_NEW || (r->outcome == STORE_REACTIVATION && st->rs[i].react)))
            continue;
        a->rows++;
        buf_int(&a->col[0], st->rs[i].day);
        buf_elem(&a->col[1], r->brand);
        buf_elem(&a->col[2], r->model);
        buf_elem(&a->col[3], r->sw);
        buf_elem(&a->col[4], r->country);
        buf_int(&a->col[5], r->outcome == STORE_NEW);
        buf_int(&a->col[6], r->outcome == STORE_REACTIVATION);
    }
    if (a->rows && !stmt_arrays(a, W_SALES, &last[nlast++]))
        return false;
    a = &st->arr2;
    arrays_start(a, 6);
    for (i = 0; i < n; i++) {
        struct store_record *r = recs[i];
        if (r->type == STS_REPORT_ACTIVATION || !st->rs[i].fresh)
            continue;
        r->outcome = STORE_NEW;
        a->rows++;
        buf_int(&a->col[0], st->rs[i].period);
        buf_int(&a->col[1], st->rs[i].cohort);
        buf_elem(&a->col[2], r->brand);
        buf_elem(&a->col[3], r->model);
        buf_elem(&a->col[4], r->sw);
        buf_int(&a->col[5], r->first ? 1 : 0);
    }
    if (a->rows && !stmt_arrays(a, W_LIFE, &last[nlast++]))
        return false;
    last[nlast++] = (struct stmt){.sql = "COMMIT"};
    return run_pipeline(st, last, nlast, NULL, errres);
}

static int32_t purge_ids(struct pg_store *st, int32_t today, int64_t max, bool *good)
{
    char t[16], m[24];
    snprintf(t, sizeof t, "%d", (int)today);
    snprintf(m, sizeof m, "%lld", (long long)max);
    const char *v[2] = {t, m};
    PGresult *res = run(st,
                        "DELETE FROM report_id WHERE report_id IN"
                        " (SELECT report_id FROM report_id WHERE expires < $1::integer"
                        " LIMIT $2::bigint)",
                        2, v, NULL);
    *good = ok(res);
    int32_t n = *good ? (int32_t)strtol(PQcmdTuples(res), NULL, 10) : 0;
    PQclear(res);
    return n;
}

#define PURGE_BATCH    5000
#define PURGE_PERIOD_S 3600

static bool fold_rows(struct pg_store *st, int32_t keep_from, int64_t max, bool dry_run,
                      struct store_folded *out);

/* With the purge: device rows past the policy's retention are folded, in
 * their own transaction (as store_sqlite.c's writer_purge). Rows only
 * become foldable when the month turns: after one complete fold the next
 * waits for the next month (or a restart). */
static void writer_fold(struct pg_store *st, int32_t today)
{
    int retention = st->base.policy.retention_months;
    int32_t keep_from = sts_day_month(today) - retention;
    struct store_folded f = {0, 0};
    if (retention <= 0 || keep_from == st->folded_before ||
        !fold_rows(st, keep_from, PURGE_BATCH, false, &f))
        return;
    bool more = f.activations == PURGE_BATCH || f.reactivations == PURGE_BATCH;
    if (!more)
        st->folded_before = keep_from;
    st->purge_more |= more;
}

/* After a commit: the hourly purge, its own transaction. */
static void writer_purge(struct pg_store *st, int32_t today)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (st->purged_once && !st->purge_more && now.tv_sec - st->last_purge.tv_sec < PURGE_PERIOD_S)
        return;
    st->last_purge = now;
    st->purged_once = true;
    bool good;
    int32_t n = purge_ids(st, today, PURGE_BATCH, &good);
    st->purge_more = good && n == PURGE_BATCH;
    writer_fold(st, today);
}

/* SQLSTATEs after which the same batch may simply be tried again. */
static bool retryable(const PGresult *res)
{
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return code && (strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0);
}

static enum sts_err pg_write(struct store *s, struct store_record *const *recs, size_t n)
{
    struct pg_store *st = impl(s);
    char msg[512] = "cannot reach the database";
    PGresult *errres = NULL;
    if (n > st->rs_cap) {
        struct rec_state *rs = realloc(st->rs, n * sizeof *rs);
        if (!rs)
            goto fail;
        st->rs = rs;
        st->rs_cap = n;
    }
    if (!ensure_conn(st)) {
        conn_error(st, NULL, msg, sizeof msg);
        goto fail;
    }
    if (n == 0) {
        /* The probe: committing needs a primary, not a standby. */
        PGresult *res = run(st, "SELECT pg_is_in_recovery()", 0, NULL, NULL);
        bool primary = ok(res) && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 'f';
        PQclear(res);
        if (primary && !st->readonly)
            return STS_OK;
        if (!primary)
            st->reset_due = true; /* a standby now: look for the primary */
        snprintf(msg, sizeof msg, "%s",
                 st->readonly ? "read-only store" : "the server is not a primary");
        goto fail;
    }
    int32_t today = sts_day_today();
    for (int attempt = 0; attempt < 3; attempt++) {
        PQclear(errres);
        errres = NULL;
        if (write_once(st, recs, n, today, &errres)) {
            writer_purge(st, today);
            return STS_OK;
        }
        conn_error(st, errres, msg, sizeof msg);
        if (PQstatus(st->conn) == CONNECTION_OK)
            exec_ok(st, "ROLLBACK");
        else
            st->reset_due = true;
        if (!retryable(errres))
            break;
    }
fail:
    PQclear(errres);
    fprintf(stderr, "sts-collector: database write failed: %s\n", msg);
    for (size_t i = 0; i < n; i++)
        recs[i]->outcome = STORE_FAILED;
    return STS_EIO;
}

/* ---- Reading ---------------------------------------------------------- */

/* Runs a read with the range and the filters as $1..$6. */
static PGresult *read_query(struct pg_store *st, const char *sql, int32_t from, int32_t to,
                            const char *const filter[4])
{
    static const unsigned types[6] = {23, 23, 25, 25, 25, 25}; /* int4, text */
    char f[16], t[16];
    snprintf(f, sizeof f, "%d", (int)from);
    snprintf(t, sizeof t, "%d", (int)to);
    const char *v[6] = {f, t, filter[0], filter[1], filter[2], filter[3]};
    if (!ensure_conn(st))
        return NULL;
    PGresult *res = run(st, sql, 6, v, types);
    if (!ok(res)) {
        PQclear(res);
        return NULL;
    }
    return res;
}

static int64_t num(const PGresult *res, int r, int c)
{
    return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

static enum sts_err sales_rows(struct pg_store *st, const char *sql, int32_t from, int32_t to,
                               const char *const filter[4], store_sales_cb cb, void *ctx)
{
    PGresult *res = read_query(st, sql, from, to, filter);
    if (!res)
        return STS_EIO;
    for (int r = 0; r < PQntuples(res); r++) {
        struct store_sales_row row = {
            .day = (int32_t)num(res, r, 0),
            .brand = PQgetvalue(res, r, 1),
            .model = PQgetvalue(res, r, 2),
            .sw = PQgetvalue(res, r, 3),
            .country = PQgetvalue(res, r, 4),
            .activations = num(res, r, 5),
            .reactivations = num(res, r, 6),
        };
        if (cb(&row, ctx) != 0)
            break;
    }
    PQclear(res);
    return STS_OK;
}

static enum sts_err pg_sales(struct store *s, int32_t from, int32_t to, store_sales_cb cb,
                             void *ctx)
{
    static const char *const no_filter[4] = {NULL, NULL, NULL, NULL};
    return sales_rows(impl(s),
                      "SELECT day, brand, model, sw, country, activations, reactivations"
                      " FROM sales_day WHERE day BETWEEN $1 AND $2 ORDER BY day",
                      from, to, no_filter, cb, ctx);
}

static enum sts_err pg_sales_sum(struct store *s, const struct store_query *q, store_sales_cb cb,
                                 void *ctx)
{
    static const char *const full[4] = {"brand", "model", "sw", "country"};
    static const char *const mc[4] = {"''", "model", "''", "country"};
    bool narrow = !(store_needed_dims(q) & (STORE_DIM_BRAND | STORE_DIM_SW));
    char sql[1024];
    if (q->from > q->to)
        return STS_OK;
    store_sum_sql(sql, sizeof sql, '$', "day", q->grain == STORE_ALL,
                  narrow ? "sales_day_mc" : "sales_day", "day", narrow ? mc : full, q->dims,
                  q->filter, "sum(activations), sum(reactivations)");
    return sales_rows(impl(s), sql, q->from, q->to, q->filter, cb, ctx);
}

static enum sts_err pg_lifetime_sum(struct store *s, const struct store_query *q, store_life_cb cb,
                                    void *ctx)
{
    static const char *const full[4] = {"brand", "model", "''", "''"};
    static const char *const by_model[4] = {"''", "model", "''", "''"};
    unsigned need = store_needed_dims(q);
    char sql[1024];
    if (need & (STORE_DIM_SW | STORE_DIM_COUNTRY))
        return STS_EUNSUPPORTED; /* no counter ties a version or a country to a cohort */
    bool narrow = !(need & ~STORE_DIM_MODEL);
    store_sum_sql(sql, sizeof sql, '$', "period, cohort, first", false,
                  narrow ? "life_model" : "lifetime_count", "period", narrow ? by_model : full,
                  q->dims, q->filter, "sum(count)");
    PGresult *res = read_query(impl(s), sql, q->from, q->to, q->filter);
    if (!res)
        return STS_EIO;
    for (int r = 0; r < PQntuples(res); r++) {
        struct store_life_row row = {
            .period = (int32_t)num(res, r, 0),
            .cohort = (int32_t)num(res, r, 1),
            .first = num(res, r, 2) != 0,
            .brand = PQgetvalue(res, r, 3),
            .model = PQgetvalue(res, r, 4),
            .sw = PQgetvalue(res, r, 5),
            .country = PQgetvalue(res, r, 6),
            .count = num(res, r, 7),
        };
        if (cb(&row, ctx) != 0)
            break;
    }
    PQclear(res);
    return STS_OK;
}

static enum sts_err pg_versions_sum(struct store *s, const struct store_query *q,
                                    store_version_cb cb, void *ctx)
{
    static const char *const by_sw[4] = {"brand", "model", "sw", "''"};
    char sql[1024];
    if (store_needed_dims(q) & STORE_DIM_COUNTRY)
        return STS_EUNSUPPORTED; /* a ping carries no country */
    store_sum_sql(sql, sizeof sql, '$', "period", false, "version_count", "period", by_sw, q->dims,
                  q->filter, "sum(count)");
    PGresult *res = read_query(impl(s), sql, q->from, q->to, q->filter);
    if (!res)
        return STS_EIO;
    for (int r = 0; r < PQntuples(res); r++) {
        struct store_version_row row = {
            .period = (int32_t)num(res, r, 0),
            .brand = PQgetvalue(res, r, 1),
            .model = PQgetvalue(res, r, 2),
            .sw = PQgetvalue(res, r, 3),
            .count = num(res, r, 5),
        };
        if (cb(&row, ctx) != 0)
            break;
    }
    PQclear(res);
    return STS_OK;
}

/* ---- Devices, audit, release ------------------------------------------ */

static enum sts_err pg_device_get(struct store *s, const uint8_t *pseudonym,
                                  struct store_device *out)
{
    struct pg_store *st = impl(s);
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    sts_hex_encode(pseudonym, STS_PSEUDONYM_LEN, hex);
    const char *v[1] = {hex};
    if (!ensure_conn(st))
        return STS_EIO;
    /* One statement: one snapshot for the device and its re-activations. */
    PGresult *res = run(st,
                        "SELECT a.key_id, a.month, r.month FROM activation a"
                        " LEFT JOIN reactivation r ON r.pseudonym = a.pseudonym"
                        " WHERE a.pseudonym = decode($1, 'hex') ORDER BY r.month",
                        1, v, NULL);
    if (!ok(res)) {
        PQclear(res);
        return STS_EIO;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return STS_ENOENT;
    }
    memset(out, 0, sizeof *out);
    out->key_id = (uint32_t)num(res, 0, 0);
    out->month = (int32_t)num(res, 0, 1);
    for (int r = 0; r < rows; r++) {
        if (PQgetisnull(res, r, 2))
            continue;
        if (out->reactivations < STORE_MAX_REACT_MONTHS)
            out->react_month[out->reactivations] = (int32_t)num(res, r, 2);
        out->reactivations++;
    }
    PQclear(res);
    return STS_OK;
}

static enum sts_err pg_device_erase(struct store *s, const uint8_t *pseudonym, int64_t *erased)
{
    struct pg_store *st = impl(s);
    static const char *const sql[] = {
        "DELETE FROM activation WHERE pseudonym = decode($1, 'hex')",
        "DELETE FROM reactivation WHERE pseudonym = decode($1, 'hex')"};
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    sts_hex_encode(pseudonym, STS_PSEUDONYM_LEN, hex);
    const char *v[1] = {hex};
    int64_t total = 0;
    if (!ensure_conn(st) || !exec_ok(st, "BEGIN"))
        return STS_EIO;
    for (size_t i = 0; i < 2; i++) {
        PGresult *res = run(st, sql[i], 1, v, NULL);
        bool good = ok(res);
        if (good)
            total += strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        if (!good)
            goto fail;
    }
    if (!exec_ok(st, "COMMIT"))
        goto fail;
    *erased = total;
    return STS_OK;
fail:
    exec_ok(st, "ROLLBACK");
    return STS_EIO;
}

static enum sts_err pg_purge(struct store *s, int64_t max, int64_t *purged)
{
    struct pg_store *st = impl(s);
    bool good = false;
    *purged = 0;
    if (!ensure_conn(st))
        return STS_EIO;
    int32_t n = purge_ids(st, sts_day_today(), max, &good);
    if (!good)
        return STS_EIO;
    *purged = n;
    return STS_OK;
}

static enum sts_err pg_audit(struct store *s, struct store_audit *out)
{
    struct pg_store *st = impl(s);
    char today[16];
    snprintf(today, sizeof today, "%d", (int)sts_day_today());
    const char *v[1] = {today};
    if (!ensure_conn(st))
        return STS_EIO;
    PGresult *res = run(st,
                        "SELECT (SELECT count(*) FROM activation),"
                        " (SELECT count(*) FROM reactivation), (SELECT count(*) FROM sales_day),"
                        " (SELECT count(*) FROM lifetime_count),"
                        " (SELECT count(*) FROM version_count), (SELECT count(*) FROM report_id),"
                        " (SELECT count(*) FROM report_id WHERE expires < $1::integer),"
                        " (SELECT count(DISTINCT key_id) FROM activation)",
                        1, v, NULL);
    if (!ok(res) || PQntuples(res) != 1) {
        PQclear(res);
        return STS_EIO;
    }
    out->devices = num(res, 0, 0);
    out->reactivations = num(res, 0, 1);
    out->sales_cells = num(res, 0, 2);
    out->lifetime_cells = num(res, 0, 3);
    out->version_cells = num(res, 0, 4);
    out->report_ids = num(res, 0, 5);
    out->report_ids_due = num(res, 0, 6);
    out->pings_seen = out->report_ids;
    out->key_ids = num(res, 0, 7);
    PQclear(res);
    return STS_OK;
}

static enum sts_err class_count(struct pg_store *st, const char *groups, long k,
                                struct store_class_count *out)
{
    char sql[640], kk[24];
    snprintf(sql, sizeof sql,
             "SELECT count(*), coalesce(sum((n < $1::bigint)::integer), 0),"
             " coalesce(sum((n = 1)::integer), 0), coalesce(min(n), 0) FROM (%s) g WHERE n > 0",
             groups);
    snprintf(kk, sizeof kk, "%ld", k);
    const char *v[1] = {kk};
    PGresult *res = run(st, sql, 1, v, NULL);
    if (!ok(res) || PQntuples(res) != 1) {
        PQclear(res);
        return STS_EIO;
    }
    out->total = num(res, 0, 0);
    out->under_k = num(res, 0, 1);
    out->singles = num(res, 0, 2);
    out->smallest = num(res, 0, 3);
    PQclear(res);
    return STS_OK;
}

static enum sts_err pg_classes(struct store *s, long k, struct store_classes *out)
{
    struct pg_store *st = impl(s);
    enum sts_err e;
    memset(out, 0, sizeof *out);
    if (!ensure_conn(st))
        return STS_EIO;
    for (size_t i = 0; i < STORE_CLASS_QUERIES; i++) {
        const struct store_class_query *c = &store_class_queries[i];
        if ((e = class_count(st, c->sql, k,
                             (struct store_class_count *)((char *)out + c->offset))) != STS_OK)
            return e;
    }
    return STS_OK;
}

static enum sts_err pg_release_get(struct store *s, struct store_release *out)
{
    struct pg_store *st = impl(s);
    bool seed = false;
    memset(out, 0, sizeof *out);
    if (!ensure_conn(st))
        return STS_EIO;
    PGresult *res = run(st,
                        "SELECT name, CASE WHEN name = 'rho' THEN convert_from(value, 'UTF8')"
                        " ELSE encode(value, 'hex') END FROM release_meta",
                        0, NULL, NULL);
    if (!ok(res)) {
        PQclear(res);
        return STS_EIO;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = PQgetvalue(res, r, 0), *value = PQgetvalue(res, r, 1);
        if (strcmp(name, "seed") == 0 &&
            sts_hex_decode(value, strlen(value), out->seed, STORE_SEED_LEN) == STS_OK)
            seed = true;
        else if (strcmp(name, "rho") == 0)
            out->rho = strtod(value, NULL);
    }
    PQclear(res);
    return seed ? STS_OK : STS_ECORRUPT;
}

static enum sts_err pg_release_set_rho(struct store *s, double rho)
{
    struct pg_store *st = impl(s);
    char v[40];
    snprintf(v, sizeof v, "%.17g", rho);
    const char *p[1] = {v};
    if (!ensure_conn(st))
        return STS_EIO;
    PGresult *res = run(st,
                        "INSERT INTO release_meta VALUES('rho', convert_to($1, 'UTF8'))"
                        " ON CONFLICT DO NOTHING",
                        1, p, NULL);
    bool good = ok(res);
    PQclear(res);
    return good ? STS_OK : STS_EIO;
}

/* ---- Data protection (store.h) ---------------------------------------- */

/* The n pseudonyms as one text[] parameter of hex strings in st->arr. */
static bool pseudonym_array(struct pg_store *st, const uint8_t *pseudonyms, size_t n)
{
    arrays_start(&st->arr, 1);
    for (size_t i = 0; i < n; i++)
        buf_hex(&st->arr.col[0], pseudonyms + i * STS_PSEUDONYM_LEN, STS_PSEUDONYM_LEN);
    return arrays_end(&st->arr);
}

/* Its own transaction, under the lock a fold takes (see fold_rows): the
 * batches in progress commit first and the deletion's snapshot sees them,
 * so a device moving from an older key to the current one meanwhile is
 * erased under the current one, never missed. Both tables in one
 * statement. The deleted tuples stay in the pages until VACUUM and in the
 * WAL and backups until their horizons (docs/PRIVACY.md): PostgreSQL has no
 * secure_delete. */
static enum sts_err pg_device_erase_all(struct store *s, const uint8_t *pseudonyms, size_t n,
                                        struct store_erased *out)
{
    struct pg_store *st = impl(s);
    if (!ensure_conn(st) || !pseudonym_array(st, pseudonyms, n))
        return STS_EIO;
    if (!exec_ok(st, "BEGIN") || !exec_ok(st, "LOCK TABLE activation IN SHARE ROW EXCLUSIVE MODE"))
        goto fail;
    const char *v[1] = {st->arr.col[0].p};
    PGresult *res = run(st,
                        "WITH u AS (SELECT decode(p, 'hex') AS p FROM unnest($1::text[]) AS u(p)),"
                        " r AS (DELETE FROM reactivation WHERE pseudonym IN (SELECT p FROM u)"
                        " RETURNING 1),"
                        " a AS (DELETE FROM activation WHERE pseudonym IN (SELECT p FROM u)"
                        " RETURNING 1)"
                        " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM r)",
                        1, v, &text_array);
    bool good = ok(res) && PQntuples(res) == 1;
    if (good) {
        out->activations = num(res, 0, 0);
        out->reactivations = num(res, 0, 1);
    }
    PQclear(res);
    if (good && exec_ok(st, "COMMIT"))
        return STS_OK;
fail:
    exec_ok(st, "ROLLBACK");
    out->activations = out->reactivations = 0;
    return STS_EIO;
}

static enum sts_err pg_key_use(struct store *s, struct store_key_use *out, size_t cap, size_t *n)
{
    struct pg_store *st = impl(s);
    if (!ensure_conn(st))
        return STS_EIO;
    PGresult *res = run(st,
                        "SELECT a.key_id, count(DISTINCT a.pseudonym), count(r.month)"
                        " FROM activation a LEFT JOIN reactivation r USING(pseudonym)"
                        " GROUP BY a.key_id ORDER BY a.key_id",
                        0, NULL, NULL);
    if (!ok(res)) {
        PQclear(res);
        return STS_EIO;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        if (*n < cap) {
            out[*n].key_id = (uint32_t)num(res, r, 0);
            out[*n].devices = num(res, r, 1);
            out[*n].reactivations = num(res, r, 2);
        }
        (*n)++;
    }
    PQclear(res);
    return STS_OK;
}

/* The rows a fold takes (as store_sqlite.c's): activation rows of devices
 * not seen since keep_from, and the older re-activation rows. $1 =
 * keep_from, $2 = max. */
#define FOLD_ACT                                                                                   \
    "SELECT pseudonym FROM activation a WHERE month < $1::integer AND NOT EXISTS"                  \
    " (SELECT 1 FROM reactivation r WHERE r.pseudonym = a.pseudonym"                               \
    " AND r.month >= $1::integer) LIMIT $2::bigint"
#define FOLD_REACT                                                                                 \
    "SELECT pseudonym, month FROM reactivation WHERE month < $1::integer LIMIT $2::bigint"

/* One fold (see store_fold), its own transaction. The deletion first takes
 * a SHARE ROW EXCLUSIVE lock on activation, which waits for the writers in
 * progress and holds off new ones (readers go on) until the fold commits:
 * every writer's insert or re-activation of a device touches activation
 * first, so no device re-activated by a concurrent batch is judged unseen
 * from an older snapshot. Both deletions are one statement, one snapshot,
 * which is what SQLite's order of the two gives. */
static bool fold_rows(struct pg_store *st, int32_t keep_from, int64_t max, bool dry_run,
                      struct store_folded *out)
{
    char k[16], m[24];
    snprintf(k, sizeof k, "%d", (int)keep_from);
    snprintf(m, sizeof m, "%lld", (long long)max);
    const char *v[2] = {k, m};
    if (!dry_run && (!exec_ok(st, "BEGIN") ||
                     !exec_ok(st, "LOCK TABLE activation IN SHARE ROW EXCLUSIVE MODE")))
        goto fail;
    PGresult *res =
        run(st,
            dry_run ? "SELECT (SELECT count(*) FROM (" FOLD_ACT ") x),"
                      " (SELECT count(*) FROM (" FOLD_REACT ") y)"
                    : "WITH a AS (DELETE FROM activation WHERE pseudonym IN (" FOLD_ACT
                      ") RETURNING 1),"
                      " r AS (DELETE FROM reactivation WHERE (pseudonym, month) IN (" FOLD_REACT
                      ") RETURNING 1)"
                      " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM r)",
            2, v, NULL);
    bool good = ok(res) && PQntuples(res) == 1;
    if (good) {
        out->activations = num(res, 0, 0);
        out->reactivations = num(res, 0, 1);
    }
    PQclear(res);
    if (!good || (!dry_run && !exec_ok(st, "COMMIT")))
        goto fail;
    return true;
fail:
    if (!dry_run)
        exec_ok(st, "ROLLBACK");
    memset(out, 0, sizeof *out);
    return false;
}

static enum sts_err pg_fold(struct store *s, int32_t keep_from, int64_t max, bool dry_run,
                            struct store_folded *out)
{
    struct pg_store *st = impl(s);
    if (!ensure_conn(st))
        return STS_EIO;
    return fold_rows(st, keep_from, max, dry_run, out) ? STS_OK : STS_EIO;
}

/* The catalogue of the current schema as the server has it now; sts_schema
 * (the schema version, SQLite's user_version) is the backend's own table,
 * left out as SQLite's internal tables are. Names in byte order, as
 * SQLite's. */
static enum sts_err pg_columns(struct store *s, struct store_column **out, size_t *n)
{
    struct pg_store *st = impl(s);
    if (!ensure_conn(st))
        return STS_EIO;
    PGresult *res = run(st,
                        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                        " JOIN information_schema.tables t USING (table_schema, table_name)"
                        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
                        " AND c.table_name <> 'sts_schema'"
                        " ORDER BY c.table_name::text COLLATE \"C\", c.ordinal_position",
                        0, NULL, NULL);
    if (!ok(res)) {
        PQclear(res);
        return STS_EIO;
    }
    size_t rows = (size_t)PQntuples(res);
    if (rows) {
        *out = calloc(rows, sizeof **out);
        if (!*out) {
            PQclear(res);
            return STS_ENOMEM;
        }
    }
    for (size_t r = 0; r < rows; r++) {
        snprintf((*out)[r].table, sizeof(*out)[r].table, "%s", PQgetvalue(res, (int)r, 0));
        snprintf((*out)[r].column, sizeof(*out)[r].column, "%s", PQgetvalue(res, (int)r, 1));
    }
    *n = rows;
    PQclear(res);
    return STS_OK;
}

static const struct store_ops pg_ops = {
    .close = pg_close,
    .write = pg_write,
    .sales = pg_sales,
    .sales_sum = pg_sales_sum,
    .lifetime_sum = pg_lifetime_sum,
    .versions_sum = pg_versions_sum,
    .device_get = pg_device_get,
    .device_erase = pg_device_erase,
    .audit = pg_audit,
    .release_get = pg_release_get,
    .release_set_rho = pg_release_set_rho,
    .purge = pg_purge,
    .classes = pg_classes,
    .device_erase_all = pg_device_erase_all,
    .key_use = pg_key_use,
    .fold = pg_fold,
    .columns = pg_columns,
    .deleted_rows =
        "deleted rows (erasures, folds, purged report ids, a device's row under an older key) "
        "are not overwritten: PostgreSQL keeps them as dead tuples in the table and index "
        "pages until VACUUM, which STS does not run (run VACUUM activation, reactivation after "
        "erasures, or lower their autovacuum_vacuum_scale_factor; VACUUM FULL rewrites the "
        "pages), in the WAL until its segments are recycled and archived WAL expires, on "
        "standbys, and in base backups until their horizons: the erasure is complete only "
        "when all of them have passed (docs/PRIVACY.md)",
};

/* ---- Opening ---------------------------------------------------------- */

/* The release seed (as store_sqlite.c: STS_TEST_RELEASE_SEED fixes it for
 * tests), inserted if absent. */
static bool release_seed_create(struct pg_store *st)
{
    uint8_t seed[STORE_SEED_LEN];
    char hex[2 * STORE_SEED_LEN + 1];
    if (store_seed_make(seed) != STS_OK)
        return false;
    sts_hex_encode(seed, sizeof seed, hex);
    OPENSSL_cleanse(seed, sizeof seed);
    const char *v[1] = {hex};
    PGresult *res = run(st,
                        "INSERT INTO release_meta VALUES('seed', decode($1, 'hex'))"
                        " ON CONFLICT DO NOTHING",
                        1, v, NULL);
    OPENSSL_cleanse(hex, sizeof hex);
    bool good = ok(res);
    PQclear(res);
    return good;
}

/* The schema version: 0 when there is no STS schema, -1 unread. */
static long schema_version(struct pg_store *st)
{
    PGresult *res = run(st, "SELECT to_regclass('sts_schema') IS NOT NULL", 0, NULL, NULL);
    long v = -1;
    bool exists = ok(res) && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    if (ok(res) && !exists)
        v = 0;
    PQclear(res);
    if (!exists)
        return v;
    res = run(st, "SELECT coalesce(max(version), 0) FROM sts_schema", 0, NULL, NULL);
    if (ok(res) && PQntuples(res) == 1)
        v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* Creates or migrates the schema in one transaction under the schema lock. */
static enum sts_err schema_setup(struct pg_store *st, unsigned flags, char *why, size_t whylen)
{
    char msg[400];
    char lock[80];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)SCHEMA_LOCK_KEY);
    if (!st->readonly && (!exec_ok(st, "BEGIN") || !exec_ok(st, lock)))
        goto fail_msg;
    long v = schema_version(st);
    if (v < 0)
        goto fail_msg;
    if (v > SCHEMA_VERSION) {
        if (why)
            snprintf(why, whylen, "database schema version %ld is newer than this collector's %d",
                     v, SCHEMA_VERSION);
        exec_ok(st, "ROLLBACK");
        return STS_EUNSUPPORTED;
    }
    if (v == SCHEMA_VERSION)
        return st->readonly || exec_ok(st, "COMMIT") ? STS_OK : STS_EIO;
    if (st->readonly || (v == 0 && !(flags & STORE_CREATE))) {
        if (why)
            snprintf(why, whylen,
                     v == 0 ? "PostgreSQL database '%s' holds no STS schema%s"
                            : "PostgreSQL database '%s' has an older STS schema: start serve on "
                              "it once to upgrade it%s",
                     PQdb(st->conn), v == 0 && !st->readonly ? " (serve creates it)" : "");
        exec_ok(st, "ROLLBACK");
        return v == 0 ? (st->readonly ? STS_ECORRUPT : STS_ENOENT) : STS_EUNSUPPORTED;
    }
    if (v == 0) {
        if (!exec_ok(st, schema_4) || !release_seed_create(st))
            goto fail_msg;
    } else {
        for (long m = v; m < SCHEMA_VERSION; m++) {
            char set[64];
            snprintf(set, sizeof set, "UPDATE sts_schema SET version = %ld", m + 1);
            if (!migrations[m] || !exec_ok(st, migrations[m]) || !exec_ok(st, set))
                goto fail_msg;
        }
    }
    if (!exec_ok(st, "COMMIT"))
        goto fail_msg;
    return STS_OK;
fail_msg:
    conn_error(st, NULL, msg, sizeof msg);
    if (why)
        snprintf(why, whylen, "cannot set up PostgreSQL database '%s': %s", PQdb(st->conn), msg);
    exec_ok(st, "ROLLBACK");
    return STS_EIO;
}

enum sts_err store_pg_open(const char *uri, unsigned flags, struct store **out, char *why,
                           size_t whylen)
{
    struct pg_store *st = calloc(1, sizeof *st);
    enum sts_err e;
    if (!st)
        return STS_ENOMEM;
    st->base.ops = &pg_ops;
    store_policy_defaults(&st->base.policy);
    st->base.policy.late_shift = false; /* serve sets its policy (store_set_policy) */
    st->readonly = flags & STORE_READONLY;
    if ((e = sts_hashmap_new(sizeof(bool), 0, &st->seen)) != STS_OK ||
        (e = sts_hashmap_new(sizeof(bool), 0, &st->sent)) != STS_OK) {
        if (why)
            snprintf(why, whylen, "cannot open the database: %s", sts_strerror(e));
        goto fail;
    }
    /* Defaults the URI may override (libpq: a later keyword wins, and the
     * URI is expanded in place of dbname, last): a dead host or a cut link
     * costs the writer seconds, not the kernel's minutes. */
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "application_name",
                                       "dbname",
                                       NULL};
    const char *const values[] = {"5", "10", "5", "3", "sts-collector", uri, NULL};
    st->conn = PQconnectdbParams(keys, values, 1);
    if (!st->conn) {
        e = STS_ENOMEM;
        goto fail;
    }
    PQsetNoticeReceiver(st->conn, on_notice, st);
    if (PQstatus(st->conn) != CONNECTION_OK) {
        char msg[400];
        conn_error(st, NULL, msg, sizeof msg);
        if (why)
            snprintf(why, whylen, "cannot connect to PostgreSQL: %s", msg);
        e = STS_EIO;
        goto fail;
    }
    if (!session_setup(st)) {
        if (why)
            snprintf(why, whylen, "cannot set up the PostgreSQL session");
        e = STS_EIO;
        goto fail;
    }
    if ((e = schema_setup(st, flags, why, whylen)) != STS_OK)
        goto fail;
    *out = &st->base;
    return STS_OK;
fail:
    pg_close(&st->base);
    return e;
}
