/* Fuzz target: an HTTP reply of AWS, Azure or GCP KMS (status line,
 * headers, Content-Length or chunked body, trailers) as lib/kms reads it
 * from the network, limits included. */
#include "fuzz.h"
#include "kms_reply_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    phi_fuzz_kms_reply(data, size, phi_kms_read_http);
    return 0;
}
