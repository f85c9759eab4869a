/* The file key vault through the data key API: documents, alt names,
 * atomic replacement, concurrent processes. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bson/bson.h>

#include "test_util.h"

typedef struct fx {
    char *dir;
    char vault[4096];
    phicrypt_t *ph;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    f->ph = tu_client(f->dir);
    snprintf(f->vault, sizeof f->vault, "%s/keyvault.jsonl", f->dir);
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

static int create(phicrypt_t *ph, uint8_t id[16], const char *a, const char *b)
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[2] = { a, b };
    o.alt_names = names;
    o.alt_names_count = b ? 2 : (a ? 1 : 0);
    return phicrypt_datakey_create(ph, id, &o);
}

static size_t count_lines(const char *path)
{
    char *s = tu_read_file(path, NULL);
    size_t n = 0;
    for (char *p = s; p && *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

/* Every line must be a canonical Extended JSON key document. */
static void assert_vault_well_formed(const char *path, size_t expect)
{
    char *s = tu_read_file(path, NULL), *line, *save = NULL;
    size_t n = 0;
    assert_non_null(s);
    for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bson_t d;
        bson_error_t e;
        bson_iter_t it;
        if (!bson_init_from_json(&d, line, -1, &e))
            fail_msg("vault line %zu does not parse: %s", n + 1, e.message);
        assert_true(bson_iter_init_find(&it, &d, "_id") && BSON_ITER_HOLDS_BINARY(&it));
        assert_true(bson_iter_init_find(&it, &d, "keyMaterial") && BSON_ITER_HOLDS_BINARY(&it));
        assert_true(bson_iter_init_find(&it, &d, "masterKey") && BSON_ITER_HOLDS_DOCUMENT(&it));
        assert_true(bson_iter_init_find(&it, &d, "creationDate") && BSON_ITER_HOLDS_DATE_TIME(&it));
        assert_true(bson_iter_init_find(&it, &d, "updateDate") && BSON_ITER_HOLDS_DATE_TIME(&it));
        assert_true(bson_iter_init_find(&it, &d, "status"));
        assert_true(strstr(line, "\"$binary\"") != NULL); /* canonical form */
        bson_destroy(&d);
        n++;
    }
    free(s);
    assert_int_equal(n, expect);
}

static void test_keyvault__create_get_list(void **state)
{
    fx *f = *state;
    uint8_t id[16], id2[16], got[16];
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    bson_t d;
    bson_iter_t it, arr;
    assert_int_equal(create(f->ph, id, "patients", "mrn"), 0);
    assert_int_equal(create(f->ph, id2, NULL, NULL), 0);
    assert_vault_well_formed(f->vault, 2);
    assert_int_equal(phicrypt_datakey_id_by_alt_name(f->ph, got, "mrn"), 0);
    assert_memory_equal(got, id, 16);
    assert_int_equal(phicrypt_datakey_get(f->ph, &b, id2), 0);
    assert_true(bson_init_static(&d, b.data, b.len));
    assert_false(bson_has_field(&d, "keyMaterial")); /* never handed out */
    assert_false(bson_has_field(&d, "keyAltNames"));
    phicrypt_buf_dispose(&b);
    assert_int_equal(phicrypt_datakey_list(f->ph, &b), 0);
    assert_true(bson_init_static(&d, b.data, b.len));
    assert_true(bson_iter_init_find(&it, &d, "keys") && bson_iter_recurse(&it, &arr));
    {
        int n = 0;
        while (bson_iter_next(&arr)) {
            bson_t k;
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&arr, &len, &data);
            bson_init_static(&k, data, len);
            assert_false(bson_has_field(&k, "keyMaterial"));
            n++;
        }
        assert_int_equal(n, 2);
    }
    phicrypt_buf_dispose(&b);
}

