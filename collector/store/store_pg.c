/* PostgreSQL backend through libpq: schema 4's tables (docs/at-rest.md) on a
 * server that several collectors share. Every decision that could count a
 * report or a device twice is taken by a unique constraint inside the
 * database, so concurrent writers on one database stay exact (contract:
 * docs/internals/store.md).
 *
 * A batch is one transaction of a few statements whatever its size: each
 * step sends the whole batch as binary arrays (INSERT ... SELECT FROM
 * unnest(...) ON CONFLICT DO NOTHING RETURNING key: the keys returned are
 * those inserted), and the counters, summed per key in C, are upserted in
 * the same transaction. A lost connection fails the batch in flight; the
 * next write resets it, and libpq finds the primary of a multi-host URI
 * (target_session_attrs=read-write). */
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

/* The array parameters of one statement. */
#define MAX_COLS 1
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

/* A one-dimensional array parameter in PostgreSQL's binary format (what
 * array_recv reads): ndim, flags, element type, then the length and lower
 * bound of the dimension, then each element as its length and its bytes,
 * integers big-endian. The server copies the elements as they are: no text
 * to parse, no hex to decode, no casts. */
#define BARR_HEAD 20
struct barr {
    struct buf b;
    uint32_t n;
};

/* The writer's statements (below), prepared once per connection: parsed and
 * planned once, not at every batch. */
enum wstmt { W_ACT, W_REACT, W_MOVE, W_SALES, W_LIFE, W_FAST, W_ONE, W_N };
static const char *const wname[W_N] = {"sts_act",  "sts_react", "sts_move", "sts_sales",
                                       "sts_life", "sts_fast",  "sts_one"};
static const int wparams[W_N] = {6, 2, 2, 12, 16, 6, 5};
#define MAX_PARAMS 16

struct row;

struct pg_store {
    struct store base;
    PGconn *conn;
    bool readonly;
    bool reset_due;    /* the connection failed: reset it before the next use */
    bool prepared;     /* the writer's statements are prepared on this connection */
    unsigned careful;  /* batches still to write with ins_act (FAST_AFTER) */
    struct arrays arr; /* the erasure's text array */
    /* The writer's statements' binary array parameters (in one pipeline
     * several statements' arrays are kept until sent). */
    struct barr par[W_N][MAX_PARAMS];
    /* Keys the last statement returned, and which records claimed them. */
    struct sts_hashmap *seen; /* value: bool claimed */
    struct sts_hashmap *sent; /* keys already put in the arrays */
    struct sts_hashmap *agg;  /* the counters' deltas by key: struct agg */
    struct buf key;           /* a counter's key being built */
    /* Per record of the batch being written, and the rows of a statement. */
    struct rec_state *rs;
    size_t rs_cap;
    struct row *rows;
    size_t rows_cap;
    /* The writer's purge, at most once an hour (as store_sqlite.c). */
    struct timespec last_purge;
    bool purged_once, purge_more;
    int32_t folded_before; /* keep_from of the writer's last complete fold */
};

struct rec_state {
    int32_t day, period, cohort, expires;
    bool first_id; /* the first record of the batch with its report id */
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
    for (size_t i = 0; i < MAX_COLS; i++)
        free(st->arr.col[i].p);
    for (size_t w = 0; w < W_N; w++)
        for (size_t i = 0; i < MAX_PARAMS; i++)
            free(st->par[w][i].b.p);
    free(st->key.p);
    sts_hashmap_free(st->seen);
    sts_hashmap_free(st->sent);
    sts_hashmap_free(st->agg);
    free(st->rs);
    free(st->rows);
    free(st);
}

/* ---- Writing ---------------------------------------------------------- */

static const unsigned text_array = 1009; /* text[] */

/* Element types of the binary arrays below (pg_type.oid). */
enum { OID_BYTEA = 17, OID_INT8 = 20, OID_INT4 = 23, OID_TEXT = 25 };

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void barr_start(struct barr *a, uint32_t elemtype)
{
    uint8_t h[BARR_HEAD];
    put32(h, 1);
    put32(h + 4, 0);
    put32(h + 8, elemtype);
    put32(h + 12, 0); /* the length, set by barr_end */
    put32(h + 16, 1);
    buf_reset(&a->b);
    buf_add(&a->b, (const char *)h, sizeof h);
    a->n = 0;
}

