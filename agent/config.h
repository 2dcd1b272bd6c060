/* The agent's configuration file: `key = value` lines, `#` comment lines,
 * blank lines. Unknown keys, repeated keys and malformed values are errors
 * that name the file and the line, because a typo in a firmware image must not
 * silently change what a device sends. docs/agent.md documents every key.
 *
 * Facts (imei, brand, model, sw, country) are kept as sources rather than bare
 * strings: this version knows literal values only, and reserves the prefixes
 * "file:" and "cmd:" for fact providers that a later version adds, so no
 * configuration accepted today changes meaning then.
 *
 * Ownership: a struct agent_config owns all its strings; release them with
 * agent_config_cleanup(). Functions here are thread-safe on distinct objects. */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

#define AGENT_CONFIG_DEFAULT_PATH "/etc/sts/agent.conf"
#define AGENT_TIMEOUT_MS_DEFAULT 30000L

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
    AGENT_PROVIDER_LITERAL     /* the value written in the file */
};

struct agent_fact_source {
    enum agent_provider provider;
    char *arg;                 /* LITERAL: the value itself */
    unsigned line;             /* where it was configured, for messages */
};

struct agent_config {
    char *path;                /* the file it was read from */
    char *state_dir;           /* required */
    char *collector;           /* required: base URL, no trailing '/' */
    struct agent_fact_source facts[AGENT_FACT_COUNT];
    bool consent_country;      /* the default until the owner decides; off by default */
    long timeout_ms;           /* per attempt, connection included */
    int64_t retry_base_ms;
    int64_t retry_cap_ms;
    char *ca_file;             /* NULL: the system's CA store */
    char *pin_sha256;          /* NULL, or "sha256//BASE64[;sha256//...]": collector's SPKI */
    int transport;             /* enum agent_transport (send.h): direct or ohttp */
    char *relay;               /* ohttp: the relay's URL */
    char *ohttp_keys_file;     /* ohttp: pinned key configuration; NULL = fetch and cache */
};

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
enum sts_err agent_config_parse(const char *text, const char *name,
                                struct agent_config *cfg, char *msg, size_t msg_size);

/* Reads and parses the file at path (at most 64 KiB). Errors: STS_ENOENT,
 * STS_EIO, STS_ETOOBIG, and those of agent_config_parse; msg says what. */
enum sts_err agent_config_load(const char *path, struct agent_config *cfg,
                               char *msg, size_t msg_size);

#endif
