/* Unit tests of front/rate.c: token buckets per client address, the relay
 * addresses' own limit, IPv4 and its mapped IPv6 form sharing a bucket, and a
 * table under more addresses than it holds. Time is given, never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "rate.h"

static struct sockaddr_storage v4(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void bucket_refills(void **state)
{
    (void)state;
    struct rate_config cfg = {.rate = 1, .burst = 3};
    struct rate_table *t = NULL;
    char why[128];
    assert_int_equal(rate_new(&cfg, &t, why, sizeof why), STS_OK);
    assert_non_null(t);
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
    for (int i = 0; i < 3; i++)
        assert_int_equal(rate_take(t, SA(a), 1000), 0);
    assert_int_equal(rate_take(t, SA(a), 1000), 1); /* empty: one token in 1 s */
    assert_int_equal(rate_take(t, SA(b), 1000), 0); /* another address, its own bucket */
    assert_int_equal(rate_take(t, SA(a), 1500), 1);
    assert_int_equal(rate_take(t, SA(a), 2000), 0); /* refilled by one */
    assert_int_equal(rate_take(t, SA(a), 2000), 1);
    /* Long quiet: back to the burst, never above it. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rate_take(t, SA(a), 100000), 0);
    assert_int_equal(rate_take(t, SA(a), 100000), 1);
    rate_free(t);
}

static void slow_rate_waits_longer(void **state)
{
    (void)state;
    struct rate_config cfg = {.rate = 0.1, .burst = 1};
    struct rate_table *t = NULL;
    char why[128];
    assert_int_equal(rate_new(&cfg, &t, why, sizeof why), STS_OK);
    struct sockaddr_storage a = v4("198.51.100.7");
    assert_int_equal(rate_take(t, SA(a), 0), 0);
    assert_int_equal(rate_take(t, SA(a), 0), 10);
    assert_int_equal(rate_take(t, SA(a), 5000), 5);
    rate_free(t);
}

static void mapped_ipv4_shares_the_bucket(void **state)
{
    (void)state;
    struct rate_config cfg = {.rate = 1, .burst = 2};
    struct rate_table *t = NULL;
    char why[128];
    assert_int_equal(rate_new(&cfg, &t, why, sizeof why), STS_OK);
    struct sockaddr_storage a = v4("203.0.113.9"), m = v6("::ffff:203.0.113.9");
    struct sockaddr_storage other = v6("2001:db8::1");
    assert_int_equal(rate_take(t, SA(a), 0), 0);
    assert_int_equal(rate_take(t, SA(m), 0), 0);
    assert_int_equal(rate_take(t, SA(a), 0), 1);
    assert_int_equal(rate_take(t, SA(m), 0), 1);
    assert_int_equal(rate_take(t, SA(other), 0), 0);
    rate_free(t);
}

/* One host is routinely given a /64: every address in it is one client,
 * or it could take a fresh address per request. IPv4 stays whole. */
static void ipv6_counted_by_its_64(void **state)
{
    (void)state;
    struct rate_config cfg = {
        .rate = 1, .burst = 1, .relay_rate = 1000, .relays = "2001:db8:1:2::50"};
    struct rate_table *t = NULL;
    char why[128];
    assert_int_equal(rate_new(&cfg, &t, why, sizeof why), STS_OK);
    struct sockaddr_storage a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff:ffff:ffff:fff9");
    struct sockaddr_storage next = v6("2001:db8:1:3::1"), relay = v6("2001:db8:1:2::50");
    struct sockaddr_storage m1 = v6("::ffff:192.0.2.1"), m2 = v4("192.0.2.2");
    assert_int_equal(rate_take(t, SA(a), 0), 0);
    assert_int_equal(rate_take(t, SA(b), 0), 1);
    assert_int_equal(rate_take(t, SA(next), 0), 0);
    assert_int_equal(rate_take(t, SA(relay), 0), 0); /* its own bucket and limit */
    assert_int_equal(rate_take(t, SA(relay), 0), 0);
    assert_int_equal(rate_take(t, SA(m1), 0), 0);
    assert_int_equal(rate_take(t, SA(m2), 0), 0);
    rate_free(t);

    uint8_t ka[16], kb[16], kn[16], k4[16];
    assert_true(rate_client_key(SA(a), ka));
    assert_true(rate_client_key(SA(b), kb));
    assert_true(rate_client_key(SA(next), kn));
    assert_memory_equal(ka, kb, 16);
    assert_memory_not_equal(ka, kn, 16);
    assert_true(rate_client_key(SA(m2), k4));
    static const uint8_t want4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 2};
    assert_memory_equal(k4, want4, 16);
    struct sockaddr_storage unix_ = {.ss_family = AF_UNIX};
    assert_false(rate_client_key(SA(unix_), k4));
}

