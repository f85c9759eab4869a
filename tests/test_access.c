/* Access rules: roles, purposes, per-namespace field paths, break-glass;
 * denied fields never reach libmongocrypt. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "access_fixture.h"
#include "access/access_private.h"
#include "keyvault/keyvault_private.h"

/* The value at `path` of the decrypted document. */
static bson_type_t type_at(const phicrypt_buf *b, const char *path, const char **str)
{
    bson_t d;
    bson_iter_t it;
    assert_true(bson_init_static(&d, b->data, b->len));
    assert_true(bson_iter_init(&it, &d));
    if (!bson_iter_find_descendant(&it, path, &it))
        return BSON_TYPE_EOD;
    if (str && BSON_ITER_HOLDS_UTF8(&it))
        *str = bson_iter_utf8(&it, NULL);
    return bson_iter_type(&it);
}

static void test_access__physician_sees_everything(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("dr.house", "physician", "TREATMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char *json;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len), 0);
    json = afx_json(&out);
    assert_true(tu_contains(json, PT_SSN));
    assert_true(tu_contains(json, PT_DX));
    assert_true(tu_contains(json, PT_NOTES));
    assert_true(tu_contains(json, PT_VISIT_DX));
    bson_free(json);
    phicrypt_buf_dispose(&out);
    assert_int_equal(afx_log_lines(f), 1);
}

static void test_access__billing_sees_ssn_not_diagnosis(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    const char *v = NULL;
    bson_t in;
    bson_iter_t a, b;
    char *json;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len), 0);
    assert_int_equal(type_at(&out, "ssn", &v), BSON_TYPE_UTF8);
    assert_string_equal(v, PT_SSN);
    /* Denied fields keep their ciphertext, byte for byte. */
    assert_int_equal(type_at(&out, "diagnosis", NULL), BSON_TYPE_BINARY);
    assert_int_equal(type_at(&out, "visits.0.dx", NULL), BSON_TYPE_BINARY);
    assert_int_equal(type_at(&out, "visits.0.date", NULL), BSON_TYPE_UTF8);
    {
        bson_t o;
        uint32_t l1, l2;
        const uint8_t *d1, *d2;
        bson_subtype_t s1, s2;
        assert_true(bson_init_static(&in, f->doc, f->doc_len));
        assert_true(bson_init_static(&o, out.data, out.len));
        assert_true(bson_iter_init_find(&a, &in, "notes"));
        assert_true(bson_iter_init_find(&b, &o, "notes"));
        bson_iter_binary(&a, &s1, &l1, &d1);
        bson_iter_binary(&b, &s2, &l2, &d2);
        assert_int_equal(s2, BSON_SUBTYPE_ENCRYPTED);
        assert_int_equal(l1, l2);
        assert_memory_equal(d1, d2, l1);
    }
    json = afx_json(&out);
    assert_false(tu_contains(json, PT_DX));
    assert_false(tu_contains(json, PT_NOTES));
    assert_false(tu_contains(json, PT_VISIT_DX));
    bson_free(json);
    phicrypt_buf_dispose(&out);
}

/* Every key id the key vault is asked for. */
static uint8_t asked[32][16];
static size_t n_asked;

static void record_request(const phi_key_request *req)
{
    for (size_t i = 0; i < req->n_ids && n_asked < 32; i++)
        memcpy(asked[n_asked++], req->ids[i], 16);
}

static int was_asked(const uint8_t id[16])
{
    for (size_t i = 0; i < n_asked; i++)
        if (memcmp(asked[i], id, 16) == 0)
            return 1;
    return 0;
}

