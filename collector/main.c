/* sts-collector: command-line entry. Each subcommand parses its flags here
 * and calls the modules that do the work. Exit: 0 ok, 1 failure, 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "front.h"
#include "http.h"
#include "ingest.h"
#include "inventory.h"
#include "listen.h"
#include "metrics.h"
#include "metrics_http.h"
#include "monitor.h"
#include "rate.h"
#include "reload.h"
#include "release.h"
#include "stats.h"
#include "stats_impl.h"
#include "sqlite_shm.h"
#include "store_pool.h"
#include "store.h"
#include "tls.h"
#include "sts/clock.h"
#include "sts/date.h"
#include "sts/hex.h"
#include "sts/imei.h"
#include "sts/log.h"
#include "sts/net.h"
#include "sts/ohttp.h"
#include "sts/pseudonym.h"
#include "sts/secret.h"

#define EXIT_USAGE 2

/* Read-only handles kept for the statistics API: one per request served at
 * once, up to this many (a request beyond it waits for a handle). */
#define STATS_HANDLES 4

/* In two parts: C17 requires compilers to take string literals of 4095 bytes only. */
static const char usage_serve[] =
    "usage: sts-collector COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  keygen --out FILE [--token|--ohttp]\n"
    "                                   create a pseudonym keyring (or, with --token, an API\n"
    "                                   token; with --ohttp, an Oblivious HTTP gateway key)\n"
    "                                   in a new file with mode 0600\n"
    "  keygen --rotate FILE             add a new current key to the keyring; the older\n"
    "                                   keys stay for look-ups (reload serve to use it)\n"
    "  rekey --retire KEYID --db URI --key FILE\n"
    "                                   remove an older key from the keyring once no row\n"
    "                                   needs it\n"
    "  serve --db URI --key FILE [--listen HOST:PORT] [--token-file FILE]\n"
    "        [--tls-cert FILE --tls-key FILE] [--ohttp-key FILE [--ohttp-key FILE]]\n"
    "        [--config FILE] [--threads N] [--max-batch N] [--k N] [--rho R]\n"
    "        [--rate-limit N] [--relay-rate-limit N] [--relay-addresses IP,...]\n"
    "        [--max-body BYTES] [--connection-limit N] [--per-client-limit N]\n"
    "        [--header-timeout S] [--body-timeout S] [--timeout S] [--rate-burst N]\n"
    "        [--relay-burst N] [--report-id-days N] [--grace-days N] [--backfill 0|1]\n"
    "        [--metrics-listen HOST:PORT] [--summary-interval S]\n"
    "        [--retention-months N] [--writers N]\n"
    "                                   receive reports (default listen 127.0.0.1:8080;\n"
    "                                   plain HTTP only on loopback, else HTTPS); --rho fixes\n"
    "                                   a new database's privacy budget (default 0.5). Every\n"
    "                                   setting of the --config file is also a flag, its\n"
    "                                   name with '-' for '_' (README, configuration\n"
    "                                   reference); flags win over the file. GET /metrics\n"
    "                                   (Prometheus text) needs the API token, or with\n"
    "                                   --metrics-listen is served there only, without it.\n"
    "                                   Signals: SIGHUP\n"
    "                                   reloads the TLS certificate and key, the token,\n"
    "                                   the Oblivious HTTP keys and the pseudonym keyring\n"
    "                                   (refused if it lost a key rows need); SIGTERM\n"
    "                                   drains and stops\n";
static const char usage_rest[] =
    "  stats sales --db URI [--by brand,model,sw,country] [--period day|week|month]\n"
    "        [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--cumulative] [--format table|csv|json]\n"
    "        [--k N] [--brand B] [--model M] [--sw S] [--country C|-]\n"
    "                                   activations and re-activations per period\n"
    "  stats lifetime --db URI [--by brand,model] [--from YYYY-MM] [--to YYYY-MM]\n"
    "        [--grace-days N] [--format ...] [--k N] [--brand B] [--model M]\n"
    "                                   share of each cohort still in use after 1..N months,\n"
    "                                   median lifetime (from the anonymous monthly pings)\n"
    "  stats versions --db URI [--from YYYY-MM] [--to YYYY-MM] [--format ...] [--k N]\n"
    "        [--model M] [--sw S]\n"
    "                                   software versions in use per month, how fast each\n"
    "                                   spread\n"
    "  --models M1,M2,... (any statistic, and serve): the maker's models; reports of\n"
    "  other models count as model \"other\" (bounds what fresh strings cost)\n"
    "  Every figure comes from the differentially private release of closed periods,\n"
    "  with its 95% interval; figures under k are not shown (docs/privacy.md).\n"
    "  export --imei IMEI --db URI --key FILE [--format json|text]\n"
    "                                   print what is held about one device, under every key\n"
    "  erase --imei IMEI --db URI --key FILE    delete what is held about one device\n"
    "  audit --db URI [--key FILE] [--k N] [--format text|json]\n"
    "                                   summarise what the database holds and its smallest\n"
    "                                   classes (how many counters hold fewer than k)\n"
    "  purge --db URI [--retention-months N] [--dry-run]\n"
    "                                   delete the report ids whose window has passed and\n"
    "                                   fold the device rows past the retention (default 36\n"
    "                                   months; serve does both, hourly); --dry-run only says\n"
    "                                   what would go\n"
    "\n"
    "URI: sqlite:PATH (or a plain path), or a libpq URI postgresql://... (also\n"
    "  postgres://; several hosts and target_session_attrs=read-write for failover)\n"
    "  --help, --version\n";

static void usage(void)
{
    fputs(usage_serve, stdout);
    fputs(usage_rest, stdout);
}

/* --help (or help) and --version, after any command as before one. */
static int version_or_help(const char *arg)
{
    if (strcmp(arg, "--version") == 0)
        printf("sts-collector %s\n", STS_VERSION);
    else
        usage();
    return EXIT_SUCCESS;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sts-collector: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'sts-collector --help'.\n");
    return EXIT_USAGE;
}

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "sts-collector: %s: %s\n", what, why);
    return EXIT_FAILURE;
}

/* Why a keyring at path was refused; for STS_EPERM, which of the file's
 * faults it is, since each has its own remedy. The text lives in a buffer
 * of the calling thread until its next call. */
static const char *key_error(const char *path, enum sts_err e)
{
    static _Thread_local char buf[160];
    struct stat st;
    switch (e) {
    case STS_ENOENT: return "no such file; create one with 'sts-collector keygen --out FILE'";
    case STS_EPERM:
        if (lstat(path, &st) != 0)
            return "permission denied";
        if (S_ISLNK(st.st_mode))
            return "the key file is a symbolic link; give the path of the file itself";
        if (!S_ISREG(st.st_mode))
            return "the key file is not a regular file";
        if (st.st_mode & 077) {
            snprintf(buf, sizeof buf,
                     "the key file has mode %04o: it is readable by others; chmod 600 it",
                     (unsigned)(st.st_mode & 07777));
            return buf;
        }
        return "permission denied";
    case STS_ECORRUPT: return "not a key file written by 'sts-collector keygen'";
    default: return sts_strerror(e);
    }
}

/* Why a new secret file could not be made at path. */
static const char *create_error(enum sts_err e)
{
    switch (e) {
    case STS_EEXIST: return "already exists; an existing key is never overwritten";
    case STS_ENOENT: return "its directory does not exist; create it first (mode 0700)";
    default: return sts_strerror(e);
    }
}

enum opt_id {
    OPT_OUT = 256,
    OPT_TOKEN,
    OPT_DB,
    OPT_KEY,
    OPT_LISTEN,
    OPT_TOKEN_FILE,
    OPT_CONFIG,
    OPT_THREADS,
    OPT_MAX_BATCH,
    OPT_K,
    OPT_BY,
    OPT_PERIOD,
    OPT_FROM,
    OPT_TO,
    OPT_FORMAT,
    OPT_IMEI,
    OPT_HELP,
    OPT_OHTTP,
    OPT_OHTTP_KEY,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_CUMULATIVE,
    OPT_BRAND,
    OPT_MODEL,
    OPT_SW,
    OPT_COUNTRY,
    OPT_GRACE_DAYS,
    OPT_RHO,
    OPT_MODELS,
    OPT_RATE_LIMIT,
    OPT_RELAY_RATE_LIMIT,
    OPT_RELAY_ADDRESSES,
    OPT_ROTATE,
    OPT_RETIRE,
    OPT_DRY_RUN,
    OPT_RETENTION_MONTHS,
    OPT_VERSION,
    /* Settings that are flags only by name: --max-body sets max_body. */
    OPT_SETTING = 512
};

/* Every setting of the configuration file is also a flag: these are the
 * ones with no option of their own above (the flag is the name with '-'
 * for '_'). */
