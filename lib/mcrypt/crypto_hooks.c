/* Our own crypto for libmongocrypt (mongocrypt_setopt_crypto_hooks).
 *
 * libmongocrypt 1.7's native OpenSSL 3 code calls EVP_aes_256_cbc() and
 * HMAC() per operation: every call does an implicit algorithm fetch (a
 * global lock in OpenSSL 3) and a fresh context and key schedule. Bulk
 * decryption is dominated by that. Here algorithms are fetched once and
 * each thread keeps, for the last key it saw (the usual case: one data key,
 * many values):
 *   - HMAC-SHA-512/256: the SHA states after the inner and outer padded
 *     keys, copied by assignment per MAC (no EVP context copy, which
 *     allocates, and no parameter parsing);
 *   - AES-256-CBC decryption: an AES-256-ECB context keyed once, one ECB
 *     call over all blocks, and the CBC chaining XOR done here (CBC
 *     decryption needs no sequential cipher calls).
 * Output is byte-identical (tests/test_fle.c,
 * test_fle__hooks_match_libmongocrypt_default_crypto). The per-thread
 * state holds key material, so it lives in guarded, locked memory
 * (phi_secure_alloc) and is wiped when its thread exits.
 *
 * The SHA states are OpenSSL's SHA512_CTX / SHA256_CTX, deprecated in 3.0
 * but present in every 3.x: the only OpenSSL SHA-2 interface whose state is
 * a plain struct. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "mcrypt/mcrypt_impl_private.h"

#define AES_KEY_LEN 32
#define MAX_MAC_KEY 64
#define CBC_CHUNK 512 /* ciphertext bytes copied aside per ECB call */

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes_cbc, *aes_ecb;
static pthread_key_t tls_key;

typedef struct mac512_slot {
    SHA512_CTX in, out; /* after key ^ ipad, key ^ opad */
    uint8_t key[MAX_MAC_KEY];
    size_t key_len; /* 0: not keyed yet */
} mac512_slot;

typedef struct mac256_slot {
    SHA256_CTX in, out;
    uint8_t key[MAX_MAC_KEY];
    size_t key_len;
} mac256_slot;

typedef struct cipher_slot {
    uint8_t key[AES_KEY_LEN]; /* the key ctx is keyed with */
    int keyed;
} cipher_slot;

/* The key material of a thread: the last keys seen and the SHA states
 * derived from them, in guarded, locked memory (phi_secure_alloc). */
typedef struct thread_keys {
    cipher_slot enc; /* AES-256-CBC */
    cipher_slot dec; /* AES-256-ECB */
    mac512_slot h512;
    mac256_slot h256;
} thread_keys;

/* One per thread: contexts are not shareable, and re-creating them is
 * what we are avoiding. The OpenSSL contexts are referenced from here (the
 * ordinary heap) rather than from the secure pages, which leak checkers
 * do not scan. */
typedef struct thread_state {
    EVP_CIPHER_CTX *enc, *dec;
    thread_keys *k;
} thread_state;

static void fetch_all(void);

static void free_state(void *p)
{
    thread_state *s = p;
    if (!s)
        return;
    EVP_CIPHER_CTX_free(s->enc); /* cleanses the key schedules */
    EVP_CIPHER_CTX_free(s->dec);
    phi_secure_free(s->k); /* wipes the cached keys and SHA states */
    phi_free(s);
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
    aes_ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
    pthread_key_create(&tls_key, free_state);
}

static thread_state *state(void)
{
    thread_state *s = pthread_getspecific(tls_key);
    if (s)
        return s;
    if (!(s = phi_calloc(1, sizeof *s)))
        return NULL;
    s->k = phi_secure_alloc(sizeof *s->k);
    s->enc = EVP_CIPHER_CTX_new();
    s->dec = EVP_CIPHER_CTX_new();
    if (s->k)
        memset(s->k, 0, sizeof *s->k);
    if (!s->k || !s->enc || !s->dec || pthread_setspecific(tls_key, s) != 0) {
        free_state(s);
        return NULL;
    }
    return s;
}

/* Constant-time equality of two keys, a word at a time (CRYPTO_memcmp goes
 * byte by byte, a tenth of a MAC's cost here). n is a multiple of 8 or
 * the tail is compared bytewise. */
static int same_key(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t d = 0, x, y;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }
    for (; i < n; i++)
        d |= (uint64_t)(a[i] ^ b[i]);
    return d == 0;
}

static bool fail(mongocrypt_status_t *status, const char *msg)
{
    if (status)
        mongocrypt_status_set(status, MONGOCRYPT_STATUS_ERROR_CLIENT, 1, msg, -1);
    return false;
}

