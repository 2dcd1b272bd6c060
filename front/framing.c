/* The framing rules of the HTTP front (see framing.h). */
#include "framing.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 section 5.6.2 tchar. */
static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_hex(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* RFC 9112 section 3.2: Host = uri-host [ ":" port ], uri-host an IP-literal
 * in brackets or an RFC 3986 reg-name (which IPv4 addresses are spelt as),
 * port digits. An empty value is allowed (an authority without a host). */
static bool host_valid(const char *v)
{
    const char *p = v;
    if (*p == '[') {
        p++;
        size_t n = strspn(p, "0123456789abcdefABCDEF:.vV");
        if (!n || p[n] != ']')
            return false;
        p += n + 1;
    } else {
        for (; *p && *p != ':'; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '%') {
                if (!is_hex((unsigned char)p[1]) || !is_hex((unsigned char)p[2]))
                    return false;
                p += 2;
            } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || strchr("-._~!$&'()*+,;=", ch))) {
                return false;
            }
        }
    }
    if (*p == ':')
        p += 1 + strspn(p + 1, "0123456789");
    return *p == '\0';
}

void framing_add(struct framing *f, const char *key, const char *value)
{
    f->fields++;
    f->head_bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (!*key)
        f->bad_name = true;
    for (const char *p = key; *p; p++)
        if (!is_tchar((unsigned char)*p))
            f->bad_name = true;
    if (strcasecmp(key, "Host") == 0) {
        f->host++;
        if (!host_valid(value ? value : ""))
            f->bad_host = true;
    } else if (strcasecmp(key, "Content-Length") == 0)
        f->content_length++;
    else if (strcasecmp(key, "Content-Type") == 0)
        f->content_type++;
    else if (strcasecmp(key, "Authorization") == 0)
        f->authorization++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->transfer_encoding++;
        f->coding = value ? value : "";
    }
}

bool framing_refused(const struct framing *f, bool http11, const char *target, unsigned *status,
                     const char **field, const char **detail)
{
    size_t target_len = strlen(target);
    if (target_len > FRAMING_TARGET_MAX) {
        *status = 414;
        *field = "target";
        *detail = "the request target is longer than 2048 bytes";
        return true;
    }
    if (f->fields > FRAMING_FIELDS_MAX || f->head_bytes + target_len > FRAMING_HEAD_MAX) {
        *status = 431;
        *field = "header";
        *detail = f->fields > FRAMING_FIELDS_MAX
                      ? "more than 48 header fields"
                      : "the request's target and header fields are over 3072 bytes";
        return true;
    }
    *status = 400;
    *field = "header";
    if (f->bad_name) {
        *detail = "a header name holds white space or a character not allowed there";
        return true;
    }
    if (f->host != 1 && (http11 || f->host > 1)) {
        *field = "host";
        *detail = f->host ? "more than one Host header" : "an HTTP/1.1 request needs a Host header";
        return true;
    }
    if (f->bad_host) {
        *field = "host";
        *detail = "the Host header is not a host name or address with an optional port";
        return true;
    }
    if (f->content_type > 1 || f->authorization > 1) {
        *field = f->content_type > 1 ? "content-type" : "authorization";
        *detail = f->content_type > 1 ? "more than one Content-Type header"
                                      : "more than one Authorization header";
        return true;
    }
    if (f->content_length > 1) {
        *field = "content-length";
        *detail = "more than one Content-Length header";
        return true;
    }
    if (f->transfer_encoding) {
        *field = "transfer-encoding";
        if (f->content_length) {
            *detail = "Content-Length and Transfer-Encoding together";
            return true;
        }
        if (!http11) {
            *detail = "Transfer-Encoding in an HTTP/1.0 request";
            return true;
        }
        if (f->transfer_encoding > 1 || strchr(f->coding, ',')) {
            *detail = "more than one transfer coding: send a single 'chunked'";
            return true;
        }
        if (strcasecmp(f->coding, "chunked") != 0) {
            *status = 501;
            *detail = "the only transfer coding understood is 'chunked'";
            return true;
        }
    }
    for (const char *p = target; (p = strchr(p, '%')); p++) {
        if (p[1] == '0' && p[2] == '0') {
            *field = "target";
            *detail = "an encoded NUL in the request target";
            return true;
        }
    }
    return false;
}
