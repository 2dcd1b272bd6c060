/* The relay (see relay.h), served by the shared front (front/front.h) on a
 * small pool of event threads. A client's body is read into a capped buffer;
 * its connection is then suspended and the transfer handed to one forwarder
 * thread, which runs every transfer to the gateway at once on a libcurl
 * multi handle (connections to the gateway kept alive and reused) and
 * resumes the connection when its answer is in. No thread waits on a
 * gateway, so a hung one costs each client a suspended connection for at
 * most --timeout, and slow clients cost a connection each, not a thread. */
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
#include <time.h>

#include "front.h"
#include "sts/net.h"

/* Longest gateway Content-Type passed on; a longer one is a bad gateway. */
#define MAX_CONTENT_TYPE 256

struct xfer;

struct relay {
    struct front *front;
    char *gateway, *keys_url, *ca_file;
    size_t max_body;
    long timeout_s;
    CURLM *multi;
    pthread_t forwarder;
    bool forwarder_started;
    pthread_mutex_t lock; /* queue, stopping */
    struct xfer *queue;   /* waiting for the forwarder to add them */
    bool stopping;
    atomic_uint inflight; /* suspended connections */
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

enum xfer_state { X_READING, X_WAITING, X_ANSWERED };

/* One client request: its body, then its transfer to the gateway. */
struct xfer {
    struct relay *rl;
    struct MHD_Connection *conn;
    struct xfer *next, *prev; /* the queue, then the forwarder's active list */
    enum xfer_state state;
    const char *url;
    bool post;
    CURL *easy;
    struct curl_slist *headers;
    /* Set by the forwarder before it resumes the connection. */
    CURLcode result;
    bool stopped; /* the relay stopped before the gateway answered */
    long status;
    char content_type[MAX_CONTENT_TYPE + 1];
    bool has_type, type_too_long;
    size_t answer_cap, answer_len;
    bool answer_too_big;
    unsigned char *answer;
    struct front_body in; /* discard: a 415 to answer once the body is in */
    unsigned char body[]; /* max_body bytes for a POST */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;
    if (n > x->answer_cap - x->answer_len) {
        x->answer_too_big = true;
        return 0; /* fail the transfer */
    }
    memcpy(x->answer + x->answer_len, data, n);
    x->answer_len += n;
    return n;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *kind,
                                  const char *detail)
{
    return front_send_error(c, status, kind, "relay", detail, "POST");
}

/* The easy handle of a transfer. The outgoing request carries Host,
 * Content-Type and Content-Length, nothing else. Errors: STS_ENOMEM. */
static enum sts_err xfer_prepare(struct xfer *x)
{
    struct relay *rl = x->rl;
    x->answer_cap = rl->max_body;
    if (!(x->answer = malloc(x->answer_cap)) || !(x->easy = curl_easy_init()))
        return STS_ENOMEM;
    /* "Name:" with no value removes a header libcurl would add. */
    static const char *const headers[] = {
        "Accept:", "Expect:", "User-Agent:", "Content-Type: message/ohttp-req"};
    for (size_t i = 0; i < (x->post ? 4u : 3u); i++) {
        struct curl_slist *t = curl_slist_append(x->headers, headers[i]);
        if (!t)
            return STS_ENOMEM;
        x->headers = t;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, rl->timeout_s);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (rl->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, rl->ca_file);
    if (x->post) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->in.len);
    }
    return STS_OK;
}

/* On the forwarder thread: records how the transfer ended, lets go of its
 * easy handle and resumes the client's connection, whose handler answers. */
static void xfer_finish(struct xfer *x, CURLcode result)
{
    x->result = result;
    if (result == CURLE_OK && x->easy) {
        char *ct = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) {
            x->has_type = true;
            size_t n = strlen(ct);
            if (n > MAX_CONTENT_TYPE)
                x->type_too_long = true;
            else
                memcpy(x->content_type, ct, n + 1);
        }
    }
    if (x->easy)
        curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    MHD_resume_connection(x->conn);
}

