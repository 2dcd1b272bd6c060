/* What the collector does when a SQLite -shm file fails under it: SQLite
 * maps that file, and a page past its new end after a truncation (or one
 * its file system cannot give, as after a read-only remount) is a SIGBUS at
 * the next use of the wal-index. Going on is not safe (sqlite_shm.c says why), so the
 * process says what happened and exits; a restart rebuilds the index from
 * the WAL, which holds every acknowledged report. */
#ifndef STS_SQLITE_SHM_H
#define STS_SQLITE_SHM_H

#include "sts/err.h"

/* The exit status after a -shm fault (EX_TEMPFAIL: start again). */
#define SQLITE_SHM_EXIT 75

/* Installs a SIGBUS handler for the process: a fault in a mapping of a file
 * whose name ends in "-shm" writes one line to stderr and exits with
 * SQLITE_SHM_EXIT; any other SIGBUS gets the action the handler replaced
 * (the default, or a sanitizer's), as without it. Call once, before the
 * threads that use SQLite start.
 * Errors: STS_EIO (sigaction failed). */
enum sts_err sqlite_shm_guard(void);

#endif
