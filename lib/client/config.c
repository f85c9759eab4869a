/* Parsing the configuration document. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <phicrypt.h>
#include "access/access_private.h"
#include "audit/audit_private.h"
#include "client/config_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "kms/registry_private.h"

static const char *const top_keys[] = { "kms_providers", "tls", "key_vault", "key_vault_namespace", "keyring",
                                        "schema_map", "access", "audit", "crypto_hooks", "key_cache_ttl_ms", "kms_options", "kms_plugins", NULL };
static const char *const provider_keys[] = { "local", "aws", "azure", "gcp", "kmip", NULL };
static const char *const local_keys[] = { "key_file", "key", NULL };

static int is_known(const char *key, const char *const *known)
{
    for (size_t i = 0; known[i]; i++)
        if (strcmp(key, known[i]) == 0)
            return 1;
    return 0;
}

static int expect_string(const void *eh, bson_iter_t *it, const char *name, char **out)
{
    if (!BSON_ITER_HOLDS_UTF8(it))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: '%s' must be a string, not %s", name,
                         phi_bson_type_name(bson_iter_type(it)));
    *out = phi_strdup(bson_iter_utf8(it, NULL));
    if (!*out)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (!**out)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: '%s' must not be empty", name);
    return 0;
}

static int read_key_file(phi_config *cfg, const void *eh, const char *name, uint8_t *dst, const char *where)
{
    char *path = phi_path_resolve(cfg->base_dir, name);
    struct stat st;
    int fd = -1, rc = 0;
    size_t got = 0;

    if (!path)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    /* Whoever may write the directory may swap the key file. */
    {
        char *dir = phi_path_dirname(path);
        if (!dir) {
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            goto out;
        }
        rc = phi_file_check_not_writable_by_others(eh, PHICRYPT_ECONFIG, dir,
                                                   where);
        phi_free(dir);
        if (rc != 0)
            goto out;
    }
    if ((fd = phi_file_open_private(eh, PHICRYPT_ECONFIG, path, where, &st)) < 0) {
        rc = fd;
        fd = -1;
        goto out;
    }
    if (st.st_size != PHI_LOCAL_KEY_BYTES) {
        rc = phi_error(eh, PHICRYPT_ECONFIG,
                       "%s %s: a local master key is %d bytes, this file has %lld", where, path,
                       PHI_LOCAL_KEY_BYTES, (long long)st.st_size);
        goto out;
    }
    while (got < PHI_LOCAL_KEY_BYTES) {
        ssize_t r = read(fd, dst + got, PHI_LOCAL_KEY_BYTES - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = phi_error(eh, PHICRYPT_ECONFIG, "%s %s: short read", where, path);
            goto out;
        }
        got += (size_t)r;
    }
out:
    if (fd >= 0)
        close(fd);
    phi_free(path);
    return rc;
}

