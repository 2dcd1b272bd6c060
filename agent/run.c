/* `sts-agent run`: the activation's life from facts to acknowledgement. See
 * run.h. The state lock is held only while the state is read and changed,
 * never while sending or sleeping, so the owner's commands are never kept
 * waiting on the network. */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/select.h>
#include <time.h>

#include <jansson.h>

#include "facts.h"
#include "report.h"
#include "sts/date.h"

bool agent_country_consent(const struct agent_config *cfg, const struct agent_state *st)
{
    switch (st->consent_country) {
    case AGENT_CONSENT_ON:
        return true;
    case AGENT_CONSENT_OFF:
        return false;
    case AGENT_CONSENT_UNSET:
        break;
    }
    return cfg->consent_country;
}

enum sts_err agent_build_activation(const struct agent_config *cfg,
                                    const struct agent_state *st, int32_t day,
                                    char report_id[static STS_REPORT_ID_LEN + 1],
                                    char **payload, struct sts_field_error *warn,
                                    struct sts_field_error *err)
{
    struct agent_facts facts;
    struct sts_report r;
    *payload = NULL;
    memset(warn, 0, sizeof *warn);
    enum sts_err rc = agent_facts_collect(cfg, &facts, err);
    if (rc != STS_OK)
        return rc;
    rc = agent_report_activation(&facts, agent_country_consent(cfg, st), day, &r, warn, err);
    if (rc != STS_OK)
        return rc;
    if (report_id[0] != '\0')
        memcpy(r.report_id, report_id, sizeof r.report_id);
    rc = sts_report_encode(&r, payload);
    if (rc == STS_OK)
        memcpy(report_id, r.report_id, sizeof r.report_id);
    return rc;
}

