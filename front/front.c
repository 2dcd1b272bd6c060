/* The shared HTTP front (see front.h): a few event threads, each with its
 * own epoll set and its own connections, all accepting from one listening
 * socket. A connection is a small state machine: TLS handshake, idle
 * between requests, head, body, waiting for its handler's answer, writing
 * it, and a lingering close (the write side shut, what the client still
 * sends read and dropped for a moment) so that a refused client reads its
 * answer rather than a reset. Each state has an absolute deadline, checked
 * by the connection's thread a few times a second: no byte a client sends
 * moves it. One request per connection is in flight at a time; pipelined
 * requests wait in the input buffer until the previous answer has left. */
#define _GNU_SOURCE /* accept4 */
#include "front.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include "http1.h"
#include "listen.h"
#include "sts/hashmap.h"
#include "sts/net.h"
#include "tls.h"

/* A connection's input buffer: a head (HTTP1_HEAD_MAX at most) and room
 * to read the body or the next request behind it. */
#define CONN_IN       8192
#define LINGER_MS     2000
#define TICK_MS       200
#define ACCEPT_BURST  64
#define CLIENTS_MAX   65536
#define DEFAULT_BODY  (64 * 1024)
#define FIRST_CHUNKED 2048

/* Answers are counted by status among these; any other is "other". */
static const unsigned counted_status[] = {200, 202, 400, 401, 403, 404, 405, 408, 413,
                                          415, 429, 431, 500, 501, 502, 503, 504};
#define N_STATUS (sizeof counted_status / sizeof counted_status[0])

struct front_metrics {
    struct metric *status[N_STATUS + 1]; /* the last: other */
    struct metric *open, *rate_limited, *refused_framing, *deadline_closed;
};

enum cstate {
    C_HANDSHAKE, /* TLS */
    C_IDLE,      /* kept alive, no byte of the next request yet */
    C_HEAD,
    C_BODY,
    C_PENDING, /* with the handler */
    C_WRITE,   /* the answer leaving */
    C_LINGER,
};

struct conn;

struct front_req {
    struct conn *c;
    struct http1_head head;
    char *path, *query; /* in the connection's buffer */
    char *args;         /* the decoded query: key NUL value NUL ..., malloc'ed */
    size_t args_len;
    char *body;
    size_t body_len;
    bool too_big;
    atomic_int phase; /* PH_*: who answers, the handler's thread or another */
    /* The answer, from front_send until the connection's thread writes it. */
    unsigned status;
    bool close, abort;
    char *ans; /* type NUL headers NUL body, malloc'ed */
    size_t type_len, headers_len, ans_body_len;
    bool has_type;
    struct front_req *qnext;
};

/* A request's answer may come from the handler, while the connection's
 * thread is still in it, or later from any thread: the first to move the
 * phase decides which of the two writes it out. */
enum { PH_HANDLER, PH_EARLY, PH_WAITING };

struct loop {
    struct front *f;
    int ep, wake;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;   /* done */
    struct front_req *done; /* answered from other threads */
    struct conn *conns;
    long long stop_by;   /* once stopping: the last moment answers may leave */
    long long accept_at; /* out of descriptors: not accepting until then */
    char date[48];       /* "Date: ...\r\n", redone each second */
    time_t date_s;
};

struct conn {
    struct loop *loop;
    struct conn *prev, *next;
    int fd;
    SSL *ssl;
    bool ssl_wants_write;
    struct sockaddr_storage sa;
    uint8_t addr[16];
    bool counted; /* in the per-client table */
    enum cstate state;
    long long deadline;
    char *in;
    size_t in_len, in_pos; /* in_pos: end of the current request's head */
    /* the body */
    bool chunked, dropping;
    uint64_t left; /* Content-Length bytes still to come */
    struct http1_chunked ck;
    size_t seen, body_cap;
    unsigned rate_wait; /* answer 429 once the body is in */
    bool in_request;    /* counted in front.active */
    struct front_req req;
    /* the answer */
    char *out;
    size_t out_len, out_off, out_cap;
    bool close_after;
    bool quick_close; /* the client asked to close and its request was read whole */
    uint32_t events;
    bool dead;     /* the socket is gone while the handler still holds req */
    bool gone;     /* freed but for this struct, still in use up the stack */
    unsigned busy; /* calls into c up the stack (see conn_enter) */
    size_t linger_seen;
};

struct front {
    front_handler_fn handler;
    void *cls;
    int listen_fd;
    uint16_t port;
    long long header_ms, body_ms, idle_ms;
    size_t max_body;
    bool tls;
    unsigned connection_limit, per_client_limit;
    atomic_uint open;
    atomic_bool quiesced, stopping;
    pthread_mutex_t clients_lock;
    struct sts_hashmap *clients; /* address -> open connections */
    struct rate_table *rate;
    atomic_ullong refused_framing, deadline_closed, rate_limited;
    atomic_uint active; /* requests whose head is in, their answer not yet out */
    struct front_metrics m;
    unsigned nloops;
    struct loop *loops;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

static void count_status(struct front_metrics *fm, unsigned status)
{
    size_t i = 0;
    while (i < N_STATUS && counted_status[i] != status)
        i++;
    metric_add(fm->status[i], 1);
}

static const char *reason(unsigned status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
        return status < 300   ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Error"
                              : "Server Error";
    }
}

char *front_error_json(const char *kind, const char *field, const char *detail)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "error", kind, "field", field, "detail", detail);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

void front_wipe_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}

