/* The facts a device may report, read from their configured sources. This is
 * the one place that reads device facts, and it knows only the allowed ones:
 * there is no slot for anything else, and no provider reads anything else.
 *
 * Providers (config.h): a literal value; file:PATH[#KEY] (a key=value file,
 * the key defaulting to the fact's name); cmd:COMMAND (its standard output,
 * trimmed, under fact_timeout_ms; the command line is split on blanks and run
 * without a shell); os-release (VERSION_ID, else BUILD_ID); dmi (sys_vendor
 * for the brand, product_name for the model, and no other file of
 * /sys/class/dmi/id); getprop:KEY (the `getprop KEY` command, for build and
 * product properties only); mmcli (the modem's equipment identifier from
 * `mmcli -m any --output-keyvalue`; every other line of that output is
 * ignored).
 *
 * Values are kept as found, even when invalid, so that the owner can be shown
 * exactly what was refused; validation happens when a report is built
 * (report.h). Thread-safe on distinct objects; no heap memory kept. */
#ifndef AGENT_FACTS_H
#define AGENT_FACTS_H

#include <stddef.h>

#include "config.h"
#include "sts/err.h"
#include "sts/report.h"

#define AGENT_FACT_MAX STS_TEXT_MAX /* longest value kept, in bytes */

struct agent_facts {
    char imei[AGENT_FACT_MAX + 1];
    char brand[AGENT_FACT_MAX + 1];
    char model[AGENT_FACT_MAX + 1];
    char sw[AGENT_FACT_MAX + 1];
    char country[AGENT_FACT_MAX + 1]; /* "" when not configured or unreadable */
};

/* Bit masks of facts for agent_facts_gather. */
#define AGENT_NEED(id) (1u << (id))
#define AGENT_NEED_ACTIVATION                                                                      \
    (AGENT_NEED(AGENT_FACT_IMEI) | AGENT_NEED(AGENT_FACT_BRAND) | AGENT_NEED(AGENT_FACT_MODEL) |   \
     AGENT_NEED(AGENT_FACT_SW))
#define AGENT_NEED_LIFETIME                                                                        \
    (AGENT_NEED(AGENT_FACT_BRAND) | AGENT_NEED(AGENT_FACT_MODEL) | AGENT_NEED(AGENT_FACT_SW))

/* Reads one fact into out. On failure why (why_size bytes) says what went
 * wrong, naming the provider. Errors: STS_ENOENT (not configured), STS_EIO (the
 * provider failed: no file, no key, the command failed or timed out, empty
 * value), STS_ETOOBIG (longer than AGENT_FACT_MAX bytes). */
enum sts_err agent_fact_read(const struct agent_config *cfg, enum agent_fact_id id,
                             char out[static AGENT_FACT_MAX + 1], char *why, size_t why_size);

/* Fills *out with the facts in need (AGENT_NEED_*) and the country, which is
 * always optional. Every failure, needed or not, is appended to problems
 * ("fact: why; ...", problems_size bytes, may be NULL) for the owner; the
 * first failure of a needed fact is returned, with *err naming it.
 * Errors: those of agent_fact_read. */
enum sts_err agent_facts_gather(const struct agent_config *cfg, unsigned need,
                                struct agent_facts *out, char *problems, size_t problems_size,
                                struct sts_field_error *err);

/* agent_facts_gather for an activation, without the problem list.
 * Errors: those of agent_fact_read. */
enum sts_err agent_facts_collect(const struct agent_config *cfg, struct agent_facts *out,
                                 struct sts_field_error *err);

/* The value of one fact in f. */
const char *agent_facts_get(const struct agent_facts *f, enum agent_fact_id id);

/* Test hook: runs argv (argv[0] looked up in PATH, no shell) with standard
 * input and error on /dev/null, collects at most cap-1 bytes of its standard
 * output into out (NUL-terminated), and kills it after timeout_ms.
 * Errors: STS_EIO (cannot start, killed, non-zero exit; why says which),
 * STS_ETOOBIG (more output than cap-1 bytes). */
enum sts_err agent_fact_command(char *const argv[], long timeout_ms, char *out, size_t cap,
                                char *why, size_t why_size);

#endif
