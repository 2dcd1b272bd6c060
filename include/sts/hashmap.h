/* A hash map from byte-string keys to fixed-size values, for tallies keyed by
 * what clients send (brands, models, versions). The hash is SipHash-2-4 keyed
 * with 128 random bits drawn for each map: without that key, nobody can
 * choose keys that collide, so hostile input cannot turn lookups linear.
 * Open addressing (linear probing, load at most 1/2) over an array of entries
 * kept in insertion order, so walking the map is a loop over 0..count-1.
 *
 * Ownership: the map copies each key in when it is inserted and owns it and
 * the value storage; callers get pointers into the map, valid until the next
 * insertion, sts_hashmap_clear or sts_hashmap_free. A value may hold a
 * pointer (value_size = sizeof(void *)): what it points to stays the
 * caller's. A map is not thread-safe; distinct maps are independent. */
#ifndef STS_HASHMAP_H
#define STS_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

#define STS_HASHMAP_KEY_MAX   65536      /* longest key, bytes */
#define STS_HASHMAP_VALUE_MAX 4096       /* largest value, bytes */
#define STS_HASHMAP_MAX       (1u << 30) /* most entries of any map */

struct sts_hashmap;

/* Creates an empty map of values of value_size bytes (1..STS_HASHMAP_VALUE_MAX,
 * each aligned for any type), holding at most max_entries entries (1..
 * STS_HASHMAP_MAX; 0 means STS_HASHMAP_MAX): growth stops there rather than
 * at the end of memory. Nothing is allocated for entries until the first
 * insertion. Errors: STS_EINVAL (a size out of range), STS_ENOMEM,
 * STS_ECRYPTO (no randomness for the hash key). */
enum sts_err sts_hashmap_new(size_t value_size, size_t max_entries, struct sts_hashmap **out);

/* Frees m, its keys and values. NULL does nothing. */
void sts_hashmap_free(struct sts_hashmap *m);

/* Finds key (klen bytes of any values) and, if it is absent, inserts a copy
 * of it with a value of zero bytes. *value then points to the key's value;
 * *created (if not NULL) says whether it was just inserted. On failure the
 * map is as it was and *value is NULL.
 * Errors: STS_ETOOBIG (klen over STS_HASHMAP_KEY_MAX, or the map already
 * holds max_entries), STS_ENOMEM. */
enum sts_err sts_hashmap_put(struct sts_hashmap *m, const void *key, size_t klen, void **value,
                             bool *created);

/* The value of key, or NULL when it is absent. */
void *sts_hashmap_get(const struct sts_hashmap *m, const void *key, size_t klen);

/* The number of entries. */
size_t sts_hashmap_count(const struct sts_hashmap *m);

/* The i-th entry inserted (i < sts_hashmap_count): its key, key length and
 * value. key and klen may be NULL when not wanted. */
void *sts_hashmap_at(const struct sts_hashmap *m, size_t i, const void **key, size_t *klen);

/* Empties m and keeps its memory for the next entries (a per-transaction
 * tally reuses one map). */
void sts_hashmap_clear(struct sts_hashmap *m);

/* SipHash-2-4 of in[0..len) under the 16-byte key (the map's hash, exposed
 * for its known-answer test and for callers that need a keyed hash). */
uint64_t sts_siphash24(const uint8_t key[static 16], const void *in, size_t len);

#endif
