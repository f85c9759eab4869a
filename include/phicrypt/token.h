/**
 * @file phicrypt/token.h
 * @brief Stand-alone format-preserving encryption (NIST SP 800-38G FF1).
 *
 * Include <phicrypt.h>, not this file. These functions take raw key bytes and
 * need no client handle; call phicrypt_init() once before using them. They
 * return 0 or a negative ::phicrypt_error_code; the detail of a failure is
 * recorded for the NULL handle (it never contains the key, tweak or input).
 */
#ifndef PHICRYPT_TOKEN_H
#define PHICRYPT_TOKEN_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/token.h>"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Recommended FF1 key length in bytes (AES-256); 16 and 24 are accepted too. */
#define PHICRYPT_FF1_KEYBYTES 32
/** Smallest domain radix^length FF1 accepts (SP 800-38G Rev. 1). */
#define PHICRYPT_FF1_MIN_DOMAIN 1000000

/** @brief PHICRYPT_FF1_KEYBYTES, for bindings that cannot read macros. */
PHICRYPT_API
size_t phicrypt_ff1_keybytes(void);

/** @brief PHICRYPT_FF1_MIN_DOMAIN, for bindings that cannot read macros. */
PHICRYPT_API
size_t phicrypt_ff1_min_domain(void);

/**
 * @brief FF1-encrypt a string over an alphabet.
 *
 * @param out       receives @p in_len characters and a terminating NUL
 *                  (at least in_len + 1 bytes); may not overlap @p in.
 * @param key       AES key of @p key_len bytes: 16, 24 or 32.
 * @param tweak     tweak bytes (may be NULL when @p tweak_len is 0).
 * @param alphabet  NUL-terminated string of 2..256 distinct bytes; symbol i
 *                  is numeral i, so radix = strlen(alphabet).
 * @param in        @p in_len bytes, each a symbol of @p alphabet.
 * @return 0; PHICRYPT_EINVAL for a NULL argument, a bad key length, a
 *         duplicate alphabet symbol, a byte of @p in not in the alphabet, or
 *         radix^in_len below PHICRYPT_FF1_MIN_DOMAIN; PHICRYPT_ENOMEM;
 *         PHICRYPT_EINTERNAL if OpenSSL fails.
 */
PHICRYPT_API
int phicrypt_ff1_encrypt(char *out, const uint8_t *key, size_t key_len,
                         const uint8_t *tweak, size_t tweak_len,
                         const char *alphabet, const char *in, size_t in_len);

/**
 * @brief FF1-decrypt a string produced by phicrypt_ff1_encrypt() with the
 * same key, tweak and alphabet. Parameters and errors as for encryption.
 */
PHICRYPT_API
int phicrypt_ff1_decrypt(char *out, const uint8_t *key, size_t key_len,
                         const uint8_t *tweak, size_t tweak_len,
                         const char *alphabet, const char *in, size_t in_len);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_TOKEN_H */
