/* libFuzzer target: see fuzz_crc_crypt() in bodies.h. */
#include "bodies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_crc_crypt(data, size);
    return 0;
}