static void barr_add(struct barr *a, const void *v, size_t len)
{
    uint8_t l[4];
    put32(l, (uint32_t)len);
    buf_add(&a->b, (const char *)l, sizeof l);
    buf_add(&a->b, v, len);
    a->n++;
}

static void barr_i32(struct barr *a, int32_t v)
{
    uint8_t x[4];
    put32(x, (uint32_t)v);
    barr_add(a, x, sizeof x);
}

static void barr_i64(struct barr *a, int64_t v)
{
    uint8_t x[8];
    put32(x, (uint32_t)((uint64_t)v >> 32));
    put32(x + 4, (uint32_t)v);
    barr_add(a, x, sizeof x);
}

static void barr_text(struct barr *a, const char *s)
{
    barr_add(a, s, strlen(s));
}

/* Report ids ($1 id, $2 expiry) and, in the same statement, the devices of
 * the activations among them ($3 report id, $4 pseudonym, $5 key id, $6
 * month; only the first record of each id): a device is inserted by the
 * first record (in batch order, WITH ORDINALITY) whose id was inserted. The
 * ids inserted come back tagged 'r', the devices inserted 'a'. */
#define INS_ACT(on_conflict)                                                                       \
    "WITH r AS (INSERT INTO report_id(report_id, expires)"                                         \
    " SELECT * FROM unnest($1::bytea[], $2::integer[])" on_conflict " RETURNING report_id),"       \
    " a AS (INSERT INTO activation(pseudonym, key_id, month)"                                      \
    " SELECT DISTINCT ON (u.p) u.p, u.k, u.m"                                                      \
    " FROM unnest($3::bytea[], $4::bytea[], $5::bigint[], $6::integer[])"                          \
    " WITH ORDINALITY AS u(r, p, k, m, o) JOIN r ON r.report_id = u.r"                             \
    " ORDER BY u.p, u.o" on_conflict " RETURNING pseudonym)"                                       \
    " SELECT 'r'::\"char\", report_id FROM r UNION ALL SELECT 'a'::\"char\", pseudonym FROM a"
static const char ins_act[] = INS_ACT(" ON CONFLICT DO NOTHING");
/* The same with plain inserts, the writer's first try (see FAST_AFTER):
 * where nothing conflicts, which is most batches, the server inserts each
 * row with one descent of its unique index, where ON CONFLICT first looks
 * the key up, then inserts it speculatively and confirms it (the server's
 * CPU per report 40 us before, 36 us after in bench/README.md's probe). A
 * key already there fails the statement with unique_violation, the
 * database still deciding: the batch is rolled back and written again with
 * ins_act. */
static const char ins_fast[] = INS_ACT("");

/* After a batch that met a key already there, the next FAST_AFTER batches
 * are written with ins_act directly: while reports are being sent again or
 * known devices are coming back, a batch is not tried twice, and the
 * server's log gets at most one unique_violation every FAST_AFTER
 * batches. */
#define FAST_AFTER 256

/* A plain batch's ids ($1 id, $2 expiry) and devices ($3 pseudonym, $4 key
 * id, $5 month), each row once, in key order. A batch is plain when its
 * first try is plain inserts and no two of its activations with a fresh id
 * share a device, nor has any an older pseudonym to look up: if the
 * statement succeeds, every id was new and every device too, which C knows
 * without the rows back. The counters then go in the same pipeline, the
 * whole batch one round trip: the server does not wait for the collector
 * between statements, and has no join, sort or RETURNING to do (its CPU
 * per report in bench/README.md's probe). */
static const char ins_one[] = "WITH r AS (INSERT INTO report_id(report_id, expires)"
                              " SELECT * FROM unnest($1::bytea[], $2::integer[]))"
                              " INSERT INTO activation(pseudonym, key_id, month)"
                              " SELECT * FROM unnest($3::bytea[], $4::bigint[], $5::integer[])";

static const char ins_react[] = "INSERT INTO reactivation(pseudonym, month)"
                                " SELECT * FROM unnest($1::bytea[], $2::integer[])"
                                " ON CONFLICT DO NOTHING RETURNING pseudonym, month";
