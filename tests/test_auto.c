/* Automatic encryption through libmongocrypt with in-process analysis:
 * equality with explicit encryption, every type, refusals, properties. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <sodium.h>

#include "test_util.h"

#define DET "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"
#define RND "AEAD_AES_256_CBC_HMAC_SHA_512-Random"

/* Deterministic-capable types: field name suffix, bsonType, a value. */
static const struct {
    const char *field, *type, *json;
} det_types[] = {
    { "d_string", "string", "\"123-45-6789\"" },
    { "d_int", "int", "{\"$numberInt\": \"42\"}" },
    { "d_long", "long", "{\"$numberLong\": \"-9000000000\"}" },
    { "d_date", "date", "{\"$date\": {\"$numberLong\": \"-86400000\"}}" },
    { "d_oid", "objectId", "{\"$oid\": \"5f1d2c3b4a5968778695a4b3\"}" },
    { "d_bin", "binData", "{\"$binary\": {\"base64\": \"AAEC/w==\", \"subType\": \"00\"}}" },
    { "d_regex", "regex", "{\"$regularExpression\": {\"pattern\": \"^MRN\", \"options\": \"i\"}}" },
    { "d_code", "javascript", "{\"$code\": \"f()\"}" },
    { "d_ts", "timestamp", "{\"$timestamp\": {\"t\": 7, \"i\": 9}}" },
};

static const char *rnd_values[] = {
    "\"Type 2 diabetes\"", "{\"$numberDouble\": \"98.6\"}", "{\"$numberDecimal\": \"1.10\"}", "true",
    "{\"icd\": \"E11.9\", \"since\": {\"$date\": \"2001-01-01T00:00:00Z\"}}", "[1, \"two\", {\"three\": 3}]",
    "{\"$numberLong\": \"7\"}",
};

typedef struct fx {
    char *dir;
    phicrypt_t *ph;
    uint8_t kid[16];
    uint8_t kid2[16];
} fx;

static char *b64(const uint8_t *d, size_t n)
{
    char *out = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), d, n,
                      sodium_base64_VARIANT_ORIGINAL);
    return out;
}

/* A schema for hospital.patients with every deterministic type, a random
 * field of any type, a key alt name pointer, and nested encrypted fields. */
static char *schema_json(const uint8_t kid[16])
{
    char *k = b64(kid, 16), *s = NULL, *props = strdup("");
    for (size_t i = 0; i < sizeof det_types / sizeof det_types[0]; i++) {
        char *n;
        if (asprintf(&n, "%s\"%s\": {\"encrypt\": {\"bsonType\": \"%s\", \"algorithm\": \"" DET "\"}},", props,
                     det_types[i].field, det_types[i].type) < 0)
            fail();
        free(props);
        props = n;
    }
    if (asprintf(&s,
                 "{\"hospital.patients\": {\"bsonType\": \"object\","
                 " \"encryptMetadata\": {\"keyId\": [{\"$binary\": {\"base64\": \"%s\", \"subType\": \"04\"}}]},"
                 " \"properties\": {%s"
                 "  \"rnd\": {\"encrypt\": {\"algorithm\": \"" RND "\"}},"
                 "  \"alt\": {\"encrypt\": {\"keyId\": \"/kname\", \"algorithm\": \"" RND "\"}},"
                 "  \"ssn\": {\"encrypt\": {\"bsonType\": \"string\", \"algorithm\": \"" DET "\"}},"
                 "  \"diagnosis\": {\"encrypt\": {\"bsonType\": \"string\", \"algorithm\": \"" RND "\"}},"
                 "  \"address\": {\"bsonType\": \"object\", \"properties\": {"
                 "     \"street\": {\"encrypt\": {\"bsonType\": \"string\", \"algorithm\": \"" RND "\"}}}}"
                 "}}}",
                 k, props) < 0)
        fail();
    free(k);
    free(props);
    return s;
}

