/* In-process query analysis (lib/fle/analysis_*.c).
 *
 * Most cases are data: tests/analysis/<name>.json, read from the directory in
 * PHICRYPT_TEST_DATA_DIR (the source tests/ directory). Each file is
 *   { "schema": <default jsonSchema>,
 *     "cases": [ { "description": "...", "pins": "<spec test or behaviour>",
 *                  "schema": <optional override>, "isRemoteSchema": <opt bool>,
 *                  "command": <the command libmongocrypt hands over, without
 *                              jsonSchema/isRemoteSchema>,
 *                  "result": <expected result, each marking written as
 *                             {"$marking": {a, ki|ka, v}}>,
 *                  "hasEncryptedPlaceholders": <optional, default: the
 *                             expected result holds a marking; checked under
 *                             both reply names>,
 *                  "schemaRequiresEncryption": <optional, default true>,
 *                  "error": { "code": "ESCHEMA" | "EBADDATA",
 *                             "contains": "<substring of the message>" } } ] }
 * The expectations were written by hand from the MongoDB specification
 * tests and mongocryptd's documented behaviour (each case says which), never
 * produced by this code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

static int handle; /* error handle for the calls under test */

/* ---- helpers ---- */

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        *len = n;
    return buf;
}

static bool load_json_file(const char *name, bson_t *out)
{
    const char *dir = getenv("PHICRYPT_TEST_DATA_DIR");
    char path[1024];
    size_t len = 0;
    bson_error_t err;
    snprintf(path, sizeof path, "%s/analysis/%s", dir ? dir : "tests", name);
    char *text = read_text(path, &len);
    if (!text) {
        print_error("cannot read %s (set PHICRYPT_TEST_DATA_DIR to the tests/ directory)\n", path);
        return false;
    }
    bool ok = bson_init_from_json(out, text, (ssize_t)len, &err);
    if (!ok)
        print_error("%s: invalid JSON: %s\n", path, err.message);
    free(text);
    return ok;
}

/* Copies `in`, writing each FLE1 marking as {"$marking": <its document>}
 * so that results compare against hand-written expectations. */
static void decode_markings(const bson_t *in, bson_t *out)
{
    bson_iter_t it;
    bson_iter_init(&it, in);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            bson_t m, wrap;
            bson_iter_binary(&it, &st, &len, &data);
            if (st == BSON_SUBTYPE_ENCRYPTED && len > 5 && data[0] == 0 && bson_init_static(&m, data + 1, len - 1)) {
                bson_append_document_begin(out, k, -1, &wrap);
                BSON_APPEND_DOCUMENT(&wrap, "$marking", &m);
                bson_append_document_end(out, &wrap);
                continue;
            }
        }
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            bson_t sub, child;
            uint32_t len;
            const uint8_t *data;
            bool arr = BSON_ITER_HOLDS_ARRAY(&it);
            if (arr)
                bson_iter_array(&it, &len, &data);
            else
                bson_iter_document(&it, &len, &data);
            bson_init_static(&sub, data, len);
            if (arr)
                bson_append_array_begin(out, k, -1, &child);
            else
                bson_append_document_begin(out, k, -1, &child);
            decode_markings(&sub, &child);
            if (arr)
                bson_append_array_end(out, &child);
            else
                bson_append_document_end(out, &child);
            continue;
        }
        bson_append_iter(out, k, -1, &it);
    }
}

static bool sub_doc(const bson_t *doc, const char *key, bson_t *out)
{
    bson_iter_t it;
    uint32_t len;
    const uint8_t *data;
    if (!bson_iter_init_find(&it, doc, key) || !(BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)))
        return false;
    if (BSON_ITER_HOLDS_DOCUMENT(&it))
        bson_iter_document(&it, &len, &data);
    else
        bson_iter_array(&it, &len, &data);
    return bson_init_static(out, data, len);
}

static int get_bool(const bson_t *doc, const char *key, int dflt)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_BOOL(&it))
        return bson_iter_bool(&it);
    return dflt;
}

static const char *get_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static bool json_mentions_marking(const bson_t *doc)
{
    char *s = bson_as_canonical_extended_json(doc, NULL);
    bool yes = s && strstr(s, "\"$marking\"") != NULL;
    bson_free(s);
    return yes;
}

