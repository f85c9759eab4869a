/* Formats on top of FF1: which bytes are tokenised, over which alphabet,
 * and the cycle-walking that keeps outputs inside a format (SSN rules,
 * mixed-radix domains). Separators stay where they are. Messages name the
 * format, never the value. */
#include <string.h>

#include <openssl/bn.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/token_private.h"

/* Longest value a format accepts; keeps the work buffers on the stack. */
#define FPE_MAX_LEN 256
/* Cycle-walks end after a handful of steps (the valid SSN share is ~89%,
 * a mixed-radix domain fills over half of its power of two); this bound
 * only turns a bug into an error instead of a hang. */
#define FPE_MAX_WALK 100000

static const char *const names[] = {"digits", "ssn", "phone", "mrn", "alnum",
                                    "credit_card", "email", "custom", "email_full"};

int phi_fpe_format_from_name(const char *name, phi_fpe_format *out)
{
    size_t i;
    if (!name || !out)
        return phi_error(NULL, PHICRYPT_EINVAL, "fpe: NULL argument");
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (phi_fpe_format)i;
            return 0;
        }
    return phi_error(NULL, PHICRYPT_EINVAL, "fpe: unknown format name");
}

const char *phi_fpe_format_name(phi_fpe_format f)
{
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }

int phi_ssn_is_valid(const char d[9])
{
    int area = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    int group = (d[3] - '0') * 10 + (d[4] - '0');
    int serial = memcmp(d + 5, "0000", 4) != 0;
    return area != 0 && area != 666 && area < 900 && group != 0 && serial;
}

/* Sum of the Luhn weights of digits[0..n) when the last one is the check
 * digit position (not doubled). */
static int luhn_sum(const char *digits, size_t n)
{
    int sum = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int v = digits[n - 1 - i] - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum;
}

int phi_luhn_is_valid(const char *digits, size_t n)
{
    size_t i;
    if (!digits || n < 2)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_digit(digits[i]))
            return 0;
    return luhn_sum(digits, n) % 10 == 0;
}

/* ---- single-radix formats: gather the tokenised bytes as numerals */

/* num also holds the bits of a mixed-radix value: < 5 bits per byte. */
typedef struct {
    size_t pos[FPE_MAX_LEN];
    uint16_t num[FPE_MAX_LEN * 5];
    size_t n;
    int too_short; /* failed only for the minimum domain */
} gathered;

static int ff1_dir(phi_ff1_key *k, int enc, uint32_t radix, const uint8_t *tw, size_t twl,
                   uint16_t *x, size_t n)
{
    return enc ? phi_ff1_encrypt(k, radix, tw, twl, x, n, x)
               : phi_ff1_decrypt(k, radix, tw, twl, x, n, x);
}

static void ssn_digits(const gathered *g, char d[9])
{
    size_t i;
    for (i = 0; i < 9; i++)
        d[i] = (char)('0' + g->num[i]);
}

/* Class-preserving cycle-walk: valid SSNs map to valid ones and invalid
 * ones to invalid ones, so the walk is a permutation of each class and
 * decryption walks back to the original. */
static int ssn_walk(phi_ff1_key *k, int enc, const uint8_t *tw, size_t twl, gathered *g)
{
    char d[9];
    int cls, steps, rc;

    ssn_digits(g, d);
    cls = phi_ssn_is_valid(d);
    for (steps = 0; steps < FPE_MAX_WALK; steps++) {
        rc = ff1_dir(k, enc, 10, tw, twl, g->num, 9);
        if (rc)
            return rc;
        ssn_digits(g, d);
        if (phi_ssn_is_valid(d) == cls) {
            phi_wipe(d, sizeof d);
            return 0;
        }
    }
    phi_wipe(d, sizeof d);
    return phi_error(NULL, PHICRYPT_EINTERNAL, "fpe ssn: cycle-walk did not end");
}

