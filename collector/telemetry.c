/* Report counters of the collector (see telemetry.h). */
#include "telemetry.h"

#include <string.h>

#include "sts/report.h"

static const char help[] = "reports answered, by type and outcome";

void report_metrics_register(struct report_metrics *rm, struct metrics *m)
{
    static const char *const labels[2][4] = {
        {"type=\"activation\",outcome=\"accepted\"", "type=\"activation\",outcome=\"reactivation\"",
         "type=\"activation\",outcome=\"duplicate\"", "type=\"activation\",outcome=\"failed\""},
        {"type=\"lifetime\",outcome=\"accepted\"", "type=\"lifetime\",outcome=\"reactivation\"",
         "type=\"lifetime\",outcome=\"duplicate\"", "type=\"lifetime\",outcome=\"failed\""},
    };
    memset(rm, 0, sizeof *rm);
    for (int t = 0; t < 2; t++)
        for (int o = 0; o < 4; o++)
            rm->by[t][o] =
                metrics_add(m, METRIC_COUNTER, "sts_reports_total", help, labels[t][o], NULL, 0);
    rm->invalid = metrics_add(m, METRIC_COUNTER, "sts_reports_total", help,
                              "type=\"unknown\",outcome=\"invalid\"", NULL, 0);
}

void report_metrics_count(struct report_metrics *rm, int type, enum store_outcome outcome)
{
    int t = type == STS_REPORT_LIFETIME ? 1 : 0;
    int o = outcome == STORE_NEW            ? 0
            : outcome == STORE_REACTIVATION ? 1
            : outcome == STORE_DUPLICATE    ? 2
                                            : 3;
    metric_add(rm->by[t][o], 1);
}

void report_metrics_invalid(struct report_metrics *rm)
{
    metric_add(rm->invalid, 1);
}
