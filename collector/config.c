/* Collector configuration file and value checks (see config.h). */
#include "config.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/report.h"

/* A token of 256 characters, its line end, and room for a trailing comment. */
#define TOKEN_FILE_MAX 4096

void config_defaults(struct collector_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1:8080");
    cfg->max_body = STS_REPORT_MAX_BODY;
    cfg->max_batch = 4096;
    cfg->connection_limit = 4096;
    cfg->per_client_limit = 0; /* 64 with TLS, none on plain HTTP: see main.c */
    cfg->header_timeout_s = 10;
    cfg->body_timeout_s = 10;
    cfg->timeout_s = 30;
    cfg->rate_limit = -1;
    cfg->k = 10;
    cfg->report_id_days = 30;
    cfg->summary_interval = 60;
    cfg->retention_months = CONFIG_RETENTION_MONTHS;
}

/* The bounds of the last number() checked, for the message of a bad value. */
struct range {
    long min, max;
    bool set;
};

static bool number(const char *s, long min, long max, long *out, struct range *r)
{
    char *end;
    *r = (struct range){min, max, true};
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool copy(char *dst, size_t cap, const char *src)
{
    return (size_t)snprintf(dst, cap, "%s", src) < cap;
}

enum sts_err config_set(struct collector_config *cfg, const char *name, const char *value,
                        char *why, size_t whylen)
{
    long v;
    bool ok;
    struct range range = {0, 0, false};
    if (strcmp(name, "listen") == 0)
        ok = copy(cfg->listen, sizeof cfg->listen, value);
    else if (strcmp(name, "db") == 0)
        ok = copy(cfg->db, sizeof cfg->db, value);
    else if (strcmp(name, "key") == 0)
        ok = copy(cfg->key, sizeof cfg->key, value);
    else if (strcmp(name, "token_file") == 0)
        ok = copy(cfg->token_file, sizeof cfg->token_file, value);
    else if (strcmp(name, "tls_cert") == 0)
        ok = copy(cfg->tls_cert, sizeof cfg->tls_cert, value);
    else if (strcmp(name, "tls_key") == 0)
        ok = copy(cfg->tls_key, sizeof cfg->tls_key, value);
    else if (strcmp(name, "ohttp_key") == 0) {
        if (cfg->n_ohttp_keys >= 2) {
            snprintf(why, whylen,
                     "ohttp_key given more than twice: at most two keys are live "
                     "(the previous and the current)");
            return STS_EINVAL;
        }
        ok = *value && copy(cfg->ohttp_keys[cfg->n_ohttp_keys], sizeof cfg->ohttp_keys[0], value);
        cfg->n_ohttp_keys += ok;
    } else if (strcmp(name, "threads") == 0)
        ok = number(value, 0, 256, &v, &range) && ((cfg->threads = (unsigned)v), true);
    else if (strcmp(name, "max_body") == 0)
        ok = number(value, 64, STS_REPORT_MAX_BODY, &v, &range) &&
             ((cfg->max_body = (size_t)v), true);
    else if (strcmp(name, "max_batch") == 0)
        ok = number(value, 1, 100000, &v, &range) && ((cfg->max_batch = (size_t)v), true);
    else if (strcmp(name, "writers") == 0)
        ok = number(value, 1, CONFIG_MAX_WRITERS, &v, &range) &&
             ((cfg->writers = (unsigned)v), true);
    else if (strcmp(name, "connection_limit") == 0)
        ok = number(value, 1, 1000000, &v, &range) && ((cfg->connection_limit = (unsigned)v), true);
    else if (strcmp(name, "per_client_limit") == 0)
        ok = number(value, 1, 1000000, &v, &range) && ((cfg->per_client_limit = (unsigned)v), true);
    else if (strcmp(name, "header_timeout") == 0)
        ok = number(value, 1, 3600, &v, &range) && ((cfg->header_timeout_s = (unsigned)v), true);
    else if (strcmp(name, "body_timeout") == 0)
        ok = number(value, 1, 3600, &v, &range) && ((cfg->body_timeout_s = (unsigned)v), true);
    else if (strcmp(name, "rate_limit") == 0)
        ok = number(value, 0, 1000000, &v, &range) && ((cfg->rate_limit = v), true);
    else if (strcmp(name, "rate_burst") == 0)
        ok = number(value, 1, 1000000, &v, &range) && ((cfg->rate_burst = v), true);
    else if (strcmp(name, "relay_rate_limit") == 0)
        ok = number(value, 0, 1000000, &v, &range) && ((cfg->relay_rate_limit = v), true);
    else if (strcmp(name, "relay_burst") == 0)
        ok = number(value, 1, 1000000, &v, &range) && ((cfg->relay_burst = v), true);
    else if (strcmp(name, "relay_addresses") == 0)
        ok = copy(cfg->relay_addresses, sizeof cfg->relay_addresses, value);
    else if (strcmp(name, "timeout") == 0)
        ok = number(value, 1, 3600, &v, &range) && ((cfg->timeout_s = (unsigned)v), true);
    else if (strcmp(name, "k") == 0)
        ok = number(value, 2, 1000000, &v, &range) && ((cfg->k = v), true);
    else if (strcmp(name, "models") == 0) {
        /* Each a name a report may carry: any other could never match one,
         * and its reports would all count as "other". */
        char one[66]; /* 64 characters, and one more to tell a longer name */
        for (const char *p = value; *p;) {
            size_t n = strcspn(p, ",");
            snprintf(one, sizeof one, "%.*s", (int)(n < sizeof one - 1 ? n : sizeof one - 1), p);
            if (!sts_report_text_valid(one)) {
                snprintf(why, whylen,
                         "bad value for models (--models): '%s' is not a model name (1..64 of "
                         "A-Z a-z 0-9 space . _ + / -, no space first or last, names "
                         "separated by commas)",
                         one);
                return STS_EINVAL;
            }
            p += n + (p[n] == ',');
            if (p[-1] == ',' && !*p) {
                snprintf(why, whylen, "bad value for models (--models): a comma at the end");
                return STS_EINVAL;
            }
        }
        ok = copy(cfg->models, sizeof cfg->models, value);
    } else if (strcmp(name, "rho") == 0) {
        char *end;
        errno = 0;
        double r = strtod(value, &end);
        ok = !errno && end != value && !*end && r > 0 && r <= 100 && ((cfg->rho = r), true);
    } else if (strcmp(name, "grace_days") == 0)
        ok = number(value, 0, 27, &v, &range) && ((cfg->grace_days = v ? v : -1), true);
    else if (strcmp(name, "report_id_days") == 0)
        ok = number(value, 1, 3650, &v, &range) && ((cfg->report_id_days = v), true);
    else if (strcmp(name, "metrics_listen") == 0)
        ok = copy(cfg->metrics_listen, sizeof cfg->metrics_listen, value);
    else if (strcmp(name, "summary_interval") == 0)
        ok = number(value, 0, 86400, &v, &range) && ((cfg->summary_interval = v), true);
    else if (strcmp(name, "backfill") == 0)
        ok = number(value, 0, 1, &v, &range) && ((cfg->backfill = (int)v), true);
    else if (strcmp(name, "retention_months") == 0)
        ok = number(value, 0, 1200, &v, &range) && ((cfg->retention_months = v), true);
    else {
        snprintf(why, whylen, "unknown setting '%s'", name);
        return STS_EINVAL;
    }
    if (!ok) {
        /* The flag's name beside the setting's: the value may come from either. */
        char flag[64];
        size_t i = 0;
        for (; name[i] && i + 1 < sizeof flag; i++)
            flag[i] = name[i] == '_' ? '-' : name[i];
        flag[i] = '\0';
        if (range.set)
            snprintf(why, whylen,
                     "bad value '%s' for %s (--%s): expected a whole number from %ld to %ld", value,
                     name, flag, range.min, range.max);
        else if (strcmp(name, "rho") == 0)
            snprintf(why, whylen,
                     "bad value '%s' for rho (--rho): expected a number above 0 and at most 100",
                     value);
        else
            snprintf(why, whylen, "bad value '%s' for %s (--%s): %s", value, name, flag,
                     *value ? "too long" : "empty");
        return STS_EINVAL;
    }
    return STS_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

enum sts_err config_load(struct collector_config *cfg, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int err = errno;
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(err));
        return sts_err_from_errno(err);
    }
    char line[1024];
    unsigned lineno = 0;
    enum sts_err e = STS_OK;
    while (e == STS_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        char inner[256];
        if (!eq) {
            snprintf(why, whylen, "%s:%u: expected 'name = value'", path, lineno);
            e = STS_EINVAL;
            break;
        }
        *eq = '\0';
        if ((e = config_set(cfg, trim(s), trim(eq + 1), inner, sizeof inner)) != STS_OK)
            snprintf(why, whylen, "%s:%u: %s", path, lineno, inner);
    }
    if (e == STS_OK && ferror(f)) {
        snprintf(why, whylen, "cannot read %s", path);
        e = STS_EIO;
    }
    fclose(f);
    return e;
}

