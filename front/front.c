/* The shared HTTP front (see front.h): libmicrohttpd set up once for both
 * servers, a framing check before any handler, and one thread that closes
 * connections past their deadline. libmicrohttpd's own timer restarts on
 * every byte, so a client sending one byte a second would hold its slot for
 * ever; here each connection carries an absolute deadline, set when it opens
 * or finishes an answer (headers) and when its headers are complete (body),
 * and cleared once the body is in. */
#include "front.h"

#include "framing.h"
#include "tls.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sts/net.h"

/* One open connection, known to the deadline thread. */
struct front_conn {
    struct front_conn *prev, *next;
    MHD_socket fd;
    atomic_llong deadline_ms; /* 0: none */
};

/* Answers are counted by status among these; any other is "other". */
static const unsigned counted_status[] = {200, 202, 400, 401, 403, 404, 405, 408, 413,
                                          415, 429, 431, 500, 501, 502, 503, 504};
#define N_STATUS (sizeof counted_status / sizeof counted_status[0])

struct front_metrics {
    struct metric *status[N_STATUS + 1]; /* the last: other */
    struct metric *open, *rate_limited, *refused_framing, *deadline_closed;
};

static void metrics_register(struct front_metrics *fm, struct metrics *m)
{
    static const char *const labels[N_STATUS + 1] = {
        "code=\"200\"", "code=\"202\"", "code=\"400\"",  "code=\"401\"", "code=\"403\"",
        "code=\"404\"", "code=\"405\"", "code=\"408\"",  "code=\"413\"", "code=\"415\"",
        "code=\"429\"", "code=\"431\"", "code=\"500\"",  "code=\"501\"", "code=\"502\"",
        "code=\"503\"", "code=\"504\"", "code=\"other\""};
    for (size_t i = 0; i <= N_STATUS; i++)
        fm->status[i] = metrics_add(m, METRIC_COUNTER, "sts_http_responses_total",
                                    "HTTP answers sent, by status code", labels[i], NULL, 0);
    fm->open = metrics_add(m, METRIC_GAUGE, "sts_http_open_connections",
                           "client connections open now", NULL, NULL, 0);
    fm->rate_limited =
        metrics_add(m, METRIC_COUNTER, "sts_http_rate_limited_total",
                    "requests answered 429 because their address was over its rate", NULL, NULL, 0);
    fm->refused_framing = metrics_add(
        m, METRIC_COUNTER, "sts_http_refused_framing_total",
        "requests refused for their framing (RFC 9112), connection closed", NULL, NULL, 0);
    fm->deadline_closed =
        metrics_add(m, METRIC_COUNTER, "sts_http_deadline_closed_total",
                    "connections closed at their header or body deadline", NULL, NULL, 0);
}

static void count_status(struct front_metrics *fm, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (!ci)
        return; /* closed without an answer */
    size_t i = 0;
    while (i < N_STATUS && counted_status[i] != ci->http_status)
        i++;
    metric_add(fm->status[i], 1);
}

/* One request, made when its request line arrives. */
struct front_req {
    bool checked, reached; /* framing looked at; the handler saw it */
    void *user;            /* the handler's *ctx */
    char path[];           /* raw target up to '?' */
};

struct front {
    struct MHD_Daemon *daemon;
    front_handler_fn handler;
    front_completed_fn completed;
    void *cls;
    long long header_ms, body_ms;
    pthread_mutex_t lock; /* conns, stopping */
    pthread_cond_t wake;
    struct front_conn *conns;
    bool stopping, reaper_started;
    pthread_t reaper;
    struct rate_table *rate;
    atomic_ullong refused_framing, deadline_closed, rate_limited;
    struct front_metrics m;
    atomic_uint active; /* requests that reached the handler, not yet completed */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *front_error_json(const char *kind, const char *field, const char *detail)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "error", kind, "field", field, "detail", detail);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

