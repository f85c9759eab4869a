/* Fuzz target: the audit-log verifier (phicrypt_audit_verify) over an
 * arbitrary log file. The keyset is fixed (fuzz_keyset.h), so the seed
 * logs made with it verify and the fuzzer starts from valid chains.
 * Kept small so it follows the verifier's entry point if that changes. */
#include <stdio.h>
#include <stdlib.h>

#include <phicrypt.h>
#include "fuzz.h"
#include "fuzz_keyset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static phicrypt_t *ph;
    static char log[4200];
    phicrypt_buf report = PHICRYPT_BUF_INIT;
    FILE *f;
    if (!ph && !(ph = phi_fuzz_client(log)))
        abort();
    if (!(f = fopen(log, "wb")))
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    phicrypt_audit_verify(ph, &report, log);
    phicrypt_buf_dispose(&report);
    return 0;
}
