/* File key vault: key documents in a docstore (one canonical Extended
 * JSON document per line; atomic, locked writes — see docstore_private.h). */
#include <string.h>
#include <time.h>

#include <phicrypt.h>
#include "phi_config.h"
#include "core/docstore_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "keyvault/keyvault_private.h"
#ifdef PHI_HAVE_MONGOC
#include "keyvault/mongo_vault_private.h"
#endif

struct phi_keyvault {
    phi_docstore *store;
#ifdef PHI_HAVE_MONGOC
    phi_mongo_vault *mongo; /* a mongodb:// key vault: every call goes there */
#define MONGO_DISPATCH(call) if (kv->mongo) return call
#else
#define MONGO_DISPATCH(call)
#endif
};

void (*phi_keyvault_test_hook)(const phi_key_request *req);

static int key_id_of(const bson_t *doc, const uint8_t **id)
{
    bson_iter_t it;
    bson_subtype_t st;
    uint32_t len;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_BINARY(&it))
        return -1;
    bson_iter_binary(&it, &st, &len, id);
    return (st == BSON_SUBTYPE_UUID && len == 16) ? 0 : -1;
}

/* Checks the fields libmongocrypt relies on so that a damaged vault is
 * reported with its line, not as a confusing failure later. */
static int validate_doc(const void *eh, const char *path, size_t line, const bson_t *doc)
{
    const uint8_t *id;
    bson_iter_t it;
    if (key_id_of(doc, &id) != 0)
        return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: _id must be a UUID (binary subtype 4)", path,
                         line);
    if (!bson_iter_init_find(&it, doc, "keyMaterial") || !BSON_ITER_HOLDS_BINARY(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: keyMaterial missing or not binary", path,
                         line);
    if (!bson_iter_init_find(&it, doc, "masterKey") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: masterKey missing or not a document", path,
                         line);
    if (bson_iter_init_find(&it, doc, "keyAltNames")) {
        bson_iter_t a;
        if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &a))
            return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: keyAltNames must be an array", path,
                             line);
        while (bson_iter_next(&a))
            if (!BSON_ITER_HOLDS_UTF8(&a))
                return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: keyAltNames must hold strings",
                                 path, line);
    }
    return 0;
}

int phi_keyvault_open(phi_keyvault **out, const void *eh, const char *uri, const char *base_dir)
{
    return phi_keyvault_open_ns(out, eh, uri, base_dir, "encryption.__keyVault");
}

int phi_keyvault_open_ns(phi_keyvault **out, const void *eh, const char *uri, const char *base_dir, const char *ns)
{
    phi_keyvault *kv;
    char *path;
    int rc;
    *out = NULL;
    if (strncmp(uri, "file:", 5) != 0) {
        if (strncmp(uri, "mongodb://", 10) == 0 || strncmp(uri, "mongodb+srv://", 14) == 0) {
#ifdef PHI_HAVE_MONGOC
            if (!(kv = phi_calloc(1, sizeof *kv)))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            if ((rc = phi_mongo_vault_open(&kv->mongo, eh, uri, ns)) != 0) {
                phi_free(kv);
                return rc;
            }
            *out = kv;
            return 0;
#else
            (void)ns;
            return phi_error(eh, PHICRYPT_EUNSUPPORTED,
                             "key_vault: this build has no MongoDB support (libmongoc); use file:PATH");
#endif
        }
        return phi_error(eh, PHICRYPT_ECONFIG, "key_vault: expected \"file:PATH\" or a mongodb:// URI");
    }
    if (uri[5] == '\0')
        return phi_error(eh, PHICRYPT_ECONFIG, "key_vault: empty path after \"file:\"");
    kv = phi_calloc(1, sizeof *kv);
    path = phi_path_resolve(base_dir, uri + 5);
    if (!kv || !path) {
        phi_free(kv);
        phi_free(path);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = phi_docstore_open(&kv->store, eh, "key vault", PHICRYPT_EKEYVAULT, path, validate_doc);
    phi_free(path);
    if (rc != 0) {
        phi_free(kv);
        return rc;
    }
    *out = kv;
    return 0;
}

void phi_keyvault_close(phi_keyvault *kv)
{
    if (!kv)
        return;
#ifdef PHI_HAVE_MONGOC
    phi_mongo_vault_close(kv->mongo);
#endif
    phi_docstore_close(kv->store);
    phi_free(kv);
}

const char *phi_keyvault_describe(const phi_keyvault *kv)
{
    MONGO_DISPATCH(phi_mongo_vault_describe(kv->mongo));
    return phi_docstore_path(kv->store);
}

static int has_alt_name(const bson_t *doc, const char *name)
{
    bson_iter_t it, a;
    if (!bson_iter_init_find(&it, doc, "keyAltNames") || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &a))
        return 0;
    while (bson_iter_next(&a))
        if (BSON_ITER_HOLDS_UTF8(&a) && strcmp(bson_iter_utf8(&a, NULL), name) == 0)
            return 1;
    return 0;
}

