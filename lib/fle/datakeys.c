/* Data key management: the public phicrypt_datakey_* functions. */
#include <string.h>

#include <phicrypt.h>
#include "core/events_private.h"
#include "core/handle_private.h"
#include "core/config_private.h"
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/fle_private.h"
#include "keyvault/keyvault_private.h"
#include "kms/registry_private.h"

size_t phicrypt_key_id_bytes(void)
{
    return PHICRYPT_KEY_ID_BYTES;
}

size_t phicrypt_key_material_bytes(void)
{
    return PHICRYPT_KEY_MATERIAL_BYTES;
}

void phi_fle_io(phicrypt_t *ph, phi_mcrypt_io *io)
{
    memset(io, 0, sizeof *io);
    io->ctx = ph->kv;
    io->find_keys = phi_keyvault_io_find;
    io->collinfo = phi_keyvault_io_collinfo;
    io->kms = ph->cfg->kms;
}

phi_mcrypt *phi_fle_acquire(phicrypt_t *ph)
{
    pthread_rwlock_rdlock(&ph->mc_lock);
    return ph->mc;
}

void phi_fle_release(phicrypt_t *ph)
{
    pthread_rwlock_unlock(&ph->mc_lock);
}

static int check_alt_name(phicrypt_t *ph, const char *name)
{
    if (!name || !*name)
        return phi_error(ph, PHICRYPT_EINVAL, "key alt name must be a non-empty string");
    if (strlen(name) > 255)
        return phi_error(ph, PHICRYPT_EINVAL, "key alt name longer than 255 bytes");
    if (!bson_utf8_validate(name, strlen(name), false))
        return phi_error(ph, PHICRYPT_EINVAL, "key alt name is not valid UTF-8");
    return 0;
}

/* A provider libmongocrypt knows, configured in this client, with a
 * master key document when it needs one. */
