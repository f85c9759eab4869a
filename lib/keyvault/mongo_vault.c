/* MongoDB key vault over libmongoc (see mongo_vault_private.h). */
#include <pthread.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "core/mongo_conn_private.h"
#include "keyvault/mongo_vault_private.h"

#define DUPLICATE_KEY 11000
#define WRITE_TIMEOUT_MS 10000

struct phi_mongo_vault {
    phi_mongo_conn *conn;       /* the pool (shared code with the audit anchor) */
    char *db, *coll;
    char *describe;             /* host list and namespace, never credentials */
    pthread_mutex_t index_mu;
    int index_ready;
};

static int fail(const void *eh, int code, const char *what, const bson_error_t *err)
{
    /* libmongoc's messages name hosts and server errors, not credentials. */
    return phi_error(eh, code, "MongoDB key vault: %s: %s", what, err ? err->message : "failed");
}

int phi_mongo_vault_open(phi_mongo_vault **out, const void *eh, const char *uri, const char *ns)
{
    phi_mongo_vault *mv;
    const char *dot = phi_ns_dot(ns);
    int rc;
    *out = NULL;
    if (!dot)
        return phi_error(eh, PHICRYPT_ECONFIG, "key_vault_namespace: expected \"db.collection\"");
    if (!(mv = phi_calloc(1, sizeof *mv)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    pthread_mutex_init(&mv->index_mu, NULL);
    if ((rc = phi_mongo_conn_open(&mv->conn, eh, "key_vault", uri)) != 0) {
        phi_mongo_vault_close(mv);
        return rc;
    }
    mv->db = phi_strndup(ns, (size_t)(dot - ns));
    mv->coll = phi_strdup(dot + 1);
    mv->describe = phi_malloc(strlen(phi_mongo_conn_hosts(mv->conn)) + strlen(ns) + 2);
    if (!mv->db || !mv->coll || !mv->describe) {
        phi_mongo_vault_close(mv);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    strcpy(mv->describe, phi_mongo_conn_hosts(mv->conn));
    strcat(mv->describe, "/");
    strcat(mv->describe, ns);
    *out = mv;
    return 0;
}

void phi_mongo_vault_close(phi_mongo_vault *mv)
{
    if (!mv)
        return;
    phi_mongo_conn_close(mv->conn);
    phi_free(mv->db);
    phi_free(mv->coll);
    phi_free(mv->describe);
    pthread_mutex_destroy(&mv->index_mu);
    phi_free(mv);
}

const char *phi_mongo_vault_describe(const phi_mongo_vault *mv)
{
    return mv->describe;
}

/* A client from the pool and the key vault collection with majority read
 * and write concern (a key written is a key every reader sees). */
typedef struct conn {
    mongoc_client_t *client;
    mongoc_collection_t *coll;
} conn;

static int conn_get(phi_mongo_vault *mv, const void *eh, conn *c)
{
    mongoc_read_concern_t *rc;
    mongoc_write_concern_t *wc;
    c->client = phi_mongo_conn_pop(mv->conn);
    if (!c->client)
        return phi_error(eh, PHICRYPT_EKEYVAULT, "MongoDB key vault: no client available");
    c->coll = mongoc_client_get_collection(c->client, mv->db, mv->coll);
    rc = mongoc_read_concern_new();
    mongoc_read_concern_set_level(rc, MONGOC_READ_CONCERN_LEVEL_MAJORITY);
    mongoc_collection_set_read_concern(c->coll, rc);
    mongoc_read_concern_destroy(rc);
    wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, WRITE_TIMEOUT_MS);
    mongoc_collection_set_write_concern(c->coll, wc);
    mongoc_write_concern_destroy(wc);
    return 0;
}

static void conn_put(phi_mongo_vault *mv, conn *c)
{
    if (c->coll)
        mongoc_collection_destroy(c->coll);
    phi_mongo_conn_push(mv->conn, c->client);
}

/* The unique partial index the drivers' key vault uses, so that two
 * clients cannot give two keys the same alt name. */
static int ensure_index(phi_mongo_vault *mv, const void *eh, conn *c)
{
    bson_t cmd = BSON_INITIALIZER, arr, idx, key, pfe, ex;
    bson_error_t err;
    int rc = 0;
    pthread_mutex_lock(&mv->index_mu);
    if (!mv->index_ready) {
        BSON_APPEND_UTF8(&cmd, "createIndexes", mv->coll);
        BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
        BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
        BSON_APPEND_INT32(&key, "keyAltNames", 1);
        bson_append_document_end(&idx, &key);
        BSON_APPEND_UTF8(&idx, "name", "keyAltNames_1");
        BSON_APPEND_BOOL(&idx, "unique", true);
        BSON_APPEND_DOCUMENT_BEGIN(&idx, "partialFilterExpression", &pfe);
        BSON_APPEND_DOCUMENT_BEGIN(&pfe, "keyAltNames", &ex);
        BSON_APPEND_BOOL(&ex, "$exists", true);
        bson_append_document_end(&pfe, &ex);
        bson_append_document_end(&idx, &pfe);
        bson_append_document_end(&arr, &idx);
        bson_append_array_end(&cmd, &arr);
        if (!mongoc_collection_write_command_with_opts(c->coll, &cmd, NULL, NULL, &err))
            rc = fail(eh, PHICRYPT_EKEYVAULT, "creating the unique index on keyAltNames", &err);
        else
            mv->index_ready = 1;
        bson_destroy(&cmd);
    }
    pthread_mutex_unlock(&mv->index_mu);
    return rc;
}

static void append_id(bson_t *b, const char *k, const uint8_t id[16])
{
    bson_append_binary(b, k, -1, BSON_SUBTYPE_UUID, id, 16);
}

int phi_mongo_vault_find(phi_mongo_vault *mv, const void *eh, const phi_key_request *req, phi_key_emit_fn emit,
                         void *ectx)
{
    bson_t filter = BSON_INITIALIZER, or, a, in, ids, names;
    const bson_t *doc;
    bson_error_t err;
    mongoc_cursor_t *cur;
    conn c = { 0 };
    int rc;
    char idx[16];
    const char *k;
    if (req) {
        BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a);
        BSON_APPEND_DOCUMENT_BEGIN(&a, "_id", &in);
        BSON_APPEND_ARRAY_BEGIN(&in, "$in", &ids);
        for (size_t i = 0; i < req->n_ids; i++) {
            bson_uint32_to_string((uint32_t)i, &k, idx, sizeof idx);
            append_id(&ids, k, req->ids[i]);
        }
        bson_append_array_end(&in, &ids);
        bson_append_document_end(&a, &in);
        bson_append_document_end(&or, &a);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &a);
        BSON_APPEND_DOCUMENT_BEGIN(&a, "keyAltNames", &in);
        BSON_APPEND_ARRAY_BEGIN(&in, "$in", &names);
        for (size_t i = 0; i < req->n_names; i++) {
            bson_uint32_to_string((uint32_t)i, &k, idx, sizeof idx);
            BSON_APPEND_UTF8(&names, k, req->names[i]);
        }
        bson_append_array_end(&in, &names);
        bson_append_document_end(&a, &in);
        bson_append_document_end(&or, &a);
        bson_append_array_end(&filter, &or);
    }
    if ((rc = conn_get(mv, eh, &c)) != 0) {
        bson_destroy(&filter);
        return rc;
    }
    cur = mongoc_collection_find_with_opts(c.coll, &filter, NULL, NULL);
    while (rc == 0 && mongoc_cursor_next(cur, &doc))
        rc = emit(ectx, doc);
    if (rc == 0 && mongoc_cursor_error(cur, &err))
        rc = fail(eh, PHICRYPT_EKEYVAULT, "find", &err);
    mongoc_cursor_destroy(cur);
    conn_put(mv, &c);
    bson_destroy(&filter);
    return rc;
}

