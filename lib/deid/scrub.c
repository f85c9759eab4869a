/* Free-text scrubbing: finds identifiers in notes and replaces each with a
 * typed placeholder ("[SSN]") or, with a key, a consistent pseudonym
 * ("[SSN:ps1...]"). Hand-written recognisers (not regex) keep it fast and
 * the same on every platform. Recognisers only start at a word boundary. */
#include <stdint.h>
#include <string.h>

#include "core/error_private.h"
#include "deid/deid_private.h"

/* Byte classes and lower-casing by table: every position of the text is
 * classified at least once, so one load beats chains of comparisons. */
enum {
    C_D = 1,  /* digit */
    C_A = 2,  /* ASCII letter */
    C_W = 4,  /* word byte: digit, letter, '_' or not ASCII */
    C_EL = 8, /* e-mail local part: digit, letter, . _ % + - */
    C_ED = 16 /* e-mail domain: digit, letter, - . */
};
#define CLS(c) ((c) >= '0' && (c) <= '9' ? C_D | C_W | C_EL | C_ED \
                : ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ? C_A | C_W | C_EL | C_ED \
                : (c) == '_' ? C_W | C_EL \
                : (c) == '-' || (c) == '.' ? C_EL | C_ED \
                : (c) == '%' || (c) == '+' ? C_EL \
                : (c) >= 0x80 ? C_W : 0)
#define LC(c) ((unsigned char)((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c)))
#define X4(F, c) F(c), F((c) + 1), F((c) + 2), F((c) + 3)
#define X16(F, c) X4(F, c), X4(F, (c) + 4), X4(F, (c) + 8), X4(F, (c) + 12)
#define X64(F, c) X16(F, c), X16(F, (c) + 16), X16(F, (c) + 32), X16(F, (c) + 48)
#define X256(F) X64(F, 0), X64(F, 64), X64(F, 128), X64(F, 192)
static const unsigned char cls[256] = { X256(CLS) };
static const unsigned char lct[256] = { X256(LC) };
#undef CLS
#undef LC
#undef X4
#undef X16
#undef X64
#undef X256

static int is_d(char c) { return (cls[(unsigned char)c] & C_D) != 0; }
static int is_a(char c) { return (cls[(unsigned char)c] & C_A) != 0; }
static int is_w(char c) { return (cls[(unsigned char)c] & C_W) != 0; }
static char lc(char c) { return (char)lct[(unsigned char)c]; }

static size_t digits_at(const char *s, size_t n, size_t i)
{
    size_t k = 0;
    while (i + k < n && is_d(s[i + k]))
        k++;
    return k;
}

/* True when s[i] is not a digit (the end of a number). */
static int num_end(const char *s, size_t n, size_t i) { return i >= n || !is_d(s[i]); }

static size_t m_ssn(const char *s, size_t n, size_t i)
{
    if (digits_at(s, n, i) != 3 || i + 11 > n)
        return 0;
    char sep = s[i + 3];
    if ((sep != '-' && sep != ' ') || digits_at(s, n, i + 4) != 2 || s[i + 6] != sep || digits_at(s, n, i + 7) != 4)
        return 0;
    return 11;
}

static size_t m_phone(const char *s, size_t n, size_t i)
{
    size_t j = i;
    if (j + 2 < n && s[j] == '+' && s[j + 1] == '1') {
        j += 2;
        if (j < n && (s[j] == ' ' || s[j] == '-' || s[j] == '.'))
            j++;
    } else if (j + 1 < n && s[j] == '1' && (s[j + 1] == '-' || s[j + 1] == ' ' || s[j + 1] == '.') &&
               digits_at(s, n, j + 2) == 3) {
        j += 2;
    }
    int paren = 0;
    if (j < n && s[j] == '(') {
        paren = 1;
        j++;
    }
    if (digits_at(s, n, j) != 3)
        return 0;
    j += 3;
    if (paren) {
        if (j >= n || s[j] != ')')
            return 0;
        j++;
        if (j < n && s[j] == ' ')
            j++;
    } else if (j < n && (s[j] == '-' || s[j] == '.' || s[j] == ' ')) {
        j++;
    } else {
        return 0;
    }
    if (digits_at(s, n, j) != 3)
        return 0;
    j += 3;
    if (j < n && (s[j] == '-' || s[j] == '.' || s[j] == ' '))
        j++;
    if (digits_at(s, n, j) != 4)
        return 0;
    j += 4;
    /* An extension ("x123", "ext. 12") belongs to the number. */
    if (j + 1 < n && s[j] == ' ' && (s[j + 1] == 'x' || s[j + 1] == 'X') && digits_at(s, n, j + 2))
        j += 2 + digits_at(s, n, j + 2);
    return j - i;
}

