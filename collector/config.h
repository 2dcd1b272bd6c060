/* Collector settings: defaults, then a `key = value` file, then flags. */
#ifndef STS_COLLECTOR_CONFIG_H
#define STS_COLLECTOR_CONFIG_H

#include <stddef.h>

#include "sts/err.h"
#include "sts/secret.h"

struct collector_config {
    char listen[128];
    char db[512];
    char key[512];
    char token_file[512];
    unsigned threads; /* 0 = one per CPU */
    size_t max_body;  /* bytes, <= 8192 */
    size_t max_batch; /* records per transaction */
    unsigned writers; /* writer threads, each with its own database connection; 0 = the
                         backend's default (CONFIG_PG_WRITERS on PostgreSQL, 1 on SQLite) */
    unsigned connection_limit;
    unsigned per_client_limit; /* open connections per client address */
    unsigned header_timeout_s; /* deadline for a request's headers */
    unsigned body_timeout_s;   /* deadline for its body */
    unsigned timeout_s;
    long rate_limit;           /* requests/s per client address; -1 = the default */
    long rate_burst;           /* 0 = twice rate_limit */
    long relay_rate_limit;     /* the same for relay_addresses; 0 = none */
    long relay_burst;          /* 0 = twice relay_rate_limit */
    char relay_addresses[512]; /* comma-separated IP addresses of OHTTP relays */
    long k;                    /* privacy floor of published figures */
    double rho;                /* release budget per device and month, fixed in a new
                                  database (0 = the database's, or the default) */
    long grace_days;           /* late lifetime pings: days a month stays open after it
                                  ends (0 = the default, -1 = none) */
    long report_id_days;       /* activation report ids kept after receipt (default 30) */
    int backfill;              /* 1: count late reports on their own day (loading history
                                  before the first release), not in the first open period */
    char tls_cert[512];        /* PEM certificate chain; "" = plain HTTP, loopback only */
    char tls_key[512];         /* PEM private key of tls_cert */
    char ohttp_keys[2][512];   /* gateway key files, previous then current */
    unsigned n_ohttp_keys;
    char metrics_listen[128]; /* "" = /metrics on the main address only, behind the token */
    long summary_interval;    /* seconds between summary log lines; 0 = none */
    char models[4096];        /* comma list of the maker's model names; "" = any. Reports of
                                 other models are counted as model "other" in the figures */
    long retention_months;    /* device rows not seen for this many months are folded
                                 (deleted; the counters stay); 0 = kept until erased */
};

/* Writers on PostgreSQL unless set. Measured (bench/README.md): with the
 * server on the same two cores, concurrent batches wait for each other on
 * the counters' rows they share until each commits, and their smaller
 * batches cost the server more per report, so one writer went fastest;
 * several pay off when round trips dominate (a server across a network). */
#define CONFIG_PG_WRITERS  1
#define CONFIG_MAX_WRITERS 32

/* The default retention of device rows, in months (docs/PRIVACY.md). */
#define CONFIG_RETENTION_MONTHS 36

/* Fills cfg with the defaults. */
void config_defaults(struct collector_config *cfg);

/* The default rate limit (rate_limit = -1): 20 requests/s per address when
 * serving HTTPS, none on plain HTTP, which listens on loopback only, where
 * every client is the same local address. */
#define CONFIG_TLS_RATE_LIMIT 20

/* Sets one setting by name from text, checking it. why gets the reason on
 * failure. ohttp_key may be given twice (the previous key, then the current
 * one); every other setting replaces its value. Errors: STS_EINVAL. */
enum sts_err config_set(struct collector_config *cfg, const char *name, const char *value,
                        char *why, size_t whylen);

/* Reads a configuration file of `name = value` lines (# starts a comment).
 * why names the line on failure.
 * Errors: STS_ENOENT, STS_EACCES, STS_ENOMEM, STS_EIO, STS_EINVAL. */
enum sts_err config_load(struct collector_config *cfg, const char *path, char *why, size_t whylen);

/* Reads a secret token: the first line of path, read as a secret file
 * (sts/secret.h: a regular file, mode 0600 or narrower, at most 4096 bytes)
 * holding 16..256 printable characters. On success *token holds that line
 * (NUL-terminated, len its length) and is the caller's to wipe and free with
 * sts_secret_free; on failure it is NULL and why says why.
 * Errors: STS_ENOENT, STS_EACCES, STS_EIO, STS_EPERM, STS_ETOOBIG, STS_EINVAL,
 * STS_ENOMEM. */
enum sts_err config_read_token(const char *path, struct sts_secret **token, char *why,
                               size_t whylen);

#endif