static int single_radix(phi_ff1_key *k, int enc, phi_fpe_format f, const char *alphabet,
                        const uint8_t *tw, size_t twl, const char *in, size_t len, char *out,
                        gathered *g)
{
    const char *fname = phi_fpe_format_name(f);
    int16_t index[256];
    uint32_t radix = 10;
    size_t i;
    int rc;

    memset(index, 0xff, sizeof index);
    if (f == PHI_FPE_CUSTOM) {
        size_t r = alphabet ? strlen(alphabet) : 0;
        if (r < 2 || r > 256)
            return phi_error(NULL, PHICRYPT_EINVAL, "fpe custom: alphabet must have 2..256 "
                             "symbols");
        for (i = 0; i < r; i++) {
            if (index[(unsigned char)alphabet[i]] >= 0)
                return phi_error(NULL, PHICRYPT_EINVAL, "fpe custom: duplicate alphabet "
                                 "symbol at position %zu", i);
            index[(unsigned char)alphabet[i]] = (int16_t)i;
        }
        radix = (uint32_t)r;
    } else {
        for (i = 0; i < 10; i++)
            index['0' + i] = (int16_t)i;
    }
    g->n = 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int keep;
        /* +1 (North America) stays: a token keeps its country. ITU
         * country codes are prefix-free, so no other code starts with 1. */
        if (f == PHI_FPE_PHONE && i == 1 && in[0] == '+' && c == '1')
            continue;
        if (index[c] >= 0) {
            g->pos[g->n] = i;
            g->num[g->n++] = (uint16_t)index[c];
            continue;
        }
        switch (f) {
        case PHI_FPE_SSN: case PHI_FPE_CREDIT_CARD: keep = c == '-' || c == ' '; break;
        case PHI_FPE_PHONE: keep = c && strchr("+-. ()/", c) != NULL; break;
        default: keep = 0;
        }
        if (!keep)
            return phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: byte at position %zu is not "
                             "allowed in this format", fname, i);
    }
    if (f == PHI_FPE_SSN && g->n != 9)
        return phi_error(NULL, PHICRYPT_EBADDATA, "fpe ssn: value does not have 9 digits");
    if (f == PHI_FPE_CREDIT_CARD) {
        char d[19];
        if (g->n < 12 || g->n > 19)
            return phi_error(NULL, PHICRYPT_EBADDATA, "fpe credit_card: value does not have "
                             "12..19 digits");
        for (i = 0; i < g->n; i++)
            d[i] = (char)('0' + g->num[i]);
        rc = phi_luhn_is_valid(d, g->n);
        phi_wipe(d, sizeof d);
        if (!rc)
            return phi_error(NULL, PHICRYPT_EBADDATA, "fpe credit_card: value fails the Luhn "
                             "check");
    }
    if (!phi_ff1_domain_ok(radix, f == PHI_FPE_CREDIT_CARD ? g->n - 1 : g->n)) {
        g->too_short = 1;
        return phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: value too short for the 1,000,000 "
                         "minimum domain", fname);
    }
    if (f == PHI_FPE_SSN)
        rc = ssn_walk(k, enc, tw, twl, g);
    else
        rc = ff1_dir(k, enc, radix, tw, twl, g->num,
                     f == PHI_FPE_CREDIT_CARD ? g->n - 1 : g->n);
    if (rc)
        return rc;
    if (f == PHI_FPE_CREDIT_CARD) {
        char d[19];
        int sum;
        for (i = 0; i + 1 < g->n; i++)
            d[i] = (char)('0' + g->num[i]);
        d[g->n - 1] = '0';
        sum = luhn_sum(d, g->n);
        g->num[g->n - 1] = (uint16_t)((10 - sum % 10) % 10);
        phi_wipe(d, sizeof d);
    }
    memcpy(out, in, len);
    for (i = 0; i < g->n; i++)
        out[g->pos[i]] = f == PHI_FPE_CUSTOM ? alphabet[g->num[i]] : (char)('0' + g->num[i]);
    return 0;
}

/* ---- mixed-radix formats: letters and digits stay in their class */

static int class_radix(char c)
{
    return is_digit(c) ? 10 : (is_upper(c) || is_lower(c)) ? 26 : 0;
}

static int class_value(char c)
{
    return is_digit(c) ? c - '0' : is_upper(c) ? c - 'A' : c - 'a';
}

static char class_char(char like, int v)
{
    return (char)(is_digit(like) ? '0' + v : is_upper(like) ? 'A' + v : 'a' + v);
}

int phi_fpe_test_force_bn;

__extension__ typedef unsigned __int128 fpe_u128; /* GCC/Clang; -Wpedantic-clean */

/* mixed_radix when the domain fits in 128 bits (values up to ~27
 * tokenised characters, every MRN and e-mail local part in practice): the
 * same steps in machine arithmetic instead of OpenSSL BN (a BN_CTX per
 * value was most of an MRN token's cost). Returns 1 and *rc when it
 * handled the value, 0 when the domain is too large. */
