/* For bench/ingest.sh --sync-free only: fdatasync and fsync that return at once,
 * preloaded into a collector to measure what waiting for the disk costs it. Never durable. */
#include <unistd.h>

int fdatasync(int fd)
{
    (void)fd;
    return 0;
}

int fsync(int fd)
{
    (void)fd;
    return 0;
}