/* ---- per-client connection counts ---- */

/* The table never forgets an address by itself: when it is full, the
 * addresses with no connection open are dropped and the rest put back. */
static void clients_compact(struct front *f)
{
    size_t n = sts_hashmap_count(f->clients), kept = 0;
    struct keep {
        uint8_t a[16];
        unsigned count;
    } *k = malloc(n * sizeof *k);
    if (!k)
        return;
    for (size_t i = 0; i < n; i++) {
        const void *key;
        unsigned *count = sts_hashmap_at(f->clients, i, &key, NULL);
        if (*count) {
            memcpy(k[kept].a, key, 16);
            k[kept++].count = *count;
        }
    }
    sts_hashmap_clear(f->clients);
    for (size_t i = 0; i < kept; i++) {
        void *v;
        if (sts_hashmap_put(f->clients, k[i].a, 16, &v, NULL) == STS_OK)
            *(unsigned *)v = k[i].count;
    }
    free(k);
}

/* Whether the client at c->addr may open one more connection. */
static bool client_enter(struct front *f, struct conn *c)
{
    if (!f->per_client_limit)
        return true;
    pthread_mutex_lock(&f->clients_lock);
    void *v = NULL;
    if (sts_hashmap_put(f->clients, c->addr, 16, &v, NULL) == STS_ETOOBIG) {
        clients_compact(f);
        sts_hashmap_put(f->clients, c->addr, 16, &v, NULL);
    }
    bool ok = v && *(unsigned *)v < f->per_client_limit;
    if (ok) {
        (*(unsigned *)v)++;
        c->counted = true;
    }
    pthread_mutex_unlock(&f->clients_lock);
    return ok;
}

static void client_leave(struct front *f, struct conn *c)
{
    if (!c->counted)
        return;
    pthread_mutex_lock(&f->clients_lock);
    unsigned *v = sts_hashmap_get(f->clients, c->addr, 16);
    if (v && *v)
        (*v)--;
    pthread_mutex_unlock(&f->clients_lock);
    c->counted = false;
}

/* ---- connections ---- */

