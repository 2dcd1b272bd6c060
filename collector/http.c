/* HTTP routing and answers for the collector (see http.h). Each request gets
 * one context holding its body (capped at max_body, plus the encapsulation's
 * overhead on /v1/ohttp); a report's body from either route goes to
 * ingest_report (ingest.h), which owns the report path, and every answer to
 * a report goes through reply(), which sends it as is or sealed in an
 * encapsulated response. */
#include "http.h"

#include <jansson.h>
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
    const struct sts_ohttp_gateway *gateway;
    uint8_t *ohttp_keys; /* the application/ohttp-keys answer, built once */
    size_t ohttp_keys_len;
    atomic_uint inflight; /* reports waiting for their commit */
    atomic_ullong accepted_n, duplicates_n, reactivations_n, invalid_n, failed_n;
    struct metrics *metrics; /* NULL: no /metrics route */
    bool metrics_route;      /* GET /metrics answered here (behind the token) */
    /* token, gateway and ohttp_keys may be replaced by http_reload: readers
     * hold the lock while they use them */
    pthread_rwlock_t secrets;
    bool has_gateway;
    struct report_metrics rm;
};

enum route { ROUTE_REPORTS = 1, ROUTE_OHTTP };

/* A report on its way to the writer and back. */
struct request {
    struct ingest_job job;
    struct http_server *srv;
    struct front_req *req;
    enum route route;
    struct gateway_inner inner; /* ROUTE_OHTTP: the opened request */
};

static void request_free(struct request *rq)
{
    gateway_inner_cleanup(&rq->inner);
    free(rq);
}

static void send_json(struct front_req *r, unsigned status, char *json)
{
    front_send_json(r, status, json, strlen(json), "application/json", false);
    free(json);
}

static void send_error(struct front_req *r, unsigned status, const char *kind, const char *field,
                       const char *detail)
{
    front_send_error(r, status, kind, field, detail, NULL);
}

/* The answer to a report, to whoever sent it: as is on /v1/reports; on
 * /v1/ohttp sealed as an encapsulated response under an outer 200 (RFC 9458
 * section 5). Frees rq. */
static void reply(struct request *rq, unsigned status, const char *json, size_t len)
{
    struct front_req *r = rq->req;
    if (rq->route != ROUTE_OHTTP) {
        front_send_json(r, status, json, len, "application/json", false);
        request_free(rq);
        return;
    }
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    if (gateway_seal(&rq->inner, status, json, len, &sealed, &sealed_len) != STS_OK)
        front_abort(r);
    else
        front_send(r, 200, "message/ohttp-res", sealed, sealed_len, "Cache-Control: no-store\r\n",
                   0);
    free(sealed);
    request_free(rq);
}

static void reply_error(struct request *rq, unsigned status, const char *kind, const char *field,
                        const char *detail)
{
    char *s = front_error_json(kind, field, detail);
    if (!s) {
        front_abort(rq->req);
        request_free(rq);
        return;
    }
    reply(rq, status, s, strlen(s));
    free(s);
}

/* 405 with the Allow header naming the one method the path takes. */
static void send_not_allowed(struct front_req *r, const char *allow)
{
    char detail[32];
    snprintf(detail, sizeof detail, "use %s", allow);
    front_send_error(r, 405, "method_not_allowed", "method", detail, allow);
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

/* On the writer thread, once the record is committed (or not). */
static void job_done(struct ingest_job *job)
{
    struct request *rq = (struct request *)job;
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
    reply(rq, status, json, len);
}

/* A report's body, from either route, handed to the report path; the
 * answer is sent once the writer has committed it. */
static void submit_report(struct request *rq, char *body, size_t len)
{
    struct http_server *srv = rq->srv;
    struct ingest_refusal why;
    enum sts_err e = ingest_report(srv->ing, body, len, sts_day_today(), &rq->job, &why);
    if (e == STS_EINVAL) {
        atomic_fetch_add(&srv->invalid_n, 1);
        report_metrics_invalid(&srv->rm);
        reply_error(rq, why.status, why.kind, why.fe.field, why.fe.detail);
        return;
    }
    if (e != STS_OK) {
        front_abort(rq->req);
        request_free(rq);
        return;
    }
    rq->job.done = job_done;
    atomic_fetch_add(&srv->inflight, 1);
    ingest_submit(srv->ing, &rq->job);
}

/* The outer error of an Oblivious HTTP request, not sealed: the relay and
 * the client see it. */
static void send_outer_error(struct front_req *r, const struct gateway_error *ge)
{
    if (!ge->key_problem) {
        send_error(r, ge->status, ge->kind, ge->field, ge->detail);
        return;
    }
    /* RFC 9458 section 5.3, with our usual members beside. */
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type",
                          "https://iana.org/assignments/http-problem-types#ohttp-key", "title",
                          ge->detail, "error", ge->kind, "field", ge->field, "detail", ge->detail);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) {
        front_abort(r);
        return;
    }
    front_send_json(r, ge->status, s, strlen(s), "application/problem+json", false);
    free(s);
}

