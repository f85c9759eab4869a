/* libmongocrypt reports most failures with one generic code and a message,
 * so the mapping to phicrypt codes is by message. The strings are those of
 * libmongocrypt 1.7 (checked by tests/test_mcrypt.c against real runs). */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "mcrypt/mcrypt_impl_private.h"

static const struct {
    const char *needle;
    int code;
} map[] = {
    { "HMAC validation failure", PHICRYPT_EAUTH },
    { "not all keys requested were satisfied", PHICRYPT_EKEYNOTFOUND },
    { "key not found", PHICRYPT_EKEYNOTFOUND },
    { "malformed ciphertext", PHICRYPT_EBADDATA },
    { "ciphertext", PHICRYPT_EBADDATA },
    { "decryption error", PHICRYPT_EBADDATA },
    { "invalid msg", PHICRYPT_EBADDATA },
    { "malformed", PHICRYPT_EBADDATA },
    { "corrupt", PHICRYPT_EBADDATA },
    { "invalid BSON", PHICRYPT_EBADDATA },
    { "keyMaterial", PHICRYPT_EINVAL },
    { "key material", PHICRYPT_EINVAL },
    { "keyAltName", PHICRYPT_EINVAL },
    { "out of memory", PHICRYPT_ENOMEM },
};

int phi_mcrypt_code_for_message(const char *msg)
{
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strstr(msg, map[i].needle))
            return map[i].code;
    return PHICRYPT_EINTERNAL;
}

int phi_mcrypt_ctx_error(mongocrypt_ctx_t *ctx, const void *eh, const char *what)
{
    mongocrypt_status_t *st = mongocrypt_status_new();
    const char *msg;
    int code;
    mongocrypt_ctx_status(ctx, st);
    msg = mongocrypt_status_message(st, NULL);
    if (!msg || !*msg)
        msg = "unknown error";
    code = phi_mcrypt_code_for_message(msg);
    if (code == PHICRYPT_EAUTH)
        phi_error(eh, code, "%s: authentication failed: the data was tampered with or a wrong key was used "
                  "(libmongocrypt: %s)", what, msg);
    else
        phi_error(eh, code, "%s: libmongocrypt: %s", what, msg);
    mongocrypt_status_destroy(st);
    return code;
}