static size_t m_email(const char *s, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && (cls[(unsigned char)s[j]] & C_EL))
        j++;
    if (j == i || j >= n || s[j] != '@')
        return 0;
    size_t at = j++;
    int dots = 0;
    size_t last_ok = 0;
    while (j < n && (cls[(unsigned char)s[j]] & C_ED)) {
        if (s[j] == '.')
            dots++;
        else if (dots)
            last_ok = j + 1;
        j++;
    }
    if (!dots || last_ok <= at + 2)
        return 0;
    return last_ok - i;
}

static int prefix_ci(const char *s, size_t n, size_t i, const char *p)
{
    size_t k = strlen(p);
    if (i + k > n)
        return 0;
    for (size_t t = 0; t < k; t++)
        if (lc(s[i + t]) != p[t])
            return 0;
    return 1;
}

static size_t m_url(const char *s, size_t n, size_t i)
{
    if (!prefix_ci(s, n, i, "http://") && !prefix_ci(s, n, i, "https://") && !prefix_ci(s, n, i, "www.") &&
        !prefix_ci(s, n, i, "ftp://"))
        return 0;
    size_t j = i;
    while (j < n && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '"' && s[j] != '<' && s[j] != '>')
        j++;
    while (j > i && (s[j - 1] == '.' || s[j - 1] == ',' || s[j - 1] == ';' || s[j - 1] == ':' || s[j - 1] == ')' ||
                     s[j - 1] == '!' || s[j - 1] == '?' || s[j - 1] == '\''))
        j--;
    return j - i;
}

static size_t m_ip(const char *s, size_t n, size_t i)
{
    size_t j = i;
    for (int part = 0; part < 4; part++) {
        size_t k = digits_at(s, n, j);
        if (k == 0 || k > 3)
            return 0;
        j += k;
        if (part < 3) {
            if (j >= n || s[j] != '.')
                return 0;
            j++;
        }
    }
    if (j + 1 < n && s[j] == '.' && is_d(s[j + 1]))
        return 0;
    return j - i;
}

/* Month names by length, so that a word is only compared with the names
 * of its own length. */
static const char *const months[] = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", /* 3 */
    "june", "july", "sept",                                                             /* 4 */
    "march", "april",                                                                   /* 5 */
    "august",                                                                           /* 6 */
    "january", "october",                                                               /* 7 */
    "february", "november", "december",                                                 /* 8 */
    "september",                                                                        /* 9 */
};
/* months[month_at[l] .. month_at[l + 1]) have length l. */
static const unsigned char month_at[11] = { 0, 0, 0, 0, 12, 15, 17, 18, 20, 23, 24 };

static size_t alpha_run(const char *s, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && is_a(s[j]))
        j++;
    return j - i;
}

/* Per first letter of a month name, a bit per length (from bit 32) and a
 * bit per second letter of the names that start with it. */
#define LEN(l) ((uint64_t)1 << (32 + (l)))
#define SECOND(c) ((uint64_t)1 << ((c) - 'a'))
static const uint64_t month_gate[26] = {
    ['a' - 'a'] = LEN(3) | LEN(5) | LEN(6) | SECOND('p') | SECOND('u'),
    ['d' - 'a'] = LEN(3) | LEN(8) | SECOND('e'),
    ['f' - 'a'] = LEN(3) | LEN(8) | SECOND('e'),
    ['j' - 'a'] = LEN(3) | LEN(4) | LEN(7) | SECOND('a') | SECOND('u'),
    ['m' - 'a'] = LEN(3) | LEN(5) | SECOND('a'),
    ['n' - 'a'] = LEN(3) | LEN(8) | SECOND('o'),
    ['o' - 'a'] = LEN(3) | LEN(7) | SECOND('c'),
    ['s' - 'a'] = LEN(3) | LEN(4) | LEN(9) | SECOND('e'),
};
#undef LEN
#undef SECOND

