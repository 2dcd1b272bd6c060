/* The pseudonym keyring file and HMAC-SHA256 pseudonyms of IMEIs.
 * File format (text, so an operator can see which key ids it holds):
 *   sts-pseudonym-key 2
 *   key 0a1b2c3d <64 hex digits>     one line per live key
 *   key 5e6f7a8b <64 hex digits>
 *   current 5e6f7a8b
 * The first format, still read as a keyring of one:
 *   sts-pseudonym-key 1
 *   id 0a1b2c3d
 *   secret <64 hex digits>
 */
#include "sts/pseudonym.h"

#include "sts/hex.h"
#include "sts/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A full keyring is about 660 bytes. */
#define KEY_FILE_MAX 1024

static enum sts_err write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sts_err_from_errno(errno);
        if (w == 0)
            return STS_EIO;
        buf += w;
        n -= (size_t)w;
    }
    return STS_OK;
}

static uint32_t id_from(const unsigned char b[4])
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Fills key with a fresh secret and an id that no key of ring has. */
static enum sts_err key_fresh(const struct sts_keyring *ring, struct sts_key *key)
{
    unsigned char idb[4];
    for (int tries = 0; tries < 16; tries++) {
        if (RAND_bytes(key->secret, sizeof key->secret) != 1 || RAND_bytes(idb, sizeof idb) != 1)
            return STS_ECRYPTO;
        key->id = id_from(idb);
        bool taken = false;
        for (size_t i = 0; ring && i < ring->n; i++)
            taken |= ring->key[i].id == key->id;
        if (!taken)
            return STS_OK;
    }
    return STS_ECRYPTO; /* sixteen colliding 32-bit ids: no randomness */
}

/* The text of ring in the second format; *len gets its length. */
static enum sts_err ring_text(const struct sts_keyring *ring, char *text, size_t cap, size_t *len)
{
    char hex[2 * STS_KEY_LEN + 1];
    size_t n = (size_t)snprintf(text, cap, "sts-pseudonym-key 2\n");
    for (size_t i = 0; i < ring->n && n < cap; i++) {
        sts_hex_encode(ring->key[i].secret, STS_KEY_LEN, hex);
        n += (size_t)snprintf(text + n, cap - n, "key %08x %s\n", (unsigned)ring->key[i].id, hex);
    }
    OPENSSL_cleanse(hex, sizeof hex);
    if (n < cap)
        n += (size_t)snprintf(text + n, cap - n, "current %08x\n",
                              (unsigned)ring->key[ring->current].id);
    if (n >= cap)
        return STS_ETOOBIG;
    *len = n;
    return STS_OK;
}

/* Writes text to a new file at path (O_EXCL), mode 0600, fsynced; a
 * failure leaves no file behind. */
static enum sts_err write_new(const char *path, const char *text, size_t n)
{
    enum sts_err e = STS_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sts_err_from_errno(errno);
    /* The umask could only narrow 0600, but make the mode explicit anyway. */
    if (fchmod(fd, 0600) != 0)
        e = sts_err_from_errno(errno);
    else if ((e = write_all(fd, text, n)) == STS_OK && fsync(fd) != 0)
        e = sts_err_from_errno(errno);
    close(fd);
    if (e != STS_OK)
        unlink(path); /* never leave half a key behind */
    return e;
}

enum sts_err sts_key_generate(const char *path)
{
    struct sts_keyring ring = {.n = 1, .current = 0};
    char text[KEY_FILE_MAX];
    size_t n = 0;
    enum sts_err e = key_fresh(NULL, &ring.key[0]);
    if (e == STS_OK)
        e = ring_text(&ring, text, sizeof text, &n);
    if (e == STS_OK)
        e = write_new(path, text, n);
    sts_keyring_cleanse(&ring);
    OPENSSL_cleanse(text, sizeof text);
    return e;
}

