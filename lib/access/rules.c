/* Parsing the "access" configuration and deciding what a session may see. */
#include <string.h>

#include <phicrypt.h>
#include "access/access_private.h"
#include "core/config_private.h"
#include "core/json_private.h"
#include "core/error_private.h"
#include "core/mem_private.h"

typedef struct phi_strv {
    char **v;
    size_t n;
} phi_strv;

/* Field paths of one namespace ("*": every namespace). */
typedef struct phi_ns_rule {
    char *ns;
    phi_strv paths;
} phi_ns_rule;

struct phi_role {
    char *name;
    phi_strv purposes;
    phi_ns_rule *rules;
    size_t n_rules;
    /* The explicit "keys" list: alt names / keyring key names, and UUIDs. */
    phi_strv key_names;
    uint8_t (*key_ids)[16];
    size_t n_key_ids;
};

struct phi_access {
    struct phi_role *roles;
    size_t n_roles;
    char *bg_purpose; /* NULL: no break-glass */
    phi_strv bg_roles;
    int denied_mode;
    char *marker;
    struct phi_bindings *bindings; /* keys.c, set once at assembly */
};

struct phi_bindings *phi_access_get_bindings(const phi_access *a)
{
    return a ? a->bindings : NULL;
}

void phi_access_set_bindings(phi_access *a, struct phi_bindings *b)
{
    a->bindings = b;
}

static const char *const access_keys[] = { "roles", "break_glass", "denied_fields", "marker", NULL };
static const char *const role_keys[] = { "purposes", "fields", "keys", NULL };
static const char *const bg_keys[] = { "purpose", "roles", NULL };
/* "keep" and "redact" are the reid names of "ciphertext" and "marker". */
static const char *const denied_modes[] = { "ciphertext", "null", "marker", "keep", "redact", NULL };

