/* Jansson's allocator in libsts, watching for failures (see sts/jsonmem.h).
 * It is installed by a constructor, before main(), while a single thread
 * runs: json_set_alloc_funcs is not safe to call with Jansson in use. */
#include "sts/jsonmem.h"

#include <jansson.h>
#include <stdlib.h>

static _Thread_local bool failed;

static void *json_alloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        failed = true;
    return p;
}

__attribute__((constructor)) static void json_alloc_install(void)
{
    json_set_alloc_funcs(json_alloc, free);
}

void sts_json_watch_start(void)
{
    failed = false;
}

bool sts_json_watch_failed(void)
{
    return failed;
}
