/**
 * @file phicrypt/fle.h
 * @brief Explicit client-side field-level encryption (CSFLE) of single values.
 *
 * Ciphertexts are BSON binary subtype 6 (AEAD_AES_256_CBC_HMAC_SHA_512),
 * byte-compatible with every MongoDB driver. Values travel as a one-field
 * BSON document `{"v": <value>}` so that every BSON type can be expressed;
 * JSON variants take and return one Extended JSON value.
 * Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_FLE_H
#define PHICRYPT_FLE_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/fle.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @brief CSFLE encryption algorithms. */
typedef enum phicrypt_algorithm {
    /** AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic: equal values give equal
     *  ciphertexts (queryable by equality; leaks equality and frequency). */
    PHICRYPT_ALG_DETERMINISTIC = 1,
    /** AEAD_AES_256_CBC_HMAC_SHA_512-Random: a fresh IV every time. */
    PHICRYPT_ALG_RANDOM = 2
} phicrypt_algorithm;

/** Version of ::phicrypt_encrypt_opts this header describes. */
#define PHICRYPT_ENCRYPT_OPTS_VERSION 1

/** @brief Options of phicrypt_encrypt(). Exactly one of key_id and key_alt_name. */
typedef struct phicrypt_encrypt_opts {
    unsigned int version;            /**< #PHICRYPT_ENCRYPT_OPTS_VERSION */
    phicrypt_algorithm algorithm;    /**< deterministic or random */
    const uint8_t *key_id;           /**< 16-byte data key id, or NULL */
    const char *key_alt_name;        /**< data key alternate name, or NULL */
} phicrypt_encrypt_opts;

/** Static initialiser: deterministic, no key chosen yet. */
#define PHICRYPT_ENCRYPT_OPTS_INIT { PHICRYPT_ENCRYPT_OPTS_VERSION, PHICRYPT_ALG_DETERMINISTIC, NULL, NULL }

/**
 * @brief Encrypt one value.
 *
 * Refuses what MongoDB refuses: null, undefined, minKey and maxKey with any
 * algorithm; double, decimal, bool, object, array and javascriptWithScope
 * with the deterministic algorithm; an already encrypted value.
 *
 * @param[out] out  BSON document `{"v": BinData(6, ...)}`.
 * @param value_doc  BSON document `{"v": <value>}`.
 * @return 0, PHICRYPT_EINVAL (bad options, disallowed type),
 *         PHICRYPT_EBADDATA, PHICRYPT_EKEYNOTFOUND, PHICRYPT_EKEYVAULT, ...
 */
PHICRYPT_API
int phicrypt_encrypt(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *value_doc, size_t value_doc_len,
                     const phicrypt_encrypt_opts *opts);

/**
 * @brief Decrypt one value.
 * @param[out] out  BSON document `{"v": <value>}`.
 * @param ciphertext_doc  BSON document `{"v": BinData(6, ...)}`.
 * @return 0, PHICRYPT_EBADDATA (not a ciphertext, truncated),
 *         PHICRYPT_EAUTH (tampered, or the data key cannot be unwrapped),
 *         PHICRYPT_EKEYNOTFOUND (its data key is not in the key vault), ...
 */
PHICRYPT_API
int phicrypt_decrypt(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len);

/**
 * @brief Encrypt one Extended JSON value (relaxed or canonical); the result
 * is the ciphertext as canonical Extended JSON text
 * (`{"$binary":{"base64":"...","subType":"06"}}`), NUL-terminated, in @p out
 * (@c len excludes the NUL).
 */
PHICRYPT_API
int phicrypt_encrypt_json(phicrypt_t *ph, phicrypt_buf *out, const char *value_json,
                          const phicrypt_encrypt_opts *opts);

/**
 * @brief Decrypt a ciphertext given as Extended JSON; the value comes back as
 * Extended JSON text (relaxed when @p canonical is 0), NUL-terminated.
 */
