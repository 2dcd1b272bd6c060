/* The OHTTP transport of the agent (see ohttp_transport.h). */
#include "ohttp_transport.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "sts/bhttp.h"
#include "sts/net.h"
#include "sts/ohttp.h"

struct agent_ohttp {
    char *collector;
    char *authority; /* the collector's host[:port], for the inner request */
    char *relay;
    char *keys_file; /* pinned, or NULL */
    char *state_dir;
};

enum sts_err agent_ohttp_new(const char *collector, const char *relay, const char *keys_file,
                             const char *state_dir, struct agent_ohttp **out)
{
    struct sts_url u;
    *out = NULL;
    if (relay == NULL || collector == NULL || sts_net_url_check(collector, &u, NULL, 0) != STS_OK)
        return STS_EINVAL;
    struct agent_ohttp *o = calloc(1, sizeof *o);
    if (o == NULL)
        return STS_ENOMEM;
    o->collector = strdup(collector);
    /* u.path points into collector, just after the authority. */
    const char *a = strstr(collector, "://") + 3;
    o->authority = strndup(a, (size_t)(u.path - a));
    o->relay = strdup(relay);
    o->keys_file = keys_file ? strdup(keys_file) : NULL;
    o->state_dir = state_dir ? strdup(state_dir) : NULL;
    if (o->collector == NULL || o->authority == NULL || o->relay == NULL ||
        (keys_file && !o->keys_file) || (state_dir && !o->state_dir)) {
        agent_ohttp_free(o);
        return STS_ENOMEM;
    }
    *out = o;
    return STS_OK;
}

void agent_ohttp_free(struct agent_ohttp *o)
{
    if (o == NULL)
        return;
    free(o->collector);
    free(o->authority);
    free(o->relay);
    free(o->keys_file);
    free(o->state_dir);
    free(o);
}

static enum sts_err decode_keys(const char *buf, size_t len, struct sts_ohttp_key_config *cfg)
{
    struct sts_ohttp_key_config cfgs[4];
    size_t n = 0;
    enum sts_err rc = sts_ohttp_keys_decode(cfgs, 4, &n, (const uint8_t *)buf, len);
    if (rc == STS_OK)
        *cfg = cfgs[0]; /* the gateway lists its current key first */
    return rc;
}

/* The gateway's key configuration: pinned file, cache, or fetched (and then
 * cached). why says what went wrong. */
static enum sts_err key_config(struct agent_ohttp *o, struct agent_http *h, const char *pin,
                               struct sts_ohttp_key_config *cfg, char *why, size_t whylen)
{
    char path[4096];
    char *text = NULL;
    size_t len = 0;
    enum sts_err rc;
    const char *file = o->keys_file;
    if (file == NULL && o->state_dir != NULL) {
        snprintf(path, sizeof path, "%s/%s", o->state_dir, AGENT_OHTTP_KEYS_CACHE);
        file = path;
    }
    if (file != NULL) {
        rc = agent_file_read(file, STS_OHTTP_MAX_KEYS_LIST, &text, &len);
        if (rc == STS_OK) {
            rc = decode_keys(text, len, cfg);
            free(text);
            if (rc == STS_OK)
                return STS_OK;
            snprintf(why, whylen, "%.160s: not a usable application/ohttp-keys file", file);
            if (o->keys_file != NULL)
                return rc;
            unlink(file); /* a bad cache: fetch again */
        } else if (o->keys_file != NULL) {
            snprintf(why, whylen, "cannot read the pinned key configuration %.120s: %s", file,
                     sts_strerror(rc));
            return rc;
        }
    }

    char url[4096];
    struct agent_answer ans;
    snprintf(url, sizeof url, "%s/v1/ohttp-keys", o->collector);
    rc = agent_http_exchange(h, url, NULL, NULL, 0, NULL, pin, STS_OHTTP_MAX_KEYS_LIST, &ans);
    if (rc != STS_OK) {
        snprintf(why, whylen, "cannot fetch the key configuration from %.100s: %.100s", url,
                 ans.error);
        agent_answer_cleanup(&ans);
        return rc;
    }
    if (ans.status != 200 || strcmp(ans.content_type, "application/ohttp-keys") != 0 ||
        decode_keys(ans.body, ans.body_len, cfg) != STS_OK) {
        snprintf(why, whylen, "%.120s answered HTTP %ld (%.60s), not a key configuration", url,
                 ans.status, ans.content_type);
        agent_answer_cleanup(&ans);
        return STS_ECORRUPT;
    }
    if (o->state_dir != NULL && agent_file_write_atomic(o->state_dir, AGENT_OHTTP_KEYS_CACHE,
                                                        ans.body, ans.body_len) != STS_OK)
        fprintf(stderr,
                "sts-agent: cannot cache the key configuration in %s; it will be "
                "fetched again next time\n",
                o->state_dir);
    agent_answer_cleanup(&ans);
    return STS_OK;
}

