/* Minimum necessary by data key: which data keys the schema map binds to
 * which fields, and which keys a session may use. A ciphertext names its
 * own key (byte 0 of the subtype 6 payload is the blob subtype, bytes
 * 1..16 the key's UUID); the field name a caller gives is only a claim. */
#include <string.h>

#include <phicrypt.h>
#include "access/access_private.h"
#include "core/error_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

typedef struct phi_binding {
    char *ns;   /* "db.coll" */
    char *path; /* dotted; "*" or "/pattern/" segments match any one name */
    uint8_t id[16];
} phi_binding;

struct phi_bindings {
    phi_binding *v;
    size_t n;
};

static int add_binding(struct phi_bindings *b, const char *ns, const char *path, const uint8_t id[16])
{
    phi_binding *nv = phi_realloc(b->v, (b->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    b->v = nv;
    nv[b->n].ns = phi_strdup(ns);
    nv[b->n].path = phi_strdup(path);
    memcpy(nv[b->n].id, id, 16);
    b->n++;
    return nv[b->n - 1].ns && nv[b->n - 1].path ? 0 : -1;
}

static void bindings_free(struct phi_bindings *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        phi_free(b->v[i].ns);
        phi_free(b->v[i].path);
    }
    phi_free(b->v);
    phi_free(b);
}

int phi_access_bind(phi_access *a, const void *eh, const bson_t *schema_map)
{
    struct phi_bindings *b = phi_calloc(1, sizeof *b);
    bson_iter_t ns_it;
    int rc = 0;
    if (!b)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (schema_map && bson_iter_init(&ns_it, schema_map)) {
        while (rc == 0 && bson_iter_next(&ns_it)) {
            const char *ns = bson_iter_key(&ns_it);
            uint32_t len;
            const uint8_t *data;
            bson_t schema, desc;
            bson_iter_t f, fields;
            if (!BSON_ITER_HOLDS_DOCUMENT(&ns_it))
                continue;
            bson_iter_document(&ns_it, &len, &data);
            if (!bson_init_static(&schema, data, len) || (rc = phi_analysis_describe(eh, &schema, &desc)) != 0)
                break;
            if (bson_iter_init_find(&f, &desc, "fields") && bson_iter_recurse(&f, &fields)) {
                while (rc == 0 && bson_iter_next(&fields)) {
                    bson_iter_t e, p, k;
                    bson_subtype_t st;
                    uint32_t klen;
                    const uint8_t *kid;
                    /* keyIdPointer fields take their key from each document:
                     * no static binding (the explicit "keys" list covers them). */
                    if (!bson_iter_recurse(&fields, &e) || !bson_iter_find(&e, "path") || !BSON_ITER_HOLDS_UTF8(&e))
                        continue;
                    p = e;
                    if (!bson_iter_recurse(&fields, &k) || !bson_iter_find(&k, "keyId") || !BSON_ITER_HOLDS_BINARY(&k))
                        continue;
                    bson_iter_binary(&k, &st, &klen, &kid);
                    if (klen == 16 && add_binding(b, ns, bson_iter_utf8(&p, NULL), kid) != 0)
                        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
                }
            }
            bson_destroy(&desc);
        }
    }
    if (rc != 0) {
        bindings_free(b);
        return rc;
    }
    phi_access_set_bindings(a, b);
    return 0;
}

void phi_access_bindings_free(phi_access *a)
{
    bindings_free(phi_access_get_bindings(a));
    phi_access_set_bindings(a, NULL);
}

/* Exact segment-wise match; "*" and "/pattern/" segments match any name. */
static int bound_path_match(const char *bound, const char *path)
{
    for (;;) {
        size_t bl = strcspn(bound, "."), pl = strcspn(path, ".");
        int wild = (bl == 1 && bound[0] == '*') || (bl >= 2 && bound[0] == '/' && bound[bl - 1] == '/');
        if (!wild && (bl != pl || memcmp(bound, path, bl) != 0))
            return 0;
        if (!bound[bl] || !path[pl])
            return !bound[bl] && !path[pl];
        bound += bl + 1;
        path += pl + 1;
    }
}

/* Bindings of key `id` in `ns` when it has any there, else in every
 * namespace (a document copied between collections keeps its keys). */
static int binding_scope(const struct phi_bindings *b, const char *ns, const uint8_t id[16])
{
    if (!ns)
        return 0;
    for (size_t i = 0; b && i < b->n; i++)
        if (memcmp(b->v[i].id, id, 16) == 0 && strcmp(b->v[i].ns, ns) == 0)
            return 1;
    return 0;
}

const char *phi_access_key_binding(const phi_access *a, const char *ns, const uint8_t id[16], const char *path,
                                   int *bound)
{
    const struct phi_bindings *b = phi_access_get_bindings(a);
    int in_ns = binding_scope(b, ns, id);
    *bound = 0;
    for (size_t i = 0; b && i < b->n; i++) {
        if (memcmp(b->v[i].id, id, 16) != 0 || (in_ns && strcmp(b->v[i].ns, ns) != 0))
            continue;
        *bound = 1;
        if (path && bound_path_match(b->v[i].path, path))
            return b->v[i].path;
    }
    return NULL;
}

int phi_access_keyset(phicrypt_t *ph, const phi_access *a, const phi_access_grant *g, const char *ns,
                      phi_keyset *ks)
{
    const struct phi_bindings *b = phi_access_get_bindings(a);
    const char *const *names;
    const uint8_t(*ids)[16];
    size_t n_names, n_ids, cap;
    memset(ks, 0, sizeof *ks);
    if (phi_access_allows_all(g, ns)) {
        ks->all = 1;
        return 0;
    }
    phi_access_role_keys(g, &names, &n_names, &ids, &n_ids);
    ks->names = names;
    ks->n_names = n_names;
    cap = (b ? b->n : 0) + n_ids + n_names;
    if (!(ks->ids = phi_calloc(cap ? cap : 1, sizeof *ks->ids)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    for (size_t i = 0; b && i < b->n; i++)
        if (phi_access_allows(g, b->v[i].ns, b->v[i].path)) /* the label is checked against `ns` apart */
            memcpy(ks->ids[ks->n_ids++], b->v[i].id, 16);
    for (size_t i = 0; i < n_ids; i++)
        memcpy(ks->ids[ks->n_ids++], ids[i], 16);
    /* Alt names are looked up now: a key created after the client opened
     * counts, and a name that is no data key may be a keyring key. */
    for (size_t i = 0; i < n_names; i++)
        if (phicrypt_datakey_id_by_alt_name(ph, ks->ids[ks->n_ids], names[i]) == 0)
            ks->n_ids++;
    return 0;
}

void phi_keyset_free(phi_keyset *ks)
{
    phi_free(ks->ids);
    memset(ks, 0, sizeof *ks);
}

int phi_keyset_has_id(const phi_keyset *ks, const uint8_t id[16])
{
    if (ks->all)
        return 1;
    for (size_t i = 0; i < ks->n_ids; i++)
        if (memcmp(ks->ids[i], id, 16) == 0)
            return 1;
    return 0;
}

int phi_keyset_has_name(const phi_keyset *ks, const char *name)
{
    if (ks->all)
        return 1;
    for (size_t i = 0; name && i < ks->n_names; i++)
        if (strcmp(ks->names[i], name) == 0)
            return 1;
    return 0;
}

int phi_access_judge(const phi_access *a, const phi_access_grant *g, const phi_keyset *ks, const char *ns,
                     const char *path, const uint8_t id[16])
{
    int bound;
    if (!g->role)
        return PHI_KEY_OK; /* no rules configured */
    /* A key the schema binds elsewhere is a relabelled ciphertext, wherever
     * it sits and whatever the role may see. */
    if (!phi_access_key_binding(a, ns, id, path, &bound) && bound)
        return PHI_KEY_MISMATCH;
    if (!phi_access_allows(g, ns, path))
        return PHI_KEY_DENIED;
    /* An allowed label on a key the role may not use: the same. */
    return phi_keyset_has_id(ks, id) ? PHI_KEY_OK : PHI_KEY_MISMATCH;
}
