/* What the device owner sees and decides: `sts-agent status`, `preview` and
 * `consent`. Each function prints its result on stdout, problems on stderr,
 * and returns the exit status (0 ok, 1 runtime failure, 2 usage error).
 * Not thread-safe (they print). */
#ifndef AGENT_OWNER_H
#define AGENT_OWNER_H

#include <stdbool.h>

#include "config.h"

/* Everything in the state: consents, the activation with its exact payload,
 * the collector's answer, attempts, next attempt, last error, the log of
 * attempts. json: the state document as JSON instead of text. */
int agent_owner_status(const struct agent_config *cfg, bool json);

/* The exact JSON that would be sent next, without sending or changing anything. */
int agent_owner_preview(const struct agent_config *cfg);

/* `consent show` (argc 1) or `consent country on|off` (argc 2); argv[0] is
 * "show" or "country". */
int agent_owner_consent(const struct agent_config *cfg, int argc, char **argv);

#endif
