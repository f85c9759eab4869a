/* Fuzz target: the de-identification policy parser, through the public
 * policy-load call only (phicrypt_deid_policy_new). A client with a local
 * key and a keyring lets policies name keys; none is used. */
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>
#include "fuzz.h"
#include "fuzz_keyset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static phicrypt_t *ph;
    phicrypt_deid_policy *p = NULL;
    char *text;
    if (!ph && !(ph = phi_fuzz_client(NULL)))
        abort();
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (phicrypt_deid_policy_new(&p, ph, text) == 0)
        phicrypt_deid_policy_free(p);
    free(text);
    return 0;
}
