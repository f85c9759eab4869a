/* The configuration document: valid forms and every refusal. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "phi_config.h"
#include "test_util.h"

/* The configurations below are printf templates by design. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

typedef struct fx {
    char *dir;
    char key_path[4096];
    char vault_path[4096];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char *cfg;
    f->dir = tu_tmpdir();
    cfg = tu_keyset(f->dir, NULL);
    free(cfg);
    snprintf(f->key_path, sizeof f->key_path, "%s/master.key", f->dir);
    snprintf(f->vault_path, sizeof f->vault_path, "%s/keyvault.jsonl", f->dir);
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

/* phicrypt_new on a config built from a printf template whose %s are the
 * key file and the vault path. */
static int try_config(fx *f, const char *tmpl)
{
    char *cfg;
    phicrypt_t *ph = NULL;
    int rc;
    if (asprintf(&cfg, tmpl, f->key_path, f->vault_path) < 0)
        fail_msg("asprintf");
    rc = phicrypt_new(&ph, cfg);
    free(cfg);
    if (rc == 0)
        assert_non_null(ph);
    else
        assert_null(ph);
    phicrypt_free(ph);
    return rc;
}

#define GOOD_KMS "\"kms_providers\": {\"local\": {\"key_file\": \"%s\"}}"

static void test_config__minimal_valid(void **state)
{
    fx *f = *state;
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\"}"), 0);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\","
                                   " \"key_vault_namespace\": \"enc.keys\","
                                   " \"schema_map\": {\"hospital.patients\": {\"bsonType\": \"object\"}}}"),
                     0);
}

static void test_config__inline_base64_key(void **state)
{
    fx *f = *state;
    uint8_t key[96];
    char b64[200], *cfg;
    phicrypt_t *ph = NULL;
    memset(key, 7, sizeof key);
    sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    assert_true(asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key\": \"%s\"}}, \"key_vault\": \"file:%s\"}", b64,
                         f->vault_path) > 0);
    assert_int_equal(phicrypt_new(&ph, cfg), 0);
    phicrypt_free(ph);
    free(cfg);
    assert_true(asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key\": \"QUJD\"}}, \"key_vault\": \"file:%s\"}",
                         f->vault_path) > 0);
    assert_int_equal(phicrypt_new(&ph, cfg), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "96 bytes"));
    free(cfg);
}

static void test_config__keyring_file_must_exist(void **state)
{
    fx *f = *state;
    char path[4096];
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"keyring\": \"file:/nonexistent/kr.jsonl\"}"),
                     PHICRYPT_EKEYVAULT);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "/nonexistent/kr.jsonl"));
    snprintf(path, sizeof path, "%s/kr.jsonl", f->dir);
    tu_write_file(path, "", 0, 0600);
    {
        char *cfg;
        phicrypt_t *ph = NULL;
        assert_true(asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s\"}}, \"key_vault\": \"file:%s\","
                                   " \"keyring\": \"file:%s\"}", f->key_path, f->vault_path, path) > 0);
        assert_int_equal(phicrypt_new(&ph, cfg), 0);
        phicrypt_free(ph);
        free(cfg);
    }
}

static void test_config__tuning_options(void **state)
{
    fx *f = *state;
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"crypto_hooks\": false}"), 0);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"crypto_hooks\": 1}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"key_cache_ttl_ms\": 60000}"), 0);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"key_cache_ttl_ms\": -1}"), PHICRYPT_ECONFIG);
#ifndef PHI_HAVE_MONGOCRYPT_KEY_EXPIRATION
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"key_cache_ttl_ms\": 1000}"),
                     PHICRYPT_EUNSUPPORTED);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "60000"));
#endif
}

static void test_config__unknown_keys_are_named(void **state)
{
    fx *f = *state;
    assert_int_equal(try_config(f, "{\"kms_provider\": {\"local\": {\"key_file\": \"%s\"}}, \"key_vault\": \"file:%s\"}"),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "'kms_provider'"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "did you mean 'kms_providers'"));
    assert_int_equal(try_config(f, "{\"kms_providers\": {\"local\": {\"keyfile\": \"%s\"}}, \"key_vault\": \"file:%s\"}"),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_providers.local.keyfile"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "key_file"));
    assert_int_equal(try_config(f, "{\"kms_providers\": {\"locale\": {\"key_file\": \"%s\"}}, \"key_vault\": \"file:%s\"}"),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_providers.locale"));
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"colour\": 1}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "'colour'"));
}

static void test_config__key_file_permissions_and_size(void **state)
{
    fx *f = *state;
    chmod(f->key_path, 0644);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\"}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "too open"));
    chmod(f->key_path, 0600);
    tu_write_file(f->key_path, "short", 5, 0600);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\"}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "96 bytes"));
    assert_int_equal(try_config(f, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s.missing\"}}, \"key_vault\": \"file:%s\"}"),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), ".missing"));
}

static void test_config__structural_errors(void **state)
{
    fx *f = *state;
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\""), PHICRYPT_ECONFIG); /* bad JSON */
    assert_int_equal(try_config(f, "{" GOOD_KMS "}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "key_vault"));
    assert_int_equal(try_config(f, "{\"key_vault\": \"file:%s%s\"}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{\"kms_providers\": {}, \"key_vault\": \"file:%s%s\"}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{\"kms_providers\": {\"local\": {}}, \"key_vault\": \"file:%s%s\"}"),
                     PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": 5}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"s3:%s\"}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"key_vault_namespace\": \"nodot\"}"),
                     PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"schema_map\": []}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s\", \"schema_map\": {\"nodot\": {}}}"),
                     PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"file:%s.missing\"}"), PHICRYPT_EKEYVAULT);
    assert_true(tu_contains(phicrypt_errmsg(NULL), ".missing"));
    {
        phicrypt_t *ph = (phicrypt_t *)1;
        assert_int_equal(phicrypt_new(&ph, NULL), PHICRYPT_EINVAL);
        assert_null(ph);
        assert_int_equal(phicrypt_new(NULL, "{}"), PHICRYPT_EINVAL);
    }
}

