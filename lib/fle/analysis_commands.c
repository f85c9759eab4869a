/* Per-command analysis and the mongocryptd-style reply (see
 * analysis_private.h for the formats and where they were verified).
 *
 * Commands analysed: insert (documents), find (filter), count (query),
 * distinct (key, query), delete (deletes[].q), update (updates[].q/.u),
 * findAndModify (query, update), aggregate (pipeline: see
 * analysis_pipeline.c) and explain (the inner command,
 * result {explain: <marked inner>, verbosity...} as the spec test
 * explain.json expects it). create, collMod and createIndexes are returned
 * unchanged, but refused (as mongocryptd refuses them) when they define a
 * view or their validator / partialFilterExpression compares encrypted
 * fields. libmongocrypt 1.7.2 bypasses ping, hello, listCollections,
 * getMore, ... itself (_check_cmd_for_auto_encrypt); any other command that
 * reaches us is returned unchanged. When the schema encrypts nothing, every
 * command is returned unchanged. Rules from mongocryptd's query analysis
 * kept here: an encrypted _id must be given explicitly by inserts and
 * upserts; a non-simple collation cannot compare encrypted strings; "$db"
 * is dropped from the result. */
#include <pthread.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

typedef int (*field_fn)(phi_actx *a, bson_iter_t *it, bson_t *out);

typedef struct handler {
    const char *name;
    field_fn fn;
} handler;

/* Copies `doc` into `out`, letting a handler rewrite the fields it names. */
static int process_fields(phi_actx *a, const bson_t *doc, const handler *h, bson_t *out)
{
    bson_iter_t it;
    int rc = 0;
    if (!bson_iter_init(&it, doc))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "malformed command document");
    while (!rc && bson_iter_next(&it)) {
        const handler *found = NULL;
        for (const handler *p = h; p->name; p++)
            if (strcmp(p->name, bson_iter_key(&it)) == 0)
                found = p;
        if (found)
            rc = found->fn(a, &it, out);
        else
            bson_append_iter(out, bson_iter_key(&it), -1, &it);
    }
    return rc;
}

bool phi_sub_document(bson_iter_t *it, bson_t *sub)
{
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return false;
    bson_iter_document(it, &len, &data);
    return bson_init_static(sub, data, len);
}

/* A collation other than {locale: "simple"} changes string comparisons,
 * which ciphertext comparisons cannot honour. */
static bool nonsimple_collation(const bson_t *doc)
{
    bson_iter_t it, f;
    if (!bson_iter_init_find(&it, doc, "collation"))
        return false;
    if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &f) && bson_iter_find(&f, "locale") &&
        BSON_ITER_HOLDS_UTF8(&f) && strcmp(bson_iter_utf8(&f, NULL), "simple") == 0)
        return false;
    return true;
}

/* mongod generates a missing _id, which could then not be encrypted. */
static int check_id_given(phi_actx *a, const bson_t *doc)
{
    const phi_encinfo *enc;
    int rc = phi_schema_resolve(a, "_id", &enc, NULL);
    if (!rc && enc && !bson_has_field(doc, "_id"))
        rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "_id must be explicitly provided when configured as encrypted");
    return rc;
}

/* An upsert may insert the update document: same rule as an insert. */
static int check_upsert(phi_actx *a, const bson_t *holder, const char *update_key)
{
    bson_iter_t it;
    bson_t upd;
    uint32_t len;
    const uint8_t *data;
    if (!bson_iter_init_find(&it, holder, "upsert") || !bson_iter_as_bool(&it))
        return 0;
    if (!bson_iter_init_find(&it, holder, update_key) || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return 0; /* pipelines are refused later */
    bson_iter_document(&it, &len, &data);
    if (!bson_init_static(&upd, data, len))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "malformed '%s' document", update_key);
    return check_id_given(a, &upd);
}

int phi_each_document(phi_actx *a, bson_iter_t *it, phi_doc_fn fn, bson_t *out)
{
    const char *name = bson_iter_key(it);
    bson_iter_t el;
    bson_t arr;
    int rc = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &el))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "'%s' must be an array of documents", name);
    bson_append_array_begin(out, name, -1, &arr);
    while (!rc && bson_iter_next(&el)) {
        bson_t sub, child;
        if (!phi_sub_document(&el, &sub)) {
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "'%s' must be an array of documents", name);
            break;
        }
        bson_append_document_begin(&arr, bson_iter_key(&el), -1, &child);
        rc = fn(a, &sub, &child);
        bson_append_document_end(&arr, &child);
    }
    bson_append_array_end(out, &arr);
    return rc;
}

