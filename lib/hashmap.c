/* The one hash map of libsts (see sts/hashmap.h): SipHash-2-4 with a key per
 * map, linear probing over a slot array of entry indexes (0 = empty), the
 * entries, their keys and their values in arrays kept in insertion order.
 * Every allocation an insertion needs is made before anything changes, so a
 * failed insertion leaves the map as it was. */
#include "sts/hashmap.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct entry {
    uint64_t hash;
    size_t koff; /* the key's offset in keys */
    size_t klen;
};

struct sts_hashmap {
    uint8_t sipkey[16];
    size_t vsize, stride; /* value size, and that rounded up for alignment */
    size_t max;           /* most entries */
    struct entry *ent;    /* n used of cap */
    unsigned char *vals;  /* cap values of stride bytes */
    size_t n, cap;
    unsigned char *keys; /* kused used of kcap */
    size_t kused, kcap;
    uint32_t *slot; /* entry index + 1, 0 = empty; nslot a power of two */
    size_t nslot;
};

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

uint64_t sts_siphash24(const uint8_t key[static 16], const void *in, size_t len)
{
    const uint8_t *p = in;
    uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);
    uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load64_le(p + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

enum sts_err sts_hashmap_new(size_t value_size, size_t max_entries, struct sts_hashmap **out)
{
    *out = NULL;
    if (value_size == 0 || value_size > STS_HASHMAP_VALUE_MAX || max_entries > STS_HASHMAP_MAX)
        return STS_EINVAL;
    struct sts_hashmap *m = calloc(1, sizeof *m);
    if (!m)
        return STS_ENOMEM;
    size_t got = 0;
    while (got < sizeof m->sipkey) {
        ssize_t r = getrandom(m->sipkey + got, sizeof m->sipkey - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(m);
            return STS_ECRYPTO;
        }
        got += (size_t)r;
    }
    size_t align = alignof(max_align_t);
    m->vsize = value_size;
    m->stride = (value_size + align - 1) / align * align;
    m->max = max_entries ? max_entries : STS_HASHMAP_MAX;
    *out = m;
    return STS_OK;
}

void sts_hashmap_free(struct sts_hashmap *m)
{
    if (!m)
        return;
    free(m->ent);
    free(m->vals);
    free(m->keys);
    free(m->slot);
    free(m);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t probe(const struct sts_hashmap *m, uint64_t h, const void *key, size_t klen)
{
    size_t mask = m->nslot - 1, x = (size_t)h & mask;
    for (; m->slot[x]; x = (x + 1) & mask) {
        const struct entry *e = &m->ent[m->slot[x] - 1];
        if (e->hash == h && e->klen == klen &&
            (klen == 0 || memcmp(m->keys + e->koff, key, klen) == 0))
            break;
    }
    return x;
}

void *sts_hashmap_get(const struct sts_hashmap *m, const void *key, size_t klen)
{
    if (m->n == 0 || klen > STS_HASHMAP_KEY_MAX)
        return NULL;
    uint64_t h = sts_siphash24(m->sipkey, key, klen);
    size_t x = probe(m, h, key, klen);
    return m->slot[x] ? m->vals + (m->slot[x] - 1) * m->stride : NULL;
}

/* Makes room for one more entry of klen key bytes. Each array that grows is
 * replaced only once its larger copy exists, so failing changes nothing the
 * map's contents depend on. */
static enum sts_err reserve(struct sts_hashmap *m, size_t klen)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        if (cap > m->max)
            cap = m->max;
        struct entry *ent = realloc(m->ent, cap * sizeof *ent);
        if (!ent)
            return STS_ENOMEM;
        m->ent = ent; /* larger, same contents: harmless if vals fails */
        unsigned char *vals = realloc(m->vals, cap * m->stride);
        if (!vals)
            return STS_ENOMEM;
        m->vals = vals;
        m->cap = cap;
    }
    if (m->kcap == 0 || m->kcap - m->kused < klen) {
        size_t kcap = m->kcap ? m->kcap : 256;
        while (kcap - m->kused < klen)
            kcap *= 2;
        unsigned char *keys = realloc(m->keys, kcap);
        if (!keys)
            return STS_ENOMEM;
        m->keys = keys;
        m->kcap = kcap;
    }
    if (2 * (m->n + 1) > m->nslot) {
        size_t nslot = m->nslot ? 2 * m->nslot : 32;
        uint32_t *slot = calloc(nslot, sizeof *slot);
        if (!slot)
            return STS_ENOMEM;
        for (size_t i = 0; i < m->n; i++) {
            size_t x = (size_t)m->ent[i].hash & (nslot - 1);
            while (slot[x])
                x = (x + 1) & (nslot - 1);
            slot[x] = (uint32_t)i + 1;
        }
        free(m->slot);
        m->slot = slot;
        m->nslot = nslot;
    }
    return STS_OK;
}

enum sts_err sts_hashmap_put(struct sts_hashmap *m, const void *key, size_t klen, void **value,
                             bool *created)
{
    *value = NULL;
    if (klen > STS_HASHMAP_KEY_MAX)
        return STS_ETOOBIG;
    uint64_t h = sts_siphash24(m->sipkey, key, klen);
    if (m->n) {
        size_t x = probe(m, h, key, klen);
        if (m->slot[x]) {
            *value = m->vals + (m->slot[x] - 1) * m->stride;
            if (created)
                *created = false;
            return STS_OK;
        }
    }
    if (m->n == m->max)
        return STS_ETOOBIG;
    enum sts_err e = reserve(m, klen);
    if (e != STS_OK)
        return e;
    size_t x = probe(m, h, key, klen); /* the slots may have been rebuilt */
    struct entry *ent = &m->ent[m->n];
    ent->hash = h;
    ent->koff = m->kused;
    ent->klen = klen;
    if (klen)
        memcpy(m->keys + m->kused, key, klen); /* key may be NULL when klen is 0 */
    m->kused += klen;
    unsigned char *v = m->vals + m->n * m->stride;
    memset(v, 0, m->vsize);
    m->slot[x] = (uint32_t)++m->n;
    *value = v;
    if (created)
        *created = true;
    return STS_OK;
}

size_t sts_hashmap_count(const struct sts_hashmap *m)
{
    return m->n;
}

void *sts_hashmap_at(const struct sts_hashmap *m, size_t i, const void **key, size_t *klen)
{
    if (key)
        *key = m->keys + m->ent[i].koff;
    if (klen)
        *klen = m->ent[i].klen;
    return m->vals + i * m->stride;
}

void sts_hashmap_clear(struct sts_hashmap *m)
{
    if (m->n)
        memset(m->slot, 0, m->nslot * sizeof *m->slot);
    m->n = 0;
    m->kused = 0;
}
