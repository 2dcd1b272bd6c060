/* The owner's commands: status, preview, consent, retry. See owner.h. The
 * sentences come from the catalogue (messages.h); exact bytes never do. */
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
#include "messages.h"
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

/* The storage error behind a failed write, in plain words. */
static const char *io_words(int err)
{
    switch (err) {
    case ENOSPC: return agent_msg("the device's storage is full (no space left)");
    case EROFS: return agent_msg("the storage is read-only");
    case EDQUOT: return agent_msg("the storage quota is used up");
    case EACCES:
    case EPERM: return agent_msg("permission denied");
    case ENOMEM: return agent_msg("out of memory");
    default: return strerror(err);
    }
}

/* Saves st; on failure says on stdout that nothing changed and on stderr
 * why, and returns false. */
static bool save_or_say(const struct agent_config *cfg, const struct agent_state *st)
{
    enum sts_err rc = agent_state_save(cfg->state_dir, st);
    if (rc == STS_OK)
        return true;
    int err = rc == STS_ENOMEM ? ENOMEM : errno;
    printf(agent_msg("Nothing changed: the choice could not be saved (%s).\n"), io_words(err));
    fprintf(stderr, "sts-agent: cannot write the state in %s: %s (%s); nothing changed\n",
            cfg->state_dir, strerror(err), io_words(err));
    return false;
}

