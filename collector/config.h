/* Collector settings: defaults, then a `key = value` file, then flags. */
#ifndef STS_COLLECTOR_CONFIG_H
#define STS_COLLECTOR_CONFIG_H

#include <stddef.h>

#include "sts/err.h"

struct collector_config {
    char listen[128];
    char db[512];
    char key[512];
    char token_file[512];
    unsigned threads; /* 0 = one per CPU */
    size_t max_body;  /* bytes, <= 8192 */
    size_t max_batch; /* records per transaction */
    unsigned connection_limit;
    unsigned timeout_s;
    long k;                  /* privacy floor of published figures */
    long grace_days;         /* late lifetime pings: days a month stays open after it
                                ends (0 = the default, -1 = none) */
    long report_id_days;     /* activation report ids kept after receipt (default 30) */
    int backfill;            /* 1: count late reports on their own day (loading history
                                before the first release), not in the first open period */
    char tls_cert[512];      /* PEM certificate chain; "" = plain HTTP, loopback only */
    char tls_key[512];       /* PEM private key of tls_cert */
    char ohttp_keys[2][512]; /* gateway key files, previous then current */
    unsigned n_ohttp_keys;
};

/* Fills cfg with the defaults. */
void config_defaults(struct collector_config *cfg);

/* Sets one setting by name from text, checking it. why gets the reason on
 * failure. ohttp_key may be given twice (the previous key, then the current
 * one); every other setting replaces its value. Errors: STS_EINVAL. */
enum sts_err config_set(struct collector_config *cfg, const char *name, const char *value,
                        char *why, size_t whylen);

/* Reads a configuration file of `name = value` lines (# starts a comment).
 * why names the line on failure. Errors: STS_ENOENT, STS_EIO, STS_EINVAL. */
enum sts_err config_load(struct collector_config *cfg, const char *path, char *why, size_t whylen);

/* Reads a secret token: the first line of path, which must be mode 0600 or
 * narrower and hold 16..256 printable characters. *token is the caller's
 * (free). Errors: STS_ENOENT, STS_EIO, STS_EPERM, STS_EINVAL, STS_ENOMEM. */
enum sts_err config_read_token(const char *path, char **token, char *why, size_t whylen);

#endif
