/* Access rules: roles -> purposes of use -> field paths per namespace
 * (the configuration's "access" section; see include/phicrypt/access.h). */
#ifndef PHI_ACCESS_PRIVATE_H
#define PHI_ACCESS_PRIVATE_H

#include <stddef.h>
#include <bson/bson.h>

#include <phicrypt.h>

typedef struct phi_access phi_access;

/* What denied encrypted fields become in a decrypted document. */
enum { PHI_DENIED_CIPHERTEXT = 0, PHI_DENIED_NULL = 1, PHI_DENIED_MARKER = 2 };

/* Parses the "access" value; errors are PHICRYPT_ECONFIG naming the key. */
int phi_access_parse(phi_access **out, const void *eh, bson_iter_t *it);
void phi_access_free(phi_access *a);

/* The outcome of checking a session against the rules. `role` is NULL
 * when no rules are configured (then every field is allowed). */
typedef struct phi_access_grant {
    const struct phi_role *role;
    int break_glass;
} phi_access_grant;

/* Checks the session's completeness (PHICRYPT_EINVAL) and whether its role
 * may act for its purpose (PHICRYPT_EACCESS). `a` may be NULL (no rules). */
int phi_access_resolve(const phi_access *a, const void *eh, const phicrypt_session *s, phi_access_grant *g);

/* 1 if the grant allows decrypting `path` (dotted, no array indices) of
 * namespace `ns` (may be NULL). */
int phi_access_allows(const phi_access_grant *g, const char *ns, const char *path);

int phi_access_denied_mode(const phi_access *a);
const char *phi_access_marker(const phi_access *a);

/* Segment-wise match of a rule path ("a.*.c", "*") against a field path:
 * the rule covers the field and everything below it. */
int phi_access_path_match(const char *rule, const char *path);

/* An audit event of session `s` for `op` on `ns` (may be NULL): who, why,
 * the subject if the session names one, count 1; the caller adds the rest. */
struct phi_audit_event;
void phi_access_event(struct phi_audit_event *ev, const phicrypt_session *s, const char *op, const char *ns);

/* ---- strings that reach the audit log ---- */
#define PHI_ACCESS_TEXT_MAX 256
/* 0 when `s` (may be NULL) is valid UTF-8 without control characters and
 * at most PHI_ACCESS_TEXT_MAX bytes, else PHICRYPT_EINVAL naming `what`. */
int phi_access_text_ok(const void *eh, const char *what, const char *s);
/* 0, or 1 (longer than max), 2 (not UTF-8), 3 (a control character). */
int phi_access_text_check(const char *s, size_t max);

/* ---- decisions and their audit lines (decrypt_as.c) ---- */
/* The one place lib/access appends to the audit log. */
int phi_access_record(phicrypt_t *ph, const struct phi_audit_event *ev);
/* 1 when the configuration has an audit log. */
int phi_access_audited(const phicrypt_t *ph);
/* Audits a refusal (EACCESS only) of `fields`/`key_ids` and returns `code`
 * with the message already recorded on ph (or the audit write's error). */
int phi_access_refuse(phicrypt_t *ph, const phicrypt_session *s, const char *op, const char *ns, int code,
                      const char *const *fields, size_t n_fields, const uint8_t (*key_ids)[16], size_t n_keys,
                      const char *key_name);
/* Checks the strings bound for the audit line, then (unless `anon`: a
 * plain call without access rules) the session against the rules; refusals
 * of the role or purpose are audited. */
int phi_access_begin(phicrypt_t *ph, const phicrypt_session *s, int anon, const char *op, const char *ns,
                     const char *label, phi_access_grant *g);
/* The session calls; `anon` as above (then `s` is the process's identity). */
int phi_decrypt_document_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, int anon, const char *ns,
                            const uint8_t *doc_bson, size_t doc_len);
int phi_decrypt_value_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, int anon, const char *ns,
                         const char *field, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len);
int phi_detokenize_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, int anon, const char *ns,
                      const char *field, const char *key_name, const char *token, size_t token_len,
                      const phicrypt_token_opts *opts);
int phi_reid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *s, int anon, const char *ns,
                     const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                     const phicrypt_deid_opts *opts);

/* ---- minimum necessary by data key (keys.c) ---- */
struct phi_bindings;
struct phi_bindings *phi_access_get_bindings(const phi_access *a);
void phi_access_set_bindings(phi_access *a, struct phi_bindings *b);
void phi_access_bindings_free(phi_access *a);
/* Records which data keys the schema map binds to which fields (called
 * once the whole configuration is parsed). */
int phi_access_bind(phi_access *a, const void *eh, const bson_t *schema_map);
/* The bound field path of key `id` that `path` matches, or NULL; *bound
 * says whether the key is bound to any field at all. */
const char *phi_access_key_binding(const phi_access *a, const char *ns, const uint8_t id[16], const char *path,
                                   int *bound);

/* 1 when the grant's role may see every field of `ns` (a "*" rule). */
int phi_access_allows_all(const phi_access_grant *g, const char *ns);
/* The role's explicit "keys" list (borrowed). */
void phi_access_role_keys(const phi_access_grant *g, const char *const **names, size_t *n_names,
                          const uint8_t (**ids)[16], size_t *n_ids);

/* The keys a grant may use: data keys bound to its fields and listed
 * (alt names resolved now), keyring key names listed; all of them for a
 * role allowed "*". */
typedef struct phi_keyset {
    int all;
    uint8_t (*ids)[16];
    size_t n_ids;
    const char *const *names;
    size_t n_names;
} phi_keyset;
int phi_access_keyset(phicrypt_t *ph, const phi_access *a, const phi_access_grant *g, const char *ns,
                      phi_keyset *ks);
void phi_keyset_free(phi_keyset *ks);
int phi_keyset_has_id(const phi_keyset *ks, const uint8_t id[16]);
int phi_keyset_has_name(const phi_keyset *ks, const char *name);

/* A ciphertext under key `id` found at field `path` (no array indices). */
enum { PHI_KEY_OK, PHI_KEY_DENIED, PHI_KEY_MISMATCH };
int phi_access_judge(const phi_access *a, const phi_access_grant *g, const phi_keyset *ks, const char *ns,
                     const char *path, const uint8_t id[16]);

#endif
