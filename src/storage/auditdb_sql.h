/* auditdb_sql.h — the SQL files compiled into the binary (internal).
 *
 * The Makefile runs db/embed.sh over db/schema.sql and the .sql files in
 * db/migrations/ and db/queries/, and compiles the result into the library, so the binary
 * works from any directory and cannot run with SQL that does not match it.
 * Entries are sorted by path ("db/migrations/0001_initial.sql", ...). */
#ifndef FL_STORAGE_AUDITDB_SQL_H
#define FL_STORAGE_AUDITDB_SQL_H

#include <stddef.h>

typedef struct fl_sql_file {
    const char *path; /* relative to the project root */
    const char *text;
} fl_sql_file;

extern const fl_sql_file fl_sql_files[];
extern const size_t fl_sql_file_count;

/* The embedded file at exactly `path`, or NULL. */
const fl_sql_file *fl_sql_find(const char *path);

#endif
