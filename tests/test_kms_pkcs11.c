/* The PKCS#11 KMS plug-in (libphicrypt-pkcs11.so) against SoftHSM2: the
 * test initialises its own token (in a child process, through PKCS#11),
 * creates a non-extractable AES key, a second one for another provider
 * name and an extractable one; then data keys round-trip through phicrypt,
 * a wrong PIN, an extractable key and tampered key material are refused,
 * and threads share the session pool. Without SoftHSM2 every case skips. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "test_util.h"

#define USER_PIN "4711-test-pin"
#define SO_PIN "so-pin-0815"

static const char *softhsm(void)
{
    static const char *const paths[] = { "/usr/lib/softhsm/libsofthsm2.so",
                                         "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", NULL };
    const char *env = getenv("PHICRYPT_TEST_SOFTHSM2");
    if (env && *env)
        return env;
    for (size_t i = 0; paths[i]; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

typedef struct fx {
    char *dir;
    char pin_file[4096];
} fx;

static int gen_key(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, const char *label, CK_BBOOL extractable)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, sensitive = !extractable;
    CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls },          { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_VALUE_LEN, &len, sizeof len },      { CKA_TOKEN, &yes, sizeof yes },
                         { CKA_PRIVATE, &yes, sizeof yes },        { CKA_SENSITIVE, &sensitive, sizeof sensitive },
                         { CKA_EXTRACTABLE, &extractable, sizeof extractable },
                         { CKA_ENCRYPT, &yes, sizeof yes },        { CKA_DECRYPT, &yes, sizeof yes },
                         { CKA_LABEL, (void *)label, strlen(label) } };
    return f->C_GenerateKey(s, &m, t, sizeof t / sizeof t[0], &h) == CKR_OK ? 0 : -1;
}

/* In a child: a fresh token "phicrypt-test" with three AES keys. */
static int init_token(void)
{
    void *dl = dlopen(softhsm(), RTLD_NOW);
    CK_C_GetFunctionList get;
    CK_FUNCTION_LIST *f;
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    CK_SESSION_HANDLE s;
    CK_UTF8CHAR label[32];
    void *sym;
    if (!dl || !(sym = dlsym(dl, "C_GetFunctionList")))
        return 1;
    memcpy(&get, &sym, sizeof get);
    if (get(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK || f->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK ||
        n == 0)
        return 2;
    memset(label, ' ', sizeof label);
    memcpy(label, "phicrypt-test", 13);
    if (f->C_InitToken(slots[0], (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN), label) != CKR_OK)
        return 3;
    n = 16;
    if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n == 0)
        return 4;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && memcmp(ti.label, label, 32) == 0) {
            slots[0] = slots[i];
            break;
        }
    }
    if (f->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
        f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN)) != CKR_OK ||
        f->C_InitPIN(s, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)) != CKR_OK || f->C_Logout(s) != CKR_OK ||
        f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)) != CKR_OK)
        return 5;
    if (gen_key(f, s, "phicrypt-master", CK_FALSE) || gen_key(f, s, "ward-b", CK_FALSE) ||
        gen_key(f, s, "leaky", CK_TRUE))
        return 6;
    f->C_CloseSession(s);
    f->C_Finalize(NULL);
    return 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char path[4096], conf[4200];
    pid_t pid;
    int st = 0;
    f->dir = tu_tmpdir();
    *state = f;
    if (!softhsm())
        return 0;
    snprintf(path, sizeof path, "%s/tokens", f->dir);
    if (mkdir(path, 0700) != 0)
        fail_msg("mkdir tokens");
    snprintf(conf, sizeof conf, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", path);
    snprintf(path, sizeof path, "%s/softhsm2.conf", f->dir);
    tu_write_file(path, conf, strlen(conf), 0600);
    setenv("SOFTHSM2_CONF", path, 1);
    snprintf(f->pin_file, sizeof f->pin_file, "%s/pin", f->dir);
    tu_write_file(f->pin_file, USER_PIN "\n", strlen(USER_PIN) + 1, 0600);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    tu_write_file(path, "", 0, 0600);
    /* A child: the token set-up must not leave SoftHSM2 initialised here. */
    if ((pid = fork()) == 0)
        _exit(init_token());
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("token set-up failed (step %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
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

static const char *plugin_path(void)
{
    const char *p = getenv("PHICRYPT_TEST_PKCS11_PLUGIN");
    if (!p || !*p)
        fail_msg("PHICRYPT_TEST_PKCS11_PLUGIN is not set (tests/meson.build sets it)");
    return p;
}

/* A client whose plug-in options end with `extra` (JSON members). */
static int client(fx *f, phicrypt_t **ph, const char *extra)
{
    char *cfg;
    int rc;
    assert_true(asprintf(&cfg,
                         "{\"kms_plugins\": {\"hsm\": {\"module\": \"%s\", \"options\": {\"module\": \"%s\","
                         " \"token_label\": \"phicrypt-test\", %s}}}, \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                         plugin_path(), softhsm(), extra, f->dir) > 0);
    rc = phicrypt_new(ph, cfg);
    free(cfg);
    return rc;
}

static phicrypt_t *hsm_client(fx *f, const char *more)
{
    char extra[4300];
    phicrypt_t *ph = NULL;
    snprintf(extra, sizeof extra, "\"pin_file\": \"%s\"%s", f->pin_file, more ? more : "");
    if (client(f, &ph, extra) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    return ph;
}

static int make_key(phicrypt_t *ph, const char *provider, const char *mk, const char *alt, uint8_t id[16])
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[1] = { alt };
    o.provider = provider;
    o.master_key_json = mk;
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

#define NEED_SOFTHSM()                                                                                               \
    do {                                                                                                             \
        if (!softhsm())                                                                                              \
            skip();                                                                                                  \
    } while (0)

static void test_kms_pkcs11__roundtrip_two_token_keys(void **state)
{
    fx *f = *state;
    phicrypt_t *ph;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    char *c1, *c2;
    NEED_SOFTHSM();
    ph = hsm_client(f, NULL);
    assert_int_equal(make_key(ph, "hsm", NULL, "k1", id), 0);
    assert_int_equal(make_key(ph, "hsm:ward-b", "{\"key_label\": \"ward-b\"}", "k2", id), 0);
    c1 = encrypt(ph, "\"123-45-6789\"", "k1");
    c2 = encrypt(ph, "\"MRN-77\"", "k2");
    phicrypt_free(ph);
    /* A new client (a new session pool, a new bridge key) decrypts both. */
    ph = hsm_client(f, ", \"sessions\": 1");
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c1, 0), 0);
    assert_string_equal((const char *)out.data, "\"123-45-6789\"");
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c2, 0), 0);
    assert_string_equal((const char *)out.data, "\"MRN-77\"");
    phicrypt_buf_dispose(&out);
    phicrypt_free(ph);
    free(c1);
    free(c2);
}

static void test_kms_pkcs11__pin_from_environment(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    uint8_t id[16];
    NEED_SOFTHSM();
    setenv("PHICRYPT_TEST_HSM_PIN", USER_PIN, 1);
    assert_int_equal(client(f, &ph, "\"pin_env\": \"PHICRYPT_TEST_HSM_PIN\""), 0);
    assert_int_equal(make_key(ph, "hsm", NULL, "k", id), 0);
    phicrypt_free(ph);
    unsetenv("PHICRYPT_TEST_HSM_PIN");
    ph = NULL;
    assert_int_equal(client(f, &ph, "\"pin_env\": \"PHICRYPT_TEST_HSM_PIN\""), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "PHICRYPT_TEST_HSM_PIN"));
}

