/* The configuration file parser. See config.h; the keys are documented in
 * docs/agent.md, and a key added here must be added there. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "retry.h"
#include "send.h"
#include "sts/net.h"

#define CONFIG_MAX_BYTES (64 * 1024)
#define CONFIG_MAX_LINE 4096

static const char *const fact_names[AGENT_FACT_COUNT] = {
    [AGENT_FACT_IMEI] = "imei",
    [AGENT_FACT_BRAND] = "brand",
    [AGENT_FACT_MODEL] = "model",
    [AGENT_FACT_SW] = "sw",
    [AGENT_FACT_COUNTRY] = "country",
};

const char *agent_fact_name(enum agent_fact_id id)
{
    if ((unsigned)id >= AGENT_FACT_COUNT)
        return "?";
    return fact_names[id];
}

void agent_config_init(struct agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->consent_country = false;
    cfg->timeout_ms = AGENT_TIMEOUT_MS_DEFAULT;
    cfg->retry_base_ms = AGENT_RETRY_BASE_MS_DEFAULT;
    cfg->retry_cap_ms = AGENT_RETRY_CAP_MS_DEFAULT;
}

void agent_config_cleanup(struct agent_config *cfg)
{
    free(cfg->path);
    free(cfg->state_dir);
    free(cfg->collector);
    free(cfg->ca_file);
    free(cfg->pin_sha256);
    free(cfg->relay);
    free(cfg->ohttp_keys_file);
    for (int i = 0; i < AGENT_FACT_COUNT; i++)
        free(cfg->facts[i].arg);
    agent_config_init(cfg);
}

static void say(char *msg, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
}

/* Parses a decimal integer in [min, max]. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_on_off(const char *s, bool *out)
{
    if (strcmp(s, "on") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(s, "off") == 0) {
        *out = false;
        return true;
    }
    return false;
}

/* Keys, in the order docs/agent.md lists them. */
enum key {
    KEY_STATE_DIR,
    KEY_COLLECTOR,
    KEY_IMEI,
    KEY_BRAND,
    KEY_MODEL,
    KEY_SW,
    KEY_COUNTRY,
    KEY_CONSENT_COUNTRY,
    KEY_TIMEOUT_MS,
    KEY_RETRY_BASE_MS,
    KEY_RETRY_CAP_MS,
    KEY_CA_FILE,
    KEY_PIN_SHA256,
    KEY_TRANSPORT,
    KEY_RELAY,
    KEY_OHTTP_KEYS_FILE,
    KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
    "state_dir", "collector", "imei", "brand", "model", "sw", "country",
    "consent_country", "timeout_ms", "retry_base_ms", "retry_cap_ms", "ca_file",
    "pin_sha256", "transport", "relay", "ohttp_keys_file",
};

static int find_key(const char *k)
{
    for (int i = 0; i < KEY_COUNT; i++)
        if (strcmp(k, key_names[i]) == 0)
            return i;
    return -1;
}

static enum agent_fact_id fact_of_key(enum key k)
{
    switch (k) {
    case KEY_IMEI:
        return AGENT_FACT_IMEI;
    case KEY_BRAND:
        return AGENT_FACT_BRAND;
    case KEY_MODEL:
        return AGENT_FACT_MODEL;
    case KEY_SW:
        return AGENT_FACT_SW;
    default:
        return AGENT_FACT_COUNTRY;
    }
}

static enum sts_err set_string(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return STS_ENOMEM;
    free(*slot);
    *slot = copy;
    return STS_OK;
}

