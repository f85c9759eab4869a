/* Automatic encryption of commands and decryption of documents. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "mcrypt/mcrypt_impl_private.h"

static bool encrypt_init(mongocrypt_ctx_t *ctx, mongocrypt_binary_t *cmd, void *db)
{
    return mongocrypt_ctx_encrypt_init(ctx, db, -1, cmd);
}

static bool decrypt_init(mongocrypt_ctx_t *ctx, mongocrypt_binary_t *doc, void *arg)
{
    (void)arg;
    return mongocrypt_ctx_decrypt_init(ctx, doc);
}

int phi_mcrypt_encrypt_command(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const char *db,
                               const bson_t *cmd, bson_t *out)
{
    phi_mcrypt_io local = *io;
    if (strlen(db) > INT32_MAX)
        return phi_error(eh, PHICRYPT_EINVAL, "database name too long");
    local.db = db; /* the markings handler needs it */
    return phi_mcrypt_run_with(m, eh, &local, "encrypt command", cmd, encrypt_init, (void *)db, out);
}

int phi_mcrypt_decrypt_document(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *doc,
                                bson_t *out)
{
    return phi_mcrypt_run_with(m, eh, io, "decrypt document", doc, decrypt_init, NULL, out);
}
