/* The pseudonym key file and HMAC-SHA256 pseudonyms of IMEIs.
 * File format (text, so an operator can see which key id it holds):
 *   sts-pseudonym-key 1
 *   id 0a1b2c3d
 *   secret <64 hex digits>
 */
#include "sts/pseudonym.h"

#include "sts/hex.h"
#include "sts/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 512

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

enum sts_err sts_key_generate(const char *path)
{
    struct sts_key key;
    unsigned char idb[4];
    char secret_hex[2 * STS_KEY_LEN + 1];
    char text[KEY_FILE_MAX];
    enum sts_err e = STS_ECRYPTO;
    int fd = -1;

    if (RAND_bytes(key.secret, sizeof key.secret) != 1 || RAND_bytes(idb, sizeof idb) != 1)
        goto out;
    key.id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
    sts_hex_encode(key.secret, sizeof key.secret, secret_hex);
    int n = snprintf(text, sizeof text, "sts-pseudonym-key 1\nid %08x\nsecret %s\n",
                     (unsigned)key.id, secret_hex);

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = sts_err_from_errno(errno);
        goto out;
    }
    /* The umask could only narrow 0600, but make the mode explicit anyway. */
    if (fchmod(fd, 0600) != 0)
        e = sts_err_from_errno(errno);
    else if ((e = write_all(fd, text, (size_t)n)) == STS_OK && fsync(fd) != 0)
        e = sts_err_from_errno(errno);
    if (e != STS_OK) {
        unlink(path); /* never leave half a key behind */
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    OPENSSL_cleanse(&key, sizeof key);
    OPENSSL_cleanse(secret_hex, sizeof secret_hex);
    OPENSSL_cleanse(text, sizeof text);
    return e;
}

enum sts_err sts_key_load(const char *path, struct sts_key *key)
{
    struct sts_secret *file = NULL;
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

    char *id_line = NULL, *secret_line = NULL, *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, "sts-pseudonym-key 1") != 0)
        goto out;
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (strncmp(line, "id ", 3) == 0 && !id_line)
            id_line = line + 3;
        else if (strncmp(line, "secret ", 7) == 0 && !secret_line)
            secret_line = line + 7;
        else
            goto out;
    }
    unsigned char idb[4];
    if (!id_line || !secret_line || sts_hex_decode(id_line, strlen(id_line), idb, 4) != STS_OK ||
        sts_hex_decode(secret_line, strlen(secret_line), key->secret, STS_KEY_LEN) != STS_OK) {
        OPENSSL_cleanse(key->secret, sizeof key->secret);
        goto out;
    }
    key->id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
    e = STS_OK;
out:
    sts_secret_free(file);
    return e;
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

struct sts_pseudonymizer {
    EVP_MAC_CTX *keyed; /* HMAC-SHA256 after EVP_MAC_init with the key */
};

enum sts_err sts_pseudonymizer_new(const struct sts_key *key, struct sts_pseudonymizer **out)
{
    struct sts_pseudonymizer *p = calloc(1, sizeof *p);
    EVP_MAC *mac = NULL;
    if (!p)
        return STS_ENOMEM;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(p->keyed = EVP_MAC_CTX_new(mac)) ||
        !EVP_MAC_init(p->keyed, key->secret, STS_KEY_LEN, params)) {
        EVP_MAC_free(mac);
        sts_pseudonymizer_free(p);
        return STS_ECRYPTO;
    }
    EVP_MAC_free(mac); /* the context keeps its own reference */
    *out = p;
    return STS_OK;
}

void sts_pseudonymizer_free(struct sts_pseudonymizer *p)
{
    if (!p)
        return;
    EVP_MAC_CTX_free(p->keyed); /* OpenSSL wipes the key schedule */
    free(p);
}

enum sts_err sts_pseudonymizer_compute(const struct sts_pseudonymizer *p, const char *imei,
                                       unsigned char out[static STS_PSEUDONYM_LEN])
{
    size_t len = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(p->keyed);
    enum sts_err e = STS_ECRYPTO;
    if (c && EVP_MAC_update(c, (const unsigned char *)imei, strlen(imei)) &&
        EVP_MAC_final(c, out, &len, STS_PSEUDONYM_LEN) && len == STS_PSEUDONYM_LEN)
        e = STS_OK;
    EVP_MAC_CTX_free(c);
    return e;
}