static void strv_free(phi_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        phi_free(s->v[i]);
    phi_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strv_has(const phi_strv *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 1;
    return 0;
}

/* A non-empty array of non-empty strings. */
static int parse_strv(const void *eh, bson_iter_t *it, const char *where, phi_strv *out)
{
    bson_iter_t a;
    uint32_t n = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &a))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: '%s' must be an array of strings", where);
    while (bson_iter_next(&a))
        n++;
    if (n == 0)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: '%s' must not be empty", where);
    out->v = phi_calloc(n, sizeof *out->v);
    if (!out->v)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    bson_iter_recurse(it, &a);
    while (bson_iter_next(&a)) {
        if (!BSON_ITER_HOLDS_UTF8(&a) || !*bson_iter_utf8(&a, NULL))
            return phi_error(eh, PHICRYPT_ECONFIG, "configuration: '%s' must hold non-empty strings", where);
        if (!(out->v[out->n++] = phi_strdup(bson_iter_utf8(&a, NULL))))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_fields(const void *eh, bson_iter_t *it, struct phi_role *r, const char *where)
{
    bson_iter_t c;
    size_t n = 0;
    int rc;
    if (BSON_ITER_HOLDS_ARRAY(it)) {
        if (!(r->rules = phi_calloc(1, sizeof *r->rules)) || !(r->rules[0].ns = phi_strdup("*")))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        r->n_rules = 1;
        return parse_strv(eh, it, where, &r->rules[0].paths);
    }
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG,
                         "configuration: '%s' must be an array of field paths or an object {\"db.coll\": [paths]}",
                         where);
    while (bson_iter_next(&c))
        n++;
    if (!(r->rules = phi_calloc(n ? n : 1, sizeof *r->rules)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    bson_iter_recurse(it, &c);
    while (bson_iter_next(&c)) {
        const char *ns = bson_iter_key(&c);
        char sub[512];
        if (strcmp(ns, "*") != 0 && !phi_ns_dot(ns))
            return phi_error(eh, PHICRYPT_ECONFIG, "configuration: '%s': '%s' is not a namespace (\"db.coll\" or \"*\")",
                             where, ns);
        if (!(r->rules[r->n_rules].ns = phi_strdup(ns)))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        snprintf(sub, sizeof sub, "%s.%s", where, ns);
        if ((rc = parse_strv(eh, &c, sub, &r->rules[r->n_rules++].paths)) != 0)
            return rc;
    }
    return 0;
}

/* "0123...-..." (36 characters) -> 16 bytes. */
static int parse_uuid_text(const char *t, uint8_t id[16])
{
    size_t o = 0;
    for (size_t i = 0; t[i]; i++) {
        int hi, lo;
        if (t[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
            continue;
        if (o == 16 || !t[i + 1])
            return -1;
        hi = t[i] >= '0' && t[i] <= '9' ? t[i] - '0' : (t[i] | 32) >= 'a' && (t[i] | 32) <= 'f' ? (t[i] | 32) - 'a' + 10 : -1;
        lo = t[i + 1] >= '0' && t[i + 1] <= '9' ? t[i + 1] - '0'
             : (t[i + 1] | 32) >= 'a' && (t[i + 1] | 32) <= 'f' ? (t[i + 1] | 32) - 'a' + 10 : -1;
        if (hi < 0 || lo < 0)
            return -1;
        id[o++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return o == 16 ? 0 : -1;
}

/* "keys": [alt name or keyring key name | {"$uuid": "..."} | UUID binary]. */
static int parse_keys(const void *eh, bson_iter_t *it, struct phi_role *r, const char *where)
{
    bson_iter_t a;
    uint32_t n = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &a))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: '%s' must be an array", where);
    while (bson_iter_next(&a))
        n++;
    if (!(r->key_names.v = phi_calloc(n ? n : 1, sizeof *r->key_names.v)) ||
        !(r->key_ids = phi_calloc(n ? n : 1, sizeof *r->key_ids)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    bson_iter_recurse(it, &a);
    while (bson_iter_next(&a)) {
        bson_iter_t d;
        if (BSON_ITER_HOLDS_UTF8(&a) && *bson_iter_utf8(&a, NULL)) {
            if (!(r->key_names.v[r->key_names.n++] = phi_strdup(bson_iter_utf8(&a, NULL))))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            continue;
        }
        if (BSON_ITER_HOLDS_BINARY(&a)) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            bson_iter_binary(&a, &st, &len, &data);
            if (st == BSON_SUBTYPE_UUID && len == 16) {
                memcpy(r->key_ids[r->n_key_ids++], data, 16);
                continue;
            }
        }
        if (BSON_ITER_HOLDS_DOCUMENT(&a) && bson_iter_recurse(&a, &d) && bson_iter_find(&d, "$uuid") &&
            BSON_ITER_HOLDS_UTF8(&d) && parse_uuid_text(bson_iter_utf8(&d, NULL), r->key_ids[r->n_key_ids]) == 0) {
            r->n_key_ids++;
            continue;
        }
        return phi_error(eh, PHICRYPT_ECONFIG,
                         "configuration: '%s' must hold key alt names, keyring key names or {\"$uuid\": \"...\"}", where);
    }
    return 0;
}

static int parse_role(const void *eh, bson_iter_t *it, struct phi_role *r)
{
    bson_iter_t c;
    char where[300];
    int rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.roles.%s' must be an object", r->name);
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        snprintf(where, sizeof where, "access.roles.%s.%s", r->name, k);
        if (strcmp(k, "purposes") == 0)
            rc = parse_strv(eh, &c, where, &r->purposes);
        else if (strcmp(k, "fields") == 0)
            rc = parse_fields(eh, &c, r, where);
        else if (strcmp(k, "keys") == 0)
            rc = parse_keys(eh, &c, r, where);
        else {
            snprintf(where, sizeof where, "access.roles.%s.", r->name);
            rc = phi_config_unknown_key(eh, where, k, role_keys);
        }
        if (rc != 0)
            return rc;
    }
    if (!r->purposes.n)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.roles.%s' needs \"purposes\"", r->name);
    if (!r->n_rules)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.roles.%s' needs \"fields\"", r->name);
    return 0;
}

static int parse_roles(phi_access *a, const void *eh, bson_iter_t *it)
{
    bson_iter_t c;
    size_t n = 0;
    int rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.roles' must be an object");
    while (bson_iter_next(&c))
        n++;
    if (n == 0)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.roles' must name at least one role");
    if (!(a->roles = phi_calloc(n, sizeof *a->roles)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    bson_iter_recurse(it, &c);
    while (bson_iter_next(&c)) {
        struct phi_role *r = &a->roles[a->n_roles++];
        if (!(r->name = phi_strdup(bson_iter_key(&c))))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        if ((rc = parse_role(eh, &c, r)) != 0)
            return rc;
    }
    return 0;
}

static const struct phi_role *find_role(const phi_access *a, const char *name)
{
    for (size_t i = 0; i < a->n_roles; i++)
        if (strcmp(a->roles[i].name, name) == 0)
            return &a->roles[i];
    return NULL;
}

static int parse_break_glass(phi_access *a, const void *eh, bson_iter_t *it)
{
    bson_iter_t c;
    int rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.break_glass' must be an object");
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        if (strcmp(k, "purpose") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&c) || !*bson_iter_utf8(&c, NULL))
                return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.break_glass.purpose' must be a string");
            if (!(a->bg_purpose = phi_strdup(bson_iter_utf8(&c, NULL))))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        } else if (strcmp(k, "roles") == 0) {
            if ((rc = parse_strv(eh, &c, "access.break_glass.roles", &a->bg_roles)) != 0)
                return rc;
        } else {
            return phi_config_unknown_key(eh, "access.break_glass.", k, bg_keys);
        }
    }
    if (!a->bg_purpose || !a->bg_roles.n)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.break_glass' needs \"purpose\" and \"roles\"");
    return 0;
}

static int parse_doc(phi_access *a, const void *eh, bson_iter_t *it)
{
    bson_iter_t c, bg;
    int rc = 0, have_bg = 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access' must be an object");
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        if (strcmp(k, "roles") == 0)
            rc = parse_roles(a, eh, &c);
        else if (strcmp(k, "break_glass") == 0) {
            bg = c; /* after the roles, whatever the key order */
            have_bg = 1;
        } else if (strcmp(k, "denied_fields") == 0) {
            size_t i;
            const char *v = BSON_ITER_HOLDS_UTF8(&c) ? bson_iter_utf8(&c, NULL) : "";
            for (i = 0; denied_modes[i] && strcmp(denied_modes[i], v) != 0; i++)
                ;
            if (!denied_modes[i])
                return phi_error(eh, PHICRYPT_ECONFIG,
                                 "configuration: 'access.denied_fields' must be \"keep\" (or \"ciphertext\"), "
                                 "\"redact\" (or \"marker\") or \"null\"");
            a->denied_mode = i == 3 ? PHI_DENIED_CIPHERTEXT : i == 4 ? PHI_DENIED_MARKER : (int)i;
        } else if (strcmp(k, "marker") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&c))
                return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.marker' must be a string");
            phi_free(a->marker);
            if (!(a->marker = phi_strdup(bson_iter_utf8(&c, NULL))))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        } else
            rc = phi_config_unknown_key(eh, "access.", k, access_keys);
        if (rc != 0)
            return rc;
    }
    if (!a->n_roles)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access' needs \"roles\"");
    if (have_bg) {
        if ((rc = parse_break_glass(a, eh, &bg)) != 0)
            return rc;
        for (size_t i = 0; i < a->bg_roles.n; i++)
            if (!find_role(a, a->bg_roles.v[i]))
                return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'access.break_glass.roles': no role '%s'",
                                 a->bg_roles.v[i]);
    }
    return 0;
}

