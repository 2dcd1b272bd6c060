/* `sts-agent run`: the activation's life from facts to acknowledgement. See
 * run.h. The state lock is held only while the state is read and changed,
 * never while sending or sleeping, so the owner's commands are never kept
 * waiting on the network. */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "facts.h"
#include "lifetime.h"
#include "report.h"
#include "sts/date.h"

static enum sts_err build_activation(const struct agent_config *cfg, const struct agent_state *st,
                                     int32_t day, char report_id[static STS_REPORT_ID_LEN + 1],
                                     char **payload, struct sts_field_error *warn,
                                     struct sts_field_error *err, char *problems,
                                     size_t problems_size)
{
    struct agent_facts facts;
    struct sts_report r;
    *payload = NULL;
    memset(warn, 0, sizeof *warn);
    enum sts_err rc =
        agent_facts_gather(cfg, AGENT_NEED_ACTIVATION, &facts, problems, problems_size, err);
    if (rc != STS_OK)
        return rc;
    rc = agent_report_activation(&facts, agent_country_consent(cfg, st), day, &r, warn, err);
    if (rc != STS_OK)
        return rc;
    if (report_id[0] != '\0' && sts_report_id_bytes(report_id, r.report_id) != STS_OK)
        return STS_EINVAL;
    rc = sts_report_encode(&r, payload);
    if (rc == STS_OK)
        sts_report_id_hex(r.report_id, report_id);
    return rc;
}

enum sts_err agent_build_activation(const struct agent_config *cfg, const struct agent_state *st,
                                    int32_t day, char report_id[static STS_REPORT_ID_LEN + 1],
                                    char **payload, struct sts_field_error *warn,
                                    struct sts_field_error *err)
{
    return build_activation(cfg, st, day, report_id, payload, warn, err, NULL, 0);
}

enum sts_err agent_prepare_activation(const struct agent_config *cfg, struct agent_state *st,
                                      int64_t now_ms, int32_t day, char *msg, size_t msg_size)
{
    struct sts_field_error warn, err;
    char *payload = NULL;
    char line[600], problems[512];

    if (msg_size > 0)
        msg[0] = '\0';
    if (st->act.present)
        return STS_OK;
    memset(&err, 0, sizeof err);
    char id[STS_REPORT_ID_LEN + 1];
    memcpy(id, st->act.report_id, sizeof id);
    enum sts_err rc =
        build_activation(cfg, st, day, id, &payload, &warn, &err, problems, sizeof problems);
    if (rc == STS_ENOENT || rc == STS_ETOOBIG || rc == STS_EINVAL || rc == STS_EIO) {
        if (problems[0] != '\0')
            snprintf(line, sizeof line, "%s", problems);
        else
            snprintf(line, sizeof line, "%s: %s", err.field, err.detail);
        snprintf(msg, msg_size,
                 "fact %s; the activation is not sent while it is wrong: fix %s and run again",
                 line, cfg->path ? cfg->path : "the config file");
        if (agent_state_set_str(&st->facts_error, line) != STS_OK)
            return STS_ENOMEM;
        return rc;
    }
    if (rc != STS_OK)
        return rc;

    struct agent_activation *a = &st->act;
    memcpy(a->report_id, id, sizeof a->report_id);
    free(a->payload);
    a->payload = payload;
    a->present = true;
    a->status = AGENT_PENDING;
    a->created_ms = now_ms;
    a->attempts = 0;
    a->next_attempt_ms = now_ms;
    free(st->facts_error);
    st->facts_error = NULL;
    if (warn.field[0] != '\0') {
        snprintf(line, sizeof line, "%s: %s", warn.field, warn.detail);
        if (agent_state_set_str(&a->note, line) != STS_OK)
            return STS_ENOMEM;
        snprintf(msg, msg_size, "%s", line);
    }
    return STS_OK;
}

/* "HTTP 400: invalid, field imei: check digit does not match" from the
 * collector's JSON error; for an answer that is not the collector's, what it
 * probably is, in plain words. */
