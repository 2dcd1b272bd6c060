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

#include "sts/date.h"
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

/* A tiny fleet with known monthly cells: in 2026-01, 60 K400 (acme-eu), 30 P10
 * (acme-us); in 2026-02, 40 K400 (acme-eu). */
static void tiny(struct fleet *f)
{
    f->n = 130;
    f->dev = calloc(f->n, sizeof f->dev[0]);
    assert_non_null(f->dev);
    int32_t jan = sts_day_from_ymd(2026, 1, 10), feb = sts_day_from_ymd(2026, 2, 10);
    for (size_t i = 0; i < f->n; i++) {
        struct fleet_device *d = &f->dev[i];
        bool p10 = i >= 60 && i < 90;
        snprintf(d->facts.brand, sizeof d->facts.brand, "%s", p10 ? "acme-us" : "acme-eu");
        snprintf(d->facts.model, sizeof d->facts.model, "%s", p10 ? "P10" : "K400");
        snprintf(d->facts.country, sizeof d->facts.country, "FR");
        d->consent = true;
        d->day = i < 90 ? jan : feb;
    }
    f->first_day = jan;
    f->last_day = feb + 30;
}

/* An answer by model with the given K400 and P10 figures for January (P10
 * omitted when p10 < 0), K400 for February and March. */
static char *answer(long k400, long p10, long feb, long mar, const char *through)
{
    static char buf[2048];
    char rows[1024];
    int n = snprintf(rows, sizeof rows,
                     "{\"period\":\"2026-01\",\"model\":\"K400\",\"activations\":%ld,"
                     "\"activations_ci\":[%ld,%ld]}",
                     k400, k400 - 5, k400 + 5);
    if (p10 >= 0)
        n += snprintf(rows + n, sizeof rows - (size_t)n,
                      ",{\"period\":\"2026-01\",\"model\":\"P10\",\"activations\":%ld,"
                      "\"activations_ci\":[%ld,%ld]}",
                      p10, p10 - 5, p10 + 5);
    if (feb >= 0)
        n += snprintf(rows + n, sizeof rows - (size_t)n,
                      ",{\"period\":\"2026-02\",\"model\":\"K400\",\"activations\":%ld,"
                      "\"activations_ci\":[%ld,%ld]}",
                      feb, feb - 5, feb + 5);
    if (mar >= 0)
        snprintf(rows + n, sizeof rows - (size_t)n,
                 ",{\"period\":\"2026-03\",\"model\":\"K400\",\"activations\":%ld,"
                 "\"activations_ci\":[%ld,%ld]}",
                 mar, mar - 5, mar + 5);
    snprintf(buf, sizeof buf,
             "{\"k\":10,\"rows\":[%s],\"release\":{\"through_month\":\"%s\",\"tables\":"
             "[{\"table\":\"sales.month.brand.model\",\"sigma\":2.5,\"threshold\":13}]}}",
             rows, through);
    return buf;
}

static struct fleet_sales_result judge(const struct fleet *f, const char *by, const char *body)
{
    char msg[256] = "";
    struct fleet_sales_check chk;
    struct fleet_sales_result res = {.ok = true, .median_rel = -1};
    fleet_sales_check_defaults(&chk);
    FILE *devnull = fopen("/dev/null", "w");
    enum sts_err rc = fleet_compare(f, by, body, &chk, devnull, &res, msg, sizeof msg);
    fclose(devnull);
    if (rc != STS_OK)
        fail_msg("fleet_compare: %d %s", rc, msg);
    return res;
}