static void conn_arm(struct conn *c)
{
    if (c->dead || c->fd < 0)
        return;
    uint32_t ev = 0;
    bool writing = c->out_off < c->out_len;
    switch (c->state) {
    case C_HANDSHAKE: ev = c->ssl_wants_write ? EPOLLOUT : EPOLLIN; break;
    case C_IDLE:
    case C_HEAD:
    case C_BODY:
    case C_LINGER: ev = EPOLLIN; break;
    case C_PENDING:
    case C_WRITE:
        /* Left as it is: a client sends nothing while it waits for its
         * answer, and turning reads off and on for every request costs two
         * system calls. If it does send (pipelining), conn_event turns
         * them off then. */
        ev = c->events & EPOLLIN;
        break;
    }
    if (writing || c->ssl_wants_write)
        ev |= EPOLLOUT;
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

static void req_reset(struct front_req *r)
{
    free(r->args);
    free(r->ans);
    if (r->body) {
        OPENSSL_cleanse(r->body, r->body_len);
        free(r->body);
    }
    struct conn *c = r->c;
    memset(r, 0, sizeof *r);
    r->c = c;
}

static void request_over(struct conn *c)
{
    if (c->in_request) {
        c->in_request = false;
        atomic_fetch_sub(&c->loop->f->active, 1);
    }
}

static void conn_free(struct conn *c)
{
    if (c->gone)
        return;
    struct front *f = c->loop->f;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    client_leave(f, c);
    request_over(c);
    req_reset(&c->req);
    if (c->in) {
        OPENSSL_cleanse(c->in, c->in_len);
        free(c->in);
    }
    if (c->out) {
        OPENSSL_cleanse(c->out, c->out_len);
        free(c->out);
    }
    atomic_fetch_sub(&f->open, 1);
    metric_add(f->m.open, -1);
    c->gone = true;
    c->fd = -1;
    c->ssl = NULL;
    c->in = c->out = NULL;
    if (!c->busy)
        free(c);
}

/* Every event for c goes between conn_enter and conn_leave, so that a
 * connection closed deep inside one (an answer written, the next request
 * refused) is freed only once nothing up the stack looks at it. */
static void conn_enter(struct conn *c)
{
    c->busy++;
}

static void conn_leave(struct conn *c)
{
    if (--c->busy == 0 && c->gone)
        free(c);
}

static void conn_unlink(struct conn *c)
{
    struct loop *l = c->loop;
    if (c->prev)
        c->prev->next = c->next;
    else if (l->conns == c)
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Closes c; if its handler still holds the request, the rest waits for the
 * answer. */
static void conn_close(struct conn *c)
{
    if (c->gone || c->dead)
        return;
    conn_unlink(c);
    if (c->state == C_PENDING) {
        if (c->ssl) {
            SSL_free(c->ssl);
            c->ssl = NULL;
        }
        close(c->fd);
        c->fd = -1;
        c->dead = true;
        return;
    }
    conn_free(c);
}

/* One read (send false) or write on c. Returns the bytes moved, -1 when it
 * would block (or TLS wants the other direction first), 0 at the end of
 * the stream or on an error. */
static ssize_t conn_io(struct conn *c, char *buf, size_t n, bool send_)
{
    if (!c->ssl) {
        ssize_t r = send_ ? send(c->fd, buf, n, MSG_NOSIGNAL) : recv(c->fd, buf, n, 0);
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : 0;
        return r;
    }
    int len = (int)(n > 1 << 30 ? 1 << 30 : n);
    int r = send_ ? SSL_write(c->ssl, buf, len) : SSL_read(c->ssl, buf, len);
    if (r > 0)
        return r;
    int err = SSL_get_error(c->ssl, r);
    c->ssl_wants_write = err == SSL_ERROR_WANT_WRITE;
    ERR_clear_error();
    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? -1 : 0;
}

static bool out_reserve(struct conn *c, size_t more)
{
    if (c->out_len + more <= c->out_cap)
        return true;
    size_t cap = c->out_cap ? c->out_cap : 512;
    while (cap < c->out_len + more)
        cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p)
        return false;
    c->out = p;
    c->out_cap = cap;
    return true;
}

static bool out_put(struct conn *c, const void *data, size_t n)
{
    if (!out_reserve(c, n))
        return false;
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    return true;
}

static const char *date_line(struct loop *l)
{
    time_t t = time(NULL);
    if (t != l->date_s) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(l->date, sizeof l->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        l->date_s = t;
    }
    return l->date;
}

/* Appends the decimal digits of v. */
static bool out_uint(struct conn *c, unsigned long long v)
{
    char d[20];
    size_t n = 0;
    do
        d[sizeof d - ++n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return out_put(c, d + sizeof d - n, n);
}

static bool out_str(struct conn *c, const char *s)
{
    return out_put(c, s, strlen(s));
}

/* The longest Content-Type an answer carries (a relay passes its gateway's
 * on, bounded there too). */
#define TYPE_MAX 512

/* Formats an answer into c's output, piece by piece: one snprintf of the
 * whole head cost more than the rest of the answer (callgrind: about 3,000
 * instructions per report). Returns false when out of memory or when type
 * is longer than TYPE_MAX. */
static bool out_answer(struct conn *c, unsigned status, const char *type, const char *headers,
                       const char *body, size_t len, bool close, unsigned retry_after,
                       bool head_only)
{
    if (type && strlen(type) > TYPE_MAX)
        return false;
    /* An HTTP/1.0 client keeps the connection only if told so. */
    const char *conn = close                 ? "Connection: close\r\n"
                       : !c->req.head.http11 ? "Connection: keep-alive\r\n"
                                             : "";
    /* A 204 has no body and must not say Content-Length (RFC 9110 section
     * 8.6): a relay passes on whatever status its gateway answered. */
    bool bodiless = status == 204;
    bool ok =
        out_str(c, "HTTP/1.1 ") && out_uint(c, status) && out_put(c, " ", 1) &&
        out_str(c, reason(status)) && out_put(c, "\r\n", 2) && out_str(c, date_line(c->loop)) &&
        (bodiless || (out_str(c, "Content-Length: ") && out_uint(c, len) && out_put(c, "\r\n", 2)));
    if (ok && type)
        ok = out_str(c, "Content-Type: ") && out_str(c, type) && out_put(c, "\r\n", 2);
    if (ok && (status == 503 || status == 429))
        ok = out_str(c, "Retry-After: ") && out_uint(c, retry_after ? retry_after : 1) &&
             out_put(c, "\r\n", 2);
    if (ok && status == 401)
        ok = out_str(c, "WWW-Authenticate: Bearer\r\n");
    if (ok && headers)
        ok = out_str(c, headers);
    ok = ok && out_str(c, conn) && out_put(c, "\r\n", 2);
    return ok && (head_only || bodiless || out_put(c, body, len));
}

static void conn_process(struct conn *c);
static void conn_flush(struct conn *c);
static void conn_readable(struct conn *c);

/* An answer formatted into c's output: counted, then written out. */
static void conn_write_answer(struct conn *c, unsigned status, bool close)
{
    struct front *f = c->loop->f;
    count_status(&f->m, status);
    c->close_after = close;
    c->state = C_WRITE;
    c->deadline = now_ms() + f->header_ms;
    conn_flush(c);
}

/* An error answered by the front itself (framing, rate, deadline). */
static void front_answer_error(struct conn *c, unsigned status, const char *kind, const char *field,
                               const char *detail, bool close, unsigned retry_after)
{
    char *s = front_error_json(kind, field, detail);
    if (!s ||
        !out_answer(c, status, "application/json", NULL, s, strlen(s), close, retry_after, false)) {
        free(s);
        conn_close(c);
        return;
    }
    free(s);
    conn_write_answer(c, status, close);
}

static void conn_linger(struct conn *c)
{
    if (c->ssl)
        SSL_shutdown(c->ssl); /* close_notify; the answer before it is out */
    ERR_clear_error();
    shutdown(c->fd, SHUT_WR);
    c->state = C_LINGER;
    c->linger_seen = 0;
    c->deadline = now_ms() + LINGER_MS;
    conn_arm(c);
}

/* The answer has left: the next request, or the close. */
static void conn_next(struct conn *c)
{
    struct front *f = c->loop->f;
    request_over(c);
    c->out_len = c->out_off = 0;
    if (c->out_cap > 4 * CONN_IN) { /* a dashboard page: give it back */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    if (c->close_after || atomic_load(&f->stopping)) {
        /* A client that asked to close, with its request read to the end and
         * nothing after it, has nothing in flight that could reset the answer
         * away: closed at once, as nginx does, saving a shutdown, a wake-up
         * and a read per report sent on a connection of its own. Every other
         * close lingers. */
        int pending = 0;
        if (c->quick_close && c->in_len == c->in_pos && ioctl(c->fd, FIONREAD, &pending) == 0 &&
            pending == 0) {
            conn_close(c);
            return;
        }
        conn_linger(c);
        return;
    }
    /* The request's bytes go; pipelined ones move to the front. */
    memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
    c->in_len -= c->in_pos;
    c->in_pos = 0;
    req_reset(&c->req);
    c->rate_wait = 0;
    c->state = c->in_len ? C_HEAD : C_IDLE;
    c->deadline = now_ms() + (c->in_len ? f->header_ms : f->idle_ms);
    conn_arm(c);
    if (c->in_len)
        conn_process(c);
    else if (c->ssl && SSL_pending(c->ssl) > 0)
        conn_readable(c); /* already decrypted: epoll would not tell */
}

static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = conn_io(c, c->out + c->out_off, c->out_len - c->out_off, true);
        if (n < 0) {
            conn_arm(c);
            return;
        }
        if (n == 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->ssl_wants_write = false;
    if (c->state == C_WRITE)
        conn_next(c);
    else
        conn_arm(c); /* a 100 Continue went out: keep reading */
}

/* The handler's answer, on the connection's thread. */
static void conn_answered(struct conn *c)
{
    struct front *f = c->loop->f;
    struct front_req *r = &c->req;
    if (c->dead) {
        conn_free(c);
        return;
    }
    if (r->abort) {
        conn_close(c);
        return;
    }
    const char *type = r->has_type ? r->ans : NULL;
    const char *headers = r->headers_len ? r->ans + r->type_len + 1 : NULL;
    const char *body = r->ans + r->type_len + 1 + r->headers_len + 1;
    /* c->close_after: the front has left part of the body unread. */
    bool close = r->close || c->close_after || r->head.close || atomic_load(&f->quiesced);
    c->quick_close = r->head.close && !c->close_after && !c->ssl;
    if (!out_answer(c, r->status, type, headers, body, r->ans_body_len, close, 0,
                    strcmp(r->head.method, "HEAD") == 0)) {
        conn_close(c);
        return;
    }
    conn_write_answer(c, r->status, close);
}

/* The body is in (or refused): to the handler, or a 429. */
static void conn_dispatch(struct conn *c)
{
    struct front *f = c->loop->f;
    struct front_req *r = &c->req;
    if (c->rate_wait) {
        atomic_fetch_add(&f->rate_limited, 1);
        metric_add(f->m.rate_limited, 1);
        front_answer_error(c, 429, "too_many_requests", "client",
                           "too many requests from this address; retry later",
                           r->too_big || c->dropping, c->rate_wait);
        return;
    }
    c->state = C_PENDING;
    c->deadline = 0;
    conn_arm(c);
    atomic_store(&r->phase, PH_HANDLER);
    f->handler(f->cls, r);
    int expected = PH_HANDLER;
    if (!atomic_compare_exchange_strong(&r->phase, &expected, PH_WAITING))
        conn_answered(c); /* answered already (PH_EARLY) */
}

/* Body bytes at c->in[c->in_pos..): taken, or dropped past the cap. */
static bool body_take(struct conn *c, const char *data, size_t n)
{
    struct front_req *r = &c->req;
    c->seen += n;
    if (c->dropping)
        return true;
    if (n > c->body_cap - r->body_len) {
        if (r->body_len + n > c->loop->f->max_body) {
            c->dropping = true;
            r->too_big = true;
            OPENSSL_cleanse(r->body, r->body_len);
            r->body_len = 0;
            return true;
        }
        size_t cap = c->body_cap * 2;
        while (cap < r->body_len + n)
            cap *= 2;
        if (cap > c->loop->f->max_body)
            cap = c->loop->f->max_body;
        char *p = realloc(r->body, cap + 1);
        if (!p)
            return false;
        r->body = p;
        c->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return true;
}

/* Consumes what the input buffer holds of the body. */
static void body_read(struct conn *c)
{
    struct front *f = c->loop->f;
    for (;;) {
        size_t avail = c->in_len - c->in_pos;
        char *p = c->in + c->in_pos;
        size_t used = 0;
        bool done = false;
        if (!c->chunked) {
            used = avail < c->left ? avail : (size_t)c->left;
            if (!body_take(c, p, used)) {
                conn_close(c);
                return;
            }
            c->left -= used;
            done = c->left == 0;
        } else {
            size_t doff, dlen;
            struct http1_refusal why;
            enum http1_result res = http1_chunked_read(&c->ck, p, avail, &used, &doff, &dlen, &why);
            if (res == HTTP1_REFUSED) {
                atomic_fetch_add(&f->refused_framing, 1);
                metric_add(f->m.refused_framing, 1);
                front_answer_error(c, why.status, why.status == 400 ? "bad_request" : "too_large",
                                   why.field, why.detail, true, 0);
                return;
            }
            if (dlen && !body_take(c, p + doff, dlen)) {
                conn_close(c);
                return;
            }
            done = res == HTTP1_DONE;
        }
        /* Body bytes leave the buffer: the head stays before them. */
        memmove(p, p + used, avail - used);
        c->in_len -= used;
        if (done) {
            if (c->req.body)
                c->req.body[c->req.body_len] = '\0';
            conn_dispatch(c);
            return;
        }
        if (c->seen > FRONT_DRAIN_MAX) {
            c->req.too_big = true;
            c->dropping = true;
            c->close_after = true;
            conn_dispatch(c);
            return;
        }
        if (used == 0 || c->in_len == c->in_pos)
            return;
    }
}

/* A complete head: the request's fields, then its body. */
static void head_done(struct conn *c)
{
    struct front *f = c->loop->f;
    struct front_req *r = &c->req;
    struct http1_head *h = &r->head;
    c->in_pos = h->head_len;
    c->in_request = true;
    atomic_fetch_add(&f->active, 1);
    r->path = (char *)h->target;
    char *q = strchr(r->path, '?');
    if (q) {
        *q = '\0';
        r->query = q + 1;
    }
    c->rate_wait = rate_take(f->rate, (const struct sockaddr *)&c->sa, now_ms());
    c->chunked = h->chunked;
    c->left = h->has_length ? h->length : 0;
    c->seen = 0;
    c->dropping = false;
    memset(&c->ck, 0, sizeof c->ck);
    bool body = c->chunked || c->left > 0;
    if (!body) {
        conn_dispatch(c);
        return;
    }
    bool too_big = h->has_length && h->length > f->max_body;
    if (too_big) {
        c->dropping = true;
        r->too_big = true;
        /* Answered without reading what is far too large or not sent yet. */
        if (h->length > FRONT_DRAIN_MAX || (h->expect_continue && c->in_len == c->in_pos)) {
            c->close_after = true;
            r->close = true;
            conn_dispatch(c);
            return;
        }
    } else {
        c->body_cap = c->chunked ? FIRST_CHUNKED : (size_t)h->length;
        if (c->body_cap > f->max_body)
            c->body_cap = f->max_body;
        if (!(r->body = malloc(c->body_cap + 1))) {
            conn_close(c);
            return;
        }
    }
    c->state = C_BODY;
    c->deadline = now_ms() + f->body_ms;
    if (h->expect_continue && h->http11 && c->in_len == c->in_pos) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!out_put(c, cont, sizeof cont - 1)) {
            conn_close(c);
            return;
        }
        conn_flush(c);
        return;
    }
    conn_arm(c);
    body_read(c);
}

/* Works through what the input buffer holds. */
static void conn_process(struct conn *c)
{
    struct front *f = c->loop->f;
    if (c->state == C_IDLE && c->in_len) {
        c->state = C_HEAD;
        c->deadline = now_ms() + f->header_ms;
    }
    if (c->state == C_HEAD) {
        struct http1_refusal why;
        enum http1_result res = http1_parse_head(c->in, c->in_len, &c->req.head, &why);
        if (res == HTTP1_MORE)
            return;
        if (res == HTTP1_REFUSED) {
            atomic_fetch_add(&f->refused_framing, 1);
            metric_add(f->m.refused_framing, 1);
            front_answer_error(c, why.status,
                               why.status == 414 || why.status == 431   ? "too_large"
                               : why.status == 505 || why.status == 501 ? "unsupported"
                                                                        : "bad_request",
                               why.field, why.detail, true, 0);
            return;
        }
        head_done(c);
        return;
    }
    if (c->state == C_BODY)
        body_read(c);
}

static void conn_readable(struct conn *c)
{
    if (c->state == C_LINGER) {
        char sink[16384];
        ssize_t n = c->fd >= 0 ? recv(c->fd, sink, sizeof sink, 0) : 0;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0 || (c->linger_seen += (size_t)n) > FRONT_DRAIN_MAX)
            conn_close(c);
        return;
    }
again:
    if (c->in_len == CONN_IN) /* a head can't fill it (HTTP1_HEAD_MAX) */
        return;
    ssize_t n = conn_io(c, c->in + c->in_len, CONN_IN - c->in_len, false);
    if (n < 0) {
        conn_arm(c);
        return;
    }
    if (n == 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    conn_process(c);
    /* What OpenSSL has decrypted but not handed over is not on the socket
     * any more, so epoll would not tell: take it while the request reads. */
    if (!c->gone && c->ssl && SSL_pending(c->ssl) > 0 &&
        (c->state == C_IDLE || c->state == C_HEAD || c->state == C_BODY))
        goto again;
}

static void conn_handshake(struct conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->ssl_wants_write = false;
        c->state = C_HEAD; /* the header deadline from the start goes on */
        conn_arm(c);
        conn_readable(c); /* the first request may be in the handshake's last read */
        return;
    }
    int err = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        conn_close(c);
        return;
    }
    c->ssl_wants_write = err == SSL_ERROR_WANT_WRITE;
    conn_arm(c);
}

