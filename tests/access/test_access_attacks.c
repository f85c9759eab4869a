/* The attack suite of minimum necessary: a caller who may see `ssn` tries
 * to read the diagnosis by relabelling its ciphertext, token or key; plain
 * calls try to skip the session; an unwritable audit log must stop every
 * disclosure; hostile session strings must not reach the log. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../access_fixture.h"

static phicrypt_session billing(void)
{
    return afx_session("clerk", "billing", "PAYMENT");
}

/* The ciphertext {"v": <subtype 6>} of `value` under `key`. */
static void value_ct(afx *f, bson_t *out, const char *value, const uint8_t key[16])
{
    bson_init(out);
    afx_encrypt(f, out, "v", value, key, PHICRYPT_ALG_RANDOM);
}

/* The log's last line (malloc'd), "" when there is none. */
static char *last_line(afx *f)
{
    size_t len;
    char *t = tu_read_file(f->log, &len), *p;
    if (!t)
        return strdup("");
    while (len > 0 && t[len - 1] == '\n')
        t[--len] = '\0';
    p = strrchr(t, '\n');
    p = strdup(p ? p + 1 : t);
    free(t);
    return p;
}

static void assert_last_denied(afx *f, const char *needle)
{
    char *l = last_line(f);
    if (!tu_contains(l, "\"outcome\":\"denied\"") || (needle && !tu_contains(l, needle)))
        fail_msg("expected a denied audit line with %s", needle ? needle : "(anything)");
    assert_false(tu_contains(l, PT_DX));
    assert_false(tu_contains(l, PT_SSN));
    free(l);
}

/* decrypt_document_as by billing of a document built by `build`. */
static int doc_as_billing(afx *f, bson_t *doc, phicrypt_buf *out)
{
    phicrypt_session s = billing();
    return phicrypt_decrypt_document_as(f->ph, out, &s, "hospital.patients", bson_get_data(doc), doc->len);
}

static void test_access__relabel_explicit_decrypt(void **state)
{
    afx *f = *state;
    phicrypt_session s = billing();
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t dx, ssn;
    char *l;
    value_ct(f, &dx, PT_DX, f->dx_key);
    value_ct(f, &ssn, PT_SSN, f->ssn_key);
    /* The diagnosis handed in as "ssn": its key is bound to diagnosis. */
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, "hospital.patients", "ssn", bson_get_data(&dx), dx.len),
                     PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_false(tu_contains(phicrypt_errmsg(f->ph), PT_DX));
    assert_last_denied(f, "\"denied_fields\":[\"ssn\"]");
    /* Without a namespace too. */
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, NULL, "ssn", bson_get_data(&dx), dx.len), PHICRYPT_EACCESS);
    assert_null(out.data);
    /* The genuine ssn: allowed, audited with the key it used. */
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, "hospital.patients", "ssn", bson_get_data(&ssn), ssn.len),
                     0);
    phicrypt_buf_dispose(&out);
    l = last_line(f);
    assert_true(tu_contains(l, "\"fields\":[\"ssn\"]"));
    assert_true(tu_contains(l, "\"key_ids\":["));
    assert_true(tu_contains(l, "\"outcome\":\"ok\""));
    free(l);
    /* The diagnosis riding along next to a genuine ssn: refused, nothing decrypted. */
    {
        bson_t two;
        bson_iter_t it;
        bson_copy_to(&ssn, &two);
        assert_true(bson_iter_init_find(&it, &dx, "v"));
        bson_append_iter(&two, "w", 1, &it);
        assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, NULL, "ssn", bson_get_data(&two), two.len),
                         PHICRYPT_EBADDATA);
        assert_null(out.data);
        bson_destroy(&two);
    }
    /* The ssn ciphertext relabelled the other way, even for the physician. */
    s = afx_session("drh", "physician", "TREATMENT");
    assert_int_equal(phicrypt_decrypt_as(f->ph, &out, &s, "hospital.patients", "diagnosis", bson_get_data(&ssn),
                                         ssn.len),
                     PHICRYPT_EACCESS);
    assert_last_denied(f, "\"denied_fields\":[\"diagnosis\"]");
    bson_destroy(&dx);
    bson_destroy(&ssn);
}

