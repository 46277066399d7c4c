#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fl_status fl_read_file(const char *path, uint8_t **data, size_t *len, size_t max_len,
                       fl_error *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fl_fail(err, FL_ERR_FILE, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fl_fail(err, FL_ERR_FILE, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return fl_fail(err, FL_ERR_FORMAT, "%s is %lld bytes, larger than the %zu allowed", path,
                       (long long)st.st_size, max_len);
    }
    uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf) {
        close(fd);
        return fl_fail(err, FL_ERR_INTERNAL, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return fl_fail(err, FL_ERR_FILE, "cannot read %s: %s", path,
                           n == 0 ? "file shrank while reading" : strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *len = got;
    return FL_OK;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void fsync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

static const char *file_type_text(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

fl_status fl_output_path_check(const char *path, fl_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) /* new (or a link to a new file): created by the write */
        return FL_OK;
    if (!S_ISREG(st.st_mode))
        return fl_fail(err, FL_ERR_FILE,
                       "cannot write %s: it is %s, not a regular file (the write replaces the "
                       "file whole; give a file name)",
                       path, file_type_text(st.st_mode));
    return FL_OK;
}

/* The file the durable write really replaces: a symbolic link's target (the
 * rename would otherwise replace the link and leave the target stale). */
static fl_status write_destination(const char *path, char *out, size_t cap, fl_error *err)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) {
        if (snprintf(out, cap, "%s", path) >= (int)cap)
            return fl_fail(err, FL_ERR_FILE, "path too long: %s", path);
        return FL_OK;
    }
    char *target = realpath(path, NULL);
    if (!target)
        return fl_fail(err, FL_ERR_FILE, "cannot write %s: it is a symbolic link to a missing "
                                         "file or folder (%s)",
                       path, strerror(errno));
    int n = snprintf(out, cap, "%s", target);
    free(target);
    if (n >= (int)cap)
        return fl_fail(err, FL_ERR_FILE, "path too long: %s", path);
    return FL_OK;
}

/* A temporary name no other writer uses: the process id alone is shared by
 * the station's workers (threads), which may save at the same moment. */
static bool temp_name(char *tmp, size_t cap, const char *path)
{
    static atomic_uint seq;
    unsigned n = atomic_fetch_add(&seq, 1);
    return snprintf(tmp, cap, "%s.tmp.%ld.%u", path, (long)getpid(), n) < (int)cap;
}

/* Move the finished temporary file into place: rename, or with `no_replace`
 * a hard link that fails if the name exists (rename would replace it). */
static fl_status put_in_place(const char *tmp, const char *path, bool no_replace, bool *existed,
                              fl_error *err)
{
    int rc = no_replace ? link(tmp, path) : rename(tmp, path);
    int e = errno;
    if (no_replace || rc != 0)
        unlink(tmp);
    if (rc == 0)
        return FL_OK;
    if (no_replace && e == EEXIST && existed)
        *existed = true;
    return fl_fail(err, FL_ERR_FILE, "cannot move %s into place as %s: %s", tmp, path, strerror(e));
}

static fl_status write_durable(const char *user_path, const void *data, size_t len,
                               bool no_replace, bool *existed, fl_error *err)
{
    char path[4096], tmp[4200];
    if (existed)
        *existed = false;
    fl_status st = fl_output_path_check(user_path, err);
    if (!st)
        st = write_destination(user_path, path, sizeof path, err);
    if (st)
        return st;
    if (!temp_name(tmp, sizeof tmp, path))
        return fl_fail(err, FL_ERR_FILE, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fl_fail(err, FL_ERR_FILE, "cannot create %s: %s", tmp, strerror(errno));
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return fl_fail(err, FL_ERR_FILE, "cannot write %s: %s", tmp, strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return fl_fail(err, FL_ERR_FILE, "cannot write %s: %s", tmp, strerror(e));
    }
    st = put_in_place(tmp, path, no_replace, existed, err);
    if (!st)
        fsync_parent_dir(path);
    return st;
}

fl_status fl_write_file_durable(const char *path, const void *data, size_t len, fl_error *err)
{
    return write_durable(path, data, len, false, NULL, err);
}

fl_status fl_write_file_new(const char *path, const void *data, size_t len, bool *existed,
                            fl_error *err)
{
    return write_durable(path, data, len, true, existed, err);
}
