/* One HTTP(S) exchange on a reused libcurl easy handle. See http.h. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "retry.h"
#include "sts/net.h"

struct agent_http {
    CURL *curl;
    char *ca_file;
    char *ca_dir;
    long timeout_ms;
    const volatile sig_atomic_t *stop;
    char errbuf[CURL_ERROR_SIZE];
};

/* What one transfer collects while it runs. */
struct sink {
    struct agent_answer *ans;
    size_t cap;
    size_t used;
};

bool agent_pin_normalise(const char *value, char *out, size_t out_size)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t used = 0;
    const char *p = value;
    if (out_size > 0)
        out[0] = '\0';
    while (*p != '\0') {
        while (*p == ' ' || *p == ';' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (strncmp(p, "sha256//", 8) == 0)
            p += 8;
        /* 32 bytes in base64: 43 characters and one '='. */
        size_t n = strspn(p, b64);
        if (n != 43 || p[43] != '=')
            return false;
        int w = snprintf(out + used, out_size - used, "%ssha256//%.44s", used ? ";" : "", p);
        if (w < 0 || (size_t)w >= out_size - used)
            return false;
        used += (size_t)w;
        p += 44;
        if (*p != '\0' && *p != ';' && *p != ',' && *p != ' ')
            return false;
    }
    return used > 0;
}

enum sts_err agent_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? STS_OK : STS_ENET;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct sink *k = userp;
    size_t n = size * nmemb;
    size_t room = k->cap - k->used;
    size_t take = n < room ? n : room; /* past the cap: drop, but keep reading */
    if (take > 0) {
        char *nb = realloc(k->ans->body, k->used + take + 1);
        if (nb == NULL)
            return 0; /* makes curl fail the transfer */
        k->ans->body = nb;
        memcpy(nb + k->used, data, take);
        k->used += take;
        nb[k->used] = '\0';
        k->ans->body_len = k->used;
    }
    return n;
}

/* Copies the value of header line data (n bytes) into out when the line is
 * that header (name with its ':', lower case) and the value fits. */
static void header_value(const char *data, size_t n, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(data, name, nl) != 0)
        return;
    const char *v = data + nl;
    size_t vl = n - nl;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl < size) {
        memcpy(out, v, vl);
        out[vl] = '\0';
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct sink *k = userp;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    header_value(data, n, "content-type:", k->ans->content_type, sizeof k->ans->content_type);
    if (n > sizeof name - 1 && n < 256 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[256];
        memcpy(value, data + sizeof name - 1, n - (sizeof name - 1));
        value[n - (sizeof name - 1)] = '\0';
        int64_t d;
        if (agent_retry_after_parse(value, now_ms(), &d))
            k->ans->retry_after_ms = d;
    }
    return n;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const struct agent_http *s = userp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return (s->stop != NULL && *s->stop) ? 1 : 0;
}

enum sts_err agent_http_new(const struct agent_http_opts *opts, struct agent_http **out)
{
    struct agent_http *h = calloc(1, sizeof *h);
    *out = NULL;
    if (h == NULL)
        return STS_ENOMEM;
    if ((opts->ca_file != NULL && (h->ca_file = strdup(opts->ca_file)) == NULL) ||
        (opts->ca_dir != NULL && (h->ca_dir = strdup(opts->ca_dir)) == NULL) ||
        (h->curl = curl_easy_init()) == NULL) {
        agent_http_free(h);
        return STS_ENOMEM;
    }
    h->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
    h->stop = opts->stop;
    *out = h;
    return STS_OK;
}

void agent_http_free(struct agent_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    free(h->ca_file);
    free(h->ca_dir);
    free(h);
}

void agent_answer_init(struct agent_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    ans->retry_after_ms = -1;
}

void agent_answer_cleanup(struct agent_answer *ans)
{
    free(ans->body);
    agent_answer_init(ans);
}

/* Sets the options every request shares; the handle keeps its connection
 * cache across curl_easy_reset(). */
