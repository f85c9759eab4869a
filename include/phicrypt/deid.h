/**
 * @file phicrypt/deid.h
 * @brief De-identification of exports: policies, the streaming engine and
 * its reverse (re-identification of tokens and ciphertexts).
 *
 * A policy (JSON) maps field paths to actions; phicrypt_deid_file() streams
 * a JSON-lines, JSON-array, BSON (mongodump) or CSV (mongoexport) file
 * through it on N threads, rewriting only the targeted values and copying
 * every other byte as it was. Output is written to a temporary file next
 * to the destination and renamed at the end, so a failure leaves nothing
 * behind. The same policy and keys give the same output on any machine and
 * with any thread count (except `encrypt` with the random algorithm).
 *
 * Policy:
 * @code
 * {"version": 1, "unknown_fields": "error" | "drop" | "keep",
 *  "preset": "safe-harbor",                       (optional)
 *  "fields": {"name": {"action": "redact"},
 *             "visits[].date": {"action": "generalize", "to": "year"},
 *             "notes": {"action": "scrub"}},
 *  "quasi_identifiers": ["address.zip", "dob", "sex"], "k": 5}   (optional: the risk report)
 * @endcode
 * See docs/deid.md for every action and the Safe Harbor mapping.
 *
 * Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_DEID_H
#define PHICRYPT_DEID_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/deid.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A validated de-identification policy (immutable, thread-safe). */
typedef struct phicrypt_deid_policy phicrypt_deid_policy;

/** @brief File formats of the engine. */
typedef enum phicrypt_deid_format {
    PHICRYPT_DEID_AUTO = 0,  /**< from the input file's extension (.jsonl/.json/.bson/.csv) */
    PHICRYPT_DEID_JSONL = 1, /**< one (Extended) JSON document per line, as mongoexport writes */
    PHICRYPT_DEID_JSON = 2,  /**< one JSON array of documents (mongoexport --jsonArray) */
    PHICRYPT_DEID_BSON = 3,  /**< concatenated BSON documents (mongodump .bson) */
    PHICRYPT_DEID_CSV = 4    /**< CSV with a header line (mongoexport --type=csv, RFC 4180) */
} phicrypt_deid_format;

/**
 * @brief Progress callback: records and input bytes done so far, and the
 * input size (0 when unknown, e.g. a pipe). Called from the calling thread.
 */
typedef void (*phicrypt_deid_progress_fn)(void *user, uint64_t records, uint64_t bytes_done, uint64_t bytes_total);

/**
 * @brief Warning callback: one message per warning (a rule that matched
 * nothing, an unknown field kept, an output name whose extension does not
 * match the format). Called from the calling thread at the end of the run;
 * messages name paths and files, never values.
 */
typedef void (*phicrypt_deid_warn_fn)(void *user, const char *message);

/** Version of ::phicrypt_deid_opts this header describes (1 to 3 are still accepted: their fields only). */
#define PHICRYPT_DEID_OPTS_VERSION 4

/**
 * @brief The residual-PHI gate of a run (::phicrypt_deid_opts.gate).
 *
 * The gate remembers a keyed hash of every raw value the policy transforms
 * in a record (never the value, in memory only, for that record only) and
 * scans the record's output for any of them surviving: in any field, at
 * any position of free text, in any ASCII case, with any separators between
 * its words. A hit names the field path the value came from, its HIPAA
 * identifier class and where it survived, never the value. Values shorter
 * than 4 letters or digits (3 for names) are not checked.
 */
typedef enum phicrypt_deid_gate {
    PHICRYPT_DEID_GATE_DEFAULT = 0, /**< FAIL with the Safe Harbor preset, else OFF */
    PHICRYPT_DEID_GATE_OFF = 1,     /**< no check */
    PHICRYPT_DEID_GATE_WARN = 2,    /**< hits are warnings and listed in the report */
    PHICRYPT_DEID_GATE_FAIL = 3     /**< a hit fails the run (PHICRYPT_EINVAL, no output file) */
} phicrypt_deid_gate;

/** @brief Options of phicrypt_deid_file() and phicrypt_reid_file(). */
typedef struct phicrypt_deid_opts {
    unsigned int version;            /**< #PHICRYPT_DEID_OPTS_VERSION */
    phicrypt_deid_format format;     /**< input and output format; AUTO: from the extension */
    unsigned int threads;            /**< worker threads; 0 or 1: the calling thread only */
    int skip_bad;                    /**< nonzero: skip malformed and oversized records and list them in the report */
    phicrypt_deid_progress_fn progress; /**< or NULL */
    void *progress_user;             /**< passed to @c progress */
    /* version 2 */
    int csv_delimiter;               /**< CSV field separator (e.g. ';' or '\t'); 0: ',', and a one-column
                                          header containing ';', '|' or a tab is refused as a likely
                                          wrong delimiter */
    int strict;                      /**< nonzero: a rule that matched nothing, or an unknown field kept
                                          (`"unknown_fields": "keep"`), fails the run (PHICRYPT_EINVAL, no output) */
    phicrypt_deid_warn_fn warn;      /**< or NULL; the warnings are also listed in the report */
    void *warn_user;                 /**< passed to @c warn */
    /* version 3 */
    phicrypt_deid_gate gate;         /**< the residual-PHI gate (deid only; reid never checks) */
    /* version 4 */
    int suppress_below_k;            /**< nonzero: with the policy's "quasi_identifiers", a second pass over
                                          the output replaces the quasi-identifier values of every record in
                                          a class smaller than k (the string "*" for a string value, null for
                                          any other; a missing value stays missing; CSV cells: "*") and
                                          counts the result again; needs a file output */
    size_t risk_memory;              /**< bytes the risk report's class tables may use in all (0: 64 MiB,
                                          at least 4096); past it, sorted runs of keyed hashes are
                                          spilled to unlinked temporary files beside the output (TMPDIR
                                          for a stream) */
} phicrypt_deid_opts;

