/* Named local providers ("local:ward-a") on libmongocrypt 1.7: keys under
 * two names, one document with fields under both, interoperability of
 * phicrypt's re-wrap with libmongocrypt's own local key wrap, and the
 * refusals (wrong key, unknown name, bad names, named remote providers). */
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

typedef struct fx {
    char *dir;
    uint8_t ka[96], kb[96];
    char a64[200], b64[200];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char path[4096];
    f->dir = tu_tmpdir();
    randombytes_buf(f->ka, 96);
    randombytes_buf(f->kb, 96);
    sodium_bin2base64(f->a64, sizeof f->a64, f->ka, 96, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(f->b64, sizeof f->b64, f->kb, 96, sodium_base64_VARIANT_ORIGINAL);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    tu_write_file(path, "", 0, 0600);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A client whose kms_providers are `providers` (JSON members). */
static int client(fx *f, phicrypt_t **ph, const char *providers)
{
    char *cfg;
    int rc;
    assert_true(asprintf(&cfg, "{\"kms_providers\": {%s}, \"key_vault\": \"file:%s/keyvault.jsonl\"}", providers,
                         f->dir) > 0);
    rc = phicrypt_new(ph, cfg);
    free(cfg);
    return rc;
}

static phicrypt_t *two_wards(fx *f)
{
    char prov[600];
    phicrypt_t *ph = NULL;
    snprintf(prov, sizeof prov, "\"local:ward-a\": {\"key\": \"%s\"}, \"local:ward-b\": {\"key\": \"%s\"}", f->a64,
             f->b64);
    if (client(f, &ph, prov) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    return ph;
}

static void make_key(phicrypt_t *ph, const char *provider, const char *alt, uint8_t id[16])
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[1] = { alt };
    o.provider = provider;
    o.alt_names = names;
    o.alt_names_count = 1;
    if (phicrypt_datakey_create(ph, id, &o) != 0)
        fail_msg("datakey_create %s: %s", provider, phicrypt_errmsg(ph));
}

static char *encrypt(phicrypt_t *ph, const char *value, const char *alt)
{
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char *s;
    o.key_alt_name = alt;
    if (phicrypt_encrypt_json(ph, &out, value, &o) != 0)
        fail_msg("encrypt under %s: %s", alt, phicrypt_errmsg(ph));
    s = strdup((const char *)out.data);
    phicrypt_buf_dispose(&out);
    return s;
}

/* Rewrites the key vault file, replacing `from` by `to` everywhere. */
static void relabel(fx *f, const char *from, const char *to)
{
    char path[4096], *text, *out, *p, *q;
    size_t len, n = 0;
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    text = tu_read_file(path, &len);
    assert_non_null(text);
    out = calloc(1, len * 2 + 64);
    for (p = text; (q = strstr(p, from)) != NULL; p = q + strlen(from)) {
        memcpy(out + n, p, (size_t)(q - p));
        n += (size_t)(q - p);
        memcpy(out + n, to, strlen(to));
        n += strlen(to);
    }
    memcpy(out + n, p, strlen(p));
    n += strlen(p);
    tu_write_file(path, out, n, 0600);
    free(text);
    free(out);
}

static void test_kms_named__two_names_one_document(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = two_wards(f), *again;
    uint8_t ida[16], idb[16];
    char *ca, *cb, *json;
    phicrypt_buf doc = PHICRYPT_BUF_INIT, plain = PHICRYPT_BUF_INIT, kd = PHICRYPT_BUF_INIT;
    bson_t view;
    bson_iter_t it;

    make_key(ph, "local:ward-a", "ka", ida);
    make_key(ph, "local:ward-b", "kb", idb);
    /* The key document names its provider; nothing else marks it. */
    assert_int_equal(phicrypt_datakey_get(ph, &kd, idb), 0);
    assert_true(bson_init_static(&view, kd.data, kd.len));
    assert_true(bson_iter_init(&it, &view) && bson_iter_find_descendant(&it, "masterKey.provider", &it));
    assert_string_equal(bson_iter_utf8(&it, NULL), "local:ward-b");
    phicrypt_buf_dispose(&kd);

    ca = encrypt(ph, "\"123-45-6789\"", "ka");
    cb = encrypt(ph, "\"MRN-0042\"", "kb");
    phicrypt_free(ph);
    /* A fresh process-like client (its own bridge key) decrypts both in one document. */
    again = two_wards(f);
    assert_true(asprintf(&json, "{\"ssn\": %s, \"mrn\": %s}", ca, cb) > 0);
    assert_int_equal(phicrypt_json_to_bson(again, &doc, json, strlen(json)), 0);
    assert_int_equal(phicrypt_decrypt_document(again, &plain, doc.data, doc.len), 0);
    assert_true(bson_init_static(&view, plain.data, plain.len));
    assert_true(bson_iter_init_find(&it, &view, "ssn") && BSON_ITER_HOLDS_UTF8(&it));
    assert_string_equal(bson_iter_utf8(&it, NULL), "123-45-6789");
    assert_true(bson_iter_init_find(&it, &view, "mrn") && BSON_ITER_HOLDS_UTF8(&it));
    assert_string_equal(bson_iter_utf8(&it, NULL), "MRN-0042");
    phicrypt_buf_dispose(&doc);
    phicrypt_buf_dispose(&plain);
    free(json);
    free(ca);
    free(cb);
    phicrypt_free(again);
}

/* Keys libmongocrypt wrapped with a plain local key read under a name, and
 * keys phicrypt wrapped (bridged "local") read by plain libmongocrypt. */
static void test_kms_named__interoperates_with_libmongocrypt_local_wrap(void **state)
{
    fx *f = *state;
    char prov[600], *c1, *c2;
    phicrypt_t *plain = NULL, *named = NULL, *mixed = NULL;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    uint8_t id[16];

    snprintf(prov, sizeof prov, "\"local\": {\"key\": \"%s\"}", f->a64);
    assert_int_equal(client(f, &plain, prov), 0);
    make_key(plain, "local", "by-libmongocrypt", id);
    c1 = encrypt(plain, "\"alpha\"", "by-libmongocrypt");
    phicrypt_free(plain);

    /* Bridged client: "local" plus a named key; the plain local key is
     * unwrapped by phicrypt, and a new "local" key is wrapped by phicrypt. */
    snprintf(prov, sizeof prov, "\"local\": {\"key\": \"%s\"}, \"local:ward-b\": {\"key\": \"%s\"}", f->a64, f->b64);
    assert_int_equal(client(f, &mixed, prov), 0);
    assert_int_equal(phicrypt_decrypt_json(mixed, &out, c1, 0), 0);
    assert_string_equal((const char *)out.data, "\"alpha\"");
    make_key(mixed, "local", "by-phicrypt", id);
    c2 = encrypt(mixed, "\"beta\"", "by-phicrypt");
    phicrypt_free(mixed);

    /* libmongocrypt alone (no bridge) unwraps phicrypt's wrap. */
    snprintf(prov, sizeof prov, "\"local\": {\"key\": \"%s\"}", f->a64);
    assert_int_equal(client(f, &plain, prov), 0);
    assert_int_equal(phicrypt_decrypt_json(plain, &out, c2, 0), 0);
    assert_string_equal((const char *)out.data, "\"beta\"");
    phicrypt_free(plain);

    /* The same key documents moved under a name. */
    relabel(f, "\"local\"", "\"local:ward-a\"");
    snprintf(prov, sizeof prov, "\"local:ward-a\": {\"key\": \"%s\"}", f->a64);
    assert_int_equal(client(f, &named, prov), 0);
    assert_int_equal(phicrypt_decrypt_json(named, &out, c1, 0), 0);
    assert_string_equal((const char *)out.data, "\"alpha\"");
    assert_int_equal(phicrypt_decrypt_json(named, &out, c2, 0), 0);
    assert_string_equal((const char *)out.data, "\"beta\"");
    phicrypt_buf_dispose(&out);
    phicrypt_free(named);
    free(c1);
    free(c2);
}

/* A key relabelled to the other ward's name fails authentication; the
 * message names the key and provider and holds no key bytes. */
static void test_kms_named__wrong_master_key_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = two_wards(f);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    char *c;
    make_key(ph, "local:ward-a", "ka", id);
    c = encrypt(ph, "\"secret-value\"", "ka");
    phicrypt_free(ph);
    relabel(f, "local:ward-a", "local:ward-b");
    ph = two_wards(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_EAUTH);
    assert_true(tu_contains(phicrypt_errmsg(ph), "local:ward-b"));
    assert_false(tu_contains(phicrypt_errmsg(ph), f->a64));
    assert_false(tu_contains(phicrypt_errmsg(ph), f->b64));
    assert_false(tu_contains(phicrypt_errmsg(ph), "secret-value"));
    phicrypt_free(ph);
    /* Under a name nobody configured: a configuration error naming it. */
    relabel(f, "local:ward-b", "local:ward-z");
    ph = two_wards(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(ph), "local:ward-z"));
    phicrypt_free(ph);
    free(c);
}

