/* HTTP routing and answers for the collector (see http.h). Each request gets
 * one context holding its body (capped at max_body, plus the encapsulation's
 * overhead on /v1/ohttp); a report's body from either route goes to
 * ingest_report (ingest.h), which owns the report path, and every answer to
 * a report goes through reply(), which sends it as is or sealed in an
 * encapsulated response. */
#include "http.h"

#include <jansson.h>
#include <microhttpd.h>
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

#include "dashboard.h"
#include "front.h"
#include "gateway.h"
#include "metrics_http.h"
#include "stats.h"
#include "store_pool.h"
#include "sts/date.h"
#include "telemetry.h"
#include "sts/net.h"
#include "sts/report.h"

struct http_server {
    struct front *front;
    struct ingest *ing;
    /* Borrowed: each statistics request borrows a read-only handle of it,
     * shared with no writer. */
    struct store_pool *db;
    size_t max_body;
    char *token;
    long k;           /* privacy floor: a query may raise it, never lower it */
    long grace_days;  /* late lifetime pings, see stats_args */
    char *models;     /* the maker's models, see stats_args */
    bool stats_cache; /* see stats_args */
    struct MHD_Response *accepted, *duplicate, *dashboard;
    const struct sts_ohttp_gateway *gateway;
    struct MHD_Response *ohttp_keys; /* application/ohttp-keys, built once */
    atomic_uint inflight;            /* connections suspended while their record commits */
    atomic_ullong accepted_n, duplicates_n, reactivations_n, invalid_n, failed_n;
    struct metrics *metrics; /* NULL: no /metrics route */
    /* token, gateway and ohttp_keys may be replaced by http_reload: readers
     * hold the lock while they use them */
    pthread_rwlock_t secrets;
    bool has_gateway;
    atomic_uint uploads; /* requests with a body being read or stored */
    struct report_metrics rm;
};

enum route { ROUTE_REPORTS = 1, ROUTE_OHTTP };

enum state { READING, WAITING, ANSWERED };

struct request {
    struct ingest_job job;
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum state state;
    enum route route;
    const char *unsupported;    /* a 415 to answer once the body has arrived */
    struct gateway_inner inner; /* ROUTE_OHTTP: the opened request */
    struct front_body in;
    char body[]; /* in.cap bytes */
};

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, char *json)
{
    enum MHD_Result ret = front_send_json(c, status, json, strlen(json), "application/json", false);
    free(json);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *kind,
                                  const char *field, const char *detail)
{
    return front_send_error(c, status, kind, field, detail, NULL);
}

/* The answer to a report, to whoever sent it: as is on /v1/reports; on
 * /v1/ohttp sealed as an encapsulated response under an outer 200 (RFC 9458
 * section 5). */
static enum MHD_Result reply(struct request *rq, unsigned status, const char *json, size_t len)
{
    rq->state = ANSWERED;
    if (rq->route != ROUTE_OHTTP) {
        return front_send_json(rq->conn, status, json, len, "application/json", false);
    }
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    if (gateway_seal(&rq->inner, status, json, len, &sealed, &sealed_len) != STS_OK)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sealed_len, sealed, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(sealed);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "message/ohttp-res");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(rq->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct request *rq, unsigned status, const char *kind,
                                   const char *field, const char *detail)
{
    char *s = front_error_json(kind, field, detail);
    if (!s)
        return MHD_NO;
    enum MHD_Result ret = reply(rq, status, s, strlen(s));
    free(s);
    return ret;
}

/* 405 with the Allow header naming the one method the path takes. */
static enum MHD_Result send_not_allowed(struct MHD_Connection *c, const char *allow)
{
    char detail[32];
    snprintf(detail, sizeof detail, "use %s", allow);
    return front_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "method", detail,
                            allow);
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
    atomic_fetch_sub(&srv->inflight, 1);
    report_metrics_count(&srv->rm, rq->job.rec.type, rq->job.rec.outcome);
    switch (rq->job.rec.outcome) {
    case STORE_NEW: atomic_fetch_add(&srv->accepted_n, 1); break;
    case STORE_REACTIVATION: atomic_fetch_add(&srv->reactivations_n, 1); break;
    case STORE_DUPLICATE: atomic_fetch_add(&srv->duplicates_n, 1); break;
    default: atomic_fetch_add(&srv->failed_n, 1); break;
    }
    const char *json;
    size_t len;
    unsigned status = ingest_answer(&rq->job, &json, &len);
    if (rq->route != ROUTE_OHTTP && status != MHD_HTTP_SERVICE_UNAVAILABLE) {
        rq->state = ANSWERED;
        return send_static(rq->conn, status,
                           status == MHD_HTTP_OK ? srv->duplicate : srv->accepted);
    }
    return reply(rq, status, json, len);
}

