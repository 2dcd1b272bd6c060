/* The agent's durable state, one JSON document (state.json) in the state
 * directory: the owner's consents, the activation (its report_id, fixed once
 * and kept across retries and restarts, the exact payload, where it stands,
 * the collector's answer), the lifetime pings (the month's drawn moment, the
 * last month a ping was made for, the pending pings with their payloads) and a
 * bounded log of every attempt to send and every report dropped, which is
 * what `sts-agent status` shows the owner.
 *
 * Every change is written atomically (file.h), under an exclusive lock on
 * <state_dir>/lock so that the daemon and the owner's commands (consent) never
 * lose each other's changes: take the lock, load, change, save, unlock.
 *
 * A state file that does not parse is moved aside (state.json.corrupt-<time>;
 * only the latest such copy is kept) with a message, and a fresh state takes its place, salvaging
 * the activation's report_id, the consents and the last month a lifetime ping was made for when
 * they can still be read: re-sending under the same report_id cannot count the device twice, and no
 * month gets a second ping. Unreadable consents become off; an unreadable last ping month makes the
 * current month count as done.
 *
 * Ownership: a struct agent_state owns all its strings (heap, NULL when
 * absent); release them with agent_state_cleanup(). Not thread-safe: one
 * state object per thread. */
#ifndef AGENT_STATE_H
#define AGENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sts/err.h"
#include "sts/report.h"

#define AGENT_STATE_FILE      "state.json"
#define AGENT_STATE_FORMAT    2 /* 2 added lifetime pings; format 1 is still read */
#define AGENT_STATE_MAX_BYTES (1024 * 1024)
#define AGENT_LOG_MAX         200 /* log entries kept, oldest dropped */
#define AGENT_PINGS_MAX       24  /* hard bound of the lifetime queue */

enum agent_status {
    AGENT_PENDING = 1, /* not yet acknowledged; next_attempt_ms says when */
    AGENT_SENT,        /* the collector acknowledged it (202 or 200) */
    AGENT_REJECTED     /* the collector refused it for good; never sent again */
};

enum agent_consent {
    AGENT_CONSENT_UNSET = 0, /* the owner has not decided: the config default applies */
    AGENT_CONSENT_OFF,
    AGENT_CONSENT_ON
};

struct agent_activation {
    bool present;
    /* When !present but report_id is set, it was salvaged from a corrupt
     * file: the activation built next must reuse it. */
    char report_id[STS_REPORT_ID_LEN + 1];
    char *payload; /* the exact JSON that is (re)sent */
    enum agent_status status;
    int64_t created_ms; /* times are milliseconds since the Unix epoch */
    unsigned attempts;
    int64_t next_attempt_ms; /* meaningful while pending */
    char *last_error;        /* why the last attempt failed; NULL if it did not */
    long answer_status;      /* the collector's last HTTP status, 0 if none */
    char *answer_body;       /* ... and its body */
    int64_t answer_ms;       /* when that answer came */
    int64_t sent_ms;         /* when it was acknowledged, 0 if not */
    char *note;              /* what was left out and why (shown to the owner) */
};

/* One pending lifetime ping: made (its payload and report_id fixed) and kept
 * until the collector holds it, rejects it, or its grace window closes. */
struct agent_ping {
    char report_id[STS_REPORT_ID_LEN + 1];
    int32_t period; /* the month it belongs to (sts/date.h months) */
    bool first;     /* its "first" flag */
    char *payload;  /* the exact JSON */
    int64_t created_ms;
    unsigned attempts;
    int64_t next_attempt_ms;
    char *last_error; /* NULL if no attempt failed */
};

struct agent_lifetime {
    enum agent_consent consent;
    int64_t consent_ms;  /* when the owner set it, 0 if never */
    int32_t slot_period; /* month of the drawn moment; 0: none drawn */
    int64_t slot_ms;     /* when that month's ping is to be made */
    int32_t last_period; /* latest month a ping was made for; 0: none */
    bool entered;        /* the joining month's ping was made since consent */
    struct agent_ping pending[AGENT_PINGS_MAX]; /* oldest first */
    size_t npending;
};