static const char *const setting_flags[] = {
    "max_body",       "connection_limit", "per_client_limit", "header_timeout", "body_timeout",
    "timeout",        "rate_burst",       "relay_burst",      "report_id_days", "backfill",
    "metrics_listen", "summary_interval", "writers",
};
#define N_SETTING_FLAGS (sizeof setting_flags / sizeof setting_flags[0])

static const struct option options[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"token", no_argument, NULL, OPT_TOKEN},
    {"db", required_argument, NULL, OPT_DB},
    {"key", required_argument, NULL, OPT_KEY},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"max-batch", required_argument, NULL, OPT_MAX_BATCH},
    {"k", required_argument, NULL, OPT_K},
    {"by", required_argument, NULL, OPT_BY},
    {"period", required_argument, NULL, OPT_PERIOD},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"imei", required_argument, NULL, OPT_IMEI},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"ohttp", no_argument, NULL, OPT_OHTTP},
    {"ohttp-key", required_argument, NULL, OPT_OHTTP_KEY},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"cumulative", no_argument, NULL, OPT_CUMULATIVE},
    {"brand", required_argument, NULL, OPT_BRAND},
    {"model", required_argument, NULL, OPT_MODEL},
    {"sw", required_argument, NULL, OPT_SW},
    {"country", required_argument, NULL, OPT_COUNTRY},
    {"grace-days", required_argument, NULL, OPT_GRACE_DAYS},
    {"rho", required_argument, NULL, OPT_RHO},
    {"models", required_argument, NULL, OPT_MODELS},
    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
    {"relay-rate-limit", required_argument, NULL, OPT_RELAY_RATE_LIMIT},
    {"relay-addresses", required_argument, NULL, OPT_RELAY_ADDRESSES},
    {"max-body", required_argument, NULL, OPT_SETTING + 0},
    {"connection-limit", required_argument, NULL, OPT_SETTING + 1},
    {"per-client-limit", required_argument, NULL, OPT_SETTING + 2},
    {"header-timeout", required_argument, NULL, OPT_SETTING + 3},
    {"body-timeout", required_argument, NULL, OPT_SETTING + 4},
    {"timeout", required_argument, NULL, OPT_SETTING + 5},
    {"rate-burst", required_argument, NULL, OPT_SETTING + 6},
    {"relay-burst", required_argument, NULL, OPT_SETTING + 7},
    {"report-id-days", required_argument, NULL, OPT_SETTING + 8},
    {"backfill", required_argument, NULL, OPT_SETTING + 9},
    {"metrics-listen", required_argument, NULL, OPT_SETTING + 10},
    {"summary-interval", required_argument, NULL, OPT_SETTING + 11},
    {"writers", required_argument, NULL, OPT_SETTING + 12},
    {"rotate", required_argument, NULL, OPT_ROTATE},
    {"retire", required_argument, NULL, OPT_RETIRE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"retention-months", required_argument, NULL, OPT_RETENTION_MONTHS},
    {NULL, 0, NULL, 0},
};

