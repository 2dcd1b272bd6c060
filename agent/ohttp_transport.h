/* The agent's Oblivious HTTP transport (RFC 9458): the report is put in a
 * binary HTTP request "POST /v1/reports", sealed to the collector's gateway
 * key configuration, and POSTed as message/ohttp-req to a relay, which sees
 * the device's address but not the report; the collector sees the report but
 * not the address. The sealed answer is opened into the same struct
 * agent_answer a direct POST gives, so retries and idempotency work as before.
 *
 * The key configuration comes from a pinned file (ohttp_keys, e.g. in the
 * firmware image), or else is fetched over TLS from <collector>/v1/ohttp-keys
 * (certificate verified, SPKI pin applied) and cached in state_dir/ohttp-keys;
 * a cached configuration the gateway refuses is dropped and fetched again on
 * the next attempt.
 *
 * It sits on http.h (the relay and the key fetch are plain exchanges);
 * send.h chooses between it and direct.h. Ownership: struct agent_ohttp
 * copies its strings. Not thread-safe: it belongs to one sender. */
#ifndef AGENT_OHTTP_TRANSPORT_H
#define AGENT_OHTTP_TRANSPORT_H

#include <stddef.h>

#include "http.h"

#define AGENT_OHTTP_KEYS_CACHE "ohttp-keys"

struct agent_ohttp;

/* A transport to the gateway of collector through relay; keys_file (a
 * pinned key configuration) and state_dir (where a fetched one is cached)
 * may be NULL. The strings are copied. Errors: STS_EINVAL (no relay or no
 * collector), STS_ENOMEM. */
enum sts_err agent_ohttp_new(const char *collector, const char *relay, const char *keys_file,
                             const char *state_dir, struct agent_ohttp **out);

void agent_ohttp_free(struct agent_ohttp *o);

/* Sends json as described above, on h's connections, and fills *ans; pin
 * (NULL for none) applies to the collector's key fetch, not to the relay.
 * A failure of the transport itself (no key configuration, the relay or the
 * gateway answering without a sealed answer, an answer that does not open) is
 * STS_OK with ans->status 0 and ans->error saying why, so the caller retries.
 * Errors: STS_ENET (no answer at all), STS_ENOMEM. */
enum sts_err agent_ohttp_post(struct agent_ohttp *o, struct agent_http *h, const char *pin,
                              const char *json, size_t len, struct agent_answer *ans);

#endif
