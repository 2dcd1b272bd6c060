/* Activation and lifetime reports: the strict JSON codec and every field rule.
 * The collector trusts nothing a device sends: a report with a key it does not
 * know, a key twice, or a value outside its grammar is refused with the field
 * and the reason, so a device can never store more than the spec allows. */
#include "sts/report.h"

#include <errno.h>
#include <stddef.h>
#include <jansson.h>
#include <openssl/crypto.h>
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
    for (size_t i = 0, len; i < n; i += len) {
        if (s[i] < 0x80) { /* reports are ASCII: no call for those */
            len = 1;
            continue;
        }
        if (!(len = utf8_char_len(s + i, n - i)))
            return false;
    }
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

/* Spaces only inside: "acme " would be a cell of its own beside "acme", and
 * the agent trims every fact it reads (agent/facts.c). */
bool sts_report_text_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > STS_TEXT_MAX || s[0] == ' ' || s[n - 1] == ' ')
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
        return fail(err, field,
                    s[0] == ' ' || s[n - 1] == ' ' ? "must not begin or end with a space"
                                                   : BAD_TEXT);
    return STS_OK;
}

static enum sts_err check_day(int32_t day, int32_t today, struct sts_field_error *err)
{
    if (day < FIRST_DAY_ALLOWED)
        return fail(err, "day", "before 2000-01-01");
    if (day > today + 1)
        return fail(err, "day", "more than one day in the future");
    return STS_OK;
}

static enum sts_err check_month(const char *field, int32_t month, int32_t today,
                                struct sts_field_error *err)
{
    if (month < 2000 * 12)
        return fail(err, field, "before 2000-01");
    /* One day of clock skew is tolerated, as for activation days. */
    if (month > sts_day_month(today + 1))
        return fail(err, field, "in the future");
    return STS_OK;
}

static enum sts_err check_country(const char *country, struct sts_field_error *err)
{
    if (country[0] && !sts_country_valid(country))
        return fail(err, "country", BAD_COUNTRY);
    return STS_OK;
}

static enum sts_err check_imei(const char *imei, struct sts_field_error *err)
{
    const char *why;
    if (!sts_imei_valid(imei, &why))
        return fail(err, "imei", "%s", why);
    return STS_OK;
}

static enum sts_err check_period(const struct sts_report *r, struct sts_field_error *err)
{
    if (r->period < r->cohort)
        return fail(err, "period", "before the cohort month");
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
    if (r->type == STS_REPORT_ACTIVATION && (e = check_imei(r->imei, err)))
        return e;
    if ((e = check_text("brand", r->brand, err)) || (e = check_text("model", r->model, err)) ||
        (e = check_text("sw", r->sw, err)) || (e = check_country(r->country, err)))
        return e;
    if (r->type == STS_REPORT_ACTIVATION)
        return check_day(r->day, today, err);
    if ((e = check_month("cohort", r->cohort, today, err)) ||
        (e = check_month("period", r->period, today, err)))
        return e;
    return check_period(r, err);
}

#define ACT  (1u << STS_REPORT_ACTIVATION)
#define LIFE (1u << STS_REPORT_LIFETIME)

enum field_kind { F_VERSION, F_TYPE, F_ID, F_IMEI, F_TEXT, F_COUNTRY, F_DAY, F_MONTH, F_FLAG };

/* The report's fields, in the order their rules are applied (so answers
 * are stable). A new field is one line here, one in struct sts_report and
 * the encoder, and its column in the store. */
