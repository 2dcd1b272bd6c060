/* The relay (see relay.h). One thread per client connection (bounded by
 * max_connections) reads the body into a capped buffer, then forwards it with
 * a libcurl handle taken from a small pool, so that connections to the
 * gateway are kept alive and reused across clients. */
#include "relay.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sts/net.h"

#define POOL_MAX 64

struct relay {
    struct MHD_Daemon *daemon;
    char *gateway, *keys_url, *ca_file;
    char *tls_cert, *tls_key;
    size_t max_body;
    long timeout_s;
    pthread_mutex_t pool_lock;
    CURL *pool[POOL_MAX];
    size_t pool_n;
    atomic_ullong forwarded, refused, gateway_errors;
};

/* One client request being read. */
/* Largest refused body still read (and dropped) before answering. */
#define DRAIN_MAX (1024 * 1024)

struct upload {
    bool too_big;
    bool bad_type; /* answer 415 once the body has been read */
    size_t len;
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
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"error\":\"%s\",\"field\":\"relay\",\"detail\":\"%s\"}",
                     kind, detail);
    struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
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
    struct MHD_Response *r = MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        goto out;
    if (ct)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&rl->forwarded, 1);
out:
    curl_slist_free_all(h);
    if (e)
        pool_give(rl, e);
    free(a.body);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    struct relay *rl = cls;
    struct upload *up = *con_cls;
    if (up) {
        if (*upload_size) {
            if (up->bad_type)
                ; /* discarded: read so that the 415 finds a clean connection */
            else if (up->too_big || *upload_size > rl->max_body - up->len)
                up->too_big = true;
            else
                memcpy(up->body + up->len, upload_data, *upload_size);
            if (!up->too_big && !up->bad_type)
                up->len += *upload_size;
            *upload_size = 0;
            return MHD_YES;
        }
        if (up->bad_type) {
            atomic_fetch_add(&rl->refused, 1);
            return send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                              "this relay forwards message/ohttp-req only");
        }
        if (up->too_big) {
            atomic_fetch_add(&rl->refused, 1);
            return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                              "the encapsulated request is over the relay's size limit");
        }
        if (up->len == 0) { /* RFC 9458 section 5: obviously invalid */
            atomic_fetch_add(&rl->refused, 1);
            return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "empty request");
        }
        return forward(rl, c, rl->gateway, up->body, up->len);
    }

    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && strcmp(url, "/v1/ohttp-keys") == 0) {
        if (!rl->keys_url)
            return send_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                              "this relay does not serve key configurations");
        return forward(rl, c, rl->keys_url, NULL, 0);
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        atomic_fetch_add(&rl->refused, 1);
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "use POST");
    }
    /* A wrong media type is answered after the (small) body is read: an
     * answer sent while the client still writes can reach it as a broken
     * pipe instead of a 415. */
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    bool bad_type = !ct || strcasecmp(ct, "message/ohttp-req") != 0;
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    /* Beyond the cap but not absurdly: read and drop the body, then answer,
     * so the client reads a 413 rather than a broken pipe. */
    bool drain = length > rl->max_body && length <= DRAIN_MAX;
    if (length > rl->max_body && !drain) {
        atomic_fetch_add(&rl->refused, 1);
        if (bad_type)
            return send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                              "this relay forwards message/ohttp-req only");
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                          "the encapsulated request is over the relay's size limit");
    }
    up = malloc(sizeof *up + rl->max_body);
    if (!up)
        return MHD_NO;
    up->too_big = drain;
    up->bad_type = bad_type;
    up->len = 0;
    *con_cls = up;
    return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void relay_free(struct relay *rl)
{
    for (size_t i = 0; i < rl->pool_n; i++)
        curl_easy_cleanup(rl->pool[i]);
    pthread_mutex_destroy(&rl->pool_lock);
    free(rl->gateway);
    free(rl->keys_url);
    free(rl->ca_file);
    free(rl->tls_cert);
    wipe_free(rl->tls_key);
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
    struct sockaddr_storage ss;
    socklen_t sslen;
    enum sts_err e = sts_net_parse_listen(cfg->listen, &ss, &sslen, why, whylen);
    if (e != STS_OK)
        return e;
    bool tls = cfg->tls_cert_pem && cfg->tls_key_pem;
    if (!tls && !sts_net_is_loopback((struct sockaddr *)&ss)) {
        snprintf(why, whylen,
                 "refusing plain HTTP on %s, which is not a loopback address: give "
                 "--tls-cert FILE and --tls-key FILE (or listen on 127.0.0.1)",
                 cfg->listen);
        return STS_EINVAL;
    }
    if (!sts_net_url_allowed(cfg->gateway) ||
        (cfg->keys_url && !sts_net_url_allowed(cfg->keys_url))) {
        snprintf(why, whylen,
                 "the gateway URL must be https:// (http:// only to a loopback "
                 "address): '%s'",
                 cfg->gateway);
        return STS_EINVAL;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(why, whylen, "this libmicrohttpd was built without TLS support");
        return STS_EUNSUPPORTED;
    }
    struct relay *rl = calloc(1, sizeof *rl);
    if (!rl)
        return STS_ENOMEM;
    pthread_mutex_init(&rl->pool_lock, NULL);
    bool nomem = false;
    rl->gateway = dup_or_null(cfg->gateway, &nomem);
    rl->keys_url = dup_or_null(cfg->keys_url, &nomem);
    rl->ca_file = dup_or_null(cfg->ca_file, &nomem);
    rl->tls_cert = dup_or_null(tls ? cfg->tls_cert_pem : NULL, &nomem);
    rl->tls_key = dup_or_null(tls ? cfg->tls_key_pem : NULL, &nomem);
    rl->max_body = cfg->max_body ? cfg->max_body : 64 * 1024;
    rl->timeout_s = cfg->timeout_s ? (long)cfg->timeout_s : 30;
    if (nomem) {
        relay_free(rl);
        snprintf(why, whylen, "out of memory");
        return STS_ENOMEM;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, rl->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, rl->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    rl->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, rl, MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 2,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : 256, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)rl->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, completed, rl, MHD_OPTION_END);
    if (!rl->daemon) {
        snprintf(why, whylen,
                 tls ? "cannot listen on %s (address in use, or the TLS certificate and key "
                       "unusable or not a pair?)"
                     : "cannot listen on %s (address in use or not available?)",
                 cfg->listen);
        relay_free(rl);
        return STS_ENET;
    }
    *out = rl;
    return STS_OK;
}

uint16_t relay_port(const struct relay *rl)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rl->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void relay_get_counters(struct relay *rl, struct relay_counters *out)
{
    out->forwarded = atomic_load(&rl->forwarded);
    out->refused = atomic_load(&rl->refused);
    out->gateway_errors = atomic_load(&rl->gateway_errors);
}

void relay_stop(struct relay *rl)
{
    if (!rl)
        return;
    MHD_stop_daemon(rl->daemon);
    relay_free(rl);
}
