/*
 * fileio.h - whole-file reads, atomic writes and directories.
 * Every error names the path and the system's reason.
 */
#ifndef NAS_CORE_FILEIO_H
#define NAS_CORE_FILEIO_H

#include <stddef.h>

#include "nas/core/status.h"

/* Reads the whole file into a malloc'd buffer (caller frees) with a NUL after
 * the last byte (not counted in *len). */
nas_status nas_file_read(const char *path, char **data, size_t *len, nas_error *err);

/* Writes data to path through a temporary file and rename(2), so readers see
 * either the old or the new file, never a half-written one. */
nas_status nas_file_write_atomic(const char *path, const void *data, size_t len, nas_error *err);

/* mkdir -p. */
nas_status nas_mkdir_p(const char *path, nas_error *err);

/* 1 if path exists (any type). */
int nas_path_exists(const char *path);

#endif
