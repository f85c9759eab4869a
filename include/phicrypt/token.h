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

/**
 * @brief A keyed FF1 handle: the key scheduled and the alphabet indexed
 * once, for callers that encrypt many values under one key (about twice
 * as fast per value as phicrypt_ff1_encrypt(), which schedules the key on
 * every call).
 *
 * A handle may be used by one thread at a time (give each thread its own;
 * phicrypt_ff1_key_new() is cheap). Its key material lives in locked,
 * guarded memory and is wiped by phicrypt_ff1_key_free(). Results are
 * identical to phicrypt_ff1_encrypt() / phicrypt_ff1_decrypt() with the
 * same key, tweak and alphabet. Added after phicrypt 0.1.0 (symbol
 * version PHICRYPT_0.2).
 */
typedef struct phicrypt_ff1_key phicrypt_ff1_key;

/**
 * @brief Creates a keyed FF1 handle.
 *
 * @param out       receives the handle (NULL on failure); free it with
 *                  phicrypt_ff1_key_free().
 * @param key       AES key of @p key_len bytes (16, 24 or 32), copied.
 * @param alphabet  as for phicrypt_ff1_encrypt(), copied.
 * @return 0; PHICRYPT_EINVAL for a NULL argument, a bad key length or a bad
 *         alphabet; PHICRYPT_ENOMEM; PHICRYPT_EINTERNAL if OpenSSL fails.
 */
PHICRYPT_API
int phicrypt_ff1_key_new(phicrypt_ff1_key **out, const uint8_t *key, size_t key_len,
                         const char *alphabet);

/**
 * @brief FF1-encrypts @p in under the handle's key and alphabet.
 *
 * @param out  receives @p in_len characters and a NUL (in_len + 1 bytes);
 *             may not overlap @p in.
 * @return as phicrypt_ff1_encrypt() (PHICRYPT_EINVAL for a NULL handle).
 */
PHICRYPT_API
int phicrypt_ff1_encrypt_with(char *out, phicrypt_ff1_key *key, const uint8_t *tweak,
                              size_t tweak_len, const char *in, size_t in_len);

/** @brief The inverse of phicrypt_ff1_encrypt_with(); parameters and errors alike. */
PHICRYPT_API
int phicrypt_ff1_decrypt_with(char *out, phicrypt_ff1_key *key, const uint8_t *tweak,
                              size_t tweak_len, const char *in, size_t in_len);

/** @brief Wipes and frees a handle; NULL is ignored. */
PHICRYPT_API
void phicrypt_ff1_key_free(phicrypt_ff1_key *key);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_TOKEN_H */
