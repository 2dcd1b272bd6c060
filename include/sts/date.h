/* Calendar dates and months as plain integers, parsed and printed strictly.
 * A day is the number of days since 1970-01-01 (UTC); a month is year*12 + (month-1). */
#ifndef STS_DATE_H
#define STS_DATE_H

#include <stdbool.h>
#include <stdint.h>

#include "sts/err.h"

#define STS_DAY_LEN   10 /* "YYYY-MM-DD" */
#define STS_MONTH_LEN 7  /* "YYYY-MM" */

/* Parses exactly "YYYY-MM-DD" naming a real Gregorian date (years 1000..9999).
 * Errors: STS_EINVAL. */
enum sts_err sts_day_parse(const char *s, int32_t *day);

/* Writes "YYYY-MM-DD" and a NUL into out (at least 11 bytes). */
void sts_day_format(int32_t day, char out[static STS_DAY_LEN + 1]);

/* Parses exactly "YYYY-MM" (years 1000..9999, month 01..12). Errors: STS_EINVAL. */
enum sts_err sts_month_parse(const char *s, int32_t *month);

/* Writes "YYYY-MM" and a NUL into out (at least 8 bytes). */
void sts_month_format(int32_t month, char out[static STS_MONTH_LEN + 1]);

/* Converts between days and (year, month 1..12, day 1..31). */
int32_t sts_day_from_ymd(int year, int month, int mday);
void sts_day_to_ymd(int32_t day, int *year, int *month, int *mday);

/* The month that contains day. */
int32_t sts_day_month(int32_t day);

/* The first day of month. */
int32_t sts_month_first_day(int32_t month);

/* Monday of the ISO-8601 week containing day, and that week's ISO year and number. */
int32_t sts_day_week_start(int32_t day);
void sts_day_iso_week(int32_t day, int *iso_year, int *iso_week);

/* Today in UTC, read from CLOCK_REALTIME; STS_NOW_DAY ("YYYY-MM-DD", read
 * once: sts/clock.h) overrides it so tests can fix the date. */
int32_t sts_day_today(void);

#endif