static void test_access__key_vault_lookups(void **state)
{
    afx *f = *state;
    phicrypt_session bill = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_session doc = afx_session("dr.house", "physician", "TREATMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    phicrypt_t *ph = afx_client(f, NULL); /* a fresh client: no cached keys */
    n_asked = 0;
    phi_keyvault_test_hook = record_request;
    assert_int_equal(phicrypt_decrypt_document_as(ph, &out, &bill, "hospital.patients", f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    assert_true(was_asked(f->ssn_key));
    assert_false(was_asked(f->dx_key));
    assert_int_equal(phicrypt_decrypt_document_as(ph, &out, &doc, "hospital.patients", f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    assert_true(was_asked(f->dx_key));
    phi_keyvault_test_hook = NULL;
    phicrypt_free(ph);
}

/* The denied fields' data key is deleted: the billing read still works,
 * so that key was never requested from the key vault; the physician's
 * read, which needs it, fails. */
static void test_access__denied_keys_are_never_requested(void **state)
{
    afx *f = *state;
    phicrypt_session bill = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_session doc = afx_session("dr.house", "physician", "TREATMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    size_t len;
    char *vault, path[4096];
    assert_int_equal(phicrypt_datakey_delete(f->ph, f->dx_key), 0);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &bill, "hospital.patients", f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &doc, "hospital.patients", f->doc, f->doc_len),
                     PHICRYPT_EKEYNOTFOUND);
    assert_null(out.data);
    /* The key deletion and the billing read; the failed read disclosed
     * nothing and so wrote no line. */
    assert_int_equal(afx_log_lines(f), 2);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    vault = tu_read_file(path, &len);
    assert_non_null(vault);
    free(vault);
}

static void test_access__denied_fields_null_or_marker(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    const char *v = NULL;
    phicrypt_t *ph = afx_client(f, ", \"denied_fields\": \"null\"");
    assert_int_equal(phicrypt_decrypt_document_as(ph, &out, &s, "hospital.patients", f->doc, f->doc_len), 0);
    assert_int_equal(type_at(&out, "diagnosis", NULL), BSON_TYPE_NULL);
    assert_int_equal(type_at(&out, "visits.0.dx", NULL), BSON_TYPE_NULL);
    phicrypt_buf_dispose(&out);
    phicrypt_free(ph);
    ph = afx_client(f, ", \"denied_fields\": \"marker\", \"marker\": \"<withheld>\"");
    assert_int_equal(phicrypt_decrypt_document_as(ph, &out, &s, "hospital.patients", f->doc, f->doc_len), 0);
    assert_int_equal(type_at(&out, "diagnosis", &v), BSON_TYPE_UTF8);
    assert_string_equal(v, "<withheld>");
    assert_int_equal(type_at(&out, "ssn", &v), BSON_TYPE_UTF8);
    assert_string_equal(v, PT_SSN);
    phicrypt_buf_dispose(&out);
    phicrypt_free(ph);
}

static void test_access__purpose_not_allowed_is_denied_and_audited(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("clerk", "billing", "TREATMENT");
    phicrypt_session u = afx_session("mallory", "janitor", "PAYMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char *log;
    size_t len;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len),
                     PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "access denied"));
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &u, "hospital.patients", f->doc, f->doc_len),
                     PHICRYPT_EACCESS);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "janitor"));
    log = tu_read_file(f->log, &len);
    assert_non_null(log);
    assert_int_equal(afx_log_lines(f), 2);
    assert_true(tu_contains(log, "\"outcome\":\"denied\""));
    assert_true(tu_contains(log, "\"actor\":\"mallory\""));
    free(log);
}

static void test_access__missing_purpose_is_an_error(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("clerk", "billing", NULL);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len),
                     PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "purpose"));
    s.purpose = "";
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, f->doc, f->doc_len), PHICRYPT_EINVAL);
    s = afx_session(NULL, "billing", "PAYMENT");
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, f->doc, f->doc_len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, NULL, NULL, f->doc, f->doc_len), PHICRYPT_EINVAL);
    s = afx_session("clerk", "billing", "PAYMENT");
    s.version = 99;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, f->doc, f->doc_len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, NULL, NULL, "ssn", f->doc, f->doc_len), PHICRYPT_EINVAL);
    assert_null(out.data);
    assert_int_equal(afx_log_lines(f), 0);
}

