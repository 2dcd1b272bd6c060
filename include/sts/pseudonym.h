/* Device pseudonyms: HMAC-SHA256(key, IMEI), so that no raw IMEI is ever at
 * rest. The key lives in a file of its own (mode 0600), outside the database,
 * and carries a key id so that keys can rotate. A struct sts_key holds a
 * secret: wipe it with sts_key_cleanse() when done. */
#ifndef STS_PSEUDONYM_H
#define STS_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "sts/err.h"

#define STS_PSEUDONYM_LEN 32
#define STS_KEY_LEN       32

struct sts_key {
    uint32_t id; /* random, names the key in stored rows */
    unsigned char secret[STS_KEY_LEN];
};

/* A key file is a keyring: the current key, which new pseudonyms are made
 * with, and the older keys still live, under which stored rows are found
 * until they move to the current key or are folded (docs/PRIVACY.md). A
 * file of the first format (one key) is read as a keyring of one. */
#define STS_KEYRING_MAX 8

struct sts_keyring {
    size_t n;       /* 1..STS_KEYRING_MAX keys */
    size_t current; /* index of the current key */
    struct sts_key key[STS_KEYRING_MAX];
};

/* Creates path (which must not exist) holding a keyring of one fresh 256-bit
 * key and a random key id, mode 0600, fsynced. Errors: STS_EEXIST, STS_ENOENT
 * (no such directory), STS_EACCES, STS_ENOSPC, STS_EIO, STS_ECRYPTO. */
enum sts_err sts_key_generate(const char *path);

/* Loads the current key of a key file written by sts_key_generate or
 * sts_keyring_rotate (see sts_keyring_load).
 * Errors: STS_ENOENT, STS_EACCES, STS_EIO, STS_EPERM, STS_ECORRUPT, STS_ENOMEM. */
enum sts_err sts_key_load(const char *path, struct sts_key *key);

/* Loads every key of a key file, read as a secret file (sts/secret.h):
 * refuses anything but a regular file with no access for group or others
 * (STS_EPERM), and a malformed one (STS_ECORRUPT: also two keys with one id).
 * The caller wipes *ring with sts_keyring_cleanse.
 * Errors: STS_ENOENT, STS_EACCES, STS_EIO, STS_EPERM, STS_ECORRUPT, STS_ENOMEM. */
enum sts_err sts_keyring_load(const char *path, struct sts_keyring *ring);

/* Adds a fresh key with a new random id to the keyring at path and makes it
 * current; the older keys stay for look-ups. The file is rewritten
 * atomically (a new file, mode 0600, fsynced, renamed over the old one), so
 * a crash leaves either keyring. *new_id (if not NULL) gets the key's id.
 * Errors: those of sts_keyring_load, STS_ETOOBIG (STS_KEYRING_MAX keys
 * already), STS_ECRYPTO, STS_ENOSPC. */
enum sts_err sts_keyring_rotate(const char *path, uint32_t *new_id);

/* Removes the key id from the keyring at path, rewritten atomically as by
 * sts_keyring_rotate: its secret is gone from the file (not from backups of
 * it). The current key is never retired. Errors: those of sts_keyring_load,
 * STS_ENOENT (no key with that id), STS_EINVAL (it is the current key),
 * STS_ENOSPC. */
enum sts_err sts_keyring_retire(const char *path, uint32_t id);

/* Wipes every secret of ring. */
void sts_keyring_cleanse(struct sts_keyring *ring);

/* The current key of ring (borrowed from it). */
const struct sts_key *sts_keyring_current(const struct sts_keyring *ring);

/* Wipes the secret. */
void sts_key_cleanse(struct sts_key *key);

/* out = HMAC-SHA256(key->secret, imei) over the 15 IMEI digits.
 * Errors: STS_ECRYPTO. Thread-safe. */
enum sts_err sts_pseudonym(const struct sts_key *key, const char *imei,
                           unsigned char out[static STS_PSEUDONYM_LEN]);

/* A keyed HMAC-SHA256 ready for many pseudonyms: keying OpenSSL's HMAC
 * costs far more than hashing 15 digits, so it is done once here. */
struct sts_pseudonymizer;

/* Prepares key (borrowed: its secret is copied into OpenSSL's keyed state,
 * which is wiped by sts_pseudonymizer_free). Errors: STS_ECRYPTO, STS_ENOMEM. */
enum sts_err sts_pseudonymizer_new(const struct sts_key *key, struct sts_pseudonymizer **out);

/* Frees p; NULL does nothing. */
void sts_pseudonymizer_free(struct sts_pseudonymizer *p);

/* Same result as sts_pseudonym() with the key p was made from (the current
 * key of a keyring). Thread-safe: the keyed state is only read, each call
 * works on its own copy (kept for reuse). Errors: STS_ECRYPTO. */
enum sts_err sts_pseudonymizer_compute(const struct sts_pseudonymizer *p, const char *imei,
                                       unsigned char out[static STS_PSEUDONYM_LEN]);

/* Prepares every key of ring (borrowed, as by sts_pseudonymizer_new).
 * Errors: STS_ECRYPTO, STS_ENOMEM. */
enum sts_err sts_pseudonymizer_new_ring(const struct sts_keyring *ring,
                                        struct sts_pseudonymizer **out);

/* The pseudonyms of one IMEI under every key of p, the current key first. */
struct sts_pseudonyms {
    size_t n;
    uint32_t key_id[STS_KEYRING_MAX];
    unsigned char p[STS_KEYRING_MAX][STS_PSEUDONYM_LEN];
};

/* Fills *out (n = number of keys of p). Thread-safe as
 * sts_pseudonymizer_compute. Errors: STS_ECRYPTO. */
enum sts_err sts_pseudonymizer_compute_all(const struct sts_pseudonymizer *p, const char *imei,
                                           struct sts_pseudonyms *out);

#endif
