/* libFuzzer target: see fuzz_tuya_extract() in bodies.h. */
#include "bodies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_tuya_extract(data, size);
    return 0;
}
