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
#define CONFIG_MAX_LINE  4096

static const char *const fact_names[AGENT_FACT_COUNT] = {
    [AGENT_FACT_IMEI] = "imei", [AGENT_FACT_BRAND] = "brand",     [AGENT_FACT_MODEL] = "model",
    [AGENT_FACT_SW] = "sw",     [AGENT_FACT_COUNTRY] = "country",
};

const char *agent_fact_name(enum agent_fact_id id)
{
    if ((unsigned)id >= AGENT_FACT_COUNT)
        return "?";
    return fact_names[id];
}

const char *agent_provider_name(enum agent_provider p)
{
    switch (p) {
    case AGENT_PROVIDER_NONE: return "none";
    case AGENT_PROVIDER_LITERAL: return "literal";
    case AGENT_PROVIDER_FILE: return "file";
    case AGENT_PROVIDER_CMD: return "cmd";
    case AGENT_PROVIDER_OS_RELEASE: return "os-release";
    case AGENT_PROVIDER_DMI: return "dmi";
    case AGENT_PROVIDER_GETPROP: return "getprop";
    case AGENT_PROVIDER_MMCLI: return "mmcli";
    }
    return "?";
}

void agent_config_init(struct agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->consent_country = false;
    cfg->consent_lifetime = false;
    cfg->timeout_ms = AGENT_TIMEOUT_MS_DEFAULT;
    cfg->fact_timeout_ms = AGENT_FACT_TIMEOUT_MS_DEFAULT;
    cfg->lifetime_grace_days = AGENT_LIFETIME_GRACE_DAYS_DEFAULT;
    cfg->lifetime_queue_max = AGENT_LIFETIME_QUEUE_MAX_DEFAULT;
    cfg->retry_base_ms = AGENT_RETRY_BASE_MS_DEFAULT;
    cfg->retry_cap_ms = AGENT_RETRY_CAP_MS_DEFAULT;
}

void agent_config_cleanup(struct agent_config *cfg)
{
    free(cfg->path);
    free(cfg->state_dir);
    free(cfg->collector);
    free(cfg->ca_file);
    free(cfg->ca_dir);
    free(cfg->pin_sha256);
    free(cfg->relay);
    free(cfg->ohttp_keys_file);
    for (int i = 0; i < AGENT_FACT_COUNT; i++) {
        free(cfg->facts[i].arg);
        free(cfg->facts[i].key);
    }
    agent_config_init(cfg);
}

