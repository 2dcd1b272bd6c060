/* No-op server on libevent's evhttp, for bench/front_choice.sh: POST
 * /v1/reports gets 202 and a small JSON body, anything else 404 in JSON.
 * Default settings but the body cap, set to the collector's 8 KiB (STS_REPORT_MAX_BODY).
 * One event loop. Usage: noop_evhttp PORT. Runs until SIGTERM. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char ACCEPTED[] = "{\"status\":\"accepted\"}";
static const char NOT_FOUND[] = "{\"error\":\"not_found\"}";

static void handle(struct evhttp_request *req, void *cls)
{
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    bool ok = evhttp_request_get_command(req) == EVHTTP_REQ_POST && path != NULL &&
              strcmp(path, "/v1/reports") == 0;

    (void)cls;
    if (out == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(h, "Content-Type", "application/json");
    /* Marks answers that come from this handler (see framing.py --survey). */
    evhttp_add_header(h, "X-Noop", "1");
    if (ok) {
        evbuffer_add(out, ACCEPTED, sizeof ACCEPTED - 1);
        evhttp_send_reply(req, 202, "Accepted", out);
    } else {
        evbuffer_add(out, NOT_FOUND, sizeof NOT_FOUND - 1);
        evhttp_send_reply(req, 404, "Not Found", out);
    }
    evbuffer_free(out);
}

static void on_signal(evutil_socket_t fd, short what, void *base)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    long port;
    char *end;

    if (argc != 2 || (port = strtol(argv[1], &end, 10)) < 1 || port > 65535 || *end != '\0') {
        fprintf(stderr, "usage: noop_evhttp PORT\n");
        return 2;
    }
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (http == NULL) {
        fprintf(stderr, "noop_evhttp: out of memory\n");
        return 1;
    }
    evhttp_set_max_body_size(http, 8192);
    evhttp_set_gencb(http, handle, NULL);
    if (evhttp_bind_socket(http, "127.0.0.1", (uint16_t)port) != 0) {
        fprintf(stderr, "noop_evhttp: cannot listen on port %ld\n", port);
        return 1;
    }
    struct event *term = evsignal_new(base, SIGTERM, on_signal, base);
    struct event *intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
