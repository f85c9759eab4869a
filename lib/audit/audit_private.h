/* The audit log (see include/phicrypt/audit.h): configuration, the HMAC
 * keys derived from the "phicrypt-audit" data key, appends and parsing. */
#ifndef PHI_AUDIT_PRIVATE_H
#define PHI_AUDIT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

#include <phicrypt.h>

typedef struct phi_audit phi_audit;

/* The data key whose deterministic ciphertexts of fixed labels give the
 * chain and subject HMAC keys. */
#define PHI_AUDIT_DATA_KEY "phicrypt-audit"
#define PHI_AUDIT_CHAIN_LEN 32

int phi_audit_parse(phi_audit **out, const void *eh, bson_iter_t *it, const char *base_dir);
void phi_audit_free(phi_audit *a);

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
} phi_audit_event;

/* Appends one line; 0 without doing anything when no audit is configured.
 * A failure is recorded against ph (PHICRYPT_EIO ...). */
int phi_audit_write(phicrypt_t *ph, const phi_audit_event *ev);

/* Records a successful key operation ("key_create", "key_delete",
 * "key_rewrap", "key_rotate", "key_destroy", ...) of data key `id` or
 * keyring key `key_name` (either may be NULL), `count` keys. There is no
 * session: the actor is the process's user ("uid:N"). Returns `rc` when it
 * is not 0 (nothing is recorded), else the result of the append; a no-op
 * while the audit key itself is being created. */
int phi_audit_key_op(phicrypt_t *ph, int rc, const char *op, const uint8_t *id, const char *key_name, int64_t count);

/* The pseudonymous subject id ("sub1." + 32 hex digits + NUL: 38 bytes). */
#define PHI_AUDIT_SUBJECT_TEXT 38
int phi_audit_subject(phicrypt_t *ph, char out[PHI_AUDIT_SUBJECT_TEXT], const char *value, size_t len);

/* The chain HMAC key (derived once per client; creates the data key on
 * first use). *key points into the client's secure memory. */
int phi_audit_chain_key(phicrypt_t *ph, const uint8_t **key);

/* The chain value of a line: HMAC(key, prev || content). */
void phi_audit_chain(const uint8_t *key, const uint8_t prev[PHI_AUDIT_CHAIN_LEN], const char *content,
                     size_t content_len, uint8_t out[PHI_AUDIT_CHAIN_LEN]);

/* Splits a complete line (without its newline) into content and chain.
 * Returns 0, or -1 when it is not shaped like an audit line. */
int phi_audit_split_line(const char *line, size_t len, size_t *content_len, uint8_t chain[PHI_AUDIT_CHAIN_LEN]);

/* "2026-11-23T10:15:10.123Z" -> ms since the epoch; -1 when malformed. */
int64_t phi_audit_parse_time(const char *s);

#endif
