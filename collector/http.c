/* HTTP routing and answers for the collector (see http.h). Each request gets
 * one context holding its body (capped at max_body); reports leave this file
 * as store records that carry a pseudonym, never the IMEI. */
#include "http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"
#include "sts/date.h"
#include "sts/report.h"

struct http_server {
    struct MHD_Daemon *daemon;
    const struct sts_key *key;
    struct sts_pseudonymizer *pseudonymizer;
    struct ingest *ing;
    size_t max_body;
    char *token;
    long k; /* privacy floor: a query may raise it, never lower it */
    struct store *stats_store; /* read handle for the statistics API */
    pthread_mutex_t stats_lock;
    struct MHD_Response *accepted, *duplicate;
    atomic_uint inflight; /* connections suspended while their record commits */
    atomic_ullong accepted_n, duplicates_n, reactivations_n, invalid_n, failed_n;
};

enum route { ROUTE_REPORTS = 1 };

enum state { READING, WAITING, ANSWERED };

struct request {
    struct ingest_job job;
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum state state;
    bool too_big;
    size_t len;
    char body[]; /* max_body bytes */
};

/* allow: the methods a 405 answer names in its Allow header (NULL otherwise). */
static enum MHD_Result send_json_allow(struct MHD_Connection *c, unsigned status, char *json,
                                       const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE || status == MHD_HTTP_TOO_MANY_REQUESTS)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, char *json)
{
    return send_json_allow(c, status, json, NULL);
}

/* {"error":kind,"field":field,"detail":detail}, escaped by Jansson since the
 * field may echo a key the device sent. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *kind,
                                  const char *field, const char *detail)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "error", kind, "field", field, "detail", detail);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        return MHD_NO;
    return send_json(c, status, s);
}

/* 405 with the Allow header naming the one method the path takes. */
static enum MHD_Result send_not_allowed(struct MHD_Connection *c, const char *allow)
{
    char detail[32];
    snprintf(detail, sizeof detail, "use %s", allow);
    json_t *o = json_pack("{s:s,s:s,s:s}", "error", "method_not_allowed", "field", "method",
                          "detail", detail);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        return MHD_NO;
    return send_json_allow(c, MHD_HTTP_METHOD_NOT_ALLOWED, s, allow);
}

static enum MHD_Result send_static(struct MHD_Connection *c, unsigned status,
                                   struct MHD_Response *r)
{
    return MHD_queue_response(c, status, r);
}

/* application/json, optionally with parameters such as charset=utf-8. */
static bool is_json(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static void job_done(struct ingest_job *job)
{
    struct request *rq = (struct request *)job;
    MHD_resume_connection(rq->conn);
}

static enum MHD_Result answer_report(struct request *rq)
{
    struct http_server *srv = rq->srv;
    struct MHD_Connection *c = rq->conn;
    atomic_fetch_sub(&srv->inflight, 1);
    rq->state = ANSWERED;
    switch (rq->job.rec.outcome) {
    case STORE_NEW:
        atomic_fetch_add(&srv->accepted_n, 1);
        return send_static(c, MHD_HTTP_ACCEPTED, srv->accepted);
    case STORE_REACTIVATION:
        atomic_fetch_add(&srv->reactivations_n, 1);
        return send_static(c, MHD_HTTP_ACCEPTED, srv->accepted);
    case STORE_DUPLICATE:
        atomic_fetch_add(&srv->duplicates_n, 1);
        return send_static(c, MHD_HTTP_OK, srv->duplicate);
    default:
        atomic_fetch_add(&srv->failed_n, 1);
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "body",
                          "the report could not be stored; retry later");
    }
}

/* The whole body has arrived: validate, then hand to the writer. */
static enum MHD_Result submit_report(struct request *rq)
{
    struct http_server *srv = rq->srv;
    struct sts_report rep;
    struct sts_field_error fe;
    char detail[64];

