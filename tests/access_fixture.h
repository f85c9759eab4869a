/* A client with access rules and an audit log, and an encrypted patient
 * record, shared by test_access.c and test_audit.c. */
#ifndef PHI_ACCESS_FIXTURE_H
#define PHI_ACCESS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>
#include <phicrypt.h>

#include "test_util.h"
#include "core/json_private.h"

#define PT_MRN "MRN-4711"
#define PT_SSN "123-45-6789"
#define PT_DX "Type 2 diabetes mellitus"
#define PT_NOTES "Patient reports chest pain since Tuesday"
#define PT_VISIT_DX "Acute bronchitis"

#define ACCESS_RULES                                                                                          \
    "\"access\": {\"roles\": {"                                                                               \
    "  \"billing\": {\"purposes\": [\"PAYMENT\"], \"fields\": [\"ssn\", \"mrn\"], \"keys\": [\"tok:ssn\", \"tok:mrn\"]}," \
    "  \"physician\": {\"purposes\": [\"TREATMENT\"], \"fields\": [\"*\"]},"                                  \
    "  \"nurse\": {\"purposes\": [\"TREATMENT\"], \"fields\": {\"hospital.patients\": [\"visits.dx\"],"       \
    "                                                        \"*\": [\"mrn\"]}},"                             \
    "  \"researcher\": {\"purposes\": [\"RESEARCH\"], \"fields\": [\"visits\"]}},"                             \
    " \"break_glass\": {\"purpose\": \"EMERGENCY\", \"roles\": [\"physician\"]}%s}"

typedef struct afx {
    char *dir;
    char log[4096];
    phicrypt_t *ph;
    uint8_t *doc;      /* the encrypted record (BSON) */
    size_t doc_len;
    uint8_t ssn_key[16], dx_key[16];
} afx;

/* The schema map binds k_ssn to ssn and k_dx to diagnosis, notes and
 * visits.dx (once the keys exist): access is decided by these bindings. */
static char *afx_schema(afx *f)
{
    char *s, a[37], b[37];
    static const uint8_t zero[16];
    if (memcmp(f->ssn_key, zero, 16) == 0)
        return strdup("");
    phi_uuid_format(a, f->ssn_key);
    phi_uuid_format(b, f->dx_key);
#define AFX_ENC(id, alg) "{\"encrypt\": {\"keyId\": [{\"$uuid\": \"%s\"}], \"bsonType\": \"string\", " \
    "\"algorithm\": \"AEAD_AES_256_CBC_HMAC_SHA_512-" alg "\"}}"
    if (asprintf(&s,
                 " \"schema_map\": {\"hospital.patients\": {\"bsonType\": \"object\", \"properties\": {"
                 "\"ssn\": " AFX_ENC(a, "Deterministic") ", \"diagnosis\": " AFX_ENC(b, "Random") ","
                 "\"notes\": " AFX_ENC(b, "Random") ", \"visits\": {\"bsonType\": \"object\", \"properties\": {"
                 "\"dx\": " AFX_ENC(b, "Random") "}}}}},",
                 a, b, b, b) < 0)
        abort();
#undef AFX_ENC
    return s;
}

static char *afx_config(afx *f, const char *access_extra)
{
    char *cfg, rules[2048], *schema = afx_schema(f);
    snprintf(rules, sizeof rules, ACCESS_RULES, access_extra ? access_extra : "");
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\", \"keyring\": \"file:%s/keyring.jsonl\",%s %s,"
                 " \"audit\": {\"path\": \"%s\", \"subject_field\": \"mrn\", \"fsync\": \"never\"}}",
                 f->dir, f->dir, f->dir, schema, rules, f->log) < 0)
        abort();
    free(schema);
    return cfg;
}

