/* Hybrid Public Key Encryption (RFC 9180), base mode only, for the one suite
 * family STS uses: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, and AES-128-GCM or
 * ChaCha20-Poly1305 (or export-only). Oblivious HTTP (ohttp.h) is built on it.
 *
 * Ownership: every object returned through an out-parameter belongs to the
 * caller and is released with its _free function (which accepts NULL). Input
 * buffers are borrowed and never kept. Secrets held by objects are wiped with
 * OPENSSL_cleanse when the object is freed.
 *
 * Thread-safety: distinct objects may be used from distinct threads at once;
 * a struct sts_hpke_key may be shared read-only between threads; a context
 * must not be used by two threads at once (it carries a sequence number). */
#ifndef STS_HPKE_H
#define STS_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "sts/err.h"

/* Algorithm identifiers from the IANA HPKE registry (RFC 9180, section 7). */
#define STS_HPKE_KEM_X25519_SHA256      0x0020
#define STS_HPKE_KDF_HKDF_SHA256        0x0001
#define STS_HPKE_AEAD_AES_128_GCM       0x0001
#define STS_HPKE_AEAD_CHACHA20_POLY1305 0x0003
#define STS_HPKE_AEAD_EXPORT_ONLY       0xFFFF

/* Sizes for DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256. */
#define STS_HPKE_NPK    32 /* serialised public key */
#define STS_HPKE_NSK    32 /* serialised private key */
#define STS_HPKE_NENC   32 /* encapsulated key (enc) */
#define STS_HPKE_NH     32 /* KDF output (HKDF-SHA256) */
#define STS_HPKE_NT     16 /* AEAD tag, both AEADs */
#define STS_HPKE_MAX_NK 32
#define STS_HPKE_MAX_NN 12

/* Hard caps on caller-supplied strings; larger ones give STS_ETOOBIG. RFC 9180
 * section 7.2.1 asks for at least 64 bytes of info and exporter context. */
#define STS_HPKE_MAX_INFO             1024
#define STS_HPKE_MAX_EXPORTER_CONTEXT 512
#define STS_HPKE_MAX_EXPORT_LEN       (255 * STS_HPKE_NH)

struct sts_hpke_suite {
    uint16_t kem_id;
    uint16_t kdf_id;
    uint16_t aead_id;
};

/* An X25519 key pair (the private half kept inside OpenSSL). */
struct sts_hpke_key;

/* An HPKE encryption context, sender or receiver (RFC 9180, section 5). */
struct sts_hpke_ctx;

/* Returns STS_OK if suite is one this module implements.
 * Errors: STS_EUNSUPPORTED. */
enum sts_err sts_hpke_suite_check(const struct sts_hpke_suite *suite);

/* Key and nonce lengths (Nk, Nn) of an AEAD id; 0 for export-only and for
 * unknown ids. */
size_t sts_hpke_aead_nk(uint16_t aead_id);
size_t sts_hpke_aead_nn(uint16_t aead_id);

/* Creates a fresh random key pair in *out.
 * Errors: STS_ENOMEM, STS_ECRYPTO (OpenSSL failure). */
enum sts_err sts_hpke_key_generate(struct sts_hpke_key **out);

/* DeriveKeyPair(ikm) of DHKEM(X25519, HKDF-SHA256) (RFC 9180, section
 * 7.1.3): a deterministic key pair from ikm, which must hold at least
 * STS_HPKE_NSK bytes and at most STS_HPKE_MAX_INFO.
 * Errors: STS_EINVAL (ikm too short), STS_ETOOBIG, STS_ENOMEM, STS_ECRYPTO. */
enum sts_err sts_hpke_key_derive(struct sts_hpke_key **out, const uint8_t *ikm, size_t ikm_len);

/* Builds the key pair of the serialised private key sk (32 bytes).
 * Errors: STS_ENOMEM, STS_ECRYPTO. */
enum sts_err sts_hpke_key_from_private(struct sts_hpke_key **out, const uint8_t sk[STS_HPKE_NSK]);

/* Copies the serialised public key into pk. */
void sts_hpke_key_public(const struct sts_hpke_key *key, uint8_t pk[STS_HPKE_NPK]);

/* Copies the serialised private key into sk; the caller wipes it after use.
 * Errors: STS_ECRYPTO. */
enum sts_err sts_hpke_key_private(const struct sts_hpke_key *key, uint8_t sk[STS_HPKE_NSK]);

void sts_hpke_key_free(struct sts_hpke_key *key);

/* Allocates an empty context for suite; it becomes usable after one of the
 * setup functions succeeds.
 * Errors: STS_EUNSUPPORTED (suite), STS_ENOMEM. */
enum sts_err sts_hpke_ctx_new(struct sts_hpke_ctx **out, const struct sts_hpke_suite *suite);

void sts_hpke_ctx_free(struct sts_hpke_ctx *ctx);

