/* The keyring and the tokenization API on a client: formats, SIV tokens,
 * pseudonyms, rotation, retirement, destruction (crypto-shredding). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "core/mem_private.h"
#include "token/keyring_private.h"

typedef struct fx {
    char *dir;
    phicrypt_t *ph;
} fx;

static phicrypt_t *client_with_keyring(const char *dir)
{
    char *cfg, path[4096];
    phicrypt_t *ph = NULL;
    snprintf(path, sizeof path, "%s/keyring.jsonl", dir);
    if (access(path, F_OK) != 0)
        tu_write_file(path, "", 0, 0600);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\", \"keyring\": \"file:%s/keyring.jsonl\"}",
                 dir, dir, dir) < 0)
        fail();
    if (phicrypt_new(&ph, cfg) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    free(cfg);
    return ph;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char *cfg;
    f->dir = tu_tmpdir();
    cfg = tu_keyset(f->dir, NULL);
    free(cfg);
    f->ph = client_with_keyring(f->dir);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:ssn", PHICRYPT_KEYRING_FF1), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:opaque", PHICRYPT_KEYRING_SIV), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "ps:patient", PHICRYPT_KEYRING_HMAC), 0);
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

static char *tok(fx *f, const char *key, const char *value, const char *format, const char *context, uint32_t ver)
{
    phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    char *s;
    o.format = format;
    o.context = context;
    o.key_version = ver;
    if (phicrypt_tokenize(f->ph, &b, key, value, strlen(value), &o) != 0)
        fail_msg("tokenize (%s): %s", format ? format : "siv", phicrypt_errmsg(f->ph));
    s = strndup((char *)b.data, b.len);
    assert_int_equal(strlen(s), b.len);
    phicrypt_buf_dispose(&b);
    return s;
}

static int detok(fx *f, const char *key, const char *token, const char *format, const char *context, uint32_t ver,
                 char **out)
{
    phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    int rc;
    o.format = format;
    o.context = context;
    o.key_version = ver;
    rc = phicrypt_detokenize(f->ph, &b, key, token, strlen(token), &o);
    *out = rc == 0 ? strndup((char *)b.data, b.len) : NULL;
    phicrypt_buf_dispose(&b);
    return rc;
}

static void test_keyring__ssn_format_roundtrip(void **state)
{
    fx *f = *state;
    const char *ssns[] = { "123-45-6789", "078-05-1120", "219-09-9999", "665-12-3456" };
    for (size_t i = 0; i < sizeof ssns / sizeof ssns[0]; i++) {
        char *t = tok(f, "tok:ssn", ssns[i], "ssn", "patients.ssn", 0), *back;
        assert_int_equal(strlen(t), 11);
        assert_true(t[3] == '-' && t[6] == '-');
        assert_string_not_equal(t, ssns[i]);
        /* A valid SSN stays valid: area not 000/666/9xx, group not 00, serial not 0000. */
        assert_false(strncmp(t, "000", 3) == 0 || strncmp(t, "666", 3) == 0 || t[0] == '9');
        assert_false(strncmp(t + 4, "00", 2) == 0 || strncmp(t + 7, "0000", 4) == 0);
        assert_int_equal(detok(f, "tok:ssn", t, "ssn", "patients.ssn", 0, &back), 0);
        assert_string_equal(back, ssns[i]);
        free(back);
        /* Deterministic per context, different across contexts. */
        {
            char *again = tok(f, "tok:ssn", ssns[i], "ssn", "patients.ssn", 0);
            char *other = tok(f, "tok:ssn", ssns[i], "ssn", "claims.ssn", 0);
            assert_string_equal(again, t);
            assert_string_not_equal(other, t);
            free(again);
            free(other);
        }
        free(t);
    }
}

