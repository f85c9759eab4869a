/* phicrypt_new / phicrypt_free and the error accessors. */
#include <string.h>
#include <sys/stat.h>

#include <phicrypt.h>
#include "client/client_private.h"
#include "client/config_private.h"
#include "audit/audit_private.h"
#include "core/error_private.h"
#include "audit/audit_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
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
    o.registry = ph->cfg->kms_registry;
    return phi_mcrypt_new(out, ph, &o);
}

/* Replaces *slot with a copy of value (the caller's overrides). */
static int override(phicrypt_t *ph, char **slot, const char *value)
{
    char *copy = phi_strdup(value);
    if (!copy)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    phi_free(*slot);
    *slot = copy;
    return 0;
}

static int apply_opts(phicrypt_t *ph, const phicrypt_open_opts *opts)
{
    int rc;
    if (!opts)
        return 0;
    if (opts->key_vault && (rc = override(ph, &ph->cfg->key_vault, opts->key_vault)) != 0)
        return rc;
    if (opts->key_vault_namespace) {
        if (!phi_ns_dot(opts->key_vault_namespace))
            return phi_error(ph, PHICRYPT_ECONFIG,
                             "key vault namespace: expected \"db.collection\", e.g. \"encryption.__keyVault\"");
        if ((rc = override(ph, &ph->cfg->key_vault_ns, opts->key_vault_namespace)) != 0)
            return rc;
    }
    return 0;
}

static int create(phicrypt_t **out, const char *config_json, const char *base_dir, const phicrypt_open_opts *opts)
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
    ph->key_dependants = phi_client_key_dependants;
    if (pthread_rwlock_init(&ph->mc_lock, NULL) != 0) {
        phi_free(ph);
        return phi_error(NULL, PHICRYPT_ENOMEM, "cannot create a lock");
    }
    if ((rc = phi_config_parse(&ph->cfg, ph, config_json, base_dir)) != 0 || (rc = apply_opts(ph, opts)) != 0 ||
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
    return create(out, config_json, NULL, NULL);
}

/* Secrets written in the configuration itself. */
static int holds_secrets(const phi_config *cfg, const char *text)
{
    static const char *const paths[] = { "aws.secretAccessKey", "aws.sessionToken", "azure.clientSecret",
                                         "gcp.privateKey", NULL };
    if (cfg->local_key_inline)
        return 1;
    for (size_t i = 0; cfg->kms_remote && paths[i]; i++) {
        bson_iter_t it, d;
        if (bson_iter_init(&it, cfg->kms_remote) && bson_iter_find_descendant(&it, paths[i], &d))
            return 1;
    }
    /* lib/kms owns the TLS settings by now; the name is enough. */
    return strstr(text, "\"cert_key_password\"") != NULL;
}

int phicrypt_new_from_file(phicrypt_t **out, const char *config_path)
{
    return phicrypt_new_from_file_opts(out, config_path, NULL);
}

