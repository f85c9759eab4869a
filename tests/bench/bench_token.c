/* Token primitive benchmark. Every figure is compared with a baseline
 * measured in the same run:
 *   FF1 SSN tokens/s, and one FF1 (radix 10, 9 digits) against 10 AES-256
 *   block encryptions through one reused EVP context;
 *   pseudonym (pre-keyed HMAC state copy) against one-shot OpenSSL HMAC()
 *   and against an EVP_MAC_CTX_dup of a pre-keyed template.
 * Prints one table; asserts nothing. Inputs are synthetic. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <phicrypt.h>
#include "token/token_private.h"

static double seconds = 1.0; /* per measurement; argv[1] */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs fn until `seconds` pass; returns operations per second. */
#define RATE(var, body)                                                       \
    do {                                                                      \
        unsigned long n_ = 0;                                                 \
        double t0_ = now(), t_;                                               \
        do {                                                                  \
            for (int i_ = 0; i_ < 1000; i_++) {                               \
                body;                                                         \
            }                                                                 \
            n_ += 1000;                                                       \
        } while ((t_ = now()) - t0_ < seconds);                               \
        var = (double)n_ / (t_ - t0_);                                        \
    } while (0)

int main(int argc, char **argv)
{
    uint8_t key[32], blk[16] = {0}, mac[32];
    const uint8_t tweak[] = "patients.ssn";
    uint16_t x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    char ssn[12] = "123-45-6789", out[12];
    const char value[] = "John Smith 1970-01-01";
    phi_ff1_key *fk;
    phi_hmac_key *hk;
    EVP_CIPHER *aes;
    EVP_CIPHER_CTX *ctx;
    EVP_MAC *hmac;
    EVP_MAC_CTX *tmpl;
    OSSL_PARAM params[2];
    double ff1_rate, ssn_rate, aes10_rate, ps_rate, hmac_rate, dup_rate, pub_rate, with_rate;
    char digits[10] = "123456789", tok[10];
    phicrypt_ff1_key *pk;
    size_t i;
    int l;

    if (argc > 1 && atof(argv[1]) > 0)
        seconds = atof(argv[1]);
    if (phicrypt_init() != 0)
        return 1;
    for (i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 3 + 1);
    if (phi_ff1_key_new(&fk, key, 32) || phi_pseudo_key_new(&hk, key, 32, "bench", 5))
        return 1;
    aes = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
    ctx = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex2(ctx, aes, key, NULL, NULL);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    tmpl = EVP_MAC_CTX_new(hmac);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    EVP_MAC_init(tmpl, key, 32, params);

    if (phicrypt_ff1_key_new(&pk, key, 32, "0123456789"))
        return 1;
    RATE(ff1_rate, phi_ff1_encrypt(fk, 10, tweak, sizeof tweak - 1, x, 9, x));
    /* The public calls users make in loops: a raw key per call, and the handle. */
    RATE(pub_rate, {
        phicrypt_ff1_encrypt(tok, key, 32, tweak, sizeof tweak - 1, "0123456789", digits, 9);
        digits[8] = (char)('0' + (digits[8] - '0' + 1) % 10);
    });
    RATE(with_rate, {
        phicrypt_ff1_encrypt_with(tok, pk, tweak, sizeof tweak - 1, digits, 9);
        digits[8] = (char)('0' + (digits[8] - '0' + 1) % 10);
    });
    RATE(ssn_rate, {
        phi_fpe_encrypt(fk, PHI_FPE_SSN, NULL, tweak, sizeof tweak - 1, ssn, 11, out, sizeof out);
        ssn[10] = (char)('0' + (ssn[10] - '0' + 1) % 10);
    });
    RATE(aes10_rate, {
        for (int j = 0; j < 10; j++)
            EVP_EncryptUpdate(ctx, blk, &l, blk, 16);
    });
    RATE(ps_rate, phi_pseudonym(hk, 0, value, sizeof value - 1, mac, 16));
    RATE(hmac_rate, {
        unsigned int ml = 0;
        HMAC(EVP_sha256(), key, 32, (const uint8_t *)value, sizeof value - 1, mac, &ml);
    });
    RATE(dup_rate, {
        EVP_MAC_CTX *c = EVP_MAC_CTX_dup(tmpl);
        size_t ml = 0;
        EVP_MAC_update(c, (const uint8_t *)value, sizeof value - 1);
        EVP_MAC_final(c, mac, &ml, sizeof mac);
        EVP_MAC_CTX_free(c);
    });

    printf("%-44s %14s\n", "operation", "per second");
    printf("%-44s %14.0f\n", "FF1 radix 10, 9 numerals (phi_ff1_encrypt)", ff1_rate);
    printf("%-44s %14.0f\n", "FF1 SSN tokens (phi_fpe_encrypt ssn)", ssn_rate);
    printf("%-44s %14.0f\n", "phicrypt_ff1_encrypt, raw key, 9 digits", pub_rate);
    printf("%-44s %14.0f\n", "phicrypt_ff1_encrypt_with (handle), 9 digits", with_rate);
    printf("%-44s %14.0f\n", "10 AES-256 blocks (one EVP ctx, baseline)", aes10_rate);
    printf("%-44s %14.0f\n", "pseudonym, 21-byte value (state copy)", ps_rate);
    printf("%-44s %14.0f\n", "one-shot HMAC() (baseline)", hmac_rate);
    printf("%-44s %14.0f\n", "EVP_MAC_CTX_dup of pre-keyed HMAC", dup_rate);
    printf("\nratio: time of one FF1 / time of 10 AES blocks  = %.2f\n", aes10_rate / ff1_rate);
    printf("ratio: time of one SSN token / 10 AES blocks    = %.2f\n", aes10_rate / ssn_rate);
    printf("ratio: phicrypt_ff1_encrypt (raw key) / 10 AES  = %.2f   (target <= 8)\n", aes10_rate / pub_rate);
    printf("ratio: phicrypt_ff1_encrypt_with / 10 AES       = %.2f   (target <= 4)\n", aes10_rate / with_rate);
    printf("ratio: pseudonym speed / one-shot HMAC() speed  = %.2f\n", ps_rate / hmac_rate);
    printf("ROW ff1_oneshot %.2f\nROW ff1_handle %.2f\n", aes10_rate / pub_rate, aes10_rate / with_rate);
    printf("ratio: pseudonym speed / EVP_MAC_CTX_dup speed  = %.2f\n", ps_rate / dup_rate);

    EVP_MAC_CTX_free(tmpl);
    EVP_MAC_free(hmac);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(aes);
    phi_hmac_key_free(hk);
    phi_ff1_key_free(fk);
    phicrypt_ff1_key_free(pk);
    return 0;
}
