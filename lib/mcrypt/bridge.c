/* The bridge between providers phicrypt handles itself and libmongocrypt
 * (see mcrypt/bridge_private.h). The plaintext data key exists only in
 * guarded memory for the length of one re-wrap. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "kms/registry_private.h"
#include "mcrypt/bridge_private.h"
#include "mcrypt/mcrypt_impl_private.h"

static const char *const remote[] = { "aws", "azure", "gcp", "kmip", NULL };

static int is_remote(const char *p)
{
    for (size_t i = 0; remote[i]; i++)
        if (strcmp(p, remote[i]) == 0)
            return 1;
    return 0;
}

/* "aws:eu": a named remote provider, which libmongocrypt 1.7 cannot do. */
static int is_remote_prefix(const char *p)
{
    const char *colon = strchr(p, ':');
    for (size_t i = 0; colon && remote[i]; i++)
        if (strlen(remote[i]) == (size_t)(colon - p) && strncmp(p, remote[i], (size_t)(colon - p)) == 0)
            return 1;
    return 0;
}

int phi_mcrypt_bridged(const phi_mcrypt *m)
{
    return m && m->bridge_key != NULL;
}

int phi_mcrypt_own_provider(const phi_mcrypt *m, const char *provider)
{
    if (!phi_mcrypt_bridged(m) || !provider)
        return 0;
    if (strcmp(provider, "local") == 0)
        return m->real_local != NULL;
    return phi_kms_registry_find(m->registry, provider) != NULL;
}

static void id_text(const bson_t *doc, char u[37])
{
    bson_iter_t it;
    bson_subtype_t st;
    uint32_t len = 0;
    const uint8_t *id;
    strcpy(u, "(unknown id)");
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_BINARY(&it)) {
        bson_iter_binary(&it, &st, &len, &id);
        if (len == 16)
            phi_uuid_format(u, id);
    }
}

/* The masterKey document of `doc` and its provider. */
static int master_key_of(const void *eh, const bson_t *doc, const char *u, bson_t *mk, const char **provider)
{
    bson_iter_t it, p;
    uint32_t len;
    const uint8_t *data;
    if (!bson_iter_init_find(&it, doc, "masterKey") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "data key %s: no masterKey document", u);
    bson_iter_document(&it, &len, &data);
    if (!bson_init_static(mk, data, len) || !bson_iter_init_find(&p, mk, "provider") || !BSON_ITER_HOLDS_UTF8(&p))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "data key %s: masterKey has no provider", u);
    *provider = bson_iter_utf8(&p, NULL);
    return 0;
}

