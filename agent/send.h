/* Sending reports: a thin dispatcher over the agent's two transports, both
 * on one HTTP handle (http.h): direct (direct.h, POST <collector>/v1/reports)
 * or Oblivious HTTP through a relay (ohttp_transport.h). A struct
 * agent_sender is what run.c and sts-fleet hold; it does no retrying of its
 * own: the caller applies retry.h to each answer. The TLS, URL and redirect
 * rules are those of http.h, the same for the device and sts-fleet.
 *
 * Thread-safety: call agent_sender_global_init() once, before any thread
 * starts; after that each thread may own senders of its own, never shared.
 * Ownership: the strings of the options are copied; a struct agent_answer
 * owns its body (agent_answer_cleanup()). */
#ifndef AGENT_SEND_H
#define AGENT_SEND_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "sts/err.h"

struct agent_sender;

/* How reports travel. */
enum agent_transport {
    AGENT_TRANSPORT_DIRECT = 0, /* POST <collector>/v1/reports */
    AGENT_TRANSPORT_OHTTP       /* sealed to the collector's gateway key, through a relay */
};

struct agent_sender_opts {
    const char *collector;  /* base URL; reports go to <collector>/v1/reports */
    long timeout_ms;        /* whole attempt, connection included */
    const char *ca_file;    /* NULL: the system's CA store */
    const char *ca_dir;     /* NULL, or a directory of hashed CA certificates */
    const char *pin_sha256; /* NULL, or "sha256//BASE64" SPKI pin(s) of the collector */
    enum agent_transport transport;
    const char *relay;      /* OHTTP: the relay URL encapsulated requests go to */
    const char *ohttp_keys; /* OHTTP: pinned application/ohttp-keys file, or NULL */
    const char *state_dir;  /* OHTTP: where fetched key configurations are cached */
    /* When not NULL, an attempt in progress is abandoned (STS_ENET) as soon as
     * *stop becomes non-zero, so that a daemon can exit promptly on SIGTERM. */
    const volatile sig_atomic_t *stop;
};

/* Initialises libcurl for the whole process. Errors: STS_ENET. */
enum sts_err agent_sender_global_init(void);

/* Creates a sender. Errors: STS_EINVAL (the collector or relay URL breaks
 * the URL rule of sts_net_url_check, or OHTTP without a relay), STS_ENOMEM. */
enum sts_err agent_sender_new(const struct agent_sender_opts *opts, struct agent_sender **out);

/* Frees s and closes its connections; NULL does nothing. */
void agent_sender_free(struct agent_sender *s);

/* Sends the report json (len bytes) by the configured transport and fills
 * *ans (which the caller cleans up). With OHTTP, *ans is the collector's
 * sealed answer, opened; a relay or gateway failure that carries no sealed
 * answer is status 0, to be retried.
 * Returns STS_OK when an answer of any status arrived. An answer body over
 * the cap is cut at the cap. Errors: STS_ENET (no answer: ans->status is 0
 * and ans->error says why), STS_EINVAL (a URL breaks the URL rule), STS_ENOMEM. */
enum sts_err agent_sender_post(struct agent_sender *s, const char *json, size_t len,
                               struct agent_answer *ans);

/* GETs <collector><path> directly (whatever the transport) with
 * "Authorization: Bearer <token>" when token is not NULL, keeping at most
 * max_body bytes of the answer; sts-fleet reads the statistics this way.
 * Errors: STS_ENET, STS_EINVAL, STS_ENOMEM, as agent_sender_post. */
enum sts_err agent_sender_get(struct agent_sender *s, const char *path, const char *token,
                              size_t max_body, struct agent_answer *ans);

#endif
