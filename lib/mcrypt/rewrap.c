/* Rewrapping data keys under a new master key (key rotation). */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "mcrypt/mcrypt_impl_private.h"

/* The original masterKey of every key the filter selects, by _id: on a
 * bridged instance libmongocrypt sees those keys as "local" (the bridge
 * key) and they must go back under their own provider. */
typedef struct originals {
    bson_t by_id; /* {"<uuid>": masterKey} */
} originals;

static int remember(void *ectx, const bson_t *doc)
{
    originals *o = ectx;
    bson_iter_t it, mk;
    bson_subtype_t st;
    uint32_t len;
    const uint8_t *id;
    char u[37];
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_BINARY(&it))
        return 0;
    bson_iter_binary(&it, &st, &len, &id);
    if (len != 16 || !bson_iter_init_find(&mk, doc, "masterKey") || !BSON_ITER_HOLDS_DOCUMENT(&mk))
        return 0;
    phi_uuid_format(u, id);
    if (!bson_append_iter(&o->by_id, u, -1, &mk))
        return PHICRYPT_ENOMEM;
    return 0;
}

/* Re-wraps each result under the bridge key for its intended provider. */
static int unbridge(phi_mcrypt *m, const void *eh, const bson_t *res, const char *provider, const bson_t *master_key,
                    const originals *orig, bson_t *out)
{
    bson_iter_t it, v;
    bson_t arr;
    int rc = 0;
    bson_init(out);
    BSON_APPEND_ARRAY_BEGIN(out, "v", &arr);
    if (bson_iter_init_find(&it, res, "v") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &v)) {
        while (rc == 0 && bson_iter_next(&v)) {
            uint32_t len;
            const uint8_t *data;
            bson_t item, fixed, omk;
            bson_iter_t p, id, om;
            const char *target = provider;
            const bson_t *mk = master_key;
            bson_iter_document(&v, &len, &data);
            if (!BSON_ITER_HOLDS_DOCUMENT(&v) || !bson_init_static(&item, data, len)) {
                rc = phi_error(eh, PHICRYPT_EINTERNAL, "rewrap: libmongocrypt returned a malformed key");
                break;
            }
            if (!bson_iter_init(&p, &item) || !bson_iter_find_descendant(&p, "masterKey.provider", &p) ||
                !BSON_ITER_HOLDS_UTF8(&p) || strcmp(bson_iter_utf8(&p, NULL), "local") != 0) {
                bson_append_document(&arr, bson_iter_key(&v), -1, &item); /* a remote provider's own */
                continue;
            }
            if (!target) {
                bson_subtype_t st;
                const uint8_t *raw;
                char u[37];
                if (!bson_iter_init_find(&id, &item, "_id") || !BSON_ITER_HOLDS_BINARY(&id)) {
                    rc = phi_error(eh, PHICRYPT_EINTERNAL, "rewrap: a key without _id");
                    break;
                }
                bson_iter_binary(&id, &st, &len, &raw);
                if (len != 16) {
                    rc = phi_error(eh, PHICRYPT_EINTERNAL, "rewrap: a key id of %u bytes", (unsigned)len);
                    break;
                }
                phi_uuid_format(u, raw);
                if (!bson_iter_init_find(&om, &orig->by_id, u) || !BSON_ITER_HOLDS_DOCUMENT(&om)) {
                    rc = phi_error(eh, PHICRYPT_EKEYVAULT, "rewrap: data key %s changed while it was rewrapped", u);
                    break;
                }
                bson_iter_document(&om, &len, &data);
                bson_init_static(&omk, data, len);
                if (!bson_iter_init_find(&p, &omk, "provider") || !BSON_ITER_HOLDS_UTF8(&p)) {
                    rc = phi_error(eh, PHICRYPT_EKEYVAULT, "rewrap: data key %s has no provider", u);
                    break;
                }
                target = bson_iter_utf8(&p, NULL);
                mk = &omk;
            }
            if ((rc = phi_mcrypt_bridge_out(m, eh, &item, target, mk, &fixed)) != 0)
                break;
            bson_append_document(&arr, bson_iter_key(&v), -1, &fixed);
            phi_bson_wipe_destroy(&fixed);
        }
    }
    bson_append_array_end(out, &arr);
    if (rc != 0)
        phi_bson_wipe_destroy(out);
    return rc;
}

int phi_mcrypt_rewrap(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *filter,
                      const char *provider, const bson_t *master_key, bson_t *out)
{
    mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(m->crypt);
    mongocrypt_binary_t *bin = NULL;
    /* Providers phicrypt wraps itself: libmongocrypt wraps under the bridge
     * key, and unbridge() moves the results where they belong. */
    int own = provider && phi_mcrypt_own_provider(m, provider), rc = 0;
    originals orig;
    bson_t raw;

    bson_init(&orig.by_id);
    if (!ctx) {
        bson_destroy(&orig.by_id);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory creating a libmongocrypt context");
    }
    if (phi_mcrypt_bridged(m) && !provider && io->find_by_filter &&
        (rc = io->find_by_filter(io->ctx, eh, filter, remember, &orig)) != 0)
        goto out;
    if (provider) {
        bson_t kek = BSON_INITIALIZER;
        if (master_key && !own)
            bson_copy_to_excluding_noinit(master_key, &kek, "provider", NULL);
        BSON_APPEND_UTF8(&kek, "provider", own ? "local" : provider);
        if ((rc = phi_mcrypt_binary_of(eh, &kek, &bin)) == 0 && !mongocrypt_ctx_setopt_key_encryption_key(ctx, bin))
            rc = phi_mcrypt_ctx_error(ctx, eh, "master key");
        mongocrypt_binary_destroy(bin);
        bin = NULL;
        bson_destroy(&kek);
        if (rc != 0)
            goto out;
    }
    if ((rc = phi_mcrypt_binary_of(eh, filter, &bin)) != 0)
        goto out;
    if (!mongocrypt_ctx_rewrap_many_datakey_init(ctx, bin)) {
        rc = phi_mcrypt_ctx_error(ctx, eh, "rewrap");
        goto out;
    }
    rc = phi_mcrypt_run(m, ctx, eh, io, "rewrap", phi_mcrypt_bridged(m) ? &raw : out);
    /* No key matched: libmongocrypt ends without a result. */
    if (rc != 0 && mongocrypt_ctx_state(ctx) == MONGOCRYPT_CTX_DONE) {
        bson_t arr;
        phi_error_clear(eh);
        bson_init(out);
        BSON_APPEND_ARRAY_BEGIN(out, "v", &arr);
        bson_append_array_end(out, &arr);
        rc = 0;
    } else if (rc == 0 && phi_mcrypt_bridged(m)) {
        rc = unbridge(m, eh, &raw, provider, master_key, &orig, out);
        phi_bson_wipe_destroy(&raw);
    }
out:
    bson_destroy(&orig.by_id);
    mongocrypt_binary_destroy(bin);
    mongocrypt_ctx_destroy(ctx);
    return rc;
}
