/* Strict calendar parsing and day arithmetic (proleptic Gregorian, UTC).
 * Days are counted from 1970-01-01 with the days-from-civil algorithm, which
 * needs no tables and no time zone. */
#include "sts/date.h"

#include "sts/clock.h"

#include <string.h>
#include <time.h>

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

int32_t sts_day_from_ymd(int year, int month, int mday)
{
    int y = year - (month <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int mp = (month + 9) % 12;
    int doy = (153 * mp + 2) / 5 + mday - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

void sts_day_to_ymd(int32_t day, int *year, int *month, int *mday)
{
    int32_t z = day + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    int32_t doe = z - era * 146097;
    int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int32_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = m;
    *year = (int)(yoe + era * 400 + (m <= 2));
}

/* Reads exactly n ASCII digits; no sign, no spaces. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

enum sts_err sts_day_parse(const char *s, int32_t *day)
{
    int y, m, d;
    if (strlen(s) != STS_DAY_LEN || s[4] != '-' || s[7] != '-')
        return STS_EINVAL;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return STS_EINVAL;
    if (y < 1000 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return STS_EINVAL;
    *day = sts_day_from_ymd(y, m, d);
    return STS_OK;
}

/* Writes n decimal digits of v, zero-padded; v is known to fit. */
static void put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void sts_day_format(int32_t day, char out[static STS_DAY_LEN + 1])
{
    int y, m, d;
    sts_day_to_ymd(day, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = 0;
    put_digits(out, y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = '\0';
}

enum sts_err sts_month_parse(const char *s, int32_t *month)
{
    int y, m;
    if (strlen(s) != STS_MONTH_LEN || s[4] != '-')
        return STS_EINVAL;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m))
        return STS_EINVAL;
    if (y < 1000 || m < 1 || m > 12)
        return STS_EINVAL;
    *month = y * 12 + (m - 1);
    return STS_OK;
}

void sts_month_format(int32_t month, char out[static STS_MONTH_LEN + 1])
{
    int y = month / 12, m = month % 12 + 1;
    if (y < 0 || y > 9999)
        y = 0;
    put_digits(out, y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '\0';
}

int32_t sts_day_month(int32_t day)
{
    int y, m, d;
    sts_day_to_ymd(day, &y, &m, &d);
    return y * 12 + (m - 1);
}

int32_t sts_month_first_day(int32_t month)
{
    return sts_day_from_ymd(month / 12, month % 12 + 1, 1);
}

/* 1970-01-01 was a Thursday; ISO weeks start on Monday. */
static int weekday_mon0(int32_t day)
{
    int32_t w = (day + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

int32_t sts_day_week_start(int32_t day)
{
    return day - weekday_mon0(day);
}

void sts_day_iso_week(int32_t day, int *iso_year, int *iso_week)
{
    /* The ISO year is the year of the week's Thursday. */
    int32_t thursday = sts_day_week_start(day) + 3;
    int y, m, d;
    sts_day_to_ymd(thursday, &y, &m, &d);
    int32_t jan1 = sts_day_from_ymd(y, 1, 1);
    *iso_year = y;
    *iso_week = (int)((thursday - jan1) / 7 + 1);
}

int32_t sts_day_today(void)
{
    int32_t day;
    if (sts_clock_fixed_day(&day))
        return day;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int32_t)(ts.tv_sec / 86400 - (ts.tv_sec < 0 && ts.tv_sec % 86400 ? 1 : 0));
}