static void test_access__relabel_document_moved(void **state)
{
    afx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "mrn", PT_MRN);
    afx_encrypt(f, &doc, "ssn", PT_DX, f->dx_key, PHICRYPT_ALG_RANDOM); /* moved under ssn */
    assert_int_equal(doc_as_billing(f, &doc, &out), PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_last_denied(f, "\"denied_fields\":[\"ssn\"]");
    bson_destroy(&doc);
}

static void test_access__relabel_document_copied(void **state)
{
    afx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t doc = BSON_INITIALIZER;
    afx_encrypt(f, &doc, "ssn", PT_SSN, f->ssn_key, PHICRYPT_ALG_DETERMINISTIC);
    afx_encrypt(f, &doc, "diagnosis", PT_DX, f->dx_key, PHICRYPT_ALG_RANDOM);
    afx_encrypt(f, &doc, "mrn", PT_DX, f->dx_key, PHICRYPT_ALG_RANDOM); /* a copy under an allowed field */
    assert_int_equal(doc_as_billing(f, &doc, &out), PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_last_denied(f, "\"denied_fields\":[\"mrn\"]");
    bson_destroy(&doc);
}

static void test_access__relabel_document_nested(void **state)
{
    afx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t doc = BSON_INITIALIZER, sub;
    /* "ssn" covers ssn.x by path, but the key is the diagnosis's. */
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "ssn", &sub);
    afx_encrypt(f, &sub, "x", PT_DX, f->dx_key, PHICRYPT_ALG_RANDOM);
    bson_append_document_end(&doc, &sub);
    assert_int_equal(doc_as_billing(f, &doc, &out), PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_last_denied(f, "\"denied_fields\":[\"ssn.x\"]");
    bson_destroy(&doc);
}

static void test_access__relabel_document_in_array(void **state)
{
    afx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t doc = BSON_INITIALIZER, arr;
    afx_encrypt(f, &doc, "ssn", PT_SSN, f->ssn_key, PHICRYPT_ALG_DETERMINISTIC);
    BSON_APPEND_ARRAY_BEGIN(&doc, "mrn", &arr);
    afx_encrypt(f, &arr, "0", PT_DX, f->dx_key, PHICRYPT_ALG_RANDOM);
    bson_append_array_end(&doc, &arr);
    assert_int_equal(doc_as_billing(f, &doc, &out), PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_last_denied(f, "\"denied_fields\":[\"mrn\"]");
    bson_destroy(&doc);
}

/* The genuine document still works, and its line pairs fields with keys. */
static void test_access__genuine_document_audits_key_ids(void **state)
{
    afx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t doc;
    char *l, *json;
    assert_true(bson_init_static(&doc, f->doc, f->doc_len));
    assert_int_equal(doc_as_billing(f, &doc, &out), 0);
    json = afx_json(&out);
    assert_true(tu_contains(json, PT_SSN));
    assert_false(tu_contains(json, PT_DX));
    bson_free(json);
    l = last_line(f);
    assert_true(tu_contains(l, "\"fields\":[\"ssn\"]"));
    assert_true(tu_contains(l, "\"denied_fields\":[\"diagnosis\",\"notes\",\"visits.dx\"]"));
    free(l);
    phicrypt_buf_dispose(&out);
}

static void test_access__detokenize_other_fields_token(void **state)
{
    afx *f = *state;
    phicrypt_session s = billing();
    phicrypt_token_opts to = PHICRYPT_TOKEN_OPTS_INIT;
    phicrypt_buf tok = PHICRYPT_BUF_INIT, out = PHICRYPT_BUF_INIT;
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:ssn", PHICRYPT_KEYRING_SIV), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:dx", PHICRYPT_KEYRING_SIV), 0);
    assert_int_equal(phicrypt_tokenize(f->ph, &tok, "tok:dx", PT_DX, strlen(PT_DX), &to), 0);
    /* The diagnosis token under the ssn label, with its own key: the key is not billing's. */
    assert_int_equal(phicrypt_detokenize_as(f->ph, &out, &s, "hospital.patients", "ssn", "tok:dx",
                                            (const char *)tok.data, tok.len, &to),
                     PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_last_denied(f, "\"key_name\":\"tok:dx\"");
    /* ... or with billing's key: it does not open. */
    assert_int_not_equal(phicrypt_detokenize_as(f->ph, &out, &s, "hospital.patients", "ssn", "tok:ssn",
                                                (const char *)tok.data, tok.len, &to),
                         0);
    assert_null(out.data);
    phicrypt_buf_dispose(&tok);
}

/* Plain text -> a de-identified file (by the physician), for reid attacks. */
static char *deid_input(afx *f, const char *policy, const char *plain)
{
    phicrypt_deid_policy *p = NULL;
    phicrypt_session doc = afx_session("etl", "physician", "TREATMENT");
    char in[4200], *out = malloc(4200);
    snprintf(in, sizeof in, "%s/plain.jsonl", f->dir);
    snprintf(out, 4200, "%s/deid.jsonl", f->dir);
    tu_write_file(in, plain, strlen(plain), 0600);
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph, policy), 0);
    assert_int_equal(phicrypt_deid_file_as(f->ph, NULL, &doc, NULL, p, in, out, NULL), 0);
    phicrypt_deid_policy_free(p);
    return out;
}