static void *forwarder(void *arg)
{
    struct relay *rl = arg;
    struct xfer *active = NULL;
    for (;;) {
        pthread_mutex_lock(&rl->lock);
        struct xfer *fresh = rl->queue;
        rl->queue = NULL;
        bool stop = rl->stopping;
        pthread_mutex_unlock(&rl->lock);
        for (struct xfer *x = fresh, *next; x; x = next) {
            next = x->next;
            if (stop || xfer_prepare(x) != STS_OK ||
                curl_multi_add_handle(rl->multi, x->easy) != CURLM_OK) {
                x->stopped = stop;
                xfer_finish(x, stop ? CURLE_ABORTED_BY_CALLBACK : CURLE_OUT_OF_MEMORY);
                continue;
            }
            x->prev = NULL;
            x->next = active;
            if (active)
                active->prev = x;
            active = x;
        }
        if (stop) {
            for (struct xfer *x = active, *next; x; x = next) {
                next = x->next;
                curl_multi_remove_handle(rl->multi, x->easy);
                x->stopped = true;
                xfer_finish(x, CURLE_ABORTED_BY_CALLBACK);
            }
            return NULL;
        }
        int running = 0;
        curl_multi_perform(rl->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(rl->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode result = m->data.result;
            curl_multi_remove_handle(rl->multi, m->easy_handle);
            if (x->prev)
                x->prev->next = x->next;
            else
                active = x->next;
            if (x->next)
                x->next->prev = x->prev;
            xfer_finish(x, result);
        }
        curl_multi_poll(rl->multi, NULL, 0, 1000, NULL);
    }
}

/* Suspends the connection and hands x to the forwarder. */
static enum MHD_Result xfer_start(struct xfer *x)
{
    struct relay *rl = x->rl;
    pthread_mutex_lock(&rl->lock);
    if (rl->stopping) {
        pthread_mutex_unlock(&rl->lock);
        x->state = X_ANSWERED;
        return send_error(x->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                          "the relay is stopping; retry later");
    }
    x->state = X_WAITING;
    atomic_fetch_add(&rl->inflight, 1);
    /* Suspend before the forwarder can see it: it may resume at once. */
    MHD_suspend_connection(x->conn);
    x->next = rl->queue;
    rl->queue = x;
    pthread_mutex_unlock(&rl->lock);
    curl_multi_wakeup(rl->multi);
    return MHD_YES;
}

/* The gateway's answer (or its failure) passed on to the client. */
static enum MHD_Result xfer_answer(struct xfer *x)
{
    struct relay *rl = x->rl;
    struct MHD_Connection *c = x->conn;
    atomic_fetch_sub(&rl->inflight, 1);
    x->state = X_ANSWERED;
    if (x->stopped)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                          "the relay is stopping; retry later");
    if (x->result != CURLE_OK) {
        atomic_fetch_add(&rl->gateway_errors, 1);
        if (x->result == CURLE_OUT_OF_MEMORY)
            return MHD_NO;
        metric_add(rl->m_gw[x->answer_too_big                       ? 2
                            : x->result == CURLE_OPERATION_TIMEDOUT ? 1
                                                                    : 0],
                   1);
        if (x->answer_too_big)
            return send_error(c, MHD_HTTP_BAD_GATEWAY, "bad_gateway",
                              "the gateway's answer is over the relay's size limit");
        if (x->result == CURLE_OPERATION_TIMEDOUT)
            return send_error(c, MHD_HTTP_GATEWAY_TIMEOUT, "gateway_timeout",
                              "the gateway did not answer in time");
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "bad_gateway",
                          "the gateway could not be reached");
    }
    /* Nothing the gateway says may break the answer to the client. */
    if (x->status < 100 || x->status > 599 || x->type_too_long) {
        atomic_fetch_add(&rl->gateway_errors, 1);
        metric_add(rl->m_gw[3], 1);
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "bad_gateway",
                          x->status < 100 || x->status > 599
                              ? "the gateway answered with a status outside 100-599"
                              : "the gateway's Content-Type is over the relay's size limit");
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(x->answer_len, x->answer, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (x->has_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, x->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)x->status, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&rl->forwarded, 1);
    metric_add(rl->m_req[0], 1);
    return ret;
}

/* The body is in (or its declared length is over the drain limit). */
static enum MHD_Result body_complete(struct xfer *x)
{
    struct relay *rl = x->rl;
    struct MHD_Connection *c = x->conn;
    if (x->in.discard || x->in.too_big || x->in.len == 0) {
        atomic_fetch_add(&rl->refused, 1);
        metric_add(rl->m_req[1], 1);
        x->state = X_ANSWERED;
    }
    if (x->in.discard)
        return front_send_refusal(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                  "relay", "this relay forwards message/ohttp-req only");
    if (x->in.too_big)
        return front_send_refusal(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "relay",
                                  "the encapsulated request is over the relay's size limit");
    if (x->in.len == 0) /* RFC 9458 section 5: obviously invalid */
        return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "empty request");
    return xfer_start(x);
}