int phicrypt_new_from_file_opts(phicrypt_t **out, const char *config_path, const phicrypt_open_opts *opts)
{
    struct stat st;
    char *text = NULL, *dir;
    size_t len = 0;
    int rc;

    if (!out || !config_path)
        return phi_error(NULL, PHICRYPT_EINVAL, "phicrypt_new_from_file: NULL argument");
    *out = NULL;
    if (opts && opts->version != PHICRYPT_OPEN_OPTS_VERSION)
        return phi_error(NULL, PHICRYPT_EINVAL, "phicrypt_new_from_file_opts: opts->version %u is not %u", opts->version,
                         (unsigned)PHICRYPT_OPEN_OPTS_VERSION);
    if ((rc = phi_file_read_all_stat(NULL, PHICRYPT_ECONFIG, config_path, &text, &len, &st)) != 0)
        return phi_error_wrap(NULL, rc, "configuration");
    /* Whoever may write the configuration chooses our keys and KMS. */
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        phi_wipe_free(text, len);
        return phi_error(NULL, PHICRYPT_ECONFIG,
                         "configuration %s: permissions %04o let group or others write it (chmod go-w %s)",
                         config_path, (unsigned)(st.st_mode & 07777), config_path);
    }
    dir = phi_path_dirname(config_path);
    if (!dir) {
        phi_wipe_free(text, len);
        return phi_error(NULL, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = create(out, text, dir, opts);
    if (rc != 0)
        phi_error_wrap(NULL, rc, "%s", config_path);
    else if ((st.st_mode & (S_IRWXG | S_IRWXO)) && holds_secrets((*out)->cfg, text)) {
        phicrypt_free(*out);
        *out = NULL;
        rc = phi_error(NULL, PHICRYPT_ECONFIG,
                       "configuration %s: holds secrets (an inline key, secretAccessKey, clientSecret, privateKey "
                       "or cert_key_password) but permissions %04o let group or others read it (chmod 600 %s, or "
                       "move the secret to a key_file or to on-demand credentials)",
                       config_path, (unsigned)(st.st_mode & 07777), config_path);
    }
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
    phi_mcrypt_hooks_thread_clear();
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

/* The alt names phicrypt gives the data keys it creates for itself. */
static int has_alt(const phicrypt_buf *doc, const char *name)
{
    bson_t d;
    bson_iter_t it, a;
    if (!bson_init_static(&d, doc->data, doc->len) || !bson_iter_init_find(&it, &d, "keyAltNames") ||
        !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &a))
        return 0;
    while (bson_iter_next(&a))
        if (BSON_ITER_HOLDS_UTF8(&a) && strcmp(bson_iter_utf8(&a, NULL), name) == 0)
            return 1;
    return 0;
}

int phi_client_key_dependants(phicrypt_t *ph, const uint8_t id[16], int shred)
{
    phicrypt_buf doc = PHICRYPT_BUF_INIT;
    phi_kr_deps deps;
    char u[37];
    int rc, is_keyring, is_audit;
    /* A key that is not there: the delete itself reports it. */
    if ((rc = phicrypt_datakey_get(ph, &doc, id)) != 0)
        return rc == PHICRYPT_EKEYNOTFOUND ? (phi_error_clear(ph), 0) : rc;
    is_keyring = has_alt(&doc, PHI_KEYRING_DATA_KEY);
    is_audit = has_alt(&doc, PHI_AUDIT_DATA_KEY);
    phicrypt_buf_dispose(&doc);
    /* Ciphertexts name their data key, so keyring material wrapped by a
     * key that has lost its alt name is found all the same. */
    if ((rc = phi_keyring_wrapped_by(ph, id, &deps)) != 0)
        return rc;
    /* A keyring that holds nothing wrapped by it loses nothing. */
    if (!deps.keys && (!is_keyring || ph->keyring) && !is_audit)
        return 0;
    if (shred) {
        /* Keys unwrapped earlier must not outlive their wrapping key. */
        phi_keyring_forget_all(ph);
        return 0;
    }
    phi_uuid_format(u, id);
    if (deps.keys)
        return phi_error(ph, PHICRYPT_EINVAL,
                         "data key %s wraps %zu keyring key%s (%zu version%s: %s): deleting it makes every token and "
                         "pseudonym made with them irreversible%s. Refused; to destroy them all the same use "
                         "--shred-keyring --yes (phicrypt_datakey_delete_ex with shred_internal = 1)",
                         u, deps.keys, deps.keys == 1 ? "" : "s", deps.versions, deps.versions == 1 ? "" : "s",
                         deps.names, strstr(deps.names, "'audit:") ? " and loses the audit log's keys" : "");
    return phi_error(ph, PHICRYPT_EINVAL,
                     "data key %s is phicrypt's internal key '%s' (%s): deleting it %s. Refused; to destroy it the "
                     "same use --shred-keyring --yes (phicrypt_datakey_delete_ex with shred_internal = 1)",
                     u, is_keyring ? PHI_KEYRING_DATA_KEY : PHI_AUDIT_DATA_KEY,
                     is_keyring ? "it wraps keyring keys; this client has no keyring configured to count them"
                                : "the audit log's chain and subject keys derive from it",
                     is_keyring ? "destroys every token and pseudonym key it wraps"
                                : "makes the audit log's chain unverifiable and its subject ids unlinkable");
}
