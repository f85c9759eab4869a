/**
 * @file phicrypt/access.h
 * @brief Minimum necessary: decrypt only the fields a caller's role and
 * purpose of use allow, and record every disclosure in the audit log.
 *
 * The configuration's `access` section maps roles to purposes of use and
 * to the field paths (per namespace) they may decrypt:
 * @code{.json}
 * "access": {
 *   "roles": {
 *     "billing":   { "purposes": ["PAYMENT"],   "fields": ["ssn", "mrn"], "keys": ["tok:ssn"] },
 *     "physician": { "purposes": ["TREATMENT"], "fields": ["*"] },
 *     "nurse":     { "purposes": ["TREATMENT"],
 *                    "fields": { "hospital.patients": ["name", "allergies"], "*": ["mrn"] } } },
 *   "break_glass": { "purpose": "EMERGENCY", "roles": ["physician"] },
 *   "denied_fields": "ciphertext",
 *   "marker": "[RESTRICTED]"
 * }
 * @endcode
 * A field path names a field and everything under it (`address` covers
 * `address.city`); a `*` segment matches any one field name; `*` alone
 * matches every field; array indices are not written (`visits.dx` covers
 * `visits.0.dx`). What a denied field becomes in the output is chosen by
 * `denied_fields`: `"ciphertext"` (default: left encrypted; alias `"keep"`),
 * `"null"`, or `"marker"` (the string `marker`, default `"[RESTRICTED]"`;
 * alias `"redact"`). Re-identification uses the same setting for the fields
 * it withholds.
 *
 * **Authorised by data key.** A ciphertext names its data key (bytes 1..16
 * of the subtype 6 payload). A role may use the data keys the schema map
 * binds to the fields it may see, plus its optional `keys` list (data key
 * alt names, keyring key names, or `{"$uuid": "..."}`). A ciphertext whose
 * key is bound to other fields than the path it arrives under, or that sits
 * at an allowed path under a key the role may not use, is a relabelling:
 * the call fails with PHICRYPT_EACCESS and is audited as denied. Keyring
 * keys (detokenize, reid) must be in `keys` (or the role allowed `*`).
 * Audit lines list `fields` and `key_ids` in step: field i was decrypted
 * with key i.
 *
 * **No session, no plaintext.** With an `access` section the plain calls
 * (phicrypt_decrypt(), phicrypt_decrypt_json(), phicrypt_decrypt_document(),
 * phicrypt_detokenize(), phicrypt_reid_file()) fail with PHICRYPT_EACCESS.
 * Without one every field is allowed to any complete session, and the
 * plain calls are audited under the process's identity ("uid:N") when
 * `audit` is configured. Session strings (actor, role, purpose, subject),
 * namespaces and field labels must be valid UTF-8 without control
 * characters, at most 256 bytes, else PHICRYPT_EINVAL before anything is
 * written.
 *
 * Denied fields never reach libmongocrypt: their data keys are not even
 * fetched from the key vault. The one exception is the configured
 * `audit.subject_field` when it is encrypted and denied: it is decrypted
 * inside the library, only to compute the audit line's pseudonymous
 * subject id, and never returned. Every call that goes through a session writes
 * one line to the audit log (see phicrypt/audit.h) before it returns
 * plaintext; if the line cannot be written, nothing is returned.
 *
 * Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_ACCESS_H
#define PHICRYPT_ACCESS_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/access.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Version of ::phicrypt_session this header describes. */
#define PHICRYPT_SESSION_VERSION 1

/**
 * @brief Who is asking, in which role, and why.
 *
 * A transparent struct (copied by every call, never retained). @c actor,
 * @c role and @c purpose are required: a missing purpose is an error, never
 * a default. @c purpose is a purpose of use such as "TREATMENT", "PAYMENT",
 * "OPERATIONS", "RESEARCH", "PUBLIC_HEALTH", or the configured break-glass
 * purpose (allowed only for the roles listed under `break_glass`, and
 * flagged in the audit log).
 */