static void test_config__remote_providers_are_checked(void **state)
{
    fx *f = *state;
    /* Remote providers are accepted ({} = on demand); their keys are checked. */
    assert_int_equal(try_config(f, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s\"}, \"aws\": {}},"
                                   " \"key_vault\": \"file:%s\"}"),
                     0);
    assert_int_equal(try_config(f, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s\"}, \"aws\": "
                                   "{\"accesKeyId\": \"x\"}}, \"key_vault\": \"file:%s\"}"),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_providers.aws.accesKeyId"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "accessKeyId"));
#ifdef PHI_HAVE_MONGOC
    /* Opening a MongoDB key vault does not connect; a bad URI is refused. */
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"mongodb://localhost:1/?appname=x%.0s\"}"), 0);
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"mongodb://:@%s\"}"), PHICRYPT_ECONFIG);
#else
    assert_int_equal(try_config(f, "{" GOOD_KMS ", \"key_vault\": \"mongodb://localhost%s\"}"), PHICRYPT_EUNSUPPORTED);
#endif
}

static void test_config__from_file_resolves_relative_paths(void **state)
{
    fx *f = *state;
    char path[4096];
    phicrypt_t *ph = NULL;
    static const char cfg[] = "{\"kms_providers\": {\"local\": {\"key_file\": \"master.key\"}},"
                              " \"key_vault\": \"file:keyvault.jsonl\"}";
    snprintf(path, sizeof path, "%s/phicrypt.json", f->dir);
    tu_write_file(path, cfg, strlen(cfg), 0600);
    assert_int_equal(phicrypt_new_from_file(&ph, path), 0);
    phicrypt_free(ph);
    assert_int_equal(phicrypt_new_from_file(&ph, "/nonexistent/phicrypt.json"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "/nonexistent/phicrypt.json"));
}

/* phicrypt_new_from_file_opts: the overrides replace the file's key vault
 * (relative to the file's directory) and namespace; bad ones are refused. */
static void test_config__open_opts_override_key_vault(void **state)
{
    fx *f = *state;
    char path[4096], other[4096];
    phicrypt_t *ph = NULL;
    phicrypt_open_opts o = PHICRYPT_OPEN_OPTS_INIT;
    static const char cfg[] = "{\"kms_providers\": {\"local\": {\"key_file\": \"master.key\"}},"
                              " \"key_vault\": \"file:keyvault.jsonl\"}";
    snprintf(path, sizeof path, "%s/phicrypt.json", f->dir);
    tu_write_file(path, cfg, strlen(cfg), 0600);
    assert_int_equal(phicrypt_new_from_file_opts(&ph, path, NULL), 0);
    phicrypt_free(ph);
    /* a vault that does not exist: the override is what is opened */
    o.key_vault = "file:missing.jsonl";
    assert_int_equal(phicrypt_new_from_file_opts(&ph, path, &o), PHICRYPT_EKEYVAULT);
    assert_null(ph);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "missing.jsonl"));
    snprintf(other, sizeof other, "%s/other.jsonl", f->dir);
    tu_write_file(other, "", 0, 0600);
    o.key_vault = "file:other.jsonl";
    o.key_vault_namespace = "kv.keys";
    assert_int_equal(phicrypt_new_from_file_opts(&ph, path, &o), 0);
    phicrypt_free(ph);
    ph = NULL;
    o.key_vault_namespace = "nodot";
    assert_int_equal(phicrypt_new_from_file_opts(&ph, path, &o), PHICRYPT_ECONFIG);
    assert_null(ph);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "db.collection"));
    o.key_vault_namespace = NULL;
    o.key_vault = "http://127.0.0.1/";
    assert_int_equal(phicrypt_new_from_file_opts(&ph, path, &o), PHICRYPT_ECONFIG);
    o.key_vault = NULL;
    o.version = 99;
    assert_int_equal(phicrypt_new_from_file_opts(&ph, path, &o), PHICRYPT_EINVAL);
    assert_null(ph);
}

static void test_config__inline_key_never_in_messages(void **state)
{
    fx *f = *state;
    char *cfg;
    phicrypt_t *ph = NULL;
    /* A valid inline key next to an error elsewhere: the key text must not
     * be echoed. */
    static const char key[] = "U0VDUkVULUtFWS1NQVRFUklBTC0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw";
    assert_true(asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key\": \"%s\"}}, \"key_vault\": \"file:%s\", \"bad\": 1}",
                         key, f->vault_path) > 0);
    assert_int_equal(phicrypt_new(&ph, cfg), PHICRYPT_ECONFIG);
    assert_false(tu_contains(phicrypt_errmsg(NULL), "U0VDUkVU"));
    free(cfg);
    assert_true(asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key\": \"%s\" oops}}}", key) > 0);
    assert_int_equal(phicrypt_new(&ph, cfg), PHICRYPT_ECONFIG);
    assert_false(tu_contains(phicrypt_errmsg(NULL), "U0VDUkVU"));
    free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config__minimal_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__inline_base64_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__unknown_keys_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__keyring_file_must_exist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__tuning_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__key_file_permissions_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__structural_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__remote_providers_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__from_file_resolves_relative_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__inline_key_never_in_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config__open_opts_override_key_vault, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
