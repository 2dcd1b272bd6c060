/* sts-relay: command-line entry of the Oblivious HTTP relay (relay.h).
 * Exit: 0 ok, 1 failure, 2 usage. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"
#include "relay.h"
#include "summary.h"
#include "sts/log.h"
#include "tls.h"
#include "sts/net.h"
#include "sts/secret.h"

static const char usage_text[] =
    "usage: sts-relay --gateway URL [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE]\n"
    "                 [--ca-file FILE] [--keys-url URL] [--max-body N] [--max-connections N]\n"
    "                 [--timeout S] [--per-client-limit N] [--header-timeout S]\n"
    "                 [--body-timeout S] [--metrics-listen HOST:PORT]\n"
    "                 [--summary-interval S]\n"
    "\n"
    "Forwards Oblivious HTTP requests (POST, Content-Type: message/ohttp-req, any path)\n"
    "to the gateway URL with nothing of the client but the body, and returns the\n"
    "gateway's status, Content-Type and body. Never reads or logs client addresses.\n"
    "\n"
    "  --listen HOST:PORT    default 127.0.0.1:8443; plain HTTP only on loopback\n"
    "  --gateway URL         e.g. https://collector.example/v1/ohttp (https unless loopback)\n"
    "  --tls-cert, --tls-key PEM certificate chain and key to serve HTTPS\n"
    "  --ca-file FILE        CA certificates that verify the gateway (default: system store)\n"
    "  --keys-url URL        also serve GET /v1/ohttp-keys, fetched from URL\n"
    "  --max-body N          largest request and answer in bytes (default 65536)\n"
    "  --max-connections N   simultaneous client connections (default 1024)\n"
    "  --timeout S           seconds per forwarded request and idle connection (default 30)\n"
    "  --per-client-limit N  connections per client address (default 64 with TLS, none on "
    "loopback)\n"
    "  --header-timeout S    deadline for a request's headers, seconds (default 10)\n"
    "  --body-timeout S      deadline for a request's body, seconds (default 10)\n"
    "  --metrics-listen HOST:PORT  serve GET /metrics (Prometheus text) there (plain HTTP\n"
    "                        on loopback only, else with the relay's certificate)\n"
    "  --summary-interval S  seconds between summary lines in the log (default 60; 0 =\n"
    "                        none); the gateway failing and recovering is logged at once\n"
    "Signals: SIGHUP reloads the TLS certificate and key; SIGTERM drains and stops.\n"
    "  --help, --version\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sts-relay: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'sts-relay --help'.\n");
    return 2;
}

static bool number(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* SIGHUP: the certificate and key files read again; new handshakes get
 * them, open connections keep theirs; on failure the old pair stays. */
