/* Fuzz target: the public FF1 primitive with arbitrary keys, tweaks,
 * alphabets and inputs. Layout: 1 byte key length selector, 1 byte tweak
 * length, 1 byte alphabet length, then key, tweak, alphabet, input. */
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t klens[4] = { 16, 24, 32, 7 };
    size_t klen, tlen, alen, off = 3, n;
    char alphabet[257], *in, *out, *back;
    if (size < 3)
        return 0;
    klen = klens[data[0] & 3];
    tlen = data[1];
    alen = data[2];
    if (size < off + klen + tlen + alen)
        return 0;
    memcpy(alphabet, data + off + klen + tlen, alen);
    alphabet[alen] = '\0';
    n = size - (off + klen + tlen + alen);
    in = malloc(n + 1);
    out = malloc(n + 1);
    back = malloc(n + 1);
    if (!in || !out || !back)
        goto done;
    memcpy(in, data + off + klen + tlen + alen, n);
    in[n] = '\0';
    if (phicrypt_ff1_encrypt(out, data + off, klen, data + off + klen, tlen, alphabet, in, n) == 0) {
        if (phicrypt_ff1_decrypt(back, data + off, klen, data + off + klen, tlen, alphabet, out, n) != 0 ||
            memcmp(back, in, n) != 0)
            __builtin_trap(); /* FF1 must be a permutation */
    }
done:
    free(in);
    free(out);
    free(back);
    return 0;
}
