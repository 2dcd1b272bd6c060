/* Activation and lifetime reports: the strict JSON codec and every field rule.
 * The collector trusts nothing a device sends: a report with a key it does not
 * know, a key twice, or a value outside its grammar is refused with the field
 * and the reason, so a device can never store more than the spec allows. */
#include "sts/report.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "sts/country.h"
#include "sts/date.h"
#include "sts/hex.h"
#include "sts/imei.h"
#include "sts/jsonmem.h"

#define FIRST_DAY_ALLOWED 10957 /* 2000-01-01 */

#define BAD_ID        "must be 32 lower-case hexadecimal characters"
#define BAD_COUNTRY   "not an assigned ISO 3166-1 alpha-2 code"
#define BAD_DAY       "must be a real calendar date as YYYY-MM-DD"
#define BAD_MONTH     "must be a month as YYYY-MM"
#define TEXT_TOO_LONG "longer than 64 characters"
#define BAD_TEXT      "only letters, digits, space and . _ + / - are allowed"

static enum sts_err fail(struct sts_field_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Returns the length of the valid character at s (n > 0 bytes left), or 0. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    else if ((c & 0xE0) == 0xC0)
        len = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return len;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0, len; i < n; i += len)
        if (!(len = utf8_char_len(s + i, n - i)))
            return false;
    return true;
}

/* Makes s valid UTF-8, since errors go back to the device inside a JSON
 * answer: a character that snprintf cut in two at the end is dropped, and any
 * other bad byte (Jansson quotes input byte by byte, and may stop inside a
 * character) becomes '?'. */
static void utf8_scrub(char *str)
{
    unsigned char *s = (unsigned char *)str;
    size_t n = strlen(str);
    for (size_t i = 0, len; i < n; i += len) {
        if ((len = utf8_char_len(s + i, n - i)))
            continue;
        size_t k = i + 1;
        while (k < n && (s[k] & 0xC0) == 0x80)
            k++;
        if (k == n && s[i] >= 0xC0 && n - i < 4) {
            s[i] = '\0'; /* cut at the end: may have been valid before */
            return;
        }
        s[i] = '?';
        len = 1;
    }
}

static enum sts_err fail(struct sts_field_error *err, const char *field, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        snprintf(err->field, sizeof err->field, "%s", field);
        utf8_scrub(err->field);
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        va_end(ap);
        utf8_scrub(err->detail);
    }
    return STS_EINVAL;
}

static bool text_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' ||
           c == '.' || c == '_' || c == '+' || c == '/' || c == '-';
}

bool sts_report_text_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > STS_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!text_char_ok(s[i]))
            return false;
    return true;
}

