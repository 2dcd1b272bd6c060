/* Driving the simulated fleet against a collector with the agent's own code:
 * each report is built by agent_report_activation() and sent by an
 * agent_sender (one per thread, so each thread keeps its connection alive),
 * and every transient failure is retried under the agent's policy with the
 * same report_id. First activations go out first; re-activations only once
 * every first activation is settled, as they would in real life. */
#ifndef FLEET_DRIVE_H
#define FLEET_DRIVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"
#include "sts/err.h"

struct fleet_drive_opts {
    const char *collector;
    unsigned concurrency; /* threads, each with its own connection */
    uint64_t seed;        /* for the retry jitter */
    int64_t retry_base_ms;
    int64_t retry_cap_ms;
    unsigned max_attempts; /* per report, then it counts as failed */
    long timeout_ms;
};

struct fleet_counts {
    uint64_t accepted;  /* 202 */
    uint64_t duplicate; /* 200 */
    uint64_t rejected;  /* other final answers */
    uint64_t failed;    /* gave up after max_attempts */
    uint64_t retries;   /* transient failures retried (429, 503, no answer...) */
    uint64_t invalid;   /* reports the agent code refused to build */
    double seconds;
};

/* Answers counted across sending threads (see fleet_counts). */
struct fleet_tally {
    atomic_uint_fast64_t accepted, duplicate, rejected, failed, retries, invalid;
    atomic_uint problems;
};

struct agent_sender;

/* Prints "sts-fleet: what: a: b" for the first few problems of t only. */
void fleet_problem(struct fleet_tally *t, const char *what, const char *a, const char *b);

/* Sends json with s until it is settled, as the agent would: retries what
 * the agent retries (with its backoff, jitter from rng) up to
 * o->max_attempts, and counts the outcome in t. Thread-safe for distinct s
 * and rng. */
void fleet_post(struct fleet_tally *t, struct agent_sender *s, const struct fleet_drive_opts *o,
                struct fleet_rng *rng, const char *json);

/* Copies t's figures into c (seconds untouched). */
void fleet_tally_get(struct fleet_tally *t, struct fleet_counts *c);

/* Sends every report of f. Prints the first few problems on stderr.
 * Errors: STS_ENOMEM, STS_ENET (no thread or sender could be made). */
enum sts_err fleet_drive(const struct fleet *f, const struct fleet_drive_opts *opts,
                         struct fleet_counts *counts);

#endif