static int code_of(const char *name)
{
    if (name && strcmp(name, "ESCHEMA") == 0)
        return PHICRYPT_ESCHEMA;
    if (name && strcmp(name, "EBADDATA") == 0)
        return PHICRYPT_EBADDATA;
    return 1; /* never returned */
}

/* Runs one case; returns false (after printing why) on a mismatch. */
/* Fails each allocation of the analysis in turn, alone: every run must end
 * in PHICRYPT_ENOMEM or give exactly the answer it gives with memory to
 * spare. A failure that is swallowed (taken for "nothing encrypted here")
 * would send a plaintext value unmarked. */
static bool single_failures_are_errors(const char *desc, const bson_t *request)
{
    bson_t base, reply;
    int base_rc = phi_analysis_mark(&handle, "test", request, &base);
    unsigned long count;
    bool ok = true;
    phi_test_fail_alloc_after(0);
    phi_analysis_mark(&handle, "test", request, &reply) == 0 ? bson_destroy(&reply) : (void)0;
    count = phi_test_alloc_count();
    for (unsigned long n = 1; n <= count && n <= 600 && ok; n++) {
        phi_test_fail_alloc_only(n);
        int rc = phi_analysis_mark(&handle, "test", request, &reply);
        phi_test_fail_alloc_after(0);
        if (rc == PHICRYPT_ENOMEM)
            continue;
        if (rc != base_rc) {
            print_error("%s: allocation %lu failing alone gave %d instead of %d or ENOMEM\n", desc, n, rc, base_rc);
            ok = false;
        } else if (rc == 0 && !bson_equal(&reply, &base)) {
            print_error("%s: allocation %lu failing alone changed the answer\n", desc, n);
            ok = false;
        }
        if (rc == 0)
            bson_destroy(&reply);
    }
    if (base_rc == 0)
        bson_destroy(&base);
    return ok;
}

static bool run_case(const bson_t *file_schema, const bson_t *tc)
{
    const char *desc = get_str(tc, "description");
    bson_t schema, command, expected, error, request = BSON_INITIALIZER, reply;
    bool ok = true;

    desc = desc ? desc : "(no description)";
    if (!sub_doc(tc, "schema", &schema) && !sub_doc(file_schema, "schema", &schema)) {
        print_error("%s: no schema\n", desc);
        return false;
    }
    if (!sub_doc(tc, "command", &command)) {
        print_error("%s: no command\n", desc);
        return false;
    }
    bson_concat(&request, &command);
    BSON_APPEND_DOCUMENT(&request, "jsonSchema", &schema);
    BSON_APPEND_BOOL(&request, "isRemoteSchema", get_bool(tc, "isRemoteSchema", 0));

    int rc = phi_analysis_mark(&handle, "test", &request, &reply);
    if (sub_doc(tc, "error", &error)) {
        const char *want = get_str(&error, "contains");
        int code = code_of(get_str(&error, "code"));
        if (rc == 0) {
            char *got = bson_as_canonical_extended_json(&reply, NULL);
            print_error("%s: expected error %s, got success: %s\n", desc, get_str(&error, "code"), got);
            bson_free(got);
            bson_destroy(&reply);
            ok = false;
        } else if (rc != code || (want && !strstr(phi_error_message(&handle), want))) {
            print_error("%s: expected %s containing \"%s\", got %d: %s\n", desc, get_str(&error, "code"),
                        want ? want : "", rc, phi_error_message(&handle));
            ok = false;
        }
    } else if (rc != 0) {
        print_error("%s: unexpected error %d: %s\n", desc, rc, phi_error_message(&handle));
        ok = false;
    } else {
        bson_t got_result, decoded = BSON_INITIALIZER;
        if (!sub_doc(tc, "result", &expected) || !sub_doc(&reply, "result", &got_result)) {
            print_error("%s: no expected result or no result in the reply\n", desc);
            ok = false;
        } else {
            decode_markings(&got_result, &decoded);
            char *g = bson_as_canonical_extended_json(&decoded, NULL);
            char *w = bson_as_canonical_extended_json(&expected, NULL);
            if (strcmp(g, w) != 0) {
                print_error("%s:\n  expected %s\n  got      %s\n", desc, w, g);
                ok = false;
            }
            bson_free(g);
            bson_free(w);
            int want_ph = get_bool(tc, "hasEncryptedPlaceholders", json_mentions_marking(&expected));
            int want_sr = get_bool(tc, "schemaRequiresEncryption", 1);
            if (get_bool(&reply, "hasEncryptedPlaceholders", -1) != want_ph ||
                get_bool(&reply, "hasEncryptionPlaceholders", -1) != want_ph ||
                get_bool(&reply, "schemaRequiresEncryption", -1) != want_sr) {
                print_error("%s: hasEncryptedPlaceholders/schemaRequiresEncryption: got %d/%d want %d/%d\n", desc,
                            get_bool(&reply, "hasEncryptedPlaceholders", -1),
                            get_bool(&reply, "schemaRequiresEncryption", -1), want_ph, want_sr);
                ok = false;
            }
            bson_iter_t it;
            if (!bson_iter_init_find(&it, &reply, "ok") || bson_iter_as_double(&it) != 1.0) {
                print_error("%s: reply has no ok: 1\n", desc);
                ok = false;
            }
        }
        bson_destroy(&decoded);
        bson_destroy(&reply);
    }
    if (ok && !single_failures_are_errors(desc, &request))
        ok = false;
    bson_destroy(&request);
    return ok;
}

