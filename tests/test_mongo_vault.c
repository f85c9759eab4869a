/* The MongoDB key vault against a real server. Runs only when
 * PHICRYPT_TEST_MONGODB_URI is set (e.g. mongodb://localhost:27017);
 * otherwise every case is reported as skipped in TAP, never as passed.
 * Each run uses a fresh collection, dropped at the end. Plain TAP (not
 * cmocka) so that skips are "ok N - name # SKIP reason". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <phicrypt.h>

#include "test_util.h"

static phicrypt_t *ph;
static char *dir, ns[64];
static uint8_t key1[16];

#define CHECK(cond)                                                                                           \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            printf("# %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, phicrypt_errmsg(ph));                     \
            return 1;                                                                                         \
        }                                                                                                     \
    } while (0)

static int create_and_get(void)
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[] = { "mongo-patients" };
    phicrypt_buf doc = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    o.alt_names = names;
    o.alt_names_count = 1;
    CHECK(phicrypt_datakey_create(ph, key1, &o) == 0);
    CHECK(phicrypt_datakey_get_by_alt_name(ph, &doc, "mongo-patients") == 0);
    phicrypt_buf_dispose(&doc);
    CHECK(phicrypt_datakey_id_by_alt_name(ph, id, "mongo-patients") == 0);
    CHECK(memcmp(id, key1, 16) == 0);
    return 0;
}

static int duplicate_alt_name(void)
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[] = { "mongo-patients" };
    uint8_t id[16];
    o.alt_names = names;
    o.alt_names_count = 1;
    CHECK(phicrypt_datakey_create(ph, id, &o) == PHICRYPT_EEXIST);
    return 0;
}

static int round_trip(void)
{
    phicrypt_encrypt_opts eo = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
    eo.key_alt_name = "mongo-patients";
    CHECK(phicrypt_encrypt_json(ph, &ct, "\"123-45-6789\"", &eo) == 0);
    CHECK(phicrypt_decrypt_json(ph, &pt, (const char *)ct.data, 0) == 0);
    CHECK(strcmp((const char *)pt.data, "\"123-45-6789\"") == 0);
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&pt);
    return 0;
}

static int alt_names(void)
{
    uint8_t id[16];
    CHECK(phicrypt_datakey_add_alt_name(ph, key1, "mongo-second") == 0);
    CHECK(phicrypt_datakey_add_alt_name(ph, key1, "mongo-second") == 0); /* no-op */
    CHECK(phicrypt_datakey_id_by_alt_name(ph, id, "mongo-second") == 0);
    CHECK(phicrypt_datakey_remove_alt_name(ph, key1, "mongo-second") == 0);
    CHECK(phicrypt_datakey_remove_alt_name(ph, key1, "mongo-second") == PHICRYPT_EKEYNOTFOUND);
    CHECK(phicrypt_datakey_id_by_alt_name(ph, id, "mongo-second") == PHICRYPT_EKEYNOTFOUND);
    return 0;
}

static int rewrap_and_list(void)
{
    phicrypt_buf list = PHICRYPT_BUF_INIT;
    size_t n = 0;
    CHECK(phicrypt_datakey_rewrap(ph, &n, NULL, NULL, NULL) == 0);
    CHECK(n == 1);
    CHECK(phicrypt_datakey_list(ph, &list) == 0);
    phicrypt_buf_dispose(&list);
    return 0;
}

static int delete_key(void)
{
    uint8_t id[16];
    CHECK(phicrypt_datakey_delete(ph, key1) == 0);
    CHECK(phicrypt_datakey_delete(ph, key1) == PHICRYPT_EKEYNOTFOUND);
    CHECK(phicrypt_datakey_id_by_alt_name(ph, id, "mongo-patients") == PHICRYPT_EKEYNOTFOUND);
    return 0;
}

/* With a MongoDB key vault and no schema_map entry, the collection's
 * $jsonSchema validator (listCollections) drives automatic encryption. */
