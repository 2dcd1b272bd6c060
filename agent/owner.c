/* The owner's commands: status, preview, consent. See owner.h. */
#include "owner.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "file.h"
#include "lifetime.h"
#include "report.h"
#include "run.h"
#include "state.h"
#include "sts/date.h"

/* Reads the state without changing anything, even when it is corrupt. */
static int read_state(const struct agent_config *cfg, struct agent_state *st)
{
    char path[PATH_MAX], msg[512];
    char *text = NULL;
    size_t len = 0;
    agent_state_init(st);
    snprintf(path, sizeof path, "%s/%s", cfg->state_dir, AGENT_STATE_FILE);
    enum sts_err rc = agent_file_read(path, AGENT_STATE_MAX_BYTES, &text, &len);
    if (rc == STS_ENOENT)
        return 0;
    if (rc != STS_OK) {
        fprintf(stderr, "sts-agent: cannot read %s: %s\n", path,
                rc == STS_ETOOBIG ? "too large" : strerror(errno));
        return -1;
    }
    rc = agent_state_parse(text, len, st, msg, sizeof msg);
    free(text);
    if (rc != STS_OK) {
        fprintf(stderr,
                "sts-agent: %s is unreadable (%s); the next `sts-agent run` moves it aside "
                "and recovers\n",
                path, msg);
        return -1;
    }
    return 0;
}

static const char *consent_text(const struct agent_config *cfg, enum agent_consent c,
                                int64_t set_ms, bool dflt, char *buf, size_t size)
{
    char when[32];
    if (c == AGENT_CONSENT_UNSET) {
        snprintf(buf, size, "%s (default from %s; the owner has not decided)", dflt ? "on" : "off",
                 cfg->path ? cfg->path : "config");
    } else {
        agent_time_format(set_ms, when);
        snprintf(buf, size, "%s (set by the owner, %s)", c == AGENT_CONSENT_ON ? "on" : "off",
                 when);
    }
    return buf;
}

static const char *country_text(const struct agent_config *cfg, const struct agent_state *st,
                                char *buf, size_t size)
{
    return consent_text(cfg, st->consent_country, st->consent_country_ms, cfg->consent_country, buf,
                        size);
}

static const char *lifetime_text(const struct agent_config *cfg, const struct agent_state *st,
                                 char *buf, size_t size)
{
    return consent_text(cfg, st->life.consent, st->life.consent_ms, cfg->consent_lifetime, buf,
                        size);
}

static void print_text(const struct agent_config *cfg, const struct agent_state *st)
{
    char buf[256], t1[32];
    printf("state directory: %s\n", cfg->state_dir);
    printf("collector:       %s/v1/reports\n", cfg->collector);
    printf("consent:\n");
    printf("  country:       %s\n", country_text(cfg, st, buf, sizeof buf));
    printf("  lifetime:      %s\n", lifetime_text(cfg, st, buf, sizeof buf));
    if (st->facts_error != NULL)
        printf("problem:         %s (tried again later)\n", st->facts_error);

    const struct agent_activation *a = &st->act;
    if (!a->present) {
        printf("activation:      not made yet (run `sts-agent run`; `sts-agent preview` "
               "shows what it will send)\n");
    } else {
        printf("activation:      %s\n", agent_status_name(a->status));
        printf("  report_id:     %s\n", a->report_id);
        agent_time_format(a->created_ms, t1);
        printf("  made:          %s\n", t1);
        printf("  attempts:      %u\n", a->attempts);
        if (a->status == AGENT_PENDING) {
            agent_time_format(a->next_attempt_ms, t1);
            printf("  next attempt:  %s\n", t1);
        }
        if (a->sent_ms != 0) {
            agent_time_format(a->sent_ms, t1);
            printf("  sent:          %s\n", t1);
        }
        printf("  last error:    %s\n", a->last_error ? a->last_error : "-");
        if (a->answer_status != 0) {
            agent_time_format(a->answer_ms, t1);
            printf("  answer:        HTTP %ld at %s: %s\n", a->answer_status, t1,
                   a->answer_body ? a->answer_body : "");
        } else {
            printf("  answer:        -\n");
        }
        if (a->note != NULL)
            printf("  not sent:      %s\n", a->note);
        printf("  payload:       %s\n", a->payload ? a->payload : "");
    }
    const struct agent_lifetime *l = &st->life;
    char m[STS_MONTH_LEN + 1];
    printf("lifetime pings:  %s\n", agent_lifetime_consent(cfg, st) ? "on" : "off");
    if (l->last_period != 0) {
        sts_month_format(l->last_period, m);
        printf("  last made for: %s\n", m);
    }
    if (l->slot_period != 0) {
        sts_month_format(l->slot_period, m);
        agent_time_format(l->slot_ms, t1);
        printf("  next ping:     the ping of %s is made at %s\n", m, t1);
    }
    printf("  pending:       %zu\n", l->npending);
    for (size_t i = 0; i < l->npending; i++) {
        const struct agent_ping *p = &l->pending[i];
        sts_month_format(p->period, m);
        agent_time_format(p->next_attempt_ms, t1);
        printf("  - %s %s: attempts %u, next attempt %s, last error %s\n", m, p->report_id,
               p->attempts, t1, p->last_error ? p->last_error : "-");
        printf("    payload: %s\n", p->payload ? p->payload : "");
    }
    printf("log (%zu entr%s, newest last, at most %d):\n", st->log_len,
           st->log_len == 1 ? "y" : "ies", AGENT_LOG_MAX);
    for (size_t i = 0; i < st->log_len; i++) {
        const struct agent_log_entry *e = &st->log[i];
        agent_time_format(e->time_ms, t1);
        printf("  %s  %s %s  ", t1, e->type, e->report_id);
        if (e->http_status != 0)
            printf("HTTP %ld ", e->http_status);
        printf("%s%s%s\n", e->outcome, e->detail[0] ? ": " : "", e->detail);
        if (e->payload != NULL)
            printf("      payload: %s\n", e->payload);
    }
}

