/* NEED_KMS and NEED_KMS_CREDENTIALS: network I/O with the key management
 * services. The local provider never reaches these states. */
#include <phicrypt.h>
#include "core/error_private.h"
#include "mcrypt/mcrypt_internal.h"

int phi_mcrypt_need_kms(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what)
{
    (void)io;
    if (mongocrypt_ctx_next_kms_ctx(ctx) != NULL)
        return phi_error(eh, PHICRYPT_EUNSUPPORTED, "%s: remote KMS providers are not supported in this version",
                         what);
    if (!mongocrypt_ctx_kms_done(ctx))
        return phi_mcrypt_ctx_error(ctx, eh, what);
    return 0;
}

int phi_mcrypt_need_kms_credentials(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what)
{
    (void)ctx;
    (void)io;
    return phi_error(eh, PHICRYPT_EUNSUPPORTED, "%s: on-demand KMS credentials are not supported in this version",
                     what);
}
