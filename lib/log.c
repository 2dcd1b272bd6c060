/* Server log lines on stderr (see sts/log.h). */
#include "sts/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *program = "sts";
static bool prefixed;

void sts_log_init(const char *name)
{
    program = name;
    const char *force = getenv("STS_LOG_PRIORITY");
    if (force && *force)
        prefixed = strcmp(force, "0") != 0;
    else
        prefixed = getenv("JOURNAL_STREAM") != NULL;
}

bool sts_log_prefixed(void)
{
    return prefixed;
}

void sts_log(enum sts_log_priority prio, const char *fmt, ...)
{
    char line[1100];
    size_t n = 0;
    int k = prefixed ? snprintf(line, sizeof line, "<%d>%s: ", (int)prio, program)
                     : snprintf(line, sizeof line, "%s: ", program);
    if (k < 0)
        return;
    n = (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
    /* One event, one line: a newline inside would split it in the journal. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere left to report a failed log write */
}