/* A client on the same key set with other access options. */
static phicrypt_t *afx_client(afx *f, const char *access_extra)
{
    phicrypt_t *ph = NULL;
    char *cfg = afx_config(f, access_extra);
    int rc = phicrypt_new(&ph, cfg);
    free(cfg);
    if (rc != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    return ph;
}

static void afx_encrypt(afx *f, bson_t *into, const char *name, const char *value, const uint8_t key[16],
                        phicrypt_algorithm alg)
{
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT;
    bson_t v = BSON_INITIALIZER, r;
    bson_iter_t it;
    o.key_id = key;
    o.algorithm = alg;
    BSON_APPEND_UTF8(&v, "v", value);
    assert_int_equal(phicrypt_encrypt(f->ph, &ct, bson_get_data(&v), v.len, &o), 0);
    assert_true(bson_init_static(&r, ct.data, ct.len));
    assert_true(bson_iter_init_find(&it, &r, "v"));
    bson_append_iter(into, name, -1, &it);
    phicrypt_buf_dispose(&ct);
    bson_destroy(&v);
}

static int afx_setup(void **state)
{
    afx *f = calloc(1, sizeof *f);
    phicrypt_datakey_opts ko = PHICRYPT_DATAKEY_OPTS_INIT;
    bson_t doc = BSON_INITIALIZER, arr, visit;
    const char *n1[] = { "k_ssn" }, *n2[] = { "k_dx" };
    f->dir = tu_tmpdir();
    snprintf(f->log, sizeof f->log, "%s/audit.jsonl", f->dir);
    free(tu_keyset(f->dir, NULL));
    {
        char kr[4200];
        snprintf(kr, sizeof kr, "%s/keyring.jsonl", f->dir);
        tu_write_file(kr, "", 0, 0600);
    }
    f->ph = afx_client(f, NULL);
    ko.alt_names = n1;
    ko.alt_names_count = 1;
    assert_int_equal(phicrypt_datakey_create(f->ph, f->ssn_key, &ko), 0);
    ko.alt_names = n2;
    assert_int_equal(phicrypt_datakey_create(f->ph, f->dx_key, &ko), 0);
    /* Now that the keys exist, a client whose schema map binds them. */
    phicrypt_free(f->ph);
    f->ph = afx_client(f, NULL);
    BSON_APPEND_UTF8(&doc, "mrn", PT_MRN);
    afx_encrypt(f, &doc, "ssn", PT_SSN, f->ssn_key, PHICRYPT_ALG_DETERMINISTIC);
    afx_encrypt(f, &doc, "diagnosis", PT_DX, f->dx_key, PHICRYPT_ALG_RANDOM);
    afx_encrypt(f, &doc, "notes", PT_NOTES, f->dx_key, PHICRYPT_ALG_RANDOM);
    BSON_APPEND_ARRAY_BEGIN(&doc, "visits", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &visit);
    BSON_APPEND_UTF8(&visit, "date", "2026-01-02");
    afx_encrypt(f, &visit, "dx", PT_VISIT_DX, f->dx_key, PHICRYPT_ALG_RANDOM);
    bson_append_document_end(&arr, &visit);
    bson_append_array_end(&doc, &arr);
    /* Each test starts with an empty log (key creation above is audited). */
    unlink(f->log);
    f->doc_len = doc.len;
    f->doc = malloc(doc.len);
    memcpy(f->doc, bson_get_data(&doc), doc.len);
    bson_destroy(&doc);
    *state = f;
    return 0;
}

static int afx_teardown(void **state)
{
    afx *f = *state;
    phicrypt_free(f->ph);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f->doc);
    free(f);
    return 0;
}

static phicrypt_session afx_session(const char *actor, const char *role, const char *purpose)
{
    phicrypt_session s = PHICRYPT_SESSION_INIT;
    s.actor = actor;
    s.role = role;
    s.purpose = purpose;
    return s;
}

/* Relaxed Extended JSON of a BSON buffer (malloc'd by libbson). */
static char *afx_json(const phicrypt_buf *b)
{
    bson_t d;
    assert_true(bson_init_static(&d, b->data, b->len));
    return bson_as_relaxed_extended_json(&d, NULL);
}

/* The number of lines of the audit log. */
static size_t afx_log_lines(afx *f)
{
    size_t n = 0, len;
    char *t = tu_read_file(f->log, &len);
    if (!t)
        return 0;
    for (size_t i = 0; i < len; i++)
        n += t[i] == '\n';
    free(t);
    return n;
}

#endif
