/* The collector's SQLite VFS (sqlite_wal.h): the default VFS, with the
 * writes to each -wal file gathered in a buffer and written with one system
 * call per 124 KiB (WRITE_MAX). SQLite writes a WAL frame as two writes (its
 * 24-byte header, then the page), one pwrite each; a batch of reports
 * touches some fifty pages, and on a virtual machine strace timed its
 * hundred pwrites at four times its fdatasync (bench/README.md). The other
 * files (the database, a rollback journal) are opened by the default VFS
 * itself and never pass through here.
 *
 * The buffer holds writes that follow each other in the file. It is written
 * (flushed):
 *  - before a write that does not follow it or would overflow it, so that
 *    every byte reaches the file in the order SQLite wrote it;
 *  - right after the page of a commit frame (a frame header whose
 *    database-size field is not zero: sqlite.org/fileformat2.html, the WAL),
 *    so that a transaction's frames are in the file before SQLite's
 *    wal-index says they exist, whatever the synchronous setting, and a
 *    failure fails the commit. Not at xShmBarrier: SQLite calls it on the
 *    database file, not on the WAL, and it cannot return an error;
 *  - before xSync, so that what SQLite syncs holds every write it made:
 *    a commit is durable exactly when it was without the buffer;
 *  - before xRead, xTruncate and xFileSize, which look at the file, and at
 *    xClose. xFileControl passes through unflushed: no control reads the
 *    WAL's bytes, and SQLite ignores the errors of some (hints), so a flush
 *    failing there would lose writes without failing their transaction.
 *
 * Errors: a failed flush returns the default VFS's error for that write
 * (SQLITE_FULL when the disk is full, SQLITE_IOERR_WRITE otherwise) from the
 * call that flushed, and SQLite fails the transaction. The buffer is emptied
 * either way: what failed is never written later behind SQLite's back (the
 * frames it held are past the last commit SQLite knows of, and it writes
 * them again). A buffer that cannot be allocated is no error: the writes
 * then go straight to the file.
 *
 * Ownership: a buffer belongs to its open -wal file, allocated at the
 * file's first write and freed at xClose. Like every SQLite file, a file is
 * used by one thread at a time (its connection's); only the counters and
 * the registration are shared, and they are atomic or once-only. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_pcache.h"
#include "sqlite_wal.h"

/* Enough for the frames of a batch of several hundred reports in one
 * write; a larger transaction flushes as the buffer fills. */
#define WAL_BUF_CAP (4 << 20)
/* The most the unix VFS takes in one write: it passes pwrite the size
 * modulo 128 KiB (seekAndWriteFd asserts it is less), so that a larger
 * write ends in SQLITE_FULL. A flush is then one pwrite per 124 KiB: two for
 * a batch of 30 reports, where SQLite made a hundred. */
#define WRITE_MAX (124 << 10)
/* A WAL frame header's size; bytes 4 to 7 hold the database's size in
 * pages after a commit frame, zero in any other frame. */
#define FRAME_HDR 24

struct wal_file {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, just after this struct */
    unsigned char *buf;
    size_t len;
    sqlite3_int64 off; /* where buf[0] goes in the file */
    bool commit_page;  /* the last write was a commit frame's header */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs wal_vfs;
static atomic_uint_fast64_t n_writes, n_syscalls;

static int flush(struct wal_file *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; rc == SQLITE_OK && done < f->len; done += WRITE_MAX) {
        size_t n = f->len - done < WRITE_MAX ? f->len - done : WRITE_MAX;
        atomic_fetch_add_explicit(&n_syscalls, 1, memory_order_relaxed);
        rc =
            f->real->pMethods->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
    }
    f->len = 0;
    return rc;
}

static int wal_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    struct wal_file *f = (struct wal_file *)file;
    const unsigned char *p = data;
    bool after_commit = f->commit_page;
    atomic_fetch_add_explicit(&n_writes, 1, memory_order_relaxed);
    f->commit_page = amt == FRAME_HDR && (p[4] | p[5] | p[6] | p[7]) != 0;
    if (f->len > 0 &&
        (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)amt > WAL_BUF_CAP)) {
        int rc = flush(f);
        if (rc != SQLITE_OK) {
            f->commit_page = false;
            return rc;
        }
    }
    if (!f->buf)
        f->buf = malloc(WAL_BUF_CAP);
    if (!f->buf || amt > WRITE_MAX) {
        atomic_fetch_add_explicit(&n_syscalls, 1, memory_order_relaxed);
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    }
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += (size_t)amt;
    return after_commit ? flush(f) : SQLITE_OK;
}