int phi_access_parse(phi_access **out, const void *eh, bson_iter_t *it)
{
    phi_access *a = phi_calloc(1, sizeof *a);
    int rc;
    *out = NULL;
    if (!a || !(a->marker = phi_strdup("[RESTRICTED]"))) {
        phi_free(a);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    if ((rc = parse_doc(a, eh, it)) != 0) {
        phi_access_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void phi_access_free(phi_access *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_roles; i++) {
        struct phi_role *r = &a->roles[i];
        phi_free(r->name);
        strv_free(&r->purposes);
        for (size_t j = 0; j < r->n_rules; j++) {
            phi_free(r->rules[j].ns);
            strv_free(&r->rules[j].paths);
        }
        phi_free(r->rules);
        strv_free(&r->key_names);
        phi_free(r->key_ids);
    }
    phi_access_bindings_free(a);
    phi_free(a->roles);
    phi_free(a->bg_purpose);
    strv_free(&a->bg_roles);
    phi_free(a->marker);
    phi_free(a);
}

int phi_access_denied_mode(const phi_access *a)
{
    return a ? a->denied_mode : PHI_DENIED_CIPHERTEXT;
}

const char *phi_access_marker(const phi_access *a)
{
    return a ? a->marker : "[RESTRICTED]";
}

static int nonempty(const char *s)
{
    return s && *s;
}

/* Session strings end up in the audit log: one bad byte there would make
 * `audit verify` reject a genuine line, so they are checked first. */
int phi_access_text_check(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return 1;
    if (!bson_utf8_validate(s, n, false))
        return 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* C0 controls, DEL and the C1 controls (U+0080..U+009F = C2 80..C2 9F) */
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0))
            return 3;
    }
    return 0;
}