/* Devices new under the current key ($1) looked up under their older keys'
 * pseudonyms ($2), as store_sqlite.c's move_old_keys: an old row found is
 * deleted (its row lock decides against a concurrent erasure), its first
 * month kept if earlier and its re-activation months moved to the current
 * pseudonym; the current pseudonyms of the devices found come back. */
static const char move_old[] =
    "WITH u AS (SELECT * FROM unnest($1::bytea[], $2::bytea[]) AS u(n, o)),"
    " d AS (DELETE FROM activation a USING u WHERE a.pseudonym = u.o"
    " RETURNING u.n AS n, u.o AS o, a.month AS month),"
    " m AS (UPDATE activation a SET month = least(a.month, x.month)"
    " FROM (SELECT n, min(month) AS month FROM d GROUP BY n) x WHERE a.pseudonym = x.n),"
    " r AS (DELETE FROM reactivation t USING d WHERE t.pseudonym = d.o"
    " RETURNING d.n AS n, t.month AS month),"
    " i AS (INSERT INTO reactivation SELECT DISTINCT n, month FROM r ORDER BY 1, 2"
    " ON CONFLICT DO NOTHING)"
    " SELECT DISTINCT n FROM d";
/* The counters of the batch, summed per key in C (one row per key, in key
 * order): sales_day ($1..$7), sales_day_mc ($8..$12). */
static const char up_sales[] =
    "WITH x AS (INSERT INTO sales_day AS t SELECT * FROM unnest($1::integer[], $2::text[],"
    " $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])"
    " ON CONFLICT(day, brand, model, sw, country) DO UPDATE"
    " SET activations = t.activations + excluded.activations,"
    " reactivations = t.reactivations + excluded.reactivations)"
    " INSERT INTO sales_day_mc AS t SELECT * FROM unnest($8::integer[], $9::text[], $10::text[],"
    " $11::bigint[], $12::bigint[]) ON CONFLICT(day, model, country) DO UPDATE"
    " SET activations = t.activations + excluded.activations,"
    " reactivations = t.reactivations + excluded.reactivations";
/* lifetime_count ($1..$6), life_model ($7..$11), version_count ($12..$16). */
static const char up_life[] =
    "WITH x AS (INSERT INTO lifetime_count AS t SELECT * FROM unnest($1::integer[],"
    " $2::integer[], $3::text[], $4::text[], $5::integer[], $6::bigint[])"
    " ON CONFLICT(period, cohort, brand, model, first) DO UPDATE SET count = t.count + "
    "excluded.count),"
    " y AS (INSERT INTO life_model AS t SELECT * FROM unnest($7::integer[], $8::integer[],"
    " $9::text[], $10::integer[], $11::bigint[])"
    " ON CONFLICT(period, cohort, model, first) DO UPDATE SET count = t.count + excluded.count)"
    " INSERT INTO version_count AS t SELECT * FROM unnest($12::integer[], $13::text[],"
    " $14::text[], $15::text[], $16::bigint[])"
    " ON CONFLICT(period, brand, model, sw) DO UPDATE SET count = t.count + excluded.count";

/* Prepares the writer's statements on a connection that has none. */
static bool prepare_writer(struct pg_store *st, PGresult **errres)
{
    static const char *const sql[W_N] = {ins_act, ins_react, move_old, up_sales,
                                         up_life, ins_fast,  ins_one};
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

/* One statement of a pipeline: a prepared one (name) with its binary
 * parameters, its results binary, or plain SQL without parameters. */
struct stmt {
    const char *name, *sql;
    int n;
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS];
};

/* The arrays of statement w as its parameters. The arrays' buffers must
 * stay as they are until the statement has been sent. */
static bool stmt_arrays(struct pg_store *st, enum wstmt w, struct stmt *out)
{
    out->name = wname[w];
    out->sql = NULL;
    out->n = wparams[w];
    for (int i = 0; i < out->n; i++) {
        struct barr *a = &st->par[w][i];
        if (a->b.oom)
            return false;
        uint8_t *p = (uint8_t *)a->b.p;
        if (a->n) {
            put32(p + 12, a->n);
            out->lengths[i] = (int)a->b.n;
        } else {
            put32(p, 0); /* ndim 0, the empty array: no dimension follows */
            out->lengths[i] = 12;
        }
        out->values[i] = a->b.p;
    }
    return true;
}

