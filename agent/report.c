/* Building and adjusting the agent's reports. See report.h. */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "sts/country.h"
#include "sts/date.h"

/* Bounded copy; callers have checked the length, so nothing is cut. */
static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Copies brand, model and sw (and imei when with_imei) from f into out,
 * refusing a value too long for the report's field rather than cutting it. */
static enum sts_err copy_texts(const struct agent_facts *f, bool with_imei, struct sts_report *out,
                               struct sts_field_error *err)
{
    static const struct {
        enum agent_fact_id id;
        size_t max;
    } limits[] = {
        {AGENT_FACT_IMEI, sizeof out->imei - 1},
        {AGENT_FACT_BRAND, sizeof out->brand - 1},
        {AGENT_FACT_MODEL, sizeof out->model - 1},
        {AGENT_FACT_SW, sizeof out->sw - 1},
    };
    for (size_t i = with_imei ? 0 : 1; i < sizeof limits / sizeof limits[0]; i++) {
        const char *v = agent_facts_get(f, limits[i].id);
        if (strlen(v) > limits[i].max) {
            copy(err->field, sizeof err->field, agent_fact_name(limits[i].id));
            snprintf(err->detail, sizeof err->detail, "longer than %zu characters", limits[i].max);
            return STS_EINVAL;
        }
    }
    if (with_imei)
        copy(out->imei, sizeof out->imei, f->imei);
    copy(out->brand, sizeof out->brand, f->brand);
    copy(out->model, sizeof out->model, f->model);
    copy(out->sw, sizeof out->sw, f->sw);
    return STS_OK;
}

/* Sets out->country when the owner consented and the value is valid; else
 * leaves it empty and, when consent was given, says why in *warn. */
static void set_country(const struct agent_facts *f, bool consent, struct sts_report *out,
                        struct sts_field_error *warn)
{
    if (!consent)
        return;
    if (f->country[0] == '\0') {
        copy(warn->field, sizeof warn->field, "country");
        copy(warn->detail, sizeof warn->detail,
             "the owner consented but no country is configured; not sent");
    } else if (strlen(f->country) != 2 || !sts_country_valid(f->country)) {
        copy(warn->field, sizeof warn->field, "country");
        snprintf(warn->detail, sizeof warn->detail,
                 "'%.40s' is not an assigned ISO 3166-1 alpha-2 code; not sent", f->country);
    } else {
        copy(out->country, sizeof out->country, f->country);
    }
}

/* Validates *out with a placeholder id, then draws the real one: an invalid
 * report never consumes randomness, and is never sent. */
static enum sts_err finish(struct sts_report *out, int32_t today, struct sts_field_error *err)
{
    memset(out->report_id, 0, sizeof out->report_id);
    enum sts_err rc = sts_report_validate(out, today, err);
    if (rc != STS_OK)
        return rc;
    return sts_report_new_id(out->report_id);
}

enum sts_err agent_report_activation(const struct agent_facts *f, bool country_consent, int32_t day,
                                     struct sts_report *out, struct sts_field_error *warn,
                                     struct sts_field_error *err)
{
    memset(out, 0, sizeof *out);
    memset(warn, 0, sizeof *warn);
    memset(err, 0, sizeof *err);

    out->v = STS_PROTOCOL_VERSION;
    out->type = STS_REPORT_ACTIVATION;
    enum sts_err rc = copy_texts(f, true, out, err);
    if (rc != STS_OK)
        return rc;
    out->day = day;
    set_country(f, country_consent, out, warn);
    return finish(out, day, err);
}

enum sts_err agent_report_lifetime(const struct agent_facts *f, bool country_consent,
                                   int32_t cohort, int32_t period, bool first,
                                   struct sts_report *out, struct sts_field_error *warn,
                                   struct sts_field_error *err)
{
    memset(out, 0, sizeof *out);
    memset(warn, 0, sizeof *warn);
    memset(err, 0, sizeof *err);

    out->v = STS_PROTOCOL_VERSION;
    out->type = STS_REPORT_LIFETIME;
    enum sts_err rc = copy_texts(f, false, out, err);
    if (rc != STS_OK)
        return rc;
    out->cohort = cohort;
    out->period = period;
    out->first = first;
    set_country(f, country_consent, out, warn);
    return finish(out, sts_month_first_day(period), err);
}

enum sts_err agent_report_strip_country(const char *json, int32_t today, char **out,
                                        struct sts_field_error *err)
{
    struct sts_report r;
    *out = NULL;
    enum sts_err rc = sts_report_parse(json, strlen(json), today, &r, err);
    if (rc != STS_OK)
        return rc;
    r.country[0] = '\0';
    return sts_report_encode(&r, out);
}
