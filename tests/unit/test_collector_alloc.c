/* Allocation failures in the collector (tests/unit/alloc_fail.h): opening the
 * SQLite store (creating it, and opening it again), writing a batch, and the
 * configuration: the settings file, the API token, the gateway keys. Each
 * runs with its Nth allocation failed, SQLite's included, for every N until
 * it succeeds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "config.h"
#include "gateway.h"
#include "ingest.h"
#include "store.h"
#include "sts/date.h"
#include "sts/ohttp.h"

static const enum sts_err nomem[] = {STS_ENOMEM};
static const enum sts_err nomem_or_crypto[] = {STS_ENOMEM, STS_ECRYPTO};

#define LOOP(name, op, ctx, allowed)                                                               \
    alloc_fail_loop(name, op, ctx, allowed, sizeof allowed / sizeof allowed[0])

struct files {
    char dir[64], db[96], conf[96], token[96], ohttp[96];
};

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* Creates the database afresh each run, so every run does the whole schema. */
static enum sts_err store_create_op(void *ctx)
{
    struct files *f = ctx;
    struct store *st = NULL;
    char why[256], wal[128], shm[128];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    snprintf(shm, sizeof shm, "%s-shm", f->db);
    unlink(f->db);
    unlink(wal);
    unlink(shm);
    enum sts_err e = store_open(f->db, STORE_CREATE, &st, why, sizeof why);
    if (e == STS_OK)
        store_close(st);
    return e;
}

static enum sts_err store_open_op(void *ctx)
{
    struct files *f = ctx;
    struct store *st = NULL;
    char why[256];
    enum sts_err e = store_open(f->db, 0, &st, why, sizeof why);
    if (e == STS_OK)
        store_close(st);
    return e;
}

/* One batch of two activations and a lifetime ping, then the sums read back:
 * the per-transaction tallies (sts/hashmap.h) and SQLite's statements. */
struct write_ctx {
    struct store *st;
    struct store_record rec[3];
    int round;
};

static enum sts_err store_write_op(void *ctx)
{
    struct write_ctx *w = ctx;
    struct store_record *recs[3] = {&w->rec[0], &w->rec[1], &w->rec[2]};
    /* Fresh ids each run, so every run inserts rather than finds duplicates. */
    w->round++;
    for (int i = 0; i < 3; i++) {
        memset(w->rec[i].report_id, 0, sizeof w->rec[i].report_id);
        memcpy(w->rec[i].report_id, &w->round, sizeof w->round);
        w->rec[i].report_id[15] = (uint8_t)i;
        memset(w->rec[i].pseudonym, 0, sizeof w->rec[i].pseudonym);
        memcpy(w->rec[i].pseudonym, &w->round, sizeof w->round);
        w->rec[i].pseudonym[31] = (uint8_t)i;
    }
    enum sts_err e = store_write(w->st, recs, 3);
    for (int i = 0; i < 3; i++) /* all or nothing */
        assert_int_equal(w->rec[i].outcome, e == STS_OK ? STORE_NEW : STORE_FAILED);
    return e;
}

static enum sts_err config_op(void *ctx)
{
    struct files *f = ctx;
    struct collector_config cfg;
    char why[256];
    config_defaults(&cfg);
    enum sts_err e = config_load(&cfg, f->conf, why, sizeof why);
    if (e == STS_OK)
        assert_int_equal(cfg.k, 12);
    return e;
}

static enum sts_err token_op(void *ctx)
{
    struct files *f = ctx;
    struct sts_secret *t = (struct sts_secret *)&t;
    char why[256];
    enum sts_err e = config_read_token(f->token, &t, why, sizeof why);
    if (e == STS_OK) {
        assert_string_equal(t->data, "0123456789abcdef0123456789abcdef");
        assert_int_equal(t->len, 32);
    } else {
        assert_null(t);
    }
    sts_secret_free(t);
    return e;
}

static enum sts_err gateway_op(void *ctx)
{
    struct files *f = ctx;
    struct sts_ohttp_gateway *gw = (struct sts_ohttp_gateway *)&gw;
    const char *paths[1] = {f->ohttp};
    char why[256];
    enum sts_err e = gateway_load(paths, 1, &gw, why, sizeof why);
    if (e != STS_OK)
        assert_null(gw);
    sts_ohttp_gateway_free(gw);
    return e;
}

