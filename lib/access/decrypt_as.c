/* Decryption through a session: only the fields the role and purpose
 * allow reach libmongocrypt, and every call is audited. */
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "access/access_private.h"
#include "audit/audit_private.h"
#include "core/config_private.h"
#include "core/error_private.h"
#include "core/handle_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/fle_private.h"
#include "token/token_private.h"

#define PATH_MAX_LEN 1024
#define MAX_DEPTH 100
/* Denied ciphertexts travel through libmongocrypt under a user-defined
 * binary subtype (it leaves those alone) and get subtype 6 back after. */
#define PARKED_SUBTYPE 0x80

typedef struct strset {
    char **v;
    size_t n, cap;
} strset;

static int strset_add(strset *s, const char *x, int unique)
{
    if (unique)
        for (size_t i = 0; i < s->n; i++)
            if (strcmp(s->v[i], x) == 0)
                return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **nv = phi_realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    if (!(s->v[s->n] = phi_strdup(x)))
        return -1;
    s->n++;
    return 0;
}

static int strset_has(const strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 1;
    return 0;
}

static void strset_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        phi_free(s->v[i]);
    phi_free(s->v);
}

typedef struct walk {
    phicrypt_t *ph;
    const phi_access *a;
    const phi_access_grant *g;
    const phi_keyset *ks;
    const char *ns;
    int mode;
    const char *marker;
    strset allowed, denied;   /* field paths without array indices */
    strset parked;            /* exact paths of ciphertexts kept encrypted */
    /* allowed.v[i] was decrypted with key_ids[i] (pairs, not sets). */
    uint8_t (*key_ids)[16];
    size_t n_keys, cap_keys;
    char *mismatch;           /* first relabelled ciphertext's path */
    uint8_t mismatch_key[16];
    int oom;
} walk;

/* Records the pair (field, key) once; the audit line lists them in step. */
static void add_pair(walk *w, const char *fp, const uint8_t *id)
{
    for (size_t i = 0; i < w->n_keys; i++)
        if (memcmp(w->key_ids[i], id, 16) == 0 && strcmp(w->allowed.v[i], fp) == 0)
            return;
    if (strset_add(&w->allowed, fp, 0) != 0) {
        w->oom = 1;
        return;
    }
    if (w->n_keys == w->cap_keys) {
        size_t cap = w->cap_keys ? w->cap_keys * 2 : 4;
        uint8_t(*nk)[16] = phi_realloc(w->key_ids, cap * sizeof *nk);
        if (!nk) {
            w->oom = 1;
            return;
        }
        w->key_ids = nk;
        w->cap_keys = cap;
    }
    memcpy(w->key_ids[w->n_keys++], id, 16);
}

static int join(char *out, const char *prefix, const char *key)
{
    int n = *prefix ? snprintf(out, PATH_MAX_LEN, "%s.%s", prefix, key) : snprintf(out, PATH_MAX_LEN, "%s", key);
    return n >= 0 && n < PATH_MAX_LEN;
}

/* Copies `src` into `dst`, replacing denied ciphertexts. `exact` is the
 * path with array indices (to find the value again), `field` without. */
