/* Unit tests of the owner's message catalogue (agent/messages.c): every
 * French text takes exactly the arguments of its English key, so a
 * translation can never make printf read the wrong thing; the language comes
 * from the environment; an unknown text falls back to English. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "messages.h"

/* The conversions of a printf format, e.g. "%s%zu%ld", into out. */
static void conversions(const char *fmt, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p != '%')
            continue;
        p++;
        if (*p == '%')
            continue;
        const char *start = p;
        while (*p != '\0' && strchr("0123456789.-+ #lhzjt", *p) != NULL)
            p++;
        int n = snprintf(out + used, size - used, "%%%.*s", (int)(p - start + 1), start);
        assert_true(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
}

static void translations_take_the_same_arguments(void **state)
{
    (void)state;
    char en[128], fr[128];
    size_t i = 0;
    for (; agent_msg_entry(i, AGENT_LANG_EN) != NULL; i++) {
        const char *e = agent_msg_entry(i, AGENT_LANG_EN);
        const char *f = agent_msg_entry(i, AGENT_LANG_FR);
        assert_non_null(f);
        conversions(e, en, sizeof en);
        conversions(f, fr, sizeof fr);
        if (strcmp(en, fr) != 0)
            fail_msg("'%s' takes %s but its French '%s' takes %s", e, en, f, fr);
        /* A line that ends in the English ends in the French too. */
        size_t le = strlen(e), lf = strlen(f);
        assert_true(le > 0 && lf > 0);
        assert_int_equal(e[le - 1] == '\n', f[lf - 1] == '\n');
        for (size_t j = 0; j < i; j++)
            if (strcmp(agent_msg_entry(j, AGENT_LANG_EN), e) == 0)
                fail_msg("'%s' is in the catalogue twice", e);
    }
    assert_true(i >= 50);
}

static void language_from_the_environment(void **state)
{
    (void)state;
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    setenv("LANG", "fr_FR.UTF-8", 1);
    assert_int_equal(agent_msg_lang_from_env(), AGENT_LANG_FR);
    setenv("LC_MESSAGES", "en_GB.UTF-8", 1);
    assert_int_equal(agent_msg_lang_from_env(), AGENT_LANG_EN);
    setenv("LC_ALL", "fr_CA", 1);
    assert_int_equal(agent_msg_lang_from_env(), AGENT_LANG_FR);
    setenv("LC_ALL", "C", 1);
    assert_int_equal(agent_msg_lang_from_env(), AGENT_LANG_EN);
    setenv("LC_ALL", "", 1); /* empty: the next one counts */
    assert_int_equal(agent_msg_lang_from_env(), AGENT_LANG_EN);
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    unsetenv("LANG");
    assert_int_equal(agent_msg_lang_from_env(), AGENT_LANG_EN);
}

static void lookup(void **state)
{
    (void)state;
    agent_msg_set_lang(AGENT_LANG_FR);
    assert_string_equal(agent_msg("Your choices:"), "Vos choix :");
    assert_string_equal(agent_msg("no such text %s"), "no such text %s");
    agent_msg_set_lang(AGENT_LANG_EN);
    assert_string_equal(agent_msg("Your choices:"), "Your choices:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(translations_take_the_same_arguments),
        cmocka_unit_test(language_from_the_environment),
        cmocka_unit_test(lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
