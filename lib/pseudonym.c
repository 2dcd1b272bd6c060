/* The pseudonym key file and HMAC-SHA256 pseudonyms of IMEIs.
 * File format (text, so an operator can see which key id it holds):
 *   sts-pseudonym-key 1
 *   id 0a1b2c3d
 *   secret <64 hex digits>
 */
#include "sts/pseudonym.h"

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

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool hex_decode(const char *in, size_t len, unsigned char *out, size_t n)
{
    if (len != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_nibble(in[2 * i]), lo = hex_nibble(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static enum sts_err write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
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
    hex_encode(key.secret, sizeof key.secret, secret_hex);
    int n = snprintf(text, sizeof text, "sts-pseudonym-key 1\nid %08x\nsecret %s\n",
                     (unsigned)key.id, secret_hex);

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = errno == EEXIST ? STS_EEXIST : STS_EIO;
        goto out;
    }
    /* The umask could only narrow 0600, but make the mode explicit anyway. */
    if (fchmod(fd, 0600) != 0 || (e = write_all(fd, text, (size_t)n)) != STS_OK || fsync(fd) != 0) {
        e = STS_EIO;
        unlink(path);
        goto out;
    }
    e = STS_OK;
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
    char text[KEY_FILE_MAX + 1];
    enum sts_err e = STS_EIO;
    struct stat st;
    ssize_t n;
    /* O_NONBLOCK: opening a FIFO put in the key's place must not hang; it is
     * refused below like anything that is not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? STS_ENOENT : STS_EIO;
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        e = STS_EPERM;
        goto out;
    }
    /* read() may return less than asked (signals, some file systems): loop to EOF. */
    n = 0;
    while (n <= KEY_FILE_MAX) {
        ssize_t r = read(fd, text + n, (size_t)(KEY_FILE_MAX + 1 - n));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        n += r;
    }
    e = STS_ECORRUPT;
    /* A NUL would end the text early and hide whatever follows it. */
    if (n > KEY_FILE_MAX || memchr(text, '\0', (size_t)n))
        goto out;
    text[n] = '\0';

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
    if (!id_line || !secret_line || !hex_decode(id_line, strlen(id_line), idb, 4) ||
        !hex_decode(secret_line, strlen(secret_line), key->secret, STS_KEY_LEN)) {
        OPENSSL_cleanse(key->secret, sizeof key->secret);
        goto out;
    }
    key->id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
    e = STS_OK;
out:
    OPENSSL_cleanse(text, sizeof text);
    close(fd);
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
