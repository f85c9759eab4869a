/* The local provider's key wrap, as libmongocrypt writes it
 * (_mongocrypt_wrap_key): AEAD_AES_256_CBC_HMAC_SHA_512 of the MongoDB
 * client-side encryption specification (after draft-mcgrew-aead-aes-cbc-
 * hmac-sha2) with no associated data. Key = MAC key (32) || encryption key
 * (32) || unused (32); output = IV (16) || AES-256-CBC with PKCS#7 padding
 * || first 32 bytes of HMAC-SHA-512(MAC key, IV || S || 64-bit AD length).
 *
 * libmongocrypt 1.7 has no API to unwrap one key document under a second
 * local key, which named local providers and the ephemeral bridge key need
 * (mcrypt/bridge.c); tests/test_kms_named.c checks this code against keys
 * libmongocrypt itself wrapped. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "mcrypt/bridge_private.h"

static int tag_of(const uint8_t kek[96], const uint8_t *iv_s, size_t len, uint8_t tag[64])
{
    static const uint8_t no_ad_bits[8] = { 0 };
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA512", 0), OSSL_PARAM_END };
    size_t out = 0;
    int ok = c && EVP_MAC_init(c, kek, 32, params) && EVP_MAC_update(c, iv_s, len) &&
             EVP_MAC_update(c, no_ad_bits, sizeof no_ad_bits) && EVP_MAC_final(c, tag, &out, 64) && out == 64;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    return ok;
}

int phi_mcrypt_local_wrap(const void *eh, const uint8_t kek[96], const uint8_t dek[96],
                          uint8_t out[PHI_LOCAL_WRAPPED_BYTES])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t tag[64];
    int n1 = 0, n2 = 0, ok;
    if (!c)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    ok = phi_random(out, 16) == 0 && EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, kek + 32, out) &&
         EVP_EncryptUpdate(c, out + 16, &n1, dek, 96) && EVP_EncryptFinal_ex(c, out + 16 + n1, &n2) &&
         n1 + n2 == 112 && tag_of(kek, out, 128, tag);
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        phi_wipe(out, PHI_LOCAL_WRAPPED_BYTES);
        return phi_error(eh, PHICRYPT_EINTERNAL, "local key wrap: OpenSSL failed");
    }
    memcpy(out + 128, tag, 32);
    phi_wipe(tag, sizeof tag);
    return 0;
}

int phi_mcrypt_local_unwrap(const void *eh, const uint8_t kek[96], const uint8_t *in, size_t len, uint8_t dek[96])
{
    EVP_CIPHER_CTX *c;
    uint8_t tag[64], *plain;
    int n1 = 0, n2 = 0, ok;
    if (len != PHI_LOCAL_WRAPPED_BYTES)
        return phi_error(eh, PHICRYPT_EAUTH, "keyMaterial of %zu bytes (a local-wrapped key has %d)", len,
                         PHI_LOCAL_WRAPPED_BYTES);
    if (!tag_of(kek, in, 128, tag))
        return phi_error(eh, PHICRYPT_EINTERNAL, "local key unwrap: OpenSSL failed");
    ok = phi_ct_equal(tag, in + 128, 32);
    phi_wipe(tag, sizeof tag);
    if (!ok)
        return phi_error(eh, PHICRYPT_EAUTH, "keyMaterial does not authenticate under this master key");
    if (!(plain = phi_secure_alloc(128)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of secure memory");
    c = EVP_CIPHER_CTX_new();
    ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, kek + 32, in) &&
         EVP_DecryptUpdate(c, plain, &n1, in + 16, 112) && EVP_DecryptFinal_ex(c, plain + n1, &n2) && n1 + n2 == 96;
    EVP_CIPHER_CTX_free(c);
    if (ok)
        memcpy(dek, plain, 96);
    phi_secure_free(plain); /* 128: DecryptUpdate may write a block ahead */
    return ok ? 0 : phi_error(eh, PHICRYPT_EAUTH, "keyMaterial has a malformed padding");
}
