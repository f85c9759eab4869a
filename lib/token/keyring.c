/* Keyring records: create, rotate, retire, destroy, list. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <phicrypt.h>
#include "core/docstore_private.h"
#include "core/error_private.h"
#include "core/events_private.h"
#include "core/file_private.h"
#include "core/handle_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/fle_private.h"
#include "token/keyring_impl_private.h"

const char *phi_keyring_algorithm_name(int algorithm)
{
    switch (algorithm) {
    case PHICRYPT_KEYRING_FF1: return "ff1";
    case PHICRYPT_KEYRING_SIV: return "siv";
    case PHICRYPT_KEYRING_HMAC: return "hmac";
    default: return NULL;
    }
}

int phi_kr_algorithm_from_name(const char *name)
{
    for (int a = PHICRYPT_KEYRING_FF1; a <= PHICRYPT_KEYRING_HMAC; a++)
        if (strcmp(name, phi_keyring_algorithm_name(a)) == 0)
            return a;
    return 0;
}

size_t phi_kr_material_len(int algorithm)
{
    return algorithm == PHICRYPT_KEYRING_SIV ? 64 : 32;
}

/* Records are checked on load so that a damaged keyring names its line. */
static int validate(const void *eh, const char *path, size_t line, const bson_t *doc)
{
    bson_iter_t it, v;
    if (!bson_iter_init_find(&it, doc, "name") || !BSON_ITER_HOLDS_UTF8(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "keyring %s line %zu: name missing", path, line);
    if (!bson_iter_init_find(&it, doc, "algorithm") || !BSON_ITER_HOLDS_UTF8(&it) ||
        !phi_kr_algorithm_from_name(bson_iter_utf8(&it, NULL)))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "keyring %s line %zu: algorithm must be ff1, siv or hmac", path, line);
    if (!bson_iter_init_find(&it, doc, "primary") || !BSON_ITER_HOLDS_INT32(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "keyring %s line %zu: primary version missing", path, line);
    if (!bson_iter_init_find(&it, doc, "versions") || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &v))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "keyring %s line %zu: versions missing", path, line);
    while (bson_iter_next(&v)) {
        bson_t ver;
        bson_iter_t f;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&v))
            return phi_error(eh, PHICRYPT_EKEYVAULT, "keyring %s line %zu: a version is not a document", path, line);
        bson_iter_document(&v, &len, &data);
        bson_init_static(&ver, data, len);
        if (!bson_iter_init_find(&f, &ver, "version") || !BSON_ITER_HOLDS_INT32(&f) || bson_iter_int32(&f) < 1 ||
            !bson_iter_init_find(&f, &ver, "material") || !BSON_ITER_HOLDS_BINARY(&f) ||
            !bson_iter_init_find(&f, &ver, "status") || !BSON_ITER_HOLDS_UTF8(&f))
            return phi_error(eh, PHICRYPT_EKEYVAULT, "keyring %s line %zu: malformed version", path, line);
    }
    return 0;
}

int phi_keyring_open(phi_keyring **out, const void *eh, const char *uri, const char *base_dir)
{
    phi_keyring *kr;
    char *path;
    int rc;
    *out = NULL;
    if (strncmp(uri, "file:", 5) != 0 || !uri[5])
        return phi_error(eh, strncmp(uri, "mongodb", 7) == 0 ? PHICRYPT_EUNSUPPORTED : PHICRYPT_ECONFIG,
                         "keyring: expected \"file:PATH\" (a MongoDB keyring is planned)");
    kr = phi_calloc(1, sizeof *kr);
    path = phi_path_resolve(base_dir, uri + 5);
    if (!kr || !path) {
        phi_free(kr);
        phi_free(path);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = phi_docstore_open(&kr->store, eh, "keyring", PHICRYPT_EKEYVAULT, path, validate);
    phi_free(path);
    if (rc != 0) {
        phi_free(kr);
        return rc;
    }
    /* No stat() per lookup: the file is rechecked at most once per
     * PHI_KEYRING_RECHECK_MS; changes made through this client are seen
     * at once (see keyring_private.h). */
    phi_docstore_set_recheck_ms(kr->store, PHI_KEYRING_RECHECK_MS);
    phi_docstore_set_index(kr->store, "name");
    pthread_mutex_init(&kr->mu, NULL);
    *out = kr;
    return 0;
}

void phi_keyring_close(phi_keyring *kr)
{
    if (!kr)
        return;
    phi_kr_cache_clear(kr);
    pthread_mutex_destroy(&kr->mu);
    phi_docstore_close(kr->store);
    phi_free(kr);
}

int phi_kr_check_name(const void *eh, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 128)
        return phi_error(eh, PHICRYPT_EINVAL, "keyring key name must be 1 to 128 characters");
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return phi_error(eh, PHICRYPT_EINVAL, "keyring key name '%.128s': printable ASCII without spaces only",
                             name);
    return 0;
}

