/* A small C service on phicrypt: patient records are encrypted before they
 * leave the process (automatic encryption with a schema map: SSN
 * deterministic so that it can be searched, diagnosis and notes random),
 * a patient is found by SSN, and records are read back as two roles —
 * a billing clerk (PAYMENT: sees the SSN, not the diagnosis) and a
 * physician (TREATMENT: sees everything) — every read audited.
 *
 * With MONGODB_URI set (and libmongoc available) the commands go to that
 * server; without it they are printed, and a local file (one encrypted
 * document per line) stands in for the collection, so that the example
 * runs anywhere. The data is synthetic.
 *
 * Usage: phicrypt-service [--dir DIR]   (default: a fresh temporary directory)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bson/bson.h>
#include <phicrypt.h>
#ifdef SERVICE_HAVE_MONGOC
#include <mongoc/mongoc.h>
#endif

#define DB "hospital"
#define COLL "patients"

typedef struct service {
    phicrypt_t *ph;
    char dir[4096];
    char store[4200];   /* the local stand-in for the collection */
#ifdef SERVICE_HAVE_MONGOC
    mongoc_client_t *client;
#endif
} service;

static int die(const service *s, int rc, const char *what)
{
    fprintf(stderr, "phicrypt-service: %s: %s (%s)\n", what, s && s->ph ? phicrypt_errmsg(s->ph) : phicrypt_errmsg(NULL),
            phicrypt_strerror(rc));
    return 1;
}

static void print_json(const char *label, const uint8_t *data, size_t len)
{
    bson_t d;
    char *j;
    if (!bson_init_static(&d, data, len))
        return;
    j = bson_as_relaxed_extended_json(&d, NULL);
    printf("%s %s\n", label, j);
    bson_free(j);
}

/* Key set, schema map, access rules and audit log in s->dir. */
static int setup(service *s)
{
    char path[4300], *cfg = NULL, uuid_b64[64];
    phicrypt_datakey_opts ko = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[] = { "service-patients" };
    uint8_t id[16];
    FILE *f;
    size_t n;
    int rc;
    snprintf(path, sizeof path, "%s/master.key", s->dir);
    if (access(path, F_OK) != 0 && (rc = phicrypt_local_key_file_create(path)) != 0)
        return die(NULL, rc, "master key");
    snprintf(path, sizeof path, "%s/keyvault.jsonl", s->dir);
    if (access(path, F_OK) != 0 && (f = fopen(path, "w")) != NULL)
        fclose(f);
    /* First a client without a schema, to make the data key the schema names. */
    if (asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                       " \"key_vault\": \"file:%s/keyvault.jsonl\"}", s->dir, s->dir) < 0)
        return 1;
    if ((rc = phicrypt_new(&s->ph, cfg)) != 0)
        return die(NULL, rc, "client");
    free(cfg);
    if (phicrypt_datakey_id_by_alt_name(s->ph, id, names[0]) != 0) {
        ko.alt_names = names;
        ko.alt_names_count = 1;
        if ((rc = phicrypt_datakey_create(s->ph, id, &ko)) != 0)
            return die(s, rc, "data key");
    }
    phicrypt_free(s->ph);
    s->ph = NULL;
    {
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;
        for (size_t i = 0; i < 16; i += 3) {
            uint32_t v = (uint32_t)id[i] << 16 | (i + 1 < 16 ? (uint32_t)id[i + 1] << 8 : 0) | (i + 2 < 16 ? id[i + 2] : 0);
            uuid_b64[o++] = b64[v >> 18 & 63];
            uuid_b64[o++] = b64[v >> 12 & 63];
            uuid_b64[o++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
            uuid_b64[o++] = i + 2 < 16 ? b64[v & 63] : '=';
        }
        uuid_b64[o] = '\0';
    }
    n = (size_t)asprintf(&cfg,
        "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
        " \"key_vault\": \"%s\","
        " \"schema_map\": {\"" DB "." COLL "\": {\"bsonType\": \"object\","
        "   \"encryptMetadata\": {\"keyId\": [{\"$binary\": {\"base64\": \"%s\", \"subType\": \"04\"}}]},"
        "   \"properties\": {"
        "     \"ssn\": {\"encrypt\": {\"bsonType\": \"string\", \"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic\"}},"
        "     \"diagnosis\": {\"encrypt\": {\"bsonType\": \"string\", \"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"}},"
        "     \"notes\": {\"encrypt\": {\"bsonType\": \"string\", \"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"}}}}},"
        " \"access\": {\"roles\": {"
        "   \"billing\": {\"purposes\": [\"PAYMENT\"], \"fields\": [\"ssn\", \"mrn\", \"name\"]},"
        "   \"physician\": {\"purposes\": [\"TREATMENT\"], \"fields\": [\"*\"]}},"
        "   \"denied_fields\": \"marker\", \"marker\": \"[RESTRICTED]\"},"
        " \"audit\": {\"path\": \"%s/audit.jsonl\", \"subject_field\": \"mrn\"}}",
        s->dir, "file:KEYVAULT", uuid_b64, s->dir);
    (void)n;
    {
        /* The key vault path goes in after the fact to keep the format string readable. */
        char kv[4200], *full;
        snprintf(kv, sizeof kv, "file:%s/keyvault.jsonl", s->dir);
        char *at = strstr(cfg, "file:KEYVAULT");
        if (asprintf(&full, "%.*s%s%s", (int)(at - cfg), cfg, kv, at + strlen("file:KEYVAULT")) < 0)
            return 1;
        free(cfg);
        cfg = full;
    }
    rc = phicrypt_new(&s->ph, cfg);
    free(cfg);
    if (rc != 0)
        return die(NULL, rc, "client with schema map");
    snprintf(s->store, sizeof s->store, "%s/" DB "." COLL ".jsonl", s->dir);
    return 0;
}