/* Parses the first format into a keyring of one. */
static enum sts_err parse_v1(char *save, struct sts_keyring *ring)
{
    char *id_line = NULL, *secret_line = NULL, *line;
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (strncmp(line, "id ", 3) == 0 && !id_line)
            id_line = line + 3;
        else if (strncmp(line, "secret ", 7) == 0 && !secret_line)
            secret_line = line + 7;
        else
            return STS_ECORRUPT;
    }
    unsigned char idb[4];
    if (!id_line || !secret_line || sts_hex_decode(id_line, strlen(id_line), idb, 4) != STS_OK ||
        sts_hex_decode(secret_line, strlen(secret_line), ring->key[0].secret, STS_KEY_LEN) !=
            STS_OK)
        return STS_ECORRUPT;
    ring->key[0].id = id_from(idb);
    ring->n = 1;
    ring->current = 0;
    return STS_OK;
}

/* Parses the second format: key lines, then exactly one current line that
 * names one of them. */
static enum sts_err parse_v2(char *save, struct sts_keyring *ring)
{
    char *line;
    bool have_current = false;
    unsigned char idb[4];
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (strncmp(line, "key ", 4) == 0 && !have_current) {
            struct sts_key *k = &ring->key[ring->n];
            if (ring->n == STS_KEYRING_MAX || strlen(line) != 4 + 8 + 1 + 2 * STS_KEY_LEN ||
                line[12] != ' ' || sts_hex_decode(line + 4, 8, idb, 4) != STS_OK ||
                sts_hex_decode(line + 13, 2 * STS_KEY_LEN, k->secret, STS_KEY_LEN) != STS_OK)
                return STS_ECORRUPT;
            k->id = id_from(idb);
            for (size_t i = 0; i < ring->n; i++)
                if (ring->key[i].id == k->id)
                    return STS_ECORRUPT;
            ring->n++;
        } else if (strncmp(line, "current ", 8) == 0 && !have_current) {
            if (strlen(line) != 8 + 8 || sts_hex_decode(line + 8, 8, idb, 4) != STS_OK)
                return STS_ECORRUPT;
            uint32_t id = id_from(idb);
            for (size_t i = 0; i < ring->n; i++)
                if (ring->key[i].id == id) {
                    ring->current = i;
                    have_current = true;
                }
            if (!have_current)
                return STS_ECORRUPT;
        } else {
            return STS_ECORRUPT;
        }
    }
    return have_current ? STS_OK : STS_ECORRUPT;
}

enum sts_err sts_keyring_load(const char *path, struct sts_keyring *ring)
{
    struct sts_secret *file = NULL;
    memset(ring, 0, sizeof *ring);
    enum sts_err e = sts_secret_file_read(path, KEY_FILE_MAX, &file);
    if (e == STS_ETOOBIG)
        return STS_ECORRUPT; /* a key file is never that large */
    if (e != STS_OK)
        return e;
    e = STS_ECORRUPT;
    char *text = file->data;
    /* A NUL would end the text early and hide whatever follows it. */
    if (memchr(text, '\0', file->len))
        goto out;
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (line && strcmp(line, "sts-pseudonym-key 1") == 0)
        e = parse_v1(save, ring);
    else if (line && strcmp(line, "sts-pseudonym-key 2") == 0)
        e = parse_v2(save, ring);
out:
    if (e != STS_OK)
        sts_keyring_cleanse(ring);
    sts_secret_free(file);
    return e;
}

enum sts_err sts_key_load(const char *path, struct sts_key *key)
{
    struct sts_keyring ring;
    enum sts_err e = sts_keyring_load(path, &ring);
    if (e == STS_OK)
        *key = ring.key[ring.current];
    sts_keyring_cleanse(&ring);
    return e;
}

/* Replaces the file at path by ring's text: written beside it, fsynced,
 * renamed over it, and the directory fsynced so the rename is durable. */
static enum sts_err ring_replace(const char *path, const struct sts_keyring *ring)
{
    char text[KEY_FILE_MAX], tmp[4096], dir[4096];
    size_t n = 0;
    enum sts_err e = ring_text(ring, text, sizeof text, &n);
    if (e != STS_OK)
        goto out;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.new", path) >= sizeof tmp) {
        e = STS_ETOOBIG;
        goto out;
    }
    unlink(tmp); /* left by a crash between write and rename: never current */
    if ((e = write_new(tmp, text, n)) != STS_OK)
        goto out;
    if (rename(tmp, path) != 0) {
        e = sts_err_from_errno(errno);
        unlink(tmp);
        goto out;
    }
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            e = sts_err_from_errno(errno);
        close(dfd);
    }