static phicrypt_t *client_with_schema(const char *dir, const char *schema_map)
{
    char *cfg;
    phicrypt_t *ph = NULL;
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\", \"schema_map\": %s}",
                 dir, dir, schema_map) < 0)
        fail();
    if (phicrypt_new(&ph, cfg) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    free(cfg);
    return ph;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    phicrypt_t *plain;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *n1[] = { "patients" }, *n2[] = { "other" };
    char *schema;
    f->dir = tu_tmpdir();
    plain = tu_client(f->dir);
    o.alt_names = n1;
    o.alt_names_count = 1;
    assert_int_equal(phicrypt_datakey_create(plain, f->kid, &o), 0);
    o.alt_names = n2;
    assert_int_equal(phicrypt_datakey_create(plain, f->kid2, &o), 0);
    phicrypt_free(plain);
    schema = schema_json(f->kid);
    f->ph = client_with_schema(f->dir, schema);
    free(schema);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    phicrypt_free(f->ph);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Parses Extended JSON into a bson_t (asserts). */
static void from_json(bson_t *b, const char *json)
{
    bson_error_t e;
    if (!bson_init_from_json(b, json, -1, &e))
        fail_msg("test JSON invalid: %s", e.message);
}

static int enc_cmd(fx *f, const char *json, bson_t *out)
{
    bson_t cmd;
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    int rc;
    from_json(&cmd, json);
    rc = phicrypt_encrypt_command(f->ph, &b, "hospital", bson_get_data(&cmd), cmd.len);
    bson_destroy(&cmd);
    if (rc == 0) {
        bson_init(out);
        bson_t view;
        assert_true(bson_init_static(&view, b.data, b.len));
        bson_copy_to_excluding_noinit(&view, out, "", NULL);
    }
    phicrypt_buf_dispose(&b);
    return rc;
}

/* The bytes of the binary at `path` in `doc` (subtype 6 asserted). */
static const uint8_t *ct_at(const bson_t *doc, const char *path, uint32_t *len)
{
    bson_iter_t it, d;
    bson_subtype_t st;
    const uint8_t *data;
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &d))
        fail_msg("no %s in the encrypted command", path);
    if (!BSON_ITER_HOLDS_BINARY(&d))
        fail_msg("%s is not encrypted", path);
    bson_iter_binary(&d, &st, len, &data);
    assert_int_equal(st, BSON_SUBTYPE_ENCRYPTED);
    return data;
}

static void explicit_det(fx *f, const char *value, phicrypt_buf *out)
{
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    size_t len;
    uint8_t *doc = tu_value_doc(value, &len);
    o.key_id = f->kid;
    assert_int_equal(phicrypt_encrypt(f->ph, out, doc, len, &o), 0);
    free(doc);
}

static const uint8_t *ct_of_value_doc(const phicrypt_buf *b, uint32_t *len)
{
    static bson_t view;
    assert_true(bson_init_static(&view, b->data, b->len));
    return ct_at(&view, "v", len);
}

static void test_auto__insert_matches_explicit_deterministic(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < sizeof det_types / sizeof det_types[0]; i++) {
        char *cmd;
        bson_t enc;
        uint32_t alen, elen;
        const uint8_t *a, *e;
        phicrypt_buf ex = PHICRYPT_BUF_INIT;
        assert_true(asprintf(&cmd, "{\"insert\": \"patients\", \"documents\": [{\"_id\": 1, \"%s\": %s}]}",
                             det_types[i].field, det_types[i].json) > 0);
        if (enc_cmd(f, cmd, &enc) != 0)
            fail_msg("%s: %s", det_types[i].field, phicrypt_errmsg(f->ph));
        free(cmd);
        {
            char path[64];
            snprintf(path, sizeof path, "documents.0.%s", det_types[i].field);
            a = ct_at(&enc, path, &alen);
        }
        explicit_det(f, det_types[i].json, &ex);
        e = ct_of_value_doc(&ex, &elen);
        if (alen != elen || memcmp(a, e, alen) != 0)
            fail_msg("%s: automatic and explicit deterministic ciphertexts differ", det_types[i].field);
        phicrypt_buf_dispose(&ex);
        bson_destroy(&enc);
    }
}

static int decrypt_equals(fx *f, const bson_t *enc_doc, const bson_t *orig)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    bson_t view;
    int same;
    if (phicrypt_decrypt_document(f->ph, &b, bson_get_data(enc_doc), enc_doc->len) != 0)
        fail_msg("decrypt_document: %s", phicrypt_errmsg(f->ph));
    same = bson_init_static(&view, b.data, b.len) && bson_equal(&view, orig);
    phicrypt_buf_dispose(&b);
    return same;
}

