/* Unit tests of the agent's configuration parser (agent/config.c): every key,
 * defaults, and errors that name the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "send.h"
#include "retry.h"

static enum sts_err parse(const char *text, struct agent_config *cfg, char *msg, size_t size)
{
    agent_config_init(cfg);
    return agent_config_parse(text, "t.conf", cfg, msg, size);
}

static void full_file(void **state)
{
    (void)state;
    struct agent_config cfg;
    char msg[512];
    const char *text = "# STS agent\n"
                       "\n"
                       "state_dir = /var/lib/sts\n"
                       "collector=https://stats.example.com//\n"
                       "  imei =  352099001761481  \n"
                       "brand = acme-eu\n"
                       "model = K400\n"
                       "sw = K400-V12 build 7\n"
                       "country = FR\r\n"
                       "consent_country = on\n"
                       "\t# indented comment\n"
                       "timeout_ms = 5000\n"
                       "retry_base_ms = 100\n"
                       "retry_cap_ms = 60000\n"
                       "ca_file = /etc/ssl/sts-ca.pem\n"
                       "ca_dir = /system/etc/security/cacerts";
    assert_int_equal(parse(text, &cfg, msg, sizeof msg), STS_OK);
    assert_string_equal(cfg.ca_dir, "/system/etc/security/cacerts");
    assert_string_equal(cfg.path, "t.conf");
    assert_string_equal(cfg.state_dir, "/var/lib/sts");
    assert_string_equal(cfg.collector, "https://stats.example.com");
    assert_int_equal(cfg.facts[AGENT_FACT_IMEI].provider, AGENT_PROVIDER_LITERAL);
    assert_string_equal(cfg.facts[AGENT_FACT_IMEI].arg, "352099001761481");
    assert_int_equal(cfg.facts[AGENT_FACT_IMEI].line, 5);
    assert_string_equal(cfg.facts[AGENT_FACT_SW].arg, "K400-V12 build 7");
    assert_string_equal(cfg.facts[AGENT_FACT_COUNTRY].arg, "FR");
    assert_true(cfg.consent_country);
    assert_int_equal(cfg.timeout_ms, 5000);
    assert_int_equal(cfg.retry_base_ms, 100);
    assert_int_equal(cfg.retry_cap_ms, 60000);
    assert_string_equal(cfg.ca_file, "/etc/ssl/sts-ca.pem");
    agent_config_cleanup(&cfg);
    assert_null(cfg.state_dir);
}

static void defaults(void **state)
{
    (void)state;
    struct agent_config cfg;
    char msg[512];
    assert_int_equal(
        parse("state_dir = /s\ncollector = http://127.0.0.1:8080\n", &cfg, msg, sizeof msg),
        STS_OK);
    assert_false(cfg.consent_country); /* privacy first: off unless said */
    assert_int_equal(cfg.timeout_ms, AGENT_TIMEOUT_MS_DEFAULT);
    assert_int_equal(cfg.retry_base_ms, 2000);
    assert_int_equal(cfg.retry_cap_ms, 6LL * 3600 * 1000);
    assert_null(cfg.ca_file);
    assert_int_equal(cfg.facts[AGENT_FACT_COUNTRY].provider, AGENT_PROVIDER_NONE);
    agent_config_cleanup(&cfg);
}

struct bad_case {
    const char *text;
    enum sts_err rc;
    const char *msg_part; /* must appear in the message */
};

