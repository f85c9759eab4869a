/* Fuzz target: a KMIP TTLV reply as lib/kms reads it from the network. */
#include "fuzz.h"
#include "kms_reply_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    phi_fuzz_kms_reply(data, size, phi_kms_read_kmip);
    return 0;
}
