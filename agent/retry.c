/* The retry policy: answer classification, exponential backoff with full
 * jitter, Retry-After parsing. See retry.h. */
#include "retry.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

/* Whether ctype is application/json, optionally with parameters. */
static bool is_json_type(const char *ctype)
{
    static const char json[] = "application/json";
    size_t n = sizeof json - 1;
    if (ctype == NULL || strncasecmp(ctype, json, n) != 0)
        return false;
    return ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ';
}

/* Whether the answer is the collector's JSON: an object with a string key. */
static bool collector_json(const char *ctype, const char *body, size_t len, const char *key)
{
    if (!is_json_type(ctype) || body == NULL || len == 0)
        return false;
    json_t *doc = json_loadb(body, len, 0, NULL);
    bool ok = json_is_string(json_object_get(doc, key));
    json_decref(doc);
    return ok;
}

enum agent_verdict agent_retry_classify(long http_status, const char *content_type,
                                        const char *body, size_t body_len)
{
    if (http_status == 0 || http_status == 408 || http_status == 429 ||
        (http_status >= 500 && http_status <= 599))
        return AGENT_RETRY;
    if ((http_status == 200 || http_status == 202) &&
        collector_json(content_type, body, body_len, "status"))
        return AGENT_DONE;
    if ((http_status == 400 || http_status == 413 || http_status == 415) &&
        collector_json(content_type, body, body_len, "error"))
        return AGENT_REJECT;
    return AGENT_RETRY_LONG;
}

const char *agent_verdict_name(enum agent_verdict v)
{
    switch (v) {
    case AGENT_DONE: return "done";
    case AGENT_RETRY: return "retry";
    case AGENT_REJECT: return "reject";
    case AGENT_RETRY_LONG: return "retry-long";
    }
    return "?";
}

int64_t agent_retry_ceiling_ms(unsigned failures, int64_t base_ms, int64_t cap_ms)
{
    if (base_ms < 1)
        base_ms = 1;
    if (cap_ms < 1)
        cap_ms = 1;
    if (failures < 1)
        failures = 1;
    int64_t ceiling = base_ms;
    /* Double until the cap is reached; stopping there keeps clear of overflow
     * whatever the number of failures. */
    for (unsigned i = 1; i < failures && ceiling < cap_ms; i++) {
        if (ceiling > INT64_MAX / 2)
            return cap_ms;
        ceiling *= 2;
    }
    return ceiling < cap_ms ? ceiling : cap_ms;
}

int64_t agent_retry_delay_ms(unsigned failures, int64_t base_ms, int64_t cap_ms,
                             int64_t retry_after_ms, uint64_t rnd)
{
    int64_t ceiling = agent_retry_ceiling_ms(failures, base_ms, cap_ms);
    int64_t delay = (int64_t)(rnd % ((uint64_t)ceiling + 1));
    if (retry_after_ms >= 0) {
        int64_t floor_ms =
            retry_after_ms < AGENT_RETRY_AFTER_MAX_MS ? retry_after_ms : AGENT_RETRY_AFTER_MAX_MS;
        if (delay < floor_ms)
            delay = floor_ms;
    }
    return delay;
}

int64_t agent_retry_long_delay_ms(unsigned failures, uint64_t rnd)
{
    int64_t ceiling =
        agent_retry_ceiling_ms(failures, AGENT_RETRY_LONG_BASE_MS, AGENT_RETRY_LONG_CAP_MS);
    int64_t half = ceiling / 2;
    return half + (int64_t)(rnd % ((uint64_t)(ceiling - half) + 1));
}

bool agent_retry_after_parse(const char *value, int64_t now_ms, int64_t *delay_ms)
{
    char buf[64];
    if (value == NULL)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, value, len);
    buf[len] = '\0';

    if (isdigit((unsigned char)buf[0])) {
        int64_t seconds = 0;
        for (size_t i = 0; i < len; i++) {
            if (!isdigit((unsigned char)buf[i]))
                return false;
            if (seconds < INT64_MAX / 10000)
                seconds = seconds * 10 + (buf[i] - '0');
        }
        if (seconds > INT64_MAX / 1000)
            seconds = INT64_MAX / 1000;
        *delay_ms = seconds * 1000;
        return true;
    }

    /* An HTTP-date: curl_getdate knows the three formats RFC 9110 requires
     * recipients to accept, and it is a pure function. A date needs a letter
     * first (the day name). */
    if (!isalpha((unsigned char)buf[0]))
        return false;
    time_t when = curl_getdate(buf, NULL);
    if (when == (time_t)-1)
        return false;
    int64_t d = (int64_t)when * 1000 - now_ms;
    *delay_ms = d > 0 ? d : 0;
    return true;
}
