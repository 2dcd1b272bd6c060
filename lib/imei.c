/* IMEI check: 14 digits plus a Luhn check digit (3GPP TS 23.003, Annex B). */
#include "sts/imei.h"

#include <string.h>

int sts_imei_check_digit(const char body[static 14])
{
    int sum = 0;
    for (int i = 0; i < 14; i++) {
        int d = body[i] - '0';
        /* Doubling starts from the digit next to the check digit, i.e. the
         * odd positions counted from zero at the left of a 14-digit body. */
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (10 - sum % 10) % 10;
}

bool sts_imei_valid(const char *s, const char **why)
{
    const char *reason = NULL;
    size_t n = strlen(s);
    if (n != STS_IMEI_LEN) {
        reason = "must be exactly 15 digits";
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            reason = "must contain only the digits 0-9";
            goto out;
        }
    }
    if (sts_imei_check_digit(s) != s[14] - '0')
        reason = "check digit does not match";
out:
    if (why)
        *why = reason;
    return reason == NULL;
}