int phi_kr_need(phicrypt_t *ph)
{
    if (!ph)
        return phi_error(NULL, PHICRYPT_EINVAL, "keyring: NULL client");
    if (!ph->keyring)
        return phi_error(ph, PHICRYPT_EUNSUPPORTED,
                         "no keyring configured: add \"keyring\": \"file:keyring.jsonl\" to the configuration");
    return 0;
}

/* Makes sure the wrapping data key exists; creates it with the default
 * (local) provider the first time. */
static int ensure_wrapping_key(phicrypt_t *ph)
{
    uint8_t id[16];
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[1] = { PHI_KEYRING_DATA_KEY };
    int rc = phicrypt_datakey_id_by_alt_name(ph, id, PHI_KEYRING_DATA_KEY);
    if (rc != PHICRYPT_EKEYNOTFOUND)
        return rc;
    o.alt_names = names;
    o.alt_names_count = 1;
    rc = phicrypt_datakey_create(ph, id, &o);
    if (rc == PHICRYPT_EEXIST) /* another process made it meanwhile */
        return 0;
    if (rc != 0)
        return phi_error_wrap(ph, rc, "keyring: creating the data key '%s' that wraps keyring keys",
                              PHI_KEYRING_DATA_KEY);
    return 0;
}

/* New random material for `algorithm`, wrapped: {material: BinData(6)}. */
static int new_wrapped_material(phicrypt_t *ph, int algorithm, bson_t *version_doc, uint32_t version)
{
    size_t n = phi_kr_material_len(algorithm);
    uint8_t *m = phi_secure_alloc(n);
    bson_t plain = BSON_INITIALIZER, wrapped;
    bson_iter_t it;
    phi_mcrypt_io io;
    int rc;
    if (!m)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of secure memory");
    if (phi_random(m, n) != 0) {
        phi_secure_free(m);
        return phi_error(ph, PHICRYPT_EINTERNAL, "keyring: no randomness from OpenSSL");
    }
    BSON_APPEND_BINARY(&plain, "v", BSON_SUBTYPE_BINARY, m, (uint32_t)n);
    phi_secure_free(m);
    phi_fle_io(ph, &io);
    rc = phi_mcrypt_encrypt_value(phi_fle_acquire(ph), ph, &io, &plain, PHICRYPT_ALG_RANDOM, NULL,
                                  PHI_KEYRING_DATA_KEY, &wrapped);
    phi_fle_release(ph);
    phi_bson_wipe_destroy(&plain);
    if (rc != 0)
        return phi_error_wrap(ph, rc, "keyring: wrapping new key material");
    BSON_APPEND_INT32(version_doc, "version", (int32_t)version);
    BSON_APPEND_DATE_TIME(version_doc, "created", (int64_t)time(NULL) * 1000);
    BSON_APPEND_UTF8(version_doc, "status", "active");
    if (bson_iter_init_find(&it, &wrapped, "v"))
        bson_append_iter(version_doc, "material", -1, &it);
    bson_destroy(&wrapped);
    return 0;
}

static ssize_t record_index(const phi_doclist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, l->docs[i], "name") && strcmp(bson_iter_utf8(&it, NULL), name) == 0)
            return (ssize_t)i;
    }
    return -1;
}

typedef struct create_args {
    const char *name;
    int algorithm;
    const bson_t *version_doc;
} create_args;

