/* Reloading the collector's secrets on SIGHUP (see reload.h). */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "sts/log.h"
#include "sts/net.h"
#include "sts/secret.h"
#include "tls.h"

void reload_metrics_register(struct reload_metrics *rm, struct metrics *m)
{
    static const char help[] = "reloads on SIGHUP, by result (failed: something was kept)";
    rm->ok = metrics_add(m, METRIC_COUNTER, "sts_reloads_total", help, "result=\"ok\"", NULL, 0);
    rm->failed =
        metrics_add(m, METRIC_COUNTER, "sts_reloads_total", help, "result=\"failed\"", NULL, 0);
}

static bool reload_tls(const struct collector_config *cfg, char *why, size_t whylen)
{
    char *cert = NULL;
    size_t n;
    struct sts_secret *key = NULL;
    bool ok = false;
    if (sts_net_read_file(cfg->tls_cert, 1 << 20, &cert, &n, why, whylen) != STS_OK)
        goto out;
    enum sts_err e = sts_secret_file_read(cfg->tls_key, 1 << 16, &key);
    if (e != STS_OK) {
        snprintf(why, whylen, "%s: %s", cfg->tls_key,
                 e == STS_EPERM ? "must be a regular file that group and others cannot read"
                                : sts_strerror(e));
        goto out;
    }
    ok = front_tls_set(cert, key->data, why, whylen) == STS_OK;
out:
    free(cert);
    sts_secret_free(key);
    return ok;
}

static bool reload_token(const struct collector_config *cfg, struct http_server *srv, char *why,
                         size_t whylen)
{
    struct sts_secret *token = NULL;
    const struct sts_ohttp_gateway *none;
    if (config_read_token(cfg->token_file, &token, why, whylen) != STS_OK)
        return false;
    bool ok = http_reload(srv, token->data, NULL, &none, why, whylen) == STS_OK;
    sts_secret_free(token);
    return ok;
}

static bool reload_keys(const struct collector_config *cfg, struct http_server *srv,
                        struct sts_ohttp_gateway **gw, char *why, size_t whylen)
{
    const char *paths[2] = {cfg->ohttp_keys[0], cfg->ohttp_keys[1]};
    struct sts_ohttp_gateway *fresh = NULL;
    const struct sts_ohttp_gateway *old = NULL;
    if (gateway_load(paths, cfg->n_ohttp_keys, &fresh, why, whylen) != STS_OK)
        return false;
    if (http_reload(srv, NULL, fresh, &old, why, whylen) != STS_OK) {
        sts_ohttp_gateway_free(fresh);
        return false;
    }
    /* No request holds the old gateway once http_reload has returned. */
    sts_ohttp_gateway_free(*gw);
    *gw = fresh;
    return true;
}

/* Appends "part: reloaded" or "part: kept (why)" to line. */
static void say(char *line, size_t cap, const char *part, bool ok, const char *why)
{
    size_t n = strlen(line);
    snprintf(line + n, cap - n, "%s%s: %s%s%s", n ? "; " : "", part, ok ? "reloaded" : "kept (",
             ok ? "" : why, ok ? "" : ")");
}

bool collector_reload(const struct collector_config *cfg, struct http_server *srv,
                      struct sts_ohttp_gateway **gw, struct reload_metrics *rm)
{
    char line[2048] = "", why[1024];
    bool all = true, ok;
    if (*cfg->tls_cert) {
        why[0] = '\0';
        all &= ok = reload_tls(cfg, why, sizeof why);
        say(line, sizeof line, "TLS certificate and key", ok, why);
    }
    if (*cfg->token_file) {
        why[0] = '\0';
        all &= ok = reload_token(cfg, srv, why, sizeof why);
        say(line, sizeof line, "API token", ok, why);
    }
    if (cfg->n_ohttp_keys && *gw) {
        why[0] = '\0';
        all &= ok = reload_keys(cfg, srv, gw, why, sizeof why);
        say(line, sizeof line, "Oblivious HTTP keys", ok, why);
    }
    if (!*line)
        snprintf(line, sizeof line, "nothing to reload (no TLS, token or Oblivious HTTP key)");
    metric_add(all ? rm->ok : rm->failed, 1);
    sts_log(all ? STS_LOG_NOTICE : STS_LOG_WARNING, "reload (SIGHUP): %s", line);
    return all;
}