/* SIGHUP's keyring swap: on failure the keys in use are unchanged, on
 * success they are the new ones (each run swaps to the other keyring). */
struct swap_ctx {
    struct ingest *ing;
    struct sts_keyring ring[2];
    int in_use;
};

static enum sts_err keyring_swap_op(void *ctx)
{
    struct swap_ctx *s = ctx;
    const struct sts_keyring *to = &s->ring[!s->in_use];
    enum sts_err e = ingest_set_keyring(s->ing, to);
    if (e == STS_OK)
        s->in_use = !s->in_use;
    const struct sts_keyring *now = &s->ring[s->in_use];
    uint32_t ids[STS_KEYRING_MAX];
    assert_int_equal(ingest_key_ids(s->ing, ids), now->n);
    assert_int_equal(ids[0], sts_keyring_current(now)->id);
    return e;
}

static void test_collector(void **state)
{
    (void)state;
    struct files f;
    /* tmpfs when there is one: thousands of database creations, each fsynced. */
    snprintf(f.dir, sizeof f.dir, "%s/sts-calloc-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.db, sizeof f.db, "%s/sts.db", f.dir);
    snprintf(f.conf, sizeof f.conf, "%s/collector.conf", f.dir);
    snprintf(f.token, sizeof f.token, "%s/token", f.dir);
    snprintf(f.ohttp, sizeof f.ohttp, "%s/ohttp.key", f.dir);

    assert_true(LOOP("store create", store_create_op, &f, nomem) > 0);
    assert_true(LOOP("store open", store_open_op, &f, nomem) > 0);

    struct write_ctx w = {0};
    char why[256];
    assert_int_equal(store_open(f.db, 0, &w.st, why, sizeof why), STS_OK);
    for (int i = 0; i < 3; i++) {
        struct store_record *r = &w.rec[i];
        r->type = i < 2 ? STS_REPORT_ACTIVATION : STS_REPORT_LIFETIME;
        snprintf(r->brand, sizeof r->brand, "acme");
        snprintf(r->model, sizeof r->model, "K%d", 400 + i);
        snprintf(r->sw, sizeof r->sw, "1.0");
        snprintf(r->country, sizeof r->country, "FR");
        r->key_id = 1;
        r->day = sts_day_from_ymd(2026, 11, 20);
        r->cohort = r->period = sts_day_month(r->day);
        r->first = true;
    }
    /* store_write has one error for a failed transaction, whatever failed. */
    static const enum sts_err io[] = {STS_EIO};
    assert_true(LOOP("store write", store_write_op, &w, io) > 0);

    struct swap_ctx sw = {.ring = {{.n = 1, .key = {{.id = 1}}},
                                   {.n = 2, .current = 1, .key = {{.id = 1}, {.id = 2}}}}};
    sw.ring[1].key[1].secret[0] = 7;
    assert_int_equal(ingest_new(&w.st, 1, 8, &sw.ring[0], &sw.ing), STS_OK);
    assert_true(LOOP("keyring swap", keyring_swap_op, &sw, nomem_or_crypto) > 0);
    ingest_free(sw.ing);
    store_close(w.st);

    write_file(f.conf, "listen = 127.0.0.1:0\nk = 12\n# a comment\nthreads = 2\n", 0644);
    LOOP("config file", config_op, &f, nomem);
    write_file(f.token, "0123456789abcdef0123456789abcdef\n", 0600);
    assert_true(LOOP("token file", token_op, &f, nomem) > 0);
    struct sts_ohttp_gateway_key *k = NULL;
    assert_int_equal(sts_ohttp_gateway_key_generate(&k), STS_OK);
    assert_int_equal(sts_ohttp_gateway_key_write_file(k, f.ohttp), STS_OK);
    sts_ohttp_gateway_key_free(k);
    assert_true(LOOP("gateway keys", gateway_op, &f, nomem_or_crypto) > 0);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    alloc_fail_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
