/* ohttp_client: a small Oblivious HTTP client on libsts, for the interop and
 * end-to-end tests and for the OHTTP mode of the ingestion benchmark.
 *
 *   ohttp_client post --keys FILE --url URL [--cacert FILE] (--body JSON | --body-file FILE)
 *       Seals "POST /v1/reports" with the JSON body to the first usable key
 *       configuration of FILE (an application/ohttp-keys body), POSTs it as
 *       message/ohttp-req to URL (a relay or the gateway), opens the answer and
 *       prints "status N" then the inner body. Exit 0 when an encapsulated
 *       answer was opened, 1 otherwise (the outer status and body are printed).
 *   ohttp_client gen --keys FILE --count N [--day YYYY-MM-DD] [--pad BYTES]
 *       Prints N encapsulated requests, one hex line each, of distinct
 *       activations (random report_id and Luhn-valid IMEI), each report padded
 *       with JSON white space to BYTES: the load of bench/ingest.sh --ohttp.
 *
 * Exit 2 on a usage error. */
#include <curl/curl.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/bhttp.h"
#include "sts/imei.h"
#include "sts/net.h"
#include "sts/ohttp.h"
#include "sts/report.h"

#define MAX_ANSWER (64 * 1024)

struct buf {
    unsigned char *p;
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct buf *b = userp;
    size_t n = size * nmemb;
    if (b->len + n > MAX_ANSWER)
        return 0;
    unsigned char *q = realloc(b->p, b->len + n + 1);
    if (!q)
        return 0;
    memcpy(q + b->len, data, n);
    b->p = q;
    b->len += n;
    q[b->len] = '\0';
    return n;
}

static int load_config(const char *path, struct sts_ohttp_key_config *cfg)
{
    char why[256];
    char *text = NULL;
    size_t len = 0;
    struct sts_ohttp_key_config cfgs[4];
    size_t n = 0;
    if (sts_net_read_file(path, STS_OHTTP_MAX_KEYS_LIST, &text, &len, why, sizeof why) != STS_OK) {
        fprintf(stderr, "ohttp_client: %s\n", why);
        return -1;
    }
    enum sts_err e = sts_ohttp_keys_decode(cfgs, 4, &n, (unsigned char *)text, len);
    free(text);
    if (e != STS_OK) {
        fprintf(stderr, "ohttp_client: %s: not an application/ohttp-keys body: %s\n", path,
                sts_strerror(e));
        return -1;
    }
    *cfg = cfgs[0];
    return 0;
}

/* Encodes POST /v1/reports with body json as binary HTTP into *out. */
static enum sts_err inner_request(const char *json, size_t len, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    struct sts_bhttp_field f[] = {
        {{(const uint8_t *)"content-type", 12}, {(const uint8_t *)"application/json", 16}},
    };
    struct sts_bhttp_request req = {
        .method = {(const uint8_t *)"POST", 4},
        .scheme = {(const uint8_t *)"https", 5},
        .authority = {(const uint8_t *)"collector", 9},
        .path = {(const uint8_t *)"/v1/reports", 11},
        .headers = {f, 1},
        .content = {(const uint8_t *)json, len},
    };
    return sts_bhttp_request_encode(&req, 0, out, cap, out_len);
}

static int seal(const struct sts_ohttp_key_config *cfg, const char *json,
                struct sts_ohttp_client **client, uint8_t *enc, size_t cap, size_t *enc_len)
{
    uint8_t inner[16384];
    size_t inner_len;
    if (inner_request(json, strlen(json), inner, sizeof inner, &inner_len) != STS_OK)
        return -1;
    if (sts_ohttp_client_new(client, cfg, NULL) != STS_OK)
        return -1;
    if (sts_ohttp_client_encap(*client, inner, inner_len, NULL, enc, cap, enc_len) != STS_OK) {
        sts_ohttp_client_free(*client);
        *client = NULL;
        return -1;
    }
    return 0;
}

