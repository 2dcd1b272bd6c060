/* SIGHUP for the collector: the TLS certificate and key, the API token,
 * the Oblivious HTTP gateway keys and the pseudonym keyring (--key) are read
 * again from the files named at start and replace the ones in use, for new
 * handshakes and requests; open connections are not touched. Each part is
 * loaded and checked in full before it replaces anything: on failure the
 * old one stays and the log line says why. One line sums up the reload
 * (sts/log.h).
 *
 * The keyring is refused when it no longer holds the key reports are
 * pseudonymized with now, or drops an older key that device rows are still
 * stored under (the rule of `rekey --retire`, counted on a read-only handle
 * of its own: see reload.c); otherwise new reports are pseudonymized under
 * its current key and devices are looked up under all of its keys. The old
 * key material is wiped (ingest_set_keyring).
 *
 * Ownership: *gw is the gateway in use, owned by the caller; on a
 * successful key reload it is freed and replaced by the new one. srv and
 * ing are borrowed. Call from one thread (the signal loop). */
#ifndef STS_COLLECTOR_RELOAD_H
#define STS_COLLECTOR_RELOAD_H

#include <stdbool.h>

#include "config.h"
#include "http.h"
#include "ingest.h"
#include "metrics.h"

struct reload_metrics {
    struct metric *ok, *failed;
};

/* Registers sts_reloads_total{result} in m. */
void reload_metrics_register(struct reload_metrics *rm, struct metrics *m);

/* Reloads what cfg names (parts not configured at start are left alone).
 * Returns true when every part was reloaded. */
bool collector_reload(const struct collector_config *cfg, struct http_server *srv,
                      struct ingest *ing, struct sts_ohttp_gateway **gw, struct reload_metrics *rm);

#endif