static int matches(const bson_t *doc, const phi_key_request *req)
{
    const uint8_t *id;
    if (key_id_of(doc, &id) == 0)
        for (size_t i = 0; i < req->n_ids; i++)
            if (memcmp(req->ids[i], id, 16) == 0)
                return 1;
    for (size_t i = 0; i < req->n_names; i++)
        if (has_alt_name(doc, req->names[i]))
            return 1;
    return 0;
}

typedef struct find_args {
    const phi_key_request *req;
    phi_key_emit_fn emit;
    void *ectx;
} find_args;

static int find_one(void *arg, const bson_t *doc)
{
    find_args *a = arg;
    return (!a->req || matches(doc, a->req)) ? a->emit(a->ectx, doc) : 0;
}

int phi_keyvault_find(phi_keyvault *kv, const void *eh, const phi_key_request *req, phi_key_emit_fn emit,
                      void *ectx)
{
    find_args a = { req, emit, ectx };
    if (phi_keyvault_test_hook && req)
        phi_keyvault_test_hook(req);
    MONGO_DISPATCH(phi_mongo_vault_find(kv->mongo, eh, req, emit, ectx));
    return phi_docstore_each(kv->store, eh, find_one, &a);
}

int phi_keyvault_io_collinfo(void *ctx, const void *eh, const char *db, const bson_t *filter, phi_key_emit_fn emit,
                             void *ectx)
{
    phi_keyvault *kv = ctx;
    (void)kv;
    MONGO_DISPATCH(phi_mongo_vault_collinfo(kv->mongo, eh, db, filter, emit, ectx));
    (void)eh;
    (void)db;
    (void)filter;
    (void)emit;
    (void)ectx;
    return 0;
}

int phi_keyvault_io_find(void *ctx, const void *eh, const phi_key_request *req, phi_key_emit_fn emit, void *ectx)
{
    return phi_keyvault_find(ctx, eh, req, emit, ectx);
}

int phi_keyvault_each(phi_keyvault *kv, const void *eh, phi_key_emit_fn emit, void *ectx)
{
    find_args a = { NULL, emit, ectx };
    MONGO_DISPATCH(phi_mongo_vault_find(kv->mongo, eh, NULL, emit, ectx));
    return phi_docstore_each(kv->store, eh, find_one, &a);
}

int phi_keyvault_generation(phi_keyvault *kv, const void *eh, uint64_t *gen)
{
    *gen = 0;
#ifdef PHI_HAVE_MONGOC
    if (kv->mongo)
        return 0; /* not tracked: libmongocrypt's 60 s cache applies (docs/kms.md) */
#endif
    return phi_docstore_generation(kv->store, eh, gen);
}

static ssize_t find_index(const phi_doclist *l, const uint8_t id[16])
{
    for (size_t i = 0; i < l->n; i++) {
        const uint8_t *d;
        if (key_id_of(l->docs[i], &d) == 0 && memcmp(d, id, 16) == 0)
            return (ssize_t)i;
    }
    return -1;
}