static const char *consent_text(const struct agent_config *cfg, enum agent_consent c,
                                int64_t set_ms, bool dflt, char *buf, size_t size)
{
    char when[32];
    const char *v = (c == AGENT_CONSENT_UNSET ? dflt : c == AGENT_CONSENT_ON) ? agent_msg("on")
                                                                              : agent_msg("off");
    if (c == AGENT_CONSENT_UNSET) {
        snprintf(buf, size, agent_msg("%s (default from %s; the owner has not decided)"), v,
                 cfg->path ? cfg->path : "config");
    } else {
        agent_time_format(set_ms, when);
        snprintf(buf, size, agent_msg("%s (set by the owner, %s)"), v, when);
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

/* The sentence on the next lifetime report, the same for status and preview. */
static bool next_ping_text(const struct agent_config *cfg, const struct agent_state *st,
                           int64_t now, int32_t *period, int64_t *at, char *buf, size_t size)
{
    int64_t from, to;
    char m[STS_MONTH_LEN + 1], t1[32], t2[32];
    if (!agent_lifetime_next_ping(cfg, st, now, period, &from, &to))
        return false;
    sts_month_format(*period, m);
    agent_time_format(from, t1);
    agent_time_format(to, t2);
    *at = from;
    if (from == to)
        snprintf(buf, size, agent_msg("the report for %s is made at %s"), m, t1);
    else
        snprintf(buf, size,
                 agent_msg("the report for %s is made at a random moment between %s and %s"), m, t1,
                 t2);
    return true;
}

/* What the server is, for the owner: the collector alone or behind a relay. */
static void print_route(const struct agent_config *cfg)
{
    if (cfg->transport == AGENT_TRANSPORT_OHTTP && cfg->relay != NULL)
        printf(agent_msg("Reports go through the relay %s, which hides this device's address, "
                         "to the statistics server %s, which cannot see the address.\n"),
               cfg->relay, cfg->collector);
    else
        printf(agent_msg("Reports go to the statistics server %s.\n"), cfg->collector);
}

/* Whom an answer came from, as the owner should read it. */
static const char *server_words(const struct agent_config *cfg)
{
    return cfg->transport == AGENT_TRANSPORT_OHTTP
               ? agent_msg("the statistics server (through the relay)")
               : agent_msg("the statistics server");
}

static const char *outcome_words(const char *outcome)
{
    if (strcmp(outcome, "accepted") == 0)
        return agent_msg("delivered and stored");
    if (strcmp(outcome, "duplicate") == 0)
        return agent_msg("delivered (the server already had it)");
    if (strcmp(outcome, "retry") == 0)
        return agent_msg("not delivered, tried again later");
    if (strcmp(outcome, "not-collector") == 0)
        return agent_msg("the answer did not come from the statistics server; tried again in "
                         "a few hours");
    if (strcmp(outcome, "rejected") == 0)
        return agent_msg("refused by the statistics server");
    if (strcmp(outcome, "dropped") == 0)
        return agent_msg("deleted without being sent");
    return outcome;
}

static void print_activation(const struct agent_config *cfg, const struct agent_state *st)
{
    const struct agent_activation *a = &st->act;
    char t1[32];
    printf("%s\n", agent_msg("Activation report (sent once, when the device is first used):"));
    if (!a->present) {
        printf("  %s\n", agent_msg("Not made yet: the first `sts-agent run` makes and sends it; "
                                   "`sts-agent preview` shows its exact content."));
        return;
    }
    switch (a->status) {
    case AGENT_SENT:
        agent_time_format(a->sent_ms, t1);
        printf(agent_msg("  Delivered on %s to %s, which confirmed it has it.\n"), t1,
               server_words(cfg));
        break;
    case AGENT_PENDING:
        agent_time_format(a->next_attempt_ms, t1);
        printf(agent_msg("  Waiting to be sent: %u attempt(s) so far; next attempt at %s.\n"),
               a->attempts, t1);
        if (a->last_error != NULL)
            printf(agent_msg("  Last attempt: %s.\n"), a->last_error);
        break;
    case AGENT_REJECTED:
        agent_time_format(a->answer_ms, t1);
        printf(agent_msg("  Refused by %s on %s: %s. It is not sent again unless you run "
                         "`sts-agent retry`.\n"),
               server_words(cfg), t1, a->last_error ? a->last_error : "-");
        break;
    }
    if (a->answer_status != 0) {
        agent_time_format(a->answer_ms, t1);
        printf(agent_msg("  Last answer, exactly (HTTP %ld, %s): %s\n"), a->answer_status, t1,
               a->answer_body ? a->answer_body : "");
    }
    if (a->note != NULL)
        printf(agent_msg("  Left out: %s\n"), a->note);
    agent_time_format(a->created_ms, t1);
    printf(agent_msg("  Made on %s; report identifier %s (random, only so that it is never "
                     "counted twice).\n"),
           t1, a->report_id);
    printf(agent_msg("  Exact content: %s\n"), a->payload ? a->payload : "");
}

static void print_lifetime(const struct agent_config *cfg, const struct agent_state *st)
{
    const struct agent_lifetime *l = &st->life;
    char m[STS_MONTH_LEN + 1], t1[32], buf[256];
    int32_t period;
    int64_t at;
    printf("%s %s\n",
           agent_msg("Monthly anonymous report (no device identifier), at most one a month:"),
           agent_lifetime_consent(cfg, st) ? agent_msg("on") : agent_msg("off"));
    if (l->last_period != 0) {
        sts_month_format(l->last_period, m);
        printf(agent_msg("  Last made for %s.\n"), m);
    }
    if (next_ping_text(cfg, st, agent_now_ms(), &period, &at, buf, sizeof buf))
        printf(agent_msg("  Next: %s.\n"), buf);
    printf(agent_msg("  Waiting to be sent: %zu.\n"), l->npending);
    for (size_t i = 0; i < l->npending; i++) {
        const struct agent_ping *p = &l->pending[i];
        sts_month_format(p->period, m);
        agent_time_format(p->next_attempt_ms, t1);
        printf(agent_msg("  - the report for %s: %u attempt(s), next at %s; last problem: %s\n"), m,
               p->attempts, t1, p->last_error ? p->last_error : "-");
        printf(agent_msg("    Exact content: %s\n"), p->payload ? p->payload : "");
    }
}

static void print_text(const struct agent_config *cfg, const struct agent_state *st)
{
    char buf[256], t1[32];
    print_route(cfg);
    printf(agent_msg("Settings: %s; what was sent is kept in %s.\n"),
           cfg->path ? cfg->path : "config", cfg->state_dir);
    printf("%s\n", agent_msg("Your choices:"));
    printf(agent_msg("  country: %s\n"), country_text(cfg, st, buf, sizeof buf));
    printf(agent_msg("  lifetime: %s\n"), lifetime_text(cfg, st, buf, sizeof buf));
    if (st->facts_error != NULL)
        printf(agent_msg("Problem: %s (tried again later).\n"), st->facts_error);
    print_activation(cfg, st);
    print_lifetime(cfg, st);
    printf(agent_msg("History (%zu event(s), newest last, at most %d):\n"), st->log_len,
           AGENT_LOG_MAX);
    for (size_t i = 0; i < st->log_len; i++) {
        const struct agent_log_entry *e = &st->log[i];
        agent_time_format(e->time_ms, t1);
        printf("  %s  %s %s: %s", t1,
               strcmp(e->type, "activation") == 0 ? agent_msg("activation")
                                                  : agent_msg("monthly report"),
               e->report_id, outcome_words(e->outcome));
        if (e->http_status != 0)
            printf(" (HTTP %ld)", e->http_status);
        printf("%s%s\n", e->detail[0] ? ": " : "", e->detail);
        if (e->payload != NULL)
            printf(agent_msg("      Exact content: %s\n"), e->payload);
    }
    printf("%s\n", agent_msg("The exact state, for a program: `sts-agent status --json`."));
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
        json_t *dest = json_object();
        char route[2 * 4096 + 8];
        agent_route_describe(cfg, route, sizeof route);
        if (doc == NULL || extra == NULL || dest == NULL ||
            json_object_set_new(extra, "country", json_boolean(agent_country_consent(cfg, &st))) !=
                0 ||
            json_object_set_new(extra, "lifetime",
                                json_boolean(agent_lifetime_consent(cfg, &st))) != 0 ||
            json_object_set_new(dest, "collector", json_string(cfg->collector)) != 0 ||
            json_object_set_new(dest, "relay",
                                cfg->transport == AGENT_TRANSPORT_OHTTP ? json_string(cfg->relay)
                                                                        : json_null()) != 0 ||
            json_object_set_new(
                dest, "transport",
                json_string(cfg->transport == AGENT_TRANSPORT_OHTTP ? "ohttp" : "direct")) != 0) {
            fprintf(stderr, "sts-agent: out of memory\n");
            json_decref(extra);
            json_decref(dest);
            status = 1;
        } else {
            /* The effective consent too, so scripts need not know the default. */
            json_object_set_new(doc, "effective_consent", extra);
            json_object_set_new(doc, "destination", dest);
            json_object_set_new(doc, "state_dir", json_string(cfg->state_dir));
            if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
                status = 1;
            fputc('\n', stdout);
        }
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
                        int32_t period, const char *when)
{
    char id[STS_REPORT_ID_LEN + 1], m[STS_MONTH_LEN + 1], problems[512];
    char *payload = NULL;
    bool first = false;
    struct sts_field_error err;
    enum sts_err rc = agent_lifetime_build(cfg, st, period, id, &first, &payload, problems,
                                           sizeof problems, &err);
    sts_month_format(period, m);
    if (rc != STS_OK) {
        fprintf(stderr,
                agent_msg("sts-agent: the monthly report for %s cannot be made yet: %s: %s\n"), m,
                err.field, err.detail);
        return 1;
    }
    fprintf(stderr, agent_msg("sts-agent: next: %s, with its own random report identifier\n"),
            when);
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
            fprintf(stderr, "%s\n",
                    agent_msg("sts-agent: next: a monthly report waiting to be sent"));
            printf("%s\n", st.life.pending[0].payload);
            status = 0;
            goto out;
        }
        char when[256];
        int32_t period;
        int64_t at;
        if (!next_ping_text(cfg, &st, now, &period, &at, when, sizeof when)) {
            fprintf(stderr,
                    agent_msg("sts-agent: nothing to send: the activation report is %s and "
                              "monthly reports are off (see `sts-agent status`)\n"),
                    agent_status_name(st.act.status));
            status = 0;
            goto out;
        }
        status = preview_ping(cfg, &st, period, when);
        goto out;
    }
    memset(&err, 0, sizeof err);
    char id[STS_REPORT_ID_LEN + 1];
    memcpy(id, st.act.report_id, sizeof id);
    enum sts_err rc = agent_build_activation(cfg, &st, agent_today(now), id, &payload, &warn, &err);
    if (rc != STS_OK) {
        if (err.field[0] != '\0')
            fprintf(stderr,
                    agent_msg("sts-agent: fact %s: %s; nothing would be sent until it is "
                              "fixed in %s\n"),
                    err.field, err.detail, cfg->path ? cfg->path : "config");
        else
            fprintf(stderr, "sts-agent: cannot build the activation: %s\n", sts_strerror(rc));
        goto out;
    }
    if (warn.field[0] != '\0')
        fprintf(stderr, "sts-agent: %s: %s\n", warn.field, warn.detail);
    fprintf(stderr, "%s\n",
            agent_msg("sts-agent: not made yet: the first `sts-agent run` sends this with its "
                      "own random report identifier and the day it runs"));
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
    char said[512];

    if (!state_open_locked(cfg, &st, &lock))
        goto out;
    st.consent_country = on ? AGENT_CONSENT_ON : AGENT_CONSENT_OFF;
    st.consent_country_ms = agent_now_ms();

    /* What to tell the owner is said only once the change is durable. */
    struct agent_activation *a = &st.act;
    if (a->present && a->status == AGENT_PENDING && !on && a->payload != NULL &&
        strstr(a->payload, "\"country\"") != NULL) {
        /* Not sent yet: withdrawing consent takes the country out of it. */
        struct sts_field_error err;
        char *stripped = NULL;
        rc = agent_report_strip_country(a->payload, agent_today(agent_now_ms()) + 1, &stripped,
                                        &err);
        if (rc != STS_OK) {
            printf("%s\n", agent_msg("Nothing changed: the country could not be taken out of "
                                     "the activation report waiting to be sent."));
            fprintf(stderr,
                    "sts-agent: cannot take the country out of the pending activation (%s: "
                    "%s); nothing changed\n",
                    err.field, err.detail);
            goto out;
        }
        free(a->payload);
        a->payload = stripped;
        agent_state_set_str(&a->note, "country: removed before sending, the owner "
                                      "withdrew consent");
        snprintf(said, sizeof said, "%s",
                 agent_msg("country consent: off; the activation report waiting to be sent "
                           "will be sent without the country"));
    } else if (a->present && on) {
        snprintf(said, sizeof said,
                 a->status == AGENT_PENDING
                     ? agent_msg("country consent: on; the activation report was already made "
                                 "without it and stays so (consent is not retroactive)")
                     : agent_msg("country consent: on; the activation report was made and sent "
                                 "without it and stays so (consent is not retroactive)"));
        if (a->payload != NULL && strstr(a->payload, "\"country\"") != NULL)
            snprintf(said, sizeof said, "%s",
                     agent_msg("country consent: on; the activation report already carries the "
                               "country (consent was on when it was made; not retroactive)"));
    } else if (a->present && a->status == AGENT_SENT && a->payload != NULL &&
               strstr(a->payload, "\"country\"") != NULL) {
        snprintf(said, sizeof said, "%s",
                 agent_msg("country consent: off; the activation report had already been sent "
                           "with the country; no later report carries it"));
    } else {
        snprintf(said, sizeof said, "%s",
                 on ? agent_msg("country consent: on") : agent_msg("country consent: off"));
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
    if (!save_or_say(cfg, &st))
        goto out;
    printf("%s\n", said);
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
    } else if (!was_on) {
        st.life.entered = false; /* the next ping is the first since consent */
    }
    if (!save_or_say(cfg, &st))
        goto out;
    if (!on)
        printf(agent_msg("lifetime consent: off; %zu monthly report(s) waiting to be sent "
                         "deleted, nothing more is sent\n"),
               dropped);
    else
        printf("%s\n", agent_msg("lifetime consent: on; at most one anonymous report a month (no "
                                 "device identifier); a running `sts-agent run` picks it up at "
                                 "its next wake-up, `sts-agent run --once` at once"));
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
        printf(agent_msg("country: %s\n"), country_text(cfg, &st, buf, sizeof buf));
        printf(agent_msg("lifetime: %s\n"), lifetime_text(cfg, &st, buf, sizeof buf));
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

/* Whether a ping of report_id is pending in st. */
static bool ping_pending(const struct agent_state *st, const char *report_id)
{
    for (size_t i = 0; i < st->life.npending; i++)
        if (strcmp(st->life.pending[i].report_id, report_id) == 0)
            return true;
    return false;
}

/* Whether the log says the collector holds report_id (a later attempt, or
 * an earlier retry, got it through). */
static bool delivered(const struct agent_state *st, const char *report_id)
{
    for (size_t i = 0; i < st->log_len; i++)
        if (strcmp(st->log[i].report_id, report_id) == 0 &&
            (strcmp(st->log[i].outcome, "accepted") == 0 ||
             strcmp(st->log[i].outcome, "duplicate") == 0))
            return true;
    return false;
}

/* The period of a ping payload, 0 when it has none. */
static int32_t payload_period(const char *payload)
{
    int32_t m = 0;
    json_t *doc = json_loads(payload, 0, NULL);
    const char *p = json_string_value(json_object_get(doc, "period"));
    if (p == NULL || sts_month_parse(p, &m) != STS_OK)
        m = 0;
    json_decref(doc);
    return m;
}

int agent_owner_retry(const struct agent_config *cfg)
{
    struct agent_state st;
    int lock = -1, status = 1;
    unsigned act = 0, pings = 0;
    if (!state_open_locked(cfg, &st, &lock))
        goto out;
    int64_t now = agent_now_ms();
    struct agent_activation *a = &st.act;
    if (a->present && a->status == AGENT_REJECTED) {
        /* Same report_id and payload: if the collector did hold it after
         * all, the re-send is a duplicate and counts once. */
        a->status = AGENT_PENDING;
        a->next_attempt_ms = now;
        act = 1;
    }
    /* Rejected pings survive only in the log, with their payload; those whose
     * grace window is still open go back to the queue. */
    for (size_t i = 0; i < st.log_len; i++) {
        const struct agent_log_entry *e = &st.log[i];
        if (strcmp(e->type, "lifetime") != 0 || strcmp(e->outcome, "rejected") != 0 ||
            e->payload == NULL || ping_pending(&st, e->report_id) || delivered(&st, e->report_id) ||
            st.life.npending >= (size_t)cfg->lifetime_queue_max ||
            st.life.npending >= AGENT_PINGS_MAX || !agent_lifetime_consent(cfg, &st))
            continue;
        int32_t period = payload_period(e->payload);
        if (period == 0 || now >= agent_lifetime_deadline_ms(cfg, period))
            continue;
        struct agent_ping *p = &st.life.pending[st.life.npending];
        memset(p, 0, sizeof *p);
        if ((p->payload = strdup(e->payload)) == NULL) {
            fprintf(stderr, "sts-agent: out of memory\n");
            goto out;
        }
        memcpy(p->report_id, e->report_id, sizeof p->report_id);
        p->period = period;
        p->first = strstr(e->payload, "\"first\":true") != NULL;
        p->created_ms = now;
        p->next_attempt_ms = now;
        st.life.npending++;
        pings++;
    }
    if (act == 0 && pings == 0) {
        printf("%s\n", agent_msg("Nothing to send again: no report was refused."));
        status = 0;
        goto out;
    }
    if (!save_or_say(cfg, &st))
        goto out;
    if (act)
        printf(agent_msg("The activation report (report_id %s) will be sent again, unchanged, "
                         "at the next `sts-agent run`.\n"),
               a->report_id);
    if (pings)
        printf(agent_msg("%u lifetime report(s) will be sent again, unchanged, at the next "
                         "`sts-agent run`.\n"),
               pings);
    status = 0;
out:
    agent_state_cleanup(&st);
    agent_state_unlock(lock);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}
