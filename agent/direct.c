/* The direct transport: <collector>/v1/reports over HTTP(S). See direct.h. */
#include "direct.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* <collector><path> in a new string, NULL when out of memory. */
static char *join(const char *collector, const char *path)
{
    size_t n = strlen(collector) + strlen(path) + 1;
    char *url = malloc(n);
    if (url != NULL)
        snprintf(url, n, "%s%s", collector, path);
    return url;
}

static enum sts_err collector_request(struct agent_http *h, const char *collector, const char *pin,
                                      const char *path, const char *json, size_t len,
                                      const char *token, size_t max_body, struct agent_answer *ans)
{
    char *url = join(collector, path);
    if (url == NULL) {
        agent_answer_init(ans);
        return STS_ENOMEM;
    }
    enum sts_err rc =
        agent_http_exchange(h, url, "application/json", json, len, token, pin, max_body, ans);
    free(url);
    return rc;
}

enum sts_err agent_direct_post(struct agent_http *h, const char *collector, const char *pin,
                               const char *json, size_t len, struct agent_answer *ans)
{
    return collector_request(h, collector, pin, "/v1/reports", json, len, NULL,
                             AGENT_ANSWER_MAX_BODY, ans);
}

enum sts_err agent_direct_get(struct agent_http *h, const char *collector, const char *pin,
                              const char *path, const char *token, size_t max_body,
                              struct agent_answer *ans)
{
    return collector_request(h, collector, pin, path, NULL, 0, token, max_body, ans);
}