/* Applies one `key = value` line. */
static enum sts_err apply(struct agent_config *cfg, enum key k, char *value,
                          const char *name, unsigned line, char *msg, size_t msg_size)
{
    long long v;
    switch (k) {
    case KEY_STATE_DIR:
        if (value[0] != '/') {
            say(msg, msg_size, "%s:%u: state_dir must be an absolute path, not '%s'",
                name, line, value);
            return STS_EINVAL;
        }
        return set_string(&cfg->state_dir, value);
    case KEY_COLLECTOR: {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
            say(msg, msg_size,
                "%s:%u: collector must be an http:// or https:// URL, not '%s'",
                name, line, value);
            return STS_EINVAL;
        }
        if (!sts_net_url_allowed(value)) {
            say(msg, msg_size,
                "%s:%u: collector must be https:// (http:// only to 127.0.0.1, [::1] or "
                "localhost), not '%s'", name, line, value);
            return STS_EINVAL;
        }
        size_t n = strlen(value);
        while (n > 0 && value[n - 1] == '/')
            value[--n] = '\0';
        return set_string(&cfg->collector, value);
    }
    case KEY_RELAY:
        if (!sts_net_url_allowed(value)) {
            say(msg, msg_size,
                "%s:%u: relay must be an https:// URL (http:// only to 127.0.0.1, [::1] or "
                "localhost), not '%s'", name, line, value);
            return STS_EINVAL;
        }
        return set_string(&cfg->relay, value);
    case KEY_TRANSPORT:
        if (strcmp(value, "direct") == 0)
            cfg->transport = AGENT_TRANSPORT_DIRECT;
        else if (strcmp(value, "ohttp") == 0)
            cfg->transport = AGENT_TRANSPORT_OHTTP;
        else {
            say(msg, msg_size, "%s:%u: transport must be 'direct' or 'ohttp', not '%s'", name,
                line, value);
            return STS_EINVAL;
        }
        return STS_OK;
    case KEY_OHTTP_KEYS_FILE:
        return set_string(&cfg->ohttp_keys_file, value);
    case KEY_PIN_SHA256:
        if (strncmp(value, "sha256//", 8) != 0) {
            say(msg, msg_size,
                "%s:%u: pin_sha256 must look like sha256//BASE64 (the SHA-256 of the "
                "collector's public key, base64), not '%s'", name, line, value);
            return STS_EINVAL;
        }
        return set_string(&cfg->pin_sha256, value);
    case KEY_IMEI:
    case KEY_BRAND:
    case KEY_MODEL:
    case KEY_SW:
    case KEY_COUNTRY: {
        enum agent_fact_id f = fact_of_key(k);
        /* Reserved for the fact providers of a later version; refusing them
         * now means no file that works today changes meaning then. No valid
         * fact contains ':' anyway. */
        if (strncmp(value, "file:", 5) == 0 || strncmp(value, "cmd:", 4) == 0) {
            say(msg, msg_size,
                "%s:%u: %s: fact providers (file:, cmd:) are not supported by this "
                "version; write the value itself",
                name, line, key_names[k]);
            return STS_EUNSUPPORTED;
        }
        enum sts_err rc = set_string(&cfg->facts[f].arg, value);
        if (rc != STS_OK)
            return rc;
        cfg->facts[f].provider = AGENT_PROVIDER_LITERAL;
        cfg->facts[f].line = line;
        return STS_OK;
    }
    case KEY_CONSENT_COUNTRY:
        if (!parse_on_off(value, &cfg->consent_country)) {
            say(msg, msg_size, "%s:%u: consent_country must be 'on' or 'off', not '%s'",
                name, line, value);
            return STS_EINVAL;
        }
        return STS_OK;
    case KEY_TIMEOUT_MS:
        if (!parse_int(value, 1, 600000, &v)) {
            say(msg, msg_size,
                "%s:%u: timeout_ms must be a whole number of milliseconds from 1 to "
                "600000, not '%s'", name, line, value);
            return STS_EINVAL;
        }
        cfg->timeout_ms = (long)v;
        return STS_OK;
    case KEY_RETRY_BASE_MS:
    case KEY_RETRY_CAP_MS:
        if (!parse_int(value, 1, 30LL * 24 * 3600 * 1000, &v)) {
            say(msg, msg_size,
                "%s:%u: %s must be a whole number of milliseconds from 1 to 2592000000 "
                "(30 days), not '%s'", name, line, key_names[k], value);
            return STS_EINVAL;
        }
        if (k == KEY_RETRY_BASE_MS)
            cfg->retry_base_ms = v;
        else
            cfg->retry_cap_ms = v;
        return STS_OK;
    case KEY_CA_FILE:
        return set_string(&cfg->ca_file, value);
    case KEY_COUNT:
        break;
    }
    return STS_EINVAL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

enum sts_err agent_config_parse(const char *text, const char *name,
                                struct agent_config *cfg, char *msg, size_t msg_size)
{
    enum sts_err rc = STS_OK;
    unsigned seen[KEY_COUNT] = {0};
    char line[CONFIG_MAX_LINE + 2];
    unsigned lineno = 0;
    const char *p = text;