enum sts_err agent_prepare_activation(const struct agent_config *cfg, struct agent_state *st,
                                      int64_t now_ms, int32_t day, char *msg, size_t msg_size)
{
    struct sts_field_error warn, err;
    char *payload = NULL;
    char line[256];

    if (msg_size > 0)
        msg[0] = '\0';
    if (st->act.present)
        return STS_OK;
    memset(&err, 0, sizeof err);
    char id[STS_REPORT_ID_LEN + 1];
    memcpy(id, st->act.report_id, sizeof id);
    enum sts_err rc = agent_build_activation(cfg, st, day, id, &payload, &warn, &err);
    if (rc == STS_ENOENT || rc == STS_ETOOBIG || rc == STS_EINVAL) {
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

/* "HTTP 400: imei: check digit does not match" from the collector's JSON
 * error, or the start of whatever body it sent. */
static void describe_answer(const struct agent_answer *ans, char *out, size_t size)
{
    if (ans->status == 0) {
        snprintf(out, size, "no answer: %.200s", ans->error[0] ? ans->error : "network error");
        return;
    }
    json_t *doc = ans->body ? json_loadb(ans->body, ans->body_len, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(doc, "error"));
    const char *f = json_string_value(json_object_get(doc, "field"));
    const char *d = json_string_value(json_object_get(doc, "detail"));
    if (e != NULL)
        snprintf(out, size, "HTTP %ld: %s%s%s%s%s", ans->status, e, f ? ", field " : "",
                 f ? f : "", d ? ": " : "", d ? d : "");
    else if (ans->body != NULL && ans->body_len > 0)
        snprintf(out, size, "HTTP %ld: %.100s", ans->status, ans->body);
    else
        snprintf(out, size, "HTTP %ld", ans->status);
    json_decref(doc);
}

enum agent_verdict agent_record_attempt(const struct agent_config *cfg,
                                        struct agent_state *st, int64_t now_ms,
                                        const struct agent_answer *ans, uint64_t rnd)
{
    struct agent_activation *a = &st->act;
    struct agent_log_entry e;
    char what[256];
    enum agent_verdict v = agent_retry_classify(ans->status);

    describe_answer(ans, what, sizeof what);
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

    switch (v) {
    case AGENT_DONE:
        a->status = AGENT_SENT;
        a->sent_ms = now_ms;
        a->next_attempt_ms = 0;
        agent_state_set_str(&a->last_error, NULL);
        snprintf(e.outcome, sizeof e.outcome, "%s",
                 ans->status == 200 ? "duplicate" : "accepted");
        break;
    case AGENT_REJECT:
        a->status = AGENT_REJECTED;
        a->next_attempt_ms = 0;
        agent_state_set_str(&a->last_error, what);
        snprintf(e.outcome, sizeof e.outcome, "rejected");
        snprintf(e.detail, sizeof e.detail, "%.159s", what);
        break;
    case AGENT_RETRY: {
        int64_t delay = agent_retry_delay_ms(a->attempts, cfg->retry_base_ms,
                                             cfg->retry_cap_ms, ans->retry_after_ms, rnd);
        a->next_attempt_ms = now_ms + delay;
        agent_state_set_str(&a->last_error, what);
        snprintf(e.outcome, sizeof e.outcome, "retry");
        snprintf(e.detail, sizeof e.detail, "%.159s", what);
        break;
    }
    }
    agent_state_log(st, &e);
    return v;
}

/* ---- the loop ---- */

enum step {
    STEP_WAIT,      /* something is due at *wake_ms */
    STEP_FINISHED,  /* nothing left to do */
    STEP_FAILED     /* cannot go on */
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
            fprintf(stderr, "sts-agent: cannot write the state in %s: %s\n",
                    cfg->state_dir, strerror(errno));
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
        fprintf(stderr, "sts-agent: cannot write the state in %s: %s; nothing was lost "
                "but this step will be done again\n", cfg->state_dir, sts_strerror(rc));
        return -1;
    }
    return 0;
}

/* One pass: make the activation if needed, send it if due, record the
 * answer. *attempted tells whether an attempt was made and how it ended. */
static enum step step(const struct agent_config *cfg, struct agent_sender *sender,
                      volatile sig_atomic_t *stop, int64_t *wake_ms, int *attempted)
{
    struct agent_state st;
    struct agent_answer ans;
    char msg[1024];
    char *payload = NULL;
    char report_id[STS_REPORT_ID_LEN + 1];
    int lock = -1;
    enum step result = STEP_FAILED;

    *attempted = 0;
    memset(&ans, 0, sizeof ans);
    agent_state_init(&st);
    if (open_state(cfg, &st, &lock) != 0)
        return STEP_FAILED;

    if (!st.act.present) {
        int64_t now = agent_now_ms();
        enum sts_err rc = agent_prepare_activation(cfg, &st, now, sts_day_today(), msg,
                                                   sizeof msg);
        if (rc != STS_OK) {
            warn_msg(msg[0] ? msg : sts_strerror(rc));
            save_state(cfg, &st);
            goto out;
        }
        warn_msg(msg);
        if (save_state(cfg, &st) != 0)
            goto out;
    }
    if (st.act.status != AGENT_PENDING) {
        result = STEP_FINISHED;
        goto out;
    }
    if (st.act.next_attempt_ms > agent_now_ms()) {
        *wake_ms = st.act.next_attempt_ms;
        result = STEP_WAIT;
        goto out;
    }

    /* Send without holding the lock. */
    payload = strdup(st.act.payload);
    if (payload == NULL) {
        fprintf(stderr, "sts-agent: out of memory\n");
        goto out;
    }
    memcpy(report_id, st.act.report_id, sizeof report_id);
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
        *wake_ms = agent_now_ms();
        result = STEP_WAIT;
        goto out;
    }

    if (open_state(cfg, &st, &lock) != 0)
        goto out;
    if (!st.act.present || strcmp(st.act.report_id, report_id) != 0 ||
        st.act.status != AGENT_PENDING) {
        /* Someone else settled it meanwhile (another `run --once`). */
        result = STEP_FINISHED;
        goto out;
    }
    int64_t now = agent_now_ms();
    enum agent_verdict v = agent_record_attempt(cfg, &st, now, &ans, agent_random64());
    if (save_state(cfg, &st) != 0)
        goto out;
    *attempted = (int)v;
    switch (v) {
    case AGENT_DONE:
        fprintf(stderr, "sts-agent: activation %s: HTTP %ld (%s)\n", report_id, ans.status,
                ans.status == 200 ? "already held by the collector" : "accepted");
        result = STEP_FINISHED;
        break;
    case AGENT_REJECT:
        fprintf(stderr,
                "sts-agent: the collector rejected the activation for good (%s); it will "
                "not be sent again; see `sts-agent status`\n", st.act.last_error);
        result = STEP_FINISHED;
        break;
    case AGENT_RETRY: {
        char when[32];
        agent_time_format(st.act.next_attempt_ms, when);
        fprintf(stderr, "sts-agent: attempt %u failed (%s); next attempt at %s\n",
                st.act.attempts, st.act.last_error, when);
        *wake_ms = st.act.next_attempt_ms;
        result = STEP_WAIT;
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

/* Sleeps until wake_ms or a stop signal, with SIGTERM/SIGINT blocked between
 * the check of *stop and the sleep so that no signal is missed. */
static void sleep_until(int64_t wake_ms, volatile sig_atomic_t *stop)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    for (;;) {
        if (*stop)
            break;
        int64_t left = wake_ms - agent_now_ms();
        if (left <= 0)
            break;
        /* Wake up at least hourly: the wall clock may have been set. */
        if (left > 3600 * 1000)
            left = 3600 * 1000;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        pselect(0, NULL, NULL, NULL, &ts, &old);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

int agent_run(const struct agent_config *cfg, bool once, volatile sig_atomic_t *stop)
{
    struct agent_sender *sender = NULL;
    struct agent_sender_opts opts = {
        .collector = cfg->collector,
        .timeout_ms = cfg->timeout_ms,
        .ca_file = cfg->ca_file,
        .stop = stop,
    };
    int status = 1;

    if (agent_sender_global_init() != STS_OK ||
        agent_sender_new(&opts, &sender) != STS_OK) {
        fprintf(stderr, "sts-agent: cannot initialise libcurl\n");
        return 1;
    }
    for (;;) {
        int64_t wake = 0;
        int attempted = 0;
        if (*stop) {
            status = 0;
            break;
        }
        enum step r = step(cfg, sender, stop, &wake, &attempted);
        if (r == STEP_FAILED)
            break;
        if (r == STEP_FINISHED) {
            status = (once && attempted == AGENT_REJECT) ? 1 : 0;
            break;
        }
        if (once) {
            if (attempted == 0) {
                char when[32];
                agent_time_format(wake, when);
                fprintf(stderr, "sts-agent: nothing due now; next attempt at %s\n", when);
                status = 0;
            }
            break;
        }
        sleep_until(wake, stop);
        if (*stop) {
            fprintf(stderr, "sts-agent: stopping; the pending activation is kept for the "
                    "next start\n");
            status = 0;
            break;
        }
    }
    agent_sender_free(sender);
    return status;
}