static void conn_event(struct conn *c, uint32_t ev)
{
    if (c->state == C_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if ((ev & (EPOLLERR | EPOLLHUP)) && !(ev & EPOLLIN)) {
        conn_close(c);
        return;
    }
    if ((ev & EPOLLOUT) && c->out_off < c->out_len) {
        conn_flush(c);
        return; /* c may be gone */
    }
    if ((ev & EPOLLOUT) && c->ssl_wants_write) {
        c->ssl_wants_write = false;
        conn_readable(c); /* the read that wanted to write */
        return;
    }
    if (!(ev & EPOLLIN))
        return;
    if (c->state == C_PENDING || c->state == C_WRITE) {
        /* Pipelined bytes wait in the socket until the answer is out. */
        struct epoll_event e = {.events = c->events & ~(uint32_t)EPOLLIN, .data.ptr = c};
        epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, c->fd, &e);
        c->events = e.events;
        return;
    }
    conn_readable(c);
}

static void loop_accept(struct loop *l)
{
    struct front *f = l->f;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(f->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The deadlines free descriptors. Until the next tick the
                 * socket leaves this loop's epoll set, since the waiting
                 * connection keeps it readable and the loop would spin. */
                epoll_ctl(l->ep, EPOLL_CTL_DEL, f->listen_fd, NULL);
                l->accept_at = now_ms() + TICK_MS;
                return;
            }
            /* quiesced: the socket is shut down */
            epoll_ctl(l->ep, EPOLL_CTL_DEL, f->listen_fd, NULL);
            return;
        }
        if (atomic_load(&f->open) >= f->connection_limit || atomic_load(&f->quiesced)) {
            close(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c || !(c->in = malloc(CONN_IN))) {
            free(c);
            close(fd);
            continue;
        }
        c->loop = l;
        c->fd = fd;
        c->req.c = c;
        c->sa = ss;
        rate_client_key((const struct sockaddr *)&ss, c->addr);
        atomic_fetch_add(&f->open, 1);
        metric_add(f->m.open, 1);
        if (!client_enter(f, c)) {
            conn_free(c);
            continue;
        }
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        c->state = C_HEAD;
        if (f->tls) {
            SSL_CTX *ctx = front_tls_context();
            c->ssl = ctx ? SSL_new(ctx) : NULL;
            SSL_CTX_free(ctx); /* the SSL holds its own reference */
            if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
                conn_free(c);
                continue;
            }
            SSL_set_accept_state(c->ssl);
            c->state = C_HANDSHAKE;
        }
        c->deadline = now_ms() + f->header_ms;
        c->events = EPOLLIN;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            conn_free(c);
            continue;
        }
        c->next = l->conns;
        if (l->conns)
            l->conns->prev = c;
        l->conns = c;
    }
}

