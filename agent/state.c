/* The durable state: JSON (de)serialisation with Jansson, atomic saving,
 * locking, corrupt-file recovery. See state.h. */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "file.h"
#include "sts/date.h"
#include "sts/jsonmem.h"

static void say(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
}

const char *agent_status_name(enum agent_status s)
{
    switch (s) {
    case AGENT_PENDING: return "pending";
    case AGENT_SENT: return "sent";
    case AGENT_REJECTED: return "rejected";
    }
    return "?";
}

void agent_time_format(int64_t ms, char out[static 32])
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, 32, "-");
        return;
    }
    if (strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, 32, "-");
}

void agent_state_init(struct agent_state *st)
{
    memset(st, 0, sizeof *st);
}

static void ping_cleanup(struct agent_ping *p)
{
    free(p->payload);
    free(p->last_error);
    memset(p, 0, sizeof *p);
}

void agent_state_cleanup(struct agent_state *st)
{
    free(st->facts_error);
    free(st->route);
    free(st->act.payload);
    free(st->act.last_error);
    free(st->act.answer_body);
    free(st->act.note);
    for (size_t i = 0; i < st->life.npending; i++)
        ping_cleanup(&st->life.pending[i]);
    for (size_t i = 0; i < st->log_len; i++)
        free(st->log[i].payload);
    agent_state_init(st);
}

void agent_state_ping_remove(struct agent_state *st, size_t i)
{
    struct agent_lifetime *l = &st->life;
    if (i >= l->npending)
        return;
    ping_cleanup(&l->pending[i]);
    memmove(&l->pending[i], &l->pending[i + 1], (l->npending - i - 1) * sizeof l->pending[0]);
    l->npending--;
    memset(&l->pending[l->npending], 0, sizeof l->pending[0]);
}

void agent_state_pings_drop_all(struct agent_state *st, int64_t now_ms, const char *why)
{
    while (st->life.npending > 0) {
        struct agent_ping *p = &st->life.pending[0];
        struct agent_log_entry e;
        memset(&e, 0, sizeof e);
        e.time_ms = now_ms;
        snprintf(e.type, sizeof e.type, "lifetime");
        memcpy(e.report_id, p->report_id, sizeof e.report_id);
        snprintf(e.outcome, sizeof e.outcome, "dropped");
        snprintf(e.detail, sizeof e.detail, "%s", why);
        e.payload = p->payload;
        agent_state_log(st, &e);
        agent_state_ping_remove(st, 0);
    }
}

enum sts_err agent_state_set_str(char **slot, const char *s)
{
    char *copy = NULL;
    if (s != NULL && (copy = strdup(s)) == NULL)
        return STS_ENOMEM;
    free(*slot);
    *slot = copy;
    return STS_OK;
}

void agent_state_log(struct agent_state *st, const struct agent_log_entry *e)
{
    if (st->log_len == AGENT_LOG_MAX) {
        free(st->log[0].payload);
        memmove(&st->log[0], &st->log[1], (AGENT_LOG_MAX - 1) * sizeof st->log[0]);
        st->log_len--;
    }
    struct agent_log_entry *d = &st->log[st->log_len++];
    *d = *e;
    d->payload = e->payload != NULL ? strdup(e->payload) : NULL;
}

/* ---- to JSON ---- */

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* json_object_set_new that remembers a failure instead of checking each call. */
static void put(json_t *obj, const char *key, json_t *val, bool *ok)
{
    if (val == NULL || json_object_set_new(obj, key, val) != 0)
        *ok = false;
}

static json_t *month_or_null(int32_t month)
{
    char m[STS_MONTH_LEN + 1];
    if (month == 0)
        return json_null();
    sts_month_format(month, m);
    return json_string(m);
}

static json_t *consent_json(enum agent_consent c)
{
    return c == AGENT_CONSENT_UNSET ? json_null()
                                    : json_string(c == AGENT_CONSENT_ON ? "on" : "off");
}

