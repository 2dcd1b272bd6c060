/* ISO 3166-1 alpha-2 country codes: the officially assigned list, nothing more. */
#ifndef STS_COUNTRY_H
#define STS_COUNTRY_H

#include <stdbool.h>

/* True if code is exactly two upper-case letters forming an officially assigned
 * ISO 3166-1 alpha-2 code (user-assigned and reserved codes such as "XX", "EU",
 * "UK" are refused). */
bool sts_country_valid(const char *code);

#endif
