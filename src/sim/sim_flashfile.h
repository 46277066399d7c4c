/* sim_flashfile.h — the flash array of a simulated chip (private to src/sim):
 * a flash file mapped shared, so every change the simulator makes is in the
 * file at once and a second simulator (or a test) sees it, or anonymous memory.
 * Used by the UART simulator (sim_flash.c) and the CH341A emulator
 * (ch341a/spi_nor.c); each checks the found size against its own rules
 * between open and map. */
#ifndef FL_SIM_FLASHFILE_H
#define FL_SIM_FLASHFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef struct sim_flashfile {
    const char *path;
    int fd;
    bool created;  /* it did not exist: made at create_size, blank once mapped */
    uint64_t size; /* the file's size as found */
} sim_flashfile;

/* Open the file at path for reading and writing, creating it with
 * create_size bytes if it does not exist.  FL_ERR_FILE when it cannot be
 * opened or created or is not a regular file. */
fl_status sim_flashfile_open(sim_flashfile *ff, const char *path, uint32_t create_size,
                             fl_error *err);

/* Map its first size bytes shared (a created file is filled with 0xFF) and
 * close the descriptor, mapped or not. */
fl_status sim_flashfile_map(sim_flashfile *ff, uint32_t size, uint8_t **mem, fl_error *err);

/* Close it unmapped (its size was refused). */
void sim_flashfile_close(sim_flashfile *ff);

/* A flash of size bytes in private memory, all 0xFF. */
fl_status sim_flash_alloc(uint32_t size, uint8_t **mem, fl_error *err);

#endif
