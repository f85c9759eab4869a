/* KMS plug-ins: the example XChaCha20-Poly1305 module loaded from the
 * configuration ("kms_plugins"), a table registered in C, and the refusals
 * (bad names and tables, modules that do not load, plug-in errors passed
 * through with their code, oversized output). */
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
    char wrapkey[4096];
} fx;

static const char *module_path(void)
{
    const char *p = getenv("PHICRYPT_TEST_XCHACHA_PLUGIN");
    if (!p || !*p)
        fail_msg("PHICRYPT_TEST_XCHACHA_PLUGIN is not set (tests/meson.build sets it)");
    return p;
}

static void new_wrap_key(fx *f)
{
    uint8_t k[32];
    randombytes_buf(k, sizeof k);
    tu_write_file(f->wrapkey, k, sizeof k, 0600);
    sodium_memzero(k, sizeof k);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char path[4096];
    f->dir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    tu_write_file(path, "", 0, 0600);
    snprintf(f->wrapkey, sizeof f->wrapkey, "%s/wrap.key", f->dir);
    new_wrap_key(f);
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

/* A client with the xc plug-in (and `extra` configuration members). */
static int client(fx *f, phicrypt_t **ph, const char *module, const char *options)
{
    char *cfg;
    int rc;
    assert_true(asprintf(&cfg,
                         "{\"kms_plugins\": {\"xc\": {\"module\": \"%s\", \"options\": %s}},"
                         " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                         module, options, f->dir) > 0);
    rc = phicrypt_new(ph, cfg);
    free(cfg);
    return rc;
}

static phicrypt_t *xc_client(fx *f)
{
    char opts[4200];
    phicrypt_t *ph = NULL;
    snprintf(opts, sizeof opts, "{\"key_file\": \"%s\"}", f->wrapkey);
    if (client(f, &ph, module_path(), opts) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    return ph;
}

static int make_key(phicrypt_t *ph, const char *provider, const char *alt, uint8_t id[16])
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[1] = { alt };
    o.provider = provider;
    o.alt_names = names;
    o.alt_names_count = 1;
    return phicrypt_datakey_create(ph, id, &o);
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

static void test_kms_plugin__module_from_config_roundtrip(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = xc_client(f);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    char *c1, *c2, path[4096], *vault;
    size_t len;

    assert_int_equal(make_key(ph, "xc", "k1", id), 0);
    assert_int_equal(make_key(ph, "xc:ward-a", "k2", id), 0);
    c1 = encrypt(ph, "\"alpha\"", "k1");
    c2 = encrypt(ph, "\"beta\"", "k2");
    phicrypt_free(ph);
    /* The vault holds the plug-in's wrapping, under the plug-in's name. */
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    vault = tu_read_file(path, &len);
    assert_true(tu_contains(vault, "\"xc:ward-a\""));
    assert_true(tu_contains(vault, "\"xc\""));
    free(vault);

    ph = xc_client(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c1, 0), 0);
    assert_string_equal((const char *)out.data, "\"alpha\"");
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c2, 0), 0);
    assert_string_equal((const char *)out.data, "\"beta\"");
    phicrypt_free(ph);

    /* Another wrap key: the plug-in's refusal comes through as EAUTH,
     * naming the key's provider. */
    new_wrap_key(f);
    ph = xc_client(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c2, 0), PHICRYPT_EAUTH);
    assert_true(tu_contains(phicrypt_errmsg(ph), "xc"));
    assert_true(tu_contains(phicrypt_errmsg(ph), "does not authenticate"));
    assert_false(tu_contains(phicrypt_errmsg(ph), "beta"));
    phicrypt_buf_dispose(&out);
    phicrypt_free(ph);
    free(c1);
    free(c2);
}

/* A key wrapped for "xc:ward-a" relabelled "xc:ward-b" does not unwrap
 * (the example binds the provider name). */
static void test_kms_plugin__relabelled_provider_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = xc_client(f);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char path[4096], *vault, *p;
    size_t len;
    uint8_t id[16];
    char *c;
    assert_int_equal(make_key(ph, "xc:ward-a", "k", id), 0);
    c = encrypt(ph, "7", "k");
    phicrypt_free(ph);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    vault = tu_read_file(path, &len);
    assert_non_null(p = strstr(vault, "xc:ward-a"));
    p[8] = 'b';
    tu_write_file(path, vault, len, 0600);
    free(vault);
    ph = xc_client(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_EAUTH);
    phicrypt_free(ph);
    free(c);
}

