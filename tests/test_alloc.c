/* Allocation-failure injection (SQLite style): for each main entry point,
 * make the 1st, 2nd, ... allocation fail until the call succeeds. Every
 * failure must return PHICRYPT_ENOMEM, change no file, and leak nothing
 * (this suite also runs under ASan and valgrind). Only phicrypt's own
 * allocations are failed: libbson aborts on allocation failure by design,
 * so its vtable is left alone. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#include "core/mem_private.h"
#include "test_util.h"

typedef struct fx {
    char *dir;
    char *cfg;
    phicrypt_t *ph;
    char vault[4096], keyring[4096];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char *base;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[] = { "k" };
    uint8_t id[16];
    f->dir = tu_tmpdir();
    base = tu_keyset(f->dir, NULL);
    free(base);
    snprintf(f->vault, sizeof f->vault, "%s/keyvault.jsonl", f->dir);
    snprintf(f->keyring, sizeof f->keyring, "%s/keyring.jsonl", f->dir);
    tu_write_file(f->keyring, "", 0, 0600);
    if (asprintf(&f->cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}}, \"key_vault\": \"file:%s\","
                 " \"keyring\": \"file:%s\", \"schema_map\": {\"db.c\": {\"bsonType\": \"object\", \"properties\":"
                 " {\"ssn\": {\"encrypt\": {\"keyId\": \"/kn\", \"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"}}}}}}",
                 f->dir, f->vault, f->keyring) < 0)
        fail();
    assert_int_equal(phicrypt_new(&f->ph, f->cfg), 0);
    o.alt_names = names;
    o.alt_names_count = 1;
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &o), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok", PHICRYPT_KEYRING_SIV), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    phi_test_fail_alloc_after(0);
    phicrypt_free(f->ph);
    tu_rm_rf(f->dir);
    free(f->cfg);
    free(f->dir);
    free(f);
    return 0;
}

typedef int (*op_fn)(fx *f, int *changed_files_allowed);

/* Runs op with the n-th allocation failing, n = 1, 2, ... until it
 * succeeds; checks codes and files on every failure. */
static void inject(fx *f, const char *name, op_fn op)
{
    int succeeded = 0;
    for (unsigned long n = 1; n < 5000 && !succeeded; n++) {
        char *v0 = tu_read_file(f->vault, NULL), *k0 = tu_read_file(f->keyring, NULL), *v1, *k1;
        int may_change = 0, rc;
        phi_test_fail_alloc_after(n);
        rc = op(f, &may_change);
        phi_test_fail_alloc_after(0);
        v1 = tu_read_file(f->vault, NULL);
        k1 = tu_read_file(f->keyring, NULL);
        if (rc == 0) {
            succeeded = 1;
        } else {
            if (rc != PHICRYPT_ENOMEM)
                fail_msg("%s: allocation %lu failed and the call returned %d (%s), not PHICRYPT_ENOMEM", name, n, rc,
                         phicrypt_strerror(rc));
            if (strcmp(v0, v1) != 0 || strcmp(k0, k1) != 0)
                fail_msg("%s: allocation %lu failed and a file changed", name, n);
        }
        free(v0);
        free(k0);
        free(v1);
        free(k1);
    }
    assert_true(succeeded);
}

static int op_new(fx *f, int *m)
{
    phicrypt_t *ph = NULL;
    int rc = phicrypt_new(&ph, f->cfg);
    (void)m;
    if (rc == 0)
        assert_non_null(ph);
    else
        assert_null(ph);
    phicrypt_free(ph);
    return rc;
}

static int op_create_key(fx *f, int *m)
{
    uint8_t id[16];
    (void)m;
    return phicrypt_datakey_create(f->ph, id, NULL);
}

static int op_encrypt_decrypt(fx *f, int *m)
{
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
    int rc;
    (void)m;
    o.key_alt_name = "k";
    o.algorithm = PHICRYPT_ALG_RANDOM;
    rc = phicrypt_encrypt_json(f->ph, &ct, "{\"a\": [1, \"SECRET\"]}", &o);
    if (rc == 0)
        rc = phicrypt_decrypt_json(f->ph, &pt, (char *)ct.data, 0);
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&pt);
    return rc;
}

static int op_command_roundtrip(fx *f, int *m)
{
    bson_t *cmd = BCON_NEW("insert", "c", "documents", "[", "{", "kn", "k", "ssn", "123-45-6789", "}", "]");
    phicrypt_buf enc = PHICRYPT_BUF_INIT, dec = PHICRYPT_BUF_INIT;
    int rc;
    (void)m;
    rc = phicrypt_encrypt_command(f->ph, &enc, "db", bson_get_data(cmd), cmd->len);
    if (rc == 0)
        rc = phicrypt_decrypt_document(f->ph, &dec, enc.data, enc.len);
    phicrypt_buf_dispose(&enc);
    phicrypt_buf_dispose(&dec);
    bson_destroy(cmd);
    return rc;
}

static int op_keyring(fx *f, int *m)
{
    phicrypt_buf t = PHICRYPT_BUF_INIT, back = PHICRYPT_BUF_INIT;
    uint32_t v;
    int rc;
    (void)m;
    rc = phicrypt_tokenize(f->ph, &t, "tok", "Ada", 3, NULL);
    if (rc == 0)
        rc = phicrypt_detokenize(f->ph, &back, "tok", (char *)t.data, t.len, NULL);
    phicrypt_buf_dispose(&t);
    phicrypt_buf_dispose(&back);
    if (rc == 0)
        rc = phicrypt_keyring_rotate(f->ph, &v, "tok");
    return rc;
}

static void test_alloc__client_new(void **state)
{
    inject(*state, "phicrypt_new", op_new);
}

static void test_alloc__datakey_create(void **state)
{
    inject(*state, "phicrypt_datakey_create", op_create_key);
}

static void test_alloc__explicit_encrypt_decrypt(void **state)
{
    inject(*state, "phicrypt_encrypt/decrypt", op_encrypt_decrypt);
}

static void test_alloc__automatic_encrypt_decrypt(void **state)
{
    inject(*state, "phicrypt_encrypt_command/decrypt_document", op_command_roundtrip);
}

static void test_alloc__keyring_tokens(void **state)
{
    inject(*state, "keyring tokenize/detokenize/rotate", op_keyring);
}

/* Secret hygiene: every buffer phicrypt wipes before freeing it must be all
 * zero when it is freed (checked through the free observer hook), across
 * the operations that handle plaintext and keys. */
static size_t observed, dirty;

static void check_wiped(const void *p, size_t n)
{
    const unsigned char *b = p;
    observed++;
    for (size_t i = 0; i < n; i++)
        if (b[i]) {
            dirty++;
            return;
        }
}

static void test_alloc__freed_buffers_are_wiped(void **state)
{
    fx *f = *state;
    int m = 0;
    observed = dirty = 0;
    phi_test_set_free_observer(check_wiped);
    assert_int_equal(op_encrypt_decrypt(f, &m), 0);
    assert_int_equal(op_command_roundtrip(f, &m), 0);
    assert_int_equal(op_keyring(f, &m), 0);
    assert_int_equal(op_new(f, &m), 0);
    phi_test_set_free_observer(NULL);
    if (observed < 10)
        fail_msg("only %zu wiped buffers observed", observed);
    if (dirty)
        fail_msg("%zu of %zu buffers were not zero when freed", dirty, observed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alloc__client_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc__datakey_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc__explicit_encrypt_decrypt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc__automatic_encrypt_decrypt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc__keyring_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc__freed_buffers_are_wiped, setup, teardown),
    };
    return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
