/* FF1 (NIST SP 800-38G Rev. 1, section 6.1) over numeral strings.
 *
 * Speed: the key is scheduled once in an EVP ECB context; the CBC-MAC state
 * after P || T || padding is computed once per call (and kept in the key
 * for the next call with the same radix, length and tweak), so each of the ten
 * rounds costs one AES call for short tweaks (plus one more when d > 16).
 * When radix^ceil(n/2) < 2^128 the halves are kept as unsigned __int128
 * numbers throughout and the call allocates nothing; larger domains use
 * OpenSSL BN. */
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/token_private.h"

__extension__ typedef unsigned __int128 u128; /* GCC/Clang; -Wpedantic-clean */

/* The CBC-MAC state after P || T || padding depends only on the key,
 * radix, length and tweak, which repeat value after value (a policy's
 * formats and contexts under one key): the last PRE_SLOTS are kept,
 * saving an AES call and the absorbing of P and T per token (a tenth of
 * an SSN token). */
#define PRE_TWEAK_MAX 64
#define PRE_SLOTS 4
typedef struct {
    uint8_t x[16];
    unsigned fill;
} cbcmac;

struct ff1_pre {
    int valid;
    uint32_t radix;
    size_t n, t;
    uint8_t tweak[PRE_TWEAK_MAX];
    cbcmac m;
};

struct phi_ff1_key {
    EVP_CIPHER_CTX *ecb;
    struct ff1_pre pre[PRE_SLOTS]; /* wiped with the key */
    unsigned pre_next;             /* the slot to replace next */
};

int phi_ff1_key_new(phi_ff1_key **out, const uint8_t *key, size_t key_len)
{
    const char *name;
    EVP_CIPHER *c;
    phi_ff1_key *k;
    int ok;

    if (!out)
        return phi_error(NULL, PHICRYPT_EINVAL, "ff1: NULL output key pointer");
    *out = NULL;
    if (!key)
        return phi_error(NULL, PHICRYPT_EINVAL, "ff1: NULL key");
    switch (key_len) {
    case 16: name = "AES-128-ECB"; break;
    case 24: name = "AES-192-ECB"; break;
    case 32: name = "AES-256-ECB"; break;
    default:
        return phi_error(NULL, PHICRYPT_EINVAL, "ff1: key length %zu is not 16, 24 or 32 bytes",
                         key_len);
    }
    k = phi_secure_alloc(sizeof *k);
    if (!k)
        return phi_error(NULL, PHICRYPT_ENOMEM, "ff1: out of memory");
    memset(k, 0, sizeof *k);
    k->ecb = EVP_CIPHER_CTX_new();
    c = EVP_CIPHER_fetch(NULL, name, NULL);
    ok = k->ecb && c && EVP_EncryptInit_ex2(k->ecb, c, key, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_set_padding(k->ecb, 0) == 1;
    EVP_CIPHER_free(c); /* the context keeps its own reference */
    if (!ok) {
        phi_ff1_key_free(k);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "ff1: OpenSSL could not set up %s", name);
    }
    *out = k;
    return 0;
}

int phi_ff1_key_dup(phi_ff1_key **out, const phi_ff1_key *k)
{
    phi_ff1_key *d;

    if (!out || !k)
        return phi_error(NULL, PHICRYPT_EINVAL, "ff1: NULL argument to key_dup");
    *out = NULL;
    d = phi_secure_alloc(sizeof *d);
    if (!d)
        return phi_error(NULL, PHICRYPT_ENOMEM, "ff1: out of memory");
    memset(d, 0, sizeof *d);
    d->ecb = EVP_CIPHER_CTX_new();
    if (!d->ecb || EVP_CIPHER_CTX_copy(d->ecb, k->ecb) != 1) {
        phi_ff1_key_free(d);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "ff1: OpenSSL could not copy the key");
    }
    *out = d;
    return 0;
}

void phi_ff1_key_free(phi_ff1_key *k)
{
    if (!k)
        return;
    EVP_CIPHER_CTX_free(k->ecb); /* cleanses the key schedule */
    phi_secure_free(k);
}

int phi_ff1_domain_ok(uint32_t radix, size_t n)
{
    uint64_t d = 1;
    size_t i;

    if (radix < 2)
        return 0;
    for (i = 0; i < n; i++) {
        d *= radix;
        if (d >= PHI_FF1_MIN_DOMAIN)
            return 1;
    }
    return 0;
}

/* ---- CBC-MAC (the PRF of SP 800-38G) absorbing a byte stream */

