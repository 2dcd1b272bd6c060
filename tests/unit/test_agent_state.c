/* Unit tests of the agent's durable state (agent/state.c, agent/file.c):
 * round trip, atomic replacement under injected I/O failures, recovery from
 * corrupt and truncated files, refusal of a newer format, the bounded log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file.h"
#include "state.h"

#define ID "0123456789abcdef0123456789abcdef"
#define PAYLOAD                                                                                    \
    "{\"v\":1,\"type\":\"activation\",\"report_id\":\"" ID                                         \
    "\",\"imei\":\"352099001761481\",\"brand\":\"acme-eu\",\"model\":\"K400\",\"sw\":\"K400-"      \
    "V12\",\"country\":\"FR\",\"day\":\"2026-11-20\"}"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_agent_state_XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    agent_file_fault = NULL;
    return 0;
}

static void sample(struct agent_state *st)
{
    agent_state_init(st);
    st->consent_country = AGENT_CONSENT_ON;
    st->consent_country_ms = 1700000000123;
    struct agent_activation *a = &st->act;
    a->present = true;
    memcpy(a->report_id, ID, sizeof a->report_id);
    a->payload = strdup(PAYLOAD);
    a->status = AGENT_PENDING;
    a->created_ms = 1700000000000;
    a->attempts = 3;
    a->next_attempt_ms = 1700000009000;
    a->last_error = strdup("HTTP 503: busy \"quoted\" \\ and ünïcödé");
    a->answer_status = 503;
    a->answer_body = strdup("{\"error\":\"busy\"}");
    a->answer_ms = 1700000001000;
    a->note = strdup("country: something");
    for (int i = 0; i < 3; i++) {
        struct agent_log_entry e;
        memset(&e, 0, sizeof e);
        e.time_ms = 1700000000000 + i;
        snprintf(e.type, sizeof e.type, "activation");
        memcpy(e.report_id, ID, sizeof e.report_id);
        e.http_status = i == 0 ? 0 : 503;
        snprintf(e.outcome, sizeof e.outcome, "retry");
        snprintf(e.detail, sizeof e.detail, "attempt %d", i);
        agent_state_log(st, &e);
    }
}

static char *slurp(const char *name)
{
    char path[512], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (agent_file_read(path, 1 << 20, &text, &len) != STS_OK)
        return NULL;
    return text;
}

static void spit(const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* The name of a file in dir starting with prefix, or NULL. */
static char *find_file(const char *prefix)
{
    static char found[256];
    DIR *d = opendir(dir);
    struct dirent *e;
    char *r = NULL;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(found, sizeof found, "%s", e->d_name);
            r = found;
        }
    closedir(d);
    return r;
}

static void round_trip(void **state)
{
    (void)state;
    struct agent_state st, back;
    char msg[512];
    sample(&st);
    assert_int_equal(agent_state_save(dir, &st), STS_OK);
    assert_int_equal(agent_state_load(dir, &back, msg, sizeof msg), STS_OK);
    assert_int_equal(back.consent_country, AGENT_CONSENT_ON);
    assert_int_equal(back.consent_country_ms, 1700000000123);
    assert_true(back.act.present);
    assert_string_equal(back.act.report_id, ID);
    assert_string_equal(back.act.payload, PAYLOAD);
    assert_int_equal(back.act.status, AGENT_PENDING);
    assert_int_equal(back.act.attempts, 3);
    assert_int_equal(back.act.next_attempt_ms, 1700000009000);
    assert_string_equal(back.act.last_error, st.act.last_error);
    assert_int_equal(back.act.answer_status, 503);
    assert_string_equal(back.act.answer_body, "{\"error\":\"busy\"}");
    assert_string_equal(back.act.note, "country: something");
    assert_null(back.facts_error);
    assert_int_equal(back.log_len, 3);
    assert_string_equal(back.log[2].detail, "attempt 2");
    assert_int_equal(back.log[0].http_status, 0);

    /* Saving what was loaded gives the same bytes. */
    char *first = slurp(AGENT_STATE_FILE);
    assert_int_equal(agent_state_save(dir, &back), STS_OK);
    char *second = slurp(AGENT_STATE_FILE);
    assert_string_equal(first, second);
    free(first);
    free(second);

    /* No file at all: a fresh state. */
    agent_state_cleanup(&back);
    snprintf(msg, sizeof msg, "%s/%s", dir, AGENT_STATE_FILE);
    unlink(msg);
    assert_int_equal(agent_state_load(dir, &back, msg, sizeof msg), STS_OK);
    assert_false(back.act.present);
    assert_int_equal(back.consent_country, AGENT_CONSENT_UNSET);
    agent_state_cleanup(&back);
    agent_state_cleanup(&st);
}