static void errors_name_the_line(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"state_dir = /s\ncollector = http://127.0.0.1\nimie = 1\n", STS_EINVAL,
         "t.conf:3: unknown key 'imie'"},
        {"state_dir = /s\nstate_dir = /t\ncollector = http://127.0.0.1\n", STS_EINVAL,
         "t.conf:2: 'state_dir' is already set on line 1"},
        {"state_dir = /s\njust words\n", STS_EINVAL, "t.conf:2: expected 'key = value'"},
        {"state_dir = /s\ncollector =\n", STS_EINVAL, "t.conf:2: 'collector' has an empty value"},
        {"state_dir = relative\ncollector = http://127.0.0.1\n", STS_EINVAL,
         "t.conf:1: state_dir must be an absolute path"},
        {"state_dir = /s\ncollector = https://c.example   # the collector\n", STS_EINVAL,
         "t.conf:2: 'collector': end-of-line comments are not supported"},
        {"state_dir = /s\ncollector = https://c.example\nimei = mmcli\t# modem\n", STS_EINVAL,
         "t.conf:3: 'imei': end-of-line comments are not supported"},
        {"state_dir = /s\ncollector = https://c.example\nca_dir = etc/certs\n", STS_EINVAL,
         "t.conf:3: ca_dir must be an absolute path"},
        {"state_dir = /s\ncollector = ftp://x\n", STS_EINVAL,
         "t.conf:2: collector: 'ftp://x' must be an https:// URL"},
        {"state_dir = /s\ncollector = http://stats.example.com\n", STS_EINVAL,
         "t.conf:2: collector: 'http://stats.example.com': plain http:// is allowed only to a "
         "loopback address"},
        {"state_dir = /s\ncollector = http://10.0.0.1:80\n", STS_EINVAL, "only to a loopback"},
        {"state_dir = /s\ncollector = http://127.0.0.1.example.com\n", STS_EINVAL,
         "only to a loopback"},
        {"state_dir = /s\ncollector = https://\n", STS_EINVAL, "has no host"},
        {"state_dir = /s\ncollector = http://127.0.0.1\npin_sha256 = abc\n", STS_EINVAL,
         "t.conf:3: pin_sha256 must be"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nconsent_lifetime = maybe\n", STS_EINVAL,
         "t.conf:3: consent_lifetime must be 'on' or 'off'"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nlifetime_grace_days = 29\n", STS_EINVAL,
         "t.conf:3: lifetime_grace_days"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nlifetime_queue_max = 0\n", STS_EINVAL,
         "t.conf:3: lifetime_queue_max"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nfact_timeout_ms = 0\n", STS_EINVAL,
         "t.conf:3: fact_timeout_ms"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nimei = file:relative\n", STS_EINVAL,
         "t.conf:3: imei: file: needs an absolute path"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nimei = file:/x#\n", STS_EINVAL,
         "t.conf:3: imei: file: needs"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nmodel = os-release\n", STS_EINVAL,
         "t.conf:3: model: os-release gives the software version"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nsw = dmi\n", STS_EINVAL,
         "t.conf:3: sw: dmi gives"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nbrand = mmcli\n", STS_EINVAL,
         "t.conf:3: brand: mmcli gives the modem's IMEI"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nimei = getprop:ro.serialno\n", STS_EINVAL,
         "t.conf:3: imei: getprop: takes a build or product property"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nmodel = getprop:ro.product.serialno\n",
         STS_EINVAL, "getprop: takes"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nmodel = getprop:ro.product.model;reboot\n",
         STS_EINVAL, "getprop: takes"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nsw = cmd:\n", STS_EINVAL,
         "t.conf:3: sw: cmd: needs a command"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nsw = magic:thing\n", STS_EINVAL,
         "t.conf:3: sw: unknown fact provider"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nconsent_country = yes\n", STS_EINVAL,
         "t.conf:3: consent_country must be 'on' or 'off'"},
        {"state_dir = /s\ncollector = http://127.0.0.1\ntimeout_ms = 0\n", STS_EINVAL,
         "t.conf:3: timeout_ms"},
        {"state_dir = /s\ncollector = http://127.0.0.1\ntimeout_ms = 10s\n", STS_EINVAL,
         "t.conf:3: timeout_ms"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nretry_base_ms = -1\n", STS_EINVAL,
         "t.conf:3: retry_base_ms"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nretry_cap_ms = 99999999999999999999\n",
         STS_EINVAL, "t.conf:3: retry_cap_ms"},
        {"state_dir = /s\ncollector = http://127.0.0.1\nretry_base_ms = 5000\nretry_cap_ms = "
         "1000\n",
         STS_EINVAL, "t.conf:4: retry_cap_ms (1000) is smaller than retry_base_ms (5000)"},
        {"collector = http://127.0.0.1\n", STS_EINVAL, "t.conf: 'state_dir' is missing"},
        {"state_dir = /s\ncollector = http://127.0.0.1@stats.example\n", STS_EINVAL,
         "user information"},
        {"state_dir = /s\ncollector = https://x\ntransport = tor\n", STS_EINVAL,
         "t.conf:3: transport must be 'direct' or 'ohttp'"},
        {"state_dir = /s\ncollector = https://x\ntransport = ohttp\n", STS_EINVAL,
         "t.conf:3: transport = ohttp needs 'relay'"},
        {"state_dir = /s\ncollector = https://x\nrelay = http://relay.example/\n", STS_EINVAL,
         "t.conf:3: relay: 'http://relay.example/': plain http:// is allowed only to a loopback"},
        {"state_dir = /s\n", STS_EINVAL, "t.conf: 'collector' is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct agent_config cfg;
        char msg[512];
        enum sts_err rc = parse(cases[i].text, &cfg, msg, sizeof msg);
        if (rc != cases[i].rc || strstr(msg, cases[i].msg_part) == NULL)
            fail_msg("case %zu: rc %d msg '%s', expected rc %d with '%s'", i, rc, msg, cases[i].rc,
                     cases[i].msg_part);
        /* A failed parse leaves nothing allocated. */
        assert_null(cfg.state_dir);
        assert_null(cfg.path);
    }
}

