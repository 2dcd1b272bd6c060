/* The relay's running log (see summary.h): a one-second tick (front/tick.h)
 * over the relay's counters. */
#include "summary.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "sts/log.h"
#include "tick.h"

/* The kinds of sts_relay_gateway_failures_total, in the summary's order. */
enum { GW_UNREACHABLE, GW_TIMEOUT, GW_TOO_LARGE, GW_BAD_ANSWER, GW_KINDS };

static const char *const gw_labels[GW_KINDS] = {"kind=\"unreachable\"", "kind=\"timeout\"",
                                                "kind=\"too_large\"", "kind=\"bad_answer\""};

/* Answers by status class: 2xx, 4xx, 5xx, and the codes the front does not
 * count one by one (code="other"). */
enum { ANS_2XX, ANS_4XX, ANS_5XX, ANS_OTHER, ANS_CLASSES };

static const char *const ans_prefix[ANS_CLASSES] = {"code=\"2", "code=\"4", "code=\"5",
                                                    "code=\"other\""};

/* What is read at each tick. */
struct counts {
    int64_t forwarded, refused, gw[GW_KINDS], answers[ANS_CLASSES];
};

struct relay_summary {
    struct metrics *m;
    long summary_s;
    struct metric *forwarded, *refused, *gw[GW_KINDS], *open;
    struct tick *tick;
    /* state between ticks */
    bool failing;
    long long failing_since;
    /* Gateway failures before the last second in which a request was
     * answered: what failed from then on failed "meanwhile" (a second
     * with both may have seen the gateway die). */
    int64_t failed_before_answered;
    struct counts prev, at_summary; /* the previous tick's, the last summary's */
};

static long long now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec;
}

static int64_t sum_gw(const struct counts *c)
{
    int64_t n = 0;
    for (int k = 0; k < GW_KINDS; k++)
        n += c->gw[k];
    return n;
}

static void read_counts(struct relay_summary *s, struct counts *c)
{
    c->forwarded = metric_value(s->forwarded);
    c->refused = metric_value(s->refused);
    for (int k = 0; k < GW_KINDS; k++)
        c->gw[k] = metric_value(s->gw[k]);
    for (int k = 0; k < ANS_CLASSES; k++)
        c->answers[k] = metrics_sum(s->m, "sts_http_responses_total", ans_prefix[k]);
}

static void look(void *ctx, bool summary, bool final)
{
    struct relay_summary *s = ctx;
    struct counts c;
    (void) final;
    read_counts(s, &c);
    long long now = now_s();
    int64_t failed = sum_gw(&c) - sum_gw(&s->prev), answered = c.forwarded - s->prev.forwarded;
    if (!s->failing && answered > 0)
        s->failed_before_answered = sum_gw(&s->prev);
    if (!s->failing && failed > 0 && answered == 0) {
        s->failing = true;
        s->failing_since = now;
        sts_log(STS_LOG_WARNING,
                "gateway failing: %lld requests in the last second got no usable answer "
                "(%lld unreachable, %lld timed out, %lld too large, %lld bad answers) and were "
                "answered 502 or 504; none was answered",
                (long long)failed, (long long)(c.gw[GW_UNREACHABLE] - s->prev.gw[GW_UNREACHABLE]),
                (long long)(c.gw[GW_TIMEOUT] - s->prev.gw[GW_TIMEOUT]),
                (long long)(c.gw[GW_TOO_LARGE] - s->prev.gw[GW_TOO_LARGE]),
                (long long)(c.gw[GW_BAD_ANSWER] - s->prev.gw[GW_BAD_ANSWER]));
    } else if (s->failing && answered > 0 && failed == 0) {
        s->failing = false;
        sts_log(STS_LOG_NOTICE,
                "gateway recovered after %llds: requests are answered again; %lld failed "
                "meanwhile",
                now - s->failing_since, (long long)(sum_gw(&s->prev) - s->failed_before_answered));
    }
    s->prev = c;

    if (summary) {
        const struct counts *p = &s->at_summary;
        sts_log(STS_LOG_INFO,
                "summary of the last %lds: %lld requests forwarded, %lld refused; answers %lld "
                "2xx, %lld 4xx, %lld 5xx, %lld other; %lld gateway failures (%lld unreachable, "
                "%lld timeouts, %lld too large, %lld bad answers); %lld connections open; "
                "gateway %s",
                s->summary_s, (long long)(c.forwarded - p->forwarded),
                (long long)(c.refused - p->refused),
                (long long)(c.answers[ANS_2XX] - p->answers[ANS_2XX]),
                (long long)(c.answers[ANS_4XX] - p->answers[ANS_4XX]),
                (long long)(c.answers[ANS_5XX] - p->answers[ANS_5XX]),
                (long long)(c.answers[ANS_OTHER] - p->answers[ANS_OTHER]),
                (long long)(sum_gw(&c) - sum_gw(p)),
                (long long)(c.gw[GW_UNREACHABLE] - p->gw[GW_UNREACHABLE]),
                (long long)(c.gw[GW_TIMEOUT] - p->gw[GW_TIMEOUT]),
                (long long)(c.gw[GW_TOO_LARGE] - p->gw[GW_TOO_LARGE]),
                (long long)(c.gw[GW_BAD_ANSWER] - p->gw[GW_BAD_ANSWER]),
                (long long)metric_value(s->open), s->failing ? "failing" : "ok");
        s->at_summary = c;
    }
}

enum sts_err relay_summary_start(struct metrics *m, long summary_s, struct relay_summary **out)
{
    struct relay_summary *s = calloc(1, sizeof *s);
    if (!s)
        return STS_ENOMEM;
    s->m = m;
    s->summary_s = summary_s;
    s->forwarded = metrics_find(m, "sts_relay_requests_total", "outcome=\"forwarded\"");
    s->refused = metrics_find(m, "sts_relay_requests_total", "outcome=\"refused\"");
    for (int k = 0; k < GW_KINDS; k++)
        s->gw[k] = metrics_find(m, "sts_relay_gateway_failures_total", gw_labels[k]);
    s->open = metrics_find(m, "sts_http_open_connections", NULL);
    /* Counted from now: a summary covers its interval only. */
    read_counts(s, &s->prev);
    s->at_summary = s->prev;
    enum sts_err e = tick_start(look, s, summary_s, &s->tick);
    if (e != STS_OK) {
        free(s);
        return e;
    }
    *out = s;
    return STS_OK;
}

void relay_summary_stop(struct relay_summary *s)
{
    if (!s)
        return;
    tick_stop(s->tick);
    free(s);
}
