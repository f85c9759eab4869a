/* Rewrapping data keys under a new master key (key rotation). */
#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "mcrypt/mcrypt_impl_private.h"

int phi_mcrypt_rewrap(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *filter,
                      const char *provider, const bson_t *master_key, bson_t *out)
{
    mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(m->crypt);
    mongocrypt_binary_t *bin = NULL;
    int rc = 0;

    if (!ctx)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory creating a libmongocrypt context");
    if (provider) {
        bson_t kek = BSON_INITIALIZER;
        if (master_key)
            bson_copy_to_excluding_noinit(master_key, &kek, "provider", NULL);
        BSON_APPEND_UTF8(&kek, "provider", provider);
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
    rc = phi_mcrypt_run_for(m, ctx, eh, io, "rewrap", provider, out);
    /* No key matched: libmongocrypt ends without a result. */
    if (rc != 0 && mongocrypt_ctx_state(ctx) == MONGOCRYPT_CTX_DONE) {
        bson_t arr;
        phi_error_clear(eh);
        bson_init(out);
        BSON_APPEND_ARRAY_BEGIN(out, "v", &arr);
        bson_append_array_end(out, &arr);
        rc = 0;
    }
out:
    mongocrypt_binary_destroy(bin);
    mongocrypt_ctx_destroy(ctx);
    return rc;
}
