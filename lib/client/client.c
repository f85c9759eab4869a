/* phicrypt_new / phicrypt_free and the error accessors. */
#include <string.h>

#include <phicrypt.h>
#include "client/client_private.h"
#include "client/config_private.h"
#include "audit/audit_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/mem_private.h"
#include "keyvault/keyvault_private.h"
#include "token/keyring_private.h"

static int new_mcrypt(phicrypt_t *ph, phi_mcrypt **out)
{
    phi_mcrypt_opts o = { 0 };
    o.local_key = ph->cfg->local_key;
    o.schema_map = ph->cfg->schema_map;
    o.crypto_hooks = ph->cfg->crypto_hooks;
    o.key_cache_ttl_ms = ph->cfg->key_cache_ttl_ms;
    o.kms_remote = ph->cfg->kms_remote;
    o.kms_on_demand = ph->cfg->kms_on_demand;
    return phi_mcrypt_new(out, ph, &o);
}

static int create(phicrypt_t **out, const char *config_json, const char *base_dir)
{
    phicrypt_t *ph;
    int rc;

    if (!out)
        return phi_error(NULL, PHICRYPT_EINVAL, "phicrypt_new: out is NULL");
    *out = NULL;
    if ((rc = phicrypt_init()) != 0)
        return rc;
    ph = phi_calloc(1, sizeof *ph);
    if (!ph)
        return phi_error(NULL, PHICRYPT_ENOMEM, "out of memory");
    ph->reset_mcrypt = phi_client_reset_mcrypt;
    if (pthread_rwlock_init(&ph->mc_lock, NULL) != 0) {
        phi_free(ph);
        return phi_error(NULL, PHICRYPT_ENOMEM, "cannot create a lock");
    }
    if ((rc = phi_config_parse(&ph->cfg, ph, config_json, base_dir)) != 0 ||
        (rc = phi_keyvault_open_ns(&ph->kv, ph, ph->cfg->key_vault, ph->cfg->base_dir, ph->cfg->key_vault_ns)) != 0 ||
        (rc = new_mcrypt(ph, &ph->mc)) != 0 ||
        (ph->cfg->keyring && (rc = phi_keyring_open(&ph->keyring, ph, ph->cfg->keyring, ph->cfg->base_dir)) != 0)) {
        /* Nobody can query a handle that is about to vanish: hand the
         * message to the NULL handle. */
        phi_error_move(ph, NULL);
        phicrypt_free(ph);
        return rc;
    }
    phi_client_connect_audit(ph);
    *out = ph;
    return 0;
}

int phicrypt_new(phicrypt_t **out, const char *config_json)
{
    return create(out, config_json, NULL);
}

int phicrypt_new_from_file(phicrypt_t **out, const char *config_path)
{
    char *text = NULL, *dir;
    size_t len = 0;
    int rc;

    if (!out || !config_path)
        return phi_error(NULL, PHICRYPT_EINVAL, "phicrypt_new_from_file: NULL argument");
    *out = NULL;
    if ((rc = phi_file_read_all(NULL, PHICRYPT_ECONFIG, config_path, &text, &len)) != 0)
        return phi_error_wrap(NULL, rc, "configuration");
    dir = phi_path_dirname(config_path);
    if (!dir) {
        phi_wipe_free(text, len);
        return phi_error(NULL, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = create(out, text, dir);
    if (rc != 0)
        phi_error_wrap(NULL, rc, "%s", config_path);
    phi_wipe_free(text, len);
    phi_free(dir);
    return rc;
}

void phicrypt_free(phicrypt_t *ph)
{
    if (!ph)
        return;
    /* The clean-shutdown checkpoint needs the keyring: before closing it. */
    if (ph->cfg)
        phi_audit_close(ph, ph->cfg->audit);
    phi_keyring_close(ph->keyring);
    phi_mcrypt_free(ph->mc);
    phi_keyvault_close(ph->kv);
    phi_config_free(ph->cfg);
    pthread_rwlock_destroy(&ph->mc_lock);
    phi_error_clear(ph);
    phi_free(ph);
}

const char *phicrypt_errmsg(const phicrypt_t *ph)
{
    return phi_error_message(ph);
}

int phicrypt_errcode(const phicrypt_t *ph)
{
    return phi_error_code(ph);
}

int phi_client_reset_mcrypt(phicrypt_t *ph)
{
    phi_mcrypt *fresh, *old;
    int rc = new_mcrypt(ph, &fresh);
    if (rc != 0)
        return rc;
    pthread_rwlock_wrlock(&ph->mc_lock);
    old = ph->mc;
    ph->mc = fresh;
    pthread_rwlock_unlock(&ph->mc_lock);
    phi_mcrypt_free(old);
    return 0;
}