static int reid_as(afx *f, phicrypt_session *s, const char *policy, const char *in, const char *out,
                   phicrypt_buf *report)
{
    phicrypt_deid_policy *p = NULL;
    int rc;
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph, policy), 0);
    rc = phicrypt_reid_file_as(f->ph, report, s, NULL, p, in, out, NULL);
    phicrypt_deid_policy_free(p);
    return rc;
}

static void test_access__reid_policy_names_other_key(void **state)
{
    afx *f = *state;
    phicrypt_session s = billing();
    char out[4200], *in;
    struct stat st;
    const char *pol_dx = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                         "\"ssn\":{\"action\":\"tokenize\",\"key\":\"tok:dx\"}}}";
    const char *pol_enc = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                          "\"ssn\":{\"action\":\"encrypt\",\"key_alt_name\":\"k_dx\"}}}";
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:dx", PHICRYPT_KEYRING_SIV), 0);
    snprintf(out, sizeof out, "%s/reid.jsonl", f->dir);
    /* A keyring key billing may not use, under billing's field. */
    in = deid_input(f, pol_dx, "{\"ssn\":\"" PT_DX "\"}\n");
    assert_int_equal(reid_as(f, &s, pol_dx, in, out, NULL), PHICRYPT_EACCESS);
    assert_int_not_equal(stat(out, &st), 0);
    assert_last_denied(f, "\"op\":\"reid\"");
    free(in);
    /* A data key the schema binds to the diagnosis, under billing's field. */
    in = deid_input(f, pol_enc, "{\"ssn\":\"" PT_DX "\"}\n");
    assert_int_equal(reid_as(f, &s, pol_enc, in, out, NULL), PHICRYPT_EACCESS);
    assert_int_not_equal(stat(out, &st), 0);
    assert_last_denied(f, "\"denied_fields\":[\"ssn\"]");
    free(in);
}

/* The policy is honest, the file is not: the diagnosis ciphertext sits under ssn. */
static void test_access__reid_file_holds_relabelled_ciphertext(void **state)
{
    afx *f = *state;
    phicrypt_session s = billing();
    char in[4200], out[4200], *line;
    struct stat st;
    bson_t doc = BSON_INITIALIZER;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                      "\"ssn\":{\"action\":\"encrypt\",\"key_alt_name\":\"k_ssn\"}}}";
    afx_encrypt(f, &doc, "ssn", PT_DX, f->dx_key, PHICRYPT_ALG_RANDOM);
    line = bson_as_canonical_extended_json(&doc, NULL);
    { /* compact, as the engine writes it */
        size_t o = 0;
        for (size_t i = 0; line[i]; i++)
            if (line[i] != ' ')
                line[o++] = line[i];
        line[o] = '\0';
    }
    snprintf(in, sizeof in, "%s/forged.jsonl", f->dir);
    snprintf(out, sizeof out, "%s/reid.jsonl", f->dir);
    tu_write_file(in, line, strlen(line), 0600);
    assert_int_equal(reid_as(f, &s, pol, in, out, NULL), PHICRYPT_EACCESS);
    assert_int_not_equal(stat(out, &st), 0);
    assert_last_denied(f, "\"op\":\"reid\"");
    bson_free(line);
    bson_destroy(&doc);
}