out:
    OPENSSL_cleanse(text, sizeof text);
    return e;
}

enum sts_err sts_keyring_rotate(const char *path, uint32_t *new_id)
{
    struct sts_keyring ring;
    enum sts_err e = sts_keyring_load(path, &ring);
    if (e != STS_OK)
        return e;
    if (ring.n == STS_KEYRING_MAX) {
        e = STS_ETOOBIG;
        goto out;
    }
    if ((e = key_fresh(&ring, &ring.key[ring.n])) != STS_OK)
        goto out;
    ring.current = ring.n++;
    if ((e = ring_replace(path, &ring)) == STS_OK && new_id)
        *new_id = ring.key[ring.current].id;
out:
    sts_keyring_cleanse(&ring);
    return e;
}

enum sts_err sts_keyring_retire(const char *path, uint32_t id)
{
    struct sts_keyring ring;
    enum sts_err e = sts_keyring_load(path, &ring);
    if (e != STS_OK)
        return e;
    size_t at = ring.n;
    for (size_t i = 0; i < ring.n; i++)
        if (ring.key[i].id == id)
            at = i;
    if (at == ring.n) {
        e = STS_ENOENT;
        goto out;
    }
    if (at == ring.current) {
        e = STS_EINVAL;
        goto out;
    }
    uint32_t current = ring.key[ring.current].id;
    memmove(&ring.key[at], &ring.key[at + 1], (ring.n - at - 1) * sizeof ring.key[0]);
    ring.n--;
    OPENSSL_cleanse(&ring.key[ring.n], sizeof ring.key[0]);
    for (size_t i = 0; i < ring.n; i++)
        if (ring.key[i].id == current)
            ring.current = i;
    e = ring_replace(path, &ring);
out:
    sts_keyring_cleanse(&ring);
    return e;
}

void sts_keyring_cleanse(struct sts_keyring *ring)
{
    OPENSSL_cleanse(ring, sizeof *ring);
}

const struct sts_key *sts_keyring_current(const struct sts_keyring *ring)
{
    return &ring->key[ring->current];
}

void sts_key_cleanse(struct sts_key *key)
{
    OPENSSL_cleanse(key, sizeof *key);
}

enum sts_err sts_pseudonym(const struct sts_key *key, const char *imei,
                           unsigned char out[static STS_PSEUDONYM_LEN])
{
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key->secret, STS_KEY_LEN, (const unsigned char *)imei, strlen(imei),
              out, &len) ||
        len != STS_PSEUDONYM_LEN)
        return STS_ECRYPTO;
    return STS_OK;
}

/* Copies of a keyed context kept for reuse, per key. A copy costs OpenSSL
 * about ten allocations (the MAC, the HMAC and its three digest contexts);
 * re-initialising a used one with the key it holds (EVP_MAC_init with no
 * key) costs one, so each call takes a spare, and gives it back. */
#define SPARES 8

struct sts_pseudonymizer {
    size_t n; /* keys; [0] is the current one */
    uint32_t id[STS_KEYRING_MAX];
    EVP_MAC_CTX *keyed[STS_KEYRING_MAX]; /* HMAC-SHA256 after EVP_MAC_init with the key */
    /* Mutable behind the const of the compute calls: a cache, not state. */
    pthread_mutex_t lock;
    EVP_MAC_CTX *spare[STS_KEYRING_MAX][SPARES];
    size_t n_spare[STS_KEYRING_MAX];
};

/* Keys one more context of p with key. */
static enum sts_err keyed_add(struct sts_pseudonymizer *p, const struct sts_key *key)
{
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *c = NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(c = EVP_MAC_CTX_new(mac)) ||
        !EVP_MAC_init(c, key->secret, STS_KEY_LEN, params)) {
        EVP_MAC_CTX_free(c);
        EVP_MAC_free(mac);
        return STS_ECRYPTO;
    }
    EVP_MAC_free(mac); /* the context keeps its own reference */
    p->id[p->n] = key->id;
    p->keyed[p->n++] = c;
    return STS_OK;
}

