/* The SQLite VFS of the collector's connections: the default "unix" VFS with
 * the writes to each -wal file gathered in memory and written with one system
 * call per 124 KiB where SQLite needs them in the file (sqlite_wal.c says
 * where). Every other file goes straight to the default VFS. Nothing here
 * changes what is durable: the buffer is always in the file before SQLite
 * syncs it. */
#ifndef STS_SQLITE_WAL_H
#define STS_SQLITE_WAL_H

#include <stdint.h>

#include "sts/err.h"

/* The name to give sqlite3_open_v2 once sqlite_wal_register has succeeded. */
#define STS_WAL_VFS "sts-wal"

/* Registers the VFS STS_WAL_VFS over SQLite's default VFS, not as the
 * default. Thread-safe; the first call registers, later calls return its
 * result. The VFS lives until the process ends.
 * Errors: STS_EIO (SQLite could not be initialised or had no default VFS). */
enum sts_err sqlite_wal_register(void);

/* Counts since the process started, over every file of the VFS: writes
 * SQLite asked for on -wal files, and system calls that wrote them
 * (flushes of the buffer, and writes too large to gather). */
struct sqlite_wal_stats {
    uint64_t writes;
    uint64_t syscalls;
};

/* Fills *out; safe from any thread. */
void sqlite_wal_stats(struct sqlite_wal_stats *out);

#endif