static void test_access__break_glass(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("dr.er", "physician", "EMERGENCY");
    phicrypt_session b = afx_session("clerk", "billing", "EMERGENCY");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char *log, *json;
    size_t len;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len), 0);
    json = afx_json(&out);
    assert_true(tu_contains(json, PT_DX));
    bson_free(json);
    phicrypt_buf_dispose(&out);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &b, "hospital.patients", f->doc, f->doc_len),
                     PHICRYPT_EACCESS);
    log = tu_read_file(f->log, &len);
    assert_non_null(log);
    assert_true(tu_contains(log, "\"purpose\":\"EMERGENCY\""));
    assert_true(strstr(log, "\"break_glass\":true") < strchr(log, '\n'));
    assert_true(tu_contains(strchr(log, '\n'), "\"break_glass\":false"));
    free(log);
}

static void test_access__per_namespace_rules(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("nurse.joy", "nurse", "TREATMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    const char *v = NULL;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len), 0);
    assert_int_equal(type_at(&out, "visits.0.dx", &v), BSON_TYPE_UTF8);
    assert_string_equal(v, PT_VISIT_DX);
    assert_int_equal(type_at(&out, "diagnosis", NULL), BSON_TYPE_BINARY);
    assert_int_equal(type_at(&out, "ssn", NULL), BSON_TYPE_BINARY);
    phicrypt_buf_dispose(&out);
    /* Elsewhere only "mrn" (plaintext here): no encrypted field is allowed. */
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "clinic.records", f->doc, f->doc_len),
                     PHICRYPT_EACCESS);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "none of the"));
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, f->doc, f->doc_len), PHICRYPT_EACCESS);
}

static void test_access__single_values(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t in, one = BSON_INITIALIZER;
    bson_iter_t it;
    char *log;
    size_t len;
    assert_true(bson_init_static(&in, f->doc, f->doc_len));
    assert_true(bson_iter_init_find(&it, &in, "ssn"));
    bson_append_iter(&one, "v", 1, &it);
    s.subject = PT_MRN;
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, "hospital.patients", "ssn", bson_get_data(&one), one.len), 0);
    {
        char *json = afx_json(&out);
        assert_true(tu_contains(json, PT_SSN));
        bson_free(json);
    }
    phicrypt_buf_dispose(&out);
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, "hospital.patients", "diagnosis", bson_get_data(&one),
                                         one.len),
                     PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_int_equal(phicrypt_access_check(f->ph, &s, NULL, "mrn"), 0);
    assert_int_equal(phicrypt_access_check(f->ph, &s, NULL, "notes"), PHICRYPT_EACCESS);
    bson_destroy(&one);
    log = tu_read_file(f->log, &len);
    assert_false(tu_contains(log, PT_SSN));
    assert_false(tu_contains(log, PT_MRN));
    free(log);
    assert_int_equal(afx_log_lines(f), 2);
}

static void test_access__detokenize_as(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_token_opts to = PHICRYPT_TOKEN_OPTS_INIT;
    phicrypt_buf tok = PHICRYPT_BUF_INIT, out = PHICRYPT_BUF_INIT, sub = PHICRYPT_BUF_INIT;
    char *log;
    size_t len;
    to.format = "ssn";
    to.context = "ssn";
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:ssn", PHICRYPT_KEYRING_FF1), 0);
    assert_int_equal(phicrypt_tokenize(f->ph, &tok, "tok:ssn", PT_SSN, strlen(PT_SSN), &to), 0);
    s.subject = PT_MRN;
    assert_int_equal(phicrypt_detokenize_as(f->ph, &out, &s, "hospital.patients", "ssn", "tok:ssn",
                                            (const char *)tok.data, tok.len, &to),
                     0);
    assert_string_equal((const char *)out.data, PT_SSN);
    phicrypt_buf_dispose(&out);
    assert_int_equal(phicrypt_detokenize_as(f->ph, &out, &s, "hospital.patients", "diagnosis", "tok:ssn",
                                            (const char *)tok.data, tok.len, &to),
                     PHICRYPT_EACCESS);
    assert_null(out.data);
    s.purpose = NULL;
    assert_int_equal(phicrypt_detokenize_as(f->ph, &out, &s, NULL, "ssn", "tok:ssn", (const char *)tok.data, tok.len,
                                            &to),
                     PHICRYPT_EINVAL);
    log = tu_read_file(f->log, &len);
    assert_non_null(log);
    assert_true(tu_contains(log, "\"op\":\"keyring_create\""));
    assert_true(tu_contains(log, "\"op\":\"detokenize\",\"ns\":\"hospital.patients\",\"fields\":[\"ssn\"]"));
    assert_true(tu_contains(log, "\"key_name\":\"tok:ssn\""));
    assert_int_equal(phicrypt_audit_subject_id(f->ph, &sub, PT_MRN), 0);
    assert_true(tu_contains(log, (const char *)sub.data));
    assert_false(tu_contains(log, PT_SSN));
    assert_false(tu_contains(log, PT_MRN));
    assert_false(tu_contains(log, (const char *)tok.data));
    free(log);
    phicrypt_buf_dispose(&sub);
    phicrypt_buf_dispose(&tok);
}

