/* Reloading the collector's secrets on SIGHUP (see reload.h). */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "store.h"
#include "sts/log.h"
#include "sts/net.h"
#include "sts/pseudonym.h"
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

static bool has_id(const struct sts_keyring *ring, uint32_t id)
{
    for (size_t i = 0; i < ring->n; i++)
        if (ring->key[i].id == id)
            return true;
    return false;
}

/* Whether rows are stored under one of the n key ids at dropped; on true,
 * why says which and how many, or why it could not be checked (then the
 * keyring is refused too: a key is dropped only when it is known to be
 * unneeded). The count is read on a handle of its own, not the writer's:
 * it scans the device rows, which would hold up every report behind it,
 * and for a key that is not the current one it can only fall while serving
 * (rows are written under the current key only; older ones move to it,
 * fold or are erased), so a count of zero read here stays true at the swap. */
static bool still_needed(const char *db, const uint32_t *dropped, size_t n, char *why,
                         size_t whylen)
{
    struct store *store = NULL;
    struct store_key_use use[64];
    size_t nuse = 0;
    char swhy[256] = "";
    enum sts_err e = store_open(db, STORE_READONLY, &store, swhy, sizeof swhy);
    if (e == STS_OK)
        e = store_key_use(store, use, sizeof use / sizeof use[0], &nuse);
    store_close(store);
    if (e != STS_OK) {
        snprintf(why, whylen,
                 "older key %08x is not in the new keyring, and whether rows still need it "
                 "could not be read: %s",
                 (unsigned)dropped[0], *swhy ? swhy : sts_strerror(e));
        return true;
    }
    for (size_t d = 0; d < n; d++)
        for (size_t u = 0; u < nuse && u < sizeof use / sizeof use[0]; u++)
            if (use[u].key_id == dropped[d] && use[u].devices > 0) {
                snprintf(why, whylen,
                         "older key %08x is not in the new keyring but %lld device row(s) are "
                         "stored under it: they would no longer be found and would count "
                         "again; keep it until 'sts-collector rekey --retire' removes it",
                         (unsigned)dropped[d], (long long)use[u].devices);
                return true;
            }
    return false;
}

/* The pseudonym keyring: refused when it lost the key in use now (reports
 * pseudonymized a moment ago are stored under it) or an older key that
 * rows still need (rekey --retire's rule), as if the collector had been
 * restarted with a keyring that no longer finds its own devices. On
 * success why says what is in force. */
static bool reload_keyring(const struct collector_config *cfg, struct ingest *ing, char *why,
                           size_t whylen)
{
    struct sts_keyring ring;
    uint32_t in_use[STS_KEYRING_MAX], dropped[STS_KEYRING_MAX];
    size_t n_dropped = 0;
    bool ok = false;
    enum sts_err e = sts_keyring_load(cfg->key, &ring);
    if (e != STS_OK) {
        snprintf(why, whylen, "%s: %s", cfg->key,
                 e == STS_EPERM      ? "must be a regular file that group and others cannot read"
                 : e == STS_ECORRUPT ? "not a key file written by 'sts-collector keygen'"
                                     : sts_strerror(e));
        return false; /* sts_keyring_load wiped what it had read */
    }
    size_t n = ingest_key_ids(ing, in_use);
    uint32_t current = sts_keyring_current(&ring)->id;
    if (n > 0 && !has_id(&ring, in_use[0])) {
        snprintf(why, whylen,
                 "the current key %08x is not in the new keyring: the devices stored under "
                 "it would count again; add keys with 'sts-collector keygen --rotate' rather "
                 "than replacing the file",
                 (unsigned)in_use[0]);
        goto out;
    }
    for (size_t i = 1; i < n; i++)
        if (!has_id(&ring, in_use[i]))
            dropped[n_dropped++] = in_use[i];
    if (n_dropped && still_needed(cfg->db, dropped, n_dropped, why, whylen))
        goto out;
    if ((e = ingest_set_keyring(ing, &ring)) != STS_OK) {
        snprintf(why, whylen, "%s", sts_strerror(e));
        goto out;
    }
    if (n > 0 && current != in_use[0])
        snprintf(why, whylen, "current key %08x, was %08x; %zu key(s)", (unsigned)current,
                 (unsigned)in_use[0], ring.n);
    else
        snprintf(why, whylen, "current key %08x, unchanged; %zu key(s)", (unsigned)current, ring.n);
    ok = true;
out:
    sts_keyring_cleanse(&ring);
    return ok;
}

/* Appends "part: reloaded", "part: reloaded (note)" or "part: kept (why)"
 * to line. */
static void say(char *line, size_t cap, const char *part, bool ok, const char *why)
{
    size_t n = strlen(line);
    snprintf(line + n, cap - n, "%s%s: %s%s%s%s", n ? "; " : "", part, ok ? "reloaded" : "kept",
             *why || !ok ? " (" : "", why, *why || !ok ? ")" : "");
}

bool collector_reload(const struct collector_config *cfg, struct http_server *srv,
                      struct ingest *ing, struct sts_ohttp_gateway **gw, struct reload_metrics *rm)
{
    char line[2048] = "", why[1024];
    bool all = true, ok;
    if (*cfg->tls_cert) {
        why[0] = '\0';
        all &= ok = reload_tls(cfg, why, sizeof why);
        say(line, sizeof line, "TLS certificate and key", ok, ok ? "" : why);
    }
    if (*cfg->token_file) {
        why[0] = '\0';
        all &= ok = reload_token(cfg, srv, why, sizeof why);
        say(line, sizeof line, "API token", ok, ok ? "" : why);
    }
    if (cfg->n_ohttp_keys && *gw) {
        why[0] = '\0';
        all &= ok = reload_keys(cfg, srv, gw, why, sizeof why);
        say(line, sizeof line, "Oblivious HTTP keys", ok, ok ? "" : why);
    }
    if (*cfg->key && ing) {
        why[0] = '\0';
        all &= ok = reload_keyring(cfg, ing, why, sizeof why);
        say(line, sizeof line, "pseudonym keys", ok, why);
    }
    if (!*line)
        snprintf(line, sizeof line,
                 "nothing to reload (no TLS, token, Oblivious HTTP or pseudonym key)");
    metric_add(all ? rm->ok : rm->failed, 1);
    sts_log(all ? STS_LOG_NOTICE : STS_LOG_WARNING, "reload (SIGHUP): %s", line);
    return all;
}
