/* The relay (see relay.h), served by the shared front (front/front.h) on a
 * small pool of event threads. The front reads a client's body into a
 * capped buffer; the transfer is then handed to one forwarder thread, which
 * runs every transfer to the gateway at once on a libcurl multi handle
 * (connections to the gateway kept alive and reused) and answers the
 * client when the gateway's answer is in. No thread waits on a gateway, so
 * a hung one costs each client a waiting connection for at most --timeout,
 * and slow clients cost a connection each, not a thread. */
#include "relay.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/prctl.h>

#include "front.h"
#include "http1.h"
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
    atomic_uint inflight; /* requests with the forwarder */
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

/* One client request on its way to the gateway and back. */
struct xfer {
    struct relay *rl;
    struct front_req *req;
    struct xfer *next, *prev; /* the queue, then the forwarder's active list */
    const char *url;
    const char *body; /* the front's, valid until the answer */
    size_t body_len;
    bool post;
    CURL *easy;
    struct curl_slist *headers;
    /* Set by the forwarder before it resumes the connection. */
    CURLcode result;
    bool stopped; /* the relay stopped before the gateway answered */
    long status;
    char content_type[MAX_CONTENT_TYPE + 1];
    bool has_type, type_too_long, type_bad;
    size_t answer_cap, answer_len;
    bool answer_too_big;
    unsigned char *answer;
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

static void send_error(struct front_req *r, unsigned status, const char *kind, const char *detail)
{
    front_send_error(r, status, kind, "relay", detail, "POST");
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
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
    }
    return STS_OK;
}

static void xfer_answer(struct xfer *x);

/* On the forwarder thread: records how the transfer ended, lets go of its
 * easy handle and answers the client. */
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
            else if (!http1_value_valid(ct))
                x->type_bad = true; /* libcurl passes control characters on */
            else
                memcpy(x->content_type, ct, n + 1);
        }
    }
    if (x->easy)
        curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    xfer_answer(x);
}

