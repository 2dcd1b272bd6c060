/* The metrics-only listener (see metrics_http.h). */
#include "metrics_http.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result metrics_http_answer(struct MHD_Connection *c, struct metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(m, &text, &len) != STS_OK)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *path,
                              const char *method, const char *upload, size_t *upload_size,
                              void **ctx)
{
    (void)upload;
    (void)upload_size;
    (void)ctx;
    if (strcmp(path, "/metrics") != 0)
        return front_send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "path",
                                "this address serves /metrics only", NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return front_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "method",
                                "use GET", "GET");
    return metrics_http_answer(c, cls);
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
