/* The dispatcher between the direct and the OHTTP transport. See send.h. */
#include "send.h"

#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "ohttp_transport.h"
#include "sts/net.h"

struct agent_sender {
    struct agent_http *http;
    char *collector;
    char *pin;
    struct agent_ohttp *ohttp; /* NULL: direct transport */
};

enum sts_err agent_sender_global_init(void)
{
    return agent_http_global_init();
}

enum sts_err agent_sender_new(const struct agent_sender_opts *opts, struct agent_sender **out)
{
    enum sts_err rc = STS_ENOMEM;
    struct agent_http_opts ho = {
        .timeout_ms = opts->timeout_ms,
        .ca_file = opts->ca_file,
        .ca_dir = opts->ca_dir,
        .stop = opts->stop,
    };
    *out = NULL;
    if (opts->collector == NULL || !sts_net_url_allowed(opts->collector))
        return STS_EINVAL;
    struct agent_sender *s = calloc(1, sizeof *s);
    if (s == NULL)
        return STS_ENOMEM;
    if ((s->collector = strdup(opts->collector)) == NULL)
        goto fail;
    if (opts->pin_sha256 != NULL && (s->pin = strdup(opts->pin_sha256)) == NULL)
        goto fail;
    if (opts->transport == AGENT_TRANSPORT_OHTTP) {
        if (opts->relay == NULL || !sts_net_url_allowed(opts->relay)) {
            rc = STS_EINVAL;
            goto fail;
        }
        rc = agent_ohttp_new(opts->collector, opts->relay, opts->ohttp_keys, opts->state_dir,
                             &s->ohttp);
        if (rc != STS_OK)
            goto fail;
    }
    rc = agent_http_new(&ho, &s->http);
    if (rc != STS_OK)
        goto fail;
    *out = s;
    return STS_OK;
fail:
    agent_sender_free(s);
    return rc;
}

void agent_sender_free(struct agent_sender *s)
{
    if (s == NULL)
        return;
    agent_http_free(s->http);
    agent_ohttp_free(s->ohttp);
    free(s->collector);
    free(s->pin);
    free(s);
}

enum sts_err agent_sender_post(struct agent_sender *s, const char *json, size_t len,
                               struct agent_answer *ans)
{
    if (s->ohttp != NULL)
        return agent_ohttp_post(s->ohttp, s->http, s->pin, json, len, ans);
    return agent_direct_post(s->http, s->collector, s->pin, json, len, ans);
}

enum sts_err agent_sender_get(struct agent_sender *s, const char *path, const char *token,
                              size_t max_body, struct agent_answer *ans)
{
    return agent_direct_get(s->http, s->collector, s->pin, path, token, max_body, ans);
}