/* Sends an (encrypted) command: to MongoDB when connected, else to the
 * local store. *reply gets the documents a find returns. */
static int send_command(service *s, const bson_t *cmd, bson_t *found)
{
    bson_iter_t it;
    bson_init(found);
#ifdef SERVICE_HAVE_MONGOC
    if (s->client) {
        bson_t reply;
        bson_error_t err;
        bson_iter_t b;
        if (!mongoc_client_command_simple(s->client, DB, cmd, NULL, &reply, &err)) {
            fprintf(stderr, "phicrypt-service: MongoDB: %s\n", err.message);
            return 1;
        }
        if (bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "cursor.firstBatch", &b) &&
            BSON_ITER_HOLDS_ARRAY(&b)) {
            uint32_t len;
            const uint8_t *data;
            bson_t arr;
            bson_iter_array(&b, &len, &data);
            bson_init_static(&arr, data, len);
            bson_concat(found, &arr);
        }
        bson_destroy(&reply);
        return 0;
    }
#endif
    if (bson_iter_init_find(&it, cmd, "insert")) {
        /* Append each (already encrypted) document as one JSON line. */
        FILE *f = fopen(s->store, "a");
        bson_iter_t docs, d;
        if (!f)
            return 1;
        if (bson_iter_init_find(&docs, cmd, "documents") && bson_iter_recurse(&docs, &d))
            while (bson_iter_next(&d)) {
                uint32_t len;
                const uint8_t *data;
                bson_t doc;
                char *j;
                bson_iter_document(&d, &len, &data);
                bson_init_static(&doc, data, len);
                j = bson_as_canonical_extended_json(&doc, NULL);
                fprintf(f, "%s\n", j);
                bson_free(j);
            }
        fclose(f);
        return 0;
    }
    if (bson_iter_init_find(&it, cmd, "find")) {
        /* Equality on the deterministic ciphertext: what the server does. */
        bson_iter_t want;
        const uint8_t *wd = NULL;
        uint32_t wl = 0;
        bson_subtype_t st;
        char line[1 << 16], key[16];
        FILE *f = fopen(s->store, "r");
        uint32_t n = 0;
        if (!f)
            return 1;
        /* The analysis rewrites {ssn: v} as {ssn: {$eq: v}}. */
        if ((bson_iter_init(&want, cmd) && bson_iter_find_descendant(&want, "filter.ssn.$eq", &want) &&
             BSON_ITER_HOLDS_BINARY(&want)) ||
            (bson_iter_init(&want, cmd) && bson_iter_find_descendant(&want, "filter.ssn", &want) &&
             BSON_ITER_HOLDS_BINARY(&want)))
            bson_iter_binary(&want, &st, &wl, &wd);
        while (fgets(line, sizeof line, f)) {
            bson_t doc;
            bson_iter_t h;
            bson_error_t err;
            if (!bson_init_from_json(&doc, line, -1, &err))
                continue;
            if (wd && bson_iter_init_find(&h, &doc, "ssn") && BSON_ITER_HOLDS_BINARY(&h)) {
                const uint8_t *hd;
                uint32_t hl;
                bson_iter_binary(&h, &st, &hl, &hd);
                if (hl == wl && memcmp(hd, wd, wl) == 0) {
                    snprintf(key, sizeof key, "%u", n++);
                    BSON_APPEND_DOCUMENT(found, key, &doc);
                }
            }
            bson_destroy(&doc);
        }
        fclose(f);
        return 0;
    }
    return 0;
}

static int run_command(service *s, const char *json, bson_t *found)
{
    bson_t cmd, enc;
    bson_error_t err;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc;
    if (!bson_init_from_json(&cmd, json, -1, &err))
        return 1;
    rc = phicrypt_encrypt_command(s->ph, &out, DB, bson_get_data(&cmd), cmd.len);
    bson_destroy(&cmd);
    if (rc != 0)
        return die(s, rc, "encrypt command");
    print_json("  sends:", out.data, out.len);
    bson_init_static(&enc, out.data, out.len);
    rc = send_command(s, &enc, found);
    phicrypt_buf_dispose(&out);
    return rc;
}

