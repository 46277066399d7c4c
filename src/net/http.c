/* http.c — GET a document or a file with libcurl, resumably. */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* curl_global_init is not thread-safe on every libcurl: once per process. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void init_curl(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct transfer {
    const fl_events *ev;
    CURL *curl;
    /* memory target */
    char *buf;
    size_t len, max;
    bool too_big;
    /* file target */
    int fd;
    uint64_t have;       /* bytes in the file before this transfer */
    uint64_t written;    /* bytes written by this transfer */
    bool checked_status; /* the response code was looked at (first body bytes) */
    bool restarted;      /* the server ignored the range: the file starts again */
    bool write_failed;
    int write_errno;
} transfer;

static size_t to_memory(char *data, size_t size, size_t n, void *ctx)
{
    transfer *t = ctx;
    size_t bytes = size * n;
    if (t->len + bytes > t->max) {
        t->too_big = true;
        return 0;
    }
    char *grown = realloc(t->buf, t->len + bytes + 1);
    if (!grown)
        return 0;
    t->buf = grown;
    memcpy(t->buf + t->len, data, bytes);
    t->len += bytes;
    t->buf[t->len] = '\0';
    return bytes;
}

/* The first body bytes: a 200 to a Range request means the whole file comes
 * again, so what the file held is dropped rather than doubled. */
static bool check_restart(transfer *t)
{
    if (t->checked_status)
        return true;
    t->checked_status = true;
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    if (t->have > 0 && code == 200) {
        if (ftruncate(t->fd, 0) != 0 || lseek(t->fd, 0, SEEK_SET) != 0) {
            t->write_failed = true;
            t->write_errno = errno;
            return false;
        }
        t->have = 0;
        t->restarted = true;
    }
    return true;
}

static size_t to_file(char *data, size_t size, size_t n, void *ctx)
{
    transfer *t = ctx;
    size_t bytes = size * n;
    if (!check_restart(t))
        return 0;
    for (size_t done = 0; done < bytes;) {
        ssize_t w = write(t->fd, data + done, bytes - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            t->write_failed = true;
            t->write_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    t->written += bytes;
    return bytes;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    transfer *t = ctx;
    if (fl_cancelled(t->ev))
        return 1;
    if (t->fd >= 0 && dltotal > 0)
        fl_progress(t->ev, "download", t->have + (uint64_t)dlnow, t->have + (uint64_t)dltotal);
    return 0;
}

static fl_status setup(transfer *t, const char *url, fl_error *err)
{
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK)
        return fl_fail(err, FL_ERR_INTERNAL, "libcurl: %s", curl_easy_strerror(curl_init_rc));
    t->curl = curl_easy_init();
    if (!t->curl)
        return fl_fail(err, FL_ERR_INTERNAL, "libcurl: cannot start a transfer");
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "flashline (https://github.com/openshwprojects/OpenBK7231T_App releases client)");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    /* a stalled transfer (no byte for a minute) is an interruption, not a hang */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    return FL_OK;
}

/* A failed transfer as the operator should read it. */
static fl_status transfer_error(transfer *t, CURLcode rc, const char *url, long *http_status,
                                fl_error *err)
{
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    if (http_status)
        *http_status = code;
    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        return fl_fail(err, FL_ERR_CANCELLED, "download of %s cancelled", url);
    case CURLE_HTTP_RETURNED_ERROR:
        return fl_fail(err, FL_ERR_LINK, "%s: the server answered HTTP %ld%s", url, code,
                       code == 404   ? " (not found)"
                       : code == 403 ? " (forbidden: GitHub's API limits unauthenticated "
                                       "requests to 60 an hour; try again later)"
                                     : "");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return fl_fail(err, FL_ERR_LINK, "cannot reach %s: %s (no network?)", url,
                       curl_easy_strerror(rc));
    case CURLE_WRITE_ERROR:
        if (t->too_big)
            return fl_fail(err, FL_ERR_FORMAT, "%s: the answer is larger than %zu bytes", url,
                           t->max);
        if (t->write_failed)
            return fl_fail(err, FL_ERR_FILE, "writing the download of %s: %s", url,
                           strerror(t->write_errno));
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory downloading %s", url);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
        return fl_fail(err, FL_ERR_LINK, "transfer of %s interrupted after %llu bytes (%s)", url,
                       (unsigned long long)(t->have + t->written), curl_easy_strerror(rc));
    default:
        return fl_fail(err, FL_ERR_LINK, "%s: %s", url, curl_easy_strerror(rc));
    }
}

fl_status fl_http_get(const char *url, size_t max, char **body, size_t *len, long *http_status,
                      const fl_events *ev, fl_error *err)
{
    *body = NULL;
    *len = 0;
    if (http_status)
        *http_status = 0;
    transfer t = {.ev = ev, .max = max, .fd = -1};
    fl_status st = setup(&t, url, err);
    if (st)
        return st;
    struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/vnd.github+json");
    curl_easy_setopt(t.curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(t.curl, CURLOPT_WRITEFUNCTION, to_memory);
    curl_easy_setopt(t.curl, CURLOPT_WRITEDATA, &t);
    CURLcode rc = curl_easy_perform(t.curl);
    if (rc != CURLE_OK) {
        st = transfer_error(&t, rc, url, http_status, err);
        free(t.buf);
    } else {
        if (http_status)
            curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, http_status);
        *body = t.buf ? t.buf : strdup("");
        *len = t.len;
        if (!*body)
            st = fl_fail(err, FL_ERR_INTERNAL, "out of memory");
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(t.curl);
    return st;
}

fl_status fl_http_download(const char *url, const char *path, uint64_t expected_size,
                           const fl_events *ev, int *resumed, long *http_status, fl_error *err)
{
    if (resumed)
        *resumed = 0;
    if (http_status)
        *http_status = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fl_fail(err, FL_ERR_FILE, "cannot write %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* two writers would interleave their bytes */
        close(fd);
        return fl_fail(err, FL_ERR_FILE, "%s is being downloaded by another process: wait for "
                       "it, or stop it", path);
    }
    struct stat sb;
    uint64_t have = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    if (expected_size && have == expected_size) { /* an earlier transfer finished it */
        close(fd);
        return FL_OK;
    }
    if (expected_size && have > expected_size) { /* not this file: start again */
        if (ftruncate(fd, 0) != 0) {
            close(fd);
            return fl_fail(err, FL_ERR_FILE, "cannot truncate %s: %s", path, strerror(errno));
        }
        have = 0;
    }
    lseek(fd, (off_t)have, SEEK_SET);
    transfer t = {.ev = ev, .fd = fd, .have = have};
    fl_status st = setup(&t, url, err);
    if (st) {
        close(fd);
        return st;
    }
    char range[48];
    if (have) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)have);
        curl_easy_setopt(t.curl, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(t.curl, CURLOPT_WRITEFUNCTION, to_file);
    curl_easy_setopt(t.curl, CURLOPT_WRITEDATA, &t);
    CURLcode rc = curl_easy_perform(t.curl);
    if (rc != CURLE_OK)
        st = transfer_error(&t, rc, url, http_status, err);
    else if (http_status)
        curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, http_status);
    if (resumed)
        *resumed = have > 0 && !t.restarted && t.checked_status;
    /* what arrived is kept for the next attempt: make it durable */
    if (fsync(fd) != 0 && !st)
        st = fl_fail(err, FL_ERR_FILE, "cannot sync %s: %s", path, strerror(errno));
    close(fd);
    curl_easy_cleanup(t.curl);
    return st;
}
