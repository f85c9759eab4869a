/* The audit log's MongoDB anchor (see anchor_mongo_private.h). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "phi_config.h"

#include <phicrypt.h>
#include "audit/anchor_mongo_private.h"
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#ifdef PHI_HAVE_MONGOC
#include "core/mongo_conn_private.h"
#endif

int phi_audit_manchor_spec(const char *spec)
{
    return spec && (strcmp(spec, "mongodb") == 0 || strncmp(spec, "mongodb://", 10) == 0 ||
                    strncmp(spec, "mongodb+srv://", 14) == 0);
}

#ifndef PHI_HAVE_MONGOC

int phi_audit_manchor_new(phi_audit_manchor **out, const void *eh, const char *what, const char *spec)
{
    (void)spec;
    *out = NULL;
    return phi_error(eh, PHICRYPT_EUNSUPPORTED, "%s: this build has no MongoDB support (libmongoc); use \"file:PATH\"",
                     what);
}
int phi_audit_manchor_bind(phi_audit_manchor *m, const void *eh, const char *kv_uri, const char *kv_ns,
                           const char *log_path)
{
    (void)m, (void)kv_uri, (void)kv_ns, (void)log_path;
    return phi_error(eh, PHICRYPT_EUNSUPPORTED, "this build has no MongoDB support (libmongoc)");
}
void phi_audit_manchor_free(phi_audit_manchor *m)
{
    (void)m;
}
const char *phi_audit_manchor_name(const phi_audit_manchor *m)
{
    (void)m;
    return "mongodb";
}
int phi_audit_manchor_newest(phi_audit_manchor *m, const void *eh, char **line, size_t *len, int64_t *seq)
{
    (void)m, (void)len, (void)seq;
    *line = NULL;
    return phi_error(eh, PHICRYPT_EUNSUPPORTED, "this build has no MongoDB support (libmongoc)");
}
int phi_audit_manchor_insert(phi_audit_manchor *m, const void *eh, const char *line, size_t len, int64_t seq)
{
    (void)m, (void)line, (void)len, (void)seq;
    return phi_error(eh, PHICRYPT_EUNSUPPORTED, "this build has no MongoDB support (libmongoc)");
}
int phi_audit_manchor_text(phi_audit_manchor *m, const void *eh, const char *log_hex, char **text, size_t *len)
{
    (void)m, (void)log_hex, (void)len;
    *text = NULL;
    return phi_error(eh, PHICRYPT_EUNSUPPORTED, "this build has no MongoDB support (libmongoc)");
}

#else

#define WRITE_TIMEOUT_MS 10000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct phi_audit_manchor {
    char *spec;   /* "mongodb" or a URI (may hold a password: never printed) */
    char *what;   /* "audit.anchors[i]" */
    phi_mongo_conn *conn;
    char *db;
    char *name;   /* hosts and namespace, for messages */
    char *path;   /* "<host>:<log path>" of the writer, or NULL */
    pthread_mutex_t mu;
    int index_ready;
};