static void doc_at(const bson_t *cmd, const char *path, bson_t *out)
{
    bson_iter_t it, d;
    uint32_t len;
    const uint8_t *data;
    assert_true(bson_iter_init(&it, cmd) && bson_iter_find_descendant(&it, path, &d) && BSON_ITER_HOLDS_DOCUMENT(&d));
    bson_iter_document(&d, &len, &data);
    assert_true(bson_init_static(out, data, len));
}

static void test_auto__random_any_type_roundtrips(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < sizeof rnd_values / sizeof rnd_values[0]; i++) {
        char *cmd, *docj;
        bson_t enc, orig, encdoc;
        uint32_t len;
        const uint8_t *ct;
        assert_true(asprintf(&docj, "{\"_id\": 1, \"rnd\": %s}", rnd_values[i]) > 0);
        assert_true(asprintf(&cmd, "{\"insert\": \"patients\", \"documents\": [%s]}", docj) > 0);
        if (enc_cmd(f, cmd, &enc) != 0)
            fail_msg("value %zu: %s", i, phicrypt_errmsg(f->ph));
        ct = ct_at(&enc, "documents.0.rnd", &len);
        assert_int_equal(ct[0], 2); /* random */
        assert_memory_equal(ct + 1, f->kid, 16);
        doc_at(&enc, "documents.0", &encdoc);
        from_json(&orig, docj);
        assert_true(decrypt_equals(f, &encdoc, &orig));
        bson_destroy(&orig);
        bson_destroy(&enc);
        free(cmd);
        free(docj);
    }
}

static void test_auto__key_alt_name_pointer(void **state)
{
    fx *f = *state;
    bson_t enc, encdoc, orig;
    uint32_t len;
    const uint8_t *ct;
    static const char docj[] = "{\"kname\": \"other\", \"alt\": \"SECRET-PHI-55\"}";
    char cmd[256];
    snprintf(cmd, sizeof cmd, "{\"insert\": \"patients\", \"documents\": [%s]}", docj);
    assert_int_equal(enc_cmd(f, cmd, &enc), 0);
    ct = ct_at(&enc, "documents.0.alt", &len);
    assert_memory_equal(ct + 1, f->kid2, 16); /* the key named by the pointer */
    doc_at(&enc, "documents.0", &encdoc);
    from_json(&orig, docj);
    assert_true(decrypt_equals(f, &encdoc, &orig));
    bson_destroy(&orig);
    bson_destroy(&enc);
    /* A pointer to a name no key has. */
    assert_int_equal(enc_cmd(f, "{\"insert\": \"patients\", \"documents\": [{\"kname\": \"nobody\", \"alt\": \"x\"}]}", &enc),
                     PHICRYPT_EKEYNOTFOUND);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "nobody"));
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "not all keys requested were satisfied"));
}

static void test_auto__find_update_delete(void **state)
{
    fx *f = *state;
    bson_t enc;
    uint32_t alen, elen;
    const uint8_t *a, *e;
    phicrypt_buf ex = PHICRYPT_BUF_INIT;
    explicit_det(f, "\"123-45-6789\"", &ex);
    e = ct_of_value_doc(&ex, &elen);

    /* find: {ssn: v} becomes {ssn: {$eq: ciphertext}}, as mongocryptd writes it. */
    assert_int_equal(enc_cmd(f, "{\"find\": \"patients\", \"filter\": {\"ssn\": \"123-45-6789\"}}", &enc), 0);
    a = ct_at(&enc, "filter.ssn.$eq", &alen);
    assert_true(alen == elen && memcmp(a, e, alen) == 0);
    bson_destroy(&enc);
    assert_int_equal(enc_cmd(f, "{\"find\": \"patients\", \"filter\": {\"ssn\": {\"$in\": [\"123-45-6789\", \"000-00-0000\"]}}}",
                             &enc), 0);
    a = ct_at(&enc, "filter.ssn.$in.0", &alen);
    assert_true(alen == elen && memcmp(a, e, alen) == 0);
    bson_destroy(&enc);
    /* update: $set values and the filter. */
    assert_int_equal(enc_cmd(f, "{\"update\": \"patients\", \"updates\": [{\"q\": {\"ssn\": \"123-45-6789\"},"
                                 " \"u\": {\"$set\": {\"diagnosis\": \"flu\", \"address.street\": \"1 Main\"}}}]}",
                             &enc), 0);
    a = ct_at(&enc, "updates.0.q.ssn.$eq", &alen);
    assert_true(alen == elen && memcmp(a, e, alen) == 0);
    ct_at(&enc, "updates.0.u.$set.diagnosis", &alen);
    {
        /* "address.street" is one key of $set: look it up literally. */
        bson_t set;
        bson_iter_t it;
        doc_at(&enc, "updates.0.u.$set", &set);
        assert_true(bson_iter_init_find(&it, &set, "address.street"));
        assert_true(BSON_ITER_HOLDS_BINARY(&it));
    }
    bson_destroy(&enc);
    /* delete */
    assert_int_equal(enc_cmd(f, "{\"delete\": \"patients\", \"deletes\": [{\"q\": {\"ssn\": \"123-45-6789\"}, \"limit\": 1}]}",
                             &enc), 0);
    a = ct_at(&enc, "deletes.0.q.ssn.$eq", &alen);
    assert_true(alen == elen && memcmp(a, e, alen) == 0);
    bson_destroy(&enc);
    phicrypt_buf_dispose(&ex);
}