/* Connections past their deadline: a request half in gets a 408, an idle
 * or lingering connection is simply closed. */
static void loop_sweep(struct loop *l)
{
    struct front *f = l->f;
    long long now = now_ms();
    for (struct conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        if (!c->deadline || now <= c->deadline)
            continue;
        atomic_fetch_add(&f->deadline_closed, 1);
        metric_add(f->m.deadline_closed, 1);
        conn_enter(c);
        if ((c->state == C_HEAD && c->in_len) || c->state == C_BODY) {
            c->in_pos = c->in_len; /* nothing of it is read any more */
            front_answer_error(c, 408, "timeout", c->state == C_BODY ? "body" : "header",
                               c->state == C_BODY ? "the body did not arrive in time"
                                                  : "the request's headers did not arrive in time",
                               true, 0);
        } else {
            conn_close(c);
        }
        conn_leave(c);
    }
}

static void loop_done(struct loop *l)
{
    uint64_t v;
    while (read(l->wake, &v, sizeof v) > 0) {
    }
    pthread_mutex_lock(&l->lock);
    struct front_req *list = l->done;
    l->done = NULL;
    pthread_mutex_unlock(&l->lock);
    while (list) {
        struct front_req *r = list;
        list = r->qnext;
        struct conn *c = r->c;
        conn_enter(c);
        conn_answered(c);
        conn_leave(c);
    }
}

