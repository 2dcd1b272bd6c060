/* Collector configuration file and value checks (see config.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sts/report.h"

void config_defaults(struct collector_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1:8080");
    cfg->max_body = STS_REPORT_MAX_BODY;
    cfg->max_batch = 4096;
    cfg->connection_limit = 4096;
    cfg->timeout_s = 30;
    cfg->k = 10;
    cfg->report_id_days = 30;
}

static bool number(const char *s, long min, long max, long *out)
{
    char *end;
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
        ok = number(value, 0, 256, &v) && ((cfg->threads = (unsigned)v), true);
    else if (strcmp(name, "max_body") == 0)
        ok = number(value, 64, STS_REPORT_MAX_BODY, &v) && ((cfg->max_body = (size_t)v), true);
    else if (strcmp(name, "max_batch") == 0)
        ok = number(value, 1, 100000, &v) && ((cfg->max_batch = (size_t)v), true);
    else if (strcmp(name, "connection_limit") == 0)
        ok = number(value, 1, 1000000, &v) && ((cfg->connection_limit = (unsigned)v), true);
    else if (strcmp(name, "timeout") == 0)
        ok = number(value, 1, 3600, &v) && ((cfg->timeout_s = (unsigned)v), true);
    else if (strcmp(name, "k") == 0)
        ok = number(value, 2, 1000000, &v) && ((cfg->k = v), true);
    else if (strcmp(name, "grace_days") == 0)
        ok = number(value, 0, 27, &v) && ((cfg->grace_days = v ? v : -1), true);
    else if (strcmp(name, "report_id_days") == 0)
        ok = number(value, 1, 3650, &v) && ((cfg->report_id_days = v), true);
    else if (strcmp(name, "backfill") == 0)
        ok = number(value, 0, 1, &v) && ((cfg->backfill = (int)v), true);
    else {
        snprintf(why, whylen, "unknown setting '%s'", name);
        return STS_EINVAL;
    }
    if (!ok) {
        snprintf(why, whylen, "bad value '%s' for %s", value, name);
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
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return errno == ENOENT ? STS_ENOENT : STS_EIO;
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

enum sts_err config_read_token(const char *path, char **token, char *why, size_t whylen)
{
    char buf[260];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open token file %s: %s", path, strerror(errno));
        return errno == ENOENT ? STS_ENOENT : STS_EIO;
    }
    enum sts_err e = STS_EIO;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
        snprintf(why, whylen, "token file %s is readable by others: chmod 600 it", path);
        e = STS_EPERM;
    } else if ((n = read(fd, buf, sizeof buf - 1)) < 0) {
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    }
    close(fd);
    if (n < 0)
        return e;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    size_t len = strlen(buf);
    bool printable = true;
    for (size_t i = 0; i < len; i++)
        printable &= buf[i] > ' ' && buf[i] < 127;
    if (len < 16 || len > 256 || !printable) {
        snprintf(why, whylen, "token in %s must be 16..256 printable characters", path);
        return STS_EINVAL;
    }
    if (!(*token = strdup(buf)))
        return STS_ENOMEM;
    return STS_OK;
}
