/* No-op server on the project's own HTTP front (front/front.h), for
 * bench/front_choice.sh: POST /v1/reports gets 202 and a small JSON body,
 * anything else 404 in JSON; the front answers framing refusals itself.
 * Usage: bench_front_noop PORT. Runs until SIGTERM or SIGINT. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"
#include "sts/report.h"

static const char ACCEPTED[] = "{\"status\":\"accepted\"}";
static const char NOT_FOUND[] = "{\"error\":\"not_found\"}";
/* Marks answers that come from this handler, so that the framing survey
 * can tell a request passed through from one refused by the front. */
static const char MARK[] = "X-Noop: 1\r\n";

static void handle(void *cls, struct front_req *r)
{
    size_t len;
    bool too_big;

    (void)cls;
    (void)front_req_body(r, &len, &too_big);
    if (too_big) {
        (void)front_send_refusal(r, 413, "too_large", "body", "body over the cap");
        return;
    }
    if (strcmp(front_req_method(r), "POST") == 0 && strcmp(front_req_path(r), "/v1/reports") == 0)
        (void)front_send(r, 202, "application/json", ACCEPTED, sizeof ACCEPTED - 1, MARK, 0);
    else
        (void)front_send(r, 404, "application/json", NOT_FOUND, sizeof NOT_FOUND - 1, MARK, 0);
}

int main(int argc, char **argv)
{
    char listen[64], why[256];
    struct front_config cfg = {0};
    struct front *f = NULL;
    sigset_t set;
    int sig;
    long port;
    char *end;

    if (argc != 2) {
        fprintf(stderr, "usage: bench_front_noop PORT\n");
        return 2;
    }
    port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "bench_front_noop: bad port %s\n", argv[1]);
        return 2;
    }
    snprintf(listen, sizeof listen, "127.0.0.1:%ld", port);
    /* Signals are taken by sigwait here, not by the server's threads. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    cfg.listen = listen;
    cfg.max_body = STS_REPORT_MAX_BODY; /* the collector's */
    cfg.handler = handle;
    if (front_start(&cfg, &f, why, sizeof why) != STS_OK) {
        fprintf(stderr, "bench_front_noop: %s\n", why);
        return 1;
    }
    sigwait(&set, &sig);
    front_stop(f);
    return 0;
}
