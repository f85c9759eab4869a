#define _GNU_SOURCE
#include <dlfcn.h>

#include "shim.h"

static void *phigo_sym(const char *name, void **cache)
{
    void *f = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (!f) {
        f = dlsym(RTLD_DEFAULT, name);
        __atomic_store_n(cache, f, __ATOMIC_RELEASE);
    }
    return f;
}

/* Resolve NAME once and call it, with the header's own prototype (no copies). */
#define PHIGO_CALL(name, ...)                                                        \
    do {                                                                             \
        static void *cache_;                                                         \
        __typeof__(name) *f_;                                                        \
        *(void **)&f_ = phigo_sym(#name, &cache_);                                   \
        if (!f_)                                                                     \
            return PHIGO_MISSING;                                                    \
        return f_(__VA_ARGS__);                                                      \
    } while (0)

int phigo_datakey_rewrap(phicrypt_t *ph, size_t *count, const char *filter, const char *provider,
                         const char *master_key)
{ PHIGO_CALL(phicrypt_datakey_rewrap, ph, count, filter, provider, master_key); }
int phigo_keyring_create(phicrypt_t *ph, const char *name, phicrypt_keyring_algorithm alg)
{ PHIGO_CALL(phicrypt_keyring_create, ph, name, alg); }
int phigo_keyring_rotate(phicrypt_t *ph, uint32_t *v, const char *name)
{ PHIGO_CALL(phicrypt_keyring_rotate, ph, v, name); }
int phigo_keyring_retire(phicrypt_t *ph, const char *name, uint32_t v)
{ PHIGO_CALL(phicrypt_keyring_retire, ph, name, v); }
int phigo_keyring_destroy(phicrypt_t *ph, const char *name, uint32_t v)
{ PHIGO_CALL(phicrypt_keyring_destroy, ph, name, v); }
int phigo_keyring_list(phicrypt_t *ph, phicrypt_buf *out)
{ PHIGO_CALL(phicrypt_keyring_list, ph, out); }
int phigo_tokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key, const char *v, size_t n,
                   const phicrypt_token_opts *o)
{ PHIGO_CALL(phicrypt_tokenize, ph, out, key, v, n, o); }
int phigo_detokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key, const char *t, size_t n,
                     const phicrypt_token_opts *o)
{ PHIGO_CALL(phicrypt_detokenize, ph, out, key, t, n, o); }
int phigo_pseudonymize(phicrypt_t *ph, phicrypt_buf *out, const char *key, const char *v, size_t n,
                       const phicrypt_pseudonym_opts *o)
{ PHIGO_CALL(phicrypt_pseudonymize, ph, out, key, v, n, o); }
int phigo_pseudonym_verify(phicrypt_t *ph, const char *key, const char *v, size_t n, const char *ps,
                           const phicrypt_pseudonym_opts *o)
{ PHIGO_CALL(phicrypt_pseudonym_verify, ph, key, v, n, ps, o); }
int phigo_ff1_encrypt(char *out, const uint8_t *key, size_t klen, const uint8_t *tweak, size_t tlen,
                      const char *alphabet, const char *in, size_t n)
{ PHIGO_CALL(phicrypt_ff1_encrypt, out, key, klen, tweak, tlen, alphabet, in, n); }
int phigo_ff1_decrypt(char *out, const uint8_t *key, size_t klen, const uint8_t *tweak, size_t tlen,
                      const char *alphabet, const char *in, size_t n)
{ PHIGO_CALL(phicrypt_ff1_decrypt, out, key, klen, tweak, tlen, alphabet, in, n); }
int phigo_decrypt_document_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, const char *ns,
                              const uint8_t *doc, size_t n)
{ PHIGO_CALL(phicrypt_decrypt_document_as, ph, out, s, ns, doc, n); }
int phigo_decrypt_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, const char *ns,
                     const char *field, const uint8_t *ct, size_t n)
{ PHIGO_CALL(phicrypt_decrypt_as, ph, out, s, ns, field, ct, n); }
int phigo_access_check(phicrypt_t *ph, const phicrypt_session *s, const char *ns, const char *field)
{ PHIGO_CALL(phicrypt_access_check, ph, s, ns, field); }
int phigo_detokenize_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, const char *ns, const char *field,
                        const char *key, const char *t, size_t n, const phicrypt_token_opts *o)
{ PHIGO_CALL(phicrypt_detokenize_as, ph, out, s, ns, field, key, t, n, o); }
int phigo_reid_file_as(phicrypt_t *ph, phicrypt_buf *r, const phicrypt_session *s, const char *ns,
                       const phicrypt_deid_policy *p, const char *in, const char *out, const phicrypt_deid_opts *o)
{ PHIGO_CALL(phicrypt_reid_file_as, ph, r, s, ns, p, in, out, o); }
int phigo_audit_verify(phicrypt_t *ph, phicrypt_buf *report, const char *path)
{ PHIGO_CALL(phicrypt_audit_verify, ph, report, path); }
int phigo_audit_disclosures(phicrypt_t *ph, phicrypt_buf *out, const char *subject, int64_t since_ms)
{ PHIGO_CALL(phicrypt_audit_disclosures, ph, out, subject, since_ms); }
int phigo_audit_subject_id(phicrypt_t *ph, phicrypt_buf *out, const char *subject)
{ PHIGO_CALL(phicrypt_audit_subject_id, ph, out, subject); }
int phigo_deid_policy_new(phicrypt_deid_policy **out, phicrypt_t *ph, const char *json)
{ PHIGO_CALL(phicrypt_deid_policy_new, out, ph, json); }
int phigo_deid_file(phicrypt_t *ph, phicrypt_buf *r, const phicrypt_deid_policy *p, const char *in,
                    const char *out, const phicrypt_deid_opts *o)
{ PHIGO_CALL(phicrypt_deid_file, ph, r, p, in, out, o); }
int phigo_reid_file(phicrypt_t *ph, phicrypt_buf *r, const phicrypt_deid_policy *p, const char *in,
                    const char *out, const phicrypt_deid_opts *o)
{ PHIGO_CALL(phicrypt_reid_file, ph, r, p, in, out, o); }
int phigo_deid_json(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_deid_policy *p, const char *json, size_t n)
{ PHIGO_CALL(phicrypt_deid_json, ph, out, p, json, n); }

const char *phigo_deid_errmsg(void)
{
    static void *cache_;
    const char *(*f)(void);
    *(void **)&f = phigo_sym("phicrypt_deid_errmsg", &cache_);
    return f ? f() : "phicrypt_deid_errmsg is not in this libphicrypt";
}

void phigo_deid_policy_free(phicrypt_deid_policy *p)
{
    static void *cache_;
    void (*f)(phicrypt_deid_policy *);
    *(void **)&f = phigo_sym("phicrypt_deid_policy_free", &cache_);
    if (f)
        f(p);
}
