/* Binding the listening socket ahead of the server (see listen.h). */
#include "listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sts/net.h"

enum sts_err front_listen_open(const char *addr, bool tls, int *fd, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    enum sts_err e = sts_net_parse_listen(addr, &ss, &sslen, why, whylen);
    if (e != STS_OK)
        return e;
    if (!tls && !sts_net_is_loopback((struct sockaddr *)&ss)) {
        snprintf(why, whylen,
                 "refusing plain HTTP on %s, which is not a loopback address: give "
                 "--tls-cert FILE and --tls-key FILE (or listen on 127.0.0.1)",
                 addr);
        return STS_EINVAL;
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(why, whylen, "cannot listen on %s: %s", addr, strerror(errno));
        return STS_ENET;
    }
    int on = 1;
    /* A restart finds the port in TIME_WAIT after the previous run. */
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ss.ss_family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(s, (struct sockaddr *)&ss, sslen) != 0 || listen(s, 1024) != 0) {
        int err = errno;
        snprintf(why, whylen, "cannot listen on %s: %s%s", addr, strerror(err),
                 err == EADDRINUSE ? " (another server holds the port: stop it or choose "
                                     "another with --listen)"
                                   : "");
        close(s);
        return STS_ENET;
    }
    *fd = s;
    return STS_OK;
}