PHICRYPT_API
int phicrypt_decrypt_json(phicrypt_t *ph, phicrypt_buf *out, const char *ciphertext_json, int canonical);

/**
 * @brief Parse one MongoDB Extended JSON document (relaxed or canonical) into
 * BSON bytes in @p out, for the calls that take BSON.
 *
 * Unlike libbson's reader alone, query operators whose names collide with
 * legacy Extended JSON wrappers are read as operators where no wrapper can be
 * meant: `{"x": {"$type": 2}}` is a `$type` query, while
 * `{"$binary": "...", "$type": "00"}` is still binary data. Errors name the
 * position, never the text. @p ph may be NULL (the message is then kept for
 * phicrypt_errmsg(NULL)).
 */
PHICRYPT_API
int phicrypt_json_to_bson(phicrypt_t *ph, phicrypt_buf *out, const char *json, size_t json_len);

/**
 * @brief A BSON document as MongoDB Extended JSON text (canonical when
 * @p canonical is non-zero, else relaxed), compact, NUL-terminated in @p out
 * (@c len excludes the NUL). Doubles are written as the shortest text that
 * reads back to the same value (98.6, 1.0, -0.0, 1e+21), as mongoexport and
 * the drivers write them. The text may hold plaintext: phicrypt_buf_dispose
 * wipes it. @p ph may be NULL.
 */
PHICRYPT_API
int phicrypt_bson_to_json(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *doc_bson, size_t doc_len,
                          int canonical);

/**
 * @brief Automatic encryption of a MongoDB command, without mongocryptd.
 *
 * Every value the command writes or queries at a path the configuration's
 * `schema_map` encrypts is replaced by its ciphertext, exactly as a MongoDB
 * driver with mongocryptd would send it: insert, find, update,
 * findAndModify, delete, count, distinct, aggregate (the stages MongoDB
 * lists for automatic encryption: $match, $group, $lookup ... see README),
 * explain. Commands on collections without a
 * schema pass through unchanged.
 *
 * @param[out] out  the command to send (BSON).
 * @param db  the database the command runs in.
 * @return 0, PHICRYPT_ESCHEMA (the schema or the command is refused: the
 *         message names the field and the reason), PHICRYPT_EBADDATA,
 *         PHICRYPT_EKEYNOTFOUND, ...
 */
PHICRYPT_API
int phicrypt_encrypt_command(phicrypt_t *ph, phicrypt_buf *out, const char *db, const uint8_t *cmd_bson,
                             size_t cmd_len);

/**
 * @brief Automatic decryption: every encrypted (binary subtype 6) value in
 * the document, at any depth, comes back decrypted.
 * @param[out] out  the decrypted document (BSON).
 * @return 0, PHICRYPT_EKEYNOTFOUND (the message names the key id),
 *         PHICRYPT_EAUTH, PHICRYPT_EBADDATA, ...
 */
PHICRYPT_API
int phicrypt_decrypt_document(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *doc_bson, size_t doc_len);

/**
 * @brief The document as it would be inserted into namespace @p ns
 * ("db.collection"): its fields encrypted per the schema map.
 */
PHICRYPT_API
int phicrypt_encrypt_document(phicrypt_t *ph, phicrypt_buf *out, const char *ns, const uint8_t *doc_bson,
                              size_t doc_len);

/**
 * @brief What automatic encryption would do with a command, for debugging a
 * schema: the BSON document
 * `{"ok": true, "fields": [{"path": "documents.0.ssn", "algorithm":
 * "deterministic", "keyId": UUID | "keyAltName": "..."}, ...]}`, or, when
 * the command is refused, `{"ok": false, "error": "<message>"}` (still
 * returning 0: a refusal is a valid answer here). Never contains values.
 */
PHICRYPT_API
int phicrypt_analyze_command(phicrypt_t *ph, phicrypt_buf *out, const char *db, const uint8_t *cmd_bson,
                             size_t cmd_len);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_FLE_H */
