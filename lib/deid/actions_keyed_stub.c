/* Keyed actions when this build has no lib/token: refused with a clear
 * message (the policy is still validated). */
#include "core/error_private.h"
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
