/* The test-clock seam (see sts/clock.h): the environment read once into
 * statics, behind pthread_once so that a getter called first is safe too. */
#include "sts/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "sts/date.h"

#define BUSY_TIMEOUT_DEFAULT_MS 10000

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct {
    bool day_fixed, time_injected;
    int32_t day;
    int64_t seconds;
    int busy_ms;
    enum sts_err status;
    char bad[64]; /* the malformed variable, for sts_clock_init's why */
} env;

static const char *value(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool integer(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static void bad(const char *name)
{
    if (env.status == STS_OK)
        snprintf(env.bad, sizeof env.bad, "%s", name);
    env.status = STS_EINVAL;
}

static void load(void)
{
    const char *v;
    long long n;
    env.day_fixed = env.time_injected = false;
    env.busy_ms = BUSY_TIMEOUT_DEFAULT_MS;
    env.status = STS_OK;
    env.bad[0] = '\0';
    if ((v = value("STS_NOW_DAY"))) {
        if (sts_day_parse(v, &env.day) == STS_OK)
            env.day_fixed = true;
        else
            bad("STS_NOW_DAY (YYYY-MM-DD)");
    }
    if ((v = value("STS_AGENT_NOW"))) {
        if (integer(v, 0, 253402300799LL, &n)) {
            env.seconds = n;
            env.time_injected = true;
        } else {
            bad("STS_AGENT_NOW (seconds since the epoch)");
        }
    }
    if ((v = value("STS_SQLITE_BUSY_TIMEOUT_MS"))) {
        if (integer(v, 0, 600000, &n))
            env.busy_ms = (int)n;
        else
            bad("STS_SQLITE_BUSY_TIMEOUT_MS (0..600000)");
    }
}

enum sts_err sts_clock_init(char *why, size_t whylen)
{
    pthread_once(&once, load);
    if (env.status != STS_OK && why)
        snprintf(why, whylen, "malformed %s in the environment", env.bad);
    return env.status;
}

bool sts_clock_fixed_day(int32_t *day)
{
    pthread_once(&once, load);
    if (env.day_fixed)
        *day = env.day;
    return env.day_fixed;
}

bool sts_clock_injected_time(int64_t *seconds)
{
    pthread_once(&once, load);
    if (env.time_injected)
        *seconds = env.seconds;
    return env.time_injected;
}

int sts_clock_busy_timeout_ms(void)
{
    pthread_once(&once, load);
    return env.busy_ms;
}

void sts_clock_reload(void)
{
    pthread_once(&once, load);
    load();
}
