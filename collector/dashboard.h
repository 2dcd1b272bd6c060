/* The statistics dashboard: one HTML page (collector/dashboard/dashboard.html,
 * with its CSS and hand-written JavaScript inline) built into the binary and
 * served at GET /dashboard. The page holds no figures: it reads the token
 * from its URL fragment (never sent to the server) and fetches the JSON API
 * with it, like any other client. */
#ifndef STS_DASHBOARD_H
#define STS_DASHBOARD_H

#include "front.h"

/* Answers r with the page and headers that keep it self-contained (a
 * Content-Security-Policy allowing only this page's own script and style
 * and requests to the collector itself). Errors: STS_ENOMEM (r is closed). */
enum sts_err dashboard_answer(struct front_req *r);

#endif