static bool report_id_valid(const char *s)
{
    if (strlen(s) != STS_REPORT_ID_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

const char *sts_report_type_name(enum sts_report_type type)
{
    switch (type) {
    case STS_REPORT_ACTIVATION: return "activation";
    case STS_REPORT_LIFETIME: return "lifetime";
    }
    return NULL;
}

static enum sts_err check_text(const char *field, const char *s, struct sts_field_error *err)
{
    size_t n = strlen(s);
    if (n == 0)
        return fail(err, field, "must not be empty");
    if (n > STS_TEXT_MAX)
        return fail(err, field, "longer than %d characters", STS_TEXT_MAX);
    if (!sts_report_text_valid(s))
        return fail(err, field, BAD_TEXT);
    return STS_OK;
}

static enum sts_err check_month(const char *field, const char *s, int32_t today, int32_t *month,
                                struct sts_field_error *err)
{
    if (sts_month_parse(s, month) != STS_OK)
        return fail(err, field, BAD_MONTH);
    if (*month < 2000 * 12)
        return fail(err, field, "before 2000-01");
    /* One day of clock skew is tolerated, as for activation days. */
    if (*month > sts_day_month(today + 1))
        return fail(err, field, "in the future");
    return STS_OK;
}

enum sts_err sts_report_validate(const struct sts_report *r, int32_t today,
                                 struct sts_field_error *err)
{
    enum sts_err e;
    if (r->v != STS_PROTOCOL_VERSION)
        return fail(err, "v", "unsupported protocol version %d (this side speaks %d)", r->v,
                    STS_PROTOCOL_VERSION);
    if (!sts_report_type_name(r->type))
        return fail(err, "type", "must be \"activation\" or \"lifetime\"");
    if (!report_id_valid(r->report_id))
        return fail(err, "report_id", BAD_ID);
    if (r->type == STS_REPORT_ACTIVATION) {
        const char *why;
        if (!sts_imei_valid(r->imei, &why))
            return fail(err, "imei", "%s", why);
    }
    if ((e = check_text("brand", r->brand, err)) || (e = check_text("model", r->model, err)) ||
        (e = check_text("sw", r->sw, err)))
        return e;
    if (r->country[0] && !sts_country_valid(r->country))
        return fail(err, "country", BAD_COUNTRY);
    if (r->type == STS_REPORT_ACTIVATION) {
        int32_t day;
        if (sts_day_parse(r->day, &day) != STS_OK)
            return fail(err, "day", BAD_DAY);
        if (day < FIRST_DAY_ALLOWED)
            return fail(err, "day", "before 2000-01-01");
        if (day > today + 1)
            return fail(err, "day", "more than one day in the future");
    } else {
        int32_t cohort, period;
        if ((e = check_month("cohort", r->cohort, today, &cohort, err)) ||
            (e = check_month("period", r->period, today, &period, err)))
            return e;
        if (period < cohort)
            return fail(err, "period", "before the cohort month");
    }
    return STS_OK;
}

/* Copies a JSON string value into dst, refusing non-strings and values that
 * do not fit (the grammar check that follows gives the precise reason for
 * values that do fit). */
static enum sts_err take_string(json_t *v, const char *key, char *dst, size_t cap,
                                const char *too_long, bool text, struct sts_field_error *err)
{
    if (!json_is_string(v))
        return fail(err, key, "must be a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', n))
        return fail(err, key, "must not contain NUL characters");
    if (n >= cap) {
        /* Too many bytes is not always too many characters: 40 'é' are 80
         * bytes, and what is wrong with them is the alphabet. */
        if (text) {
            for (size_t i = 0; i < n; i++)
                if (!text_char_ok(s[i]))
                    return fail(err, key, BAD_TEXT);
        }
        return fail(err, key, "%s", too_long);
    }
    memcpy(dst, s, n + 1);
    return STS_OK;
}

struct key_rule {
    const char *name;
    unsigned types; /* bit set of report types that allow the key */
};

#define ACT  (1u << STS_REPORT_ACTIVATION)
#define LIFE (1u << STS_REPORT_LIFETIME)

static const struct key_rule keys[] = {
    {"v", ACT | LIFE},     {"type", ACT | LIFE}, {"report_id", ACT | LIFE}, {"brand", ACT | LIFE},
    {"model", ACT | LIFE}, {"sw", ACT | LIFE},   {"country", ACT | LIFE},   {"imei", ACT},
    {"day", ACT},          {"cohort", LIFE},     {"period", LIFE},          {"first", LIFE},
};

static const struct key_rule *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Names the key Jansson found twice. Its message quotes the key only when the
 * token is short, and as written (escapes included), so the name is taken from
 * the body instead: Jansson stops right after the key's closing quote; the
 * string literal that ends there is decoded. Falls back to "body". */
static void duplicate_key_name(const char *body, size_t len, int pos, char *out, size_t cap)
{
    snprintf(out, cap, "body");
    if (pos < 2 || (size_t)pos > len || body[pos - 1] != '"')
        return;
    size_t close = (size_t)pos - 1, open = close;
    for (;;) {
        if (open == 0)
            return;
        open--;
        if (body[open] != '"')
            continue;
        size_t backslashes = 0;
        while (backslashes < open && body[open - backslashes - 1] == '\\')
            backslashes++;
        if (backslashes % 2 == 0)
            break;
    }
    json_t *key = json_loadb(body + open, close - open + 1, JSON_DECODE_ANY, NULL);
    if (json_is_string(key)) {
        snprintf(out, cap, "%s", json_string_value(key));
        utf8_scrub(out);
    }
    json_decref(key);
}

static enum sts_err decode_object(json_t *root, int32_t today, struct sts_report *out,
                                  struct sts_field_error *err)
{
    enum sts_err e;
    json_t *t = json_object_get(root, "type");
    if (!t)
        return fail(err, "type", "missing");
    if (!json_is_string(t))
        return fail(err, "type", "must be a string");
    /* strcmp below would stop at a NUL: "activation\u0000..." must not pass. */
    if (memchr(json_string_value(t), '\0', json_string_length(t)))
        return fail(err, "type", "must not contain NUL characters");
    if (strcmp(json_string_value(t), "activation") == 0)
        out->type = STS_REPORT_ACTIVATION;
    else if (strcmp(json_string_value(t), "lifetime") == 0)
        out->type = STS_REPORT_LIFETIME;
    else
        return fail(err, "type", "must be \"activation\" or \"lifetime\"");
    unsigned bit = 1u << out->type;

    json_t *v = json_object_get(root, "v");
    if (!v)
        return fail(err, "v", "missing");
    if (!json_is_integer(v))
        return fail(err, "v", "must be an integer");
    if (json_integer_value(v) != STS_PROTOCOL_VERSION)
        return fail(err, "v", "unsupported protocol version %lld (this side speaks %d)",
                    (long long)json_integer_value(v), STS_PROTOCOL_VERSION);
    out->v = STS_PROTOCOL_VERSION;

    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        const struct key_rule *rule = find_key(key);
        if (!rule)
            return fail(err, key, "unknown field (not allowed by protocol v1)");
        if (!(rule->types & bit))
            return fail(err, key, "not allowed in a%s %s report",
                        out->type == STS_REPORT_ACTIVATION ? "n" : "",
                        sts_report_type_name(out->type));
    }

    /* Required fields, checked in a fixed order so answers are stable. */
    static const char *const act_required[] = {"report_id", "imei", "brand", "model", "sw", "day"};
    static const char *const life_required[] = {"report_id", "brand",  "model", "sw",
                                                "cohort",    "period", "first"};
    const char *const *req = out->type == STS_REPORT_ACTIVATION ? act_required : life_required;
    size_t nreq = out->type == STS_REPORT_ACTIVATION ? 6 : 7;
    for (size_t i = 0; i < nreq; i++)
        if (!json_object_get(root, req[i]))
            return fail(err, req[i], "missing");

    struct {
        const char *key;
        char *dst;
        size_t cap;
        const char *too_long;
        bool text; /* brand, model, sw */
    } strings[] = {
        {"report_id", out->report_id, sizeof out->report_id, BAD_ID, false},
        {"brand", out->brand, sizeof out->brand, TEXT_TOO_LONG, true},
        {"model", out->model, sizeof out->model, TEXT_TOO_LONG, true},
        {"sw", out->sw, sizeof out->sw, TEXT_TOO_LONG, true},
        {"country", out->country, sizeof out->country, BAD_COUNTRY, false},
        {"imei", out->imei, sizeof out->imei, "must be exactly 15 digits", false},
        {"day", out->day, sizeof out->day, BAD_DAY, false},
        {"cohort", out->cohort, sizeof out->cohort, BAD_MONTH, false},
        {"period", out->period, sizeof out->period, BAD_MONTH, false},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        json_t *sv = json_object_get(root, strings[i].key);
        if (sv && (e = take_string(sv, strings[i].key, strings[i].dst, strings[i].cap,
                                   strings[i].too_long, strings[i].text, err)))
            return e;
    }
    if (json_object_get(root, "country") && out->country[0] == '\0')
        return fail(err, "country", "must be omitted, not empty, without consent");
    if (out->type == STS_REPORT_LIFETIME) {
        json_t *first = json_object_get(root, "first");
        if (!json_is_boolean(first))
            return fail(err, "first", "must be true or false");
        out->first = json_is_true(first);
    }
    return sts_report_validate(out, today, err);
}

enum sts_err sts_report_parse(const char *body, size_t len, int32_t today, struct sts_report *out,
                              struct sts_field_error *err)
{
    if (len > STS_REPORT_MAX_BODY) {
        fail(err, "body", "larger than %d bytes", STS_REPORT_MAX_BODY);
        return STS_ETOOBIG;
    }
    if (!utf8_valid((const unsigned char *)body, len))
        return fail(err, "body", "not valid UTF-8");
    memset(out, 0, sizeof *out);

    json_error_t jerr;
    sts_json_watch_start(); /* Jansson may not say it ran out of memory */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (sts_json_watch_failed()) {
        /* Even a document Jansson returns cannot be trusted then: its lexer
         * drops the byte it could not append (a report id missing a digit). */
        json_decref(root);
        return STS_ENOMEM;
    }
    if (!root) {
        if (json_error_code(&jerr) == json_error_duplicate_key) {
            char key[sizeof err->field];
            duplicate_key_name(body, len, jerr.position, key, sizeof key);
            return fail(err, key, "appears more than once");
        }
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return STS_ENOMEM;
        return fail(err, "body", "not valid JSON: %s at byte %d", jerr.text, jerr.position);
    }
    enum sts_err e;
    if (!json_is_object(root))
        e = fail(err, "body", "must be a JSON object");
    else
        e = decode_object(root, today, out, err);
    json_decref(root);
    return e;
}

enum sts_err sts_report_encode(const struct sts_report *r, char **out)
{
    const char *type = sts_report_type_name(r->type);
    if (!type)
        return STS_EINVAL;
    sts_json_watch_start();
    json_t *o = json_object();
    if (!o)
        return STS_ENOMEM;
    int rc = json_object_set_new(o, "v", json_integer(r->v));
    rc |= json_object_set_new(o, "type", json_string(type));
    rc |= json_object_set_new(o, "report_id", json_string(r->report_id));
    if (r->type == STS_REPORT_ACTIVATION)
        rc |= json_object_set_new(o, "imei", json_string(r->imei));
    rc |= json_object_set_new(o, "brand", json_string(r->brand));
    rc |= json_object_set_new(o, "model", json_string(r->model));
    rc |= json_object_set_new(o, "sw", json_string(r->sw));
    if (r->type == STS_REPORT_LIFETIME) {
        rc |= json_object_set_new(o, "cohort", json_string(r->cohort));
        rc |= json_object_set_new(o, "period", json_string(r->period));
        rc |= json_object_set_new(o, "first", json_boolean(r->first));
    }
    if (r->country[0])
        rc |= json_object_set_new(o, "country", json_string(r->country));
    if (r->type == STS_REPORT_ACTIVATION)
        rc |= json_object_set_new(o, "day", json_string(r->day));
    char *s = rc ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s && sts_json_watch_failed()) {
        /* json_dumps may return text with a key left out (sts/jsonmem.h). */
        free(s);
        s = NULL;
    }
    if (!s)
        return STS_ENOMEM;
    *out = s;
    return STS_OK;
}

enum sts_err sts_report_new_id(char id[static STS_REPORT_ID_LEN + 1])
{
    unsigned char raw[16];
    /* The kernel's generator: an id needs no more, and a device that sends
     * one report should not pay for seeding OpenSSL's generator (it doubled
     * the agent's CPU time). */
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return STS_ECRYPTO;
        got += (size_t)n;
    }
    sts_hex_encode(raw, sizeof raw, id);
    return STS_OK;
}

enum sts_err sts_report_id_bytes(const char *id, uint8_t out[static 16])
{
    if (!report_id_valid(id))
        return STS_EINVAL;
    return sts_hex_decode(id, STS_REPORT_ID_LEN, out, 16);
}