/* Whether the run of l letters at s[i] may be a month name: most words are
 * rejected on their length, first and second letters. */
static inline int may_month(const char *s, size_t i, size_t l)
{
    if (l < 3 || l > 9)
        return 0;
    uint64_t g = month_gate[lc(s[i]) - 'a'];
    return (g >> (32 + l) & 1) && (g >> (lc(s[i + 1]) - 'a') & 1);
}

/* The month name that is the whole run of l letters at s[i] ("Sept",
 * "march"), once may_month() said it may be one: l, else 0. A name must
 * not run on into more letters, so only the names of length l can match. */
static size_t month_name(const char *s, size_t i, size_t l)
{
    char c = lc(s[i]);
    for (int m = month_at[l]; m < month_at[l + 1]; m++) {
        const char *name = months[m];
        if (name[0] != c)
            continue;
        size_t t = 1;
        while (t < l && lc(s[i + t]) == name[t])
            t++;
        if (t == l)
            return l;
    }
    return 0;
}

static size_t m_month(const char *s, size_t n, size_t i)
{
    size_t l = alpha_run(s, n, i);
    return may_month(s, i, l) ? month_name(s, i, l) : 0;
}

/* A date that starts with a month name of length m at s[i]: "March 5,
 * 2019", "Mar 5th", "March 2019". */
static size_t m_date_month(const char *s, size_t n, size_t i, size_t m)
{
    size_t j = i + m;
    if (j < n && s[j] == '.')
        j++;
    if (j < n && s[j] == ' ') {
        size_t d = digits_at(s, n, j + 1);
        if (d >= 1 && d <= 2) {
            j += 1 + d;
            if (prefix_ci(s, n, j, "st") || prefix_ci(s, n, j, "nd") || prefix_ci(s, n, j, "rd") ||
                prefix_ci(s, n, j, "th"))
                j += 2;
            size_t e = j;
            if (e < n && s[e] == ',')
                e++;
            if (e < n && s[e] == ' ' && digits_at(s, n, e + 1) == 4)
                j = e + 5;
            return j - i;
        }
        if (d == 4)
            return j + 5 - i;
    }
    return 0;
}

/* A date that starts with k digits at s[i] (k >= 1). */
static size_t m_date(const char *s, size_t n, size_t i, size_t k)
{
    if (k == 4 && i + 10 <= n && (s[i + 4] == '-' || s[i + 4] == '/')) {
        size_t k1 = digits_at(s, n, i + 5);
        if (k1 >= 1 && k1 <= 2) {
            size_t j = i + 5 + k1;
            size_t k2 = j < n && s[j] == s[i + 4] ? digits_at(s, n, j + 1) : 0;
            if (k2 >= 1 && k2 <= 2) {
                j += 1 + k2;
                /* a time that follows is part of it */
                if (j + 6 <= n && (s[j] == 'T' || s[j] == ' ') && digits_at(s, n, j + 1) == 2 && s[j + 3] == ':') {
                    size_t t = j + 1;
                    while (t < n && (is_d(s[t]) || s[t] == ':' || s[t] == '.'))
                        t++;
                    if (t < n && s[t] == 'Z')
                        t++;
                    j = t;
                }
                return j - i;
            }
        }
    }
    if (k > 2)
        return 0;
    if (i + k < n && (s[i + k] == '/' || s[i + k] == '-' || s[i + k] == '.')) {
        char sep = s[i + k];
        size_t k2 = digits_at(s, n, i + k + 1);
        if (k2 >= 1 && k2 <= 2 && i + k + 1 + k2 < n && s[i + k + 1 + k2] == sep) {
            size_t k3 = digits_at(s, n, i + k + 2 + k2);
            if (k3 == 2 || k3 == 4)
                return k + 2 + k2 + k3;
        }
        /* month/year: 03/2019 */
        if (sep == '/' && k2 == 4)
            return k + 1 + k2;
    }
    /* "5 March 2019" */
    if (i + k + 1 < n && s[i + k] == ' ') {
        size_t mm = m_month(s, n, i + k + 1);
        if (mm) {
            size_t j = i + k + 1 + mm;
            if (j < n && s[j] == ' ' && digits_at(s, n, j + 1) == 4)
                j += 5;
            return j - i;
        }
    }
    return 0;
}

