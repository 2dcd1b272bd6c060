/* The one seam through which tests fix the time: three environment
 * variables, read once, at program start, by sts_clock_init() from main().
 *
 *   STS_NOW_DAY=YYYY-MM-DD        "today" (UTC) for every program
 *   STS_AGENT_NOW=<seconds>       the agent's clock: that time at start, then
 *                                 advancing with the monotonic clock
 *   STS_SQLITE_BUSY_TIMEOUT_MS=N  how long a SQLite write waits for a lock
 *                                 held elsewhere (0..600000; default 10000)
 *
 * An empty variable counts as unset. Production leaves them all unset; see
 * README.md ("Tests") and docs/internals/clock.md. Reading them once keeps
 * getenv() off the request path and out of threads (getenv races setenv),
 * and means a value cannot change under a running program. */
#ifndef STS_CLOCK_H
#define STS_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

/* Reads the variables; call it from main() before any thread starts. Later
 * calls do nothing and return the first result. The getters below call it
 * themselves when main() did not (library users, unit tests), so the values
 * are read at their first use instead. A malformed variable is ignored (the
 * real clock is used) and reported here, so that a program can refuse to
 * run with a test clock it would not honour; why names it.
 * Errors: STS_EINVAL. */
enum sts_err sts_clock_init(char *why, size_t whylen);

/* Whether STS_NOW_DAY fixes today; if so *day is that day (days since
 * 1970-01-01). */
bool sts_clock_fixed_day(int32_t *day);

/* Whether STS_AGENT_NOW injects the time; if so *seconds is its value
 * (seconds since the Unix epoch, 0..253402300799). */
bool sts_clock_injected_time(int64_t *seconds);

/* The SQLite lock wait in milliseconds: STS_SQLITE_BUSY_TIMEOUT_MS, else 10000. */
int sts_clock_busy_timeout_ms(void);

/* Reads the environment again. For unit tests that change it with setenv(),
 * never while other threads run. */
void sts_clock_reload(void);

#endif