/* POST /v1/reports or /v1/ohttp, its body in. */
static void handle_report(struct http_server *srv, struct front_req *r, enum route route)
{
    const char *ct = front_req_header(r, "Content-Type");
    size_t cap = srv->max_body;
    if (route == ROUTE_REPORTS && !is_json(ct)) {
        front_send_refusal(r, 415, "unsupported_media_type", "content-type",
                           "reports must be sent as application/json");
        return;
    }
    if (route == ROUTE_OHTTP) {
        if (!ct || strcasecmp(ct, "message/ohttp-req") != 0) {
            front_send_refusal(r, 415, "unsupported_media_type", "content-type",
                               "send an encapsulated request as message/ohttp-req");
            return;
        }
        cap += GATEWAY_REQUEST_SLACK;
    }
    size_t len;
    bool too_big;
    char *body = front_req_body(r, &len, &too_big);
    if (too_big || len > cap) {
        char detail[64];
        snprintf(detail, sizeof detail, "larger than %zu bytes", cap);
        front_send_refusal(r, 413, "too_large", "body", detail);
        return;
    }
    struct request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        front_abort(r);
        return;
    }
    rq->srv = srv;
    rq->req = r;
    rq->route = route;
    if (route == ROUTE_REPORTS) {
        submit_report(rq, body, len);
        return;
    }
    struct gateway_error ge;
    pthread_rwlock_rdlock(&srv->secrets);
    enum gateway_verdict v =
        gateway_open(srv->gateway, (const uint8_t *)body, len, srv->max_body, &rq->inner, &ge);
    pthread_rwlock_unlock(&srv->secrets);
    switch (v) {
    case GATEWAY_REPORT: submit_report(rq, rq->inner.body, rq->inner.body_len); return;
    case GATEWAY_INNER_ERROR:
        atomic_fetch_add(&srv->invalid_n, 1);
        report_metrics_invalid(&srv->rm);
        reply_error(rq, ge.status, ge.kind, ge.field, ge.detail);
        return;
    case GATEWAY_OUTER_ERROR:
        atomic_fetch_add(&srv->invalid_n, 1);
        report_metrics_invalid(&srv->rm);
        send_outer_error(r, &ge);
        break;
    case GATEWAY_NOMEM: front_abort(r); break;
    }
    request_free(rq);
}

/* Whether the request carries the API token; if not, it is answered. */
static bool authorized_locked(struct http_server *srv, struct front_req *r)
{
    if (!srv->token) {
        send_error(r, 403, "forbidden", "authorization",
                   "the statistics API is off: start the collector with --token-file");
        return false;
    }
    const char *auth = front_req_header(r, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        send_error(r, 401, "unauthorized", "authorization", "send 'Authorization: Bearer <token>'");
        return false;
    }
    const char *given = auth + 7;
    size_t n = strlen(srv->token);
    if (strlen(given) != n || CRYPTO_memcmp(given, srv->token, n) != 0) {
        send_error(r, 403, "forbidden", "authorization", "wrong token");
        return false;
    }
    return true;
}

static bool authorized(struct http_server *srv, struct front_req *r)
{
    pthread_rwlock_rdlock(&srv->secrets);
    bool ok = authorized_locked(srv, r);
    pthread_rwlock_unlock(&srv->secrets);
    return ok;
}

/* The query arguments the statistics take (stats_args). */
static const char *const stats_arg_names[] = {"by",         "period", "from",  "to", "k",
                                              "cumulative", "brand",  "model", "sw", "country"};
#define NSTATS_ARGS (sizeof stats_arg_names / sizeof stats_arg_names[0])

/* Whether every query argument is one the statistics take, given once; if
 * not, it is answered. A misspelt filter would otherwise be dropped and the
 * answer be the unfiltered figure, and of two values only the first used. */
