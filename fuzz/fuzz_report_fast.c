/* Differential libFuzzer target of the report readers (sts/report.h): the
 * same bytes go to the fast reader and to Jansson. Whenever the fast reader
 * takes a body (it may leave any body to Jansson), both must give the same
 * verdict, the same refusal (field and reason) and the same report, field
 * for field. Seeds: fuzz/corpus/report_fast/ (the report parser's seeds). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/report.h"

/* 2026-11-20, as in fuzz_report.c. */
#define FUZZ_TODAY 20777

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_report_fast: %s\n  fast:    %s\n  jansson: %s\n", what, a, b);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sts_report fast, slow;
    struct sts_field_error fe, se;
    memset(&fe, 0, sizeof fe);
    memset(&se, 0, sizeof se);
    const char *body = (const char *)data;
    enum sts_err f =
        sts_report_parse_with(body, size, FUZZ_TODAY, STS_REPORT_READER_FAST, &fast, &fe);
    enum sts_err s =
        sts_report_parse_with(body, size, FUZZ_TODAY, STS_REPORT_READER_JANSSON, &slow, &se);
    if (f == STS_EUNSUPPORTED || s == STS_ENOMEM)
        return 0; /* left to Jansson, or Jansson out of memory */
    if (f != s)
        die("different verdicts", sts_strerror(f), sts_strerror(s));
    if (f != STS_OK) {
        if (strcmp(fe.field, se.field) != 0)
            die("different fields refused", fe.field, se.field);
        if (strcmp(fe.detail, se.detail) != 0)
            die("different reasons", fe.detail, se.detail);
        return 0;
    }
    if (fast.v != slow.v || fast.type != slow.type ||
        memcmp(fast.report_id, slow.report_id, sizeof fast.report_id) != 0 ||
        strcmp(fast.brand, slow.brand) != 0 || strcmp(fast.model, slow.model) != 0 ||
        strcmp(fast.sw, slow.sw) != 0 || strcmp(fast.country, slow.country) != 0 ||
        strcmp(fast.imei, slow.imei) != 0 || fast.day != slow.day || fast.cohort != slow.cohort ||
        fast.period != slow.period || fast.first != slow.first)
        die("different reports", "(fields differ)", "(fields differ)");
    return 0;
}