static int do_create(void *arg, const void *eh, phi_doclist *l)
{
    create_args *a = arg;
    bson_t rec = BSON_INITIALIZER, arr;
    int rc;
    if (record_index(l, a->name) >= 0)
        return phi_error(eh, PHICRYPT_EEXIST, "keyring key '%s' already exists (rotate it to add a version)", a->name);
    BSON_APPEND_UTF8(&rec, "name", a->name);
    BSON_APPEND_UTF8(&rec, "algorithm", phi_keyring_algorithm_name(a->algorithm));
    BSON_APPEND_INT32(&rec, "primary", 1);
    BSON_APPEND_ARRAY_BEGIN(&rec, "versions", &arr);
    BSON_APPEND_DOCUMENT(&arr, "0", a->version_doc);
    bson_append_array_end(&rec, &arr);
    rc = phi_doclist_push_copy(l, &rec) == 0 ? 0 : phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    bson_destroy(&rec);
    return rc;
}

int phicrypt_keyring_create(phicrypt_t *ph, const char *name, phicrypt_keyring_algorithm algorithm)
{
    bson_t ver = BSON_INITIALIZER;
    create_args a;
    int rc;
    if ((rc = phi_kr_need(ph)) != 0 || (rc = phi_kr_check_name(ph, name)) != 0)
        return rc;
    if (!phi_keyring_algorithm_name((int)algorithm))
        return phi_error(ph, PHICRYPT_EINVAL, "keyring: algorithm %d unknown (ff1, siv or hmac)", (int)algorithm);
    if ((rc = ensure_wrapping_key(ph)) != 0 || (rc = new_wrapped_material(ph, (int)algorithm, &ver, 1)) != 0) {
        bson_destroy(&ver);
        return rc;
    }
    a.name = name;
    a.algorithm = (int)algorithm;
    a.version_doc = &ver;
    rc = phi_docstore_modify(ph->keyring->store, ph, do_create, &a);
    bson_destroy(&ver);
    return phi_key_event_emit(ph, rc, "keyring_create", NULL, name, 1, 1);
}

/* Rebuilds record i with `edit` applied to its versions array. */
typedef int (*version_edit_fn)(void *arg, const void *eh, const bson_t *ver, uint32_t number, int is_primary,
                               bson_t *out_arr, uint32_t *out_n, int32_t *new_primary);

typedef struct edit_args {
    const char *name;
    uint32_t version;
    const bson_t *new_version; /* rotate */
    uint32_t *assigned;
    int mode;                  /* 0 rotate, 1 retire, 2 destroy */
} edit_args;

static int32_t int_field(const bson_t *d, const char *k)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_INT32(&it) ? bson_iter_int32(&it) : 0;
}