static void describe_answer(const struct agent_answer *ans, enum agent_verdict v, char *out,
                            size_t size)
{
    if (ans->status == 0) {
        snprintf(out, size, "no answer: %.200s", ans->error[0] ? ans->error : "network error");
        return;
    }
    if (v == AGENT_RETRY_LONG) {
        const char *what = "an answer that is not the collector's";
        if (ans->status >= 300 && ans->status < 400)
            what = "a redirect, which is never followed";
        else if (ans->status == 401 || ans->status == 403)
            what = "access refused by something between the device and the collector";
        else if (ans->status == 404 || ans->status == 405)
            what = "no collector at this address";
        snprintf(out, size, "HTTP %ld%s%.40s%s: %s%s%.100s; check the collector (or relay) URL",
                 ans->status, ans->content_type[0] ? " (" : "", ans->content_type,
                 ans->content_type[0] ? ")" : "", what, ans->redirect_url[0] ? " to " : "",
                 ans->redirect_url);
        return;
    }
    json_t *doc = ans->body ? json_loadb(ans->body, ans->body_len, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(doc, "error"));
    const char *f = json_string_value(json_object_get(doc, "field"));
    const char *d = json_string_value(json_object_get(doc, "detail"));
    if (e != NULL)
        snprintf(out, size, "HTTP %ld: %s%s%s%s%s", ans->status, e, f ? ", field " : "", f ? f : "",
                 d ? ": " : "", d ? d : "");
    else if (ans->body != NULL && ans->body_len > 0)
        snprintf(out, size, "HTTP %ld: %.100s", ans->status, ans->body);
    else
        snprintf(out, size, "HTTP %ld", ans->status);
    json_decref(doc);
}

static enum agent_verdict classify(const struct agent_answer *ans)
{
    return agent_retry_classify(ans->status, ans->content_type, ans->body, ans->body_len);
}

static int64_t next_delay(const struct agent_config *cfg, enum agent_verdict v, unsigned attempts,
                          const struct agent_answer *ans, uint64_t rnd)
{
    if (v == AGENT_RETRY_LONG)
        return agent_retry_long_delay_ms(attempts, rnd);
    return agent_retry_delay_ms(attempts, cfg->retry_base_ms, cfg->retry_cap_ms,
                                ans->retry_after_ms, rnd);
}

enum agent_verdict agent_record_attempt(const struct agent_config *cfg, struct agent_state *st,
                                        int64_t now_ms, const struct agent_answer *ans,
                                        uint64_t rnd)
{
    struct agent_activation *a = &st->act;
    struct agent_log_entry e;
    char what[256];
    enum agent_verdict v = classify(ans);

    describe_answer(ans, v, what, sizeof what);
    a->attempts++;
    if (ans->status != 0) {
        a->answer_status = ans->status;
        a->answer_ms = now_ms;
        agent_state_set_str(&a->answer_body, ans->body ? ans->body : "");
    }

    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    snprintf(e.type, sizeof e.type, "activation");
    snprintf(e.report_id, sizeof e.report_id, "%s", a->report_id);
    e.http_status = ans->status;
    e.payload = a->payload;

    switch (v) {
    case AGENT_DONE:
        a->status = AGENT_SENT;
        a->sent_ms = now_ms;
        a->next_attempt_ms = 0;
        agent_state_set_str(&a->last_error, NULL);
        snprintf(e.outcome, sizeof e.outcome, "%s", ans->status == 200 ? "duplicate" : "accepted");
        snprintf(e.detail, sizeof e.detail, "%.159s", ans->body ? ans->body : "");
        break;
    case AGENT_REJECT:
        a->status = AGENT_REJECTED;
        a->next_attempt_ms = 0;
        agent_state_set_str(&a->last_error, what);
        snprintf(e.outcome, sizeof e.outcome, "rejected");
        snprintf(e.detail, sizeof e.detail, "%.159s", what);
        break;
    case AGENT_RETRY:
    case AGENT_RETRY_LONG: {
        a->next_attempt_ms = now_ms + next_delay(cfg, v, a->attempts, ans, rnd);
        agent_state_set_str(&a->last_error, what);
        snprintf(e.outcome, sizeof e.outcome, "%s", v == AGENT_RETRY ? "retry" : "not-collector");
        snprintf(e.detail, sizeof e.detail, "%.159s", what);
        break;
    }
    }
    agent_state_log(st, &e);
    return v;
}

