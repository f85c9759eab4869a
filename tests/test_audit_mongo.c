/* The audit log's MongoDB anchor (issue 18) against the MongoDB test server
 * of tests/run.sh (PHICRYPT_TEST_MONGODB_URI); without one every case is
 * reported as skipped in TAP, never as passed. Each case uses its own
 * database, dropped at the end. Plain TAP, as test_mongo_vault. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <phicrypt.h>

#include "audit/anchor_mongo_private.h"
#include "audit/audit_private.h"
#include "test_util.h"

static const char *uri;
static char *dir;
static phicrypt_t *ph; /* the case's client, for messages */

#define CHECK(cond)                                                                                           \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            printf("# %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, ph ? phicrypt_errmsg(ph) : "");          \
            return 1;                                                                                         \
        }                                                                                                     \
    } while (0)

/* The server URI with database `db` (and extra options). */
static char *uri_db(const char *db, const char *query)
{
    char *u;
    size_t n = strlen(uri);
    const char *sep = n && uri[n - 1] == '/' ? "" : "/";
    if (asprintf(&u, "%s%s%s%s", uri, sep, db, query ? query : "") < 0)
        abort();
    return u;
}

static void drop_db(const char *db)
{
    mongoc_client_t *c = mongoc_client_new(uri);
    if (c) {
        mongoc_database_t *d = mongoc_client_get_database(c, db);
        mongoc_database_drop(d, NULL);
        mongoc_database_destroy(d);
        mongoc_client_destroy(c);
    }
}

static char *log_path(const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

/* A client on the fixture's key set whose log `log` is anchored at
 * `anchor` (a JSON string); `key_vault` NULL for the file vault. */
static phicrypt_t *client(const char *log, const char *anchor, const char *key_vault, const char *kv_ns)
{
    char *cfg, kv[512];
    phicrypt_t *c = NULL;
    if (key_vault)
        snprintf(kv, sizeof kv, "\"%s\", \"key_vault_namespace\": \"%s\"", key_vault, kv_ns);
    else
        snprintf(kv, sizeof kv, "\"file:%s/keyvault.jsonl\"", dir);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}}, \"key_vault\": %s,"
                 " \"keyring\": \"file:%s/keyring%s.jsonl\","
                 " \"audit\": {\"path\": \"%s\", \"fsync\": \"never\", \"anchors\": [%s],"
                 "   \"checkpoint_every\": {\"lines\": 1000, \"seconds\": 0}}}",
                 dir, kv, dir, key_vault ? "-mongo" : "", log, anchor) < 0)
        abort();
    if (phicrypt_new(&c, cfg) != 0)
        printf("# phicrypt_new: %s\n", phicrypt_errmsg(NULL));
    free(cfg);
    return c;
}

static int event(phicrypt_t *c, const char *op)
{
    phi_audit_event ev;
    memset(&ev, 0, sizeof ev);
    ev.actor = "dr.house";
    ev.role = "physician";
    ev.purpose = "TREATMENT";
    ev.op = op;
    ev.ns = "hospital.patients";
    ev.outcome = "ok";
    ev.count = 1;
    return phi_audit_write(c, &ev);
}

static int64_t count_docs(const char *db, const bson_t *filter)
{
    mongoc_client_t *c = mongoc_client_new(uri);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, db, PHI_AUDIT_MANCHOR_COLLECTION);
    int64_t n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, NULL);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return n;
}

static int has_unique_index(const char *db)
{
    mongoc_client_t *c = mongoc_client_new(uri);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, db, PHI_AUDIT_MANCHOR_COLLECTION);
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
    const bson_t *doc;
    bson_iter_t it;
    int found = 0;
    while (mongoc_cursor_next(cur, &doc))
        if (bson_iter_init_find(&it, doc, "name") && BSON_ITER_HOLDS_UTF8(&it) &&
            strcmp(bson_iter_utf8(&it, NULL), "log_1_n_1") == 0 && bson_iter_init_find(&it, doc, "unique") &&
            bson_iter_as_bool(&it))
            found = 1;
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return found;
}

static int insert_raw(const char *db, bson_t *doc)
{
    mongoc_client_t *c = mongoc_client_new(uri);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, db, PHI_AUDIT_MANCHOR_COLLECTION);
    bson_error_t err;
    int ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, &err);
    if (!ok)
        printf("# insert: %s\n", err.message);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return ok;
}