/* A tampered keyMaterial under a named key fails authentication. */
static void test_kms_named__tampered_key_material_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = two_wards(f);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char path[4096], *text, *km;
    size_t len;
    uint8_t id[16];
    char *c;
    make_key(ph, "local:ward-a", "ka", id);
    c = encrypt(ph, "1", "ka");
    phicrypt_free(ph);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    text = tu_read_file(path, &len);
    km = strstr(text, "keyMaterial");
    assert_non_null(km);
    km = strstr(km, "base64");
    assert_non_null(km);
    km += 40; /* inside the base64 text, past the IV */
    *km = *km == 'A' ? 'B' : 'A';
    tu_write_file(path, text, len, 0600);
    free(text);
    ph = two_wards(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_EAUTH);
    phicrypt_free(ph);
    free(c);
}

static void test_kms_named__bad_names_refused(void **state)
{
    fx *f = *state;
    static const char *const bad[] = { "local:", "local:Ward", "local:a b", "local:ward/a", NULL };
    char prov[600];
    phicrypt_t *ph = NULL;
    for (size_t i = 0; bad[i]; i++) {
        snprintf(prov, sizeof prov, "\"%s\": {\"key\": \"%s\"}", bad[i], f->a64);
        assert_int_equal(client(f, &ph, prov), PHICRYPT_ECONFIG);
        assert_null(ph);
        assert_true(tu_contains(phicrypt_errmsg(NULL), bad[i]));
    }
    /* A short key under a name: the error names where. */
    snprintf(prov, sizeof prov, "\"local:ward-a\": {\"key\": \"AAAA\"}");
    assert_int_equal(client(f, &ph, prov), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_providers.local:ward-a.key"));
    /* Creating a key under a name that is not configured. */
    ph = two_wards(f);
    {
        phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
        uint8_t id[16];
        o.provider = "local:ward-c";
        assert_int_equal(phicrypt_datakey_create(ph, id, &o), PHICRYPT_ECONFIG);
        assert_true(tu_contains(phicrypt_errmsg(ph), "local:ward-c"));
    }
    phicrypt_free(ph);
}

/* Named remote providers need libmongocrypt 1.9: on an older one the
 * configuration is refused with the reason, before any network. */
static void test_kms_named__named_remote_needs_libmongocrypt_19(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    int major = 0, minor = 0;
    sscanf(phicrypt_mongocrypt_version(), "%d.%d", &major, &minor);
    if (major > 1 || (major == 1 && minor >= 9))
        skip();
    assert_int_equal(client(f, &ph, "\"aws:eu\": {\"accessKeyId\": \"x\", \"secretAccessKey\": \"y\"}"),
                     PHICRYPT_EUNSUPPORTED);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "aws:eu"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "1.9"));
    assert_int_equal(client(f, &ph, "\"awz:eu\": {}"), PHICRYPT_ECONFIG);
}