enum agent_verdict agent_record_ping_attempt(const struct agent_config *cfg, struct agent_state *st,
                                             size_t i, int64_t now_ms,
                                             const struct agent_answer *ans, uint64_t rnd)
{
    struct agent_ping *p = &st->life.pending[i];
    struct agent_log_entry e;
    char what[256];
    enum agent_verdict v = classify(ans);

    describe_answer(ans, v, what, sizeof what);
    p->attempts++;
    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    snprintf(e.type, sizeof e.type, "lifetime");
    memcpy(e.report_id, p->report_id, sizeof e.report_id);
    e.http_status = ans->status;
    e.payload = p->payload;
    switch (v) {
    case AGENT_DONE:
        snprintf(e.outcome, sizeof e.outcome, "%s", ans->status == 200 ? "duplicate" : "accepted");
        snprintf(e.detail, sizeof e.detail, "%.159s", ans->body ? ans->body : "");
        agent_state_log(st, &e);
        agent_state_ping_remove(st, i);
        break;
    case AGENT_REJECT:
        snprintf(e.outcome, sizeof e.outcome, "rejected");
        snprintf(e.detail, sizeof e.detail, "%.159s", what);
        agent_state_log(st, &e);
        agent_state_ping_remove(st, i);
        break;
    case AGENT_RETRY:
    case AGENT_RETRY_LONG:
        p->next_attempt_ms = now_ms + next_delay(cfg, v, p->attempts, ans, rnd);
        agent_state_set_str(&p->last_error, what);
        snprintf(e.outcome, sizeof e.outcome, "%s", v == AGENT_RETRY ? "retry" : "not-collector");
        snprintf(e.detail, sizeof e.detail, "%.159s", what);
        agent_state_log(st, &e);
        break;
    }
    return v;
}

void agent_route_describe(const struct agent_config *cfg, char *out, size_t size)
{
    if (cfg->transport == AGENT_TRANSPORT_OHTTP && cfg->relay != NULL)
        snprintf(out, size, "%s -> %s", cfg->relay, cfg->collector);
    else
        snprintf(out, size, "%s", cfg->collector);
}

bool agent_route_update(const struct agent_config *cfg, struct agent_state *st, int64_t now_ms)
{
    char route[2 * 4096 + 8];
    agent_route_describe(cfg, route, sizeof route);
    if (st->route != NULL && strcmp(st->route, route) == 0)
        return false;
    if (st->route != NULL) {
        /* A fixed URL delivers at this very run, not hours later. */
        if (st->act.present && st->act.status == AGENT_PENDING && st->act.next_attempt_ms > now_ms)
            st->act.next_attempt_ms = now_ms;
        for (size_t i = 0; i < st->life.npending; i++)
            if (st->life.pending[i].next_attempt_ms > now_ms)
                st->life.pending[i].next_attempt_ms = now_ms;
    }
    if (agent_state_set_str(&st->route, route) != STS_OK)
        return false;
    return true;
}

/* ---- the loop ---- */

enum step {
    STEP_AGAIN,    /* an attempt was made: look again at once */
    STEP_WAIT,     /* something is due at *wake_ms */
    STEP_FINISHED, /* nothing left to do */
    STEP_FAILED    /* cannot go on */
};

struct step_out {
    int64_t wake_ms;
    enum agent_verdict verdict; /* of the attempt made, 0 if none */
    bool blocked;               /* a report waits for its facts */
};

static void warn_msg(const char *msg)
{
    if (msg[0] != '\0')
        fprintf(stderr, "sts-agent: %s\n", msg);
}

