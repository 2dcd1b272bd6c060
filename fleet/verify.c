/* Comparing the collector's figures with the truth. See verify.h. */
#include "verify.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "send.h"

#define STATS_MAX_BODY (4 * 1024 * 1024)

static void say(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
}

/* Reads a non-negative integer or null (-1); -2 for anything else. */
static long long count_of(json_t *v)
{
    if (v == NULL || json_is_null(v))
        return -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -2;
    return (long long)json_integer_value(v);
}

/* One count of one cell, truth against collector. */
struct check {
    long long truth, coll; /* coll -1: hidden */
};

/* Judges one count: visible counts must equal the truth; a count under k must
 * be hidden (the privacy floor); a hidden count at or above k is the
 * collector's complementary suppression, checked through the total. Returns
 * a word for the table and sets *bad. */
static const char *judge(struct check c, long long k, bool *bad)
{
    if (c.coll >= 0) {
        if (c.coll != c.truth) {
            *bad = true;
            return "DIFFERENT";
        }
        if (k > 0 && c.truth > 0 && c.truth < k) {
            *bad = true;
            return "SHOWN UNDER k";
        }
        return NULL;
    }
    return (k > 0 && c.truth < k) ? "hidden<k" : "hidden(compl.)";
}

static void print_count(FILE *out, long long v, int width)
{
    if (v < 0)
        fprintf(out, "%*s", width, "hidden");
    else
        fprintf(out, "%*lld", width, v);
}

enum sts_err fleet_compare(const struct fleet *f, enum fleet_dim dim, const char *body, FILE *out,
                           bool *equal, char *msg, size_t msg_size)
{
    const char *dname = dim == FLEET_BY_MODEL ? "model" : "country";
    struct fleet_cell *truth = NULL;
    size_t n_truth = 0;
    bool *matched = NULL;
    json_t *doc = NULL;
    enum sts_err rc = STS_ECORRUPT;
    json_error_t jerr;

    *equal = false;
    if (fleet_truth(f, dim, &truth, &n_truth) != STS_OK)
        return STS_ENOMEM;
    matched = calloc(n_truth + 1, sizeof *matched);
    if (matched == NULL) {
        rc = STS_ENOMEM;
        goto out;
    }
    doc = json_loads(body, 0, &jerr);
    json_t *rows = json_object_get(doc, "rows");
    json_t *total = json_object_get(doc, "total");
    if (!json_is_object(doc) || !json_is_array(rows) || !json_is_object(total)) {
        say(msg, msg_size, "by=%s: the answer is not {\"rows\":[...],\"total\":{...}}: %.200s",
            dname, body);
        goto out;
    }
    long long k = count_of(json_object_get(doc, "k"));

    bool bad = false;
    /* Per column (activations, re-activations): truth total, truth of the
     * hidden counts, collector's visible sum. */
    long long t_sum[2] = {0, 0}, t_hidden[2] = {0, 0}, c_visible[2] = {0, 0};
    fprintf(out, "\nby %s (k = %lld)\n", dname, k);
    fprintf(out, "  %-14s %12s %12s %12s %12s\n", dname, "truth act", "collector", "truth react",
            "collector");

    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *kv = json_object_get(row, dname);
        const char *key;
        if (json_is_null(kv) && dim == FLEET_BY_COUNTRY)
            key = "";
        else if (json_is_string(kv))
            key = json_string_value(kv);
        else {
            say(msg, msg_size, "by=%s: row %zu has no '%s'", dname, i, dname);
            goto out;
        }
        struct check c[2];
        c[0].coll = count_of(json_object_get(row, "activations"));
        c[1].coll = count_of(json_object_get(row, "reactivations"));
        if (c[0].coll == -2 || c[1].coll == -2) {
            say(msg, msg_size, "by=%s: row '%s' has malformed counts", dname, key);
            goto out;
        }
        size_t t;
        for (t = 0; t < n_truth; t++)
            if (strcmp(truth[t].key, key) == 0)
                break;
        c[0].truth = t < n_truth ? truth[t].activations : 0;
        c[1].truth = t < n_truth ? truth[t].reactivations : 0;
        if (t < n_truth) {
            if (matched[t]) {
                say(msg, msg_size, "by=%s: row '%s' appears twice", dname, key);
                goto out;
            }
            matched[t] = true;
        }
        const char *verdict[2];
        for (int col = 0; col < 2; col++) {
            verdict[col] = judge(c[col], k, &bad);
            if (c[col].coll < 0)
                t_hidden[col] += c[col].truth;
            else
                c_visible[col] += c[col].coll;
        }
        fprintf(out, "  %-14s", key[0] ? key : "(no country)");
        print_count(out, c[0].truth, 13);
        print_count(out, c[0].coll, 13);
        print_count(out, c[1].truth, 13);
        print_count(out, c[1].coll, 13);
        if (verdict[0] == NULL && verdict[1] == NULL)
            fprintf(out, "  ok\n");
        else
            fprintf(out, "  %s%s%s\n", verdict[0] ? verdict[0] : "",
                    verdict[0] && verdict[1] ? ", " : "", verdict[1] ? verdict[1] : "");
    }
    for (size_t t = 0; t < n_truth; t++) {
        t_sum[0] += truth[t].activations;
        t_sum[1] += truth[t].reactivations;
        if (matched[t])
            continue;
        fprintf(out, "  %-14s", truth[t].key[0] ? truth[t].key : "(no country)");
        print_count(out, truth[t].activations, 13);
        fprintf(out, "%13s", "missing");
        print_count(out, truth[t].reactivations, 13);
        fprintf(out, "%13s  MISSING\n", "missing");
        bad = true;
    }

    struct check tot[2] = {
        {t_sum[0], count_of(json_object_get(total, "activations"))},
        {t_sum[1], count_of(json_object_get(total, "reactivations"))},
    };
    const char *tv[2];
    for (int col = 0; col < 2; col++) {
        tv[col] = judge(tot[col], k, &bad);
        /* What is hidden must add up: total - shown = truth of the hidden. */
        if (tot[col].coll >= 0 && tot[col].coll - c_visible[col] != t_hidden[col]) {
            bad = true;
            tv[col] = "HIDDEN SUM DIFFERS";
        }
    }
    fprintf(out, "  %-14s", "total");
    print_count(out, tot[0].truth, 13);
    print_count(out, tot[0].coll, 13);
    print_count(out, tot[1].truth, 13);
    print_count(out, tot[1].coll, 13);
    if (tv[0] == NULL && tv[1] == NULL)
        fprintf(out, "  ok\n");
    else
        fprintf(out, "  %s%s%s\n", tv[0] ? tv[0] : "", tv[0] && tv[1] ? ", " : "",
                tv[1] ? tv[1] : "");
    *equal = !bad;
    rc = STS_OK;
