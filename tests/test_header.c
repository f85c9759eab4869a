/* Compiled with -std=c99 -pedantic -Werror: the public header must stand
 * alone in strict C99. Prints TAP so that it counts as one test. */
#include <phicrypt.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_encrypt_opts eo = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_datakey_opts dk = PHICRYPT_DATAKEY_OPTS_INIT;
    int ok = strcmp(phicrypt_version(), PHICRYPT_VERSION_STRING) == 0 && eo.version == PHICRYPT_ENCRYPT_OPTS_VERSION &&
             dk.version == PHICRYPT_DATAKEY_OPTS_VERSION && phicrypt_key_id_bytes() == PHICRYPT_KEY_ID_BYTES;
    phicrypt_buf_dispose(&b);
    printf("1..1\n%s 1 - test_header__public_header_is_strict_c99\n", ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