static bool stats_args_known(struct front_req *r)
{
    bool seen[NSTATS_ARGS] = {false};
    const char *name, *value;
    enum sts_err e;
    char detail[160];
    for (size_t i = 0; (e = front_req_arg_at(r, i, &name, &value)) == STS_OK; i++) {
        size_t a = 0;
        while (a < NSTATS_ARGS && strcmp(name, stats_arg_names[a]) != 0)
            a++;
        if (a == NSTATS_ARGS) {
            send_error(r, 400, "invalid", name,
                       "unknown parameter: use by, period, from, to, k, cumulative, brand, model, "
                       "sw or country");
            return false;
        }
        if (seen[a]) {
            snprintf(detail, sizeof detail, "'%s' is given more than once: give it once",
                     stats_arg_names[a]);
            send_error(r, 400, "invalid", name, detail);
            return false;
        }
        seen[a] = true;
    }
    if (e == STS_ENOMEM) {
        send_error(r, 503, "unavailable", "memory", "out of memory; retry later");
        return false;
    }
    return true;
}

static void handle_stats(struct http_server *srv, struct front_req *r, const char *path)
{
    if (!authorized(srv, r) || !stats_args_known(r))
        return;
    struct stats_args args = {
        .by = front_req_arg(r, "by"),
        .period = front_req_arg(r, "period"),
        .from = front_req_arg(r, "from"),
        .to = front_req_arg(r, "to"),
        .k = front_req_arg(r, "k"),
        .cumulative = front_req_arg(r, "cumulative"),
        .brand = front_req_arg(r, "brand"),
        .model = front_req_arg(r, "model"),
        .sw = front_req_arg(r, "sw"),
        .country = front_req_arg(r, "country"),
        .k_min = srv->k,
        .grace_days = srv->grace_days,
        .models = srv->models,
        .cache = srv->stats_cache,
    };
    const char *which = path + strlen("/v1/stats/");
    struct sts_field_error fe;
    char *json = NULL;
    struct store *store = NULL;
    enum sts_err e = store_pool_get(srv->db, &store, NULL, 0);
    if (e != STS_OK) {
        send_error(r, 503, "unavailable", "database", "the statistics cannot read the database");
        return;
    }
    e = stats_api(store, which, &args, &json, &fe);
    store_pool_put(srv->db, store);
    if (e == STS_OK)
        send_json(r, 200, json);
    else if (e == STS_EIO) /* a kept handle whose database has gone away */
        send_error(r, 503, "unavailable", "database", "the statistics cannot read the database");
    else if (e == STS_ENOENT)
        send_error(r, 404, "not_found", "path", fe.detail);
    else if (e == STS_EINVAL || e == STS_ETOOBIG)
        send_error(r, 400, "invalid", fe.field, fe.detail);
    else
        send_error(r, 500, "internal", "database", "statistics query failed");
}

static void handle(void *cls, struct front_req *r)
{
    struct http_server *srv = cls;
    const char *path = front_req_path(r);
    const char *method = front_req_method(r);
    bool post = strcmp(method, "POST") == 0;
    bool get = strcmp(method, "GET") == 0;
    if (strcmp(path, "/v1/reports") == 0) {
        if (!post)
            send_not_allowed(r, "POST");
        else
            handle_report(srv, r, ROUTE_REPORTS);
        return;
    }
    if (strcmp(path, "/v1/ohttp") == 0 && srv->has_gateway) {
        if (!post)
            send_not_allowed(r, "POST");
        else
            handle_report(srv, r, ROUTE_OHTTP);
        return;
    }
    /* Everything below answers at once and ignores any body. */
    if (strcmp(path, "/healthz") == 0) {
        if (!get)
            send_not_allowed(r, "GET");
        else if (!ingest_healthy(srv->ing))
            send_error(r, 503, "unavailable", "database",
                       "reports cannot be stored at the moment; retry later");
        else
            front_send_json(r, 200, "{\"status\":\"ok\"}", 15, "application/json", false);
        return;
    }
    if (strcmp(path, "/dashboard") == 0 || strcmp(path, "/dashboard/") == 0) {
        if (!get)
            send_not_allowed(r, "GET");
        else
            dashboard_answer(r);
        return;
    }
    if (strcmp(path, "/v1/ohttp-keys") == 0 && srv->has_gateway) {
        if (!get) {
            send_not_allowed(r, "GET");
            return;
        }
        /* front_send copies: a reload may replace ours after. */
        pthread_rwlock_rdlock(&srv->secrets);
        front_send(r, 200, "application/ohttp-keys", srv->ohttp_keys, srv->ohttp_keys_len, NULL, 0);
        pthread_rwlock_unlock(&srv->secrets);
        return;
    }
    if (strcmp(path, "/metrics") == 0 && srv->metrics_route) {
        if (!get)
            send_not_allowed(r, "GET");
        else if (authorized(srv, r))
            metrics_http_answer(r, srv->metrics);
        return;
    }
    if (strncmp(path, "/v1/stats/", 10) == 0) {
        if (!get)
            send_not_allowed(r, "GET");
        else
            handle_stats(srv, r, path);
        return;
    }
    send_error(r, 404, "not_found", "path", "no such endpoint");
}

