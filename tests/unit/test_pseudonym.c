/* Unit tests of sts/pseudonym.h: the key file (creation, rights, parsing) and
 * HMAC-SHA256 pseudonyms against a known answer. Every test works in a fresh
 * directory from mkdtemp that it removes afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sts/hex.h"
#include "sts/pseudonym.h"

/* The secret 00 01 02 .. 1f, id 0a1b2c3d, in the file format of lib/pseudonym.c. */
#define KAT_FILE                                                                                   \
    "sts-pseudonym-key 1\n"                                                                        \
    "id 0a1b2c3d\n"                                                                                \
    "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"

/* Computed once with OpenSSL's command line, independently of libsts:
 *   printf 352099001761481 | openssl dgst -sha256 -mac HMAC \
 *     -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
 * (OpenSSL 3.0.19) */
#define KAT_IMEI "352099001761481"
#define KAT_HMAC "e922fc3540183d991b8032fb13750ad612038df59b257cf74f94204c8e756db5"
/* Same key, IMEI 490154203237518. */
#define KAT_HMAC2 "95ab166176a467d6a37d9a54f4d39b080bfaf5a8f0110f48dec1ce565522b77e"

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/sts-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/pseudonym.key", f->dir);
    *state = f;
    return 0;
}

/* Removes the files the tests made (a flat directory) and the directory. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d))) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            char p[sizeof f->dir + sizeof ent->d_name + 1];
            snprintf(p, sizeof p, "%s/%s", f->dir, ent->d_name);
            unlink(p);
        }
        closedir(d);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    sts_hex_encode(in, n, out);
}

static void test_generate_and_load(void **state)
{
    (void)state;
    struct fixture *f = *state;
    mode_t old = umask(0); /* the file must be 0600 whatever the umask */
    enum sts_err e = sts_key_generate(f->path);
    umask(old);
    assert_int_equal(e, STS_OK);

    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    struct sts_key key;
    memset(&key, 0, sizeof key);
    assert_int_equal(sts_key_load(f->path, &key), STS_OK);
    static const unsigned char zero[STS_KEY_LEN];
    assert_memory_not_equal(key.secret, zero, STS_KEY_LEN);

    /* The file shows the id it holds. */
    char text[512] = {0}, want[32];
    FILE *fp = fopen(f->path, "r");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    assert_true(n > 0);
    snprintf(want, sizeof want, "\nkey %08x ", (unsigned)key.id);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "\ncurrent %08x\n", (unsigned)key.id);
    assert_non_null(strstr(text, want));
    assert_true(strncmp(text, "sts-pseudonym-key 2\n", 20) == 0);

    sts_key_cleanse(&key);
    assert_memory_equal(key.secret, zero, STS_KEY_LEN);
    assert_int_equal(key.id, 0);
}

static void test_generate_existing(void **state)
{
    (void)state;
    struct fixture *f = *state;
    assert_int_equal(sts_key_generate(f->path), STS_OK);
    struct stat before, after;
    assert_int_equal(stat(f->path, &before), 0);
    assert_int_equal(sts_key_generate(f->path), STS_EEXIST);
    assert_int_equal(stat(f->path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);

    /* An existing file of any kind is never overwritten. */
    write_file(f->path, "x", 1, 0600);
    assert_int_equal(sts_key_generate(f->path), STS_EEXIST);

    char sub[160];
    snprintf(sub, sizeof sub, "%s/no-such-dir/key", f->dir);
    assert_int_equal(sts_key_generate(sub), STS_ENOENT);
}

static void test_permissions(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct sts_key key;
    assert_int_equal(sts_key_generate(f->path), STS_OK);
    static const mode_t refused[] = {0644, 0640, 0604, 0660, 0606, 0610, 0601, 0777};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(chmod(f->path, refused[i]), 0);
        assert_int_equal(sts_key_load(f->path, &key), STS_EPERM);
    }
    assert_int_equal(chmod(f->path, 0400), 0);
    assert_int_equal(sts_key_load(f->path, &key), STS_OK);
    assert_int_equal(chmod(f->path, 0600), 0);
    assert_int_equal(sts_key_load(f->path, &key), STS_OK);
    sts_key_cleanse(&key);

    /* A directory is not a key file. */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/d", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(sts_key_load(sub, &key), STS_EPERM);
    assert_int_equal(rmdir(sub), 0);

    /* Nor is a FIFO, and opening one must not wait for a writer. */
    assert_int_equal(mkfifo(sub, 0600), 0);
    assert_int_equal(sts_key_load(sub, &key), STS_EPERM);
    assert_int_equal(unlink(sub), 0);

    /* Nor is a symbolic link, even to a good key. */
    assert_int_equal(symlink(f->path, sub), 0);
    assert_int_equal(sts_key_load(sub, &key), STS_EPERM);
    assert_int_equal(unlink(sub), 0);
}

