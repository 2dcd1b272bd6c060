/* The agent's retry policy as pure functions: how to treat a collector's
 * answer, and how long to wait before the next attempt (exponential backoff
 * with full jitter, Retry-After as a lower bound). Nothing here does I/O or
 * keeps state, so the device agent and sts-fleet share exactly one policy and
 * the unit tests can pin it down. All functions are thread-safe. */
#ifndef AGENT_RETRY_H
#define AGENT_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_RETRY_BASE_MS_DEFAULT 2000LL
#define AGENT_RETRY_CAP_MS_DEFAULT  (6LL * 3600 * 1000)
/* A Retry-After larger than this is taken as this: a broken or hostile
 * server must not be able to park a device for years. */
#define AGENT_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)

/* After an answer that is not the collector's, the next attempt waits
 * hours, doubling up to a day: a URL typo, a captive portal or a proxy that
 * blocks the collector is fixed by a person, not by hammering it. */
#define AGENT_RETRY_LONG_BASE_MS (1LL * 3600 * 1000)
#define AGENT_RETRY_LONG_CAP_MS  (24LL * 3600 * 1000)

enum agent_verdict {
    AGENT_DONE = 1,  /* the collector holds the report (202 accepted, 200 duplicate) */
    AGENT_RETRY,     /* transient: no answer, 5xx, 408, 429 — send again soon */
    AGENT_REJECT,    /* the collector refused the report itself; never sent again */
    AGENT_RETRY_LONG /* an answer that is not the collector's: send again in hours */
};

/* Classifies the outcome of one attempt from the answer's HTTP status (0
 * when no answer arrived: connection refused, timeout, reset), its
 * Content-Type (NULL or "" when absent) and its body (body_len bytes, may be
 * NULL):
 * - AGENT_DONE: 200 or 202 carrying the collector's JSON acknowledgement (an
 *   object with a string "status");
 * - AGENT_REJECT: 400, 413 or 415 carrying the collector's JSON error (an
 *   object with a string "error"): only then is a report final;
 * - AGENT_RETRY: 0, 408, 429, 500..599;
 * - AGENT_RETRY_LONG: anything else — a redirect, a 401/403/404/405, an HTML
 *   page, a 200 without the acknowledgement (a captive portal): the answer
 *   of something between the device and the collector, which a fixed URL or
 *   network cures. */
enum agent_verdict agent_retry_classify(long http_status, const char *content_type,
                                        const char *body, size_t body_len);

/* "done" / "retry" / "reject" / "retry-long". */
const char *agent_verdict_name(enum agent_verdict v);

/* The backoff ceiling after `failures` failed attempts (failures >= 1):
 * min(cap_ms, base_ms * 2^(failures-1)), without overflow. base_ms and
 * cap_ms are clamped to at least 1 ms. */
int64_t agent_retry_ceiling_ms(unsigned failures, int64_t base_ms, int64_t cap_ms);

/* The delay before the next attempt after `failures` failed attempts, with
 * full jitter: a value in [0, ceiling] chosen by rnd (any 64-bit random
 * number; the caller supplies it so that this function stays pure). When
 * retry_after_ms >= 0 (the server sent Retry-After) the result is at least
 * min(retry_after_ms, AGENT_RETRY_AFTER_MAX_MS). */
int64_t agent_retry_delay_ms(unsigned failures, int64_t base_ms, int64_t cap_ms,
                             int64_t retry_after_ms, uint64_t rnd);

/* The delay after an answer that is not the collector's, after `failures`
 * failed attempts: uniform in [ceiling/2, ceiling] with ceiling =
 * min(AGENT_RETRY_LONG_CAP_MS, AGENT_RETRY_LONG_BASE_MS * 2^(failures-1)),
 * so never less than half an hour and never more than a day. */
int64_t agent_retry_long_delay_ms(unsigned failures, uint64_t rnd);

/* Parses a Retry-After header value (RFC 9110 10.2.3): either delay-seconds
 * (ASCII digits) or an HTTP-date, which is turned into a delay from now_ms
 * (milliseconds since the Unix epoch; a date in the past gives 0).
 * Surrounding white space is ignored. Returns true and sets *delay_ms, or
 * false for a value that is neither. */
bool agent_retry_after_parse(const char *value, int64_t now_ms, int64_t *delay_ms);

#endif
