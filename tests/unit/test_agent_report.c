/* Unit tests of report building (agent/report.c, agent/facts.c) and of the
 * state steps of `run` (agent/run.c): the activation is made once with the
 * allowed facts only, invalid facts are not sent and are explained, answers
 * move the activation to sent / rejected / a later retry under one report_id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "facts.h"
#include "lifetime.h"
#include "report.h"
#include "run.h"
#include "state.h"
#include "clock.h"
#include "sts/date.h"

static const struct agent_facts good = {
    .imei = "352099001761481",
    .brand = "acme-eu",
    .model = "K400",
    .sw = "K400-V12",
    .country = "FR",
};

static int32_t day(const char *s)
{
    int32_t d = 0;
    assert_int_equal(sts_day_parse(s, &d), STS_OK);
    return d;
}

static void activation_with_country(void **state)
{
    (void)state;
    struct sts_report r;
    struct sts_field_error warn, err;
    char *json = NULL;
    assert_int_equal(agent_report_activation(&good, true, day("2026-11-20"), &r, &warn, &err),
                     STS_OK);
    assert_string_equal(warn.field, "");
    assert_int_equal(r.v, 1);
    assert_int_equal(r.type, STS_REPORT_ACTIVATION);
    static const uint8_t zero[16];
    assert_memory_not_equal(r.report_id, zero, sizeof zero);
    char id[STS_REPORT_ID_LEN + 1];
    sts_report_id_hex(r.report_id, id);
    assert_int_equal(sts_report_encode(&r, &json), STS_OK);
    char expect[512];
    snprintf(expect, sizeof expect,
             "{\"v\":1,\"type\":\"activation\",\"report_id\":\"%s\",\"imei\":\"352099001761481\","
             "\"brand\":\"acme-eu\",\"model\":\"K400\",\"sw\":\"K400-V12\",\"country\":\"FR\","
             "\"day\":\"2026-11-20\"}",
             id);
    assert_string_equal(json, expect);
    free(json);

    /* Every activation gets its own report_id. */
    struct sts_report r2;
    assert_int_equal(agent_report_activation(&good, true, day("2026-11-20"), &r2, &warn, &err),
                     STS_OK);
    assert_memory_not_equal(r.report_id, r2.report_id, sizeof r.report_id);
}

static int32_t month(const char *s)
{
    int32_t m = 0;
    assert_int_equal(sts_month_parse(s, &m), STS_OK);
    return m;
}

/* A lifetime ping: exactly the allowed keys, never the imei, a fresh id. */
static void lifetime_ping(void **state)
{
    (void)state;
    struct sts_report r, r2;
    struct sts_field_error warn, err;
    char *json = NULL;
    assert_int_equal(agent_report_lifetime(&good, true, month("2026-01"), month("2026-11"), false,
                                           &r, &warn, &err),
                     STS_OK);
    assert_string_equal(warn.field, "");
    assert_int_equal(r.type, STS_REPORT_LIFETIME);
    assert_string_equal(r.imei, "");
    char id[STS_REPORT_ID_LEN + 1];
    sts_report_id_hex(r.report_id, id);
    assert_int_equal(sts_report_encode(&r, &json), STS_OK);
    char expect[512];
    snprintf(expect, sizeof expect,
             "{\"v\":1,\"type\":\"lifetime\",\"report_id\":\"%s\",\"brand\":\"acme-eu\","
             "\"model\":\"K400\",\"sw\":\"K400-V12\",\"cohort\":\"2026-01\","
             "\"period\":\"2026-11\",\"first\":false,\"country\":\"FR\"}",
             id);
    assert_string_equal(json, expect);
    assert_null(strstr(json, "352099001761481"));
    free(json);

    assert_int_equal(agent_report_lifetime(&good, false, month("2026-01"), month("2026-01"), true,
                                           &r2, &warn, &err),
                     STS_OK);
    assert_memory_not_equal(r.report_id, r2.report_id, sizeof r.report_id);
    assert_string_equal(r2.country, "");
    assert_true(r2.first);

    /* A period before the cohort is refused, naming the cohort. */
    assert_int_equal(agent_report_lifetime(&good, false, month("2026-05"), month("2026-04"), false,
                                           &r, &warn, &err),
                     STS_EINVAL);
    assert_string_equal(err.field, "cohort");

    /* The imei plays no part: an invalid one does not stop a ping. */
    struct agent_facts f = good;
    snprintf(f.imei, sizeof f.imei, "not an imei");
    assert_int_equal(agent_report_lifetime(&f, false, month("2026-01"), month("2026-02"), false, &r,
                                           &warn, &err),
                     STS_OK);
    snprintf(f.sw, sizeof f.sw, "bad;sw");
    assert_int_equal(agent_report_lifetime(&f, false, month("2026-01"), month("2026-02"), false, &r,
                                           &warn, &err),
                     STS_EINVAL);
    assert_string_equal(err.field, "sw");
}

