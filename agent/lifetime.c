/* Planning lifetime pings over calendar months. See lifetime.h. */
#include "lifetime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "facts.h"
#include "report.h"
#include "consent.h"
#include "sts/date.h"

int32_t agent_activation_cohort(const struct agent_state *st)
{
    int32_t day = 0;
    if (!st->act.present || st->act.payload == NULL)
        return 0;
    json_t *doc = json_loads(st->act.payload, 0, NULL);
    const char *d = json_string_value(json_object_get(doc, "day"));
    int32_t month = (d != NULL && sts_day_parse(d, &day) == STS_OK) ? sts_day_month(day) : 0;
    json_decref(doc);
    return month;
}

int64_t agent_lifetime_deadline_ms(const struct agent_config *cfg, int32_t period)
{
    return agent_month_start_ms(period + 1) + (int64_t)cfg->lifetime_grace_days * AGENT_DAY_MS;
}

enum sts_err agent_lifetime_build(const struct agent_config *cfg, const struct agent_state *st,
                                  int32_t period, char report_id[static STS_REPORT_ID_LEN + 1],
                                  bool *first, char **payload, char *problems, size_t problems_size,
                                  struct sts_field_error *err)
{
    struct agent_facts facts;
    struct sts_report r;
    struct sts_field_error warn;
    *payload = NULL;
    memset(err, 0, sizeof *err);
    int32_t cohort = agent_activation_cohort(st);
    if (cohort == 0) {
        snprintf(err->field, sizeof err->field, "cohort");
        snprintf(err->detail, sizeof err->detail, "no activation made yet: a ping needs its month");
        return STS_ENOENT;
    }
    enum sts_err rc =
        agent_facts_gather(cfg, AGENT_NEED_LIFETIME, &facts, problems, problems_size, err);
    if (rc != STS_OK)
        return rc;
    /* "first" marks the month the device joined the panel, whether or not
     * that month's ping arrives (docs/lifetime.md: the estimator relies on
     * it); make_ping records the joining as soon as the ping is made. */
    bool f = !st->life.entered;
    rc = agent_report_lifetime(&facts, agent_country_consent(cfg, st), cohort, period, f, &r, &warn,
                               err);
    if (rc != STS_OK)
        return rc;
    rc = sts_report_encode(&r, payload);
    if (rc != STS_OK)
        return rc;
    sts_report_id_hex(r.report_id, report_id);
    *first = f;
    return STS_OK;
}

static void log_drop(struct agent_state *st, const struct agent_ping *p, int64_t now_ms,
                     const char *why)
{
    struct agent_log_entry e;
    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    snprintf(e.type, sizeof e.type, "lifetime");
    memcpy(e.report_id, p->report_id, sizeof e.report_id);
    snprintf(e.outcome, sizeof e.outcome, "dropped");
    snprintf(e.detail, sizeof e.detail, "%s", why);
    e.payload = p->payload;
    agent_state_log(st, &e);
}

/* Makes the ping of period and queues it. Returns false when it cannot be
 * made now (why in msg). */
static bool make_ping(const struct agent_config *cfg, struct agent_state *st, int32_t period,
                      int64_t now_ms, char *msg, size_t msg_size)
{
    struct agent_lifetime *l = &st->life;
    struct sts_field_error err;
    char problems[512], id[STS_REPORT_ID_LEN + 1], m[STS_MONTH_LEN + 1];
    char *payload = NULL;
    bool first = false;

    sts_month_format(period, m);
    enum sts_err rc = agent_lifetime_build(cfg, st, period, id, &first, &payload, problems,
                                           sizeof problems, &err);
    if (rc != STS_OK) {
        snprintf(msg, msg_size, "the lifetime ping of %s waits: %s: %s", m, err.field, err.detail);
        if (rc != STS_ENOENT || strcmp(err.field, "cohort") != 0) {
            char line[600];
            snprintf(line, sizeof line, "%s", problems[0] ? problems : err.detail);
            if (problems[0] == '\0')
                snprintf(line, sizeof line, "%s: %s", err.field, err.detail);
            agent_state_set_str(&st->facts_error, line);
        }
        return false;
    }
    if (l->npending >= (size_t)cfg->lifetime_queue_max || l->npending >= AGENT_PINGS_MAX) {
        log_drop(st, &l->pending[0], now_ms, "the offline queue is full: oldest ping dropped");
        agent_state_ping_remove(st, 0);
    }
    struct agent_ping *p = &l->pending[l->npending++];
    memset(p, 0, sizeof *p);
    memcpy(p->report_id, id, sizeof p->report_id);
    p->period = period;
    p->first = first;
    if (first)
        l->entered = true;
    p->payload = payload;
    p->created_ms = now_ms;
    p->next_attempt_ms = now_ms;
    l->last_period = period;
    if (st->facts_error != NULL && st->act.present)
        agent_state_set_str(&st->facts_error, NULL);
    return true;
}