static int verify(phicrypt_t *c, const char *log, const char *anchors, const char *pubkey, char *msg, size_t n)
{
    phicrypt_audit_verify_opts o = PHICRYPT_AUDIT_VERIFY_OPTS_INIT;
    phicrypt_buf r = PHICRYPT_BUF_INIT;
    int torn = 0, rc;
    o.anchors_file = anchors;
    o.public_key_file = pubkey;
    rc = phicrypt_audit_verify_log(c, &r, &torn, log, &o);
    snprintf(msg, n, "%s", r.data ? (const char *)r.data : (c ? phicrypt_errmsg(c) : phicrypt_errmsg(NULL)));
    phicrypt_buf_dispose(&r);
    return rc;
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Checkpoints land in <db>.phicrypt_audit_anchors under a unique
 * {log, n} index; the log verifies against them, also for an auditor
 * with only the public key and the anchor's URI. */
static int anchored_and_verified(void)
{
    char *db = "phiaudit_a", *u = uri_db(db, NULL), *log = log_path("a.jsonl"), anchor[512], msg[1024];
    char *pk = log_path("a.pub");
    phicrypt_buf keys = PHICRYPT_BUF_INIT;
    bson_t all = BSON_INITIALIZER;
    snprintf(anchor, sizeof anchor, "\"%s\"", u);
    drop_db(db);
    CHECK((ph = client(log, anchor, NULL, NULL)) != NULL);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(phicrypt_audit_checkpoint(ph) == 0);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(phicrypt_audit_checkpoint(ph) == 0);
    CHECK(count_docs(db, &all) == 2);
    CHECK(has_unique_index(db));
    CHECK(verify(ph, NULL, NULL, NULL, msg, sizeof msg) == 0);
    CHECK(tu_contains(msg, "2 anchored checkpoints found"));
    /* The auditor: public key + URI, no configuration. */
    CHECK(phicrypt_audit_public_keys(ph, &keys) == 0);
    tu_write_file(pk, keys.data, keys.len, 0600);
    phicrypt_buf_dispose(&keys);
    CHECK(verify(NULL, log, u, pk, msg, sizeof msg) == 0);
    CHECK(tu_contains(msg, "2 anchored checkpoints found"));
    phicrypt_free(ph);
    ph = NULL;
    drop_db(db);
    free(u);
    free(log);
    free(pk);
    return 0;
}

/* A log rolled back to an older copy is behind its MongoDB anchor: the
 * writer refuses to append, and verify names the truncation. */
static int rollback_refused(void)
{
    char *db = "phiaudit_b", *u = uri_db(db, NULL), *log = log_path("b.jsonl"), anchor[512], msg[1024], *old;
    size_t old_len;
    snprintf(anchor, sizeof anchor, "\"%s\"", u);
    drop_db(db);
    CHECK((ph = client(log, anchor, NULL, NULL)) != NULL);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(phicrypt_audit_checkpoint(ph) == 0);
    old = tu_read_file(log, &old_len);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(phicrypt_audit_checkpoint(ph) == 0);
    tu_write_file(log, old, old_len, 0600);
    free(old);
    CHECK(event(ph, "decrypt") == PHICRYPT_EAUTH);
    CHECK(tu_contains(phicrypt_errmsg(ph), "behind its anchor"));
    CHECK(size_of(log) == (off_t)old_len);
    CHECK(verify(ph, NULL, NULL, NULL, msg, sizeof msg) == PHICRYPT_EAUTH);
    CHECK(tu_contains(msg, "truncated or rolled back"));
    /* The log deleted whole: this host:path has anchored checkpoints. */
    CHECK(unlink(log) == 0);
    CHECK(event(ph, "decrypt") == PHICRYPT_EAUTH);
    CHECK(tu_contains(phicrypt_errmsg(ph), "empty or missing"));
    phicrypt_free(ph);
    ph = NULL;
    drop_db(db);
    free(u);
    free(log);
    return 0;
}

/* No server: nothing is appended (the anchor cannot be checked), and a
 * checkpoint that cannot be anchored fails the call. */
static int unreachable_fails_closed(void)
{
    char *log = log_path("c.jsonl"), anchor[256];
    snprintf(anchor, sizeof anchor, "\"mongodb://127.0.0.1:1/phiaudit_c?serverSelectionTimeoutMS=300\"");
    CHECK((ph = client(log, anchor, NULL, NULL)) != NULL);
    CHECK(event(ph, "decrypt") != 0);
    CHECK(tu_contains(phicrypt_errmsg(ph), "audit anchor"));
    CHECK(size_of(log) <= 0);
    phicrypt_free(ph);
    ph = NULL;
    free(log);
    return 0;
}

/* What the server sends back is checked: an oversized line or one with a
 * line break is not a checkpoint (it would become two anchor lines). */
static int hostile_documents_refused(void)
{
    char *db = "phiaudit_d", *u = uri_db(db, NULL), *log = log_path("d.jsonl"), anchor[512], msg[1024];
    char host[256] = "", *path, *big;
    bson_t doc = BSON_INITIALIZER;
    snprintf(anchor, sizeof anchor, "\"%s\"", u);
    drop_db(db);
    CHECK((ph = client(log, anchor, NULL, NULL)) != NULL);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(phicrypt_audit_checkpoint(ph) == 0);
    /* The writer's newest: an oversized line. */
    gethostname(host, sizeof host - 1);
    if (asprintf(&path, "%s:%s", host, log) < 0)
        abort();
    big = malloc(PHI_AUDIT_MANCHOR_MAX_LINE + 2);
    memset(big, 'x', PHI_AUDIT_MANCHOR_MAX_LINE + 1);
    big[PHI_AUDIT_MANCHOR_MAX_LINE + 1] = '\0';
    BSON_APPEND_UTF8(&doc, "log", "ffffffffffffffffffffffffffffffff");
    BSON_APPEND_INT64(&doc, "n", 99);
    BSON_APPEND_UTF8(&doc, "path", path);
    BSON_APPEND_DATE_TIME(&doc, "at", (int64_t)4102444800000);
    BSON_APPEND_UTF8(&doc, "line", big);
    CHECK(insert_raw(db, &doc));
    bson_reinit(&doc);
    CHECK(event(ph, "decrypt") == PHICRYPT_EBADDATA);
    CHECK(tu_contains(phicrypt_errmsg(ph), "not a checkpoint"));
    /* The verifier's: a line with a line break under this log's id. */
    {
        char *t, *p, hex[33];
        size_t n;
        t = tu_read_file(log, &n);
        p = strstr(t, "\"log_id\":\"");
        CHECK(p != NULL);
        snprintf(hex, sizeof hex, "%.32s", p + 10);
        free(t);
        BSON_APPEND_UTF8(&doc, "log", hex);
        BSON_APPEND_INT64(&doc, "n", 1000);
        BSON_APPEND_UTF8(&doc, "path", "elsewhere:/x");
        BSON_APPEND_DATE_TIME(&doc, "at", 0);
        BSON_APPEND_UTF8(&doc, "line", "{\"seq\":1000}\n{\"seq\":1001}");
        CHECK(insert_raw(db, &doc));
    }
    CHECK(verify(ph, NULL, NULL, NULL, msg, sizeof msg) == PHICRYPT_EBADDATA);
    CHECK(tu_contains(phicrypt_errmsg(ph), "not a checkpoint"));
    bson_destroy(&doc);
    free(big);
    free(path);
    phicrypt_free(ph);
    ph = NULL;
    drop_db(db);
    free(u);
    free(log);
    return 0;
}

/* "mongodb" anchors into the key vault's deployment and database; with a
 * file key vault it is a configuration error that says what to give. */
static int mongodb_uses_the_key_vault(void)
{
    char *log = log_path("e.jsonl"), msg[1024];
    bson_t all = BSON_INITIALIZER;
    phicrypt_t *bad;
    drop_db("phiaudit_e"); /* a key vault left by an interrupted run holds other keys */
    bad = client(log, "\"mongodb\"", NULL, NULL);
    CHECK(bad == NULL);
    CHECK(tu_contains(phicrypt_errmsg(NULL), "'audit.anchors[0]'"));
    CHECK(tu_contains(phicrypt_errmsg(NULL), "key_vault"));
    CHECK((ph = client(log, "\"mongodb\"", uri, "phiaudit_e.__keyVault")) != NULL);
    CHECK(event(ph, "decrypt") == 0);
    CHECK(phicrypt_audit_checkpoint(ph) == 0);
    CHECK(count_docs("phiaudit_e", &all) == 1);
    CHECK(verify(ph, NULL, NULL, NULL, msg, sizeof msg) == 0);
    CHECK(tu_contains(msg, "1 anchored checkpoint found"));
    CHECK(verify(ph, NULL, "mongodb", NULL, msg, sizeof msg) == 0);
    CHECK(tu_contains(msg, "1 anchored checkpoint found"));
    phicrypt_free(ph);
    ph = NULL;
    drop_db("phiaudit_e");
    free(log);
    return 0;
}

int main(void)
{
    static const struct {
        const char *name;
        int (*fn)(void);
    } cases[] = {
        { "test_audit_mongo__anchored_and_verified", anchored_and_verified },
        { "test_audit_mongo__rollback_refused", rollback_refused },
        { "test_audit_mongo__unreachable_fails_closed", unreachable_fails_closed },
        { "test_audit_mongo__hostile_documents_refused", hostile_documents_refused },
        { "test_audit_mongo__mongodb_uses_the_key_vault", mongodb_uses_the_key_vault },
    };
    const size_t n = sizeof cases / sizeof cases[0];
    int fails = 0;
    uri = getenv("PHICRYPT_TEST_MONGODB_URI");
    printf("1..%zu\n", n);
    if (!uri || !*uri) {
        for (size_t i = 0; i < n; i++)
            printf("ok %zu - %s # SKIP PHICRYPT_TEST_MONGODB_URI is not set\n", i + 1, cases[i].name);
        return 0;
    }
    mongoc_init();
    mongoc_log_set_handler(NULL, NULL); /* libmongoc's own chatter is no TAP */
    dir = tu_tmpdir();
    free(tu_keyset(dir, NULL));
    {
        char *kr = log_path("keyring.jsonl"), *kr2 = log_path("keyring-mongo.jsonl");
        tu_write_file(kr, "", 0, 0600);
        tu_write_file(kr2, "", 0, 0600);
        free(kr);
        free(kr2);
    }
    for (size_t i = 0; i < n; i++) {
        int bad = cases[i].fn();
        printf("%s %zu - %s\n", bad ? "not ok" : "ok", i + 1, cases[i].name);
        fails += bad;
        if (ph) {
            phicrypt_free(ph);
            ph = NULL;
        }
    }
    tu_rm_rf(dir);
    free(dir);
    mongoc_cleanup();
    return fails ? 1 : 0;
}