static const char *partial_policy = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                                    "\"ssn\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"ssn\"},"
                                    "\"mrn\":{\"action\":\"tokenize\",\"key\":\"tok:mrn\"},"
                                    "\"phone\":{\"action\":\"tokenize\",\"key\":\"tok:phone\",\"format\":\"phone\"}}}";
#define PT_PHONE "617-555-0100"
#define PARTIAL_PLAIN "{\"ssn\":\"" PT_SSN "\",\"mrn\":\"" PT_MRN "\",\"phone\":\"" PT_PHONE "\"}\n"

static void partial_keys(afx *f)
{
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:ssn", PHICRYPT_KEYRING_FF1), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:mrn", PHICRYPT_KEYRING_SIV), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:phone", PHICRYPT_KEYRING_FF1), 0);
}

static void test_access__partial_reid_by_role(void **state)
{
    afx *f = *state;
    phicrypt_session s = billing();
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    char out[4200], *in, *text, *l;
    size_t len;
    struct stat st;
    partial_keys(f);
    in = deid_input(f, partial_policy, PARTIAL_PLAIN);
    snprintf(out, sizeof out, "%s/reid.jsonl", f->dir);
    assert_int_equal(reid_as(f, &s, partial_policy, in, out, &rep), 0);
    text = tu_read_file(out, &len);
    assert_true(tu_contains(text, "\"ssn\":\"" PT_SSN "\""));
    assert_true(tu_contains(text, "\"mrn\":\"" PT_MRN "\""));
    assert_false(tu_contains(text, PT_PHONE)); /* kept tokenized (the default) */
    free(text);
    assert_true(tu_contains((const char *)rep.data, "\"reid_fields\":[\"ssn\",\"mrn\"]"));
    assert_true(tu_contains((const char *)rep.data, "\"withheld_fields\":[\"phone\"]"));
    phicrypt_buf_dispose(&rep);
    l = last_line(f);
    assert_true(tu_contains(l, "\"fields\":[\"ssn\",\"mrn\"]"));
    assert_true(tu_contains(l, "\"denied_fields\":[\"phone\"]"));
    assert_true(tu_contains(l, "\"outcome\":\"ok\""));
    free(l);
    /* billing/TREATMENT: denied, exit path EACCESS, no output file. */
    unlink(out);
    s.purpose = "TREATMENT";
    assert_int_equal(reid_as(f, &s, partial_policy, in, out, NULL), PHICRYPT_EACCESS);
    assert_int_not_equal(stat(out, &st), 0);
    assert_last_denied(f, "\"op\":\"reid\"");
    /* A role that may see none of the fields: denied, no output. */
    s = afx_session("rs", "researcher", "RESEARCH");
    assert_int_equal(reid_as(f, &s, partial_policy, in, out, NULL), PHICRYPT_EACCESS);
    assert_int_not_equal(stat(out, &st), 0);
    assert_last_denied(f, "\"denied_fields\":[\"ssn\",\"mrn\",\"phone\"]");
    free(in);
}

