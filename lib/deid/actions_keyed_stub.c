/* Keyed actions when this build has no lib/token: refused with a clear
 * message (the policy is still validated). */
#include "core/error_private.h"
#include <string.h>

#include "deid/deid_private.h"

static int unsupported(phi_deid_rec *r, const char *what)
{
    return phi_error(r->eh, PHICRYPT_EUNSUPPORTED, "%s: this build has no keyring (lib/token)", what);
}

int phi_act_tokenize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const char *s, size_t n,
                     phi_sbuf *out)
{
    (void)rule; (void)s; (void)n; (void)out;
    return unsupported(r, path);
}

int phi_act_detokenize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const char *s, size_t n,
                       phi_sbuf *out)
{
    (void)rule; (void)s; (void)n; (void)out;
    return unsupported(r, path);
}

int phi_act_pseudonym(phi_deid_rec *r, const char *key, const char *context, const char *s, size_t n, phi_sbuf *out)
{
    (void)key; (void)s; (void)n; (void)out;
    return unsupported(r, context ? context : "pseudonymize");
}

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