/* Keys ctx with `cipher` and k unless it already holds that key (then
 * only the IV is set, when there is one); slot remembers the key. */
static bool slot_key(EVP_CIPHER_CTX *ctx, cipher_slot *slot, const EVP_CIPHER *cipher, int enc, const uint8_t *k,
                     const uint8_t *iv)
{
    if (slot->keyed && same_key(slot->key, k, AES_KEY_LEN))
        return !iv || EVP_CipherInit_ex2(ctx, NULL, NULL, iv, enc, NULL);
    slot->keyed = 0;
    if (!EVP_CipherInit_ex2(ctx, cipher, k, iv, enc, NULL))
        return false;
    EVP_CIPHER_CTX_set_padding(ctx, 0); /* libmongocrypt pads itself */
    memcpy(slot->key, k, AES_KEY_LEN);
    slot->keyed = 1;
    return true;
}

static bool cbc_encrypt(EVP_CIPHER_CTX *ctx, cipher_slot *slot, mongocrypt_binary_t *key, mongocrypt_binary_t *iv,
                        mongocrypt_binary_t *in, mongocrypt_binary_t *out, uint32_t *bytes_written,
                        mongocrypt_status_t *status)
{
    int n1 = 0, n2 = 0;
    uint32_t in_len = mongocrypt_binary_len(in);
    if (mongocrypt_binary_len(key) != AES_KEY_LEN || mongocrypt_binary_len(iv) != 16)
        return fail(status, "AES-256-CBC: bad key or IV length");
    if (in_len > INT32_MAX || mongocrypt_binary_len(out) < in_len)
        return fail(status, "AES-256-CBC: bad buffer length");
    if (!slot_key(ctx, slot, aes_cbc, 1, mongocrypt_binary_data(key), mongocrypt_binary_data(iv)))
        return fail(status, "AES-256-CBC: init failed");
    if (!EVP_CipherUpdate(ctx, mongocrypt_binary_data(out), &n1, mongocrypt_binary_data(in), (int)in_len) ||
        !EVP_CipherFinal_ex(ctx, mongocrypt_binary_data(out) + n1, &n2))
        return fail(status, "AES-256-CBC: encryption failed");
    *bytes_written = (uint32_t)(n1 + n2);
    return true;
}

/* CBC decryption as ECB decryption plus the chaining XOR: P[i] = D(C[i]) ^
 * C[i-1], C[-1] = IV. The ciphertext is copied aside chunk by chunk, so
 * `out` may be `in` itself (decryption in place). */
static bool cbc_decrypt(EVP_CIPHER_CTX *ctx, cipher_slot *slot, mongocrypt_binary_t *key, mongocrypt_binary_t *iv,
                        mongocrypt_binary_t *in, mongocrypt_binary_t *out, uint32_t *bytes_written,
                        mongocrypt_status_t *status)
{
    uint8_t chunk[CBC_CHUNK], prev[16];
    uint32_t in_len = mongocrypt_binary_len(in), off;
    const uint8_t *c = mongocrypt_binary_data(in);
    uint8_t *p = mongocrypt_binary_data(out);
    if (mongocrypt_binary_len(key) != AES_KEY_LEN || mongocrypt_binary_len(iv) != 16)
        return fail(status, "AES-256-CBC: bad key or IV length");
    if (in_len > INT32_MAX || mongocrypt_binary_len(out) < in_len)
        return fail(status, "AES-256-CBC: bad buffer length");
    if (in_len % 16)
        return fail(status, "AES-256-CBC: decryption failed"); /* as EVP says for a partial block */
    if (!slot_key(ctx, slot, aes_ecb, 0, mongocrypt_binary_data(key), NULL))
        return fail(status, "AES-256-CBC: init failed");
    memcpy(prev, mongocrypt_binary_data(iv), 16);
    for (off = 0; off < in_len; off += CBC_CHUNK) {
        uint32_t n = in_len - off < CBC_CHUNK ? in_len - off : CBC_CHUNK;
        int got = 0;
        memcpy(chunk, c + off, n);
        if (!EVP_DecryptUpdate(ctx, p + off, &got, chunk, (int)n) || (uint32_t)got != n) {
            phi_wipe(p, in_len);
            return fail(status, "AES-256-CBC: decryption failed");
        }
        for (uint32_t i = 0; i < n; i++)
            p[off + i] ^= i < 16 ? prev[i] : chunk[i - 16];
        memcpy(prev, chunk + n - 16, 16);
    }
    *bytes_written = in_len;
    return true;
}

static bool aes_encrypt(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *iv, mongocrypt_binary_t *in,
                        mongocrypt_binary_t *out, uint32_t *bytes_written, mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return cbc_encrypt(s->enc, &s->k->enc, key, iv, in, out, bytes_written, status);
}

