/* AES-SIV (RFC 5297) through OpenSSL 3's "AES-*-SIV" ciphers.
 *
 * The key is scheduled once into a template context; each operation copies
 * the template (no key schedule, but OpenSSL allocates the copy) into the
 * key object's work context. Re-initialising a used SIV context without the
 * key does not reset its S2V state in OpenSSL 3.0, hence the copy.
 *
 * OpenSSL: every EVP_*Update(ctx, NULL, ..., ad, len) call is one S2V
 * associated-data component (an empty one included); the plaintext must be
 * given in one update; the tag is read with EVP_CTRL_AEAD_GET_TAG after
 * the final call and set with EVP_CTRL_AEAD_SET_TAG before decrypting.
 * OpenSSL 3.0 cannot process an empty plaintext (the final call fails), so
 * for that case the tag (the whole output) is computed here with S2V
 * (RFC 5297 section 2.4) over EVP_MAC "CMAC" keyed with K1. */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/token_private.h"

struct phi_siv_key {
    EVP_CIPHER_CTX *tmpl;
    EVP_CIPHER_CTX *work;
    EVP_MAC_CTX *cmac; /* CMAC keyed with K1, for empty plaintexts */
};

void phi_siv_key_free(phi_siv_key *k)
{
    if (!k)
        return;
    EVP_CIPHER_CTX_free(k->tmpl);
    EVP_CIPHER_CTX_free(k->work);
    EVP_MAC_CTX_free(k->cmac);
    phi_secure_free(k);
}

static EVP_MAC_CTX *cmac_new(const uint8_t *k1, size_t k1_len)
{
    const char *cbc = k1_len == 16 ? "AES-128-CBC" : k1_len == 24 ? "AES-192-CBC" : "AES-256-CBC";
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)cbc, 0);
    p[1] = OSSL_PARAM_construct_end();
    if (c && EVP_MAC_init(c, k1, k1_len, p) != 1) {
        EVP_MAC_CTX_free(c);
        c = NULL;
    }
    EVP_MAC_free(mac);
    return c;
}

/* CMAC(K1, a) from a copy of the pre-keyed template. */
static int cmac(phi_siv_key *k, const uint8_t *a, size_t a_len, uint8_t out[16])
{
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(k->cmac);
    size_t l = 0;
    int ok = c && EVP_MAC_update(c, a, a_len) == 1 && EVP_MAC_final(c, out, &l, 16) == 1 &&
             l == 16;
    EVP_MAC_CTX_free(c);
    return ok;
}

/* dbl(): multiplication by x in GF(2^128) (RFC 5297 section 2.3). */
static void dbl(uint8_t d[16])
{
    uint8_t carry = d[0] >> 7;
    int i;
    for (i = 0; i < 15; i++)
        d[i] = (uint8_t)((d[i] << 1) | (d[i + 1] >> 7));
    d[15] = (uint8_t)((d[15] << 1) ^ (carry ? 0x87 : 0));
}

/* S2V(K1, AD_1 .. AD_n, "") = the SIV tag of an empty plaintext. */
static int s2v_empty(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad, uint8_t v[16])
{
    static const uint8_t zero[16] = {0};
    uint8_t d[16], t[16];
    size_t i, j;
    int ok = cmac(k, zero, 16, d);

    for (i = 0; ok && i < n_ad; i++) {
        dbl(d);
        ok = cmac(k, ad[i].len ? ad[i].data : zero, ad[i].len, t);
        for (j = 0; j < 16; j++)
            d[j] ^= t[j];
    }
    if (ok) {
        dbl(d); /* final string "" is shorter than 16: T = dbl(D) xor pad("") */
        d[0] ^= 0x80;
        ok = cmac(k, d, 16, v);
    }
    phi_wipe(d, sizeof d);
    phi_wipe(t, sizeof t);
    return ok;
}

