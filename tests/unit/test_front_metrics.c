/* The metrics registry (front/metrics.h): rendering of counters, gauges and
 * histograms in the text format, HELP and TYPE once per family, lookup,
 * NULL safety and the registry's bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(struct metrics *m)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(m, &out, &len), STS_OK);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_counters_and_gauges(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), STS_OK);
    struct metric *a = metrics_add(m, METRIC_COUNTER, "t_total", "things", "kind=\"a\"", NULL, 0);
    struct metric *b = metrics_add(m, METRIC_COUNTER, "t_total", "things", "kind=\"b\"", NULL, 0);
    struct metric *g = metrics_add(m, METRIC_GAUGE, "t_open", "open now", NULL, NULL, 0);
    metric_add(a, 3);
    metric_add(b, 1);
    metric_add(g, 2);
    metric_add(g, -1);
    char *out = render(m);
    assert_string_equal(out, "# HELP t_total things\n# TYPE t_total counter\n"
                             "t_total{kind=\"a\"} 3\nt_total{kind=\"b\"} 1\n"
                             "# HELP t_open open now\n# TYPE t_open gauge\nt_open 1\n");
    free(out);
    assert_ptr_equal(metrics_find(m, "t_total", "kind=\"b\""), b);
    assert_ptr_equal(metrics_find(m, "t_open", NULL), g);
    assert_null(metrics_find(m, "t_open", "kind=\"a\""));
    assert_null(metrics_find(m, "t_none", NULL));
    metric_set(g, 7);
    assert_int_equal(metric_value(g), 7);
    metrics_free(m);
}

static void test_sum(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), STS_OK);
    static const double bounds[] = {1};
    metric_add(metrics_add(m, METRIC_COUNTER, "t_answers", "a", "code=\"200\"", NULL, 0), 3);
    metric_add(metrics_add(m, METRIC_COUNTER, "t_answers", "a", "code=\"202\"", NULL, 0), 4);
    metric_add(metrics_add(m, METRIC_COUNTER, "t_answers", "a", "code=\"502\"", NULL, 0), 5);
    metric_add(metrics_add(m, METRIC_COUNTER, "t_answers", "a", "code=\"other\"", NULL, 0), 6);
    metric_add(metrics_add(m, METRIC_COUNTER, "t_other", "o", "code=\"200\"", NULL, 0), 100);
    metric_observe(metrics_add(m, METRIC_HISTOGRAM, "t_answers_h", "h", NULL, bounds, 1), 1);
    assert_int_equal(metrics_sum(m, "t_answers", "code=\"2"), 7);
    assert_int_equal(metrics_sum(m, "t_answers", "code=\"5"), 5);
    assert_int_equal(metrics_sum(m, "t_answers", "code=\"4"), 0);
    assert_int_equal(metrics_sum(m, "t_answers", "code=\"other\""), 6);
    assert_int_equal(metrics_sum(m, "t_answers", NULL), 18);
    assert_int_equal(metrics_sum(m, "t_answers", ""), 18);
    assert_int_equal(metrics_sum(m, "t_none", NULL), 0);
    assert_int_equal(metrics_sum(NULL, "t_answers", NULL), 0);
    metrics_free(m);
}

static void test_histogram(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), STS_OK);
    static const double bounds[] = {1, 10};
    struct metric *h = metrics_add(m, METRIC_HISTOGRAM, "t_size", "sizes", NULL, bounds, 2);
    assert_non_null(h);
    metric_observe(h, 0.5);
    metric_observe(h, 1);
    metric_observe(h, 5);
    metric_observe(h, 100);
    char *out = render(m);
    assert_string_equal(out, "# HELP t_size sizes\n# TYPE t_size histogram\n"
                             "t_size_bucket{le=\"1\"} 2\nt_size_bucket{le=\"10\"} 3\n"
                             "t_size_bucket{le=\"+Inf\"} 4\nt_size_sum 106.5\nt_size_count 4\n");
    free(out);
    assert_int_equal(metric_value(h), 4);
    /* Bounds must increase. */
    static const double bad[] = {2, 1};
    assert_null(metrics_add(m, METRIC_HISTOGRAM, "t_bad", "bad", NULL, bad, 2));
    assert_null(metrics_add(m, METRIC_HISTOGRAM, "t_bad", "bad", NULL, bad, 0));
    metrics_free(m);
}

static void test_null_and_full(void **state)
{
    (void)state;
    /* Without a registry every update does nothing. */
    assert_null(metrics_add(NULL, METRIC_COUNTER, "x", "x", NULL, NULL, 0));
    metric_add(NULL, 1);
    metric_set(NULL, 1);
    metric_observe(NULL, 1.0);
    assert_int_equal(metric_value(NULL), 0);
    metrics_free(NULL);
    struct metrics *m;
    assert_int_equal(metrics_new(&m), STS_OK);
    for (int i = 0; i < METRICS_MAX; i++)
        assert_non_null(metrics_add(m, METRIC_COUNTER, "t_many", "many", NULL, NULL, 0));
    assert_null(metrics_add(m, METRIC_COUNTER, "t_many", "many", NULL, NULL, 0));
    char *out = render(m);
    assert_int_equal(strlen(out) > 256 * strlen("t_many 0\n"), 1);
    free(out);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_gauges),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_null_and_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