/* An entry of the owner's log. Owns payload (heap or NULL). */
struct agent_log_entry {
    int64_t time_ms;
    char type[16]; /* "activation" "lifetime" */
    char report_id[STS_REPORT_ID_LEN + 1];
    long http_status; /* 0: no answer */
    char outcome[16]; /* "accepted" "duplicate" "retry" "rejected" "dropped" */
    char detail[160]; /* the answer, the error, or why it was dropped */
    char *payload;    /* the exact JSON of the report concerned */
};

struct agent_state {
    enum agent_consent consent_country;
    int64_t consent_country_ms; /* when the owner set it, 0 if never */
    char *facts_error;          /* facts that could not be read or are invalid; NULL if none */
    /* Where the last attempts went ("collector URL", or "relay URL ->
     * collector URL" through a relay), NULL before the first: a changed
     * configuration resets the backoff of every pending report. */
    char *route;
    struct agent_activation act;
    struct agent_lifetime life;
    struct agent_log_entry log[AGENT_LOG_MAX];
    size_t log_len;
};

const char *agent_status_name(enum agent_status s);

/* Writes ms (since the Unix epoch) as "YYYY-MM-DD HH:MM:SS UTC", or "-" for 0. */
void agent_time_format(int64_t ms, char out[static 32]);

/* A fresh, empty state (no activation, consents unset). */
void agent_state_init(struct agent_state *st);

/* Frees the strings and re-initialises st. */
void agent_state_cleanup(struct agent_state *st);

/* Replaces *slot (heap or NULL) by a copy of s (or NULL). Errors: STS_ENOMEM,
 * in which case *slot is unchanged. */
enum sts_err agent_state_set_str(char **slot, const char *s);

/* Appends a copy of e (its payload copied too) to the log, dropping the
 * oldest entry when full. Out of memory loses the payload copy only. */
void agent_state_log(struct agent_state *st, const struct agent_log_entry *e);

/* Removes pending ping i (freeing its strings), keeping the order. */
void agent_state_ping_remove(struct agent_state *st, size_t i);

/* Drops every pending ping, logging each as dropped with why, at now_ms. */
void agent_state_pings_drop_all(struct agent_state *st, int64_t now_ms, const char *why);

/* The document written to state.json (also printed by `status --json`);
 * a new reference, NULL when out of memory. */
json_t *agent_state_to_json(const struct agent_state *st);

/* Parses a state document into st (freshly initialised). On failure st is
 * cleaned up and msg says what is wrong.
 * Errors: STS_ECORRUPT, STS_EUNSUPPORTED (written by a newer format), STS_ENOMEM. */
enum sts_err agent_state_parse(const char *text, size_t len, struct agent_state *st, char *msg,
                               size_t msg_size);

/* Loads dir/state.json into st (freshly initialised).
 * STS_OK: loaded, or no file yet (st stays fresh).
 * STS_ECORRUPT: the file did not parse; it was moved aside and st is a fresh
 *   state with what could be salvaged; msg says all this, for the owner. The
 *   caller should save st.
 * Errors: STS_EIO, STS_EACCES (cannot read or move aside; st
 * fresh and must not be saved), STS_EUNSUPPORTED (a newer agent wrote it; left alone), STS_ENOMEM.
 */
enum sts_err agent_state_load(const char *dir, struct agent_state *st, char *msg, size_t msg_size);

/* Writes st to dir/state.json atomically and durably. Errors: STS_EIO,
 * STS_ENOSPC, STS_EACCES (errno says exactly why: ENOSPC, EROFS...),
 * STS_ENOMEM. */
enum sts_err agent_state_save(const char *dir, const struct agent_state *st);

/* Creates dir (mode 0700) if it does not exist, then takes an exclusive lock
 * on dir/lock, waiting for it. *fd is the lock to pass to agent_state_unlock.
 * Errors: STS_EIO, STS_EACCES, STS_ENOSPC, STS_ENOENT (errno says why). */
enum sts_err agent_state_lock(const char *dir, int *fd);
void agent_state_unlock(int fd);

#endif