static void test_kms_plugin__bad_modules_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    char opts[4200], path[4096];
    snprintf(opts, sizeof opts, "{\"key_file\": \"%s\"}", f->wrapkey);
    /* No such file. */
    snprintf(path, sizeof path, "%s/no-such-plugin.so", f->dir);
    assert_int_equal(client(f, &ph, path, opts), PHICRYPT_ECONFIG);
    assert_null(ph);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_plugins.xc.module"));
    /* A file that is not a shared object. */
    snprintf(path, sizeof path, "%s/garbage.so", f->dir);
    tu_write_file(path, "not an ELF file", 15, 0600);
    assert_int_equal(client(f, &ph, path, opts), PHICRYPT_ECONFIG);
    /* A shared object that is not a plug-in (the C library). */
    assert_int_equal(client(f, &ph, "libc.so.6", opts), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "phicrypt_kms_plugin_v1"));
    /* The plug-in refuses its options: its message, under where. */
    assert_int_equal(client(f, &ph, module_path(), "{}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_plugins.xc"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "key_file"));
    /* A wrap key readable by others. */
    tu_write_file(f->wrapkey, "0123456789abcdef0123456789abcdef", 32, 0644);
    assert_int_equal(client(f, &ph, module_path(), opts), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "chmod 600"));
    assert_false(tu_contains(phicrypt_errmsg(NULL), "0123456789abcdef"));
}

static void test_kms_plugin__bad_configuration_refused(void **state)
{
    fx *f = *state;
    static const char *const bad[] = {
        "{\"aws\": {\"module\": \"x.so\"}}",               /* a standard provider's name */
        "{\"Upper\": {\"module\": \"x.so\"}}",             /* not [a-z0-9_-] */
        "{\"xc\": {\"options\": {}}}",                     /* no module */
        "{\"xc\": {\"module\": \"x.so\", \"opts\": {}}}",  /* unknown key */
        "{\"xc\": {\"module\": 5}}",                        /* not a string */
        "{\"xc\": \"x.so\"}",                               /* not an object */
        "[]",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        char *cfg;
        phicrypt_t *ph = NULL;
        assert_true(asprintf(&cfg, "{\"kms_plugins\": %s, \"key_vault\": \"file:%s/kv.jsonl\"}",
                             bad[i], f->dir) > 0);
        assert_int_equal(phicrypt_new(&ph, cfg), PHICRYPT_ECONFIG);
        assert_null(ph);
        assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_plugins"));
        free(cfg);
    }
}

/* ---- a table registered in C ---- */

typedef struct counting {
    int wraps, unwraps;
    int fail_unwrap; /* 0, or the code unwrap returns */
    int oversize;    /* wrap claims more than it may */
    uint8_t key[crypto_secretbox_KEYBYTES];
} counting;

static int c_wrap(void *ctx, const uint8_t *key, size_t key_len, const char *mk, uint8_t *out, size_t cap,
                  size_t *out_len, char *err)
{
    counting *c = ctx;
    (void)mk;
    (void)err;
    c->wraps++;
    if (cap < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + key_len)
        return PHICRYPT_EBUFSIZE;
    randombytes_buf(out, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, key, key_len, out, c->key);
    *out_len = c->oversize ? cap + 1 : crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + key_len;
    return 0;
}

static int c_unwrap(void *ctx, const uint8_t *w, size_t len, const char *mk, uint8_t *key, size_t key_len,
                    char *err)
{
    counting *c = ctx;
    c->unwraps++;
    if (c->fail_unwrap) {
        snprintf(err, PHICRYPT_KMS_ERRMSG_MAX, "the HSM said no (test)");
        return c->fail_unwrap;
    }
    if (!strstr(mk, "\"provider\"") || len != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + key_len ||
        crypto_secretbox_open_easy(key, w + crypto_secretbox_NONCEBYTES, len - crypto_secretbox_NONCEBYTES, w,
                                   c->key) != 0)
        return PHICRYPT_EAUTH;
    return 0;
}

