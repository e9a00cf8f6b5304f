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
 * either the old or the new file, never a half-written one. Errors name
 * path (not the temporary file) and the system's reason. */
nas_status nas_file_write_atomic(const char *path, const void *data, size_t len, nas_error *err);

/* mkdir -p. */
nas_status nas_mkdir_p(const char *path, nas_error *err);

/* For a command to call before its work: checks that nas_file_write_atomic
 * can write path later, by creating and removing the temporary file it would
 * write first (so a missing, read-only or non-directory parent is found).
 * A file already at path is left as it is; a directory there is an error.
 * Errors name path, not the temporary file. */
nas_status nas_file_check_writable(const char *path, nas_error *err);

/* For a command to call before its work: mkdir -p path, then checks that a
 * file can be created in it (creating and removing one). What the directory
 * holds is left as it is. *made (may be NULL) is 1 when path did not exist
 * before: a command that then fails before writing to it rmdir()s it. */
nas_status nas_dir_prepare(const char *path, int *made, nas_error *err);

/* 1 if path exists (any type). */
int nas_path_exists(const char *path);

#endif
