/* File key vault: one key document per line, canonical Extended JSON.
 *
 * Readers never lock: writers replace the whole file atomically (temp
 * file, fsync, rename), so a reader sees the old or the new version.
 * Writers serialise on "<file>.lock" (flock) and re-read the file under
 * the lock, so two processes adding keys at once both succeed. The parsed
 * documents are cached and reloaded when the file's identity changes. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "keyvault/keyvault_private.h"

typedef struct stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} stamp;

typedef struct doclist {
    bson_t **docs;
    size_t n, cap;
} doclist;

struct phi_keyvault {
    char *uri;
    char *path;
    pthread_mutex_t mu;
    doclist cache;
    stamp st;
    int loaded;
};

/* The documents are phi_malloc'd bson_t structs initialised in place, so
 * bson_destroy releases their buffers and phi_free the structs. */
static void doclist_free_all(doclist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        bson_destroy(l->docs[i]);
        phi_free(l->docs[i]);
    }
    phi_free(l->docs);
    memset(l, 0, sizeof *l);
}

static int doclist_push(doclist *l, bson_t *doc)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        bson_t **nd = phi_realloc(l->docs, nc * sizeof *nd);
        if (!nd)
            return PHICRYPT_ENOMEM;
        l->docs = nd;
        l->cap = nc;
    }
    l->docs[l->n++] = doc;
    return 0;
}

static int get_stamp(const char *path, stamp *s)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
    return 0;
}

static int same_stamp(const stamp *a, const stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

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
static int validate_doc(const phi_keyvault *kv, const void *eh, const bson_t *doc, size_t line)
{
    const uint8_t *id;
    bson_iter_t it;
    if (key_id_of(doc, &id) != 0)
        return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: _id must be a UUID (binary subtype 4)",
                         kv->path, line);
    if (!bson_iter_init_find(&it, doc, "keyMaterial") || !BSON_ITER_HOLDS_BINARY(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: keyMaterial missing or not binary",
                         kv->path, line);
    if (!bson_iter_init_find(&it, doc, "masterKey") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: masterKey missing or not a document",
                         kv->path, line);
    if (bson_iter_init_find(&it, doc, "keyAltNames")) {
        bson_iter_t a;
        if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &a))
            return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s line %zu: keyAltNames must be an array",
                             kv->path, line);
        while (bson_iter_next(&a))
            if (!BSON_ITER_HOLDS_UTF8(&a))
                return phi_error(eh, PHICRYPT_EKEYVAULT,
                                 "key vault %s line %zu: keyAltNames must hold strings", kv->path, line);
    }
    return 0;
}