static void relays_have_their_own_limit(void **state)
{
    (void)state;
    struct rate_config cfg = {
        .rate = 1, .burst = 1, .relay_rate = 1000, .relays = "192.0.2.50,2001:db8::50"};
    struct rate_table *t = NULL;
    char why[128];
    assert_int_equal(rate_new(&cfg, &t, why, sizeof why), STS_OK);
    struct sockaddr_storage r4 = v4("192.0.2.50"), r6 = v6("2001:db8::50"), d = v4("192.0.2.51");
    for (int i = 0; i < 2000; i++) /* twice the rate: the default burst */
        assert_int_equal(rate_take(t, SA(r4), 0), 0);
    assert_int_equal(rate_take(t, SA(r4), 0), 1);
    assert_int_equal(rate_take(t, SA(r6), 0), 0);
    assert_int_equal(rate_take(t, SA(d), 0), 0);
    assert_int_equal(rate_take(t, SA(d), 0), 1);
    rate_free(t);

    /* Relays without a limit of their own: not limited, others still are. */
    struct rate_config open_relays = {.rate = 1, .burst = 1, .relays = "192.0.2.50"};
    assert_int_equal(rate_new(&open_relays, &t, why, sizeof why), STS_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(rate_take(t, SA(r4), 0), 0);
    assert_int_equal(rate_take(t, SA(d), 0), 0);
    assert_int_equal(rate_take(t, SA(d), 0), 1);
    rate_free(t);
}

static void configuration_errors(void **state)
{
    (void)state;
    struct rate_table *t = (struct rate_table *)&t;
    char why[128] = "";
    struct rate_config off = {0};
    assert_int_equal(rate_new(&off, &t, why, sizeof why), STS_OK);
    assert_null(t); /* no limit: no table, and a NULL table allows all */
    struct sockaddr_storage a = v4("192.0.2.1");
    assert_int_equal(rate_take(NULL, SA(a), 0), 0);

    static const char *const bad[] = {"relay.example", "192.0.2.1,,192.0.2.2", "192.0.2.300",
                                      "192.0.2.1/24", ","};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rate_config cfg = {.rate = 1, .relays = bad[i]};
        why[0] = '\0';
        assert_int_equal(rate_new(&cfg, &t, why, sizeof why), STS_EINVAL);
        assert_null(t);
        assert_non_null(strstr(why, "not an IP address"));
    }
}

/* More addresses than slots (65,536): the table stays bounded, each new
 * address gets a full bucket, and a client that keeps coming back mostly
 * keeps its empty one against a flood of one-off addresses. An eviction only
 * hands it a fresh bucket (the flood can loosen a limit, never refuse a
 * client); with 8-slot windows that happens to about 1 in 70 here. */
static void many_addresses(void **state)
{
    (void)state;
    struct rate_config cfg = {.rate = 1, .burst = 1};
    struct rate_table *t = NULL;
    char why[128];
    assert_int_equal(rate_new(&cfg, &t, why, sizeof why), STS_OK);
    struct sockaddr_storage busy = v6("2001:db8:ffff::1");
    assert_int_equal(rate_take(t, SA(busy), 0), 0);
    unsigned refused = 0;
    for (uint32_t i = 0; i < 200000; i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(0x0a000000u + i);
        assert_int_equal(rate_take(t, SA(ss), 1), 0); /* each a first request */
        if (i % 1000 == 0)
            refused += rate_take(t, SA(busy), 1) != 0;
    }
    assert_in_range(refused, 180, 200);
    rate_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_refills),
        cmocka_unit_test(slow_rate_waits_longer),
        cmocka_unit_test(mapped_ipv4_shares_the_bucket),
        cmocka_unit_test(ipv6_counted_by_its_64),
        cmocka_unit_test(relays_have_their_own_limit),
        cmocka_unit_test(configuration_errors),
        cmocka_unit_test(many_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
