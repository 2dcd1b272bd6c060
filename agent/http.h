/* The bottom of the agent's network stack: one HTTP(S) exchange on a reused
 * libcurl easy handle (keep-alive across exchanges), nothing else. The
 * transports above it (direct.h, ohttp_transport.h) say what to send where;
 * send.h picks one of them. No retrying here: the caller applies retry.h.
 *
 * Every exchange: the URL must pass the one URL rule of libsts
 * (sts_net_url_check: https, plain http only to loopback), http and https
 * are the only protocols, redirects are never followed (an answer is the
 * answer of the URL the configuration names), the server certificate and
 * host name are always verified against the system's CA store, a CA file or
 * a CA directory, TLS 1.2 at least, and an SPKI SHA-256 pin
 * (CURLOPT_PINNEDPUBLICKEY) when one is given. Proxies come from libcurl's
 * environment variables (https_proxy, HTTPS_PROXY, http_proxy, no_proxy).
 *
 * Thread-safety: call agent_http_global_init() once, before any thread
 * starts; after that each thread may own handles of its own, never shared.
 * Ownership: struct agent_http copies its strings; a struct agent_answer
 * owns its body, released with agent_answer_cleanup(). */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

#define AGENT_ANSWER_MAX_BODY (16 * 1024) /* bytes of answer kept, hard cap */

struct agent_http;

struct agent_http_opts {
    long timeout_ms;     /* whole exchange, connection included; <= 0: 30 s */
    const char *ca_file; /* NULL: the system's CA store (unless ca_dir) */
    const char *ca_dir;  /* NULL, or a directory of hashed CA certificates */
    /* When not NULL, an exchange in progress is abandoned (STS_ENET) as soon
     * as *stop becomes non-zero, so that a daemon can exit promptly. */
    const volatile sig_atomic_t *stop;
};

struct agent_answer {
    long status;            /* HTTP status, 0 when no answer arrived */
    char content_type[64];  /* of the answer, "" when absent */
    char redirect_url[256]; /* where a redirect points (never followed), "" if none */
    char *body;             /* NUL-terminated, at most the cap; may be NULL */
    size_t body_len;
    int64_t retry_after_ms; /* from Retry-After, -1 when absent or unreadable */
    char error[256];        /* why no answer arrived, "" otherwise */
};

/* Initialises libcurl for the whole process. Errors: STS_ENET. */
enum sts_err agent_http_global_init(void);

/* Creates a handle. Errors: STS_ENOMEM. */
enum sts_err agent_http_new(const struct agent_http_opts *opts, struct agent_http **out);

/* Frees h and closes its connections; NULL does nothing. */
void agent_http_free(struct agent_http *h);

/* POSTs body (len bytes, Content-Type ctype) to url, or GETs url when body is
 * NULL, with "Authorization: Bearer <token>" when token is not NULL and the
 * SPKI pin list pin (libcurl's "sha256//...;..." form) when not NULL, keeping
 * at most max_body bytes of the answer (the rest is read and dropped). Fills
 * *ans, which the caller cleans up.
 * Returns STS_OK when an HTTP answer of any status arrived. Errors:
 * STS_EINVAL (url breaks the URL rule; nothing is sent, ans->error says
 * why), STS_ENET (no answer: ans->status is 0 and ans->error says why),
 * STS_ENOMEM. */
enum sts_err agent_http_exchange(struct agent_http *h, const char *url, const char *ctype,
                                 const void *body, size_t len, const char *token, const char *pin,
                                 size_t max_body, struct agent_answer *ans);

/* Resets *ans to "no answer" without freeing anything (a fresh struct). */
void agent_answer_init(struct agent_answer *ans);

/* Frees ans->body and resets *ans. */
void agent_answer_cleanup(struct agent_answer *ans);

/* Turns a config value of one or more base64 SHA-256 SPKI hashes (44
 * characters each, "sha256//" prefix optional, separated by ';' or ',') into
 * libcurl's form in out. Returns false for a malformed value. Thread-safe. */
bool agent_pin_normalise(const char *value, char *out, size_t out_size);

#endif
