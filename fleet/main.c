/* sts-fleet: simulates N devices, sends their activations through the
 * agent's own code to a real collector, then checks the collector's sales
 * figures against the ground truth. The demo, the load generator and the
 * correctness oracle of STS. */
#include <errno.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "file.h"
#include "life.h"
#include "send.h"
#include "sim.h"
#include "sts/clock.h"
#include "sts/date.h"
#include "sts/secret.h"
#include "verify.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sts-fleet --collector URL --devices N [OPTIONS]\n"
            "\n"
            "Simulates N devices (deterministic from the seed), sends their activation\n"
            "reports to the collector with the agent's code, then compares the\n"
            "collector's sales figures by model and by country with the ground truth.\n"
            "\n"
            "Options:\n"
            "  --collector URL      collector base URL, e.g. http://127.0.0.1:8080\n"
            "  --devices N          number of devices, 1..%d\n"
            "  --seed S             seed of the simulation (default 1)\n"
            "  --months M           activations spread over the last M months (default 12)\n"
            "  --concurrency C      sending threads, each with its own connection (default 8)\n"
            "  --token-file FILE    statistics token, needed to verify\n"
            "  --max-attempts A     attempts per report before giving up (default 20)\n"
            "  --no-verify          only send\n"
            "\n"
            "Lifetime (after the activations, each device's monthly lifetime pings):\n"
            "  --no-lifetime        send activations only\n"
            "  --life-law M:SHAPE:SCALE[,...]  Weibull lifetime law of model M, scale in\n"
            "                       months (defaults: K400:1.6:14,K500:2:17,P10:1.4:11,\n"
            "                       P20:1.8:16,X1:2.5:22,M2-lite:1.3:8)\n"
            "  --life-consent P     share of owners allowing lifetime pings (default 0.7)\n"
            "  --late-consent P     share of those who allow them 1..6 months late (0.2)\n"
            "  --miss P             chance a month's ping is missed (0.05); half of the\n"
            "                       missed ones are sent late, within the grace window\n"
            "  --grace-days D       days after a month its late pings may come (default 7)\n"
            "  --life-tolerance T   survival must be within T of the truth (default 0.03)\n"
            "  --median-tolerance R median lifetime within R of the truth (default 0.05)\n"
            "  --min-devices N      check ages that at least N devices of the model\n"
            "                       reached (default 1000)\n"
            "  --help, --version\n"
            "\n"
            "Exit status: 0 sent (and the figures match), 1 runtime failure or the figures\n"
            "differ, 2 usage error.\n",
            FLEET_MAX_DEVICES);
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "sts-fleet: %s%s%s\nTry 'sts-fleet --help'.\n", what, arg ? ": " : "",
            arg ? arg : "");
    return 2;
}

