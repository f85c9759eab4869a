/* The audit log (see include/phicrypt/audit.h): configuration, appends,
 * checkpoints, anchors and verification. The bottom layer above core: it
 * knows no key store. lib/client gives it its keys (phi_audit_keys) at
 * assembly time and connects core's event sink to phi_audit_key_event. */
#ifndef PHI_AUDIT_PRIVATE_H
#define PHI_AUDIT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

#include <phicrypt.h>
#include "core/events_private.h"

typedef struct phi_audit phi_audit;

#define PHI_AUDIT_CHAIN_LEN 32

/* Without a keyring, lib/client derives the audit keys from this data key. */
#define PHI_AUDIT_DATA_KEY "phicrypt-audit"

/* The v1 name of a key event, kept so that code written against it still
 * builds; new code calls phi_key_event_emit (core/events_private.h) and
 * need not include this header. */
#define phi_audit_key_op(ph, rc, op, id, key_name, count) phi_key_event_emit(ph, rc, op, id, key_name, 0, count)

/* Which key a phi_audit_keys call is about. */
#define PHI_AUDIT_SIGN_KEY 1    /* Ed25519 seed of the checkpoint signing key */
#define PHI_AUDIT_SUBJECT_KEY 2 /* HMAC key of subject pseudonyms */

/* What lib/client hands the audit log. Every function records its errors
 * against ph. */
typedef struct phi_audit_keys {
    /* The 32-byte secret of version `version` (0: the current one) of key
     * `which`; *got receives the version. */
    int (*get)(phicrypt_t *ph, int which, uint32_t version, uint32_t *got, uint8_t material[32]);
    /* Adds a version of key `which`; *new_version receives it. */
    int (*rotate)(phicrypt_t *ph, int which, uint32_t *new_version);
} phi_audit_keys;

int phi_audit_parse(phi_audit **out, const void *eh, bson_iter_t *it, const char *base_dir);
/* Writes the clean-shutdown checkpoint (when this process appended since
 * its last one) and frees. */
void phi_audit_close(phicrypt_t *ph, phi_audit *a);
void phi_audit_free(phi_audit *a);
void phi_audit_set_keys(phi_audit *a, const phi_audit_keys *keys);
/* Connects the MongoDB anchors ("mongodb" takes the key vault's URI and
 * database); called once the whole configuration is read. */
int phi_audit_bind(phi_audit *a, const void *eh, const char *key_vault, const char *key_vault_ns);

/* The configured log path and subject field, or NULL. */
const char *phi_audit_path(const phicrypt_t *ph);
const char *phi_audit_subject_field(const phicrypt_t *ph);

/* One event. Strings are never PHI: names, paths, key ids. The subject
 * value (a patient identifier) is only pseudonymised. */
typedef struct phi_audit_event {
    const char *actor, *role, *purpose;
    const char *op;          /* "decrypt", "detokenize", "reid", "deid", "key_create", ... */
    const char *ns;          /* or NULL */
    const char *outcome;     /* "ok", "denied", "error" */
    const char *reason;      /* why denied, or NULL */
    const char *const *fields;
    size_t n_fields;
    const char *const *denied_fields;
    size_t n_denied_fields;
    const uint8_t (*key_ids)[16];
    size_t n_key_ids;
    const char *key_name;    /* a keyring key, or NULL */
    int64_t count;
    int break_glass;
    const char *subject;     /* patient identifier (pseudonymised), or NULL */
    size_t subject_len;
    uint32_t key_version;    /* a keyring key version, or 0 */
} phi_audit_event;

/* Appends one line; 0 without doing anything when no audit is configured.
 * 0 means the line is written (and, with fsync "always", on disk); a
 * failure (I/O, fsync, ENOSPC, a log behind its anchors) is recorded
 * against ph and leaves the log as it was. */
int phi_audit_write(phicrypt_t *ph, const phi_audit_event *ev);

/* The sink lib/client connects to core's key events. */
int phi_audit_key_event(phicrypt_t *ph, const phi_key_event *ev);

/* Whether keyring key `name` version `version` (0: any) is named by a line
 * of the log: 1 yes, 0 no, or a negative error. */
int phi_audit_needs_key(phicrypt_t *ph, const char *name, uint32_t version);

/* The pseudonymous subject id ("sub1." + 32 hex digits + NUL: 38 bytes)
 * under subject key version `version` (0: current; *used gets it). */
#define PHI_AUDIT_SUBJECT_TEXT 38
int phi_audit_subject(phicrypt_t *ph, char out[PHI_AUDIT_SUBJECT_TEXT], uint32_t version, uint32_t *used,
                      const char *value, size_t len);

/* The chain value of a line: SHA-256(prev || content). No secret: anyone
 * can check it; the checkpoints' signatures make it evidence. */
void phi_audit_chain(const uint8_t prev[PHI_AUDIT_CHAIN_LEN], const char *content, size_t content_len,
                     uint8_t out[PHI_AUDIT_CHAIN_LEN]);

/* Splits a complete line (without its newline) into content and chain.
 * Returns 0, or -1 when it is not shaped like an audit line. */
int phi_audit_split_line(const char *line, size_t len, size_t *content_len, uint8_t chain[PHI_AUDIT_CHAIN_LEN]);

/* "2026-11-23T10:15:10.123Z" -> ms since the epoch; -1 when malformed. */
int64_t phi_audit_parse_time(const char *s);

/* verify.c: checks `text` (the whole log). pubkeys: text of a public-key
 * file or NULL (then keys come from ph's keyring through phi_audit_keys);
 * anchors: NULL-terminated list of anchor file paths. *torn_last is set
 * when the last line is torn (the only benign damage). Returns 0 intact,
 * PHICRYPT_EAUTH tampered, or another error. */
int phi_audit_verify_text(phicrypt_t *ph, phicrypt_buf *report, int *torn_last, char *text, size_t len,
                          const char *pubkeys, const char *const *anchors);

/* Configured anchor files (NULL-terminated), or NULL. */
const char *const *phi_audit_anchor_files(const phicrypt_t *ph);
/* verify.c: as phi_audit_verify_text, with `manchors` parallel to
 * `anchors` (an entry that is not NULL is a MongoDB anchor; the anchors
 * entry is then only its name). */
struct phi_audit_manchor;
int phi_audit_verify_text_with(phicrypt_t *ph, phicrypt_buf *report, int *torn_last, char *text, size_t len,
                               const char *pubkeys, const char *const *anchors,
                               struct phi_audit_manchor *const *manchors);
/* The configured MongoDB anchors, parallel to phi_audit_anchor_files. */
struct phi_audit_manchor *const *phi_audit_mongo_anchors(const phicrypt_t *ph);

/* The Ed25519 public key of signing key version `version` (0: current). */
int phi_audit_public_key(phicrypt_t *ph, uint32_t version, uint32_t *got, uint8_t pk[32]);

#endif
