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

/* Creates path (which must not exist) holding a fresh 256-bit key and a random
 * key id, mode 0600, fsynced. Errors: STS_EEXIST, STS_ENOENT (no such
 * directory), STS_EACCES, STS_ENOSPC, STS_EIO, STS_ECRYPTO. */
enum sts_err sts_key_generate(const char *path);

/* Loads a key file written by sts_key_generate, read as a secret file
 * (sts/secret.h): refuses anything but a regular file with no access for
 * group or others (STS_EPERM), and a malformed one (STS_ECORRUPT).
 * Errors: STS_ENOENT, STS_EACCES, STS_EIO, STS_EPERM, STS_ECORRUPT, STS_ENOMEM. */
enum sts_err sts_key_load(const char *path, struct sts_key *key);

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

/* Same result as sts_pseudonym() with the key p was made from. Thread-safe:
 * the keyed state is only read, each call works on its own copy.
 * Errors: STS_ECRYPTO. */
enum sts_err sts_pseudonymizer_compute(const struct sts_pseudonymizer *p, const char *imei,
                                       unsigned char out[static STS_PSEUDONYM_LEN]);

#endif