static int check_alt_name_free(const phi_doclist *l, const void *eh, const char *name, const uint8_t *except_id)
{
    for (size_t i = 0; i < l->n; i++) {
        const uint8_t *d;
        char u[37];
        if (key_id_of(l->docs[i], &d) != 0 || (except_id && memcmp(d, except_id, 16) == 0))
            continue;
        if (has_alt_name(l->docs[i], name)) {
            phi_uuid_format(u, d);
            return phi_error(eh, PHICRYPT_EEXIST, "key alt name '%s' is already used by data key %s", name, u);
        }
    }
    return 0;
}

static int do_insert(void *arg, const void *eh, phi_doclist *l)
{
    const bson_t *doc = arg;
    const uint8_t *id;
    bson_iter_t it, a;
    int rc;
    if (key_id_of(doc, &id) != 0)
        return phi_error(eh, PHICRYPT_EINVAL, "key document without a UUID _id");
    if (find_index(l, id) >= 0) {
        char u[37];
        phi_uuid_format(u, id);
        return phi_error(eh, PHICRYPT_EEXIST, "data key %s already exists", u);
    }
    if (bson_iter_init_find(&it, doc, "keyAltNames") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &a))
        while (bson_iter_next(&a))
            if (BSON_ITER_HOLDS_UTF8(&a) && (rc = check_alt_name_free(l, eh, bson_iter_utf8(&a, NULL), NULL)) != 0)
                return rc;
    if (phi_doclist_push_copy(l, doc) != 0)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    return 0;
}

int phi_keyvault_insert(phi_keyvault *kv, const void *eh, const bson_t *doc)
{
    MONGO_DISPATCH(phi_mongo_vault_insert(kv->mongo, eh, doc));
    return phi_docstore_modify(kv->store, eh, do_insert, (void *)doc);
}

static int not_found(const void *eh, const uint8_t id[16])
{
    char u[37];
    phi_uuid_format(u, id);
    return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "data key %s not found in the key vault", u);
}

static int do_delete(void *arg, const void *eh, phi_doclist *l)
{
    const uint8_t *id = arg;
    ssize_t i = find_index(l, id);
    if (i < 0)
        return not_found(eh, id);
    phi_doclist_remove(l, (size_t)i);
    return 0;
}

int phi_keyvault_delete(phi_keyvault *kv, const void *eh, const uint8_t id[16])
{
    MONGO_DISPATCH(phi_mongo_vault_delete(kv->mongo, eh, id));
    return phi_docstore_modify(kv->store, eh, do_delete, (void *)id);
}

typedef struct alt_args {
    const uint8_t *id;
    const char *name;
    int add;
} alt_args;

/* Rebuilds the document with the new keyAltNames and updateDate, keeping
 * the order of the other fields. */
static void rebuild_with_names(const bson_t *doc, const alt_args *a, bson_t *out)
{
    bson_iter_t it;
    int done_names = 0;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "keyAltNames") == 0) {
            bson_t arr;
            bson_iter_t e;
            uint32_t n = 0;
            char idx[16];
            const char *key;
            bson_t tmp = BSON_INITIALIZER;
            bson_append_array_begin(&tmp, "x", 1, &arr);
            bson_iter_recurse(&it, &e);
            while (bson_iter_next(&e)) {
                if (!a->add && BSON_ITER_HOLDS_UTF8(&e) && strcmp(bson_iter_utf8(&e, NULL), a->name) == 0)
                    continue;
                bson_uint32_to_string(n++, &key, idx, sizeof idx);
                bson_append_iter(&arr, key, -1, &e);
            }
            if (a->add) {
                bson_uint32_to_string(n++, &key, idx, sizeof idx);
                bson_append_utf8(&arr, key, -1, a->name, -1);
            }
            bson_append_array_end(&tmp, &arr);
            if (n > 0) { /* MongoDB removes the field with its last name */
                bson_iter_t t;
                bson_iter_init_find(&t, &tmp, "x");
                bson_append_iter(out, "keyAltNames", -1, &t);
            }
            bson_destroy(&tmp);
            done_names = 1;
        } else if (strcmp(k, "updateDate") == 0) {
            BSON_APPEND_DATE_TIME(out, "updateDate", (int64_t)time(NULL) * 1000);
        } else {
            bson_append_iter(out, k, -1, &it);
        }
    }
    if (!done_names && a->add) {
        bson_t arr;
        BSON_APPEND_ARRAY_BEGIN(out, "keyAltNames", &arr);
        BSON_APPEND_UTF8(&arr, "0", a->name);
        bson_append_array_end(out, &arr);
    }
}

