/* Small file helpers for the agent: read a whole file under a hard cap, and
 * replace a file atomically and durably (temporary file, fsync, rename, fsync
 * of the directory), so that a power cut leaves either the old or the new
 * content, never a mix. errno is turned into enum sts_err here.
 *
 * Ownership: agent_file_read() hands the caller a malloc'd buffer. */
#ifndef AGENT_FILE_H
#define AGENT_FILE_H

#include <stddef.h>

#include "sts/err.h"

/* Reads path into a new NUL-terminated buffer (*out, free() it) of *len bytes.
 * Errors: STS_ENOENT, STS_EACCES, STS_EIO (errno says why), STS_ETOOBIG (more
 * than max bytes), STS_ENOMEM.
 * On failure *out is NULL. */
enum sts_err agent_file_read(const char *path, size_t max, char **out, size_t *len);

/* Replaces dir/name with data: writes dir/name.tmp (mode 0600), fsyncs it,
 * renames it over dir/name and fsyncs dir. A failure before the rename leaves
 * dir/name untouched and removes the temporary file; a failure of the final
 * directory fsync leaves the new content in place, perhaps not yet durable.
 * Errors: STS_EIO, STS_ENOSPC, STS_EACCES, STS_ENOENT (sts_err_from_errno),
 * with errno saying exactly why (ENOSPC, EROFS, EACCES, EIO...). */
enum sts_err agent_file_write_atomic(const char *dir, const char *name, const char *data,
                                     size_t len);

/* Test hook: when set, called before each step of agent_file_write_atomic
 * ("open", "write", "fsync", "rename", "dirsync"); a non-zero return makes that
 * step fail as if the system call had failed with agent_file_fault_errno
 * (EIO unless a test sets it). NULL in production. */
extern int (*agent_file_fault)(const char *step);
extern int agent_file_fault_errno;

#endif
