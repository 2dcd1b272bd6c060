/* The metrics-only listener (see metrics_http.h). */
#include "metrics_http.h"

#include <stdlib.h>
#include <string.h>

enum sts_err metrics_http_answer(struct front_req *r, struct metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(m, &text, &len) != STS_OK) {
        front_abort(r);
        return STS_ENOMEM;
    }
    enum sts_err e =
        front_send(r, 200, METRICS_CONTENT_TYPE, text, len, "Cache-Control: no-store\r\n", 0);
    free(text);
    return e;
}

static void handle(void *cls, struct front_req *r)
{
    if (strcmp(front_req_path(r), "/metrics") != 0)
        front_send_error(r, 404, "not_found", "path", "this address serves /metrics only", NULL);
    else if (strcmp(front_req_method(r), "GET") != 0)
        front_send_error(r, 405, "method_not_allowed", "method", "use GET", "GET");
    else
        metrics_http_answer(r, cls);
}

enum sts_err metrics_http_start(const char *listen, int listen_fd, const char *tls_cert_pem,
                                const char *tls_key_pem, struct metrics *m, struct front **out,
                                char *why, size_t whylen)
{
    struct front_config fc = {
        .listen = listen,
        .use_listen_fd = listen_fd >= 0,
        .listen_fd = listen_fd,
        .tls_cert_pem = tls_cert_pem,
        .tls_key_pem = tls_key_pem,
        .threads = 1,
        .connection_limit = 16,
        .handler = handle,
        .cls = m,
    };
    return front_start(&fc, out, why, whylen);
}