/* Everything any subcommand may be given; each checks what it needs. */
struct args {
    struct collector_config cfg;
    const char *out, *imei, *format;
    const char *rotate, *retire; /* keygen --rotate FILE, rekey --retire KEYID */
    int dry_run;
    struct stats_args stats;
    int token, ohttp;
    /* The long options given, by name, so that each command can refuse the
     * ones it does not take instead of ignoring them. */
    const char *given[64];
    size_t n_given;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    char why[256];
    const char *config = NULL;
    struct {
        const char *name, *value;
    } sets[64];
    size_t nsets = 0;
    int c, li = -1;
    config_defaults(&a->cfg);
    a->format = "table";
    optind = 1;
    opterr = 0; /* getopt would name the command as the program: say it here */
    while ((c = getopt_long(argc, argv, ":", options, &li)) != -1) {
        if (c == ':')
            return usage_error("%s needs a value", argv[optind - 1]);
        if (c == '?')
            return usage_error("unknown or ambiguous option '%s'", argv[optind - 1]);
        if (li >= 0) {
            if (a->n_given == sizeof a->given / sizeof a->given[0])
                return usage_error("%s", "too many options");
            a->given[a->n_given++] = options[li].name;
        }
        li = -1;
        if (c >= OPT_SETTING && c < OPT_SETTING + (int)N_SETTING_FLAGS) {
            sets[nsets].name = setting_flags[c - OPT_SETTING];
            goto set;
        }
        switch (c) {
        case OPT_OUT: a->out = optarg; break;
        case OPT_TOKEN: a->token = 1; break;
        case OPT_OHTTP: a->ohttp = 1; break;
        case OPT_OHTTP_KEY: sets[nsets].name = "ohttp_key"; goto set;
        case OPT_TLS_CERT: sets[nsets].name = "tls_cert"; goto set;
        case OPT_TLS_KEY: sets[nsets].name = "tls_key"; goto set;
        case OPT_CONFIG: config = optarg; break;
        case OPT_DB: sets[nsets].name = "db"; goto set;
        case OPT_KEY: sets[nsets].name = "key"; goto set;
        case OPT_LISTEN: sets[nsets].name = "listen"; goto set;
        case OPT_TOKEN_FILE: sets[nsets].name = "token_file"; goto set;
        case OPT_THREADS: sets[nsets].name = "threads"; goto set;
        case OPT_MAX_BATCH: sets[nsets].name = "max_batch"; goto set;
        case OPT_K: sets[nsets].name = "k"; goto set;
        case OPT_BY: a->stats.by = optarg; break;
        case OPT_PERIOD: a->stats.period = optarg; break;
        case OPT_FROM: a->stats.from = optarg; break;
        case OPT_TO: a->stats.to = optarg; break;
        case OPT_FORMAT: a->format = optarg; break;
        case OPT_IMEI: a->imei = optarg; break;
        case OPT_CUMULATIVE: a->stats.cumulative = "1"; break;
        case OPT_BRAND: a->stats.brand = optarg; break;
        case OPT_MODEL: a->stats.model = optarg; break;
        case OPT_SW: a->stats.sw = optarg; break;
        case OPT_COUNTRY: a->stats.country = optarg; break;
        case OPT_GRACE_DAYS: sets[nsets].name = "grace_days"; goto set;
        case OPT_RHO: sets[nsets].name = "rho"; goto set;
        case OPT_MODELS: sets[nsets].name = "models"; goto set;
        case OPT_RATE_LIMIT: sets[nsets].name = "rate_limit"; goto set;
        case OPT_RELAY_RATE_LIMIT: sets[nsets].name = "relay_rate_limit"; goto set;
        case OPT_RELAY_ADDRESSES: sets[nsets].name = "relay_addresses"; goto set;
        case OPT_ROTATE: a->rotate = optarg; break;
        case OPT_RETIRE: a->retire = optarg; break;
        case OPT_DRY_RUN: a->dry_run = 1; break;
        case OPT_RETENTION_MONTHS: sets[nsets].name = "retention_months"; goto set;
        case OPT_HELP: exit(version_or_help("--help"));
        case OPT_VERSION: exit(version_or_help("--version"));
        }
        continue;
    set:
        if (nsets + 1 >= sizeof sets / sizeof sets[0])
            return usage_error("%s", "too many options");
        sets[nsets++].value = optarg;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    /* Flags win over the file, whatever their order on the line; --ohttp-key
     * flags replace the file's keys rather than add to them. */
    if (config && config_load(&a->cfg, config, why, sizeof why) != STS_OK)
        return usage_error("%s", why);
    for (size_t i = 0; i < nsets; i++)
        if (strcmp(sets[i].name, "ohttp_key") == 0)
            a->cfg.n_ohttp_keys = 0;
    for (size_t i = 0; i < nsets; i++)
        if (config_set(&a->cfg, sets[i].name, sets[i].value, why, sizeof why) != STS_OK)
            return usage_error("%s", why);
    /* Whoever runs the CLI holds the database: --k sets the floor there. Over
     * HTTP a query may only raise it (see stats.h). */
    a->stats.k_min = a->cfg.k;
    a->stats.grace_days = a->cfg.grace_days;
    a->stats.models = a->cfg.models;
    return 0;
}

static int keygen_ohttp(const char *out)
{
    struct sts_ohttp_gateway_key *key = NULL;
    enum sts_err e = sts_ohttp_gateway_key_generate(&key);
    if (e != STS_OK)
        return fail("keygen", sts_strerror(e));
    e = sts_ohttp_gateway_key_write_file(key, out);
    unsigned id = sts_ohttp_gateway_key_config(key)->key_id;
    sts_ohttp_gateway_key_free(key);
    if (e != STS_OK)
        return fail(out, create_error(e));
    fprintf(stderr,
            "sts-collector: wrote Oblivious HTTP gateway key (key id %u) to %s (mode 0600); "
            "serve it with --ohttp-key %s\n",
            id, out, out);
    return EXIT_SUCCESS;
}

/* A new current key; the older ones stay so that devices stored under them
 * are still found (and move to the new key when they re-activate). */
static int keygen_rotate(const char *path)
{
    uint32_t id = 0;
    struct sts_keyring ring;
    enum sts_err e = sts_keyring_rotate(path, &id);
    if (e == STS_ETOOBIG)
        return fail(path, "the keyring is full; retire an older key first (sts-collector rekey "
                          "--retire KEYID)");
    if (e != STS_OK)
        return fail(path, key_error(path, e));
    if ((e = sts_keyring_load(path, &ring)) != STS_OK)
        return fail(path, key_error(path, e));
    fprintf(stderr,
            "sts-collector: added key %08x to %s, now current; %zu key(s) in the keyring. "
            "Reload serve (SIGHUP) to make new pseudonyms with it; the older keys stay "
            "for look-ups until retired\n",
            (unsigned)id, path, ring.n);
    sts_keyring_cleanse(&ring);
    return EXIT_SUCCESS;
}

static int cmd_keygen(struct args *a)
{
    if (a->rotate && (a->out || a->token || a->ohttp))
        return usage_error("%s", "keygen --rotate FILE takes no other option");
    if (a->rotate)
        return keygen_rotate(a->rotate);
    if (!a->out)
        return usage_error("%s", "keygen needs --out FILE");
    if (a->token && a->ohttp)
        return usage_error("%s", "keygen takes --token or --ohttp, not both");
    if (a->ohttp)
        return keygen_ohttp(a->out);
    if (!a->token) {
        enum sts_err e = sts_key_generate(a->out);
        if (e != STS_OK)
            return fail(a->out, create_error(e));
        fprintf(stderr,
                "sts-collector: wrote pseudonym key to %s (mode 0600); keep it out of "
                "the database and its backups\n",
                a->out);
        return EXIT_SUCCESS;
    }
    unsigned char raw[24];
    char hex[2 * sizeof raw + 1];
    int rc = EXIT_SUCCESS;
    if (RAND_bytes(raw, sizeof raw) != 1)
        return fail("token", "no randomness");
    sts_hex_encode(raw, sizeof raw, hex);
    hex[2 * sizeof raw] = '\n'; /* in place of the NUL: the file is one line */
    int fd = open(a->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = fail(a->out, create_error(sts_err_from_errno(errno)));
        goto out;
    }
    ssize_t w = write(fd, hex, sizeof hex);
    if (w != (ssize_t)sizeof hex || fsync(fd) != 0) {
        close(fd);
        unlink(a->out);
        rc = fail(a->out, "cannot write");
        goto out;
    }
    close(fd);
    fprintf(stderr, "sts-collector: wrote API token to %s (mode 0600)\n", a->out);
out:
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

static int load_keys(const char *path, struct sts_keyring *ring)
{
    if (!*path)
        return usage_error("%s", "--key FILE is required");
    enum sts_err e = sts_keyring_load(path, ring);
    if (e != STS_OK)
        return fail(path, key_error(path, e));
    return 0;
}

static int open_db(const char *uri, unsigned flags, struct store **store)
{
    char why[512] = "";
    if (!*uri)
        return usage_error("%s",
                           "--db URI is required (e.g. sqlite:/var/lib/sts-collector/sts.db)");
    enum sts_err e = store_open(uri, flags, store, why, sizeof why);
    if (e != STS_OK)
        return fail("database", why[0] ? why : sts_strerror(e));
    return 0;
}

/* The release budget is fixed with the database: a closed period released
 * again under another rho would carry new noise, and the two releases
 * together would say more than either. */
static int fix_budget(struct store *store, double rho)
{
    struct store_release p;
    char why[160];
    enum sts_err e = store_release_get(store, &p);
    OPENSSL_cleanse(p.seed, sizeof p.seed);
    if (e == STS_OK && p.rho == 0)
        e = store_release_set_rho(store, rho > 0 ? rho : RELEASE_DEFAULT_RHO);
    if (e != STS_OK)
        return fail("db", sts_strerror(e));
    if (rho > 0 && p.rho > 0 && rho != p.rho) {
        snprintf(why, sizeof why,
                 "this database's release budget is fixed at rho = %g per month; --rho %g would "
                 "release its closed periods again with new noise",
                 p.rho, rho);
        return fail("rho", why);
    }
    return 0;
}

/* The exit totals, worded so that they add up: every report answered is
 * one of accepted, re-activation, duplicate, invalid or failed; every record
 * the writer took was committed or failed, and what it committed is exactly
 * the accepted, re-activations and duplicates (a duplicate commits nothing
 * new). Reports refused while stopping failed without reaching the writer. */
static void print_totals(const struct http_counters *h, const struct ingest_stats *st)
{
    unsigned long long answered =
        h->accepted + h->reactivations + h->duplicates + h->invalid + h->failed;
    unsigned long long committed = st->records - st->failed;
    sts_log(STS_LOG_INFO,
            "%llu reports answered: %llu accepted, %llu re-activations, "
            "%llu duplicates (202/200); %llu invalid (4xx); %llu failed (503)",
            answered, h->accepted, h->reactivations, h->duplicates, h->invalid, h->failed);
    sts_log(STS_LOG_INFO,
            "writer: %llu records in %llu transactions (largest %zu): %llu "
            "committed (the accepted, re-activations and duplicates), %llu failed; %llu more "
            "failed without reaching it",
            st->records, st->batches, st->largest_batch, committed, st->failed,
            h->failed > st->failed ? h->failed - st->failed : 0);
}

/* The settings in force, once at start: the store's kind, not its URI (a
 * PostgreSQL URI may hold a password). */
static void log_settings(const struct collector_config *c, size_t writers, bool tls, bool token,
                         bool ohttp)
{
    const char *kind = strncmp(c->db, "postgres", 8) == 0 ? "postgresql" : "sqlite";
    /* The values in force, defaults resolved as serve resolves them. */
    long rate = c->rate_limit >= 0 ? c->rate_limit : tls ? CONFIG_TLS_RATE_LIMIT : 0;
    unsigned per_client = c->per_client_limit ? c->per_client_limit
                          : tls               ? FRONT_TLS_PER_CLIENT_LIMIT
                                              : 0;
    char threads[16];
    if (c->threads)
        snprintf(threads, sizeof threads, "%u", c->threads);
    else
        snprintf(threads, sizeof threads, "one per CPU");
    sts_log(STS_LOG_NOTICE,
            "starting %s: db %s, %s, metrics %s, threads %s, writers %zu, max_batch %zu, "
            "max_body %zu, connection_limit %u, per_client_limit %u, header_timeout %us, "
            "body_timeout %us, timeout %us, rate_limit %ld/s, relay_rate_limit %ld/s, relays %s, "
            "token %s, Oblivious HTTP keys %u, k %ld, report_id_days %ld, backfill %d, "
            "summary every %lds",
            STS_VERSION, kind, tls ? "https" : "http (loopback)",
            *c->metrics_listen ? "on an address of their own" : "behind the token", threads,
            writers, c->max_batch, c->max_body, c->connection_limit, per_client,
            c->header_timeout_s, c->body_timeout_s, c->timeout_s, rate, c->relay_rate_limit,
            *c->relay_addresses ? "set" : "none", token ? "on" : "off", ohttp ? c->n_ohttp_keys : 0,
            c->k, c->report_id_days, c->backfill, c->summary_interval);
}

static int cmd_serve(struct args *a)
{
    struct collector_config *cfg = &a->cfg;
    struct sts_keyring key;
    struct store *store = NULL;
    struct store *writer_stores[CONFIG_MAX_WRITERS] = {NULL}; /* [0] is store */
    size_t n_writers = 1;
    struct store_pool *stats_pool = NULL;
    struct ingest *ing = NULL;
    struct http_server *srv = NULL;
    struct sts_secret *token = NULL;
    char *tls_cert = NULL;
    struct sts_secret *tls_key = NULL;
    struct sts_ohttp_gateway *gw = NULL;
    char why[512] = "";
    int rc, listen_fd = -1, metrics_fd = -1;
    struct metrics *metrics = NULL;
    struct front *metrics_front = NULL;
    struct monitor *mon = NULL;
    bool started = false;
    sigset_t sigs;

    if (!*cfg->db)
        return usage_error("%s",
                           "serve needs --db URI (e.g. sqlite:/var/lib/sts-collector/sts.db)");
    if (!*cfg->tls_cert != !*cfg->tls_key)
        return usage_error("%s", "--tls-cert and --tls-key go together");
    /* Several writers overlap their commits on PostgreSQL, whose unique
     * constraints keep them exact; SQLite takes one writer at a time. */
    if (strncmp(cfg->db, "postgres", 8) == 0)
        n_writers = cfg->writers ? cfg->writers : CONFIG_PG_WRITERS;
    else if (cfg->writers > 1)
        return usage_error("--writers %u: SQLite has one writer by design (several writers are "
                           "for PostgreSQL)",
                           cfg->writers);
    if ((rc = load_keys(cfg->key, &key)) != 0)
        return rc;
    rc = EXIT_FAILURE;
    if (*cfg->tls_cert) {
        size_t n;
        if (sts_net_read_file(cfg->tls_cert, 1 << 20, &tls_cert, &n, why, sizeof why) != STS_OK) {
            fail("tls", why);
            goto out;
        }
        enum sts_err e = sts_secret_file_read(cfg->tls_key, 1 << 16, &tls_key);
        if (e != STS_OK) {
            fprintf(stderr, "sts-collector: tls: %s: %s\n", cfg->tls_key,
                    e == STS_EPERM ? "the TLS key must be a regular file (not a link) that "
                                     "group and others cannot read; chmod 600 it"
                                   : sts_strerror(e));
            goto out;
        }
        /* Checked as a pair now, not when the front starts: a certificate
         * that is not one must stop serve before the database is created. */
        if (front_tls_set(tls_cert, tls_key->data, why, sizeof why) != STS_OK) {
            fail("tls", why);
            goto out;
        }
    }
    if (cfg->n_ohttp_keys) {
        const char *paths[2] = {cfg->ohttp_keys[0], cfg->ohttp_keys[1]};
        if (gateway_load(paths, cfg->n_ohttp_keys, &gw, why, sizeof why) != STS_OK) {
            fail("ohttp-key", why);
            goto out;
        }
    }
    if (*cfg->token_file && config_read_token(cfg->token_file, &token, why, sizeof why) != STS_OK) {
        fail("token", why);
        goto out;
    }
    struct rate_config rate = {.rate = cfg->rate_limit >= 0 ? (double)cfg->rate_limit
                                       : tls_cert           ? CONFIG_TLS_RATE_LIMIT
                                                            : 0,
                               .burst = cfg->rate_burst,
                               .relay_rate = cfg->relay_rate_limit,
                               .relay_burst = cfg->relay_burst,
                               .relays = *cfg->relay_addresses ? cfg->relay_addresses : NULL};
    if (rate.relays) {
        /* The relay addresses parsed now, by the front's own parser, so that
         * a typo stops serve before anything is made, with or without a
         * limit set (the front builds no table without one). */
        struct rate_config check = rate;
        struct rate_table *table = NULL;
        check.relay_rate = check.relay_rate > 0 ? check.relay_rate : 1;
        enum sts_err re = rate_new(&check, &table, why, sizeof why);
        rate_free(table);
        if (re != STS_OK) {
            rc = re == STS_EINVAL ? usage_error("%s", why) : fail("serve", sts_strerror(re));
            goto out;
        }
    }
    /* The database and its -wal and -shm hold pseudonyms: owner only. */
    umask(077);
    /* The address is bound before anything is created, so that a bad one or
     * a port in use stops here with nothing made. */
    enum sts_err le = front_listen_open(cfg->listen, *cfg->tls_cert, &listen_fd, why, sizeof why);
    if (le != STS_OK) {
        if (le == STS_EINVAL) {
            rc = usage_error("--listen: %s", why);
            goto out;
        }
        fail("listen", why);
        goto out;
    }
    if (*cfg->metrics_listen) {
        le = front_listen_open(cfg->metrics_listen, *cfg->tls_cert, &metrics_fd, why, sizeof why);
        if (le != STS_OK) {
            rc = le == STS_EINVAL ? usage_error("--metrics-listen: %s", why)
                                  : fail("metrics-listen", why);
            goto out;
        }
    }
    if (metrics_new(&metrics) != STS_OK) {
        fail("serve", "out of memory");
        goto out;
    }
    metric_set(metrics_add(metrics, METRIC_GAUGE, "sts_build_info", "the collector's version",
                           "program=\"sts-collector\",version=\"" STS_VERSION "\"", NULL, 0),
               1);
    metric_set(metrics_add(metrics, METRIC_GAUGE, "sts_start_time_seconds",
                           "when this process started, seconds since the epoch", NULL, NULL, 0),
               (int64_t)time(NULL));
    /* Threads inherit this mask, so only sigwait below sees these signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sqlite_shm_guard() != STS_OK) {
        fail("serve", "cannot install the SIGBUS handler");
        goto out;
    }

    if (open_db(cfg->db, STORE_CREATE, &store) != 0 || fix_budget(store, cfg->rho) != 0)
        goto out;
    /* Report ids kept as configured, late reports counted in the first open
     * period (docs/at-rest.md) unless history is being loaded. */
    struct store_policy pol;
    store_policy_defaults(&pol);
    pol.report_id_days = (int)cfg->report_id_days;
    pol.grace_days = cfg->grace_days == 0  ? pol.grace_days
                     : cfg->grace_days < 0 ? 0
                                           : (int)cfg->grace_days;
    pol.late_shift = !cfg->backfill;
    pol.retention_months = (int)cfg->retention_months;
    if (store_set_policy(store, &pol) != STS_OK) {
        fail("serve", "bad report_id_days or grace_days");
        goto out;
    }
    /* Each writer its own connection, the first the one that made the
     * schema. */
    writer_stores[0] = store;
    for (size_t i = 1; i < n_writers; i++)
        if (open_db(cfg->db, 0, &writer_stores[i]) != 0 ||
            store_set_policy(writer_stores[i], &pol) != STS_OK)
            goto out;
    /* The statistics API's read-only handles, opened when first needed and
     * kept: at most one per concurrent request up to the bound. */
    if (token && store_pool_new(cfg->db, STORE_READONLY, STATS_HANDLES, &stats_pool) != STS_OK) {
        fail("serve", "out of memory");
        goto out;
    }
    if (ingest_new(writer_stores, n_writers, cfg->max_batch, &key, &ing) != STS_OK) {
        fail("ingest", "cannot start the writer threads");
        goto out;
    }
    sts_keyring_cleanse(&key); /* the writer has its copy, which SIGHUP replaces */
    ingest_set_metrics(ing, metrics);
    log_settings(cfg, n_writers, tls_cert != NULL, token != NULL, gw != NULL);
    started = true;
    struct http_config hc = {
        .listen = cfg->listen,
        .use_listen_fd = true,
        .listen_fd = listen_fd,
        .threads = cfg->threads,
        .max_body = cfg->max_body,
        .connection_limit = cfg->connection_limit,
        .per_client_limit = cfg->per_client_limit ? cfg->per_client_limit
                            : tls_cert            ? FRONT_TLS_PER_CLIENT_LIMIT
                                                  : 0,
        .header_timeout_s = cfg->header_timeout_s,
        .body_timeout_s = cfg->body_timeout_s,
        .timeout_s = cfg->timeout_s,
        .rate = rate,
        .token = token ? token->data : NULL,
        .db = stats_pool,
        .models = *cfg->models ? cfg->models : NULL,
        .stats_cache = !cfg->backfill,
        .k = cfg->k,
        .grace_days = cfg->grace_days,
        .tls_cert_pem = tls_cert,
        .tls_key_pem = tls_key ? tls_key->data : NULL,
        .gateway = gw,
        .metrics = metrics,
        /* Their counters are exact and live, and the API token is the
         * analysts', whom the figures' noise is for (docs/privacy.md). */
        .metrics_elsewhere = *cfg->metrics_listen != '\0',
    };
    listen_fd = -1; /* http_start consumes it */
    if (http_start(&hc, ing, &srv, why, sizeof why) != STS_OK) {
        fail("serve", why);
        goto out;
    }
    if (metrics_fd >= 0) {
        int fd = metrics_fd;
        metrics_fd = -1; /* consumed */
        if (metrics_http_start(cfg->metrics_listen, fd, tls_cert, tls_key ? tls_key->data : NULL,
                               metrics, &metrics_front, why, sizeof why) != STS_OK) {
            fail("metrics-listen", why);
            goto out;
        }
        sts_log(STS_LOG_INFO, "metrics listening on %s://%.*s:%u/metrics",
                tls_cert ? "https" : "http",
                (int)(strrchr(cfg->metrics_listen, ':') - cfg->metrics_listen), cfg->metrics_listen,
                front_port(metrics_front));
    }
    char host[128];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(cfg->listen, ':') - cfg->listen),
             cfg->listen);
    sts_log(STS_LOG_NOTICE, "listening on %s://%s:%u%s", tls_cert ? "https" : "http", host,
            http_port(srv), gw ? " (Oblivious HTTP gateway at /v1/ohttp)" : "");
    if (monitor_start(srv, ing, metrics, cfg->summary_interval, &mon) != STS_OK) {
        fail("serve", "cannot start the log thread");
        goto out;
    }
    struct reload_metrics rlm;
    reload_metrics_register(&rlm, metrics);
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
        collector_reload(cfg, srv, ing, &gw, &rlm);
    sts_log(STS_LOG_NOTICE, "signal %d (%s), stopping: no new connections, finishing the open ones",
            sig, strsignal(sig));
    /* A request still arriving has until its body deadline. */
    if (!http_drain(srv, 1000 * (cfg->body_timeout_s + 1)))
        sts_log(STS_LOG_WARNING, "requests still arriving after %us are answered 503",
                cfg->body_timeout_s + 1);
    rc = EXIT_SUCCESS;
out:
    monitor_stop(mon);
    /* Order matters: stop taking connections, let the writer commit and
     * answer everything queued, then close the connections, then free the
     * queue (a request still arriving meanwhile fails fast with 503). */
    if (srv)
        http_quiesce(srv);
    if (ing)
        ingest_stop(ing);
    if (listen_fd >= 0)
        close(listen_fd);
    if (metrics_fd >= 0)
        close(metrics_fd);
    front_stop(metrics_front);
    if (srv) {
        struct http_counters hc2;
        http_stop(srv, &hc2); /* frees srv */
        struct ingest_stats st;
        ingest_get_stats(ing, &st);
        print_totals(&hc2, &st);
    }
    ingest_free(ing);
    store_pool_free(stats_pool); /* no request borrows a handle once http_stop is done */
    metrics_free(metrics);
    if (started)
        sts_log(STS_LOG_NOTICE, "stopped");
    for (size_t i = 1; i < n_writers; i++)
        store_close(writer_stores[i]);
    store_close(store);
    sts_keyring_cleanse(&key);
    sts_secret_free(token);
    sts_ohttp_gateway_free(gw);
    front_tls_cleanup();
    free(tls_cert);
    sts_secret_free(tls_key);
    return rc;
}

