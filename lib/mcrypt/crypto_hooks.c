/* Our own crypto for libmongocrypt (mongocrypt_setopt_crypto_hooks).
 *
 * libmongocrypt 1.7's native OpenSSL 3 code calls EVP_aes_256_cbc() and
 * HMAC() per operation: every call does an implicit algorithm fetch (a
 * global lock in OpenSSL 3) and a fresh context and key schedule. Bulk
 * decryption is dominated by that. Here algorithms are fetched once, each
 * thread keeps its contexts, and a context keyed with the same key as the
 * previous call (the usual case: one data key, many values) is only reset,
 * not re-keyed. Output is byte-identical (tests/test_fle.c runs both ways). */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "mcrypt/mcrypt_impl_private.h"

#define AES_KEY_LEN 32
#define MAX_MAC_KEY 64

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes_cbc;
static EVP_MAC *hmac;
static EVP_MD *sha256;
static pthread_key_t tls_key;

typedef struct mac_slot {
    EVP_MAC_CTX *ctx;
    uint8_t key[MAX_MAC_KEY];
    size_t key_len; /* 0: not keyed yet */
} mac_slot;

typedef struct cipher_slot {
    EVP_CIPHER_CTX *ctx;
    uint8_t key[AES_KEY_LEN];
    int keyed;
} cipher_slot;

/* One per thread: contexts are not shareable, re-creating them is what we
 * are avoiding. */
typedef struct thread_state {
    cipher_slot enc, dec;
    mac_slot h512, h256;
    EVP_MD_CTX *md;
} thread_state;

static void fetch_all(void);

static void free_state(void *p)
{
    thread_state *s = p;
    if (!s)
        return;
    EVP_CIPHER_CTX_free(s->enc.ctx);
    EVP_CIPHER_CTX_free(s->dec.ctx);
    EVP_MAC_CTX_free(s->h512.ctx);
    EVP_MAC_CTX_free(s->h256.ctx);
    EVP_MD_CTX_free(s->md);
    phi_secure_free(s); /* wipes the cached keys */
}

void phi_mcrypt_hooks_thread_clear(void)
{
    thread_state *s;
    pthread_once(&fetch_once, fetch_all);
    s = pthread_getspecific(tls_key);
    if (s) {
        pthread_setspecific(tls_key, NULL);
        free_state(s);
    }
}

static void fetch_all(void)
{
    aes_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&tls_key, free_state);
}

