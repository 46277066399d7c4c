/* esp_image_body.h — what the Espressif image fuzz target does with one input.
 * Shared by the libFuzzer target (tests/fuzz/fuzz_esp_image.c) and the
 * mutation smoke run of the unit suite (tests/test_esp_image.c).  Any bytes
 * must give either "not an Espressif file" or a reading whose invariants hold,
 * without a crash, a leak or a sanitizer report (abort() when an invariant
 * breaks, which libFuzzer reports as a crash). */
#ifndef FL_FUZZ_ESP_IMAGE_BODY_H
#define FL_FUZZ_ESP_IMAGE_BODY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/esp_image.h"
#include "formats/image_id.h"

#define FUZZ_ESP_ASSERT(c) \
    do {                   \
        if (!(c))          \
            abort();       \
    } while (0)

static inline void fuzz_esp_check_image(const fl_esp_image *im, size_t size)
{
    if (!im->present)
        return;
    FUZZ_ESP_ASSERT(im->n_seg_read <= FL_ESP_MAX_SEGMENTS && im->n_seg_read <= im->n_segments);
    FUZZ_ESP_ASSERT(im->file_offset + im->length <= size);
    for (unsigned i = 0; i < im->n_seg_read; i++)
        FUZZ_ESP_ASSERT(im->file_offset + im->seg[i].file_offset < size);
    if (!im->error[0]) /* intact: every sum that exists matched */
        FUZZ_ESP_ASSERT(im->length && im->checksum_ok && (!im->hash_appended || im->hash_ok) &&
                        (im->format != FL_ESP_FMT_V2 || im->crc32_ok));
}

/* 1 when the bytes read as a damaged Espressif file, else 0. */
static inline int fuzz_esp_image(const uint8_t *data, size_t size)
{
    fl_esp_ptable t;
    fl_esp_ptable_parse(data, size, &t);
    FUZZ_ESP_ASSERT(t.n <= FL_ESP_MAX_PARTITIONS && (t.present || t.n == 0));
    FUZZ_ESP_ASSERT(!t.have_md5 || t.md5_ok || t.error[0]);

    fl_esp_info *e = malloc(sizeof *e);
    if (!e)
        return 0;
    int damaged = 0;
    if (fl_esp_identify(data, size, e)) {
        FUZZ_ESP_ASSERT(e->kind != FL_ESP_NONE);
        fuzz_esp_check_image(&e->boot, size);
        fuzz_esp_check_image(&e->app, size);
        FUZZ_ESP_ASSERT(e->kind != FL_ESP_APP || e->app.present);
        FUZZ_ESP_ASSERT(e->kind != FL_ESP_BOOTLOADER || e->boot.present);
        FUZZ_ESP_ASSERT(e->error[0] || e->kind != FL_ESP_FACTORY || (e->boot.present && e->app.present));
        json_t *j = fl_esp_info_json(e);
        FUZZ_ESP_ASSERT(j != NULL);
        json_decref(j);
        damaged = e->error[0] != 0;
    }
    free(e);

    fl_image_info in;
    fl_error err;
    if (fl_image_identify(data, size, size & 1 ? "OpenESP32C3_1.0.factory.bin" : NULL, &in, &err) == FL_OK) {
        FUZZ_ESP_ASSERT(!fl_image_kind_is_esp(in.kind) || in.esp.kind != FL_ESP_NONE);
        json_t *j = fl_image_info_json(&in, false);
        json_decref(j);
        fl_image_info_free(&in);
    } else {
        FUZZ_ESP_ASSERT(size == 0);
    }
    return damaged;
}

#endif