static void *loop_run(void *arg)
{
    prctl(PR_SET_NAME, "sts-http"); /* for top -H and /proc: which thread is busy */
    struct loop *l = arg;
    struct front *f = l->f;
    struct epoll_event evs[64];
    long long last_sweep = now_ms();
    for (;;) {
        if (atomic_load(&f->stopping)) {
            /* Answers already written out get a moment to leave. */
            long long now = now_ms();
            if (!l->stop_by)
                l->stop_by = now + 1000;
            pthread_mutex_lock(&l->lock);
            bool writing = l->done != NULL; /* answers not yet taken */
            pthread_mutex_unlock(&l->lock);
            for (struct conn *c = l->conns; c && !writing; c = c->next)
                writing = c->state == C_WRITE;
            if (!writing || now > l->stop_by)
                break;
        }
        int n = epoll_wait(l->ep, evs, 64, atomic_load(&f->stopping) ? 10 : TICK_MS);
        bool woken = false;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &f->listen_fd)
                loop_accept(l);
            else if (p == &l->wake)
                woken = true;
            else {
                conn_enter(p);
                conn_event(p, evs[i].events);
                conn_leave(p);
            }
        }
        /* After the batch's events: an answer may close and free any of the
         * loop's connections, and one further on in evs would then point at
         * freed memory (epoll forgets a closed descriptor only from the next
         * wait on). */
        if (woken)
            loop_done(l);
        long long now = now_ms();
        if (now - last_sweep >= TICK_MS) {
            last_sweep = now;
            loop_sweep(l);
        }
        if (l->accept_at && now >= l->accept_at) {
            l->accept_at = 0;
            struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &f->listen_fd};
            if (!atomic_load(&f->quiesced))
                epoll_ctl(l->ep, EPOLL_CTL_ADD, f->listen_fd, &le);
        }
    }
    return NULL;
}

/* ---- requests ---- */

const char *front_req_method(const struct front_req *r)
{
    return r->head.method;
}

const char *front_req_path(const struct front_req *r)
{
    return r->path;
}

const char *front_req_header(const struct front_req *r, const char *name)
{
    return http1_field(&r->head, name);
}