    if (msg_size > 0)
        msg[0] = '\0';
    rc = set_string(&cfg->path, name);
    if (rc != STS_OK)
        goto fail;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (n > CONFIG_MAX_LINE) {
            say(msg, msg_size, "%s:%u: line longer than %d bytes", name, lineno,
                CONFIG_MAX_LINE);
            rc = STS_EINVAL;
            goto fail;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl ? nl + 1 : p + n;

        char *s = trim(line);
        if (s[0] == '\0' || s[0] == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            say(msg, msg_size, "%s:%u: expected 'key = value', got '%s'", name, lineno, s);
            rc = STS_EINVAL;
            goto fail;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        int k = find_key(key);
        if (k < 0) {
            say(msg, msg_size,
                "%s:%u: unknown key '%s' (known: state_dir, collector, imei, brand, model, "
                "sw, country, consent_country, timeout_ms, retry_base_ms, retry_cap_ms, "
                "ca_file, pin_sha256, transport, relay, ohttp_keys_file)", name, lineno, key);
            rc = STS_EINVAL;
            goto fail;
        }
        if (seen[k] != 0) {
            say(msg, msg_size, "%s:%u: '%s' is already set on line %u", name, lineno,
                key, seen[k]);
            rc = STS_EINVAL;
            goto fail;
        }
        seen[k] = lineno;
        if (value[0] == '\0') {
            say(msg, msg_size, "%s:%u: '%s' has an empty value", name, lineno, key);
            rc = STS_EINVAL;
            goto fail;
        }
        rc = apply(cfg, (enum key)k, value, name, lineno, msg, msg_size);
        if (rc != STS_OK) {
            if (rc == STS_ENOMEM)
                say(msg, msg_size, "%s:%u: out of memory", name, lineno);
            goto fail;
        }
    }

    if (cfg->state_dir == NULL) {
        say(msg, msg_size, "%s: 'state_dir' is missing (e.g. state_dir = /var/lib/sts)",
            name);
        rc = STS_EINVAL;
        goto fail;
    }
    if (cfg->collector == NULL) {
        say(msg, msg_size,
            "%s: 'collector' is missing (e.g. collector = https://stats.example.com)", name);
        rc = STS_EINVAL;
        goto fail;
    }
    if (cfg->transport == AGENT_TRANSPORT_OHTTP && cfg->relay == NULL) {
        say(msg, msg_size,
            "%s:%u: transport = ohttp needs 'relay' (e.g. relay = https://relay.example/)",
            name, seen[KEY_TRANSPORT]);
        rc = STS_EINVAL;
        goto fail;
    }
    if (cfg->retry_cap_ms < cfg->retry_base_ms) {
        say(msg, msg_size, "%s:%u: retry_cap_ms (%lld) is smaller than retry_base_ms (%lld)",
            name, seen[KEY_RETRY_CAP_MS] ? seen[KEY_RETRY_CAP_MS] : seen[KEY_RETRY_BASE_MS],
            (long long)cfg->retry_cap_ms, (long long)cfg->retry_base_ms);
        rc = STS_EINVAL;
        goto fail;
    }
    return STS_OK;

fail:
    agent_config_cleanup(cfg);
    return rc;
}

enum sts_err agent_config_load(const char *path, struct agent_config *cfg,
                               char *msg, size_t msg_size)
{
    char *text = NULL;
    size_t len = 0;
    enum sts_err rc = agent_file_read(path, CONFIG_MAX_BYTES, &text, &len);
    switch (rc) {
    case STS_OK:
        break;
    case STS_ENOENT:
        say(msg, msg_size, "%s: no such file (give another with --config FILE)", path);
        return rc;
    case STS_ETOOBIG:
        say(msg, msg_size, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
        return rc;
    default:
        say(msg, msg_size, "%s: cannot read: %s", path, sts_strerror(rc));
        return rc;
    }
    if (strlen(text) != len) {
        say(msg, msg_size, "%s: contains a NUL byte; is it a text file?", path);
        free(text);
        return STS_EINVAL;
    }
    rc = agent_config_parse(text, path, cfg, msg, msg_size);
    free(text);
    return rc;
}