static int wal_close(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);
    int closed = f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : closed;
}

static int wal_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, data, amt, off);
}

static int wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wal_sync(sqlite3_file *file, int flags)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wal_lock(sqlite3_file *file, int level)
{
    sqlite3_file *real = ((struct wal_file *)file)->real;
    return real->pMethods->xLock(real, level);
}

static int wal_unlock(sqlite3_file *file, int level)
{
    sqlite3_file *real = ((struct wal_file *)file)->real;
    return real->pMethods->xUnlock(real, level);
}

static int wal_check_reserved(sqlite3_file *file, int *out)
{
    sqlite3_file *real = ((struct wal_file *)file)->real;
    return real->pMethods->xCheckReservedLock(real, out);
}

static int wal_file_control(sqlite3_file *file, int op, void *arg)
{
    sqlite3_file *real = ((struct wal_file *)file)->real;
    return real->pMethods->xFileControl(real, op, arg);
}

static int wal_sector_size(sqlite3_file *file)
{
    sqlite3_file *real = ((struct wal_file *)file)->real;
    return real->pMethods->xSectorSize(real);
}

static int wal_device(sqlite3_file *file)
{
    sqlite3_file *real = ((struct wal_file *)file)->real;
    return real->pMethods->xDeviceCharacteristics(real);
}

/* Version 1: shared memory and memory mapping are the database file's,
 * SQLite never asks them of a WAL. */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device,
};

/* A file other than a WAL is the default VFS's own file, opened in place;
 * a WAL is the default VFS's file behind a wal_file. */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                    int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    struct wal_file *f = (struct wal_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* SQLite closes a file whose methods are set even when its open failed. */
    if (f->real->pMethods)
        file->pMethods = &wal_methods;
    return rc;
}

/* The rest of the VFS is the default VFS's, called with its own object. */
static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, lib, sym);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *lib)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, lib);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static int vfs_set_syscall(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr fn)
{
    (void)vfs;
    return real_vfs->xSetSystemCall(real_vfs, name, fn);
}

static sqlite3_syscall_ptr vfs_get_syscall(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xGetSystemCall(real_vfs, name);
}

static const char *vfs_next_syscall(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xNextSystemCall(real_vfs, name);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static enum sts_err registered = STS_EIO;

static void do_register(void)
{
    /* Memory statistics take a global mutex around every allocation of
     * every connection (about 1,000 instructions per report, callgrind);
     * nothing here reads them. Only possible before SQLite is initialised:
     * later, SQLite refuses and keeps them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* Before SQLite starts too, and no error if it cannot be: the default
     * cache works, only slower (sqlite_pcache.c). */
    (void)sqlite_pcache_install();
    if (sqlite3_initialize() != SQLITE_OK || !(real_vfs = sqlite3_vfs_find(NULL)))
        return;
    /* The same version as the default VFS (at most 3, what is written
     * here), so SQLite asks only for methods it has. */
    wal_vfs = (sqlite3_vfs){
        .iVersion = real_vfs->iVersion < 3 ? real_vfs->iVersion : 3,
        .szOsFile = (int)sizeof(struct wal_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = STS_WAL_VFS,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = vfs_dl_open,
        .xDlError = vfs_dl_error,
        .xDlSym = vfs_dl_sym,
        .xDlClose = vfs_dl_close,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_last_error,
        .xCurrentTimeInt64 = vfs_current_time_int64,
        .xSetSystemCall = vfs_set_syscall,
        .xGetSystemCall = vfs_get_syscall,
        .xNextSystemCall = vfs_next_syscall,
    };
    if (sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK)
        registered = STS_OK;
}

enum sts_err sqlite_wal_register(void)
{
    if (pthread_once(&once, do_register) != 0)
        return STS_EIO;
    return registered;
}

void sqlite_wal_stats(struct sqlite_wal_stats *out)
{
    out->writes = atomic_load_explicit(&n_writes, memory_order_relaxed);
    out->syscalls = atomic_load_explicit(&n_syscalls, memory_order_relaxed);
}
