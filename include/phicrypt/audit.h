/**
 * @file phicrypt/audit.h
 * @brief The audit log: an append-only, hash-chained record of disclosures
 * and key operations with signed checkpoints copied to anchors, checkable
 * by an outside auditor with the public key alone; and the accounting of
 * disclosures for one patient.
 *
 * Configuration: `"audit": {"path": "audit.jsonl", "subject_field": "mrn",
 * "fsync": "always", "anchors": ["file:anchors.jsonl"],
 * "checkpoint_every": {"lines": 1000, "seconds": 60}}` (`fsync` "always" —
 * each line is on disk before the call returns — or "never"; `anchors` and
 * `checkpoint_every` optional; relative paths resolve against the
 * configuration's directory).
 *
 * One JSON object per line, e.g.
 * @code{.json}
 * {"seq":3,"kv":1,"skv":1,"time":"2026-11-23T10:15:10.123Z","actor":"alice",
 *  "role":"billing","purpose":"PAYMENT","op":"decrypt","ns":"hospital.patients",
 *  "fields":["ssn"],"key_ids":["..."],"count":1,"outcome":"ok",
 *  "break_glass":false,"subject":"sub1.<hex>","chain":"<hex>"}
 * @endcode
 * `chain` is SHA-256(previous line's chain || this line up to `,"chain"`):
 * no secret is needed to check it. `kv` names the version of the Ed25519
 * signing key (keyring key "audit:sign") whose next checkpoint covers the
 * line; `skv` the version of the HMAC key ("audit:subject") of the `subject`
 * pseudonym. Every N lines, every T seconds (checked on append) and when
 * the client is freed, the writer appends a checkpoint line ("op":
 * "checkpoint", "log_id", "head", "sig": Ed25519 over the line up to
 * `,"sig"`) and copies it to every anchor. The writer refuses to append
 * when the log no longer holds the newest anchored checkpoint (truncation,
 * rollback) until phicrypt_audit_resume(). Without a keyring the keys are
 * derived (version 1 only) from the CSFLE data key "phicrypt-audit".
 *
 * Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_AUDIT_H
#define PHICRYPT_AUDIT_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/audit.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Check the chain of an audit log.
 *
 * @param[out] report  NUL-terminated text: "intact: N lines" or, for the
 *                     first problem, "line N: <why>" (edited, deleted,
 *                     reordered, forged, torn); may be NULL.
 * @param path  the log file, or NULL for the configured `audit.path`.
 * @return 0 when intact; PHICRYPT_EAUTH when tampered (see
 *         phicrypt_audit_verify_log()); PHICRYPT_EBADDATA when the last line
 *         is torn (an interrupted append) and the rest intact; PHICRYPT_EIO ...
 */
PHICRYPT_API
int phicrypt_audit_verify(phicrypt_t *ph, phicrypt_buf *report, const char *path);

/** Version of ::phicrypt_audit_verify_opts this header describes. */
#define PHICRYPT_AUDIT_VERIFY_OPTS_VERSION 1

/** @brief Options of phicrypt_audit_verify_log(). */
typedef struct phicrypt_audit_verify_opts {
    unsigned int version;          /**< #PHICRYPT_AUDIT_VERIFY_OPTS_VERSION */
    /** A file of public keys (the output of phicrypt_audit_public_keys()),
     *  or NULL: the keyring's (needs a configured handle). */
    const char *public_key_file;
    /** An anchor to check the log against: a file, "mongodb" (the configured
     *  key vault's MongoDB deployment) or a mongodb:// URI (its checkpoints
     *  of this log's id, in <db>.phicrypt_audit_anchors); NULL: the
     *  configured anchors. */
    const char *anchors_file;
} phicrypt_audit_verify_opts;

/** Static initialiser: keyring keys, configured anchors. */
#define PHICRYPT_AUDIT_VERIFY_OPTS_INIT { PHICRYPT_AUDIT_VERIFY_OPTS_VERSION, NULL, NULL }

/**
 * @brief Check an audit log: the hash chain, every checkpoint signature
 * (rotation checkpoints vouch for the other key version), and that every
 * checkpoint in the anchors is in the log (or acknowledged by a signed
 * "resumed" entry).
 *
 * @param ph  a handle, or NULL when @p opts gives the public key file
 *            (an auditor needs no configuration, keyring or master key).
 * @param[out] report  NUL-terminated text ("intact: ..." or the first
 *            problem, naming the line); may be NULL.
 * @param[out] torn_last  set to 1 when the last line is torn (an append
 *            interrupted by a crash; the only damage that is not
 *            tampering); may be NULL.
 * @param path  the log, or NULL for the configured `audit.path`.
 * @return 0 intact; PHICRYPT_EAUTH tampered (edited, deleted, reordered,
 *         forged, torn in the middle, truncated, rolled back);
 *         PHICRYPT_EKEYNOTFOUND (no public key for a version the log
 *         names); PHICRYPT_EIO ...
 */