static CURLcode common_opts(struct agent_http *s, const char *url, struct sink *k, const char *pin)
{
    CURL *c = s->curl;
    CURLcode e = CURLE_OK;
    curl_easy_reset(c);
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (e == CURLE_OK)                                                                         \
            e = curl_easy_setopt(c, opt, val);                                                     \
    } while (0)
    SET(CURLOPT_URL, url);
    /* The URL passed sts_net_url_check; never anything else, and no
     * redirect: a report goes only where the configuration says. */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, s->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_USERAGENT, "sts-agent/" STS_VERSION);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, k);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, k);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, s);
    if (s->ca_file != NULL)
        SET(CURLOPT_CAINFO, s->ca_file);
    if (s->ca_dir != NULL) {
        SET(CURLOPT_CAPATH, s->ca_dir);
        /* The directory alone, not libcurl's built-in bundle as well. */
        if (s->ca_file == NULL)
            SET(CURLOPT_CAINFO, (const char *)NULL);
    }
    if (pin != NULL)
        SET(CURLOPT_PINNEDPUBLICKEY, pin);
#undef SET
    return e;
}

static enum sts_err perform(struct agent_http *s, struct curl_slist *headers,
                            struct agent_answer *ans)
{
    CURLcode e = CURLE_OK;
    if (headers != NULL)
        e = curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
    if (e == CURLE_OK) {
        s->errbuf[0] = '\0';
        e = curl_easy_perform(s->curl);
    }
    if (e != CURLE_OK) {
        free(ans->body);
        ans->body = NULL;
        ans->body_len = 0;
        ans->status = 0;
        snprintf(ans->error, sizeof ans->error, "%s",
                 s->errbuf[0] ? s->errbuf : curl_easy_strerror(e));
        if (e == CURLE_WRITE_ERROR || e == CURLE_OUT_OF_MEMORY)
            return STS_ENOMEM;
        return STS_ENET;
    }
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &ans->status);
    /* Where a redirect points, for the owner; libcurl works it out from the
     * answer without following it. */
    char *to = NULL;
    if (ans->status >= 300 && ans->status < 400 &&
        curl_easy_getinfo(s->curl, CURLINFO_REDIRECT_URL, &to) == CURLE_OK && to != NULL)
        snprintf(ans->redirect_url, sizeof ans->redirect_url, "%s", to);
    return STS_OK;
}

enum sts_err agent_http_exchange(struct agent_http *s, const char *url, const char *ctype,
                                 const void *body, size_t len, const char *token, const char *pin,
                                 size_t max_body, struct agent_answer *ans)
{
    enum sts_err rc = STS_ENOMEM;
    struct curl_slist *headers = NULL, *h;
    char *auth = NULL, *ct = NULL;
    struct sink k = {.ans = ans, .cap = max_body, .used = 0};

    agent_answer_init(ans);
    if (sts_net_url_check(url, NULL, ans->error, sizeof ans->error) != STS_OK)
        return STS_EINVAL;
    if (common_opts(s, url, &k, pin) != CURLE_OK) {
        snprintf(ans->error, sizeof ans->error, "libcurl refused an option");
        rc = STS_ENET;
        goto out;
    }
    /* No "Expect: 100-continue" round trip for a small body. */
    if ((h = curl_slist_append(headers, "Expect:")) == NULL)
        goto out;
    headers = h;
    if (body != NULL) {
        size_t clen = strlen(ctype) + sizeof "Content-Type: ";
        if ((ct = malloc(clen)) == NULL)
            goto out;
        snprintf(ct, clen, "Content-Type: %s", ctype);
        if ((h = curl_slist_append(headers, ct)) == NULL)
            goto out;
        headers = h;
        if (curl_easy_setopt(s->curl, CURLOPT_POST, 1L) != CURLE_OK ||
            curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
            curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK) {
            rc = STS_ENET;
            goto out;
        }
    }
    if (token != NULL) {
        size_t alen = strlen(token) + sizeof "Authorization: Bearer ";
        auth = malloc(alen);
        if (auth == NULL)
            goto out;
        snprintf(auth, alen, "Authorization: Bearer %s", token);
        if ((h = curl_slist_append(headers, auth)) == NULL)
            goto out;
        headers = h;
    }
    rc = perform(s, headers, ans);
out:
    /* The handle must not keep pointers to what is freed here. */
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (auth != NULL) {
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
    }
    free(ct);
    return rc;
}
