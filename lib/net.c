/* Listen addresses, the URL rule and PEM files (see sts/net.h). */
#include "sts/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum sts_err sts_net_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                                  char *why, size_t whylen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hl;
    if (!colon || colon == listen)
        goto bad;
    hl = (size_t)(colon - listen);
    if (listen[0] == '[') { /* [::1]:8080 */
        if (hl < 2 || listen[hl - 1] != ']')
            goto bad;
        h = listen + 1;
        hl -= 2;
    }
    if (hl >= sizeof host)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) {
        snprintf(why, whylen, "cannot resolve listen host '%s'", host);
        return STS_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return STS_OK;
bad:
    snprintf(why, whylen, "bad listen address '%s': expected HOST:PORT, e.g. 127.0.0.1:8080",
             listen);
    return STS_EINVAL;
}

bool sts_net_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

static enum sts_err url_bad(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum sts_err url_bad(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return STS_EINVAL;
}

static bool is_loopback_host(const char *host)
{
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

enum sts_err sts_net_url_check(const char *url, struct sts_url *out, char *why, size_t whylen)
{
    struct sts_url u;
    memset(&u, 0, sizeof u);
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    for (const char *c = url; *c != '\0'; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return url_bad(why, whylen, "'%.200s' contains a blank or a control character", url);
    const char *a;
    if (strncasecmp(url, "https://", 8) == 0) {
        u.https = true;
        a = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        a = url + 7;
    } else {
        return url_bad(why, whylen, "'%.200s' must be an https:// URL", url);
    }
    if (strchr(url, '#') != NULL)
        return url_bad(why, whylen, "'%.200s' has a fragment ('#')", url);
    size_t alen = strcspn(a, "/?");
    u.path = a + alen;
    if (memchr(a, '@', alen) != NULL)
        return url_bad(why, whylen, "'%.200s' has user information ('@'): not allowed", url);

    size_t hlen;
    if (alen > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        char v6[64];
        struct in6_addr a6;
        hlen = close != NULL ? (size_t)(close - a) + 1 : 0;
        if (hlen < 3 || hlen - 2 >= sizeof v6)
            return url_bad(why, whylen, "'%.200s' has a malformed IPv6 address", url);
        memcpy(v6, a + 1, hlen - 2);
        v6[hlen - 2] = '\0';
        if (inet_pton(AF_INET6, v6, &a6) != 1)
            return url_bad(why, whylen, "'%.200s' has a malformed IPv6 address", url);
    } else {
        hlen = strcspn(a, ":/?");
        if (hlen > alen)
            hlen = alen;
        if (hlen == 0)
            return url_bad(why, whylen, "'%.200s' has no host", url);
        for (size_t i = 0; i < hlen; i++) {
            char c = a[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-'))
                return url_bad(why, whylen, "'%.200s' has a malformed host name", url);
        }
        /* "localhost." and its kin resolve elsewhere than the name without
         * the dot on some systems: one spelling per host. */
        if (a[hlen - 1] == '.' || a[0] == '.' || a[0] == '-')
            return url_bad(why, whylen, "'%.200s' has a malformed host name", url);
    }
    if (hlen >= sizeof u.host)
        return url_bad(why, whylen, "'%.200s' has a host name that is too long", url);
    memcpy(u.host, a, hlen);
    u.host[hlen] = '\0';
    if (hlen < alen) {
        const char *p = a + hlen;
        unsigned long port = 0;
        size_t digits = alen - hlen - 1;
        if (*p != ':' || digits == 0 || digits > 5)
            return url_bad(why, whylen, "'%.200s' has a malformed port", url);
        for (size_t i = 1; i <= digits; i++) {
            if (p[i] < '0' || p[i] > '9')
                return url_bad(why, whylen, "'%.200s' has a malformed port", url);
            port = port * 10 + (unsigned long)(p[i] - '0');
        }
        if (port < 1 || port > 65535)
            return url_bad(why, whylen, "'%.200s' has a port outside 1-65535", url);
        u.port = (unsigned)port;
    }
    if (!u.https && !is_loopback_host(u.host))
        return url_bad(why, whylen,
                       "'%.200s': plain http:// is allowed only to a loopback address "
                       "(localhost, 127.0.0.0/8, [::1]); use https://",
                       url);
    if (out != NULL)
        *out = u;
    return STS_OK;
}

bool sts_net_url_allowed(const char *url)
{
    return sts_net_url_check(url, NULL, NULL, 0) == STS_OK;
}

enum sts_err sts_net_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                               size_t whylen)
{
    struct stat st;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(err));
        return sts_err_from_errno(err);
    }
    enum sts_err e = STS_EIO;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        e = sts_err_from_errno(errno);
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if ((size_t)st.st_size > max) {
        snprintf(why, whylen, "%s is larger than %zu bytes", path, max);
        e = STS_ETOOBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(why, whylen, "out of memory");
        e = STS_ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? sts_err_from_errno(errno) : STS_EIO; /* 0: it shrank under us */
            snprintf(why, whylen, "cannot read %s", path);
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    e = STS_OK;
out:
    close(fd);
    return e;
}