/* A report's body, from either route, handed to the report path; the
 * connection waits, suspended, for its commit. */
static enum MHD_Result submit_report(struct request *rq, char *body, size_t len)
{
    struct http_server *srv = rq->srv;
    struct ingest_refusal why;
    enum sts_err e = ingest_report(srv->ing, body, len, sts_day_today(), &rq->job, &why);
    if (e == STS_EINVAL) {
        atomic_fetch_add(&srv->invalid_n, 1);
        report_metrics_invalid(&srv->rm);
        return reply_error(rq, why.status, why.kind, why.fe.field, why.fe.detail);
    }
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

/* The last upload call (or one over the drain limit): the body is complete,
 * or refused. */
static enum MHD_Result body_complete(struct request *rq)
{
    struct http_server *srv = rq->srv;
    if (rq->unsupported) {
        rq->state = ANSWERED;
        return front_send_refusal(rq->conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                  "unsupported_media_type", "content-type", rq->unsupported);
    }
    if (rq->in.too_big) {
        char detail[64];
        snprintf(detail, sizeof detail, "larger than %zu bytes", rq->in.cap);
        rq->state = ANSWERED;
        return front_send_refusal(rq->conn, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body",
                                  detail);
    }
    if (rq->route == ROUTE_REPORTS)
        return submit_report(rq, rq->body, rq->in.len);

    struct gateway_error ge;
    pthread_rwlock_rdlock(&srv->secrets);
    enum gateway_verdict v = gateway_open(srv->gateway, (const uint8_t *)rq->body, rq->in.len,
                                          srv->max_body, &rq->inner, &ge);
    pthread_rwlock_unlock(&srv->secrets);
    switch (v) {
    case GATEWAY_REPORT: return submit_report(rq, rq->inner.body, rq->inner.body_len);
    case GATEWAY_INNER_ERROR:
        atomic_fetch_add(&srv->invalid_n, 1);
        report_metrics_invalid(&srv->rm);
        return reply_error(rq, ge.status, ge.kind, ge.field, ge.detail);
    case GATEWAY_OUTER_ERROR:
        atomic_fetch_add(&srv->invalid_n, 1);
        report_metrics_invalid(&srv->rm);
        rq->state = ANSWERED;
        if (ge.key_problem) {
            /* RFC 9458 section 5.3, with our usual members beside. */
            json_t *o =
                json_pack("{s:s,s:s,s:s,s:s,s:s}", "type",
                          "https://iana.org/assignments/http-problem-types#ohttp-key", "title",
                          ge.detail, "error", ge.kind, "field", ge.field, "detail", ge.detail);
            char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            json_decref(o);
            if (!s)
                return MHD_NO;
            enum MHD_Result ret = front_send_json(rq->conn, ge.status, s, strlen(s),
                                                  "application/problem+json", false);
            free(s);
            return ret;
        }
        return send_error(rq->conn, ge.status, ge.kind, ge.field, ge.detail);
    case GATEWAY_NOMEM: break;
    }
    return MHD_NO;
}

/* Checks the headers of a POST that carries a body and allocates its
 * context. */
static enum MHD_Result start_upload(struct http_server *srv, struct MHD_Connection *c,
                                    enum route route, void **con_cls)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t cap = srv->max_body;
    /* A wrong media type is answered once the (small) body has been read:
     * answering first and closing made clients still sending it fail with
     * a broken pipe instead of reading the 415. */
    const char *unsupported = NULL;
    if (route == ROUTE_REPORTS && !is_json(ct))
        unsupported = "reports must be sent as application/json";
    if (route == ROUTE_OHTTP) {
        if (!ct || strcasecmp(ct, "message/ohttp-req") != 0)
            unsupported = "send an encapsulated request as message/ohttp-req";
        cap += GATEWAY_REQUEST_SLACK;
    }
    struct request *rq = malloc(sizeof *rq + cap);
    if (!rq)
        return MHD_NO;
    memset(rq, 0, sizeof *rq);
    rq->srv = srv;
    rq->conn = c;
    rq->state = READING;
    atomic_fetch_add(&srv->uploads, 1);
    rq->route = route;
    rq->unsupported = unsupported;
    *con_cls = rq;
    /* Beyond the cap but not absurdly, the body is read and dropped before
     * the answer, so the client reads a 413 rather than a broken pipe. */
    if (front_body_init(&rq->in, c, cap, unsupported != NULL))
        return body_complete(rq);
    return MHD_YES;
}

