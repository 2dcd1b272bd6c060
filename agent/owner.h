/* What the device owner sees and decides: `sts-agent status`, `preview`,
 * `consent` and `retry`, in the owner's words (messages.h). Each function prints its result on
 * stdout, problems on stderr, and returns the exit status (0 ok, 1 runtime failure, 2 usage error).
 * A change (consent, retry) is reported on stdout only once it is durable; when it cannot be saved
 * stdout says nothing changed and the status is 1. Not thread-safe (they print). */
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

/* `sts-agent retry`: puts a report the collector refused back in the queue,
 * unchanged (same report_id and payload): the activation if it was
 * rejected, and refused lifetime pings whose grace window is still open
 * (from the log, which keeps their payloads). Says so only once saved. */
int agent_owner_retry(const struct agent_config *cfg);

#endif
