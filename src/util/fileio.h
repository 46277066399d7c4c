/* fileio.h — whole-file reads and durable writes.
 *
 * Durable means: write to "PATH.tmp.<pid>", fsync it, rename over PATH, fsync
 * the directory.  A crash leaves either the old file or the complete new one,
 * never a torn backup. */
#ifndef FL_UTIL_FILEIO_H
#define FL_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "util/error.h"

/* Read a whole file (at most max_len bytes; larger files are an error).
 * *data is malloc'd; the caller frees it. */
fl_status fl_read_file(const char *path, uint8_t **data, size_t *len, size_t max_len,
                       fl_error *err);

/* May `path` be replaced whole by fl_write_file_durable?  A new path or a
 * regular file (also through a symbolic link) may; a directory, device,
 * FIFO or socket is refused with a message saying what it is. */
fl_status fl_output_path_check(const char *path, fl_error *err);
/* Write a whole file durably: a temporary file beside it (a name of its
 * own per call, so threads of one process never share one), fsync, rename
 * over `path`, fsync of the directory.  Nothing half-written is ever at `path`. */
fl_status fl_write_file_durable(const char *path, const void *data, size_t len, fl_error *err);
/* The same, but never replaces a file already at `path`: FL_ERR_FILE with
 * *existed set (may be NULL) when one is there, even one another writer
 * put there a moment ago (the temporary file is hard-linked into place). */
fl_status fl_write_file_new(const char *path, const void *data, size_t len, bool *existed,
                            fl_error *err);

#endif
