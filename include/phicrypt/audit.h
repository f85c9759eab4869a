/**
 * @file phicrypt/audit.h
 * @brief The audit log: an append-only, hash-chained record of disclosures
 * and key operations, and the accounting of disclosures for one patient.
 *
 * Configuration: `"audit": {"path": "audit.jsonl", "subject_field": "mrn",
 * "fsync": "always"}` (`fsync` is "always" — each line is on disk before
 * the call returns — or "never").
 *
 * One JSON object per line, e.g.
 * @code{.json}
 * {"seq":3,"time":"2026-11-23T10:15:10.123Z","actor":"alice","role":"billing",
 *  "purpose":"PAYMENT","op":"decrypt","ns":"hospital.patients","fields":["ssn"],
 *  "key_ids":["..."],"count":1,"outcome":"ok","break_glass":false,
 *  "subject":"sub1.<hex>","chain":"<hex>"}
 * @endcode
 * `subject` is an HMAC pseudonym of the patient identifier (never the
 * identifier). `chain` is HMAC-SHA256(audit key, previous line's chain ||
 * this line up to `,"chain"`), so an edit, deletion, reordering or forged
 * line is detected by phicrypt_audit_verify(). The HMAC keys are the
 * keyring's HMAC keys "audit:chain" and "audit:subject" (created on first
 * use) when the configuration has a keyring; otherwise they are derived from
 * the CSFLE data key with alt name "phicrypt-audit" (created under the local
 * master key on first use; with only remote KMS providers, create it
 * yourself). Either way the log cannot be re-chained without the master key.
 * Rewrapping keeps the audit keys; destroying them (or deleting that data
 * key) makes the log unverifiable: do not rotate "audit:chain" while a log
 * written with it must still verify. Lines are appended with one write(2) under an exclusive
 * lock; a crash leaves at most an incomplete last line, reported as torn.
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
 * @return 0 when intact; PHICRYPT_EAUTH when a line was changed, removed,
 *         reordered or forged; PHICRYPT_EBADDATA when a line is torn (an
 *         interrupted append) or not an audit line; PHICRYPT_EIO ...
 */
PHICRYPT_API
int phicrypt_audit_verify(phicrypt_t *ph, phicrypt_buf *report, const char *path);

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
 * The lines are read as they are: run phicrypt_audit_verify() first to
 * know that none was altered or removed.
 * @return 0, PHICRYPT_EUNSUPPORTED (no audit configured), PHICRYPT_EIO ...
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