static const phicrypt_kms_plugin counting_table = { PHICRYPT_KMS_PLUGIN_VERSION, NULL, c_wrap, c_unwrap, NULL, NULL };

static void test_kms_plugin__registered_in_c(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = tu_client(f->dir);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    counting c = { 0 };
    uint8_t id[16], local_id[16];
    char *cp, *cl;
    randombytes_buf(c.key, sizeof c.key);
    /* A plain local key made before the plug-in exists stays readable. */
    assert_int_equal(make_key(ph, "local", "plain", local_id), 0);
    cl = encrypt(ph, "\"old\"", "plain");
    assert_int_equal(make_key(ph, "hsm", "k", id), PHICRYPT_EINVAL); /* not registered yet: unknown */
    assert_int_equal(phicrypt_kms_register(ph, "hsm", &counting_table, &c), 0);
    assert_int_equal(make_key(ph, "hsm", "k", id), 0);
    assert_int_equal(c.wraps, 1);
    cp = encrypt(ph, "\"new\"", "k");
    assert_int_equal(c.unwraps, 1);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, cp, 0), 0);
    assert_string_equal((const char *)out.data, "\"new\"");
    assert_int_equal(phicrypt_decrypt_json(ph, &out, cl, 0), 0);
    assert_string_equal((const char *)out.data, "\"old\"");

    /* Errors keep the plug-in's code and words (a fresh client: libmongocrypt
     * caches the key it already has). */
    phicrypt_free(ph);
    ph = tu_client(f->dir);
    assert_int_equal(phicrypt_kms_register(ph, "hsm", &counting_table, &c), 0);
    c.fail_unwrap = PHICRYPT_EKMSAUTH;
    assert_int_equal(phicrypt_decrypt_json(ph, &out, cp, 0), PHICRYPT_EKMSAUTH);
    assert_true(tu_contains(phicrypt_errmsg(ph), "the HSM said no"));
    assert_true(tu_contains(phicrypt_errmsg(ph), "hsm"));
    c.fail_unwrap = 12345; /* not a phicrypt code: reported as a KMS failure */
    assert_int_equal(phicrypt_decrypt_json(ph, &out, cp, 0), PHICRYPT_EKMS);
    c.fail_unwrap = 0;
    /* Output longer than the buffer: refused, nothing stored. */
    c.oversize = 1;
    assert_int_equal(make_key(ph, "hsm", "k-big", id), PHICRYPT_EKMS);
    c.oversize = 0;
    {
        phicrypt_buf kd = PHICRYPT_BUF_INIT;
        assert_int_equal(phicrypt_datakey_get_by_alt_name(ph, &kd, "k-big"), PHICRYPT_EKEYNOTFOUND);
    }
    phicrypt_buf_dispose(&out);
    phicrypt_free(ph);
    free(cp);
    free(cl);
}

static void test_kms_plugin__bad_registration_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = tu_client(f->dir);
    phicrypt_kms_plugin t = counting_table;
    counting c = { 0 };
    static const char *const names[] = { "", "local", "aws", "kmip", "Hsm", "hsm:ward", "h sm",
                                         "a-name-that-is-longer-than-32-bytes", NULL };
    for (size_t i = 0; names[i]; i++)
        assert_int_equal(phicrypt_kms_register(ph, names[i], &counting_table, &c), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_kms_register(ph, NULL, &counting_table, &c), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_kms_register(ph, "hsm", NULL, &c), PHICRYPT_EINVAL);
    t.version = 2;
    assert_int_equal(phicrypt_kms_register(ph, "hsm", &t, &c), PHICRYPT_EINVAL);
    t = counting_table;
    t.unwrap = NULL;
    assert_int_equal(phicrypt_kms_register(ph, "hsm", &t, &c), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_kms_register(ph, "hsm", &counting_table, &c), 0);
    assert_int_equal(phicrypt_kms_register(ph, "hsm", &counting_table, &c), PHICRYPT_EEXIST);
    phicrypt_free(ph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_plugin__module_from_config_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_plugin__relabelled_provider_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_plugin__bad_modules_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_plugin__bad_configuration_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_plugin__registered_in_c, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_plugin__bad_registration_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