/* retry_after: seconds for a 429 or 503 (0 = 1). */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const char *json,
                                 size_t len, const char *type, bool close, const char *allow,
                                 unsigned retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE || status == MHD_HTTP_TOO_MANY_REQUESTS) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", retry_after ? retry_after : 1);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result front_send_json(struct MHD_Connection *c, unsigned status, const char *json,
                                size_t len, const char *type, bool close)
{
    return send_json(c, status, json, len, type, close, NULL, 0);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *kind,
                                  const char *field, const char *detail, const char *allow,
                                  bool close, unsigned retry_after)
{
    char *s = front_error_json(kind, field, detail);
    if (!s)
        return MHD_NO;
    enum MHD_Result ret =
        send_json(c, status, s, strlen(s), "application/json", close, allow, retry_after);
    free(s);
    return ret;
}

enum MHD_Result front_send_error(struct MHD_Connection *c, unsigned status, const char *kind,
                                 const char *field, const char *detail, const char *allow)
{
    return send_error(c, status, kind, field, detail, allow, false, 0);
}

enum MHD_Result front_send_refusal(struct MHD_Connection *c, unsigned status, const char *kind,
                                   const char *field, const char *detail)
{
    return send_error(c, status, kind, field, detail, NULL, true, 0);
}

bool front_body_init(struct front_body *b, struct MHD_Connection *c, size_t cap, bool discard)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->discard = discard;
    /* The front let through one Content-Length of digits only (libmicrohttpd
     * refuses others before any handler runs). */
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    if (length > cap)
        b->too_big = true;
    return length > FRONT_DRAIN_MAX;
}

enum front_body_step front_body_feed(struct front_body *b, void *buf, const char *data, size_t n)
{
    b->seen += n;
    if (b->discard || b->too_big) {
        /* dropped: read only so that the answer finds a clean connection */
    } else if (n > b->cap - b->len) {
        b->too_big = true;
    } else {
        memcpy((char *)buf + b->len, data, n);
        b->len += n;
    }
    return b->seen > FRONT_DRAIN_MAX ? FRONT_BODY_CLOSE : FRONT_BODY_MORE;
}

void front_wipe_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}

static enum MHD_Result count_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    framing_add(cls, key, value);
    return MHD_YES;
}

/* Whether the request's framing must be refused, and how. */
static bool framing_refused_c(struct MHD_Connection *c, const char *version, const char *target,
                              unsigned *status, const char **field, const char **detail)
{
    struct framing f = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_field, &f);
    return framing_refused(&f, strcmp(version, MHD_HTTP_VERSION_1_1) == 0, target, status, field,
                           detail);
}

static bool has_body(struct MHD_Connection *c)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strcmp(cl, "0") != 0) ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

static struct front_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void set_deadline(struct MHD_Connection *c, long long in_ms)
{
    struct front_conn *fc = conn_of(c);
    if (fc)
        atomic_store(&fc->deadline_ms, in_ms ? now_ms() + in_ms : 0);
}

static enum MHD_Result dispatch(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)url;
    struct front *f = cls;
    struct front_req *rq = *con_cls;
    if (!rq)
        return MHD_NO; /* out of memory at the request line */
    if (!rq->checked) {
        rq->checked = true;
        unsigned status;
        const char *field, *detail;
        /* The whole target is checked, query included; routes see its path. */
        if (framing_refused_c(c, version, rq->path + strlen(rq->path) + 1, &status, &field,
                              &detail)) {
            atomic_fetch_add(&f->refused_framing, 1);
            metric_add(f->m.refused_framing, 1);
            return send_error(c, status,
                              status == 414 || status == 431 ? "too_large" : "bad_request", field,
                              detail, NULL, true, 0);
        }
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        unsigned wait = rate_take(f->rate, ci ? ci->client_addr : NULL, now_ms());
        if (wait) {
            atomic_fetch_add(&f->rate_limited, 1);
            metric_add(f->m.rate_limited, 1);
            return send_error(c, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_requests", "client",
                              "too many requests from this address; retry later", NULL, false,
                              wait);
        }
        rq->reached = true;
        atomic_fetch_add(&f->active, 1);
        bool body = has_body(c);
        set_deadline(c, body ? f->body_ms : 0);
        /* libmicrohttpd 0.9.75 closes the connection after an answer queued
         * at this first call, even when no body follows; a request without
         * one reaches its handler at the next call, so that GET answers
         * keep the connection alive. */
        if (!body)
            return MHD_YES;
    } else if (!rq->reached) {
        *upload_size = 0; /* refused above: nothing more to read */
        return MHD_YES;
    } else if (!*upload_size) {
        set_deadline(c, 0); /* the body is in */
    }
    return f->handler(f->cls, c, rq->path, method, upload, upload_size, &rq->user);
}

