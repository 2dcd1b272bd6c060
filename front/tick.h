/* The clock of the servers' running logs (collector/monitor.c, relay's
 * summary.c): a thread that calls a function once a second, tells it when a
 * summary is due, and calls it a last time on stop, so that a change in the
 * final second is still logged. What is looked at, and what is logged, is
 * the caller's.
 *
 * Ownership: ctx is borrowed and must outlive the tick. Thread-safety:
 * fn runs on the tick's thread only; tick_start and tick_stop from one
 * thread. */
#ifndef STS_FRONT_TICK_H
#define STS_FRONT_TICK_H

#include <stdbool.h>

#include "sts/err.h"

/* summary: every summary_s-th call (never on the final one); final: the
 * last call, from tick_stop. */
typedef void (*tick_fn)(void *ctx, bool summary, bool final);

struct tick;

/* Starts the thread. summary_s: seconds between summaries, 0 = none.
 * Errors: STS_ENOMEM, STS_EIO (no thread). */
enum sts_err tick_start(tick_fn fn, void *ctx, long summary_s, struct tick **out);

/* Stops the thread after a last call of fn (final = true) and frees. NULL
 * does nothing. */
void tick_stop(struct tick *t);

#endif
