/* What `sts-agent run` does: make the activation once (facts, consent, day)
 * and the lifetime pings (lifetime.h), keep them in the state before sending,
 * send each when due, record each answer and decide by the retry policy; as a
 * daemon, sleep until the next due time and stop on SIGTERM/SIGINT, or once
 * nothing is left to do (the activation settled and no lifetime consent).
 *
 * The state-changing steps are functions of their own so that they can be
 * tested without a network or a clock. Not thread-safe (one agent per state
 * directory; the state lock keeps other processes out). */
#ifndef AGENT_RUN_H
#define AGENT_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "consent.h"
#include "retry.h"
#include "send.h"
#include "state.h"

/* Builds the activation report of this device for day, as JSON in *payload
 * (free() it), reusing report_id when it is a non-empty string (else a fresh
 * one, written back into report_id). On STS_OK, warn->field names an optional
 * fact left out. On a fact error, *err says which and why.
 * Errors: STS_ENOENT, STS_ETOOBIG, STS_EINVAL (facts), STS_ECRYPTO, STS_ENOMEM. */
enum sts_err agent_build_activation(const struct agent_config *cfg, const struct agent_state *st,
                                    int32_t day, char report_id[static STS_REPORT_ID_LEN + 1],
                                    char **payload, struct sts_field_error *warn,
                                    struct sts_field_error *err);

/* Makes st's pending activation if there is none yet, due at now_ms, for day.
 * On a fact error st->facts_error records it (for status) and msg says it;
 * the caller should still save st. A left-out optional fact is recorded in
 * st->act.note and said in msg with STS_OK.
 * Errors: those of agent_build_activation. */
enum sts_err agent_prepare_activation(const struct agent_config *cfg, struct agent_state *st,
                                      int64_t now_ms, int32_t day, char *msg, size_t msg_size);

/* Records in st the outcome of one attempt to send st's activation, made at
 * now_ms with answer ans, and returns the verdict: DONE sets it sent,
 * REJECT sets it rejected with the collector's error, RETRY schedules the
 * next attempt by the backoff policy of cfg with jitter from rnd. Logs the
 * attempt. Errors are out of memory only, in which case strings may be
 * missing from st. */
enum agent_verdict agent_record_attempt(const struct agent_config *cfg, struct agent_state *st,
                                        int64_t now_ms, const struct agent_answer *ans,
                                        uint64_t rnd);

/* The same for pending lifetime ping i of st: DONE and REJECT remove it from
 * the queue (DONE of a first ping marks the device as entered), RETRY
 * schedules it again. Every outcome is logged with the payload. */
enum agent_verdict agent_record_ping_attempt(const struct agent_config *cfg, struct agent_state *st,
                                             size_t i, int64_t now_ms,
                                             const struct agent_answer *ans, uint64_t rnd);

/* Where reports go with cfg, for the owner and for the state's route:
 * "COLLECTOR", or "RELAY -> COLLECTOR" with the OHTTP transport. */
void agent_route_describe(const struct agent_config *cfg, char *out, size_t size);

/* Records cfg's route in st; when it differs from the one recorded (the
 * collector or relay URL was changed), every pending report becomes due at
 * now_ms, so that a fixed URL delivers at once. Returns true when st
 * changed (save it). */
bool agent_route_update(const struct agent_config *cfg, struct agent_state *st, int64_t now_ms);

/* `sts-agent run [--once]`: returns the exit status (0 ok, 1 failure) after
 * printing what went wrong on stderr. stop is set by the signal handlers. */
int agent_run(const struct agent_config *cfg, bool once, volatile sig_atomic_t *stop);

#endif