static void run_file(const char *name)
{
    bson_t file, cases;
    bson_iter_t it;
    int failed = 0, n = 0;

    assert_true(load_json_file(name, &file));
    assert_true(sub_doc(&file, "cases", &cases));
    bson_iter_init(&it, &cases);
    while (bson_iter_next(&it)) {
        bson_t tc;
        uint32_t len;
        const uint8_t *data;
        assert_true(BSON_ITER_HOLDS_DOCUMENT(&it));
        bson_iter_document(&it, &len, &data);
        assert_true(bson_init_static(&tc, data, len));
        n++;
        if (!run_case(&file, &tc))
            failed++;
    }
    bson_destroy(&file);
    if (failed)
        print_error("%s: %d of %d cases failed\n", name, failed, n);
    assert_true(n > 0);
    assert_int_equal(failed, 0);
}

/* ---- data-driven groups ---- */

static void test_analysis__schema(void **state)
{
    (void)state;
    run_file("schema.json");
}

static void test_analysis__schema_errors(void **state)
{
    (void)state;
    run_file("schema_errors.json");
}

static void test_analysis__insert(void **state)
{
    (void)state;
    run_file("insert.json");
}

static void test_analysis__find(void **state)
{
    (void)state;
    run_file("find.json");
}

static void test_analysis__update(void **state)
{
    (void)state;
    run_file("update.json");
}

static void test_analysis__other_commands(void **state)
{
    (void)state;
    run_file("commands.json");
}

static void test_analysis__aggregate(void **state)
{
    (void)state;
    run_file("aggregate.json");
}

/* ---- C-level cases ---- */

static bson_t *json(const char *s)
{
    bson_error_t err;
    bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &err);
    if (!b)
        print_error("bad test JSON: %s\n", err.message);
    assert_non_null(b);
    return b;
}

#define UUID0 "{\"$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAA==\", \"subType\": \"04\"}}"
#define DET "\"AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic\""
#define SSN_SCHEMA                                                                                               \
    "{\"bsonType\": \"object\", \"properties\": {\"ssn\": {\"encrypt\": {\"keyId\": [" UUID0 "], \"algorithm\": " \
    DET ", \"bsonType\": \"string\"}}}}"

/* The exact bytes of one marking (libmongocrypt 1.7.2 mongocrypt-marking.c):
 * binary subtype 6, first byte 0, then {a: int32 1, ki: UUID, v: value}. */
