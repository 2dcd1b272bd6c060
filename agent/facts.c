/* Gathering the device facts from their sources. See facts.h. */
#include "facts.h"

#include <stdio.h>
#include <string.h>

static char *slot(struct agent_facts *f, enum agent_fact_id id)
{
    switch (id) {
    case AGENT_FACT_IMEI:
        return f->imei;
    case AGENT_FACT_BRAND:
        return f->brand;
    case AGENT_FACT_MODEL:
        return f->model;
    case AGENT_FACT_SW:
        return f->sw;
    case AGENT_FACT_COUNTRY:
    case AGENT_FACT_COUNT:
        break;
    }
    return f->country;
}

const char *agent_facts_get(const struct agent_facts *f, enum agent_fact_id id)
{
    return slot((struct agent_facts *)f, id);
}

enum sts_err agent_facts_collect(const struct agent_config *cfg, struct agent_facts *out,
                                 struct sts_field_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    for (int i = 0; i < AGENT_FACT_COUNT; i++) {
        enum agent_fact_id id = (enum agent_fact_id)i;
        const struct agent_fact_source *src = &cfg->facts[i];
        const char *name = agent_fact_name(id);
        switch (src->provider) {
        case AGENT_PROVIDER_NONE:
            if (id == AGENT_FACT_COUNTRY)
                continue;
            snprintf(err->field, sizeof err->field, "%s", name);
            snprintf(err->detail, sizeof err->detail,
                     "not configured: add '%s = ...' to %s", name,
                     cfg->path ? cfg->path : "the config file");
            return STS_ENOENT;
        case AGENT_PROVIDER_LITERAL:
            /* An over-long country is kept cut short: it is optional, and
             * building the report drops it as invalid and tells the owner. */
            if (strlen(src->arg) > AGENT_FACT_MAX && id != AGENT_FACT_COUNTRY) {
                snprintf(err->field, sizeof err->field, "%s", name);
                snprintf(err->detail, sizeof err->detail,
                         "longer than %d characters (%s line %u)", AGENT_FACT_MAX,
                         cfg->path ? cfg->path : "config", src->line);
                return STS_ETOOBIG;
            }
            size_t n = strnlen(src->arg, AGENT_FACT_MAX);
            memcpy(slot(out, id), src->arg, n);
            slot(out, id)[n] = '\0';
            break;
        }
    }
    return STS_OK;
}
