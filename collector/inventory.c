/* The data inventory of inventory.h: the one place that says what each
 * stored table and column is for. A column added to a schema without an
 * entry here fails tests/unit/test_collector_inventory.c and is flagged by
 * audit. */
#include "inventory.h"

#include <string.h>

#define TABLE(t, purpose, personal, retention)                                                     \
    {                                                                                              \
        t, NULL, purpose, personal, retention                                                      \
    }
#define COL(t, c, purpose, personal)                                                               \
    {                                                                                              \
        t, c, purpose, personal, INV_KEEP_DEVICE                                                   \
    }

static const struct inventory_entry entries[] = {
    TABLE("activation", "one row per device: one device, one sale (dedup), export, erasure",
          INV_PSEUDONYMOUS, INV_KEEP_DEVICE),
    TABLE("reactivation",
          "one row per device and month with a re-activation: counted once a "
          "month, export, erasure",
          INV_PSEUDONYMOUS, INV_KEEP_DEVICE),
    TABLE("report_id", "ids of recent reports, so that a retried report is not counted twice",
          INV_NOT_PERSONAL, INV_KEEP_REPORT_ID),
    TABLE("sales_day", "sales counters per day and class: the sales figures", INV_ANONYMOUS,
          INV_KEEP_COUNTER),
    TABLE("sales_day_mc", "the same counters by model and country only, read by the dashboard",
          INV_ANONYMOUS, INV_KEEP_COUNTER),
    TABLE("lifetime_count", "lifetime ping counters: the survival curves", INV_ANONYMOUS,
          INV_KEEP_COUNTER),
    TABLE("life_model", "the same counters by model only", INV_ANONYMOUS, INV_KEEP_COUNTER),
    TABLE("version_count", "ping counters per software version: versions in use", INV_ANONYMOUS,
          INV_KEEP_COUNTER),
    TABLE("release_meta", "the differentially private release's seed and budget", INV_NOT_PERSONAL,
          INV_KEEP_DATABASE),

    COL("activation", "pseudonym", "HMAC-SHA256 of the IMEI under the key key_id",
        INV_PSEUDONYMOUS),
    COL("activation", "key_id", "which pseudonym key made the pseudonym", INV_PSEUDONYMOUS),
    COL("activation", "month", "month of the first activation (counted), not its day",
        INV_PSEUDONYMOUS),
    COL("reactivation", "pseudonym", "the device, as in activation", INV_PSEUDONYMOUS),
    COL("reactivation", "month", "a month with at least one re-activation", INV_PSEUDONYMOUS),
    COL("report_id", "report_id", "random 16-byte id chosen by the agent; names no device",
        INV_NOT_PERSONAL),
    COL("report_id", "expires", "day after which the id is purged", INV_NOT_PERSONAL),
    COL("sales_day", "day", "day the activations are counted on", INV_ANONYMOUS),
    COL("sales_day", "brand", "class: brand", INV_ANONYMOUS),
    COL("sales_day", "model", "class: model", INV_ANONYMOUS),
    COL("sales_day", "sw", "class: software version at activation", INV_ANONYMOUS),
    COL("sales_day", "country", "class: country of sale, if the owner consented", INV_ANONYMOUS),
    COL("sales_day", "activations", "number of first activations", INV_ANONYMOUS),
    COL("sales_day", "reactivations", "number of re-activations", INV_ANONYMOUS),
    COL("sales_day_mc", "day", "as in sales_day", INV_ANONYMOUS),
    COL("sales_day_mc", "model", "as in sales_day", INV_ANONYMOUS),
    COL("sales_day_mc", "country", "as in sales_day", INV_ANONYMOUS),
    COL("sales_day_mc", "activations", "as in sales_day", INV_ANONYMOUS),
    COL("sales_day_mc", "reactivations", "as in sales_day", INV_ANONYMOUS),
    COL("lifetime_count", "period", "month the pings are counted in", INV_ANONYMOUS),
    COL("lifetime_count", "cohort", "month of activation of the pinging devices", INV_ANONYMOUS),
    COL("lifetime_count", "brand", "class: brand", INV_ANONYMOUS),
    COL("lifetime_count", "model", "class: model", INV_ANONYMOUS),
    COL("lifetime_count", "first", "whether these are the devices' first pings", INV_ANONYMOUS),
    COL("lifetime_count", "count", "number of pings", INV_ANONYMOUS),
    COL("life_model", "period", "as in lifetime_count", INV_ANONYMOUS),
    COL("life_model", "cohort", "as in lifetime_count", INV_ANONYMOUS),
    COL("life_model", "model", "as in lifetime_count", INV_ANONYMOUS),
    COL("life_model", "first", "as in lifetime_count", INV_ANONYMOUS),
    COL("life_model", "count", "as in lifetime_count", INV_ANONYMOUS),
    COL("version_count", "period", "month the pings are counted in", INV_ANONYMOUS),
    COL("version_count", "brand", "class: brand", INV_ANONYMOUS),
    COL("version_count", "model", "class: model", INV_ANONYMOUS),
    COL("version_count", "sw", "software version in use", INV_ANONYMOUS),
    COL("version_count", "count", "number of pings", INV_ANONYMOUS),
    COL("release_meta", "name", "parameter name: seed or rho", INV_NOT_PERSONAL),
    COL("release_meta", "value", "the secret noise seed, or the budget rho", INV_NOT_PERSONAL),
};

const struct inventory_entry *inventory_entries(size_t *n)
{
    *n = sizeof entries / sizeof entries[0];
    return entries;
}

const struct inventory_entry *inventory_find(const char *table, const char *column)
{
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (strcmp(entries[i].table, table) == 0 &&
            (column ? entries[i].column && strcmp(entries[i].column, column) == 0
                    : !entries[i].column))
            return &entries[i];
    return NULL;
}

size_t inventory_check(const struct store_column *cols, size_t n,
                       void (*missing)(const char *table, const char *column, void *ctx), void *ctx)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        /* Each table once, at its first column. */
        if ((i == 0 || strcmp(cols[i - 1].table, cols[i].table) != 0) &&
            !inventory_find(cols[i].table, NULL)) {
            bad++;
            if (missing)
                missing(cols[i].table, NULL, ctx);
        }
        if (!inventory_find(cols[i].table, cols[i].column)) {
            bad++;
            if (missing)
                missing(cols[i].table, cols[i].column, ctx);
        }
    }
    return bad;
}

const char *inventory_personal_name(enum inventory_personal p)
{
    switch (p) {
    case INV_PSEUDONYMOUS: return "personal (pseudonymous)";
    case INV_ANONYMOUS: return "anonymous aggregate";
    case INV_NOT_PERSONAL: return "not personal";
    }
    return "?";
}

const char *inventory_retention_text(enum inventory_retention r)
{
    switch (r) {
    case INV_KEEP_DEVICE:
        return "until erased, or folded retention_months after the device was last seen";
    case INV_KEEP_REPORT_ID:
        return "report_id_days after receipt (activations); until the grace window of the "
               "month counted in closes (pings)";
    case INV_KEEP_COUNTER: return "life of the database (anonymous; the released figures)";
    case INV_KEEP_DATABASE: return "life of the database (a released period must never change)";
    }
    return "?";
}
