/* Serving the embedded dashboard page (see dashboard.h). */
#include "dashboard.h"

#include <stddef.h>

#include "dashboard_html.h"

enum sts_err dashboard_answer(struct front_req *r)
{
    static const char headers[] =
        "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n";
    return front_send(r, 200, "text/html; charset=utf-8", dashboard_html, dashboard_html_len,
                      headers, 0);
}
