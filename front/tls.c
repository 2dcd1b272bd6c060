/* Replaceable TLS credentials (see tls.h): the current OpenSSL context under
 * a mutex; SSL_new takes its own reference, so replacing it never pulls a
 * context from under a connection. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *current;

/* The chain in pem onto ctx, leaf first. Errors: STS_EINVAL, STS_ECRYPTO. */
static enum sts_err load_chain(SSL_CTX *ctx, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return STS_ECRYPTO;
    enum sts_err e = STS_EINVAL;
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1)
        goto fail;
    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            goto fail;
        }
    }
    ERR_clear_error(); /* the end of the PEM text */
    e = STS_OK;
fail:
    X509_free(leaf);
    BIO_free(bio);
    return e;
}

enum sts_err front_tls_set(const char *cert_pem, const char *key_pem, char *why, size_t whylen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(why, whylen, "cannot set up TLS (OpenSSL)");
        return STS_ECRYPTO;
    }
    enum sts_err e = STS_EINVAL;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* No session cache: a resumed session would let a server link a
     * device's connections; every handshake is a full one. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    if ((e = load_chain(ctx, cert_pem)) != STS_OK) {
        snprintf(why, whylen, "the TLS certificate is not a PEM certificate chain");
        goto fail;
    }
    e = STS_EINVAL;
    if (!(bio = BIO_new_mem_buf(key_pem, -1)) ||
        !(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL))) {
        snprintf(why, whylen, "the TLS key is not a PEM private key");
        goto fail;
    }
    /* OpenSSL 3 refuses the key of another certificate here already. */
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(why, whylen, "the TLS certificate and key are not a pair");
        goto fail;
    }
    pthread_mutex_lock(&lock);
    SSL_CTX *old = current;
    current = ctx;
    pthread_mutex_unlock(&lock);
    SSL_CTX_free(old);
    ctx = NULL;
    e = STS_OK;
fail:
    ERR_clear_error();
    EVP_PKEY_free(key); /* the context holds its own reference */
    BIO_free(bio);
    SSL_CTX_free(ctx);
    return e;
}

SSL_CTX *front_tls_context(void)
{
    pthread_mutex_lock(&lock);
    SSL_CTX *ctx = current;
    if (ctx)
        SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&lock);
    return ctx;
}

void front_tls_cleanup(void)
{
    pthread_mutex_lock(&lock);
    SSL_CTX *old = current;
    current = NULL;
    pthread_mutex_unlock(&lock);
    SSL_CTX_free(old);
}
