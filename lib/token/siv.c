/* AES-SIV (RFC 5297): S2V over CMAC and CTR, both built here on two
 * pre-keyed AES-ECB contexts (K1 for S2V, K2 for CTR).
 *
 * Why not OpenSSL 3's "AES-*-SIV" cipher: it cannot be reset to its key
 * without copying a template context (OpenSSL 3.0 keeps the S2V state
 * across re-initialisation), the copy allocates, and each value then pays
 * a CMAC and a CTR set-up through the provider layer: about 11,700
 * instructions per short token against about 3,300 here, where a short
 * value costs three AES blocks. The constants that depend on the key
 * alone (the CMAC subkeys and S2V's CMAC of the zero block) are computed
 * once per key. Output is byte for byte OpenSSL's (tests/test_token.c
 * compares them on random inputs, besides the RFC and Wycheproof vectors).
 *
 * The key object holds its own cipher contexts: one thread at a time. */
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/token_private.h"

struct phi_siv_key {
    EVP_CIPHER_CTX *k1;    /* AES-ECB under K1 (S2V's CMAC) */
    EVP_CIPHER_CTX *k2;    /* AES-ECB under K2 (CTR) */
    uint8_t sub1[16], sub2[16]; /* CMAC subkeys of K1 (RFC 4493 2.3) */
    uint8_t d0[16];        /* CMAC(K1, 0^128): S2V's first value */
};

/* Counter blocks encrypted per ECB call. */
#define CTR_BATCH 32