/* Ages over 89 ("92-year-old", "age 93", "95 yo"). */
static size_t m_age(const char *s, size_t n, size_t i)
{
    size_t j = i;
    if (prefix_ci(s, n, i, "age ")) {
        j = i + 4;
    }
    size_t k = digits_at(s, n, j);
    if (k < 2 || k > 3)
        return 0;
    int v = 0;
    for (size_t t = 0; t < k; t++)
        v = v * 10 + (s[j + t] - '0');
    if (v < 90 || v > 150)
        return 0;
    size_t e = j + k;
    if (j != i)
        return e - i;
    if (prefix_ci(s, n, e, "-year") || prefix_ci(s, n, e, " year") || prefix_ci(s, n, e, " yo") ||
        prefix_ci(s, n, e, "yo") || prefix_ci(s, n, e, " y/o") || prefix_ci(s, n, e, "-yo"))
        return e - i;
    return 0;
}

/* Identifier-like codes: a word of letters, digits and '-' holding at
 * least five digits (MRNs, account and plan numbers, ZIP codes). */
static size_t m_number(const char *s, size_t n, size_t i, int *zip)
{
    size_t j = i, d = 0;
    while (j < n && (is_d(s[j]) || is_a(s[j]) || (s[j] == '-' && j + 1 < n && is_w(s[j + 1])))) {
        d += is_d(s[j]);
        j++;
    }
    if (d < 5)
        return 0;
    *zip = (j - i == 5 && d == 5) || (j - i == 10 && d == 9 && s[i + 5] == '-');
    return j - i;
}

/* A placeholder's label, with its length. */
typedef struct label {
    const char *p;
    size_t n;
} label;
#define LABEL(lit) ((label){ lit, sizeof lit - 1 })

/* Identifiers chained by their lower-cased first byte, and a bit per hash
 * of their first two bytes: most words share no first two bytes with any
 * identifier and are rejected on one bit. */
typedef struct id_index {
    uint64_t pairs[8];
    int any1; /* an identifier of one byte: no second byte to check */
    int16_t head[256];
    int16_t next[256];
} id_index;

/* A hash of two bytes with their bit 5 set: bytes equal under lc() are
 * then equal (lc() only sets that bit), without a table lookup. */
static unsigned pair_hash(char first, char second)
{
    uint32_t v = ((unsigned char)first | (unsigned)(unsigned char)second << 8) | 0x2020;
    return (v * 2654435761u) >> 23;
}

static void index_ids(const phi_deid_rec *r, id_index *x)
{
    memset(x->head, 0xff, sizeof x->head);
    memset(x->pairs, 0, sizeof x->pairs);
    x->any1 = 0;
    for (size_t t = r->nids; t-- > 0;) {
        const phi_ident *id = &r->ids[t];
        unsigned char c = (unsigned char)id->first;
        x->next[t] = x->head[c];
        x->head[c] = (int16_t)t;
        if (id->n == 1)
            x->any1 = 1;
        else if (id->n > 1) {
            unsigned h = pair_hash(id->first, r->idarena.p[id->off + 1]);
            x->pairs[h >> 6] |= (uint64_t)1 << (h & 63);
        }
    }
}

/* Whether an identifier may start at s[i]: false when m_ident would find none. */
static int may_ident(const id_index *x, const char *s, size_t n, size_t i)
{
    if (i + 1 >= n)
        return x->any1;
    unsigned h = pair_hash(s[i], s[i + 1]);
    return x->any1 || (x->pairs[h >> 6] >> (h & 63) & 1);
}

static uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t load4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* lc() on 8 bytes at once: sets bit 5 of the bytes 'A'..'Z'. */
static uint64_t lower8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, high = ones * 0x80;
    uint64_t low7 = x & ~high;                          /* no carry between bytes below */
    uint64_t ge_a = low7 + ones * (0x80 - 'A');         /* high bit: low7 >= 'A' */
    uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1);     /* high bit: low7 > 'Z' */
    return x | (ge_a & ~gt_z & ~x & high) >> 2;
}

