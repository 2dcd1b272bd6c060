/* The effective consents. See consent.h. */
#include "consent.h"

static bool effective(enum agent_consent c, bool dflt)
{
    switch (c) {
    case AGENT_CONSENT_ON: return true;
    case AGENT_CONSENT_OFF: return false;
    case AGENT_CONSENT_UNSET: break;
    }
    return dflt;
}

bool agent_country_consent(const struct agent_config *cfg, const struct agent_state *st)
{
    return effective(st->consent_country, cfg->consent_country);
}

bool agent_lifetime_consent(const struct agent_config *cfg, const struct agent_state *st)
{
    return effective(st->life.consent, cfg->consent_lifetime);
}