static void test_access__partial_reid_redact_or_null(void **state)
{
    afx *f = *state;
    phicrypt_session s = billing();
    char out[4200], *in, *text;
    size_t len;
    partial_keys(f);
    in = deid_input(f, partial_policy, PARTIAL_PLAIN);
    snprintf(out, sizeof out, "%s/reid.jsonl", f->dir);
    phicrypt_free(f->ph);
    f->ph = afx_client(f, ", \"denied_fields\": \"null\"");
    assert_int_equal(reid_as(f, &s, partial_policy, in, out, NULL), 0);
    text = tu_read_file(out, &len);
    assert_true(tu_contains(text, "\"phone\":null"));
    assert_true(tu_contains(text, PT_SSN));
    free(text);
    phicrypt_free(f->ph);
    f->ph = afx_client(f, ", \"denied_fields\": \"redact\"");
    assert_int_equal(reid_as(f, &s, partial_policy, in, out, NULL), 0);
    text = tu_read_file(out, &len);
    assert_true(tu_contains(text, "\"phone\":\"[RESTRICTED]\""));
    free(text);
    free(in);
}

/* With access rules, the plain calls refuse: there is no session to check. */
static void test_access__plain_calls_need_a_session(void **state)
{
    afx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    phicrypt_token_opts to = PHICRYPT_TOKEN_OPTS_INIT;
    phicrypt_deid_policy *p = NULL;
    bson_t v;
    char *json, o[4200], *in;
    size_t before;
    struct stat st;
    partial_keys(f);
    in = deid_input(f, partial_policy, PARTIAL_PLAIN);
    value_ct(f, &v, PT_SSN, f->ssn_key);
    before = afx_log_lines(f);
    assert_int_equal(phicrypt_decrypt(f->ph, &out, bson_get_data(&v), v.len), PHICRYPT_EACCESS);
    assert_null(out.data);
    json = bson_as_canonical_extended_json(&v, NULL);
    assert_int_equal(phicrypt_decrypt_json(f->ph, &out, json, 0), PHICRYPT_EACCESS);
    assert_null(out.data);
    bson_free(json);
    assert_int_equal(phicrypt_decrypt_document(f->ph, &out, f->doc, f->doc_len), PHICRYPT_EACCESS);
    assert_null(out.data);
    assert_int_equal(phicrypt_detokenize(f->ph, &out, "tok:ssn", "000-00-0000", 11, &to), PHICRYPT_EACCESS);
    assert_null(out.data);
    snprintf(o, sizeof o, "%s/plain_reid.jsonl", f->dir);
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph, partial_policy), 0);
    assert_int_equal(phicrypt_reid_file(f->ph, NULL, p, in, o, NULL), PHICRYPT_EACCESS);
    assert_int_not_equal(stat(o, &st), 0);
    phicrypt_deid_policy_free(p);
    assert_int_equal(afx_log_lines(f), before + 5);
    assert_last_denied(f, "\"op\":\"reid\"");
    bson_destroy(&v);
    free(in);
}

