/* Token buckets per client address (see rate.h). The table is split into
 * shards, each with its own lock, so that the server's threads rarely wait
 * on one another; an address probes a short window of slots in its shard. */
#include "rate.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SHARDS          64
#define SLOTS_PER_SHARD 1024 /* 65,536 addresses in all */
#define WINDOW          8
#define MAX_RELAYS      16

struct slot {
    uint64_t id; /* keyed hash of the address; 0 = free */
    double tokens;
    long long last_ms;
};

struct shard {
    pthread_mutex_t lock;
    struct slot slots[SLOTS_PER_SHARD];
};

struct rate_table {
    uint64_t key[2];
    double rate, burst, relay_rate, relay_burst;
    uint8_t relays[MAX_RELAYS][16];
    size_t n_relays;
    struct shard shards[SHARDS];
};

/* An address as 16 bytes: IPv4 as its IPv4-mapped IPv6 form, so that a
 * client gets one bucket whichever way it arrives. */
static bool addr16(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool rate_client_key(const struct sockaddr *sa, uint8_t out[16])
{
    if (!addr16(sa, out)) {
        memset(out, 0, 16);
        return false;
    }
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out, mapped, sizeof mapped) != 0)
        memset(out + 8, 0, 8);
    return true;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Keyed with a random key, so that nobody can pick addresses that crowd one
 * shard, and the table holds no address. */
static uint64_t address_id(const struct rate_table *t, const uint8_t a[16])
{
    uint64_t lo, hi;
    memcpy(&lo, a, 8);
    memcpy(&hi, a + 8, 8);
    uint64_t h = mix(lo ^ t->key[0]);
    h = mix(h ^ hi ^ t->key[1]);
    return h ? h : 1;
}

static double default_burst(double burst, double rate)
{
    if (burst > 0)
        return burst;
    return rate * 2 > 1 ? rate * 2 : 1;
}

enum sts_err rate_new(const struct rate_config *cfg, struct rate_table **out, char *why,
                      size_t whylen)
{
    *out = NULL;
    if (cfg->rate <= 0 && cfg->relay_rate <= 0)
        return STS_OK;
    struct rate_table *t = calloc(1, sizeof *t);
    if (!t)
        return STS_ENOMEM;
    if (getrandom(t->key, sizeof t->key, 0) != (ssize_t)sizeof t->key) {
        free(t);
        snprintf(why, whylen, "no random key for the rate limiter");
        return STS_ECRYPTO;
    }
    t->rate = cfg->rate;
    t->burst = default_burst(cfg->burst, cfg->rate);
    t->relay_rate = cfg->relay_rate;
    t->relay_burst = default_burst(cfg->relay_burst, cfg->relay_rate);
    for (const char *p = cfg->relays; p && *p;) {
        size_t n = strcspn(p, ",");
        char text[INET6_ADDRSTRLEN];
        struct sockaddr_storage ss = {0};
        bool ok = n > 0 && n < sizeof text && t->n_relays < MAX_RELAYS;
        if (ok) {
            memcpy(text, p, n);
            text[n] = '\0';
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
                ss.ss_family = AF_INET;
            else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
                ss.ss_family = AF_INET6;
            else
                ok = false;
        }
        if (!ok) {
            snprintf(why, whylen, "relay addresses: '%.*s' is not an IP address (at most %d)",
                     (int)(n < 64 ? n : 64), p, MAX_RELAYS);
            free(t);
            return STS_EINVAL;
        }
        addr16((struct sockaddr *)&ss, t->relays[t->n_relays++]);
        p += n;
        if (*p == ',')
            p++;
    }
    for (size_t i = 0; i < SHARDS; i++) {
        if (pthread_mutex_init(&t->shards[i].lock, NULL) != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&t->shards[i].lock);
            free(t);
            return STS_ENOMEM; /* the only way it fails on Linux */
        }
    }
    *out = t;
    return STS_OK;
}

unsigned rate_take(struct rate_table *t, const struct sockaddr *sa, long long now_ms)
{
    uint8_t a[16];
    if (!t || !sa || !addr16(sa, a))
        return 0;
    double rate = t->rate, burst = t->burst;
    bool relay = false;
    for (size_t i = 0; i < t->n_relays && !relay; i++) {
        if (memcmp(t->relays[i], a, 16) == 0) {
            rate = t->relay_rate;
            burst = t->relay_burst;
            relay = true;
        }
    }
    if (rate <= 0)
        return 0;
    /* A relay keeps a bucket of its own, apart from its /64 neighbours. */
    if (!relay)
        rate_client_key(sa, a);
    uint64_t id = address_id(t, a);
    struct shard *sh = &t->shards[id % SHARDS];
    size_t base = (size_t)((id / SHARDS) % SLOTS_PER_SHARD);
    unsigned wait = 0;
    pthread_mutex_lock(&sh->lock);
    struct slot *s = NULL, *free_slot = NULL, *idle = NULL, *oldest = NULL;
    for (size_t i = 0; i < WINDOW; i++) {
        struct slot *c = &sh->slots[(base + i) % SLOTS_PER_SHARD];
        if (c->id == id) {
            s = c;
            break;
        }
        if (!c->id) {
            free_slot = free_slot ? free_slot : c;
            continue;
        }
        /* A full bucket can be forgotten: it would be full again anyway. */
        if (!idle && (double)(now_ms - c->last_ms) * rate / 1000.0 >= burst)
            idle = c;
        if (!oldest || c->last_ms < oldest->last_ms)
            oldest = c;
    }
    if (!s) {
        s = free_slot ? free_slot : idle ? idle : oldest;
        s->id = id;
        s->tokens = burst;
        s->last_ms = now_ms;
    }
    double tokens = s->tokens + (double)(now_ms - s->last_ms) * rate / 1000.0;
    if (tokens > burst)
        tokens = burst;
    s->last_ms = now_ms;
    if (tokens >= 1) {
        s->tokens = tokens - 1;
    } else {
        s->tokens = tokens;
        wait = (unsigned)ceil((1 - tokens) / rate);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&sh->lock);
    return wait;
}

void rate_free(struct rate_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&t->shards[i].lock);
    free(t);
}
