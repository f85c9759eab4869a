/* Keyed actions over the keyring: tokens (FF1, AES-SIV) and pseudonyms
 * (HMAC). Built only when lib/token is. */
#include <string.h>

#include "core/error_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"

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
    return put_result(r, phicrypt_tokenize(r->ph, &b, rule->key, s, n, &o), path, &b, out);
}

int phi_act_detokenize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const char *s, size_t n,
                       phi_sbuf *out)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
    o.format = rule->format;
    o.context = rule->context;
    o.key_version = rule->key_version;
    return put_result(r, phicrypt_detokenize(r->ph, &b, rule->key, s, n, &o), path, &b, out);
}

int phi_act_pseudonym(phi_deid_rec *r, const char *key, const char *context, const char *s, size_t n, phi_sbuf *out)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
    o.context = context;
    return put_result(r, phicrypt_pseudonymize(r->ph, &b, key, s, n, &o), context, &b, out);
}
