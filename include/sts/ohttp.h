/* Oblivious HTTP (RFC 9458) over HPKE (hpke.h): key configurations and the
 * application/ohttp-keys list, request encapsulation by the agent (client),
 * decapsulation and response encapsulation by the collector (gateway), and
 * the gateway's private key file.
 *
 * Ownership: objects returned through out-parameters belong to the caller and
 * are released with their _free function (NULL accepted); input buffers are
 * borrowed. sts_ohttp_gateway_add_key consumes its key on success only. Private
 * keys are wiped (OPENSSL_cleanse) when freed and after every serialisation
 * this module does itself.
 *
 * Thread-safety: a gateway may serve sts_ohttp_gateway_decap from many threads
 * at once, provided keys are not added or removed meanwhile; client and
 * response contexts belong to one request and one thread.
 *
 * Errors used throughout: STS_EINVAL malformed input, STS_ETOOBIG over a hard
 * cap or output buffer too small (the size needed is then in the length
 * out-parameter where there is one), STS_ENOENT unknown key id,
 * STS_EUNSUPPORTED an algorithm we do not implement or a suite the key does not
 * offer, STS_ECRYPTO failed decryption or authentication, STS_ENOMEM. */
#ifndef STS_OHTTP_H
#define STS_OHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"
#include "sts/hpke.h"

#define STS_OHTTP_MAX_SUITES       16            /* (kdf, aead) pairs kept per key config */
#define STS_OHTTP_HEADER_LEN       7             /* key_id, kem_id, kdf_id, aead_id */
#define STS_OHTTP_MAX_MESSAGE      (1024 * 1024) /* encapsulated request or response */
#define STS_OHTTP_MAX_KEYS_LIST    4096          /* an application/ohttp-keys body */
#define STS_OHTTP_KEY_FILE_MAX     1024          /* a private key file */
#define STS_OHTTP_MAX_GATEWAY_KEYS 2             /* current and previous (rotation) */

/* Encapsulated sizes for DHKEM(X25519) and a 16-byte-tag AEAD. */
#define STS_OHTTP_REQUEST_OVERHEAD  (STS_OHTTP_HEADER_LEN + STS_HPKE_NENC + STS_HPKE_NT)
#define STS_OHTTP_RESPONSE_OVERHEAD (STS_HPKE_MAX_NK + STS_HPKE_NT) /* at most */

struct sts_ohttp_suite {
    uint16_t kdf_id;
    uint16_t aead_id;
};

/* One key configuration (RFC 9458, section 3.1). Only KEM
 * DHKEM(X25519, HKDF-SHA256) is representable, so the key is 32 bytes. */
struct sts_ohttp_key_config {
    uint8_t key_id;
    uint16_t kem_id;
    uint8_t public_key[STS_HPKE_NPK];
    size_t n_suites;
    struct sts_ohttp_suite suites[STS_OHTTP_MAX_SUITES];
};

/* ---- Key configurations -------------------------------------------------- */

/* Encodes one key configuration (no length prefix) into buf.
 * Errors: STS_EINVAL (no suites, or kem not X25519), STS_ETOOBIG. */
enum sts_err sts_ohttp_key_config_encode(const struct sts_ohttp_key_config *cfg, uint8_t *buf,
                                         size_t cap, size_t *len);

/* Decodes exactly one key configuration filling buf[0..len).
 * Errors: STS_EINVAL (malformed, trailing bytes), STS_EUNSUPPORTED (KEM other
 * than X25519), STS_ETOOBIG (more than STS_OHTTP_MAX_SUITES pairs). */
enum sts_err sts_ohttp_key_config_decode(struct sts_ohttp_key_config *cfg, const uint8_t *buf,
                                         size_t len);

/* Encodes n configurations as application/ohttp-keys (each with its 2-byte
 * length). Errors: as sts_ohttp_key_config_encode. */
enum sts_err sts_ohttp_keys_encode(const struct sts_ohttp_key_config *cfgs, size_t n, uint8_t *buf,
                                   size_t cap, size_t *len);

