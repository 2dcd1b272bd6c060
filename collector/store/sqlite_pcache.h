/* SQLite's page cache for the collector's connections: the default one, with
 * the truncation SQLite asks for after every transaction skipped when no
 * cached page can be at or past the limit (sqlite_pcache.c says why). */
#ifndef STS_SQLITE_PCACHE_H
#define STS_SQLITE_PCACHE_H

#include <sqlite3.h>

#include "sts/err.h"

/* Makes the page cache of this module SQLite's, over the one SQLite had.
 * Only possible before SQLite is initialised, from one thread; the cache
 * lives until the process ends.
 * Errors: STS_EIO (SQLite refused: it was initialised already). */
enum sts_err sqlite_pcache_install(void);

/* Fills *out with this module's methods over *inner, which must outlive
 * them, and makes *inner the one every cache they create uses. For tests,
 * which hand it a cache of their own; sqlite_pcache_install calls it with
 * SQLite's. */
void sqlite_pcache_methods(const sqlite3_pcache_methods2 *inner, sqlite3_pcache_methods2 *out);

#endif