/* The raw target, before libmicrohttpd decodes it: stored as the path, a
 * NUL, then the whole target. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    size_t n = strlen(uri);
    struct front_req *rq = malloc(sizeof *rq + 2 * n + 2);
    if (!rq)
        return NULL;
    rq->checked = rq->reached = false;
    rq->user = NULL;
    size_t plen = strcspn(uri, "?");
    memcpy(rq->path, uri, plen);
    rq->path[plen] = '\0';
    memcpy(rq->path + plen + 1, uri, n + 1);
    return rq;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct front *f = cls;
    struct front_req *rq = *con_cls;
    count_status(&f->m, c);
    if (rq) {
        if (rq->reached && f->completed)
            f->completed(f->cls, &rq->user);
        if (rq->reached)
            atomic_fetch_sub(&f->active, 1);
        free(rq);
    }
    *con_cls = NULL;
    /* On a kept-alive connection the next request's headers are due. */
    set_deadline(c, f->header_ms);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct front *f = cls;
    metric_add(f->m.open, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct front_conn *fc = calloc(1, sizeof *fc);
        if (!fc || !ci) {
            free(fc); /* no deadline then; libmicrohttpd's timer still applies */
            return;
        }
        fc->fd = ci->connect_fd;
        atomic_init(&fc->deadline_ms, now_ms() + f->header_ms);
        pthread_mutex_lock(&f->lock);
        fc->next = f->conns;
        if (f->conns)
            f->conns->prev = fc;
        f->conns = fc;
        pthread_mutex_unlock(&f->lock);
        *socket_context = fc;
        return;
    }
    struct front_conn *fc = *socket_context;
    if (!fc)
        return;
    /* libmicrohttpd closes the socket after this call, so the deadline
     * thread, which shuts sockets down under the same lock, never touches a
     * descriptor number that may have been reused. */
    pthread_mutex_lock(&f->lock);
    if (fc->prev)
        fc->prev->next = fc->next;
    else
        f->conns = fc->next;
    if (fc->next)
        fc->next->prev = fc->prev;
    pthread_mutex_unlock(&f->lock);
    free(fc);
    *socket_context = NULL;
}

/* Shutting a socket down wakes its server thread, which reads the end of
 * the stream and closes the connection as if the client had gone. */