/* All of p[0..len), 0 < len < 8, in one word: two loads that may overlap
 * (the same bytes for a and b, so that the words compare as the bytes do). */
static uint64_t load_short(const char *p, size_t len)
{
    if (len >= 4)
        return load4(p) | load4(p + len - 4) << 32;
    return (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[len / 2] << 8 |
           (uint64_t)(unsigned char)p[len - 1] << 16;
}

/* Whether a[0..len) and b[0..len) are equal under lc(), 8 bytes at a time. */
static int eq_ci(const char *a, const char *b, size_t len)
{
    if (len == 0)
        return 1;
    if (len < 8)
        return lower8(load_short(a, len)) == lower8(load_short(b, len));
    for (size_t k = 0; k + 8 < len; k += 8)
        if (lower8(load8(a + k)) != lower8(load8(b + k)))
            return 0;
    /* the last 8 bytes, which may overlap the block before */
    return lower8(load8(a + len - 8)) == lower8(load8(b + len - 8));
}

static size_t m_ident(const phi_deid_rec *r, const id_index *x, const char *s, size_t n, size_t i, label *lab)
{
    const char *name = NULL;
    size_t best = 0;
    for (int t = x->head[(unsigned char)lc(s[i])]; t >= 0; t = x->next[t]) {
        const phi_ident *id = &r->ids[t];
        if (id->n <= best || i + id->n > n)
            continue;
        const char *v = r->idarena.p + id->off;
        size_t k = id->n; /* the first byte is the index's */
        if (eq_ci(s + i + 1, v + 1, k - 1) && (i + k >= n || !is_w(s[i + k]) || !is_w(v[k - 1]))) {
            best = id->n;
            name = r->idarena.p + id->loff;
        }
    }
    if (best)
        *lab = (label){ name, strlen(name) };
    return best;
}

/* E-mail addresses are only looked for within 64 bytes before an '@';
 * *at caches the next '@' (NULL: none left). */
static int near_at(const char *s, size_t n, size_t i, const char **at)
{
    if (*at && *at < s + i)
        *at = memchr(s + i, '@', n - i);
    return *at && (size_t)(*at - s) - i < 65;
}

/* Whether an e-mail address may start at s[i], whose first `run` bytes
 * are letters or digits: the local part must go on to an '@' that is near
 * (m_email needs both). */
static inline int may_email(const char *s, size_t n, size_t i, size_t run, const char **at)
{
    size_t j = i + run;
    return j < n && (s[j] == '@' || (cls[(unsigned char)s[j]] & C_EL)) && near_at(s, n, i, at);
}

static size_t m_code(const char *s, size_t n, size_t i, label *lab)
{
    int zip = 0;
    size_t m = m_number(s, n, i, &zip);
    *lab = zip ? LABEL("ZIP") : LABEL("MRN");
    return m;
}

/* Recognisers that can start with a digit. Each is only tried when the
 * length k of the run of digits allows it; *kp: that length, for the caller
 * to skip when none matches. */
static size_t at_digit(const char *s, size_t n, size_t i, const char **at, label *lab, size_t *kp)
{
    size_t k = *kp = digits_at(s, n, i), m;
    if (k == 3 && (m = m_ssn(s, n, i)) && num_end(s, n, i + m)) {
        *lab = LABEL("SSN");
        return m;
    }
    if ((k <= 2 || k == 4) && (m = m_date(s, n, i, k)) && num_end(s, n, i + m)) {
        *lab = LABEL("DATE");
        return m;
    }
    if (k <= 3 && (m = m_ip(s, n, i))) {
        *lab = LABEL("IP");
        return m;
    }
    if ((k == 3 || (k == 1 && s[i] == '1')) && (m = m_phone(s, n, i)) && num_end(s, n, i + m)) {
        *lab = LABEL("PHONE");
        return m;
    }
    if ((k == 2 || k == 3) && (m = m_age(s, n, i))) {
        *lab = LABEL("AGE 90+");
        return m;
    }
    if (may_email(s, n, i, k, at) && (m = m_email(s, n, i))) {
        *lab = LABEL("EMAIL");
        return m;
    }
    return m_code(s, n, i, lab);
}

/* Recognisers that can start with a letter; l is the run of letters at
 * s[i] (*lp, for the caller to skip). Most words are none of them, and are
 * rejected on l alone. */
static size_t at_letter(const char *s, size_t n, size_t i, const char **at, label *lab, size_t *lp)
{
    size_t l = *lp = alpha_run(s, n, i), m;
    char c = lc(s[i]);
    /* "http://", "https://", "www." and "ftp://" start with 3 to 5 letters. */
    if ((c == 'h' || c == 'w' || c == 'f') && l >= 3 && l <= 5 && (m = m_url(s, n, i))) {
        *lab = LABEL("URL");
        return m;
    }
    if (may_month(s, i, l) && (m = month_name(s, i, l)) && (m = m_date_month(s, n, i, m))) {
        *lab = LABEL("DATE");
        return m;
    }
    if (c == 'a' && l == 3 && (m = m_age(s, n, i))) {
        *lab = LABEL("AGE 90+");
        return m;
    }
    if (may_email(s, n, i, l, at) && (m = m_email(s, n, i))) {
        *lab = LABEL("EMAIL");
        return m;
    }
    /* A code holds digits: one must follow the letters. */
    if (i + l < n && is_d(s[i + l]))
        return m_code(s, n, i, lab);
    return 0;
}

/* Recognisers that can start with another byte. */
static size_t at_other(const char *s, size_t n, size_t i, const char **at, label *lab)
{
    char c = s[i];
    size_t m;
    if ((c == '(' || c == '+') && (m = m_phone(s, n, i)) && num_end(s, n, i + m)) {
        *lab = LABEL("PHONE");
        return m;
    }
    if ((is_w(c) || c == '.') && may_email(s, n, i, 0, at) && (m = m_email(s, n, i))) {
        *lab = LABEL("EMAIL");
        return m;
    }
    return 0;
}

static int emit(phi_deid_rec *r, const phi_deid_rule *rule, label lab, const char *s, size_t n, phi_sbuf *out)
{
    phi_sbuf_putc(out, '[');
    phi_sbuf_put(out, lab.p, lab.n);
    const char *key = rule->key ? rule->key : r->pol->scrub_key;
    if (key && !rule->preset) {
        phi_sbuf ps = { 0 };
        int rc = phi_act_pseudonym(r, key, "phicrypt.scrub", s, n, &ps);
        if (rc) {
            phi_sbuf_free(&ps);
            return rc;
        }
        phi_sbuf_putc(out, ':');
        phi_sbuf_put(out, ps.p, ps.len);
        phi_sbuf_free(&ps);
    }
    phi_sbuf_putc(out, ']');
    return 0;
}

int phi_scrub(phi_deid_rec *r, const phi_deid_rule *rule, const char *s, size_t n, phi_sbuf *out)
{
    size_t i = 0, run = 0;
    /* Where the next '@' is: e-mail addresses are only looked for near one. */
    const char *at = memchr(s, '@', n);
    id_index x;
    if (r->nids)
        index_ids(r, &x);
    phi_sbuf_reserve(out, n + 16);
    while (i < n) {
        char c = s[i];
        if (c == ' ' || (i > 0 && is_w(s[i - 1]) && c != '(' && c != '+')) {
            i++;
            continue;
        }
        size_t word = 1; /* s[i + 1 .. i + word) are word bytes */
        label lab = { NULL, 0 };
        size_t m = r->nids && may_ident(&x, s, n, i) ? m_ident(r, &x, s, n, i, &lab) : 0;
        if (!m)
            m = is_d(c)   ? at_digit(s, n, i, &at, &lab, &word)
                : is_a(c) ? at_letter(s, n, i, &at, &lab, &word)
                          : at_other(s, n, i, &at, &lab);
        if (!m) {
            /* No identifier starts here: skip the rest of the word. */
            i += word;
            while (i < n && is_w(s[i]))
                i++;
            continue;
        }
        phi_sbuf_put(out, s + run, i - run);
        int rc = emit(r, rule, lab, s + i, m, out);
        if (rc)
            return rc;
        i += m;
        run = i;
    }
    phi_sbuf_put(out, s + run, n - run);
    return out->oom ? phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory") : 0;
}
