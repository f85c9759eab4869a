/* Pseudonyms: HKDF-SHA256 per-context subkeys and pre-keyed HMAC-SHA256.
 *
 * HMAC speed: the key holds the SHA-256 states after the inner and outer
 * padded keys, computed once per subkey and copied by assignment for each
 * MAC, which saves the two pad compressions and any allocation compared
 * with one-shot HMAC() or an EVP_MAC_CTX_dup. The states are OpenSSL's
 * SHA256_CTX: the only OpenSSL SHA-256 interface whose state is a plain
 * struct (EVP copies allocate), and it uses the CPU's SHA extensions where
 * libsodium's portable SHA-256 does not (about 3x faster per pseudonym).
 * It is deprecated in OpenSSL 3 but present in every 3.x release. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/sha.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/token_private.h"

struct phi_hmac_key {
    SHA256_CTX in, out; /* after absorbing key ^ ipad, key ^ opad */
};

int phi_hkdf_sha256(uint8_t *okm, size_t okm_len, const uint8_t *ikm, size_t ikm_len,
                    const uint8_t *salt, size_t salt_len, const uint8_t *info, size_t info_len)
{
    static const uint8_t zero_salt[32] = {0};
    static const uint8_t empty[1] = {0};
    EVP_KDF *kdf;
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM p[5], *q = p;
    int ok;

    if (!okm || (!ikm && ikm_len) || (!salt && salt_len) || (!info && info_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "hkdf: NULL argument");
    if (okm_len == 0 || okm_len > 255 * 32)
        return phi_error(NULL, PHICRYPT_EINVAL, "hkdf: output length %zu is outside 1..8160",
                         okm_len);
    if (!salt_len) /* RFC 5869 2.2: absent salt = HashLen zero bytes */
        salt = zero_salt, salt_len = sizeof zero_salt;
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *)(ikm_len ? ikm : empty), ikm_len);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *)(info_len ? info : empty), info_len);
    *q = OSSL_PARAM_construct_end();
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf)
        ctx = EVP_KDF_CTX_new(kdf);
    ok = ctx && EVP_KDF_derive(ctx, okm, okm_len, p) == 1;
    EVP_KDF_CTX_free(ctx); /* cleanses the PRK */
    EVP_KDF_free(kdf);
    if (!ok) {
        phi_wipe(okm, okm_len);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "hkdf: OpenSSL failed");
    }
    return 0;
}

