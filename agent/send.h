/* Sending reports to the collector over HTTP(S) with libcurl. A struct
 * agent_sender wraps one curl easy handle, so consecutive posts reuse the
 * connection (keep-alive); it does no retrying of its own: the caller applies
 * the policy of retry.h to each answer.
 *
 * TLS rules, the same for the device and sts-fleet: the collector URL must be
 * https://, except for a loopback host (localhost, 127.0.0.0/8, [::1]) where
 * plain http:// is allowed for tests and on-device relays; the server
 * certificate and host name are always verified, against the system's CA
 * store or a configured CA file; an optional SPKI SHA-256 pin (libcurl's
 * CURLOPT_PINNEDPUBLICKEY) must match as well. Proxies come from libcurl's
 * usual environment variables (https_proxy, http_proxy, no_proxy; upper-case
 * HTTPS_PROXY too, but not HTTP_PROXY, which libcurl ignores on purpose).
 *
 * Thread-safety: call agent_sender_global_init() once, before any thread
 * starts; after that each thread may own senders of its own. A sender is not
 * shared between threads. Ownership: a struct agent_answer owns its body;
 * release it with agent_answer_cleanup(). */
#ifndef AGENT_SEND_H
#define AGENT_SEND_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

#define AGENT_ANSWER_MAX_BODY (16 * 1024) /* bytes of answer kept, hard cap */

struct agent_sender;

/* How reports travel (see ohttp_transport.h for the second). */
enum agent_transport {
    AGENT_TRANSPORT_DIRECT = 0, /* POST <collector>/v1/reports */
    AGENT_TRANSPORT_OHTTP       /* sealed to the collector's gateway key, through a relay */
};

struct agent_sender_opts {
    const char *collector;  /* base URL; reports go to <collector>/v1/reports */
    long timeout_ms;        /* whole attempt, connection included */
    const char *ca_file;    /* NULL: the system's CA store */
    const char *pin_sha256; /* NULL, or "sha256//BASE64" SPKI pin(s) of the collector */
    enum agent_transport transport;
    const char *relay;      /* OHTTP: the relay URL encapsulated requests go to */
    const char *ohttp_keys; /* OHTTP: pinned application/ohttp-keys file, or NULL */
    const char *state_dir;  /* OHTTP: where fetched key configurations are cached */
    /* When not NULL, an attempt in progress is abandoned (STS_ENET) as soon as
     * *stop becomes non-zero, so that a daemon can exit promptly on SIGTERM. */
    const volatile sig_atomic_t *stop;
};

struct agent_answer {
    long status;           /* HTTP status, 0 when no answer arrived */
    char content_type[64]; /* of the answer, "" when absent */
    char *body;            /* NUL-terminated, at most AGENT_ANSWER_MAX_BODY bytes; may be NULL */
    size_t body_len;
    int64_t retry_after_ms; /* from Retry-After, -1 when absent or unreadable */
    char error[256];        /* why no answer arrived, "" otherwise */
};

/* Whether url may be used as a collector: an http:// or https:// URL with a
 * host, https unless the host is a loopback address (see above). When it may
 * not, msg says why. Thread-safe. */
bool agent_url_allowed(const char *url, char *msg, size_t msg_size);

/* Turns a config value of one or more base64 SHA-256 SPKI hashes (44
 * characters each, "sha256//" prefix optional, separated by ';' or ',') into
 * libcurl's form in out. Returns false for a malformed value. */
bool agent_pin_normalise(const char *value, char *out, size_t out_size);

/* Initialises libcurl for the whole process. Errors: STS_ENET. */
enum sts_err agent_sender_global_init(void);

/* Creates a sender. The strings in opts are copied.
 * Errors: STS_EINVAL (the collector URL is not allowed, see
 * agent_url_allowed), STS_ENOMEM, STS_ENET (libcurl refused an option). */
enum sts_err agent_sender_new(const struct agent_sender_opts *opts, struct agent_sender **out);

/* Frees s and closes its connection; NULL does nothing. */
void agent_sender_free(struct agent_sender *s);

/* POSTs json (len bytes, Content-Type: application/json) to
 * <collector>/v1/reports and fills *ans (which the caller cleans up). With
 * the OHTTP transport the report is sealed and sent through the relay, and
 * *ans is the collector's sealed answer, opened (a relay or gateway failure
 * that carries no sealed answer is status 0, to be retried).
 * Returns STS_OK when an HTTP answer of any status arrived, STS_ENET when none
 * did (ans->status is 0 and ans->error says why). An answer body over the cap
 * is cut at the cap. Errors: STS_ENET, STS_ENOMEM. */
enum sts_err agent_sender_post(struct agent_sender *s, const char *json, size_t len,
                               struct agent_answer *ans);

/* GETs <collector><path> with "Authorization: Bearer <token>" when token is not
 * NULL (sts-fleet reads the statistics this way). Same contract as
 * agent_sender_post, with a cap of max_body bytes on the answer.
 * Errors: STS_ENET, STS_ENOMEM. */
enum sts_err agent_sender_get(struct agent_sender *s, const char *path, const char *token,
                              size_t max_body, struct agent_answer *ans);

/* POSTs body (len bytes, Content-Type ctype) to the absolute url, or GETs
 * url when body is NULL, keeping at most max_body bytes of the answer: the
 * transport under the two calls above, for ohttp_transport.c. The collector's
 * pin applies when pinned is true. Same contract as agent_sender_post.
 * Errors: STS_ENET, STS_ENOMEM. */
enum sts_err agent_sender_exchange(struct agent_sender *s, const char *url, const char *ctype,
                                   const void *body, size_t len, size_t max_body, bool pinned,
                                   struct agent_answer *ans);

/* Frees ans->body and resets *ans. */
void agent_answer_cleanup(struct agent_answer *ans);

#endif