/* With an audit log and no access rules, the plain calls are audited. */
static void test_access__plain_calls_audited_without_access(void **state)
{
    afx *f = *state;
    phicrypt_t *ph = NULL;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t v;
    char *cfg, *l;
    value_ct(f, &v, PT_SSN, f->ssn_key);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\", \"audit\": {\"path\": \"%s\"}}",
                 f->dir, f->dir, f->log) < 0)
        abort();
    assert_int_equal(phicrypt_new(&ph, cfg), 0);
    free(cfg);
    assert_int_equal(phicrypt_decrypt(ph, &out, bson_get_data(&v), v.len), 0);
    phicrypt_buf_dispose(&out);
    l = last_line(f);
    assert_true(tu_contains(l, "\"actor\":\"uid:"));
    assert_true(tu_contains(l, "\"op\":\"decrypt\""));
    assert_true(tu_contains(l, "\"key_ids\":["));
    free(l);
    assert_int_equal(phicrypt_decrypt_document(ph, &out, f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    l = last_line(f);
    assert_true(tu_contains(l, "\"fields\":[\"ssn\",\"diagnosis\",\"notes\",\"visits.dx\"]"));
    free(l);
    phicrypt_free(ph);
    bson_destroy(&v);
}

/* Ways to make the audit log unwritable; 0 when this one cannot be set up here. */
static int break_log(afx *f, int how)
{
    char d[4000];
    switch (how) {
    case 0: /* the disk is full */
        snprintf(f->log, sizeof f->log, "/dev/full");
        return 1;
    case 1: /* its directory was removed */
        snprintf(d, sizeof d, "%s/logdir", f->dir);
        mkdir(d, 0700);
        snprintf(f->log, sizeof f->log, "%s/audit.jsonl", d);
        rmdir(d);
        return 1;
    case 2: /* a directory stands where the log should be */
        snprintf(f->log, sizeof f->log, "%s/isdir", f->dir);
        mkdir(f->log, 0700);
        return 1;
    default: /* a read-only file (root writes it anyway) */
        if (geteuid() == 0)
            return 0;
        snprintf(f->log, sizeof f->log, "%s/ro.jsonl", f->dir);
        tu_write_file(f->log, "", 0, 0400);
        return 1;
    }
}

static void test_access__unwritable_log_stops_every_disclosure(void **state)
{
    afx *f = *state;
    char saved[4096], out[4200], *in, *text;
    phicrypt_session s = afx_session("drh", "physician", "TREATMENT");
    phicrypt_token_opts to = PHICRYPT_TOKEN_OPTS_INIT;
    phicrypt_buf b = PHICRYPT_BUF_INIT, tok = PHICRYPT_BUF_INIT;
    bson_t v;
    struct stat st;
    int tried = 0;
    partial_keys(f);
    in = deid_input(f, partial_policy, PARTIAL_PLAIN);
    value_ct(f, &v, PT_SSN, f->ssn_key);
    assert_int_equal(phicrypt_tokenize(f->ph, &tok, "tok:mrn", PT_MRN, strlen(PT_MRN), &to), 0);
    memcpy(saved, f->log, sizeof saved);
    snprintf(out, sizeof out, "%s/reid_out.jsonl", f->dir);
    for (int how = 0; how < 4; how++) {
        phicrypt_deid_policy *p = NULL;
        int fd;
        memcpy(f->log, saved, sizeof saved);
        if (!break_log(f, how))
            continue;
        tried++;
        phicrypt_free(f->ph);
        f->ph = afx_client(f, NULL);
        assert_int_not_equal(phicrypt_decrypt_as(f->ph, &b, &s, NULL, "ssn", bson_get_data(&v), v.len), 0);
        assert_null(b.data);
        assert_int_not_equal(phicrypt_decrypt_document_as(f->ph, &b, &s, NULL, f->doc, f->doc_len), 0);
        assert_null(b.data);
        assert_int_not_equal(phicrypt_detokenize_as(f->ph, &b, &s, NULL, "mrn", "tok:mrn", (const char *)tok.data,
                                                    tok.len, &to),
                             0);
        assert_null(b.data);
        assert_int_equal(phicrypt_deid_policy_new(&p, f->ph, partial_policy), 0);
        /* reid to a file: no file. */
        assert_int_equal(phicrypt_reid_file_as(f->ph, NULL, &s, NULL, p, in, out, NULL), PHICRYPT_EIO);
        assert_int_not_equal(stat(out, &st), 0);
        /* reid to a stream: nothing written to it. */
        snprintf(out, sizeof out, "%s/stream.jsonl", f->dir);
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        {
            char fdpath[64];
            snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
            assert_int_equal(phicrypt_reid_file_as(f->ph, NULL, &s, NULL, p, in, fdpath, NULL), PHICRYPT_EIO);
        }
        close(fd);
        assert_int_equal(stat(out, &st), 0);
        assert_int_equal(st.st_size, 0);
        unlink(out);
        snprintf(out, sizeof out, "%s/reid_out.jsonl", f->dir);
        phicrypt_deid_policy_free(p);
    }
    assert_true(tried >= 3);
    /* And with a writable log the same calls disclose (the test can fail). */
    memcpy(f->log, saved, sizeof saved);
    phicrypt_free(f->ph);
    f->ph = afx_client(f, NULL);
    {
        phicrypt_deid_policy *p = NULL;
        int fd;
        char fdpath[64], sp[4200];
        size_t len;
        assert_int_equal(phicrypt_deid_policy_new(&p, f->ph, partial_policy), 0);
        snprintf(sp, sizeof sp, "%s/stream.jsonl", f->dir);
        fd = open(sp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
        assert_int_equal(phicrypt_reid_file_as(f->ph, NULL, &s, NULL, p, in, fdpath, NULL), 0);
        close(fd);
        text = tu_read_file(sp, &len);
        assert_true(tu_contains(text, PT_SSN));
        free(text);
        phicrypt_deid_policy_free(p);
    }
    phicrypt_buf_dispose(&tok);
    bson_destroy(&v);
    free(in);
}

/* Hostile session strings are refused before anything is written. */
static void test_access__session_strings_are_checked(void **state)
{
    afx *f = *state;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    phicrypt_session s;
    char longs[300];
    size_t before = afx_log_lines(f);
    const char *bad[] = { "cl\xff" "erk", "cl\nerk", "cl\x7f", "\xc2\x85x", "\xe2\x82", longs };
    memset(longs, 'a', 257);
    longs[257] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int which = 0; which < 4; which++) {
            s = afx_session("clerk", "billing", "PAYMENT");
            if (which == 0)
                s.actor = bad[i];
            else if (which == 1)
                s.role = bad[i];
            else if (which == 2)
                s.purpose = bad[i];
            else
                s.subject = bad[i];
            assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, f->doc, f->doc_len),
                             PHICRYPT_EINVAL);
            assert_null(out.data);
        }
        s = afx_session("clerk", "billing", "PAYMENT");
        assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, bad[i], f->doc, f->doc_len), PHICRYPT_EINVAL);
        assert_int_equal(phicrypt_access_check(f->ph, &s, NULL, bad[i]), PHICRYPT_EINVAL);
    }
    assert_int_equal(afx_log_lines(f), before);
    /* 256 bytes of UTF-8 are fine. */
    longs[256] = '\0';
    s = afx_session(longs, "billing", "PAYMENT");
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, NULL, f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    {
        phicrypt_buf rep = PHICRYPT_BUF_INIT;
        assert_int_equal(phicrypt_audit_verify(f->ph, &rep, NULL), 0);
        phicrypt_buf_dispose(&rep);
    }
}

