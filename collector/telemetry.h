/* The collector's own series in the metrics registry (front/metrics.h):
 * reports by type and outcome, counted where each answer is decided
 * (http.c). The labels are the report type and the outcome, never anything
 * a request carries. Thread-safety: register once at start; counting is
 * thread-safe. */
#ifndef STS_COLLECTOR_TELEMETRY_H
#define STS_COLLECTOR_TELEMETRY_H

#include "metrics.h"
#include "store.h"

struct report_metrics {
    struct metric *by[2][4]; /* activation, lifetime x new, re-activation, duplicate, failed */
    struct metric *invalid;  /* refused before the type could be trusted */
};

/* Registers sts_reports_total in m (NULL: rm counts nothing). */
void report_metrics_register(struct report_metrics *rm, struct metrics *m);

/* Counts one report of type (enum sts_report_type) whose outcome is final. */
void report_metrics_count(struct report_metrics *rm, int type, enum store_outcome outcome);

/* Counts one report answered 4xx (invalid, too large, not openable). */
void report_metrics_invalid(struct report_metrics *rm);

#endif
