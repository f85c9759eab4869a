/* The public stand-alone FF1 over a byte alphabet (phicrypt/token.h): the
 * one-shot functions taking a raw key, and the keyed handle. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/token_private.h"

/* Numerals of a value up to this length live on the stack (wiped). */
#define STACK_NUMERALS 256

struct phicrypt_ff1_key {
    phi_ff1_key *k;
    size_t radix;
    int16_t index[256]; /* byte -> numeral, -1 outside the alphabet */
    char alphabet[257];
};

size_t phicrypt_ff1_keybytes(void)
{
    return PHICRYPT_FF1_KEYBYTES;
}

size_t phicrypt_ff1_min_domain(void)
{
    return PHICRYPT_FF1_MIN_DOMAIN;
}

static int check_alphabet(const char *op, const char *alphabet, int16_t index[256], size_t *radix)
{
    size_t r = strlen(alphabet);
    if (r < 2 || r > 256)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: alphabet has %zu symbols; 2..256 needed", op, r);
    memset(index, 0xff, 256 * sizeof *index);
    for (size_t i = 0; i < r; i++) {
        unsigned char ch = (unsigned char)alphabet[i];
        if (index[ch] >= 0)
            return phi_error(NULL, PHICRYPT_EINVAL, "%s: alphabet symbol at position %zu is a duplicate", op, i);
        index[ch] = (int16_t)i;
    }
    *radix = r;
    return 0;
}

static int check_key_len(const char *op, size_t key_len)
{
    if (key_len != 16 && key_len != 24 && key_len != 32)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: key length %zu is not 16, 24 or 32 bytes", op, key_len);
    return 0;
}

/* Maps `in` to numerals, runs FF1 (with the handle's key, or the raw key
 * once) and maps back into `out`. */
static int run(const char *op, int enc, char *out, phi_ff1_key *k, const uint8_t *key, size_t key_len,
               const uint8_t *tweak, size_t tweak_len, const int16_t *index, size_t radix, const char *alphabet,
               const char *in, size_t in_len)
{
    uint16_t stack[STACK_NUMERALS], *num = stack;
    size_t i;
    int rc;
    if (in_len > PHI_FF1_MAX_LEN)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: input length %zu exceeds %u", op, in_len, PHI_FF1_MAX_LEN);
    if (!phi_ff1_domain_ok((uint32_t)radix, in_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: domain radix^length (radix %zu, length %zu) "
                         "is below the minimum of 1000000", op, radix, in_len);
    if (in_len > STACK_NUMERALS && !(num = phi_malloc(in_len * sizeof *num)))
        return phi_error(NULL, PHICRYPT_ENOMEM, "%s: out of memory", op);
    for (i = 0; i < in_len; i++) {
        int16_t v = index[(unsigned char)in[i]];
        if (v < 0) {
            rc = phi_error(NULL, PHICRYPT_EINVAL, "%s: input byte at position %zu is not in the alphabet", op, i);
            goto done;
        }
        num[i] = (uint16_t)v;
    }
    if (k)
        rc = enc ? phi_ff1_encrypt(k, (uint32_t)radix, tweak, tweak_len, num, in_len, num)
                 : phi_ff1_decrypt(k, (uint32_t)radix, tweak, tweak_len, num, in_len, num);
    else
        rc = phi_ff1_oneshot(enc, key, key_len, (uint32_t)radix, tweak, tweak_len, num, in_len, num);
    if (rc)
        goto done;
    for (i = 0; i < in_len; i++)
        out[i] = alphabet[num[i]];
    out[in_len] = '\0';
done:
    phi_wipe(num, in_len * sizeof *num);
    if (num != stack)
        phi_free(num);
    return rc;
}

static int ff1_string(int enc, char *out, const uint8_t *key, size_t key_len, const uint8_t *tweak,
                      size_t tweak_len, const char *alphabet, const char *in, size_t in_len)
{
    const char *op = enc ? "phicrypt_ff1_encrypt" : "phicrypt_ff1_decrypt";
    int16_t index[256];
    size_t radix;
    int rc;
    if (!out || !key || !alphabet || !in || (!tweak && tweak_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: NULL argument", op);
    if ((rc = check_alphabet(op, alphabet, index, &radix)) != 0 || (rc = check_key_len(op, key_len)) != 0)
        return rc;
    return run(op, enc, out, NULL, key, key_len, tweak, tweak_len, index, radix, alphabet, in, in_len);
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

int phicrypt_ff1_key_new(phicrypt_ff1_key **out, const uint8_t *key, size_t key_len, const char *alphabet)
{
    static const char op[] = "phicrypt_ff1_key_new";
    phicrypt_ff1_key *h;
    int rc;
    if (!out)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: NULL argument", op);
    *out = NULL;
    if (!key || !alphabet)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: NULL argument", op);
    if ((rc = check_key_len(op, key_len)) != 0)
        return rc;
    if (!(h = phi_calloc(1, sizeof *h)))
        return phi_error(NULL, PHICRYPT_ENOMEM, "%s: out of memory", op);
    if ((rc = check_alphabet(op, alphabet, h->index, &h->radix)) != 0 ||
        (rc = phi_ff1_key_new(&h->k, key, key_len)) != 0) {
        phi_free(h);
        return rc == PHICRYPT_EINVAL ? rc : phi_error_wrap(NULL, rc, "%s", op);
    }
    memcpy(h->alphabet, alphabet, h->radix + 1);
    *out = h;
    return 0;
}

static int with(int enc, char *out, phicrypt_ff1_key *h, const uint8_t *tweak, size_t tweak_len, const char *in,
                size_t in_len)
{
    const char *op = enc ? "phicrypt_ff1_encrypt_with" : "phicrypt_ff1_decrypt_with";
    if (!out || !h || !in || (!tweak && tweak_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: NULL argument", op);
    return run(op, enc, out, h->k, NULL, 0, tweak, tweak_len, h->index, h->radix, h->alphabet, in, in_len);
}

int phicrypt_ff1_encrypt_with(char *out, phicrypt_ff1_key *key, const uint8_t *tweak, size_t tweak_len,
                              const char *in, size_t in_len)
{
    return with(1, out, key, tweak, tweak_len, in, in_len);
}

int phicrypt_ff1_decrypt_with(char *out, phicrypt_ff1_key *key, const uint8_t *tweak, size_t tweak_len,
                              const char *in, size_t in_len)
{
    return with(0, out, key, tweak, tweak_len, in, in_len);
}

void phicrypt_ff1_key_free(phicrypt_ff1_key *key)
{
    if (!key)
        return;
    phi_ff1_key_free(key->k); /* wipes the key schedule */
    phi_free(key);
}