static int aes_block(phi_ff1_key *k, uint8_t blk[16])
{
    int l = 0;
    return EVP_EncryptUpdate(k->ecb, blk, &l, blk, 16) == 1 && l == 16;
}

static int mac_absorb(phi_ff1_key *k, cbcmac *m, const uint8_t *p, size_t n)
{
    while (n) {
        size_t take = 16 - m->fill, i;
        if (take > n)
            take = n;
        for (i = 0; i < take; i++)
            m->x[m->fill + i] ^= p[i];
        m->fill += (unsigned)take;
        p += take;
        n -= take;
        if (m->fill == 16) {
            if (!aes_block(k, m->x))
                return 0;
            m->fill = 0;
        }
    }
    return 1;
}

/* Zero bytes leave x unchanged; only full blocks need the cipher. */
static int mac_zeros(phi_ff1_key *k, cbcmac *m, size_t n)
{
    while (n) {
        size_t take = 16 - m->fill;
        if (take > n)
            take = n;
        m->fill += (unsigned)take;
        n -= take;
        if (m->fill == 16) {
            if (!aes_block(k, m->x))
                return 0;
            m->fill = 0;
        }
    }
    return 1;
}

/* State after P || T || [0]^pad, shared by the ten rounds. */
static int mac_prefix_compute(phi_ff1_key *k, cbcmac *m, uint32_t radix, size_t n, size_t u,
                              const uint8_t *tweak, size_t t, size_t b)
{
    uint8_t p[16] = {1, 2, 1, (uint8_t)(radix >> 16), (uint8_t)(radix >> 8), (uint8_t)radix,
                     10, (uint8_t)u,
                     (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
                     (uint8_t)(t >> 24), (uint8_t)(t >> 16), (uint8_t)(t >> 8), (uint8_t)t};
    memset(m, 0, sizeof *m);
    return mac_absorb(k, m, p, 16) && mac_absorb(k, m, tweak, t) &&
           mac_zeros(k, m, (16 - (t + b + 1) % 16) % 16);
}

/* mac_prefix_compute through the key's one-entry cache (u and b follow
 * from radix and n). */
static int mac_prefix(phi_ff1_key *k, cbcmac *m, uint32_t radix, size_t n, size_t u,
                      const uint8_t *tweak, size_t t, size_t b)
{
    struct ff1_pre *pre;
    for (unsigned i = 0; i < PRE_SLOTS; i++) {
        pre = &k->pre[i];
        if (pre->valid && pre->radix == radix && pre->n == n && pre->t == t &&
            (t == 0 || memcmp(pre->tweak, tweak, t) == 0)) {
            *m = pre->m;
            return 1;
        }
    }
    if (!mac_prefix_compute(k, m, radix, n, u, tweak, t, b))
        return 0;
    if (t <= PRE_TWEAK_MAX) {
        pre = &k->pre[k->pre_next];
        k->pre_next = (k->pre_next + 1) % PRE_SLOTS;
        pre->valid = 1;
        pre->radix = radix;
        pre->n = n;
        pre->t = t;
        if (t)
            memcpy(pre->tweak, tweak, t);
        pre->m = *m;
    }
    return 1;
}

/* S (d bytes): R || CIPH(R xor [1]^16) || CIPH(R xor [2]^16) ... */
static int expand_s(phi_ff1_key *k, const uint8_t r[16], uint8_t *s, size_t d)
{
    size_t j, off;

    memcpy(s, r, d < 16 ? d : 16);
    for (j = 1, off = 16; off < d; j++, off += 16) {
        uint8_t blk[16];
        size_t i, take = d - off < 16 ? d - off : 16;
        memcpy(blk, r, 16);
        for (i = 0; i < 8; i++)
            blk[15 - i] ^= (uint8_t)((uint64_t)j >> (8 * i));
        if (!aes_block(k, blk))
            return 0;
        memcpy(s + off, blk, take);
        phi_wipe(blk, sizeof blk);
    }
    return 1;
}

/* ---- fast path: radix^v < 2^128 */

static int pow_u128(uint32_t radix, size_t e, u128 *out)
{
    u128 r = 1, lim = ~(u128)0 / radix; /* one division, not one per step */
    size_t i;
    for (i = 0; i < e; i++) {
        if (r > lim)
            return 0;
        r *= radix;
    }
    *out = r;
    return 1;
}

static unsigned bitlen_u128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
    if (hi)
        return 128u - (unsigned)__builtin_clzll(hi);
    return lo ? 64u - (unsigned)__builtin_clzll(lo) : 0u;
}

