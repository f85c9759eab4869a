/* Named providers and KMS plug-ins (see kms/registry_private.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/mem_private.h"
#include "kms/registry_private.h"

static const char *const standard[] = { "local", "aws", "azure", "gcp", "kmip", NULL };

int phi_kms_plugin_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
              name[i] == '-'))
            return 0;
    for (size_t i = 0; standard[i]; i++)
        if (strcmp(name, standard[i]) == 0)
            return 0;
    return 1;
}

int phi_kms_registry_new(phi_kms_registry **out, const void *eh)
{
    *out = phi_calloc(1, sizeof **out);
    return *out ? 0 : phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
}

static void entry_clear(phi_kms_entry *e)
{
    phi_secure_free(e->local_key);
    if (e->plugin.close)
        e->plugin.close(e->ctx);
    /* The module stays mapped: a plug-in may have left atexit handlers or
     * threads (PKCS#11 libraries do) that would run into unmapped code. */
    memset(e, 0, sizeof *e);
}

void phi_kms_registry_free(phi_kms_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++)
        entry_clear(&reg->e[i]);
    phi_free(reg);
}

static phi_kms_entry *slot(phi_kms_registry *reg, const void *eh, const char *name)
{
    if (strlen(name) >= PHI_KMS_NAME_MAX) {
        phi_error(eh, PHICRYPT_EINVAL, "KMS provider name longer than %d bytes", PHI_KMS_NAME_MAX - 1);
        return NULL;
    }
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->e[i].name, name) == 0) {
            phi_error(eh, PHICRYPT_EEXIST, "KMS provider '%s' is registered already", name);
            return NULL;
        }
    if (reg->n >= PHI_KMS_MAX_NAMED) {
        phi_error(eh, PHICRYPT_ECONFIG, "more than %d named KMS providers", PHI_KMS_MAX_NAMED);
        return NULL;
    }
    return &reg->e[reg->n];
}

int phi_kms_registry_add_local(phi_kms_registry *reg, const void *eh, const char *name, const uint8_t key[96])
{
    phi_kms_entry *e = slot(reg, eh, name);
    if (!e)
        return phi_error_code(eh);
    if (!(e->local_key = phi_secure_alloc(96)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of secure memory for a master key");
    memcpy(e->local_key, key, 96);
    snprintf(e->name, sizeof e->name, "%s", name);
    reg->n++;
    return 0;
}

int phi_kms_registry_add_plugin(phi_kms_registry *reg, const void *eh, const char *name,
                                const phicrypt_kms_plugin *plugin, void *ctx, void *dl)
{
    phi_kms_entry *e;
    const char *why = NULL;
    (void)dl;
    if (!phi_kms_plugin_name_ok(name))
        why = "the name must be [a-z0-9_-]{1,32} and not local, aws, azure, gcp or kmip";
    else if (!plugin || plugin->version != PHICRYPT_KMS_PLUGIN_VERSION)
        why = "the callback table has an unknown version";
    else if (!plugin->wrap || !plugin->unwrap)
        why = "wrap and unwrap are required";
    if (why) {
        if (plugin && plugin->version == PHICRYPT_KMS_PLUGIN_VERSION && plugin->close)
            plugin->close(ctx);
        return phi_error(eh, PHICRYPT_EINVAL, "KMS plug-in '%s': %s", name ? name : "(null)", why);
    }
    if (!(e = slot(reg, eh, name))) {
        if (plugin->close)
            plugin->close(ctx);
        return phi_error_code(eh);
    }
    e->plugin = *plugin;
    e->ctx = ctx;
    e->dl = dl;
    snprintf(e->name, sizeof e->name, "%s", name);
    reg->n++;
    return 0;
}

int phi_kms_registry_load(phi_kms_registry *reg, const void *eh, const char *name, const char *module,
                          const char *options_json, const char *base_dir)
{
    typedef const phicrypt_kms_plugin *(*entry_fn)(void);
    char *path = strchr(module, '/') ? phi_path_resolve(base_dir, module) : phi_strdup(module);
    char err[PHICRYPT_KMS_ERRMSG_MAX] = "";
    const phicrypt_kms_plugin *p;
    void *dl, *ctx = NULL, *sym;
    entry_fn fn;
    int rc;

    if (!path)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        rc = phi_error(eh, PHICRYPT_ECONFIG, "kms_plugins.%s.module: cannot load %s: %s", name, path,
                       why ? why : "unknown error");
        phi_free(path);
        return rc;
    }
    sym = dlsym(dl, PHICRYPT_KMS_PLUGIN_SYMBOL);
    memcpy(&fn, &sym, sizeof fn);
    p = fn ? fn() : NULL;
    if (!p || p->version != PHICRYPT_KMS_PLUGIN_VERSION) {
        rc = phi_error(eh, PHICRYPT_ECONFIG, "kms_plugins.%s.module: %s %s", name, path,
                       !fn ? "does not export " PHICRYPT_KMS_PLUGIN_SYMBOL
                           : "is a KMS plug-in of another version (phicrypt takes version 1)");
        phi_free(path);
        dlclose(dl);
        return rc;
    }
    phi_free(path);
    if (p->open && (rc = p->open(&ctx, options_json ? options_json : "{}", base_dir, err)) != 0) {
        err[sizeof err - 1] = 0;
        dlclose(dl);
        return phi_error(eh, rc < 0 ? rc : PHICRYPT_ECONFIG, "kms_plugins.%s: %s", name,
                         err[0] ? err : "the plug-in refused its options");
    }
    return phi_kms_registry_add_plugin(reg, eh, name, p, ctx, dl);
}

const phi_kms_entry *phi_kms_registry_find(const phi_kms_registry *reg, const char *provider)
{
    const char *colon = provider ? strchr(provider, ':') : NULL;
    if (!reg || !provider)
        return NULL;
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->e[i].name, provider) == 0)
            return &reg->e[i];
    for (size_t i = 0; colon && i < reg->n; i++)
        if (!reg->e[i].local_key && strlen(reg->e[i].name) == (size_t)(colon - provider) &&
            strncmp(reg->e[i].name, provider, (size_t)(colon - provider)) == 0)
            return &reg->e[i];
    return NULL;
}