static int cmd_stats(struct args *a, const char *which)
{
    struct store *store;
    struct sts_field_error fe;
    int rc = open_db(a->cfg.db, STORE_READONLY, &store);
    if (rc)
        return rc;
    enum sts_err e = stats_print(store, which, &a->stats, a->format, stdout, &fe);
    store_close(store);
    if (e == STS_EINVAL || e == STS_ENOENT) {
        fprintf(stderr, "sts-collector: --%s: %s\n", fe.field, fe.detail);
        return EXIT_USAGE;
    }
    if (e == STS_ETOOBIG)
        return fail("stats", fe.detail);
    if (e != STS_OK)
        return fail("stats", sts_strerror(e));
    return EXIT_SUCCESS;
}

/* The device's pseudonyms under every live key of the keyring, the current
 * key first: a device stored before a rotation is found under its old key. */
static int device_pseudonyms(struct args *a, struct sts_pseudonyms *out)
{
    const char *why;
    struct sts_keyring ring;
    struct sts_pseudonymizer *pz = NULL;
    if (!a->imei)
        return usage_error("%s", "--imei IMEI is required");
    if (!sts_imei_valid(a->imei, &why))
        return usage_error("--imei: %s", why);
    int rc = load_keys(a->cfg.key, &ring);
    if (rc)
        return rc;
    enum sts_err e = sts_pseudonymizer_new_ring(&ring, &pz);
    if (e == STS_OK)
        e = sts_pseudonymizer_compute_all(pz, a->imei, out);
    sts_pseudonymizer_free(pz);
    sts_keyring_cleanse(&ring);
    return e == STS_OK ? 0 : fail("pseudonym", sts_strerror(e));
}

