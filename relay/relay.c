/* The relay (see relay.h), served by the shared front (front/front.h). One
 * thread per client connection (bounded by max_connections, and by the
 * front's deadlines and per-address cap) reads the body into a capped buffer,
 * then forwards it with a libcurl handle taken from a small pool, so that
 * connections to the gateway are kept alive and reused across clients. */
#include "relay.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "front.h"
#include "sts/net.h"

#define POOL_MAX 64

/* Longest gateway Content-Type passed on; a longer one is a bad gateway. */
#define MAX_CONTENT_TYPE 256

struct relay {
    struct front *front;
    char *gateway, *keys_url, *ca_file;
    size_t max_body;
    long timeout_s;
    pthread_mutex_t pool_lock;
    CURL *pool[POOL_MAX];
    size_t pool_n;
    atomic_ullong forwarded, refused, gateway_errors;
    /* forwarded, refused; gateway failures: unreachable, timeout, too large,
     * bad answer */
    struct metric *m_req[2], *m_gw[4];
};

static void relay_metrics(struct relay *rl, struct metrics *m)
{
    static const char req[] = "requests handled by the relay, by outcome";
    static const char gw[] = "requests the gateway did not answer usably, by kind";
    rl->m_req[0] = metrics_add(m, METRIC_COUNTER, "sts_relay_requests_total", req,
                               "outcome=\"forwarded\"", NULL, 0);
    rl->m_req[1] = metrics_add(m, METRIC_COUNTER, "sts_relay_requests_total", req,
                               "outcome=\"refused\"", NULL, 0);
    rl->m_gw[0] = metrics_add(m, METRIC_COUNTER, "sts_relay_gateway_failures_total", gw,
                              "kind=\"unreachable\"", NULL, 0);
    rl->m_gw[1] = metrics_add(m, METRIC_COUNTER, "sts_relay_gateway_failures_total", gw,
                              "kind=\"timeout\"", NULL, 0);
    rl->m_gw[2] = metrics_add(m, METRIC_COUNTER, "sts_relay_gateway_failures_total", gw,
                              "kind=\"too_large\"", NULL, 0);
    rl->m_gw[3] = metrics_add(m, METRIC_COUNTER, "sts_relay_gateway_failures_total", gw,
                              "kind=\"bad_answer\"", NULL, 0);
}

/* One client request being read. */
struct upload {
    struct front_body in; /* discard: a 415 to answer once the body is in */
    unsigned char body[]; /* max_body bytes */
};

/* What the gateway answered. */
struct answer {
    size_t cap, len;
    unsigned char *body;
    bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct answer *a = userp;
    size_t n = size * nmemb;
    if (n > a->cap - a->len) {
        a->too_big = true;
        return 0; /* fail the transfer */
    }
    memcpy(a->body + a->len, data, n);
    a->len += n;
    return n;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *kind,
                                  const char *detail)
{
    return front_send_error(c, status, kind, "relay", detail, "POST");
}

static CURL *pool_take(struct relay *rl)
{
    CURL *h = NULL;
    pthread_mutex_lock(&rl->pool_lock);
    if (rl->pool_n)
        h = rl->pool[--rl->pool_n];
    pthread_mutex_unlock(&rl->pool_lock);
    return h ? h : curl_easy_init();
}

