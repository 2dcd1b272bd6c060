/* The report path, from a body to its answer: parse and validate
 * (sts/report.h), map to a store record, pseudonymize the IMEI, then group
 * commit: HTTP threads hand records to a queue, and a writer thread stores
 * everything queued so far in a single transaction and then tells each
 * submitter its outcome. Concurrent reports thus share one fsync, and no
 * answer is sent before its record is committed and on disk (on SQLite a
 * syncer thread per writer makes it so, see ingest.c). On PostgreSQL several
 * writers, each with its own connection, take batches from the one queue so
 * that commits overlap; the database's unique constraints keep them exact
 * (docs/internals/store.md). The transport (http.c) only carries bodies in
 * and answers out. */
#ifndef STS_INGEST_H
#define STS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "sts/pseudonym.h"
#include "sts/report.h"

struct ingest_job;

/* Called on a writer thread once job->rec.outcome is final. It must not
 * block; it may free the job. */
typedef void (*ingest_done_fn)(struct ingest_job *job);

/* Caller-owned; must stay valid until done is called. */
struct ingest_job {
    struct store_record rec;
    ingest_done_fn done;
    void *ctx;
    struct ingest_job *next; /* queue link, owned by the ingest queue */
};

struct ingest_stats {
    unsigned long long batches, records, failed;
    size_t largest_batch;
};

struct ingest;

/* Starts one writer thread per store of stores[0..n_stores-1] (the array is
 * copied; the stores are borrowed, must outlive the ingest, and each is then
 * used by its writer alone: distinct handles, on one database), all taking
 * batches from one queue, pseudonymizing with every live key of keyring
 * (copied): the current one makes the stored pseudonym, the older ones find
 * a device stored before a rotation. At most max_batch records go into one
 * transaction. Several writers need a backend that takes concurrent writers
 * exactly (PostgreSQL); SQLite has one. Errors: STS_EINVAL (n_stores = 0),
 * STS_ENOMEM, STS_EIO (thread creation failed), STS_ECRYPTO (the key
 * cannot be set up). */
enum sts_err ingest_new(struct store *const *stores, size_t n_stores, size_t max_batch,
                        const struct sts_keyring *keyring, struct ingest **out);

/* Replaces the keyring reports are pseudonymized with (SIGHUP, reload.h):
 * keyring is borrowed, its keys are copied into a new keyed state, which
 * replaces the one in use only once it is complete; the old state is wiped
 * and freed after the last report using it is done. A report already
 * pseudonymized keeps the key ids it was made with (the caller makes sure
 * the new keyring still holds them). On error nothing changed.
 * Errors: STS_ECRYPTO, STS_ENOMEM. Thread-safe with ingest_report; one
 * caller of ingest_set_keyring at a time. */
enum sts_err ingest_set_keyring(struct ingest *ing, const struct sts_keyring *keyring);

/* Copies the ids of the keys in use into ids, the current one first, and
 * returns how many there are. Thread-safe. */
size_t ingest_key_ids(struct ingest *ing, uint32_t ids[STS_KEYRING_MAX]);

/* Why a report was refused, to be answered as {"error":kind,...}. */
struct ingest_refusal {
    unsigned status; /* 400 or 413 */
    const char *kind;
    struct sts_field_error fe;
};

/* Takes one report's body: parses and validates it against today (see
 * sts/date.h) and fills job->rec, with the pseudonym in place of the IMEI,
 * ready for ingest_submit (the caller submits, so that it can first make
 * ready for the writer's call to done). body is wiped whatever the
 * outcome, and the raw IMEI goes no further than this call. On STS_EINVAL
 * *why says how to answer.
 * Errors: STS_EINVAL, STS_ENOMEM, STS_ECRYPTO. Thread-safe. */
enum sts_err ingest_report(struct ingest *ing, char *body, size_t len, int32_t today,
                           struct ingest_job *job, struct ingest_refusal *why);

/* The answer to a job whose done has been called: its HTTP status (202 new
 * or re-activation, 200 duplicate, 503 not stored) and JSON body (static). */
unsigned ingest_answer(const struct ingest_job *job, const char **json, size_t *len);

/* Queues job; done will be called exactly once, from a writer thread.
 * Thread-safe. After ingest_stop has started, jobs fail at once
 * (outcome STORE_FAILED). */
void ingest_submit(struct ingest *ing, struct ingest_job *job);

/* Writes what is queued and stops the writer threads; every job submitted
 * later fails at once (outcome STORE_FAILED, done called on the caller's
 * thread). The queue stays valid until ingest_free. */
void ingest_stop(struct ingest *ing);

/* Stops (if not yet stopped) and frees. NULL does nothing. */
void ingest_free(struct ingest *ing);

/* Registers the writer's series in m (front/metrics.h): transactions by
 * result, commit batch size and commit latency histograms, the queue depth
 * and whether storage commits. Call once, before any ingest_submit. */
struct metrics;
void ingest_set_metrics(struct ingest *ing, struct metrics *m);

/* Whether storage commits: false from a writer's failed transaction until
 * that writer's next one succeeds (while failing, a writer tries an empty
 * transaction every second, which also reconnects it), true while no
 * writer's last transaction failed. Thread-safe. */
bool ingest_healthy(struct ingest *ing);

/* A consistent copy of the counters. Thread-safe. */
void ingest_get_stats(struct ingest *ing, struct ingest_stats *out);

#endif