    if (rq->too_big) {
        snprintf(detail, sizeof detail, "larger than %zu bytes", srv->max_body);
        rq->state = ANSWERED;
        return send_error(rq->conn, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body", detail);
    }
    enum sts_err e = sts_report_parse(rq->body, rq->len, sts_day_today(), &rep, &fe);
    if (e == STS_ENOMEM)
        return MHD_NO;
    if (e != STS_OK) {
        atomic_fetch_add(&srv->invalid_n, 1);
        rq->state = ANSWERED;
        if (e == STS_ETOOBIG)
            return send_error(rq->conn, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", fe.field,
                              fe.detail);
        return send_error(rq->conn, MHD_HTTP_BAD_REQUEST, "invalid", fe.field, fe.detail);
    }

    struct store_record *r = &rq->job.rec;
    memset(r, 0, sizeof *r);
    r->type = rep.type;
    sts_report_id_bytes(rep.report_id, r->report_id);
    memcpy(r->brand, rep.brand, sizeof r->brand);
    memcpy(r->model, rep.model, sizeof r->model);
    memcpy(r->sw, rep.sw, sizeof r->sw);
    memcpy(r->country, rep.country, sizeof r->country);
    if (rep.type == STS_REPORT_ACTIVATION) {
        sts_day_parse(rep.day, &r->day);
        e = sts_pseudonymizer_compute(srv->pseudonymizer, rep.imei, r->pseudonym);
        r->key_id = srv->key->id;
    } else {
        sts_month_parse(rep.cohort, &r->cohort);
        sts_month_parse(rep.period, &r->period);
        r->first = rep.first;
    }
    /* The raw IMEI goes no further than this frame. */
    OPENSSL_cleanse(rep.imei, sizeof rep.imei);
    OPENSSL_cleanse(rq->body, rq->len);
    if (e != STS_OK)
        return MHD_NO;

    rq->job.done = job_done;
    rq->state = WAITING;
    atomic_fetch_add(&srv->inflight, 1);
    /* Suspend before submitting: the writer may resume us at once. */
    MHD_suspend_connection(rq->conn);
    ingest_submit(srv->ing, &rq->job);
    return MHD_YES;
}

static enum MHD_Result handle_stats(struct http_server *srv, struct MHD_Connection *c,
                                    const char *url)
{
    if (!srv->token)
        return send_error(c, MHD_HTTP_FORBIDDEN, "forbidden", "authorization",
                          "the statistics API is off: start the collector with --token-file");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "authorization",
                          "send 'Authorization: Bearer <token>'");
    const char *given = auth + 7;
    size_t n = strlen(srv->token);
    if (strlen(given) != n || CRYPTO_memcmp(given, srv->token, n) != 0)
        return send_error(c, MHD_HTTP_FORBIDDEN, "forbidden", "authorization",
                          "wrong token");

    struct stats_args args = {
        .by = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "by"),
        .period = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "period"),
        .from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from"),
        .to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to"),
        .k = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "k"),
        .k_min = srv->k,
    };
    const char *which = url + strlen("/v1/stats/");
    struct sts_field_error fe;
    char *json = NULL;
    pthread_mutex_lock(&srv->stats_lock);
    enum sts_err e = stats_api(srv->stats_store, which, &args, &json, &fe);
    pthread_mutex_unlock(&srv->stats_lock);
    if (e == STS_OK)
        return send_json(c, MHD_HTTP_OK, json);
    if (e == STS_ENOENT)
        return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "path", fe.detail);
    if (e == STS_EINVAL)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", fe.field, fe.detail);
    return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "database",
                      "statistics query failed");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct request *rq = *con_cls;

    if (rq) {
        if (rq->state == WAITING)
            return answer_report(rq);
        if (rq->state == ANSWERED)
            return MHD_YES;
        if (*upload_size) {
            if (rq->too_big || *upload_size > srv->max_body - rq->len) {
                rq->too_big = true;
            } else {
                memcpy(rq->body + rq->len, upload, *upload_size);
                rq->len += *upload_size;
            }
            *upload_size = 0;
            return MHD_YES;
        }
        return submit_report(rq);
    }

    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    if (strcmp(url, "/v1/reports") == 0) {
        if (!post)
            return send_not_allowed(c, "POST");
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!is_json(ct))
            return send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                              "content-type", "reports must be sent as application/json");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->max_body) {
            char detail[64];
            snprintf(detail, sizeof detail, "larger than %zu bytes", srv->max_body);
            return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body", detail);
        }
        rq = malloc(sizeof *rq + srv->max_body);
        if (!rq)
            return MHD_NO;
        rq->srv = srv;
        rq->conn = c;
        rq->state = READING;
        rq->too_big = false;
        rq->len = 0;
        *con_cls = rq;
        return MHD_YES;
    }
    /* Everything below answers at once and ignores any body. */
    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return send_not_allowed(c, "GET");
        char *ok = strdup("{\"status\":\"ok\"}");
        return ok ? send_json(c, MHD_HTTP_OK, ok) : MHD_NO;
    }
    if (strncmp(url, "/v1/stats/", 10) == 0) {
        if (!get)
            return send_not_allowed(c, "GET");
        return handle_stats(srv, c, url);
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "path", "no such endpoint");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static enum sts_err parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                                 char *why, size_t whylen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hl;
    if (!colon || colon == listen)
        goto bad;
    hl = (size_t)(colon - listen);
    if (listen[0] == '[') { /* [::1]:8080 */
        if (hl < 2 || listen[hl - 1] != ']')
            goto bad;
        h = listen + 1;
        hl -= 2;
    }
    if (hl >= sizeof host)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) {
        snprintf(why, whylen, "cannot resolve listen host '%s'", host);
        return STS_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return STS_OK;
bad:
    snprintf(why, whylen, "bad listen address '%s': expected HOST:PORT, e.g. 127.0.0.1:8080",
             listen);
    return STS_EINVAL;
}