/* Takes the lock and loads the state, recovering a corrupt file. */
static int open_state(const struct agent_config *cfg, struct agent_state *st, int *lock)
{
    char msg[1024];
    if (agent_state_lock(cfg->state_dir, lock) != STS_OK) {
        fprintf(stderr,
                "sts-agent: cannot create or lock the state directory %s: %s; check "
                "state_dir in %s and its permissions\n",
                cfg->state_dir, strerror(errno), cfg->path ? cfg->path : "the config");
        return -1;
    }
    enum sts_err rc = agent_state_load(cfg->state_dir, st, msg, sizeof msg);
    if (rc == STS_ECORRUPT) {
        warn_msg(msg);
        if (agent_state_save(cfg->state_dir, st) != STS_OK) {
            fprintf(stderr, "sts-agent: cannot write the state in %s: %s\n", cfg->state_dir,
                    strerror(errno));
            goto fail;
        }
        return 0;
    }
    if (rc != STS_OK) {
        fprintf(stderr, "sts-agent: %s\n", msg[0] ? msg : sts_strerror(rc));
        goto fail;
    }
    return 0;
fail:
    agent_state_cleanup(st);
    agent_state_unlock(*lock);
    *lock = -1;
    return -1;
}

static int save_state(const struct agent_config *cfg, const struct agent_state *st)
{
    enum sts_err rc = agent_state_save(cfg->state_dir, st);
    if (rc != STS_OK) {
        /* errno says which (no space left, read-only file system...). */
        const char *why = rc == STS_ENOMEM ? sts_strerror(rc) : strerror(errno);
        fprintf(stderr,
                "sts-agent: cannot write the state in %s: %s; nothing was lost "
                "but this step will be done again\n",
                cfg->state_dir, why);
        return -1;
    }
    return 0;
}

/* One pass: make what is to be made (the activation, this month's ping),
 * save it, then send the first report that is due and record the answer. */
