/* Unit tests of sts/hashmap.h: SipHash-2-4 against the vectors of its paper,
 * the map against a plain array on many keys (growth, insertion order, clear
 * and reuse), keys of any bytes, value alignment, the entry cap and the
 * failure contract (a failed insertion changes nothing). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/hashmap.h"

static void test_siphash_vectors(void **state)
{
    (void)state;
    /* Aumasson and Bernstein, "SipHash: a fast short-input PRF", appendix A:
     * key 00 01 .. 0f, message 00 01 .. 0e. */
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    assert_int_equal(sts_siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
    /* The first and last entries of the reference implementation's table
     * (vectors.h), messages of 0 and 63 bytes, read as little-endian. */
    assert_int_equal(sts_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
    assert_int_equal(sts_siphash24(key, msg, 63), 0x958a324ceb064572ull);
}

struct tally {
    int64_t count;
    int64_t sum;
};

static void test_many_keys(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct sts_hashmap *m;
    assert_int_equal(sts_hashmap_new(sizeof(struct tally), 0, &m), STS_OK);
    assert_int_equal(sts_hashmap_count(m), 0);
    assert_null(sts_hashmap_get(m, "x", 1));
    for (int round = 0; round < 2; round++) {
        /* Each key i is added (i % 3) + 1 times, in an interleaved order. */
        for (int rep = 0; rep < 3; rep++)
            for (int i = 0; i < N; i++) {
                if (rep > i % 3)
                    continue;
                char k[32];
                int kl = snprintf(k, sizeof k, "model-%d", i);
                struct tally *t;
                bool created;
                assert_int_equal(sts_hashmap_put(m, k, (size_t)kl, (void **)&t, &created), STS_OK);
                assert_int_equal(created, rep == 0);
                if (created)
                    assert_int_equal(t->count, 0); /* zeroed */
                t->count++;
                t->sum += i;
            }
        assert_int_equal(sts_hashmap_count(m), N);
        for (int i = 0; i < N; i++) {
            char k[32];
            int kl = snprintf(k, sizeof k, "model-%d", i);
            const void *key;
            size_t klen;
            struct tally *t = sts_hashmap_at(m, (size_t)i, &key, &klen); /* insertion order */
            assert_int_equal(klen, (size_t)kl);
            assert_memory_equal(key, k, klen);
            assert_int_equal(t->count, i % 3 + 1);
            assert_int_equal(t->sum, (int64_t)i * (i % 3 + 1));
            assert_ptr_equal(sts_hashmap_get(m, k, (size_t)kl), t);
        }
        assert_null(sts_hashmap_get(m, "model-", 6));
        assert_null(sts_hashmap_get(m, "model-20000", 11));
        sts_hashmap_clear(m); /* the second round reuses the memory */
        assert_int_equal(sts_hashmap_count(m), 0);
        assert_null(sts_hashmap_get(m, "model-1", 7));
    }
    sts_hashmap_free(m);
    sts_hashmap_free(NULL);
}

/* Keys are bytes, not C strings: NULs inside, prefixes, the empty key. */
static void test_binary_keys(void **state)
{
    (void)state;
    struct sts_hashmap *m;
    void *v;
    bool created;
    static const char *const keys[] = {"", "a", "a\0", "a\0b", "\0", "\0\0", "ab"};
    static const size_t lens[] = {0, 1, 2, 3, 1, 2, 2};
    assert_int_equal(sts_hashmap_new(sizeof(void *), 0, &m), STS_OK);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(sts_hashmap_put(m, keys[i], lens[i], &v, &created), STS_OK);
        assert_true(created);
        *(const char **)v = keys[i]; /* a pointer value, the caller's */
    }
    assert_int_equal(sts_hashmap_count(m), 7);
    for (size_t i = 0; i < 7; i++) {
        v = sts_hashmap_get(m, keys[i], lens[i]);
        assert_non_null(v);
        assert_ptr_equal(*(const char **)v, keys[i]);
    }
    assert_int_equal(sts_hashmap_put(m, NULL, 0, &v, &created), STS_OK);
    assert_false(created);
    sts_hashmap_free(m);
}