static int mixed_radix_u128(phi_ff1_key *k, int enc, const char *fname, const uint8_t *tw, size_t twl,
                            const char *in, size_t len, char *out, gathered *g, int *rc)
{
    fpe_u128 dom = 1, v = 0, lim, max = ~(fpe_u128)0;
    size_t i, bits = 0;
    int steps;
    for (i = 0; i < g->n; i++) {
        char c = in[g->pos[i]];
        unsigned r = (unsigned)class_radix(c);
        if (dom > max / r)
            return 0;
        dom *= r;
        v = v * r + (unsigned)class_value(c);
    }
    *rc = 0;
    if (dom < PHI_FF1_MIN_DOMAIN) {
        g->too_short = 1; /* tokenize falls back to an opaque token */
        *rc = phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: value too short for the 1,000,000 minimum domain",
                        fname);
        return 1;
    }
    for (lim = dom - 1; lim; lim >>= 1)
        bits++;
    for (steps = 0;; steps++) {
        if (steps == FPE_MAX_WALK) {
            *rc = phi_error(NULL, PHICRYPT_EINTERNAL, "fpe %s: cycle-walk did not end", fname);
            break;
        }
        for (i = 0; i < bits; i++)
            g->num[i] = (uint16_t)((v >> (bits - 1 - i)) & 1);
        if ((*rc = ff1_dir(k, enc, 2, tw, twl, g->num, bits)) != 0)
            break;
        v = 0;
        for (i = 0; i < bits; i++)
            v = (v << 1) | g->num[i];
        if (v < dom)
            break;
    }
    if (*rc == 0) {
        memcpy(out, in, len);
        for (i = g->n; i-- > 0;) {
            char c = in[g->pos[i]];
            unsigned r = (unsigned)class_radix(c);
            out[g->pos[i]] = class_char(c, (int)(v % r));
            v /= r;
        }
    }
    v = 0;
    dom = 0;
    __asm__ __volatile__("" : : "r"(&v), "r"(&dom) : "memory"); /* keep the clears */
    return 1;
}

static int mixed_radix(phi_ff1_key *k, int enc, phi_fpe_format f, const uint8_t *tw,
                       size_t twl, const char *in, size_t len, char *out, gathered *g)
{
    const char *fname = phi_fpe_format_name(f);
    BN_CTX *ctx = NULL;
    BIGNUM *dom, *v = NULL, *lim;
    size_t i, bits;
    int rc = 0, steps;

    g->n = 0;
    for (i = 0; i < len; i++) {
        char c = in[i];
        if (class_radix(c)) {
            g->pos[g->n++] = i;
        } else if (f == PHI_FPE_ALNUM || (unsigned char)c < 0x20 || (unsigned char)c > 0x7e) {
            return phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: byte at position %zu is not "
                             "allowed in this format", fname, i);
        }
    }
    if (!phi_fpe_test_force_bn && mixed_radix_u128(k, enc, fname, tw, twl, in, len, out, g, &rc))
        return rc;
    ctx = BN_CTX_new();
    if (!ctx)
        return phi_error(NULL, PHICRYPT_ENOMEM, "fpe %s: out of memory", fname);
    BN_CTX_start(ctx);
    dom = BN_CTX_get(ctx);
    v = BN_CTX_get(ctx);
    lim = BN_CTX_get(ctx);
    if (!lim)
        goto bn_fail;
    BN_zero(v);
    if (!BN_one(dom) || !BN_set_word(lim, PHI_FF1_MIN_DOMAIN))
        goto bn_fail;
    for (i = 0; i < g->n; i++) {
        char c = in[g->pos[i]];
        if (!BN_mul_word(dom, (BN_ULONG)class_radix(c)) || !BN_mul_word(v, (BN_ULONG)class_radix(c)) ||
            !BN_add_word(v, (BN_ULONG)class_value(c)))
            goto bn_fail;
    }
    if (BN_cmp(dom, lim) < 0) {
        g->too_short = 1;
        rc = phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: value too short for the 1,000,000 "
                       "minimum domain", fname);
        goto done;
    }
    /* FF1 radix 2 over the bits of D - 1, walked back below D. */
    if (!BN_copy(lim, dom) || !BN_sub_word(lim, 1))
        goto bn_fail;
    bits = (size_t)BN_num_bits(lim);
    if (bits > FPE_MAX_LEN * 5) { /* cannot happen: 26 < 2^5 */
        rc = phi_error(NULL, PHICRYPT_EINTERNAL, "fpe %s: value too long", fname);
        goto done;
    }
    for (steps = 0;; steps++) {
        if (steps == FPE_MAX_WALK) {
            rc = phi_error(NULL, PHICRYPT_EINTERNAL, "fpe %s: cycle-walk did not end", fname);
            goto done;
        }
        for (i = 0; i < bits; i++)
            g->num[i] = (uint16_t)BN_is_bit_set(v, (int)(bits - 1 - i));
        rc = ff1_dir(k, enc, 2, tw, twl, g->num, bits);
        if (rc)
            goto done;
        BN_zero(v);
        for (i = 0; i < bits; i++)
            if (g->num[i] && !BN_set_bit(v, (int)(bits - 1 - i)))
                goto bn_fail;
        if (BN_cmp(v, dom) < 0)
            break;
    }
    memcpy(out, in, len);
    for (i = g->n; i-- > 0;) {
        char c = in[g->pos[i]];
        BN_ULONG r = BN_div_word(v, (BN_ULONG)class_radix(c));
        if (r == (BN_ULONG)-1)
            goto bn_fail;
        out[g->pos[i]] = class_char(c, (int)r);
    }
    goto done;