static struct sts_pseudonymizer *pseudonymizer_alloc(void)
{
    struct sts_pseudonymizer *p = calloc(1, sizeof *p);
    if (p && pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

enum sts_err sts_pseudonymizer_new(const struct sts_key *key, struct sts_pseudonymizer **out)
{
    struct sts_pseudonymizer *p = pseudonymizer_alloc();
    if (!p)
        return STS_ENOMEM;
    if (keyed_add(p, key) != STS_OK) {
        sts_pseudonymizer_free(p);
        return STS_ECRYPTO;
    }
    *out = p;
    return STS_OK;
}

enum sts_err sts_pseudonymizer_new_ring(const struct sts_keyring *ring,
                                        struct sts_pseudonymizer **out)
{
    struct sts_pseudonymizer *p = pseudonymizer_alloc();
    if (!p)
        return STS_ENOMEM;
    enum sts_err e = keyed_add(p, sts_keyring_current(ring));
    for (size_t i = 0; e == STS_OK && i < ring->n; i++)
        if (i != ring->current)
            e = keyed_add(p, &ring->key[i]);
    if (e != STS_OK) {
        sts_pseudonymizer_free(p);
        return e;
    }
    *out = p;
    return STS_OK;
}

void sts_pseudonymizer_free(struct sts_pseudonymizer *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        EVP_MAC_CTX_free(p->keyed[i]); /* OpenSSL wipes the key schedule */
        for (size_t k = 0; k < p->n_spare[i]; k++)
            EVP_MAC_CTX_free(p->spare[i][k]);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* The HMAC of imei under p's key i, on a spare copy of its keyed context
 * (a new copy when none is spare). */
static enum sts_err keyed_compute(const struct sts_pseudonymizer *cp, size_t i, const char *imei,
                                  unsigned char out[static STS_PSEUDONYM_LEN])
{
    struct sts_pseudonymizer *p = (struct sts_pseudonymizer *)cp; /* allocated, never const */
    EVP_MAC_CTX *c = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->n_spare[i] > 0)
        c = p->spare[i][--p->n_spare[i]];
    pthread_mutex_unlock(&p->lock);
    bool reused = c != NULL;
    if (!c)
        c = EVP_MAC_CTX_dup(p->keyed[i]);
    size_t len = 0;
    enum sts_err e = STS_ECRYPTO;
    /* A reused copy is finalised: started again with the key it holds. */
    if (c && (!reused || EVP_MAC_init(c, NULL, 0, NULL)) &&
        EVP_MAC_update(c, (const unsigned char *)imei, strlen(imei)) &&
        EVP_MAC_final(c, out, &len, STS_PSEUDONYM_LEN) && len == STS_PSEUDONYM_LEN)
        e = STS_OK;
    if (!c)
        return e;
    if (e == STS_OK) {
        pthread_mutex_lock(&p->lock);
        if (p->n_spare[i] < SPARES) {
            p->spare[i][p->n_spare[i]++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&p->lock);
    }
    EVP_MAC_CTX_free(c); /* one that failed is not kept */
    return e;
}

enum sts_err sts_pseudonymizer_compute(const struct sts_pseudonymizer *p, const char *imei,
                                       unsigned char out[static STS_PSEUDONYM_LEN])
{
    return keyed_compute(p, 0, imei, out);
}

enum sts_err sts_pseudonymizer_compute_all(const struct sts_pseudonymizer *p, const char *imei,
                                           struct sts_pseudonyms *out)
{
    out->n = 0;
    for (size_t i = 0; i < p->n; i++) {
        enum sts_err e = keyed_compute(p, i, imei, out->p[i]);
        if (e != STS_OK)
            return e;
        out->key_id[i] = p->id[i];
    }
    out->n = p->n;
    return STS_OK;
}
