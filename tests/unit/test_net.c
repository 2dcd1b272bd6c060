/* Unit tests of lib/net.c: listen addresses, the loopback rule for plain HTTP,
 * and bounded file reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "sts/net.h"

static void listen_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len;
    char why[256];

    assert_int_equal(sts_net_parse_listen("127.0.0.1:8080", &ss, &len, why, sizeof why), STS_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    assert_true(sts_net_is_loopback((struct sockaddr *)&ss));

    assert_int_equal(sts_net_parse_listen("[::1]:0", &ss, &len, why, sizeof why), STS_OK);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 0);
    assert_true(sts_net_is_loopback((struct sockaddr *)&ss));

    assert_int_equal(sts_net_parse_listen("0.0.0.0:443", &ss, &len, why, sizeof why), STS_OK);
    assert_false(sts_net_is_loopback((struct sockaddr *)&ss));
    assert_int_equal(sts_net_parse_listen("127.9.9.9:1", &ss, &len, why, sizeof why), STS_OK);
    assert_true(sts_net_is_loopback((struct sockaddr *)&ss));

    static const char *const bad[] = {
        "8080",         ":8080",         "127.0.0.1:", "127.0.0.1:65536",
        "127.0.0.1:-1", "127.0.0.1:80x", "[::1:80",    ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(sts_net_parse_listen(bad[i], &ss, &len, why, sizeof why), STS_EINVAL);
        assert_true(why[0] != '\0'); /* the operator is told why */
    }
}

static void mapped_loopback(void **state)
{
    (void)state;
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr), 1);
    assert_true(sts_net_is_loopback((struct sockaddr *)&a6));
    assert_int_equal(inet_pton(AF_INET6, "::ffff:10.0.0.1", &a6.sin6_addr), 1);
    assert_false(sts_net_is_loopback((struct sockaddr *)&a6));
    assert_int_equal(inet_pton(AF_INET6, "::2", &a6.sin6_addr), 1);
    assert_false(sts_net_is_loopback((struct sockaddr *)&a6));
}

static void url_rule(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "https://stats.example.com/",
        "https://10.0.0.1:8443",
        "http://127.0.0.1:8080",
        "http://127.200.1.1/",
        "http://localhost:9",
        "HTTP://LOCALHOST/",
        "http://[::1]:8080/x",
        "http://[::1]",
        "https://[2001:db8::1]:8443/v1",
        "https://stats.example.com/base/?q=1",
        "http://localhost:65535",
    };
    static const char *const refused[] = {
        "http://stats.example.com/",
        "http://10.0.0.1:8080",
        "http://127.0.0.1@evil.example/",
        "http://127.0.0.1.evil.example/",
        "http://[::2]:80/",
        "http://[::1]x/",
        "ftp://127.0.0.1/",
        "https://",
        "http://",
        "127.0.0.1:8080",
        "",
        "http://localhost./",
        "http://LOCALHOST.:8080",
        "https://stats.example.com./",
        "https://user@stats.example.com/",
        "https://user:pw@stats.example.com/",
        "https:///v1/reports",
        "https://:8443/",
        "https://stats.example.com:/",
        "https://stats.example.com:0/",
        "https://stats.example.com:65536/",
        "https://stats.example.com:12x/",
        "https://stats example.com/",
        "https://stats.example.com/\n",
        "https://stats.example.com/#frag",
        "https://stats_example.com/",
        "https://[::1/",
        "https://[zz::1]/",
        "http://127.1/",
        "http://0x7f000001/",
        "http://[::ffff:127.0.0.1]/",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!sts_net_url_allowed(ok[i]))
            fail_msg("refused: %s", ok[i]);
    }
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (sts_net_url_allowed(refused[i]))
            fail_msg("allowed: %s", refused[i]);
    }
}

static void url_parts(void **state)
{
    (void)state;
    struct sts_url u;
    char why[256];
    const char *url = "https://Stats.Example.com:8443/base?x=1";
    assert_int_equal(sts_net_url_check(url, &u, why, sizeof why), STS_OK);
    assert_true(u.https);
    assert_string_equal(u.host, "Stats.Example.com");
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.path, "/base?x=1");
    assert_ptr_equal(u.path, url + strlen("https://Stats.Example.com:8443"));

    assert_int_equal(sts_net_url_check("http://[::1]", &u, why, sizeof why), STS_OK);
    assert_false(u.https);
    assert_string_equal(u.host, "[::1]");
    assert_int_equal(u.port, 0);
    assert_string_equal(u.path, "");

    /* The reason is given, and *out is left alone on failure. */
    memset(&u, 0x5a, sizeof u);
    assert_int_equal(sts_net_url_check("http://stats.example.com/", &u, why, sizeof why),
                     STS_EINVAL);
    assert_non_null(strstr(why, "loopback"));
    assert_int_equal((unsigned char)u.host[0], 0x5a);
    assert_int_equal(sts_net_url_check("http://localhost./", NULL, why, sizeof why), STS_EINVAL);
    assert_non_null(strstr(why, "host name"));
    assert_int_equal(sts_net_url_check("ftp://x/", NULL, NULL, 0), STS_EINVAL);
}

static void read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/sts-test-net-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);

    char *buf = NULL, why[256];
    size_t len = 0;
    assert_int_equal(sts_net_read_file(path, 10, &buf, &len, why, sizeof why), STS_OK);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "0123456789");
    free(buf);
    buf = NULL;
    assert_int_equal(sts_net_read_file(path, 9, &buf, &len, why, sizeof why), STS_ETOOBIG);
    assert_null(buf);
    unlink(path);
    assert_int_equal(sts_net_read_file(path, 10, &buf, &len, why, sizeof why), STS_ENOENT);
    assert_null(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listen_addresses), cmocka_unit_test(mapped_loopback),
        cmocka_unit_test(url_rule),         cmocka_unit_test(url_parts),
        cmocka_unit_test(read_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