static void test_auto__refusals_name_field_and_reason(void **state)
{
    fx *f = *state;
    static const struct {
        const char *cmd, *field, *why;
    } cases[] = {
        { "{\"find\": \"patients\", \"filter\": {\"diagnosis\": \"flu\"}}", "diagnosis", "random" },
        { "{\"find\": \"patients\", \"filter\": {\"ssn\": {\"$gt\": \"1\"}}}", "ssn", "$gt" },
        { "{\"find\": \"patients\", \"filter\": {\"ssn\": {\"$regex\": \"^1\"}}}", "ssn", "regular expression" },
        { "{\"insert\": \"patients\", \"documents\": [{\"ssn\": 5}]}", "ssn", "type" },
        { "{\"update\": \"patients\", \"updates\": [{\"q\": {}, \"u\": {\"$inc\": {\"d_int\": 1}}}]}", "d_int", "$inc" },
        { "{\"aggregate\": \"patients\", \"pipeline\": [{\"$group\": {\"_id\": \"$diagnosis\"}}], \"cursor\": {}}", "diagnosis", "randomized" },
        { "{\"aggregate\": \"patients\", \"pipeline\": [{\"$out\": \"x\"}], \"cursor\": {}}", "$out", "not supported" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bson_t enc;
        int rc = enc_cmd(f, cases[i].cmd, &enc);
        if (rc == 0) {
            bson_destroy(&enc);
            fail_msg("case %zu was not refused", i);
        }
        if (rc != PHICRYPT_ESCHEMA)
            fail_msg("case %zu: code %d (%s)", i, rc, phicrypt_errmsg(f->ph));
        if (!tu_contains(phicrypt_errmsg(f->ph), cases[i].field) || !tu_contains(phicrypt_errmsg(f->ph), cases[i].why))
            fail_msg("case %zu: message does not name '%s' and '%s': %s", i, cases[i].field, cases[i].why,
                     phicrypt_errmsg(f->ph));
    }
}

static void test_auto__other_collection_passes_through(void **state)
{
    fx *f = *state;
    bson_t enc, orig;
    static const char cmd[] = "{\"insert\": \"audit\", \"documents\": [{\"ssn\": \"123-45-6789\"}]}";
    assert_int_equal(enc_cmd(f, cmd, &enc), 0);
    from_json(&orig, cmd);
    {
        bson_iter_t it, d;
        assert_true(bson_iter_init(&it, &enc) && bson_iter_find_descendant(&it, "documents.0.ssn", &d));
        assert_true(BSON_ITER_HOLDS_UTF8(&d));
    }
    bson_destroy(&orig);
    bson_destroy(&enc);
}

/* Property: for random documents (random nesting, types, which fields are
 * present) under the fixture's schema, decrypt(encrypt(doc)) == doc, and no
 * value at an encrypted path survives in plaintext. */
static void test_auto__property_roundtrip_random_documents(void **state)
{
    fx *f = *state;
    uint32_t seed = 12345;
    for (int round = 0; round < 150; round++) {
        bson_t doc = BSON_INITIALIZER, cmd = BSON_INITIALIZER, arr, enc, encdoc;
        char markers[4][40];
        int nm = 0;
        phicrypt_buf b = PHICRYPT_BUF_INIT;
#define RNDN(n) ((seed = seed * 1103515245u + 12345u), (seed >> 16) % (n))
        BSON_APPEND_INT32(&doc, "_id", round);
        if (RNDN(2)) {
            snprintf(markers[nm], sizeof markers[nm], "PHI-ssn-%d-%u", round, RNDN(100000));
            BSON_APPEND_UTF8(&doc, "ssn", markers[nm]);
            nm++;
        }
        if (RNDN(2)) {
            snprintf(markers[nm], sizeof markers[nm], "PHI-dx-%d-%u", round, RNDN(100000));
            BSON_APPEND_UTF8(&doc, "diagnosis", markers[nm]);
            nm++;
        }
        if (RNDN(2)) {
            bson_t addr;
            BSON_APPEND_DOCUMENT_BEGIN(&doc, "address", &addr);
            snprintf(markers[nm], sizeof markers[nm], "PHI-st-%d-%u", round, RNDN(100000));
            BSON_APPEND_UTF8(&addr, "street", markers[nm]);
            nm++;
            BSON_APPEND_UTF8(&addr, "city", "Springfield"); /* not encrypted */
            bson_append_document_end(&doc, &addr);
        }
        switch (RNDN(4)) {
        case 0: BSON_APPEND_DOUBLE(&doc, "rnd", (double)RNDN(1000) / 7.0); break;
        case 1: {
            bson_t sub;
            BSON_APPEND_DOCUMENT_BEGIN(&doc, "rnd", &sub);
            snprintf(markers[nm], sizeof markers[nm], "PHI-rnd-%d-%u", round, RNDN(100000));
            BSON_APPEND_UTF8(&sub, "note", markers[nm]);
            nm++;
            bson_append_document_end(&doc, &sub);
            break;
        }
        case 2: BSON_APPEND_INT64(&doc, "d_long", (int64_t)RNDN(1u << 30) * 1000); break;
        default: break;
        }
        BSON_APPEND_UTF8(&doc, "visible", "kept in clear");
        BSON_APPEND_UTF8(&cmd, "insert", "patients");
        BSON_APPEND_ARRAY_BEGIN(&cmd, "documents", &arr);
        BSON_APPEND_DOCUMENT(&arr, "0", &doc);
        bson_append_array_end(&cmd, &arr);
        if (phicrypt_encrypt_command(f->ph, &b, "hospital", bson_get_data(&cmd), cmd.len) != 0)
            fail_msg("round %d: %s", round, phicrypt_errmsg(f->ph));
        for (int m = 0; m < nm; m++)
            if (memmem(b.data, b.len, markers[m], strlen(markers[m])))
                fail_msg("round %d: an encrypted value survived in plaintext", round);
        assert_non_null(memmem(b.data, b.len, "kept in clear", 13));
        assert_true(bson_init_static(&enc, b.data, b.len));
        doc_at(&enc, "documents.0", &encdoc);
        if (!decrypt_equals(f, &encdoc, &doc))
            fail_msg("round %d: decrypt(encrypt(doc)) != doc", round);
        phicrypt_buf_dispose(&b);
        bson_destroy(&doc);
        bson_destroy(&cmd);
    }
}

static void test_auto__unknown_key_in_schema(void **state)
{
    fx *f = *state;
    uint8_t ghost[16];
    char *k, *schema, ghost_uuid[37];
    phicrypt_t *ph;
    bson_t cmd;
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    memset(ghost, 0xab, sizeof ghost);
    k = b64(ghost, 16);
    assert_true(asprintf(&schema, "{\"hospital.patients\": {\"bsonType\": \"object\", \"properties\": {\"ssn\": {\"encrypt\":"
                                  " {\"keyId\": [{\"$binary\": {\"base64\": \"%s\", \"subType\": \"04\"}}], \"bsonType\":"
                                  " \"string\", \"algorithm\": \"" DET "\"}}}}}", k) > 0);
    ph = client_with_schema(f->dir, schema);
    from_json(&cmd, "{\"insert\": \"patients\", \"documents\": [{\"ssn\": \"1\"}]}");
    assert_int_equal(phicrypt_encrypt_command(ph, &b, "hospital", bson_get_data(&cmd), cmd.len), PHICRYPT_EKEYNOTFOUND);
    snprintf(ghost_uuid, sizeof ghost_uuid, "abababab-abab-abab-abab-abababababab");
    assert_true(tu_contains(phicrypt_errmsg(ph), ghost_uuid));
    /* issue 26: the drivers' phrase, for code that matches driver errors */
    assert_true(tu_contains(phicrypt_errmsg(ph), "not all keys requested were satisfied"));
    bson_destroy(&cmd);
    phicrypt_free(ph);
    free(schema);
    free(k);
}

static void test_auto__decrypt_document_nested(void **state)
{
    fx *f = *state;
    phicrypt_buf c1 = PHICRYPT_BUF_INIT, c2 = PHICRYPT_BUF_INIT, out = PHICRYPT_BUF_INIT;
    bson_t doc = BSON_INITIALIZER, sub, arr, view, expect;
    uint32_t l1, l2;
    const uint8_t *b1, *b2;
    explicit_det(f, "\"MRN-0042\"", &c1);
    explicit_det(f, "{\"$numberInt\": \"7\"}", &c2);
    b1 = ct_of_value_doc(&c1, &l1);
    b2 = ct_of_value_doc(&c2, &l2);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "a", &sub);
    BSON_APPEND_BINARY(&sub, "mrn", BSON_SUBTYPE_ENCRYPTED, b1, l1);
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_ARRAY_BEGIN(&doc, "visits", &arr);
    BSON_APPEND_BINARY(&arr, "0", BSON_SUBTYPE_ENCRYPTED, b2, l2);
    BSON_APPEND_UTF8(&arr, "1", "clear");
    bson_append_array_end(&doc, &arr);
    assert_int_equal(phicrypt_decrypt_document(f->ph, &out, bson_get_data(&doc), doc.len), 0);
    from_json(&expect, "{\"a\": {\"mrn\": \"MRN-0042\"}, \"visits\": [{\"$numberInt\": \"7\"}, \"clear\"]}");
    assert_true(bson_init_static(&view, out.data, out.len) && bson_equal(&view, &expect));
    bson_destroy(&expect);
    bson_destroy(&doc);
    phicrypt_buf_dispose(&out);
    phicrypt_buf_dispose(&c1);
    phicrypt_buf_dispose(&c2);
}