static thread_state *state(void)
{
    thread_state *s = pthread_getspecific(tls_key);
    if (s)
        return s;
    /* Guarded memory: the cached keys stay out of swap and core dumps. */
    s = phi_secure_alloc(sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->enc.ctx = EVP_CIPHER_CTX_new();
    s->dec.ctx = EVP_CIPHER_CTX_new();
    s->h512.ctx = EVP_MAC_CTX_new(hmac);
    s->h256.ctx = EVP_MAC_CTX_new(hmac);
    s->md = EVP_MD_CTX_new();
    if (!s->enc.ctx || !s->dec.ctx || !s->h512.ctx || !s->h256.ctx || !s->md || pthread_setspecific(tls_key, s) != 0) {
        free_state(s);
        return NULL;
    }
    return s;
}

static bool fail(mongocrypt_status_t *status, const char *msg)
{
    if (status)
        mongocrypt_status_set(status, MONGOCRYPT_STATUS_ERROR_CLIENT, 1, msg, -1);
    return false;
}

static bool cbc(cipher_slot *slot, int enc, mongocrypt_binary_t *key, mongocrypt_binary_t *iv,
                mongocrypt_binary_t *in, mongocrypt_binary_t *out, uint32_t *bytes_written,
                mongocrypt_status_t *status)
{
    const uint8_t *k = mongocrypt_binary_data(key);
    int n1 = 0, n2 = 0;
    uint32_t in_len = mongocrypt_binary_len(in);
    if (mongocrypt_binary_len(key) != AES_KEY_LEN || mongocrypt_binary_len(iv) != 16)
        return fail(status, "AES-256-CBC: bad key or IV length");
    if (in_len > INT32_MAX || mongocrypt_binary_len(out) < in_len)
        return fail(status, "AES-256-CBC: bad buffer length");
    if (slot->keyed && CRYPTO_memcmp(slot->key, k, AES_KEY_LEN) == 0) {
        /* Same key: keep the schedule, set only the IV. */
        if (!EVP_CipherInit_ex2(slot->ctx, NULL, NULL, mongocrypt_binary_data(iv), enc, NULL))
            return fail(status, "AES-256-CBC: init failed");
    } else {
        if (!EVP_CipherInit_ex2(slot->ctx, aes_cbc, k, mongocrypt_binary_data(iv), enc, NULL))
            return fail(status, "AES-256-CBC: init failed");
        memcpy(slot->key, k, AES_KEY_LEN);
        slot->keyed = 1;
    }
    /* libmongocrypt pads itself. */
    EVP_CIPHER_CTX_set_padding(slot->ctx, 0);
    if (!EVP_CipherUpdate(slot->ctx, mongocrypt_binary_data(out), &n1, mongocrypt_binary_data(in), (int)in_len) ||
        !EVP_CipherFinal_ex(slot->ctx, mongocrypt_binary_data(out) + n1, &n2))
        return fail(status, enc ? "AES-256-CBC: encryption failed" : "AES-256-CBC: decryption failed");
    *bytes_written = (uint32_t)(n1 + n2);
    return true;
}

static bool aes_encrypt(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *iv, mongocrypt_binary_t *in,
                        mongocrypt_binary_t *out, uint32_t *bytes_written, mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return cbc(&s->enc, 1, key, iv, in, out, bytes_written, status);
}

static bool aes_decrypt(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *iv, mongocrypt_binary_t *in,
                        mongocrypt_binary_t *out, uint32_t *bytes_written, mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return cbc(&s->dec, 0, key, iv, in, out, bytes_written, status);
}

static bool mac(mac_slot *slot, const char *digest, size_t out_len, mongocrypt_binary_t *key,
                mongocrypt_binary_t *in, mongocrypt_binary_t *out, mongocrypt_status_t *status)
{
    size_t klen = mongocrypt_binary_len(key), got = 0;
    const uint8_t *k = mongocrypt_binary_data(key);
    if (klen == 0 || klen > MAX_MAC_KEY || mongocrypt_binary_len(out) < out_len)
        return fail(status, "HMAC: bad key or output length");
    if (slot->key_len == klen && CRYPTO_memcmp(slot->key, k, klen) == 0) {
        if (!EVP_MAC_init(slot->ctx, NULL, 0, NULL)) /* same key: reset only */
            return fail(status, "HMAC: init failed");
    } else {
        OSSL_PARAM params[2] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                                 OSSL_PARAM_construct_end() };
        if (!EVP_MAC_init(slot->ctx, k, klen, params))
            return fail(status, "HMAC: init failed");
        memcpy(slot->key, k, klen);
        slot->key_len = klen;
    }
    if (!EVP_MAC_update(slot->ctx, mongocrypt_binary_data(in), mongocrypt_binary_len(in)) ||
        !EVP_MAC_final(slot->ctx, mongocrypt_binary_data(out), &got, out_len) || got != out_len)
        return fail(status, "HMAC: failed");
    return true;
}

static bool hmac_sha512(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *in, mongocrypt_binary_t *out,
                        mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return mac(&s->h512, "SHA512", 64, key, in, out, status);
}

static bool hmac_sha256(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *in, mongocrypt_binary_t *out,
                        mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return mac(&s->h256, "SHA256", 32, key, in, out, status);
}

static bool hash_sha256(void *ctx, mongocrypt_binary_t *in, mongocrypt_binary_t *out, mongocrypt_status_t *status)
{
    thread_state *s = state();
    unsigned int n = 0;
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    if (mongocrypt_binary_len(out) < 32 || !EVP_DigestInit_ex2(s->md, sha256, NULL) ||
        !EVP_DigestUpdate(s->md, mongocrypt_binary_data(in), mongocrypt_binary_len(in)) ||
        !EVP_DigestFinal_ex(s->md, mongocrypt_binary_data(out), &n))
        return fail(status, "SHA-256 failed");
    return true;
}

static bool random_bytes(void *ctx, mongocrypt_binary_t *out, uint32_t count, mongocrypt_status_t *status)
{
    (void)ctx;
    if (mongocrypt_binary_len(out) < count || RAND_bytes(mongocrypt_binary_data(out), (int)count) != 1)
        return fail(status, "random bytes unavailable");
    return true;
}

int phi_mcrypt_install_hooks(mongocrypt_t *crypt, const void *eh)
{
    pthread_once(&fetch_once, fetch_all);
    if (!aes_cbc || !hmac || !sha256)
        return phi_error(eh, PHICRYPT_EINTERNAL, "crypto hooks: OpenSSL lacks AES-256-CBC, HMAC or SHA256");
    if (!mongocrypt_setopt_crypto_hooks(crypt, aes_encrypt, aes_decrypt, random_bytes, hmac_sha512, hmac_sha256,
                                        hash_sha256, NULL))
        return phi_error(eh, PHICRYPT_EINTERNAL, "crypto hooks: libmongocrypt refused them");
    return 0;
}
