/* Fuzz target: the BSON reader (mongodump .bson, length-prefixed
 * documents) and the BSON record rewriter. */
#include "deid_fuzz_common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_stream(data, size, PHICRYPT_DEID_BSON);
    return 0;
}
