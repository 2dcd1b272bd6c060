/* The agent's clock and randomness. Every wall-clock reading of the agent goes
 * through agent_now_ms(), so that tests can inject the time (sts/clock.h): when the
 * environment variable STS_AGENT_NOW holds a number of seconds since the Unix
 * epoch, the clock starts there at the first reading and then advances with
 * the monotonic clock (a daemon's sleeps still work). Without it, the
 * activation day also honours STS_NOW_DAY (sts/date.h). Thread-safe. */
#ifndef AGENT_CLOCK_H
#define AGENT_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define AGENT_DAY_MS (24LL * 3600 * 1000)

/* Milliseconds since the Unix epoch: CLOCK_REALTIME, or the injected clock. */
int64_t agent_now_ms(void);

/* Whether the clock is injected (STS_AGENT_NOW). */
bool agent_clock_injected(void);

/* The day (days since 1970-01-01, UTC) of now_ms; STS_NOW_DAY wins when the
 * clock is not injected. */
int32_t agent_today(int64_t now_ms);

/* The month (sts/date.h) of t_ms, and the first millisecond of a month. */
int32_t agent_month_of(int64_t t_ms);
int64_t agent_month_start_ms(int32_t month);

/* 64 random bits (getrandom, or a clock-derived value if the kernel has none
 * to give: they spread load and jitter, they protect no secret). */
uint64_t agent_random64(void);

#endif
