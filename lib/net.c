/* Listen addresses, the loopback rule and PEM files (see sts/net.h). */
#include "sts/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
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

bool sts_net_url_allowed(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *host = url + 7;
    size_t n = strcspn(host, "/?#");
    /* No user information: "http://127.0.0.1@example.com/" is not loopback. */
    if (memchr(host, '@', n))
        return false;
    if (n >= 5 && strncmp(host, "[::1]", 5) == 0)
        return n == 5 || host[5] == ':';
    size_t hl = strcspn(host, ":/?#");
    char h[64];
    if (hl == 0 || hl >= sizeof h)
        return false;
    memcpy(h, host, hl);
    h[hl] = '\0';
    if (strcasecmp(h, "localhost") == 0)
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
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