/* What export says is not stored, and what is not linked to the device. */
static const char export_not_stored[] =
    "Not stored with the device: its IMEI (only a keyed hash of it), the day of its first "
    "activation (only the month), the day and software version of each re-activation (only "
    "the month), when each report was received (the month is that of the day a report was "
    "counted on: its own day, or the first day still open for a late report), what the "
    "device is (make, model, software) and where it was sold, its address on the network, "
    "and the ids of its reports.";
static const char export_not_linked[] =
    "Not linked to this device: the anonymous counters of sales per day and class and of "
    "the monthly lifetime pings, which hold numbers of devices and no pseudonym, and the "
    "report ids kept for a few weeks against retried reports, which name no device. "
    "Nothing ties a ping to an IMEI: the ping carries none, by design, so no record of "
    "this device's pings exists to export or erase. Erasing the device deletes the rows "
    "above; the counters keep the figures it contributed to, as anonymous data.";

static json_t *device_json(const struct store_device *dev, uint32_t key_id, const uint8_t *p,
                           bool current)
{
    char month[STS_MONTH_LEN + 1], ph[2 * STS_PSEUDONYM_LEN + 1], kid[9];
    sts_hex_encode(p, STS_PSEUDONYM_LEN, ph);
    snprintf(kid, sizeof kid, "%08x", (unsigned)key_id);
    json_t *months = json_array();
    for (int64_t i = 0; months && i < dev->reactivations && i < STORE_MAX_REACT_MONTHS; i++) {
        sts_month_format(dev->react_month[i], month);
        json_array_append_new(months, json_string(month));
    }
    sts_month_format(dev->month, month);
    return json_pack("{s:s,s:s,s:b,s:s,s:I,s:o*}", "key_id", kid, "pseudonym", ph, "current_key",
                     current, "month", month, "reactivations", (json_int_t)dev->reactivations,
                     "reactivation_months", months);
}

static void device_text(const struct store_device *dev, uint32_t key_id, const uint8_t *p,
                        bool current)
{
    char month[STS_MONTH_LEN + 1], ph[2 * STS_PSEUDONYM_LEN + 1];
    sts_hex_encode(p, STS_PSEUDONYM_LEN, ph);
    sts_month_format(dev->month, month);
    printf("stored under key %08x%s, as pseudonym %s:\n"
           "  first activation: month %s (the day is not stored)\n"
           "  re-activations: %lld month(s)%s",
           (unsigned)key_id, current ? " (the current key)" : " (an older key)", ph, month,
           (long long)dev->reactivations, dev->reactivations ? ":" : "");
    for (int64_t i = 0; i < dev->reactivations && i < STORE_MAX_REACT_MONTHS; i++) {
        sts_month_format(dev->react_month[i], month);
        printf(" %s", month);
    }
    printf("%s\n", dev->reactivations ? " (neither the day nor the software version of a "
                                        "re-activation is stored)"
                                      : "");
}