bn_fail:
    rc = phi_error(NULL, PHICRYPT_EINTERNAL, "fpe %s: big-number arithmetic failed", fname);
done:
    if (v)
        BN_clear(v);
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    return rc;
}

int phi_fpe_run(phi_ff1_key *k, int enc, phi_fpe_format f, const char *alphabet,
                const uint8_t *tw, size_t twl, const char *in, size_t len, char *out,
                size_t out_cap, int *too_short)
{
    gathered g;
    int rc;

    g.too_short = 0;
    if (too_short)
        *too_short = 0;
    if (!k || !in || !out || (!tw && twl))
        return phi_error(NULL, PHICRYPT_EINVAL, "fpe: NULL argument");
    if ((unsigned)f > PHI_FPE_EMAIL_FULL)
        return phi_error(NULL, PHICRYPT_EINVAL, "fpe: unknown format %d", (int)f);
    if (out_cap < len + 1)
        return phi_error(NULL, PHICRYPT_EBUFSIZE, "fpe %s: output buffer needs %zu bytes",
                         phi_fpe_format_name(f), len + 1);
    if (len > FPE_MAX_LEN)
        return phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: value longer than %d bytes",
                         phi_fpe_format_name(f), FPE_MAX_LEN);
    if (memchr(in, '\0', len))
        return phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: value contains a NUL byte",
                         phi_fpe_format_name(f));
    switch (f) {
    case PHI_FPE_ALNUM:
    case PHI_FPE_MRN:
        rc = mixed_radix(k, enc, f, tw, twl, in, len, out, &g);
        break;
    case PHI_FPE_EMAIL:
    case PHI_FPE_EMAIL_FULL: {
        const char *at = NULL;
        size_t i, local;
        for (i = 0; i < len; i++)
            if (in[i] == '@')
                at = in + i;
        if (!at || at == in || (size_t)(at - in) + 1 == len) {
            rc = phi_error(NULL, PHICRYPT_EBADDATA, "fpe %s: value is not local@domain",
                           phi_fpe_format_name(f));
            break;
        }
        local = (size_t)(at - in);
        if (f == PHI_FPE_EMAIL_FULL) {
            /* Up to the TLD: the local part and the domain's labels are one
             * value, so a short local part borrows from the domain. */
            for (i = len; i > local + 1 && in[i - 1] != '.'; i--)
                ;
            local = i > local + 1 ? i : len;
        }
        rc = mixed_radix(k, enc, f, tw, twl, in, local, out, &g);
        if (!rc)
            memcpy(out + local, in + local, len - local);
        break;
    }
    default:
        rc = single_radix(k, enc, f, alphabet, tw, twl, in, len, out, &g);
    }
    if (too_short)
        *too_short = g.too_short;
    /* Only what this value used (the struct is 4.6 KB): positions and
     * numerals, at most 5 bits per byte. */
    phi_wipe(g.pos, len * sizeof *g.pos);
    phi_wipe(g.num, 5 * len * sizeof *g.num);
    g.n = 0;
    if (rc)
        phi_wipe(out, len < out_cap ? len : out_cap);
    else
        out[len] = '\0';
    return rc;
}

int phi_fpe_encrypt(phi_ff1_key *k, phi_fpe_format f, const char *alphabet,
                    const uint8_t *tweak, size_t tweak_len, const char *in, size_t in_len,
                    char *out, size_t out_cap)
{
    return phi_fpe_run(k, 1, f, alphabet, tweak, tweak_len, in, in_len, out, out_cap, NULL);
}

int phi_fpe_decrypt(phi_ff1_key *k, phi_fpe_format f, const char *alphabet,
                    const uint8_t *tweak, size_t tweak_len, const char *in, size_t in_len,
                    char *out, size_t out_cap)
{
    return phi_fpe_run(k, 0, f, alphabet, tweak, tweak_len, in, in_len, out, out_cap, NULL);
}