static void test_analysis__marking_bytes(void **state)
{
    (void)state;
    bson_t *req = json("{\"insert\": \"c\", \"documents\": [{\"ssn\": \"123-45-6789\"}], \"jsonSchema\": " SSN_SCHEMA
                       ", \"isRemoteSchema\": false}");
    bson_t reply;
    bson_iter_t it;
    bson_subtype_t st;
    uint32_t len;
    const uint8_t *data;
    static const uint8_t uuid0[16] = { 0 };

    assert_int_equal(phi_analysis_mark(&handle, "db", req, &reply), 0);
    assert_true(bson_iter_init(&it, &reply));
    assert_true(bson_iter_find_descendant(&it, "result.documents.0.ssn", &it));
    assert_true(BSON_ITER_HOLDS_BINARY(&it));
    bson_iter_binary(&it, &st, &len, &data);
    assert_int_equal(st, 6);
    assert_int_equal(data[0], 0);

    bson_t m;
    assert_true(bson_init_static(&m, data + 1, len - 1));
    bson_iter_t f;
    assert_true(bson_iter_init(&f, &m));
    assert_true(bson_iter_next(&f));
    assert_string_equal(bson_iter_key(&f), "a");
    assert_true(BSON_ITER_HOLDS_INT32(&f));
    assert_int_equal(bson_iter_int32(&f), 1);
    assert_true(bson_iter_next(&f));
    assert_string_equal(bson_iter_key(&f), "ki");
    bson_iter_binary(&f, &st, &len, &data);
    assert_int_equal(st, BSON_SUBTYPE_UUID);
    assert_int_equal(len, 16);
    assert_memory_equal(data, uuid0, 16);
    assert_true(bson_iter_next(&f));
    assert_string_equal(bson_iter_key(&f), "v");
    assert_string_equal(bson_iter_utf8(&f, NULL), "123-45-6789");
    assert_false(bson_iter_next(&f));

    /* the reply: mongocryptd's three fields first, in its order, then the
     * flag name libmongocrypt 1.7.2 reads, then ok */
    static const char *const keys[] = { "hasEncryptionPlaceholders", "schemaRequiresEncryption", "result",
                                        "hasEncryptedPlaceholders", "ok" };
    assert_true(bson_iter_init(&it, &reply));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        assert_true(bson_iter_next(&it));
        assert_string_equal(bson_iter_key(&it), keys[i]);
    }
    assert_false(bson_iter_next(&it));
    assert_true(bson_iter_init_find(&it, &reply, "hasEncryptedPlaceholders") && bson_iter_bool(&it));
    assert_true(bson_iter_init_find(&it, &reply, "hasEncryptionPlaceholders") && bson_iter_bool(&it));
    assert_true(bson_iter_init_find(&it, &reply, "schemaRequiresEncryption") && bson_iter_bool(&it));
    assert_true(bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "result.insert", &it));
    bson_iter_init(&it, &reply);
    assert_false(bson_iter_find_descendant(&it, "result.jsonSchema", &it));
    bson_iter_init(&it, &reply);
    assert_false(bson_iter_find_descendant(&it, "result.isRemoteSchema", &it));
    bson_destroy(&reply);
    bson_destroy(req);
}

/* Messages name paths and reasons, never the values (they are PHI). */
static void test_analysis__no_values_in_messages(void **state)
{
    (void)state;
    static const char *const cmds[] = {
        "{\"insert\": \"c\", \"documents\": [{\"ssn\": 987654321}]",
        "{\"find\": \"c\", \"filter\": {\"ssn\": {\"$gt\": \"SECRET-987654321\"}}",
        "{\"find\": \"c\", \"filter\": {\"ssn\": {\"$regex\": \"SECRET-987654321\"}}",
        "{\"update\": \"c\", \"updates\": [{\"q\": {}, \"u\": {\"$inc\": {\"ssn\": 987654321}}}]",
        "{\"insert\": \"c\", \"documents\": [{\"ssn\": [\"SECRET-987654321\"]}]",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char buf[2048];
        bson_t reply;
        snprintf(buf, sizeof buf, "%s, \"jsonSchema\": %s, \"isRemoteSchema\": false}", cmds[i], SSN_SCHEMA);
        bson_t *req = json(buf);
        assert_int_equal(phi_analysis_mark(&handle, "db", req, &reply), PHICRYPT_ESCHEMA);
        const char *msg = phi_error_message(&handle);
        assert_non_null(strstr(msg, "ssn"));
        assert_null(strstr(msg, "987654321"));
        bson_destroy(req);
    }
}