void phi_siv_key_free(phi_siv_key *k)
{
    if (!k)
        return;
    EVP_CIPHER_CTX_free(k->k1);
    EVP_CIPHER_CTX_free(k->k2);
    phi_secure_free(k); /* wipes the subkeys */
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

static void xor16(uint8_t *d, const uint8_t *s)
{
    for (int i = 0; i < 16; i++)
        d[i] ^= s[i];
}

/* n whole blocks through AES-ECB (n * 16 <= INT_MAX). */
static int ecb(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t n)
{
    int l = 0;
    return EVP_EncryptUpdate(c, out, &l, in, (int)(n * 16)) == 1 && (size_t)l == n * 16;
}

/* CMAC(K1, m) (RFC 4493), where xe (NULL or 16 bytes) is XORed into the
 * last 16 bytes of m on the fly (S2V's "xorend", so m is never copied;
 * then m_len >= 16). */
static int cmac(phi_siv_key *k, const uint8_t *m, size_t m_len, const uint8_t *xe, uint8_t out[16])
{
    uint8_t x[16] = {0}, b[16];
    size_t nb = m_len ? (m_len + 15) / 16 : 1, i, j, off, xoff = m_len - 16;
    int ok = 1;

    for (i = 0; ok && i < nb; i++) {
        off = i * 16;
        size_t take = m_len - off < 16 ? m_len - off : 16;
        if (take)
            memcpy(b, m + off, take);
        if (xe)
            for (j = 0; j < take; j++)
                if (off + j >= xoff)
                    b[j] ^= xe[off + j - xoff];
        if (i + 1 < nb) {
            xor16(x, b);
            ok = ecb(k->k1, x, x, 1);
            continue;
        }
        if (take == 16) {
            xor16(b, k->sub1);
        } else { /* incomplete (or empty) last block: 10* padding */
            b[take] = 0x80;
            memset(b + take + 1, 0, 15 - take);
            xor16(b, k->sub2);
        }
        xor16(x, b);
        ok = ecb(k->k1, out, x, 1);
    }
    phi_wipe(x, sizeof x);
    phi_wipe(b, sizeof b);
    return ok;
}

/* S2V(K1, AD_1 .. AD_n, p) (RFC 5297 section 2.4): the synthetic IV. */
static int s2v(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad, const uint8_t *p, size_t p_len,
               uint8_t v[16])
{
    static const uint8_t none[1] = {0};
    uint8_t d[16], t[16];
    size_t i;
    int ok = 1;

    memcpy(d, k->d0, 16);
    for (i = 0; ok && i < n_ad; i++) {
        dbl(d);
        ok = cmac(k, ad[i].data ? ad[i].data : none, ad[i].len, NULL, t);
        xor16(d, t);
    }
    if (ok && p_len >= 16) {
        ok = cmac(k, p, p_len, d, v); /* T = p xorend D */
    } else if (ok) {
        dbl(d); /* T = dbl(D) xor pad(p) */
        memset(t, 0, 16);
        if (p_len)
            memcpy(t, p, p_len);
        t[p_len] = 0x80;
        xor16(d, t);
        ok = cmac(k, d, 16, NULL, v);
    }
    phi_wipe(d, sizeof d);
    phi_wipe(t, sizeof t);
    return ok;
}

/* out = in XOR AES-CTR(K2, Q), Q = V with bits 63 and 31 cleared, the
 * counter a 128-bit big-endian integer (RFC 5297 section 2.5). */
static int ctr(phi_siv_key *k, const uint8_t v[16], const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t q[16], ks[CTR_BATCH * 16];
    size_t done = 0, i, nb;
    int ok = 1;

    memcpy(q, v, 16);
    q[8] &= 0x7f;
    q[12] &= 0x7f;
    while (ok && done < len) {
        nb = (len - done + 15) / 16;
        if (nb > CTR_BATCH)
            nb = CTR_BATCH;
        for (i = 0; i < nb; i++) {
            memcpy(ks + i * 16, q, 16);
            for (int j = 15; j >= 0 && ++q[j] == 0; j--)
                ;
        }
        ok = ecb(k->k2, ks, ks, nb);
        for (i = 0; ok && i < nb * 16 && done + i < len; i++)
            out[done + i] = in[done + i] ^ ks[i];
        done += nb * 16;
    }
    phi_wipe(ks, sizeof ks);
    phi_wipe(q, sizeof q);
    return ok;
}

static EVP_CIPHER_CTX *ecb_new(const uint8_t *key, size_t len)
{
    const char *name = len == 16 ? "AES-128-ECB" : len == 24 ? "AES-192-ECB" : "AES-256-ECB";
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *x = c ? EVP_CIPHER_CTX_new() : NULL;
    if (x && (EVP_EncryptInit_ex2(x, c, key, NULL, NULL) != 1 || EVP_CIPHER_CTX_set_padding(x, 0) != 1)) {
        EVP_CIPHER_CTX_free(x);
        x = NULL;
    }
    EVP_CIPHER_free(c);
    return x;
}

int phi_siv_key_new(phi_siv_key **out, const uint8_t *key, size_t key_len)
{
    static const uint8_t zero[16] = {0};
    phi_siv_key *k;
    size_t half = key_len / 2;
    int ok;

    if (!out)
        return phi_error(NULL, PHICRYPT_EINVAL, "aes-siv: NULL output key pointer");
    *out = NULL;
    if (!key)
        return phi_error(NULL, PHICRYPT_EINVAL, "aes-siv: NULL key");
    if (key_len != 32 && key_len != 48 && key_len != 64)
        return phi_error(NULL, PHICRYPT_EINVAL,
                         "aes-siv: key length %zu is not 32, 48 or 64 bytes", key_len);
    k = phi_secure_alloc(sizeof *k);
    if (!k)
        return phi_error(NULL, PHICRYPT_ENOMEM, "aes-siv: out of memory");
    memset(k, 0, sizeof *k);
    k->k1 = ecb_new(key, half);
    k->k2 = ecb_new(key + half, half);
    ok = k->k1 && k->k2 && ecb(k->k1, k->sub1, zero, 1); /* L = AES(K1, 0) */
    if (ok) {
        dbl(k->sub1);
        memcpy(k->sub2, k->sub1, 16);
        dbl(k->sub2);
        ok = cmac(k, zero, 16, NULL, k->d0);
    }
    if (!ok) {
        phi_siv_key_free(k);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv: OpenSSL could not set up AES-%zu",
                         half * 8);
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
    memcpy(d, k, sizeof *d);
    d->k1 = EVP_CIPHER_CTX_new();
    d->k2 = EVP_CIPHER_CTX_new();
    if (!d->k1 || !d->k2 || EVP_CIPHER_CTX_copy(d->k1, k->k1) != 1 ||
        EVP_CIPHER_CTX_copy(d->k2, k->k2) != 1) {
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

int phi_siv_encrypt_v(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad, const uint8_t *pt,
                      size_t pt_len, uint8_t *out)
{
    int rc = check_args("aes-siv encrypt", k, ad, n_ad, pt, pt_len, out);

    if (rc)
        return rc;
    /* out may not alias pt: the tag is written first. */
    if (!s2v(k, ad, n_ad, pt, pt_len, out) ||
        (pt_len && !ctr(k, out, pt, pt_len, out + PHI_SIV_TAG_LEN))) {
        phi_wipe(out, PHI_SIV_TAG_LEN + pt_len);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv encrypt: OpenSSL failed");
    }
    return 0;
}

int phi_siv_decrypt_v(phi_siv_key *k, const phi_siv_ad *ad, size_t n_ad, const uint8_t *in,
                      size_t in_len, uint8_t *out)
{
    int rc = check_args("aes-siv decrypt", k, ad, n_ad, in, in_len, out);
    uint8_t tag[PHI_SIV_TAG_LEN], v[PHI_SIV_TAG_LEN];
    size_t ct_len;

    if (rc)
        return rc;
    if (in_len < PHI_SIV_TAG_LEN)
        return phi_error(NULL, PHICRYPT_EBADDATA, "aes-siv decrypt: token of %zu bytes is too "
                         "short", in_len);
    ct_len = in_len - PHI_SIV_TAG_LEN;
    memcpy(tag, in, sizeof tag);
    if ((ct_len && !ctr(k, tag, in + PHI_SIV_TAG_LEN, ct_len, out)) ||
        !s2v(k, ad, n_ad, out, ct_len, v)) {
        phi_wipe(out, ct_len);
        rc = phi_error(NULL, PHICRYPT_EINTERNAL, "aes-siv decrypt: OpenSSL failed");
    } else if (!phi_ct_equal(v, tag, sizeof tag)) {
        phi_wipe(out, ct_len);
        rc = phi_error(NULL, PHICRYPT_EAUTH, "aes-siv decrypt: authentication failed (wrong "
                       "key, wrong context or tampered token)");
    }
    phi_wipe(tag, sizeof tag);
    phi_wipe(v, sizeof v);
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
