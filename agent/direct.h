/* The agent's direct transport: the report is POSTed as application/json to
 * <collector>/v1/reports, under the collector's SPKI pin when one is set.
 * It sits on http.h; send.h chooses between it and ohttp_transport.h.
 * Stateless, thread-safe as far as the handle it is given is. */
#ifndef AGENT_DIRECT_H
#define AGENT_DIRECT_H

#include <stddef.h>

#include "http.h"

/* POSTs json (len bytes) to <collector>/v1/reports on h and fills *ans.
 * pin may be NULL, as in agent_http_exchange.
 * Errors: STS_EINVAL,
 * STS_ENET, STS_ENOMEM. */
enum sts_err agent_direct_post(struct agent_http *h, const char *collector, const char *pin,
                               const char *json, size_t len, struct agent_answer *ans);

/* GETs <collector><path> on h with the bearer token when not NULL (sts-fleet
 * reads statistics this way), keeping at most max_body bytes of the answer.
 * Errors: STS_EINVAL, STS_ENET, STS_ENOMEM (as agent_http_exchange). */
enum sts_err agent_direct_get(struct agent_http *h, const char *collector, const char *pin,
                              const char *path, const char *token, size_t max_body,
                              struct agent_answer *ans);

#endif