static void no_consent_no_country(void **state)
{
    (void)state;
    struct sts_report r;
    struct sts_field_error warn, err;
    char *json = NULL;
    assert_int_equal(agent_report_activation(&good, false, day("2026-11-20"), &r, &warn, &err),
                     STS_OK);
    assert_string_equal(r.country, "");
    assert_string_equal(warn.field, "");
    assert_int_equal(sts_report_encode(&r, &json), STS_OK);
    assert_null(strstr(json, "country"));
    free(json);
}

static void invalid_country_is_left_out(void **state)
{
    (void)state;
    static const char *const bad[] = {"XX", "fr", "France", "EU", "F"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct agent_facts f = good;
        struct sts_report r;
        struct sts_field_error warn, err;
        snprintf(f.country, sizeof f.country, "%s", bad[i]);
        assert_int_equal(agent_report_activation(&f, true, day("2026-11-20"), &r, &warn, &err),
                         STS_OK);
        assert_string_equal(r.country, "");
        assert_string_equal(warn.field, "country");
        assert_non_null(strstr(warn.detail, "not sent"));
    }
    /* Consent without a configured country: said, nothing sent. */
    struct agent_facts f = good;
    struct sts_report r;
    struct sts_field_error warn, err;
    f.country[0] = '\0';
    assert_int_equal(agent_report_activation(&f, true, day("2026-11-20"), &r, &warn, &err), STS_OK);
    assert_string_equal(warn.field, "country");
}