static void test_kms_pkcs11__wrong_pin_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    char extra[4300];
    NEED_SOFTHSM();
    tu_write_file(f->pin_file, "9999-wrong-pin", 14, 0600);
    snprintf(extra, sizeof extra, "\"pin_file\": \"%s\"", f->pin_file);
    assert_int_equal(client(f, &ph, extra), PHICRYPT_EKMSAUTH);
    assert_null(ph);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "PIN"));
    assert_false(tu_contains(phicrypt_errmsg(NULL), "9999-wrong-pin"));
    /* A PIN file others may read is refused before it is read. */
    tu_write_file(f->pin_file, USER_PIN, strlen(USER_PIN), 0644);
    assert_int_equal(client(f, &ph, extra), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "chmod 600"));
    assert_false(tu_contains(phicrypt_errmsg(NULL), USER_PIN));
}

static void test_kms_pkcs11__extractable_key_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    phicrypt_buf kd = PHICRYPT_BUF_INIT;
    char extra[4300];
    uint8_t id[16];
    NEED_SOFTHSM();
    /* As the default key of the plug-in: the client is not made. */
    snprintf(extra, sizeof extra, "\"pin_file\": \"%s\", \"key_label\": \"leaky\"", f->pin_file);
    assert_int_equal(client(f, &ph, extra), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "leaky"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "extractable"));
    /* Named by a master key document: no data key is stored. */
    ph = hsm_client(f, NULL);
    assert_int_equal(make_key(ph, "hsm", "{\"key_label\": \"leaky\"}", "k", id), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(ph), "extractable"));
    assert_int_equal(phicrypt_datakey_get_by_alt_name(ph, &kd, "k"), PHICRYPT_EKEYNOTFOUND);
    /* A key label the token does not have. */
    assert_int_equal(make_key(ph, "hsm", "{\"key_label\": \"nope\"}", "k", id), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(ph), "nope"));
    phicrypt_free(ph);
    /* A token that is not there. */
    snprintf(extra, sizeof extra, "\"pin_file\": \"%s\", \"token_label\": \"other\"", f->pin_file);
    assert_int_equal(client(f, &ph, extra), PHICRYPT_ECONFIG);
}

