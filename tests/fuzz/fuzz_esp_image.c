/* libFuzzer target: see fuzz_esp_image() in esp_image_body.h. */
#include "esp_image_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_esp_image(data, size);
    return 0;
}
