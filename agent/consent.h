/* The consent that applies now: the owner's choice kept in the state, else
 * the configuration's default. One place for both switches, used by the
 * report builders (run.c, lifetime.c) and the owner's commands (owner.c).
 * Pure functions, thread-safe. */
#ifndef AGENT_CONSENT_H
#define AGENT_CONSENT_H

#include <stdbool.h>

#include "config.h"
#include "state.h"

/* Whether the country may be sent: the owner's choice in st, else the
 * config's consent_country. */
bool agent_country_consent(const struct agent_config *cfg, const struct agent_state *st);

/* Whether lifetime pings are on: the owner's choice in st, else the config's
 * consent_lifetime. */
bool agent_lifetime_consent(const struct agent_config *cfg, const struct agent_state *st);

#endif
