/**
 * @file phicrypt/keyring.h
 * @brief Token and pseudonym keys (the keyring) and the tokenization calls
 * that use them.
 *
 * The keyring holds named keys ("tok:ssn", "ps:patient"), each with
 * versions {version, algorithm, created, status}. Key material is random
 * and stored encrypted with a CSFLE data key (random algorithm, alt name
 * "phicrypt-keyring"), so whatever master key wraps the data keys also
 * protects the keyring, and rewrapping rotates it. Rotation adds a version
 * that becomes primary; older versions keep detokenizing until retired or
 * destroyed. Destroying every version of a key is crypto-shredding: its
 * tokens can never be reversed again.
 *
 * Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_KEYRING_H
#define PHICRYPT_KEYRING_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/keyring.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @brief What a keyring key is for. */
typedef enum phicrypt_keyring_algorithm {
    PHICRYPT_KEYRING_FF1 = 1,  /**< format-preserving tokens, FF1 over AES-256 (32-byte keys) */
    PHICRYPT_KEYRING_SIV = 2,  /**< opaque reversible tokens, AES-256-SIV (64-byte keys) */
    PHICRYPT_KEYRING_HMAC = 3  /**< one-way pseudonyms, HMAC-SHA256 with HKDF subkeys (32-byte keys) */
} phicrypt_keyring_algorithm;

/**
 * @brief Create a key with its first version.
 * @return 0, PHICRYPT_EEXIST (the name is taken), PHICRYPT_EUNSUPPORTED (no
 *         keyring configured), PHICRYPT_EKEYVAULT ...
 */
PHICRYPT_API
int phicrypt_keyring_create(phicrypt_t *ph, const char *name, phicrypt_keyring_algorithm algorithm);

/** @brief Add a version to a key and make it primary; @p new_version receives its number. */
PHICRYPT_API
int phicrypt_keyring_rotate(phicrypt_t *ph, uint32_t *new_version, const char *name);

/**
 * @brief Retire a version: it still reverses and verifies old tokens but is
 * never used for new ones. The primary version cannot be retired (rotate first).
 */
PHICRYPT_API
int phicrypt_keyring_retire(phicrypt_t *ph, const char *name, uint32_t version);

/**
 * @brief Destroy one version (or, with version 0, the whole key): its
 * material is deleted, and the tokens it made can never be reversed again.
 * Destroying the primary version alone is refused (rotate first).
 */
PHICRYPT_API
int phicrypt_keyring_destroy(phicrypt_t *ph, const char *name, uint32_t version);

/**
 * @brief phicrypt_keyring_destroy() even when the audit log still needs the
 * version (its lines name it: "audit:sign", "audit:subject"); the override
 * and @p reason (required, not secret) are recorded in the audit log.
 */
PHICRYPT_API
int phicrypt_keyring_destroy_forced(phicrypt_t *ph, const char *name, uint32_t version, const char *reason);

/**
 * @brief Every key as the BSON document `{"keys": [{"name", "algorithm",
 * "primary", "versions": [{"version", "created", "status"}]}]}` (no material).
 */
PHICRYPT_API
int phicrypt_keyring_list(phicrypt_t *ph, phicrypt_buf *out);

/** Version of ::phicrypt_token_opts this header describes. */
#define PHICRYPT_TOKEN_OPTS_VERSION 1

/** @brief Options of phicrypt_tokenize() and phicrypt_detokenize(). */
typedef struct phicrypt_token_opts {
    unsigned int version;     /**< #PHICRYPT_TOKEN_OPTS_VERSION */
    /** "siv" (AES-SIV key) or, with an FF1 key: "digits", "ssn", "phone",
     *  "mrn", "alnum", "credit_card", "email", "email_full", "custom". NULL: "siv".
     *  An FF1 value too short for the format gets an opaque AES-SIV token
     *  (reversible with the same key) instead of an error. */
    const char *format;
    /** The field context: FF1 tweak, SIV associated data. The same value in
     *  two contexts gives different tokens. NULL means "". */
    const char *context;
    const char *alphabet;     /**< symbols of the "custom" format, else NULL */
    /** Key version: 0 means the primary one. SIV tokens carry their version,
     *  so detokenize ignores this for them; FF1 tokens do not, so detokenize
     *  must be told the version that made them (record it in the policy). */
    uint32_t key_version;
} phicrypt_token_opts;