/* SetupBaseS (RFC 9180, section 5.1.1): makes ctx a sender context for the
 * recipient public key pk_r and writes the encapsulated key to enc. eph is the
 * ephemeral key pair; pass NULL (always, outside known-answer tests) to draw a
 * fresh random one. A ctx can be set up once.
 * Errors: STS_EINVAL (ctx already set up), STS_ETOOBIG (info too long),
 * STS_ECRYPTO (pk_r unusable, e.g. a low-order point), STS_ENOMEM. */
enum sts_err sts_hpke_setup_base_s(struct sts_hpke_ctx *ctx, uint8_t enc[STS_HPKE_NENC],
                                   const uint8_t pk_r[STS_HPKE_NPK], const uint8_t *info,
                                   size_t info_len, const struct sts_hpke_key *eph);

/* SetupBaseR (RFC 9180, section 5.1.1): makes ctx a receiver context from the
 * encapsulated key enc and the recipient key pair sk_r.
 * Errors: STS_EINVAL (ctx already set up), STS_ETOOBIG (info too long),
 * STS_ECRYPTO (enc unusable), STS_ENOMEM. */
enum sts_err sts_hpke_setup_base_r(struct sts_hpke_ctx *ctx, const uint8_t enc[STS_HPKE_NENC],
                                   const struct sts_hpke_key *sk_r, const uint8_t *info,
                                   size_t info_len);

/* Seal (sender only): encrypts pt with aad under the next sequence number and
 * writes pt_len + STS_HPKE_NT bytes to ct (ct_cap bytes available; ct may be
 * pt itself but must not otherwise overlap it). *ct_len receives the length.
 * Errors: STS_EINVAL (not a sender context, or export-only), STS_ETOOBIG
 * (ct_cap too small; *ct_len then holds the size needed), STS_ECRYPTO
 * (sequence number exhausted or OpenSSL failure). */
enum sts_err sts_hpke_seal(struct sts_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                           const uint8_t *pt, size_t pt_len, uint8_t *ct, size_t ct_cap,
                           size_t *ct_len);

/* Open (receiver only): authenticates and decrypts ct with aad under the next
 * sequence number, writing ct_len - STS_HPKE_NT bytes to pt (same overlap rule
 * as seal). The sequence number advances only on success.
 * Errors: STS_EINVAL (not a receiver context, export-only, or ct shorter than
 * a tag), STS_ETOOBIG (pt_cap too small), STS_ECRYPTO (authentication failed;
 * pt is wiped). */
enum sts_err sts_hpke_open(struct sts_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
                           const uint8_t *ct, size_t ct_len, uint8_t *pt, size_t pt_cap,
                           size_t *pt_len);

/* Export (RFC 9180, section 5.3): writes L bytes of secret derived from
 * exporter_context to out. Works on sender and receiver contexts.
 * Errors: STS_EINVAL (context not set up, or L is 0), STS_ETOOBIG (context
 * or L over their caps), STS_ECRYPTO. */
enum sts_err sts_hpke_export(const struct sts_hpke_ctx *ctx, const uint8_t *exporter_context,
                             size_t exporter_context_len, uint8_t *out, size_t L);

/* The suite a context was created for. */
const struct sts_hpke_suite *sts_hpke_ctx_suite(const struct sts_hpke_ctx *ctx);

/* Plain (unlabelled) HKDF-Extract and HKDF-Expand of kdf_id, and one-shot AEAD
 * seal/open of aead_id: the building blocks Oblivious HTTP uses for its
 * response encryption (RFC 9458, section 4.4).
 * extract: prk receives STS_HPKE_NH bytes; ikm must not be empty.
 * expand: out receives out_len bytes (1..255*NH); info at most
 * STS_HPKE_MAX_INFO bytes.
 * aead_seal/open: key and nonce of the AEAD's Nk and Nn; same buffer and
 * error rules as sts_hpke_seal/sts_hpke_open.
 * Errors: STS_EUNSUPPORTED (id), STS_EINVAL, STS_ETOOBIG, STS_ECRYPTO. */
enum sts_err sts_hpke_kdf_extract(uint16_t kdf_id, const uint8_t *salt, size_t salt_len,
                                  const uint8_t *ikm, size_t ikm_len, uint8_t prk[STS_HPKE_NH]);
enum sts_err sts_hpke_kdf_expand(uint16_t kdf_id, const uint8_t *prk, size_t prk_len,
                                 const uint8_t *info, size_t info_len, uint8_t *out,
                                 size_t out_len);
enum sts_err sts_hpke_aead_seal(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                                const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                                size_t pt_len, uint8_t *ct, size_t ct_cap, size_t *ct_len);
enum sts_err sts_hpke_aead_open(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                                const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                                size_t ct_len, uint8_t *pt, size_t pt_cap, size_t *pt_len);

#endif
