/* libFuzzer target: see fuzz_tuya_kv_plain() in bodies.h. */
#include "bodies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_tuya_kv_plain(data, size);
    return 0;
}