/* ---- fields ---- */

static int filter_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_t sub, child;
    if (!phi_sub_document(it, &sub))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "'%s' must be a document", bson_iter_key(it));
    bson_append_document_begin(out, bson_iter_key(it), -1, &child);
    int rc = phi_mark_filter(a, &sub, &child);
    bson_append_document_end(out, &child);
    return rc;
}

static int update_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_t sub, child;
    if (BSON_ITER_HOLDS_ARRAY(it))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "pipeline-style updates ('%s' is an array) are not supported by query analysis when the "
                         "schema encrypts fields",
                         bson_iter_key(it));
    if (!phi_sub_document(it, &sub))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "'%s' must be a document", bson_iter_key(it));
    bson_append_document_begin(out, bson_iter_key(it), -1, &child);
    int rc = phi_mark_update(a, &sub, &child);
    bson_append_document_end(out, &child);
    return rc;
}

static int insert_one(phi_actx *a, const bson_t *in, bson_t *out)
{
    phi_nodeset top = { 0 };
    int rc = check_id_given(a, in);
    if (!rc)
        rc = phi_nodeset_add(a->eh, &top, a->root);
    if (!rc)
        rc = phi_mark_document(a, in, &top, "", in, true, out);
    phi_free((void *)top.v);
    return rc;
}

static int documents_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    return phi_each_document(a, it, insert_one, out);
}

static int delete_one(phi_actx *a, const bson_t *in, bson_t *out)
{
    static const handler h[] = { { "q", filter_field }, { NULL, NULL } };
    bool outer = a->collation;
    a->collation = outer || nonsimple_collation(in);
    int rc = process_fields(a, in, h, out);
    a->collation = outer;
    return rc;
}

static int deletes_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    return phi_each_document(a, it, delete_one, out);
}

static int update_one(phi_actx *a, const bson_t *in, bson_t *out)
{
    static const handler h[] = { { "q", filter_field }, { "u", update_field }, { NULL, NULL } };
    bool outer = a->collation;
    int rc = check_upsert(a, in, "u");
    a->collation = outer || nonsimple_collation(in);
    if (!rc)
        rc = process_fields(a, in, h, out);
    /* the server's parser fills in these defaults, and mongocryptd returns
     * the statement as it parsed it */
    if (!rc && !bson_has_field(in, "multi"))
        BSON_APPEND_BOOL(out, "multi", false);
    if (!rc && !bson_has_field(in, "upsert"))
        BSON_APPEND_BOOL(out, "upsert", false);
    a->collation = outer;
    return rc;
}

static int updates_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    return phi_each_document(a, it, update_one, out);
}

static int distinct_key_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    const phi_encinfo *enc;
    if (!BSON_ITER_HOLDS_UTF8(it))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "the distinct 'key' must be a string");
    const char *key = bson_iter_utf8(it, NULL);
    phi_nodeset below = { 0 };
    int rc = phi_schema_resolve(a, key, &enc, &below);
    bool prefix = !rc && !enc && phi_nodeset_has_encrypt(&below);
    phi_free((void *)below.v);
    if (rc)
        return rc;
    if (prefix)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Distinct key is not allowed to be a prefix of an encrypted field: '%s'", key);
    if (enc && enc->key_is_pointer)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "The distinct key is not allowed to be marked for encryption with a non-UUID keyId: '%s'",
                         key);
    if (enc && enc->algorithm == PHI_ALG_RANDOM)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Distinct key is not allowed to be marked for encryption with the randomized encryption "
                         "algorithm: '%s'",
                         key);
    if (enc && a->collation && (enc->types & phi_type_bit(BSON_TYPE_UTF8)))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Distinct key cannot be an encrypted string field if the collation is non-simple: '%s'", key);
    bson_append_iter(out, bson_iter_key(it), -1, it);
    return 0;
}

/* ---- aggregate (analysis_pipeline.c) ---- */

static int pipeline_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    phi_snode *input = a->root;
    int rc = phi_mark_pipeline(a, it, out);
    a->root = input; /* the output shape matters to nothing after the pipeline */
    return rc;
}

/* ---- commands ---- */

static int analyze_command(phi_actx *a, const bson_t *cmd, bool in_explain, bson_t *out);