static void test_keyvault__alt_names_are_unique(void **state)
{
    fx *f = *state;
    uint8_t id[16], id2[16];
    char *before, *after;
    assert_int_equal(create(f->ph, id, "patients", NULL), 0);
    before = tu_read_file(f->vault, NULL);
    assert_int_equal(create(f->ph, id2, "patients", NULL), PHICRYPT_EEXIST);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "'patients'"));
    assert_int_equal(create(f->ph, id2, "dup", "dup"), PHICRYPT_EINVAL);
    after = tu_read_file(f->vault, NULL);
    assert_string_equal(before, after); /* nothing written on failure */
    free(before);
    free(after);
    assert_int_equal(create(f->ph, id2, "other", NULL), 0);
    assert_int_equal(phicrypt_datakey_add_alt_name(f->ph, id2, "patients"), PHICRYPT_EEXIST);
    assert_int_equal(phicrypt_datakey_add_alt_name(f->ph, id2, ""), PHICRYPT_EINVAL);
}

static void test_keyvault__add_and_remove_alt_names(void **state)
{
    fx *f = *state;
    uint8_t id[16], got[16];
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    bson_t d;
    assert_int_equal(create(f->ph, id, "a", NULL), 0);
    assert_int_equal(phicrypt_datakey_add_alt_name(f->ph, id, "b"), 0);
    assert_int_equal(phicrypt_datakey_add_alt_name(f->ph, id, "b"), 0); /* idempotent */
    assert_int_equal(phicrypt_datakey_id_by_alt_name(f->ph, got, "b"), 0);
    assert_memory_equal(got, id, 16);
    assert_int_equal(phicrypt_datakey_remove_alt_name(f->ph, id, "a"), 0);
    assert_int_equal(phicrypt_datakey_id_by_alt_name(f->ph, got, "a"), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(phicrypt_datakey_remove_alt_name(f->ph, id, "a"), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(phicrypt_datakey_remove_alt_name(f->ph, id, "b"), 0);
    /* Removing the last name removes the field, as MongoDB does. */
    assert_int_equal(phicrypt_datakey_get(f->ph, &b, id), 0);
    assert_true(bson_init_static(&d, b.data, b.len));
    assert_false(bson_has_field(&d, "keyAltNames"));
    phicrypt_buf_dispose(&b);
    assert_vault_well_formed(f->vault, 1);
    {
        uint8_t none[16] = { 1 };
        assert_int_equal(phicrypt_datakey_add_alt_name(f->ph, none, "x"), PHICRYPT_EKEYNOTFOUND);
    }
}

static void test_keyvault__delete_shreds(void **state)
{
    fx *f = *state;
    uint8_t id[16];
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
    assert_int_equal(create(f->ph, id, "gone", NULL), 0);
    o.key_alt_name = "gone";
    assert_int_equal(phicrypt_encrypt_json(f->ph, &ct, "\"x\"", &o), 0);
    assert_int_equal(phicrypt_decrypt_json(f->ph, &pt, (char *)ct.data, 0), 0); /* caches the key */
    phicrypt_buf_dispose(&pt);
    assert_int_equal(phicrypt_datakey_delete(f->ph, id), 0);
    assert_int_equal(count_lines(f->vault), 0);
    /* The same client forgets it at once, cache or not. */
    assert_int_equal(phicrypt_decrypt_json(f->ph, &pt, (char *)ct.data, 0), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(phicrypt_datakey_delete(f->ph, id), PHICRYPT_EKEYNOTFOUND);
    phicrypt_buf_dispose(&ct);
}

static void test_keyvault__other_client_sees_changes(void **state)
{
    fx *f = *state;
    uint8_t id[16], got[16];
    phicrypt_t *ph2 = tu_client(f->dir);
    assert_int_equal(phicrypt_datakey_id_by_alt_name(ph2, got, "late"), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(create(f->ph, id, "late", NULL), 0);
    assert_int_equal(phicrypt_datakey_id_by_alt_name(ph2, got, "late"), 0);
    assert_memory_equal(got, id, 16);
    phicrypt_free(ph2);
}

static void test_keyvault__malformed_vault_names_the_line(void **state)
{
    fx *f = *state;
    uint8_t id[16];
    char *good, *bad;
    assert_int_equal(create(f->ph, id, "one", NULL), 0);
    good = tu_read_file(f->vault, NULL);
    assert_true(asprintf(&bad, "%s\n{\"_id\": 1, \"keyMaterial\": \n", good) > 0);
    tu_write_file(f->vault, bad, strlen(bad), 0600);
    assert_int_equal(phicrypt_datakey_id_by_alt_name(f->ph, id, "one"), PHICRYPT_EKEYVAULT);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "line 3"));
    assert_true(tu_contains(phicrypt_errmsg(f->ph), f->vault));
    free(bad);
    assert_true(asprintf(&bad, "%s{\"_id\": 1, \"keyMaterial\": {\"$binary\": {\"base64\": \"AA==\", \"subType\": \"00\"}}, "
                               "\"masterKey\": {\"provider\": \"local\"}}\n", good) > 0);
    tu_write_file(f->vault, bad, strlen(bad), 0600);
    assert_int_equal(phicrypt_datakey_id_by_alt_name(f->ph, id, "one"), PHICRYPT_EKEYVAULT);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "line 2: _id must be a UUID"));
    /* A write refuses to touch a damaged vault rather than drop lines. */
    assert_int_equal(create(f->ph, id, "two", NULL), PHICRYPT_EKEYVAULT);
    {
        char *now = tu_read_file(f->vault, NULL);
        assert_string_equal(now, bad);
        free(now);
    }
    free(bad);
    free(good);
}