static json_t *lifetime_to_json(const struct agent_lifetime *l, bool *ok)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    put(o, "slot_period", month_or_null(l->slot_period), ok);
    put(o, "slot_ms", json_integer(l->slot_ms), ok);
    put(o, "last_period", month_or_null(l->last_period), ok);
    put(o, "entered", json_boolean(l->entered), ok);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < l->npending; i++) {
        const struct agent_ping *p = &l->pending[i];
        json_t *q = json_object();
        if (q == NULL) {
            *ok = false;
            break;
        }
        put(q, "report_id", json_string(p->report_id), ok);
        put(q, "period", month_or_null(p->period), ok);
        put(q, "first", json_boolean(p->first), ok);
        put(q, "payload", json_string(p->payload ? p->payload : ""), ok);
        put(q, "created_ms", json_integer(p->created_ms), ok);
        put(q, "attempts", json_integer(p->attempts), ok);
        put(q, "next_attempt_ms", json_integer(p->next_attempt_ms), ok);
        put(q, "last_error", str_or_null(p->last_error), ok);
        if (json_array_append_new(arr, q) != 0)
            *ok = false;
    }
    put(o, "pending", arr, ok);
    return o;
}

json_t *agent_state_to_json(const struct agent_state *st)
{
    bool ok = true;
    json_t *root = json_object();
    if (root == NULL)
        return NULL;
    put(root, "format", json_integer(AGENT_STATE_FORMAT), &ok);

    json_t *consent = json_object();
    if (consent != NULL) {
        put(consent, "country", consent_json(st->consent_country), &ok);
        put(consent, "country_set_ms", json_integer(st->consent_country_ms), &ok);
        put(consent, "lifetime", consent_json(st->life.consent), &ok);
        put(consent, "lifetime_set_ms", json_integer(st->life.consent_ms), &ok);
    }
    put(root, "consent", consent, &ok);
    put(root, "facts_error", str_or_null(st->facts_error), &ok);
    put(root, "route", str_or_null(st->route), &ok);

    if (st->act.present) {
        const struct agent_activation *a = &st->act;
        json_t *act = json_object();
        if (act != NULL) {
            put(act, "report_id", json_string(a->report_id), &ok);
            put(act, "status", json_string(agent_status_name(a->status)), &ok);
            put(act, "payload", json_string(a->payload ? a->payload : ""), &ok);
            put(act, "created_ms", json_integer(a->created_ms), &ok);
            put(act, "attempts", json_integer(a->attempts), &ok);
            put(act, "next_attempt_ms", json_integer(a->next_attempt_ms), &ok);
            put(act, "last_error", str_or_null(a->last_error), &ok);
            put(act, "answer_status", json_integer(a->answer_status), &ok);
            put(act, "answer_body", str_or_null(a->answer_body), &ok);
            put(act, "answer_ms", json_integer(a->answer_ms), &ok);
            put(act, "sent_ms", json_integer(a->sent_ms), &ok);
            put(act, "note", str_or_null(a->note), &ok);
        }
        put(root, "activation", act, &ok);
    } else {
        put(root, "activation", json_null(), &ok);
    }

    put(root, "lifetime", lifetime_to_json(&st->life, &ok), &ok);

    json_t *log = json_array();
    for (size_t i = 0; log != NULL && i < st->log_len; i++) {
        const struct agent_log_entry *e = &st->log[i];
        json_t *o = json_object();
        if (o == NULL) {
            ok = false;
            break;
        }
        put(o, "time_ms", json_integer(e->time_ms), &ok);
        put(o, "type", json_string(e->type), &ok);
        put(o, "report_id", json_string(e->report_id), &ok);
        put(o, "http_status", json_integer(e->http_status), &ok);
        put(o, "outcome", json_string(e->outcome), &ok);
        put(o, "detail", json_string(e->detail), &ok);
        put(o, "payload", str_or_null(e->payload), &ok);
        if (json_array_append_new(log, o) != 0)
            ok = false;
    }
    put(root, "log", log, &ok);

    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- from JSON ---- */

struct reader {
    bool ok;
    bool nomem; /* an allocation failed: the file may be fine */
    char *msg;
    size_t msg_size;
};

static void bad(struct reader *r, const char *what, const char *key)
{
    if (r->ok)
        say(r->msg, r->msg_size, "%s '%s'", what, key);
    r->ok = false;
}

static int64_t get_int(struct reader *r, json_t *obj, const char *key, int64_t min)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        bad(r, "missing or wrong", key);
        return 0;
    }
    return (int64_t)json_integer_value(v);
}