static u128 num_u128(const uint16_t *x, size_t n, uint32_t radix)
{
    u128 a = 0;
    size_t i;
    for (i = 0; i < n; i++)
        a = a * radix + x[i];
    return a;
}

static void str_u128(uint16_t *out, size_t m, uint32_t radix, u128 c)
{
    while (m > 0 && c > UINT64_MAX) {
        out[--m] = (uint16_t)(c % radix);
        c /= radix;
    }
    uint64_t c64 = (uint64_t)c; /* cheaper divisions once it fits */
    while (m > 0) {
        out[--m] = (uint16_t)(c64 % radix);
        c64 /= radix;
    }
}

/* NUM(S) mod M for d <= 20 bytes. */
static u128 mod_bytes(const uint8_t *s, size_t d, u128 mod)
{
    u128 r = 0;
    size_t i;
    int bit;

    if (d <= 8 && (mod >> 64) == 0) { /* short domains: 64-bit division */
        uint64_t r64 = 0;
        for (i = 0; i < d; i++)
            r64 = (r64 << 8) | s[i];
        return r64 % (uint64_t)mod;
    }
    if (d <= 16) {
        for (i = 0; i < d; i++)
            r = (r << 8) | s[i];
        return r % mod;
    }
    /* Shift-and-subtract keeps r < mod without a wider type. */
    for (i = 0; i < d; i++) {
        for (bit = 7; bit >= 0; bit--) {
            u128 top = r >> 127;
            r = (r << 1) | ((s[i] >> bit) & 1u);
            if (top || r >= mod)
                r -= mod;
        }
    }
    return r;
}

/* Per-call scratch of the fast path, wiped once when the call ends. */
typedef struct {
    cbcmac m;
    uint8_t buf[17];
    uint8_t s[20];
} scratch;

static int round_y_u128(phi_ff1_key *k, const cbcmac *base, scratch *sc, unsigned i, u128 half,
                        size_t b, size_t d, u128 mod, u128 *y)
{
    size_t j;

    sc->m = *base;
    sc->buf[0] = (uint8_t)i;
    for (j = 0; j < b; j++)
        sc->buf[b - j] = (uint8_t)(half >> (8 * j));
    if (!mac_absorb(k, &sc->m, sc->buf, b + 1) || sc->m.fill != 0 ||
        !expand_s(k, sc->m.x, sc->s, d))
        return 0;
    *y = mod_bytes(sc->s, d, mod);
    return 1;
}

static int ff1_fast(phi_ff1_key *k, int enc, uint32_t radix, const uint8_t *tweak, size_t t,
                    const uint16_t *x, size_t n, uint16_t *out, u128 mod_v)
{
    size_t u = n / 2, v = n - u, b, d;
    u128 mod_u, a, bb, y = 0;
    cbcmac base;
    scratch sc;
    int i, ok = 1;

    if (!pow_u128(radix, u, &mod_u))
        return 0;
    b = (bitlen_u128(mod_v - 1) + 7) / 8;
    d = 4 * ((b + 3) / 4) + 4;
    a = num_u128(x, u, radix);
    bb = num_u128(x + u, v, radix);
    if (!mac_prefix(k, &base, radix, n, u, tweak, t, b))
        ok = 0;
    for (i = 0; ok && i < 10; i++) {
        int r = enc ? i : 9 - i;
        u128 mod = (r % 2 == 0) ? mod_u : mod_v, c;
        if (!round_y_u128(k, &base, &sc, (unsigned)r, enc ? bb : a, b, d, mod, &y)) {
            ok = 0;
            break;
        }
        if (enc) {
            c = a + y; /* a, y < mod: one conditional subtraction */
            if (c < a || c >= mod)
                c -= mod;
            a = bb;
            bb = c;
        } else {
            c = bb >= y ? bb - y : bb + (mod - y);
            bb = a;
            a = c;
        }
    }
    if (ok) {
        str_u128(out, u, radix, a);
        str_u128(out + u, v, radix, bb);
    }
    a = bb = y = 0;
    phi_wipe(&base, sizeof base);
    phi_wipe(&sc, sizeof sc);
    return ok;
}

/* ---- general path: OpenSSL BN */

static int num_bn(BIGNUM *r, const uint16_t *x, size_t n, uint32_t radix)
{
    size_t i;
    BN_zero(r);
    for (i = 0; i < n; i++)
        if (!BN_mul_word(r, radix) || !BN_add_word(r, x[i]))
            return 0;
    return 1;
}