typedef struct phicrypt_session {
    unsigned int version;  /**< #PHICRYPT_SESSION_VERSION */
    const char *actor;     /**< the person or service, e.g. a user name (not PHI) */
    const char *role;      /**< a role of the `access.roles` configuration */
    const char *purpose;   /**< purpose of use */
    /** Optional: the identifier of the patient this access concerns, for
     *  calls whose input does not carry it (single values, tokens). It is
     *  only used to compute the pseudonymous subject id of the audit line. */
    const char *subject;
} phicrypt_session;

/** Static initialiser: everything unset (fill in actor, role, purpose). */
#define PHICRYPT_SESSION_INIT { PHICRYPT_SESSION_VERSION, NULL, NULL, NULL, NULL }

/**
 * @brief Automatic decryption limited to the fields the session may see.
 *
 * Like phicrypt_decrypt_document(), but encrypted values at paths the
 * session's role and purpose do not allow for namespace @p ns are replaced
 * (per `denied_fields`) before decryption. Writes one audit line
 * (operation "decrypt") naming the decrypted paths, their key ids and the
 * pseudonymous subject (from the configured `audit.subject_field`).
 *
 * @param[out] out  the document (BSON) with the allowed fields decrypted.
 * @param session  actor, role and purpose (all required).
 * @param ns  "db.collection" the document comes from, or NULL (only the
 *            rules written for every namespace then apply).
 * @return 0; PHICRYPT_EINVAL (incomplete session); PHICRYPT_EACCESS (the
 *         role is unknown, the purpose is not allowed for it, or the
 *         document holds encrypted fields and none of them is allowed);
 *         PHICRYPT_EIO (the audit line could not be written) ...
 */
PHICRYPT_API
int phicrypt_decrypt_document_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, const char *ns,
                                 const uint8_t *doc_bson, size_t doc_len);

/**
 * @brief phicrypt_decrypt() for a value of field @p field (a path) of
 * namespace @p ns (or NULL), checked against the session's rules and audited.
 * @return 0, PHICRYPT_EACCESS (the field is not allowed), ... as
 *         phicrypt_decrypt().
 */
PHICRYPT_API
int phicrypt_decrypt_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, const char *ns,
                        const char *field, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len);

/**
 * @brief Whether the session may decrypt @p field of @p ns, without
 * decrypting anything. Refusals of the role or purpose are audited.
 * @return 0 when allowed, PHICRYPT_EACCESS when not, PHICRYPT_EINVAL ...
 */
PHICRYPT_API
int phicrypt_access_check(phicrypt_t *ph, const phicrypt_session *session, const char *ns, const char *field);

/**
 * @brief Whether the configuration has an `access` section (then tools
 * should require a session for every disclosure).
 * @return 1 when it has, 0 when it has not or @p ph is NULL.
 */
PHICRYPT_API
int phicrypt_access_enabled(const phicrypt_t *ph);

/**
 * @brief phicrypt_detokenize() for a token of field @p field (a path) of
 * namespace @p ns (or NULL), checked against the session's rules and
 * audited (operation "detokenize", the key name, the session's subject).
 * @return 0, PHICRYPT_EACCESS, ... as phicrypt_detokenize().
 */
PHICRYPT_API
int phicrypt_detokenize_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, const char *ns,
                           const char *field, const char *key_name, const char *token, size_t token_len,
                           const phicrypt_token_opts *opts);

/**
 * @brief phicrypt_reid_file() through a session: restores the reversible
 * fields (`tokenize`, `encrypt`; Safe Harbor preset rules need a role
 * allowed `*`) the role and purpose may see in namespace @p ns (or NULL),
 * and leaves the others per `denied_fields` (kept, redacted or null). The
 * report gains "reid_fields" and "withheld_fields"; the audit line (operation
 * "reid") lists both sets and the number of records. Refused
 * (PHICRYPT_EACCESS, nothing written) when the role may see none of the
 * fields, or when the policy or an input ciphertext uses, for a field the
 * role may see, a key the role may not use. The output is staged and
 * appears only after its audit line is written.
 */
PHICRYPT_API
int phicrypt_reid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, const char *ns,
                          const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                          const phicrypt_deid_opts *opts);

/**
 * @brief phicrypt_deid_file() through a session: the run is audited as
 * operation "deid" (reversible fields, number of records).
 */
PHICRYPT_API
int phicrypt_deid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, const char *ns,
                          const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                          const phicrypt_deid_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_ACCESS_H */
