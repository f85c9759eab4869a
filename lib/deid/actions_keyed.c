/* Keyed actions over the keyring: tokens (FF1, AES-SIV) and pseudonyms
 * (HMAC). Built only when lib/token is. */
#include <string.h>

#define PHI_DEID_HAVE_KEYRING 1
#include "core/error_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "token/token_private.h"
#include "token/keyring_private.h"

static int put_result(phi_deid_rec *r, int rc, const char *path, phicrypt_buf *b, phi_sbuf *out)
{
    if (rc) {
        phicrypt_buf_dispose(b);
        return phi_error_adopt(r->ph, r->eh, rc, path);
    }
    out->len = 0;
    phi_sbuf_put(out, b->data, b->len);
    phicrypt_buf_dispose(b);
    return out->oom ? phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory") : 0;
}

int phi_act_tokenize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const char *s, size_t n,
                     phi_sbuf *out)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
    o.format = rule->format;
    o.context = rule->context;
    o.key_version = rule->key_version;
    return put_result(r, phi_kr_tokenize(r->ph, &r->keys, &b, rule->key, s, n, &o, 0), path, &b, out);
}

int phi_act_detokenize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const char *s, size_t n,
                       phi_sbuf *out)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
    o.format = rule->format;
    o.context = rule->context;
    o.key_version = rule->key_version;
    return put_result(r, phi_kr_tokenize(r->ph, &r->keys, &b, rule->key, s, n, &o, 1), path, &b, out);
}

int phi_act_pseudonym(phi_deid_rec *r, const char *key, const char *context, const char *s, size_t n, phi_sbuf *out)
{
    char text[PHI_DEID_PSEUDONYM_CAP];
    size_t tl = 0;
    int rc = phi_act_pseudonym_text(r, key, context, s, n, text, sizeof text, &tl);
    if (rc)
        return rc;
    out->len = 0;
    phi_sbuf_put(out, text, tl);
    return out->oom ? phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory") : 0;
}

int phi_act_pseudonym_text(phi_deid_rec *r, const char *key, const char *context, const char *s, size_t n, char *out,
                           size_t cap, size_t *out_len)
{
    phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
    o.context = context;
    int rc = phi_kr_pseudonymize_text(r->ph, &r->keys, out, cap, out_len, key, s, n, &o);
    return rc ? phi_error_adopt(r->ph, r->eh, rc, context) : 0;
}

void phi_act_keys_free(phi_deid_rec *r)
{
    phi_kr_local_free(r->keys);
    r->keys = NULL;
}

_Static_assert(PHI_DEID_PSEUDONYM_CAP > PHI_KR_PSEUDONYM_TEXT_MAX, "pseudonym buffer too small");

int phi_deid_check_keys(phicrypt_t *ph, const char *const *names, const char *const *where, const int *is_data_key,
                        size_t n)
{
    phicrypt_buf list = PHICRYPT_BUF_INIT;
    int have_list = 0, rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (is_data_key[i]) {
            phicrypt_buf k = PHICRYPT_BUF_INIT;
            int r = phicrypt_datakey_get_by_alt_name(ph, &k, names[i]);
            phicrypt_buf_dispose(&k);
            if (r == PHICRYPT_EKEYNOTFOUND)
                rc = phi_error(ph, r, "%s: no data key with alt name '%s' in the key vault", where[i], names[i]);
            else if (r)
                rc = phi_error_wrap(ph, r, "%s", where[i]);
            continue;
        }
#ifdef PHI_DEID_HAVE_KEYRING
        if (!have_list) {
            int r = phicrypt_keyring_list(ph, &list);
            if (r)
                return phi_error_wrap(ph, r, "%s", where[i]);
            have_list = 1;
        }
        bson_t doc;
        bson_iter_t it, keys, key;
        int found = 0;
        if (bson_init_static(&doc, list.data, list.len) && bson_iter_init_find(&it, &doc, "keys") &&
            bson_iter_recurse(&it, &keys))
            while (!found && bson_iter_next(&keys))
                if (bson_iter_recurse(&keys, &key) && bson_iter_find(&key, "name") && BSON_ITER_HOLDS_UTF8(&key) &&
                    strcmp(bson_iter_utf8(&key, NULL), names[i]) == 0)
                    found = 1;
        if (!found)
            rc = phi_error(ph, PHICRYPT_EKEYNOTFOUND, "%s: no keyring key '%s' (create it with 'phicrypt token create')",
                           where[i], names[i]);
#else
        (void)have_list;
#endif
    }
    phicrypt_buf_dispose(&list);
    return rc;
}