static const struct field {
    const char *name;
    enum field_kind kind;
    unsigned types;    /* report types that allow the key */
    unsigned required; /* report types that need it */
    size_t off;        /* where it goes in struct sts_report */
    size_t cap;        /* string fields: bytes that fit with the NUL */
    const char *too_long;
} fields[] = {
#define AT(m) offsetof(struct sts_report, m)
    {"v", F_VERSION, ACT | LIFE, ACT | LIFE, AT(v), 0, NULL},
    {"type", F_TYPE, ACT | LIFE, ACT | LIFE, AT(type), 0, NULL},
    {"report_id", F_ID, ACT | LIFE, ACT | LIFE, AT(report_id), STS_REPORT_ID_LEN + 1, BAD_ID},
    {"imei", F_IMEI, ACT, ACT, AT(imei), 16, "must be exactly 15 digits"},
    {"brand", F_TEXT, ACT | LIFE, ACT | LIFE, AT(brand), STS_TEXT_MAX + 1, TEXT_TOO_LONG},
    {"model", F_TEXT, ACT | LIFE, ACT | LIFE, AT(model), STS_TEXT_MAX + 1, TEXT_TOO_LONG},
    {"sw", F_TEXT, ACT | LIFE, ACT | LIFE, AT(sw), STS_TEXT_MAX + 1, TEXT_TOO_LONG},
    {"country", F_COUNTRY, ACT | LIFE, 0, AT(country), 3, BAD_COUNTRY},
    {"day", F_DAY, ACT, ACT, AT(day), STS_DAY_LEN + 1, BAD_DAY},
    {"cohort", F_MONTH, LIFE, LIFE, AT(cohort), STS_MONTH_LEN + 1, BAD_MONTH},
    {"period", F_MONTH, LIFE, LIFE, AT(period), STS_MONTH_LEN + 1, BAD_MONTH},
    {"first", F_FLAG, LIFE, LIFE, AT(first), 0, NULL},
#undef AT
};

#define NFIELDS (sizeof fields / sizeof fields[0])

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* One JSON value as the field rules see it, from either reader. */
struct jval {
    enum { JV_NONE, JV_STRING, JV_INT, JV_BOOL, JV_OTHER } kind;
    const char *s; /* JV_STRING: n bytes, NUL-terminated (may hold NULs) */
    size_t n;
    long long i; /* JV_INT */
    bool b;      /* JV_BOOL */
};

/* A string value's bytes, refusing non-strings and NUL anywhere (strcmp and
 * the grammar checks would stop at it). */
static enum sts_err string_of(const struct jval *v, const char *key, const char **s, size_t *n,
                              struct sts_field_error *err)
{
    if (v->kind != JV_STRING)
        return fail(err, key, "must be a string");
    *n = v->n;
    *s = v->s;
    if (memchr(*s, '\0', *n))
        return fail(err, key, "must not contain NUL characters");
    return STS_OK;
}

/* The JSON type and size of a string field; the grammar comes after every
 * field has passed this, so that the answer names the same field whatever
 * the key order. */
static enum sts_err take_string(const struct field *fd, const struct jval *v,
                                struct sts_report *out, const char **raw,
                                struct sts_field_error *err)
{
    size_t n = 0;
    enum sts_err e = string_of(v, fd->name, raw, &n, err);
    if (e)
        return e;
    if (n >= fd->cap) {
        /* Too many bytes is not always too many characters: 40 'é' are 80
         * bytes, and what is wrong with them is the alphabet. */
        if (fd->kind == F_TEXT) {
            for (size_t i = 0; i < n; i++)
                if (!text_char_ok((*raw)[i]))
                    return fail(err, fd->name, BAD_TEXT);
        }
        return fail(err, fd->name, "%s", fd->too_long);
    }
    if (fd->kind == F_COUNTRY && n == 0)
        return fail(err, fd->name, "must be omitted, not empty, without consent");
    if (fd->kind == F_IMEI || fd->kind == F_TEXT || fd->kind == F_COUNTRY) {
        memcpy((char *)out + fd->off, *raw, n);
        ((char *)out + fd->off)[n] = '\0';
    }
    return STS_OK;
}

/* A field's grammar and range, applied once to the value take_string let
 * through; typed fields are converted here. */
