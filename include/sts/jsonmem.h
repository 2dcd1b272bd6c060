/* Jansson's allocations, watched. Jansson 2.14 does not always report that
 * it ran out of memory: a failed allocation in its lexer comes back as a
 * syntax error ("string or '}' expected"), as an error without text, or as
 * a document with one byte of a string missing, and json_dumps can leave a
 * key out of its text (found by tests/unit/test_alloc.c). libsts gives
 * Jansson an allocator, installed before main(), that notes a failure in a
 * per-thread flag; code that parses or prints JSON brackets the call:
 *
 *     sts_json_watch_start();
 *     json_t *doc = json_loadb(text, len, 0, &err);
 *     if (sts_json_watch_failed()) { json_decref(doc); return STS_ENOMEM; }
 *
 * Thread-safe: the flag is per thread. */
#ifndef STS_JSONMEM_H
#define STS_JSONMEM_H

#include <stdbool.h>

/* Forgets this thread's earlier failures. */
void sts_json_watch_start(void);

/* Whether an allocation made by Jansson on this thread failed since
 * sts_json_watch_start(). */
bool sts_json_watch_failed(void);

#endif