/* Decodes an application/ohttp-keys body into cfgs[0..cap), *n receiving the
 * count. Configurations with a KEM we do not implement are skipped (their
 * length prefix allows it); any encoding error discards the whole list, as RFC
 * 9458 section 3.2 requires.
 * Errors: STS_EINVAL (malformed or empty), STS_ETOOBIG (body over
 * STS_OHTTP_MAX_KEYS_LIST, or more usable configs than cap),
 * STS_EUNSUPPORTED (no usable configuration). */
enum sts_err sts_ohttp_keys_decode(struct sts_ohttp_key_config *cfgs, size_t cap, size_t *n,
                                   const uint8_t *buf, size_t len);

/* ---- Client (the agent) ------------------------------------------------- */

/* State kept by a client between its request and the matching response. */
struct sts_ohttp_client;

/* Prepares a request to the gateway of cfg using suite (which cfg must
 * offer), or, with suite NULL, the first suite of cfg we implement.
 * Errors: STS_EUNSUPPORTED, STS_EINVAL, STS_ENOMEM. */
enum sts_err sts_ohttp_client_new(struct sts_ohttp_client **out,
                                  const struct sts_ohttp_key_config *cfg,
                                  const struct sts_ohttp_suite *suite);

/* Encapsulates the binary HTTP request req into out (req_len +
 * STS_OHTTP_REQUEST_OVERHEAD bytes). eph is the HPKE ephemeral key: NULL
 * (always, outside known-answer tests) for a fresh random one. Once per client.
 * Errors: STS_EINVAL (called twice), STS_ETOOBIG (req over
 * STS_OHTTP_MAX_MESSAGE, or cap), STS_ECRYPTO, STS_ENOMEM. */
enum sts_err sts_ohttp_client_encap(struct sts_ohttp_client *c, const uint8_t *req, size_t req_len,
                                    const struct sts_hpke_key *eph, uint8_t *out, size_t cap,
                                    size_t *out_len);

/* Opens the encapsulated response enc_res into res.
 * Errors: STS_EINVAL (no request encapsulated yet, or too short to hold a
 * nonce and a tag), STS_ETOOBIG, STS_ECRYPTO (authentication failed). */
enum sts_err sts_ohttp_client_decap(struct sts_ohttp_client *c, const uint8_t *enc_res, size_t len,
                                    uint8_t *res, size_t cap, size_t *res_len);

void sts_ohttp_client_free(struct sts_ohttp_client *c);

/* ---- Gateway keys ---------------------------------------------------------- */

/* A key configuration together with its X25519 private key. */
struct sts_ohttp_gateway_key;

/* A new key: random key id, fresh X25519 key pair, suites HKDF-SHA256 with
 * AES-128-GCM (preferred) and ChaCha20-Poly1305.
 * Errors: STS_ECRYPTO, STS_ENOMEM. */
enum sts_err sts_ohttp_gateway_key_generate(struct sts_ohttp_gateway_key **out);

/* A key from a configuration and its private key sk; the public key of sk
 * must be the one in cfg.
 * Errors: STS_EINVAL (mismatch, no suites), STS_EUNSUPPORTED (KEM),
 * STS_ECRYPTO, STS_ENOMEM. */
enum sts_err sts_ohttp_gateway_key_new(struct sts_ohttp_gateway_key **out,
                                       const struct sts_ohttp_key_config *cfg,
                                       const uint8_t sk[STS_HPKE_NSK]);

/* The public configuration of key (valid while key lives). */
const struct sts_ohttp_key_config *
sts_ohttp_gateway_key_config(const struct sts_ohttp_gateway_key *key);

void sts_ohttp_gateway_key_free(struct sts_ohttp_gateway_key *key);

/* The private key file, text, exactly three lines each ending in "\n":
 *
 *     sts-ohttp-key 1
 *     config <key configuration, RFC 9458 section 3.1 encoding, lowercase hex>
 *     private <X25519 private key, 32 bytes, lowercase hex>
 *
 * save writes it into buf (a NUL is not added); it contains the private key:
 * the caller wipes buf with OPENSSL_cleanse once written.
 * load parses it strictly: any deviation, or a private key that does not
 * match the configuration's public key, is STS_ECORRUPT.
 * Errors: save STS_ETOOBIG (cap; *len gives the size), STS_ECRYPTO;
 * load STS_ECORRUPT, STS_ETOOBIG (over STS_OHTTP_KEY_FILE_MAX),
 * STS_EUNSUPPORTED (KEM), STS_ENOMEM, STS_ECRYPTO (OpenSSL failed: it reports
 * its own allocation failures so). */