static void pool_give(struct relay *rl, CURL *h)
{
    pthread_mutex_lock(&rl->pool_lock);
    if (rl->pool_n < POOL_MAX) {
        rl->pool[rl->pool_n++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&rl->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* Sends body (NULL: a GET) to url and passes the answer on to c. The outgoing
 * request carries Host, Content-Type and Content-Length, nothing else. */
static enum MHD_Result forward(struct relay *rl, struct MHD_Connection *c, const char *url,
                               const unsigned char *body, size_t len)
{
    struct answer a = {.cap = rl->max_body, .len = 0, .body = malloc(rl->max_body)};
    struct curl_slist *h = NULL, *t;
    CURL *e = pool_take(rl);
    enum MHD_Result ret = MHD_NO;
    if (!a.body || !e)
        goto out;
    /* "Name:" with no value removes a header libcurl would add. */
    static const char *const headers[] = {
        "Accept:", "Expect:", "User-Agent:", "Content-Type: message/ohttp-req"};
    for (size_t i = 0; i < (body ? 4u : 3u); i++) {
        if (!(t = curl_slist_append(h, headers[i])))
            goto out;
        h = t;
    }
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, rl->timeout_s);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
    if (rl->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, rl->ca_file);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode ce = curl_easy_perform(e);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    if (ce != CURLE_OK) {
        atomic_fetch_add(&rl->gateway_errors, 1);
        metric_add(rl->m_gw[a.too_big ? 2 : ce == CURLE_OPERATION_TIMEDOUT ? 1 : 0], 1);
        if (a.too_big)
            ret = send_error(c, MHD_HTTP_BAD_GATEWAY, "bad_gateway",
                             "the gateway's answer is over the relay's size limit");
        else if (ce == CURLE_OPERATION_TIMEDOUT)
            ret = send_error(c, MHD_HTTP_GATEWAY_TIMEOUT, "gateway_timeout",
                             "the gateway did not answer in time");
        else
            ret = send_error(c, MHD_HTTP_BAD_GATEWAY, "bad_gateway",
                             "the gateway could not be reached");
        goto out;
    }
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    /* Nothing the gateway says may break the answer to the client. */
    if (status < 100 || status > 599 || (ct && strlen(ct) > MAX_CONTENT_TYPE)) {
        atomic_fetch_add(&rl->gateway_errors, 1);
        metric_add(rl->m_gw[3], 1);
        ret = send_error(c, MHD_HTTP_BAD_GATEWAY, "bad_gateway",
                         status < 100 || status > 599
                             ? "the gateway answered with a status outside 100-599"
                             : "the gateway's Content-Type is over the relay's size limit");
        goto out;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        goto out;
    if (ct)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&rl->forwarded, 1);
    metric_add(rl->m_req[0], 1);
out:
    curl_slist_free_all(h);
    if (e)
        pool_give(rl, e);
    free(a.body);
    return ret;
}

/* The body is in (or its declared length is over the drain limit). */
static enum MHD_Result body_complete(struct relay *rl, struct MHD_Connection *c, struct upload *up)
{
    if (up->in.discard) {
        atomic_fetch_add(&rl->refused, 1);
        metric_add(rl->m_req[1], 1);
        return front_send_refusal(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                  "relay", "this relay forwards message/ohttp-req only");
    }
    if (up->in.too_big) {
        atomic_fetch_add(&rl->refused, 1);
        metric_add(rl->m_req[1], 1);
        return front_send_refusal(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "relay",
                                  "the encapsulated request is over the relay's size limit");
    }
    if (up->in.len == 0) { /* RFC 9458 section 5: obviously invalid */
        atomic_fetch_add(&rl->refused, 1);
        metric_add(rl->m_req[1], 1);
        return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "empty request");
    }
    return forward(rl, c, rl->gateway, up->body, up->in.len);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *upload_data, size_t *upload_size,
                              void **con_cls)
{
    struct relay *rl = cls;
    struct upload *up = *con_cls;
    if (up) {
        if (*upload_size) {
            size_t n = *upload_size;
            *upload_size = 0;
            return front_body_feed(&up->in, up->body, upload_data, n) == FRONT_BODY_CLOSE ? MHD_NO
                                                                                          : MHD_YES;
        }
        return body_complete(rl, c, up);
    }

    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && strcmp(url, "/v1/ohttp-keys") == 0) {
        if (!rl->keys_url)
            return send_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                              "this relay does not serve key configurations");
        return forward(rl, c, rl->keys_url, NULL, 0);
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        atomic_fetch_add(&rl->refused, 1);
        metric_add(rl->m_req[1], 1);
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "use POST");
    }
    /* A wrong media type is answered after the (small) body is read: an
     * answer sent while the client still writes can reach it as a broken
     * pipe instead of a 415. */
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    bool bad_type = !ct || strcasecmp(ct, "message/ohttp-req") != 0;
    up = malloc(sizeof *up + rl->max_body);
    if (!up)
        return MHD_NO;
    *con_cls = up;
    if (front_body_init(&up->in, c, rl->max_body, bad_type))
        return body_complete(rl, c, up);
    return MHD_YES;
}

