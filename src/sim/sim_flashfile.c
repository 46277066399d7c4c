/* sim_flashfile.c — a simulated chip's flash array in a shared file mapping
 * or in memory (see sim_flashfile.h). */
#include "sim/sim_flashfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

fl_status sim_flashfile_open(sim_flashfile *ff, const char *path, uint32_t create_size,
                             fl_error *err)
{
    memset(ff, 0, sizeof *ff);
    ff->path = path;
    ff->fd = -1;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    bool created = false;
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        created = fd >= 0;
        if (created && ftruncate(fd, create_size) != 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return fl_fail(err, FL_ERR_FILE, "cannot create flash file %s: %s", path, strerror(e));
        }
    }
    if (fd < 0)
        return fl_fail(err, FL_ERR_FILE, "cannot open flash file %s for reading and writing: %s",
                       path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fl_fail(err, FL_ERR_FILE, "flash file %s is not a regular file", path);
    }
    ff->fd = fd;
    ff->created = created;
    ff->size = (uint64_t)st.st_size;
    return FL_OK;
}

void sim_flashfile_close(sim_flashfile *ff)
{
    if (ff->fd >= 0)
        close(ff->fd);
    ff->fd = -1;
}

fl_status sim_flashfile_map(sim_flashfile *ff, uint32_t size, uint8_t **mem, fl_error *err)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ff->fd, 0);
    int e = errno;
    sim_flashfile_close(ff);
    if (m == MAP_FAILED)
        return fl_fail(err, FL_ERR_FILE, "cannot map flash file %s: %s", ff->path, strerror(e));
    if (ff->created)
        memset(m, 0xFF, size);
    *mem = m;
    return FL_OK;
}

fl_status sim_flash_alloc(uint32_t size, uint8_t **mem, fl_error *err)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return fl_fail(err, FL_ERR_INTERNAL, "cannot allocate %u bytes of flash", size);
    memset(m, 0xFF, size);
    *mem = m;
    return FL_OK;
}