static void say(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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
    KEY_CONSENT_LIFETIME,
    KEY_LIFETIME_GRACE_DAYS,
    KEY_LIFETIME_QUEUE_MAX,
    KEY_FACT_TIMEOUT_MS,
    KEY_CA_DIR,
    KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
    "state_dir",
    "collector",
    "imei",
    "brand",
    "model",
    "sw",
    "country",
    "consent_country",
    "timeout_ms",
    "retry_base_ms",
    "retry_cap_ms",
    "ca_file",
    "pin_sha256",
    "transport",
    "relay",
    "ohttp_keys_file",
    "consent_lifetime",
    "lifetime_grace_days",
    "lifetime_queue_max",
    "fact_timeout_ms",
    "ca_dir",
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
    case KEY_IMEI: return AGENT_FACT_IMEI;
    case KEY_BRAND: return AGENT_FACT_BRAND;
    case KEY_MODEL: return AGENT_FACT_MODEL;
    case KEY_SW: return AGENT_FACT_SW;
    default: return AGENT_FACT_COUNTRY;
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

/* Android properties a fact may come from: build and product descriptions
 * only, so that getprop: cannot be pointed at anything else. */
static bool getprop_key_allowed(const char *key)
{
    static const char *const prefixes[] = {
        "ro.product.", "ro.build.", "ro.vendor.",   "ro.system.",
        "ro.odm.",     "ro.sts.",   "persist.sts.",
    };
    if (strlen(key) > 91 || strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789._-") != strlen(key))
        return false;
    if (strstr(key, "serial") != NULL)
        return false;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0 && key[strlen(prefixes[i])] != '\0')
            return true;
    return false;
}

/* Parses a fact's value: a provider, or a literal. */
static enum sts_err set_fact(struct agent_config *cfg, enum agent_fact_id f, const char *value,
                             const char *name, unsigned line, char *msg, size_t msg_size)
{
    struct agent_fact_source *src = &cfg->facts[f];
    const char *fact = agent_fact_name(f);
    enum agent_provider p = AGENT_PROVIDER_LITERAL;
    const char *arg = value;
    char *key = NULL;

    if (strncmp(value, "file:", 5) == 0) {
        p = AGENT_PROVIDER_FILE;
        arg = value + 5;
    } else if (strncmp(value, "cmd:", 4) == 0) {
        p = AGENT_PROVIDER_CMD;
        arg = value + 4;
        while (*arg == ' ' || *arg == '\t')
            arg++;
    } else if (strcmp(value, "os-release") == 0 || strncmp(value, "os-release:", 11) == 0) {
        p = AGENT_PROVIDER_OS_RELEASE;
        arg = value[10] == ':' ? value + 11 : "/etc/os-release";
    } else if (strcmp(value, "dmi") == 0 || strncmp(value, "dmi:", 4) == 0) {
        p = AGENT_PROVIDER_DMI;
        arg = value[3] == ':' ? value + 4 : "/sys/class/dmi/id";
    } else if (strncmp(value, "getprop:", 8) == 0) {
        p = AGENT_PROVIDER_GETPROP;
        arg = value + 8;
    } else if (strcmp(value, "mmcli") == 0) {
        p = AGENT_PROVIDER_MMCLI;
        arg = NULL;
    } else if (strchr(value, ':') != NULL) {
        say(msg, msg_size,
            "%s:%u: %s: unknown fact provider in '%s' (known: file:PATH[#KEY], cmd:COMMAND, "
            "os-release[:PATH], dmi[:DIR], getprop:KEY, mmcli; no literal value contains ':')",
            name, line, fact, value);
        return STS_EINVAL;
    }

    switch (p) {
    case AGENT_PROVIDER_FILE: {
        const char *hash = strrchr(arg, '#');
        size_t plen = hash ? (size_t)(hash - arg) : strlen(arg);
        const char *k = hash ? hash + 1 : fact;
        if (plen == 0 || arg[0] != '/' || k[0] == '\0') {
            say(msg, msg_size,
                "%s:%u: %s: file: needs an absolute path and an optional "
                "#KEY, e.g. file:/etc/device.conf#%s",
                name, line, fact, fact);
            return STS_EINVAL;
        }
        key = strdup(k);
        char *path = strndup(arg, plen);
        if (key == NULL || path == NULL) {
            free(key);
            free(path);
            return STS_ENOMEM;
        }
        free(src->arg);
        free(src->key);
        src->arg = path;
        src->key = key;
        src->provider = p;
        src->line = line;
        return STS_OK;
    }
    case AGENT_PROVIDER_CMD:
        if (arg[0] == '\0') {
            say(msg, msg_size, "%s:%u: %s: cmd: needs a command", name, line, fact);
            return STS_EINVAL;
        }
        break;
    case AGENT_PROVIDER_OS_RELEASE:
        if (f != AGENT_FACT_SW || arg[0] != '/') {
            say(msg, msg_size,
                "%s:%u: %s: os-release gives the software version: use it "
                "for 'sw' (with an absolute path after 'os-release:')",
                name, line, fact);
            return STS_EINVAL;
        }
        break;
    case AGENT_PROVIDER_DMI:
        if ((f != AGENT_FACT_BRAND && f != AGENT_FACT_MODEL) || arg[0] != '/') {
            say(msg, msg_size,
                "%s:%u: %s: dmi gives the maker and the model of a PC: use "
                "it for 'brand' or 'model' (with an absolute path after 'dmi:')",
                name, line, fact);
            return STS_EINVAL;
        }
        break;
    case AGENT_PROVIDER_GETPROP:
        if (!getprop_key_allowed(arg)) {
            say(msg, msg_size,
                "%s:%u: %s: getprop: takes a build or product property "
                "(ro.product.*, ro.build.*, ro.vendor.*, ro.system.*, ro.odm.*, ro.sts.*, "
                "persist.sts.*), not '%s'",
                name, line, fact, arg);
            return STS_EINVAL;
        }
        break;
    case AGENT_PROVIDER_MMCLI:
        if (f != AGENT_FACT_IMEI) {
            say(msg, msg_size,
                "%s:%u: %s: mmcli gives the modem's IMEI: use it for "
                "'imei'",
                name, line, fact);
            return STS_EINVAL;
        }
        break;
    default: break;
    }
    enum sts_err rc = STS_OK;
    free(src->arg);
    src->arg = NULL;
    free(src->key);
    src->key = NULL;
    if (arg != NULL)
        rc = set_string(&src->arg, arg);
    if (rc != STS_OK)
        return rc;
    src->provider = p;
    src->line = line;
    return STS_OK;
}

/* Applies one `key = value` line. */
static enum sts_err apply(struct agent_config *cfg, enum key k, char *value, const char *name,
                          unsigned line, char *msg, size_t msg_size)
{
    long long v;
    switch (k) {
    case KEY_STATE_DIR:
        if (value[0] != '/') {
            say(msg, msg_size, "%s:%u: state_dir must be an absolute path, not '%s'", name, line,
                value);
            return STS_EINVAL;
        }
        return set_string(&cfg->state_dir, value);
    case KEY_COLLECTOR: {
        char why[512];
        struct sts_url u;
        if (sts_net_url_check(value, &u, why, sizeof why) != STS_OK) {
            say(msg, msg_size, "%s:%u: collector: %s", name, line, why);
            return STS_EINVAL;
        }
        /* A trailing '/' of the path only; u.path points into value. */
        size_t n = strlen(value), base = (size_t)(u.path - value);
        while (n > base && value[n - 1] == '/')
            value[--n] = '\0';
        if (strchr(u.path, '?') != NULL) {
            say(msg, msg_size,
                "%s:%u: collector: '%s' has a query ('?'): give the base URL, the agent "
                "adds /v1/reports",
                name, line, value);
            return STS_EINVAL;
        }
        return set_string(&cfg->collector, value);
    }
    case KEY_RELAY: {
        char why[512];
        if (sts_net_url_check(value, NULL, why, sizeof why) != STS_OK) {
            say(msg, msg_size, "%s:%u: relay: %s", name, line, why);
            return STS_EINVAL;
        }
        return set_string(&cfg->relay, value);
    }
    case KEY_TRANSPORT:
        if (strcmp(value, "direct") == 0)
            cfg->transport = AGENT_TRANSPORT_DIRECT;
        else if (strcmp(value, "ohttp") == 0)
            cfg->transport = AGENT_TRANSPORT_OHTTP;
        else {
            say(msg, msg_size, "%s:%u: transport must be 'direct' or 'ohttp', not '%s'", name, line,
                value);
            return STS_EINVAL;
        }
        return STS_OK;
    case KEY_OHTTP_KEYS_FILE: return set_string(&cfg->ohttp_keys_file, value);
    case KEY_IMEI:
    case KEY_BRAND:
    case KEY_MODEL:
    case KEY_SW:
    case KEY_COUNTRY: return set_fact(cfg, fact_of_key(k), value, name, line, msg, msg_size);
    case KEY_CONSENT_COUNTRY:
        if (!parse_on_off(value, &cfg->consent_country)) {
            say(msg, msg_size, "%s:%u: consent_country must be 'on' or 'off', not '%s'", name, line,
                value);
            return STS_EINVAL;
        }
        return STS_OK;
    case KEY_TIMEOUT_MS:
        if (!parse_int(value, 1, 600000, &v)) {
            say(msg, msg_size,
                "%s:%u: timeout_ms must be a whole number of milliseconds from 1 to "
                "600000, not '%s'",
                name, line, value);
            return STS_EINVAL;
        }
        cfg->timeout_ms = (long)v;
        return STS_OK;
    case KEY_RETRY_BASE_MS:
    case KEY_RETRY_CAP_MS:
        if (!parse_int(value, 1, 30LL * 24 * 3600 * 1000, &v)) {
            say(msg, msg_size,
                "%s:%u: %s must be a whole number of milliseconds from 1 to 2592000000 "
                "(30 days), not '%s'",
                name, line, key_names[k], value);
            return STS_EINVAL;
        }
        if (k == KEY_RETRY_BASE_MS)
            cfg->retry_base_ms = v;
        else
            cfg->retry_cap_ms = v;
        return STS_OK;
    case KEY_CA_FILE: return set_string(&cfg->ca_file, value);
    case KEY_CA_DIR:
        if (value[0] != '/') {
            say(msg, msg_size, "%s:%u: ca_dir must be an absolute path, not '%s'", name, line,
                value);
            return STS_EINVAL;
        }
        return set_string(&cfg->ca_dir, value);
    case KEY_PIN_SHA256: {
        char pin[AGENT_PIN_MAX];
        if (!agent_pin_normalise(value, pin, sizeof pin)) {
            say(msg, msg_size,
                "%s:%u: pin_sha256 must be one or more base64 SHA-256 hashes of the "
                "server's public key (44 characters, e.g. from `openssl x509 -pubkey | "
                "openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`), "
                "separated by ';'",
                name, line);
            return STS_EINVAL;
        }
        return set_string(&cfg->pin_sha256, pin);
    }
    case KEY_CONSENT_LIFETIME:
        if (!parse_on_off(value, &cfg->consent_lifetime)) {
            say(msg, msg_size, "%s:%u: consent_lifetime must be 'on' or 'off', not '%s'", name,
                line, value);
            return STS_EINVAL;
        }
        return STS_OK;
    case KEY_LIFETIME_GRACE_DAYS:
        if (!parse_int(value, 0, 28, &v)) {
            say(msg, msg_size,
                "%s:%u: lifetime_grace_days must be a whole number of days from 0 to 28, "
                "not '%s'",
                name, line, value);
            return STS_EINVAL;
        }
        cfg->lifetime_grace_days = (int)v;
        return STS_OK;
    case KEY_LIFETIME_QUEUE_MAX:
        if (!parse_int(value, 1, 24, &v)) {
            say(msg, msg_size,
                "%s:%u: lifetime_queue_max must be a whole number from 1 to 24, not '%s'", name,
                line, value);
            return STS_EINVAL;
        }
        cfg->lifetime_queue_max = (int)v;
        return STS_OK;
    case KEY_FACT_TIMEOUT_MS:
        if (!parse_int(value, 1, 60000, &v)) {
            say(msg, msg_size,
                "%s:%u: fact_timeout_ms must be a whole number of milliseconds from 1 to "
                "60000, not '%s'",
                name, line, value);
            return STS_EINVAL;
        }
        cfg->fact_timeout_ms = (long)v;
        return STS_OK;
    case KEY_COUNT: break;
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

enum sts_err agent_config_parse(const char *text, const char *name, struct agent_config *cfg,
                                char *msg, size_t msg_size)
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
            say(msg, msg_size, "%s:%u: line longer than %d bytes", name, lineno, CONFIG_MAX_LINE);
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
            char known[512];
            size_t used = 0;
            for (int i = 0; i < KEY_COUNT; i++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                         key_names[i]);
            say(msg, msg_size, "%s:%u: unknown key '%s' (known: %s)", name, lineno, key, known);
            rc = STS_EINVAL;
            goto fail;
        }
        if (seen[k] != 0) {
            say(msg, msg_size, "%s:%u: '%s' is already set on line %u", name, lineno, key, seen[k]);
            rc = STS_EINVAL;
            goto fail;
        }
        seen[k] = lineno;
        if (value[0] == '\0') {
            say(msg, msg_size, "%s:%u: '%s' has an empty value", name, lineno, key);
            rc = STS_EINVAL;
            goto fail;
        }
        /* No value contains " #" (a fact's grammar has no '#', a file:
         * provider's #KEY follows the path directly), so this is an
         * end-of-line comment, which would otherwise end up in the value. */
        if (strstr(value, " #") != NULL || strstr(value, "\t#") != NULL) {
            say(msg, msg_size,
                "%s:%u: '%s': end-of-line comments are not supported; put the comment on a "
                "line of its own, starting with '#'",
                name, lineno, key);
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
        say(msg, msg_size, "%s: 'state_dir' is missing (e.g. state_dir = /var/lib/sts)", name);
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
            "%s:%u: transport = ohttp needs 'relay' (e.g. relay = https://relay.example/)", name,
            seen[KEY_TRANSPORT]);
        rc = STS_EINVAL;
        goto fail;
    }
    if (cfg->retry_cap_ms < cfg->retry_base_ms) {
        say(msg, msg_size, "%s:%u: retry_cap_ms (%lld) is smaller than retry_base_ms (%lld)", name,
            seen[KEY_RETRY_CAP_MS] ? seen[KEY_RETRY_CAP_MS] : seen[KEY_RETRY_BASE_MS],
            (long long)cfg->retry_cap_ms, (long long)cfg->retry_base_ms);
        rc = STS_EINVAL;
        goto fail;
    }
    return STS_OK;

fail:
    agent_config_cleanup(cfg);
    return rc;
}

enum sts_err agent_config_load(const char *path, struct agent_config *cfg, char *msg,
                               size_t msg_size)
{
    char *text = NULL;
    size_t len = 0;
    enum sts_err rc = agent_file_read(path, CONFIG_MAX_BYTES, &text, &len);
    switch (rc) {
    case STS_OK: break;
    case STS_ENOENT:
        say(msg, msg_size, "%s: no such file (give another with --config FILE)", path);
        return rc;
    case STS_ETOOBIG:
        say(msg, msg_size, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
        return rc;
    default: say(msg, msg_size, "%s: cannot read: %s", path, sts_strerror(rc)); return rc;
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