int phi_mongo_vault_insert(phi_mongo_vault *mv, const void *eh, const bson_t *doc)
{
    bson_error_t err;
    conn c = { 0 };
    int rc;
    if ((rc = conn_get(mv, eh, &c)) != 0)
        return rc;
    if ((rc = ensure_index(mv, eh, &c)) == 0 && !mongoc_collection_insert_one(c.coll, doc, NULL, NULL, &err)) {
        if (err.code == DUPLICATE_KEY)
            rc = phi_error(eh, PHICRYPT_EEXIST, "MongoDB key vault: the key id or one of its alt names is already used");
        else
            rc = fail(eh, PHICRYPT_EKEYVAULT, "insert", &err);
    }
    conn_put(mv, &c);
    return rc;
}

static int64_t reply_count(const bson_t *reply, const char *field)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, field) ? bson_iter_as_int64(&it) : 0;
}

static int not_found(const void *eh, const uint8_t id[16])
{
    char u[37];
    phi_uuid_format(u, id);
    return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "data key %s not found in the key vault", u);
}

int phi_mongo_vault_delete(phi_mongo_vault *mv, const void *eh, const uint8_t id[16])
{
    bson_t sel = BSON_INITIALIZER, reply;
    bson_error_t err;
    conn c = { 0 };
    int rc;
    append_id(&sel, "_id", id);
    if ((rc = conn_get(mv, eh, &c)) == 0) {
        if (!mongoc_collection_delete_one(c.coll, &sel, NULL, &reply, &err))
            rc = fail(eh, PHICRYPT_EKEYVAULT, "delete", &err);
        else if (reply_count(&reply, "deletedCount") == 0)
            rc = not_found(eh, id);
        bson_destroy(&reply);
        conn_put(mv, &c);
    }
    bson_destroy(&sel);
    return rc;
}