/* Whether the request carries the API token; if not, *refusal is the
 * answer already queued. */
static bool authorized_locked(struct http_server *srv, struct MHD_Connection *c,
                              enum MHD_Result *refusal)
{
    if (!srv->token) {
        *refusal = send_error(c, MHD_HTTP_FORBIDDEN, "forbidden", "authorization",
                              "the statistics API is off: start the collector with --token-file");
        return false;
    }
    const char *auth =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        *refusal = send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "authorization",
                              "send 'Authorization: Bearer <token>'");
        return false;
    }
    const char *given = auth + 7;
    size_t n = strlen(srv->token);
    if (strlen(given) != n || CRYPTO_memcmp(given, srv->token, n) != 0) {
        *refusal = send_error(c, MHD_HTTP_FORBIDDEN, "forbidden", "authorization", "wrong token");
        return false;
    }
    return true;
}

static bool authorized(struct http_server *srv, struct MHD_Connection *c, enum MHD_Result *refusal)
{
    pthread_rwlock_rdlock(&srv->secrets);
    bool ok = authorized_locked(srv, c, refusal);
    pthread_rwlock_unlock(&srv->secrets);
    return ok;
}

static enum MHD_Result handle_metrics(struct http_server *srv, struct MHD_Connection *c)
{
    enum MHD_Result refusal;
    if (!authorized(srv, c, &refusal))
        return refusal;
    return metrics_http_answer(c, srv->metrics);
}

static enum MHD_Result handle_stats(struct http_server *srv, struct MHD_Connection *c,
                                    const char *url)
{
    enum MHD_Result refusal;
    if (!authorized(srv, c, &refusal))
        return refusal;

    struct stats_args args = {
        .by = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "by"),
        .period = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "period"),
        .from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from"),
        .to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to"),
        .k = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "k"),
        .cumulative = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cumulative"),
        .brand = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "brand"),
        .model = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "model"),
        .sw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sw"),
        .country = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "country"),
        .k_min = srv->k,
        .grace_days = srv->grace_days,
        .models = srv->models,
        .cache = srv->stats_cache,
    };
    const char *which = url + strlen("/v1/stats/");
    struct sts_field_error fe;
    char *json = NULL;
    struct store *store = NULL;
    enum sts_err e = store_pool_get(srv->db, &store, NULL, 0);
    if (e != STS_OK)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database",
                          "the statistics cannot read the database");
    e = stats_api(store, which, &args, &json, &fe);
    store_pool_put(srv->db, store);
    if (e == STS_OK)
        return send_json(c, MHD_HTTP_OK, json);
    if (e == STS_EIO) /* a kept handle whose database has gone away */
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database",
                          "the statistics cannot read the database");
    if (e == STS_ENOENT)
        return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "path", fe.detail);
    if (e == STS_EINVAL || e == STS_ETOOBIG)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", fe.field, fe.detail);
    return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "database",
                      "statistics query failed");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *upload, size_t *upload_size,
                              void **con_cls)
{
    struct http_server *srv = cls;
    struct request *rq = *con_cls;

    if (rq) {
        if (rq->state == WAITING)
            return answer_report(rq);
        if (rq->state == ANSWERED)
            return MHD_YES;
        if (*upload_size) {
            size_t n = *upload_size;
            *upload_size = 0;
            if (front_body_feed(&rq->in, rq->body, upload, n) == FRONT_BODY_CLOSE)
                return MHD_NO;
            return MHD_YES;
        }
        return body_complete(rq);
    }

    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    if (strcmp(url, "/v1/reports") == 0) {
        if (!post)
            return send_not_allowed(c, "POST");
        return start_upload(srv, c, ROUTE_REPORTS, con_cls);
    }
    if (strcmp(url, "/v1/ohttp") == 0 && srv->has_gateway) {
        if (!post)
            return send_not_allowed(c, "POST");
        return start_upload(srv, c, ROUTE_OHTTP, con_cls);
    }
    /* Everything below answers at once and ignores any body. */
    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return send_not_allowed(c, "GET");
        if (!ingest_healthy(srv->ing))
            return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database",
                              "reports cannot be stored at the moment; retry later");
        char *ok = strdup("{\"status\":\"ok\"}");
        return ok ? send_json(c, MHD_HTTP_OK, ok) : MHD_NO;
    }
    if (strcmp(url, "/dashboard") == 0 || strcmp(url, "/dashboard/") == 0) {
        if (!get)
            return send_not_allowed(c, "GET");
        return send_static(c, MHD_HTTP_OK, srv->dashboard);
    }
    if (strcmp(url, "/v1/ohttp-keys") == 0 && srv->has_gateway) {
        if (!get)
            return send_not_allowed(c, "GET");
        /* Queueing takes a reference: a reload may destroy ours after. */
        pthread_rwlock_rdlock(&srv->secrets);
        enum MHD_Result ret = send_static(c, MHD_HTTP_OK, srv->ohttp_keys);
        pthread_rwlock_unlock(&srv->secrets);
        return ret;
    }
    if (strcmp(url, "/metrics") == 0 && srv->metrics) {
        if (!get)
            return send_not_allowed(c, "GET");
        return handle_metrics(srv, c);
    }
    if (strncmp(url, "/v1/stats/", 10) == 0) {
        if (!get)
            return send_not_allowed(c, "GET");
        return handle_stats(srv, c, url);
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "path", "no such endpoint");
}