static int str_bn(uint16_t *out, size_t m, uint32_t radix, BIGNUM *c)
{
    while (m > 0) {
        BN_ULONG rem = BN_div_word(c, radix);
        if (rem == (BN_ULONG)-1)
            return 0;
        out[--m] = (uint16_t)rem;
    }
    return 1;
}

static int ff1_bn(phi_ff1_key *k, int enc, uint32_t radix, const uint8_t *tweak, size_t t,
                  const uint16_t *x, size_t n, uint16_t *out)
{
    size_t u = n / 2, v = n - u, b = 0, d = 0;
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *mod_u, *mod_v, *a, *bb, *y, *c, *rad, *tmp;
    uint8_t *qb = NULL, *s = NULL;
    cbcmac base, m;
    int i, ok = 0;

    memset(&m, 0, sizeof m);
    if (!ctx)
        return 0;
    BN_CTX_start(ctx);
    mod_u = BN_CTX_get(ctx);
    mod_v = BN_CTX_get(ctx);
    a = BN_CTX_get(ctx);
    bb = BN_CTX_get(ctx);
    y = BN_CTX_get(ctx);
    c = BN_CTX_get(ctx);
    rad = BN_CTX_get(ctx);
    tmp = BN_CTX_get(ctx);
    if (!tmp || !BN_set_word(rad, radix) || !BN_set_word(tmp, u) ||
        !BN_exp(mod_u, rad, tmp, ctx) || !BN_set_word(tmp, v) || !BN_exp(mod_v, rad, tmp, ctx) ||
        !BN_copy(tmp, mod_v) || !BN_sub_word(tmp, 1))
        goto done;
    b = ((size_t)BN_num_bits(tmp) + 7) / 8;
    d = 4 * ((b + 3) / 4) + 4;
    qb = phi_malloc(b + 1);
    s = phi_malloc(d);
    if (!qb || !s || !num_bn(a, x, u, radix) || !num_bn(bb, x + u, v, radix) ||
        !mac_prefix(k, &base, radix, n, u, tweak, t, b))
        goto done;
    for (i = 0; i < 10; i++) {
        int r = enc ? i : 9 - i;
        BIGNUM *mod = (r % 2 == 0) ? mod_u : mod_v, *sw;
        m = base;
        qb[0] = (uint8_t)r;
        if (BN_bn2binpad(enc ? bb : a, qb + 1, (int)b) < 0 || !mac_absorb(k, &m, qb, b + 1) ||
            m.fill != 0 || !expand_s(k, m.x, s, d) || !BN_bin2bn(s, (int)d, y))
            goto done;
        if (enc) {
            if (!BN_mod_add(c, a, y, mod, ctx))
                goto done;
            sw = a; a = bb; bb = c; c = sw;
        } else {
            if (!BN_mod_sub(c, bb, y, mod, ctx))
                goto done;
            sw = bb; bb = a; a = c; c = sw;
        }
    }
    ok = str_bn(out, u, radix, a) && str_bn(out + u, v, radix, bb);
done:
    phi_wipe(&m, sizeof m);
    phi_wipe(&base, sizeof base);
    if (qb)
        phi_wipe_free(qb, b + 1);
    if (s)
        phi_wipe_free(s, d);
    if (tmp) { /* BN_CTX_free does not clear: the halves are plaintext */
        BN_clear(a);
        BN_clear(bb);
        BN_clear(c);
        BN_clear(y);
    }
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    return ok;
}