/* A denied, encrypted subject field is decrypted for the audit line only. */
static void test_access__encrypted_subject_field(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("dr.study", "researcher", "RESEARCH");
    phicrypt_buf out = PHICRYPT_BUF_INIT, sub = PHICRYPT_BUF_INIT;
    bson_t doc = BSON_INITIALIZER, arr, visit;
    char *log, *json;
    size_t len;
    uint8_t mrn_key[16];
    phicrypt_datakey_opts ko = PHICRYPT_DATAKEY_OPTS_INIT;
    /* A key of its own: k_ssn is bound to ssn, so under mrn it would be a relabelling. */
    assert_int_equal(phicrypt_datakey_create(f->ph, mrn_key, &ko), 0);
    afx_encrypt(f, &doc, "mrn", PT_MRN, mrn_key, PHICRYPT_ALG_DETERMINISTIC);
    BSON_APPEND_ARRAY_BEGIN(&doc, "visits", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &visit);
    afx_encrypt(f, &visit, "dx", PT_VISIT_DX, f->dx_key, PHICRYPT_ALG_RANDOM);
    bson_append_document_end(&arr, &visit);
    bson_append_array_end(&doc, &arr);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", bson_get_data(&doc), doc.len),
                     0);
    json = afx_json(&out);
    assert_false(tu_contains(json, PT_MRN));
    assert_true(tu_contains(json, PT_VISIT_DX));
    bson_free(json);
    log = tu_read_file(f->log, &len);
    assert_int_equal(phicrypt_audit_subject_id(f->ph, &sub, PT_MRN), 0);
    assert_true(tu_contains(log, (const char *)sub.data));
    free(log);
    phicrypt_buf_dispose(&sub);
    phicrypt_buf_dispose(&out);
    bson_destroy(&doc);
}

static void test_access__bad_inputs(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("dr.house", "physician", "TREATMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    uint8_t bad[8] = { 8, 0, 0, 0, 0x02, 0, 0, 0 };
    bson_t doc = BSON_INITIALIZER;
    uint8_t parked[4] = { 1, 2, 3, 4 };
    assert_int_equal(phicrypt_decrypt_document_as(NULL, &out, &s, NULL, f->doc, f->doc_len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, NULL, &s, NULL, f->doc, f->doc_len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, bad, sizeof bad), PHICRYPT_EBADDATA);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, NULL, 0), PHICRYPT_EINVAL);
    /* Binary subtype 0x80 is where denied ciphertexts wait: refused as input. */
    bson_append_binary(&doc, "x", 1, (bson_subtype_t)0x80, parked, sizeof parked);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, bson_get_data(&doc), doc.len),
                     PHICRYPT_EBADDATA);
    bson_destroy(&doc);
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, NULL, NULL, f->doc, f->doc_len), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, NULL, "ssn", bad, sizeof bad), PHICRYPT_EBADDATA);
    assert_int_equal(phicrypt_access_check(f->ph, &s, NULL, NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_access_enabled(f->ph), 1);
    assert_int_equal(phicrypt_access_enabled(NULL), 0);
    assert_null(out.data);
}