/* Several processes create keys at once; the lock and the re-read under it
 * must keep every key, and the file must stay well formed. */
static void test_keyvault__concurrent_processes(void **state)
{
    fx *f = *state;
    enum { PROCS = 4, KEYS = 8 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            phicrypt_t *ph = tu_client(f->dir);
            int bad = 0;
            for (int k = 0; k < KEYS; k++) {
                char name[32];
                uint8_t id[16];
                snprintf(name, sizeof name, "p%d-k%d", p, k);
                bad |= create(ph, id, name, NULL) != 0;
            }
            phicrypt_free(ph);
            _exit(bad);
        }
    }
    /* Meanwhile, read continuously: never a half-written file. */
    {
        phicrypt_t *reader = tu_client(f->dir);
        for (int i = 0; i < 200; i++) {
            phicrypt_buf b = PHICRYPT_BUF_INIT;
            int rc = phicrypt_datakey_list(reader, &b);
            if (rc != 0)
                fail_msg("reader saw a broken vault: %s", phicrypt_errmsg(reader));
            phicrypt_buf_dispose(&b);
        }
        phicrypt_free(reader);
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_vault_well_formed(f->vault, PROCS * KEYS);
}

static void test_keyvault__bad_arguments(void **state)
{
    fx *f = *state;
    uint8_t id[16] = { 0x42 };
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    uint8_t material[97] = { 0 };
    assert_int_equal(phicrypt_datakey_create(NULL, id, NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_datakey_create(f->ph, NULL, NULL), PHICRYPT_EINVAL);
    o.version = 2;
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &o), PHICRYPT_EINVAL);
    o.version = PHICRYPT_DATAKEY_OPTS_VERSION;
    o.key_material = material;
    o.key_material_len = 97;
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &o), PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "96 bytes"));
    o.key_material = NULL;
    o.key_material_len = 0;
    o.provider = "aws"; /* not configured in this client */
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &o), PHICRYPT_ECONFIG);
    o.provider = "awz";
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &o), PHICRYPT_EINVAL);
    o.provider = "local";
    o.alt_names_count = 1;
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &o), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_datakey_get(f->ph, &b, id), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(phicrypt_datakey_get(f->ph, NULL, id), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_datakey_get_by_alt_name(f->ph, &b, NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_datakey_list(NULL, &b), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_datakey_delete(f->ph, NULL), PHICRYPT_EINVAL);
    assert_int_equal(count_lines(f->vault), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keyvault__create_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyvault__alt_names_are_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyvault__add_and_remove_alt_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyvault__delete_shreds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyvault__other_client_sees_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyvault__malformed_vault_names_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyvault__concurrent_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyvault__bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests_name("keyvault", tests, NULL, NULL);
}
