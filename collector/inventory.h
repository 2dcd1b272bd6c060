/* The data inventory: every table and column STS stores, what it is for,
 * whether it is personal data and how long it is kept, in one table
 * (inventory.c), checked against the live schema of any backend. */
#ifndef STS_COLLECTOR_INVENTORY_H
#define STS_COLLECTOR_INVENTORY_H

#include <stddef.h>

#include "store.h"

enum inventory_personal {
    INV_PSEUDONYMOUS, /* personal data: names one device through its keyed pseudonym */
    INV_ANONYMOUS,    /* counts of devices, no identifier: anonymous aggregates */
    INV_NOT_PERSONAL  /* about the service, not about devices */
};

enum inventory_retention {
    INV_KEEP_DEVICE,    /* until erased, or folded retention_months after last seen */
    INV_KEEP_REPORT_ID, /* report_id_days after receipt; a ping's until its month's grace */
    INV_KEEP_COUNTER,   /* for the life of the database: anonymous, the released figures */
    INV_KEEP_DATABASE   /* for the life of the database: the release's parameters */
};

/* One entry: a table (column NULL) or one of its columns. Static strings. */
struct inventory_entry {
    const char *table;
    const char *column;
    const char *purpose;
    enum inventory_personal personal;
    enum inventory_retention retention; /* tables only */
};

/* The entries, tables first then each table's columns; *n gets how many. */
const struct inventory_entry *inventory_entries(size_t *n);

/* The entry of table.column (column NULL: of the table), or NULL. */
const struct inventory_entry *inventory_find(const char *table, const char *column);

/* Checks a live schema (store_columns) against the inventory: calls missing
 * (if not NULL) for every column, and every table, without an entry (the
 * column is NULL for a table) and returns how many there are. The check of
 * every backend, whatever its catalogue. */
size_t inventory_check(const struct store_column *cols, size_t n,
                       void (*missing)(const char *table, const char *column, void *ctx),
                       void *ctx);

/* Short English words for the enums, static storage. */
const char *inventory_personal_name(enum inventory_personal p);
const char *inventory_retention_text(enum inventory_retention r);

#endif
