/* The collector as an Oblivious HTTP gateway (RFC 9458): loads the gateway
 * keys, opens an encapsulated request into the inner binary HTTP request,
 * checks that it is a report (POST /v1/reports, application/json), and seals
 * the inner answer as an encapsulated response. http.c hands the report body
 * to the same code as a plain POST /v1/reports, so both paths validate, store
 * and answer alike.
 *
 * Ownership: a struct gateway_inner owns the decrypted request and the
 * response context; gateway_inner_cleanup wipes and frees them. Keys are held
 * by the struct sts_ohttp_gateway, which the caller frees. Thread-safety: a
 * gateway may serve gateway_open from many threads (see ohttp.h); an inner
 * request belongs to one request at a time. Nothing here sees an address. */
#ifndef STS_GATEWAY_H
#define STS_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/ohttp.h"

#define GATEWAY_MAX_KEYS STS_OHTTP_MAX_GATEWAY_KEYS

/* Bytes an encapsulated report may take beyond the report itself: the OHTTP
 * header, enc and tag, and the binary HTTP control data and header fields. */
#define GATEWAY_REQUEST_SLACK (STS_OHTTP_REQUEST_OVERHEAD + 1024)

/* The decrypted inner request of one POST /v1/ohttp. */
struct gateway_inner {
    struct sts_ohttp_response_ctx *rctx; /* set once decapsulation succeeded */
    uint8_t *plain;                      /* the binary HTTP request, wiped on cleanup */
    size_t plain_len;
    char *body; /* the report (inner content), points into plain */
    size_t body_len;
};

/* What to answer when the inner request is not a report to handle. */
struct gateway_error {
    unsigned status;
    bool key_problem; /* outer answer: RFC 9458 section 5.3 problem type */
    const char *kind; /* {"error":kind,"field":field,"detail":detail} */
    const char *field;
    const char *detail;
    char detail_buf[64]; /* where detail points when it had to be formatted */
};

enum gateway_verdict {
    GATEWAY_REPORT,      /* in->body holds the report to handle */
    GATEWAY_INNER_ERROR, /* answer err in an encapsulated response (seal it) */
    GATEWAY_OUTER_ERROR, /* answer err in clear: the request could not be opened */
    GATEWAY_NOMEM
};

/* Loads the key files paths[0..n) (n at most GATEWAY_MAX_KEYS; the last one
 * is the current key, listed first in /v1/ohttp-keys) into a new gateway.
 * why gets a message for the operator on failure.
 * Errors: STS_EINVAL (no key, too many, two with one key id), STS_ENOENT,
 * STS_EPERM, STS_EACCES, STS_ETOOBIG, STS_ECORRUPT, STS_EIO, STS_ENOMEM,
 * STS_ECRYPTO (OpenSSL failed, out of memory included). */
enum sts_err gateway_load(const char *const *paths, size_t n, struct sts_ohttp_gateway **out,
                          char *why, size_t whylen);

/* Opens the encapsulated request enc[0..len) and checks the inner request;
 * max_body caps the report. *in needs no initialisation and must be cleaned
 * up whatever the verdict. */
enum gateway_verdict gateway_open(const struct sts_ohttp_gateway *gw, const uint8_t *enc,
                                  size_t len, size_t max_body, struct gateway_inner *in,
                                  struct gateway_error *err);

/* Seals the inner answer (status, application/json body json[0..len), and a
 * Retry-After or Allow field when the status calls for one) into *out, a
 * malloc'ed message/ohttp-res body of *out_len bytes. Once per inner request.
 * Errors: STS_EINVAL (nothing to answer), STS_ENOMEM, STS_ECRYPTO. */
enum sts_err gateway_seal(struct gateway_inner *in, unsigned status, const char *json, size_t len,
                          uint8_t **out, size_t *out_len);

/* Wipes and frees what in holds, and empties it. */
void gateway_inner_cleanup(struct gateway_inner *in);

#endif
