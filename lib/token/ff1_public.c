/* The public stand-alone FF1 over a byte alphabet (phicrypt/token.h). */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/token_private.h"

size_t phicrypt_ff1_keybytes(void)
{
    return PHICRYPT_FF1_KEYBYTES;
}

size_t phicrypt_ff1_min_domain(void)
{
    return PHICRYPT_FF1_MIN_DOMAIN;
}

static int ff1_string(int enc, char *out, const uint8_t *key, size_t key_len,
                      const uint8_t *tweak, size_t tweak_len, const char *alphabet,
                      const char *in, size_t in_len)
{
    const char *op = enc ? "phicrypt_ff1_encrypt" : "phicrypt_ff1_decrypt";
    int16_t index[256];
    uint16_t *num = NULL;
    phi_ff1_key *k = NULL;
    size_t radix, i;
    int rc;

    if (!out || !key || !alphabet || !in || (!tweak && tweak_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: NULL argument", op);
    radix = strlen(alphabet);
    if (radix < 2 || radix > 256)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: alphabet has %zu symbols; 2..256 needed",
                         op, radix);
    memset(index, 0xff, sizeof index);
    for (i = 0; i < radix; i++) {
        unsigned char ch = (unsigned char)alphabet[i];
        if (index[ch] >= 0)
            return phi_error(NULL, PHICRYPT_EINVAL, "%s: alphabet symbol at position %zu is a "
                             "duplicate", op, i);
        index[ch] = (int16_t)i;
    }
    if (key_len != 16 && key_len != 24 && key_len != 32)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: key length %zu is not 16, 24 or 32 bytes",
                         op, key_len);
    if (in_len > PHI_FF1_MAX_LEN)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: input length %zu exceeds %u", op, in_len,
                         PHI_FF1_MAX_LEN);
    if (!phi_ff1_domain_ok((uint32_t)radix, in_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: domain radix^length (radix %zu, length %zu) "
                         "is below the minimum of 1000000", op, radix, in_len);
    num = phi_malloc(in_len * sizeof *num);
    if (!num)
        return phi_error(NULL, PHICRYPT_ENOMEM, "%s: out of memory", op);
    for (i = 0; i < in_len; i++) {
        int16_t v = index[(unsigned char)in[i]];
        if (v < 0) {
            rc = phi_error(NULL, PHICRYPT_EINVAL, "%s: input byte at position %zu is not in the "
                           "alphabet", op, i);
            goto done;
        }
        num[i] = (uint16_t)v;
    }
    rc = phi_ff1_key_new(&k, key, key_len);
    if (rc)
        goto done;
    rc = enc ? phi_ff1_encrypt(k, (uint32_t)radix, tweak, tweak_len, num, in_len, num)
             : phi_ff1_decrypt(k, (uint32_t)radix, tweak, tweak_len, num, in_len, num);
    if (rc)
        goto done;
    for (i = 0; i < in_len; i++)
        out[i] = alphabet[num[i]];
    out[in_len] = '\0';
done:
    phi_ff1_key_free(k);
    phi_wipe_free(num, in_len * sizeof *num);
    return rc;
}

int phicrypt_ff1_encrypt(char *out, const uint8_t *key, size_t key_len, const uint8_t *tweak,
                         size_t tweak_len, const char *alphabet, const char *in, size_t in_len)
{
    return ff1_string(1, out, key, key_len, tweak, tweak_len, alphabet, in, in_len);
}

int phicrypt_ff1_decrypt(char *out, const uint8_t *key, size_t key_len, const uint8_t *tweak,
                         size_t tweak_len, const char *alphabet, const char *in, size_t in_len)
{
    return ff1_string(0, out, key, key_len, tweak, tweak_len, alphabet, in, in_len);
}
