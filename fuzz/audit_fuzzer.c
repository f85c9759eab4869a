/* Fuzz target: audit log verification (phi_audit_verify_text), the parser
 * an outside auditor runs on a log nobody vouches for. Input: one line of
 * public keys ({"kv":N,"ed25519":"<hex>"}), then the log. */
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>
#include "audit/audit_private.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t klen = nl ? (size_t)(nl - data) : size;
    char *keys = malloc(klen + 1), *log = malloc(size - klen + 1);
    phicrypt_buf report = PHICRYPT_BUF_INIT;
    int torn = 0;
    if (keys && log) {
        memcpy(keys, data, klen);
        keys[klen] = '\0';
        memcpy(log, data + klen, size - klen);
        log[size - klen] = '\0';
        phi_audit_verify_text(NULL, &report, &torn, log, size - klen, keys, NULL);
        phicrypt_buf_dispose(&report);
    }
    free(keys);
    free(log);
    return 0;
}