static void test_keyring__other_formats(void **state)
{
    fx *f = *state;
    static const struct {
        const char *format, *value;
    } cases[] = {
        { "digits", "4242424242" }, { "phone", "+1 (617) 555-0142" }, { "mrn", "MRN-00042-A7" },
        { "alnum", "Ab3dE9zz" },    { "email", "ada.quintero@example.org" }, { "credit_card", "4111 1111 1111 1111" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = tok(f, "tok:ssn", cases[i].value, cases[i].format, "ctx", 0), *back;
        assert_int_equal(strlen(t), strlen(cases[i].value));
        for (size_t j = 0; t[j]; j++)
            if (!isalnum((unsigned char)cases[i].value[j]))
                assert_int_equal(t[j], cases[i].value[j]); /* separators kept */
        if (strcmp(cases[i].format, "email") == 0)
            assert_non_null(strstr(t, "@example.org"));
        assert_int_equal(detok(f, "tok:ssn", t, cases[i].format, "ctx", 0, &back), 0);
        assert_string_equal(back, cases[i].value);
        free(back);
        free(t);
    }
}

static void test_keyring__siv_tokens(void **state)
{
    fx *f = *state;
    char *t = tok(f, "tok:opaque", "Ada Quintero", NULL, "patients.name", 0), *back;
    char *t2 = tok(f, "tok:opaque", "Ada Quintero", "siv", "patients.name", 0);
    assert_int_equal(strncmp(t, "tk1.1.", 6), 0);
    assert_string_equal(t, t2);
    assert_int_equal(detok(f, "tok:opaque", t, NULL, "patients.name", 0, &back), 0);
    assert_string_equal(back, "Ada Quintero");
    free(back);
    /* Wrong context, a flipped character: authentication fails. */
    assert_int_equal(detok(f, "tok:opaque", t, NULL, "claims.name", 0, &back), PHICRYPT_EAUTH);
    t[10] = t[10] == 'A' ? 'B' : 'A';
    assert_int_equal(detok(f, "tok:opaque", t, NULL, "patients.name", 0, &back), PHICRYPT_EAUTH);
    assert_false(tu_contains(phicrypt_errmsg(f->ph), "Ada"));
    assert_int_equal(detok(f, "tok:opaque", "not-a-token", NULL, "patients.name", 0, &back), PHICRYPT_EBADDATA);
    free(t);
    free(t2);
}

static void test_keyring__pseudonyms(void **state)
{
    fx *f = *state;
    phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
    phicrypt_buf a = PHICRYPT_BUF_INIT, b = PHICRYPT_BUF_INIT, c = PHICRYPT_BUF_INIT;
    o.context = "patient";
    o.normalize = PHICRYPT_NORM_TRIM | PHICRYPT_NORM_CASEFOLD;
    assert_int_equal(phicrypt_pseudonymize(f->ph, &a, "ps:patient", "Smith ", 6, &o), 0);
    assert_int_equal(phicrypt_pseudonymize(f->ph, &b, "ps:patient", "smith", 5, &o), 0);
    assert_string_equal((char *)a.data, (char *)b.data);
    assert_int_equal(strncmp((char *)a.data, "ps1.1.", 6), 0);
    assert_true(a.len >= 6 + 26); /* 128 bits in base32 */
    assert_int_equal(phicrypt_pseudonym_verify(f->ph, "ps:patient", "SMITH", 5, (char *)a.data, &o), 0);
    assert_int_equal(phicrypt_pseudonym_verify(f->ph, "ps:patient", "Smyth", 5, (char *)a.data, &o), PHICRYPT_EAUTH);
    o.context = "encounter";
    assert_int_equal(phicrypt_pseudonymize(f->ph, &c, "ps:patient", "smith", 5, &o), 0);
    assert_string_not_equal((char *)a.data, (char *)c.data);
    phicrypt_buf_dispose(&c);
    o.length = 8;
    assert_int_equal(phicrypt_pseudonymize(f->ph, &c, "ps:patient", "smith", 5, &o), PHICRYPT_EINVAL);
    phicrypt_buf_dispose(&a);
    phicrypt_buf_dispose(&b);
}

/* The in-buffer pseudonym (de-identification's per-value path) is the
 * public call's text, through the shared cache and through a worker's
 * own key copies; it allocates nothing once the copies exist; a buffer one
 * byte short is refused and left as it was. */
static void test_keyring__pseudonym_text_into_buffer(void **state)
{
    fx *f = *state;
    const char *values[] = { "Smith", " smith  ", "", "x@example.org", "MRN-0042" };
    const char *contexts[] = { "patient", "", "phicrypt.date_shift" };
    unsigned norms[] = { 0, PHICRYPT_NORM_TRIM | PHICRYPT_NORM_CASEFOLD, PHICRYPT_NORM_COLLAPSE };
    size_t lens[] = { 0, 16, 20, 32 };
    phi_kr_local *local = NULL;
    char buf[PHI_KR_PSEUDONYM_TEXT_MAX + 1];
    for (size_t v = 0; v < 5; v++)
        for (size_t c = 0; c < 3; c++)
            for (size_t k = 0; k < 3; k++)
                for (size_t l = 0; l < 4; l++) {
                    phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
                    phicrypt_buf want = PHICRYPT_BUF_INIT;
                    size_t n = 0;
                    o.context = contexts[c];
                    o.normalize = norms[k];
                    o.length = lens[l];
                    assert_int_equal(phicrypt_pseudonymize(f->ph, &want, "ps:patient", values[v], strlen(values[v]), &o), 0);
                    for (int shared = 0; shared < 2; shared++) {
                        memset(buf, 'X', sizeof buf);
                        if (!shared)
                            phi_test_fail_alloc_after(0); /* count allocations */
                        assert_int_equal(phi_kr_pseudonymize_text(f->ph, shared ? NULL : &local, buf, sizeof buf, &n,
                                                                  "ps:patient", values[v], strlen(values[v]), &o), 0);
                        /* only the first use of a (key, context) copies the key */
                        if (!shared && (v > 0 || k > 0 || l > 0))
                            assert_int_equal(phi_test_alloc_count(), 0);
                        assert_int_equal(n, want.len);
                        assert_int_equal(buf[n], '\0');
                        assert_memory_equal(buf, want.data, n);
                    }
                    phicrypt_buf_dispose(&want);
                }
    /* One byte short of the text and its NUL: refused, buffer untouched. */
    phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
    size_t n = 0, need;
    assert_int_equal(phi_kr_pseudonymize_text(f->ph, &local, buf, sizeof buf, &need, "ps:patient", "a", 1, &o), 0);
    memset(buf, 'X', sizeof buf);
    assert_int_equal(phi_kr_pseudonymize_text(f->ph, &local, buf, need, &n, "ps:patient", "a", 1, &o), PHICRYPT_EBUFSIZE);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'X');
    assert_int_equal(phi_kr_pseudonymize_text(f->ph, &local, buf, need + 1, &n, "ps:patient", "a", 1, &o), 0);
    assert_int_equal(n, need);
    assert_int_equal(phi_kr_pseudonymize_text(f->ph, &local, NULL, sizeof buf, &n, "ps:patient", "a", 1, &o), PHICRYPT_EINVAL);
    assert_int_equal(phi_kr_pseudonymize_text(f->ph, &local, buf, sizeof buf, NULL, "ps:patient", "a", 1, &o), PHICRYPT_EINVAL);
    assert_int_equal(phi_kr_pseudonymize_text(f->ph, &local, buf, sizeof buf, &n, "ps:nosuch", "a", 1, &o),
                     PHICRYPT_EKEYNOTFOUND);
    phi_kr_local_free(local);
}