static int filter(walk *w, const bson_t *src, bson_t *dst, const char *exact, const char *field, int is_array,
                  int depth)
{
    bson_iter_t it;
    if (depth > MAX_DEPTH)
        return phi_error(w->ph, PHICRYPT_EBADDATA, "decrypt document: nested deeper than %d levels", MAX_DEPTH);
    if (!bson_iter_init(&it, src))
        return phi_error(w->ph, PHICRYPT_EBADDATA, "decrypt document: corrupt BSON");
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char ex[PATH_MAX_LEN], fp[PATH_MAX_LEN];
        int rc;
        /* Array elements keep their parent's field path (rules name no indices). */
        int fp_ok = is_array ? snprintf(fp, sizeof fp, "%s", field) < (int)sizeof fp : join(fp, field, k);
        if (!join(ex, exact, k) || !fp_ok)
            return phi_error(w->ph, PHICRYPT_EBADDATA, "decrypt document: field path too long");
        if (phi_access_text_check(k, PATH_MAX_LEN) != 0) /* paths reach the audit log */
            return phi_error(w->ph, PHICRYPT_EBADDATA, "decrypt document: a field name under '%s' is not valid UTF-8 "
                             "text", *exact ? exact : "(top level)");
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            int arr = BSON_ITER_HOLDS_ARRAY(&it);
            uint32_t len;
            const uint8_t *data;
            bson_t sub, child;
            if (arr)
                bson_iter_array(&it, &len, &data);
            else
                bson_iter_document(&it, &len, &data);
            if (!bson_init_static(&sub, data, len))
                return phi_error(w->ph, PHICRYPT_EBADDATA, "decrypt document: corrupt BSON at '%s'", ex);
            if (arr)
                bson_append_array_begin(dst, k, -1, &child);
            else
                bson_append_document_begin(dst, k, -1, &child);
            rc = filter(w, &sub, &child, ex, fp, arr, depth + 1);
            if (arr)
                bson_append_array_end(dst, &child);
            else
                bson_append_document_end(dst, &child);
            if (rc != 0)
                return rc;
            continue;
        }
        if (BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            bson_iter_binary(&it, &st, &len, &data);
            if (st == BSON_SUBTYPE_ENCRYPTED) {
                int v;
                /* Byte 0: the blob subtype; bytes 1..16: the data key's UUID. */
                if (len < 17)
                    return phi_error(w->ph, PHICRYPT_EBADDATA, "decrypt document: '%s' is too short to be a ciphertext",
                                     ex);
                v = phi_access_judge(w->a, w->g, w->ks, w->ns, fp, data + 1);
                if (v == PHI_KEY_MISMATCH && !w->mismatch) {
                    if (!(w->mismatch = phi_strdup(fp)))
                        w->oom = 1;
                    memcpy(w->mismatch_key, data + 1, 16);
                }
                if (v == PHI_KEY_OK) {
                    add_pair(w, fp, data + 1);
                    bson_append_iter(dst, k, -1, &it);
                } else {
                    if (strset_add(&w->denied, fp, 1) != 0)
                        w->oom = 1;
                    if (w->mode == PHI_DENIED_NULL)
                        bson_append_null(dst, k, -1);
                    else if (w->mode == PHI_DENIED_MARKER)
                        bson_append_utf8(dst, k, -1, w->marker, -1);
                    else {
                        if (strset_add(&w->parked, ex, 0) != 0)
                            w->oom = 1;
                        bson_append_binary(dst, k, -1, (bson_subtype_t)PARKED_SUBTYPE, data, len);
                    }
                }
                continue;
            }
            if (st == PARKED_SUBTYPE && w->mode == PHI_DENIED_CIPHERTEXT)
                return phi_error(w->ph, PHICRYPT_EBADDATA,
                                 "decrypt document: '%s' is binary subtype 0x80, which phicrypt reserves here", ex);
        }
        bson_append_iter(dst, k, -1, &it);
    }
    return w->oom ? phi_error(w->ph, PHICRYPT_ENOMEM, "out of memory") : 0;
}

/* Gives parked ciphertexts their subtype 6 back. */
static void unpark(const walk *w, const bson_t *src, bson_t *dst, const char *exact)
{
    bson_iter_t it;
    bson_iter_init(&it, src);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char ex[PATH_MAX_LEN];
        if (!join(ex, exact, k)) {
            bson_append_iter(dst, k, -1, &it);
            continue;
        }
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            int arr = BSON_ITER_HOLDS_ARRAY(&it);
            uint32_t len;
            const uint8_t *data;
            bson_t sub, child;
            if (arr)
                bson_iter_array(&it, &len, &data);
            else
                bson_iter_document(&it, &len, &data);
            bson_init_static(&sub, data, len);
            if (arr)
                bson_append_array_begin(dst, k, -1, &child);
            else
                bson_append_document_begin(dst, k, -1, &child);
            unpark(w, &sub, &child, ex);
            if (arr)
                bson_append_array_end(dst, &child);
            else
                bson_append_document_end(dst, &child);
            continue;
        }
        if (BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            bson_iter_binary(&it, &st, &len, &data);
            if (st == PARKED_SUBTYPE && strset_has(&w->parked, ex)) {
                bson_append_binary(dst, k, -1, BSON_SUBTYPE_ENCRYPTED, data, len);
                continue;
            }
        }
        bson_append_iter(dst, k, -1, &it);
    }
}