/** Static initialiser: SIV tokens, empty context, primary version. */
#define PHICRYPT_TOKEN_OPTS_INIT { PHICRYPT_TOKEN_OPTS_VERSION, NULL, NULL, NULL, 0 }

/**
 * @brief Tokenize a value (UTF-8 text) with a keyring key.
 *
 * FF1 formats keep the value's length, alphabet and separators (an SSN
 * stays ddd-dd-dddd); "siv" gives `tk1.<version>.<base64url>`. Deterministic:
 * the same key, context and value always give the same token.
 * @param[out] out  the token, NUL-terminated (len excludes the NUL).
 * @return 0, PHICRYPT_EBADDATA (the value does not fit the format, or is
 *         too short for FF1's minimum domain of 1,000,000), PHICRYPT_EKEYNOTFOUND,
 *         PHICRYPT_EINVAL (a format that does not match the key's algorithm) ...
 */
PHICRYPT_API
int phicrypt_tokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *value, size_t value_len,
                      const phicrypt_token_opts *opts);

/**
 * @brief Reverse phicrypt_tokenize().
 * @return 0, PHICRYPT_EAUTH (a SIV token that was altered or made with
 *         another key or context), PHICRYPT_EBADDATA (not a token),
 *         PHICRYPT_EKEYNOTFOUND (the version was destroyed) ...
 */
PHICRYPT_API
int phicrypt_detokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *token, size_t token_len,
                        const phicrypt_token_opts *opts);

/** Version of ::phicrypt_pseudonym_opts this header describes. */
#define PHICRYPT_PSEUDONYM_OPTS_VERSION 1

/** Normalisation flags of ::phicrypt_pseudonym_opts. */
#define PHICRYPT_NORM_TRIM 1u        /**< strip leading and trailing spaces */
#define PHICRYPT_NORM_CASEFOLD 2u    /**< ASCII case-insensitive */
#define PHICRYPT_NORM_COLLAPSE 4u    /**< runs of inner spaces count as one */

/** @brief Options of phicrypt_pseudonymize(). */
typedef struct phicrypt_pseudonym_opts {
    unsigned int version;      /**< #PHICRYPT_PSEUDONYM_OPTS_VERSION */
    const char *context;       /**< subkey context (HKDF info); NULL means "" */
    unsigned int normalize;    /**< PHICRYPT_NORM_* flags; 0: exact bytes */
    size_t length;             /**< MAC bytes, 16..32; 0 means 16 (128 bits) */
    uint32_t key_version;      /**< 0: primary */
} phicrypt_pseudonym_opts;

/** Static initialiser: empty context, no normalisation, 128 bits, primary. */
#define PHICRYPT_PSEUDONYM_OPTS_INIT { PHICRYPT_PSEUDONYM_OPTS_VERSION, NULL, 0, 0, 0 }

/**
 * @brief One-way pseudonym of a value: `ps1.<version>.<base32>`, the HMAC-SHA256
 * of the (normalised) value under a per-context subkey of an HMAC key.
 * @param[out] out  the pseudonym, NUL-terminated.
 */
PHICRYPT_API
int phicrypt_pseudonymize(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *value,
                          size_t value_len, const phicrypt_pseudonym_opts *opts);

/**
 * @brief Check that @p pseudonym is the pseudonym of @p value (with the
 * version it names; constant-time comparison).
 * @return 0 when it is, PHICRYPT_EAUTH when it is not, another code on error.
 */
PHICRYPT_API
int phicrypt_pseudonym_verify(phicrypt_t *ph, const char *key_name, const char *value, size_t value_len,
                              const char *pseudonym, const phicrypt_pseudonym_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_KEYRING_H */