int phi_hmac_key_new(phi_hmac_key **out, const uint8_t *key, size_t key_len)
{
    uint8_t pad[SHA256_CBLOCK], hk[SHA256_DIGEST_LENGTH];
    phi_hmac_key *k;
    size_t i;

    if (!out)
        return phi_error(NULL, PHICRYPT_EINVAL, "hmac: NULL output key pointer");
    *out = NULL;
    if (!key && key_len)
        return phi_error(NULL, PHICRYPT_EINVAL, "hmac: NULL key");
    k = phi_secure_alloc(sizeof *k);
    if (!k)
        return phi_error(NULL, PHICRYPT_ENOMEM, "hmac: out of memory");
    if (key_len > SHA256_CBLOCK) { /* RFC 2104: longer keys are hashed first */
        SHA256(key, key_len, hk);
        key = hk;
        key_len = sizeof hk;
    }
    memset(pad, 0x36, sizeof pad);
    for (i = 0; i < key_len; i++)
        pad[i] ^= key[i];
    SHA256_Init(&k->in);
    SHA256_Update(&k->in, pad, sizeof pad);
    for (i = 0; i < sizeof pad; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    SHA256_Init(&k->out);
    SHA256_Update(&k->out, pad, sizeof pad);
    phi_wipe(pad, sizeof pad);
    phi_wipe(hk, sizeof hk);
    *out = k;
    return 0;
}

void phi_hmac_key_free(phi_hmac_key *k)
{
    phi_secure_free(k); /* wipes the padded-key states */
}

/* Finishes the MAC whose inner state is *st (wiped). */
static void mac_final(const phi_hmac_key *k, SHA256_CTX *st, uint8_t *out, size_t out_len)
{
    uint8_t full[SHA256_DIGEST_LENGTH];
    SHA256_Final(full, st);
    *st = k->out;
    SHA256_Update(st, full, sizeof full);
    SHA256_Final(full, st);
    memcpy(out, full, out_len);
    phi_wipe(full, sizeof full);
    phi_wipe(st, sizeof *st);
}

int phi_hmac_sha256(const phi_hmac_key *k, const uint8_t *msg, size_t msg_len, uint8_t *out,
                    size_t out_len)
{
    SHA256_CTX st;

    if (!k || !out || (!msg && msg_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "hmac: NULL argument");
    if (out_len == 0 || out_len > SHA256_DIGEST_LENGTH)
        return phi_error(NULL, PHICRYPT_EINVAL, "hmac: output length %zu is outside 1..32",
                         out_len);
    st = k->in;
    if (msg_len)
        SHA256_Update(&st, msg, msg_len);
    mac_final(k, &st, out, out_len);
    return 0;
}

int phi_pseudo_key_new(phi_hmac_key **out, const uint8_t *root, size_t root_len,
                       const char *context, size_t context_len)
{
    uint8_t info[PHI_PSEUDO_LABEL_LEN + 256], sub[32];
    int rc;

    if (!out || !root || (!context && context_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "pseudonym: NULL argument");
    *out = NULL;
    if (root_len < 16)
        return phi_error(NULL, PHICRYPT_EINVAL, "pseudonym: root key of %zu bytes is shorter "
                         "than 16", root_len);
    if (context_len > 256)
        return phi_error(NULL, PHICRYPT_EINVAL, "pseudonym: context longer than 256 bytes");
    /* The label ends in a NUL, so no context can extend or imitate it. */
    memcpy(info, PHI_PSEUDO_LABEL, PHI_PSEUDO_LABEL_LEN);
    if (context_len)
        memcpy(info + PHI_PSEUDO_LABEL_LEN, context, context_len);
    rc = phi_hkdf_sha256(sub, sizeof sub, root, root_len, NULL, 0, info,
                         PHI_PSEUDO_LABEL_LEN + context_len);
    if (!rc)
        rc = phi_hmac_key_new(out, sub, sizeof sub);
    phi_wipe(sub, sizeof sub);
    return rc;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int phi_pseudonym(const phi_hmac_key *subkey, unsigned int norm, const char *value,
                  size_t value_len, uint8_t *out, size_t out_len)
{
    SHA256_CTX st;
    uint8_t buf[256];
    size_t start = 0, end = value_len, i, fill = 0, used = 0;
    int in_space = 0;

    if (!subkey || !out || (!value && value_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "pseudonym: NULL argument");
    if (out_len < PHI_PSEUDO_MIN_LEN || out_len > PHI_PSEUDO_MAX_LEN)
        return phi_error(NULL, PHICRYPT_EINVAL, "pseudonym: length %zu is outside %d..%d",
                         out_len, PHI_PSEUDO_MIN_LEN, PHI_PSEUDO_MAX_LEN);
    if (norm & ~(unsigned)PHI_PSEUDO_NORM_ALL)
        return phi_error(NULL, PHICRYPT_EINVAL, "pseudonym: unknown normalisation flags");
    if (norm & PHI_PSEUDO_NORM_TRIM) {
        while (start < end && is_space((unsigned char)value[start]))
            start++;
        while (end > start && is_space((unsigned char)value[end - 1]))
            end--;
    }
    st = subkey->in;
    if (!(norm & (PHI_PSEUDO_NORM_COLLAPSE_WS | PHI_PSEUDO_NORM_CASEFOLD))) {
        /* Nothing to rewrite: MAC the value in place. */
        if (end > start)
            SHA256_Update(&st, value + start, end - start);
        mac_final(subkey, &st, out, out_len);
        return 0;
    }
    /* Normalise into a small buffer, MACing it whenever it fills. */
    for (i = start; i < end; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((norm & PHI_PSEUDO_NORM_COLLAPSE_WS) && is_space(c)) {
            if (in_space)
                continue;
            in_space = 1;
            c = ' ';
        } else {
            in_space = 0;
            if ((norm & PHI_PSEUDO_NORM_CASEFOLD) && c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
        }
        buf[fill++] = c;
        if (fill == sizeof buf) {
            SHA256_Update(&st, buf, fill);
            fill = 0;
            used = sizeof buf;
        }
    }
    if (fill)
        SHA256_Update(&st, buf, fill);
    phi_wipe(buf, used > fill ? used : fill); /* only the bytes written */
    mac_final(subkey, &st, out, out_len);
    return 0;
}