static void test_missing(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct sts_key key;
    assert_int_equal(sts_key_load(f->path, &key), STS_ENOENT);
}

static void expect_corrupt(const char *path, const char *text, size_t n)
{
    struct sts_key key;
    write_file(path, text, n, 0600);
    enum sts_err e = sts_key_load(path, &key);
    if (e != STS_ECORRUPT)
        fail_msg("loading \"%.*s\" gave %d, expected STS_ECORRUPT", (int)n, text, (int)e);
}

static void test_malformed(void **state)
{
    (void)state;
    struct fixture *f = *state;
    static const char *const bad[] = {
        "",
        "\n",
        "sts-pseudonym-key 1\n",
        "sts-pseudonym-key 2\nid 0a1b2c3d\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "sts-pseudonym-key 1\nid 0a1b2c3d\n",
        "sts-pseudonym-key 1\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        /* truncated secret, then truncated id */
        "sts-pseudonym-key 1\nid 0a1b2c3d\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n",
        "sts-pseudonym-key 1\nid 0a1b2c3d\nsecret 0001020304",
        "sts-pseudonym-key 1\nid 0a1b\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        /* too long, not hex, doubled, unknown line */
        "sts-pseudonym-key 1\nid 0a1b2c3d\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
        "sts-pseudonym-key 1\nid 0a1b2c3d\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
        "sts-pseudonym-key 1\nid 0a1b2c3d\nid 0a1b2c3d\n"
        "secret 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        KAT_FILE "comment hello\n",
        "sts-pseudonym-key 1\nid 0a1b2c3d\n"
        "secret  000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_corrupt(f->path, bad[i], strlen(bad[i]));

    /* Every proper prefix of a good file is refused. */
    const char good[] = KAT_FILE;
    for (size_t n = 0; n + 1 < sizeof good - 1; n++)
        expect_corrupt(f->path, good, n);

    /* Bytes hidden after a NUL, and a file larger than any key file. */
    char nul[sizeof good + 8];
    memcpy(nul, good, sizeof good);
    memcpy(nul + sizeof good, "garbage", 7);
    expect_corrupt(f->path, nul, sizeof good + 7);
    char big[2048];
    memset(big, '\n', sizeof big);
    memcpy(big, good, sizeof good - 1);
    expect_corrupt(f->path, big, sizeof big);
}

static void test_known_answer(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct sts_key key;
    write_file(f->path, KAT_FILE, strlen(KAT_FILE), 0600);
    assert_int_equal(sts_key_load(f->path, &key), STS_OK);
    assert_int_equal(key.id, 0x0a1b2c3d);
    for (int i = 0; i < STS_KEY_LEN; i++)
        assert_int_equal(key.secret[i], i);

    unsigned char out[STS_PSEUDONYM_LEN];
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    assert_int_equal(sts_pseudonym(&key, KAT_IMEI, out), STS_OK);
    to_hex(out, sizeof out, hex);
    assert_string_equal(hex, KAT_HMAC);
    assert_int_equal(sts_pseudonym(&key, "490154203237518", out), STS_OK);
    to_hex(out, sizeof out, hex);
    assert_string_equal(hex, KAT_HMAC2);
    sts_key_cleanse(&key);
}

static void test_two_keys(void **state)
{
    (void)state;
    struct fixture *f = *state;
    char path2[160];
    snprintf(path2, sizeof path2, "%s/second.key", f->dir);
    struct sts_key a, b, a2;
    assert_int_equal(sts_key_generate(f->path), STS_OK);
    assert_int_equal(sts_key_generate(path2), STS_OK);
    assert_int_equal(sts_key_load(f->path, &a), STS_OK);
    assert_int_equal(sts_key_load(path2, &b), STS_OK);
    assert_int_equal(sts_key_load(f->path, &a2), STS_OK);
    assert_memory_not_equal(a.secret, b.secret, STS_KEY_LEN);

    unsigned char pa[STS_PSEUDONYM_LEN], pb[STS_PSEUDONYM_LEN], pa2[STS_PSEUDONYM_LEN];
    assert_int_equal(sts_pseudonym(&a, KAT_IMEI, pa), STS_OK);
    assert_int_equal(sts_pseudonym(&b, KAT_IMEI, pb), STS_OK);
    assert_int_equal(sts_pseudonym(&a2, KAT_IMEI, pa2), STS_OK);
    assert_memory_not_equal(pa, pb, STS_PSEUDONYM_LEN);
    assert_memory_equal(pa, pa2, STS_PSEUDONYM_LEN);

    /* Same key, another IMEI: another pseudonym. */
    assert_int_equal(sts_pseudonym(&a, "490154203237518", pb), STS_OK);
    assert_memory_not_equal(pa, pb, STS_PSEUDONYM_LEN);
    sts_key_cleanse(&a);
    sts_key_cleanse(&b);
    sts_key_cleanse(&a2);
}

/* The KAT key in the second format, as the current key after an older one
 * (secret 20 21 .. 3f, id 01020304). */
#define KAT_RING                                                                                   \
    "sts-pseudonym-key 2\n"                                                                        \
    "key 01020304 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n"              \
    "key 0a1b2c3d 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"              \
    "current 0a1b2c3d\n"

static void test_keyring_formats(void **state)
{
    struct fixture *f = *state;
    struct sts_keyring ring;
    struct sts_key key;
    /* The first format is a keyring of one. */
    write_file(f->path, KAT_FILE, strlen(KAT_FILE), 0600);
    assert_int_equal(sts_keyring_load(f->path, &ring), STS_OK);
    assert_int_equal(ring.n, 1);
    assert_int_equal(sts_keyring_current(&ring)->id, 0x0a1b2c3d);
    write_file(f->path, KAT_RING, strlen(KAT_RING), 0600);
    assert_int_equal(sts_keyring_load(f->path, &ring), STS_OK);
    assert_int_equal(ring.n, 2);
    assert_int_equal(ring.current, 1);
    assert_int_equal(ring.key[0].id, 0x01020304);
    assert_int_equal(ring.key[0].secret[0], 0x20);
    /* sts_key_load gives the current key: the known answer holds. */
    unsigned char out[STS_PSEUDONYM_LEN];
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    assert_int_equal(sts_key_load(f->path, &key), STS_OK);
    assert_int_equal(key.id, 0x0a1b2c3d);
    assert_int_equal(sts_pseudonym(&key, KAT_IMEI, out), STS_OK);
    to_hex(out, sizeof out, hex);
    assert_string_equal(hex, KAT_HMAC);
    sts_key_cleanse(&key);
    sts_keyring_cleanse(&ring);

    static const char *const bad[] = {
        "sts-pseudonym-key 2\n",
        /* no current, current naming no key, a key after current, two currents */
        "sts-pseudonym-key 2\nkey 0a1b2c3d "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "sts-pseudonym-key 2\nkey 0a1b2c3d "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\ncurrent 0a1b2c3e\n",
        KAT_RING "key 05060708 "
                 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        KAT_RING "current 0a1b2c3d\n",
        /* the same id twice, a short secret, a bad id */
        "sts-pseudonym-key 2\nkey 0a1b2c3d "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\nkey 0a1b2c3d "
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\ncurrent 0a1b2c3d\n",
        "sts-pseudonym-key 2\nkey 0a1b2c3d "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\ncurrent 0a1b2c3d\n",
        "sts-pseudonym-key 2\nkey 0a1b2c3G "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\ncurrent 0a1b2c3G\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_corrupt(f->path, bad[i], strlen(bad[i]));
    /* Every proper prefix of a good keyring is refused. */
    for (size_t n = 0; n + 1 < strlen(KAT_RING); n++)
        expect_corrupt(f->path, KAT_RING, n);
}

/* Rotation adds a current key and keeps the others; retiring removes one
 * but never the current key; each rewrite keeps mode 0600. */
static void test_keyring_rotate_retire(void **state)
{
    struct fixture *f = *state;
    struct sts_keyring ring;
    uint32_t id1, id2;
    write_file(f->path, KAT_FILE, strlen(KAT_FILE), 0600);
    assert_int_equal(sts_keyring_rotate(f->path, &id1), STS_OK);
    assert_int_equal(sts_keyring_load(f->path, &ring), STS_OK);
    assert_int_equal(ring.n, 2);
    assert_int_equal(sts_keyring_current(&ring)->id, id1);
    assert_int_equal(ring.key[0].id, 0x0a1b2c3d);
    assert_int_equal(ring.key[0].secret[31], 0x1f); /* the older key is intact */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.new", f->path);
    assert_int_equal(access(tmp, F_OK), -1);

    /* compute_all: the current key first, then the older ones. */
    struct sts_pseudonymizer *p = NULL;
    struct sts_pseudonyms all;
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    assert_int_equal(sts_pseudonymizer_new_ring(&ring, &p), STS_OK);
    assert_int_equal(sts_pseudonymizer_compute_all(p, KAT_IMEI, &all), STS_OK);
    assert_int_equal(all.n, 2);
    assert_int_equal(all.key_id[0], id1);
    assert_int_equal(all.key_id[1], 0x0a1b2c3d);
    to_hex(all.p[1], STS_PSEUDONYM_LEN, hex);
    assert_string_equal(hex, KAT_HMAC);
    assert_memory_not_equal(all.p[0], all.p[1], STS_PSEUDONYM_LEN);
    unsigned char cur[STS_PSEUDONYM_LEN];
    assert_int_equal(sts_pseudonymizer_compute(p, KAT_IMEI, cur), STS_OK);
    assert_memory_equal(cur, all.p[0], STS_PSEUDONYM_LEN);
    sts_pseudonymizer_free(p);
    sts_keyring_cleanse(&ring);

    assert_int_equal(sts_keyring_rotate(f->path, &id2), STS_OK);
    assert_int_equal(sts_keyring_retire(f->path, id2), STS_EINVAL);
    assert_int_equal(sts_keyring_retire(f->path, 0x7f7f7f7f), STS_ENOENT);
    assert_int_equal(sts_keyring_retire(f->path, 0x0a1b2c3d), STS_OK);
    assert_int_equal(sts_keyring_load(f->path, &ring), STS_OK);
    assert_int_equal(ring.n, 2);
    assert_int_equal(sts_keyring_current(&ring)->id, id2);
    assert_true(ring.key[0].id == id1 || ring.key[1].id == id1);
    sts_keyring_cleanse(&ring);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* A full keyring refuses one more key and is left as it was. */
    for (int i = 2; i < STS_KEYRING_MAX; i++)
        assert_int_equal(sts_keyring_rotate(f->path, NULL), STS_OK);
    assert_int_equal(sts_keyring_rotate(f->path, NULL), STS_ETOOBIG);
    assert_int_equal(sts_keyring_load(f->path, &ring), STS_OK);
    assert_int_equal(ring.n, STS_KEYRING_MAX);
    sts_keyring_cleanse(&ring);
}

/* The prepared HMAC gives the known answers too, call after call (each call
 * works on a copy of the keyed state, so one call cannot disturb the next). */
static void test_pseudonymizer(void **state)
{
    (void)state;
    struct fixture *f = *state;
    struct sts_key key;
    struct sts_pseudonymizer *p = NULL;
    unsigned char out[STS_PSEUDONYM_LEN];
    char hex[2 * STS_PSEUDONYM_LEN + 1];
    write_file(f->path, KAT_FILE, strlen(KAT_FILE), 0600);
    assert_int_equal(sts_key_load(f->path, &key), STS_OK);
    assert_int_equal(sts_pseudonymizer_new(&key, &p), STS_OK);
    sts_key_cleanse(&key);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(sts_pseudonymizer_compute(p, KAT_IMEI, out), STS_OK);
        to_hex(out, sizeof out, hex);
        assert_string_equal(hex, KAT_HMAC);
        assert_int_equal(sts_pseudonymizer_compute(p, "490154203237518", out), STS_OK);
        to_hex(out, sizeof out, hex);
        assert_string_equal(hex, KAT_HMAC2);
    }
    sts_pseudonymizer_free(p);
    sts_pseudonymizer_free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_generate_and_load), T(test_generate_existing),
        T(test_permissions),       T(test_missing),
        T(test_malformed),         T(test_known_answer),
        T(test_two_keys),          T(test_pseudonymizer),
        T(test_keyring_formats),   T(test_keyring_rotate_retire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