static void reload_tls(const char *cert, const char *key)
{
    char why[512] = "";
    char *pem = NULL;
    size_t n;
    struct sts_secret *k = NULL;
    if (!cert) {
        sts_log(STS_LOG_NOTICE, "reload (SIGHUP): nothing to reload (plain HTTP)");
        return;
    }
    enum sts_err e = sts_net_read_file(cert, 1 << 20, &pem, &n, why, sizeof why);
    if (e == STS_OK && (e = sts_secret_file_read(key, 1 << 16, &k)) != STS_OK)
        snprintf(why, sizeof why, "%s: %s", key, sts_strerror(e));
    if (e == STS_OK)
        e = front_tls_set(pem, k->data, why, sizeof why);
    free(pem);
    sts_secret_free(k);
    if (e == STS_OK)
        sts_log(STS_LOG_NOTICE, "reload (SIGHUP): TLS certificate and key: reloaded");
    else
        sts_log(STS_LOG_WARNING, "reload (SIGHUP): TLS certificate and key: kept (%s)", why);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"gateway", required_argument, NULL, 'g'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"ca-file", required_argument, NULL, 'a'},
        {"keys-url", required_argument, NULL, 'K'},
        {"max-body", required_argument, NULL, 'b'},
        {"max-connections", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'},
        {"per-client-limit", required_argument, NULL, 'p'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"body-timeout", required_argument, NULL, 'B'},
        {"metrics-listen", required_argument, NULL, 'M'},
        {"summary-interval", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct relay_config cfg = {.listen = "127.0.0.1:8443"};
    sts_log_init("sts-relay");
    const char *cert = NULL, *key = NULL, *metrics_listen = NULL;
    long v, summary_s = 60;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg.listen = optarg; break;
        case 'g': cfg.gateway = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'a': cfg.ca_file = optarg; break;
        case 'K': cfg.keys_url = optarg; break;
        case 'M': metrics_listen = optarg; break;
        case 'b':
            if (!number(optarg, 64, 16 * 1024 * 1024, &v))
                return usage_error("--max-body wants bytes in 64..16777216, not '%s'", optarg);
            cfg.max_body = (size_t)v;
            break;
        case 'm':
            if (!number(optarg, 1, 100000, &v))
                return usage_error("--max-connections wants 1..100000, not '%s'", optarg);
            cfg.max_connections = (unsigned)v;
            break;
        case 't':
            if (!number(optarg, 1, 3600, &v))
                return usage_error("--timeout wants seconds in 1..3600, not '%s'", optarg);
            cfg.timeout_s = (unsigned)v;
            break;
        case 'p':
            if (!number(optarg, 1, 100000, &v))
                return usage_error("--per-client-limit wants 1..100000, not '%s'", optarg);
            cfg.per_client_limit = (unsigned)v;
            break;
        case 'S':
            if (!number(optarg, 0, 86400, &summary_s))
                return usage_error("--summary-interval wants seconds in 0..86400, not '%s'",
                                   optarg);
            break;
        case 'H':
        case 'B':
            if (!number(optarg, 1, 3600, &v))
                return usage_error("--%s-timeout wants seconds in 1..3600, not '%s'",
                                   c == 'H' ? "header" : "body", optarg);
            *(c == 'H' ? &cfg.header_timeout_s : &cfg.body_timeout_s) = (unsigned)v;
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': printf("sts-relay %s\n", STS_VERSION); return 0;
        default: return usage_error("%s", "bad option");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!cfg.gateway)
        return usage_error("%s", "--gateway URL is required");
    if (!cert != !key)
        return usage_error("%s", "--tls-cert and --tls-key go together");

    char why[512] = "";
    char *cert_pem = NULL;
    struct sts_secret *key_pem = NULL;
    size_t n;
    struct relay *rl = NULL;
    struct metrics *metrics = NULL;
    struct front *metrics_front = NULL;
    struct relay_summary *summary = NULL;
    int rc = 1;
    sigset_t sigs;
    if (cert && sts_net_read_file(cert, 1 << 20, &cert_pem, &n, why, sizeof why) != STS_OK) {
        fprintf(stderr, "sts-relay: tls: %s\n", why);
        goto out;
    }
    /* The private key is a secret file, read as every key and token is. */
    enum sts_err ke = key ? sts_secret_file_read(key, 1 << 16, &key_pem) : STS_OK;
    if (ke != STS_OK) {
        fprintf(stderr, "sts-relay: tls: %s: %s\n", key,
                ke == STS_EPERM ? "the TLS key must be a regular file (not a link) that group "
                                  "and others cannot read; chmod 600 it"
                                : sts_strerror(ke));
        goto out;
    }
    cfg.tls_cert_pem = cert_pem;
    cfg.tls_key_pem = key_pem ? key_pem->data : NULL;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (metrics_new(&metrics) != STS_OK) {
        fprintf(stderr, "sts-relay: out of memory\n");
        goto out;
    }
    metric_set(metrics_add(metrics, METRIC_GAUGE, "sts_build_info", "the relay's version",
                           "program=\"sts-relay\",version=\"" STS_VERSION "\"", NULL, 0),
               1);
    cfg.metrics = metrics;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "sts-relay: cannot initialise libcurl\n");
        goto out;
    }
    if (relay_start(&cfg, &rl, why, sizeof why) != STS_OK) {
        fprintf(stderr, "sts-relay: %s\n", why);
        curl_global_cleanup();
        rc = strstr(why, "refusing") || strstr(why, "must be https") ? 2 : 1;
        goto out;
    }
    if (metrics_listen) {
        if (metrics_http_start(metrics_listen, -1, cert_pem, key_pem ? key_pem->data : NULL,
                               metrics, &metrics_front, why, sizeof why) != STS_OK) {
            fprintf(stderr, "sts-relay: metrics-listen: %s\n", why);
            relay_stop(rl);
            curl_global_cleanup();
            rc = strstr(why, "refusing") || strstr(why, "bad listen") ? 2 : 1;
            goto out;
        }
        fprintf(stderr, "sts-relay: metrics listening on %s://%.*s:%u/metrics\n",
                cert_pem ? "https" : "http", (int)(strrchr(metrics_listen, ':') - metrics_listen),
                metrics_listen, front_port(metrics_front));
    }
    char host[128];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(cfg.listen, ':') - cfg.listen), cfg.listen);
    fprintf(stderr, "sts-relay: listening on %s://%s:%u, forwarding to %s\n",
            cert_pem ? "https" : "http", host, relay_port(rl), cfg.gateway);
    if (relay_summary_start(metrics, summary_s, &summary) != STS_OK)
        sts_log(STS_LOG_WARNING, "cannot start the log's thread: no summaries");
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
        reload_tls(cert, key);
    /* Drain: no new connections; requests being forwarded get their answer
     * (they are bounded by the gateway timeout). */
    if (!relay_drain(rl, 1000 * (cfg.timeout_s ? cfg.timeout_s : 30) + 1000))
        sts_log(STS_LOG_WARNING, "requests still open at the drain timeout are cut");
    relay_summary_stop(summary);
    struct relay_counters k;
    relay_get_counters(rl, &k);
    front_stop(metrics_front);
    relay_stop(rl);
    curl_global_cleanup();
    fprintf(stderr,
            "sts-relay: signal %d, stopping: %llu forwarded, %llu refused, %llu gateway "
            "errors\n",
            sig, k.forwarded, k.refused, k.gateway_errors);
    rc = 0;
out:
    metrics_free(metrics);
    front_tls_cleanup();
    free(cert_pem);
    sts_secret_free(key_pem);
    return rc;
}
