/* The facts a device may report, gathered from their configured sources.
 * This is the one place that reads device facts, and it knows only the
 * allowed ones: there is no slot for anything else (phone number, location,
 * serial number...). Today every source is a literal value from the config
 * file; per-fact providers (file:, cmd:) plug in here later.
 *
 * Values are kept as found, even when invalid, so that the owner can be shown
 * exactly what was refused; validation happens when a report is built
 * (report.h). Thread-safe on distinct objects; no heap memory. */
#ifndef AGENT_FACTS_H
#define AGENT_FACTS_H

#include "config.h"
#include "sts/err.h"
#include "sts/report.h"

#define AGENT_FACT_MAX STS_TEXT_MAX   /* longest value kept, in bytes */

struct agent_facts {
    char imei[AGENT_FACT_MAX + 1];
    char brand[AGENT_FACT_MAX + 1];
    char model[AGENT_FACT_MAX + 1];
    char sw[AGENT_FACT_MAX + 1];
    char country[AGENT_FACT_MAX + 1];   /* "" when not configured */
};

/* Fills *out from the sources in cfg. imei, brand, model and sw are required;
 * country is optional. On failure *err names the fact and says why.
 * Errors: STS_ENOENT (a required fact is not configured), STS_ETOOBIG (a
 * required value longer than AGENT_FACT_MAX bytes, which no valid fact is;
 * an over-long country is kept cut short, to be refused as invalid later). */
enum sts_err agent_facts_collect(const struct agent_config *cfg, struct agent_facts *out,
                                 struct sts_field_error *err);

/* The value of one fact in f. */
const char *agent_facts_get(const struct agent_facts *f, enum agent_fact_id id);

#endif