static bool aes_decrypt(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *iv, mongocrypt_binary_t *in,
                        mongocrypt_binary_t *out, uint32_t *bytes_written, mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return cbc_decrypt(s->dec, &s->k->dec, key, iv, in, out, bytes_written, status);
}

/* HMAC with SHA states precomputed from the key (RFC 2104), for the
 * SHA-512 and SHA-256 state types alike. */
#define DEFINE_HMAC(NAME, SLOT, CTX, INIT, UPDATE, FINAL, BLOCK, DIGEST)                                       \
    static bool NAME(SLOT *slot, mongocrypt_binary_t *key, mongocrypt_binary_t *in, mongocrypt_binary_t *out,  \
                     mongocrypt_status_t *status)                                                              \
    {                                                                                                          \
        size_t klen = mongocrypt_binary_len(key);                                                              \
        const uint8_t *k = mongocrypt_binary_data(key);                                                        \
        uint8_t ih[DIGEST];                                                                                    \
        CTX c;                                                                                                 \
        if (klen == 0 || klen > MAX_MAC_KEY || mongocrypt_binary_len(out) < DIGEST)                            \
            return fail(status, "HMAC: bad key or output length");                                           \
        if (slot->key_len != klen || !same_key(slot->key, k, klen)) {                                          \
            uint8_t pad[BLOCK];                                                                                \
            memset(pad, 0x36, sizeof pad);                                                                     \
            for (size_t i = 0; i < klen; i++)                                                                  \
                pad[i] ^= k[i];                                                                                \
            INIT(&slot->in);                                                                                   \
            UPDATE(&slot->in, pad, sizeof pad);                                                                \
            for (size_t i = 0; i < sizeof pad; i++)                                                            \
                pad[i] ^= 0x36 ^ 0x5c;                                                                         \
            INIT(&slot->out);                                                                                  \
            UPDATE(&slot->out, pad, sizeof pad);                                                               \
            phi_wipe(pad, sizeof pad);                                                                         \
            memcpy(slot->key, k, klen);                                                                        \
            slot->key_len = klen;                                                                              \
        }                                                                                                      \
        c = slot->in;                                                                                          \
        UPDATE(&c, mongocrypt_binary_data(in), mongocrypt_binary_len(in));                                     \
        FINAL(ih, &c);                                                                                         \
        c = slot->out;                                                                                         \
        UPDATE(&c, ih, sizeof ih);                                                                             \
        FINAL(mongocrypt_binary_data(out), &c);                                                                \
        phi_wipe(&c, sizeof c);                                                                                \
        phi_wipe(ih, sizeof ih);                                                                               \
        return true;                                                                                           \
    }

DEFINE_HMAC(mac512, mac512_slot, SHA512_CTX, SHA512_Init, SHA512_Update, SHA512_Final, SHA512_CBLOCK,
            SHA512_DIGEST_LENGTH)
DEFINE_HMAC(mac256, mac256_slot, SHA256_CTX, SHA256_Init, SHA256_Update, SHA256_Final, SHA256_CBLOCK,
            SHA256_DIGEST_LENGTH)

static bool hmac_sha512(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *in, mongocrypt_binary_t *out,
                        mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return mac512(&s->k->h512, key, in, out, status);
}

static bool hmac_sha256(void *ctx, mongocrypt_binary_t *key, mongocrypt_binary_t *in, mongocrypt_binary_t *out,
                        mongocrypt_status_t *status)
{
    thread_state *s = state();
    (void)ctx;
    if (!s)
        return fail(status, "crypto hooks: out of memory");
    return mac256(&s->k->h256, key, in, out, status);
}

static bool hash_sha256(void *ctx, mongocrypt_binary_t *in, mongocrypt_binary_t *out, mongocrypt_status_t *status)
{
    (void)ctx;
    if (mongocrypt_binary_len(out) < 32)
        return fail(status, "SHA-256 failed");
    SHA256(mongocrypt_binary_data(in), mongocrypt_binary_len(in), mongocrypt_binary_data(out));
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
    if (!aes_cbc || !aes_ecb)
        return phi_error(eh, PHICRYPT_EINTERNAL, "crypto hooks: OpenSSL lacks AES-256-CBC or AES-256-ECB");
    if (!mongocrypt_setopt_crypto_hooks(crypt, aes_encrypt, aes_decrypt, random_bytes, hmac_sha512, hmac_sha256,
                                        hash_sha256, NULL))
        return phi_error(eh, PHICRYPT_EINTERNAL, "crypto hooks: libmongocrypt refused them");
    return 0;
}
