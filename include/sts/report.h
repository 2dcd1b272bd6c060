/* The two reports a device may send (activation, lifetime ping): model, strict
 * JSON codec and validation. A report lives in caller-owned fixed storage; no
 * function here keeps a pointer to its arguments. */
#ifndef STS_REPORT_H
#define STS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

#define STS_PROTOCOL_VERSION 1
#define STS_REPORT_MAX_BODY  8192 /* bytes of JSON, hard cap */
#define STS_TEXT_MAX         64   /* brand, model, sw: 1..64 characters */
#define STS_REPORT_ID_LEN    32   /* lower-case hex of 16 random bytes */

enum sts_report_type { STS_REPORT_ACTIVATION = 1, STS_REPORT_LIFETIME = 2 };

/* A report in typed form: the parser checks each field once and hands out
 * days and months as numbers (sts/date.h) and the id as its 16 bytes, so no
 * user parses a string again. */
struct sts_report {
    int v; /* protocol version */
    enum sts_report_type type;
    uint8_t report_id[16]; /* idempotency key, kept across retries */
    char brand[STS_TEXT_MAX + 1];
    char model[STS_TEXT_MAX + 1];
    char sw[STS_TEXT_MAX + 1];
    char country[3]; /* "" when the owner did not consent */
    /* activation only */
    char imei[16];
    int32_t day; /* days since 1970-01-01 */
    /* lifetime only (months as year * 12 + month - 1) */
    int32_t cohort; /* month of activation */
    int32_t period; /* month the ping belongs to */
    bool first;     /* first ping since consent */
};

/* Why a report was refused: the offending field ("body" for the document
 * itself) and a reason a person can act on. */
struct sts_field_error {
    char field[32];
    char detail[160];
};

/* Parses and validates one JSON report. today is the receiver's current day
 * (see sts/date.h), used to refuse dates in the future.
 * Refuses: more than STS_REPORT_MAX_BODY bytes (STS_ETOOBIG), invalid UTF-8,
 * not a JSON object, duplicate keys, unknown keys, keys not allowed for the
 * type, wrong JSON types, and every field rule of sts_report_validate
 * (STS_EINVAL). On failure *err says which field and why and *out is
 * unspecified. Errors: STS_EINVAL, STS_ETOOBIG, STS_ENOMEM. Thread-safe. */
enum sts_err sts_report_parse(const char *body, size_t len, int32_t today, struct sts_report *out,
                              struct sts_field_error *err);

/* Which reader sts_report_parse_with uses: both give the same verdicts,
 * fields and messages on what the fast one takes (a flat object of known
 * keys with plain ASCII strings, small integers and booleans; the common
 * report), and Jansson reads everything else. */
enum sts_report_reader {
    STS_REPORT_READER_ANY,     /* the fast reader, then Jansson (sts_report_parse) */
    STS_REPORT_READER_FAST,    /* the fast reader only: STS_EUNSUPPORTED when it declines */
    STS_REPORT_READER_JANSSON, /* Jansson only */
};

/* sts_report_parse with a chosen reader, for the differential fuzz target
 * and the tests. Errors: as sts_report_parse, and STS_EUNSUPPORTED (the fast
 * reader declined the body; *out and *err untouched by it). */
enum sts_err sts_report_parse_with(const char *body, size_t len, int32_t today,
                                   enum sts_report_reader reader, struct sts_report *out,
                                   struct sts_field_error *err);

/* Checks every field rule of a report built in code (sts_report_parse
 * applies the same rules, each once, as it reads): imei 15 digits with a
 * Luhn check digit; brand/model/sw 1..64 of [A-Za-z0-9 ._+/-], no space first
 * or last; country an
 * assigned ISO 3166-1 alpha-2 code or empty; day from 2000-01-01 to
 * today+1; cohort/period from 2000-01, period not before cohort and not
 * after the month of today+1. Errors: STS_EINVAL with *err set. */
enum sts_err sts_report_validate(const struct sts_report *r, int32_t today,
                                 struct sts_field_error *err);

/* Encodes r as compact JSON with the keys in a fixed order, exactly the keys
 * its type allows ("country" omitted when empty). *out is a NUL-terminated
 * string owned by the caller (free()). r is not validated here.
 * Errors: STS_ENOMEM, STS_EINVAL (unknown type). */
enum sts_err sts_report_encode(const struct sts_report *r, char **out);

/* Fills id with 16 fresh random bytes from the kernel (getrandom).
 * Errors: STS_ECRYPTO. */
enum sts_err sts_report_new_id(uint8_t id[static 16]);

/* Writes the 16 bytes of an id as 32 lower-case hex characters and a NUL. */
void sts_report_id_hex(const uint8_t id[static 16], char out[static STS_REPORT_ID_LEN + 1]);

/* Decodes 32 lower-case hex characters into 16 bytes. Errors: STS_EINVAL. */
enum sts_err sts_report_id_bytes(const char *id, uint8_t out[static 16]);

/* "activation" / "lifetime", or NULL for an unknown type. */
const char *sts_report_type_name(enum sts_report_type type);

/* True if s (NUL-terminated) is 1..64 characters of [A-Za-z0-9 ._+/-], not
 * beginning or ending with a space. */
bool sts_report_text_valid(const char *s);

#endif