/** Static initialiser: format from the extension, one thread, stop at the first bad record. */
#define PHICRYPT_DEID_OPTS_INIT                                                                                    \
    { PHICRYPT_DEID_OPTS_VERSION, PHICRYPT_DEID_AUTO, 1, 0, NULL, NULL, 0, 0, NULL, NULL, PHICRYPT_DEID_GATE_DEFAULT, 0, 0 }

/** Largest record the engine accepts (16 MiB, MongoDB's document limit). */
#define PHICRYPT_DEID_MAX_RECORD (16u * 1024u * 1024u)

/** @brief #PHICRYPT_DEID_MAX_RECORD, for bindings that do not read macros. */
PHICRYPT_API
size_t phicrypt_deid_max_record(void);

/**
 * @brief Parse and validate a policy; nothing is read from any input yet.
 *
 * @param[out] out  the policy; release with phicrypt_deid_policy_free().
 * @param ph  the client whose keys `encrypt`, `tokenize`, `pseudonymize`
 *            and keyed `scrub`/`date_shift` use (kept by reference: it must
 *            outlive the policy); NULL when the policy uses no key.
 * @param policy_json  the policy document (NUL-terminated UTF-8).
 * @return 0, PHICRYPT_EINVAL (an unknown action, a missing key, a bad path:
 *         the message names the JSON location, e.g. `fields."dob".action`),
 *         PHICRYPT_EBADDATA (not JSON), PHICRYPT_ENOMEM.
 */
PHICRYPT_API
int phicrypt_deid_policy_new(phicrypt_deid_policy **out, phicrypt_t *ph, const char *policy_json);

/** @brief The last error message of a policy call made with a NULL client. */
PHICRYPT_API
const char *phicrypt_deid_errmsg(void);

/** @brief Free a policy. NULL is ignored. */
PHICRYPT_API
void phicrypt_deid_policy_free(phicrypt_deid_policy *p);

/**
 * @brief De-identify a file.
 *
 * @param[out] report_json  (may be NULL) the report, NUL-terminated JSON:
 *   `{"format", "threads", "records_in", "records_out", "bytes_in",
 *   "bytes_out", "elapsed_seconds", "completed", "fields": [{"path", "action", "count"}],
 *   "unknown_fields": [...], "unmatched_rules": [{"path", "action"}], "warnings": [...],
 *   "bad_records": [{"record", "line"|"offset", "reason"}], "gate": {"mode",
 *   "records_checked", "values_checked", "hits", "findings": [{"record",
 *   "line"|"offset", "path", "class", "found_at"}]}, "risk": {"k",
 *   "quasi_identifiers": [{"path", "missing"}], "records", "classes", "k_min",
 *   "classes_below_k", "records_below_k", "share_below_k", "unique_records",
 *   "k_anonymous", "histogram": [{"size", "classes"}], "memory_budget",
 *   "spilled_runs", "suppression": null | {"marker", "records", "values",
 *   "after": {...}}} (null without "quasi_identifiers")}`. Also filled on
 *   failure once the input is open (`"completed": false`, `"error"`):
 *   dispose it whatever the return code.
 * @param in_path  input file, or "-" for standard input.
 * @param out_path output file (replaced atomically), or "-" for standard output.
 * @param opts  NULL for the defaults.
 * @return 0, PHICRYPT_EBADDATA (malformed input: the message names the file,
 *         line, or record number and byte offset (BSON), and the reason; so
 *         does an action's error), PHICRYPT_EINVAL (unknown field
 *         with `"unknown_fields": "error"`; with `strict`, a rule that matched
 *         nothing or an unknown field kept; the residual-PHI gate found a
 *         transformed value in the output), PHICRYPT_EIO, key errors ...
 *         Errors are reported on @p ph, or phicrypt_deid_errmsg() if NULL.
 */
PHICRYPT_API
int phicrypt_deid_file(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_deid_policy *p, const char *in_path,
                       const char *out_path, const phicrypt_deid_opts *opts);

/**
 * @brief The reverse of phicrypt_deid_file() for the reversible actions:
 * tokens (`tokenize`) are detokenized and ciphertexts (`encrypt`) decrypted;
 * every other value is copied unchanged. Same parameters.
 */
PHICRYPT_API
int phicrypt_reid_file(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_deid_policy *p, const char *in_path,
                       const char *out_path, const phicrypt_deid_opts *opts);