static void test_analysis__bad_arguments(void **state)
{
    (void)state;
    bson_t reply;
    bson_t *schema = json(SSN_SCHEMA);
    bson_t empty = BSON_INITIALIZER;

    assert_int_equal(phi_analysis_mark(&handle, "db", NULL, &reply), PHICRYPT_EINVAL);
    bson_t *req = json("{\"find\": \"c\"}");
    assert_int_equal(phi_analysis_mark(&handle, "db", req, NULL), PHICRYPT_EINVAL);
    bson_destroy(req);
    /* an empty request has no command name */
    assert_int_equal(phi_analysis_mark(&handle, "db", &empty, &reply), PHICRYPT_EBADDATA);
    /* jsonSchema that is not a document, isRemoteSchema not a bool */
    req = json("{\"find\": \"c\", \"filter\": {}, \"jsonSchema\": \"x\", \"isRemoteSchema\": false}");
    assert_int_equal(phi_analysis_mark(&handle, "db", req, &reply), PHICRYPT_EBADDATA);
    assert_non_null(strstr(phi_error_message(&handle), "jsonSchema"));
    bson_destroy(req);
    req = json("{\"find\": \"c\", \"filter\": {}, \"jsonSchema\": {}, \"isRemoteSchema\": 1}");
    assert_int_equal(phi_analysis_mark(&handle, "db", req, &reply), PHICRYPT_EBADDATA);
    bson_destroy(req);
    assert_int_equal(phi_analysis_describe(&handle, NULL, &reply), PHICRYPT_EINVAL);
    assert_int_equal(phi_analysis_describe(&handle, schema, NULL), PHICRYPT_EINVAL);

    /* corrupt BSON inside the request: a document length that lies */
    uint8_t bad[] = { 0x16, 0, 0, 0, 0x03, 'j', 's', 'o', 'n', 'S', 'c', 'h', 'e', 'm', 'a', 0,
                      0x40, 0, 0, 0, 0,    0 };
    bson_t corrupt;
    assert_true(bson_init_static(&corrupt, bad, sizeof bad));
    assert_int_not_equal(phi_analysis_mark(&handle, "db", &corrupt, &reply), 0);
    bson_destroy(schema);
}

/* libmongocrypt asks {isMaster: 1} before create/createIndexes and needs an
 * int32 maxWireVersion (mongocrypt-ctx-encrypt.c _mongo_feed_markings). */
static void test_analysis__is_master(void **state)
{
    (void)state;
    bson_t reply;
    bson_iter_t it;
    bson_t *req = json("{\"isMaster\": 1}");
    assert_int_equal(phi_analysis_mark(&handle, "db", req, &reply), 0);
    assert_true(bson_iter_init_find(&it, &reply, "maxWireVersion"));
    assert_true(BSON_ITER_HOLDS_INT32(&it));
    assert_true(bson_iter_int32(&it) >= 17);
    bson_destroy(&reply);
    bson_destroy(req);
}

static void test_analysis__describe(void **state)
{
    (void)state;
    bson_t out;
    bson_t *schema = json(
        "{\"bsonType\": \"object\", \"encryptMetadata\": {\"keyId\": [" UUID0 "]},"
        " \"properties\": {"
        "  \"ssn\": {\"encrypt\": {\"algorithm\": " DET ", \"bsonType\": \"string\"}},"
        "  \"plain\": {\"bsonType\": \"string\"},"
        "  \"addr\": {\"bsonType\": \"object\", \"properties\": {"
        "     \"zip\": {\"encrypt\": {\"keyId\": \"/kname\", \"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"}}},"
        "     \"patternProperties\": {\"^x\": {\"encrypt\": {\"algorithm\": "
        "\"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"}}}},"
        "  \"_id\": {\"bsonType\": \"objectId\"}},"
        " \"additionalProperties\": {\"encrypt\": {\"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Random\","
        "   \"bsonType\": [\"int\", \"long\"]}}}");
    bson_t *want = json(
        "{\"schemaRequiresEncryption\": true, \"fields\": ["
        " {\"path\": \"ssn\", \"algorithm\": \"deterministic\", \"keyId\": " UUID0 ", \"bsonType\": [\"string\"]},"
        " {\"path\": \"addr.zip\", \"algorithm\": \"random\", \"keyIdPointer\": \"/kname\"},"
        " {\"path\": \"addr./^x/\", \"algorithm\": \"random\", \"keyId\": " UUID0 "},"
        " {\"path\": \"*\", \"algorithm\": \"random\", \"keyId\": " UUID0 ", \"bsonType\": [\"int\", \"long\"]}]}");
    assert_int_equal(phi_analysis_describe(&handle, schema, &out), 0);
    char *g = bson_as_canonical_extended_json(&out, NULL);
    char *w = bson_as_canonical_extended_json(want, NULL);
    if (strcmp(g, w) != 0)
        print_error("describe:\n  expected %s\n  got      %s\n", w, g);
    assert_string_equal(g, w);
    bson_free(g);
    bson_free(w);
    bson_destroy(&out);
    bson_destroy(schema);
    bson_destroy(want);

    /* no encryption at all */
    schema = json("{\"bsonType\": \"object\", \"properties\": {\"a\": {\"bsonType\": \"string\"}}}");
    assert_int_equal(phi_analysis_describe(&handle, schema, &out), 0);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &out, "schemaRequiresEncryption") && !bson_iter_bool(&it));
    bson_destroy(&out);
    bson_destroy(schema);

    /* describe refuses what marking refuses */
    schema = json("{\"properties\": {\"ssn\": {\"encrypt\": {\"keyId\": [" UUID0 "], \"algorithm\": " DET
                  ", \"bsonType\": \"string\"}}}}");
    assert_int_equal(phi_analysis_describe(&handle, schema, &out), PHICRYPT_ESCHEMA);
    bson_destroy(schema);
}

