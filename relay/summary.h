/* The relay's running log, as the collector's (collector/monitor.h): one
 * line when the gateway starts failing and one when it recovers, and every
 * summary_s seconds a summary of the last interval: requests forwarded and
 * refused, answers by status class, gateway failures by kind, connections
 * open. It reads the relay's and the front's series in the metrics registry
 * only (front/metrics.h), so it never sees an address or an identifier.
 *
 * The gateway counts as failing from a second in which requests to it
 * failed and none was answered, and as recovered from a second in which
 * requests were answered and none failed.
 *
 * Ownership: m is borrowed and must outlive the summary. */
#ifndef STS_RELAY_SUMMARY_H
#define STS_RELAY_SUMMARY_H

#include "metrics.h"
#include "sts/err.h"

struct relay_summary;

/* Starts the log's thread over m, where relay_start registered its series.
 * summary_s: seconds between summaries, 0 = none (events are still logged).
 * Errors: STS_ENOMEM, STS_EIO (no thread). */
enum sts_err relay_summary_start(struct metrics *m, long summary_s, struct relay_summary **out);

/* Stops the thread (a last look first) and frees. NULL does nothing. */
void relay_summary_stop(struct relay_summary *s);

#endif