enum sts_err http_start(const struct http_config *cfg, const struct sts_key *key,
                        struct ingest *ing, struct http_server **out, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    enum sts_err e = parse_listen(cfg->listen, &ss, &sslen, why, whylen);
    if (e != STS_OK)
        return e;
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return STS_ENOMEM;
    srv->key = key;
    srv->ing = ing;
    srv->k = cfg->k;
    srv->max_body = cfg->max_body && cfg->max_body < STS_REPORT_MAX_BODY ? cfg->max_body
                                                                          : STS_REPORT_MAX_BODY;
    pthread_mutex_init(&srv->stats_lock, NULL);
    e = STS_ENOMEM;
    static char accepted[] = "{\"status\":\"accepted\"}";
    static char duplicate[] = "{\"status\":\"duplicate\"}";
    srv->accepted = MHD_create_response_from_buffer(sizeof accepted - 1, accepted,
                                                    MHD_RESPMEM_PERSISTENT);
    srv->duplicate = MHD_create_response_from_buffer(sizeof duplicate - 1, duplicate,
                                                     MHD_RESPMEM_PERSISTENT);
    if (!srv->accepted || !srv->duplicate)
        goto fail;
    if ((e = sts_pseudonymizer_new(key, &srv->pseudonymizer)) != STS_OK)
        goto fail;
    e = STS_ENOMEM;
    MHD_add_response_header(srv->accepted, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(srv->duplicate, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (cfg->token) {
        if (!(srv->token = strdup(cfg->token)))
            goto fail;
        e = store_open(cfg->db_uri, 0, &srv->stats_store, why, whylen);
        if (e != STS_OK)
            goto fail;
    }

    unsigned threads = cfg->threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit ? cfg->connection_limit : 4096,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s ? cfg->timeout_s : 30,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        /* MHD zeroes a connection's pool for every request: keep it to what
         * a report needs (headers and read buffer; bodies are copied out). */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192,
        MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
        MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(why, whylen, "cannot listen on %s (address in use or not available?)",
                 cfg->listen);
        e = STS_ENET;
        goto fail;
    }
    *out = srv;
    return STS_OK;
fail:
    if (e == STS_ENOMEM && why && !why[0])
        snprintf(why, whylen, "out of memory");
    store_close(srv->stats_store);
    sts_pseudonymizer_free(srv->pseudonymizer);
    if (srv->accepted)
        MHD_destroy_response(srv->accepted);
    if (srv->duplicate)
        MHD_destroy_response(srv->duplicate);
    pthread_mutex_destroy(&srv->stats_lock);
    free(srv->token);
    free(srv);
    return e;
}

uint16_t http_port(const struct http_server *srv)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void http_get_counters(struct http_server *srv, struct http_counters *out)
{
    out->accepted = atomic_load(&srv->accepted_n);
    out->duplicates = atomic_load(&srv->duplicates_n);
    out->reactivations = atomic_load(&srv->reactivations_n);
    out->invalid = atomic_load(&srv->invalid_n);
    out->failed = atomic_load(&srv->failed_n);
}

void http_quiesce(struct http_server *srv)
{
    MHD_quiesce_daemon(srv->daemon);
}

void http_stop(struct http_server *srv, struct http_counters *final)
{
    if (!srv)
        return;
    MHD_quiesce_daemon(srv->daemon);
    /* Suspended connections must be resumed before MHD_stop_daemon. Once the
     * ingest queue is stopped (see main.c) every one of them has been; give
     * their answers a moment to leave (bounded: 5 s). */
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && atomic_load(&srv->inflight) > 0; i++)
        nanosleep(&tick, NULL);
    nanosleep(&tick, NULL);
    MHD_stop_daemon(srv->daemon);
    if (final)
        http_get_counters(srv, final);
    store_close(srv->stats_store);
    sts_pseudonymizer_free(srv->pseudonymizer);
    MHD_destroy_response(srv->accepted);
    MHD_destroy_response(srv->duplicate);
    pthread_mutex_destroy(&srv->stats_lock);
    if (srv->token) {
        OPENSSL_cleanse(srv->token, strlen(srv->token));
        free(srv->token);
    }
    free(srv);
}