/* Decodes q (up to '&' or '=' when stop says so) onto out; returns the end. */
static const char *decode(const char *q, const char *stops, char **out)
{
    char *o = *out;
    for (; *q && !strchr(stops, *q); q++) {
        int hi, lo;
        if (*q == '+')
            *o++ = ' ';
        else if (*q == '%' && (hi = http1_hexval((unsigned char)q[1])) >= 0 &&
                 (lo = http1_hexval((unsigned char)q[2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            q += 2;
        } else
            *o++ = *q;
    }
    *o++ = '\0';
    *out = o;
    return q;
}

/* Decodes the query once into r->args; false when it cannot be had. */
static bool args_parse(struct front_req *r)
{
    if (r->args)
        return true;
    /* key NUL value NUL for each pair; decoding never lengthens. */
    size_t n = strlen(r->query);
    if (!(r->args = malloc(2 * n + 2)))
        return false;
    char *o = r->args;
    for (const char *q = r->query; *q;) {
        q = decode(q, "&=", &o);
        if (*q == '=')
            q = decode(q + 1, "&", &o);
        else
            *o++ = '\0';
        if (*q == '&')
            q++;
    }
    r->args_len = (size_t)(o - r->args);
    return true;
}

const char *front_req_arg(struct front_req *r, const char *name)
{
    if (!r->query || !args_parse(r))
        return NULL;
    for (const char *p = r->args; p < r->args + r->args_len;) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

enum sts_err front_req_arg_at(struct front_req *r, size_t i, const char **name, const char **value)
{
    if (!r->query)
        return STS_ENOENT;
    if (!args_parse(r))
        return STS_ENOMEM;
    for (const char *p = r->args; p < r->args + r->args_len; i--) {
        const char *v = p + strlen(p) + 1;
        if (i == 0) {
            *name = p;
            *value = v;
            return STS_OK;
        }
        p = v + strlen(v) + 1;
    }
    return STS_ENOENT;
}

char *front_req_body(struct front_req *r, size_t *len, bool *too_big)
{
    *len = r->too_big ? 0 : r->body_len;
    if (too_big)
        *too_big = r->too_big;
    return r->body ? r->body : (char *)"";
}

/* Hands the answer to the connection's thread. */
static void req_finish(struct front_req *r)
{
    int expected = PH_HANDLER;
    if (atomic_compare_exchange_strong(&r->phase, &expected, PH_EARLY))
        return; /* conn_dispatch takes it when the handler returns */
    struct loop *l = r->c->loop;
    pthread_mutex_lock(&l->lock);
    /* One wake-up per batch: a list already waiting has one on its way. */
    bool wake = !l->done;
    r->qnext = l->done;
    l->done = r;
    pthread_mutex_unlock(&l->lock);
    uint64_t one = 1;
    if (wake && write(l->wake, &one, sizeof one) < 0) {
        /* the counter is full: the thread has wake-ups pending anyway */
    }
}

enum sts_err front_send(struct front_req *r, unsigned status, const char *type, const void *body,
                        size_t len, const char *headers, unsigned flags)
{
    size_t tl = type ? strlen(type) : 0, hl = headers ? strlen(headers) : 0;
    char *a = malloc(tl + 1 + hl + 1 + len + 1);
    if (!a) {
        r->abort = true;
        req_finish(r);
        return STS_ENOMEM;
    }
    memcpy(a, type ? type : "", tl + 1);
    memcpy(a + tl + 1, headers ? headers : "", hl + 1);
    if (len)
        memcpy(a + tl + 1 + hl + 1, body, len);
    r->ans = a;
    r->has_type = type != NULL;
    r->type_len = tl;
    r->headers_len = hl;
    r->ans_body_len = len;
    r->status = status;
    r->close = r->close || (flags & FRONT_CLOSE);
    req_finish(r);
    return STS_OK;
}

void front_abort(struct front_req *r)
{
    r->abort = true;
    req_finish(r);
}

enum sts_err front_send_json(struct front_req *r, unsigned status, const char *json, size_t len,
                             const char *type, bool close)
{
    return front_send(r, status, type, json, len, NULL, close ? FRONT_CLOSE : 0);
}

static enum sts_err send_error(struct front_req *r, unsigned status, const char *kind,
                               const char *field, const char *detail, const char *allow, bool close)
{
    char *s = front_error_json(kind, field, detail);
    if (!s) {
        front_abort(r);
        return STS_ENOMEM;
    }
    char hdr[96] = "";
    if (status == 405 && allow)
        snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    enum sts_err e = front_send(r, status, "application/json", s, strlen(s), hdr[0] ? hdr : NULL,
                                close ? FRONT_CLOSE : 0);
    free(s);
    return e;
}

enum sts_err front_send_error(struct front_req *r, unsigned status, const char *kind,
                              const char *field, const char *detail, const char *allow)
{
    return send_error(r, status, kind, field, detail, allow, false);
}

enum sts_err front_send_refusal(struct front_req *r, unsigned status, const char *kind,
                                const char *field, const char *detail)
{
    return send_error(r, status, kind, field, detail, NULL, true);
}

/* ---- the server ---- */

static void front_free(struct front *f)
{
    for (unsigned i = 0; i < f->nloops; i++) {
        struct loop *l = &f->loops[i];
        if (l->started)
            pthread_join(l->thread, NULL);
    }
    for (unsigned i = 0; i < f->nloops; i++) {
        struct loop *l = &f->loops[i];
        /* Answers that came too late: their connections are still here. */
        pthread_mutex_lock(&l->lock);
        for (struct front_req *r = l->done, *next; r; r = next) {
            next = r->qnext;
            if (r->c->dead)
                conn_free(r->c);
        }
        l->done = NULL;
        pthread_mutex_unlock(&l->lock);
        while (l->conns) {
            struct conn *c = l->conns;
            conn_unlink(c);
            conn_free(c);
        }
        if (l->ep >= 0)
            close(l->ep);
        if (l->wake >= 0)
            close(l->wake);
        pthread_mutex_destroy(&l->lock);
    }
    free(f->loops);
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    rate_free(f->rate);
    sts_hashmap_free(f->clients);
    pthread_mutex_destroy(&f->clients_lock);
    free(f);
}

static enum sts_err start(const struct front_config *cfg, struct front *f, char *why, size_t whylen)
{
    enum sts_err e;
    bool tls = cfg->tls_cert_pem && cfg->tls_key_pem;
    if (!cfg->use_listen_fd) {
        if ((e = front_listen_open(cfg->listen, tls, &f->listen_fd, why, whylen)) != STS_OK)
            return e;
    }
    if (tls && (e = front_tls_set(cfg->tls_cert_pem, cfg->tls_key_pem, why, whylen)) != STS_OK)
        return e == STS_EINVAL ? STS_ENET : e;
    f->tls = tls;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(f->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        f->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    int fl = fcntl(f->listen_fd, F_GETFL);
    if (fl < 0 || fcntl(f->listen_fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        snprintf(why, whylen, "cannot listen on %s", cfg->listen);
        return STS_ENET;
    }
    if ((e = rate_new(&cfg->rate, &f->rate, why, whylen)) != STS_OK)
        return e;
    if (cfg->per_client_limit &&
        (e = sts_hashmap_new(sizeof(unsigned), CLIENTS_MAX, &f->clients)) != STS_OK) {
        snprintf(why, whylen, "cannot set up the client table");
        return e;
    }
    f->nloops = cfg->threads ? cfg->threads : 1;
    if (!(f->loops = calloc(f->nloops, sizeof *f->loops)))
        return STS_ENOMEM;
    for (unsigned i = 0; i < f->nloops; i++) {
        struct loop *l = &f->loops[i];
        l->f = f;
        l->ep = l->wake = -1;
        pthread_mutex_init(&l->lock, NULL);
    }
    for (unsigned i = 0; i < f->nloops; i++) {
        struct loop *l = &f->loops[i];
        l->ep = epoll_create1(EPOLL_CLOEXEC);
        l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->ep < 0 || l->wake < 0) {
            snprintf(why, whylen, "cannot set up the server's event loop");
            return STS_EIO;
        }
        /* Each listens: EPOLLEXCLUSIVE wakes one thread per connection. */
        struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &f->listen_fd};
        struct epoll_event we = {.events = EPOLLIN, .data.ptr = &l->wake};
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, f->listen_fd, &le) != 0 ||
            epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &we) != 0) {
            snprintf(why, whylen, "cannot set up the server's event loop");
            return STS_EIO;
        }
    }
    for (unsigned i = 0; i < f->nloops; i++) {
        if (pthread_create(&f->loops[i].thread, NULL, loop_run, &f->loops[i]) != 0) {
            atomic_store(&f->stopping, true);
            snprintf(why, whylen, "cannot start the server's threads");
            return STS_EIO;
        }
        f->loops[i].started = true;
    }
    return STS_OK;
}

enum sts_err front_start(const struct front_config *cfg, struct front **out, char *why,
                         size_t whylen)
{
    struct front *f = calloc(1, sizeof *f);
    if (!f) {
        if (cfg->use_listen_fd)
            close(cfg->listen_fd);
        return STS_ENOMEM;
    }
    f->listen_fd = cfg->use_listen_fd ? cfg->listen_fd : -1;
    pthread_mutex_init(&f->clients_lock, NULL);
    if (cfg->metrics)
        metrics_register(&f->m, cfg->metrics);
    f->handler = cfg->handler;
    f->cls = cfg->cls;
    f->header_ms = 1000LL * (cfg->header_timeout_s ? cfg->header_timeout_s : 10);
    f->body_ms = 1000LL * (cfg->body_timeout_s ? cfg->body_timeout_s : 10);
    f->idle_ms = 1000LL * (cfg->idle_timeout_s ? cfg->idle_timeout_s : 30);
    f->max_body = cfg->max_body ? cfg->max_body : DEFAULT_BODY;
    f->connection_limit = cfg->connection_limit ? cfg->connection_limit : 4096;
    f->per_client_limit = cfg->per_client_limit;
    enum sts_err e = start(cfg, f, why, whylen);
    if (e != STS_OK) {
        atomic_store(&f->stopping, true);
        front_free(f);
        return e;
    }
    *out = f;
    return STS_OK;
}

uint16_t front_port(const struct front *f)
{
    return f->port;
}

void front_get_counters(struct front *f, struct front_counters *out)
{
    out->refused_framing = atomic_load(&f->refused_framing);
    out->deadline_closed = atomic_load(&f->deadline_closed);
    out->rate_limited = atomic_load(&f->rate_limited);
}

void front_quiesce(struct front *f)
{
    /* A shut-down listening socket refuses new connections at once, and
     * wakes every thread, which then stops watching it. */
    if (!atomic_exchange(&f->quiesced, true))
        shutdown(f->listen_fd, SHUT_RDWR);
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
    front_quiesce(f);
    atomic_store(&f->stopping, true);
    for (unsigned j = 0; j < f->nloops; j++) {
        uint64_t one = 1;
        if (write(f->loops[j].wake, &one, sizeof one) < 0) {
            /* woken at its next tick anyway */
        }
    }
    front_free(f);
}