/* The patient identifier for the audit line, as text: from the decrypted
 * result when the field was plaintext or allowed, else decrypted here for
 * the audit line alone (it never reaches the caller). */
static char *subject_text(phicrypt_t *ph, const bson_t *result, size_t *len)
{
    const char *field = phi_audit_subject_field(ph);
    bson_iter_t it;
    phicrypt_buf v = PHICRYPT_BUF_INIT;
    bson_t vdoc;
    char *out = NULL;
    if (!field || !bson_iter_init(&it, result) || !bson_iter_find_descendant(&it, field, &it))
        return NULL;
    if (BSON_ITER_HOLDS_BINARY(&it)) {
        bson_subtype_t st;
        uint32_t blen;
        const uint8_t *data;
        bson_t in = BSON_INITIALIZER;
        bson_iter_binary(&it, &st, &blen, &data);
        bson_append_binary(&in, "v", 1, BSON_SUBTYPE_ENCRYPTED, data, blen);
        if ((st != BSON_SUBTYPE_ENCRYPTED && st != PARKED_SUBTYPE) ||
            phi_decrypt_raw(ph, &v, bson_get_data(&in), in.len) != 0) {
            bson_destroy(&in);
            return NULL;
        }
        bson_destroy(&in);
        if (!bson_init_static(&vdoc, v.data, v.len) || !bson_iter_init_find(&it, &vdoc, "v")) {
            phicrypt_buf_dispose(&v);
            return NULL;
        }
    }
    if (BSON_ITER_HOLDS_UTF8(&it))
        out = phi_strdup(bson_iter_utf8(&it, NULL));
    else if (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)bson_iter_as_int64(&it));
        out = phi_strdup(num);
    }
    phicrypt_buf_dispose(&v);
    if (out)
        *len = strlen(out);
    return out;
}

void phi_access_event(phi_audit_event *ev, const phicrypt_session *s, const char *op, const char *ns)
{
    memset(ev, 0, sizeof *ev);
    ev->actor = s->actor;
    ev->role = s->role;
    ev->purpose = s->purpose;
    ev->op = op;
    ev->ns = ns;
    ev->count = 1;
    ev->outcome = "ok";
    if (s->subject) {
        ev->subject = s->subject;
        ev->subject_len = strlen(s->subject);
    }
}

/* The one place lib/access appends to the audit log. */
int phi_access_record(phicrypt_t *ph, const phi_audit_event *ev)
{
    return phi_audit_write(ph, ev);
}

int phi_access_audited(const phicrypt_t *ph)
{
    return phi_audit_path(ph) != NULL;
}

static phi_access *rules_of(phicrypt_t *ph)
{
    return ph->cfg ? ph->cfg->access : NULL;
}

int phi_access_refuse(phicrypt_t *ph, const phicrypt_session *s, const char *op, const char *ns, int code,
                      const char *const *fields, size_t n_fields, const uint8_t (*key_ids)[16], size_t n_keys,
                      const char *key_name)
{
    phi_audit_event ev;
    char msg[PHI_ERRMSG_MAX];
    int rc;
    if (code != PHICRYPT_EACCESS)
        return code; /* an incomplete or malformed session is a programming error, not an access */
    snprintf(msg, sizeof msg, "%s", phicrypt_errmsg(ph));
    phi_access_event(&ev, s, op, ns);
    ev.outcome = "denied";
    ev.reason = msg;
    ev.denied_fields = fields;
    ev.n_denied_fields = n_fields;
    ev.key_ids = key_ids;
    ev.n_key_ids = n_keys;
    ev.key_name = key_name;
    ev.count = 0;
    if ((rc = phi_access_record(ph, &ev)) != 0)
        return rc;
    return phi_error(ph, code, "%s", msg);
}