static int ff1(phi_ff1_key *k, int enc, uint32_t radix, const uint8_t *tweak, size_t tweak_len,
               const uint16_t *x, size_t n, uint16_t *out)
{
    const char *op = enc ? "ff1 encrypt" : "ff1 decrypt";
    size_t i;
    u128 mod_v;

    if (!k || !x || !out || (!tweak && tweak_len))
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: NULL argument", op);
    if (radix < 2 || radix > 65536)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: radix %u is outside 2..65536", op,
                         (unsigned)radix);
    if (n > PHI_FF1_MAX_LEN)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: length %zu exceeds %u", op, n,
                         PHI_FF1_MAX_LEN);
    if (tweak_len > PHI_FF1_MAX_TWEAK)
        return phi_error(NULL, PHICRYPT_EINVAL, "%s: tweak length %zu exceeds %u", op,
                         tweak_len, PHI_FF1_MAX_TWEAK);
    if (!phi_ff1_domain_ok(radix, n))
        return phi_error(NULL, PHICRYPT_EINVAL,
                         "%s: domain radix^length (radix %u, length %zu) is below the "
                         "minimum of 1000000 (SP 800-38G Rev. 1)", op, (unsigned)radix, n);
    for (i = 0; i < n; i++)
        if (x[i] >= radix)
            return phi_error(NULL, PHICRYPT_EINVAL, "%s: numeral at position %zu is not below "
                             "the radix", op, i);
    if (pow_u128(radix, n - n / 2, &mod_v)) {
        if (!ff1_fast(k, enc, radix, tweak, tweak_len, x, n, out, mod_v))
            return phi_error(NULL, PHICRYPT_EINTERNAL, "%s: AES failed", op);
        return 0;
    }
    if (!ff1_bn(k, enc, radix, tweak, tweak_len, x, n, out))
        return phi_error(NULL, PHICRYPT_EINTERNAL, "%s: AES or big-number arithmetic failed", op);
    return 0;
}

int phi_ff1_encrypt(phi_ff1_key *k, uint32_t radix, const uint8_t *tweak, size_t tweak_len,
                    const uint16_t *x, size_t n, uint16_t *out)
{
    return ff1(k, 1, radix, tweak, tweak_len, x, n, out);
}

int phi_ff1_decrypt(phi_ff1_key *k, uint32_t radix, const uint8_t *tweak, size_t tweak_len,
                    const uint16_t *x, size_t n, uint16_t *out)
{
    return ff1(k, 0, radix, tweak, tweak_len, x, n, out);
}

/* ---- one-shot keys (the stateless public functions)
 *
 * Each call used to allocate a guarded key object and fetch the cipher
 * (a global lock in OpenSSL 3). Now the three ECB ciphers are fetched once
 * per process and each thread keeps one cipher context, keyed for the call
 * and reset right after it (EVP_CIPHER_CTX_reset cleanses the key
 * schedule), so no key material outlives the call. */
static pthread_once_t raw_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *raw_cipher[3]; /* AES-128/192/256-ECB, for the process */
static pthread_key_t raw_slot;
static int raw_ready;

static void raw_slot_free(void *ctx)
{
    EVP_CIPHER_CTX_free(ctx);
}

static void raw_init(void)
{
    static const char *const names[3] = { "AES-128-ECB", "AES-192-ECB", "AES-256-ECB" };
    for (int i = 0; i < 3; i++)
        if (!(raw_cipher[i] = EVP_CIPHER_fetch(NULL, names[i], NULL)))
            return;
    raw_ready = pthread_key_create(&raw_slot, raw_slot_free) == 0;
}

int phi_ff1_oneshot(int enc, const uint8_t *key, size_t key_len, uint32_t radix, const uint8_t *tweak,
                    size_t tweak_len, const uint16_t *x, size_t n, uint16_t *out)
{
    phi_ff1_key k;
    int rc;
    memset(k.pre, 0, sizeof k.pre); /* this call's key only: no cache across calls */
    k.pre_next = 0;
    if (!key || (key_len != 16 && key_len != 24 && key_len != 32))
        return phi_error(NULL, PHICRYPT_EINVAL, "ff1: key length %zu is not 16, 24 or 32 bytes", key_len);
    if (pthread_once(&raw_once, raw_init) != 0 || !raw_ready)
        return phi_error(NULL, PHICRYPT_EINTERNAL, "ff1: OpenSSL could not set up AES-ECB");
    k.ecb = pthread_getspecific(raw_slot);
    if (!k.ecb) {
        if (!(k.ecb = EVP_CIPHER_CTX_new()))
            return phi_error(NULL, PHICRYPT_ENOMEM, "ff1: out of memory");
        if (pthread_setspecific(raw_slot, k.ecb) != 0) {
            EVP_CIPHER_CTX_free(k.ecb);
            return phi_error(NULL, PHICRYPT_ENOMEM, "ff1: out of memory");
        }
    }
    if (EVP_EncryptInit_ex2(k.ecb, raw_cipher[(key_len - 16) / 8], key, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(k.ecb, 0) != 1)
        rc = phi_error(NULL, PHICRYPT_EINTERNAL, "ff1: OpenSSL could not set up the key");
    else
        rc = ff1(&k, enc, radix, tweak, tweak_len, x, n, out);
    EVP_CIPHER_CTX_reset(k.ecb); /* cleanses the key schedule */
    phi_wipe(k.pre, sizeof k.pre);
    return rc;
}