static int cmd_export(struct args *a)
{
    struct sts_pseudonyms ps;
    struct store *store;
    struct store_device dev[STS_KEYRING_MAX];
    bool found[STS_KEYRING_MAX] = {false};
    size_t held = 0;
    bool json = strcmp(a->format, "json") == 0 || strcmp(a->format, "table") == 0;
    if (!json && strcmp(a->format, "text") != 0)
        return usage_error("--format must be json or text, not '%s'", a->format);
    int rc = device_pseudonyms(a, &ps);
    if (rc || (rc = open_db(a->cfg.db, 0, &store)))
        return rc;
    enum sts_err e = STS_OK;
    for (size_t k = 0; k < ps.n && (e == STS_OK || e == STS_ENOENT); k++) {
        e = store_device_get(store, ps.p[k], &dev[k]);
        found[k] = e == STS_OK;
        held += found[k];
    }
    store_close(store);
    if (e != STS_OK && e != STS_ENOENT)
        return fail("export", sts_strerror(e));
    json_t *keys = json_array(), *records = json_array();
    for (size_t k = 0; keys && k < ps.n; k++) {
        char kid[9];
        snprintf(kid, sizeof kid, "%08x", (unsigned)ps.key_id[k]);
        json_array_append_new(keys, json_string(kid));
        if (found[k] && records)
            json_array_append_new(records, device_json(&dev[k], ps.key_id[k], ps.p[k], k == 0));
    }
    if (!json) {
        printf("%s\n", held ? "held: yes" : "held: nothing about this device");
        for (size_t k = 0; k < ps.n; k++)
            if (found[k])
                device_text(&dev[k], ps.key_id[k], ps.p[k], k == 0);
        printf("keys searched: %zu (", ps.n);
        for (size_t k = 0; k < ps.n; k++)
            printf("%s%08x", k ? ", " : "", (unsigned)ps.key_id[k]);
        printf(")\n%s\n%s\n", export_not_stored, export_not_linked);
        json_decref(keys);
        json_decref(records);
        return EXIT_SUCCESS;
    }
    json_t *o;
    if (!held) {
        /* The answer of the first format stays first. */
        o = json_pack("{s:b,s:o*,s:s,s:s}", "held", 0, "keys_searched", keys, "not_stored",
                      export_not_stored, "not_linked", export_not_linked);
        json_decref(records);
    } else {
        /* The first record's fields at the top, as before key rotation, then
         * every record (one per key the device is found under). */
        o = json_object();
        json_t *first = json_array_get(records, 0);
        if (o) {
            json_object_set_new(o, "held", json_true());
            const char *k;
            json_t *v;
            json_object_foreach(first, k, v)
            {
                if (strcmp(k, "current_key") != 0)
                    json_object_set(o, k, v);
            }
            json_object_set_new(o, "records", records);
            json_object_set_new(o, "keys_searched", keys);
            json_object_set_new(o, "not_stored", json_string(export_not_stored));
            json_object_set_new(o, "not_linked", json_string(export_not_linked));
        } else {
            json_decref(records);
            json_decref(keys);
        }
    }
    char *s =
        o ? json_dumps(o, held ? JSON_INDENT(2) | JSON_PRESERVE_ORDER : JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        return fail("export", "out of memory");
    printf("%s\n", s);
    free(s);
    return EXIT_SUCCESS;
}

static int cmd_erase(struct args *a)
{
    struct sts_pseudonyms ps;
    struct store *store;
    struct store_erased n;
    int rc = device_pseudonyms(a, &ps);
    if (rc || (rc = open_db(a->cfg.db, 0, &store)))
        return rc;
    enum sts_err e = store_device_erase_all(store, &ps.p[0][0], ps.n, &n);
    store_close(store);
    size_t keys = ps.n;
    OPENSSL_cleanse(&ps, sizeof ps);
    if (e != STS_OK)
        return fail("erase", sts_strerror(e));
    printf("erased %lld row(s) naming this device: %lld activation row(s), %lld "
           "re-activation row(s), looked up under %zu key(s); anonymous counters are kept\n",
           (long long)(n.activations + n.reactivations), (long long)n.activations,
           (long long)n.reactivations, keys);
    return EXIT_SUCCESS;
}

/* Retires an older key once no stored row needs it. */
static int cmd_rekey(struct args *a)
{
    struct sts_keyring ring;
    struct store *store;
    struct store_key_use use[64];
    size_t n = 0;
    unsigned char idb[4];
    char why[320];
    if (!a->retire)
        return usage_error("%s", "rekey needs --retire KEYID");
    if (strlen(a->retire) != 8 || sts_hex_decode(a->retire, 8, idb, 4) != STS_OK)
        return usage_error("--retire: '%s' is not a key id (8 lower-case hex digits)", a->retire);
    uint32_t id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
    int rc = load_keys(a->cfg.key, &ring);
    if (rc)
        return rc;
    bool in_ring = false, current = sts_keyring_current(&ring)->id == id;
    for (size_t i = 0; i < ring.n; i++)
        in_ring |= ring.key[i].id == id;
    sts_keyring_cleanse(&ring);
    if (!in_ring)
        return fail(a->retire, "no such key in the keyring");
    if (current)
        return fail(a->retire, "this is the current key; rotate first (sts-collector keygen "
                               "--rotate FILE), reload serve, then retire it");
    if ((rc = open_db(a->cfg.db, 0, &store)))
        return rc;
    enum sts_err e = store_key_use(store, use, sizeof use / sizeof use[0], &n);
    store_close(store);
    if (e != STS_OK)
        return fail("rekey", sts_strerror(e));
    for (size_t i = 0; i < n && i < sizeof use / sizeof use[0]; i++)
        if (use[i].key_id == id && use[i].devices > 0) {
            snprintf(why, sizeof why,
                     "still needed by %lld device row(s) and %lld re-activation row(s); they "
                     "move to the current key when their device re-activates, and go when "
                     "folded past the retention or erased",
                     (long long)use[i].devices, (long long)use[i].reactivations);
            return fail(a->retire, why);
        }
    if ((e = sts_keyring_retire(a->cfg.key, id)) != STS_OK)
        return fail(a->cfg.key, key_error(a->cfg.key, e));
    printf("retired key %08x: no row needed it; its secret is gone from %s (destroy the "
           "copies in backups of that file too)\n",
           (unsigned)id, a->cfg.key);
    return EXIT_SUCCESS;
}

static json_t *class_json(const struct store_class_count *c)
{
    return json_pack("{s:I,s:I,s:I,s:I}", "total", (json_int_t)c->total, "under_k",
                     (json_int_t)c->under_k, "single", (json_int_t)c->singles, "smallest",
                     (json_int_t)c->smallest);
}

static void class_line(const char *what, const struct store_class_count *c)
{
    printf("  %-44s %lld of %lld under k (%lld of one), smallest %lld\n", what,
           (long long)c->under_k, (long long)c->total, (long long)c->singles,
           (long long)c->smallest);
}

/* The release's budget for audit: its tables, and how much of it the
 * months released so far can have spent. */
static enum sts_err audit_budget(struct store *store, const struct collector_config *cfg,
                                 json_t **out)
{
    struct release r;
    struct release_cells cells = {0};
    long grace = cfg->grace_days == 0  ? STATS_DEFAULT_GRACE_DAYS
                 : cfg->grace_days < 0 ? 0
                                       : cfg->grace_days;
    enum sts_err e = release_init(&r, store, cfg->k, sts_day_today(), grace);
    if (e != STS_OK)
        return e;
    enum release_table all[REL_NTABLES];
    for (int t = 0; t < REL_NTABLES; t++)
        all[t] = (enum release_table)t;
    *out = stats_release_json(&r, all, REL_NTABLES);
    e = release_read(&r, store, REL_SALES_MONTH, INT32_MIN, INT32_MAX, NULL, 100000, &cells);
    int32_t first = cells.n ? cells.cell[0].period : 0, last = release_last_month(&r);
    long long months = cells.n ? (long long)(last - first + 1) : 0;
    release_cells_free(&cells);
    if (*out) {
        json_object_set_new(*out, "epsilon_per_month",
                            json_real(r.rho + 2 * sqrt(r.rho * log(1e6))));
        json_object_set_new(*out, "months_released", json_integer(months));
        json_object_set_new(*out, "rho_spent_at_most", json_real((double)months * r.rho));
    }
    release_cleanup(&r);
    if (!*out)
        return STS_ENOMEM;
    return e == STS_ETOOBIG ? STS_OK : e;
}

static int32_t retention_keep_from(long months);

/* A column the inventory does not describe is a finding: audit fails. */
static int audit_verdict(size_t undocumented)
{
    if (!undocumented)
        return EXIT_SUCCESS;
    fprintf(stderr,
            "sts-collector: audit: %zu table(s) or column(s) without an inventory entry "
            "(collector/inventory.c)\n",
            undocumented);
    return EXIT_FAILURE;
}

/* What is never collected, for audit. */
static const char *const never_collected[] = {
    "raw IMEI (only a keyed hash of it)",
    "phone number",
    "IMSI or ICCID",
    "serial number",
    "location",
    "client IP address",
    "installed apps",
    "usage",
    "with a device row: what the device is, its country, the day, a report id",
};

static void note_undocumented(const char *table, const char *column, void *ctx)
{
    char name[160];
    snprintf(name, sizeof name, "%s%s%s", table, column ? "." : "", column ? column : "");
    json_array_append_new(ctx, json_string(name));
}

/* The data inventory of the live schema, the keys and every retention
 * bound, for audit: one JSON object both formats print from. */
static enum sts_err audit_inventory(struct store *store, const struct collector_config *cfg,
                                    json_t **out)
{
    struct store_column *cols = NULL;
    struct store_key_use use[64];
    size_t ncols = 0, nuse = 0;
    struct sts_keyring ring;
    bool have_ring = false;
    enum sts_err e = store_columns(store, &cols, &ncols);
    if (e == STS_OK)
        e = store_key_use(store, use, sizeof use / sizeof use[0], &nuse);
    if (e == STS_OK && *cfg->key) {
        if ((e = sts_keyring_load(cfg->key, &ring)) != STS_OK) {
            free(cols);
            fprintf(stderr, "sts-collector: %s: %s\n", cfg->key, key_error(cfg->key, e));
            return e;
        }
        have_ring = true;
    }
    json_t *o = json_object(), *tables = json_array(), *undoc = json_array();
    json_t *table = NULL, *columns = NULL;
    if (e != STS_OK || !o || !tables || !undoc)
        goto fail;
    inventory_check(cols, ncols, note_undocumented, undoc);
    for (size_t i = 0; i < ncols; i++) {
        if (i == 0 || strcmp(cols[i - 1].table, cols[i].table) != 0) {
            const struct inventory_entry *t = inventory_find(cols[i].table, NULL);
            columns = json_array();
            table = t ? json_pack("{s:s,s:s,s:s,s:s,s:o*}", "table", cols[i].table, "purpose",
                                  t->purpose, "personal", inventory_personal_name(t->personal),
                                  "retention", inventory_retention_text(t->retention), "columns",
                                  columns)
                      : json_pack("{s:s,s:b,s:o*}", "table", cols[i].table, "documented", 0,
                                  "columns", columns);
            if (!table || json_array_append_new(tables, table) != 0)
                goto fail;
        }
        const struct inventory_entry *c = inventory_find(cols[i].table, cols[i].column);
        json_array_append_new(
            columns, c ? json_pack("{s:s,s:s,s:s}", "column", cols[i].column, "purpose", c->purpose,
                                   "personal", inventory_personal_name(c->personal))
                       : json_pack("{s:s,s:b}", "column", cols[i].column, "documented", 0));
    }
    json_t *ids = json_array();
    for (size_t i = 0; ids && have_ring && i < ring.n; i++) {
        char kid[9];
        int64_t dev = 0, react = 0;
        snprintf(kid, sizeof kid, "%08x", (unsigned)ring.key[i].id);
        for (size_t u = 0; u < nuse && u < sizeof use / sizeof use[0]; u++)
            if (use[u].key_id == ring.key[i].id) {
                dev = use[u].devices;
                react = use[u].reactivations;
            }
        json_array_append_new(ids, json_pack("{s:s,s:b,s:I,s:I}", "key_id", kid, "current",
                                             i == ring.current, "devices", (json_int_t)dev,
                                             "reactivations", (json_int_t)react));
    }
    /* Key ids rows are stored under that the key file does not hold (or
     * all of them when no key file was given). */
    json_t *other = json_array();
    for (size_t u = 0; other && u < nuse && u < sizeof use / sizeof use[0]; u++) {
        bool in_ring = false;
        for (size_t i = 0; have_ring && i < ring.n; i++)
            in_ring |= ring.key[i].id == use[u].key_id;
        if (in_ring)
            continue;
        char kid[9];
        snprintf(kid, sizeof kid, "%08x", (unsigned)use[u].key_id);
        json_array_append_new(other, json_pack("{s:s,s:I,s:I}", "key_id", kid, "devices",
                                               (json_int_t)use[u].devices, "reactivations",
                                               (json_int_t)use[u].reactivations));
    }
    json_object_set_new(o, "inventory", tables);
    tables = NULL;
    json_object_set_new(o, "undocumented", undoc);
    undoc = NULL;
    json_object_set_new(o, "keys",
                        json_pack("{s:s?,s:o*,s:o*}", "file", *cfg->key ? cfg->key : NULL,
                                  "in_file", have_ring ? ids : NULL, "not_in_file", other));
    if (!have_ring)
        json_decref(ids);
    char from[STS_MONTH_LEN + 1];
    long grace = cfg->grace_days == 0  ? STATS_DEFAULT_GRACE_DAYS
                 : cfg->grace_days < 0 ? 0
                                       : cfg->grace_days;
    sts_month_format(retention_keep_from(cfg->retention_months), from);
    json_object_set_new(
        o, "bounds",
        json_pack("{s:I,s:s?,s:I,s:I,s:s,s:s,s:s}", "retention_months",
                  (json_int_t)cfg->retention_months, "device_rows_kept_from",
                  cfg->retention_months ? from : NULL, "report_id_days",
                  (json_int_t)cfg->report_id_days, "grace_days", (json_int_t)grace,
                  "lifetime_ping_ids", "until the grace window of the month counted in closes",
                  "schedule", "serve purges report ids and folds device rows at most once an hour",
                  "deleted_rows", store_deleted_rows(store)));
    json_t *never = json_array();
    for (size_t i = 0; never && i < sizeof never_collected / sizeof never_collected[0]; i++)
        json_array_append_new(never, json_string(never_collected[i]));
    json_object_set_new(o, "never_collected", never);
    free(cols);
    if (have_ring)
        sts_keyring_cleanse(&ring);
    *out = o;
    return STS_OK;
fail:
    free(cols);
    if (have_ring)
        sts_keyring_cleanse(&ring);
    json_decref(o);
    json_decref(tables);
    json_decref(undoc);
    return e != STS_OK ? e : STS_ENOMEM;
}

static void audit_inventory_text(const json_t *inv)
{
    json_t *t, *c, *k;
    size_t i, j;
    json_t *tables = json_object_get(inv, "inventory");
    printf("data inventory (from the live schema, %zu tables):\n", json_array_size(tables));
    json_array_foreach(tables, i, t)
    {
        const char *purpose = json_string_value(json_object_get(t, "purpose"));
        printf("  %s: %s\n", json_string_value(json_object_get(t, "table")),
               purpose ? purpose : "UNDOCUMENTED: no inventory entry");
        if (purpose)
            printf("    %s; kept %s\n", json_string_value(json_object_get(t, "personal")),
                   json_string_value(json_object_get(t, "retention")));
        json_array_foreach(json_object_get(t, "columns"), j, c)
        {
            const char *cp = json_string_value(json_object_get(c, "purpose"));
            printf("    %-14s %s%s%s%s\n", json_string_value(json_object_get(c, "column")),
                   cp ? cp : "UNDOCUMENTED: no inventory entry", cp ? " [" : "",
                   cp ? json_string_value(json_object_get(c, "personal")) : "", cp ? "]" : "");
        }
    }
    json_t *keys = json_object_get(inv, "keys");
    const char *file = json_string_value(json_object_get(keys, "file"));
    if (file) {
        printf("pseudonym keys: %s (mode 0600, kept apart from the database and its backups)\n",
               file);
        json_array_foreach(json_object_get(keys, "in_file"), i, k)
        {
            printf("  %s  %-7s  needed by %lld device row(s), %lld re-activation row(s)\n",
                   json_string_value(json_object_get(k, "key_id")),
                   json_is_true(json_object_get(k, "current")) ? "current" : "older",
                   (long long)json_integer_value(json_object_get(k, "devices")),
                   (long long)json_integer_value(json_object_get(k, "reactivations")));
        }
    } else {
        printf("pseudonym keys: no key file given (--key FILE shows its ids)\n");
    }
    json_array_foreach(json_object_get(keys, "not_in_file"), i, k)
    {
        printf("  %s  %-7s  needed by %lld device row(s), %lld re-activation row(s)\n",
               json_string_value(json_object_get(k, "key_id")), file ? "MISSING" : "in use",
               (long long)json_integer_value(json_object_get(k, "devices")),
               (long long)json_integer_value(json_object_get(k, "reactivations")));
    }
    json_t *b = json_object_get(inv, "bounds");
    long long months = (long long)json_integer_value(json_object_get(b, "retention_months"));
    printf("retention:\n");
    if (months)
        printf("  device rows: folded %lld months after the device was last seen (rows of "
               "months before %s go), or when erased\n",
               months, json_string_value(json_object_get(b, "device_rows_kept_from")));
    else
        printf("  device rows: kept until erased (retention_months = 0)\n");
    printf("  activation report ids: %lld days after receipt\n"
           "  lifetime ping ids: until the grace window (%lld days) of the month counted in "
           "closes\n"
           "  counters and the release's parameters: the life of the database (anonymous)\n"
           "  %s\n"
           "  %s\n",
           (long long)json_integer_value(json_object_get(b, "report_id_days")),
           (long long)json_integer_value(json_object_get(b, "grace_days")),
           json_string_value(json_object_get(b, "schedule")),
           json_string_value(json_object_get(b, "deleted_rows")));
    printf("never collected:");
    json_array_foreach(json_object_get(inv, "never_collected"), i, k)
    {
        printf("%s %s", i ? ";" : "", json_string_value(k));
    }
    printf("\n");
}

static int cmd_audit(struct args *a)
{
    struct store *store;
    struct store_audit au;
    struct store_classes cl;
    bool json = strcmp(a->format, "json") == 0;
    if (!json && strcmp(a->format, "text") != 0 && strcmp(a->format, "table") != 0)
        return usage_error("--format must be text or json, not '%s'", a->format);
    int rc = open_db(a->cfg.db, 0, &store);
    if (rc)
        return rc;
    enum sts_err e = store_audit(store, &au);
    if (e == STS_OK)
        e = store_classes(store, a->cfg.k, &cl);
    json_t *budget = NULL;
    if (e == STS_OK)
        e = audit_budget(store, &a->cfg, &budget);
    json_t *inv = NULL;
    if (e == STS_OK)
        e = audit_inventory(store, &a->cfg, &inv);
    store_close(store);
    if (e != STS_OK) {
        json_decref(budget);
        return fail("audit", sts_strerror(e));
    }
    size_t undocumented = json_array_size(json_object_get(inv, "undocumented"));
    if (json) {
        json_t *o = json_pack(
            "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:o,s:o,s:o,s:o,s:o}}", "devices",
            (json_int_t)au.devices, "reactivations", (json_int_t)au.reactivations, "key_ids",
            (json_int_t)au.key_ids, "report_ids", (json_int_t)au.report_ids, "report_ids_expired",
            (json_int_t)au.report_ids_due, "sales_cells", (json_int_t)au.sales_cells,
            "lifetime_cells", (json_int_t)au.lifetime_cells, "version_cells",
            (json_int_t)au.version_cells, "k", (json_int_t)a->cfg.k, "classes", "sales_day",
            class_json(&cl.sales_cells), "sales_month", class_json(&cl.sales_months),
            "lifetime_cells", class_json(&cl.lifetime_cells), "version_cells",
            class_json(&cl.version_cells), "lifetime_classes", class_json(&cl.lifetime_classes));
        if (o) {
            json_object_set(o, "release", budget);
            json_object_update(o, inv);
        }
        json_decref(budget);
        json_decref(inv);
        char *s = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (!s)
            return fail("audit", "out of memory");
        printf("%s\n", s);
        free(s);
        return audit_verdict(undocumented);
    }
    printf("devices (one row each: pseudonym, key id, month): %lld\n"
           "re-activations (one row per device and month):    %lld\n"
           "pseudonym key ids in use:                         %lld\n"
           "report ids kept for de-duplication:               %lld (%lld past their window)\n"
           "sales counter cells:                              %lld\n"
           "lifetime counter cells (no device identifier):    %lld\n"
           "version counter cells (no device identifier):     %lld\n"
           "smallest classes, k = %ld:\n",
           (long long)au.devices, (long long)au.reactivations, (long long)au.key_ids,
           (long long)au.report_ids, (long long)au.report_ids_due, (long long)au.sales_cells,
           (long long)au.lifetime_cells, (long long)au.version_cells, a->cfg.k);
    class_line("sales (day, brand, model, sw, country)", &cl.sales_cells);
    class_line("sales (month, brand, model, sw, country)", &cl.sales_months);
    class_line("lifetime classes (cohort, brand, model)", &cl.lifetime_classes);
    class_line("lifetime pings (period, cohort, brand, model, first)", &cl.lifetime_cells);
    class_line("version pings (period, brand, model, sw)", &cl.version_cells);
    json_t *tabs = json_object_get(budget, "tables"), *t;
    size_t i;
    double rho = json_number_value(json_object_get(budget, "rho_per_month"));
    printf("privacy budget: rho = %g zCDP per device and month (epsilon %.2f at delta 1e-6);\n"
           "  months released so far: %lld, through %s, so a device that reported in every one\n"
           "  of them has spent at most rho = %g in all\n",
           rho, json_number_value(json_object_get(budget, "epsilon_per_month")),
           (long long)json_integer_value(json_object_get(budget, "months_released")),
           json_string_value(json_object_get(budget, "through_month")),
           json_number_value(json_object_get(budget, "rho_spent_at_most")));
    json_array_foreach(tabs, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "table"));
        printf("  %-42s share %.2f  sigma %6.2f  ", name,
               json_number_value(json_object_get(t, "rho")) / rho,
               json_number_value(json_object_get(t, "sigma")));
        if (strncmp(name, "lifetime.", 9) == 0)
            printf("every cell released, never shown alone\n");
        else
            printf("shown from %lld\n",
                   (long long)json_integer_value(json_object_get(t, "threshold")));
    }
    json_decref(budget);
    printf("never stored: raw IMEI, phone number, IMSI/ICCID, serial number, location,\n"
           "client IP address, installed apps, usage; with a device row: brand, model,\n"
           "sw, country, day, report id\n");
    audit_inventory_text(inv);
    json_decref(inv);
    return audit_verdict(undocumented);
}

