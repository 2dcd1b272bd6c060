/* One-line log messages on stderr for the servers, in the shape journald
 * reads best: one event per line, written with a single write(2) so lines
 * from several threads never interleave, and, when stderr goes to the
 * journal (systemd sets JOURNAL_STREAM) or STS_LOG_PRIORITY=1 asks for it,
 * a "<N>" syslog priority prefix as sd-daemon(3) describes. Callers never
 * pass an address or an identifier: the servers log events and counts.
 *
 * Thread-safety: sts_log_init once, before threads start; sts_log from any
 * thread. */
#ifndef STS_LOG_H
#define STS_LOG_H

#include <stdbool.h>

enum sts_log_priority {
    STS_LOG_ERR = 3,
    STS_LOG_WARNING = 4,
    STS_LOG_NOTICE = 5,
    STS_LOG_INFO = 6,
};

/* program names every line ("sts-collector: ..."); borrowed, static. The
 * priority prefix is decided here, from the environment. */
void sts_log_init(const char *program);

/* Whether lines carry the "<N>" prefix. */
bool sts_log_prefixed(void);

/* Writes "[<N>]program: message\n" (the message cut at 1000 bytes). */
void sts_log(enum sts_log_priority prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