static void *reaper(void *arg)
{
    struct front *f = arg;
    pthread_mutex_lock(&f->lock);
    while (!f->stopping) {
        long long now = now_ms();
        for (struct front_conn *fc = f->conns; fc; fc = fc->next) {
            long long d = atomic_load(&fc->deadline_ms);
            if (d && now > d) {
                atomic_store(&fc->deadline_ms, 0);
                shutdown(fc->fd, SHUT_RDWR);
                atomic_fetch_add(&f->deadline_closed, 1);
                metric_add(f->m.deadline_closed, 1);
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&f->wake, &f->lock, &until);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

static void front_free(struct front *f)
{
    if (f->reaper_started) {
        pthread_mutex_lock(&f->lock);
        f->stopping = true;
        pthread_cond_signal(&f->wake);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->reaper, NULL);
    }
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->lock);
    rate_free(f->rate);
    free(f);
}

/* *tried: the listening socket went to libmicrohttpd, which owns it then. */
static enum sts_err start(const struct front_config *cfg, struct front **out, char *why,
                          size_t whylen, bool *tried)
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
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(why, whylen, "this libmicrohttpd was built without TLS support");
        return STS_EUNSUPPORTED;
    }
    struct front *f = calloc(1, sizeof *f);
    if (!f)
        return STS_ENOMEM;
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        return STS_ENOMEM; /* the only way either fails on Linux */
    }
    if (pthread_cond_init(&f->wake, NULL) != 0) {
        pthread_mutex_destroy(&f->lock);
        free(f);
        return STS_ENOMEM;
    }
    if (cfg->metrics)
        metrics_register(&f->m, cfg->metrics);
    f->handler = cfg->handler;
    f->completed = cfg->completed;
    f->cls = cfg->cls;
    f->header_ms = 1000LL * (cfg->header_timeout_s ? cfg->header_timeout_s : 10);
    f->body_ms = 1000LL * (cfg->body_timeout_s ? cfg->body_timeout_s : 10);
    /* The pair goes to the process's replaceable credentials (tls.h), which
     * libmicrohttpd reads through its certificate callback at each
     * handshake: SIGHUP can renew it without a restart. */
    if (tls && (e = front_tls_set(cfg->tls_cert_pem, cfg->tls_key_pem, why, whylen)) != STS_OK) {
        if (e == STS_EINVAL)
            e = STS_ENET; /* as libmicrohttpd's own refusal of a bad pair was */
        goto fail;
    }
    if ((e = rate_new(&cfg->rate, &f->rate, why, whylen)) != STS_OK)
        goto fail;
    if (pthread_create(&f->reaper, NULL, reaper, f) != 0) {
        e = STS_EIO;
        snprintf(why, whylen, "cannot start the connection deadline thread");
        goto fail;
    }
    f->reaper_started = true;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    flags |=
        cfg->threads ? MHD_USE_EPOLL | MHD_USE_TURBO : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if (cfg->suspend)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
#define OPT(o, v, p) (opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
    if (tls) {
        OPT(MHD_OPTION_HTTPS_CERT_CALLBACK, 0, front_tls_callback());
    }
    if (cfg->threads > 1)
        OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit ? cfg->connection_limit : 4096, NULL);
    if (cfg->per_client_limit)
        OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_client_limit, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s ? cfg->idle_timeout_s : 30, NULL);
    OPT(MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL);
    if (cfg->memory_limit)
        OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->memory_limit, NULL);
    if (cfg->use_listen_fd)
        OPT(MHD_OPTION_LISTEN_SOCKET, cfg->listen_fd, NULL);
    else
        OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    *tried = true;
    f->daemon = MHD_start_daemon(flags, 0, NULL, NULL, dispatch, f, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_request_line, f,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, f, MHD_OPTION_END);
    if (!f->daemon) {
        snprintf(why, whylen,
                 tls ? "cannot listen on %s (address in use, or the TLS "
                       "certificate and key unusable or not a pair?)"
                     : "cannot listen on %s (address in use or not available?)",
                 cfg->listen);
        e = STS_ENET;
        goto fail;
    }
    *out = f;
    return STS_OK;
fail:
    front_free(f);
    return e;
}

enum sts_err front_start(const struct front_config *cfg, struct front **out, char *why,
                         size_t whylen)
{
    bool tried = false;
    enum sts_err e = start(cfg, out, why, whylen, &tried);
    if (e != STS_OK && cfg->use_listen_fd && !tried)
        close(cfg->listen_fd);
    return e;
}

uint16_t front_port(const struct front *f)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void front_get_counters(struct front *f, struct front_counters *out)
{
    out->refused_framing = atomic_load(&f->refused_framing);
    out->deadline_closed = atomic_load(&f->deadline_closed);
    out->rate_limited = atomic_load(&f->rate_limited);
}

void front_quiesce(struct front *f)
{
    /* libmicrohttpd hands the socket back once (MHD_INVALID_SOCKET after). */
    MHD_socket s = MHD_quiesce_daemon(f->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

bool front_drain(struct front *f, unsigned timeout_ms)
{
    front_quiesce(f);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (unsigned waited = 0; atomic_load(&f->active) > 0; waited += 10) {
        if (waited >= timeout_ms)
            return false;
        nanosleep(&tick, NULL);
    }
    return true;
}

void front_stop(struct front *f)
{
    if (!f)
        return;
    MHD_stop_daemon(f->daemon);
    front_free(f);
}