/* A string or null; returns a heap copy or NULL. */
static char *get_opt_str(struct reader *r, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        bad(r, "missing or wrong", key);
        return NULL;
    }
    char *s = strdup(json_string_value(v));
    if (s == NULL) {
        r->nomem = true;
        bad(r, "out of memory reading", key);
    }
    return s;
}

static void get_fixed(struct reader *r, json_t *obj, const char *key, char *dst, size_t size)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) >= size) {
        bad(r, "missing or wrong", key);
        return;
    }
    snprintf(dst, size, "%s", json_string_value(v));
}

static bool is_report_id(const char *s)
{
    if (strlen(s) != STS_REPORT_ID_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static enum agent_status parse_status(const char *s)
{
    for (int i = AGENT_PENDING; i <= AGENT_REJECTED; i++)
        if (strcmp(s, agent_status_name((enum agent_status)i)) == 0)
            return (enum agent_status)i;
    return 0;
}

static enum agent_consent get_consent(struct reader *r, json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);
    if (json_is_null(c))
        return AGENT_CONSENT_UNSET;
    if (json_is_string(c) && strcmp(json_string_value(c), "on") == 0)
        return AGENT_CONSENT_ON;
    if (json_is_string(c) && strcmp(json_string_value(c), "off") == 0)
        return AGENT_CONSENT_OFF;
    bad(r, "missing or wrong consent", key);
    return AGENT_CONSENT_OFF;
}

/* A "YYYY-MM" string or null (0). */
static int32_t get_month(struct reader *r, json_t *obj, const char *key, bool nullable)
{
    json_t *v = json_object_get(obj, key);
    int32_t m = 0;
    if (nullable && json_is_null(v))
        return 0;
    if (!json_is_string(v) || sts_month_parse(json_string_value(v), &m) != STS_OK)
        bad(r, "missing or wrong", key);
    return m;
}

static void parse_lifetime(struct reader *r, json_t *o, struct agent_lifetime *l)
{
    if (!json_is_object(o)) {
        bad(r, "missing or wrong", "lifetime");
        return;
    }
    l->slot_period = get_month(r, o, "slot_period", true);
    l->slot_ms = get_int(r, o, "slot_ms", 0);
    l->last_period = get_month(r, o, "last_period", true);
    json_t *en = json_object_get(o, "entered");
    if (!json_is_boolean(en))
        bad(r, "missing or wrong", "entered");
    l->entered = json_is_true(en);
    json_t *arr = json_object_get(o, "pending");
    if (!json_is_array(arr) || json_array_size(arr) > AGENT_PINGS_MAX) {
        bad(r, "missing or wrong", "pending");
        return;
    }
    size_t i;
    json_t *q;
    json_array_foreach(arr, i, q)
    {
        struct agent_ping *p = &l->pending[l->npending++];
        if (!json_is_object(q)) {
            bad(r, "malformed entry in", "pending");
            return;
        }
        get_fixed(r, q, "report_id", p->report_id, sizeof p->report_id);
        if (r->ok && !is_report_id(p->report_id))
            bad(r, "malformed", "report_id");
        p->period = get_month(r, q, "period", false);
        json_t *f = json_object_get(q, "first");
        if (!json_is_boolean(f))
            bad(r, "missing or wrong", "first");
        p->first = json_is_true(f);
        p->payload = get_opt_str(r, q, "payload");
        if (r->ok && (p->payload == NULL || p->payload[0] != '{'))
            bad(r, "missing or wrong", "payload");
        p->created_ms = get_int(r, q, "created_ms", 0);
        p->attempts = (unsigned)get_int(r, q, "attempts", 0);
        p->next_attempt_ms = get_int(r, q, "next_attempt_ms", 0);
        p->last_error = get_opt_str(r, q, "last_error");
        if (!r->ok)
            return;
    }
}

enum sts_err agent_state_parse(const char *text, size_t len, struct agent_state *st, char *msg,
                               size_t msg_size)
{
    struct reader r = {.ok = true, .msg = msg, .msg_size = msg_size};
    json_error_t jerr;
    sts_json_watch_start(); /* Jansson may not say it ran out of memory */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (sts_json_watch_failed()) {
        /* A good file must not be moved aside as corrupt for want of memory. */
        say(msg, msg_size, "out of memory");
        json_decref(root);
        return STS_ENOMEM;
    }
    if (root == NULL) {
        say(msg, msg_size, "not JSON (%s at line %d)", jerr.text, jerr.line);
        return STS_ECORRUPT;
    }
    if (!json_is_object(root)) {
        say(msg, msg_size, "not a JSON object");
        json_decref(root);
        return STS_ECORRUPT;
    }
    int64_t format = get_int(&r, root, "format", 1);
    if (r.ok && format > AGENT_STATE_FORMAT) {
        say(msg, msg_size, "written in format %lld by a newer agent; this one reads %d",
            (long long)format, AGENT_STATE_FORMAT);
        json_decref(root);
        return STS_EUNSUPPORTED;
    }

    json_t *consent = json_object_get(root, "consent");
    if (!json_is_object(consent)) {
        bad(&r, "missing or wrong", "consent");
    } else {
        st->consent_country = get_consent(&r, consent, "country");
        st->consent_country_ms = get_int(&r, consent, "country_set_ms", 0);
        /* Format 1 had no lifetime consent. */
        if (format >= 2) {
            st->life.consent = get_consent(&r, consent, "lifetime");
            st->life.consent_ms = get_int(&r, consent, "lifetime_set_ms", 0);
        }
    }
    st->facts_error = get_opt_str(&r, root, "facts_error");
    /* Added after format 2 was fixed: optional. */
    if (json_object_get(root, "route") != NULL)
        st->route = get_opt_str(&r, root, "route");

    json_t *act = json_object_get(root, "activation");
    if (json_is_object(act)) {
        struct agent_activation *a = &st->act;
        a->present = true;
        get_fixed(&r, act, "report_id", a->report_id, sizeof a->report_id);
        if (r.ok && !is_report_id(a->report_id))
            bad(&r, "malformed", "report_id");
        char status[16] = "";
        get_fixed(&r, act, "status", status, sizeof status);
        a->status = parse_status(status);
        if (r.ok && a->status == 0)
            bad(&r, "unknown", "status");
        a->payload = get_opt_str(&r, act, "payload");
        if (r.ok && (a->payload == NULL || a->payload[0] != '{'))
            bad(&r, "missing or wrong", "payload");
        a->created_ms = get_int(&r, act, "created_ms", 0);
        a->attempts = (unsigned)get_int(&r, act, "attempts", 0);
        a->next_attempt_ms = get_int(&r, act, "next_attempt_ms", 0);
        a->last_error = get_opt_str(&r, act, "last_error");
        a->answer_status = (long)get_int(&r, act, "answer_status", 0);
        a->answer_body = get_opt_str(&r, act, "answer_body");
        a->answer_ms = get_int(&r, act, "answer_ms", 0);
        a->sent_ms = get_int(&r, act, "sent_ms", 0);
        a->note = get_opt_str(&r, act, "note");
    } else if (!json_is_null(act)) {
        bad(&r, "missing or wrong", "activation");
    }

    if (format >= 2)
        parse_lifetime(&r, json_object_get(root, "lifetime"), &st->life);

    json_t *log = json_object_get(root, "log");
    if (!json_is_array(log)) {
        bad(&r, "missing or wrong", "log");
    } else {
        size_t i;
        json_t *o;
        json_array_foreach(log, i, o)
        {
            struct agent_log_entry e;
            memset(&e, 0, sizeof e);
            if (!json_is_object(o)) {
                bad(&r, "malformed entry in", "log");
                break;
            }
            e.time_ms = get_int(&r, o, "time_ms", 0);
            get_fixed(&r, o, "type", e.type, sizeof e.type);
            get_fixed(&r, o, "report_id", e.report_id, sizeof e.report_id);
            e.http_status = (long)get_int(&r, o, "http_status", 0);
            get_fixed(&r, o, "outcome", e.outcome, sizeof e.outcome);
            get_fixed(&r, o, "detail", e.detail, sizeof e.detail);
            e.payload = json_object_get(o, "payload") ? get_opt_str(&r, o, "payload") : NULL;
            if (!r.ok) {
                free(e.payload);
                break;
            }
            agent_state_log(st, &e);
            if (e.payload != NULL && st->log[st->log_len - 1].payload == NULL) {
                r.nomem = true; /* agent_state_log could not copy it */
                bad(&r, "out of memory reading", "log");
            }
            free(e.payload);
            if (!r.ok)
                break;
        }
    }
    json_decref(root);
    if (!r.ok) {
        agent_state_cleanup(st);
        return r.nomem ? STS_ENOMEM : STS_ECORRUPT;
    }
    return STS_OK;
}

/* ---- salvage from a damaged file ---- */

/* Finds "key" after from, then the value that follows ':'; returns a pointer
 * to the value's first character or NULL. */
static const char *find_value(const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(from, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* A consent value after "key" in the consent object; off when unreadable:
 * the safe side is to send less until the owner says again. */
static enum agent_consent salvage_consent(const char *c, const char *key)
{
    const char *v = c ? find_value(c, key) : NULL;
    if (v != NULL && strncmp(v, "\"on\"", 4) == 0)
        return AGENT_CONSENT_ON;
    return AGENT_CONSENT_OFF;
}

static void salvage(const char *text, struct agent_state *st, char *found, size_t size)
{
    found[0] = '\0';
    const char *c = strstr(text, "\"consent\"");
    st->consent_country = salvage_consent(c, "country");
    st->life.consent = salvage_consent(c, "lifetime");

    /* The last month a ping was made for; when it cannot be read, this month
     * counts as done so that it never gets a second ping. */
    const char *l = strstr(text, "\"lifetime\"");
    const char *v = l ? find_value(l, "last_period") : NULL;
    int32_t m = 0;
    char month[STS_MONTH_LEN + 1];
    if (v != NULL && *v == '"' && strlen(v) > STS_MONTH_LEN + 1 && v[STS_MONTH_LEN + 1] == '"') {
        memcpy(month, v + 1, STS_MONTH_LEN);
        month[STS_MONTH_LEN] = '\0';
        if (sts_month_parse(month, &m) != STS_OK)
            m = 0;
    }
    int32_t now = agent_month_of(agent_now_ms());
    if (m == 0 && !(v != NULL && strncmp(v, "null", 4) == 0))
        m = now;
    st->life.last_period = m;

    const char *a = strstr(text, "\"activation\"");
    v = a ? find_value(a, "report_id") : NULL;
    if (v != NULL && *v == '"') {
        char id[STS_REPORT_ID_LEN + 1];
        size_t n = strspn(v + 1, "0123456789abcdef");
        if (n == STS_REPORT_ID_LEN && v[1 + n] == '"') {
            memcpy(id, v + 1, n);
            id[n] = '\0';
            memcpy(st->act.report_id, id, sizeof id);
            snprintf(found, size, "%s", id);
        }
    }
}

/* Removes every state.json.corrupt-* in dir but keep: the latest damaged
 * copy is evidence enough, and a flash that keeps failing must not fill
 * the state directory with them. */
static void drop_older_copies(const char *dir, const char *keep)
{
    static const char prefix[] = AGENT_STATE_FILE ".corrupt-";
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0 || strcmp(e->d_name, keep) == 0)
            continue;
        unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

enum sts_err agent_state_load(const char *dir, struct agent_state *st, char *msg, size_t msg_size)
{
    char path[PATH_MAX], aside[PATH_MAX + 64];
    char why[256] = "";
    char *text = NULL;
    size_t len = 0;

    if (msg_size > 0)
        msg[0] = '\0';
    agent_state_init(st);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, AGENT_STATE_FILE) >= sizeof path) {
        say(msg, msg_size, "%s: path too long", dir);
        return STS_EIO;
    }
    enum sts_err rc = agent_file_read(path, AGENT_STATE_MAX_BYTES, &text, &len);
    if (rc == STS_ENOENT)
        return STS_OK;
    if (rc == STS_ETOOBIG) {
        snprintf(why, sizeof why, "larger than %d bytes", AGENT_STATE_MAX_BYTES);
    } else if (rc != STS_OK) {
        say(msg, msg_size, "%s: cannot read: %s", path,
            rc == STS_ENOMEM ? sts_strerror(rc) : strerror(errno));
        return rc;
    } else {
        rc = agent_state_parse(text, len, st, why, sizeof why);
        if (rc == STS_OK || rc == STS_ENOMEM) {
            free(text);
            return rc;
        }
        if (rc == STS_EUNSUPPORTED) {
            say(msg, msg_size, "%s: %s; it is left as it is: use that agent or move it away", path,
                why);
            free(text);
            return rc;
        }
    }

    /* Corrupt: keep the evidence, start afresh with what can be salvaged. */
    agent_state_init(st);
    char id[STS_REPORT_ID_LEN + 1] = "";
    if (text != NULL)
        salvage(text, st, id, sizeof id);
    free(text);
    snprintf(aside, sizeof aside, "%s.corrupt-%lld", path, (long long)time(NULL));
    if (rename(path, aside) != 0) {
        say(msg, msg_size, "%s is corrupt (%s) and cannot be moved aside: %s", path, why,
            strerror(errno));
        agent_state_init(st);
        return STS_EIO;
    }
    drop_older_copies(dir, strrchr(aside, '/') + 1);
    say(msg, msg_size,
        "%s was corrupt (%s); moved it to %s and started a fresh state (%s%s; country "
        "consent %s). Check the storage of %s.",
        path, why, aside,
        id[0] ? "keeping report_id " : "the activation will be sent again under a new report_id",
        id,
        st->consent_country == AGENT_CONSENT_ON ? "kept: on" : "now off until the owner sets it",
        dir);
    return STS_ECORRUPT;
}

enum sts_err agent_state_save(const char *dir, const struct agent_state *st)
{
    json_t *doc = agent_state_to_json(st);
    if (doc == NULL)
        return STS_ENOMEM;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (text == NULL)
        return STS_ENOMEM;
    size_t len = strlen(text);
    /* A trailing newline makes the file friendlier to cat. */
    char *nl = realloc(text, len + 2);
    if (nl == NULL) {
        free(text);
        return STS_ENOMEM;
    }
    text = nl;
    text[len++] = '\n';
    text[len] = '\0';
    enum sts_err rc = agent_file_write_atomic(dir, AGENT_STATE_FILE, text, len);
    free(text);
    return rc;
}

enum sts_err agent_state_lock(const char *dir, int *fd)
{
    char path[PATH_MAX];
    *fd = -1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sts_err_from_errno(errno);
    if ((size_t)snprintf(path, sizeof path, "%s/lock", dir) >= sizeof path)
        return STS_EIO;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0)
        return sts_err_from_errno(errno);
    while (flock(f, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int saved = errno; /* the caller reports it */
            close(f);
            errno = saved;
            return sts_err_from_errno(saved);
        }
    }
    *fd = f;
    return STS_OK;
}

void agent_state_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}
