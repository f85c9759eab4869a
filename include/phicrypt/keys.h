/**
 * @file phicrypt/keys.h
 * @brief Data keys in the key vault: create, look up, list, delete, alt names.
 *
 * A data key is a document in the key vault exactly as MongoDB stores it in
 * `encryption.__keyVault`: `_id` (UUID), `keyMaterial` (the key wrapped by a
 * KMS master key), `masterKey`, `keyAltNames`, `creationDate`, `updateDate`,
 * `status`. Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_KEYS_H
#define PHICRYPT_KEYS_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/keys.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Size of a key id (a UUID, RFC 4122 byte order). */
#define PHICRYPT_KEY_ID_BYTES 16
/** @brief Function twin of #PHICRYPT_KEY_ID_BYTES. */
PHICRYPT_API
size_t phicrypt_key_id_bytes(void);

/** Size of custom key material for a data key. */
#define PHICRYPT_KEY_MATERIAL_BYTES 96
/** @brief Function twin of #PHICRYPT_KEY_MATERIAL_BYTES. */
PHICRYPT_API
size_t phicrypt_key_material_bytes(void);

/** Version of ::phicrypt_datakey_opts this header describes. */
#define PHICRYPT_DATAKEY_OPTS_VERSION 1

/** @brief Options of phicrypt_datakey_create(). */
typedef struct phicrypt_datakey_opts {
    unsigned int version;          /**< #PHICRYPT_DATAKEY_OPTS_VERSION */
    const char *provider;          /**< KMS provider name: "local" (default when NULL) */
    const char *master_key_json;   /**< provider's master key document (JSON), NULL for local */
    const char *const *alt_names;  /**< key alternate names, unique in the vault; may be NULL */
    size_t alt_names_count;        /**< number of entries in @c alt_names */
    const uint8_t *key_material;   /**< custom key material (96 bytes) or NULL for random */
    size_t key_material_len;       /**< length of @c key_material */
} phicrypt_datakey_opts;

/** Static initialiser: a random key under the local master key, no alt names. */
#define PHICRYPT_DATAKEY_OPTS_INIT { PHICRYPT_DATAKEY_OPTS_VERSION, "local", NULL, NULL, 0, NULL, 0 }

/**
 * @brief Create a data key, wrap it with the provider's master key and
 * store it in the key vault.
 * @param[out] id  the new key's id (16 bytes).
 * @return 0, PHICRYPT_EEXIST (an alt name is taken), PHICRYPT_EINVAL,
 *         PHICRYPT_EKEYVAULT, PHICRYPT_EKMS ...
 */
PHICRYPT_API
int phicrypt_datakey_create(phicrypt_t *ph, uint8_t id[PHICRYPT_KEY_ID_BYTES], const phicrypt_datakey_opts *opts);

/**
 * @brief The key document (BSON) with the given id, with `keyMaterial` removed.
 * @return 0 or PHICRYPT_EKEYNOTFOUND.
 */
PHICRYPT_API
int phicrypt_datakey_get(phicrypt_t *ph, phicrypt_buf *out, const uint8_t id[PHICRYPT_KEY_ID_BYTES]);

/** @brief Like phicrypt_datakey_get(), by alternate name. */
PHICRYPT_API
int phicrypt_datakey_get_by_alt_name(phicrypt_t *ph, phicrypt_buf *out, const char *alt_name);

/**
 * @brief All key documents, as the BSON document `{"keys": [doc, ...]}`,
 * each with `keyMaterial` removed.
 */
PHICRYPT_API
int phicrypt_datakey_list(phicrypt_t *ph, phicrypt_buf *out);

/**
 * @brief Delete a data key. Data encrypted with it can no longer be
 * decrypted (crypto-shredding). A key phicrypt depends on (the one that
 * wraps keyring keys, `phicrypt-keyring`, or the audit key
 * `phicrypt-audit`) is refused: see phicrypt_datakey_delete_ex().
 * @return 0, PHICRYPT_EKEYNOTFOUND, or PHICRYPT_EINVAL (an internal key;
 *         the message names what depends on it and how many).
 */
PHICRYPT_API
int phicrypt_datakey_delete(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES]);