int phi_access_text_ok(const void *eh, const char *what, const char *s)
{
    static const char *const why[] = { "", "is longer than 256 bytes", "is not valid UTF-8",
                                       "holds a control character" };
    int r = s ? phi_access_text_check(s, PHI_ACCESS_TEXT_MAX) : 0;
    return r ? phi_error(eh, PHICRYPT_EINVAL, "session: %s %s", what, why[r]) : 0;
}

int phi_access_resolve(const phi_access *a, const void *eh, const phicrypt_session *s, phi_access_grant *g)
{
    const struct phi_role *r;
    g->role = NULL;
    g->break_glass = 0;
    if (!s)
        return phi_error(eh, PHICRYPT_EINVAL, "a session (actor, role, purpose) is required");
    if (s->version != PHICRYPT_SESSION_VERSION)
        return phi_error(eh, PHICRYPT_EINVAL, "phicrypt_session: version %u unknown (expected %u)", s->version,
                         PHICRYPT_SESSION_VERSION);
    if (!nonempty(s->actor) || !nonempty(s->role) || !nonempty(s->purpose))
        return phi_error(eh, PHICRYPT_EINVAL, "session: actor, role and purpose of use are all required (missing %s)",
                         !nonempty(s->actor) ? "actor" : !nonempty(s->role) ? "role" : "purpose");
    {
        int rc;
        if ((rc = phi_access_text_ok(eh, "actor", s->actor)) != 0 || (rc = phi_access_text_ok(eh, "role", s->role)) != 0 ||
            (rc = phi_access_text_ok(eh, "purpose", s->purpose)) != 0 ||
            (rc = phi_access_text_ok(eh, "subject", s->subject)) != 0)
            return rc;
    }
    if (!a)
        return 0;
    if (!(r = find_role(a, s->role)))
        return phi_error(eh, PHICRYPT_EACCESS, "access denied: role '%s' is not configured", s->role);
    g->role = r;
    if (strv_has(&r->purposes, s->purpose))
        return 0;
    if (a->bg_purpose && strcmp(a->bg_purpose, s->purpose) == 0 && strv_has(&a->bg_roles, s->role)) {
        g->break_glass = 1;
        return 0;
    }
    g->role = NULL;
    return phi_error(eh, PHICRYPT_EACCESS, "access denied: role '%s' may not act for purpose '%s'", s->role,
                     s->purpose);
}

int phi_access_path_match(const char *rule, const char *path)
{
    for (;;) {
        size_t rl = strcspn(rule, "."), pl = strcspn(path, ".");
        if (!*rule)
            return 1; /* the rule is a prefix of the path */
        if (!*path)
            return 0;
        if (!(rl == 1 && rule[0] == '*') && (rl != pl || memcmp(rule, path, rl) != 0))
            return 0;
        rule += rl + (rule[rl] == '.');
        path += pl + (path[pl] == '.');
        if (!*rule)
            return 1;
    }
}

/* Whether a rule path of the grant's role for `ns` covers `path` (exact:
 * only a rule path equal to it, e.g. "*"). */
static int any_rule(const phi_access_grant *g, const char *ns, const char *path, int exact)
{
    if (!g->role)
        return 1;
    for (size_t i = 0; i < g->role->n_rules; i++) {
        const phi_ns_rule *nr = &g->role->rules[i];
        if (strcmp(nr->ns, "*") != 0 && (!ns || strcmp(nr->ns, ns) != 0))
            continue;
        for (size_t j = 0; j < nr->paths.n; j++)
            if (exact ? strcmp(nr->paths.v[j], path) == 0 : phi_access_path_match(nr->paths.v[j], path))
                return 1;
    }
    return 0;
}

int phi_access_allows(const phi_access_grant *g, const char *ns, const char *path)
{
    return any_rule(g, ns, path, 0);
}

int phi_access_allows_all(const phi_access_grant *g, const char *ns)
{
    return any_rule(g, ns, "*", 1);
}

void phi_access_role_keys(const phi_access_grant *g, const char *const **names, size_t *n_names,
                          const uint8_t (**ids)[16], size_t *n_ids)
{
    *names = NULL;
    *ids = NULL;
    *n_names = *n_ids = 0;
    if (!g->role)
        return;
    *names = (const char *const *)g->role->key_names.v;
    *n_names = g->role->key_names.n;
    *ids = (const uint8_t(*)[16])g->role->key_ids;
    *n_ids = g->role->n_key_ids;
}
