/* Signatures and digests for the de-identification manifest (see
 * sign_private.h): the checkpoint key signs, anyone checks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bson/bson.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "audit/audit_impl_private.h"
#include "audit/audit_private.h"
#include "audit/sign_private.h"
#include "core/error_private.h"
#include "core/mem_private.h"

int phi_audit_sign(phicrypt_t *ph, const void *msg, size_t n, uint32_t *kv, uint8_t sig[64], uint8_t pk[32])
{
    const uint8_t *seed;
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    if (!ph)
        return PHICRYPT_EUNSUPPORTED;
    int rc = phi_audit_key(ph, PHI_AUDIT_SIGN_KEY, 0, kv, &seed);
    if (rc != 0)
        return rc;
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(sig, NULL, (const uint8_t *)msg, n, sk);
    sodium_memzero(sk, sizeof sk);
    return 0;
}

/* The public key of version kv in a public key file's text. */
static int pubkey_from_text(const void *eh, const char *text, uint32_t kv, uint8_t pk[32])
{
    const char *p = text;
    int line = 0, any = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        line++;
        if (len) {
            bson_t d;
            bson_error_t err;
            bson_iter_t it;
            if (!bson_init_from_json(&d, p, (ssize_t)len, &err))
                return phi_error(eh, PHICRYPT_EBADDATA, "public key file, line %d: not JSON", line);
            int64_t v = -1;
            const char *hex = NULL;
            if (bson_iter_init_find(&it, &d, "kv") && (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)))
                v = bson_iter_as_int64(&it);
            if (bson_iter_init_find(&it, &d, "ed25519") && BSON_ITER_HOLDS_UTF8(&it))
                hex = bson_iter_utf8(&it, NULL);
            if (v < 1 || v > UINT32_MAX || !hex || strlen(hex) != 64) {
                bson_destroy(&d);
                return phi_error(eh, PHICRYPT_EBADDATA,
                                 "public key file, line %d: needs {\"kv\": N, \"ed25519\": \"<64 hex digits>\"}", line);
            }
            any = 1;
            int ok = (uint32_t)v == kv && sodium_hex2bin(pk, 32, hex, 64, NULL, NULL, NULL) == 0;
            bson_destroy(&d);
            if (ok)
                return 0;
        }
        p += len + (e ? 1 : 0);
    }
    if (!any)
        return phi_error(eh, PHICRYPT_EBADDATA, "public key file: no key in it");
    return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "public key file: no key of version %u", kv);
}

int phi_audit_verify_sig(phicrypt_t *ph, const void *eh, const char *pubkeys, uint32_t kv, const void *msg, size_t n,
                         const uint8_t sig[64])
{
    uint8_t pk[32];
    int rc;
    if (pubkeys) {
        if ((rc = pubkey_from_text(eh, pubkeys, kv, pk)) != 0)
            return rc;
    } else {
        uint32_t got = 0;
        if (!ph)
            return phi_error(eh, PHICRYPT_EINVAL, "no public key file and no configuration to take the key from");
        if ((rc = phi_audit_public_key(ph, kv, &got, pk)) != 0 || got != kv)
            return phi_error(eh, PHICRYPT_EKEYNOTFOUND, "the keyring has no signing key version %u", kv);
    }
    if (crypto_sign_verify_detached(sig, (const uint8_t *)msg, n, pk) != 0)
        return phi_error(eh, PHICRYPT_EAUTH, "the signature does not match (the manifest was changed, or signed by "
                                             "another key)");
    return 0;
}

void phi_audit_sha256(const void *d, size_t n, uint8_t out[32]) { crypto_hash_sha256(out, (const uint8_t *)d, n); }

int phi_audit_sha256_file(const void *eh, const char *path, uint8_t out[32], uint64_t *bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return phi_error(eh, PHICRYPT_EIO, "%s: cannot open (%s)", path, strerror(errno));
    /* OpenSSL's SHA-256, not libsodium's: it uses the CPU's SHA extensions
     * (or AVX2), about 20x fewer instructions a byte, and a manifest hashes
     * both the whole export and the whole output. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    static const size_t chunk = 1u << 16;
    uint8_t *buf = phi_malloc(chunk);
    uint64_t total = 0;
    size_t r;
    int bad = !md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1;
    if (bad) {
        EVP_MD_CTX_free(md);
        phi_free(buf);
        fclose(f);
        return phi_error(eh, PHICRYPT_ENOMEM, "%s: cannot start a SHA-256 digest (out of memory)", path);
    }
    while (!bad && (r = fread(buf, 1, chunk, f)) > 0) {
        bad = EVP_DigestUpdate(md, buf, r) != 1;
        total += r;
    }
    int rerr = ferror(f);
    fclose(f);
    /* The file is de-identified output or an export: wiped like any buffer that held it. */
    phi_wipe_free(buf, chunk);
    unsigned int outn = 0;
    if (!bad && !rerr)
        bad = EVP_DigestFinal_ex(md, out, &outn) != 1 || outn != 32;
    EVP_MD_CTX_free(md);
    if (rerr)
        return phi_error(eh, PHICRYPT_EIO, "%s: read failed", path);
    if (bad)
        return phi_error(eh, PHICRYPT_EINTERNAL, "%s: SHA-256 failed", path);
    if (bytes)
        *bytes = total;
    return 0;
}