int phi_access_begin(phicrypt_t *ph, const phicrypt_session *s, int anon, const char *op, const char *ns,
                     const char *label, phi_access_grant *g)
{
    int rc;
    g->role = NULL;
    g->break_glass = 0;
    /* Everything that reaches the audit line is checked before anything is written. */
    if ((rc = phi_access_text_ok(ph, "namespace", ns)) != 0 || (rc = phi_access_text_ok(ph, "field", label)) != 0)
        return rc;
    if (anon)
        return 0; /* a plain call without access rules: audited, no role */
    if ((rc = phi_access_resolve(rules_of(ph), ph, s, g)) != 0)
        return phi_access_refuse(ph, s, op, ns, rc, label ? &label : NULL, label ? 1 : 0, NULL, 0, NULL);
    return 0;
}

int phicrypt_access_check(phicrypt_t *ph, const phicrypt_session *session, const char *ns, const char *field)
{
    phi_access_grant g;
    int rc;
    if (!ph || !field)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_access_check: NULL argument");
    if ((rc = phi_access_begin(ph, session, 0, "access_check", ns, field, &g)) != 0)
        return rc;
    if (!phi_access_allows(&g, ns, field))
        return phi_error(ph, PHICRYPT_EACCESS, "access denied: role '%s' may not see '%s'", session->role, field);
    return 0;
}

int phi_decrypt_document_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, int anon,
                            const char *ns, const uint8_t *doc_bson, size_t doc_len)
{
    phi_access_grant g;
    phi_keyset ks;
    walk w;
    bson_t doc, filtered = BSON_INITIALIZER, dec, final = BSON_INITIALIZER;
    phicrypt_buf mid = PHICRYPT_BUF_INIT;
    phi_audit_event ev;
    char *subject = NULL;
    size_t subject_len = 0;
    int rc;

    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_decrypt_document_as: NULL argument");
    memset(&ks, 0, sizeof ks);
    memset(&w, 0, sizeof w);
    if ((rc = phi_access_begin(ph, session, anon, "decrypt", ns, NULL, &g)) != 0)
        return rc;
    if ((rc = phi_bson_view(ph, "decrypt document", doc_bson, doc_len, &doc)) != 0)
        return rc;
    if (g.role && (rc = phi_access_keyset(ph, rules_of(ph), &g, ns, &ks)) != 0)
        goto out;
    w.ph = ph;
    w.a = rules_of(ph);
    w.g = &g;
    w.ks = &ks;
    w.ns = ns;
    w.mode = phi_access_denied_mode(rules_of(ph));
    w.marker = phi_access_marker(rules_of(ph));
    if ((rc = filter(&w, &doc, &filtered, "", "", 0, 0)) != 0)
        goto out;
    if (w.mismatch) {
        const char *f = w.mismatch;
        phi_error(ph, PHICRYPT_EACCESS, "access denied: the ciphertext at '%s' is under a data key that is not bound "
                  "to that field for role '%s' (a relabelled ciphertext)", f, session->role);
        rc = phi_access_refuse(ph, session, "decrypt", ns, PHICRYPT_EACCESS, &f, 1,
                               (const uint8_t(*)[16])w.mismatch_key, 1, NULL);
        goto out;
    }
    if (w.denied.n > 0 && w.allowed.n == 0) {
        phi_error(ph, PHICRYPT_EACCESS, "access denied: role '%s' with purpose '%s' may see none of the %zu encrypted "
                  "field(s) of this document", session->role, session->purpose, w.denied.n);
        rc = phi_access_refuse(ph, session, "decrypt", ns, PHICRYPT_EACCESS, (const char *const *)w.denied.v,
                               w.denied.n, NULL, 0, NULL);
        goto out;
    }
    if ((rc = phi_decrypt_document_raw(ph, &mid, bson_get_data(&filtered), filtered.len)) != 0)
        goto out;
    if (!bson_init_static(&dec, mid.data, mid.len)) {
        rc = phi_error(ph, PHICRYPT_EINTERNAL, "decrypt document: bad result");
        goto out;
    }
    if (w.parked.n)
        unpark(&w, &dec, &final, "");
    else
        bson_concat(&final, &dec);
    /* Nothing was decrypted: nothing to record as a disclosure. */
    if (w.allowed.n > 0) {
        subject = subject_text(ph, &final, &subject_len);
        phi_access_event(&ev, session, "decrypt", ns);
        ev.fields = (const char *const *)w.allowed.v;
        ev.n_fields = w.allowed.n;
        ev.denied_fields = (const char *const *)w.denied.v;
        ev.n_denied_fields = w.denied.n;
        ev.key_ids = (const uint8_t(*)[16])w.key_ids;
        ev.n_key_ids = w.n_keys;
        ev.break_glass = g.break_glass;
        if (subject) {
            ev.subject = subject;
            ev.subject_len = subject_len;
        }
        /* No plaintext leaves unless its disclosure is on record. */
        if ((rc = phi_access_record(ph, &ev)) != 0)
            goto out;
    }
    rc = phi_buf_from_bson(ph, out, &final);
out:
    if (subject)
        phi_wipe_free(subject, subject_len);
    phicrypt_buf_dispose(&mid);
    phi_bson_wipe_destroy(&final);
    bson_destroy(&filtered);
    strset_free(&w.allowed);
    strset_free(&w.denied);
    strset_free(&w.parked);
    phi_free(w.key_ids);
    phi_free(w.mismatch);
    phi_keyset_free(&ks);
    return rc;
}

