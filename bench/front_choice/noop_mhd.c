/* No-op server on libmicrohttpd, for bench/front_choice.sh: POST /v1/reports
 * gets 202 and a small JSON body, anything else 404 in JSON, a body over
 * 8 KiB (the collector's cap, STS_REPORT_MAX_BODY) 413 in JSON. Default daemon settings,
 * one internal polling thread. Usage: noop_mhd PORT. Runs until SIGTERM. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (8192)

static const char ACCEPTED[] = "{\"status\":\"accepted\"}";
static const char NOT_FOUND[] = "{\"error\":\"not_found\"}";
static const char TOO_LARGE[] = "{\"error\":\"too_large\",\"field\":\"body\"}";

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body,
                              size_t len, bool mark)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    /* Marks answers to requests passed through (see framing.py --survey);
     * the 413 is this program's refusal, not one. */
    if (mark)
        MHD_add_response_header(r, "X-Noop", "1");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        /* The first call has the head only; the body comes next. */
        *con_cls = calloc(1, sizeof(size_t));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    size_t *seen = *con_cls;
    if (*upload_size != 0) {
        *seen += *upload_size;
        *upload_size = 0;
        if (*seen > MAX_BODY)
            return answer(c, 413, TOO_LARGE, sizeof TOO_LARGE - 1, false);
        return MHD_YES;
    }
    if (*seen > MAX_BODY)
        return MHD_YES; /* already answered */
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/reports") == 0)
        return answer(c, 202, ACCEPTED, sizeof ACCEPTED - 1, true);
    return answer(c, 404, NOT_FOUND, sizeof NOT_FOUND - 1, true);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    sigset_t set;
    int sig;
    long port;
    char *end;

    if (argc != 2 || (port = strtol(argv[1], &end, 10)) < 1 || port > 65535 || *end != '\0') {
        fprintf(stderr, "usage: noop_mhd PORT\n");
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, handle, NULL,
        MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "noop_mhd: cannot start on port %ld\n", port);
        return 1;
    }
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