enum sts_err config_read_token(const char *path, struct sts_secret **token, char *why,
                               size_t whylen)
{
    struct sts_secret *t = NULL;
    enum sts_err e = sts_secret_file_read(path, TOKEN_FILE_MAX, &t);
    *token = NULL;
    switch (e) {
    case STS_OK: break;
    case STS_EPERM:
        snprintf(why, whylen,
                 "token file %s must be a regular file that only its owner may read: chmod 600 it",
                 path);
        return e;
    case STS_ETOOBIG:
        snprintf(why, whylen, "token file %s is larger than %d bytes", path, TOKEN_FILE_MAX);
        return e;
    default:
        snprintf(why, whylen, "cannot read token file %s: %s", path, sts_strerror(e));
        return e;
    }
    /* The token is the first line: wipe the rest before it is forgotten. */
    size_t len = strcspn(t->data, "\r\n");
    OPENSSL_cleanse(t->data + len, t->len - len);
    t->len = len;
    bool printable = true;
    for (size_t i = 0; i < len; i++)
        printable &= t->data[i] > ' ' && t->data[i] < 127;
    if (len < 16 || len > 256 || !printable) {
        snprintf(why, whylen, "token in %s must be 16..256 printable characters", path);
        sts_secret_free(t);
        return STS_EINVAL;
    }
    *token = t;
    return STS_OK;
}