static int do_edit(void *arg, const void *eh, phi_doclist *l)
{
    edit_args *a = arg;
    ssize_t i = record_index(l, a->name);
    bson_t *rec, arr;
    bson_iter_t it, v;
    int32_t primary, highest = 0;
    uint32_t n = 0;
    int found = 0;
    if (i < 0)
        return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "keyring key '%s' not found", a->name);
    primary = int_field(l->docs[i], "primary");
    if (a->mode == 2 && a->version == 0) { /* destroy everything */
        phi_doclist_remove(l, (size_t)i);
        return 0;
    }
    if (a->mode != 0 && a->version == (uint32_t)primary)
        return phi_error(eh, PHICRYPT_EINVAL,
                         "keyring key '%s': version %u is primary; rotate first, or destroy the whole key", a->name,
                         a->version);
    rec = phi_bson_new();
    if (!rec)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    BSON_APPEND_UTF8(rec, "name", a->name);
    bson_iter_init_find(&it, l->docs[i], "algorithm");
    bson_append_iter(rec, "algorithm", -1, &it);
    bson_iter_init_find(&it, l->docs[i], "versions");
    bson_iter_recurse(&it, &v);
    {
        bson_t tmp = BSON_INITIALIZER;
        bson_append_array_begin(&tmp, "v", 1, &arr);
        while (bson_iter_next(&v)) {
            bson_t ver;
            uint32_t len;
            const uint8_t *data;
            char idx[16];
            const char *key;
            int32_t num;
            bson_iter_document(&v, &len, &data);
            bson_init_static(&ver, data, len);
            num = int_field(&ver, "version");
            if (num > highest)
                highest = num;
            if ((uint32_t)num == a->version && a->mode != 0) {
                found = 1;
                if (a->mode == 2)
                    continue; /* the material is gone from the file */
                bson_uint32_to_string(n++, &key, idx, sizeof idx);
                {
                    bson_t nv;
                    bson_append_document_begin(&arr, key, -1, &nv);
                    bson_copy_to_excluding_noinit(&ver, &nv, "status", NULL);
                    BSON_APPEND_UTF8(&nv, "status", "retired");
                    bson_append_document_end(&arr, &nv);
                }
                continue;
            }
            bson_uint32_to_string(n++, &key, idx, sizeof idx);
            bson_append_document(&arr, key, -1, &ver);
        }
        if (a->mode == 0) {
            char idx[16];
            const char *key;
            bson_t nv;
            bson_iter_t m;
            bson_uint32_to_string(n++, &key, idx, sizeof idx);
            bson_append_document_begin(&arr, key, -1, &nv);
            BSON_APPEND_INT32(&nv, "version", highest + 1);
            bson_iter_init(&m, a->new_version);
            while (bson_iter_next(&m))
                if (strcmp(bson_iter_key(&m), "version") != 0)
                    bson_append_iter(&nv, bson_iter_key(&m), -1, &m);
            bson_append_document_end(&arr, &nv);
            primary = highest + 1;
            *a->assigned = (uint32_t)primary;
        }
        bson_append_array_end(&tmp, &arr);
        BSON_APPEND_INT32(rec, "primary", primary);
        bson_iter_init_find(&it, &tmp, "v");
        bson_append_iter(rec, "versions", -1, &it);
        bson_destroy(&tmp);
    }
    if (a->mode != 0 && !found) {
        phi_bson_free(rec);
        return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "keyring key '%s' has no version %u", a->name, a->version);
    }
    phi_doclist_replace(l, (size_t)i, rec);
    return 0;
}

static int record_algorithm(phicrypt_t *ph, const char *name, int *algorithm);

int phicrypt_keyring_rotate(phicrypt_t *ph, uint32_t *new_version, const char *name)
{
    bson_t ver = BSON_INITIALIZER;
    edit_args a = { name, 0, &ver, new_version, 0 };
    int rc, alg;
    uint32_t dummy;
    if (!new_version)
        a.assigned = &dummy;
    if ((rc = phi_kr_need(ph)) != 0 || (rc = phi_kr_check_name(ph, name)) != 0 ||
        (rc = phi_key_guard(ph, "rotate", name, 0)) != 0 || (rc = record_algorithm(ph, name, &alg)) != 0 ||
        (rc = ensure_wrapping_key(ph)) != 0 ||
        (rc = new_wrapped_material(ph, alg, &ver, 0)) != 0) {
        bson_destroy(&ver);
        return rc;
    }
    rc = phi_docstore_modify(ph->keyring->store, ph, do_edit, &a);
    bson_destroy(&ver);
    return phi_key_event_emit(ph, rc, "keyring_rotate", NULL, name, rc == 0 ? *a.assigned : 0, 1);
}

int phicrypt_keyring_retire(phicrypt_t *ph, const char *name, uint32_t version)
{
    edit_args a = { name, version, NULL, NULL, 1 };
    int rc;
    if ((rc = phi_kr_need(ph)) != 0 || (rc = phi_kr_check_name(ph, name)) != 0)
        return rc;
    if (version == 0)
        return phi_error(ph, PHICRYPT_EINVAL, "keyring retire: give a version (1 or more)");
    return phi_key_event_emit(ph, phi_docstore_modify(ph->keyring->store, ph, do_edit, &a), "keyring_retire", NULL, name,
                              version, 1);
}

/* reason == NULL: the guard (the audit log's veto) applies; else it was
 * overridden and the reason is recorded with the destruction. */
static int destroy(phicrypt_t *ph, const char *name, uint32_t version, const char *reason)
{
    edit_args a = { name, version, NULL, NULL, 2 };
    phi_key_event ev;
    int rc;
    if ((rc = phi_kr_need(ph)) != 0 || (rc = phi_kr_check_name(ph, name)) != 0 ||
        (!reason && (rc = phi_key_guard(ph, "destroy", name, version)) != 0))
        return rc;
    rc = phi_docstore_modify(ph->keyring->store, ph, do_edit, &a);
    if (rc != 0)
        return rc;
    phi_kr_cache_forget(ph->keyring, name, version);
    memset(&ev, 0, sizeof ev);
    ev.op = reason ? "keyring_destroy_forced" : "keyring_destroy";
    ev.key_name = name;
    ev.version = version;
    ev.count = 1;
    ev.reason = reason;
    return phi_key_event_send(ph, &ev);
}