enum sts_err sts_ohttp_gateway_key_save(const struct sts_ohttp_gateway_key *key, char *buf,
                                        size_t cap, size_t *len);
enum sts_err sts_ohttp_gateway_key_load(struct sts_ohttp_gateway_key **out, const char *buf,
                                        size_t len);

/* File versions: write creates path with mode 0600 and fails if it exists;
 * read reads it as a secret file (sts/secret.h): it refuses anything but a
 * regular file that group and others cannot access, and never blocks (a FIFO
 * in the key's place is refused).
 * Errors: write STS_EEXIST, STS_ENOENT (no such directory), STS_EACCES,
 * STS_ENOSPC, STS_EIO; read STS_ENOENT, STS_EPERM, STS_EACCES, STS_EIO,
 * STS_ETOOBIG; plus those of save/load. */
enum sts_err sts_ohttp_gateway_key_write_file(const struct sts_ohttp_gateway_key *key,
                                              const char *path);
enum sts_err sts_ohttp_gateway_key_read_file(struct sts_ohttp_gateway_key **out, const char *path);

/* ---- Gateway (the collector) ----------------------------------------------- */

/* Up to STS_OHTTP_MAX_GATEWAY_KEYS live keys, chosen by key id. */
struct sts_ohttp_gateway;

/* Per-request state for encapsulating the response. */
struct sts_ohttp_response_ctx;

/* An empty gateway in *out (sts_ohttp_gateway_free frees it). Errors: STS_ENOMEM. */
enum sts_err sts_ohttp_gateway_new(struct sts_ohttp_gateway **out);
void sts_ohttp_gateway_free(struct sts_ohttp_gateway *gw);

/* Adds key, consuming it on success. With two keys already live the oldest is
 * retired (freed): adding the next key is the rotation step, and requests made
 * with the previous key keep working until the one after.
 * Errors: STS_EEXIST (a live key has that key id; key not consumed). */
enum sts_err sts_ohttp_gateway_add_key(struct sts_ohttp_gateway *gw,
                                       struct sts_ohttp_gateway_key *key);

/* Retires the key with key_id now. Errors: STS_ENOENT. */
enum sts_err sts_ohttp_gateway_remove_key(struct sts_ohttp_gateway *gw, uint8_t key_id);

/* The application/ohttp-keys body to serve, newest key first.
 * Errors: STS_ENOENT (no key), STS_ETOOBIG. */
enum sts_err sts_ohttp_gateway_keys_encode(const struct sts_ohttp_gateway *gw, uint8_t *buf,
                                           size_t cap, size_t *len);

/* Decapsulates the encapsulated request enc_req into req and creates *rctx,
 * needed to answer it.
 * Errors: STS_EINVAL (malformed or truncated), STS_ETOOBIG (over
 * STS_OHTTP_MAX_MESSAGE, or cap), STS_ENOENT (no live key has this key id and
 * KEM), STS_EUNSUPPORTED (suite not offered by that key), STS_ECRYPTO (bad
 * encapsulation: decryption failed), STS_ENOMEM. */
enum sts_err sts_ohttp_gateway_decap(const struct sts_ohttp_gateway *gw, const uint8_t *enc_req,
                                     size_t len, uint8_t *req, size_t cap, size_t *req_len,
                                     struct sts_ohttp_response_ctx **rctx);

/* Encapsulates the binary HTTP response res (RFC 9458 section 4.4) into out
 * (res_len + max(Nn, Nk) + STS_HPKE_NT bytes). nonce is the response nonce,
 * max(Nn, Nk) bytes: NULL (always, outside known-answer tests) for a random
 * one. Errors: STS_ETOOBIG, STS_ECRYPTO. */
enum sts_err sts_ohttp_response_encap(struct sts_ohttp_response_ctx *rctx, const uint8_t *res,
                                      size_t res_len, const uint8_t *nonce, uint8_t *out,
                                      size_t cap, size_t *out_len);

void sts_ohttp_response_ctx_free(struct sts_ohttp_response_ctx *rctx);

#endif
