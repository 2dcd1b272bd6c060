/* The SIGBUS handler of sqlite_shm.h: a fault in a -shm mapping becomes one
 * log line and exit status 75, any other SIGBUS goes to the action the
 * handler replaced.
 *
 * Why not go on. A shrunk -shm leaves SQLite's pointers into the wal-index
 * pointing past the file's end; the handler could map the pages again, but
 * only as zeros. SQLite would then read a wal-index that lists fewer frames
 * than the WAL holds: a writer would read a page's older copy from the
 * database file and commit a change made to it, and a checkpoint would copy
 * only the frames still listed, then start the WAL again. Either loses
 * committed reports. Returning from the handler without a valid page faults
 * again, and the faulting thread is inside SQLite, holding its mutexes, so
 * it cannot be unwound either. Exiting loses nothing: every acknowledged
 * report is in the WAL, synced, and the next process to open the database
 * rebuilds the wal-index from it (SQLite's recovery).
 *
 * The handler finds the faulting mapping in /proc/self/maps with open, read
 * and close, writes with write and leaves with _exit: all async-signal-safe
 * (signal-safety(7)); not sts_log, which formats with vsnprintf. Its buffers are static, since it
 * runs once: it puts back the action it replaced first thing, so that a second fault, in any
 * thread, and the same fault when it is not a -shm's, get that action (the
 * default, or a sanitizer's). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_shm.h"
#include "sts/log.h"

static bool prefixed;
static struct sigaction before;
static char maps[8192];
static char path[4096];

/* Reads a hexadecimal number at *p, moving *p past it. */
static uintptr_t hex(const char **p, const char *end)
{
    uintptr_t v = 0;
    for (; *p < end; ++*p) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            break;
        v = v << 4 | (uintptr_t)d;
    }
    return v;
}

/* Whether line [p, end) of /proc/self/maps maps addr; if so, its path (the
 * sixth field, possibly with spaces and " (deleted)") goes to path. */
static bool line_maps(const char *p, const char *end, uintptr_t addr)
{
    uintptr_t lo = hex(&p, end);
    if (p >= end || *p++ != '-')
        return false;
    uintptr_t hi = hex(&p, end);
    if (addr < lo || addr >= hi)
        return false;
    for (int field = 0; field < 4; field++) { /* perms, offset, dev, inode */
        while (p < end && *p == ' ')
            p++;
        while (p < end && *p != ' ')
            p++;
    }
    while (p < end && *p == ' ')
        p++;
    size_t n = (size_t)(end - p) < sizeof path - 1 ? (size_t)(end - p) : sizeof path - 1;
    memcpy(path, p, n);
    path[n] = 0;
    return true;
}

/* Finds the mapping of addr; false if none (or /proc cannot be read). */
static bool find_mapping(uintptr_t addr)
{
    int fd;
    do
        fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return false;
    size_t have = 0;
    bool found = false;
    for (;;) {
        ssize_t r = read(fd, maps + have, sizeof maps - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        char *start = maps, *nl;
        while (!found && (nl = memchr(start, '\n', have - (size_t)(start - maps)))) {
            found = line_maps(start, nl, addr);
            start = nl + 1;
        }
        if (found)
            break;
        have -= (size_t)(start - maps);
        if (have == sizeof maps) /* a line longer than the buffer: not ours */
            have = 0;
        memmove(maps, start, have);
    }
    close(fd);
    return found;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    int saved = errno;
    sigaction(SIGBUS, &before, NULL);
    if (si->si_code <= 0) { /* sent (kill, raise), not a fault: as if unhandled */
        raise(SIGBUS);      /* delivered to that action once this returns */
        errno = saved;
        return;
    }
    if (!find_mapping((uintptr_t)si->si_addr) ||
        !(ends_with(path, "-shm") || ends_with(path, "-shm (deleted)"))) {
        errno = saved;
        return; /* the same fault again, to the action put back */
    }
    say(prefixed ? "<2>sts-collector: " : "sts-collector: ");
    say("SIGBUS in SQLite's wal-index ");
    say(path);
    say(": the file shrank, or its file system failed a page; exiting (status 75) so that a "
        "restart rebuilds it from the WAL, which holds every acknowledged report\n");
    _exit(SQLITE_SHM_EXIT);
}

enum sts_err sqlite_shm_guard(void)
{
    prefixed = sts_log_prefixed();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, &before) == 0 ? STS_OK : STS_EIO;
}