static int parse_inline_key(uint8_t *dst, const void *eh, bson_iter_t *it, const char *where)
{
    if (BSON_ITER_HOLDS_BINARY(it)) {
        bson_subtype_t st;
        uint32_t len;
        const uint8_t *data;
        bson_iter_binary(it, &st, &len, &data);
        if (len != PHI_LOCAL_KEY_BYTES)
            return phi_error(eh, PHICRYPT_ECONFIG, "%s: must be %d bytes, got %u", where,
                             PHI_LOCAL_KEY_BYTES, (unsigned)len);
        memcpy(dst, data, PHI_LOCAL_KEY_BYTES);
        return 0;
    }
    if (BSON_ITER_HOLDS_UTF8(it)) {
        uint32_t slen;
        const char *b64 = bson_iter_utf8(it, &slen);
        size_t bin_len = 0;
        if (sodium_base642bin(dst, PHI_LOCAL_KEY_BYTES, b64, slen, NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bin_len != PHI_LOCAL_KEY_BYTES)
            return phi_error(eh, PHICRYPT_ECONFIG, "%s: must be base64 of %d bytes", where,
                             PHI_LOCAL_KEY_BYTES);
        return 0;
    }
    return phi_error(eh, PHICRYPT_ECONFIG, "%s: must be base64 text or binary", where);
}

/* kms_providers.local, or a named local key kms_providers."local:<name>"
 * (phicrypt wraps those itself: mcrypt/bridge.c). */
static int parse_local(phi_config *cfg, const void *eh, bson_iter_t *it, const char *name)
{
    bson_iter_t c;
    int seen = 0, rc = 0, named = strcmp(name, "local") != 0;
    char where[128];
    uint8_t *dst;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'kms_providers.%s' must be an object", name);
    if (named && (strlen(name) > 6 + 32 || !phi_kms_plugin_name_ok(name + 6)))
        return phi_error(eh, PHICRYPT_ECONFIG,
                         "kms_providers.%s: the name after 'local:' must be [a-z0-9_-]{1,32}", name);
    dst = phi_secure_alloc(PHI_LOCAL_KEY_BYTES);
    if (!dst)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of secure memory for the master key");
    if (!named)
        cfg->local_key = dst;
    while (rc == 0 && bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        snprintf(where, sizeof where, "kms_providers.%s.", name);
        if (!is_known(k, local_keys)) {
            rc = phi_config_unknown_key(eh, where, k, local_keys);
            break;
        }
        snprintf(where, sizeof where, "kms_providers.%s.%s", name, k);
        if (seen++)
            rc = phi_error(eh, PHICRYPT_ECONFIG, "kms_providers.%s: give either key_file or key, not both", name);
        else if (strcmp(k, "key_file") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&c))
                rc = phi_error(eh, PHICRYPT_ECONFIG, "%s: must be a file name", where);
            else
                rc = read_key_file(cfg, eh, bson_iter_utf8(&c, NULL), dst, where);
        } else if ((rc = parse_inline_key(dst, eh, &c, where)) == 0) {
            cfg->local_key_inline = 1;
        }
    }
    if (rc == 0 && !seen)
        rc = phi_error(eh, PHICRYPT_ECONFIG,
                       "kms_providers.%s: needs key_file (a 96-byte file, mode 0600); "
                       "on-demand local keys are not supported", name);
    if (rc == 0 && named) {
        if (!cfg->kms_registry)
            rc = phi_kms_registry_new(&cfg->kms_registry, eh);
        if (rc == 0)
            rc = phi_kms_registry_add_local(cfg->kms_registry, eh, name, dst);
    }
    if (named)
        phi_secure_free(dst);
    return rc;
}

/* "aws:eu": libmongocrypt 1.9 added named remote providers; on an older
 * one phicrypt cannot reach those services itself (it never signs KMS
 * requests) and says so. */
static int named_remote_supported(void)
{
    int major = 0, minor = 0;
    return sscanf(phicrypt_mongocrypt_version(), "%d.%d", &major, &minor) == 2 &&
           (major > 1 || (major == 1 && minor >= 9));
}

static int parse_providers(phi_config *cfg, const void *eh, bson_iter_t *it)
{
    bson_iter_t c;
    int n = 0, rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'kms_providers' must be an object");
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        const char *colon = strchr(k, ':');
        if (colon && strncmp(k, "local:", 6) == 0) {
            if ((rc = parse_local(cfg, eh, &c, k)) != 0)
                return rc;
            n++;
            continue;
        }
        if (colon) {
            char base[16];
            snprintf(base, sizeof base, "%.*s", (int)(colon - k) < 15 ? (int)(colon - k) : 15, k);
            if (!is_known(base, provider_keys))
                return phi_config_unknown_key(eh, "kms_providers.", k, provider_keys);
            if (!named_remote_supported())
                return phi_error(eh, PHICRYPT_EUNSUPPORTED,
                                 "kms_providers.%s: named %s providers need libmongocrypt 1.9 or later (this is %s); "
                                 "named local keys (\"local:<name>\") and KMS plug-ins work with any",
                                 k, base, phicrypt_mongocrypt_version());
        } else if (!is_known(k, provider_keys))
            return phi_config_unknown_key(eh, "kms_providers.", k, provider_keys);
        if (strcmp(k, "local") != 0)
            rc = phi_config_parse_remote(cfg, eh, k, &c);
        else
            rc = parse_local(cfg, eh, &c, "local");
        if (rc != 0)
            return rc;
        n++;
    }
    if (n == 0)
        return phi_error(eh, PHICRYPT_ECONFIG, "kms_providers: configure at least one provider");
    return 0;
}