int phi_siv_key_new(phi_siv_key **out, const uint8_t *key, size_t key_len)
{
    const char *name;
    EVP_CIPHER *c;
    phi_siv_key *k;
    int ok;

    if (!out)
        return phi_error(NULL, PHICRYPT_EINVAL, "aes-siv: NULL output key pointer");
    *out = NULL;
    if (!key)
        return phi_error(NULL, PHICRYPT_EINVAL, "aes-siv: NULL key");
    switch (key_len) {
    case 32: name = "AES-128-SIV"; break;
    case 48: name = "AES-192-SIV"; break;
    case 64: name = "AES-256-SIV"; break;
    default:
        return phi_error(NULL, PHICRYPT_EINVAL,
                         "aes-siv: key length %zu is not 32, 48 or 64 bytes", key_len);
    }
    k = phi_secure_alloc(sizeof *k);
    if (!k)
        return phi_error(NULL, PHICRYPT_ENOMEM, "aes-siv: out of memory");
    k->tmpl = EVP_CIPHER_CTX_new();
    k->work = EVP_CIPHER_CTX_new();
    c = EVP_CIPHER_fetch(NULL, name, NULL);
    ok = k->tmpl && k->work && c && EVP_CipherInit_ex2(k->tmpl, c, key, NULL, 1, NULL) == 1 &&
         (k->cmac = cmac_new(key, key_len / 2)) != NULL;
    EVP_CIPHER_free(c);
    if (!ok) {
        phi_siv_key_free(k);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv: OpenSSL could not set up %s", name);
    }
    *out = k;
    return 0;
}

int phi_siv_key_dup(phi_siv_key **out, const phi_siv_key *k)
{
    phi_siv_key *d;

    if (!out || !k)
        return phi_error(NULL, PHICRYPT_EINVAL, "aes-siv: NULL argument to key_dup");
    *out = NULL;
    d = phi_secure_alloc(sizeof *d);
    if (!d)
        return phi_error(NULL, PHICRYPT_ENOMEM, "aes-siv: out of memory");
    d->tmpl = EVP_CIPHER_CTX_new();
    d->work = EVP_CIPHER_CTX_new();
    d->cmac = EVP_MAC_CTX_dup(k->cmac);
    if (!d->tmpl || !d->work || !d->cmac || EVP_CIPHER_CTX_copy(d->tmpl, k->tmpl) != 1) {
        phi_siv_key_free(d);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv: OpenSSL could not copy the key");
    }
    *out = d;
    return 0;
}

static int check_args(const char *op, phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad,
                      const uint8_t *in, size_t len, const uint8_t *out)
{
    size_t i;

    if (!k || !out || (!in && len) || (!ad && n_ad))
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: NULL argument", op);
    if (n_ad > PHI_SIV_MAX_AD)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: %zu associated-data components exceed %d",
                         op, n_ad, PHI_SIV_MAX_AD);
    for (i = 0; i < n_ad; i++)
        if ((!ad[i].data && ad[i].len) || ad[i].len > INT_MAX)
            return phi_error(NULL, PHICRYPT_EINVAL, "%s: bad associated-data component %zu",
                             op, i);
    if (len > INT_MAX - 64)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: input too long", op);
    return 0;
}

/* Copy of the template in decrypt or encrypt direction, AD absorbed. */
static int start(phi_siv_key *k, int enc, const phi_siv_ad *ad, size_t n_ad)
{
    static const uint8_t none[1] = {0};
    size_t i;
    int l;

    if (EVP_CIPHER_CTX_copy(k->work, k->tmpl) != 1 ||
        EVP_CipherInit_ex2(k->work, NULL, NULL, NULL, enc, NULL) != 1)
        return 0;
    for (i = 0; i < n_ad; i++)
        if (EVP_CipherUpdate(k->work, NULL, &l, ad[i].data ? ad[i].data : none,
                             (int)ad[i].len) != 1)
            return 0;
    return 1;
}