/* One update_one; *matched receives matchedCount. */
static int update(conn *c, const void *eh, const bson_t *sel, const bson_t *upd, int64_t *matched)
{
    bson_t reply;
    bson_error_t err;
    int rc = 0;
    if (!mongoc_collection_update_one(c->coll, sel, upd, NULL, &reply, &err)) {
        if (err.code == DUPLICATE_KEY)
            rc = phi_error(eh, PHICRYPT_EEXIST, "MongoDB key vault: that key alt name is already used by another key");
        else
            rc = fail(eh, PHICRYPT_EKEYVAULT, "update", &err);
    } else if (matched) {
        *matched = reply_count(&reply, "matchedCount");
    }
    bson_destroy(&reply);
    return rc;
}

int phi_mongo_vault_alt_name(phi_mongo_vault *mv, const void *eh, const uint8_t id[16], const char *name, int add)
{
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, op, cd;
    conn c = { 0 };
    int64_t matched = 0;
    int rc;
    append_id(&sel, "_id", id);
    if (!add)
        BSON_APPEND_UTF8(&sel, "keyAltNames", name);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, add ? "$addToSet" : "$pull", &op);
    BSON_APPEND_UTF8(&op, "keyAltNames", name);
    bson_append_document_end(&upd, &op);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$currentDate", &cd);
    BSON_APPEND_BOOL(&cd, "updateDate", true);
    bson_append_document_end(&upd, &cd);
    if ((rc = conn_get(mv, eh, &c)) != 0)
        goto out;
    if (add && (rc = ensure_index(mv, eh, &c)) != 0)
        goto out;
    if ((rc = update(&c, eh, &sel, &upd, &matched)) != 0)
        goto out;
    if (matched == 0) {
        char u[37];
        phi_uuid_format(u, id);
        rc = add ? not_found(eh, id)
                 : phi_error(eh, PHICRYPT_EKEYNOTFOUND, "data key %s not found or has no alt name '%s'", u, name);
        goto out;
    }
    if (!add) {
        /* MongoDB drops the field with its last name (the partial index
         * then no longer covers the key). */
        bson_t s2 = BSON_INITIALIZER, u2 = BSON_INITIALIZER, size, un;
        append_id(&s2, "_id", id);
        BSON_APPEND_DOCUMENT_BEGIN(&s2, "keyAltNames", &size);
        BSON_APPEND_INT32(&size, "$size", 0);
        bson_append_document_end(&s2, &size);
        BSON_APPEND_DOCUMENT_BEGIN(&u2, "$unset", &un);
        BSON_APPEND_UTF8(&un, "keyAltNames", "");
        bson_append_document_end(&u2, &un);
        rc = update(&c, eh, &s2, &u2, NULL);
        bson_destroy(&s2);
        bson_destroy(&u2);
    }