static enum step step(const struct agent_config *cfg, struct agent_sender *sender,
                      volatile sig_atomic_t *stop, struct step_out *o)
{
    struct agent_state st;
    struct agent_answer ans;
    char msg[1024];
    char *payload = NULL;
    char report_id[STS_REPORT_ID_LEN + 1];
    bool is_activation = false;
    int lock = -1;
    enum step result = STEP_FAILED;

    memset(o, 0, sizeof *o);
    memset(&ans, 0, sizeof ans);
    agent_state_init(&st);
    if (open_state(cfg, &st, &lock) != 0)
        return STEP_FAILED;

    int64_t now = agent_now_ms();
    bool changed = false;
    if (!st.act.present) {
        enum sts_err rc =
            agent_prepare_activation(cfg, &st, now, agent_today(now), msg, sizeof msg);
        if (rc == STS_ENOENT || rc == STS_ETOOBIG || rc == STS_EINVAL || rc == STS_EIO) {
            warn_msg(msg);
            o->blocked = true;
        } else if (rc != STS_OK) {
            warn_msg(msg[0] ? msg : sts_strerror(rc));
            goto out;
        } else {
            warn_msg(msg);
        }
        changed = true;
    }
    if (agent_route_update(cfg, &st, now))
        changed = true;
    bool life_blocked = false;
    if (agent_lifetime_plan(cfg, &st, now, agent_random64(), &life_blocked, msg, sizeof msg))
        changed = true;
    if (life_blocked) {
        warn_msg(msg);
        o->blocked = true;
    }
    if (changed && save_state(cfg, &st) != 0)
        goto out;

    /* The first report due: the activation, then the pings, oldest first. */
    const char *due = NULL;
    if (st.act.present && st.act.status == AGENT_PENDING && st.act.next_attempt_ms <= now) {
        due = st.act.payload;
        memcpy(report_id, st.act.report_id, sizeof report_id);
        is_activation = true;
    } else {
        for (size_t i = 0; i < st.life.npending; i++)
            if (st.life.pending[i].next_attempt_ms <= now) {
                due = st.life.pending[i].payload;
                memcpy(report_id, st.life.pending[i].report_id, sizeof report_id);
                break;
            }
    }
    if (due == NULL) {
        int64_t wake = agent_lifetime_next_ms(cfg, &st, now);
        if (st.act.present && st.act.status == AGENT_PENDING && st.act.next_attempt_ms < wake)
            wake = st.act.next_attempt_ms;
        o->wake_ms = wake;
        result = (wake == INT64_MAX && !o->blocked) ? STEP_FINISHED : STEP_WAIT;
        goto out;
    }

    /* Send without holding the lock. */
    payload = strdup(due);
    if (payload == NULL) {
        fprintf(stderr, "sts-agent: out of memory\n");
        goto out;
    }
    agent_state_cleanup(&st);
    agent_state_unlock(lock);
    lock = -1;

    enum sts_err src = agent_sender_post(sender, payload, strlen(payload), &ans);
    if (src == STS_ENOMEM) {
        fprintf(stderr, "sts-agent: out of memory while sending\n");
        goto out;
    }
    if (src != STS_OK && *stop) {
        /* Abandoned because we are stopping: not an attempt worth counting. */
        o->wake_ms = agent_now_ms();
        result = STEP_WAIT;
        goto out;
    }

    if (open_state(cfg, &st, &lock) != 0)
        goto out;
    now = agent_now_ms();
    const char *what = is_activation ? "activation" : "lifetime ping";
    enum agent_verdict v = 0;
    char last_error[256] = "";
    int64_t next = 0;
    unsigned attempts = 0;
    if (is_activation) {
        if (st.act.present && strcmp(st.act.report_id, report_id) == 0 &&
            st.act.status == AGENT_PENDING) {
            v = agent_record_attempt(cfg, &st, now, &ans, agent_random64());
            snprintf(last_error, sizeof last_error, "%s",
                     st.act.last_error ? st.act.last_error : "");
            next = st.act.next_attempt_ms;
            attempts = st.act.attempts;
        }
    } else {
        for (size_t i = 0; i < st.life.npending; i++)
            if (strcmp(st.life.pending[i].report_id, report_id) == 0) {
                v = agent_record_ping_attempt(cfg, &st, i, now, &ans, agent_random64());
                if (v == AGENT_RETRY || v == AGENT_RETRY_LONG) {
                    snprintf(last_error, sizeof last_error, "%s",
                             st.life.pending[i].last_error ? st.life.pending[i].last_error : "");
                    next = st.life.pending[i].next_attempt_ms;
                    attempts = st.life.pending[i].attempts;
                } else if (v == AGENT_REJECT) {
                    describe_answer(&ans, v, last_error, sizeof last_error);
                }
                break;
            }
    }
    if (v == 0) {
        /* Settled meanwhile (another `run --once`), or the owner withdrew
         * consent while it was on its way: nothing to record. */
        result = STEP_AGAIN;
        goto out;
    }
    if (save_state(cfg, &st) != 0)
        goto out;
    o->verdict = v;
    result = STEP_AGAIN;
    switch (v) {
    case AGENT_DONE:
        fprintf(stderr, "sts-agent: %s %s: HTTP %ld (%s)\n", what, report_id, ans.status,
                ans.status == 200 ? "already held by the collector" : "accepted");
        break;
    case AGENT_REJECT:
        fprintf(stderr,
                "sts-agent: the collector rejected the %s for good (%s); it will not be sent "
                "again; see `sts-agent status`\n",
                what, last_error);
        break;
    case AGENT_RETRY:
    case AGENT_RETRY_LONG: {
        char when[32];
        agent_time_format(next, when);
        fprintf(stderr, "sts-agent: %s: attempt %u failed (%s); next attempt at %s\n", what,
                attempts, last_error, when);
        break;
    }
    }
out:
    agent_answer_cleanup(&ans);
    free(payload);
    agent_state_cleanup(&st);
    agent_state_unlock(lock);
    return result;
}