/* A schema nested deeper than the analysis accepts is refused, not walked
 * with unbounded recursion. */
static void test_analysis__deep_schema(void **state)
{
    (void)state;
    bson_t *s = json("{}");
    for (int i = 0; i < 40; i++) {
        bson_t *n = bson_new(), props;
        BSON_APPEND_UTF8(n, "bsonType", "object");
        bson_append_document_begin(n, "properties", -1, &props);
        BSON_APPEND_DOCUMENT(&props, "a", s);
        bson_append_document_end(n, &props);
        bson_destroy(s);
        s = n;
    }
    bson_t out;
    assert_int_equal(phi_analysis_describe(&handle, s, &out), PHICRYPT_EBADDATA);
    assert_non_null(strstr(phi_error_message(&handle), "nested"));
    bson_destroy(s);
}

/* Every allocation failure is reported as PHICRYPT_ENOMEM and leaks nothing
 * (run under the sanitizer build); the analysis succeeds once memory is
 * available again. */
/* Fails allocations from the nth on, for n = 1, 2, ...: each run fails with
 * PHICRYPT_ENOMEM until one has memory enough and succeeds. */
static void mark_until_ok(const bson_t *req)
{
    bson_t reply;
    for (unsigned long n = 1; n < 4000; n++) {
        phi_test_fail_alloc_after(n);
        int rc = phi_analysis_mark(&handle, "db", req, &reply);
        phi_test_fail_alloc_after(0);
        if (rc == 0) {
            bson_destroy(&reply);
            return;
        }
        assert_int_equal(rc, PHICRYPT_ENOMEM);
    }
    fail_msg("the analysis never succeeded");
}