/* Every provider, with the argument each keeps. */
static void providers(void **state)
{
    (void)state;
    struct agent_config cfg;
    char msg[512];
    const char text[] = "state_dir = /s\ncollector = https://stats.example.com\n"
                        "imei = mmcli\nbrand = dmi\nmodel = dmi:/tmp/dmi\nsw = os-release\n"
                        "country = file:/etc/sts/device.conf\n";
    assert_int_equal(parse(text, &cfg, msg, sizeof msg), STS_OK);
    assert_int_equal(cfg.facts[AGENT_FACT_IMEI].provider, AGENT_PROVIDER_MMCLI);
    assert_null(cfg.facts[AGENT_FACT_IMEI].arg);
    assert_int_equal(cfg.facts[AGENT_FACT_BRAND].provider, AGENT_PROVIDER_DMI);
    assert_string_equal(cfg.facts[AGENT_FACT_BRAND].arg, "/sys/class/dmi/id");
    assert_string_equal(cfg.facts[AGENT_FACT_MODEL].arg, "/tmp/dmi");
    assert_int_equal(cfg.facts[AGENT_FACT_SW].provider, AGENT_PROVIDER_OS_RELEASE);
    assert_string_equal(cfg.facts[AGENT_FACT_SW].arg, "/etc/os-release");
    assert_int_equal(cfg.facts[AGENT_FACT_COUNTRY].provider, AGENT_PROVIDER_FILE);
    assert_string_equal(cfg.facts[AGENT_FACT_COUNTRY].arg, "/etc/sts/device.conf");
    assert_string_equal(cfg.facts[AGENT_FACT_COUNTRY].key, "country");
    assert_false(cfg.consent_lifetime);
    assert_int_equal(cfg.lifetime_grace_days, 7);
    assert_int_equal(cfg.lifetime_queue_max, 3);
    agent_config_cleanup(&cfg);

    const char text2[] = "state_dir = /s\ncollector = https://[::1]:8443/\n"
                         "imei = file:/run/dev#IMEI\nbrand = getprop:ro.product.brand\n"
                         "model = cmd:  /usr/bin/printf K400\nsw = os-release:/usr/lib/os-release\n"
                         "consent_lifetime = on\nlifetime_grace_days = 0\nlifetime_queue_max = 24\n"
                         "pin_sha256 = sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; "
                         "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=\n";
    assert_int_equal(parse(text2, &cfg, msg, sizeof msg), STS_OK);
    assert_string_equal(cfg.facts[AGENT_FACT_IMEI].arg, "/run/dev");
    assert_string_equal(cfg.facts[AGENT_FACT_IMEI].key, "IMEI");
    assert_int_equal(cfg.facts[AGENT_FACT_BRAND].provider, AGENT_PROVIDER_GETPROP);
    assert_string_equal(cfg.facts[AGENT_FACT_BRAND].arg, "ro.product.brand");
    assert_int_equal(cfg.facts[AGENT_FACT_MODEL].provider, AGENT_PROVIDER_CMD);
    assert_string_equal(cfg.facts[AGENT_FACT_MODEL].arg, "/usr/bin/printf K400");
    assert_string_equal(cfg.facts[AGENT_FACT_SW].arg, "/usr/lib/os-release");
    assert_true(cfg.consent_lifetime);
    assert_int_equal(cfg.lifetime_grace_days, 0);
    assert_int_equal(cfg.lifetime_queue_max, 24);
    assert_string_equal(cfg.pin_sha256, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;"
                                        "sha256//BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=");
    agent_config_cleanup(&cfg);
}

