/* Finding the bytes of a JSON string that need attention, 16 at a time
 * where SSE2 is there (every x86-64), else 8 at a time in a register. */
#ifndef PHI_DEID_SCAN_PRIVATE_H
#define PHI_DEID_SCAN_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline size_t phi_json_plain_tail(const unsigned char *s, size_t n, size_t i, int high)
{
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x20 || c == '"' || c == '\\' || (high && c >= 0x80))
            break;
        i++;
    }
    return i;
}

/* Length of the run at s[0..n) without '"', '\\' or a control character;
 * with `high`, bytes >= 0x80 also end the run (they need UTF-8 checks).
 * Portable version: 8 bytes at a time in a register. */
static inline size_t phi_json_plain_run_swar(const unsigned char *s, size_t n, int high)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t qx = x ^ (ones * '"'), bx = x ^ (ones * '\\');
        /* (v - 1s) & ~v has the high bit set for every zero byte of v (and
         * maybe above one): enough to stop and let the byte loop decide. */
        uint64_t special = ((qx - ones) & ~qx) | ((bx - ones) & ~bx) | ((x - ones * 0x20) & ~x);
        if (high)
            special |= x;
        if (special & highs)
            break;
    }
    return phi_json_plain_tail(s, n, i, high);
}

/* The same, 16 bytes at a time with SSE2 when the compiler has it. */
static inline size_t phi_json_plain_run(const unsigned char *s, size_t n, int high)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\'), c1f = _mm_set1_epi8(0x1f),
                  sp = _mm_set1_epi8(0x20);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, b));
        /* signed: bytes >= 0x80 are negative, so also "less than 0x20" */
        m = _mm_or_si128(m, high ? _mm_cmplt_epi8(x, sp) : _mm_cmpeq_epi8(_mm_min_epu8(x, c1f), x));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
    return phi_json_plain_tail(s, n, i, high);
#else
    return phi_json_plain_run_swar(s, n, high);
#endif
}

#endif
