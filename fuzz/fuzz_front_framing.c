/* libFuzzer target of the HTTP front's framing rules (front/framing.c). The
 * input is a request head: a target line, then "Name:value" lines (a line
 * without a colon is a name with an empty value); the first byte picks
 * HTTP/1.0 or 1.1. Beyond memory safety it checks the rules' promises: a
 * refusal is 400 or 501 and names a field and a reason; what passes has one
 * Host (at most one in 1.0) holding no character a host and port cannot, at most one
 * Content-Length, never beside a Transfer-Encoding, whose value is then a single "chunked", only
 * tchar in its names, no "%00" in its target, and a target and field count within the limits.
 * Seeds: fuzz/corpus/front_framing/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64

static void die(const char *what)
{
    fprintf(stderr, "fuzz_front_framing: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    bool http11 = data[0] & 1;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *lines[MAX_FIELDS + 1];
    size_t n = 0;
    for (char *p = text; p && n < MAX_FIELDS + 1;) {
        lines[n++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    const char *target = lines[0];
    struct framing f = {0};
    unsigned hosts = 0, lengths = 0, codings = 0;
    const char *coding = NULL;
    bool bad_name = false, bad_host = false;
    size_t head = strlen(target);
    for (size_t i = 1; i < n; i++) {
        char *colon = strchr(lines[i], ':');
        const char *value = "";
        if (colon) {
            *colon = '\0';
            value = colon + 1;
        }
        framing_add(&f, lines[i], value);
        head += strlen(lines[i]) + strlen(value) + 4;
        /* The same facts, counted independently of framing.c. */
        if (strcasecmp(lines[i], "host") == 0) {
            hosts++;
            /* Never in uri-host [":" port], whatever else is. */
            for (const char *p = value; *p; p++)
                if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
                    strchr("/?#@\"\\", *p))
                    bad_host = true;
        }
        lengths += strcasecmp(lines[i], "content-length") == 0;
        if (strcasecmp(lines[i], "transfer-encoding") == 0) {
            codings++;
            coding = value;
        }
        if (!*lines[i] || strspn(lines[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789!#$%&'*+-.^_`|~") != strlen(lines[i]))
            bad_name = true;
    }
    unsigned status = 0;
    const char *field = NULL, *detail = NULL;
    if (framing_refused(&f, http11, target, &status, &field, &detail)) {
        if ((status != 400 && status != 414 && status != 431 && status != 501) || !field ||
            !detail || !*field || !*detail)
            die("a refusal without a 400/414/431/501 status, a field and a reason");
    } else {
        if (strlen(target) > FRAMING_TARGET_MAX || n - 1 > FRAMING_FIELDS_MAX ||
            head > FRAMING_HEAD_MAX)
            die("a target or a number of fields over the limits passed");
        if (bad_name)
            die("a header name outside tchar passed");
        if (http11 ? hosts != 1 : hosts > 1)
            die("a request with a wrong number of Host headers passed");
        if (bad_host)
            die("a Host holding white space, a control byte, '/', '?', '#', '@' or a quote passed");
        if (lengths > 1 || (lengths && codings))
            die("several Content-Length, or one beside Transfer-Encoding, passed");
        if (codings && (!http11 || codings > 1 || strcasecmp(coding, "chunked") != 0))
            die("a coding other than one 'chunked' in HTTP/1.1 passed");
        if (strstr(target, "%00"))
            die("an encoded NUL in the target passed");
    }
    free(text);
    return 0;
}