static bool parse_share(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The token is the file's first line, white space trimmed; the file is read
 * as a secret (sts/secret.h). The result is wiped and freed with
 * sts_secret_free. */
static struct sts_secret *read_token(const char *path)
{
    struct sts_secret *t = NULL;
    enum sts_err rc = sts_secret_file_read(path, 4096, &t);
    if (rc != STS_OK) {
        fprintf(stderr, "sts-fleet: cannot read the token file %s: %s\n", path,
                rc == STS_ENOENT  ? "no such file"
                : rc == STS_EPERM ? "not a regular file of mode 0600 (chmod 600 it)"
                                  : sts_strerror(rc));
        return NULL;
    }
    size_t n = strcspn(t->data, "\r\n");
    while (n > 0 && (t->data[n - 1] == ' ' || t->data[n - 1] == '\t'))
        n--;
    OPENSSL_cleanse(t->data + n, t->len - n); /* the rest is forgotten, wiped */
    t->len = n;
    if (n == 0) {
        fprintf(stderr, "sts-fleet: the token file %s is empty\n", path);
        sts_secret_free(t);
        return NULL;
    }
    return t;
}

int main(int argc, char **argv)
{
    const char *collector = NULL, *token_file = NULL;
    unsigned long long devices = 0, seed = 1, months = 12, concurrency = 8, attempts = 20;
    bool verify = true, lifetime = true;
    const char *laws = NULL;
    double life_consent = 0.7, late_consent = 0.2, miss = 0.05, tol = 0.03, median_tol = 0.05;
    unsigned long long grace = 7, min_n = 1000;
    char why[160];

    /* Test clocks are read here, once, before any thread starts. */
    if (sts_clock_init(why, sizeof why) != STS_OK) {
        fprintf(stderr, "sts-fleet: %s\n", why);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("sts-fleet %s\n", STS_VERSION);
            return 0;
        } else if (strcmp(a, "--no-verify") == 0) {
            verify = false;
            continue;
        } else if (strcmp(a, "--no-lifetime") == 0) {
            lifetime = false;
            continue;
        }
        if (v == NULL)
            return a[0] == '-' ? usage_error("missing value after", a)
                               : usage_error("unexpected argument", a);
        if (strcmp(a, "--collector") == 0) {
            if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
                return usage_error("--collector needs an http:// or https:// URL", v);
            collector = v;
        } else if (strcmp(a, "--devices") == 0) {
            if (!parse_u64(v, 1, FLEET_MAX_DEVICES, &devices))
                return usage_error("--devices needs a number from 1 to 1000000", v);
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_u64(v, 0, UINT64_MAX, &seed))
                return usage_error("--seed needs a non-negative integer", v);
        } else if (strcmp(a, "--months") == 0) {
            if (!parse_u64(v, 1, 240, &months))
                return usage_error("--months needs a number from 1 to 240", v);
        } else if (strcmp(a, "--concurrency") == 0) {
            if (!parse_u64(v, 1, 1024, &concurrency))
                return usage_error("--concurrency needs a number from 1 to 1024", v);
        } else if (strcmp(a, "--max-attempts") == 0) {
            if (!parse_u64(v, 1, 1000, &attempts))
                return usage_error("--max-attempts needs a number from 1 to 1000", v);
        } else if (strcmp(a, "--token-file") == 0) {
            token_file = v;
        } else if (strcmp(a, "--life-law") == 0) {
            laws = v;
        } else if (strcmp(a, "--life-consent") == 0) {
            if (!parse_share(v, &life_consent))
                return usage_error("--life-consent needs a share from 0 to 1", v);
        } else if (strcmp(a, "--late-consent") == 0) {
            if (!parse_share(v, &late_consent))
                return usage_error("--late-consent needs a share from 0 to 1", v);
        } else if (strcmp(a, "--miss") == 0) {
            if (!parse_share(v, &miss))
                return usage_error("--miss needs a share from 0 to 1", v);
        } else if (strcmp(a, "--life-tolerance") == 0) {
            if (!parse_share(v, &tol))
                return usage_error("--life-tolerance needs a number from 0 to 1", v);
        } else if (strcmp(a, "--median-tolerance") == 0) {
            if (!parse_share(v, &median_tol))
                return usage_error("--median-tolerance needs a number from 0 to 1", v);
        } else if (strcmp(a, "--grace-days") == 0) {
            if (!parse_u64(v, 0, 27, &grace))
                return usage_error("--grace-days needs a number from 0 to 27", v);
        } else if (strcmp(a, "--min-devices") == 0) {
            if (!parse_u64(v, 1, 100000000, &min_n))
                return usage_error("--min-devices needs a positive number", v);
        } else {
            return usage_error("unknown option", a);
        }
        i++;
    }
    if (collector == NULL)
        return usage_error("--collector URL is required", NULL);
    if (devices == 0)
        return usage_error("--devices N is required", NULL);
    if (verify && token_file == NULL)
        return usage_error("--token-file FILE is required to verify (or give --no-verify)", NULL);

    struct sts_secret *secret = NULL;
    if (verify && (secret = read_token(token_file)) == NULL)
        return 1;
    const char *token = secret ? secret->data : NULL;
    /* Drop a trailing '/' so paths join cleanly. */
    char *base = strdup(collector);
    if (base == NULL) {
        sts_secret_free(secret);
        fprintf(stderr, "sts-fleet: out of memory\n");
        return 1;
    }
    for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
        base[n - 1] = '\0';

    signal(SIGPIPE, SIG_IGN);
    int status = 1;
    struct fleet f;
    int32_t today = sts_day_today();
    struct fleet_life life;
    fleet_life_defaults(&life, seed, today);
    life.consent = life_consent;
    life.late = late_consent;
    life.miss = miss;
    life.grace_days = (int)grace;
    if (laws && fleet_life_set_laws(&life, laws) != STS_OK) {
        free(base);
        sts_secret_free(secret);
        return usage_error("--life-law needs MODEL:SHAPE:SCALE[,...] with a model of the "
                           "catalogue (K400, K500, P10, P20, X1, M2-lite)",
                           laws);
    }
    if (fleet_generate(seed, (size_t)devices, (int)months, today, &f) != STS_OK) {
        fprintf(stderr, "sts-fleet: out of memory for %llu devices\n", devices);
        goto out;
    }
    char d0[STS_DAY_LEN + 1], d1[STS_DAY_LEN + 1];
    sts_day_format(f.first_day, d0);
    sts_day_format(f.last_day, d1);
    printf("sts-fleet: %zu devices, %zu re-activations, seed %llu, activations %s..%s, "
           "concurrency %llu\n",
           f.n, f.reactivations, seed, d0, d1, concurrency);
    fflush(stdout);

    if (agent_sender_global_init() != STS_OK) {
        fprintf(stderr, "sts-fleet: cannot initialise libcurl\n");
        goto out_fleet;
    }
    struct fleet_drive_opts opts = {
        .collector = base,
        .concurrency = (unsigned)concurrency,
        .seed = seed,
        .retry_base_ms = 100,
        .retry_cap_ms = 5000,
        .max_attempts = (unsigned)attempts,
        .timeout_ms = 30000,
    };
    struct fleet_counts c;
    enum sts_err rc = fleet_drive(&f, &opts, &c);
    if (rc != STS_OK) {
        fprintf(stderr, "sts-fleet: cannot start the senders: %s\n", sts_strerror(rc));
        goto out_fleet;
    }
    uint64_t sent = c.accepted + c.duplicate + c.rejected + c.failed;
    printf("sent %llu reports in %.2f s (%.1f reports/s)\n", (unsigned long long)sent, c.seconds,
           c.seconds > 0 ? (double)sent / c.seconds : 0.0);
    printf("answers: %llu accepted (202), %llu duplicate (200), %llu other; %llu gave up, "
           "%llu retries, %llu not built\n",
           (unsigned long long)c.accepted, (unsigned long long)c.duplicate,
           (unsigned long long)c.rejected, (unsigned long long)c.failed,
           (unsigned long long)c.retries, (unsigned long long)c.invalid);
    fflush(stdout);
    bool all_ok = c.rejected == 0 && c.failed == 0 && c.invalid == 0;
    if (lifetime) {
        struct fleet_counts lc;
        rc = fleet_life_drive(&life, &f, &opts, &lc);
        if (rc != STS_OK) {
            fprintf(stderr, "sts-fleet: cannot start the senders: %s\n", sts_strerror(rc));
            goto out_fleet;
        }
        uint64_t pings = lc.accepted + lc.duplicate + lc.rejected + lc.failed;
        printf("sent %llu lifetime pings in %.2f s (%.1f pings/s)\n", (unsigned long long)pings,
               lc.seconds, lc.seconds > 0 ? (double)pings / lc.seconds : 0.0);
        printf("ping answers: %llu accepted (202), %llu duplicate (200), %llu other; %llu gave "
               "up, %llu retries, %llu not built\n",
               (unsigned long long)lc.accepted, (unsigned long long)lc.duplicate,
               (unsigned long long)lc.rejected, (unsigned long long)lc.failed,
               (unsigned long long)lc.retries, (unsigned long long)lc.invalid);
        fflush(stdout);
        all_ok = all_ok && lc.rejected == 0 && lc.failed == 0 && lc.invalid == 0;
    }

    if (!verify) {
        status = all_ok ? 0 : 1;
        goto out_fleet;
    }
    bool equal = false;
    char msg[512] = "";
    rc = fleet_verify(&f, base, token, 30000, stdout, &equal, msg, sizeof msg);
    if (rc != STS_OK) {
        fprintf(stderr, "sts-fleet: cannot verify: %s\n", msg);
        goto out_fleet;
    }
    if (lifetime) {
        struct fleet_life_check chk = {.tol = tol, .median_tol = median_tol, .min_n = (long)min_n};
        bool life_equal = false;
        rc = fleet_life_verify(&life, &f, &chk, base, token, 60000, stdout, &life_equal, msg,
                               sizeof msg);
        if (rc != STS_OK) {
            fprintf(stderr, "sts-fleet: cannot verify the lifetime figures: %s\n", msg);
            goto out_fleet;
        }
        equal = equal && life_equal;
    }
    printf("\nverification: %s\n", equal ? "the collector's figures match the truth"
                                         : "the collector's figures DIFFER from the truth");
    status = equal && all_ok ? 0 : 1;
out_fleet:
    fleet_cleanup(&f);
out:
    free(base);
    sts_secret_free(secret);
    return status;
}
