/* Fuzz target: decoding of token and pseudonym texts (tk1./ps1.), the
 * base32/base64url decoders, and the format layer's parsing of values. */
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>
#include "fuzz.h"
#include "token/token_private.h"

static phi_ff1_key *key;

/* The key object lives in libsodium's guarded pages, which LeakSanitizer
 * does not scan: free it at exit so its OpenSSL contexts are not reported. */
static void free_key(void)
{
    phi_ff1_key_free(key);
    key = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t k[32] = { 1, 2, 3 };
    uint8_t out[4096];
    char text[4097];
    size_t n = 0;
    uint32_t version;
    if (!key) {
        if (phi_ff1_key_new(&key, k, sizeof k) != 0)
            return 0;
        atexit(free_key);
    }
    if (size > 4096)
        return 0;
    phi_tk_text_decode((const char *)data, size, &version, out, sizeof out, &n);
    phi_ps_text_decode((const char *)data, size, &version, out, sizeof out, &n);
    phi_base32_decode(out, sizeof out, &n, (const char *)data, size);
    phi_base64url_decode(out, sizeof out, &n, (const char *)data, size);
    if (size > 0) {
        /* First byte picks a format; the rest is the value. */
        phi_fpe_format f = (phi_fpe_format)(data[0] % (PHI_FPE_CUSTOM + 1));
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        if (phi_fpe_encrypt(key, f, f == PHI_FPE_CUSTOM ? "0123456789abcdef" : NULL, (const uint8_t *)"t", 1, text,
                            size - 1, (char *)out, sizeof out) == 0) {
            char back[4097];
            if (phi_fpe_decrypt(key, f, f == PHI_FPE_CUSTOM ? "0123456789abcdef" : NULL, (const uint8_t *)"t", 1,
                                (const char *)out, size - 1, back, sizeof back) != 0 ||
                memcmp(back, text, size - 1) != 0)
                __builtin_trap(); /* a format must round-trip what it accepted */
        }
    }
    return 0;
}
