/* Replaceable TLS credentials through a GnuTLS certificate callback (see
 * tls.h). Each pair is a generation: the current one under a mutex, the
 * replaced ones on a list with the time they were replaced. */
#include "tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHAIN 8
/* A replaced pair may still be in a handshake that started before: those
 * end at the header deadline (seconds); 10 minutes is far past it. */
#define RETIRE_S 600

struct gen {
    gnutls_pcert_st pcert[MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
    struct gen *next; /* retired list */
    time_t retired;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct gen *current, *retired;

static void gen_free(struct gen *g)
{
    for (unsigned i = 0; i < g->n; i++)
        gnutls_pcert_deinit(&g->pcert[i]);
    if (g->key)
        gnutls_privkey_deinit(g->key); /* GnuTLS wipes key material */
    free(g);
}

static int retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca, int nreq,
                    const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
                    unsigned *n, gnutls_privkey_t *key)
{
    (void)s;
    (void)req_ca;
    (void)nreq;
    (void)algos;
    (void)nalgos;
    pthread_mutex_lock(&lock);
    struct gen *g = current;
    if (g) {
        *pcert = g->pcert;
        *n = g->n;
        *key = g->key;
    }
    pthread_mutex_unlock(&lock);
    return g ? 0 : -1;
}

void *front_tls_callback(void)
{
    /* libmicrohttpd takes the function through a void * option value. */
    gnutls_certificate_retrieve_function2 *f = retrieve;
    void *p;
    memcpy(&p, &f, sizeof p);
    return p;
}

static enum sts_err bad(char *why, size_t whylen, const char *what, int rc)
{
    snprintf(why, whylen, "%s: %s", what, gnutls_strerror(rc));
    return rc == GNUTLS_E_MEMORY_ERROR ? STS_ENOMEM : STS_EINVAL;
}

/* Whether key is the private key of the leaf: GnuTLS's own check, on a
 * throw-away credentials structure. */
static int check_pair(const gnutls_datum_t *c, const gnutls_datum_t *k)
{
    gnutls_certificate_credentials_t cred;
    int rc = gnutls_certificate_allocate_credentials(&cred);
    if (rc < 0)
        return rc;
    rc = gnutls_certificate_set_x509_key_mem2(cred, c, k, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    return rc < 0 ? rc : 0;
}

enum sts_err front_tls_set(const char *cert_pem, const char *key_pem, char *why, size_t whylen)
{
    gnutls_datum_t c = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t k = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    struct gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(why, whylen, "out of memory");
        return STS_ENOMEM;
    }
    enum sts_err e;
    int rc = check_pair(&c, &k);
    if (rc < 0) {
        e = bad(why, whylen, "the TLS certificate and key are unusable or not a pair", rc);
        goto fail;
    }
    g->n = MAX_CHAIN;
    rc = gnutls_pcert_list_import_x509_raw(g->pcert, &g->n, &c, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) {
        g->n = 0;
        e = bad(why, whylen, "cannot read the TLS certificate chain", rc);
        goto fail;
    }
    if ((rc = gnutls_privkey_init(&g->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(g->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        e = bad(why, whylen, "cannot read the TLS private key", rc);
        goto fail;
    }
    time_t now = time(NULL);
    pthread_mutex_lock(&lock);
    if (current) {
        current->retired = now;
        current->next = retired;
        retired = current;
    }
    current = g;
    /* Generations replaced long ago can be in no handshake any more. */
    for (struct gen **p = &retired; *p;) {
        struct gen *r = *p;
        if (now - r->retired > RETIRE_S) {
            *p = r->next;
            gen_free(r);
        } else {
            p = &r->next;
        }
    }
    pthread_mutex_unlock(&lock);
    return STS_OK;
fail:
    gen_free(g);
    return e;
}

void front_tls_cleanup(void)
{
    pthread_mutex_lock(&lock);
    if (current)
        gen_free(current);
    current = NULL;
    while (retired) {
        struct gen *r = retired;
        retired = r->next;
        gen_free(r);
    }
    pthread_mutex_unlock(&lock);
}
