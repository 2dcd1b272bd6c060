/* The running log (see monitor.h): a one-second tick (front/tick.h)
 * compares counters with the previous tick's and writes a line on each
 * change of state. */
#include "monitor.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "sts/log.h"
#include "tick.h"

/* A rate limit counts as disengaged after this long without a 429. */
#define RATE_QUIET_S 60

struct monitor {
    struct http_server *srv;
    struct ingest *ing;
    long summary_s;
    struct metric *rate_limited, *open, *queue, *commits, *tx_failed;
    struct tick *tick;
    /* state between ticks */
    bool healthy, engaged;
    long long failing_since, rate_last;
    int64_t rate_seen, rate_at_engage, rate_summary;
    int64_t tx_summary, txf_summary;
    struct http_counters last_summary;
    struct http_counters at_failing, prev; /* prev: the previous tick's */
};

static long long now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec;
}

static void look(void *ctx, bool summary, bool final)
{
    struct monitor *mon = ctx;
    long long now = now_s();
    struct http_counters c;
    http_get_counters(mon->srv, &c);
    bool healthy = ingest_healthy(mon->ing);
    if (!healthy && mon->healthy) {
        mon->failing_since = now;
        /* The failures that made it fail came within the last tick. */
        mon->at_failing = mon->prev;
        sts_log(STS_LOG_WARNING,
                "storage failing: reports are answered 503 with Retry-After until a transaction "
                "commits again (the database's reason is logged above)");
    } else if (healthy && !mon->healthy) {
        sts_log(STS_LOG_NOTICE,
                "storage recovered after %llds; %llu reports were answered 503 meanwhile",
                now - mon->failing_since, c.failed - mon->at_failing.failed);
    }
    mon->healthy = healthy;
    mon->prev = c;

    int64_t rate = metric_value(mon->rate_limited);
    if (rate > mon->rate_seen) {
        if (!mon->engaged) {
            mon->engaged = true;
            mon->rate_at_engage = mon->rate_seen;
            sts_log(STS_LOG_NOTICE,
                    "rate limits engaged: %lld requests answered 429 in the last second "
                    "(limits per client address; addresses are never logged)",
                    (long long)(rate - mon->rate_seen));
        }
        mon->rate_last = now;
    } else if (mon->engaged && (now - mon->rate_last >= RATE_QUIET_S || final)) {
        mon->engaged = false;
        sts_log(STS_LOG_NOTICE, "rate limits disengaged: %lld requests answered 429 while engaged",
                (long long)(rate - mon->rate_at_engage));
    }
    mon->rate_seen = rate;

    if (summary) {
        const struct http_counters *p = &mon->last_summary;
        int64_t tx = metric_value(mon->commits), txf = metric_value(mon->tx_failed);
        unsigned long long n = (c.accepted - p->accepted) + (c.reactivations - p->reactivations) +
                               (c.duplicates - p->duplicates) + (c.invalid - p->invalid) +
                               (c.failed - p->failed);
        sts_log(STS_LOG_INFO,
                "summary of the last %lds: %llu reports (%llu accepted, %llu re-activations, "
                "%llu duplicates, %llu invalid, %llu failed); %lld transactions committed, %lld "
                "failed; %lld connections open, %lld reports queued, %lld requests rate-limited; "
                "storage %s",
                mon->summary_s, n, c.accepted - p->accepted, c.reactivations - p->reactivations,
                c.duplicates - p->duplicates, c.invalid - p->invalid, c.failed - p->failed,
                (long long)(tx - mon->tx_summary), (long long)(txf - mon->txf_summary),
                (long long)metric_value(mon->open), (long long)metric_value(mon->queue),
                (long long)(rate - mon->rate_summary), healthy ? "ok" : "failing");
        mon->last_summary = c;
        mon->tx_summary = tx;
        mon->txf_summary = txf;
        mon->rate_summary = rate;
    }
}

enum sts_err monitor_start(struct http_server *srv, struct ingest *ing, struct metrics *m,
                           long summary_s, struct monitor **out)
{
    struct monitor *mon = calloc(1, sizeof *mon);
    if (!mon)
        return STS_ENOMEM;
    mon->srv = srv;
    mon->ing = ing;
    mon->summary_s = summary_s;
    mon->healthy = true;
    mon->rate_limited = metrics_find(m, "sts_http_rate_limited_total", NULL);
    mon->open = metrics_find(m, "sts_http_open_connections", NULL);
    mon->queue = metrics_find(m, "sts_ingest_queue_depth", NULL);
    mon->commits = metrics_find(m, "sts_storage_transactions_total", "result=\"committed\"");
    mon->tx_failed = metrics_find(m, "sts_storage_transactions_total", "result=\"failed\"");
    enum sts_err e = tick_start(look, mon, summary_s, &mon->tick);
    if (e != STS_OK) {
        free(mon);
        return e;
    }
    *out = mon;
    return STS_OK;
}

void monitor_stop(struct monitor *mon)
{
    if (!mon)
        return;
    tick_stop(mon->tick);
    free(mon);
}
