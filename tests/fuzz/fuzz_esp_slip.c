/* libFuzzer target: the ESP ROM driver's receive side (src/drivers/esp_rom/
 * slip.h): the SLIP decoder fed the input in pieces, every frame it hands
 * out parsed as a reply with its status at each payload length the driver
 * uses, MD5 replies decoded, and the ROM's boot text searched.  Also: a
 * frame encoded from the input decodes back to the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/esp_rom/slip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static esp_slip_decoder d;
    esp_slip_reset(&d);
    esp_slip_clear_text(&d);
    size_t pos = 0, piece = size ? (data[0] % 17) + 1 : 1;
    while (pos < size) {
        size_t n = size - pos < piece ? size - pos : piece;
        size_t used = 0;
        while (used < n) {
            bool done;
            used += esp_slip_feed(&d, data + pos + used, n - used, &done);
            if (!done || d.bad)
                continue;
            esp_reply r;
            if (!esp_reply_parse(d.frame, d.len, &r))
                continue;
            static const size_t payloads[] = {0, 12, 20, 32, 64};
            for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
                uint8_t st, code;
                if (esp_reply_status(&r, payloads[i], &st, &code))
                    (void)esp_rom_error_name(code);
            }
            uint8_t md5[16];
            esp_md5_parse(r.data, r.len >= 32 ? 32 : r.len, md5);
        }
        pos += n;
    }
    unsigned mode;
    bool download;
    char name[48];
    esp_boot_text(d.text, &mode, &download, name, sizeof name);

    /* encode → decode is the identity (a request never exceeds the frame buffer) */
    if (size <= 8 + 16 + 0x400) {
        uint8_t *frame = malloc(2 * size + 2);
        size_t fl = esp_slip_encode(data, size, frame, 2 * size + 2);
        if (fl != esp_slip_escaped_len(data, size) + 2)
            abort();
        esp_slip_reset(&d);
        bool done = false;
        size_t used = esp_slip_feed(&d, frame, fl, &done);
        if (size > 0 && (!done || d.bad || used != fl || d.len != size || memcmp(d.frame, data, size)))
            abort();
        free(frame);
    }
    return 0;
}