static int parse_schema_map(phi_config *cfg, const void *eh, bson_iter_t *it)
{
    bson_iter_t c;
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'schema_map' must be an object");
    while (bson_iter_next(&c)) {
        const char *ns = bson_iter_key(&c);
        if (!phi_ns_dot(ns))
            return phi_error(eh, PHICRYPT_ECONFIG, "schema_map: '%s' is not a namespace (\"db.collection\")", ns);
        if (!BSON_ITER_HOLDS_DOCUMENT(&c))
            return phi_error(eh, PHICRYPT_ECONFIG, "schema_map.%s: the JSON schema must be an object", ns);
    }
    bson_iter_document(it, &len, &data);
    cfg->schema_map = bson_new_from_data(data, len);
    if (!cfg->schema_map)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    return 0;
}

/* JSON allows a key twice; a configuration must not (which one wins is a
 * guess, and a second local key would silently replace the first). */
static int check_no_duplicates(const void *eh, const bson_t *doc, const char *where)
{
    bson_iter_t a, b;
    bson_iter_init(&a, doc);
    while (bson_iter_next(&a)) {
        b = a;
        while (bson_iter_next(&b))
            if (strcmp(bson_iter_key(&a), bson_iter_key(&b)) == 0)
                return phi_error(eh, PHICRYPT_ECONFIG, "configuration: key '%s%s' appears twice", where,
                                 bson_iter_key(&a));
        if (BSON_ITER_HOLDS_DOCUMENT(&a) && strcmp(bson_iter_key(&a), "schema_map") != 0) {
            uint32_t len;
            const uint8_t *data;
            bson_t sub;
            char inner[256];
            int rc;
            bson_iter_document(&a, &len, &data);
            bson_init_static(&sub, data, len);
            snprintf(inner, sizeof inner, "%s%s.", where, bson_iter_key(&a));
            if ((rc = check_no_duplicates(eh, &sub, inner)) != 0)
                return rc;
        }
    }
    return 0;
}

