/* Master key documents checked per provider before libmongocrypt sees
 * them: its own errors ("expected UTF-8 key (internal error)") do not say
 * which member is missing. Members and types as in the MongoDB drivers'
 * ClientEncryption.createDataKey masterKey option. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "fle/fle_private.h"

typedef struct mk_spec {
    const char *provider;
    const char *const *required;
    const char *const *optional;
    const char *example;
} mk_spec;

static const char *const aws_req[] = { "region", "key", NULL };
static const char *const aws_opt[] = { "endpoint", NULL };
static const char *const azure_req[] = { "keyVaultEndpoint", "keyName", NULL };
static const char *const azure_opt[] = { "keyVersion", NULL };
static const char *const gcp_req[] = { "projectId", "location", "keyRing", "keyName", NULL };
static const char *const gcp_opt[] = { "keyVersion", "endpoint", NULL };
static const char *const kmip_req[] = { NULL };
static const char *const kmip_opt[] = { "keyId", "endpoint", NULL };
static const char *const local_req[] = { NULL };

static const mk_spec specs[] = {
    { "aws", aws_req, aws_opt, "{\"region\": \"us-east-1\", \"key\": \"arn:aws:kms:...\"}" },
    { "azure", azure_req, azure_opt, "{\"keyVaultEndpoint\": \"v.vault.azure.net\", \"keyName\": \"k\"}" },
    { "gcp", gcp_req, gcp_opt,
      "{\"projectId\": \"p\", \"location\": \"global\", \"keyRing\": \"r\", \"keyName\": \"k\"}" },
    { "kmip", kmip_req, kmip_opt, "{} or {\"keyId\": \"1\"}" },
    { "local", local_req, local_req, "none (omit it)" },
};

static int in(const char *k, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], k) == 0)
            return 1;
    return 0;
}

int phi_fle_check_master_key(const void *eh, const char *provider, const bson_t *mk)
{
    const mk_spec *sp = NULL;
    bson_iter_t it;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (strcmp(specs[i].provider, provider) == 0)
            sp = &specs[i];
    if (!sp || !mk)
        return 0;
    for (size_t i = 0; sp->required[i]; i++)
        if (!bson_iter_init_find(&it, mk, sp->required[i]))
            return phi_error(eh, PHICRYPT_EINVAL, "master key (%s): '%s' is missing; e.g. %s", provider,
                             sp->required[i], sp->example);
    if (!bson_iter_init(&it, mk))
        return phi_error(eh, PHICRYPT_EINVAL, "master key (%s): not a document", provider);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        /* libmongocrypt fills "provider" itself; a matching one is harmless. */
        if (strcmp(k, "provider") == 0 && BSON_ITER_HOLDS_UTF8(&it) && strcmp(bson_iter_utf8(&it, NULL), provider) == 0)
            continue;
        if (!in(k, sp->required) && !in(k, sp->optional)) {
            const char *s = phi_suggest(k, sp->optional[0] ? sp->optional : sp->required);
            if (!s)
                s = phi_suggest(k, sp->required);
            return phi_error(eh, PHICRYPT_EINVAL, "master key (%s): unknown member '%s'%s%s%s", provider, k,
                             s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
        if (!BSON_ITER_HOLDS_UTF8(&it) || !bson_iter_utf8(&it, NULL)[0])
            return phi_error(eh, PHICRYPT_EINVAL, "master key (%s): '%s' must be a non-empty string", provider, k);
    }
    return 0;
}
