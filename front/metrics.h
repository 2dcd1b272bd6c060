/* A small registry of Prometheus metrics shared by sts-collector and
 * sts-relay, rendered in the text exposition format (version 0.0.4) for
 * GET /metrics. Series are registered once at start, each with a fixed,
 * static label set chosen by the program (a report type, an outcome, a
 * status code): no label is ever built from a request, so none can carry an
 * address or an identifier. Updates are lock-free atomics.
 *
 * Ownership: the registry owns its series; names, help texts and label
 * strings are borrowed and must be static. Thread-safety: register before
 * other threads use the registry; updates and metrics_render are
 * thread-safe. A NULL series makes every update do nothing, so code runs
 * the same without a registry. */
#ifndef STS_FRONT_METRICS_H
#define STS_FRONT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric;

/* Errors: STS_ENOMEM. */
enum sts_err metrics_new(struct metrics **out);

/* NULL does nothing. */
void metrics_free(struct metrics *m);

/* Registers one series of a family. Series of one family (one name) are
 * registered one after the other, with the same type and help. labels is
 * NULL or a label list without braces (`type="activation",outcome="new"`).
 * A histogram takes nbounds increasing upper bounds (at most 24; +Inf is
 * added). Returns NULL when m is NULL or full (METRICS_MAX series), or for
 * a bad histogram. */
#define METRICS_MAX 256
struct metric *metrics_add(struct metrics *m, enum metric_type type, const char *name,
                           const char *help, const char *labels, const double *bounds,
                           size_t nbounds);

/* Counter or gauge: adds n (a gauge may go down with a negative n). */
void metric_add(struct metric *x, int64_t n);

/* Gauge: sets its value. */
void metric_set(struct metric *x, int64_t v);

/* Histogram: counts one observation of v. */
void metric_observe(struct metric *x, double v);

/* The value of a counter or gauge, or a histogram's count (tests, logs). */
int64_t metric_value(const struct metric *x);

/* The series registered as name with exactly labels (NULL for none), or
 * NULL: for a reader of the values, such as the log's summary. */
struct metric *metrics_find(struct metrics *m, const char *name, const char *labels);

/* The sum of the counters or gauges of family name whose labels begin with
 * prefix ("" or NULL: every series of the family), e.g. the answers of one
 * status class with `code="5`: for the log's summaries. */
int64_t metrics_sum(struct metrics *m, const char *name, const char *prefix);

/* Renders every series into *out (malloc'ed, NUL-terminated, *len bytes
 * without the NUL), which the caller frees. Errors: STS_ENOMEM. */
enum sts_err metrics_render(struct metrics *m, char **out, size_t *len);

/* The Content-Type of the rendered text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
