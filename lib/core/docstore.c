/* One-document-per-line files with atomic, locked writes. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <phicrypt.h>
#include "core/docstore_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"

typedef struct stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} stamp;

struct phi_docstore {
    char *path;
    const char *what;
    int errcode;
    phi_doc_validate_fn validate;
    pthread_mutex_t mu;
    phi_doclist cache;
    stamp st;
    int loaded;
    uint64_t recheck_ns; /* 0: stat the file on every read */
    uint64_t checked_at; /* CLOCK_MONOTONIC ns of the last stat */
    uint64_t generation; /* +1 at every (re)load: the file changed */
    const char *index_field; /* documents found by this string field, or NULL */
    uint32_t *slots;         /* open addressing: 1 + document index, 0 empty */
    size_t nslots;
};

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211u;
    return h;
}

static const char *index_key(const phi_docstore *s, const bson_t *doc, uint32_t *len)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, s->index_field) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, len);
    return NULL;
}

/* Rebuilds the name index of the cache; on failure the index is dropped
 * and lookups scan (still correct). The first document of a name wins, as
 * a scan in file order would. */
static void index_build(phi_docstore *s)
{
    size_t want = 16;
    phi_free(s->slots);
    s->slots = NULL;
    s->nslots = 0;
    if (!s->index_field || s->cache.n >= UINT32_MAX / 2)
        return;
    while (want < s->cache.n * 2)
        want *= 2;
    if (!(s->slots = phi_calloc(want, sizeof *s->slots)))
        return;
    s->nslots = want;
    for (size_t i = 0; i < s->cache.n; i++) {
        uint32_t len, olen;
        const char *k = index_key(s, s->cache.docs[i], &len), *o;
        if (!k)
            continue;
        for (size_t j = name_hash(k, len) & (want - 1);; j = (j + 1) & (want - 1)) {
            if (!s->slots[j]) {
                s->slots[j] = (uint32_t)i + 1;
                break;
            }
            o = index_key(s, s->cache.docs[s->slots[j] - 1], &olen);
            if (olen == len && memcmp(o, k, len) == 0)
                break;
        }
    }
}

bson_t *phi_bson_new(void)
{
    bson_t *b = phi_aligned_alloc(BSON_ALIGNOF(bson_t), sizeof *b);
    if (b)
        bson_init(b);
    return b;
}

void phi_bson_free(bson_t *b)
{
    if (b) {
        bson_destroy(b); /* bson_init'd structs are not freed by libbson */
        phi_free(b);
    }
}

static void doclist_clear(phi_doclist *l)
{
    for (size_t i = 0; i < l->n; i++)
        phi_bson_free(l->docs[i]);
    phi_free(l->docs);
    memset(l, 0, sizeof *l);
}

static int doclist_push(phi_doclist *l, bson_t *doc)
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

int phi_doclist_push_copy(phi_doclist *l, const bson_t *doc)
{
    bson_t *c = phi_bson_new();
    if (!c)
        return PHICRYPT_ENOMEM;
    bson_destroy(c);
    bson_copy_to(doc, c);
    if (doclist_push(l, c) != 0) {
        phi_bson_free(c);
        return PHICRYPT_ENOMEM;
    }
    return 0;
}

void phi_doclist_remove(phi_doclist *l, size_t i)
{
    phi_bson_free(l->docs[i]);
    memmove(&l->docs[i], &l->docs[i + 1], (l->n - i - 1) * sizeof *l->docs);
    l->n--;
}

