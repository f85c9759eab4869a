/* Library initialisation and version. */
#include <pthread.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include <phicrypt.h>
#include "core/error_private.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void do_init(void)
{
    if (sodium_init() < 0) {
        init_result = PHICRYPT_EINTERNAL;
        return;
    }
    if (OPENSSL_init_crypto(0, NULL) != 1) {
        init_result = PHICRYPT_EINTERNAL;
        return;
    }
    init_result = 0;
}

int phicrypt_init(void)
{
    pthread_once(&init_once, do_init);
    if (init_result != 0)
        return phi_error(NULL, init_result, "phicrypt_init: libsodium or OpenSSL failed to initialise");
    return 0;
}

const char *phicrypt_version(void)
{
    return PHICRYPT_VERSION_STRING;
}
