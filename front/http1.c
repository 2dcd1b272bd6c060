/* The request head and chunked body readers (see http1.h). */
#include "http1.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Field values: HTAB, SP, VCHAR and obs-text (RFC 9110 section 5.5). */
static bool is_value_char(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

bool http1_value_valid(const char *s)
{
    for (; *s; s++)
        if (!is_value_char((unsigned char)*s))
            return false;
    return true;
}

static enum http1_result refuse(struct http1_refusal *why, unsigned status, const char *field,
                                const char *detail)
{
    why->status = status;
    why->field = field;
    why->detail = detail;
    return HTTP1_REFUSED;
}

/* Whether a comma-separated list holds token (case-insensitive). */
static bool list_has(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed == n && strncasecmp(p, token, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* Checks the request line line[0..n), without its CR LF, writing nothing.
 * A line not complete yet is checked as far as it goes (HTTP1_MORE when
 * nothing is wrong so far), so that what can never become a request line
 * (HTTP/0.9, a TLS handshake on the plain port) is refused at once rather
 * than at the header deadline. On HTTP1_DONE *sp1 and *sp2 are the offsets
 * of the spaces after the method and the target. */
static enum http1_result request_line_check(const char *line, size_t n, bool complete, size_t *sp1,
                                            size_t *sp2, bool *http11, struct http1_refusal *why)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i == n && !complete)
        return HTTP1_MORE;
    if (i == 0 || i == n || line[i] != ' ')
        return refuse(why, 400, "method", "the request line does not start with a method");
    *sp1 = i++;
    size_t target = i;
    while (i < n && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f)
        i++;
    if (i == n && !complete)
        return HTTP1_MORE;
    if (i == target || i == n || line[i] != ' ')
        return refuse(why, 400, "target",
                      "the request target is missing or holds a character not allowed there");
    *sp2 = i++;
    if (!complete)
        return HTTP1_MORE;
    const char *v = line + i;
    if (n - i == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
        *http11 = true;
    else if (n - i == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
        *http11 = false;
    else if (n - i == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
             v[6] == '.' && v[7] >= '0' && v[7] <= '9')
        return refuse(why, 505, "version", "only HTTP/1.1 and HTTP/1.0 are served");
    else
        return refuse(why, 400, "version", "the request line does not end with an HTTP version");
    return HTTP1_DONE;
}

/* The request line, NUL-terminated at its CR (and holding no other NUL). */
static enum http1_result request_line(char *line, struct http1_head *h, struct http1_refusal *why)
{
    size_t sp1 = 0, sp2 = 0;
    enum http1_result r = request_line_check(line, strlen(line), true, &sp1, &sp2, &h->http11, why);
    if (r != HTTP1_DONE)
        return r;
    line[sp1] = line[sp2] = '\0';
    h->method = line;
    h->target = line + sp1 + 1;
    return HTTP1_DONE;
}

/* One field line, NUL-terminated at its CR. */
static enum http1_result field_line(char *line, struct http1_head *h, struct framing *f,
                                    struct http1_refusal *why)
{
    if (*line == ' ' || *line == '\t')
        return refuse(why, 400, "header", "obsolete line folding in a header field");
    char *colon = strchr(line, ':');
    if (!colon)
        return refuse(why, 400, "header", "a header line without a colon");
    *colon = '\0';
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    for (size_t i = 0; i < n; i++)
        if (!is_value_char((unsigned char)value[i]))
            return refuse(why, 400, "header", "a control character in a header value");
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        value[--n] = '\0';
    framing_add(f, line, value);
    if (h->nfields < HTTP1_FIELDS_MAX)
        h->fields[h->nfields++] = (struct http1_field){line, value};
    if (strcasecmp(line, "Content-Length") == 0) {
        /* Digits only, and few enough of them to fit: "+1", "0x10", "1e3",
         * "1, 1" and anything over 10^18 are not a length. */
        size_t digits = strspn(value, "0123456789");
        if (!digits || value[digits] || digits > 18)
            return refuse(why, 400, "content-length", "Content-Length is not a number of bytes");
        uint64_t v = 0;
        for (size_t i = 0; i < digits; i++)
            v = v * 10 + (uint64_t)(value[i] - '0');
        h->has_length = true;
        h->length = v;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        h->chunked = true; /* framing_refused allows only a single "chunked" */
    } else if (strcasecmp(line, "Connection") == 0) {
        if (list_has(value, "close"))
            h->close = true;
        else if (!h->http11 && list_has(value, "keep-alive"))
            h->close = false;
    } else if (strcasecmp(line, "Expect") == 0) {
        h->expect_continue = strcasecmp(value, "100-continue") == 0;
    }
    return HTTP1_DONE;
}

enum http1_result http1_parse_head(char *buf, size_t len, struct http1_head *head,
                                   struct http1_refusal *why)
{
    size_t start = 0;
    while (start + 1 < len && buf[start] == '\r' && buf[start + 1] == '\n')
        start += 2;
    /* Find the blank line, refusing any line break but CR LF on the way. */
    size_t end = 0, line_end = start;
    bool request_line_seen = false;
    for (size_t i = start; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n')
            return refuse(why, 400, "header", "a line ends in LF without CR");
        if (ch != '\r')
            continue;
        if (i + 1 == len)
            break;
        if (buf[i + 1] != '\n')
            return refuse(why, 400, "header", "a CR not followed by LF");
        if (!request_line_seen) {
            request_line_seen = true;
            if (i - start > FRAMING_TARGET_MAX + 32)
                return refuse(why, 414, "target", "the request target is longer than 2048 bytes");
            size_t sp1, sp2;
            bool http11;
            if (request_line_check(buf + start, i - start, true, &sp1, &sp2, &http11, why) ==
                HTTP1_REFUSED)
                return HTTP1_REFUSED;
        }
        if (i == line_end && i > start) {
            end = i + 2;
            break;
        }
        line_end = ++i + 1;
    }
    /* The empty lines skipped count towards the limit: otherwise a client
     * sending nothing but CR LF would fill the connection's buffer without
     * ever getting a verdict. */
    if (!end) {
        if (!request_line_seen && start < len) {
            size_t n = len - start - (buf[len - 1] == '\r'), sp1, sp2;
            bool http11;
            if (request_line_check(buf + start, n, false, &sp1, &sp2, &http11, why) ==
                HTTP1_REFUSED)
                return HTTP1_REFUSED;
        }
        if (len < HTTP1_HEAD_MAX)
            return HTTP1_MORE;
        if (!request_line_seen && len - start > FRAMING_TARGET_MAX + 32)
            return refuse(why, 414, "target", "the request target is longer than 2048 bytes");
        if (!request_line_seen)
            return refuse(why, 400, "header", "too many empty lines before the request line");
        return refuse(why, 431, "header", "the request's header fields are too large");
    }
    if (end > HTTP1_HEAD_MAX)
        return refuse(why, 431, "header", "the request's header fields are too large");

    /* Not the 48 fields (768 bytes per request): only nfields of them count. */
    memset(head, 0, offsetof(struct http1_head, fields));
    head->head_len = end;
    struct framing f = {0};
    char *line = buf + start;
    /* The buffer need not end in a NUL: each line is cut at its CR (every CR
     * in the head is followed by LF, checked above) before any string
     * function looks at it, and a NUL inside would cut a line short. */
    if (memchr(line, '\0', end - start))
        return refuse(why, 400, "header", "a NUL byte in the request head");
    char *cr = memchr(line, '\r', (size_t)(buf + end - line));
    *cr = '\0';
    enum http1_result r = request_line(line, head, why);
    if (r != HTTP1_DONE)
        return r;
    head->close = !head->http11;
    for (line = cr + 2; line < buf + end - 2; line = cr + 2) {
        cr = memchr(line, '\r', (size_t)(buf + end - line));
        *cr = '\0';
        if ((r = field_line(line, head, &f, why)) != HTTP1_DONE)
            return r;
        if (f.fields > HTTP1_FIELDS_MAX)
            return refuse(why, 431, "header", "more than 48 header fields");
    }
    unsigned status;
    const char *field, *detail;
    if (framing_refused(&f, head->http11, head->target, &status, &field, &detail))
        return refuse(why, status, field, detail);
    return HTTP1_DONE;
}

const char *http1_field(const struct http1_head *head, const char *name)
{
    for (size_t i = 0; i < head->nfields; i++)
        if (strcasecmp(head->fields[i].name, name) == 0)
            return head->fields[i].value;
    return NULL;
}

enum chunk_state {
    CK_SIZE,         /* hex digits */
    CK_EXT,          /* after the size: white space or an extension, up to CR */
    CK_SIZE_LF,      /* the LF after the size line's CR */
    CK_DATA,         /* size bytes of data */
    CK_DATA_CR,      /* the CR after the data */
    CK_DATA_LF,      /* and its LF */
    CK_TRAILER,      /* start of a trailer line, or the final CR */
    CK_TRAILER_NAME, /* a trailer field's name, up to its colon */
    CK_TRAILER_IN,   /* a trailer field's value, up to CR */
    CK_TRAILER_LF,   /* the LF after a trailer line */
    CK_FINAL_LF,     /* the LF after the final CR */
};

#define CHUNK_DIGITS_MAX  8    /* chunks of at most 4 GiB - 1 */
#define CHUNK_LINE_MAX    256  /* of an extension */
#define CHUNK_TRAILER_MAX 4096 /* trailer lines in all */

int http1_hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

enum http1_result http1_chunked_read(struct http1_chunked *c, const char *in, size_t n,
                                     size_t *used, size_t *doff, size_t *dlen,
                                     struct http1_refusal *why)
{
    static const char bad[] = "a malformed chunked body";
    static const char bad_trailer[] = "a malformed trailer field after the chunked body";
    *dlen = 0;
    *doff = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case CK_SIZE: {
            int v = http1_hexval(ch);
            if (v >= 0) {
                /* Leading zeros are allowed (1*HEXDIG) and do not make a
                 * chunk larger, but the size line stays bounded. */
                if (++c->line > CHUNK_LINE_MAX)
                    return refuse(why, 400, "body", bad);
                if ((c->size || v) && ++c->digits > CHUNK_DIGITS_MAX)
                    return refuse(why, 413, "body", "a chunk larger than the server takes");
                c->size = c->size * 16 + (uint64_t)v;
                i++;
                break;
            }
            if (!c->line || !strchr("; \t\r", ch) || !ch)
                return refuse(why, 400, "body", bad);
            c->state = CK_EXT;
            c->line = 0;
            break;
        }
        case CK_EXT:
            if (ch == '\r') {
                c->state = CK_SIZE_LF;
            } else if (ch == '\n' || (ch < 0x20 && ch != '\t') || ch == 0x7f ||
                       ++c->line > CHUNK_LINE_MAX) {
                return refuse(why, 400, "body", bad);
            }
            i++;
            break;
        case CK_SIZE_LF:
            if (ch != '\n')
                return refuse(why, 400, "body", bad);
            i++;
            c->state = c->size ? CK_DATA : CK_TRAILER;
            c->line = 0;
            break;
        case CK_DATA: {
            size_t take = n - i < c->size ? n - i : (size_t)c->size;
            *doff = i;
            *dlen = take;
            c->size -= take;
            i += take;
            if (!c->size)
                c->state = CK_DATA_CR;
            *used = i;
            return HTTP1_MORE; /* one span of data per call */
        }
        case CK_DATA_CR:
            if (ch != '\r')
                return refuse(why, 400, "body", bad);
            i++;
            c->state = CK_DATA_LF;
            break;
        case CK_DATA_LF:
            if (ch != '\n')
                return refuse(why, 400, "body", bad);
            i++;
            c->state = CK_SIZE;
            c->digits = 0;
            c->size = 0;
            c->line = 0;
            break;
        /* Trailer fields are dropped, but read with the rules of header
         * fields (a token, a colon, a value without control characters), so
         * that no other reader of the same bytes can see something else. */
        case CK_TRAILER:
            i++;
            if (ch == '\r') {
                c->state = CK_FINAL_LF;
                break;
            }
            if (!is_tchar(ch))
                return refuse(why, 400, "body", bad_trailer);
            c->state = CK_TRAILER_NAME;
            c->extra++;
            break;
        case CK_TRAILER_NAME:
        case CK_TRAILER_IN:
            i++;
            if (++c->extra > CHUNK_TRAILER_MAX)
                return refuse(why, 431, "header",
                              "the chunked body's trailer fields are too large");
            if (c->state == CK_TRAILER_NAME) {
                if (ch == ':')
                    c->state = CK_TRAILER_IN;
                else if (!is_tchar(ch))
                    return refuse(why, 400, "body", bad_trailer);
            } else if (ch == '\r') {
                c->state = CK_TRAILER_LF;
            } else if (!is_value_char(ch)) {
                return refuse(why, 400, "body", bad_trailer);
            }
            break;
        case CK_TRAILER_LF:
            if (ch != '\n')
                return refuse(why, 400, "body", bad);
            i++;
            c->state = CK_TRAILER;
            break;
        case CK_FINAL_LF:
            if (ch != '\n')
                return refuse(why, 400, "body", bad);
            *used = i + 1;
            return HTTP1_DONE;
        }
    }
    *used = i;
    return HTTP1_MORE;
}