static void test_keyring__rotation_keeps_old_tokens(void **state)
{
    fx *f = *state;
    uint32_t v;
    char *old_siv = tok(f, "tok:opaque", "MRN-0042", NULL, "c", 0);
    char *old_ff1 = tok(f, "tok:ssn", "123-45-6789", "ssn", "c", 0), *back, *new_siv, *new_ff1;
    assert_int_equal(phicrypt_keyring_rotate(f->ph, &v, "tok:opaque"), 0);
    assert_int_equal(v, 2);
    assert_int_equal(phicrypt_keyring_rotate(f->ph, &v, "tok:ssn"), 0);
    new_siv = tok(f, "tok:opaque", "MRN-0042", NULL, "c", 0);
    new_ff1 = tok(f, "tok:ssn", "123-45-6789", "ssn", "c", 0);
    assert_int_equal(strncmp(new_siv, "tk1.2.", 6), 0);
    assert_string_not_equal(new_ff1, old_ff1);
    /* SIV tokens carry their version; FF1 ones are told it. */
    assert_int_equal(detok(f, "tok:opaque", old_siv, NULL, "c", 0, &back), 0);
    assert_string_equal(back, "MRN-0042");
    free(back);
    assert_int_equal(detok(f, "tok:ssn", old_ff1, "ssn", "c", 1, &back), 0);
    assert_string_equal(back, "123-45-6789");
    free(back);
    /* Retire version 1: still reverses, never makes new tokens. */
    assert_int_equal(phicrypt_keyring_retire(f->ph, "tok:opaque", 1), 0);
    assert_int_equal(detok(f, "tok:opaque", old_siv, NULL, "c", 0, &back), 0);
    free(back);
    assert_int_equal(phicrypt_keyring_retire(f->ph, "tok:opaque", 2), PHICRYPT_EINVAL); /* primary */
    /* Destroy version 1: its tokens are gone for good, in this client and a fresh one. */
    assert_int_equal(phicrypt_keyring_destroy(f->ph, "tok:opaque", 1), 0);
    assert_int_equal(detok(f, "tok:opaque", old_siv, NULL, "c", 0, &back), PHICRYPT_EKEYNOTFOUND);
    {
        phicrypt_t *saved = f->ph;
        f->ph = client_with_keyring(f->dir);
        assert_int_equal(detok(f, "tok:opaque", old_siv, NULL, "c", 0, &back), PHICRYPT_EKEYNOTFOUND);
        assert_int_equal(detok(f, "tok:opaque", new_siv, NULL, "c", 0, &back), 0);
        free(back);
        phicrypt_free(f->ph);
        f->ph = saved;
    }
    free(old_siv);
    free(old_ff1);
    free(new_siv);
    free(new_ff1);
}