/* The first month kept under a retention of months (0: none). */
static int32_t retention_keep_from(long months)
{
    return sts_day_month(sts_day_today()) - (int32_t)months;
}

static int cmd_purge(struct args *a)
{
    struct store *store;
    struct store_audit au;
    struct store_folded f = {0, 0}, step;
    int64_t n = 0, total = 0;
    long months = a->cfg.retention_months;
    int32_t keep_from = retention_keep_from(months);
    char from[STS_MONTH_LEN + 1];
    int rc = open_db(a->cfg.db, 0, &store);
    if (rc)
        return rc;
    enum sts_err e;
    if (a->dry_run) {
        e = store_audit(store, &au);
        total = au.report_ids_due;
        if (e == STS_OK && months > 0)
            e = store_fold(store, keep_from, INT64_MAX, true, &f);
    } else {
        do {
            e = store_purge(store, 100000, &n);
            total += n;
        } while (e == STS_OK && n == 100000);
        while (e == STS_OK && months > 0) {
            e = store_fold(store, keep_from, 100000, false, &step);
            f.activations += step.activations;
            f.reactivations += step.reactivations;
            if (step.activations < 100000 && step.reactivations < 100000)
                break;
        }
    }
    store_close(store);
    if (e != STS_OK)
        return fail("purge", sts_strerror(e));
    const char *verb = a->dry_run ? "would purge" : "purged";
    printf("%s %lld report id(s) past their window\n", verb, (long long)total);
    if (months == 0) {
        printf("device rows: kept until erased (retention_months = 0), none folded\n");
        return EXIT_SUCCESS;
    }
    sts_month_format(keep_from, from);
    printf("%s %lld device row(s) and %lld re-activation row(s) not seen since before %s "
           "(retention %ld months); the counters are kept\n",
           a->dry_run ? "would fold" : "folded", (long long)f.activations,
           (long long)f.reactivations, from, months);
    return EXIT_SUCCESS;
}