/* Sleeps until wake_ms (on the agent's clock) or a stop signal. A timerfd
 * does the waiting: absolute on CLOCK_REALTIME, cancelled when the wall clock
 * is set so that the caller re-plans at once; relative on CLOCK_MONOTONIC
 * when the clock is injected. SIGTERM/SIGINT are blocked except inside pselect,
 * so none is missed between the check of *stop and the wait. No wake-ups in
 * between: an idle agent uses no CPU. */
static void sleep_until(int64_t wake_ms, volatile sig_atomic_t *stop)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    bool injected = agent_clock_injected();
    int fd = timerfd_create(injected ? CLOCK_MONOTONIC : CLOCK_REALTIME, TFD_CLOEXEC);
    while (fd >= 0 && !*stop) {
        int64_t now = agent_now_ms();
        if (wake_ms <= now)
            break;
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        int flags = 0;
        int64_t t = wake_ms;
        if (injected) {
            t = wake_ms - now;
        } else {
            flags = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET;
        }
        its.it_value.tv_sec = (time_t)(t / 1000);
        its.it_value.tv_nsec = (long)(t % 1000) * 1000000;
        if (timerfd_settime(fd, flags, &its, NULL) != 0)
            break;
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        int r = pselect(fd + 1, &rd, NULL, NULL, NULL, &old);
        if (r < 0 && errno == EINTR)
            continue; /* a signal: *stop is checked */
        uint64_t expirations;
        ssize_t n = read(fd, &expirations, sizeof expirations);
        if (n < 0 && errno == ECANCELED)
            break; /* the wall clock was set: re-plan */
        if (r < 0)
            break;
    }
    if (fd >= 0)
        close(fd);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

int agent_run(const struct agent_config *cfg, bool once, volatile sig_atomic_t *stop)
{
    struct agent_sender *sender = NULL;
    struct agent_sender_opts opts = {
        .collector = cfg->collector,
        .timeout_ms = cfg->timeout_ms,
        .ca_file = cfg->ca_file,
        .ca_dir = cfg->ca_dir,
        .pin_sha256 = cfg->pin_sha256,
        .transport = (enum agent_transport)cfg->transport,
        .relay = cfg->relay,
        .ohttp_keys = cfg->ohttp_keys_file,
        .state_dir = cfg->state_dir,
        .stop = stop,
    };
    int status = 1;
    unsigned fact_failures = 0;
    bool failed = false;

    if (agent_sender_global_init() != STS_OK || agent_sender_new(&opts, &sender) != STS_OK) {
        fprintf(stderr, "sts-agent: cannot initialise libcurl\n");
        return 1;
    }
    for (;;) {
        struct step_out o;
        if (*stop) {
            status = 0;
            break;
        }
        enum step r = step(cfg, sender, stop, &o);
        if (o.verdict == AGENT_RETRY || o.verdict == AGENT_REJECT || o.verdict == AGENT_RETRY_LONG)
            failed = true;
        if (r == STEP_FAILED)
            break;
        if (r == STEP_AGAIN)
            continue;
        if (r == STEP_FINISHED) {
            status = (once && failed) ? 1 : 0;
            break;
        }
        if (o.blocked) {
            /* Facts that could not be read are tried again later: a minute,
             * doubling up to an hour (a modem may come up late). */
            int64_t retry =
                agent_now_ms() + agent_retry_ceiling_ms(++fact_failures, 60000, 3600000);
            if (retry < o.wake_ms)
                o.wake_ms = retry;
        } else {
            fact_failures = 0;
        }
        if (once) {
            if (!failed && !o.blocked) {
                char when[32];
                agent_time_format(o.wake_ms == INT64_MAX ? 0 : o.wake_ms, when);
                fprintf(stderr, "sts-agent: nothing due now; next at %s\n", when);
            }
            status = (failed || o.blocked) ? 1 : 0;
            break;
        }
        sleep_until(o.wake_ms, stop);
        if (*stop) {
            fprintf(stderr, "sts-agent: stopping; pending reports are kept for the next "
                            "start\n");
            status = 0;
            break;
        }
    }
    agent_sender_free(sender);
    return status;
}
