/* Automatic encryption of commands and decryption of documents. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "mcrypt/mcrypt_internal.h"

int phi_mcrypt_encrypt_command(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const char *db,
                               const bson_t *cmd, bson_t *out)
{
    mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(m->crypt);
    mongocrypt_binary_t *bin = NULL;
    phi_mcrypt_io local = *io;
    int rc;

    if (!ctx)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory creating a libmongocrypt context");
    if (strlen(db) > INT32_MAX) {
        mongocrypt_ctx_destroy(ctx);
        return phi_error(eh, PHICRYPT_EINVAL, "database name too long");
    }
    local.db = db;
    if ((rc = phi_mcrypt_binary_of(eh, cmd, &bin)) != 0)
        goto out;
    if (!mongocrypt_ctx_encrypt_init(ctx, db, -1, bin)) {
        rc = phi_mcrypt_ctx_error(ctx, eh, "encrypt command");
        goto out;
    }
    rc = phi_mcrypt_run(m, ctx, eh, &local, "encrypt command", out);
out:
    mongocrypt_binary_destroy(bin);
    mongocrypt_ctx_destroy(ctx);
    return rc;
}

int phi_mcrypt_decrypt_document(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *doc,
                                bson_t *out)
{
    mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(m->crypt);
    mongocrypt_binary_t *bin = NULL;
    int rc;

    if (!ctx)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory creating a libmongocrypt context");
    if ((rc = phi_mcrypt_binary_of(eh, doc, &bin)) != 0)
        goto out;
    if (!mongocrypt_ctx_decrypt_init(ctx, bin)) {
        rc = phi_mcrypt_ctx_error(ctx, eh, "decrypt document");
        goto out;
    }
    rc = phi_mcrypt_run(m, ctx, eh, io, "decrypt document", out);
out:
    mongocrypt_binary_destroy(bin);
    mongocrypt_ctx_destroy(ctx);
    return rc;
}