/* The /v1/ohttp-keys answer for gw, malloc'ed. Errors: STS_ENOMEM and what
 * encoding returns. */
static enum sts_err keys_encode(const struct sts_ohttp_gateway *gw, uint8_t **out, size_t *len,
                                char *why, size_t whylen)
{
    uint8_t keys[STS_OHTTP_MAX_KEYS_LIST];
    size_t klen = 0;
    enum sts_err e = sts_ohttp_gateway_keys_encode(gw, keys, sizeof keys, &klen);
    if (e != STS_OK) {
        snprintf(why, whylen, "cannot encode the gateway key configurations: %s", sts_strerror(e));
        return e;
    }
    if (!(*out = malloc(klen ? klen : 1))) {
        snprintf(why, whylen, "out of memory");
        return STS_ENOMEM;
    }
    memcpy(*out, keys, klen);
    *len = klen;
    return STS_OK;
}

/* Everything but the daemon; parts not yet made are NULL. */
static void server_free(struct http_server *srv)
{
    free(srv->models);
    free(srv->ohttp_keys);
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
    srv->metrics_route = cfg->metrics && !cfg->metrics_elsewhere;
    report_metrics_register(&srv->rm, cfg->metrics);
    srv->max_body =
        cfg->max_body && cfg->max_body < STS_REPORT_MAX_BODY ? cfg->max_body : STS_REPORT_MAX_BODY;
    e = STS_ENOMEM;
    if (srv->gateway && (e = keys_encode(srv->gateway, &srv->ohttp_keys, &srv->ohttp_keys_len, why,
                                         whylen)) != STS_OK)
        goto fail;
    e = STS_ENOMEM;
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
    struct front_config fc = {
        .listen = cfg->listen,
        .use_listen_fd = cfg->use_listen_fd,
        .listen_fd = cfg->listen_fd,
        .tls_cert_pem = cfg->tls_cert_pem,
        .tls_key_pem = cfg->tls_key_pem,
        .threads = threads,
        .connection_limit = cfg->connection_limit,
        .per_client_limit = cfg->per_client_limit,
        .header_timeout_s = cfg->header_timeout_s,
        .body_timeout_s = cfg->body_timeout_s,
        .idle_timeout_s = cfg->timeout_s,
        .rate = cfg->rate,
        .metrics = cfg->metrics,
        /* the larger of the two routes' caps: each route checks its own */
        .max_body = srv->max_body + (srv->gateway ? GATEWAY_REQUEST_SLACK : 0),
        .handler = handle,
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
    return front_drain(srv->front, timeout_ms);
}

enum sts_err http_reload(struct http_server *srv, const char *token,
                         const struct sts_ohttp_gateway *gw, const struct sts_ohttp_gateway **old,
                         char *why, size_t whylen)
{
    char *t = NULL;
    uint8_t *keys = NULL;
    size_t keys_len = 0;
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
    if (gw) {
        enum sts_err e = keys_encode(gw, &keys, &keys_len, why, whylen);
        if (e != STS_OK) {
            front_wipe_free(t);
            return e == STS_ENOMEM ? e : STS_ENOMEM;
        }
    }
    pthread_rwlock_wrlock(&srv->secrets);
    if (t) {
        front_wipe_free(srv->token);
        srv->token = t;
    }
    if (keys) {
        free(srv->ohttp_keys);
        srv->ohttp_keys = keys;
        srv->ohttp_keys_len = keys_len;
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
    /* Every report waiting for its commit must be answered before the
     * front stops. Once the ingest queue is stopped (see main.c) every one
     * of them has been; give their answers a moment to leave (bounded: 5 s). */
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && atomic_load(&srv->inflight) > 0; i++)
        nanosleep(&tick, NULL);
    nanosleep(&tick, NULL);
    front_stop(srv->front);
    if (final)
        http_get_counters(srv, final);
    server_free(srv);
}