static enum sts_err check_field(const struct field *fd, const char *raw, int32_t today,
                                struct sts_report *out, struct sts_field_error *err)
{
    int32_t *num = (int32_t *)(void *)((char *)out + fd->off);
    switch (fd->kind) {
    case F_ID:
        if (!report_id_valid(raw) ||
            sts_hex_decode(raw, STS_REPORT_ID_LEN, out->report_id, sizeof out->report_id))
            return fail(err, fd->name, BAD_ID);
        return STS_OK;
    case F_IMEI: return check_imei(out->imei, err);
    case F_TEXT: return check_text(fd->name, (char *)out + fd->off, err);
    case F_COUNTRY: return check_country(out->country, err);
    case F_DAY:
        if (sts_day_parse(raw, num) != STS_OK)
            return fail(err, fd->name, BAD_DAY);
        return check_day(*num, today, err);
    case F_MONTH:
        if (sts_month_parse(raw, num) != STS_OK)
            return fail(err, fd->name, BAD_MONTH);
        return check_month(fd->name, *num, today, err);
    case F_VERSION:
    case F_TYPE:
    case F_FLAG: break; /* decoded with their JSON type */
    }
    return STS_OK;
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

#define FIELD_V    0 /* indexes in fields[] */
#define FIELD_TYPE 1

/* type and v, checked before anything else; sets out->type and out->v. */
static enum sts_err decode_head(const struct jval vals[NFIELDS], struct sts_report *out,
                                struct sts_field_error *err)
{
    enum sts_err e;
    const char *s = NULL;
    size_t n = 0;
    const struct jval *t = &vals[FIELD_TYPE], *v = &vals[FIELD_V];
    if (t->kind == JV_NONE)
        return fail(err, "type", "missing");
    if ((e = string_of(t, "type", &s, &n, err)))
        return e;
    if (strcmp(s, "activation") == 0)
        out->type = STS_REPORT_ACTIVATION;
    else if (strcmp(s, "lifetime") == 0)
        out->type = STS_REPORT_LIFETIME;
    else
        return fail(err, "type", "must be \"activation\" or \"lifetime\"");
    if (v->kind == JV_NONE)
        return fail(err, "v", "missing");
    if (v->kind != JV_INT)
        return fail(err, "v", "must be an integer");
    if (v->i != STS_PROTOCOL_VERSION)
        return fail(err, "v", "unsupported protocol version %lld (this side speaks %d)", v->i,
                    STS_PROTOCOL_VERSION);
    out->v = STS_PROTOCOL_VERSION;
    return STS_OK;
}

/* Every other field, once type and v are known and every key is allowed. */
static enum sts_err decode_fields(const struct jval vals[NFIELDS], int32_t today,
                                  struct sts_report *out, struct sts_field_error *err)
{
    enum sts_err e;
    unsigned bit = 1u << out->type;
    const char *raw[NFIELDS] = {0};
    for (size_t i = 0; i < NFIELDS; i++)
        if (vals[i].kind == JV_NONE && (fields[i].required & bit))
            return fail(err, fields[i].name, "missing");
    /* Two passes: JSON types and sizes, then grammars and ranges. */
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *fd = &fields[i];
        if (vals[i].kind == JV_NONE || fd->kind == F_VERSION || fd->kind == F_TYPE)
            continue;
        if (fd->kind == F_FLAG) {
            if (vals[i].kind != JV_BOOL)
                return fail(err, fd->name, "must be true or false");
            out->first = vals[i].b;
        } else if ((e = take_string(fd, &vals[i], out, &raw[i], err))) {
            return e;
        }
    }
    for (size_t i = 0; i < NFIELDS; i++)
        if (raw[i] && (e = check_field(&fields[i], raw[i], today, out, err)))
            return e;
    return out->type == STS_REPORT_LIFETIME ? check_period(out, err) : STS_OK;
}

static void jval_of(json_t *j, struct jval *v)
{
    memset(v, 0, sizeof *v);
    if (!j)
        v->kind = JV_NONE;
    else if (json_is_string(j))
        v->kind = JV_STRING, v->s = json_string_value(j), v->n = json_string_length(j);
    else if (json_is_integer(j))
        v->kind = JV_INT, v->i = (long long)json_integer_value(j);
    else if (json_is_boolean(j))
        v->kind = JV_BOOL, v->b = json_is_true(j);
    else
        v->kind = JV_OTHER;
}

static enum sts_err decode_object(json_t *root, int32_t today, struct sts_report *out,
                                  struct sts_field_error *err)
{
    struct jval vals[NFIELDS];
    for (size_t i = 0; i < NFIELDS; i++)
        jval_of(json_object_get(root, fields[i].name), &vals[i]);
    enum sts_err e = decode_head(vals, out, err);
    if (e)
        return e;
    unsigned bit = 1u << out->type;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        const struct field *fd = find_field(key);
        if (!fd)
            return fail(err, key, "unknown field (not allowed by protocol v1)");
        if (!(fd->types & bit))
            return fail(err, key, "not allowed in a%s %s report",
                        out->type == STS_REPORT_ACTIVATION ? "n" : "",
                        sts_report_type_name(out->type));
    }
    return decode_fields(vals, today, out, err);
}