/* Alt names decide what a role's "keys" list grants: changing them is audited. */
static void test_access__key_admin_is_audited(void **state)
{
    afx *f = *state;
    size_t before = afx_log_lines(f);
    uint32_t v = 0;
    char *text;
    size_t len;
    assert_int_equal(phicrypt_datakey_add_alt_name(f->ph, f->dx_key, "tok:ssn"), 0);
    assert_int_equal(phicrypt_datakey_remove_alt_name(f->ph, f->dx_key, "tok:ssn"), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:x", PHICRYPT_KEYRING_SIV), 0);
    assert_int_equal(phicrypt_keyring_rotate(f->ph, &v, "tok:x"), 0);
    assert_int_equal(phicrypt_keyring_retire(f->ph, "tok:x", 1), 0);
    assert_int_equal(afx_log_lines(f), before + 5);
    text = tu_read_file(f->log, &len);
    assert_true(tu_contains(text, "\"op\":\"key_add_alt_name\""));
    assert_true(tu_contains(text, "\"op\":\"key_remove_alt_name\""));
    assert_true(tu_contains(text, "\"op\":\"keyring_retire\""));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_access__relabel_explicit_decrypt, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__relabel_document_moved, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__relabel_document_copied, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__relabel_document_nested, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__relabel_document_in_array, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__genuine_document_audits_key_ids, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__detokenize_other_fields_token, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__reid_policy_names_other_key, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__reid_file_holds_relabelled_ciphertext, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__partial_reid_by_role, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__partial_reid_redact_or_null, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__plain_calls_need_a_session, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__plain_calls_audited_without_access, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__unwritable_log_stops_every_disclosure, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__session_strings_are_checked, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_access__key_admin_is_audited, afx_setup, afx_teardown),
    };
    return cmocka_run_group_tests_name("access_attacks", tests, NULL, NULL);
}