static int explain_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_t sub, child;
    if (!phi_sub_document(it, &sub))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "'explain' must be a document");
    bson_append_document_begin(out, "explain", -1, &child);
    int rc = analyze_command(a, &sub, true, &child);
    bson_append_document_end(out, &child);
    return rc;
}

/* mongocryptd answers {explain: <marked inner>, verbosity: <given or the
 * server default "allPlansExecution">} (spec test explain.json expects the
 * verbosity even though the application gave none); other top-level fields
 * follow. */
static int explain_command(phi_actx *a, const bson_t *cmd, bson_t *out)
{
    bson_iter_t it;
    bson_t rest = BSON_INITIALIZER;
    int rc = 0;

    if (!bson_iter_init_find(&it, cmd, "explain"))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "'explain' must be a document");
    rc = explain_field(a, &it, out);
    if (!rc) {
        if (bson_iter_init_find(&it, cmd, "verbosity"))
            bson_append_iter(out, "verbosity", -1, &it);
        else
            BSON_APPEND_UTF8(out, "verbosity", "allPlansExecution");
        bson_copy_to_excluding_noinit(cmd, &rest, "explain", "verbosity", NULL);
        bson_concat(out, &rest);
    }
    phi_bson_wipe_destroy(&rest);
    return rc;
}

/* ---- create, collMod, createIndexes: nothing is marked, but a validator or
 * partial filter that compares encrypted fields is refused, as mongocryptd
 * refuses it. ---- */

static int no_markings_in_filter(phi_actx *a, bson_iter_t *it, const char *what)
{
    bson_t sub, scratch = BSON_INITIALIZER;
    bool marked = a->marked;
    if (!phi_sub_document(it, &sub))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s must be a document", what);
    a->marked = false;
    int rc = phi_mark_filter(a, &sub, &scratch);
    if (!rc && a->marked)
        rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "Comparison to encrypted fields not supported in %s", what);
    a->marked = marked;
    phi_bson_wipe_destroy(&scratch);
    return rc;
}

static int validator_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_t sub;
    bson_iter_t f;
    int rc = 0;
    if (!phi_sub_document(it, &sub))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "'validator' must be a document");
    /* a validator that is only the collection's schema is how FLE1 stores a
     * remote schema; libmongocrypt then hands that same schema to us */
    if (bson_iter_init_find(&f, &sub, "$jsonSchema") && bson_count_keys(&sub) == 1) {
        bson_t vs;
        if (!phi_sub_document(&f, &vs))
            return phi_error(a->eh, PHICRYPT_EBADDATA, "'validator.$jsonSchema' must be a document");
        if (!bson_equal(&vs, a->schema))
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "validator with $jsonSchema must be identical to the FLE 1 jsonSchema parameter");
    } else {
        rc = no_markings_in_filter(a, it, "collection validator");
    }
    if (!rc)
        bson_append_iter(out, bson_iter_key(it), -1, it);
    return rc;
}

static int view_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    (void)it;
    (void)out;
    return phi_error(a->eh, PHICRYPT_ESCHEMA, "Creating a view is not supported with automatic encryption");
}

static int index_one(phi_actx *a, const bson_t *in, bson_t *out)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, in, "partialFilterExpression")) {
        int rc = no_markings_in_filter(a, &it, "a partialFilterExpression");
        if (rc)
            return rc;
    }
    bson_concat(out, in);
    return 0;
}

static int indexes_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    return phi_each_document(a, it, index_one, out);
}

static const handler h_insert[] = { { "documents", documents_field }, { NULL, NULL } };
static const handler h_find[] = { { "filter", filter_field }, { NULL, NULL } };
static const handler h_count[] = { { "query", filter_field }, { NULL, NULL } };
static const handler h_distinct[] = { { "key", distinct_key_field }, { "query", filter_field }, { NULL, NULL } };
static const handler h_delete[] = { { "deletes", deletes_field }, { NULL, NULL } };
static const handler h_update[] = { { "updates", updates_field }, { NULL, NULL } };
static const handler h_fam[] = { { "query", filter_field }, { "update", update_field }, { NULL, NULL } };
static const handler h_aggregate[] = { { "pipeline", pipeline_field }, { NULL, NULL } };
static const handler h_create[] = {
    { "validator", validator_field }, { "viewOn", view_field }, { "pipeline", view_field }, { NULL, NULL }
};
static const handler h_collmod[] = { { "validator", validator_field }, { NULL, NULL } };
static const handler h_indexes[] = { { "indexes", indexes_field }, { NULL, NULL } };
static const handler h_none[] = { { NULL, NULL } };