static void test_access__path_matching(void **state)
{
    (void)state;
    assert_true(phi_access_path_match("*", "a"));
    assert_true(phi_access_path_match("*", "a.b.c"));
    assert_true(phi_access_path_match("a", "a"));
    assert_true(phi_access_path_match("a", "a.b"));
    assert_false(phi_access_path_match("a", "ab"));
    assert_false(phi_access_path_match("a.b", "a"));
    assert_true(phi_access_path_match("a.*.c", "a.x.c"));
    assert_true(phi_access_path_match("a.*.c", "a.x.c.d"));
    assert_false(phi_access_path_match("a.*.c", "a.x.d"));
    assert_false(phi_access_path_match("ssn", "mrn"));
}

static int try_cfg(afx *f, const char *access_json)
{
    phicrypt_t *ph = NULL;
    char *base = tu_keyset(f->dir, NULL), *cfg;
    int rc;
    base[strlen(base) - 1] = '\0';
    if (asprintf(&cfg, "%s, %s}", base, access_json) < 0)
        abort();
    rc = phicrypt_new(&ph, cfg);
    phicrypt_free(ph);
    free(cfg);
    free(base);
    return rc;
}

static void test_access__configuration_errors(void **state)
{
    afx *f = *state;
    assert_int_equal(try_cfg(f, "\"access\": {\"roles\": {\"a\": {\"purposes\": [\"X\"], \"fields\": [\"*\"]}}}"), 0);
    assert_int_equal(try_cfg(f, "\"access\": {\"roles\": {\"a\": {\"purposes\": [\"X\"], \"field\": [\"*\"]}}}"),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "did you mean 'fields'"));
    assert_int_equal(try_cfg(f, "\"access\": {\"roles\": {\"a\": {\"fields\": [\"*\"]}}}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "purposes"));
    assert_int_equal(try_cfg(f, "\"access\": {\"roles\": {\"a\": {\"purposes\": [], \"fields\": [\"*\"]}}}"),
                     PHICRYPT_ECONFIG);
    assert_int_equal(try_cfg(f, "\"access\": {\"roles\": {\"a\": {\"purposes\": [\"X\"], \"fields\": [\"*\"]}},"
                                " \"break_glass\": {\"purpose\": \"EMERGENCY\", \"roles\": [\"b\"]}}"),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "no role 'b'"));
    assert_int_equal(try_cfg(f, "\"access\": {\"roles\": {\"a\": {\"purposes\": [\"X\"], \"fields\": [\"*\"]}},"
                                " \"denied_fields\": \"drop\"}"),
                     PHICRYPT_ECONFIG);
    assert_int_equal(try_cfg(f, "\"access\": {\"roles\": {\"a\": {\"purposes\": [\"X\"], "
                                "\"fields\": {\"nodot\": [\"x\"]}}}}"),
                     PHICRYPT_ECONFIG);
    assert_int_equal(try_cfg(f, "\"audit\": {\"subject_field\": \"mrn\"}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_cfg(f, "\"audit\": {\"path\": \"a.jsonl\", \"fsync\": \"sometimes\"}"), PHICRYPT_ECONFIG);
    assert_int_equal(try_cfg(f, "\"audit\": {\"path\": \"a.jsonl\", \"paht\": 1}"), PHICRYPT_ECONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_access__physician_sees_everything, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__billing_sees_ssn_not_diagnosis, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__denied_keys_are_never_requested, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__key_vault_lookups, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__denied_fields_null_or_marker, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__purpose_not_allowed_is_denied_and_audited, afx_setup,
                                        afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__missing_purpose_is_an_error, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__break_glass, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__per_namespace_rules, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__single_values, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__detokenize_as, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__encrypted_subject_field, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__bad_inputs, afx_setup, afx_teardown),
        cmocka_unit_test(test_access__path_matching),
        cmocka_unit_test_setup_teardown(test_access__configuration_errors, afx_setup, afx_teardown),
    };
    return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