static int do_alt(void *arg, const void *eh, phi_doclist *l)
{
    alt_args *a = arg;
    ssize_t i = find_index(l, a->id);
    bson_t *nd;
    int rc;
    if (i < 0)
        return not_found(eh, a->id);
    if (a->add) {
        if (has_alt_name(l->docs[i], a->name))
            return 0;
        if ((rc = check_alt_name_free(l, eh, a->name, a->id)) != 0)
            return rc;
    } else if (!has_alt_name(l->docs[i], a->name)) {
        char u[37];
        phi_uuid_format(u, a->id);
        return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "data key %s has no alt name '%s'", u, a->name);
    }
    nd = phi_bson_new();
    if (!nd)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    rebuild_with_names(l->docs[i], a, nd);
    phi_doclist_replace(l, (size_t)i, nd);
    return 0;
}

int phi_keyvault_alt_name(phi_keyvault *kv, const void *eh, const uint8_t id[16], const char *name, int add)
{
    alt_args a = { id, name, add };
    MONGO_DISPATCH(phi_mongo_vault_alt_name(kv->mongo, eh, id, name, add));
    return phi_docstore_modify(kv->store, eh, do_alt, &a);
}

typedef struct replace_args {
    const bson_t *docs; /* {v: [{_id, keyMaterial, masterKey}, ...]} or an array */
    size_t count;
} replace_args;

/* The stored document with keyMaterial and masterKey from `upd` and a
 * fresh updateDate, the other fields kept in their order. */
static void rebuild_rewrapped(const bson_t *doc, const bson_t *upd, bson_t *out)
{
    bson_iter_t it, u;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if ((strcmp(k, "keyMaterial") == 0 || strcmp(k, "masterKey") == 0) && bson_iter_init_find(&u, upd, k))
            bson_append_iter(out, k, -1, &u);
        else if (strcmp(k, "updateDate") == 0)
            BSON_APPEND_DATE_TIME(out, "updateDate", (int64_t)time(NULL) * 1000);
        else
            bson_append_iter(out, k, -1, &it);
    }
}

static int do_replace_many(void *arg, const void *eh, phi_doclist *l)
{
    replace_args *a = arg;
    bson_iter_t it;
    a->count = 0;
    if (!bson_iter_init(&it, a->docs))
        return phi_error(eh, PHICRYPT_EINTERNAL, "rewrapped keys: unreadable");
    while (bson_iter_next(&it)) {
        bson_t upd, *nd;
        uint32_t len;
        const uint8_t *data, *id;
        bson_iter_t f;
        ssize_t i;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return phi_error(eh, PHICRYPT_EINTERNAL, "rewrapped keys: not a document");
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&upd, data, len) || key_id_of(&upd, &id) != 0 ||
            !bson_iter_init_find(&f, &upd, "keyMaterial") || !BSON_ITER_HOLDS_BINARY(&f) ||
            !bson_iter_init_find(&f, &upd, "masterKey") || !BSON_ITER_HOLDS_DOCUMENT(&f))
            return phi_error(eh, PHICRYPT_EINTERNAL, "rewrapped key without _id, keyMaterial or masterKey");
        if ((i = find_index(l, id)) < 0)
            return not_found(eh, id); /* deleted meanwhile: write nothing */
        nd = phi_bson_new();
        if (!nd)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        rebuild_rewrapped(l->docs[i], &upd, nd);
        phi_doclist_replace(l, (size_t)i, nd);
        a->count++;
    }
    return 0;
}

int phi_keyvault_replace_many(phi_keyvault *kv, const void *eh, const bson_t *docs, size_t *count)
{
    replace_args a = { docs, 0 };
    int rc;
    MONGO_DISPATCH(phi_mongo_vault_replace_many(kv->mongo, eh, docs, count));
    rc = phi_docstore_modify(kv->store, eh, do_replace_many, &a);
    if (count)
        *count = rc == 0 ? a.count : 0;
    return rc;
}
