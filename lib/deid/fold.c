/* Unicode folding for the text scrub (see fold_private.h). Only text with a
 * byte >= 0x80 is folded: ASCII notes are scanned as they are. */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "deid/fold_private.h"
#include "deid/fold_table.h"

int phi_fold_needed(const char *s, size_t n)
{
    const uint64_t highs = 0x8080808080808080ULL;
    size_t i = 0;
    uint64_t acc = 0;
#if defined(__SSE2__)
    __m128i m = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16)
        m = _mm_or_si128(m, _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
    if (_mm_movemask_epi8(m))
        return 1;
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        acc |= x;
    }
    for (; i < n; i++)
        acc |= (unsigned char)s[i];
    return (acc & highs) != 0;
}

/* The code point at s[i] (*len bytes), or -1 (one byte) when the bytes are
 * not UTF-8. */
static int32_t decode(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    unsigned c = s[i];
    size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    *len = 1;
    if (k == 0 || c > 0xf4 || i + k > n)
        return -1;
    uint32_t cp = c & (0x7f >> k);
    for (size_t t = 1; t < k; t++) {
        if ((s[i + t] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i + t] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp < 0xe000))
        return -1;
    *len = k;
    return (int32_t)cp;
}

/* The ASCII digit of a decimal digit of another script, or -1. */
static int digit_of(uint32_t cp)
{
    size_t lo = 0, hi = sizeof digit_zeros / sizeof digit_zeros[0];
    while (lo < hi) { /* the last zero <= cp */
        size_t mid = (lo + hi) / 2;
        if (digit_zeros[mid] <= cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo && cp - digit_zeros[lo - 1] < 10 ? (int)(cp - digit_zeros[lo - 1]) : -1;
}

/* Small forms U+FE50..U+FE6B as ASCII (' ': none). */
static const char small_forms[] = ", . ;:?!-()    #&*+-<>= \\$%@";

/* What stands for cp in the shadow: an ASCII byte (> 0), 0 to drop it,
 * -1 to look it up in the letter table, -2 to copy it. */
static int fold_cp(uint32_t cp)
{
    if (cp < 0xa0)
        return ' '; /* C1 controls */
    if (cp < 0xc0) {
        switch (cp) {
        case 0xad: return 0;                 /* soft hyphen */
        case 0xab: case 0xbb: return '"';
        case 0xb4: return '\'';
        case 0xb7: return '.';               /* middle dot */
        case 0xaa: case 0xb5: case 0xba: return -2;
        default: return ' ';
        }
    }
    if (cp < 0x250)
        return -1;
    if (cp == 0x2b9 || cp == 0x2bb || cp == 0x2bc || cp == 0x2bd)
        return '\'';
    if ((cp >= 0x300 && cp < 0x370) || (cp >= 0x1ab0 && cp < 0x1b00) || (cp >= 0x1dc0 && cp < 0x1e00) ||
        (cp >= 0x20d0 && cp < 0x2100) || (cp >= 0xfe00 && cp < 0xfe10) || (cp >= 0xfe20 && cp < 0xfe30))
        return 0; /* combining marks, variation selectors */
    if (cp < 0x500)
        return -1;
    if (cp == 0x61c || cp == 0x180e || cp == 0xfeff)
        return 0;
    if (cp == 0x1680)
        return ' ';
    if (cp >= 0x1e00 && cp < 0x2000)
        return -1;
    if (cp >= 0x2000 && cp < 0x2c00) {
        if (cp <= 0x200a || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f)
            return ' ';
        if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f))
            return 0; /* zero-width, direction controls */
        if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2043 || cp == 0x2212)
            return '-';
        if ((cp >= 0x2018 && cp <= 0x201b) || cp == 0x2032 || cp == 0x2035)
            return '\'';
        if ((cp >= 0x201c && cp <= 0x201f) || cp == 0x2033 || cp == 0x2036 || cp == 0x2039 || cp == 0x203a)
            return '"';
        if (cp == 0x2024)
            return '.';
        if (cp == 0x2044 || cp == 0x2215)
            return '/';
        if (cp == 0x2116)
            return '#'; /* numero sign */
        return ' ';
    }
    if (cp >= 0x3000 && cp < 0x3040)
        return cp == 0x3002 ? '.' : ' ';
    if (cp >= 0xfe50 && cp < 0xfe50 + sizeof small_forms - 1)
        return small_forms[cp - 0xfe50];
    if (cp >= 0xff01 && cp <= 0xff5e)
        return (int)(cp - 0xfee0); /* fullwidth ASCII */
    if (cp == 0xff61)
        return '.';
    return -2;
}

#define PUT_MAP(i) (map ? (void)(map[j] = (uint32_t)(i)) : (void)0)

size_t phi_fold_shadow(const char *s, size_t n, char *t, uint32_t *map)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, j = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            PUT_MAP(i);
            t[j++] = s[i++];
            continue;
        }
        size_t len;
        int32_t cp = decode(u, n, i, &len);
        int f = cp < 0 ? -2 : fold_cp((uint32_t)cp);
        if (f == -2 && cp >= 0) {
            int d = digit_of((uint32_t)cp);
            if (d >= 0)
                f = '0' + d;
        }
        if (f > 0) {
            PUT_MAP(i);
            t[j++] = (char)f;
        } else if (f == -1) {
            const unsigned char *to = NULL;
            for (size_t r = 0; r < sizeof fold_ranges / sizeof fold_ranges[0]; r++)
                if ((uint32_t)cp >= fold_ranges[r].lo && (uint32_t)cp < fold_ranges[r].hi)
                    to = fold_ranges[r].to[cp - (int32_t)fold_ranges[r].lo];
            if (to && to[0]) {
                /* never longer than the code point (checked by the generator) */
                for (size_t k = 0; k < 4 && to[k]; k++) {
                    PUT_MAP(i);
                    t[j++] = (char)to[k];
                }
            } else {
                for (size_t k = 0; k < len; k++) {
                    PUT_MAP(i);
                    t[j++] = s[i + k];
                }
            }
        } else if (f == -2) {
            for (size_t k = 0; k < len; k++) {
                PUT_MAP(i);
                t[j++] = s[i + k];
            }
        }
        i += len;
    }
    if (map)
        map[j] = (uint32_t)n;
    return j;
}

/* Whether one of the 8 bytes of x is b. */
static uint64_t has_byte(uint64_t x, unsigned char b)
{
    const uint64_t ones = 0x0101010101010101ULL;
    uint64_t y = x ^ (ones * b);
    return (y - ones) & ~y & (ones * 0x80);
}

size_t phi_fold_ident(const char *s, size_t n, char *out)
{
    /* ASCII without apostrophes (the common case): a copy, 8 bytes checked
     * at a time. The scrub compares it ignoring ASCII case. */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if ((x & 0x8080808080808080ULL) || has_byte(x, '\'') || has_byte(x, '`'))
            break;
    }
    while (i < n && (unsigned char)s[i] < 0x80 && s[i] != '\'' && s[i] != '`')
        i++;
    if (i == n) {
        memcpy(out, s, n);
        return n;
    }
    size_t tn = phi_fold_needed(s, n) ? phi_fold_shadow(s, n, out, NULL) : (memcpy(out, s, n), n), k = 0;
    for (i = 0; i < tn; i++)
        if (out[i] != '\'' && out[i] != '`')
            out[k++] = out[i];
    return k;
}