static int parse_doc(phi_config *cfg, const void *eh, const bson_t *doc)
{
    bson_iter_t it;
    int rc;
    if ((rc = check_no_duplicates(eh, doc, "")) != 0)
        return rc;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (!is_known(k, top_keys))
            return phi_config_unknown_key(eh, "", k, top_keys);
        if (strcmp(k, "kms_providers") == 0)
            rc = parse_providers(cfg, eh, &it);
        else if (strcmp(k, "key_vault") == 0)
            rc = expect_string(eh, &it, k, &cfg->key_vault);
        else if (strcmp(k, "key_vault_namespace") == 0) {
            phi_free(cfg->key_vault_ns);
            cfg->key_vault_ns = NULL;
            rc = expect_string(eh, &it, k, &cfg->key_vault_ns);
            if (rc == 0 && !phi_ns_dot(cfg->key_vault_ns))
                rc = phi_error(eh, PHICRYPT_ECONFIG,
                               "key_vault_namespace: expected \"db.collection\", e.g. \"encryption.__keyVault\"");
        } else if (strcmp(k, "keyring") == 0)
            rc = expect_string(eh, &it, k, &cfg->keyring);
        else if (strcmp(k, "schema_map") == 0)
            rc = parse_schema_map(cfg, eh, &it);
        else if (strcmp(k, "tls") == 0)
            rc = phi_config_parse_tls(cfg, eh, &it);
        else if (strcmp(k, "kms_options") == 0)
            rc = phi_config_parse_kms_options(cfg, eh, &it);
        else if (strcmp(k, "kms_plugins") == 0)
            rc = phi_config_parse_plugins(cfg, eh, &it);
        else if (strcmp(k, "key_cache_ttl_ms") == 0) {
            if (!BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) < 0)
                rc = phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'key_cache_ttl_ms' must be a number >= 0");
            else
                cfg->key_cache_ttl_ms = bson_iter_as_int64(&it);
        } else if (strcmp(k, "crypto_hooks") == 0) {
            if (!BSON_ITER_HOLDS_BOOL(&it))
                rc = phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'crypto_hooks' must be true or false");
            else
                cfg->crypto_hooks = bson_iter_bool(&it);
        }
        else if (strcmp(k, "access") == 0)
            rc = phi_access_parse(&cfg->access, eh, &it);
        else if (strcmp(k, "audit") == 0)
            rc = phi_audit_parse(&cfg->audit, eh, &it, cfg->base_dir);
        else
            rc = phi_error(eh, PHICRYPT_EUNSUPPORTED, "configuration: '%s' is not supported by this version (planned)",
                           k);
        if (rc != 0)
            return rc;
    }
    if (!cfg->local_key && !cfg->kms_remote && !cfg->kms_registry)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'kms_providers' is required");
    if ((rc = phi_config_kms_finish(cfg, eh)) != 0)
        return rc;
    if (!cfg->key_vault)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'key_vault' is required (e.g. \"file:keyvault.jsonl\")");
    if (cfg->access && (rc = phi_access_bind(cfg->access, eh, cfg->schema_map)) != 0)
        return rc;
    if (cfg->audit && (rc = phi_audit_bind(cfg->audit, eh, cfg->key_vault, cfg->key_vault_ns)) != 0)
        return rc;
    return 0;
}

int phi_config_parse(phi_config **out, const void *eh, const char *json, const char *base_dir)
{
    phi_config *cfg;
    bson_t doc;
    int rc;

    *out = NULL;
    if (!json)
        return phi_error(eh, PHICRYPT_EINVAL, "configuration: NULL");
    cfg = phi_calloc(1, sizeof *cfg);
    if (!cfg)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    cfg->key_vault_ns = phi_strdup("encryption.__keyVault");
    cfg->crypto_hooks = 1;
    cfg->key_cache_ttl_ms = -1;
    cfg->base_dir = base_dir ? phi_strdup(base_dir) : NULL;
    if (!cfg->key_vault_ns || (base_dir && !cfg->base_dir)) {
        phi_config_free(cfg);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    if ((rc = phi_json_to_bson(eh, "configuration", json, strlen(json), &doc)) != 0) {
        char msg[PHI_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", phi_error_message(eh));
        phi_config_free(cfg);
        return phi_error(eh, PHICRYPT_ECONFIG, "%s", msg);
    }
    rc = parse_doc(cfg, eh, &doc);
    /* The document may hold an inline master key. */
    phi_bson_wipe_destroy(&doc);
    if (rc != 0) {
        phi_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void phi_config_free(phi_config *cfg)
{
    if (!cfg)
        return;
    phi_secure_free(cfg->local_key);
    phi_config_kms_free(cfg);
    phi_kms_registry_free(cfg->kms_registry);
    phi_free(cfg->base_dir);
    phi_free(cfg->key_vault);
    phi_free(cfg->key_vault_ns);
    phi_free(cfg->keyring);
    phi_access_free(cfg->access);
    phi_audit_free(cfg->audit);
    if (cfg->schema_map)
        bson_destroy(cfg->schema_map);
    phi_free(cfg);
}