static const char *skip_ws(const char *p, const char *end)
{
    /* Runs of spaces (indentation, padding) eight bytes at a time: a body
     * padded to 400 bytes spent half its parsing here a byte at a time. */
    for (uint64_t w; end - p >= 8 && (memcpy(&w, p, 8), w == 0x2020202020202020u);)
        p += 8;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The fast reader: a flat object of known keys, each once, whose values
 * are strings of printable ASCII without escapes, small unsigned integers,
 * true or false. Anything else (an escape, a duplicate or unknown key,
 * another value, invalid JSON) returns false, and Jansson reads the body
 * instead, so that every refusal of the document itself is worded as
 * before. What this accepts, Jansson reads to the same values
 * (fuzz/fuzz_report_fast.c checks it). */
#define FAST_SCRATCH (STS_REPORT_MAX_BODY + NFIELDS)

static bool fast_read(const char *p, size_t len, struct jval vals[NFIELDS],
                      char scratch[FAST_SCRATCH], size_t *used)
{
    const char *first = scratch;
    const char *end = p + len;
    memset(vals, 0, NFIELDS * sizeof vals[0]);
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return false;
    for (;;) {
        p = skip_ws(p, end);
        if (p == end || *p++ != '"')
            return false;
        const char *key = p;
        while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '_'))
            p++;
        if (p == end || *p != '"')
            return false;
        const struct field *fd = NULL;
        size_t klen = (size_t)(p - key);
        for (size_t i = 0; i < NFIELDS && !fd; i++)
            if (fields[i].name[0] == key[0] && strncmp(fields[i].name, key, klen) == 0 &&
                fields[i].name[klen] == '\0')
                fd = &fields[i];
        struct jval *v = fd ? &vals[fd - fields] : NULL;
        if (!v || v->kind != JV_NONE)
            return false;
        p = skip_ws(p + 1, end);
        if (p == end || *p++ != ':')
            return false;
        p = skip_ws(p, end);
        if (p == end)
            return false;
        if (*p == '"') {
            const char *s = ++p;
            while (p < end && *p >= 0x20 && *p <= 0x7e && *p != '"' && *p != '\\')
                p++;
            if (p == end || *p != '"')
                return false;
            /* Copied out with a NUL, as Jansson hands its strings. */
            size_t n = (size_t)(p - s);
            memcpy(scratch, s, n);
            scratch[n] = '\0';
            v->kind = JV_STRING, v->s = scratch, v->n = n;
            scratch += n + 1;
            *used = (size_t)(scratch - first);
            p++;
        } else if (*p >= '0' && *p <= '9') {
            const char *d = p;
            long long i = 0;
            while (p < end && *p >= '0' && *p <= '9' && p - d < 9)
                i = i * 10 + (*p++ - '0');
            if ((*d == '0' && p - d > 1) ||
                (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E')))
                return false;
            v->kind = JV_INT, v->i = i;
        } else if ((size_t)(end - p) >= 4 && memcmp(p, "true", 4) == 0) {
            v->kind = JV_BOOL, v->b = true, p += 4;
        } else if ((size_t)(end - p) >= 5 && memcmp(p, "false", 5) == 0) {
            v->kind = JV_BOOL, v->b = false, p += 5;
        } else {
            return false;
        }
        p = skip_ws(p, end);
        if (p == end)
            return false;
        if (*p == '}')
            break;
        if (*p++ != ',')
            return false;
    }
    return skip_ws(p + 1, end) == end;
}

static enum sts_err parse_jansson(const char *body, size_t len, int32_t today,
                                  struct sts_report *out, struct sts_field_error *err)
{
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

static bool decode_fast(const struct jval vals[NFIELDS], int32_t today, struct sts_report *out,
                        struct sts_field_error *err, enum sts_err *e);

/* The fast reader's verdict, or false when it leaves the body to Jansson:
 * also for a type it does not know or a key the type does not allow, so
 * that those refusals keep Jansson's key order. */
static bool parse_fast(const char *body, size_t len, int32_t today, struct sts_report *out,
                       struct sts_field_error *err, enum sts_err *e)
{
    struct jval vals[NFIELDS];
    char scratch[FAST_SCRATCH];
    size_t used = 0;
    bool taken =
        fast_read(body, len, vals, scratch, &used) && decode_fast(vals, today, out, err, e);
    /* The copies held the IMEI: it goes no further than the report. */
    OPENSSL_cleanse(scratch, used);
    return taken;
}

static bool decode_fast(const struct jval vals[NFIELDS], int32_t today, struct sts_report *out,
                        struct sts_field_error *err, enum sts_err *e)
{
    const struct jval *t = &vals[FIELD_TYPE];
    unsigned bit = 0;
    if (t->kind == JV_STRING && strcmp(t->s, "activation") == 0)
        bit = 1u << STS_REPORT_ACTIVATION;
    else if (t->kind == JV_STRING && strcmp(t->s, "lifetime") == 0)
        bit = 1u << STS_REPORT_LIFETIME;
    for (size_t i = 0; i < NFIELDS; i++)
        if (vals[i].kind != JV_NONE && !(fields[i].types & bit))
            return false;
    if ((*e = decode_head(vals, out, err)) == STS_OK)
        *e = decode_fields(vals, today, out, err);
    return true;
}

enum sts_err sts_report_parse_with(const char *body, size_t len, int32_t today,
                                   enum sts_report_reader reader, struct sts_report *out,
                                   struct sts_field_error *err)
{
    if (len > STS_REPORT_MAX_BODY) {
        fail(err, "body", "larger than %d bytes", STS_REPORT_MAX_BODY);
        return STS_ETOOBIG;
    }
    memset(out, 0, sizeof *out);
    enum sts_err e;
    /* What the fast reader takes is ASCII, so valid UTF-8: the check is
     * only needed, first, for what it leaves. */
    if (reader != STS_REPORT_READER_JANSSON && parse_fast(body, len, today, out, err, &e))
        return e;
    if (reader == STS_REPORT_READER_FAST)
        return STS_EUNSUPPORTED;
    if (!utf8_valid((const unsigned char *)body, len))
        return fail(err, "body", "not valid UTF-8");
    return parse_jansson(body, len, today, out, err);
}

enum sts_err sts_report_parse(const char *body, size_t len, int32_t today, struct sts_report *out,
                              struct sts_field_error *err)
{
    return sts_report_parse_with(body, len, today, STS_REPORT_READER_ANY, out, err);
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
    char id[STS_REPORT_ID_LEN + 1], day[STS_DAY_LEN + 1], cohort[STS_MONTH_LEN + 1],
        period[STS_MONTH_LEN + 1];
    sts_report_id_hex(r->report_id, id);
    rc |= json_object_set_new(o, "report_id", json_string(id));
    if (r->type == STS_REPORT_ACTIVATION)
        rc |= json_object_set_new(o, "imei", json_string(r->imei));
    rc |= json_object_set_new(o, "brand", json_string(r->brand));
    rc |= json_object_set_new(o, "model", json_string(r->model));
    rc |= json_object_set_new(o, "sw", json_string(r->sw));
    if (r->type == STS_REPORT_LIFETIME) {
        sts_month_format(r->cohort, cohort);
        sts_month_format(r->period, period);
        rc |= json_object_set_new(o, "cohort", json_string(cohort));
        rc |= json_object_set_new(o, "period", json_string(period));
        rc |= json_object_set_new(o, "first", json_boolean(r->first));
    }
    if (r->country[0])
        rc |= json_object_set_new(o, "country", json_string(r->country));
    if (r->type == STS_REPORT_ACTIVATION) {
        sts_day_format(r->day, day);
        rc |= json_object_set_new(o, "day", json_string(day));
    }
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

void sts_report_id_hex(const uint8_t id[static 16], char out[static STS_REPORT_ID_LEN + 1])
{
    sts_hex_encode(id, 16, out);
}

enum sts_err sts_report_new_id(uint8_t raw[static 16])
{
    /* The kernel's generator: an id needs no more, and a device that sends
     * one report should not pay for seeding OpenSSL's generator (it doubled
     * the agent's CPU time). */
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(raw + got, 16 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return STS_ECRYPTO;
        got += (size_t)n;
    }
    return STS_OK;
}

enum sts_err sts_report_id_bytes(const char *id, uint8_t out[static 16])
{
    if (!report_id_valid(id))
        return STS_EINVAL;
    return sts_hex_decode(id, STS_REPORT_ID_LEN, out, 16);
}
