/* Statistics at scale: fills a fresh SQLite store with N activations (default
 * 10,000,000) through the store API, in large batches, spread over 24 months
 * like the fleet's catalogue (brands, models, versions, countries), plus the
 * lifetime counters such a fleet sends (one counter row per period, cohort,
 * brand, model, version, country and first flag), then times every
 * statistics query the dashboard and the CLI make, through the same code the
 * HTTP API runs (stats_api: rollups, privacy floor, JSON), next to a plain
 * GROUP BY over the raw activation table in the same database.
 * usage: bench_store_stats DIR [ACTIVATIONS] [REPEAT] */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "stats.h"
#include "store.h"
#include "sts/date.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const models[] = {"K400", "K500", "P10", "P20", "X1", "M2-lite"};
static const unsigned model_w[] = {30, 25, 20, 15, 6, 4};
static const char *const eu[] = {"FR", "DE", "IT", "ES", "NL", "BE",
                                 "PL", "SE", "AT", "PT", "IE", ""};
static const char *const us[] = {"US", "CA", "MX", ""};

static uint64_t rng_s = 0x1234567;
static uint64_t rnd(void)
{
    uint64_t z = (rng_s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t pick_model(void)
{
    unsigned x = (unsigned)(rnd() % 100);
    for (size_t i = 0; i < 6; i++) {
        if (x < model_w[i])
            return i;
        x -= model_w[i];
    }
    return 0;
}

static void device(struct store_record *r, int32_t first_day, int32_t span)
{
    size_t m = pick_model();
    bool eu_brand = rnd() % 100 < 55;
    memset(r, 0, sizeof *r);
    r->type = STS_REPORT_ACTIVATION;
    RAND_bytes(r->pseudonym, sizeof r->pseudonym);
    RAND_bytes(r->report_id, sizeof r->report_id);
    r->key_id = 1;
    /* A sales curve: more in the first half. */
    double t = (double)(rnd() % 1000000) / 1e6;
    r->day = first_day + (int32_t)(span * (1.0 - sqrt(1.0 - t)));
    snprintf(r->brand, sizeof r->brand, "%s", eu_brand ? "acme-eu" : "acme-us");
    snprintf(r->model, sizeof r->model, "%s", models[m]);
    snprintf(r->sw, sizeof r->sw, "%s-V%d", models[m], (int)(rnd() % 3));
    const char *c = eu_brand ? eu[rnd() % 12] : us[rnd() % 4];
    snprintf(r->country, sizeof r->country, "%s", c);
}

/* The lifetime counters of the fleet just written: for each cohort, period,
 * brand, model, version and country, survivors of a Weibull-like law. */
static int fill_lifetime(const char *path, int32_t first_month, int32_t last_month, long n)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *ins, *ver;
    /* Schema 4: a ping counts in lifetime_count (no sw, no country) and in
     * version_count (no cohort), as the collector does. */
    sqlite3_prepare_v2(db,
                       "INSERT INTO lifetime_count(period,cohort,brand,model,first,count)"
                       " VALUES(?1,?2,?3,?4,?7,?8) ON CONFLICT DO UPDATE SET "
                       "count=count+excluded.count",
                       -1, &ins, NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO version_count(period,brand,model,sw,count)"
                       " VALUES(?1,?3,?4,?5,?8) ON CONFLICT DO UPDATE SET "
                       "count=count+excluded.count",
                       -1, &ver, NULL);
    long rows = 0;
    int months = last_month - first_month + 1;
    double per_cohort = (double)n / months * 0.7;
    for (int32_t c = first_month; c <= last_month; c++)
        for (size_t m = 0; m < 6; m++)
            for (int b = 0; b < 2; b++) {
                const char *const *cs = b == 0 ? eu : us;
                size_t nc = b == 0 ? 12 : 4;
                for (size_t ci = 0; ci < nc; ci++)
                    for (int32_t p = c; p <= last_month; p++) {
                        int a = p - c;
                        double alive = exp(-pow(a / 14.0, 1.6));
                        double base = per_cohort * model_w[m] / 100.0 * (b ? 0.45 : 0.55) / nc;
                        for (int v = 0; v < 3; v++) {
                            /* Newer versions take over with time. */
                            int newest = (int)((p - first_month) * 3 / months);
                            if (v > newest || v < newest - 1)
                                continue;
                            char sw[32];
                            snprintf(sw, sizeof sw, "%s-V%d", models[m], v);
                            for (int first = 0; first < 2; first++) {
                                double cnt = base * alive * 0.5 *
                                             (first ? (a == 0 ? 1.0 : 0.02) : (a == 0 ? 0 : 0.98));
                                if (cnt < 1)
                                    continue;
                                for (int k = 0; k < 2; k++) {
                                    sqlite3_stmt *q = k ? ver : ins;
                                    sqlite3_bind_int(q, 1, p);
                                    sqlite3_bind_int(q, 2, c);
                                    sqlite3_bind_text(q, 3, b ? "acme-us" : "acme-eu", -1, NULL);
                                    sqlite3_bind_text(q, 4, models[m], -1, NULL);
                                    sqlite3_bind_text(q, 5, sw, -1, SQLITE_TRANSIENT);
                                    sqlite3_bind_text(q, 6, cs[ci], -1, NULL);
                                    sqlite3_bind_int(q, 7, first);
                                    sqlite3_bind_int64(q, 8, (sqlite3_int64)cnt);
                                    sqlite3_step(q);
                                    sqlite3_reset(q);
                                }
                                rows++;
                            }
                        }
                    }
            }
    sqlite3_finalize(ins);
    sqlite3_finalize(ver);
    /* The rollups the collector keeps beside the counters. */
    sqlite3_exec(db,
                 "INSERT INTO life_model SELECT period, cohort, model, first, sum(count)"
                 " FROM lifetime_count GROUP BY 1, 2, 3, 4;",
                 NULL, NULL, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return (int)(rows > 0 ? rows : 0);
}

/* Times a raw GROUP BY: runs it to the end, returns seconds. */
static double raw(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    double t0 = now();
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: %s: %s\n", sql, sqlite3_errmsg(db));
        return -1;
    }
    long rows = 0;
    while (sqlite3_step(q) == SQLITE_ROW)
        rows++;
    sqlite3_finalize(q);
    return now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store_stats DIR [ACTIVATIONS] [REPEAT]\n");
        return 2;
    }
    long total = argc > 2 ? strtol(argv[2], NULL, 10) : 10000000;
    int repeat = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
    char uri[4200], path[4096], why[256];
    snprintf(path, sizeof path, "%s/stats.db", argv[1]);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    int32_t today = sts_day_today();
    int32_t last_month = sts_day_month(today) - 1;
    int32_t first_month = last_month - 23;
    int32_t first_day = sts_month_first_day(first_month);
    int32_t span = sts_month_first_day(last_month + 1) - first_day;

    struct store *st;
    if (store_open(uri, STORE_CREATE, &st, why, sizeof why) != STS_OK) {
        fprintf(stderr, "bench_store_stats: %s\n", why);
        return 1;
    }
    const size_t batch = 20000;
    struct store_record *recs = calloc(batch, sizeof *recs);
    struct store_record **ptrs = calloc(batch, sizeof *ptrs);
    if (!recs || !ptrs)
        return 1;
    double t0 = now();
    for (long done = 0; done < total;) {
        size_t n = 0;
        for (; n < batch && done < total; n++, done++) {
            device(&recs[n], first_day, span);
            ptrs[n] = &recs[n];
        }
        if (store_write(st, ptrs, n) != STS_OK)
            return 1;
        if (done % 1000000 == 0 || done == total) {
            fprintf(stderr, "\rbench_store_stats: %ld activations written (%.0f/s)", done,
                    done / (now() - t0));
        }
    }
    fprintf(stderr, "\n");
    store_close(st);
    int lrows = fill_lifetime(path, first_month, last_month, total);
    printf("filled %ld activations in %.1f s, %d lifetime counter rows\n", total, now() - t0,
           lrows);

    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_stmt *c;
    const char *tables[] = {"activation",     "sales_day",  "sales_day_mc",
                            "lifetime_count", "life_model", "version_count"};
    for (size_t i = 0; i < 6; i++) {
        char q[128];
        snprintf(q, sizeof q, "SELECT count(*) FROM %s", tables[i]);
        if (sqlite3_prepare_v2(db, q, -1, &c, NULL) == SQLITE_OK && sqlite3_step(c) == SQLITE_ROW)
            printf("  %-16s %lld rows\n", tables[i], (long long)sqlite3_column_int64(c, 0));
        sqlite3_finalize(c);
    }
    if (store_open(uri, 0, &st, why, sizeof why) != STS_OK)
        return 1;

    static const struct {
        const char *name, *which, *by, *period, *cumulative, *model;
        const char *raw;
        bool dashboard;
    } q[] = {
        {"sales by model per month", "sales", "model", "month", NULL, NULL,
         "SELECT model, day, sum(activations) FROM sales_day GROUP BY model, day", true},
        {"sales by country", "sales", "country", NULL, NULL, NULL,
         "SELECT country, sum(activations) FROM sales_day GROUP BY country", true},
        {"lifetime by model", "lifetime", "model", NULL, NULL, NULL,
         "SELECT model, day, sum(activations) FROM sales_day GROUP BY model, day", true},
        {"versions", "versions", NULL, NULL, NULL, NULL, NULL, true},
        {"sales model=K400 per month", "sales", "model", "month", NULL, "K400",
         "SELECT day, sum(activations) FROM sales_day WHERE model='K400' GROUP BY day", true},
        {"sales country model=K400", "sales", "country", NULL, NULL, "K400",
         "SELECT country, sum(activations) FROM sales_day WHERE model='K400' GROUP BY country",
         true},
        {"lifetime model=K400", "lifetime", "model", NULL, NULL, "K400",
         "SELECT day, sum(activations) FROM sales_day WHERE model='K400' GROUP BY day", true},
        {"versions model=K400", "versions", NULL, NULL, NULL, "K400", NULL, true},
        {"sales by model per week", "sales", "model", "week", NULL, NULL,
         "SELECT model, day, sum(activations) FROM sales_day GROUP BY model, day", true},
        {"sales by model per day", "sales", "model", "day", NULL, NULL,
         "SELECT model, day, sum(activations) FROM sales_day GROUP BY model, day", true},
        {"sales total", "sales", NULL, NULL, NULL, NULL, "SELECT sum(activations) FROM sales_day",
         false},
        {"sales model,country per month, cumulative", "sales", "model,country", "month", "1", NULL,
         "SELECT model, country, day, sum(activations) FROM sales_day GROUP BY 1, 2, 3", false},
        /* The release has no table of software version and country together,
         * nor lifetime by country: those queries are refused, so the heaviest
         * allowed ones stand in for them. */
        {"sales brand,model,sw per month", "sales", "brand,model,sw", "month", NULL, NULL,
         "SELECT brand, model, sw, day, sum(activations) FROM sales_day GROUP BY 1, 2, 3, 4",
         false},
        {"lifetime by brand,model", "lifetime", "brand,model", NULL, NULL, NULL,
         "SELECT brand, model, day, sum(activations) FROM sales_day GROUP BY 1, 2, 3", false},
    };
    printf("\n%-42s %10s %10s %9s %s\n", "query (median of runs)", "stats ms", "raw ms", "speed-up",
           "");
    int slow = 0;
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        struct stats_args a = {.by = q[i].by,
                               .period = q[i].period,
                               .cumulative = q[i].cumulative,
                               .model = q[i].model};
        double best[32];
        int runs = repeat < 32 ? repeat : 32;
        size_t bytes = 0;
        for (int r = 0; r < runs; r++) {
            char *json = NULL;
            struct sts_field_error fe;
            double s0 = now();
            if (stats_api(st, q[i].which, &a, &json, &fe) != STS_OK) {
                fprintf(stderr, "bench: %s failed: %s %s\n", q[i].name, fe.field, fe.detail);
                return 1;
            }
            best[r] = now() - s0;
            bytes = strlen(json);
            free(json);
        }
        for (int x = 0; x < runs; x++)
            for (int y = x + 1; y < runs; y++)
                if (best[y] < best[x]) {
                    double tmp = best[x];
                    best[x] = best[y];
                    best[y] = tmp;
                }
        double ms = best[runs / 2] * 1000;
        double raw_ms = q[i].raw ? raw(db, q[i].raw) * 1000 : -1;
        char rawtxt[32] = "n/a", up[32] = "";
        if (raw_ms >= 0) {
            snprintf(rawtxt, sizeof rawtxt, "%.1f", raw_ms);
            snprintf(up, sizeof up, "%.0fx", raw_ms / ms);
        }
        bool bad = q[i].dashboard && (ms > 50 || (raw_ms >= 0 && raw_ms / ms < 20));
        slow += bad;
        printf("%-42s %10.2f %10s %9s %s%s (%zu bytes)\n", q[i].name, ms, rawtxt, up,
               q[i].dashboard ? "dashboard" : "", bad ? " MISSES THE TARGET" : "", bytes);
        fflush(stdout);
    }
    store_close(st);
    sqlite3_close(db);
    free(recs);
    free(ptrs);
    printf("\ntarget: every dashboard query under 50 ms and at least 20x faster than the raw "
           "scan: %s\n",
           slow ? "MISSED" : "met");
    return slow ? 1 : 0;
}