/** Version of ::phicrypt_datakey_delete_opts this header describes. */
#define PHICRYPT_DATAKEY_DELETE_OPTS_VERSION 1

/** @brief Options of phicrypt_datakey_delete_ex(). */
typedef struct phicrypt_datakey_delete_opts {
    unsigned int version; /**< #PHICRYPT_DATAKEY_DELETE_OPTS_VERSION */
    int shred_internal;   /**< 1: delete even a key that wraps keyring keys or derives audit keys (audited) */
} phicrypt_datakey_delete_opts;

/** Static initialiser: internal keys are refused. */
#define PHICRYPT_DATAKEY_DELETE_OPTS_INIT { PHICRYPT_DATAKEY_DELETE_OPTS_VERSION, 0 }

/**
 * @brief phicrypt_datakey_delete() with options (@p opts may be NULL).
 * With `shred_internal`, a `key_shred_internal` audit event is written
 * before the key goes, then every keyring key it wraps is unrecoverable.
 */
PHICRYPT_API
int phicrypt_datakey_delete_ex(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES],
                               const phicrypt_datakey_delete_opts *opts);

/** @brief Add an alternate name to a key. @return 0, PHICRYPT_EEXIST, PHICRYPT_EKEYNOTFOUND. */
PHICRYPT_API
int phicrypt_datakey_add_alt_name(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES], const char *alt_name);

/** @brief Remove an alternate name from a key. @return 0 or PHICRYPT_EKEYNOTFOUND. */
PHICRYPT_API
int phicrypt_datakey_remove_alt_name(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES], const char *alt_name);

/**
 * @brief Resolve a key alternate name to the key id.
 * @return 0 or PHICRYPT_EKEYNOTFOUND.
 */
PHICRYPT_API
int phicrypt_datakey_id_by_alt_name(phicrypt_t *ph, uint8_t id[PHICRYPT_KEY_ID_BYTES], const char *alt_name);

/**
 * @brief Rotate master keys: rewrap the data keys that match @p filter_json
 * under a new master key and replace them in the key vault in one atomic
 * write (all or none).
 *
 * The data keys themselves (and so every ciphertext made with them) do not
 * change; only their wrapping does. Each matching key is unwrapped by the
 * KMS that wrapped it and wrapped again by @p provider.
 *
 * @param[out] count  number of keys rewrapped (0 when none matched); may be NULL.
 * @param filter_json a MongoDB filter over key documents (NULL or "{}": every
 *        key): field equality on dotted paths (e.g. "masterKey.provider"),
 *        `$eq`, `$in`, `$exists`, `$or`, `$and`.
 * @param provider    "local", "aws", "azure", "gcp" or "kmip", configured in this
 *        client; NULL keeps each key's current master key (rewraps in place).
 * @param master_key_json the provider's master key document (JSON), NULL for local.
 * @return 0, PHICRYPT_EINVAL, PHICRYPT_ECONFIG, PHICRYPT_EUNSUPPORTED (filter
 *         operator), PHICRYPT_EKMS, PHICRYPT_EKMSAUTH, PHICRYPT_ETIMEOUT,
 *         PHICRYPT_EKEYVAULT, PHICRYPT_EKEYNOTFOUND (a key deleted meanwhile).
 */
PHICRYPT_API
int phicrypt_datakey_rewrap(phicrypt_t *ph, size_t *count, const char *filter_json, const char *provider,
                            const char *master_key_json);

/** Size of a local master key. */
#define PHICRYPT_LOCAL_KEY_BYTES 96
/** @brief Function twin of #PHICRYPT_LOCAL_KEY_BYTES. */
PHICRYPT_API
size_t phicrypt_local_key_bytes(void);

/**
 * @brief Create a new local master key file: 96 random bytes, mode 0600,
 * written and synced before it appears under @p path.
 *
 * Refuses to overwrite an existing file (PHICRYPT_EEXIST). Stand-alone:
 * the message of a failure is phicrypt_errmsg(NULL).
 * @return 0, PHICRYPT_EEXIST, PHICRYPT_EIO.
 */
PHICRYPT_API
int phicrypt_local_key_file_create(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_KEYS_H */
