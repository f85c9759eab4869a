/* The plain disclosure calls (phicrypt_decrypt, _decrypt_json,
 * _decrypt_document, _detokenize, _reid_file). With `access` configured
 * they need a session and refuse (PHICRYPT_EACCESS, audited); with only
 * `audit` configured they are audited under the process's identity; with
 * neither they run as they always did. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <phicrypt.h>
#include "access/access_private.h"
#include "audit/audit_private.h"
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "fle/fle_private.h"
#include "token/token_private.h"

enum { PLAIN_RAW, PLAIN_AUDITED };

typedef struct anon {
    phicrypt_session s;
    char actor[32];
} anon;

static void anon_init(anon *a)
{
    phicrypt_session init = PHICRYPT_SESSION_INIT;
    snprintf(a->actor, sizeof a->actor, "uid:%lu", (unsigned long)getuid());
    a->s = init;
    a->s.actor = a->actor;
}

/* PLAIN_RAW, PLAIN_AUDITED, or a refusal (negative). */
static int gate(phicrypt_t *ph, anon *a, const char *op, const char *call)
{
    anon_init(a);
    if (!ph)
        return PLAIN_RAW; /* the raw call reports the NULL handle */
    if (phicrypt_access_enabled(ph)) {
        phi_error(ph, PHICRYPT_EACCESS,
                  "access denied: the configuration has access rules, so %s needs a session (actor, role, purpose): "
                  "use %s_as",
                  call, call);
        return phi_access_refuse(ph, &a->s, op, NULL, PHICRYPT_EACCESS, NULL, 0, NULL, 0, NULL);
    }
    return phi_access_audited(ph) ? PLAIN_AUDITED : PLAIN_RAW;
}

int phicrypt_decrypt(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len)
{
    anon a;
    int g = gate(ph, &a, "decrypt", "phicrypt_decrypt");
    if (g < 0)
        return g;
    if (g == PLAIN_RAW)
        return phi_decrypt_raw(ph, out, ciphertext_doc, ciphertext_doc_len);
    return phi_decrypt_value_as(ph, out, &a.s, 1, NULL, NULL, ciphertext_doc, ciphertext_doc_len);
}

int phicrypt_decrypt_json(phicrypt_t *ph, phicrypt_buf *out, const char *ciphertext_json, int canonical)
{
    anon a;
    bson_t in, res;
    bson_iter_t it;
    phicrypt_buf r = PHICRYPT_BUF_INIT;
    size_t n;
    char *json;
    int rc, g = gate(ph, &a, "decrypt", "phicrypt_decrypt_json");
    if (g < 0)
        return g;
    if (g == PLAIN_RAW || !out || !ciphertext_json)
        return phi_decrypt_json_raw(ph, out, ciphertext_json, canonical);
    if ((rc = phi_json_value_to_bson(ph, "decrypt: input", ciphertext_json, strlen(ciphertext_json), &in)) != 0)
        return rc;
    rc = phi_decrypt_value_as(ph, &r, &a.s, 1, NULL, NULL, bson_get_data(&in), in.len);
    bson_destroy(&in);
    if (rc != 0)
        return rc;
    if (!bson_init_static(&res, r.data, r.len) || !bson_iter_init_find(&it, &res, "v")) {
        phicrypt_buf_dispose(&r);
        return phi_error(ph, PHICRYPT_EINTERNAL, "result without a value");
    }
    json = phi_bson_value_to_json(ph, &it, canonical, &n);
    phicrypt_buf_dispose(&r);
    if (!json)
        return phicrypt_errcode(ph);
    phi_buf_give(out, json, n);
    return 0;
}

int phicrypt_decrypt_document(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *doc_bson, size_t doc_len)
{
    anon a;
    int g = gate(ph, &a, "decrypt", "phicrypt_decrypt_document");
    if (g < 0)
        return g;
    if (g == PLAIN_RAW)
        return phi_decrypt_document_raw(ph, out, doc_bson, doc_len);
    return phi_decrypt_document_as(ph, out, &a.s, 1, NULL, doc_bson, doc_len);
}

int phicrypt_detokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *token, size_t token_len,
                        const phicrypt_token_opts *opts)
{
    anon a;
    int g = gate(ph, &a, "detokenize", "phicrypt_detokenize");
    if (g < 0)
        return g;
    if (g == PLAIN_RAW)
        return phi_detokenize_raw(ph, out, key_name, token, token_len, opts);
    return phi_detokenize_as(ph, out, &a.s, 1, NULL, NULL, key_name, token, token_len, opts);
}

int phicrypt_reid_file(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_deid_policy *p, const char *in_path,
                       const char *out_path, const phicrypt_deid_opts *opts)
{
    anon a;
    int g = gate(ph, &a, "reid", "phicrypt_reid_file");
    if (g < 0)
        return g;
    if (g == PLAIN_RAW)
        return phi_reid_file_raw(ph, report_json, p, in_path, out_path, opts, NULL);
    return phi_reid_file_as(ph, report_json, &a.s, 1, NULL, p, in_path, out_path, opts);
}