static void oracle(void **state)
{
    (void)state;
    struct fleet f;
    tiny(&f);
    /* Close to the truth: K400 61 for 60 (1.7 %); February's 40 is under the
     * 50 devices of the accuracy figure. */
    struct fleet_sales_result r = judge(&f, "model", answer(61, 30, 30, -1, "2026-02"));
    assert_true(r.ok);
    assert_int_equal(r.accuracy_cells, 1);
    assert_true(r.median_rel > 0.016 && r.median_rel < 0.017);
    /* Far off: 57 for 60 is 5 %. */
    r = judge(&f, "model", answer(57, 30, 40, -1, "2026-02"));
    assert_false(r.ok);
    /* A large cell not shown counts as a 100 % error. */
    r = judge(&f, "model",
              "{\"rows\":[],\"release\":{\"through_month\":\"2026-02\",\"tables\":"
              "[{\"table\":\"sales.month.brand.model\",\"threshold\":13}]}}");
    assert_false(r.ok);
    assert_true(r.median_rel == 1.0);
    /* A month not yet closed must show nothing. */
    r = judge(&f, "model", answer(60, 30, 40, 12, "2026-02"));
    assert_false(r.ok);
    assert_int_equal(r.shown_open, 1);
    /* February closed later: not shown before, fine; shown when its truth
     * is 0 is not. */
    r = judge(&f, "model", answer(60, 30, -1, -1, "2026-01"));
    assert_true(r.ok);
    r = judge(&f, "model", answer(60, 30, 40, 15, "2026-03"));
    assert_false(r.ok);
    assert_int_equal(r.shown_zero, 1);
    /* Calibration counts single released cells of truth >= 2 x 13 = 26:
     * both January cells by brand and model (60 and 30), February's 40. */
    const char *bm =
        "{\"rows\":[{\"period\":\"2026-01\",\"brand\":\"acme-eu\",\"model\":\"K400\","
        "\"activations\":58,\"activations_ci\":[53,63]},{\"period\":\"2026-01\",\"brand\":"
        "\"acme-us\",\"model\":\"P10\",\"activations\":20,\"activations_ci\":[15,25]},"
        "{\"period\":\"2026-02\",\"brand\":\"acme-eu\",\"model\":\"K400\",\"activations\":41,"
        "\"activations_ci\":[36,46]}],\"release\":{\"through_month\":\"2026-02\",\"tables\":"
        "[{\"table\":\"sales.month.brand.model\",\"threshold\":13}]}}";
    r = judge(&f, "brand,model", bm);
    assert_true(r.ok);
    assert_int_equal(r.cal.n, 3);
    assert_int_equal(r.cal.inside, 2); /* P10: 30 is not in [15, 25] */
    /* A January model absent from the truth is a shown figure of truth 0. */
    r = judge(&f, "model",
              "{\"rows\":[{\"period\":\"2026-01\",\"model\":\"Z9\",\"activations\":14,"
              "\"activations_ci\":[9,19]}],\"release\":{\"through_month\":\"2026-02\","
              "\"tables\":[{\"table\":\"sales.month.brand.model\",\"threshold\":13}]}}");
    assert_int_equal(r.shown_zero, 1);
    assert_false(r.ok);

    /* Not the expected document at all. */
    char msg[256];
    struct fleet_sales_check chk;
    struct fleet_sales_result res = {.ok = true};
    fleet_sales_check_defaults(&chk);
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(fleet_compare(&f, "model", "<html>", &chk, devnull, &res, msg, sizeof msg),
                     STS_ECORRUPT);
    assert_int_equal(fleet_compare(&f, "sw", "{}", &chk, devnull, &res, msg, sizeof msg),
                     STS_EINVAL);
    fclose(devnull);
    fleet_cleanup(&f);
}

static void band(void **state)
{
    (void)state;
    double lo, hi;
    fleet_calib_band(400, &lo, &hi);
    assert_true(lo > 0.91 && lo < 0.92); /* 0.95 - 3.29 x 0.0109 */
    assert_true(hi == 1.0);              /* 400 values cannot tell 99 % from 100 % */
    struct fleet_calib c = {400, 380};
    assert_true(fleet_calib_ok(&c));
    c.inside = 360; /* 90 %: intervals too narrow */
    assert_false(fleet_calib_ok(&c));
    c.n = c.inside = 4000; /* 100 % of 4,000: far wider than 95 % */
    assert_false(fleet_calib_ok(&c));
    c.inside = 3900;
    assert_true(fleet_calib_ok(&c));
    c.n = 0;
    assert_true(fleet_calib_ok(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deterministic),
        cmocka_unit_test(plausible),
        cmocka_unit_test(oracle),
        cmocka_unit_test(band),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