int phicrypt_decrypt_document_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, const char *ns,
                                 const uint8_t *doc_bson, size_t doc_len)
{
    return phi_decrypt_document_as(ph, out, session, 0, ns, doc_bson, doc_len);
}

/* The data key of {"v": <subtype 6>}: 0, or PHICRYPT_EBADDATA. */
static int key_of_value(phicrypt_t *ph, const uint8_t *doc, size_t len, uint8_t id[16])
{
    bson_t in;
    bson_iter_t it;
    bson_subtype_t st = BSON_SUBTYPE_BINARY;
    uint32_t blen = 0;
    const uint8_t *data = NULL;
    int rc;
    if ((rc = phi_bson_view(ph, "decrypt", doc, len, &in)) != 0)
        return rc;
    /* Exactly {"v": ...}: whatever else rode along would not have been checked. */
    if (bson_count_keys(&in) == 1 && bson_iter_init_find(&it, &in, "v") && BSON_ITER_HOLDS_BINARY(&it))
        bson_iter_binary(&it, &st, &blen, &data);
    if (blen < 17 || st != BSON_SUBTYPE_ENCRYPTED)
        return phi_error(ph, PHICRYPT_EBADDATA, "decrypt: expected {\"v\": <encrypted binary (subtype 6)>}");
    memcpy(id, data + 1, 16);
    return 0;
}

int phi_decrypt_value_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, int anon,
                         const char *ns, const char *field, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len)
{
    phi_access_grant g;
    phi_keyset ks;
    phi_audit_event ev;
    phicrypt_buf res = PHICRYPT_BUF_INIT;
    uint8_t key_id[1][16];
    const char *bound_path, *label = field;
    int rc, bound, v;
    if (!ph || !out || (!anon && (!field || !*field)))
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_decrypt_as: NULL argument or empty field path");
    if ((rc = phi_access_begin(ph, session, anon, "decrypt", ns, field, &g)) != 0)
        return rc;
    if ((rc = key_of_value(ph, ciphertext_doc, ciphertext_doc_len, key_id[0])) != 0)
        return rc;
    /* The audit line names the field the key is bound to, not the label. */
    bound_path = phi_access_key_binding(rules_of(ph), ns, key_id[0], field, &bound);
    if (g.role) {
        if ((rc = phi_access_keyset(ph, rules_of(ph), &g, ns, &ks)) != 0)
            return rc;
        v = phi_access_judge(rules_of(ph), &g, &ks, ns, field, key_id[0]);
        phi_keyset_free(&ks);
        if (v != PHI_KEY_OK) {
            if (v == PHI_KEY_MISMATCH)
                phi_error(ph, PHICRYPT_EACCESS, "access denied: the ciphertext given as '%s' is under a data key %s",
                          field, bound ? "bound to another field" : "role may not use");
            else
                phi_error(ph, PHICRYPT_EACCESS, "access denied: role '%s' with purpose '%s' may not see '%s'",
                          session->role, session->purpose, field);
            return phi_access_refuse(ph, session, "decrypt", ns, PHICRYPT_EACCESS, &label, 1,
                                     (const uint8_t(*)[16])key_id, 1, NULL);
        }
    }
    if ((rc = phi_decrypt_raw(ph, &res, ciphertext_doc, ciphertext_doc_len)) != 0)
        return rc;
    phi_access_event(&ev, session, "decrypt", ns);
    if (bound_path || field) {
        label = bound_path && !strpbrk(bound_path, "*/") ? bound_path : field;
        ev.fields = &label;
        ev.n_fields = 1;
    }
    ev.break_glass = g.break_glass;
    ev.key_ids = (const uint8_t(*)[16])key_id;
    ev.n_key_ids = 1;
    if ((rc = phi_access_record(ph, &ev)) != 0) {
        phicrypt_buf_dispose(&res);
        return rc;
    }
    *out = res;
    return 0;
}