out:
    json_decref(doc);
    free(matched);
    free(truth);
    return rc;
}

enum sts_err fleet_verify(const struct fleet *f, const char *collector, const char *token,
                          long timeout_ms, FILE *out, bool *equal, char *msg, size_t msg_size)
{
    static const struct {
        enum fleet_dim dim;
        const char *path;
    } dims[] = {
        {FLEET_BY_MODEL, "/v1/stats/sales?by=model"},
        {FLEET_BY_COUNTRY, "/v1/stats/sales?by=country"},
    };
    struct agent_sender *s = NULL;
    struct agent_sender_opts so = {.collector = collector, .timeout_ms = timeout_ms};
    enum sts_err rc = agent_sender_new(&so, &s);
    *equal = true;
    if (rc != STS_OK)
        return rc;
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        struct agent_answer ans;
        bool eq = false;
        rc = agent_sender_get(s, dims[i].path, token, STATS_MAX_BODY, &ans);
        if (rc != STS_OK) {
            say(msg, msg_size, "GET %s%s: %s", collector, dims[i].path,
                rc == STS_ENET ? ans.error : sts_strerror(rc));
            agent_answer_cleanup(&ans);
            break;
        }
        if (ans.status != 200) {
            say(msg, msg_size, "GET %s%s: HTTP %ld %.200s%s", collector, dims[i].path, ans.status,
                ans.body ? ans.body : "",
                ans.status == 401 || ans.status == 403 ? " (check --token-file)" : "");
            agent_answer_cleanup(&ans);
            rc = STS_ENET;
            break;
        }
        rc = fleet_compare(f, dims[i].dim, ans.body ? ans.body : "", out, &eq, msg, msg_size);
        agent_answer_cleanup(&ans);
        if (rc != STS_OK)
            break;
        *equal = *equal && eq;
    }
    agent_sender_free(s);
    return rc;
}
