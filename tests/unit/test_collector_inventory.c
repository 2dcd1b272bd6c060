/* Unit tests of the data inventory (collector/inventory.h) against the live
 * schema of a real database, on the backend named by STS_STORE_URI (a fresh
 * SQLite file when unset, a PostgreSQL database from tests/e2e/pg_dpo.sh):
 * every table and column has an entry, every entry names something that
 * exists, and a column added without an entry is caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inventory.h"
#include "store.h"

static const char *pg_uri; /* NULL: SQLite */

struct fixture {
    char dir[64];
    char path[1024]; /* or the PostgreSQL URI */
};

/* Runs sql on the PostgreSQL database; false if it failed. */
static bool pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(pg_uri);
    bool good = PQstatus(c) == CONNECTION_OK;
    if (good) {
        PQclear(PQexec(c, "SET client_min_messages = warning"));
        PGresult *r = PQexec(c, sql);
        good = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!good)
            fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return good;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    if (!f)
        return -1;
    if (pg_uri) {
        snprintf(f->path, sizeof f->path, "%s", pg_uri);
        *state = f;
        return pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public") ? 0 : -1;
    }
    snprintf(f->dir, sizeof f->dir, "%s/sts-inv-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/sts.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[1100];
    for (size_t i = 0; !pg_uri && i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    if (!pg_uri)
        rmdir(f->dir);
    free(f);
    return 0;
}

static size_t live_columns(const char *path, struct store_column **cols)
{
    struct store *s = NULL;
    size_t n = 0;
    char why[256];
    assert_int_equal(store_open(path, STORE_CREATE, &s, why, sizeof why), STS_OK);
    assert_int_equal(store_columns(s, cols, &n), STS_OK);
    store_close(s);
    return n;
}

struct seen {
    char what[8][160];
    size_t n;
};

static void note_missing(const char *table, const char *column, void *ctx)
{
    struct seen *s = ctx;
    if (s->n < 8)
        snprintf(s->what[s->n++], sizeof s->what[0], "%s.%s", table, column ? column : "");
}

static void test_schema_has_entries(void **state)
{
    struct fixture *f = *state;
    struct store_column *cols = NULL;
    struct seen missing = {.n = 0};
    size_t n = live_columns(f->path, &cols);
    assert_true(n > 0);
    size_t bad = inventory_check(cols, n, note_missing, &missing);
    if (bad)
        fail_msg("%zu without an inventory entry, first %s", bad, missing.what[0]);
    /* And no entry describes something the schema does not have. */
    size_t ne, ncols = 0;
    const struct inventory_entry *e = inventory_entries(&ne);
    for (size_t i = 0; i < ne; i++)
        ncols += e[i].column != NULL;
    assert_int_equal(ncols, n);
    for (size_t i = 0; i < ne; i++) {
        bool found = false;
        for (size_t c = 0; c < n && !found; c++)
            found = strcmp(cols[c].table, e[i].table) == 0 &&
                    (!e[i].column || strcmp(cols[c].column, e[i].column) == 0);
        if (!found)
            fail_msg("inventory entry %s.%s is not in the schema", e[i].table,
                     e[i].column ? e[i].column : "");
    }
    free(cols);
}

/* A column, and a table, added behind the inventory's back are found. */
static void test_new_column_is_caught(void **state)
{
    struct fixture *f = *state;
    struct store_column *cols = NULL;
    struct seen missing = {.n = 0};
    live_columns(f->path, &cols); /* creates the schema */
    free(cols);
    static const char added[] = "ALTER TABLE activation ADD COLUMN model TEXT;"
                                "CREATE TABLE extra(x INTEGER);";
    if (pg_uri) {
        assert_true(pg_exec(added));
    } else {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, added, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    size_t n = live_columns(f->path, &cols);
    assert_int_equal(inventory_check(cols, n, note_missing, &missing), 3);
    assert_string_equal(missing.what[0], "activation.model");
    assert_string_equal(missing.what[1], "extra.");
    assert_string_equal(missing.what[2], "extra.x");
    free(cols);
}

int main(void)
{
    const char *u = getenv("STS_STORE_URI");
    pg_uri = u && strncmp(u, "postgres", 8) == 0 ? u : NULL;
    print_message("store backend: %s\n", pg_uri ? "PostgreSQL" : "SQLite");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_has_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_column_is_caught, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
