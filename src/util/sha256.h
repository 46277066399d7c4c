/* sha256.h — SHA-256 of a buffer as lower-case hex (OpenSSL's libcrypto):
 * the form the audit log, the firmware store and recipes' hashes use. */
#ifndef FL_UTIL_SHA256_H
#define FL_UTIL_SHA256_H

#include <stdbool.h>
#include <stddef.h>

/* out: 64 hex digits and a NUL.  False only if libcrypto fails (out is then ""). */
bool fl_sha256_hex(const void *data, size_t len, char out[65]);

#endif