void phi_doclist_replace(phi_doclist *l, size_t i, bson_t *doc)
{
    phi_bson_free(l->docs[i]);
    l->docs[i] = doc;
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

static int parse_text(phi_docstore *s, const void *eh, const char *data, size_t len, phi_doclist *out)
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
                doclist_clear(out);
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            }
            snprintf(where, sizeof where, "line %zu", line);
            if (phi_json_to_bson(eh, where, q, (size_t)(le - q), doc) != 0) {
                phi_free(doc);
                doclist_clear(out);
                return phi_error_wrap(eh, s->errcode, "%s %s", s->what, s->path);
            }
            if ((s->validate && (rc = s->validate(eh, s->path, line, doc)) != 0) ||
                (rc = doclist_push(out, doc)) != 0) {
                phi_bson_free(doc);
                doclist_clear(out);
                return rc == PHICRYPT_ENOMEM ? phi_error(eh, rc, "out of memory") : rc;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int load(phi_docstore *s, const void *eh, phi_doclist *out, stamp *st)
{
    char *data = NULL;
    size_t len = 0;
    int rc;
    if (get_stamp(s->path, st) != 0)
        return phi_error(eh, s->errcode, "%s %s: %s", s->what, s->path, strerror(errno));
    if ((rc = phi_file_read_all(eh, s->errcode, s->path, &data, &len)) != 0)
        return phi_error_wrap(eh, rc, "%s", s->what);
    rc = parse_text(s, eh, data, len, out);
    phi_wipe_free(data, len);
    return rc;
}

/* Makes the cache current; caller holds s->mu. */
static int refresh(phi_docstore *s, const void *eh)
{
    stamp now;
    phi_doclist fresh;
    int rc;
    uint64_t t = s->recheck_ns ? mono_ns() : 0;
    if (s->loaded && s->recheck_ns && t - s->checked_at < s->recheck_ns)
        return 0;
    if (s->loaded && get_stamp(s->path, &now) == 0 && same_stamp(&now, &s->st)) {
        s->checked_at = t;
        return 0;
    }
    if ((rc = load(s, eh, &fresh, &now)) != 0)
        return rc;
    doclist_clear(&s->cache);
    s->cache = fresh;
    s->st = now;
    s->loaded = 1;
    s->checked_at = t;
    s->generation++;
    index_build(s);
    return 0;
}

int phi_docstore_open(phi_docstore **out, const void *eh, const char *what, int errcode, const char *path,
                      phi_doc_validate_fn validate)
{
    phi_docstore *s;
    struct stat st;
    *out = NULL;
    /* A missing file is almost always a wrong path; say so now rather than
     * answer "not found" later. */
    if (stat(path, &st) != 0)
        return phi_error(eh, errcode, "%s %s: %s (create it with `phicrypt init` or as an empty file)", what, path,
                         strerror(errno));
    /* Others who may write it could swap keys in (or out). */
    if (phi_file_check_not_writable_by_others(eh, errcode, path, what) != 0)
        return errcode;
    s = phi_calloc(1, sizeof *s);
    if (!s || !(s->path = phi_strdup(path))) {
        phi_free(s);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    s->what = what;
    s->errcode = errcode;
    s->validate = validate;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return 0;
}

void phi_docstore_close(phi_docstore *s)
{
    if (!s)
        return;
    doclist_clear(&s->cache);
    phi_free(s->slots);
    pthread_mutex_destroy(&s->mu);
    phi_free(s->path);
    phi_free(s);
}

const char *phi_docstore_path(const phi_docstore *s)
{
    return s->path;
}

int phi_docstore_each(phi_docstore *s, const void *eh, phi_doc_each_fn fn, void *arg)
{
    int rc;
    pthread_mutex_lock(&s->mu);
    rc = refresh(s, eh);
    for (size_t i = 0; rc == 0 && i < s->cache.n; i++)
        rc = fn(arg, s->cache.docs[i]);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int phi_docstore_generation(phi_docstore *s, const void *eh, uint64_t *gen)
{
    int rc;
    pthread_mutex_lock(&s->mu);
    rc = refresh(s, eh);
    *gen = s->generation;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void phi_docstore_set_recheck_ms(phi_docstore *s, uint32_t ms)
{
    s->recheck_ns = (uint64_t)ms * 1000000u;
}

void phi_docstore_set_index(phi_docstore *s, const char *field)
{
    pthread_mutex_lock(&s->mu);
    s->index_field = field;
    index_build(s);
    pthread_mutex_unlock(&s->mu);
}

int phi_docstore_find(phi_docstore *s, const void *eh, const char *value, phi_doc_each_fn fn, void *arg)
{
    size_t len = strlen(value);
    int rc;
    pthread_mutex_lock(&s->mu);
    rc = refresh(s, eh);
    if (rc == 0 && s->nslots) {
        for (size_t j = name_hash(value, len) & (s->nslots - 1); s->slots[j]; j = (j + 1) & (s->nslots - 1)) {
            uint32_t klen;
            const bson_t *doc = s->cache.docs[s->slots[j] - 1];
            const char *k = index_key(s, doc, &klen);
            if (klen == len && memcmp(k, value, len) == 0) {
                rc = fn(arg, doc);
                break;
            }
        }
    } else if (rc == 0) {
        for (size_t i = 0; i < s->cache.n; i++) {
            uint32_t klen;
            const char *k = s->index_field ? index_key(s, s->cache.docs[i], &klen) : NULL;
            if (k && klen == len && memcmp(k, value, len) == 0) {
                rc = fn(arg, s->cache.docs[i]);
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int store(phi_docstore *s, const void *eh, const phi_doclist *l)
{
    bson_string_t *text = bson_string_new(NULL);
    int rc;
    for (size_t i = 0; i < l->n; i++) {
        size_t n;
        char *json = phi_bson_to_json(eh, l->docs[i], 1, &n);
        if (!json) {
            int code = phi_error_code(eh) == PHICRYPT_ENOMEM ? PHICRYPT_ENOMEM : s->errcode;
            bson_string_free(text, true);
            return phi_error_wrap(eh, code, "%s %s", s->what, s->path);
        }
        bson_string_append(text, json);
        bson_string_append_c(text, '\n');
        phi_free(json);
    }
    rc = phi_file_check_writable(eh, s->errcode, s->path, s->what);
    if (rc == 0)
        rc = phi_file_write_atomic(eh, s->errcode, s->path, text->str, text->len, 0600);
    phi_wipe(text->str, text->len);
    bson_string_free(text, true);
    return rc;
}

int phi_docstore_modify(phi_docstore *s, const void *eh, phi_doc_mutate_fn fn, void *arg)
{
    int fd = -1, rc;
    phi_doclist l;
    stamp st;

    pthread_mutex_lock(&s->mu);
    if ((rc = phi_file_lock(eh, s->errcode, s->path, &fd)) != 0)
        goto out_unlock;
    if ((rc = load(s, eh, &l, &st)) != 0)
        goto out;
    if ((rc = fn(arg, eh, &l)) != 0 || (rc = store(s, eh, &l)) != 0) {
        doclist_clear(&l);
        goto out;
    }
    doclist_clear(&s->cache);
    s->cache = l;
    s->loaded = get_stamp(s->path, &s->st) == 0;
    s->checked_at = s->recheck_ns ? mono_ns() : 0;
    index_build(s);
out:
    phi_file_unlock(fd);
out_unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}