/* The options each command takes. Any other is refused rather than ignored:
 * "erase --dry-run" must not erase, and an option meant for another command
 * must not look as if it had been applied. --config is taken wherever a
 * setting is read; serve also takes every flag of setting_flags. */
static const char *const keygen_options[] = {"out", "token", "ohttp", "rotate", NULL};
static const char *const serve_options[] = {
    "config",    "db",     "key",        "listen",           "token-file",      "threads",
    "max-batch", "k",      "ohttp-key",  "tls-cert",         "tls-key",         "grace-days",
    "rho",       "models", "rate-limit", "relay-rate-limit", "relay-addresses", "retention-months",
    NULL};
static const char *const stats_options[] = {
    "config",     "db",    "k",     "by", "period",  "from",       "to",     "format",
    "cumulative", "brand", "model", "sw", "country", "grace-days", "models", NULL};
static const char *const export_options[] = {"config", "db", "key", "imei", "format", NULL};
static const char *const erase_options[] = {"config", "db", "key", "imei", NULL};
static const char *const rekey_options[] = {"config", "db", "key", "retire", NULL};
static const char *const audit_options[] = {
    "config", "db", "key", "k", "format", "retention-months", "report-id-days", "grace-days", NULL};
static const char *const purge_options[] = {"config", "db", "retention-months", "dry-run", NULL};

struct command {
    const char *name;
    int (*run)(struct args *a); /* NULL: stats, which also takes the statistic */
    const char *const *options;
    bool settings; /* and every setting_flags flag */
};

static const struct command commands[] = {
    {"keygen", cmd_keygen, keygen_options, false}, {"serve", cmd_serve, serve_options, true},
    {"stats", NULL, stats_options, false},         {"export", cmd_export, export_options, false},
    {"erase", cmd_erase, erase_options, false},    {"audit", cmd_audit, audit_options, false},
    {"purge", cmd_purge, purge_options, false},    {"rekey", cmd_rekey, rekey_options, false},
};

/* Whether the long option name is one of setting_flags'. */
static bool setting_flag(const char *name)
{
    for (const struct option *o = options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->val >= OPT_SETTING;
    return false;
}

static int check_options(const struct args *a, const struct command *c)
{
    for (size_t i = 0; i < a->n_given; i++) {
        size_t j = 0;
        while (c->options[j] && strcmp(c->options[j], a->given[i]) != 0)
            j++;
        if (!c->options[j] && !(c->settings && setting_flag(a->given[i])))
            return usage_error("%s does not take --%s", c->name, a->given[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    char why[160];
    /* Test clocks are read here, once, before any thread starts. */
    sts_log_init("sts-collector");
    if (sts_clock_init(why, sizeof why) != STS_OK)
        return fail("environment", why);
    if (argc < 2)
        return usage_error("%s", "missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0 || strcmp(cmd, "--version") == 0)
        return version_or_help(cmd);
    struct args a;
    memset(&a, 0, sizeof a);
    const char *which = NULL;
    int shift = 1;
    if (strcmp(cmd, "stats") == 0) {
        if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "--version") == 0))
            return version_or_help(argv[2]);
        if (argc < 3 || argv[2][0] == '-')
            return usage_error("%s", "stats needs a statistic: sales, lifetime or versions");
        which = argv[2];
        if (strcmp(which, "sales") != 0 && strcmp(which, "lifetime") != 0 &&
            strcmp(which, "versions") != 0)
            return usage_error("unknown statistic '%s': use sales, lifetime or versions", which);
        shift = 2;
    }
    const struct command *command = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !command; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            command = &commands[i];
    if (!command)
        return usage_error("unknown command '%s'", cmd);
    int rc = parse_args(argc - shift, argv + shift, &a);
    if (rc)
        return rc;
    if ((rc = check_options(&a, command)))
        return rc;
    if (command->run)
        return command->run(&a);
    return cmd_stats(&a, which);
}