static int remote_schema(void)
{
    const char *uri = getenv("PHICRYPT_TEST_MONGODB_URI");
    mongoc_client_t *c = mongoc_client_new(uri);
    mongoc_database_t *db;
    mongoc_collection_t *coll;
    bson_t *opts, *cmd;
    bson_error_t err;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t view;
    bson_iter_t it;
    char *json;
    CHECK(c != NULL);
    db = mongoc_client_get_database(c, "phicrypt_test");
    {
        /* keyId of key1, as base64 */
        bson_t k = BSON_INITIALIZER;
        char *kj, b64[32];
        BSON_APPEND_BINARY(&k, "k", BSON_SUBTYPE_UUID, key1, 16);
        kj = bson_as_canonical_extended_json(&k, NULL);
        sscanf(strstr(kj, "base64") + 11, "%24[^\"]", b64);
        bson_free(kj);
        bson_destroy(&k);
        if (asprintf(&json,
                     "{\"validator\": {\"$jsonSchema\": {\"bsonType\": \"object\", \"properties\": {\"ssn\": {\"encrypt\": {"
                     "\"keyId\": [{\"$binary\": {\"base64\": \"%s\", \"subType\": \"04\"}}], \"bsonType\": \"string\","
                     " \"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic\"}}}}}}",
                     b64) < 0)
            return 1;
    }
    opts = bson_new_from_json((const uint8_t *)json, -1, &err);
    free(json);
    CHECK(opts != NULL);
    coll = mongoc_database_create_collection(db, "remote_schema", opts, &err);
    CHECK(coll != NULL);
    cmd = BCON_NEW("insert", "remote_schema", "documents", "[", "{", "ssn", "123-45-6789", "}", "]");
    CHECK(phicrypt_encrypt_command(ph, &out, "phicrypt_test", bson_get_data(cmd), cmd->len) == 0);
    CHECK(bson_init_static(&view, out.data, out.len));
    CHECK(bson_iter_init(&it, &view) && bson_iter_find_descendant(&it, "documents.0.ssn", &it));
    CHECK(BSON_ITER_HOLDS_BINARY(&it));
    phicrypt_buf_dispose(&out);
    bson_destroy(cmd);
    bson_destroy(opts);
    mongoc_collection_drop(coll, NULL);
    mongoc_collection_destroy(coll);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    return 0;
}

#define RACERS 4
#define RACE_NAMES 6

/* One racing process (see concurrent_creates): creates the keys and
 * writes the 16-byte id of each one it created to standard output. */
static char self_path[4096]; /* this program (valgrind reports it for /proc/self/exe) */

static int race_child(const char *cfg)
{
    phicrypt_t *mine;
    int status = 0;
    if (phicrypt_new(&mine, cfg) != 0)
        return 3;
    for (int i = 0; i < RACE_NAMES && !status; i++) {
        char name[32];
        const char *names[] = { name };
        phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
        uint8_t id[16];
        snprintf(name, sizeof name, "race-%d", i);
        o.alt_names = names;
        o.alt_names_count = 1;
        int rc = phicrypt_datakey_create(mine, id, &o);
        if (rc == 0 && write(STDOUT_FILENO, id, 16) != 16)
            status = 4;
        if (rc != 0 && rc != PHICRYPT_EEXIST)
            status = 5;
    }
    phicrypt_free(mine);
    return status;
}

/* Four processes create keys under the same six alt names at once: each
 * name ends up on exactly one key, and every key a process was told it
 * created is in the vault. */