static const char *fail_step;

static int inject(const char *step)
{
    return strcmp(step, fail_step) == 0;
}

static void atomic_under_failures(void **state)
{
    (void)state;
    struct agent_state st, back;
    char msg[512];
    sample(&st);
    assert_int_equal(agent_state_save(dir, &st), STS_OK);
    char *before = slurp(AGENT_STATE_FILE);

    st.act.status = AGENT_SENT;
    st.act.attempts = 4;
    static const char *const steps[] = {"open", "write", "fsync", "rename"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        fail_step = steps[i];
        agent_file_fault = inject;
        assert_int_equal(agent_state_save(dir, &st), STS_EIO);
        agent_file_fault = NULL;
        /* The old state is intact and no temporary file is left behind. */
        char *now = slurp(AGENT_STATE_FILE);
        assert_string_equal(now, before);
        free(now);
        assert_null(find_file(AGENT_STATE_FILE ".tmp"));
    }
    /* A failed directory sync is reported although the new file is in place. */
    fail_step = "dirsync";
    agent_file_fault = inject;
    assert_int_equal(agent_state_save(dir, &st), STS_EIO);
    agent_file_fault = NULL;

    assert_int_equal(agent_state_save(dir, &st), STS_OK);
    assert_int_equal(agent_state_load(dir, &back, msg, sizeof msg), STS_OK);
    assert_int_equal(back.act.status, AGENT_SENT);
    assert_int_equal(back.act.attempts, 4);
    struct stat sb;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, AGENT_STATE_FILE);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    free(before);
    agent_state_cleanup(&back);
    agent_state_cleanup(&st);
}

static void truncated_file_is_recovered(void **state)
{
    (void)state;
    struct agent_state st, back;
    char msg[1024];
    sample(&st);
    st.consent_country = AGENT_CONSENT_OFF;
    assert_int_equal(agent_state_save(dir, &st), STS_OK);
    char *full = slurp(AGENT_STATE_FILE);
    /* Cut just after the activation's report_id: that much survives. */
    char *cut = strstr(full, "\"status\"");
    assert_non_null(cut);
    spit(AGENT_STATE_FILE, full, (size_t)(cut - full));

    assert_int_equal(agent_state_load(dir, &back, msg, sizeof msg), STS_ECORRUPT);
    assert_non_null(strstr(msg, "was corrupt"));
    assert_non_null(strstr(msg, "keeping report_id " ID));
    assert_false(back.act.present);
    assert_string_equal(back.act.report_id, ID); /* salvaged for the rebuild */
    assert_int_equal(back.consent_country, AGENT_CONSENT_OFF);
    /* The damaged file is kept aside, and the way is clear for a fresh one. */
    char *aside = find_file(AGENT_STATE_FILE ".corrupt-");
    assert_non_null(aside);
    char *current = slurp(AGENT_STATE_FILE);
    assert_null(current);
    char *kept = slurp(aside);
    assert_int_equal(strlen(kept), (size_t)(cut - full));
    free(kept);
    assert_int_equal(agent_state_save(dir, &back), STS_OK);
    free(full);
    agent_state_cleanup(&back);
    agent_state_cleanup(&st);
}