static void test_auto__encrypt_document_and_analyze(void **state)
{
    fx *f = *state;
    bson_t doc, view;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_iter_t it;
    from_json(&doc, "{\"name\": \"Ada\", \"ssn\": \"123-45-6789\", \"diagnosis\": \"SECRET-PHI-9\"}");
    assert_int_equal(phicrypt_encrypt_document(f->ph, &out, "hospital.patients", bson_get_data(&doc), doc.len), 0);
    assert_true(bson_init_static(&view, out.data, out.len));
    assert_true(bson_iter_init_find(&it, &view, "name") && BSON_ITER_HOLDS_UTF8(&it));
    assert_true(bson_iter_init_find(&it, &view, "diagnosis") && BSON_ITER_HOLDS_BINARY(&it));
    assert_null(memmem(out.data, out.len, "SECRET-PHI", 10));
    phicrypt_buf_dispose(&out);
    assert_int_equal(phicrypt_encrypt_document(f->ph, &out, "nodot", bson_get_data(&doc), doc.len), PHICRYPT_EINVAL);
    bson_destroy(&doc);

    from_json(&doc, "{\"insert\": \"patients\", \"documents\": [{\"ssn\": \"SECRET-PHI-1\", \"alt\": 1, \"kname\": \"other\"}]}");
    assert_int_equal(phicrypt_analyze_command(f->ph, &out, "hospital", bson_get_data(&doc), doc.len), 0);
    assert_null(memmem(out.data, out.len, "SECRET-PHI", 10)); /* never values */
    assert_true(bson_init_static(&view, out.data, out.len));
    assert_true(bson_iter_init_find(&it, &view, "ok") && bson_iter_bool(&it));
    {
        char *json = bson_as_relaxed_extended_json(&view, NULL);
        assert_true(tu_contains(json, "documents.0.ssn"));
        assert_true(tu_contains(json, "deterministic"));
        assert_true(tu_contains(json, "\"keyAltName\" : \"other\""));
        bson_free(json);
    }
    phicrypt_buf_dispose(&out);
    bson_destroy(&doc);
    from_json(&doc, "{\"find\": \"patients\", \"filter\": {\"diagnosis\": \"SECRET-PHI-2\"}}");
    assert_int_equal(phicrypt_analyze_command(f->ph, &out, "hospital", bson_get_data(&doc), doc.len), 0);
    assert_true(bson_init_static(&view, out.data, out.len));
    assert_true(bson_iter_init_find(&it, &view, "ok") && !bson_iter_bool(&it));
    assert_null(memmem(out.data, out.len, "SECRET-PHI", 10));
    phicrypt_buf_dispose(&out);
    bson_destroy(&doc);
}

