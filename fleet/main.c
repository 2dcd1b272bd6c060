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
            "reports and monthly lifetime pings to the collector with the agent's code,\n"
            "then compares the collector's released sales, survival curves, median\n"
            "lifetimes and version shares with the ground truth.\n"
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
            "\n"
            "Verification (closed periods only, the answers' \"release.through_month\"):\n"
            "  --sales-tolerance R  median relative error of the month x model sales cells\n"
            "                       of at least --min-cell devices (default 0.02)\n"
            "  --min-cell N         (default 50)\n"
            "  --life-tolerance T   survival must be within T of the truth (default 0.03)\n"
            "  --median-tolerance R median lifetime within R of the truth (default 0.05)\n"
            "  --min-devices N      check ages that at least N devices of the model\n"
            "                       reached (default 1000)\n"
            "  --share-tolerance T  version shares within T of the truth (default 0.02)\n"
            "  --min-group N        in month x model groups of at least N pings (default 50)\n"
            "  --calibration-factor F  calibrate sales cells and version counts whose\n"
            "                       truth is at least F x the table's threshold (default 2)\n"
            "  --calibration-panel N   calibrate survival at ages whose panel holds at\n"
            "                       least N pings (default 200)\n"
            "  --calibrate KINDS    which calibrations are judged, a comma list of sales,\n"
            "                       survival, medians, shares (default all four; the\n"
            "                       others are printed only)\n"
            "  --no-accuracy        print the accuracy figures but judge only the\n"
            "                       calibration and the privacy sanity checks (for fleets\n"
            "                       too small for the targets)\n"
            "  --help, --version\n"
            "\n"
            "The calibration must put the share of true values inside the published 95 %%\n"
            "intervals in a binomial band around 95 %% (see docs/fleet.md); no figure\n"
            "may be shown whose truth is 0 or whose period is still open.\n"
            "\n"
            "Exit status: 0 sent (and the figures pass), 1 runtime failure or a check\n"
            "failed, 2 usage error.\n",
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

#define CAL_SALES    1u
#define CAL_SURVIVAL 2u
#define CAL_MEDIANS  4u
#define CAL_SHARES   8u
#define CAL_ALL      15u

/* Prints one calibration, marked when it is not judged; returns whether it
 * passes or is not judged. */
static bool calib(FILE *out, const char *what, const struct fleet_calib *c, bool judged)
{
    char label[64];
    snprintf(label, sizeof label, "%s%s", what, judged ? "" : " (not judged)");
    fleet_calib_print(out, label, c);
    return !judged || fleet_calib_ok(c);
}

/* The verdict: accuracy (judged unless --no-accuracy), calibration and
 * sanity, one line each. Returns whether everything judged passed. */
static bool summary(FILE *out, bool judge_accuracy, unsigned kinds,
                    const struct fleet_sales_check *sc, const struct fleet_sales_result *sr,
                    const struct fleet_life_result *lr, double tol, unsigned long long min_n,
                    double median_tol, double share_tol, unsigned long long min_group)
{
    bool acc = sr->ok, cal = fleet_calib_ok(&sr->cal),
         sane = sr->shown_zero == 0 && sr->shown_open == 0;
    fprintf(out, "\nsummary\n  accuracy%s\n", judge_accuracy ? "" : " (not judged: --no-accuracy)");
    if (sr->median_rel >= 0)
        fprintf(out, "  %-34s median relative error %.2f %% over %ld cells (target <= %.1f %%)\n",
                "sales month x model, cells >= N", 100 * sr->median_rel, sr->accuracy_cells,
                100 * sc->median_tol);
    else
        fprintf(out, "  %-34s no cell of at least %ld devices\n", "sales month x model",
                sc->min_cell);
    if (lr) {
        acc = acc && lr->ok;
        fprintf(out, "  %-34s largest error %.4f at ages >= %llu devices (target <= %.3f)\n",
                "survival per model", lr->survival_worst, min_n, tol);
        fprintf(out, "  %-34s %ld checked against %.0f %% (each model's line above)\n", "medians",
                lr->medians_checked, 100 * median_tol);
        fprintf(out,
                "  %-34s largest error %.4f over %ld shares in groups >= %llu pings, %ld over "
                "%.1f points\n",
                "version shares", lr->share_worst, lr->share_checked, min_group, lr->share_out,
                100 * share_tol);
    }
    fprintf(out, "  calibration (true values inside the published 95 %% intervals)\n");
    cal = calib(out, "sales cells", &sr->cal, kinds & CAL_SALES);
    struct fleet_calib all = sr->cal;
    if (lr) {
        cal = calib(out, "survival values", &lr->survival, kinds & CAL_SURVIVAL) && cal;
        cal = calib(out, "medians", &lr->medians, kinds & CAL_MEDIANS) && cal;
        cal = calib(out, "version shares", &lr->shares, kinds & CAL_SHARES) && cal;
        all.n += lr->survival.n + lr->medians.n + lr->shares.n;
        all.inside += lr->survival.inside + lr->medians.inside + lr->shares.inside;
        sane = sane && lr->shown_zero == 0 && lr->shown_open == 0;
    }
    fleet_calib_print(out, "all (printed only)", &all);
    fprintf(out, "  sanity: %ld shown figures whose truth is 0, %ld of a period not closed\n",
            sr->shown_zero + (lr ? lr->shown_zero : 0), sr->shown_open + (lr ? lr->shown_open : 0));
    bool passed = (acc || !judge_accuracy) && cal && sane;
    fprintf(out, "\nverification: %s (accuracy %s, calibration %s, sanity %s)\n",
            passed ? "PASSED" : "FAILED",
            !judge_accuracy ? "not judged"
            : acc           ? "ok"
                            : "MISSED",
            cal ? "ok" : "OUT OF BAND", sane ? "ok" : "BROKEN");
    return passed;
}