static void garbage_is_recovered(void **state)
{
    (void)state;
    struct agent_state back;
    char msg[1024];
    static const char *const bad[] = {
        "",
        "\x00\x01\x02garbage",
        "[]",
        "{\"format\":1}",
        "{\"format\":1,\"consent\":{\"country\":\"maybe\",\"country_set_ms\":0},"
        "\"facts_error\":null,\"activation\":null,\"log\":[]}",
        "{\"format\":1,\"consent\":{\"country\":null,\"country_set_ms\":0},"
        "\"facts_error\":null,\"activation\":{\"report_id\":\"XYZ\"},\"log\":[]}",
        "{\"format\":1,\"format\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spit(AGENT_STATE_FILE, bad[i], i == 1 ? 10 : strlen(bad[i]));
        enum sts_err rc = agent_state_load(dir, &back, msg, sizeof msg);
        if (rc != STS_ECORRUPT)
            fail_msg("case %zu: rc %d (%s)", i, rc, msg);
        assert_false(back.act.present);
        assert_string_equal(back.act.report_id, "");
        /* Consent unknown: the safe side. */
        assert_int_equal(back.consent_country, AGENT_CONSENT_OFF);
        assert_non_null(strstr(msg, "a new report_id"));
        char *aside = find_file(AGENT_STATE_FILE ".corrupt-");
        assert_non_null(aside);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, aside);
        unlink(path);
        agent_state_cleanup(&back);
    }
}

static void only_latest_corrupt_copy_kept(void **state)
{
    (void)state;
    struct agent_state back;
    char msg[1024];
    spit(AGENT_STATE_FILE ".corrupt-1000", "old", 3);
    spit(AGENT_STATE_FILE ".corrupt-2000", "older", 5);
    spit("unrelated", "x", 1);
    spit(AGENT_STATE_FILE, "{broken", 7);
    assert_int_equal(agent_state_load(dir, &back, msg, sizeof msg), STS_ECORRUPT);
    agent_state_cleanup(&back);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int copies = 0, unrelated = 0;
    char kept[256] = "";
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, AGENT_STATE_FILE ".corrupt-", 19) == 0) {
            copies++;
            snprintf(kept, sizeof kept, "%s", e->d_name);
        }
        if (strcmp(e->d_name, "unrelated") == 0)
            unrelated++;
    }
    closedir(d);
    assert_int_equal(copies, 1);
    assert_int_equal(unrelated, 1);
    char *text = slurp(kept);
    assert_string_equal(text, "{broken");
    free(text);
}

static void newer_format_left_alone(void **state)
{
    (void)state;
    struct agent_state back;
    char msg[1024];
    const char *text = "{\"format\":7,\"whatever\":true}";
    spit(AGENT_STATE_FILE, text, strlen(text));
    assert_int_equal(agent_state_load(dir, &back, msg, sizeof msg), STS_EUNSUPPORTED);
    assert_non_null(strstr(msg, "newer agent"));
    char *now = slurp(AGENT_STATE_FILE);
    assert_string_equal(now, text);
    free(now);
}

static void log_is_bounded(void **state)
{
    (void)state;
    struct agent_state st;
    agent_state_init(&st);
    for (int i = 0; i < AGENT_LOG_MAX + 10; i++) {
        struct agent_log_entry e;
        memset(&e, 0, sizeof e);
        e.time_ms = i;
        agent_state_log(&st, &e);
    }
    assert_int_equal(st.log_len, AGENT_LOG_MAX);
    assert_int_equal(st.log[0].time_ms, 10);
    assert_int_equal(st.log[AGENT_LOG_MAX - 1].time_ms, AGENT_LOG_MAX + 9);
}

static void lock_creates_dir(void **state)
{
    (void)state;
    char sub[128];
    int fd = -1;
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(agent_state_lock(sub, &fd), STS_OK);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    agent_state_unlock(fd);
    char lock[160];
    snprintf(lock, sizeof lock, "%s/lock", sub);
    unlink(lock);
    rmdir(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(atomic_under_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_file_is_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_is_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(only_latest_corrupt_copy_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_format_left_alone, setup, teardown),
        cmocka_unit_test(log_is_bounded),
        cmocka_unit_test_setup_teardown(lock_creates_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
