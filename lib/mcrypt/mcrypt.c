/* Creating and destroying the libmongocrypt handle. */
#include <string.h>

#include "phi_config.h"

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "kms/registry_private.h"
#include "mcrypt/mcrypt_impl_private.h"

const char *phicrypt_mongocrypt_version(void)
{
    return mongocrypt_version(NULL);
}

int phi_mcrypt_binary_of(const void *eh, const bson_t *doc, mongocrypt_binary_t **out)
{
    if (doc->len > UINT32_MAX)
        return phi_error(eh, PHICRYPT_EINVAL, "document too large for libmongocrypt");
    *out = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(doc), doc->len);
    if (!*out)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    return 0;
}

static int crypt_error(mongocrypt_t *crypt, const void *eh, const char *what)
{
    mongocrypt_status_t *st = mongocrypt_status_new();
    const char *msg;
    int code;
    mongocrypt_status(crypt, st);
    msg = mongocrypt_status_message(st, NULL);
    code = phi_mcrypt_code_for_message(msg ? msg : "");
    if (code == PHICRYPT_EINTERNAL)
        code = PHICRYPT_ECONFIG;
    phi_error(eh, code, "%s: libmongocrypt: %s", what, msg ? msg : "unknown error");
    mongocrypt_status_destroy(st);
    return code;
}

int phi_mcrypt_new(phi_mcrypt **out, const void *eh, const phi_mcrypt_opts *opts)
{
    phi_mcrypt *m;
    bson_t providers = BSON_INITIALIZER;
    mongocrypt_binary_t *bin = NULL;
    int rc = 0;

    *out = NULL;
    m = phi_calloc(1, sizeof *m);
    if (!m)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    m->crypt = mongocrypt_new();
    if (!m->crypt) {
        phi_free(m);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory creating libmongocrypt handle");
    }
    if (opts->registry && phi_kms_registry_named(opts->registry) > 0) {
        /* Providers libmongocrypt does not know: it sees their keys
         * re-wrapped under this instance's own key (bridge.c), which is
         * never written anywhere. */
        if (!(m->bridge_key = phi_secure_alloc(96)) || phi_random(m->bridge_key, 96) != 0) {
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of secure memory for the bridge key");
            goto fail;
        }
        m->real_local = opts->local_key;
        m->registry = opts->registry;
    }
    if (opts->local_key || m->bridge_key) {
        bson_t local;
        BSON_APPEND_DOCUMENT_BEGIN(&providers, "local", &local);
        BSON_APPEND_BINARY(&local, "key", BSON_SUBTYPE_BINARY, m->bridge_key ? m->bridge_key : opts->local_key, 96);
        bson_append_document_end(&providers, &local);
    }
    if (opts->kms_remote)
        bson_concat(&providers, opts->kms_remote);
    if (opts->kms_on_demand)
        mongocrypt_setopt_use_need_kms_credentials_state(m->crypt);
#ifdef PHI_HAVE_MONGOCRYPT_RETRY
    /* Retries of network failures the adapter reports (kms_states.c). */
    mongocrypt_setopt_retry_kms(m->crypt, true);
#endif
    if ((rc = phi_mcrypt_binary_of(eh, &providers, &bin)) != 0)
        goto fail;
    /* libmongocrypt copies the providers document; ours is wiped below. */
    if (!mongocrypt_setopt_kms_providers(m->crypt, bin)) {
        rc = crypt_error(m->crypt, eh, "kms_providers");
        goto fail;
    }
    mongocrypt_binary_destroy(bin);
    bin = NULL;
    if (opts->schema_map) {
        if ((rc = phi_mcrypt_binary_of(eh, opts->schema_map, &bin)) != 0)
            goto fail;
        if (!mongocrypt_setopt_schema_map(m->crypt, bin)) {
            rc = crypt_error(m->crypt, eh, "schema_map");
            goto fail;
        }
        mongocrypt_binary_destroy(bin);
        bin = NULL;
    }
    if (opts->crypto_hooks && (rc = phi_mcrypt_install_hooks(m->crypt, eh)) != 0)
        goto fail;
    if (opts->key_cache_ttl_ms >= 0) {
#ifdef PHI_HAVE_MONGOCRYPT_KEY_EXPIRATION
        if (!mongocrypt_setopt_key_expiration(m->crypt, (uint64_t)opts->key_cache_ttl_ms)) {
            rc = crypt_error(m->crypt, eh, "key_cache_ttl_ms");
            goto fail;
        }
#else
        /* libmongocrypt 1.7 caches data keys for a fixed 60 s. */
        if (opts->key_cache_ttl_ms != 60000) {
            rc = phi_error(eh, PHICRYPT_EUNSUPPORTED,
                           "key_cache_ttl_ms: libmongocrypt %s caches data keys for a fixed 60000 ms; another value "
                           "needs a libmongocrypt with mongocrypt_setopt_key_expiration",
                           mongocrypt_version(NULL));
            goto fail;
        }
#endif
    }
    if (!mongocrypt_init(m->crypt)) {
        rc = crypt_error(m->crypt, eh, "libmongocrypt initialisation");
        goto fail;
    }
    phi_bson_wipe_destroy(&providers);
    *out = m;
    return 0;
fail:
    mongocrypt_binary_destroy(bin);
    phi_bson_wipe_destroy(&providers);
    mongocrypt_destroy(m->crypt);
    phi_secure_free(m->bridge_key);
    phi_free(m);
    return rc;
}

void phi_mcrypt_free(phi_mcrypt *m)
{
    if (!m)
        return;
    mongocrypt_destroy(m->crypt);
    phi_secure_free(m->bridge_key);
    phi_free(m);
}