static void completed(void *cls, void **con_cls)
{
    struct request *rq = *con_cls;
    struct http_server *srv = cls;
    if (rq) {
        atomic_fetch_sub(&srv->uploads, 1);
        gateway_inner_cleanup(&rq->inner);
        OPENSSL_cleanse(rq->body, rq->in.len);
        free(rq);
    }
    *con_cls = NULL;
}

/* The /v1/ohttp-keys answer for gw. */
static struct MHD_Response *keys_response(const struct sts_ohttp_gateway *gw, char *why,
                                          size_t whylen)
{
    uint8_t keys[STS_OHTTP_MAX_KEYS_LIST];
    size_t klen = 0;
    enum sts_err e = sts_ohttp_gateway_keys_encode(gw, keys, sizeof keys, &klen);
    if (e != STS_OK) {
        snprintf(why, whylen, "cannot encode the gateway key configurations: %s", sts_strerror(e));
        return NULL;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(klen, keys, MHD_RESPMEM_MUST_COPY);
    if (!r)
        snprintf(why, whylen, "out of memory");
    else
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/ohttp-keys");
    return r;
}

/* Everything but the daemon; parts not yet made are NULL. */
static void server_free(struct http_server *srv)
{
    free(srv->models);
    if (srv->accepted)
        MHD_destroy_response(srv->accepted);
    if (srv->duplicate)
        MHD_destroy_response(srv->duplicate);
    if (srv->ohttp_keys)
        MHD_destroy_response(srv->ohttp_keys);
    if (srv->dashboard)
        MHD_destroy_response(srv->dashboard);
    front_wipe_free(srv->token);
    pthread_rwlock_destroy(&srv->secrets);
    free(srv);
}

enum sts_err http_start(const struct http_config *cfg, struct ingest *ing, struct http_server **out,
                        char *why, size_t whylen)
{
    enum sts_err e;
    bool handed = false; /* the listening socket went to the front */
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        if (cfg->use_listen_fd)
            close(cfg->listen_fd);
        return STS_ENOMEM;
    }
    srv->ing = ing;
    srv->gateway = cfg->gateway;
    srv->has_gateway = cfg->gateway != NULL;
    if (pthread_rwlock_init(&srv->secrets, NULL) != 0) {
        free(srv);
        if (cfg->use_listen_fd)
            close(cfg->listen_fd);
        return STS_ENOMEM;
    }
    srv->k = cfg->k;
    srv->grace_days = cfg->grace_days;
    srv->metrics = cfg->metrics;
    report_metrics_register(&srv->rm, cfg->metrics);
    srv->max_body =
        cfg->max_body && cfg->max_body < STS_REPORT_MAX_BODY ? cfg->max_body : STS_REPORT_MAX_BODY;
    e = STS_ENOMEM;
    /* The two answers most reports get, built once. */
    struct ingest_job done = {.rec.outcome = STORE_NEW};
    const char *json;
    size_t len;
    ingest_answer(&done, &json, &len);
    srv->accepted = MHD_create_response_from_buffer(len, (void *)json, MHD_RESPMEM_PERSISTENT);
    done.rec.outcome = STORE_DUPLICATE;
    ingest_answer(&done, &json, &len);
    srv->duplicate = MHD_create_response_from_buffer(len, (void *)json, MHD_RESPMEM_PERSISTENT);
    srv->dashboard = dashboard_response();
    if (!srv->accepted || !srv->duplicate || !srv->dashboard)
        goto fail;
    MHD_add_response_header(srv->accepted, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(srv->duplicate, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (srv->gateway && !(srv->ohttp_keys = keys_response(srv->gateway, why, whylen)))
        goto fail;
    if (cfg->token) {
        if (!(srv->token = strdup(cfg->token)))
            goto fail;
        if (!(srv->db = cfg->db)) {
            e = STS_EINVAL;
            snprintf(why, whylen, "the statistics API needs its store handles");
            goto fail;
        }
        if (cfg->models && !(srv->models = strdup(cfg->models)))
            goto fail;
        srv->stats_cache = cfg->stats_cache;
    }

    unsigned threads = cfg->threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    /* At least a pool of two: with one internal thread, libmicrohttpd 0.9.75
     * served 256 keep-alive connections with suspended requests at 7-13k
     * reports/s instead of 45k (bench/ingest.sh --serve-args "--threads 1"). */
    if (threads < 2)
        threads = 2;
    struct front_config fc = {
        .listen = cfg->listen,
        .use_listen_fd = cfg->use_listen_fd,
        .listen_fd = cfg->listen_fd,
        .tls_cert_pem = cfg->tls_cert_pem,
        .tls_key_pem = cfg->tls_key_pem,
        .threads = threads,
        .suspend = true,
        .connection_limit = cfg->connection_limit,
        .per_client_limit = cfg->per_client_limit,
        .header_timeout_s = cfg->header_timeout_s,
        .body_timeout_s = cfg->body_timeout_s,
        .idle_timeout_s = cfg->timeout_s,
        .rate = cfg->rate,
        .metrics = cfg->metrics,
        /* MHD zeroes a connection's pool for every request: keep it to what
         * a report needs (headers and read buffer; bodies are copied out). */
        .memory_limit = 8192,
        .handler = handle,
        .completed = completed,
        .cls = srv,
    };
    handed = true;
    if ((e = front_start(&fc, &srv->front, why, whylen)) != STS_OK)
        goto fail;
    *out = srv;
    return STS_OK;
fail:
    if (cfg->use_listen_fd && !handed)
        close(cfg->listen_fd);
    if (e == STS_ENOMEM && why && !why[0])
        snprintf(why, whylen, "out of memory");
    server_free(srv);
    return e;
}

uint16_t http_port(const struct http_server *srv)
{
    return front_port(srv->front);
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
    front_quiesce(srv->front);
}

bool http_drain(struct http_server *srv, unsigned timeout_ms)
{
    front_quiesce(srv->front);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (unsigned waited = 0; atomic_load(&srv->uploads) > 0; waited += 10) {
        if (waited >= timeout_ms)
            return false;
        nanosleep(&tick, NULL);
    }
    return true;
}

enum sts_err http_reload(struct http_server *srv, const char *token,
                         const struct sts_ohttp_gateway *gw, const struct sts_ohttp_gateway **old,
                         char *why, size_t whylen)
{
    char *t = NULL;
    struct MHD_Response *keys = NULL;
    *old = NULL;
    if ((token && !srv->token) || (gw && !srv->has_gateway)) {
        snprintf(why, whylen, "%s was off at start; a reload only replaces",
                 token && !srv->token ? "the statistics API" : "the Oblivious HTTP gateway");
        return STS_EINVAL;
    }
    if (token && !(t = strdup(token))) {
        snprintf(why, whylen, "out of memory");
        return STS_ENOMEM;
    }
    if (gw && !(keys = keys_response(gw, why, whylen))) {
        front_wipe_free(t);
        return STS_ENOMEM;
    }
    pthread_rwlock_wrlock(&srv->secrets);
    if (t) {
        front_wipe_free(srv->token);
        srv->token = t;
    }
    if (keys) {
        MHD_destroy_response(srv->ohttp_keys);
        srv->ohttp_keys = keys;
        *old = srv->gateway;
        srv->gateway = gw;
    }
    pthread_rwlock_unlock(&srv->secrets);
    return STS_OK;
}

void http_stop(struct http_server *srv, struct http_counters *final)
{
    if (!srv)
        return;
    front_quiesce(srv->front);
    /* Suspended connections must be resumed before MHD_stop_daemon. Once the
     * ingest queue is stopped (see main.c) every one of them has been; give
     * their answers a moment to leave (bounded: 5 s). */
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && atomic_load(&srv->inflight) > 0; i++)
        nanosleep(&tick, NULL);
    nanosleep(&tick, NULL);
    front_stop(srv->front);
    if (final)
        http_get_counters(srv, final);
    server_free(srv);
}