static int check_provider(phicrypt_t *ph, const char *provider, const char *master_key_json)
{
    static const char *const names[] = { "local", "aws", "azure", "gcp", "kmip", NULL };
    const char *s;
    size_t i;
    /* Named local keys and plug-ins: phicrypt wraps those (mcrypt/bridge.c). */
    if (phi_kms_registry_find(ph->cfg->kms_registry, provider))
        return 0;
    if (strncmp(provider, "local:", 6) == 0)
        return phi_error(ph, PHICRYPT_ECONFIG, "KMS provider '%s' is not configured (kms_providers.%s)", provider,
                         provider);
    if (strchr(provider, ':') && ph->cfg->kms_remote && bson_has_field(ph->cfg->kms_remote, provider))
        return 0; /* a named remote provider on a libmongocrypt that has them */
    for (i = 0; names[i] && strcmp(names[i], provider) != 0; i++)
        ;
    if (!names[i]) {
        s = phi_suggest(provider, names);
        return phi_error(ph, PHICRYPT_EINVAL, "KMS provider '%s' unknown%s%s%s (local, aws, azure, gcp, kmip)",
                         provider, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
    }
    if (i == 0 ? !ph->cfg->local_key
               : !ph->cfg->kms_remote || !bson_has_field(ph->cfg->kms_remote, provider))
        return phi_error(ph, PHICRYPT_ECONFIG, "KMS provider '%s' is not configured (kms_providers.%s)", provider,
                         provider);
    if (i > 0 && i < 4 && !master_key_json)
        return phi_error(ph, PHICRYPT_EINVAL, "KMS provider '%s' needs a master key document (master_key_json)",
                         provider);
    return 0;
}

int phicrypt_datakey_create(phicrypt_t *ph, uint8_t id[PHICRYPT_KEY_ID_BYTES], const phicrypt_datakey_opts *opts)
{
    phicrypt_datakey_opts def = PHICRYPT_DATAKEY_OPTS_INIT;
    phi_datakey_req req;
    phi_mcrypt_io io;
    bson_t doc, mk;
    bson_iter_t it;
    int rc, have_mk = 0;

    if (!ph || !id)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_create: NULL argument");
    if (!opts)
        opts = &def;
    if (opts->version != PHICRYPT_DATAKEY_OPTS_VERSION)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_opts: version %u unknown (expected %u)", opts->version,
                         PHICRYPT_DATAKEY_OPTS_VERSION);
    if ((rc = check_provider(ph, opts->provider ? opts->provider : "local", opts->master_key_json)) != 0)
        return rc;
    if (opts->key_material && opts->key_material_len != PHICRYPT_KEY_MATERIAL_BYTES)
        return phi_error(ph, PHICRYPT_EINVAL, "key material must be %d bytes, got %zu", PHICRYPT_KEY_MATERIAL_BYTES,
                         opts->key_material_len);
    if (opts->alt_names_count && !opts->alt_names)
        return phi_error(ph, PHICRYPT_EINVAL, "alt_names is NULL but alt_names_count is %zu", opts->alt_names_count);
    for (size_t i = 0; i < opts->alt_names_count; i++) {
        if ((rc = check_alt_name(ph, opts->alt_names[i])) != 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(opts->alt_names[i], opts->alt_names[j]) == 0)
                return phi_error(ph, PHICRYPT_EINVAL, "key alt name '%s' given twice", opts->alt_names[i]);
    }
    if (opts->master_key_json) {
        if ((rc = phi_json_to_bson(ph, "master key", opts->master_key_json, strlen(opts->master_key_json), &mk)) != 0)
            return phi_error(ph, PHICRYPT_EINVAL, "master key: not a JSON object");
        have_mk = 1;
        if ((rc = phi_fle_check_master_key(ph, opts->provider ? opts->provider : "local", &mk)) != 0) {
            bson_destroy(&mk);
            return rc;
        }
    }
    req.provider = opts->provider ? opts->provider : "local";
    req.master_key = have_mk ? &mk : NULL;
    req.alt_names = opts->alt_names;
    req.n_alt_names = opts->alt_names_count;
    req.key_material = opts->key_material;
    phi_fle_io(ph, &io);
    {
        phi_mcrypt *m = phi_fle_acquire(ph);
        if (phi_mcrypt_own_provider(m, req.provider)) {
            /* libmongocrypt makes the document under the bridge key; the
             * key is then wrapped for its provider here. */
            bson_t bridged;
            const char *target = req.provider;
            req.provider = "local";
            req.master_key = NULL;
            if ((rc = phi_mcrypt_datakey(m, ph, &io, &req, &bridged)) == 0) {
                rc = phi_mcrypt_bridge_out(m, ph, &bridged, target, have_mk ? &mk : NULL, &doc);
                bson_destroy(&bridged);
            }
        } else {
            rc = phi_mcrypt_datakey(m, ph, &io, &req, &doc);
        }
    }
    phi_fle_release(ph);
    if (have_mk)
        bson_destroy(&mk);
    if (rc != 0)
        return rc;
    if (!bson_iter_init_find(&it, &doc, "_id") || !BSON_ITER_HOLDS_BINARY(&it)) {
        bson_destroy(&doc);
        return phi_error(ph, PHICRYPT_EINTERNAL, "libmongocrypt made a key document without _id");
    }
    {
        bson_subtype_t st;
        uint32_t len;
        const uint8_t *data;
        bson_iter_binary(&it, &st, &len, &data);
        if (len != 16) {
            bson_destroy(&doc);
            return phi_error(ph, PHICRYPT_EINTERNAL, "libmongocrypt made a key id of %u bytes", (unsigned)len);
        }
        memcpy(id, data, 16);
    }
    rc = phi_keyvault_insert(ph->kv, ph, &doc);
    bson_destroy(&doc);
    return phi_key_event_emit(ph, rc, "key_create", id, NULL, 0, 1);
}

typedef struct get_ctx {
    bson_t *out;  /* first match, without keyMaterial */
    bson_t *list; /* or: append every key to this array */
    uint32_t n;
} get_ctx;

static int emit_public(void *ectx, const bson_t *doc)
{
    get_ctx *g = ectx;
    if (g->list) {
        char idx[16];
        const char *key;
        bson_t sub;
        bson_uint32_to_string(g->n++, &key, idx, sizeof idx);
        bson_append_document_begin(g->list, key, -1, &sub);
        bson_copy_to_excluding_noinit(doc, &sub, "keyMaterial", NULL);
        bson_append_document_end(g->list, &sub);
        return 0;
    }
    if (g->n++ == 0)
        bson_copy_to_excluding_noinit(doc, g->out, "keyMaterial", NULL);
    return 0;
}

static int get_one(phicrypt_t *ph, phicrypt_buf *out, const phi_key_request *req, const char *what)
{
    bson_t doc = BSON_INITIALIZER;
    get_ctx g = { &doc, NULL, 0 };
    int rc = phi_keyvault_find(ph->kv, ph, req, emit_public, &g);
    if (rc == 0 && g.n == 0)
        rc = phi_error(ph, PHICRYPT_EKEYNOTFOUND, "%s not found in the key vault", what);
    if (rc == 0)
        rc = phi_buf_from_bson(ph, out, &doc);
    bson_destroy(&doc);
    return rc;
}