static int parse_file(phi_keyvault *kv, const void *eh, const char *data, size_t len, doclist *out)
{
    size_t line = 0;
    const char *p = data, *end = data + len;
    memset(out, 0, sizeof *out);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        line++;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le) {
            char where[64];
            bson_t *doc = phi_aligned_alloc(BSON_ALIGNOF(bson_t), sizeof *doc);
            int rc;
            if (!doc) {
                doclist_free_all(out);
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            }
            snprintf(where, sizeof where, "line %zu", line);
            if ((rc = phi_json_to_bson(eh, where, q, (size_t)(le - q), doc)) != 0) {
                phi_free(doc);
                doclist_free_all(out);
                return phi_error_wrap(eh, PHICRYPT_EKEYVAULT, "key vault %s", kv->path);
            }
            if ((rc = validate_doc(kv, eh, doc, line)) != 0 || (rc = doclist_push(out, doc)) != 0) {
                bson_destroy(doc);
                phi_free(doc);
                doclist_free_all(out);
                return rc == PHICRYPT_ENOMEM ? phi_error(eh, rc, "out of memory") : rc;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int load(phi_keyvault *kv, const void *eh, doclist *out, stamp *st)
{
    char *data = NULL;
    size_t len = 0;
    int rc;
    if (get_stamp(kv->path, st) != 0)
        return phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s: %s", kv->path, strerror(errno));
    if ((rc = phi_file_read_all(eh, PHICRYPT_EKEYVAULT, kv->path, &data, &len)) != 0)
        return phi_error_wrap(eh, rc, "key vault");
    rc = parse_file(kv, eh, data, len, out);
    phi_free(data);
    return rc;
}

/* Makes the cache current; caller holds kv->mu. */
static int refresh(phi_keyvault *kv, const void *eh)
{
    stamp now;
    doclist fresh;
    int rc;
    if (kv->loaded && get_stamp(kv->path, &now) == 0 && same_stamp(&now, &kv->st))
        return 0;
    if ((rc = load(kv, eh, &fresh, &now)) != 0)
        return rc;
    doclist_free_all(&kv->cache);
    kv->cache = fresh;
    kv->st = now;
    kv->loaded = 1;
    return 0;
}

int phi_keyvault_open(phi_keyvault **out, const void *eh, const char *uri, const char *base_dir)
{
    phi_keyvault *kv;
    struct stat st;
    *out = NULL;
    if (strncmp(uri, "file:", 5) != 0) {
        if (strncmp(uri, "mongodb://", 10) == 0 || strncmp(uri, "mongodb+srv://", 14) == 0)
            return phi_error(eh, PHICRYPT_EUNSUPPORTED,
                             "key_vault: a MongoDB key vault is not supported by this version; use file:PATH");
        return phi_error(eh, PHICRYPT_ECONFIG, "key_vault: expected \"file:PATH\" or a mongodb:// URI");
    }
    if (uri[5] == '\0')
        return phi_error(eh, PHICRYPT_ECONFIG, "key_vault: empty path after \"file:\"");
    kv = phi_calloc(1, sizeof *kv);
    if (!kv)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    kv->uri = phi_strdup(uri);
    kv->path = phi_path_resolve(base_dir, uri + 5);
    if (!kv->uri || !kv->path) {
        phi_keyvault_close(kv);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&kv->mu, NULL);
    /* A missing vault file is almost always a wrong path; say so now rather
     * than answer "key not found" later. */
    if (stat(kv->path, &st) != 0) {
        int e = errno;
        phi_error(eh, PHICRYPT_EKEYVAULT, "key vault %s: %s (create it with `phicrypt init` or an empty file)",
                  kv->path, strerror(e));
        phi_keyvault_close(kv);
        return PHICRYPT_EKEYVAULT;
    }
    *out = kv;
    return 0;
}

void phi_keyvault_close(phi_keyvault *kv)
{
    if (!kv)
        return;
    doclist_free_all(&kv->cache);
    if (kv->path)
        pthread_mutex_destroy(&kv->mu);
    phi_free(kv->uri);
    phi_free(kv->path);
    phi_free(kv);
}

const char *phi_keyvault_describe(const phi_keyvault *kv)
{
    return kv->path;
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

int phi_keyvault_find(phi_keyvault *kv, const void *eh, const phi_key_request *req, phi_key_emit_fn emit,
                      void *ectx)
{
    int rc;
    pthread_mutex_lock(&kv->mu);
    rc = refresh(kv, eh);
    for (size_t i = 0; rc == 0 && i < kv->cache.n; i++)
        if (matches(kv->cache.docs[i], req))
            rc = emit(ectx, kv->cache.docs[i]);
    pthread_mutex_unlock(&kv->mu);
    return rc;
}

int phi_keyvault_io_find(void *ctx, const void *eh, const phi_key_request *req, phi_key_emit_fn emit, void *ectx)
{
    return phi_keyvault_find(ctx, eh, req, emit, ectx);
}

int phi_keyvault_each(phi_keyvault *kv, const void *eh, phi_key_emit_fn emit, void *ectx)
{
    int rc;
    pthread_mutex_lock(&kv->mu);
    rc = refresh(kv, eh);
    for (size_t i = 0; rc == 0 && i < kv->cache.n; i++)
        rc = emit(ectx, kv->cache.docs[i]);
    pthread_mutex_unlock(&kv->mu);
    return rc;
}

/* Serialises the list and replaces the file; caller holds both locks. */
static int store(phi_keyvault *kv, const void *eh, const doclist *l)
{
    bson_string_t *s = bson_string_new(NULL);
    int rc;
    for (size_t i = 0; i < l->n; i++) {
        size_t n;
        char *json = phi_bson_to_json(eh, l->docs[i], 1, &n);
        if (!json) {
            bson_string_free(s, true);
            return phi_error_wrap(eh, PHICRYPT_EKEYVAULT, "key vault %s", kv->path);
        }
        bson_string_append(s, json);
        bson_string_append_c(s, '\n');
        phi_free(json);
    }
    rc = phi_file_write_atomic(eh, PHICRYPT_EKEYVAULT, kv->path, s->str, s->len, 0600);
    bson_string_free(s, true);
    return rc;
}

typedef int (*mutate_fn)(phi_keyvault *kv, const void *eh, doclist *l, void *arg);

/* Lock, re-read, mutate, write, update the cache. */
static int modify(phi_keyvault *kv, const void *eh, mutate_fn fn, void *arg)
{
    int fd = -1, rc;
    doclist l;
    stamp st;

    pthread_mutex_lock(&kv->mu);
    if ((rc = phi_file_lock(eh, PHICRYPT_EKEYVAULT, kv->path, &fd)) != 0)
        goto out_unlock;
    if ((rc = load(kv, eh, &l, &st)) != 0)
        goto out;
    if ((rc = fn(kv, eh, &l, arg)) != 0 || (rc = store(kv, eh, &l)) != 0) {
        doclist_free_all(&l);
        goto out;
    }
    doclist_free_all(&kv->cache);
    kv->cache = l;
    kv->loaded = get_stamp(kv->path, &kv->st) == 0;
out:
    phi_file_unlock(fd);
out_unlock:
    pthread_mutex_unlock(&kv->mu);
    return rc;
}

static ssize_t find_index(const doclist *l, const uint8_t id[16])
{
    for (size_t i = 0; i < l->n; i++) {
        const uint8_t *d;
        if (key_id_of(l->docs[i], &d) == 0 && memcmp(d, id, 16) == 0)
            return (ssize_t)i;
    }
    return -1;
}

static int check_alt_name_free(const doclist *l, const void *eh, const char *name, const uint8_t *except_id)
{
    for (size_t i = 0; i < l->n; i++) {
        const uint8_t *d;
        if (except_id && key_id_of(l->docs[i], &d) == 0 && memcmp(d, except_id, 16) == 0)
            continue;
        if (has_alt_name(l->docs[i], name)) {
            char u[37];
            const uint8_t *other;
            key_id_of(l->docs[i], &other);
            phi_uuid_format(u, other);
            return phi_error(eh, PHICRYPT_EEXIST, "key alt name '%s' is already used by data key %s", name, u);
        }
    }
    return 0;
}

static int do_insert(phi_keyvault *kv, const void *eh, doclist *l, void *arg)
{
    const bson_t *doc = arg;
    const uint8_t *id;
    bson_iter_t it, a;
    bson_t *copy;
    int rc;
    (void)kv;
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
    copy = phi_aligned_alloc(BSON_ALIGNOF(bson_t), sizeof *copy);
    if (!copy)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    bson_copy_to(doc, copy);
    if (doclist_push(l, copy) != 0) {
        bson_destroy(copy);
        phi_free(copy);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    return 0;
}

int phi_keyvault_insert(phi_keyvault *kv, const void *eh, const bson_t *doc)
{
    return modify(kv, eh, do_insert, (void *)doc);
}

static int not_found(const void *eh, const uint8_t id[16])
{
    char u[37];
    phi_uuid_format(u, id);
    return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "data key %s not found in the key vault", u);
}

static int do_delete(phi_keyvault *kv, const void *eh, doclist *l, void *arg)
{
    const uint8_t *id = arg;
    ssize_t i = find_index(l, id);
    (void)kv;
    if (i < 0)
        return not_found(eh, id);
    bson_destroy(l->docs[i]);
    phi_free(l->docs[i]);
    memmove(&l->docs[i], &l->docs[i + 1], (l->n - (size_t)i - 1) * sizeof *l->docs);
    l->n--;
    return 0;
}

int phi_keyvault_delete(phi_keyvault *kv, const void *eh, const uint8_t id[16])
{
    return modify(kv, eh, do_delete, (void *)id);
}

typedef struct alt_args {
    const uint8_t *id;
    const char *name;
    int add;
} alt_args;

/* Rebuilds the document with the new keyAltNames and updateDate, keeping
 * the order of the other fields. */
static int rebuild_with_names(const void *eh, const bson_t *doc, const alt_args *a, bson_t *out)
{
    bson_iter_t it;
    int done_names = 0;
    bson_init(out);
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
            if (n > 0) {
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
    (void)eh;
    return 0;
}

static int do_alt(phi_keyvault *kv, const void *eh, doclist *l, void *arg)
{
    alt_args *a = arg;
    ssize_t i = find_index(l, a->id);
    bson_t *nd;
    int rc;
    (void)kv;
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
    nd = phi_aligned_alloc(BSON_ALIGNOF(bson_t), sizeof *nd);
    if (!nd)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    rebuild_with_names(eh, l->docs[i], a, nd);
    bson_destroy(l->docs[i]);
    phi_free(l->docs[i]);
    l->docs[i] = nd;
    return 0;
}

int phi_keyvault_alt_name(phi_keyvault *kv, const void *eh, const uint8_t id[16], const char *name, int add)
{
    alt_args a = { id, name, add };
    return modify(kv, eh, do_alt, &a);
}
