/* http.h — the few HTTP(S) transfers the station makes (libcurl underneath).
 *
 * What it offers
 *   - fl_http_get: a small document (a release listing) into memory;
 *   - fl_http_download: a file, appended to what a previous, interrupted
 *     transfer left (an HTTP Range request; a server that ignores the range
 *     restarts the file from the first byte), with progress ("download") and
 *     cancellation through fl_events.
 * The file is locked while it grows: a second download of it is refused.
 * Redirects are followed (GitHub serves assets from another host); only
 * http:// and https:// are spoken.  Failures say what happened: the host
 * could not be reached, the transfer was cut after N bytes, or the server
 * answered with an HTTP status (*http_status receives it, 0 when there was no
 * answer).  Statuses: FL_ERR_LINK (network, HTTP), FL_ERR_FILE (local file),
 * FL_ERR_CANCELLED, FL_ERR_FORMAT (a document larger than allowed). */
#ifndef FL_NET_HTTP_H
#define FL_NET_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/events.h"

/* GET url into a malloc'd, NUL-terminated buffer of at most max bytes. */
fl_status fl_http_get(const char *url, size_t max, char **body, size_t *len, long *http_status,
                      const fl_events *ev, fl_error *err);

/* GET url into path, continuing after the bytes path already holds.
 * expected_size (0: unknown) lets a complete file end without a request and
 * a longer one start again.  *resumed (may be NULL) says whether the server
 * honoured a Range request. */
fl_status fl_http_download(const char *url, const char *path, uint64_t expected_size,
                           const fl_events *ev, int *resumed, long *http_status, fl_error *err);

#endif