int phicrypt_keyring_destroy(phicrypt_t *ph, const char *name, uint32_t version)
{
    return destroy(ph, name, version, NULL);
}

int phicrypt_keyring_destroy_forced(phicrypt_t *ph, const char *name, uint32_t version, const char *reason)
{
    if (!reason || !*reason)
        return phi_error(ph, PHICRYPT_EINVAL, "keyring destroy --force: give a reason");
    return destroy(ph, name, version, reason);
}

typedef struct find_rec {
    const char *name;
    bson_t *copy; /* set when found */
} find_rec;

static int find_rec_cb(void *arg, const bson_t *doc)
{
    find_rec *f = arg;
    if (!f->copy) {
        f->copy = phi_bson_new();
        if (!f->copy)
            return PHICRYPT_ENOMEM;
        bson_destroy(f->copy);
        bson_copy_to(doc, f->copy);
    }
    return 0;
}

int phi_kr_find_record(phicrypt_t *ph, const char *name, bson_t **out)
{
    find_rec f = { name, NULL };
    int rc = phi_docstore_find(ph->keyring->store, ph, name, find_rec_cb, &f);
    if (rc == PHICRYPT_ENOMEM)
        return phi_error(ph, rc, "out of memory");
    if (rc != 0)
        return rc;
    if (!f.copy)
        return phi_error(ph, PHICRYPT_EKEYNOTFOUND, "keyring key '%s' not found", name);
    *out = f.copy;
    return 0;
}

static int record_algorithm(phicrypt_t *ph, const char *name, int *algorithm)
{
    bson_t *rec;
    bson_iter_t it;
    int rc = phi_kr_find_record(ph, name, &rec);
    if (rc != 0)
        return rc;
    bson_iter_init_find(&it, rec, "algorithm");
    *algorithm = phi_kr_algorithm_from_name(bson_iter_utf8(&it, NULL));
    phi_bson_free(rec);
    return 0;
}

typedef struct list_args {
    bson_t *arr;
    uint32_t n;
} list_args;

static int list_cb(void *arg, const bson_t *doc)
{
    list_args *a = arg;
    bson_t e, vers;
    bson_iter_t it, v;
    char idx[16];
    const char *key;
    uint32_t n = 0;
    bson_uint32_to_string(a->n++, &key, idx, sizeof idx);
    bson_append_document_begin(a->arr, key, -1, &e);
    bson_copy_to_excluding_noinit(doc, &e, "versions", NULL);
    BSON_APPEND_ARRAY_BEGIN(&e, "versions", &vers);
    bson_iter_init_find(&it, doc, "versions");
    bson_iter_recurse(&it, &v);
    while (bson_iter_next(&v)) {
        bson_t ver, out;
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&v, &len, &data);
        bson_init_static(&ver, data, len);
        bson_uint32_to_string(n++, &key, idx, sizeof idx);
        bson_append_document_begin(&vers, key, -1, &out);
        bson_copy_to_excluding_noinit(&ver, &out, "material", NULL);
        bson_append_document_end(&vers, &out);
    }
    bson_append_array_end(&e, &vers);
    bson_append_document_end(a->arr, &e);
    return 0;
}

int phicrypt_keyring_list(phicrypt_t *ph, phicrypt_buf *out)
{
    bson_t doc = BSON_INITIALIZER, arr;
    list_args a = { &arr, 0 };
    int rc;
    if ((rc = phi_kr_need(ph)) != 0)
        return rc;
    if (!out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_keyring_list: NULL argument");
    BSON_APPEND_ARRAY_BEGIN(&doc, "keys", &arr);
    rc = phi_docstore_each(ph->keyring->store, ph, list_cb, &a);
    bson_append_array_end(&doc, &arr);
    if (rc == 0)
        rc = phi_buf_from_bson(ph, out, &doc);
    bson_destroy(&doc);
    return rc;
}