static void invalid_required_fact_stops(void **state)
{
    (void)state;
    static const struct {
        const char *imei, *brand, *model, *sw, *field;
    } cases[] = {
        {"352099001761482", "acme-eu", "K400", "K400-V12", "imei"}, /* Luhn */
        {"35209900176148", "acme-eu", "K400", "K400-V12", "imei"},
        {"3520990017614810", "acme-eu", "K400", "K400-V12", "imei"},
        {"352099001761481", "", "K400", "K400-V12", "brand"},
        {"352099001761481", "acme eu;drop", "K400", "K400-V12", "brand"},
        {"352099001761481", "acme-eu", "K400\"}", "K400-V12", "model"},
        {"352099001761481", "acme-eu", "K400", "", "sw"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct agent_facts f = good;
        struct sts_report r;
        struct sts_field_error warn, err;
        snprintf(f.imei, sizeof f.imei, "%s", cases[i].imei);
        snprintf(f.brand, sizeof f.brand, "%s", cases[i].brand);
        snprintf(f.model, sizeof f.model, "%s", cases[i].model);
        snprintf(f.sw, sizeof f.sw, "%s", cases[i].sw);
        enum sts_err rc = agent_report_activation(&f, true, day("2026-11-20"), &r, &warn, &err);
        if (rc != STS_EINVAL || strcmp(err.field, cases[i].field) != 0)
            fail_msg("case %zu: rc %d field '%s' (%s), expected field %s", i, rc, err.field,
                     err.detail, cases[i].field);
        assert_true(err.detail[0] != '\0');
    }
}

static void strip_country_keeps_the_rest(void **state)
{
    (void)state;
    const char *in = "{\"v\":1,\"type\":\"activation\",\"report_id\":"
                     "\"0123456789abcdef0123456789abcdef\",\"imei\":\"352099001761481\","
                     "\"brand\":\"acme-eu\",\"model\":\"K400\",\"sw\":\"K400-V12\","
                     "\"country\":\"FR\",\"day\":\"2026-11-20\"}";
    char *out = NULL;
    struct sts_field_error err;
    assert_int_equal(agent_report_strip_country(in, day("2026-11-21"), &out, &err), STS_OK);
    assert_string_equal(out, "{\"v\":1,\"type\":\"activation\",\"report_id\":"
                             "\"0123456789abcdef0123456789abcdef\",\"imei\":\"352099001761481\","
                             "\"brand\":\"acme-eu\",\"model\":\"K400\",\"sw\":\"K400-V12\","
                             "\"day\":\"2026-11-20\"}");
    free(out);
    assert_int_equal(agent_report_strip_country("{}", day("2026-11-21"), &out, &err), STS_EINVAL);
    assert_null(out);
}

/* ---- facts from the config ---- */

static void config_of(struct agent_config *cfg, const char *extra)
{
    char text[1024], msg[256];
    snprintf(text, sizeof text, "state_dir = /nonexistent\ncollector = http://127.0.0.1:1\n%s",
             extra);
    agent_config_init(cfg);
    if (agent_config_parse(text, "t.conf", cfg, msg, sizeof msg) != STS_OK)
        fail_msg("config: %s", msg);
}

static void facts_from_config(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_facts f;
    struct sts_field_error err;
    config_of(&cfg, "imei = 352099001761481\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n");
    assert_int_equal(agent_facts_collect(&cfg, &f, &err), STS_OK);
    assert_string_equal(f.imei, "352099001761481");
    assert_string_equal(f.country, "");
    agent_config_cleanup(&cfg);

    config_of(&cfg, "imei = 352099001761481\nbrand = acme-eu\nsw = K400-V12\n");
    assert_int_equal(agent_facts_collect(&cfg, &f, &err), STS_ENOENT);
    assert_string_equal(err.field, "model");
    assert_non_null(strstr(err.detail, "add 'model = ...' to t.conf"));
    agent_config_cleanup(&cfg);

    char longer[200];
    memset(longer, 'A', 100);
    snprintf(longer + 100, sizeof longer - 100, "\nimei = 352099001761481\nbrand = b\nsw = s\n");
    char line[300];
    snprintf(line, sizeof line, "model = %s", longer);
    config_of(&cfg, line);
    assert_int_equal(agent_facts_collect(&cfg, &f, &err), STS_ETOOBIG);
    assert_string_equal(err.field, "model");
    agent_config_cleanup(&cfg);
}

/* ---- run's state steps ---- */

static void prepare_once_and_record(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_state st;
    char msg[512];
    config_of(&cfg, "imei = 352099001761481\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n"
                    "country = FR\nconsent_country = on\nretry_base_ms = 1000\n"
                    "retry_cap_ms = 60000\n");
    agent_state_init(&st);
    /* The owner said no: that beats the config default. */
    st.consent_country = AGENT_CONSENT_OFF;
    int32_t d = day("2026-11-20");
    assert_int_equal(agent_prepare_activation(&cfg, &st, 5000, d, msg, sizeof msg), STS_OK);
    assert_true(st.act.present);
    assert_int_equal(st.act.status, AGENT_PENDING);
    assert_int_equal(st.act.next_attempt_ms, 5000);
    assert_null(strstr(st.act.payload, "country"));
    assert_non_null(strstr(st.act.payload, st.act.report_id));
    assert_non_null(strstr(st.act.payload, "\"day\":\"2026-11-20\""));
    char id[33];
    memcpy(id, st.act.report_id, sizeof id);
    char *payload = strdup(st.act.payload);

    /* Made once: preparing again changes nothing, even on another day. */
    assert_int_equal(agent_prepare_activation(&cfg, &st, 9000, d + 3, msg, sizeof msg), STS_OK);
    assert_string_equal(st.act.payload, payload);

    /* No answer: retry, same payload, delay within the first ceiling. */
    struct agent_answer ans = {.status = 0, .retry_after_ms = -1};
    snprintf(ans.error, sizeof ans.error, "Connection refused");
    assert_int_equal(agent_record_attempt(&cfg, &st, 10000, &ans, 777), AGENT_RETRY);
    assert_int_equal(st.act.attempts, 1);
    assert_int_equal(st.act.next_attempt_ms, 10000 + 777 % 1001);
    assert_non_null(strstr(st.act.last_error, "Connection refused"));
    assert_int_equal(st.act.answer_status, 0);

    /* 429 with Retry-After 30 s: at least that. */
    char busy[] = "{\"error\":\"busy\"}";
    ans = (struct agent_answer){
        .status = 429, .body = busy, .body_len = strlen(busy), .retry_after_ms = 30000};
    assert_int_equal(agent_record_attempt(&cfg, &st, 20000, &ans, 0), AGENT_RETRY);
    assert_int_equal(st.act.next_attempt_ms, 50000);
    assert_int_equal(st.act.answer_status, 429);

    /* 200 duplicate: sent; the report_id never changed. */
    char dup[] = "{\"status\":\"duplicate\"}";
    ans = (struct agent_answer){.status = 200,
                                .content_type = "application/json",
                                .body = dup,
                                .body_len = strlen(dup),
                                .retry_after_ms = -1};
    assert_int_equal(agent_record_attempt(&cfg, &st, 60000, &ans, 0), AGENT_DONE);
    assert_int_equal(st.act.status, AGENT_SENT);
    assert_int_equal(st.act.sent_ms, 60000);
    assert_null(st.act.last_error);
    assert_string_equal(st.act.report_id, id);
    assert_string_equal(st.act.payload, payload);
    assert_int_equal(st.log_len, 3);
    assert_string_equal(st.log[0].outcome, "retry");
    assert_string_equal(st.log[2].outcome, "duplicate");
    assert_string_equal(st.log[2].report_id, id);
    free(payload);
    agent_state_cleanup(&st);
    agent_config_cleanup(&cfg);
}

static void rejection_is_final_and_explained(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_state st;
    char msg[512];
    config_of(&cfg, "imei = 352099001761481\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n");
    agent_state_init(&st);
    assert_int_equal(agent_prepare_activation(&cfg, &st, 0, day("2026-11-20"), msg, sizeof msg),
                     STS_OK);
    char body[] =
        "{\"error\":\"invalid\",\"field\":\"imei\",\"detail\":\"check digit does not match\"}";
    struct agent_answer ans = {.status = 400,
                               .content_type = "application/json",
                               .body = body,
                               .body_len = strlen(body),
                               .retry_after_ms = -1};
    assert_int_equal(agent_record_attempt(&cfg, &st, 1000, &ans, 0), AGENT_REJECT);
    assert_int_equal(st.act.status, AGENT_REJECTED);
    assert_string_equal(st.act.last_error,
                        "HTTP 400: invalid, field imei: check digit does not match");
    assert_string_equal(st.act.answer_body, body);
    assert_string_equal(st.log[0].outcome, "rejected");
    agent_state_cleanup(&st);
    agent_config_cleanup(&cfg);
}

static void invalid_fact_recorded_not_sent(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_state st;
    char msg[512];
    config_of(&cfg, "imei = 352099001761482\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n");
    agent_state_init(&st);
    assert_int_equal(agent_prepare_activation(&cfg, &st, 0, day("2026-11-20"), msg, sizeof msg),
                     STS_EINVAL);
    assert_false(st.act.present);
    assert_non_null(st.facts_error);
    assert_non_null(strstr(st.facts_error, "imei"));
    assert_non_null(strstr(msg, "fix t.conf"));
    agent_state_cleanup(&st);
    agent_config_cleanup(&cfg);
}

static void salvaged_report_id_is_reused(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_state st;
    char msg[512];
    config_of(&cfg, "imei = 352099001761481\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n");
    agent_state_init(&st);
    memcpy(st.act.report_id, "0123456789abcdef0123456789abcdef", 33);
    assert_int_equal(agent_prepare_activation(&cfg, &st, 0, day("2026-11-20"), msg, sizeof msg),
                     STS_OK);
    assert_string_equal(st.act.report_id, "0123456789abcdef0123456789abcdef");
    assert_non_null(strstr(st.act.payload, "0123456789abcdef0123456789abcdef"));
    agent_state_cleanup(&st);
    agent_config_cleanup(&cfg);
}

/* ---- answers that are not the collector's, the route ---- */

static void not_the_collector_waits_hours(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_state st;
    char msg[512];
    config_of(&cfg, "imei = 352099001761481\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n");
    agent_state_init(&st);
    assert_int_equal(agent_prepare_activation(&cfg, &st, 0, day("2026-11-20"), msg, sizeof msg),
                     STS_OK);
    char html[] = "<html>Please log in</html>";
    struct agent_answer ans = {.status = 302,
                               .content_type = "text/html",
                               .redirect_url = "http://portal.example/login",
                               .body = html,
                               .body_len = strlen(html),
                               .retry_after_ms = -1};
    const int64_t hour = 3600 * 1000;
    assert_int_equal(agent_record_attempt(&cfg, &st, 1000, &ans, 0), AGENT_RETRY_LONG);
    assert_int_equal(st.act.status, AGENT_PENDING);
    assert_int_equal(st.act.next_attempt_ms, 1000 + hour / 2);
    assert_non_null(strstr(st.act.last_error, "a redirect, which is never followed to "
                                              "http://portal.example/login"));
    assert_string_equal(st.log[0].outcome, "not-collector");
    /* A JSON 404 is not final either, and never waits more than a day. */
    char nf[] = "{\"error\":\"not_found\"}";
    ans = (struct agent_answer){.status = 404,
                                .content_type = "application/json",
                                .body = nf,
                                .body_len = strlen(nf),
                                .retry_after_ms = -1};
    for (int i = 0; i < 20; i++)
        assert_int_equal(agent_record_attempt(&cfg, &st, 2000, &ans, UINT64_MAX), AGENT_RETRY_LONG);
    assert_true(st.act.next_attempt_ms <= 2000 + 24 * hour);
    assert_true(st.act.next_attempt_ms >= 2000 + 12 * hour);
    assert_non_null(strstr(st.act.last_error, "no collector at this address"));

    /* The same URL keeps the backoff; a changed one makes it due at once. */
    assert_true(agent_route_update(&cfg, &st, 3000)); /* first record */
    assert_true(st.act.next_attempt_ms > 3000);
    assert_false(agent_route_update(&cfg, &st, 3000));
    assert_true(st.act.next_attempt_ms > 3000);
    free(cfg.collector);
    cfg.collector = strdup("https://stats.example.com");
    assert_true(agent_route_update(&cfg, &st, 4000));
    assert_int_equal(st.act.next_attempt_ms, 4000);
    assert_string_equal(st.route, "https://stats.example.com");
    agent_state_cleanup(&st);
    agent_config_cleanup(&cfg);
}

/* status and preview both tell the owner agent_lifetime_next_ping: it must
 * be what agent_lifetime_plan then does. */
static void next_ping_is_what_plan_does(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_state st;
    char msg[512];
    bool blocked;
    int32_t period;
    int64_t from, to;
    config_of(&cfg, "imei = 352099001761481\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n"
                    "consent_lifetime = on\n");
    agent_state_init(&st);
    int32_t nov = 0, dec = 0;
    assert_int_equal(sts_month_parse("2026-11", &nov), STS_OK);
    assert_int_equal(sts_month_parse("2026-12", &dec), STS_OK);
    int64_t t0 = agent_month_start_ms(nov) + 10 * AGENT_DAY_MS;
    assert_int_equal(agent_prepare_activation(&cfg, &st, t0, day("2026-11-11"), msg, sizeof msg),
                     STS_OK);

    /* Not drawn yet: a window from now to the month's end... */
    assert_true(agent_lifetime_next_ping(&cfg, &st, t0, &period, &from, &to));
    assert_int_equal(period, nov);
    assert_int_equal(from, t0);
    assert_int_equal(to, agent_month_start_ms(dec) - 1);
    /* ...and plan draws the moment inside it; then it is that moment. */
    agent_lifetime_plan(&cfg, &st, t0, 123456789, &blocked, msg, sizeof msg);
    assert_int_equal(st.life.slot_period, nov);
    assert_true(st.life.slot_ms >= from && st.life.slot_ms <= to);
    int64_t slot = st.life.slot_ms;
    assert_true(agent_lifetime_next_ping(&cfg, &st, t0, &period, &from, &to));
    assert_int_equal(period, nov);
    assert_int_equal(from, slot);
    assert_int_equal(to, slot);

    /* The device was off at the moment and comes back in December, within
     * the grace window: November's ping is made at once, as said. */
    int64_t t1 = agent_month_start_ms(dec) + 3600 * 1000;
    assert_true(agent_lifetime_next_ping(&cfg, &st, t1, &period, &from, &to));
    assert_int_equal(period, nov);
    assert_int_equal(from, t1);
    assert_int_equal(to, t1);
    agent_lifetime_plan(&cfg, &st, t1, 42, &blocked, msg, sizeof msg);
    assert_int_equal(st.life.npending, 1);
    assert_int_equal(st.life.pending[0].period, nov);

    /* Then December's, drawn at this run (plan did it already: exact). */
    assert_true(agent_lifetime_next_ping(&cfg, &st, t1, &period, &from, &to));
    assert_int_equal(period, dec);
    assert_int_equal(from, st.life.slot_ms);

    /* No consent: none. */
    st.life.consent = AGENT_CONSENT_OFF;
    assert_false(agent_lifetime_next_ping(&cfg, &st, t1, &period, &from, &to));
    agent_state_cleanup(&st);
    agent_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(activation_with_country),
        cmocka_unit_test(no_consent_no_country),
        cmocka_unit_test(lifetime_ping),
        cmocka_unit_test(invalid_country_is_left_out),
        cmocka_unit_test(invalid_required_fact_stops),
        cmocka_unit_test(strip_country_keeps_the_rest),
        cmocka_unit_test(facts_from_config),
        cmocka_unit_test(prepare_once_and_record),
        cmocka_unit_test(rejection_is_final_and_explained),
        cmocka_unit_test(invalid_fact_recorded_not_sent),
        cmocka_unit_test(salvaged_report_id_is_reused),
        cmocka_unit_test(not_the_collector_waits_hours),
        cmocka_unit_test(next_ping_is_what_plan_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