/* The collector and relay URLs follow libsts's one URL rule
 * (sts_net_url_check), whose own cases are in test_net.c. */
static void url_rule(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "http://127.0.0.1:8080", "http://127.1.2.3",           "http://localhost:1",
        "http://[::1]:80",       "https://stats.example.com/", "https://stats.example.com/sts",
    };
    static const char *const refused[] = {
        "http://[::2]:80",
        "http://128.0.0.1",
        "http://localhost.example.com",
        "http://localhost./",
        "https://stats.example.com/?x=1",
        "https://u@stats.example.com",
        "stats.example.com",
    };
    struct agent_config cfg;
    char text[512], msg[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(text, sizeof text, "state_dir = /s\ncollector = %s\n", ok[i]);
        agent_config_init(&cfg);
        if (parse(text, &cfg, msg, sizeof msg) != STS_OK)
            fail_msg("refused %s: %s", ok[i], msg);
        agent_config_cleanup(&cfg);
        snprintf(text, sizeof text,
                 "state_dir = /s\ncollector = https://c.example\ntransport = ohttp\nrelay = %s\n",
                 ok[i]);
        if (parse(text, &cfg, msg, sizeof msg) != STS_OK)
            fail_msg("refused relay %s: %s", ok[i], msg);
        agent_config_cleanup(&cfg);
    }
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(text, sizeof text, "state_dir = /s\ncollector = %s\n", refused[i]);
        if (parse(text, &cfg, msg, sizeof msg) != STS_EINVAL)
            fail_msg("allowed %s", refused[i]);
        if (strstr(msg, "t.conf:2: collector: ") == NULL)
            fail_msg("message for %s: %s", refused[i], msg);
    }
}

static void long_line(void **state)
{
    (void)state;
    struct agent_config cfg;
    char msg[512];
    size_t n = 5000;
    char *text = malloc(n + 32);
    assert_non_null(text);
    memcpy(text, "state_dir = /", 13);
    memset(text + 13, 'a', n);
    memcpy(text + 13 + n, "\n", 2);
    assert_int_equal(parse(text, &cfg, msg, sizeof msg), STS_EINVAL);
    assert_non_null(strstr(msg, "t.conf:1: line longer than"));
    free(text);
}

static void load_from_file(void **state)
{
    (void)state;
    struct agent_config cfg;
    char msg[512];
    char path[] = "/tmp/test_agent_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "state_dir = /s\ncollector = http://127.0.0.1:1\nmodel = K400\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    agent_config_init(&cfg);
    assert_int_equal(agent_config_load(path, &cfg, msg, sizeof msg), STS_OK);
    assert_string_equal(cfg.facts[AGENT_FACT_MODEL].arg, "K400");
    assert_string_equal(cfg.path, path);
    agent_config_cleanup(&cfg);
    unlink(path);

    agent_config_init(&cfg);
    assert_int_equal(agent_config_load(path, &cfg, msg, sizeof msg), STS_ENOENT);
    assert_non_null(strstr(msg, "no such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_file),
        cmocka_unit_test(defaults),
        cmocka_unit_test(errors_name_the_line),
        cmocka_unit_test(providers),
        cmocka_unit_test(url_rule),
        cmocka_unit_test(long_line),
        cmocka_unit_test(load_from_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
