/* Allocation-failure injection for unit tests (SQLite's and curl's torture
 * tests are the models): an allocator that fails the Nth allocation, and a
 * loop that runs an operation for N = 1, 2, ... until it completes without
 * a failure, checking each failed run returned one of its documented errors.
 *
 * Every allocation is seen: libsts and the program modules are static
 * libraries, so the test executable is linked with -Wl,--wrap for malloc,
 * calloc, realloc, strdup and strndup (tests/CMakeLists.txt does this for
 * test_*_alloc and test_alloc); OpenSSL and SQLite, shared libraries, are
 * given the same allocator through their hooks (CRYPTO_set_mem_functions,
 * SQLITE_CONFIG_MALLOC). Jansson needs nothing: libsts gives it an allocator
 * of its own that calls malloc (lib/jsonmem.c), so it is wrapped too.
 * Leaks on the failure paths are found by LeakSanitizer in the asan build.
 *
 * Each operation runs twice per N: failing the Nth allocation only (the
 * code must recover from one failure while later ones succeed), and the
 * Nth and every one after it (nothing more can be had). */
#ifndef STS_TEST_ALLOC_FAIL_H
#define STS_TEST_ALLOC_FAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "sts/err.h"

/* Installs the hooks; the first call in main(), before any library runs. */
void alloc_fail_install(void);

/* Fails the nth allocation from now (1-based), and with persistent every
 * one after it too. */
void alloc_fail_arm(unsigned long n, bool persistent);

/* Stops failing; returns whether an allocation was failed since arming. */
bool alloc_fail_disarm(void);

/* One run of the operation under test, with ctx its own. It undoes what it
 * did (frees what it made) whatever the outcome, and checks on failure that
 * its outputs are as documented (a NULL handle, say). */
typedef enum sts_err (*alloc_fail_op)(void *ctx);

/* Runs op for every N until a run sees no failed allocation, in both modes.
 * A failed run must return one of allowed[0..nallowed); the final one must
 * return STS_OK. Fails the cmocka test otherwise, naming the run. Returns
 * the number of allocations the operation makes (the largest N). */
unsigned long alloc_fail_loop(const char *name, alloc_fail_op op, void *ctx,
                              const enum sts_err *allowed, size_t nallowed);

#endif
