/* SQL text shared by the backends: the summing queries over the rollups. */
#include <stdbool.h>
#include <stdio.h>

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