int agent_owner_status(const struct agent_config *cfg, bool json)
{
    struct agent_state st;
    if (read_state(cfg, &st) != 0)
        return 1;
    int status = 0;
    if (json) {
        json_t *doc = agent_state_to_json(&st);
        json_t *extra = json_object();
        if (doc == NULL || extra == NULL) {
            fprintf(stderr, "sts-agent: out of memory\n");
            status = 1;
        } else {
            /* The effective consent too, so scripts need not know the default. */
            json_object_set_new(extra, "country", json_boolean(agent_country_consent(cfg, &st)));
            json_object_set_new(extra, "lifetime", json_boolean(agent_lifetime_consent(cfg, &st)));
            json_object_set_new(doc, "effective_consent", extra);
            extra = NULL;
            json_object_set_new(doc, "state_dir", json_string(cfg->state_dir));
            if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
                status = 1;
            fputc('\n', stdout);
        }
        json_decref(extra);
        json_decref(doc);
    } else {
        print_text(cfg, &st);
    }
    agent_state_cleanup(&st);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

/* Prints the ping that would be made for period, with a sample report_id. */
static int preview_ping(const struct agent_config *cfg, const struct agent_state *st,
                        int32_t period, int64_t at_ms)
{
    char id[STS_REPORT_ID_LEN + 1], m[STS_MONTH_LEN + 1], when[32], problems[512];
    char *payload = NULL;
    bool first = false;
    struct sts_field_error err;
    enum sts_err rc = agent_lifetime_build(cfg, st, period, id, &first, &payload, problems,
                                           sizeof problems, &err);
    sts_month_format(period, m);
    if (rc != STS_OK) {
        fprintf(stderr, "sts-agent: the lifetime ping of %s cannot be made yet: %s: %s\n", m,
                err.field, err.detail);
        return 1;
    }
    agent_time_format(at_ms, when);
    fprintf(stderr,
            "sts-agent: next: the lifetime ping of %s, made at %s with its own random "
            "report_id\n",
            m, when);
    printf("%s\n", payload);
    free(payload);
    return 0;
}

int agent_owner_preview(const struct agent_config *cfg)
{
    struct agent_state st;
    struct sts_field_error warn, err;
    char *payload = NULL;
    int status = 1;

    if (read_state(cfg, &st) != 0)
        return 1;
    int64_t now = agent_now_ms();
    if (st.act.present && st.act.status == AGENT_PENDING) {
        printf("%s\n", st.act.payload);
        status = 0;
        goto out;
    }
    if (st.act.present) {
        if (st.life.npending > 0) {
            fprintf(stderr, "sts-agent: next: a pending lifetime ping\n");
            printf("%s\n", st.life.pending[0].payload);
            status = 0;
            goto out;
        }
        if (!agent_lifetime_consent(cfg, &st)) {
            fprintf(stderr,
                    "sts-agent: nothing to send: the activation is %s and lifetime "
                    "pings are off (see `sts-agent status`)\n",
                    agent_status_name(st.act.status));
            status = 0;
            goto out;
        }
        int32_t month = agent_month_of(now);
        int64_t at = st.life.slot_period != 0 ? st.life.slot_ms : now;
        int32_t period = st.life.slot_period != 0 ? st.life.slot_period : month;
        if (st.life.slot_period == 0 && month <= st.life.last_period) {
            period = st.life.last_period + 1;
            at = agent_month_start_ms(period);
        }
        status = preview_ping(cfg, &st, period, at);
        goto out;
    }
    memset(&err, 0, sizeof err);
    char id[STS_REPORT_ID_LEN + 1];
    memcpy(id, st.act.report_id, sizeof id);
    enum sts_err rc = agent_build_activation(cfg, &st, agent_today(now), id, &payload, &warn, &err);
    if (rc != STS_OK) {
        if (err.field[0] != '\0')
            fprintf(stderr,
                    "sts-agent: fact %s: %s; nothing would be sent until it is "
                    "fixed in %s\n",
                    err.field, err.detail, cfg->path ? cfg->path : "config");
        else
            fprintf(stderr, "sts-agent: cannot build the activation: %s\n", sts_strerror(rc));
        goto out;
    }
    if (warn.field[0] != '\0')
        fprintf(stderr, "sts-agent: %s: %s\n", warn.field, warn.detail);
    fprintf(stderr, "sts-agent: not made yet: the first `sts-agent run` sends this with its "
                    "own random report_id and the day it runs\n");
    printf("%s\n", payload);
    status = 0;
out:
    free(payload);
    agent_state_cleanup(&st);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

/* Locks the state directory and loads the state (a corrupt one is reported
 * and replaced by a fresh one, as agent_state_load does). Returns false when
 * the caller must stop; the state is then still safe to clean up and the
 * lock (if taken) to release. */
static bool state_open_locked(const struct agent_config *cfg, struct agent_state *st, int *lock)
{
    char msg[1024];
    agent_state_init(st);
    if (agent_state_lock(cfg->state_dir, lock) != STS_OK) {
        fprintf(stderr, "sts-agent: cannot lock the state directory %s: %s\n", cfg->state_dir,
                strerror(errno));
        return false;
    }
    enum sts_err rc = agent_state_load(cfg->state_dir, st, msg, sizeof msg);
    if (rc == STS_ECORRUPT) {
        fprintf(stderr, "sts-agent: %s\n", msg);
    } else if (rc != STS_OK) {
        fprintf(stderr, "sts-agent: %s\n", msg[0] ? msg : sts_strerror(rc));
        return false;
    }
    return true;
}

static int consent_set_country(const struct agent_config *cfg, bool on)
{
    struct agent_state st;
    int lock = -1, status = 1;
    enum sts_err rc;

    if (!state_open_locked(cfg, &st, &lock))
        goto out;
    st.consent_country = on ? AGENT_CONSENT_ON : AGENT_CONSENT_OFF;
    st.consent_country_ms = agent_now_ms();

    struct agent_activation *a = &st.act;
    if (a->present && a->status == AGENT_PENDING && !on && a->payload != NULL &&
        strstr(a->payload, "\"country\"") != NULL) {
        /* Not sent yet: withdrawing consent takes the country out of it. */
        struct sts_field_error err;
        char *stripped = NULL;
        rc = agent_report_strip_country(a->payload, agent_today(agent_now_ms()) + 1, &stripped,
                                        &err);
        if (rc != STS_OK) {
            fprintf(stderr,
                    "sts-agent: cannot take the country out of the pending "
                    "activation (%s: %s)\n",
                    err.field, err.detail);
            goto out;
        }
        free(a->payload);
        a->payload = stripped;
        agent_state_set_str(&a->note, "country: removed before sending, the owner "
                                      "withdrew consent");
        printf("country consent: off; the pending activation will be sent without the "
               "country\n");
    } else if (a->present && on) {
        printf("country consent: on; the activation was made %s without it and stays so "
               "(consent is not retroactive)\n",
               a->status == AGENT_PENDING ? "already" : "and sent");
        if (a->payload != NULL && strstr(a->payload, "\"country\"") != NULL)
            printf("(it already carries the country: consent was on when it was made)\n");
    } else if (a->present && a->status == AGENT_SENT && a->payload != NULL &&
               strstr(a->payload, "\"country\"") != NULL) {
        printf("country consent: off; the activation had already been sent with the "
               "country; no later report carries it\n");
    } else {
        printf("country consent: %s\n", on ? "on" : "off");
    }
    /* Pending pings lose their country too: they were not sent yet. */
    for (size_t i = 0; !on && i < st.life.npending; i++) {
        struct agent_ping *p = &st.life.pending[i];
        struct sts_field_error err;
        char *stripped = NULL;
        if (p->payload == NULL || strstr(p->payload, "\"country\"") == NULL)
            continue;
        /* A day far ahead: the ping's period is checked against it only. */
        if (agent_report_strip_country(p->payload, sts_day_from_ymd(9999, 12, 31), &stripped,
                                       &err) == STS_OK) {
            free(p->payload);
            p->payload = stripped;
        } else {
            agent_state_ping_remove(&st, i--);
        }
    }
    if (agent_state_save(cfg->state_dir, &st) != STS_OK) {
        fprintf(stderr, "sts-agent: cannot write the state in %s; consent unchanged\n",
                cfg->state_dir);
        goto out;
    }
    status = 0;
out:
    agent_state_cleanup(&st);
    agent_state_unlock(lock);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

/* Lifetime consent: on records it (the next ping is marked first); off
 * deletes every pending ping at once, sends nothing, and stops pings. */
static int consent_set_lifetime(const struct agent_config *cfg, bool on)
{
    struct agent_state st;
    int lock = -1, status = 1;

    if (!state_open_locked(cfg, &st, &lock))
        goto out;
    int64_t now = agent_now_ms();
    bool was_on = agent_lifetime_consent(cfg, &st);
    st.life.consent = on ? AGENT_CONSENT_ON : AGENT_CONSENT_OFF;
    st.life.consent_ms = now;
    size_t dropped = st.life.npending;
    if (!on) {
        agent_state_pings_drop_all(&st, now, "lifetime consent withdrawn: deleted unsent");
        st.life.slot_period = 0;
        st.life.slot_ms = 0;
        st.life.entered = false;
        printf("lifetime consent: off; %zu pending ping%s deleted, nothing more is sent\n", dropped,
               dropped == 1 ? "" : "s");
    } else {
        if (!was_on)
            st.life.entered = false; /* the next ping is the first since consent */
        printf("lifetime consent: on; at most one anonymous ping a month (no device "
               "identifier); a running `sts-agent run` picks it up at its next wake-up, "
               "`sts-agent run --once` at once\n");
    }
    if (agent_state_save(cfg->state_dir, &st) != STS_OK) {
        fprintf(stderr, "sts-agent: cannot write the state in %s; consent unchanged\n",
                cfg->state_dir);
        goto out;
    }
    status = 0;
out:
    agent_state_cleanup(&st);
    agent_state_unlock(lock);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

int agent_owner_consent(const struct agent_config *cfg, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "show") == 0) {
        struct agent_state st;
        char buf[256];
        if (read_state(cfg, &st) != 0)
            return 1;
        printf("country: %s\n", country_text(cfg, &st, buf, sizeof buf));
        printf("lifetime: %s\n", lifetime_text(cfg, &st, buf, sizeof buf));
        agent_state_cleanup(&st);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[0], "country") == 0) {
        if (strcmp(argv[1], "on") == 0)
            return consent_set_country(cfg, true);
        if (strcmp(argv[1], "off") == 0)
            return consent_set_country(cfg, false);
    }
    if (argc == 2 && strcmp(argv[0], "lifetime") == 0) {
        if (strcmp(argv[1], "on") == 0)
            return consent_set_lifetime(cfg, true);
        if (strcmp(argv[1], "off") == 0)
            return consent_set_lifetime(cfg, false);
    }
    fprintf(stderr, "sts-agent: usage: sts-agent consent show | consent country on|off | "
                    "consent lifetime on|off\n");
    return 2;
}