static const struct {
    const char *name;
    const handler *h;
} commands[] = {
    { "insert", h_insert },       { "find", h_find },           { "count", h_count },
    { "distinct", h_distinct },   { "delete", h_delete },       { "update", h_update },
    { "findAndModify", h_fam },   { "aggregate", h_aggregate }, { "create", h_create },
    { "collMod", h_collmod },     { "createIndexes", h_indexes },
};

static int analyze_command(phi_actx *a, const bson_t *cmd, bool in_explain, bson_t *out)
{
    bson_iter_t it;
    bson_t body = BSON_INITIALIZER;
    int rc;
    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "empty command document");
    const char *name = bson_iter_key(&it);
    if (strcmp(name, "explain") == 0) {
        if (in_explain)
            return phi_error(a->eh, PHICRYPT_EBADDATA, "explain of an explain command");
        return explain_command(a, cmd, out);
    }
    const handler *h = h_none;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            h = commands[i].h;
    if (h == h_fam && (rc = check_upsert(a, cmd, "update")))
        return rc;
    /* a database-level aggregate ({aggregate: 1}) has no collection whose
     * schema could describe its input: drivers refuse it with this phrase */
    if (h == h_aggregate && !BSON_ITER_HOLDS_UTF8(&it))
        return phi_error(a->eh, PHICRYPT_ESCHEMA, "non-collection command not supported for auto encryption: aggregate");
    a->collation = nonsimple_collation(cmd);
    bson_iter_init(&it, cmd);
    bson_iter_next(&it);
    a->coll = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
    /* mongocryptd never returns $db: drivers add it to what they send */
    bson_copy_to_excluding_noinit(cmd, &body, "$db", NULL);
    rc = process_fields(a, &body, h, out);
    phi_bson_wipe_destroy(&body);
    a->collation = false;
    return rc;
}

/* Parsed schemas, per thread: libmongocrypt sends the same jsonSchema of a
 * namespace with every command, and parsing it was a tenth of an insert's
 * cost. An entry is found by the schema's bytes (and the remote flag), so
 * a changed schema is parsed afresh; the tree is read-only during an
 * analysis. A few entries (namespaces) per thread, replaced round-robin. */
#define SCHEMA_CACHE 8
typedef struct schema_entry {
    uint8_t *bytes;
    uint32_t len;
    bool remote;
    bson_t doc; /* a view of bytes */
    phi_snode *root;
} schema_entry;
typedef struct schema_cache {
    schema_entry e[SCHEMA_CACHE];
    unsigned next;
} schema_cache;

static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static int cache_ok;

static void cache_free(void *p)
{
    schema_cache *c = p;
    for (int i = 0; c && i < SCHEMA_CACHE; i++) {
        phi_schema_free(c->e[i].root);
        phi_free(c->e[i].bytes);
    }
    phi_free(c);
}

static void cache_init(void)
{
    cache_ok = pthread_key_create(&cache_key, cache_free) == 0;
}

/* The parsed tree of `schema` and the schema it was parsed from (the
 * cache's copy), or a fresh parse the caller frees (*owned). */