/* The options that take a value: a last argument that is none of them is an
 * unknown option, not one whose value is missing. */
static bool takes_a_value(const char *a)
{
    static const char *const with_value[] = {
        "--collector",
        "--devices",
        "--seed",
        "--months",
        "--concurrency",
        "--max-attempts",
        "--token-file",
        "--life-law",
        "--life-consent",
        "--late-consent",
        "--miss",
        "--life-tolerance",
        "--median-tolerance",
        "--sales-tolerance",
        "--share-tolerance",
        "--calibration-factor",
        "--min-cell",
        "--min-group",
        "--calibration-panel",
        "--calibrate",
        "--grace-days",
        "--min-devices",
    };
    for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
        if (strcmp(a, with_value[i]) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    const char *collector = NULL, *token_file = NULL;
    unsigned long long devices = 0, seed = 1, months = 12, concurrency = 8, attempts = 20;
    bool verify = true, lifetime = true, judge_accuracy = true;
    const char *laws = NULL;
    double life_consent = 0.7, late_consent = 0.2, miss = 0.05, tol = 0.03, median_tol = 0.05;
    unsigned long long grace = 7, min_n = 1000, min_cell = 50, min_group = 50, cal_panel = 200;
    double sales_tol = 0.02, share_tol = 0.02, cal_factor = 2.0;
    unsigned cal_kinds = CAL_ALL;
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
        } else if (strcmp(a, "--no-accuracy") == 0) {
            judge_accuracy = false;
            continue;
        }
        if (v == NULL)
            return a[0] != '-'        ? usage_error("unexpected argument", a)
                   : takes_a_value(a) ? usage_error("missing value after", a)
                                      : usage_error("unknown option", a);
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
        } else if (strcmp(a, "--sales-tolerance") == 0) {
            if (!parse_share(v, &sales_tol))
                return usage_error("--sales-tolerance needs a number from 0 to 1", v);
        } else if (strcmp(a, "--share-tolerance") == 0) {
            if (!parse_share(v, &share_tol))
                return usage_error("--share-tolerance needs a number from 0 to 1", v);
        } else if (strcmp(a, "--calibration-factor") == 0) {
            char *end;
            errno = 0;
            cal_factor = strtod(v, &end);
            if (errno != 0 || end == v || *end != '\0' || !(cal_factor >= 0 && cal_factor <= 100))
                return usage_error("--calibration-factor needs a number from 0 to 100", v);
        } else if (strcmp(a, "--min-cell") == 0) {
            if (!parse_u64(v, 1, 100000000, &min_cell))
                return usage_error("--min-cell needs a positive number", v);
        } else if (strcmp(a, "--min-group") == 0) {
            if (!parse_u64(v, 1, 100000000, &min_group))
                return usage_error("--min-group needs a positive number", v);
        } else if (strcmp(a, "--calibration-panel") == 0) {
            if (!parse_u64(v, 1, 100000000, &cal_panel))
                return usage_error("--calibration-panel needs a positive number", v);
        } else if (strcmp(a, "--calibrate") == 0) {
            cal_kinds = 0;
            for (const char *p = v; *p;) {
                size_t len = strcspn(p, ",");
                static const char *const kinds[] = {"sales", "survival", "medians", "shares"};
                size_t k;
                for (k = 0; k < 4; k++)
                    if (strlen(kinds[k]) == len && strncmp(p, kinds[k], len) == 0)
                        break;
                if (k == 4)
                    return usage_error("--calibrate needs a comma list of sales, survival, "
                                       "medians, shares",
                                       v);
                cal_kinds |= 1u << k;
                p += len + (p[len] == ',');
            }
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
    char msg[512] = "";
    struct fleet_sales_check sc;
    fleet_sales_check_defaults(&sc);
    sc.min_cell = (long)min_cell;
    sc.median_tol = sales_tol;
    sc.cal_factor = cal_factor;
    struct fleet_sales_result sr = {.ok = true, .median_rel = -1};
    rc = fleet_verify(&f, base, token, 30000, &sc, stdout, &sr, msg, sizeof msg);
    if (rc != STS_OK) {
        fprintf(stderr, "sts-fleet: cannot verify: %s\n", msg);
        goto out_fleet;
    }
    struct fleet_life_result lr = {.ok = true};
    if (lifetime) {
        struct fleet_life_check chk;
        fleet_life_check_defaults(&chk);
        chk.tol = tol;
        chk.median_tol = median_tol;
        chk.min_n = (long)min_n;
        chk.share_tol = share_tol;
        chk.min_group = (long)min_group;
        chk.cal_min_panel = (long)cal_panel;
        chk.cal_factor = cal_factor;
        rc = fleet_life_verify(&life, &f, &chk, base, token, 60000, stdout, &lr, msg, sizeof msg);
        if (rc != STS_OK) {
            fprintf(stderr, "sts-fleet: cannot verify the lifetime figures: %s\n", msg);
            goto out_fleet;
        }
    }
    bool passed = summary(stdout, judge_accuracy, cal_kinds, &sc, &sr, lifetime ? &lr : NULL, tol,
                          min_n, median_tol, share_tol, min_group);
    status = passed && all_ok ? 0 : 1;
out_fleet:
    fleet_cleanup(&f);
out:
    free(base);
    sts_secret_free(secret);
    return status;
}