int phi_siv_encrypt_v(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad, const uint8_t *pt,
                      size_t pt_len, uint8_t *out)
{
    int rc = check_args("aes-siv encrypt", k, ad, n_ad, pt, pt_len, out), l = 0, l2 = 0;

    if (rc)
        return rc;
    if (pt_len == 0) {
        if (!s2v_empty(k, ad, n_ad, out))
            return phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv encrypt: OpenSSL CMAC failed");
        return 0;
    }
    if (!start(k, 1, ad, n_ad) ||
        EVP_EncryptUpdate(k->work, out + PHI_SIV_TAG_LEN, &l, pt, (int)pt_len) != 1 ||
        EVP_EncryptFinal_ex(k->work, out + PHI_SIV_TAG_LEN + l, &l2) != 1 ||
        (size_t)(l + l2) != pt_len ||
        EVP_CIPHER_CTX_ctrl(k->work, EVP_CTRL_AEAD_GET_TAG, PHI_SIV_TAG_LEN, out) != 1) {
        phi_wipe(out, PHI_SIV_TAG_LEN + pt_len);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv encrypt: OpenSSL failed");
    }
    return 0;
}

int phi_siv_decrypt_v(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad, const uint8_t *in,
                      size_t in_len, uint8_t *out)
{
    int rc = check_args("aes-siv decrypt", k, ad, n_ad, in, in_len, out), l = 0, l2 = 0;
    uint8_t tag[PHI_SIV_TAG_LEN];
    size_t ct_len;

    if (rc)
        return rc;
    if (in_len < PHI_SIV_TAG_LEN)
        return phi_error(NULL, PHICRYPT_EBADDATA, "aes-siv decrypt: token of %zu bytes is too "
                         "short", in_len);
    ct_len = in_len - PHI_SIV_TAG_LEN;
    if (ct_len == 0) {
        if (!s2v_empty(k, ad, n_ad, tag))
            return phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv decrypt: OpenSSL CMAC failed");
        rc = phi_ct_equal(tag, in, PHI_SIV_TAG_LEN) ? 0
             : phi_error(NULL, PHICRYPT_EAUTH, "aes-siv decrypt: authentication failed (wrong "
                         "key, wrong context or tampered token)");
        phi_wipe(tag, sizeof tag);
        return rc;
    }
    memcpy(tag, in, sizeof tag);
    if (!start(k, 0, ad, n_ad) ||
        EVP_CIPHER_CTX_ctrl(k->work, EVP_CTRL_AEAD_SET_TAG, PHI_SIV_TAG_LEN, tag) != 1) {
        rc = phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv decrypt: OpenSSL failed");
        goto done;
    }
    /* A tag mismatch makes the update (or the final call) fail. */
    if (EVP_DecryptUpdate(k->work, out, &l, in + PHI_SIV_TAG_LEN, (int)ct_len) != 1 ||
        EVP_DecryptFinal_ex(k->work, out + l, &l2) != 1 || (size_t)(l + l2) != ct_len) {
        phi_wipe(out, ct_len);
        rc = phi_error(NULL, PHICRYPT_EAUTH, "aes-siv decrypt: authentication failed (wrong "
                       "key, wrong context or tampered token)");
    }
done:
    phi_wipe(tag, sizeof tag);
    return rc;
}

int phi_siv_encrypt(phi_siv_key *k, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                    size_t pt_len, uint8_t *out)
{
    phi_siv_ad one = {ad, ad_len};
    return phi_siv_encrypt_v(k, &one, 1, pt, pt_len, out);
}

int phi_siv_decrypt(phi_siv_key *k, const uint8_t *ad, size_t ad_len, const uint8_t *in,
                    size_t in_len, uint8_t *out)
{
    phi_siv_ad one = {ad, ad_len};
    return phi_siv_decrypt_v(k, &one, 1, in, in_len, out);
}