static void test_analysis__out_of_memory(void **state)
{
    (void)state;
    bson_t *req = json(
        "{\"insert\": \"c\", \"documents\": [{\"ssn\": \"1\", \"k\": \"n\", \"p_a\": 1, \"sub\": {\"x\": 2}}],"
        " \"jsonSchema\": {\"bsonType\": \"object\", \"encryptMetadata\": {\"keyId\": [" UUID0 "]},"
        "  \"properties\": {\"ssn\": {\"encrypt\": {\"algorithm\": " DET ", \"bsonType\": \"string\"}},"
        "   \"sub\": {\"bsonType\": \"object\", \"properties\": {\"x\": {\"encrypt\": {\"keyId\": \"/k\","
        "     \"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"}}}}},"
        "  \"patternProperties\": {\"^p_\": {\"encrypt\": {\"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"}}}},"
        " \"isRemoteSchema\": false}");
    bson_t schema, reply;
    bson_iter_t it;
    uint32_t len;
    const uint8_t *data;
    assert_true(bson_iter_init_find(&it, req, "jsonSchema"));
    bson_iter_document(&it, &len, &data);
    assert_true(bson_init_static(&schema, data, len));

    mark_until_ok(req);
    bool done = false;
    for (unsigned long n = 1; n < 1000 && !done; n++) {
        phi_test_fail_alloc_after(n);
        int rc = phi_analysis_describe(&handle, &schema, &reply);
        phi_test_fail_alloc_after(0);
        if (rc == 0) {
            bson_destroy(&reply);
            done = true;
        } else {
            assert_int_equal(rc, PHICRYPT_ENOMEM);
        }
    }
    assert_true(done);
    bson_destroy(req);

    /* aggregation shapes allocate synthetic schema nodes at every stage */
    req = json("{\"aggregate\": \"c\", \"pipeline\": [{\"$addFields\": {\"cp\": \"$ssn\", \"o\": {\"a\": \"$ssn\"}}},"
               " {\"$lookup\": {\"from\": \"c\", \"pipeline\": [{\"$match\": {\"ssn\": \"y\"}}], \"as\": \"j\"}},"
               " {\"$group\": {\"_id\": \"$cp\", \"f\": {\"$first\": \"$ssn\"}, \"all\": {\"$push\": \"$ssn\"}}},"
               " {\"$match\": {\"_id\": \"x\", \"f\": \"z\"}}], \"cursor\": {},"
               " \"jsonSchema\": {\"bsonType\": \"object\", \"properties\": {\"ssn\": {\"encrypt\": {\"keyId\": [" UUID0 "],"
               " \"algorithm\": " DET ", \"bsonType\": \"string\"}}}}, \"isRemoteSchema\": false}");
    mark_until_ok(req);
    bson_destroy(req);

    /* out of memory never turns a value of unknown encryption into a plain
     * one: the $match must be refused (or fail for memory), never marked
     * as if nothing were encrypted */
    req = json("{\"aggregate\": \"c\", \"pipeline\": [{\"$addFields\": {\"u\": {\"$cond\": [true, \"$ssn\", \"$plain\"]}}},"
               " {\"$match\": {\"u\": \"v\"}}], \"cursor\": {},"
               " \"jsonSchema\": {\"bsonType\": \"object\", \"properties\": {\"ssn\": {\"encrypt\": {\"keyId\": [" UUID0 "],"
               " \"algorithm\": " DET ", \"bsonType\": \"string\"}}}}, \"isRemoteSchema\": false}");
    int last = 0;
    for (unsigned long n = 1; n < 2000 && last != PHICRYPT_ESCHEMA; n++) {
        phi_test_fail_alloc_only(n);
        last = phi_analysis_mark(&handle, "db", req, &reply);
        phi_test_fail_alloc_after(0);
        if (last == 0)
            bson_destroy(&reply);
        assert_true(last == PHICRYPT_ENOMEM || last == PHICRYPT_ESCHEMA);
    }
    assert_int_equal(last, PHICRYPT_ESCHEMA);
    bson_destroy(req);
}

/* A filter nested deeper than MongoDB allows ($and inside $and ...) is
 * refused instead of exhausting the stack. */
static void test_analysis__deep_filter(void **state)
{
    (void)state;
    bson_t *f = json("{\"ssn\": \"1\"}");
    for (int i = 0; i < 150; i++) {
        bson_t *n = bson_new(), arr;
        bson_append_array_begin(n, "$and", -1, &arr);
        BSON_APPEND_DOCUMENT(&arr, "0", f);
        bson_append_array_end(n, &arr);
        bson_destroy(f);
        f = n;
    }
    bson_t *schema = json(SSN_SCHEMA), *req = bson_new(), reply;
    BSON_APPEND_UTF8(req, "find", "c");
    BSON_APPEND_DOCUMENT(req, "filter", f);
    BSON_APPEND_DOCUMENT(req, "jsonSchema", schema);
    BSON_APPEND_BOOL(req, "isRemoteSchema", false);
    assert_int_equal(phi_analysis_mark(&handle, "db", req, &reply), PHICRYPT_EBADDATA);
    assert_non_null(strstr(phi_error_message(&handle), "nested"));
    bson_destroy(req);
    bson_destroy(schema);
    bson_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analysis__schema),
        cmocka_unit_test(test_analysis__schema_errors),
        cmocka_unit_test(test_analysis__insert),
        cmocka_unit_test(test_analysis__find),
        cmocka_unit_test(test_analysis__update),
        cmocka_unit_test(test_analysis__other_commands),
        cmocka_unit_test(test_analysis__aggregate),
        cmocka_unit_test(test_analysis__marking_bytes),
        cmocka_unit_test(test_analysis__no_values_in_messages),
        cmocka_unit_test(test_analysis__bad_arguments),
        cmocka_unit_test(test_analysis__is_master),
        cmocka_unit_test(test_analysis__describe),
        cmocka_unit_test(test_analysis__deep_schema),
        cmocka_unit_test(test_analysis__out_of_memory),
        cmocka_unit_test(test_analysis__deep_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
