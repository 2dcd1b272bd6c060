/* SIGHUP for the collector: the TLS certificate and key, the API token and
 * the Oblivious HTTP gateway keys are read again from the files named at
 * start and replace the ones in use, for new handshakes and requests; open
 * connections are not touched. Each part is loaded and checked in full
 * before it replaces anything: on failure the old one stays and the log
 * line says why. One line sums up the reload (sts/log.h).
 *
 * Ownership: *gw is the gateway in use, owned by the caller; on a
 * successful key reload it is freed and replaced by the new one. */
#ifndef STS_COLLECTOR_RELOAD_H
#define STS_COLLECTOR_RELOAD_H

#include <stdbool.h>

#include "config.h"
#include "http.h"
#include "metrics.h"

struct reload_metrics {
    struct metric *ok, *failed;
};

/* Registers sts_reloads_total{result} in m. */
void reload_metrics_register(struct reload_metrics *rm, struct metrics *m);

/* Reloads what cfg names (parts not configured at start are left alone).
 * Returns true when every part was reloaded. */
bool collector_reload(const struct collector_config *cfg, struct http_server *srv,
                      struct sts_ohttp_gateway **gw, struct reload_metrics *rm);

#endif
