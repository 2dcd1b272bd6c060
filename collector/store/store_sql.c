/* What the backends share: the summing queries over the rollups, the class
 * queries of the audit, and how a release seed is made. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "store_sql.h"

void store_sum_sql(char *sql, size_t cap, char mark, const char *time_cols, bool all,
                   const char *table, const char *time_col, const char *const cols[4],
                   unsigned dims, const char *const filter[4], const char *sums)
{
    static const char *const names[4] = {"brand", "model", "sw", "country"};
    size_t n = (size_t)snprintf(sql, cap, "SELECT %s", all ? "min(day)" : time_cols);
    char group[256];
    size_t g = 0;
    group[0] = '\0';
    if (!all)
        g = (size_t)snprintf(group, sizeof group, " GROUP BY %s", time_cols);
    for (int d = 0; d < 4 && n < cap; d++) {
        bool keep = (dims & (1u << d)) || filter[d];
        n += (size_t)snprintf(sql + n, cap - n, ", %s", keep ? cols[d] : "''");
        if (keep && g < sizeof group)
            g += (size_t)snprintf(group + g, sizeof group - g, "%s%s", g ? ", " : " GROUP BY ",
                                  names[d]);
    }
    if (n < cap)
        n += (size_t)snprintf(sql + n, cap - n, ", %s FROM %s WHERE %s BETWEEN %c1 AND %c2", sums,
                              table, time_col, mark, mark);
    for (int d = 0; d < 4 && n < cap; d++)
        if (filter[d])
            n += (size_t)snprintf(sql + n, cap - n, " AND %s = %c%d", names[d], mark, 3 + d);
    /* Without GROUP BY an aggregate gives one row even over no rows. */
    if (n < cap)
        snprintf(sql + n, cap - n, "%s%s", group, g ? "" : " HAVING count(*) > 0");
}

unsigned store_needed_dims(const struct store_query *q)
{
    unsigned need = q->dims;
    for (int d = 0; d < 4; d++)
        if (q->filter[d])
            need |= 1u << d;
    return need;
}

const struct store_class_query store_class_queries[STORE_CLASS_QUERIES] = {
    {"SELECT activations + reactivations AS n FROM sales_day",
     offsetof(struct store_classes, sales_cells)},
    {"SELECT sum(activations + reactivations) AS n FROM sales_day"
     " GROUP BY sts_month(day), brand, model, sw, country",
     offsetof(struct store_classes, sales_months)},
    {"SELECT count AS n FROM lifetime_count", offsetof(struct store_classes, lifetime_cells)},
    {"SELECT count AS n FROM version_count", offsetof(struct store_classes, version_cells)},
    {"SELECT sum(activations) AS n FROM sales_day GROUP BY sts_month(day), brand, model",
     offsetof(struct store_classes, lifetime_classes)},
};

enum sts_err store_seed_make(uint8_t seed[STORE_SEED_LEN])
{
    const char *fixed = getenv("STS_TEST_RELEASE_SEED");
    if (fixed && *fixed)
        return SHA256((const unsigned char *)fixed, strlen(fixed), seed) ? STS_OK : STS_ECRYPTO;
    return RAND_bytes(seed, STORE_SEED_LEN) == 1 ? STS_OK : STS_ECRYPTO;
}
