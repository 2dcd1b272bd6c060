/* No-op server on h2o's library (libh2o-evloop), for bench/front_choice.sh:
 * POST /v1/reports gets 202 and a small JSON body, anything else 404 in
 * JSON. Default settings but the body cap, set to the collector's
 * 8 KiB (STS_REPORT_MAX_BODY). One event loop, plain HTTP/1.1. Usage: noop_h2o PORT. Runs until
 * SIGTERM (the default action). */
#include <arpa/inet.h>
#include <h2o.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char ACCEPTED[] = "{\"status\":\"accepted\"}";
static const char NOT_FOUND[] = "{\"error\":\"not_found\"}";
/* h2o_send_inline leaves the length unset (it may send a 304), which would
 * close every connection: each answer states it. */
static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;

static int handle(h2o_handler_t *self, h2o_req_t *req)
{
    int ok =
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) &&
        h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/v1/reports"));

    (void)self;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    /* Marks answers that come from this handler (see framing.py --survey). */
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-noop"), 0, NULL,
                          H2O_STRLIT("1"));
    if (ok) {
        req->res.status = 202;
        req->res.reason = "Accepted";
        req->res.content_length = sizeof ACCEPTED - 1;
        h2o_send_inline(req, ACCEPTED, sizeof ACCEPTED - 1);
    } else {
        req->res.status = 404;
        req->res.reason = "Not Found";
        req->res.content_length = sizeof NOT_FOUND - 1;
        h2o_send_inline(req, NOT_FOUND, sizeof NOT_FOUND - 1);
    }
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;

    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
        return;
    h2o_accept(&accept_ctx, sock);
}

int main(int argc, char **argv)
{
    long port;
    char *end;
    int fd, one = 1;

    if (argc != 2 || (port = strtol(argv[1], &end, 10)) < 1 || port > 65535 || *end != '\0') {
        fprintf(stderr, "usage: noop_h2o PORT\n");
        return 2;
    }
    h2o_config_init(&config);
    config.max_request_entity_size = 8192;
    h2o_hostconf_t *host =
        h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = handle;

    h2o_context_init(&ctx, h2o_evloop_create(), &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, SOMAXCONN) != 0) {
        perror("noop_h2o: listen");
        return 1;
    }
    h2o_socket_t *listener = h2o_evloop_socket_create(ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(listener, on_accept);
    while (h2o_evloop_run(ctx.loop, INT32_MAX) == 0)
        ;
    return 1;
}