static int schema_get(const void *eh, const bson_t *schema, bool remote, phi_snode **root, const bson_t **src,
                      phi_snode **owned)
{
    schema_cache *c = NULL;
    schema_entry *e;
    int rc;
    *owned = NULL;
    if (pthread_once(&cache_once, cache_init) == 0 && cache_ok && !(c = pthread_getspecific(cache_key)) &&
        (c = phi_calloc(1, sizeof *c)) && pthread_setspecific(cache_key, c) != 0) {
        phi_free(c);
        c = NULL;
    }
    for (int i = 0; c && i < SCHEMA_CACHE; i++) {
        e = &c->e[i];
        if (e->root && e->remote == remote && e->len == schema->len &&
            memcmp(e->bytes, bson_get_data(schema), e->len) == 0) {
            *root = e->root;
            *src = &e->doc;
            return 0;
        }
    }
    if (!c) { /* no cache: parse for this call only */
        if ((rc = phi_schema_parse(eh, schema, remote, owned)) == 0) {
            *root = *owned;
            *src = schema;
        }
        return rc;
    }
    e = &c->e[c->next];
    phi_schema_free(e->root);
    phi_free(e->bytes);
    memset(e, 0, sizeof *e);
    if (!(e->bytes = phi_malloc(schema->len)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    memcpy(e->bytes, bson_get_data(schema), schema->len);
    e->len = schema->len;
    e->remote = remote;
    bson_init_static(&e->doc, e->bytes, e->len);
    if ((rc = phi_schema_parse(eh, &e->doc, remote, &e->root)) != 0) {
        phi_free(e->bytes);
        memset(e, 0, sizeof *e);
        return rc;
    }
    c->next = (c->next + 1) % SCHEMA_CACHE;
    *root = e->root;
    *src = &e->doc;
    return 0;
}

int phi_analysis_mark(const void *eh, const char *db, const bson_t *request, bson_t *reply)
{
    return phi_analysis_mark_ex(eh, db, request, reply, 0);
}

int phi_analysis_mark_ex(const void *eh, const char *db, const bson_t *request, bson_t *reply, int trusted)
{
    bson_iter_t it;
    bson_t empty = BSON_INITIALIZER, schema, cmd = BSON_INITIALIZER, result = BSON_INITIALIZER;
    phi_actx a = { .eh = eh };
    phi_snode *owned = NULL;
    int rc;

    (void)db; /* the analysis does not depend on the database; kept in the API for callers that log it */
    if (!request || !reply)
        return phi_error(eh, PHICRYPT_EINVAL, "phi_analysis_mark: NULL argument");
    if (!bson_iter_init(&it, request) || !bson_iter_next(&it))
        return phi_error(eh, PHICRYPT_EBADDATA, "the markings request is not a non-empty BSON document");
    /* libbson's copy helpers abort on inconsistent nested lengths. */
    if (!trusted && !phi_bson_deep_valid(request))
        return phi_error(eh, PHICRYPT_EBADDATA, "the markings request is corrupt or too deeply nested BSON");
    const char *name = bson_iter_key(&it);

    /* libmongocrypt asks mongocryptd's wire version before create /
     * createIndexes; 17 (6.0) makes it send those commands for analysis,
     * which we pass through unchanged. */
    if (!bson_has_field(request, "jsonSchema") &&
        (bson_strcasecmp(name, "isMaster") == 0 || strcmp(name, "hello") == 0)) {
        bson_init(reply);
        BSON_APPEND_DOUBLE(reply, "ok", 1.0);
        BSON_APPEND_BOOL(reply, "ismaster", true);
        BSON_APPEND_INT32(reply, "maxWireVersion", 17);
        return 0;
    }

    schema = empty;
    if (bson_iter_init_find(&it, request, "jsonSchema")) {
        if (!phi_sub_document(&it, &schema))
            return phi_error(eh, PHICRYPT_EBADDATA, "'jsonSchema' in the markings request must be a document");
    }
    bool remote = false;
    if (bson_iter_init_find(&it, request, "isRemoteSchema")) {
        if (!BSON_ITER_HOLDS_BOOL(&it))
            return phi_error(eh, PHICRYPT_EBADDATA, "'isRemoteSchema' in the markings request must be a boolean");
        remote = bson_iter_bool(&it);
    }
    if ((rc = schema_get(eh, &schema, remote, &a.root, &a.schema, &owned)))
        return rc;
    a.coll_root = a.root; /* the cached or parsed tree; stages build beside it */

    bson_copy_to_excluding_noinit(request, &cmd, "jsonSchema", "isRemoteSchema", "$db", NULL);
    if (phi_snode_has_encrypt(a.root))
        rc = analyze_command(&a, &cmd, false, &result);
    else
        bson_concat(&result, &cmd);
    if (!rc) {
        bool requires = phi_snode_has_encrypt(a.root);
        bson_init(reply);
        BSON_APPEND_BOOL(reply, "hasEncryptionPlaceholders", a.marked);
        BSON_APPEND_BOOL(reply, "schemaRequiresEncryption", requires);
        BSON_APPEND_DOCUMENT(reply, "result", &result);
        BSON_APPEND_BOOL(reply, "hasEncryptedPlaceholders", a.marked);
        BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    }
    /* both copies hold the command's plaintext values */
    phi_bson_wipe_destroy(&result);
    phi_bson_wipe_destroy(&cmd);
    phi_synth_free_all(&a);
    phi_schema_free(owned);
    return rc;
}