static void *forwarder(void *arg)
{
    prctl(PR_SET_NAME, "sts-forward"); /* for top -H and /proc: which thread is busy */
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

/* Hands x to the forwarder, which answers it. */
static void xfer_start(struct xfer *x)
{
    struct relay *rl = x->rl;
    pthread_mutex_lock(&rl->lock);
    if (rl->stopping) {
        pthread_mutex_unlock(&rl->lock);
        send_error(x->req, 503, "unavailable", "the relay is stopping; retry later");
        free(x);
        return;
    }
    atomic_fetch_add(&rl->inflight, 1);
    x->next = rl->queue;
    rl->queue = x;
    pthread_mutex_unlock(&rl->lock);
    curl_multi_wakeup(rl->multi);
}

/* The gateway's answer (or its failure) passed on to the client; frees x. */
static void gateway_answer(struct xfer *x)
{
    struct relay *rl = x->rl;
    struct front_req *r = x->req;
    if (x->stopped) {
        send_error(r, 503, "unavailable", "the relay is stopping; retry later");
        return;
    }
    if (x->result != CURLE_OK) {
        atomic_fetch_add(&rl->gateway_errors, 1);
        if (x->result == CURLE_OUT_OF_MEMORY) {
            front_abort(r);
            return;
        }
        metric_add(rl->m_gw[x->answer_too_big                       ? 2
                            : x->result == CURLE_OPERATION_TIMEDOUT ? 1
                                                                    : 0],
                   1);
        if (x->answer_too_big)
            send_error(r, 502, "bad_gateway",
                       "the gateway's answer is over the relay's size limit");
        else if (x->result == CURLE_OPERATION_TIMEDOUT)
            send_error(r, 504, "gateway_timeout", "the gateway did not answer in time");
        else
            send_error(r, 502, "bad_gateway", "the gateway could not be reached");
        return;
    }
    /* Nothing the gateway says may break the answer to the client. */
    if (x->status < 100 || x->status > 599 || x->type_too_long || x->type_bad) {
        atomic_fetch_add(&rl->gateway_errors, 1);
        metric_add(rl->m_gw[3], 1);
        send_error(r, 502, "bad_gateway",
                   x->status < 100 || x->status > 599
                       ? "the gateway answered with a status outside 100-599"
                   : x->type_bad ? "the gateway's Content-Type holds a control character"
                                 : "the gateway's Content-Type is over the relay's size limit");
        return;
    }
    /* An informational or bodiless status can't carry the answer on:
     * 1xx would leave the client waiting for the real one. */
    if (x->status < 200) {
        atomic_fetch_add(&rl->gateway_errors, 1);
        metric_add(rl->m_gw[3], 1);
        send_error(r, 502, "bad_gateway", "the gateway answered with an informational status");
        return;
    }
    front_send(r, (unsigned)x->status, x->has_type ? x->content_type : NULL, x->answer,
               x->answer_len, "Cache-Control: no-store\r\n", 0);
    atomic_fetch_add(&rl->forwarded, 1);
    metric_add(rl->m_req[0], 1);
}

static void xfer_answer(struct xfer *x)
{
    atomic_fetch_sub(&x->rl->inflight, 1);
    gateway_answer(x);
    free(x->answer);
    free(x);
}

static void refused(struct relay *rl)
{
    atomic_fetch_add(&rl->refused, 1);
    metric_add(rl->m_req[1], 1);
}

static void handle(void *cls, struct front_req *r)
{
    struct relay *rl = cls;
    const char *method = front_req_method(r);
    bool get_keys = strcmp(method, "GET") == 0 && strcmp(front_req_path(r), "/v1/ohttp-keys") == 0;
    if (get_keys && !rl->keys_url) {
        send_error(r, 404, "not_found", "this relay does not serve key configurations");
        return;
    }
    if (!get_keys && strcmp(method, "POST") != 0) {
        refused(rl);
        send_error(r, 405, "method_not_allowed", "use POST");
        return;
    }
    size_t len = 0;
    bool too_big = false;
    char *body = get_keys ? NULL : front_req_body(r, &len, &too_big);
    if (!get_keys) {
        const char *ct = front_req_header(r, "Content-Type");
        if (!ct || strcasecmp(ct, "message/ohttp-req") != 0) {
            refused(rl);
            front_send_refusal(r, 415, "unsupported_media_type", "relay",
                               "this relay forwards message/ohttp-req only");
            return;
        }
        if (too_big) {
            refused(rl);
            front_send_refusal(r, 413, "too_large", "relay",
                               "the encapsulated request is over the relay's size limit");
            return;
        }
        if (len == 0) { /* RFC 9458 section 5: obviously invalid */
            refused(rl);
            send_error(r, 400, "invalid", "empty request");
            return;
        }
    }
    struct xfer *x = calloc(1, sizeof *x);
    if (!x) {
        front_abort(r);
        return;
    }
    x->rl = rl;
    x->req = r;
    x->url = get_keys ? rl->keys_url : rl->gateway;
    x->post = !get_keys;
    x->body = body;
    x->body_len = len;
    xfer_start(x);
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
        .max_body = rl->max_body,
        .connection_limit = cfg->max_connections ? cfg->max_connections : 1024,
        .per_client_limit = cfg->per_client_limit ? cfg->per_client_limit
                            : cfg->tls_cert_pem   ? FRONT_TLS_PER_CLIENT_LIMIT
                                                  : 0,
        .header_timeout_s = cfg->header_timeout_s,
        .body_timeout_s = cfg->body_timeout_s,
        .idle_timeout_s = (unsigned)rl->timeout_s,
        .handler = handle,
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
    /* Every request must be answered before the front stops: the
     * forwarder answers each still running (503), then their answers get
     * a moment to leave (bounded: 5 s). */
    stop_forwarder(rl);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && atomic_load(&rl->inflight) > 0; i++)
        nanosleep(&tick, NULL);
    front_stop(rl->front);
    relay_free(rl);
}
