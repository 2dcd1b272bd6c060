/* libFuzzer target of the report parser (sts_report_parse). Beyond memory
 * safety (ASan, UBSan) it checks the codec's promises on every input:
 *   - an accepted report encodes, and the encoding parses back to an equal
 *     report that encodes to the same text;
 *   - a refusal names a field and a reason, both NUL-terminated valid UTF-8,
 *     since they go back to the device inside a JSON answer.
 * Seeds: fuzz/corpus/report/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/date.h"
#include "sts/report.h"

/* The day the fuzzer lives in: 2026-11-20, the spec examples' day. */
#define FUZZ_TODAY 20777

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_report: %s\n  first:  %s\n  second: %s\n", what, a ? a : "(null)",
            b ? b : "(null)");
    abort();
}

static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], len, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            len = 2, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0)
            len = 4, min = 0x10000, c &= 0x07;
        else
            return false;
        if (n - i < len)
            return false;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            c = c << 6 | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static void check_text(const char *what, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        die("error text not NUL-terminated", what, NULL);
    if (!utf8_ok((const unsigned char *)s, n))
        die("error text not valid UTF-8", what, s);
}

static bool same(const struct sts_report *a, const struct sts_report *b)
{
    return a->v == b->v && a->type == b->type &&
           memcmp(a->report_id, b->report_id, sizeof a->report_id) == 0 &&
           strcmp(a->brand, b->brand) == 0 && strcmp(a->model, b->model) == 0 &&
           strcmp(a->sw, b->sw) == 0 && strcmp(a->country, b->country) == 0 &&
           strcmp(a->imei, b->imei) == 0 && a->day == b->day && a->cohort == b->cohort &&
           a->period == b->period && a->first == b->first;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sts_report r, back;
    struct sts_field_error err;
    memset(&err, 0x5a, sizeof err); /* must be fully written on failure */

    enum sts_err e = sts_report_parse((const char *)data, size, FUZZ_TODAY, &r, &err);
    if (e == STS_ENOMEM)
        return 0;
    if (e != STS_OK) {
        if (e != STS_EINVAL && e != STS_ETOOBIG)
            die("unexpected error code", sts_strerror(e), NULL);
        check_text("field", err.field, sizeof err.field);
        check_text("detail", err.detail, sizeof err.detail);
        if (err.detail[0] == '\0')
            die("refusal without a reason", err.field, NULL);
        return 0;
    }
    if (sts_report_validate(&r, FUZZ_TODAY, NULL) != STS_OK)
        die("accepted report fails validation", (const char *)data, NULL);

    char *s1 = NULL, *s2 = NULL;
    if (sts_report_encode(&r, &s1) != STS_OK)
        return 0; /* out of memory */
    e = sts_report_parse(s1, strlen(s1), FUZZ_TODAY, &back, &err);
    if (e != STS_OK)
        die("encoding of an accepted report is refused", s1, err.detail);
    if (!same(&r, &back))
        die("round trip changed the report", s1, NULL);
    if (sts_report_encode(&back, &s2) == STS_OK && strcmp(s1, s2) != 0)
        die("encoding is not stable", s1, s2);
    free(s1);
    free(s2);
    return 0;
}