static void test_alignment(void **state)
{
    (void)state;
    struct sts_hashmap *m;
    void *v;
    assert_int_equal(sts_hashmap_new(3, 0, &m), STS_OK);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sts_hashmap_put(m, &i, sizeof i, &v, NULL), STS_OK);
        assert_int_equal((uintptr_t)v % alignof(max_align_t), 0);
        memset(v, 0xee, 3);
    }
    sts_hashmap_free(m);
}

static void test_limits(void **state)
{
    (void)state;
    struct sts_hashmap *m;
    void *v = &v;
    bool created;
    assert_int_equal(sts_hashmap_new(0, 0, &m), STS_EINVAL);
    assert_null(m);
    assert_int_equal(sts_hashmap_new(STS_HASHMAP_VALUE_MAX + 1, 0, &m), STS_EINVAL);
    assert_int_equal(sts_hashmap_new(8, (size_t)STS_HASHMAP_MAX + 1, &m), STS_EINVAL);

    /* At the cap, new keys are refused and the map is unchanged; known keys
     * are still found and updated. */
    assert_int_equal(sts_hashmap_new(8, 100, &m), STS_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sts_hashmap_put(m, &i, sizeof i, &v, NULL), STS_OK);
    int extra = 100;
    assert_int_equal(sts_hashmap_put(m, &extra, sizeof extra, &v, &created), STS_ETOOBIG);
    assert_null(v);
    assert_int_equal(sts_hashmap_count(m), 100);
    assert_null(sts_hashmap_get(m, &extra, sizeof extra));
    int known = 42;
    assert_int_equal(sts_hashmap_put(m, &known, sizeof known, &v, &created), STS_OK);
    assert_false(created);

    /* A key over the cap on key length. */
    char *big = calloc(1, STS_HASHMAP_KEY_MAX + 1);
    assert_non_null(big);
    assert_int_equal(sts_hashmap_put(m, big, STS_HASHMAP_KEY_MAX + 1, &v, NULL), STS_ETOOBIG);
    assert_null(sts_hashmap_get(m, big, STS_HASHMAP_KEY_MAX + 1));
    sts_hashmap_clear(m);
    assert_int_equal(sts_hashmap_put(m, big, STS_HASHMAP_KEY_MAX, &v, &created), STS_OK);
    assert_true(created);
    free(big);
    sts_hashmap_free(m);
}

/* Two maps hash the same key differently: each has its own SipHash key, so
 * collisions found against one map (or one run) are worth nothing against
 * another. */
static void test_keyed(void **state)
{
    (void)state;
    uint8_t k1[16] = {0}, k2[16] = {1};
    assert_int_not_equal(sts_siphash24(k1, "model", 5), sts_siphash24(k2, "model", 5));
    struct sts_hashmap *a, *b;
    assert_int_equal(sts_hashmap_new(8, 0, &a), STS_OK);
    assert_int_equal(sts_hashmap_new(8, 0, &b), STS_OK);
    /* Insertion order is the walking order whatever the key: same in both. */
    for (int i = 0; i < 1000; i++) {
        void *v;
        assert_int_equal(sts_hashmap_put(a, &i, sizeof i, &v, NULL), STS_OK);
        assert_int_equal(sts_hashmap_put(b, &i, sizeof i, &v, NULL), STS_OK);
    }
    for (size_t i = 0; i < 1000; i++) {
        const void *ka, *kb;
        sts_hashmap_at(a, i, &ka, NULL);
        sts_hashmap_at(b, i, &kb, NULL);
        assert_memory_equal(ka, kb, sizeof(int));
    }
    sts_hashmap_free(a);
    sts_hashmap_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors), cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_binary_keys),     cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_limits),          cmocka_unit_test(test_keyed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
