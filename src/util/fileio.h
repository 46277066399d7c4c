/* fileio.h — whole-file reads and durable writes.
 *
 * Durable means: write to "PATH.tmp.<pid>", fsync it, rename over PATH, fsync
 * the directory.  A crash leaves either the old file or the complete new one,
 * never a torn backup. */
#ifndef FL_UTIL_FILEIO_H
#define FL_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Read a whole file (at most max_len bytes; larger files are an error).
 * *data is malloc'd; the caller frees it. */
fl_status fl_read_file(const char *path, uint8_t **data, size_t *len, size_t max_len,
                       fl_error *err);

/* May `path` be replaced whole by fl_write_file_durable?  A new path or a
 * regular file (also through a symbolic link) may; a directory, device,
 * FIFO or socket is refused with a message saying what it is. */
fl_status fl_output_path_check(const char *path, fl_error *err);
fl_status fl_write_file_durable(const char *path, const void *data, size_t len, fl_error *err);

#endif