int phicrypt_datakey_get(phicrypt_t *ph, phicrypt_buf *out, const uint8_t id[PHICRYPT_KEY_ID_BYTES])
{
    char u[37], what[64];
    phi_key_request req = { 0 };
    if (!ph || !out || !id)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_get: NULL argument");
    req.ids = (const uint8_t(*)[16])id;
    req.n_ids = 1;
    phi_uuid_format(u, id);
    snprintf(what, sizeof what, "data key %s", u);
    return get_one(ph, out, &req, what);
}

int phicrypt_datakey_get_by_alt_name(phicrypt_t *ph, phicrypt_buf *out, const char *alt_name)
{
    char what[300];
    phi_key_request req = { 0 };
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_get_by_alt_name: NULL argument");
    if ((rc = check_alt_name(ph, alt_name)) != 0)
        return rc;
    req.names = &alt_name;
    req.n_names = 1;
    snprintf(what, sizeof what, "data key with alt name '%s'", alt_name);
    return get_one(ph, out, &req, what);
}

int phicrypt_datakey_id_by_alt_name(phicrypt_t *ph, uint8_t id[PHICRYPT_KEY_ID_BYTES], const char *alt_name)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    bson_t view;
    bson_iter_t it;
    int rc;
    if (!id)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_id_by_alt_name: NULL argument");
    if ((rc = phicrypt_datakey_get_by_alt_name(ph, &b, alt_name)) != 0)
        return rc;
    if (bson_init_static(&view, b.data, b.len) && bson_iter_init_find(&it, &view, "_id") &&
        BSON_ITER_HOLDS_BINARY(&it)) {
        bson_subtype_t st;
        uint32_t len;
        const uint8_t *data;
        bson_iter_binary(&it, &st, &len, &data);
        if (len == 16)
            memcpy(id, data, 16);
        else
            rc = phi_error(ph, PHICRYPT_EKEYVAULT, "key with alt name '%s' has a malformed _id", alt_name);
    }
    phicrypt_buf_dispose(&b);
    return rc;
}

int phicrypt_datakey_list(phicrypt_t *ph, phicrypt_buf *out)
{
    bson_t doc = BSON_INITIALIZER, arr;
    get_ctx g = { NULL, &arr, 0 };
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_list: NULL argument");
    BSON_APPEND_ARRAY_BEGIN(&doc, "keys", &arr);
    rc = phi_keyvault_each(ph->kv, ph, emit_public, &g);
    bson_append_array_end(&doc, &arr);
    if (rc == 0)
        rc = phi_buf_from_bson(ph, out, &doc);
    bson_destroy(&doc);
    return rc;
}

int phicrypt_datakey_delete_ex(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES],
                               const phicrypt_datakey_delete_opts *opts)
{
    int rc, shred = opts ? opts->shred_internal : 0;
    if (!ph || !id)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_delete: NULL argument");
    if (opts && (opts->version < 1 || opts->version > PHICRYPT_DATAKEY_DELETE_OPTS_VERSION))
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_delete_ex: unknown options version %u", opts->version);
    if (ph->key_dependants && (rc = ph->key_dependants(ph, id, shred)) != 0)
        return rc;
    /* Shredding phicrypt's own keys is recorded before it happens: the
     * audit keys themselves may be among what goes. */
    if (shred && (rc = phi_key_event_emit(ph, 0, "key_shred_internal", id, NULL, 0, 1)) != 0)
        return rc;
    if ((rc = phi_keyvault_delete(ph->kv, ph, id)) != 0)
        return rc;
    return phi_key_event_emit(ph, ph->reset_mcrypt(ph), "key_delete", id, NULL, 0, 1);
}

int phicrypt_datakey_delete(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES])
{
    return phicrypt_datakey_delete_ex(ph, id, NULL);
}

static int alt(phicrypt_t *ph, const uint8_t *id, const char *name, int add)
{
    int rc;
    if (!ph || !id)
        return phi_error(ph, PHICRYPT_EINVAL, "key alt name: NULL argument");
    if ((rc = check_alt_name(ph, name)) != 0)
        return rc;
    if ((rc = phi_keyvault_alt_name(ph->kv, ph, id, name, add)) != 0)
        return rc;
    /* Alt names decide which keys a role's "keys" list grants: audited. */
    return phi_key_event_emit(ph, ph->reset_mcrypt(ph), add ? "key_add_alt_name" : "key_remove_alt_name", id, NULL, 0,
                              1);
}

int phicrypt_datakey_add_alt_name(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES], const char *alt_name)
{
    return alt(ph, id, alt_name, 1);
}

int phicrypt_datakey_remove_alt_name(phicrypt_t *ph, const uint8_t id[PHICRYPT_KEY_ID_BYTES], const char *alt_name)
{
    return alt(ph, id, alt_name, 0);
}
