/* IMEI validation: 15 decimal digits whose last is the Luhn check digit. */
#ifndef STS_IMEI_H
#define STS_IMEI_H

#include <stdbool.h>
#include <stddef.h>

#define STS_IMEI_LEN 15

/* Returns the Luhn check digit (0..9) for the 14 digits at body. */
int sts_imei_check_digit(const char body[static 14]);

/* True if s is exactly 15 ASCII digits with a matching check digit. When false
 * and why is not NULL, *why points at a static reason suitable for users. */
bool sts_imei_valid(const char *s, const char **why);

#endif