static int read_as(service *s, const bson_t *found, const char *actor, const char *role, const char *purpose)
{
    phicrypt_session ses = PHICRYPT_SESSION_INIT;
    bson_iter_t it;
    ses.actor = actor;
    ses.role = role;
    ses.purpose = purpose;
    printf("\n%s reads as %s for %s:\n", actor, role, purpose);
    bson_iter_init(&it, found);
    while (bson_iter_next(&it)) {
        uint32_t len;
        const uint8_t *data;
        phicrypt_buf out = PHICRYPT_BUF_INIT;
        int rc;
        bson_iter_document(&it, &len, &data);
        rc = phicrypt_decrypt_document_as(s->ph, &out, &ses, DB "." COLL, data, len);
        if (rc != 0)
            return die(s, rc, "decrypt");
        print_json("  sees:", out.data, out.len);
        phicrypt_buf_dispose(&out);
    }
    return 0;
}

int main(int argc, char **argv)
{
    service s;
    bson_t found;
    phicrypt_buf report = PHICRYPT_BUF_INIT, acc = PHICRYPT_BUF_INIT;
    const char *uri = getenv("MONGODB_URI");
    int tmp = 0, rc;
    memset(&s, 0, sizeof s);
    if (argc == 3 && strcmp(argv[1], "--dir") == 0) {
        snprintf(s.dir, sizeof s.dir, "%s", argv[2]);
        if (mkdir(s.dir, 0700) != 0 && errno != EEXIST)
            return fprintf(stderr, "phicrypt-service: %s: %s\n", s.dir, strerror(errno)), 1;
    } else if (argc == 1) {
        snprintf(s.dir, sizeof s.dir, "%s/phicrypt-service-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(s.dir))
            return 1;
        tmp = 1;
    } else {
        fputs("Usage: phicrypt-service [--dir DIR]   (MONGODB_URI: send to that server)\n", stderr);
        return 2;
    }
    if (setup(&s) != 0)
        return 1;
#ifdef SERVICE_HAVE_MONGOC
    if (uri && *uri) {
        mongoc_init();
        if (!(s.client = mongoc_client_new(uri)))
            return fprintf(stderr, "phicrypt-service: MONGODB_URI is not a valid URI\n"), 1;
        printf("connected to MongoDB (%s.%s)\n", DB, COLL);
    }
#else
    if (uri && *uri)
        fputs("phicrypt-service: built without libmongoc; MONGODB_URI ignored\n", stderr);
#endif
    if (!(uri && *uri))
        printf("no MONGODB_URI: printing the commands, and keeping the documents in %s\n", s.store);

    printf("\ninsert two patients (SSN deterministic; diagnosis and notes random):\n");
    {
        /* Client-generated ObjectIds, as the MongoDB drivers make them: the
         * service never relies on the server to add _id. */
        bson_oid_t oid[2];
        char hex[2][25], *insert;
        for (int i = 0; i < 2; i++) {
            bson_oid_init(&oid[i], NULL);
            bson_oid_to_string(&oid[i], hex[i]);
        }
        if (asprintf(&insert,
                     "{\"insert\": \"" COLL "\", \"documents\": ["
                     "{\"_id\": {\"$oid\": \"%s\"}, \"mrn\": \"MRN-0042\", \"name\": \"Ada Quintero\","
                     " \"ssn\": \"123-45-6789\", \"diagnosis\": \"Type 2 diabetes mellitus\","
                     " \"notes\": \"Follow-up in 3 months.\"},"
                     "{\"_id\": {\"$oid\": \"%s\"}, \"mrn\": \"MRN-0043\", \"name\": \"Bo Lindqvist\","
                     " \"ssn\": \"987-65-4321\", \"diagnosis\": \"Asthma\", \"notes\": \"Inhaler refilled.\"}]}",
                     hex[0], hex[1]) < 0)
            return fprintf(stderr, "phicrypt-service: out of memory\n"), 1;
        rc = run_command(&s, insert, &found);
        free(insert);
        if (rc != 0)
            return 1;
    }
    bson_destroy(&found);

    printf("\nfind the patient with SSN 123-45-6789 (the filter is encrypted too):\n");
    if (run_command(&s, "{\"find\": \"" COLL "\", \"filter\": {\"ssn\": \"123-45-6789\"}}", &found) != 0)
        return 1;
    printf("  found %u record(s)\n", bson_count_keys(&found));
    if (bson_count_keys(&found) == 0 || read_as(&s, &found, "clerk.jones", "billing", "PAYMENT") != 0 ||
        read_as(&s, &found, "dr.okafor", "physician", "TREATMENT") != 0)
        return 1;
    bson_destroy(&found);

    printf("\naudit log:\n");
    rc = phicrypt_audit_verify(s.ph, &report, NULL);
    printf("  verify: %s\n", report.data ? (const char *)report.data : phicrypt_errmsg(s.ph));
    phicrypt_buf_dispose(&report);
    if (rc != 0)
        return 1;
    if ((rc = phicrypt_audit_disclosures(s.ph, &acc, "MRN-0042", 0)) != 0)
        return die(&s, rc, "disclosures");
    print_json("  disclosures of MRN-0042:", acc.data, acc.len);
    phicrypt_buf_dispose(&acc);
#ifdef SERVICE_HAVE_MONGOC
    if (s.client)
        mongoc_client_destroy(s.client);
#endif
    phicrypt_free(s.ph);
    if (tmp) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s.dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