/**
 * @brief De-identify one JSON document (a record of a JSON-lines file) in
 * memory: the building block of phicrypt_deid_file(), for services.
 * @param[out] out  the rewritten document, NUL-terminated.
 */
PHICRYPT_API
int phicrypt_deid_json(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_deid_policy *p, const char *json,
                       size_t json_len);

/**
 * @brief Explain a run: per field path of its report, the action, the count
 * and why (the explicit rule, an enclosing field's rule, the Safe Harbor
 * preset by field name or by value type, or the unknown-field policy), then
 * the rules that matched nothing. Text, one line per path; names and
 * counts only, never a value. `phicrypt deid --explain` and `--dry-run`.
 * @param[out] out  NUL-terminated text.
 * @param report_json  the report phicrypt_deid_file() gave for @p p.
 */
PHICRYPT_API
int phicrypt_deid_explain(phicrypt_buf *out, const phicrypt_deid_policy *p, const char *report_json);

/**
 * @brief Check a policy against a standard: `"safe-harbor"` (45 CFR
 * 164.514(b)(2)) or `"limited-data-set"` (164.514(e)(2)). Lists, one line
 * each, every rule whose output does not meet it and why: HMAC pseudonyms,
 * deterministic tokens and encrypted values are codes derived from the
 * individual's information (164.514(c)); shifted dates keep day and month;
 * `keep` on a field of a HIPAA identifier class or on free text; masks that
 * keep part of an identifier; `"unknown_fields": "keep"`. A reading of the
 * policy, not of any data.
 * @param[out] out  NUL-terminated text (empty when compliant).
 * @param[out] nfindings  (may be NULL) the number of lines.
 * @return 0 (whatever the findings), PHICRYPT_EINVAL (unknown standard).
 */
PHICRYPT_API
int phicrypt_deid_policy_check(phicrypt_buf *out, size_t *nfindings, const phicrypt_deid_policy *p,
                               const char *standard);

/** Version of ::phicrypt_deid_manifest_opts this header describes. */
#define PHICRYPT_DEID_MANIFEST_OPTS_VERSION 1

/** @brief What phicrypt_deid_manifest() describes: one finished run. */
typedef struct phicrypt_deid_manifest_opts {
    unsigned int version;    /**< #PHICRYPT_DEID_MANIFEST_OPTS_VERSION */
    const char *policy_json; /**< the policy text the run used (its SHA-256 is recorded), or NULL */
    const char *in_path;     /**< the run's input ("-": standard input, not hashed) */
    const char *out_path;    /**< the run's output ("-": standard output, not hashed) */
    const char *report_json; /**< the run's report (NUL-terminated), from phicrypt_deid_file() */
    int sign;                /**< nonzero: sign with the audit checkpoint key when @p ph has one */
} phicrypt_deid_manifest_opts;

/** Static initialiser: signed when possible. */
#define PHICRYPT_DEID_MANIFEST_OPTS_INIT { PHICRYPT_DEID_MANIFEST_OPTS_VERSION, NULL, NULL, NULL, NULL, 1 }

/**
 * @brief The manifest of a de-identification (or reid) run: one JSON object
 * with the policy's SHA-256, the preset and its version, the reference
 * date, the restricted three-digit ZIP list in force (identifier and hash),
 * the names and versions of the keys the policy uses (never material), the
 * input and output files' SHA-256 and size, record counts, counts per field
 * path, action and HIPAA identifier class, and the residual-PHI gate's
 * result; no value of any record. Signed (Ed25519) with the audit log's
 * checkpoint key ("audit:sign"), so the key file of
 * phicrypt_audit_public_keys() checks it: the signature covers the bytes
 * before `,"signature":`.
 *
 * @param[out] out  the manifest (ends with a newline).
 * @param[out] is_signed  (may be NULL) 1 when signed; 0 when @p ph is NULL,
 *   has no audit log, or @c sign is 0 (`"signature": null`).
 * @return 0, PHICRYPT_EINVAL, PHICRYPT_EBADDATA (the report is not JSON),
 *   PHICRYPT_EIO (a file cannot be read), a key error when signing fails.
 */
PHICRYPT_API
int phicrypt_deid_manifest(phicrypt_t *ph, phicrypt_buf *out, int *is_signed, const phicrypt_deid_policy *p,
                           const phicrypt_deid_manifest_opts *opts);

/**
 * @brief Check a manifest: its signature, with the public key file of
 * phicrypt_audit_public_keys() (or, with @p public_key_file NULL, @p ph's
 * keyring), and, when the output it names is beside it, that file's SHA-256.
 * @param[out] report  (may be NULL) what was checked, one line each.
 * @return 0 good; PHICRYPT_EAUTH (changed, signed by another key, not
 *   signed, or the output differs); PHICRYPT_EKEYNOTFOUND; PHICRYPT_EBADDATA
 *   (not a manifest); PHICRYPT_EIO.
 */
PHICRYPT_API
int phicrypt_deid_manifest_verify(phicrypt_t *ph, phicrypt_buf *report, const char *path,
                                  const char *public_key_file);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_DEID_H */
