/* Fuzz target: the CSV reader (header and records, RFC 4180 quoting) and
 * the CSV record rewriter. */
#include "deid_fuzz_common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_stream(data, size, PHICRYPT_DEID_CSV);
    return 0;
}