static int cmd_post(const struct sts_ohttp_key_config *cfg, const char *url, const char *cacert,
                    const char *json)
{
    struct sts_ohttp_client *client = NULL;
    uint8_t enc[20000];
    size_t enc_len;
    int rc = 1;
    if (seal(cfg, json, &client, enc, sizeof enc, &enc_len) != 0) {
        fprintf(stderr, "ohttp_client: cannot seal the request\n");
        return 1;
    }
    struct buf answer = {NULL, 0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: message/ohttp-req");
    CURL *c = curl_easy_init();
    if (!c || !h)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)enc);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)enc_len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
    CURLcode ce = curl_easy_perform(c);
    if (ce != CURLE_OK) {
        fprintf(stderr, "ohttp_client: %s: %s\n", url, curl_easy_strerror(ce));
        goto out;
    }
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (status != 200 || !ct || strcmp(ct, "message/ohttp-res") != 0) {
        printf("outer %ld %s\n%.*s\n", status, ct ? ct : "-", (int)answer.len,
               answer.p ? (char *)answer.p : "");
        goto out;
    }
    uint8_t plain[MAX_ANSWER];
    size_t plain_len;
    struct sts_bhttp_response res;
    if (sts_ohttp_client_decap(client, answer.p, answer.len, plain, sizeof plain, &plain_len) !=
            STS_OK ||
        sts_bhttp_response_decode(&res, plain, plain_len, NULL) != STS_OK) {
        fprintf(stderr, "ohttp_client: the answer does not open\n");
        goto out;
    }
    printf("status %u\n%.*s\n", res.status, (int)res.content.len, (const char *)res.content.ptr);
    sts_bhttp_response_cleanup(&res);
    rc = 0;
out:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(answer.p);
    sts_ohttp_client_free(client);
    return rc;
}

static int cmd_gen(const struct sts_ohttp_key_config *cfg, long count, const char *day, long pad)
{
    for (long i = 0; i < count; i++) {
        char imei[16], id[STS_REPORT_ID_LEN + 1], json[512];
        unsigned char r[14];
        uint8_t raw_id[16];
        if (RAND_bytes(r, sizeof r) != 1 || sts_report_new_id(raw_id) != STS_OK)
            return 1;
        sts_report_id_hex(raw_id, id);
        for (int k = 0; k < 14; k++)
            imei[k] = (char)('0' + r[k] % 10);
        imei[0] = '3';
        imei[14] = (char)('0' + sts_imei_check_digit(imei));
        imei[15] = '\0';
        snprintf(json, sizeof json,
                 "{\"v\":1,\"type\":\"activation\",\"report_id\":\"%s\",\"imei\":\"%s\","
                 "\"brand\":\"acme-eu\",\"model\":\"K400\",\"sw\":\"K400-V12\","
                 "\"country\":\"FR\",\"day\":\"%s\"}",
                 id, imei, day);
        size_t n = strlen(json);
        if (pad > (long)n && pad < (long)sizeof json) {
            memset(json + n - 1, ' ', (size_t)pad - n);
            json[pad - 1] = '}';
            json[pad] = '\0';
        }
        struct sts_ohttp_client *client = NULL;
        uint8_t enc[2048];
        size_t enc_len;
        if (seal(cfg, json, &client, enc, sizeof enc, &enc_len) != 0)
            return 1;
        sts_ohttp_client_free(client);
        for (size_t k = 0; k < enc_len; k++)
            printf("%02x", enc[k]);
        putchar('\n');
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: ohttp_client post --keys FILE --url URL [--cacert FILE] "
                    "(--body JSON | --body-file FILE)\n"
                    "       ohttp_client gen --keys FILE --count N [--day YYYY-MM-DD] "
                    "[--pad BYTES]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"url", required_argument, NULL, 'u'},
        {"cacert", required_argument, NULL, 'c'},
        {"body", required_argument, NULL, 'b'},
        {"body-file", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        {"day", required_argument, NULL, 'd'},
        {"pad", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *keys = NULL, *url = NULL, *cacert = NULL, *body = NULL, *body_file = NULL;
    const char *day = "2026-01-15";
    long count = 0, pad = 0;
    int c;
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keys = optarg; break;
        case 'u': url = optarg; break;
        case 'c': cacert = optarg; break;
        case 'b': body = optarg; break;
        case 'f': body_file = optarg; break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'd': day = optarg; break;
        case 'p': pad = strtol(optarg, NULL, 10); break;
        default: return usage();
        }
    }
    struct sts_ohttp_key_config cfg;
    if (!keys)
        return usage();
    if (load_config(keys, &cfg) != 0)
        return 1;
    if (strcmp(cmd, "gen") == 0)
        return count > 0 ? cmd_gen(&cfg, count, day, pad) : usage();
    if (strcmp(cmd, "post") != 0 || !url || (!body == !body_file))
        return usage();
    char *text = NULL;
    if (body_file) {
        char why[256];
        size_t len;
        if (sts_net_read_file(body_file, STS_REPORT_MAX_BODY * 2, &text, &len, why, sizeof why) !=
            STS_OK) {
            fprintf(stderr, "ohttp_client: %s\n", why);
            return 1;
        }
        body = text;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmd_post(&cfg, url, cacert, body);
    curl_global_cleanup();
    free(text);
    return rc;
}
