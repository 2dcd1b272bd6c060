/* The agent's retry policy as pure functions: how to treat a collector's
 * answer, and how long to wait before the next attempt (exponential backoff
 * with full jitter, Retry-After as a lower bound). Nothing here does I/O or
 * keeps state, so the device agent and sts-fleet share exactly one policy and
 * the unit tests can pin it down. All functions are thread-safe. */
#ifndef AGENT_RETRY_H
#define AGENT_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define AGENT_RETRY_BASE_MS_DEFAULT 2000LL
#define AGENT_RETRY_CAP_MS_DEFAULT  (6LL * 3600 * 1000)
/* A Retry-After larger than this is taken as this: a broken or hostile
 * server must not be able to park a device for years. */
#define AGENT_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)

enum agent_verdict {
    AGENT_DONE = 1, /* the collector holds the report (202 accepted, 200 duplicate) */
    AGENT_RETRY,    /* transient: no answer, 5xx, 408, 429 — send again later */
    AGENT_REJECT    /* permanent: anything else; never sent again */
};

/* Classifies the outcome of one attempt. http_status is the HTTP status of
 * the answer, or 0 when no answer arrived (connection refused, timeout, reset).
 * 200 and 202 are AGENT_DONE; 0, 408, 429 and 500..599 are AGENT_RETRY;
 * every other status (other 4xx, unexpected 1xx/2xx/3xx) is AGENT_REJECT, so
 * that a permanent problem can never make the device loop. */
enum agent_verdict agent_retry_classify(long http_status);

/* "done" / "retry" / "reject". */
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

/* Parses a Retry-After header value (RFC 9110 10.2.3): either delay-seconds
 * (ASCII digits) or an HTTP-date, which is turned into a delay from now_ms
 * (milliseconds since the Unix epoch; a date in the past gives 0).
 * Surrounding white space is ignored. Returns true and sets *delay_ms, or
 * false for a value that is neither. */
bool agent_retry_after_parse(const char *value, int64_t now_ms, int64_t *delay_ms);

#endif
