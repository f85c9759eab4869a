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

#endif
