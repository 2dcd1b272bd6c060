/* Unit tests of the fleet simulator's generator and oracle (fleet/sim.c,
 * fleet/verify.c), compiled in here since sts-fleet is a program, not a
 * library: the fleet must be deterministic and plausible, and the comparison
 * must catch every kind of wrong figure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fleet/sim.c"
#include "../../fleet/verify.c"

#include "sts/imei.h"

#define TODAY 20777 /* 2026-11-20 */

static void deterministic(void **state)
{
    (void)state;
    struct fleet a, b, c;
    assert_int_equal(fleet_generate(42, 5000, 12, TODAY, &a), STS_OK);
    assert_int_equal(fleet_generate(42, 5000, 12, TODAY, &b), STS_OK);
    assert_int_equal(fleet_generate(43, 5000, 12, TODAY, &c), STS_OK);
    assert_memory_equal(a.dev, b.dev, 5000 * sizeof a.dev[0]);
    assert_int_equal(a.reactivations, b.reactivations);
    assert_true(memcmp(a.dev, c.dev, 5000 * sizeof a.dev[0]) != 0);
    fleet_cleanup(&a);
    fleet_cleanup(&b);
    fleet_cleanup(&c);
    assert_int_equal(fleet_generate(1, 0, 12, TODAY, &a), STS_EINVAL);
    assert_int_equal(fleet_generate(1, 10, 0, TODAY, &a), STS_EINVAL);
}

static int cmp_imei(const void *x, const void *y)
{
    return strcmp(((const struct fleet_device *)x)->facts.imei,
                  ((const struct fleet_device *)y)->facts.imei);
}

static void plausible(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct fleet f;
    assert_int_equal(fleet_generate(7, N, 12, TODAY, &f), STS_OK);
    size_t consent = 0, react = 0, first_half = 0;
    int32_t mid = f.first_day + (TODAY - f.first_day) / 2;
    assert_in_range(TODAY - f.first_day, 360, 370);
    for (size_t i = 0; i < N; i++) {
        const struct fleet_device *d = &f.dev[i];
        const char *why = NULL;
        if (!sts_imei_valid(d->facts.imei, &why))
            fail_msg("device %zu: imei %s: %s", i, d->facts.imei, why);
        assert_in_range(d->day, f.first_day, TODAY);
        if (d->react_day != 0) {
            assert_true(d->react_day > d->day && d->react_day <= TODAY);
            react++;
        }
        consent += d->consent;
        first_half += d->day < mid;
        assert_int_equal(strlen(d->facts.country), 2);
    }
    assert_int_equal(react, f.reactivations);
    assert_in_range(consent, N * 67 / 100, N * 73 / 100); /* 70 % */
    assert_in_range(react, N / 200, N * 2 / 100);         /* ~1 % */
    /* Ramp-up then decay: the first half of the period sells more. */
    assert_true(first_half > N / 2);
    /* Distinct IMEIs. */
    qsort(f.dev, N, sizeof f.dev[0], cmp_imei);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(f.dev[i - 1].facts.imei, f.dev[i].facts.imei);
    fleet_cleanup(&f);
}

/* A tiny fleet with known cells: K400 x12 (2 re-activations), P10 x3. */
static void tiny(struct fleet *f)
{
    f->n = 15;
    f->dev = calloc(f->n, sizeof f->dev[0]);
    assert_non_null(f->dev);
    for (size_t i = 0; i < f->n; i++) {
        struct fleet_device *d = &f->dev[i];
        snprintf(d->facts.model, sizeof d->facts.model, "%s", i < 12 ? "K400" : "P10");
        snprintf(d->facts.country, sizeof d->facts.country, "FR");
        d->consent = i >= 3; /* 12 FR, 3 without country */
        d->react_day = (i == 0 || i == 5) ? 1 : 0;
    }
    f->reactivations = 2;
}

static bool compare(const struct fleet *f, enum fleet_dim dim, const char *body)
{
    char msg[256] = "";
    bool equal = false;
    FILE *devnull = fopen("/dev/null", "w");
    enum sts_err rc = fleet_compare(f, dim, body, devnull, &equal, msg, sizeof msg);
    fclose(devnull);
    if (rc != STS_OK)
        fail_msg("fleet_compare: %d %s", rc, msg);
    return equal;
}

