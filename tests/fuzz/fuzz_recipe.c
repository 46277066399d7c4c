/* libFuzzer target: see fuzz_recipe() in recipe_body.h. */
#include "recipe_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_recipe(data, size);
    return 0;
}