static struct xfer *xfer_new(struct relay *rl, struct MHD_Connection *c, const char *url,
                             size_t body_cap)
{
    struct xfer *x = calloc(1, sizeof *x + body_cap);
    if (x) {
        x->rl = rl;
        x->conn = c;
        x->url = url;
        x->post = body_cap > 0;
    }
    return x;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *upload_data, size_t *upload_size,
                              void **con_cls)
{
    struct relay *rl = cls;
    struct xfer *x = *con_cls;
    if (x) {
        if (x->state == X_WAITING)
            return xfer_answer(x);
        if (x->state == X_ANSWERED)
            return MHD_YES;
        if (*upload_size) {
            size_t n = *upload_size;
            *upload_size = 0;
            return front_body_feed(&x->in, x->body, upload_data, n) == FRONT_BODY_CLOSE ? MHD_NO
                                                                                        : MHD_YES;
        }
        return body_complete(x);
    }

    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && strcmp(url, "/v1/ohttp-keys") == 0) {
        if (!rl->keys_url)
            return send_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                              "this relay does not serve key configurations");
        if (!(x = xfer_new(rl, c, rl->keys_url, 0)))
            return MHD_NO;
        *con_cls = x;
        return xfer_start(x);
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
    if (!(x = xfer_new(rl, c, rl->gateway, rl->max_body)))
        return MHD_NO;
    *con_cls = x;
    if (front_body_init(&x->in, c, rl->max_body, bad_type))
        return body_complete(x);
    return MHD_YES;
}

static void completed(void *cls, void **con_cls)
{
    (void)cls;
    struct xfer *x = *con_cls;
    if (x) {
        free(x->answer);
        free(x);
    }
    *con_cls = NULL;
}

/* Stops the forwarder: every transfer still running is answered 503 and its
 * connection resumed. */
static void stop_forwarder(struct relay *rl)
{
    if (!rl->forwarder_started)
        return;
    pthread_mutex_lock(&rl->lock);
    rl->stopping = true;
    pthread_mutex_unlock(&rl->lock);
    curl_multi_wakeup(rl->multi);
    pthread_join(rl->forwarder, NULL);
    rl->forwarder_started = false;
}

static void relay_free(struct relay *rl)
{
    stop_forwarder(rl);
    if (rl->multi)
        curl_multi_cleanup(rl->multi);
    pthread_mutex_destroy(&rl->lock);
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
    if (pthread_mutex_init(&rl->lock, NULL) != 0) {
        free(rl);
        return STS_ENOMEM; /* the only way it fails on Linux */
    }
    bool nomem = false;
    rl->gateway = dup_or_null(cfg->gateway, &nomem);
    rl->keys_url = dup_or_null(cfg->keys_url, &nomem);
    rl->ca_file = dup_or_null(cfg->ca_file, &nomem);
    rl->max_body = cfg->max_body ? cfg->max_body : 64 * 1024;
    rl->timeout_s = cfg->timeout_s ? (long)cfg->timeout_s : 30;
    if (nomem || !(rl->multi = curl_multi_init())) {
        relay_free(rl);
        snprintf(why, whylen, "out of memory");
        return STS_ENOMEM;
    }
    if (pthread_create(&rl->forwarder, NULL, forwarder, rl) != 0) {
        relay_free(rl);
        snprintf(why, whylen, "cannot start the forwarding thread");
        return STS_EIO;
    }
    rl->forwarder_started = true;
    struct front_config fc = {
        .listen = cfg->listen,
        .tls_cert_pem = cfg->tls_cert_pem,
        .tls_key_pem = cfg->tls_key_pem,
        .threads = 2,
        .suspend = true,
        .connection_limit = cfg->max_connections ? cfg->max_connections : 1024,
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
    front_quiesce(rl->front);
    /* Suspended connections must be resumed before the front stops: the
     * forwarder resumes each (answered 503), then their answers get a
     * moment to leave (bounded: 5 s). */
    stop_forwarder(rl);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && atomic_load(&rl->inflight) > 0; i++)
        nanosleep(&tick, NULL);
    front_stop(rl->front);
    relay_free(rl);
}
