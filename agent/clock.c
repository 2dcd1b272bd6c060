/* The agent's clock, injectable for tests, and its randomness. See clock.h. */
#include "clock.h"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>

#include "sts/clock.h"
#include "sts/date.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool injected;
static int64_t injected_base_ms; /* the injected time at the first reading */
static int64_t mono_base_ms;     /* the monotonic time then */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* STS_AGENT_NOW comes through the one test-clock seam (sts/clock.h); the
 * monotonic base is taken at the first reading so that sleeps advance it. */
static void init(void)
{
    int64_t s;
    if (!sts_clock_injected_time(&s))
        return;
    injected = true;
    injected_base_ms = s * 1000;
    mono_base_ms = mono_ms();
}

bool agent_clock_injected(void)
{
    pthread_once(&once, init);
    return injected;
}

int64_t agent_now_ms(void)
{
    pthread_once(&once, init);
    if (injected)
        return injected_base_ms + (mono_ms() - mono_base_ms);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int32_t agent_today(int64_t now_ms)
{
    int32_t day;
    if (!agent_clock_injected() && sts_clock_fixed_day(&day))
        return day;
    return (int32_t)floor_div(now_ms, AGENT_DAY_MS);
}

int32_t agent_month_of(int64_t t_ms)
{
    return sts_day_month((int32_t)floor_div(t_ms, AGENT_DAY_MS));
}

int64_t agent_month_start_ms(int32_t month)
{
    return (int64_t)sts_month_first_day(month) * AGENT_DAY_MS;
}

uint64_t agent_random64(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
        return r;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ts.tv_sec;
}