/* Unwraps `wrapped` for `provider` (the master key `mk`) into dek. */
static int unwrap_for(phi_mcrypt *m, const void *eh, const char *u, const char *provider, const bson_t *mk,
                      const uint8_t *wrapped, size_t len, uint8_t dek[96])
{
    const phi_kms_entry *e;
    char *json;
    int rc;
    if (strcmp(provider, "local") == 0) {
        if (!m->real_local)
            return phi_error(eh, PHICRYPT_ECONFIG, "data key %s: KMS provider 'local' is not configured", u);
        if ((rc = phi_mcrypt_local_unwrap(eh, m->real_local, wrapped, len, dek)) != 0)
            return phi_error_wrap(eh, rc, "data key %s (provider local)", u);
        return 0;
    }
    if (!(e = phi_kms_registry_find(m->registry, provider))) {
        const char *colon = strchr(provider, ':');
        if (colon && (strncmp(provider, "local:", 6) == 0 || is_remote_prefix(provider)))
            return phi_error(eh, PHICRYPT_ECONFIG, "data key %s: KMS provider '%s' is not configured (kms_providers)",
                             u, provider);
        return phi_error(eh, PHICRYPT_ECONFIG, "data key %s: KMS provider '%s' is not configured (kms_plugins)", u,
                         provider);
    }
    if (e->local_key) {
        if ((rc = phi_mcrypt_local_unwrap(eh, e->local_key, wrapped, len, dek)) != 0)
            return phi_error_wrap(eh, rc, "data key %s (provider %s)", u, provider);
        return 0;
    }
    if (!(json = bson_as_canonical_extended_json(mk, NULL)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    rc = phi_kms_entry_unwrap(e, eh, wrapped, len, json, dek);
    bson_free(json);
    return rc != 0 ? phi_error_wrap(eh, rc, "data key %s", u) : 0;
}

/* Wraps dek for `provider` with master key `mk` (holding provider). */
static int wrap_for(phi_mcrypt *m, const void *eh, const char *provider, const bson_t *mk, const uint8_t dek[96],
                    uint8_t *out, size_t cap, size_t *out_len)
{
    const phi_kms_entry *e = strcmp(provider, "local") == 0 ? NULL : phi_kms_registry_find(m->registry, provider);
    const uint8_t *kek = strcmp(provider, "local") == 0 ? m->real_local : e ? e->local_key : NULL;
    char *json;
    int rc;
    (void)cap;
    if (kek) {
        *out_len = PHI_LOCAL_WRAPPED_BYTES;
        return phi_mcrypt_local_wrap(eh, kek, dek, out);
    }
    if (!e)
        return phi_error(eh, PHICRYPT_ECONFIG, "KMS provider '%s' is not configured", provider);
    if (!(json = bson_as_canonical_extended_json(mk, NULL)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    rc = phi_kms_entry_wrap(e, eh, dek, json, out, cap, out_len);
    bson_free(json);
    return rc;
}

static int key_material_of(const void *eh, const bson_t *doc, const char *u, const uint8_t **data, uint32_t *len)
{
    bson_iter_t it;
    bson_subtype_t st;
    if (!bson_iter_init_find(&it, doc, "keyMaterial") || !BSON_ITER_HOLDS_BINARY(&it))
        return phi_error(eh, PHICRYPT_EKEYVAULT, "data key %s: no keyMaterial", u);
    bson_iter_binary(&it, &st, len, data);
    return 0;
}

int phi_mcrypt_bridge_in(phi_mcrypt *m, const void *eh, const bson_t *doc, bson_t *out, int *translated)
{
    uint8_t *dek = NULL, wrapped[PHI_LOCAL_WRAPPED_BYTES];
    const uint8_t *material;
    const char *provider = NULL;
    uint32_t len;
    bson_t mk, sub;
    char u[37];
    int rc;

    *translated = 0;
    if (!phi_mcrypt_bridged(m))
        return 0;
    id_text(doc, u);
    if ((rc = master_key_of(eh, doc, u, &mk, &provider)) != 0)
        return rc;
    if (is_remote(provider))
        return 0;
    if ((rc = key_material_of(eh, doc, u, &material, &len)) != 0)
        return rc;
    if (!(dek = phi_secure_alloc(96)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of secure memory");
    if ((rc = unwrap_for(m, eh, u, provider, &mk, material, len, dek)) == 0 &&
        (rc = phi_mcrypt_local_wrap(eh, m->bridge_key, dek, wrapped)) == 0) {
        bson_init(out);
        bson_copy_to_excluding_noinit(doc, out, "keyMaterial", "masterKey", NULL);
        BSON_APPEND_BINARY(out, "keyMaterial", BSON_SUBTYPE_BINARY, wrapped, sizeof wrapped);
        BSON_APPEND_DOCUMENT_BEGIN(out, "masterKey", &sub);
        BSON_APPEND_UTF8(&sub, "provider", "local");
        bson_append_document_end(out, &sub);
        *translated = 1;
    }
    phi_secure_free(dek);
    phi_wipe(wrapped, sizeof wrapped);
    return rc;
}

int phi_mcrypt_bridge_out(phi_mcrypt *m, const void *eh, const bson_t *doc, const char *provider,
                          const bson_t *master_key, bson_t *out)
{
    uint8_t *dek = NULL, *wrapped = NULL;
    const uint8_t *material;
    uint32_t len;
    size_t wlen = 0;
    bson_t mk = BSON_INITIALIZER;
    char u[37];
    int rc;

    if (!phi_mcrypt_bridged(m))
        return phi_error(eh, PHICRYPT_EINTERNAL, "KMS provider '%s': no bridge key", provider);
    id_text(doc, u);
    if ((rc = key_material_of(eh, doc, u, &material, &len)) != 0)
        return rc;
    BSON_APPEND_UTF8(&mk, "provider", provider);
    if (master_key)
        bson_copy_to_excluding_noinit(master_key, &mk, "provider", NULL);
    dek = phi_secure_alloc(96);
    wrapped = phi_secure_alloc(PHICRYPT_KMS_MAX_WRAPPED);
    if (!dek || !wrapped)
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of secure memory");
    else if ((rc = phi_mcrypt_local_unwrap(eh, m->bridge_key, material, len, dek)) != 0)
        rc = phi_error_wrap(eh, PHICRYPT_EINTERNAL, "data key %s: bridge key", u);
    else if ((rc = wrap_for(m, eh, provider, &mk, dek, wrapped, PHICRYPT_KMS_MAX_WRAPPED, &wlen)) == 0) {
        bson_init(out);
        bson_copy_to_excluding_noinit(doc, out, "keyMaterial", "masterKey", NULL);
        BSON_APPEND_BINARY(out, "keyMaterial", BSON_SUBTYPE_BINARY, wrapped, (uint32_t)wlen);
        BSON_APPEND_DOCUMENT(out, "masterKey", &mk);
    }
    phi_secure_free(dek);
    phi_secure_free(wrapped);
    bson_destroy(&mk);
    return rc;
}