int phi_audit_manchor_new(phi_audit_manchor **out, const void *eh, const char *what, const char *spec)
{
    phi_audit_manchor *m;
    *out = NULL;
    if (!phi_audit_manchor_spec(spec))
        return phi_error(eh, PHICRYPT_ECONFIG, "%s: expected \"mongodb\" or a mongodb:// URI", what);
    if (!(m = phi_calloc(1, sizeof *m)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    m->spec = phi_strdup(spec);
    m->what = phi_strdup(what);
    if (!m->spec || !m->what) {
        phi_audit_manchor_free(m);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

void phi_audit_manchor_free(phi_audit_manchor *m)
{
    if (!m)
        return;
    phi_mongo_conn_close(m->conn);
    if (m->spec)
        phi_wipe_free(m->spec, strlen(m->spec)); /* may hold a password */
    phi_free(m->what);
    phi_free(m->db);
    phi_free(m->name);
    phi_free(m->path);
    pthread_mutex_destroy(&m->mu);
    phi_free(m);
}

int phi_audit_manchor_bind(phi_audit_manchor *m, const void *eh, const char *kv_uri, const char *kv_ns,
                           const char *log_path)
{
    const char *uri = m->spec, *db = NULL;
    char host[256] = "";
    int rc;
    size_t dlen = 0;
    if (m->conn)
        return 0;
    if (strcmp(m->spec, "mongodb") == 0) {
        const char *dot = kv_ns ? phi_ns_dot(kv_ns) : NULL;
        if (!phi_audit_manchor_spec(kv_uri) || strcmp(kv_uri, "mongodb") == 0)
            return phi_error(eh, PHICRYPT_ECONFIG,
                             "%s: \"mongodb\" uses the key vault's MongoDB deployment, but 'key_vault' is not a "
                             "mongodb:// URI (give the anchor's own URI instead)", m->what);
        uri = kv_uri;
        if (dot && (m->db = phi_strndup(kv_ns, (size_t)(dot - kv_ns))) == NULL)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    if ((rc = phi_mongo_conn_open(&m->conn, eh, m->what, uri)) != 0)
        return rc;
    if (!m->db) {
        db = phi_mongo_conn_database(m->conn);
        if (!(m->db = phi_strdup(db && *db ? db : "phicrypt")))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    dlen = strlen(phi_mongo_conn_hosts(m->conn)) + strlen(m->db) + sizeof PHI_AUDIT_MANCHOR_COLLECTION + 3;
    if (!(m->name = phi_malloc(dlen)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    snprintf(m->name, dlen, "%s/%s.%s", phi_mongo_conn_hosts(m->conn), m->db, PHI_AUDIT_MANCHOR_COLLECTION);
    if (log_path) {
        /* Logs of several hosts may share one collection: the newest
         * checkpoint a writer checks is its own log's. */
        size_t n;
        if (gethostname(host, sizeof host - 1) != 0)
            snprintf(host, sizeof host, "localhost");
        n = strlen(host) + strlen(log_path) + 2;
        if (!(m->path = phi_malloc(n)))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        snprintf(m->path, n, "%s:%s", host, log_path);
    }
    return 0;
}

const char *phi_audit_manchor_name(const phi_audit_manchor *m)
{
    return m->name ? m->name : "mongodb";
}

static int fail(const phi_audit_manchor *m, const void *eh, const char *what, const bson_error_t *err)
{
    /* libmongoc's messages name hosts and server errors, not credentials. */
    return phi_error(eh, PHICRYPT_EIO, "audit anchor %s: %s: %s", phi_audit_manchor_name(m), what,
                     err ? err->message : "failed");
}

/* A client and the anchor collection with majority read and write concern
 * (an anchored checkpoint is one every reader sees). */
static mongoc_collection_t *coll_get(phi_audit_manchor *m, const void *eh, mongoc_client_t **client)
{
    mongoc_collection_t *coll;
    mongoc_read_concern_t *rcn;
    mongoc_write_concern_t *wc;
    if (!m->conn) {
        phi_error(eh, PHICRYPT_EINTERNAL, "audit anchor %s: not connected", m->what);
        return NULL;
    }
    if (!(*client = phi_mongo_conn_pop(m->conn))) {
        phi_error(eh, PHICRYPT_EIO, "audit anchor %s: no MongoDB client available", phi_audit_manchor_name(m));
        return NULL;
    }
    coll = mongoc_client_get_collection(*client, m->db, PHI_AUDIT_MANCHOR_COLLECTION);
    rcn = mongoc_read_concern_new();
    mongoc_read_concern_set_level(rcn, MONGOC_READ_CONCERN_LEVEL_MAJORITY);
    mongoc_collection_set_read_concern(coll, rcn);
    mongoc_read_concern_destroy(rcn);
    wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, WRITE_TIMEOUT_MS);
    mongoc_collection_set_write_concern(coll, wc);
    mongoc_write_concern_destroy(wc);
    return coll;
}

static void coll_put(phi_audit_manchor *m, mongoc_client_t *client, mongoc_collection_t *coll)
{
    if (coll)
        mongoc_collection_destroy(coll);
    phi_mongo_conn_push(m->conn, client);
}

/* A checkpoint document from the server, checked before any of it is
 * used: "line" a string of bounded size with no line break or NUL (it
 * becomes one line of anchor text), "n" a positive integer. */
static int doc_line(phi_audit_manchor *m, const void *eh, const bson_t *doc, const char **line, uint32_t *len,
                    int64_t *seq)
{
    bson_iter_t it;
    *line = NULL;
    *seq = 0;
    if (bson_iter_init_find(&it, doc, "n") && (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)))
        *seq = bson_iter_as_int64(&it);
    if (bson_iter_init_find(&it, doc, "line") && BSON_ITER_HOLDS_UTF8(&it))
        *line = bson_iter_utf8(&it, len);
    if (!*line || *seq < 1 || *len == 0 || *len > PHI_AUDIT_MANCHOR_MAX_LINE || memchr(*line, '\n', *len) ||
        memchr(*line, '\r', *len) || strlen(*line) != *len)
        return phi_error(eh, PHICRYPT_EBADDATA,
                         "audit anchor %s: a document is not a checkpoint (needs \"n\" and a one-line \"line\" of at "
                         "most %d bytes)", phi_audit_manchor_name(m), PHI_AUDIT_MANCHOR_MAX_LINE);
    return 0;
}

int phi_audit_manchor_newest(phi_audit_manchor *m, const void *eh, char **line, size_t *len, int64_t *seq)
{
    mongoc_client_t *client = NULL;
    mongoc_collection_t *coll;
    mongoc_cursor_t *cur;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    const bson_t *doc;
    bson_error_t err;
    int rc = 0;
    *line = NULL;
    *len = 0;
    if (!m->path)
        return phi_error(eh, PHICRYPT_EINTERNAL, "audit anchor %s: no log path", m->what);
    if (!(coll = coll_get(m, eh, &client))) {
        phi_mongo_conn_push(m->conn, client);
        return phi_error_code(eh) ? phi_error_code(eh) : PHICRYPT_EIO;
    }
    BSON_APPEND_UTF8(&filter, "path", m->path);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "at", -1);
    BSON_APPEND_INT32(&sort, "n", -1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", 1);
    cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    if (mongoc_cursor_next(cur, &doc)) {
        const char *l;
        uint32_t n;
        if ((rc = doc_line(m, eh, doc, &l, &n, seq)) == 0) {
            if (!(*line = phi_malloc(n + 1)))
                rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            else {
                memcpy(*line, l, n + 1);
                *len = n;
            }
        }
    }
    if (rc == 0 && mongoc_cursor_error(cur, &err))
        rc = fail(m, eh, "find", &err);
    if (rc != 0 && *line) {
        phi_free(*line);
        *line = NULL;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    coll_put(m, client, coll);
    return rc;
}

/* The unique index: one checkpoint per seq of a log, whoever writes it. */
static int ensure_index(phi_audit_manchor *m, const void *eh, mongoc_collection_t *coll)
{
    bson_t cmd = BSON_INITIALIZER, arr, idx, key;
    bson_error_t err;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    if (!m->index_ready) {
        BSON_APPEND_UTF8(&cmd, "createIndexes", PHI_AUDIT_MANCHOR_COLLECTION);
        BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
        BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
        BSON_APPEND_INT32(&key, "log", 1);
        BSON_APPEND_INT32(&key, "n", 1);
        bson_append_document_end(&idx, &key);
        BSON_APPEND_UTF8(&idx, "name", "log_1_n_1");
        BSON_APPEND_BOOL(&idx, "unique", true);
        bson_append_document_end(&arr, &idx);
        bson_append_array_end(&cmd, &arr);
        if (!mongoc_collection_write_command_with_opts(coll, &cmd, NULL, NULL, &err))
            rc = fail(m, eh, "creating the unique index {log: 1, n: 1}", &err);
        else
            m->index_ready = 1;
        bson_destroy(&cmd);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int phi_audit_manchor_insert(phi_audit_manchor *m, const void *eh, const char *line, size_t len, int64_t seq)
{
    mongoc_client_t *client = NULL;
    mongoc_collection_t *coll;
    bson_t doc = BSON_INITIALIZER, parsed;
    bson_error_t err;
    bson_iter_t it;
    const char *log_hex = NULL;
    uint32_t hlen = 0;
    int rc;
    if (!m->path)
        return phi_error(eh, PHICRYPT_EINTERNAL, "audit anchor %s: no log path", m->what);
    if (len > PHI_AUDIT_MANCHOR_MAX_LINE || !bson_init_from_json(&parsed, line, (ssize_t)len, &err))
        return phi_error(eh, PHICRYPT_EINTERNAL, "audit anchor: the checkpoint is not a line to anchor");
    if (bson_iter_init_find(&it, &parsed, "log_id") && BSON_ITER_HOLDS_UTF8(&it))
        log_hex = bson_iter_utf8(&it, &hlen);
    if (!log_hex || hlen != 32) {
        bson_destroy(&parsed);
        return phi_error(eh, PHICRYPT_EINTERNAL, "audit anchor: the checkpoint has no log_id");
    }
    if (!(coll = coll_get(m, eh, &client))) {
        bson_destroy(&parsed);
        phi_mongo_conn_push(m->conn, client);
        return phi_error_code(eh) ? phi_error_code(eh) : PHICRYPT_EIO;
    }
    if ((rc = ensure_index(m, eh, coll)) == 0) {
        BSON_APPEND_UTF8(&doc, "log", log_hex);
        BSON_APPEND_INT64(&doc, "n", seq);
        BSON_APPEND_UTF8(&doc, "path", m->path);
        BSON_APPEND_DATE_TIME(&doc, "at", now_ms());
        bson_append_utf8(&doc, "line", 4, line, (int)len);
        if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &err))
            rc = fail(m, eh, err.code == 11000 ? "insert: this log already has a different checkpoint of that seq "
                                                 "anchored (a rollback?)"
                                               : "insert",
                      &err);
    }
    bson_destroy(&doc);
    bson_destroy(&parsed);
    coll_put(m, client, coll);
    return rc;
}

int phi_audit_manchor_text(phi_audit_manchor *m, const void *eh, const char *log_hex, char **text, size_t *len)
{
    mongoc_client_t *client = NULL;
    mongoc_collection_t *coll;
    mongoc_cursor_t *cur;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    const bson_t *doc;
    bson_error_t err;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    *text = NULL;
    *len = 0;
    if (!(coll = coll_get(m, eh, &client))) {
        phi_mongo_conn_push(m->conn, client);
        return phi_error_code(eh) ? phi_error_code(eh) : PHICRYPT_EIO;
    }
    BSON_APPEND_UTF8(&filter, "log", log_hex);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "n", 1);
    bson_append_document_end(&opts, &sort);
    cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        const char *l;
        uint32_t ln;
        int64_t seq;
        if ((rc = doc_line(m, eh, doc, &l, &ln, &seq)) != 0)
            break;
        if (n + ln + 1 > PHI_AUDIT_MANCHOR_MAX_TEXT) {
            rc = phi_error(eh, PHICRYPT_EBADDATA, "audit anchor %s: more than %zu MiB of checkpoints for one log",
                           phi_audit_manchor_name(m), PHI_AUDIT_MANCHOR_MAX_TEXT >> 20);
            break;
        }
        if (n + ln + 1 > cap) {
            size_t ncap = cap ? cap : 4096;
            char *nb;
            while (ncap < n + ln + 1)
                ncap *= 2;
            if (!(nb = phi_malloc(ncap))) {
                rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
                break;
            }
            if (buf)
                memcpy(nb, buf, n);
            phi_free(buf);
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + n, l, ln);
        n += ln;
        buf[n++] = '\n';
    }
    if (rc == 0 && mongoc_cursor_error(cur, &err))
        rc = fail(m, eh, "find", &err);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    coll_put(m, client, coll);
    if (rc != 0) {
        phi_free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

#endif