static void test_keyring__destroy_whole_key_is_crypto_shredding(void **state)
{
    fx *f = *state;
    char *t = tok(f, "tok:opaque", "SECRET-PHI-7", NULL, "c", 0), *back, path[4096], *file;
    assert_int_equal(phicrypt_keyring_destroy(f->ph, "tok:opaque", 0), 0);
    assert_int_equal(detok(f, "tok:opaque", t, NULL, "c", 0, &back), PHICRYPT_EKEYNOTFOUND);
    /* Re-creating the name makes a new key: the old token still fails. */
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:opaque", PHICRYPT_KEYRING_SIV), 0);
    assert_int_equal(detok(f, "tok:opaque", t, NULL, "c", 0, &back), PHICRYPT_EAUTH);
    snprintf(path, sizeof path, "%s/keyring.jsonl", f->dir);
    file = tu_read_file(path, NULL);
    assert_false(tu_contains(file, "SECRET-PHI"));
    free(file);
    free(t);
}

static void test_keyring__material_is_wrapped(void **state)
{
    fx *f = *state;
    char path[4096], *file;
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    snprintf(path, sizeof path, "%s/keyring.jsonl", f->dir);
    file = tu_read_file(path, NULL);
    assert_true(tu_contains(file, "\"subType\":\"06\"")); /* CSFLE ciphertext */
    assert_false(tu_contains(file, "\"subType\":\"00\""));
    free(file);
    assert_int_equal(phicrypt_datakey_id_by_alt_name(f->ph, id, "phicrypt-keyring"), 0);
    assert_int_equal(phicrypt_keyring_list(f->ph, &b), 0);
    assert_null(memmem(b.data, b.len, "material", 8));
    phicrypt_buf_dispose(&b);
}

/* Deleting the data key that wraps the keyring would destroy every key in
 * it: refused, by alt name or id, naming the dependants; shredding it on
 * purpose needs shred_internal. */
static void test_keyring__wrapping_key_delete_refused(void **state)
{
    fx *f = *state;
    phicrypt_datakey_delete_opts o = PHICRYPT_DATAKEY_DELETE_OPTS_INIT;
    uint8_t id[16];
    char *t = tok(f, "tok:opaque", "SECRET-PHI-8", NULL, "c", 0), *back;
    assert_int_equal(phicrypt_datakey_id_by_alt_name(f->ph, id, "phicrypt-keyring"), 0);
    assert_int_equal(phicrypt_datakey_delete(f->ph, id), PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "wraps 3 keyring keys"));
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "'ps:patient'"));
    assert_int_equal(phicrypt_datakey_remove_alt_name(f->ph, id, "phicrypt-keyring"), 0);
    assert_int_equal(phicrypt_datakey_delete_ex(f->ph, id, &o), PHICRYPT_EINVAL);
    assert_int_equal(detok(f, "tok:opaque", t, NULL, "c", 0, &back), 0);
    assert_string_equal(back, "SECRET-PHI-8");
    free(back);
    o.shred_internal = 1;
    assert_int_equal(phicrypt_datakey_delete_ex(f->ph, id, &o), 0);
    assert_int_not_equal(detok(f, "tok:opaque", t, NULL, "c", 0, &back), 0);
    o.version = 99;
    assert_int_equal(phicrypt_datakey_delete_ex(f->ph, id, &o), PHICRYPT_EINVAL);
    free(t);
}