static void oracle(void **state)
{
    (void)state;
    struct fleet f;
    tiny(&f);
    /* Right, with the P10 activations and K400 re-activations under k hidden,
     * and the re-activations total too (it is under k). */
    assert_true(
        compare(&f, FLEET_BY_MODEL,
                "{\"k\":10,\"rows\":[{\"model\":\"K400\",\"activations\":12,\"reactivations\":null,"
                "\"suppressed\":true},{\"model\":\"P10\",\"activations\":null,\"reactivations\":0,"
                "\"suppressed\":true}],\"total\":{\"activations\":15,\"reactivations\":null}}"));
    /* A total under k shown is a broken floor as well. */
    assert_false(
        compare(&f, FLEET_BY_MODEL,
                "{\"k\":10,\"rows\":[{\"model\":\"K400\",\"activations\":12,\"reactivations\":null,"
                "\"suppressed\":true},{\"model\":\"P10\",\"activations\":null,\"reactivations\":0,"
                "\"suppressed\":true}],\"total\":{\"activations\":15,\"reactivations\":2}}"));
    /* With k = 2 everything is visible. */
    assert_true(
        compare(&f, FLEET_BY_MODEL,
                "{\"k\":2,\"rows\":[{\"model\":\"P10\",\"activations\":3,\"reactivations\":0},"
                "{\"model\":\"K400\",\"activations\":12,\"reactivations\":2}],"
                "\"total\":{\"activations\":15,\"reactivations\":2}}"));
    /* A wrong count. */
    assert_false(
        compare(&f, FLEET_BY_MODEL,
                "{\"k\":2,\"rows\":[{\"model\":\"P10\",\"activations\":3,\"reactivations\":0},"
                "{\"model\":\"K400\",\"activations\":13,\"reactivations\":2}],"
                "\"total\":{\"activations\":16,\"reactivations\":2}}"));
    /* A count under k shown: the privacy floor is broken. */
    assert_false(
        compare(&f, FLEET_BY_MODEL,
                "{\"k\":10,\"rows\":[{\"model\":\"K400\",\"activations\":12,\"reactivations\":2},"
                "{\"model\":\"P10\",\"activations\":3,\"reactivations\":0}],"
                "\"total\":{\"activations\":15,\"reactivations\":2}}"));
    /* A missing row. */
    assert_false(
        compare(&f, FLEET_BY_MODEL,
                "{\"k\":2,\"rows\":[{\"model\":\"K400\",\"activations\":12,\"reactivations\":2}],"
                "\"total\":{\"activations\":15,\"reactivations\":2}}"));
    /* A row the truth does not have. */
    assert_false(
        compare(&f, FLEET_BY_MODEL,
                "{\"k\":2,\"rows\":[{\"model\":\"P10\",\"activations\":3,\"reactivations\":0},"
                "{\"model\":\"K400\",\"activations\":12,\"reactivations\":2},"
                "{\"model\":\"Z9\",\"activations\":4,\"reactivations\":0}],"
                "\"total\":{\"activations\":19,\"reactivations\":2}}"));
    /* Hidden counts that do not add up to the total. */
    assert_false(compare(
        &f, FLEET_BY_MODEL,
        "{\"k\":10,\"rows\":[{\"model\":\"K400\",\"activations\":12,\"reactivations\":null},"
        "{\"model\":\"P10\",\"activations\":null,\"reactivations\":0}],"
        "\"total\":{\"activations\":16,\"reactivations\":null}}"));
    /* By country, null is "no country". */
    assert_true(
        compare(&f, FLEET_BY_COUNTRY,
                "{\"k\":1,\"rows\":[{\"country\":null,\"activations\":3,\"reactivations\":1},"
                "{\"country\":\"FR\",\"activations\":12,\"reactivations\":1}],"
                "\"total\":{\"activations\":15,\"reactivations\":2}}"));
    assert_false(
        compare(&f, FLEET_BY_COUNTRY,
                "{\"k\":2,\"rows\":[{\"country\":\"FR\",\"activations\":15,\"reactivations\":2}],"
                "\"total\":{\"activations\":15,\"reactivations\":2}}"));

    /* Not the expected document at all. */
    char msg[256];
    bool equal = true;
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(fleet_compare(&f, FLEET_BY_MODEL, "<html>", devnull, &equal, msg, sizeof msg),
                     STS_ECORRUPT);
    assert_false(equal);
    fclose(devnull);
    fleet_cleanup(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deterministic),
        cmocka_unit_test(plausible),
        cmocka_unit_test(oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