/* Tampered key material, or a key relabelled to the other token key's
 * provider, does not unwrap. */
static void test_kms_pkcs11__tampered_or_relabelled_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char path[4096], *vault, *p, *c;
    size_t len;
    uint8_t id[16];
    NEED_SOFTHSM();
    ph = hsm_client(f, NULL);
    assert_int_equal(make_key(ph, "hsm:ward-a", NULL, "k", id), 0);
    c = encrypt(ph, "42", "k");
    phicrypt_free(ph);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    vault = tu_read_file(path, &len);
    assert_non_null(p = strstr(vault, "hsm:ward-a"));
    p[9] = 'c'; /* hsm:ward-c */
    tu_write_file(path, vault, len, 0600);
    ph = hsm_client(f, NULL);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_EAUTH);
    assert_true(tu_contains(phicrypt_errmsg(ph), "hsm"));
    phicrypt_free(ph);
    p[9] = 'a';
    assert_non_null(p = strstr(vault, "keyMaterial"));
    assert_non_null(p = strstr(p, "base64"));
    p[30] = p[30] == 'A' ? 'B' : 'A';
    tu_write_file(path, vault, len, 0600);
    ph = hsm_client(f, NULL);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_EAUTH);
    phicrypt_free(ph);
    free(vault);
    free(c);
}

typedef struct worker {
    phicrypt_t *ph;
    int index, failures;
} worker;

static void *create_keys(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 3; i++) {
        char alt[32];
        uint8_t id[16];
        snprintf(alt, sizeof alt, "t%d-%d", w->index, i);
        if (make_key(w->ph, "hsm", NULL, alt, id) != 0)
            w->failures++;
    }
    return NULL;
}

/* Four threads on a pool of two sessions. */
static void test_kms_pkcs11__threads_share_the_session_pool(void **state)
{
    fx *f = *state;
    phicrypt_t *ph;
    pthread_t t[4];
    worker w[4];
    phicrypt_buf list = PHICRYPT_BUF_INIT;
    NEED_SOFTHSM();
    ph = hsm_client(f, ", \"sessions\": 2");
    for (int i = 0; i < 4; i++) {
        w[i].ph = ph;
        w[i].index = i;
        w[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, create_keys, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    phicrypt_free(ph);
    ph = hsm_client(f, NULL);
    for (int i = 0; i < 4; i++) {
        char alt[32], *c;
        phicrypt_buf out = PHICRYPT_BUF_INIT;
        snprintf(alt, sizeof alt, "t%d-2", i);
        c = encrypt(ph, "\"x\"", alt);
        assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), 0);
        phicrypt_buf_dispose(&out);
        free(c);
    }
    phicrypt_buf_dispose(&list);
    phicrypt_free(ph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_pkcs11__roundtrip_two_token_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_pkcs11__pin_from_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_pkcs11__wrong_pin_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_pkcs11__extractable_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_pkcs11__tampered_or_relabelled_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_pkcs11__threads_share_the_session_pool, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