size_t phi_kms_registry_named(const phi_kms_registry *reg)
{
    size_t n = 0;
    for (size_t i = 0; reg && i < reg->n; i++)
        if (strcmp(reg->e[i].name, "local") != 0)
            n++;
    return n;
}

/* A plug-in's code, or EKMS when it returned something that is not one. */
static int plugin_code(int rc)
{
    return rc < 0 && rc >= PHICRYPT_EINTERNAL ? rc : PHICRYPT_EKMS;
}

int phi_kms_entry_wrap(const phi_kms_entry *e, const void *eh, const uint8_t key[96], const char *master_key_json,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    char err[PHICRYPT_KMS_ERRMSG_MAX] = "";
    int rc;
    *out_len = 0;
    rc = e->plugin.wrap(e->ctx, key, 96, master_key_json, out, cap, out_len, err);
    err[sizeof err - 1] = 0;
    if (rc != 0) {
        phi_wipe(out, cap);
        return phi_error(eh, plugin_code(rc), "kms %s: wrap: %s", e->name, err[0] ? err : "failed");
    }
    if (*out_len == 0 || *out_len > cap) {
        phi_wipe(out, cap);
        return phi_error(eh, PHICRYPT_EKMS, "kms %s: wrap: the plug-in returned %zu bytes (1 to %zu allowed)",
                         e->name, *out_len, cap);
    }
    return 0;
}

int phi_kms_entry_unwrap(const phi_kms_entry *e, const void *eh, const uint8_t *wrapped, size_t len,
                         const char *master_key_json, uint8_t key[96])
{
    char err[PHICRYPT_KMS_ERRMSG_MAX] = "";
    int rc = e->plugin.unwrap(e->ctx, wrapped, len, master_key_json, key, 96, err);
    err[sizeof err - 1] = 0;
    if (rc != 0) {
        phi_wipe(key, 96);
        return phi_error(eh, plugin_code(rc), "kms %s: unwrap: %s", e->name, err[0] ? err : "failed");
    }
    return 0;
}
