/* Fuzz target: the JSON-lines and JSON-array readers and the JSON record
 * rewriter (input starting with '[' is read as a JSON array). */
#include "deid_fuzz_common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_stream(data, size, size && data[0] == '[' ? PHICRYPT_DEID_JSON : PHICRYPT_DEID_JSONL);
    return 0;
}