static void test_auto__bad_arguments(void **state)
{
    fx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t cmd = BSON_INITIALIZER;
    uint8_t junk[8] = { 8, 0, 0, 0, 3, 'x', 0, 0 };
    assert_int_equal(phicrypt_encrypt_command(NULL, &out, "hospital", bson_get_data(&cmd), cmd.len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_encrypt_command(f->ph, &out, NULL, bson_get_data(&cmd), cmd.len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_encrypt_command(f->ph, &out, "bad.db", bson_get_data(&cmd), cmd.len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_encrypt_command(f->ph, &out, "hospital", bson_get_data(&cmd), cmd.len), PHICRYPT_EBADDATA);
    assert_int_equal(phicrypt_encrypt_command(f->ph, &out, "hospital", junk, sizeof junk), PHICRYPT_EBADDATA);
    assert_int_equal(phicrypt_decrypt_document(f->ph, &out, junk, sizeof junk), PHICRYPT_EBADDATA);
    assert_int_equal(phicrypt_decrypt_document(f->ph, NULL, junk, sizeof junk), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_analyze_command(f->ph, &out, "", bson_get_data(&cmd), cmd.len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_json_to_bson(f->ph, NULL, "{}", 2), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_json_to_bson(f->ph, &out, NULL, 0), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_json_to_bson(f->ph, &out, "{\"ssn\": \"SECRET", 15), PHICRYPT_EBADDATA);
    assert_false(tu_contains(phicrypt_errmsg(f->ph), "SECRET"));
    assert_int_equal(phicrypt_json_to_bson(NULL, &out, "[1]", 3), PHICRYPT_EBADDATA);
    assert_null(out.data);
}

static int holds_binary(const bson_t *doc, const char *path)
{
    bson_iter_t it, d;
    return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &d) && BSON_ITER_HOLDS_BINARY(&d);
}

/* Parsed schemas are cached per thread by their bytes: two clients in one
 * thread whose schema maps differ for the same namespace each get their
 * own schema, call after call, and a schema refused once is refused again. */
static void test_auto__schema_cache_follows_the_schema(void **state)
{
    fx *f = *state;
    char *k = b64(f->kid, 16), *sa, *sb;
#define SCHEMA_FMT                                                                                                    \
    "{\"hospital.patients\": {\"bsonType\": \"object\", \"properties\": {\"%s\": {\"encrypt\": "                          \
    "{\"keyId\": [{\"$binary\": {\"base64\": \"%s\", \"subType\": \"04\"}}], "                                          \
    "\"bsonType\": \"string\", \"algorithm\": \"" DET "\"}}}}}"
    assert_true(asprintf(&sa, SCHEMA_FMT, "ssn", k) > 0);
    assert_true(asprintf(&sb, SCHEMA_FMT, "mrn", k) > 0);
#undef SCHEMA_FMT
    phicrypt_t *a = client_with_schema(f->dir, sa), *b = client_with_schema(f->dir, sb), *saved = f->ph;
    const char *cmd = "{\"insert\": \"patients\", \"documents\": [{\"ssn\": \"1\", \"mrn\": \"2\"}]}";
    for (int i = 0; i < 20; i++) {
        bson_t out;
        f->ph = i % 2 ? b : a;
        assert_int_equal(enc_cmd(f, cmd, &out), 0);
        assert_int_equal(holds_binary(&out, "documents.0.ssn"), i % 2 == 0);
        assert_int_equal(holds_binary(&out, "documents.0.mrn"), i % 2 == 1);
        bson_destroy(&out);
    }
    f->ph = saved;
    phicrypt_free(a);
    phicrypt_free(b);
    free(sa);
    free(sb);
    free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auto__insert_matches_explicit_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__random_any_type_roundtrips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__key_alt_name_pointer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__find_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__refusals_name_field_and_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__other_collection_passes_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__property_roundtrip_random_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__unknown_key_in_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__decrypt_document_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__encrypt_document_and_analyze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto__schema_cache_follows_the_schema, setup, teardown),
    };
    return cmocka_run_group_tests_name("auto", tests, NULL, NULL);
}