out:
    conn_put(mv, &c);
    bson_destroy(&sel);
    bson_destroy(&upd);
    return rc;
}

int phi_mongo_vault_replace_many(phi_mongo_vault *mv, const void *eh, const bson_t *docs, size_t *count)
{
    bson_iter_t it, f;
    conn c = { 0 };
    size_t n = 0, found = 0;
    int rc;
    if (count)
        *count = 0;
    if ((rc = conn_get(mv, eh, &c)) != 0)
        return rc;
    /* Check every key first so that a missing one changes nothing. */
    bson_iter_init(&it, docs);
    while (rc == 0 && bson_iter_next(&it)) {
        bson_t d, sel = BSON_INITIALIZER;
        bson_error_t err;
        uint32_t len;
        const uint8_t *data;
        int64_t k;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            continue;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&d, data, len);
        if (!bson_iter_init_find(&f, &d, "_id")) {
            rc = phi_error(eh, PHICRYPT_EINTERNAL, "rewrap: a key without _id");
            break;
        }
        bson_append_iter(&sel, "_id", 3, &f);
        k = mongoc_collection_count_documents(c.coll, &sel, NULL, NULL, NULL, &err);
        bson_destroy(&sel);
        if (k < 0)
            rc = fail(eh, PHICRYPT_EKEYVAULT, "count", &err);
        else if (k == 0)
            rc = phi_error(eh, PHICRYPT_EKEYNOTFOUND, "rewrap: a data key vanished from the key vault meanwhile");
        n++;
    }
    bson_iter_init(&it, docs);
    while (rc == 0 && bson_iter_next(&it)) {
        bson_t d, sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, cd;
        uint32_t len;
        const uint8_t *data;
        int64_t matched = 0;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            continue;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&d, data, len);
        bson_iter_init_find(&f, &d, "_id");
        bson_append_iter(&sel, "_id", 3, &f);
        BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
        if (bson_iter_init_find(&f, &d, "keyMaterial"))
            bson_append_iter(&set, "keyMaterial", -1, &f);
        if (bson_iter_init_find(&f, &d, "masterKey"))
            bson_append_iter(&set, "masterKey", -1, &f);
        bson_append_document_end(&upd, &set);
        BSON_APPEND_DOCUMENT_BEGIN(&upd, "$currentDate", &cd);
        BSON_APPEND_BOOL(&cd, "updateDate", true);
        bson_append_document_end(&upd, &cd);
        rc = update(&c, eh, &sel, &upd, &matched);
        found += (size_t)matched;
        bson_destroy(&sel);
        bson_destroy(&upd);
    }
    conn_put(mv, &c);
    (void)n;
    if (rc == 0 && count)
        *count = found;
    return rc;
}

int phi_mongo_vault_collinfo(phi_mongo_vault *mv, const void *eh, const char *db, const bson_t *filter,
                             phi_key_emit_fn emit, void *ectx)
{
    mongoc_client_t *client = phi_mongo_conn_pop(mv->conn);
    mongoc_database_t *database;
    mongoc_cursor_t *cursor;
    bson_t opts = BSON_INITIALIZER;
    const bson_t *doc;
    bson_error_t err;
    int rc = 0;
    if (!client)
        return phi_error(eh, PHICRYPT_EKEYVAULT, "MongoDB: no client available for listCollections");
    database = mongoc_client_get_database(client, db);
    BSON_APPEND_DOCUMENT(&opts, "filter", filter);
    cursor = mongoc_database_find_collections_with_opts(database, &opts);
    while (rc == 0 && mongoc_cursor_next(cursor, &doc))
        rc = emit(ectx, doc);
    if (rc == 0 && mongoc_cursor_error(cursor, &err))
        rc = fail(eh, PHICRYPT_EKEYVAULT, "listCollections (remote $jsonSchema)", &err);
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    mongoc_database_destroy(database);
    phi_mongo_conn_push(mv->conn, client);
    return rc;
}
