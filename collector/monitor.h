/* The collector's running log: a thread that looks at the server once a
 * second and writes one line (sts/log.h) when something an operator cares
 * about changes — storage failing and recovering, rate limits engaged and
 * disengaged — and a summary of the last interval every summary_s seconds.
 * It reads counters only (http_get_counters, ingest_healthy, the metrics
 * registry), so it never sees an address or an identifier.
 *
 * Ownership: srv, ing and m are borrowed and must outlive the monitor. */
#ifndef STS_COLLECTOR_MONITOR_H
#define STS_COLLECTOR_MONITOR_H

#include "http.h"
#include "ingest.h"
#include "metrics.h"

struct monitor;

/* Starts the thread. summary_s: seconds between summaries, 0 = none.
 * Errors: STS_ENOMEM, STS_EIO (no thread). */
enum sts_err monitor_start(struct http_server *srv, struct ingest *ing, struct metrics *m,
                           long summary_s, struct monitor **out);

/* Stops the thread (a last look first, so a change in the final second is
 * logged) and frees. NULL does nothing. */
void monitor_stop(struct monitor *mon);

#endif
