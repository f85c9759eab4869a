/* Calls into the parts of libphicrypt that a build may not have yet
 * (keyring, FF1, access, audit, de-identification): looked up with dlsym so the
 * binding links against any build; a missing function returns PHIGO_MISSING. */
#ifndef PHIGO_SHIM_H
#define PHIGO_SHIM_H
#include <phicrypt.h>

#define PHIGO_MISSING 1

int phigo_datakey_rewrap(phicrypt_t *ph, size_t *count, const char *filter, const char *provider,
                         const char *master_key);
int phigo_keyring_create(phicrypt_t *ph, const char *name, phicrypt_keyring_algorithm alg);
int phigo_keyring_rotate(phicrypt_t *ph, uint32_t *v, const char *name);
int phigo_keyring_retire(phicrypt_t *ph, const char *name, uint32_t v);
int phigo_keyring_destroy(phicrypt_t *ph, const char *name, uint32_t v);
int phigo_keyring_list(phicrypt_t *ph, phicrypt_buf *out);
int phigo_tokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key, const char *v, size_t n,
                   const phicrypt_token_opts *o);
int phigo_detokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key, const char *t, size_t n,
                     const phicrypt_token_opts *o);
int phigo_pseudonymize(phicrypt_t *ph, phicrypt_buf *out, const char *key, const char *v, size_t n,
                       const phicrypt_pseudonym_opts *o);
int phigo_pseudonym_verify(phicrypt_t *ph, const char *key, const char *v, size_t n, const char *ps,
                           const phicrypt_pseudonym_opts *o);
int phigo_ff1_encrypt(char *out, const uint8_t *key, size_t klen, const uint8_t *tweak, size_t tlen,
                      const char *alphabet, const char *in, size_t n);
int phigo_ff1_decrypt(char *out, const uint8_t *key, size_t klen, const uint8_t *tweak, size_t tlen,
                      const char *alphabet, const char *in, size_t n);
int phigo_decrypt_document_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, const char *ns,
                              const uint8_t *doc, size_t n);
int phigo_decrypt_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, const char *ns,
                     const char *field, const uint8_t *ct, size_t n);
int phigo_access_check(phicrypt_t *ph, const phicrypt_session *s, const char *ns, const char *field);
int phigo_detokenize_as(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_session *s, const char *ns, const char *field,
                        const char *key, const char *t, size_t n, const phicrypt_token_opts *o);
int phigo_reid_file_as(phicrypt_t *ph, phicrypt_buf *r, const phicrypt_session *s, const char *ns,
                       const phicrypt_deid_policy *p, const char *in, const char *out, const phicrypt_deid_opts *o);
int phigo_audit_verify(phicrypt_t *ph, phicrypt_buf *report, const char *path);
int phigo_audit_disclosures(phicrypt_t *ph, phicrypt_buf *out, const char *subject, int64_t since_ms);
int phigo_audit_subject_id(phicrypt_t *ph, phicrypt_buf *out, const char *subject);
int phigo_deid_policy_new(phicrypt_deid_policy **out, phicrypt_t *ph, const char *json);
const char *phigo_deid_errmsg(void);
void phigo_deid_policy_free(phicrypt_deid_policy *p);
int phigo_deid_file(phicrypt_t *ph, phicrypt_buf *r, const phicrypt_deid_policy *p, const char *in,
                    const char *out, const phicrypt_deid_opts *o);
int phigo_reid_file(phicrypt_t *ph, phicrypt_buf *r, const phicrypt_deid_policy *p, const char *in,
                    const char *out, const phicrypt_deid_opts *o);
int phigo_deid_json(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_deid_policy *p, const char *json, size_t n);
#endif
