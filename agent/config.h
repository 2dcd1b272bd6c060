/* The agent's configuration file: `key = value` lines, `#` comment lines,
 * blank lines; no end-of-line comments (a value with " #" is an error that
 * says so). Unknown keys, repeated keys and malformed values are errors
 * that name the file and the line, because a typo in a firmware image must not
 * silently change what a device sends. docs/agent.md documents every key.
 *
 * Facts (imei, brand, model, sw, country) are kept as sources: a literal
 * value, or a provider that reads the value on the device when a report is
 * built (facts.h): file:PATH[#KEY], cmd:COMMAND, os-release[:PATH],
 * dmi[:DIR], getprop:KEY, mmcli. Which provider suits which fact is checked
 * here, so a wrong pairing is an error naming the line.
 *
 * Ownership: a struct agent_config owns all its strings; release them with
 * agent_config_cleanup(). Functions here are thread-safe on distinct objects. */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

#define AGENT_CONFIG_DEFAULT_PATH         "/etc/sts/agent.conf"
#define AGENT_TIMEOUT_MS_DEFAULT          30000L
#define AGENT_FACT_TIMEOUT_MS_DEFAULT     5000L
#define AGENT_LIFETIME_GRACE_DAYS_DEFAULT 7
#define AGENT_LIFETIME_QUEUE_MAX_DEFAULT  3
#define AGENT_PIN_MAX                     512 /* bytes of the normalised pin list */

enum agent_fact_id {
    AGENT_FACT_IMEI = 0,
    AGENT_FACT_BRAND,
    AGENT_FACT_MODEL,
    AGENT_FACT_SW,
    AGENT_FACT_COUNTRY,
    AGENT_FACT_COUNT
};

/* Where a fact's value comes from. */
enum agent_provider {
    AGENT_PROVIDER_NONE = 0,   /* not configured */
    AGENT_PROVIDER_LITERAL,    /* the value written in the file; arg: the value */
    AGENT_PROVIDER_FILE,       /* arg: path of a key=value file; key: the key */
    AGENT_PROVIDER_CMD,        /* arg: the command line (split on blanks, no shell) */
    AGENT_PROVIDER_OS_RELEASE, /* sw only; arg: the file (default /etc/os-release) */
    AGENT_PROVIDER_DMI,        /* brand, model; arg: the directory (default /sys/class/dmi/id) */
    AGENT_PROVIDER_GETPROP,    /* arg: the Android property */
    AGENT_PROVIDER_MMCLI       /* imei only; arg: NULL */
};

struct agent_fact_source {
    enum agent_provider provider;
    char *arg;     /* see enum agent_provider; NULL when it takes none */
    char *key;     /* FILE: the key to read */
    unsigned line; /* where it was configured, for messages */
};

struct agent_config {
    char *path;      /* the file it was read from */
    char *state_dir; /* required */
    char *collector; /* required: base URL, no trailing '/' */
    struct agent_fact_source facts[AGENT_FACT_COUNT];
    bool consent_country;  /* the default until the owner decides; off by default */
    bool consent_lifetime; /* the maker's policy default for lifetime pings; off */
    long timeout_ms;       /* per attempt, connection included */
    long fact_timeout_ms;  /* per fact command (cmd:, getprop:, mmcli) */
    int64_t retry_base_ms;
    int64_t retry_cap_ms;
    char *ca_file;           /* NULL: the system's CA store */
    char *ca_dir;            /* NULL, or a directory of hashed CA certificates */
    char *pin_sha256;        /* NULL, or "sha256//BASE64[;sha256//...]": collector's SPKI */
    int transport;           /* enum agent_transport (send.h): direct or ohttp */
    char *relay;             /* ohttp: the relay's URL */
    char *ohttp_keys_file;   /* ohttp: pinned key configuration; NULL = fetch and cache */
    int lifetime_grace_days; /* a ping may go out this many days after its month */
    int lifetime_queue_max;  /* pending pings kept; the oldest dropped beyond */
};

/* The name of a provider as written in the config ("file", "cmd", ...). */
const char *agent_provider_name(enum agent_provider p);

/* The config key of a fact ("imei", ...). */
const char *agent_fact_name(enum agent_fact_id id);

/* Sets every field to its default (no strings allocated). */
void agent_config_init(struct agent_config *cfg);

/* Frees the strings and re-initialises cfg. */
void agent_config_cleanup(struct agent_config *cfg);

/* Parses text (NUL-terminated) as the content of the file called name into
 * cfg, which must be freshly initialised. On failure msg (msg_size bytes)
 * holds "name:line: what is wrong" and cfg is cleaned up.
 * Errors: STS_EINVAL (the text is wrong), STS_EUNSUPPORTED (a fact provider
 * this version does not have), STS_ENOMEM. */
enum sts_err agent_config_parse(const char *text, const char *name, struct agent_config *cfg,
                                char *msg, size_t msg_size);

/* Reads and parses the file at path (at most 64 KiB). Errors: STS_ENOENT,
 * STS_EIO, STS_ETOOBIG, and those of agent_config_parse; msg says what. */
enum sts_err agent_config_load(const char *path, struct agent_config *cfg, char *msg,
                               size_t msg_size);

#endif