static const char *provider_of(phicrypt_t *ph, const char *alt)
{
    static char name[64];
    phicrypt_buf kd = PHICRYPT_BUF_INIT;
    bson_t view;
    bson_iter_t it;
    assert_int_equal(phicrypt_datakey_get_by_alt_name(ph, &kd, alt), 0);
    assert_true(bson_init_static(&view, kd.data, kd.len));
    assert_true(bson_iter_init(&it, &view) && bson_iter_find_descendant(&it, "masterKey.provider", &it));
    snprintf(name, sizeof name, "%s", bson_iter_utf8(&it, NULL));
    phicrypt_buf_dispose(&kd);
    return name;
}

/* Rewrapping moves keys between a named key, the standard "local" provider
 * and back, and a rewrap under each key's own master key keeps each where
 * it was: never under the bridge key, which dies with the client. */
static void test_kms_named__rewrap_moves_keys_and_never_leaves_them_under_the_bridge(void **state)
{
    fx *f = *state;
    char prov[800], *c1, *c2;
    phicrypt_t *ph = NULL, *plain = NULL;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    size_t n = 0;
    snprintf(prov, sizeof prov,
             "\"local\": {\"key\": \"%s\"}, \"local:ward-a\": {\"key\": \"%s\"}, \"local:ward-b\": {\"key\": \"%s\"}",
             f->a64, f->b64, f->a64);
    assert_int_equal(client(f, &ph, prov), 0);
    make_key(ph, "local:ward-a", "k1", id);
    make_key(ph, "local:ward-b", "k2", id);
    c1 = encrypt(ph, "\"one\"", "k1");
    c2 = encrypt(ph, "\"two\"", "k2");
    /* To the standard provider: then any MongoDB driver reads it. */
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{\"keyAltNames\": \"k1\"}", "local", NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(provider_of(ph, "k1"), "local");
    /* Under each key's own master key. */
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{}", NULL, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(provider_of(ph, "k1"), "local");
    assert_string_equal(provider_of(ph, "k2"), "local:ward-b");
    phicrypt_free(ph);
    snprintf(prov, sizeof prov, "\"local\": {\"key\": \"%s\"}", f->a64);
    assert_int_equal(client(f, &plain, prov), 0);
    assert_int_equal(phicrypt_decrypt_json(plain, &out, c1, 0), 0);
    assert_string_equal((const char *)out.data, "\"one\"");
    phicrypt_free(plain);
    /* And back under a name; a fresh client reads both. */
    snprintf(prov, sizeof prov,
             "\"local\": {\"key\": \"%s\"}, \"local:ward-a\": {\"key\": \"%s\"}, \"local:ward-b\": {\"key\": \"%s\"}",
             f->a64, f->b64, f->a64);
    assert_int_equal(client(f, &ph, prov), 0);
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{\"keyAltNames\": \"k1\"}", "local:ward-a", NULL), 0);
    assert_string_equal(provider_of(ph, "k1"), "local:ward-a");
    phicrypt_free(ph);
    assert_int_equal(client(f, &ph, prov), 0);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c1, 0), 0);
    assert_string_equal((const char *)out.data, "\"one\"");
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c2, 0), 0);
    assert_string_equal((const char *)out.data, "\"two\"");
    /* A name that is not configured. */
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{}", "local:ward-z", NULL), PHICRYPT_ECONFIG);
    phicrypt_buf_dispose(&out);
    phicrypt_free(ph);
    free(c1);
    free(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_named__two_names_one_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_named__interoperates_with_libmongocrypt_local_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_named__wrong_master_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_named__tampered_key_material_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_named__bad_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_named__named_remote_needs_libmongocrypt_19, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_named__rewrap_moves_keys_and_never_leaves_them_under_the_bridge,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