PHICRYPT_API
int phicrypt_audit_verify_log(phicrypt_t *ph, phicrypt_buf *report, int *torn_last, const char *path,
                              const phicrypt_audit_verify_opts *opts);

/**
 * @brief The public keys of the checkpoint signing key, one JSON line per
 * version still in the keyring: `{"key":"audit:sign","kv":N,"ed25519":"<hex>"}`.
 */
PHICRYPT_API
int phicrypt_audit_public_keys(phicrypt_t *ph, phicrypt_buf *out);

/**
 * @brief Rotate the checkpoint signing key (the checkpoint that follows is
 * signed by the old and the new version and carries both public keys), or
 * with @p subject_key the subject pseudonym key (recorded in the log).
 * Audited. Needs a keyring.
 */
PHICRYPT_API
int phicrypt_audit_rotate_key(phicrypt_t *ph, uint32_t *new_version, int subject_key);

/**
 * @brief After truncation or rollback (the log no longer holds its newest
 * anchored checkpoint), record a signed "resumed" entry naming what is
 * missing and why appends go on; @p reason is the operator's (not secret).
 * @return 0, PHICRYPT_EINVAL (nothing to resume) ...
 */
PHICRYPT_API
int phicrypt_audit_resume(phicrypt_t *ph, const char *reason);

/** @brief Write a checkpoint now (when the last line is not one). */
PHICRYPT_API
int phicrypt_audit_checkpoint(phicrypt_t *ph);

/** Version of ::phicrypt_audit_accounting_opts this header describes. */
#define PHICRYPT_AUDIT_ACCOUNTING_OPTS_VERSION 1

/** @brief Options of phicrypt_audit_accounting(). */
typedef struct phicrypt_audit_accounting_opts {
    unsigned int version;  /**< #PHICRYPT_AUDIT_ACCOUNTING_OPTS_VERSION */
    int64_t since_ms;      /**< only entries at or after this time (ms since 1970 UTC); 0: all */
    int unverified;        /**< 1: answer even when the log does not verify */
} phicrypt_audit_accounting_opts;

/** Static initialiser: all entries, verified logs only. */
#define PHICRYPT_AUDIT_ACCOUNTING_OPTS_INIT { PHICRYPT_AUDIT_ACCOUNTING_OPTS_VERSION, 0, 0 }

/**
 * @brief The accounting of disclosures (45 CFR 164.528) of one patient,
 * after verifying the log.
 * @param[out] out  BSON `{"verified": bool, "verify_report": "...",
 *   "disclosures": [<audit line as a document>, ...], "subject": "<current pseudonym>"}`,
 *   oldest first, matching the pseudonym under each line's subject key version.
 * @return 0; PHICRYPT_EAUTH when the log does not verify (unless
 *         `unverified`) ...
 */
PHICRYPT_API
int phicrypt_audit_accounting(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value,
                              const phicrypt_audit_accounting_opts *opts);

/**
 * @brief The accounting of disclosures of one patient's data.
 *
 * @param[out] out  BSON `{"subject": "<pseudonym>", "disclosures": [<audit
 *                  line as a document>, ...]}`, oldest first: every
 *                  decrypt, detokenize and re-identification whose subject
 *                  is this patient, granted or not.
 * @param subject_value  the patient identifier (the value of the
 *                  configured `audit.subject_field`).
 * @param since_ms  only entries at or after this time (milliseconds since
 *                  1970-01-01 UTC); 0 for all.
 * The log is verified first: PHICRYPT_EAUTH when it does not verify
 * (phicrypt_audit_accounting() has the override).
 * @return 0, PHICRYPT_EAUTH, PHICRYPT_EUNSUPPORTED (no audit configured), PHICRYPT_EIO ...
 */
PHICRYPT_API
int phicrypt_audit_disclosures(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value, int64_t since_ms);

/**
 * @brief The pseudonymous subject id the audit log records for a patient
 * identifier ("sub1." and 32 hex digits), NUL-terminated in @p out.
 */
PHICRYPT_API
int phicrypt_audit_subject_id(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_AUDIT_H */