int phicrypt_decrypt_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, const char *ns,
                        const char *field, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len)
{
    return phi_decrypt_value_as(ph, out, session, 0, ns, field, ciphertext_doc, ciphertext_doc_len);
}

int phicrypt_access_enabled(const phicrypt_t *ph)
{
    return ph && ph->cfg && ph->cfg->access ? 1 : 0;
}

int phi_detokenize_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, int anon, const char *ns,
                      const char *field, const char *key_name, const char *token, size_t token_len,
                      const phicrypt_token_opts *opts)
{
    phi_access_grant g;
    phi_keyset ks;
    phi_audit_event ev;
    phicrypt_buf res = PHICRYPT_BUF_INIT;
    int rc, ok;
    if (!ph || !out || (!anon && (!field || !*field)))
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_detokenize_as: NULL argument or empty field path");
    if ((rc = phi_access_begin(ph, session, anon, "detokenize", ns, field, &g)) != 0 ||
        (rc = phi_access_text_ok(ph, "key name", key_name)) != 0)
        return rc;
    if (g.role) {
        /* A keyring key is usable when the role lists it (or sees everything):
         * a token names no field, so the label alone proves nothing. */
        if ((rc = phi_access_keyset(ph, rules_of(ph), &g, ns, &ks)) != 0)
            return rc;
        ok = phi_keyset_has_name(&ks, key_name);
        phi_keyset_free(&ks);
        if (!phi_access_allows(&g, ns, field) || !ok) {
            if (!ok)
                phi_error(ph, PHICRYPT_EACCESS, "access denied: role '%s' may not use keyring key '%s' (for '%s')",
                          session->role, key_name ? key_name : "", field);
            else
                phi_error(ph, PHICRYPT_EACCESS, "access denied: role '%s' with purpose '%s' may not see '%s'",
                          session->role, session->purpose, field);
            rc = phi_access_refuse(ph, session, "detokenize", ns, PHICRYPT_EACCESS, &field, 1, NULL, 0, key_name);
            return rc;
        }
    }
    if ((rc = phi_detokenize_raw(ph, &res, key_name, token, token_len, opts)) != 0)
        return rc;
    phi_access_event(&ev, session, "detokenize", ns);
    if (field) {
        ev.fields = &field;
        ev.n_fields = 1;
    }
    ev.key_name = key_name;
    ev.break_glass = g.break_glass;
    if ((rc = phi_access_record(ph, &ev)) != 0) {
        phicrypt_buf_dispose(&res);
        return rc;
    }
    *out = res;
    return 0;
}

int phicrypt_detokenize_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *session, const char *ns,
                           const char *field, const char *key_name, const char *token, size_t token_len,
                           const phicrypt_token_opts *opts)
{
    return phi_detokenize_as(ph, out, session, 0, ns, field, key_name, token, token_len, opts);
}