static int concurrent_creates(void)
{
    char *cfg;
    int pipes[RACERS][2];
    pid_t pids[RACERS];
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"%s\", \"key_vault_namespace\": \"%s\"}",
                 dir, getenv("PHICRYPT_TEST_MONGODB_URI"), ns) < 0)
        return 1;
    for (int p = 0; p < RACERS; p++) {
        CHECK(pipe(pipes[p]) == 0);
        fflush(stdout);
        pids[p] = fork();
        CHECK(pids[p] >= 0);
        if (pids[p] == 0) {
            /* a fresh process image (not a fork that shares this one's
             * libmongoc threads and exit handlers), writing the ids it
             * created to the pipe */
            char *args[] = { "test_mongo_vault", "--race-child", cfg, NULL };
            close(pipes[p][0]);
            if (dup2(pipes[p][1], STDOUT_FILENO) < 0)
                _exit(126);
            execv(self_path, args);
            _exit(127);
        }
        close(pipes[p][1]);
    }
    free(cfg);
    uint8_t won[RACERS * RACE_NAMES][16];
    size_t nwon = 0;
    for (int p = 0; p < RACERS; p++) {
        int st;
        ssize_t r;
        while (nwon < RACERS * RACE_NAMES && (r = read(pipes[p][0], won[nwon], 16)) == 16)
            nwon++;
        close(pipes[p][0]);
        CHECK(waitpid(pids[p], &st, 0) == pids[p] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* exactly one winner per name, and each winner's key is there under it */
    CHECK(nwon == RACE_NAMES);
    for (int i = 0; i < RACE_NAMES; i++) {
        char name[32];
        uint8_t id[16];
        int found = 0;
        snprintf(name, sizeof name, "race-%d", i);
        CHECK(phicrypt_datakey_id_by_alt_name(ph, id, name) == 0);
        for (size_t w = 0; w < nwon; w++)
            found += memcmp(won[w], id, 16) == 0;
        CHECK(found == 1);
        CHECK(phicrypt_datakey_delete(ph, id) == 0);
    }
    return 0;
}

static void drop_collection(const char *uri)
{
    mongoc_client_t *c = mongoc_client_new(uri);
    if (c) {
        mongoc_collection_t *coll = mongoc_client_get_collection(c, "phicrypt_test", ns + strlen("phicrypt_test."));
        mongoc_collection_drop(coll, NULL);
        mongoc_collection_destroy(coll);
        mongoc_client_destroy(c);
    }
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(void);
    } cases[] = {
        { "test_mongo_vault__create_and_get", create_and_get },
        { "test_mongo_vault__duplicate_alt_name_is_refused", duplicate_alt_name },
        { "test_mongo_vault__encrypt_decrypt_round_trip", round_trip },
        { "test_mongo_vault__add_and_remove_alt_names", alt_names },
        { "test_mongo_vault__rewrap_and_list", rewrap_and_list },
        { "test_mongo_vault__remote_json_schema_drives_encryption", remote_schema },
        { "test_mongo_vault__delete", delete_key },
        { "test_mongo_vault__concurrent_creates_keep_alt_names_unique", concurrent_creates },
    };
    const size_t n = sizeof cases / sizeof cases[0];
    const char *uri = getenv("PHICRYPT_TEST_MONGODB_URI");
    char *cfg;
    int fails = 0;
    if (argc == 3 && strcmp(argv[1], "--race-child") == 0)
        return race_child(argv[2]);
    ssize_t sl = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (sl <= 0) {
        printf("Bail out! cannot find this program's path\n");
        return 1;
    }
    self_path[sl] = '\0';
    printf("1..%zu\n", n);
    if (!uri || !*uri) {
        for (size_t i = 0; i < n; i++)
            printf("ok %zu - %s # SKIP PHICRYPT_TEST_MONGODB_URI is not set\n", i + 1, cases[i].name);
        return 0;
    }
    dir = tu_tmpdir();
    free(tu_keyset(dir, NULL));
    snprintf(ns, sizeof ns, "phicrypt_test.keyvault_%ld", (long)getpid());
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"%s\", \"key_vault_namespace\": \"%s\"}",
                 dir, uri, ns) < 0 ||
        phicrypt_new(&ph, cfg) != 0) {
        printf("Bail out! cannot create a client on the MongoDB key vault: %s\n", phicrypt_errmsg(NULL));
        return 1;
    }
    free(cfg);
    for (size_t i = 0; i < n; i++) {
        int bad = cases[i].fn();
        printf("%s %zu - %s\n", bad ? "not ok" : "ok", i + 1, cases[i].name);
        fails += bad;
    }
    phicrypt_free(ph);
    drop_collection(uri);
    tu_rm_rf(dir);
    free(dir);
    return fails ? 1 : 0;
}