static void test_keyring__errors(void **state)
{
    fx *f = *state;
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
    char *back;
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:ssn", PHICRYPT_KEYRING_FF1), PHICRYPT_EEXIST);
    assert_int_equal(phicrypt_keyring_create(f->ph, "bad name", PHICRYPT_KEYRING_FF1), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_keyring_create(f->ph, "x", (phicrypt_keyring_algorithm)9), PHICRYPT_EINVAL);
    o.format = "ssn";
    assert_int_equal(phicrypt_tokenize(f->ph, &b, "nope", "123-45-6789", 11, &o), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(phicrypt_tokenize(f->ph, &b, "tok:opaque", "123-45-6789", 11, &o), PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "siv key"));
    /* Value that does not fit the format: the message names the format, not the value. */
    assert_int_equal(phicrypt_tokenize(f->ph, &b, "tok:ssn", "SECRET-PHI", 10, &o), PHICRYPT_EBADDATA);
    assert_false(tu_contains(phicrypt_errmsg(f->ph), "SECRET"));
    o.format = "digits";
    /* Domain < 10^6: an opaque tk1 token, which detokenizes back. */
    assert_int_equal(phicrypt_tokenize(f->ph, &b, "tok:ssn", "12345", 5, &o), 0);
    assert_true(b.len > 4 && memcmp(b.data, "tk1.", 4) == 0);
    {
        phicrypt_buf back5 = PHICRYPT_BUF_INIT;
        assert_int_equal(phicrypt_detokenize(f->ph, &back5, "tok:ssn", (const char *)b.data, b.len, &o), 0);
        assert_int_equal(back5.len, 5);
        assert_memory_equal(back5.data, "12345", 5);
        phicrypt_buf_dispose(&back5);
    }
    phicrypt_buf_dispose(&b);
    o.format = "rot13";
    assert_int_equal(phicrypt_tokenize(f->ph, &b, "tok:ssn", "123456", 6, &o), PHICRYPT_EINVAL);
    o.format = NULL;
    o.version = 7;
    assert_int_equal(phicrypt_tokenize(f->ph, &b, "tok:opaque", "x", 1, &o), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_tokenize(NULL, &b, "tok:opaque", "x", 1, NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_keyring_retire(f->ph, "tok:ssn", 5), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(phicrypt_keyring_destroy(f->ph, "nope", 0), PHICRYPT_EKEYNOTFOUND);
    assert_int_equal(detok(f, "tok:ssn", "123-45-6789", "ssn", "c", 9, &back), PHICRYPT_EKEYNOTFOUND);
    assert_null(b.data);
    /* A client without a keyring says so. */
    {
        phicrypt_t *plain = tu_client(f->dir);
        assert_int_equal(phicrypt_keyring_create(plain, "k", PHICRYPT_KEYRING_SIV), PHICRYPT_EUNSUPPORTED);
        assert_true(tu_contains(phicrypt_errmsg(plain), "keyring"));
        phicrypt_free(plain);
    }
}

/* The keyring file is not re-read per lookup, but a change made by
 * another client (another process alike) is seen once the recheck
 * interval has passed; changes through this client are seen at once. */
static void test_keyring__other_writers_seen_after_the_recheck_interval(void **state)
{
    fx *f = *state;
    phicrypt_t *other = client_with_keyring(f->dir);
    char *t1 = tok(f, "tok:opaque", "v", NULL, "c", 0), *t2, *back;
    uint32_t v = 0;
    assert_true(strncmp(t1, "tk1.1.", 6) == 0);
    assert_int_equal(phicrypt_keyring_rotate(other, &v, "tok:opaque"), 0);
    assert_int_equal(v, 2);
    usleep(1100 * 1000); /* > PHI_KEYRING_RECHECK_MS */
    t2 = tok(f, "tok:opaque", "v", NULL, "c", 0);
    assert_true(strncmp(t2, "tk1.2.", 6) == 0);
    /* Destroyed by the other client: refused once seen. */
    assert_int_equal(phicrypt_keyring_destroy(other, "tok:opaque", 0), 0);
    usleep(1100 * 1000);
    assert_int_equal(detok(f, "tok:opaque", t2, NULL, "c", 0, &back), PHICRYPT_EKEYNOTFOUND);
    /* Through this client: at once. */
    assert_int_equal(phicrypt_keyring_destroy(f->ph, "tok:ssn", 0), 0);
    assert_int_equal(detok(f, "tok:ssn", "123-45-6789", "ssn", NULL, 0, &back), PHICRYPT_EKEYNOTFOUND);
    phicrypt_free(other);
    free(t1);
    free(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keyring__ssn_format_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__other_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__siv_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__pseudonyms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__pseudonym_text_into_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__rotation_keeps_old_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__destroy_whole_key_is_crypto_shredding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__material_is_wrapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__wrapping_key_delete_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring__other_writers_seen_after_the_recheck_interval, setup, teardown),
    };
    return cmocka_run_group_tests_name("keyring", tests, NULL, NULL);
}