bool agent_lifetime_plan(const struct agent_config *cfg, struct agent_state *st, int64_t now_ms,
                         uint64_t rnd, bool *blocked, char *msg, size_t msg_size)
{
    struct agent_lifetime *l = &st->life;
    bool changed = false;
    int32_t now_month = agent_month_of(now_ms);

    *blocked = false;
    if (msg_size > 0)
        msg[0] = '\0';
    if (!agent_lifetime_consent(cfg, st)) {
        if (l->npending > 0) {
            agent_state_pings_drop_all(st, now_ms, "no lifetime consent: dropped unsent");
            changed = true;
        }
        if (l->slot_period != 0) {
            l->slot_period = 0;
            l->slot_ms = 0;
            changed = true;
        }
        return changed;
    }

    /* Pings whose grace window has closed are dropped, unsent. */
    for (size_t i = 0; i < l->npending;) {
        if (now_ms >= agent_lifetime_deadline_ms(cfg, l->pending[i].period)) {
            log_drop(st, &l->pending[i], now_ms, "not sent within the grace window: dropped");
            agent_state_ping_remove(st, i);
            changed = true;
        } else {
            i++;
        }
    }

    /* A moment drawn in an earlier month: make that month's ping late if
     * still within its grace window; either way, that month is over. */
    if (l->slot_period != 0 && l->slot_period < now_month) {
        if (l->slot_period > l->last_period && now_ms >= l->slot_ms &&
            now_ms < agent_lifetime_deadline_ms(cfg, l->slot_period)) {
            if (!make_ping(cfg, st, l->slot_period, now_ms, msg, msg_size)) {
                *blocked = true;
                return changed;
            }
        }
        l->slot_period = 0;
        l->slot_ms = 0;
        changed = true;
    }
    /* A moment drawn for a later month than now (the clock went back): it
     * is redrawn when that month comes again. */
    if (l->slot_period > now_month) {
        l->slot_period = 0;
        l->slot_ms = 0;
        changed = true;
    }

    /* This month's moment. */
    if (l->slot_period == 0 && now_month > l->last_period) {
        int64_t from = agent_month_start_ms(now_month);
        int64_t to = agent_month_start_ms(now_month + 1);
        if (now_ms > from)
            from = now_ms;
        l->slot_period = now_month;
        l->slot_ms = from + (int64_t)(rnd % (uint64_t)(to - from));
        changed = true;
    }
    if (l->slot_period == now_month && now_ms >= l->slot_ms) {
        if (make_ping(cfg, st, now_month, now_ms, msg, msg_size)) {
            l->slot_period = 0;
            l->slot_ms = 0;
            changed = true;
        } else {
            *blocked = true;
        }
    }
    return changed;
}

int64_t agent_lifetime_next_ms(const struct agent_config *cfg, const struct agent_state *st,
                               int64_t now_ms)
{
    const struct agent_lifetime *l = &st->life;
    int64_t next = INT64_MAX;
    if (!agent_lifetime_consent(cfg, st))
        return l->npending > 0 ? now_ms : INT64_MAX; /* to drop them */
    for (size_t i = 0; i < l->npending; i++) {
        int64_t t = l->pending[i].next_attempt_ms;
        int64_t d = agent_lifetime_deadline_ms(cfg, l->pending[i].period);
        if (t < next)
            next = t;
        if (d < next)
            next = d;
    }
    if (l->slot_period != 0 && l->slot_ms > now_ms && l->slot_ms < next)
        next = l->slot_ms;
    /* The start of the next month: its moment is drawn then. */
    int64_t month_end = agent_month_start_ms(agent_month_of(now_ms) + 1);
    if (month_end < next)
        next = month_end;
    return next;
}

bool agent_lifetime_next_ping(const struct agent_config *cfg, const struct agent_state *st,
                              int64_t now_ms, int32_t *period, int64_t *from_ms, int64_t *to_ms)
{
    const struct agent_lifetime *l = &st->life;
    int32_t now_month = agent_month_of(now_ms);
    if (!agent_lifetime_consent(cfg, st))
        return false;
    /* The same cases as agent_lifetime_plan, in the same order. */
    if (l->slot_period != 0 && l->slot_period < now_month && l->slot_period > l->last_period &&
        now_ms >= l->slot_ms && now_ms < agent_lifetime_deadline_ms(cfg, l->slot_period)) {
        *period = l->slot_period;
        *from_ms = *to_ms = now_ms;
        return true;
    }
    if (l->slot_period == now_month) {
        *period = now_month;
        *from_ms = *to_ms = l->slot_ms > now_ms ? l->slot_ms : now_ms;
        return true;
    }
    if (now_month > l->last_period) {
        *period = now_month;
        *from_ms = now_ms;
        *to_ms = agent_month_start_ms(now_month + 1) - 1;
        return true;
    }
    *period = l->last_period + 1;
    *from_ms = agent_month_start_ms(*period);
    *to_ms = agent_month_start_ms(*period + 1) - 1;
    return true;
}