/* Turns the opened binary HTTP response into *ans. */
static enum sts_err fill_answer(const struct sts_bhttp_response *res, struct agent_answer *ans)
{
    free(ans->body);
    ans->body = NULL;
    ans->body_len = 0;
    ans->status = (long)res->status;
    ans->retry_after_ms = -1;
    ans->content_type[0] = '\0';
    ans->redirect_url[0] = '\0';
    for (size_t i = 0; i < res->headers.n; i++) {
        const struct sts_bhttp_field *f = &res->headers.v[i];
        char value[64];
        if (f->value.len >= sizeof value)
            continue;
        memcpy(value, f->value.ptr, f->value.len);
        value[f->value.len] = '\0';
        if (f->name.len == 11 && memcmp(f->name.ptr, "retry-after", 11) == 0) {
            char *end;
            errno = 0;
            long v = strtol(value, &end, 10);
            if (errno == 0 && *end == '\0' && v >= 0 && v <= 86400)
                ans->retry_after_ms = (int64_t)v * 1000;
        } else if (f->name.len == 12 && memcmp(f->name.ptr, "content-type", 12) == 0) {
            snprintf(ans->content_type, sizeof ans->content_type, "%s", value);
        }
    }
    size_t n = res->content.len < AGENT_ANSWER_MAX_BODY ? res->content.len : AGENT_ANSWER_MAX_BODY;
    ans->body = malloc(n + 1);
    if (ans->body == NULL)
        return STS_ENOMEM;
    memcpy(ans->body, res->content.ptr, n);
    ans->body[n] = '\0';
    ans->body_len = n;
    return STS_OK;
}

/* No sealed answer: status 0 so that the attempt is retried. */
static enum sts_err transport_failure(struct agent_answer *ans, const char *why)
{
    free(ans->body);
    ans->body = NULL;
    ans->body_len = 0;
    ans->status = 0;
    snprintf(ans->error, sizeof ans->error, "%s", why);
    return STS_OK;
}

enum sts_err agent_ohttp_post(struct agent_ohttp *o, struct agent_http *h, const char *pin,
                              const char *json, size_t len, struct agent_answer *ans)
{
    struct sts_ohttp_key_config cfg;
    struct sts_ohttp_client *client = NULL;
    uint8_t *inner = NULL, *enc = NULL, *plain = NULL;
    size_t inner_len = 0, enc_len = 0, plain_len = 0;
    char why[sizeof ans->error];
    enum sts_err rc;

    agent_answer_init(ans);
    why[0] = '\0';
    rc = key_config(o, h, pin, &cfg, why, sizeof why);
    if (rc == STS_ENOMEM)
        return rc;
    if (rc != STS_OK)
        return transport_failure(ans, why);

    struct sts_bhttp_field f[] = {
        {{(const uint8_t *)"content-type", 12}, {(const uint8_t *)"application/json", 16}},
    };
    struct sts_bhttp_request req = {
        .method = {(const uint8_t *)"POST", 4},
        .scheme = {(const uint8_t *)"https", 5},
        .authority = {(const uint8_t *)o->authority, strlen(o->authority)},
        .path = {(const uint8_t *)"/v1/reports", 11},
        .headers = {f, 1},
        .content = {(const uint8_t *)json, len},
    };
    rc = sts_bhttp_request_encode(&req, 0, NULL, 0, &inner_len);
    if (rc != STS_ETOOBIG)
        return transport_failure(ans, "cannot encode the report as binary HTTP");
    rc = STS_ENOMEM;
    inner = malloc(inner_len);
    enc = malloc(inner_len + STS_OHTTP_REQUEST_OVERHEAD);
    plain = malloc(AGENT_ANSWER_MAX_BODY);
    if (inner == NULL || enc == NULL || plain == NULL)
        goto out;
    if (sts_bhttp_request_encode(&req, 0, inner, inner_len, &inner_len) != STS_OK ||
        sts_ohttp_client_new(&client, &cfg, NULL) != STS_OK ||
        sts_ohttp_client_encap(client, inner, inner_len, NULL, enc,
                               inner_len + STS_OHTTP_REQUEST_OVERHEAD, &enc_len) != STS_OK) {
        rc = transport_failure(ans, "cannot seal the report to the gateway key");
        goto out;
    }
    /* The relay is not the collector: no pin on that hop. */
    rc = agent_http_exchange(h, o->relay, "message/ohttp-req", enc, enc_len, NULL, NULL,
                             AGENT_ANSWER_MAX_BODY, ans);
    if (rc != STS_OK)
        goto out;
    if (ans->status != 200 || strcmp(ans->content_type, "message/ohttp-res") != 0) {
        long status = ans->status;
        /* A key the gateway refuses (RFC 9458 section 5.3): fetch it again. */
        if (status >= 400 && status < 500 && o->keys_file == NULL && o->state_dir != NULL) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", o->state_dir, AGENT_OHTTP_KEYS_CACHE);
            unlink(path);
        }
        snprintf(why, sizeof why, "the relay or gateway answered HTTP %ld without a sealed answer",
                 status);
        rc = transport_failure(ans, why);
        goto out;
    }
    struct sts_bhttp_response res;
    if (sts_ohttp_client_decap(client, (const uint8_t *)ans->body, ans->body_len, plain,
                               AGENT_ANSWER_MAX_BODY, &plain_len) != STS_OK ||
        sts_bhttp_response_decode(&res, plain, plain_len, NULL) != STS_OK) {
        rc = transport_failure(ans, "the sealed answer does not open");
        goto out;
    }
    rc = fill_answer(&res, ans);
    sts_bhttp_response_cleanup(&res);
out:
    if (inner != NULL) {
        OPENSSL_cleanse(inner, inner_len);
        free(inner);
    }
    free(enc);
    free(plain);
    sts_ohttp_client_free(client);
    return rc;
}