static void completed(void *cls, void **con_cls)
{
    free(*con_cls);
    *con_cls = NULL;
}

static void relay_free(struct relay *rl)
{
    for (size_t i = 0; i < rl->pool_n; i++)
        curl_easy_cleanup(rl->pool[i]);
    pthread_mutex_destroy(&rl->pool_lock);
    free(rl->gateway);
    free(rl->keys_url);
    free(rl->ca_file);
    free(rl);
}

static char *dup_or_null(const char *s, bool *nomem)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *nomem = true;
    return d;
}

enum sts_err relay_start(const struct relay_config *cfg, struct relay **out, char *why,
                         size_t whylen)
{
    if (!sts_net_url_allowed(cfg->gateway) ||
        (cfg->keys_url && !sts_net_url_allowed(cfg->keys_url))) {
        snprintf(why, whylen,
                 "the gateway URL must be https:// (http:// only to a loopback "
                 "address): '%s'",
                 cfg->gateway);
        return STS_EINVAL;
    }
    struct relay *rl = calloc(1, sizeof *rl);
    if (!rl)
        return STS_ENOMEM;
    pthread_mutex_init(&rl->pool_lock, NULL);
    bool nomem = false;
    rl->gateway = dup_or_null(cfg->gateway, &nomem);
    rl->keys_url = dup_or_null(cfg->keys_url, &nomem);
    rl->ca_file = dup_or_null(cfg->ca_file, &nomem);
    rl->max_body = cfg->max_body ? cfg->max_body : 64 * 1024;
    rl->timeout_s = cfg->timeout_s ? (long)cfg->timeout_s : 30;
    if (nomem) {
        relay_free(rl);
        snprintf(why, whylen, "out of memory");
        return STS_ENOMEM;
    }
    struct front_config fc = {
        .listen = cfg->listen,
        .tls_cert_pem = cfg->tls_cert_pem,
        .tls_key_pem = cfg->tls_key_pem,
        .threads = 0, /* forwarding blocks: a thread per connection */
        .connection_limit = cfg->max_connections ? cfg->max_connections : 256,
        .per_client_limit = cfg->per_client_limit ? cfg->per_client_limit
                            : cfg->tls_cert_pem   ? FRONT_TLS_PER_CLIENT_LIMIT
                                                  : 0,
        .header_timeout_s = cfg->header_timeout_s,
        .body_timeout_s = cfg->body_timeout_s,
        .idle_timeout_s = (unsigned)rl->timeout_s,
        .handler = handle,
        .completed = completed,
        .cls = rl,
        .metrics = cfg->metrics,
    };
    relay_metrics(rl, cfg->metrics);
    enum sts_err e = front_start(&fc, &rl->front, why, whylen);
    if (e != STS_OK) {
        relay_free(rl);
        return e;
    }
    *out = rl;
    return STS_OK;
}

uint16_t relay_port(const struct relay *rl)
{
    return front_port(rl->front);
}

void relay_get_counters(struct relay *rl, struct relay_counters *out)
{
    out->forwarded = atomic_load(&rl->forwarded);
    out->refused = atomic_load(&rl->refused);
    out->gateway_errors = atomic_load(&rl->gateway_errors);
}

bool relay_drain(struct relay *rl, unsigned timeout_ms)
{
    return front_drain(rl->front, timeout_ms);
}

void relay_stop(struct relay *rl)
{
    if (!rl)
        return;
    front_stop(rl->front);
    relay_free(rl);
}
