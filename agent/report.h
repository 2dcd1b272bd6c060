/* Building the reports a device sends, from its facts and the owner's
 * consents, with libsts's model and validation (sts/report.h). A report that
 * does not validate is never sent: a required fact that is invalid stops the
 * report, an optional one (country) is left out and the caller is told, so
 * the owner can be shown what was not sent and why.
 *
 * This is the agent core that sts-fleet reuses: nothing here touches the
 * state directory or the network. Thread-safe; no heap memory. */
#ifndef AGENT_REPORT_H
#define AGENT_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "facts.h"
#include "sts/err.h"
#include "sts/report.h"

/* Fills *out with the activation report of a device with facts f, activated
 * on day (days since 1970-01-01), with a fresh random report_id. The country
 * is included only when country_consent is true and f->country is set.
 * On STS_OK, warn->field is empty, or names an optional fact that was left
 * out (e.g. consent given but the country is not a valid code) with the
 * reason in warn->detail. On STS_EINVAL, *err names the invalid required fact.
 * Errors: STS_EINVAL, STS_ECRYPTO (no randomness for the report_id). */
enum sts_err agent_report_activation(const struct agent_facts *f, bool country_consent, int32_t day,
                                     struct sts_report *out, struct sts_field_error *warn,
                                     struct sts_field_error *err);

/* Fills *out with the lifetime ping of a device with facts f (only brand,
 * model, sw and, with country_consent, country are read: the imei is never
 * part of a ping), for the activation cohort month and the period month it
 * belongs to (months as in sts/date.h: year*12 + month-1), with first telling
 * whether it is the device's first ping since the owner consented, and a
 * fresh random report_id. A ping carries no device identifier at all. The
 * country is handled as in agent_report_activation (warn says when it was
 * left out). Validation uses the period's own month as "today": the device
 * cannot know the collector's date, and a period in the future is the
 * caller's business. Errors: STS_EINVAL (*err names the invalid fact, or
 * cohort/period when period < cohort), STS_ECRYPTO (no randomness). */
enum sts_err agent_report_lifetime(const struct agent_facts *f, bool country_consent,
                                   int32_t cohort, int32_t period, bool first,
                                   struct sts_report *out, struct sts_field_error *warn,
                                   struct sts_field_error *err);

/* Removes the country from the report encoded in json (an activation or a
 * lifetime ping, keeping its report_id and every other field) and writes the new encoding to *out
 * (free() it): what the agent does when the owner withdraws country consent
 * before a pending report went out. today bounds the day as in
 * sts_report_parse. Errors: STS_EINVAL (json is not a valid report; *err says
 * why), STS_ETOOBIG, STS_ENOMEM. */
enum sts_err agent_report_strip_country(const char *json, int32_t today, char **out,
                                        struct sts_field_error *err);

#endif
