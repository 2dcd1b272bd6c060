/* Lifetime pings: when they are made and when they are dropped. A ping is
 * made at most once per calendar month (UTC), at a moment drawn at random in
 * the month, so that a fleet spreads its pings over the month:
 *
 * - when the agent first runs in a month M later than the last month a ping
 *   was made for, it draws M's moment, uniformly between now (or the start of
 *   M) and the end of M, and keeps it in the state;
 * - once that moment has passed, the ping of M is made (report_id drawn,
 *   payload fixed) and saved before any attempt to send it, together with
 *   "last month = M": a crash, a reboot or a clock set back can never make a
 *   second ping for M or any earlier month;
 * - a device that was running in M but could not make or send M's ping (off,
 *   offline) may still make it and send it up to lifetime_grace_days days
 *   after the end of M, labelled with M; after that it is dropped;
 * - the queue of pending pings is bounded (lifetime_queue_max): beyond it the
 *   oldest is dropped;
 * - without lifetime consent nothing is drawn or made, and pending pings are
 *   dropped.
 *
 * A month in which the agent never ran has no ping: a clock jumping a year
 * ahead makes one ping, for the month it lands in. Functions here change a
 * state in memory; the caller saves it. Not thread-safe on one state. */
#ifndef AGENT_LIFETIME_H
#define AGENT_LIFETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "consent.h"
#include "state.h"

/* The cohort month of st's activation (the month of its day), 0 when no
 * activation has been made yet. */
int32_t agent_activation_cohort(const struct agent_state *st);

/* The first millisecond after period's grace window. */
int64_t agent_lifetime_deadline_ms(const struct agent_config *cfg, int32_t period);

/* Brings the lifetime part of st up to now_ms, as described above, drawing
 * the month's moment from rnd. Returns true when st changed (save it). When
 * a ping is due but cannot be made (a fact cannot be read or is invalid, or
 * no activation exists yet to give the cohort), *blocked is set,
 * st->facts_error says why when it is a fact, and msg says it. */
bool agent_lifetime_plan(const struct agent_config *cfg, struct agent_state *st, int64_t now_ms,
                         uint64_t rnd, bool *blocked, char *msg, size_t msg_size);

/* Builds the ping of period for st's cohort, as it would be made now, as JSON
 * in *payload (free() it), with its first flag in *first; report_id receives
 * the fresh id. On a fact problem, *err names it and problems lists all.
 * Errors: STS_ENOENT (no activation yet: no cohort), those of
 * agent_facts_gather and agent_report_lifetime, STS_ENOMEM. */
enum sts_err agent_lifetime_build(const struct agent_config *cfg, const struct agent_state *st,
                                  int32_t period, char report_id[static STS_REPORT_ID_LEN + 1],
                                  bool *first, char **payload, char *problems, size_t problems_size,
                                  struct sts_field_error *err);

/* The earliest time after which agent_lifetime_plan has something to do, or
 * a pending ping is due to be sent; INT64_MAX when nothing is planned. A drawn
 * moment already past (a ping blocked on its facts) is not counted. */
int64_t agent_lifetime_next_ms(const struct agent_config *cfg, const struct agent_state *st,
                               int64_t now_ms);

/* When the next ping is made, as status and preview both tell the owner:
 * false when none is planned (no consent). Otherwise *period is its month
 * and it is made at a moment in [*from_ms, *to_ms]: one moment when they are
 * equal (already drawn, or due at the next run), else a window in which the
 * next run draws it. */
bool agent_lifetime_next_ping(const struct agent_config *cfg, const struct agent_state *st,
                              int64_t now_ms, int32_t *period, int64_t *from_ms, int64_t *to_ms);

#endif