/* Starts the arrays of statement w, their element types in types. */
static void stmt_start(struct pg_store *st, enum wstmt w, const uint32_t *types)
{
    for (int i = 0; i < wparams[w]; i++)
        barr_start(&st->par[w][i], types[i]);
}

static const int binary_formats[MAX_PARAMS] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

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
        good = (t->name ? PQsendQueryPrepared(st->conn, t->name, t->n, t->values, t->lengths,
                                              binary_formats, 1)
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

/* A key is the bytes of a row's columns one after the other (binary: a
 * "char" tag, a bytea's bytes, an integer's four bytes big-endian). */
#define KEY_MAX (1 + STS_PSEUDONYM_LEN + 4)

/* The keys the rows of res hold go to st->seen, unclaimed; clears res. */
static bool collect_keys(struct pg_store *st, PGresult *res)
{
    bool good = true;
    sts_hashmap_clear(st->seen);
    for (int r = 0; good && r < PQntuples(res); r++) {
        uint8_t key[KEY_MAX];
        size_t n = 0;
        for (int c = 0; good && c < PQnfields(res); c++) {
            size_t len = (size_t)PQgetlength(res, r, c);
            good = n + len <= sizeof key;
            if (good)
                memcpy(key + n, PQgetvalue(res, r, c), len);
            n += len;
        }
        void *v;
        good = good && sts_hashmap_put(st->seen, key, n, &v, NULL) == STS_OK;
    }
    PQclear(res);
    return good;
}

/* Runs statement w over its arrays alone; the keys it returns go to
 * st->seen. */
static bool run_returning(struct pg_store *st, enum wstmt w, PGresult **errres)
{
    struct stmt t;
    PGresult *res = NULL;
    return stmt_arrays(st, w, &t) && run_pipeline(st, &t, 1, &res, errres) && collect_keys(st, res);
}

/* Whether key was returned and not yet claimed by an earlier record of the
 * batch: the first record with it gets it. */
static bool claim(struct pg_store *st, const void *key, size_t klen)
{
    bool *claimed = sts_hashmap_get(st->seen, key, klen);
    if (!claimed || *claimed)
        return false;
    *claimed = true;
    return true;
}

/* Whether key is met for the first time since st->sent was cleared (a key
 * goes once into a statement's arrays). */
static bool first_send(struct pg_store *st, const void *key, size_t klen, bool *oom)
{
    bool created = false;
    void *v;
    if (sts_hashmap_put(st->sent, key, klen, &v, &created) != STS_OK)
        *oom = true;
    return created;
}

/* A row to put in a statement's arrays: its key (what it is sorted by) and
 * the record it comes from. */
struct row {
    const uint8_t *key;
    size_t klen;
    size_t rec, k; /* k: which older pseudonym of the record (2b) */
};

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Room for n rows in st->rows. */
static bool rows_room(struct pg_store *st, size_t n)
{
    if (n <= st->rows_cap)
        return true;
    struct row *r = realloc(st->rows, n * sizeof *r);
    if (!r)
        return false;
    st->rows = r;
    st->rows_cap = n;
    return true;
}

/* The counters' deltas, summed per key (a table's tag, then its key
 * columns; texts end with their NUL, so no two keys run together). */
struct agg {
    size_t rec; /* the first record with the key: its texts and numbers */
    int64_t a, r;
};

static bool agg_add(struct pg_store *st, char tag, size_t rec, int32_t n1, int32_t n2,
                    const char *const *texts, size_t ntexts, int first, int64_t a, int64_t r)
{
    struct buf *k = &st->key;
    uint8_t x[8];
    buf_reset(k);
    buf_add(k, &tag, 1);
    put32(x, (uint32_t)n1);
    put32(x + 4, (uint32_t)n2);
    buf_add(k, (const char *)x, 8);
    for (size_t i = 0; i < ntexts; i++)
        buf_add(k, texts[i], strlen(texts[i]) + 1);
    if (first >= 0) {
        char f = (char)first;
        buf_add(k, &f, 1);
    }
    bool created;
    struct agg *v;
    if (k->oom || sts_hashmap_put(st->agg, k->p, k->n, (void **)&v, &created) != STS_OK)
        return false;
    if (created)
        v->rec = rec;
    v->a += a;
    v->r += r;
    return true;
}

/* The sums of st->agg in key order (so concurrent batches take the
 * counters' row locks in one order) into the arrays of the sales and
 * lifetime statements. */
static bool agg_arrays(struct pg_store *st, struct store_record *const *recs, size_t *nsales,
                       size_t *nlife)
{
    static const uint32_t sales_t[12] = {OID_INT4, OID_TEXT, OID_TEXT, OID_TEXT,
                                         OID_TEXT, OID_INT8, OID_INT8, OID_INT4,
                                         OID_TEXT, OID_TEXT, OID_INT8, OID_INT8};
    static const uint32_t life_t[16] = {OID_INT4, OID_INT4, OID_TEXT, OID_TEXT, OID_INT4, OID_INT8,
                                        OID_INT4, OID_INT4, OID_TEXT, OID_INT4, OID_INT8, OID_INT4,
                                        OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8};
    size_t n = sts_hashmap_count(st->agg);
    if (!rows_room(st, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        const void *key;
        sts_hashmap_at(st->agg, i, &key, &st->rows[i].klen);
        st->rows[i].key = key;
        st->rows[i].rec = i; /* the entry */
    }
    qsort(st->rows, n, sizeof *st->rows, row_cmp);
    stmt_start(st, W_SALES, sales_t);
    stmt_start(st, W_LIFE, life_t);
    struct barr *s = st->par[W_SALES], *l = st->par[W_LIFE];
    *nsales = *nlife = 0;
    for (size_t i = 0; i < n; i++) {
        struct agg *v = sts_hashmap_at(st->agg, st->rows[i].rec, NULL, NULL);
        const struct store_record *r = recs[v->rec];
        const struct rec_state *x = &st->rs[v->rec];
        switch (st->rows[i].key[0]) {
        case 'S': /* sales_day */
            barr_i32(&s[0], x->day);
            barr_text(&s[1], r->brand);
            barr_text(&s[2], r->model);
            barr_text(&s[3], r->sw);
            barr_text(&s[4], r->country);
            barr_i64(&s[5], v->a);
            barr_i64(&s[6], v->r);
            ++*nsales;
            break;
        case 'T': /* sales_day_mc */
            barr_i32(&s[7], x->day);
            barr_text(&s[8], r->model);
            barr_text(&s[9], r->country);
            barr_i64(&s[10], v->a);
            barr_i64(&s[11], v->r);
            break;
        case 'L': /* lifetime_count */
            barr_i32(&l[0], x->period);
            barr_i32(&l[1], x->cohort);
            barr_text(&l[2], r->brand);
            barr_text(&l[3], r->model);
            barr_i32(&l[4], r->first ? 1 : 0);
            barr_i64(&l[5], v->a);
            ++*nlife;
            break;
        case 'M': /* life_model */
            barr_i32(&l[6], x->period);
            barr_i32(&l[7], x->cohort);
            barr_text(&l[8], r->model);
            barr_i32(&l[9], r->first ? 1 : 0);
            barr_i64(&l[10], v->a);
            break;
        default: /* 'V', version_count */
            barr_i32(&l[11], x->period);
            barr_text(&l[12], r->brand);
            barr_text(&l[13], r->model);
            barr_text(&l[14], r->sw);
            barr_i64(&l[15], v->a);
            break;
        }
    }
    return true;
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

/* The key of r's pseudonym and month in reactivation (as returned). */
static size_t react_key(const struct store_record *r, const struct rec_state *x,
                        uint8_t key[static KEY_MAX])
{
    memcpy(key, r->pseudonym, STS_PSEUDONYM_LEN);
    put32(key + STS_PSEUDONYM_LEN, (uint32_t)sts_day_month(x->day));
    return STS_PSEUDONYM_LEN + 4;
}

/* The counters' upserts of the batch's outcomes, summed per key (step 4 of
 * write_once), appended to out[*nout...] (room for two). */
static bool counter_stmts(struct pg_store *st, struct store_record *const *recs, size_t n,
                          struct stmt *out, size_t *nout)
{
    sts_hashmap_clear(st->agg);
    bool good = true;
    for (size_t i = 0; good && i < n; i++) {
        struct store_record *r = recs[i];
        const struct rec_state *x = &st->rs[i];
        if (r->type == STS_REPORT_ACTIVATION) {
            bool act = r->outcome == STORE_NEW;
            if (!act && !(r->outcome == STORE_REACTIVATION && x->react))
                continue;
            const char *full[4] = {r->brand, r->model, r->sw, r->country};
            const char *mc[2] = {r->model, r->country};
            good = agg_add(st, 'S', i, x->day, 0, full, 4, -1, act, !act) &&
                   agg_add(st, 'T', i, x->day, 0, mc, 2, -1, act, !act);
        } else if (x->fresh) {
            r->outcome = STORE_NEW;
            const char *bm[2] = {r->brand, r->model};
            const char *bms[3] = {r->brand, r->model, r->sw};
            good = agg_add(st, 'L', i, x->period, x->cohort, bm, 2, r->first, 1, 0) &&
                   agg_add(st, 'M', i, x->period, x->cohort, bm + 1, 1, r->first, 1, 0) &&
                   agg_add(st, 'V', i, x->period, 0, bms, 3, -1, 1, 0);
        }
    }
    size_t nsales, nlife;
    if (!good || !agg_arrays(st, recs, &nsales, &nlife))
        return false;
    if (nsales && !stmt_arrays(st, W_SALES, &out[(*nout)++]))
        return false;
    return !nlife || stmt_arrays(st, W_LIFE, &out[(*nout)++]);
}

/* Whether the batch, its first ids marked, is plain (ins_one). */
static bool batch_plain(struct pg_store *st, struct store_record *const *recs, size_t n, bool *oom)
{
    sts_hashmap_clear(st->sent);
    for (size_t i = 0; i < n; i++) {
        const struct store_record *r = recs[i];
        if (r->type != STS_REPORT_ACTIVATION || !st->rs[i].first_id)
            continue;
        if (r->n_old || !first_send(st, r->pseudonym, STS_PSEUDONYM_LEN, oom))
            return false;
    }
    return true;
}

/* A plain batch in one pipeline: BEGIN, ins_one, the counters, COMMIT. The
 * outcomes are what they are if it commits: the first record of each id
 * new, the rest duplicates. st->rows holds the nids ids, sorted. */
static bool write_plain(struct pg_store *st, struct store_record *const *recs, size_t n,
                        size_t nids, PGresult **errres)
{
    static const uint32_t one_t[5] = {OID_BYTEA, OID_INT4, OID_BYTEA, OID_INT8, OID_INT4};
    stmt_start(st, W_ONE, one_t);
    struct barr *a = st->par[W_ONE];
    for (size_t j = 0; j < nids; j++) {
        barr_add(&a[0], st->rows[j].key, 16);
        barr_i32(&a[1], st->rs[st->rows[j].rec].expires);
    }
    size_t ndev = 0;
    for (size_t i = 0; i < n; i++) {
        struct store_record *r = recs[i];
        if (!st->rs[i].first_id) {
            r->outcome = STORE_DUPLICATE;
            continue;
        }
        st->rs[i].fresh = true;
        if (r->type != STS_REPORT_ACTIVATION)
            continue;
        r->outcome = STORE_NEW;
        st->rows[ndev++] = (struct row){r->pseudonym, STS_PSEUDONYM_LEN, i, 0};
    }
    qsort(st->rows, ndev, sizeof *st->rows, row_cmp);
    for (size_t j = 0; j < ndev; j++) {
        const struct store_record *r = recs[st->rows[j].rec];
        barr_add(&a[2], r->pseudonym, STS_PSEUDONYM_LEN);
        barr_i64(&a[3], r->key_id);
        barr_i32(&a[4], sts_day_month(st->rs[st->rows[j].rec].day));
    }
    struct stmt t[5] = {{.sql = "BEGIN"}};
    size_t nt = 1;
    if (!stmt_arrays(st, W_ONE, &t[nt++]) || !counter_stmts(st, recs, n, t, &nt))
        return false;
    t[nt++] = (struct stmt){.sql = "COMMIT"};
    return run_pipeline(st, t, nt, NULL, errres);
}

/* One attempt at the batch, inside BEGIN ... COMMIT. false: failed (*errres
 * may hold the failed result, for its message and SQLSTATE). *fast: whether
 * its first statement was ins_fast. */
static bool write_once(struct pg_store *st, struct store_record *const *recs, size_t n,
                       int32_t today, PGresult **errres, bool *fast)
{
    static const uint32_t act_t[6] = {OID_BYTEA, OID_INT4, OID_BYTEA,
                                      OID_BYTEA, OID_INT8, OID_INT4};
    static const uint32_t pair_t[2] = {OID_BYTEA, OID_INT4};
    static const uint32_t move_t[2] = {OID_BYTEA, OID_BYTEA};
    uint8_t key[KEY_MAX];
    bool oom = false;
    size_t i, nrows = 0, total_old = 0;
    for (i = 0; i < n; i++) {
        recs[i]->outcome = STORE_PENDING;
        place(st, recs[i], today, &st->rs[i]);
        total_old += recs[i]->n_old;
    }
    if (!rows_room(st, n > total_old ? n : total_old) || !prepare_writer(st, errres))
        return false;
    /* 1. Report ids, a kept one a duplicate, and in the same statement the
     * devices of the activations among them, inserted means new; BEGIN goes
     * with them. Each id goes once (its first record's), in key order. */
    sts_hashmap_clear(st->sent);
    for (i = 0; i < n; i++) {
        st->rs[i].first_id = first_send(st, recs[i]->report_id, 16, &oom);
        if (st->rs[i].first_id)
            st->rows[nrows++] = (struct row){recs[i]->report_id, 16, i, 0};
    }
    if (oom)
        return false;
    qsort(st->rows, nrows, sizeof *st->rows, row_cmp);
    *fast = st->careful == 0;
    if (!*fast) {
        st->careful--;
    } else if (batch_plain(st, recs, n, &oom)) {
        return write_plain(st, recs, n, nrows, errres);
    } else if (oom) {
        return false;
    }
    stmt_start(st, W_ACT, act_t);
    struct barr *a = st->par[W_ACT];
    for (size_t j = 0; j < nrows; j++) {
        barr_add(&a[0], st->rows[j].key, 16);
        barr_i32(&a[1], st->rs[st->rows[j].rec].expires);
    }
    for (i = 0; i < n; i++) { /* in batch order: the first record of a device wins */
        const struct store_record *r = recs[i];
        if (r->type != STS_REPORT_ACTIVATION || !st->rs[i].first_id)
            continue;
        barr_add(&a[2], r->report_id, 16);
        barr_add(&a[3], r->pseudonym, STS_PSEUDONYM_LEN);
        barr_i64(&a[4], r->key_id);
        barr_i32(&a[5], sts_day_month(st->rs[i].day));
    }
    struct stmt first[2] = {{.sql = "BEGIN"}};
    PGresult *res = NULL;
    if (!stmt_arrays(st, W_ACT, &first[1]))
        return false;
    if (*fast)
        first[1].name = wname[W_FAST]; /* the same parameters */
    if (!run_pipeline(st, first, 2, &res, errres) || !collect_keys(st, res))
        return false;
    size_t reacts = 0, olds = 0;
    for (i = 0; i < n; i++) {
        struct store_record *r = recs[i];
        key[0] = 'r';
        memcpy(key + 1, r->report_id, 16);
        st->rs[i].fresh = claim(st, key, 17);
        if (!st->rs[i].fresh) {
            r->outcome = STORE_DUPLICATE;
            continue;
        }
        if (r->type != STS_REPORT_ACTIVATION)
            continue;
        key[0] = 'a';
        memcpy(key + 1, r->pseudonym, STS_PSEUDONYM_LEN);
        if (claim(st, key, 1 + STS_PSEUDONYM_LEN)) {
            r->outcome = STORE_NEW;
            olds += r->n_old;
        } else {
            r->outcome = STORE_REACTIVATION;
            st->rs[i].react = true;
            reacts++;
        }
    }
    /* 2b. New under the current key: known under an older one? */
    if (olds) {
        sts_hashmap_clear(st->sent);
        nrows = 0;
        for (i = 0; i < n; i++) {
            if (recs[i]->outcome != STORE_NEW || recs[i]->type != STS_REPORT_ACTIVATION)
                continue;
            for (size_t k = 0; k < recs[i]->n_old; k++)
                if (first_send(st, recs[i]->old_pseudonym[k], STS_PSEUDONYM_LEN, &oom))
                    st->rows[nrows++] =
                        (struct row){recs[i]->old_pseudonym[k], STS_PSEUDONYM_LEN, i, k};
        }
        if (oom)
            return false;
        qsort(st->rows, nrows, sizeof *st->rows, row_cmp);
        stmt_start(st, W_MOVE, move_t);
        for (size_t j = 0; j < nrows; j++) {
            barr_add(&st->par[W_MOVE][0], recs[st->rows[j].rec]->pseudonym, STS_PSEUDONYM_LEN);
            barr_add(&st->par[W_MOVE][1], st->rows[j].key, STS_PSEUDONYM_LEN);
        }
        if (!run_returning(st, W_MOVE, errres))
            return false;
        for (i = 0; i < n; i++) {
            if (recs[i]->outcome != STORE_NEW || recs[i]->type != STS_REPORT_ACTIVATION ||
                !recs[i]->n_old)
                continue;
            if (claim(st, recs[i]->pseudonym, STS_PSEUDONYM_LEN)) {
                recs[i]->outcome = STORE_REACTIVATION;
                st->rs[i].react = true;
                reacts++;
            }
        }
    }
    /* 3. Re-activations: counted once a device and month. */
    if (reacts) {
        sts_hashmap_clear(st->sent);
        nrows = 0;
        for (i = 0; i < n; i++) {
            size_t klen = react_key(recs[i], &st->rs[i], key);
            if (st->rs[i].react && first_send(st, key, klen, &oom))
                st->rows[nrows++] = (struct row){recs[i]->pseudonym, klen, i, 0};
        }
        if (oom)
            return false;
        /* The keys as st->sent holds them, one entry per row in order. */
        for (size_t j = 0; j < nrows; j++) {
            const void *k;
            sts_hashmap_at(st->sent, j, &k, NULL);
            st->rows[j].key = k;
        }
        qsort(st->rows, nrows, sizeof *st->rows, row_cmp);
        stmt_start(st, W_REACT, pair_t);
        for (size_t j = 0; j < nrows; j++) {
            barr_add(&st->par[W_REACT][0], st->rows[j].key, STS_PSEUDONYM_LEN);
            barr_i32(&st->par[W_REACT][1], sts_day_month(st->rs[st->rows[j].rec].day));
        }
        if (!run_returning(st, W_REACT, errres))
            return false;
        for (i = 0; i < n; i++) {
            if (!st->rs[i].react)
                continue;
            size_t klen = react_key(recs[i], &st->rs[i], key);
            st->rs[i].react = claim(st, key, klen); /* now: counted */
        }
    }
    /* 4. The counters and COMMIT, at once. */
    struct stmt last[3];
    size_t nlast = 0;
    if (!counter_stmts(st, recs, n, last, &nlast))
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

static bool sqlstate_is(const PGresult *res, const char *state)
{
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return code && strcmp(code, state) == 0;
}

/* SQLSTATEs after which the same batch may simply be tried again. */
static bool retryable(const PGresult *res)
{
    return sqlstate_is(res, "40001") || sqlstate_is(res, "40P01");
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
        bool fast = false;
        PQclear(errres);
        errres = NULL;
        if (write_once(st, recs, n, today, &errres, &fast)) {
            writer_purge(st, today);
            return STS_OK;
        }
        conn_error(st, errres, msg, sizeof msg);
        if (PQstatus(st->conn) == CONNECTION_OK)
            exec_ok(st, "ROLLBACK");
        else
            st->reset_due = true;
        if (fast && sqlstate_is(errres, "23505")) {
            /* A key already there: again with ON CONFLICT (it cannot
             * raise unique_violation: no second time through here). */
            st->careful = FAST_AFTER;
            attempt--;
            continue;
        }
        if (!retryable(errres))
            break;
    }
fail:
    PQclear(errres);
    store_write_failed(&st->base, msg);
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
        (e = sts_hashmap_new(sizeof(bool), 0, &st->sent)) != STS_OK ||
        (e = sts_hashmap_new(sizeof(struct agg), 0, &st->agg)) != STS_OK) {
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
