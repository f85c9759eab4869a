/* Free-text scrubbing: finds identifiers in notes and replaces each with a
 * typed placeholder ("[SSN]") or, with a key, a consistent pseudonym
 * ("[SSN:ps1...]"). Hand-written recognisers (not regex) keep it fast and
 * the same on every platform. Recognisers only start at a word boundary. */
#include <stdint.h>
#include <string.h>

#include "core/error_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/fold_private.h"

/* Byte classes and lower-casing by table: every position of the text is
 * classified at least once, so one load beats chains of comparisons. */
enum {
    C_D = 1,  /* digit */
    C_A = 2,  /* ASCII letter */
    C_W = 4,  /* word byte: digit, letter or not ASCII ('_' splits jose_nunez) */
    C_EL = 8, /* e-mail local part: digit, letter, . _ % + - */
    C_ED = 16, /* e-mail domain: digit, letter, - . */
    C_F = 32   /* an identifier holding it must be folded: not ASCII, ' or ` */
};
#define CLS(c) ((c) >= '0' && (c) <= '9' ? C_D | C_W | C_EL | C_ED \
                : ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ? C_A | C_W | C_EL | C_ED \
                : (c) == '_' ? C_EL \
                : (c) == '-' || (c) == '.' ? C_EL | C_ED \
                : (c) == '%' || (c) == '+' ? C_EL \
                : (c) >= 0x80 ? C_W | C_F \
                : (c) == '\'' || (c) == '`' ? C_F : 0)
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

/* A placeholder's label, with its length. */
typedef struct label {
    const char *p;
    size_t n;
    size_t keep; /* bytes of the match kept before the placeholder ("MRN: ") */
} label;
#define LABEL(lit) ((label){ lit, sizeof lit - 1, 0 })

static int is_cap(char c) { return c >= 'A' && c <= 'Z'; }
static int is_an(char c) { return (cls[(unsigned char)c] & (C_D | C_A)) != 0; }

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

/* The word p (lower case, k bytes) at s[i], not running on into more letters. */
static size_t word_ci_n(const char *s, size_t n, size_t i, const char *p, size_t k)
{
    if (i + k > n || lc(s[i]) != p[0])
        return 0;
    for (size_t t = 1; t < k; t++)
        if (lc(s[i + t]) != p[t])
            return 0;
    return i + k >= n || !is_a(s[i + k]) ? k : 0;
}
#define word_ci(s, n, i, lit) word_ci_n(s, n, i, lit, sizeof lit - 1)

/* The value of the k <= 3 digits at s[i]. */
static int num_val(const char *s, size_t i, size_t k)
{
    int v = 0;
    for (size_t t = 0; t < k; t++)
        v = v * 10 + (s[i + t] - '0');
    return v;
}

/* Up to two spaces at s[j]. */
static size_t spaces2(const char *s, size_t n, size_t j)
{
    size_t k = 0;
    while (k < 2 && j + k < n && s[j + k] == ' ')
        k++;
    return k;
}

/* A separator between two groups of digits: up to two spaces, at most one
 * byte of `puncts`, up to two spaces ("-", " - ", ".", " "): its length (0:
 * none) and the punctuation, or ' ', in *p. */
static size_t gsep(const char *s, size_t n, size_t j, const char *puncts, char *p)
{
    size_t k = spaces2(s, n, j);
    *p = ' ';
    if (j + k < n && s[j + k] && strchr(puncts, s[j + k])) {
        *p = s[j + k];
        k++;
        k += spaces2(s, n, j + k);
    }
    return k;
}

/* 123-45-6789, 123.45.6789, 123 45 6789, 123 - 45 - 6789 (three digits at s[i]). */
static size_t m_ssn(const char *s, size_t n, size_t i)
{
    char p1, p2;
    size_t j = i + 3, k = gsep(s, n, j, "-.", &p1);
    if (!k || digits_at(s, n, j + k) != 2)
        return 0;
    j += k + 2;
    size_t k2 = gsep(s, n, j, "-.", &p2);
    if (!k2 || p2 != p1 || digits_at(s, n, j + k2) != 4)
        return 0;
    return j + k2 + 4 - i;
}

/* An extension after a phone number ending at s[j]: " x123", " ext. 45",
 * ", extension 9", " #12": its length, or 0. */
static size_t m_ext(const char *s, size_t n, size_t j)
{
    size_t k = j + spaces2(s, n, j);
    if (k >= n || (s[k] != ',' && lc(s[k]) != 'e' && lc(s[k]) != 'x' && s[k] != '#'))
        return 0;
    if (k < n && s[k] == ',')
        k += 1 + spaces2(s, n, k + 1);
    size_t w = word_ci(s, n, k, "extension");
    if (!w && prefix_ci(s, n, k, "ext"))
        w = 3;
    if (!w && k < n && (s[k] == 'x' || s[k] == 'X' || s[k] == '#'))
        w = 1;
    if (!w)
        return 0;
    k += w;
    if (k < n && (s[k] == '.' || s[k] == ':'))
        k++;
    k += spaces2(s, n, k);
    size_t d = digits_at(s, n, k);
    return d >= 1 && d <= 6 ? k + d - j : 0;
}

/* North American numbers: (617) 432-0100, 617.432.0100, 1-800-555-0100,
 * +1 617 432 0100, with an extension. */
static size_t m_phone(const char *s, size_t n, size_t i)
{
    size_t j = i, k;
    char p;
    if (j + 2 < n && s[j] == '+' && s[j + 1] == '1' && !is_d(s[j + 2])) {
        j += 2;
        j += gsep(s, n, j, "-.", &p);
    } else if (s[j] == '1' && (k = gsep(s, n, j + 1, "-.", &p)) &&
               (digits_at(s, n, j + 1 + k) == 3 || (j + 1 + k < n && s[j + 1 + k] == '('))) {
        j += 1 + k;
    }
    int paren = j < n && s[j] == '(';
    j += (size_t)paren;
    if (digits_at(s, n, j) != 3)
        return 0;
    j += 3;
    if (paren) {
        if (j >= n || s[j] != ')')
            return 0;
        j++;
        j += gsep(s, n, j, "-.", &p);
    } else if ((k = gsep(s, n, j, "-./)", &p))) {
        j += k;
    } else {
        return 0;
    }
    if (digits_at(s, n, j) != 3)
        return 0;
    j += 3;
    j += gsep(s, n, j, "-.", &p);
    if (digits_at(s, n, j) != 4)
        return 0;
    j += 4;
    if (j < n && is_d(s[j]))
        return 0;
    return j + m_ext(s, n, j) - i;
}

/* Groups of digits at s[i], each after one separator (gsep with `puncts`),
 * a group may be in brackets ("+44 (0)20 ..."). */
typedef struct groups {
    size_t end, digits, count, minlen; /* minlen: the shortest group */
} groups;

static void m_groups(const char *s, size_t n, size_t i, const char *puncts, groups *g)
{
    size_t j = i;
    memset(g, 0, sizeof *g);
    g->minlen = (size_t)-1;
    while (g->digits <= 24) {
        int par = g->count && j < n && s[j] == '(';
        j += (size_t)par;
        size_t d = digits_at(s, n, j);
        if (!d || (par && (j + d >= n || s[j + d] != ')')))
            break;
        j += d + (size_t)par;
        g->digits += d;
        g->count++;
        if (d < g->minlen)
            g->minlen = d;
        g->end = j;
        char p;
        size_t k = gsep(s, n, j, puncts, &p);
        if (!k && !(par && j < n && is_d(s[j])) && !(j < n && s[j] == '('))
            break;
        j += k;
    }
}

/* A number written in groups: international phones (+44 20 7946 0958,
 * 0044 ..., 020 7946 0958), card and account numbers (4111 1111 1111 1111). */
static size_t m_grouped(const char *s, size_t n, size_t i, label *lab);

/* An IPv6 address (2001:db8::1, fe80::1%eth0) or a MAC address
 * (00:1a:2b:3c:4d:5e): its length, with *mac set for the latter. */
static int is_hex(char c) { return is_d(c) || (lc(c) >= 'a' && lc(c) <= 'f'); }

static size_t m_ipv6(const char *s, size_t n, size_t i, int *mac)
{
    size_t j = i, ng = 0, colons = 0, two = 0, end = i;
    int dbl = 0;
    for (;;) {
        size_t h = 0;
        while (j + h < n && is_hex(s[j + h]))
            h++;
        if (h > 4)
            return 0;
        if (h) {
            ng++;
            two += h == 2;
            j += h;
            end = j;
        }
        if (j + 1 < n && s[j] == ':' && s[j + 1] == ':' && !dbl) {
            dbl = 1;
            colons += 2;
            j += 2;
            end = j;
            continue;
        }
        if (colons > 7) /* at most 7 (and no rescan of a long "1:1:1...") */
            return 0;
        if (j + 1 < n && s[j] == ':' && is_hex(s[j + 1])) {
            colons++;
            j++;
            continue;
        }
        break;
    }
    if (end < n && (is_w(s[end]) || s[end] == ':'))
        return 0;
    *mac = !dbl && colons == 5 && ng == 6 && two == 6;
    if (*mac || (dbl && ng >= 2 && colons <= 7) || (!dbl && colons == 7 && ng == 8)) {
        if (end + 1 < n && s[end] == '%' && is_an(s[end + 1])) { /* a zone */
            end++;
            while (end < n && is_an(s[end]))
                end++;
        }
        return end - i;
    }
    return 0;
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


/* The end of a URL's path from s[j]: up to a space, quote or bracket, less
 * the punctuation that ends a sentence. */
static size_t url_end(const char *s, size_t n, size_t i, size_t j)
{
    while (j < n && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '"' && s[j] != '<' && s[j] != '>')
        j++;
    while (j > i && (s[j - 1] == '.' || s[j - 1] == ',' || s[j - 1] == ';' || s[j - 1] == ':' || s[j - 1] == ')' ||
                     s[j - 1] == '!' || s[j - 1] == '?' || s[j - 1] == '\''))
        j--;
    return j;
}

/* Top-level domains that make a bare name a host ("example.org"); any other
 * needs a path or a port after it ("portal.example.zz/p/1"). */
static const char tlds[] = " com org net edu gov mil int io co us uk ca au de fr nl eu info biz me health care "
                           "app dev ai ly tv in ch se no es it jp cn ru br mx nz ie be at dk fi pl pt za kr online "
                           "site xyz clinic hospital ";

/* A host name without a scheme: "portal.example.org/p/1", "x.org". */
static size_t m_host(const char *s, size_t n, size_t i)
{
    size_t j = i, dots = 0, last = i;
    for (;;) {
        last = j;
        /* DNS limits (labels of 63, names of 253 bytes) also keep a long
         * run of "a-a-a..." from being scanned again at each word */
        while (j < n && (is_an(s[j]) || s[j] == '-'))
            if (++j - last > 63 || j - i > 253)
                return 0;
        if (j + 1 < n && s[j] == '.' && is_an(s[j + 1]) && j > last) {
            dots++;
            j++;
            continue;
        }
        break;
    }
    size_t tl = j - last;
    if (!dots || tl < 2 || tl > 24 || (j < n && (s[j] == '@' || is_w(s[j]))))
        return 0;
    char tld[28];
    tld[0] = ' ';
    for (size_t t = 0; t < tl; t++) {
        if (!is_a(s[last + t]))
            return 0;
        tld[1 + t] = lc(s[last + t]);
    }
    tld[1 + tl] = ' ';
    tld[2 + tl] = 0;
    int path = j + 1 < n && (s[j] == '/' || (s[j] == ':' && is_d(s[j + 1])));
    if (path)
        return url_end(s, n, i, j) - i;
    return strstr(tlds, tld) ? j - i : 0;
}

static size_t m_url(const char *s, size_t n, size_t i)
{
    if (!prefix_ci(s, n, i, "http://") && !prefix_ci(s, n, i, "https://") && !prefix_ci(s, n, i, "www.") &&
        !prefix_ci(s, n, i, "ftp://"))
        return 0;
    return url_end(s, n, i, i) - i;
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


/* "st", "nd", "rd", "th" after a day number at s[j]: 2, else 0. */
static size_t ordinal(const char *s, size_t n, size_t j)
{
    char c = j < n ? lc(s[j]) : 0;
    if (c != 's' && c != 'n' && c != 'r' && c != 't')
        return 0;
    return word_ci(s, n, j, "st") || word_ci(s, n, j, "nd") || word_ci(s, n, j, "rd") || word_ci(s, n, j, "th") ? 2
                                                                                                            : 0;
}

/* A year after a date's day or month ending at s[j]: ", 2019", " 2019",
 * "-71", "/1971": the new end, or j. */
static size_t year_after(const char *s, size_t n, size_t j, int two_digits)
{
    size_t e = j;
    if (e < n && s[e] == ',')
        e++;
    if (e < n && (s[e] == ' ' || s[e] == '-' || s[e] == '/' || s[e] == '.'))
        e++;
    else if (e == j)
        return j;
    if (e + 3 <= n && s[e] == '\'' && digits_at(s, n, e + 1) == 2) /* Jan '20 */
        return e + 3;
    size_t d = digits_at(s, n, e);
    /* not the start of another date: "5th March, 2020.03.05" */
    if (e + d + 1 < n && (s[e + d] == '.' || s[e + d] == '-' || s[e + d] == '/') && is_d(s[e + d + 1]))
        return j;
    if (d == 4 || (two_digits && d == 2 && s[e - 1] != ' '))
        return e + d;
    return j;
}

/* A date that starts with a month name of length m at s[i]: "March 5,
 * 2019", "Mar 7th", "March 2019", "March, 2019", "Mar-07-1971", "Sept. 5". */
static size_t m_date_month(const char *s, size_t n, size_t i, size_t m)
{
    size_t j = i + m;
    if (j < n && s[j] == '.')
        j++;
    if (j + 1 < n && (s[j] == ' ' || s[j] == '-' || s[j] == '/') && is_d(s[j + 1])) {
        size_t d = digits_at(s, n, j + 1);
        if (d >= 1 && d <= 2) {
            j += 1 + d;
            j += ordinal(s, n, j);
            return year_after(s, n, j, s[i + m] != ' ') - i;
        }
        if (d == 4)
            return j + 5 - i;
        return 0;
    }
    size_t e = year_after(s, n, j, 0);
    return e > j ? e - i : 0;
}

/* Whether a/b may be a day and a month, either way round. */
static int day_month(int a, int b)
{
    return a >= 1 && b >= 1 && ((a <= 12 && b <= 31) || (b <= 12 && a <= 31));
}

/* A date that starts with k digits at s[i] (k >= 1). */
static size_t m_date(const char *s, size_t n, size_t i, size_t k)
{
    if (k == 4 && i + 6 <= n && (s[i + 4] == '-' || s[i + 4] == '/' || s[i + 4] == '.')) {
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
    char sep = i + k < n ? s[i + k] : 0;
    if (sep == '/' || sep == '-' || sep == '.') {
        size_t k2 = digits_at(s, n, i + k + 1);
        if (k2 >= 1 && k2 <= 2 && i + k + 1 + k2 < n && s[i + k + 1 + k2] == sep) {
            size_t k3 = digits_at(s, n, i + k + 2 + k2);
            if (k3 == 2 || k3 == 4)
                return k + 2 + k2 + k3;
        }
        /* month/year: 03/2019, 03-2019 */
        if (sep != '.' && k2 == 4)
            return k + 1 + k2;
        /* month and day: 3/5, 03-05 (a "3-5" is more often a range) */
        if (((sep == '/' && k2 >= 1 && k2 <= 2) || (sep == '-' && k == 2 && k2 == 2)) &&
            day_month(num_val(s, i, k), num_val(s, i + k + 1, k2)) && num_end(s, n, i + k + 1 + k2) &&
            !(i + k + 1 + k2 + 1 < n && s[i + k + 1 + k2] == sep && is_d(s[i + k + 2 + k2])))
            return k + 1 + k2;
    }
    /* "5 March 2019", "5th March", "5th of March", "02-Mar-1971", "02Mar71" */
    size_t j = i + k;
    j += ordinal(s, n, j);
    if (j < n && (s[j] == ' ' || s[j] == '-' || s[j] == '/' || s[j] == '.'))
        j++;
    if (j > i + k && word_ci(s, n, j, "of") && j + 2 < n && s[j + 2] == ' ')
        j += 3;
    size_t mm = j < n && is_a(s[j]) ? m_month(s, n, j) : 0;
    if (!mm || num_val(s, i, k) < 1 || num_val(s, i, k) > 31)
        return 0;
    j += mm;
    if (j < n && s[j] == '.' && j + 1 < n && s[j + 1] != ' ')
        j++;
    if (j < n && is_d(s[j])) { /* 02Mar1971 */
        size_t d = digits_at(s, n, j);
        return d == 2 || d == 4 ? j + d - i : j - i;
    }
    return year_after(s, n, j, s[i + k] != ' ') - i;
}

/* A unit of age after a number ending at s[e]: " years", "-year", "yo",
 * " y.o.", " y/o", "yrs", "y". */
static int age_unit(const char *s, size_t n, size_t e)
{
    size_t j = e;
    if (j < n && (s[j] == ' ' || s[j] == '-'))
        j++;
    if (j >= n || lc(s[j]) != 'y')
        return 0;
    size_t l = alpha_run(s, n, j);
    if (l == 1)
        return j + 1 >= n || !is_d(s[j + 1]);
    static const char *const units[] = { "yo", "yr", "yrs", "year", "years", "yoa", "yold", "yearold", "yearsold" };
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
        if (strlen(units[u]) == l && prefix_ci(s, n, j, units[u]))
            return 1;
    return 0;
}

static const char *const num_words[] = { "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                                         "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty",
                                         "sixty", "seventy", "eighty", "ninety" };

/* A number word at s[j] ("two", "ninety"): its length, *v its index. */
static size_t num_word(const char *s, size_t n, size_t j, size_t *v)
{
    for (size_t t = 0; t < sizeof num_words / sizeof num_words[0]; t++) {
        size_t l = word_ci_n(s, n, j, num_words[t], strlen(num_words[t]));
        if (l) {
            *v = t;
            return l;
        }
    }
    return 0;
}

/* A number of 90 or more in words at s[i]: "ninety", "ninety-two",
 * "ninetytwo", "one hundred", "a hundred and one". */
static size_t m_spelled(const char *s, size_t n, size_t i)
{
    size_t j = i, v;
    if (prefix_ci(s, n, j, "ninety")) {
        j += 6;
        size_t sep = j < n && (s[j] == '-' || s[j] == ' ') ? 1 : 0, l = num_word(s, n, j + sep, &v);
        if (l && v < 9)
            j += sep + l;
        else if (j < n && is_a(s[j]))
            return 0;
        return j - i;
    }
    size_t a = word_ci(s, n, j, "one") ? 4 : word_ci(s, n, j, "a") ? 2 : 0;
    if (a && j + a <= n && s[j + a - 1] == ' ')
        j += a;
    if (!word_ci(s, n, j, "hundred"))
        return 0;
    j += 7;
    size_t e = j;
    if (prefix_ci(s, n, e, " and "))
        e += 5;
    else if (e < n && (s[e] == ' ' || s[e] == '-'))
        e++;
    size_t l = e > j ? num_word(s, n, e, &v) : 0;
    if (l) {
        j = e + l;
        if (v >= 19 && j + 1 < n && (s[j] == '-' || s[j] == ' ') && (l = num_word(s, n, j + 1, &v)) && v < 9)
            j += 1 + l;
    }
    return j - i;
}

/* An age of 90 or more in digits at s[j] (k of them): k, else 0. */
static size_t age_digits(const char *s, size_t n, size_t j)
{
    size_t k = digits_at(s, n, j);
    if (k < 2 || k > 3)
        return 0;
    int v = num_val(s, j, k);
    return v >= 90 && v <= 150 ? k : 0;
}

/* "92-year-old", "95yo", "93 y.o.", "97 yrs", "ninety-one years": the
 * number, when what follows makes it an age. */
static size_t m_age(const char *s, size_t n, size_t i)
{
    size_t k = is_d(s[i]) ? age_digits(s, n, i) : m_spelled(s, n, i);
    return k && age_unit(s, n, i + k) ? k : 0;
}

/* "age 93", "aged 95", "age: 94", "age of ninety-two" (the word has l
 * letters): the whole, with *keep the bytes before the number. */
static size_t m_age_of(const char *s, size_t n, size_t i, size_t l, size_t *keep)
{
    if (!(l == 3 && prefix_ci(s, n, i, "age")) && !(l == 4 && (prefix_ci(s, n, i, "aged") || prefix_ci(s, n, i, "ages"))))
        return 0;
    size_t j = i + l;
    while (j < n && j - i - l < 4 && (s[j] == ' ' || s[j] == ':' || s[j] == '=' || s[j] == '~'))
        j++;
    if (word_ci(s, n, j, "of") && j + 2 < n && s[j + 2] == ' ')
        j += 3;
    if (j == i + l || j >= n)
        return 0;
    size_t k = is_d(s[j]) ? age_digits(s, n, j) : m_spelled(s, n, j);
    if (!k || (j + k < n && is_an(s[j + k])))
        return 0;
    *keep = j - i;
    return j + k - i;
}

/* Words after which the next code is an identifier whatever its length
 * ("MRN: 123", "plate 7ABC123", "license no. D1234"), by kind. */
enum { K_MRN, K_SSN, K_ACCOUNT, K_ID, K_VEHICLE, K_LICENSE, K_DEVICE };
static const label kind_labels[] = {
    [K_MRN] = { "MRN", 3 },         [K_SSN] = { "SSN", 3 },         [K_ACCOUNT] = { "ACCOUNT", 7 },
    [K_ID] = { "ID", 2 },           [K_VEHICLE] = { "VEHICLE", 7 }, [K_LICENSE] = { "LICENSE", 7 },
    [K_DEVICE] = { "DEVICE", 6 },
};
/* With `strict`, the code must come after "#", ":" or "number" ("record
 * #12", not "record 3 visits"). */
static const struct keyword {
    const char *w;
    unsigned char len, kind, strict;
} keywords[] = {
#define KW(w, kind, strict) { w, sizeof w - 1, kind, strict }
    KW("acct", K_ACCOUNT, 0), KW("account", K_ACCOUNT, 0),                                  /* 0 */
    KW("beneficiary", K_ID, 1),                                                             /* 2 */
    KW("chart", K_MRN, 1), KW("claim", K_ACCOUNT, 1), KW("certificate", K_LICENSE, 1),
    KW("cert", K_LICENSE, 1),                                                               /* 3 */
    KW("dl", K_LICENSE, 1), KW("dea", K_LICENSE, 0), KW("device", K_DEVICE, 1),             /* 7 */
    KW("id", K_ID, 0), KW("imei", K_DEVICE, 0),                                             /* 10 */
    KW("license", K_LICENSE, 0), KW("licence", K_LICENSE, 0), KW("lic", K_LICENSE, 0),      /* 12 */
    KW("mrn", K_MRN, 0), KW("mr", K_MRN, 1), KW("member", K_ID, 1), KW("medicaid", K_ID, 0),
    KW("medicare", K_ID, 0),                                                                /* 15 */
    KW("npi", K_ID, 0),                                                                     /* 20 */
    KW("policy", K_ID, 1), KW("passport", K_ID, 0), KW("plate", K_VEHICLE, 0),
    KW("plates", K_VEHICLE, 0),                                                             /* 21 */
    KW("record", K_MRN, 1), KW("registration", K_VEHICLE, 1),                               /* 25 */
    KW("ssn", K_SSN, 0), KW("subscriber", K_ID, 1), KW("serial", K_DEVICE, 0),
    KW("sn", K_DEVICE, 1),                                                                  /* 27 */
    KW("vin", K_VEHICLE, 0),                                                                /* 31 */
    KW("", 0, 0),
#undef KW
};
/* Where the keywords of each first letter start in keywords[]. */
static const unsigned char keyword_from[26] = {
    ['a' - 'a'] = 0,  ['b' - 'a'] = 2,  ['c' - 'a'] = 3,  ['d' - 'a'] = 7,  ['i' - 'a'] = 10, ['l' - 'a'] = 12,
    ['m' - 'a'] = 15, ['n' - 'a'] = 20, ['p' - 'a'] = 21, ['r' - 'a'] = 25, ['s' - 'a'] = 27, ['v' - 'a'] = 31,
};
/* Per first letter, a bit per length of the keywords that start with it:
 * most words are rejected on it. */
#define B(l) (1u << (l))
static const uint32_t keyword_gate[26] = {
    ['a' - 'a'] = B(4) | B(7), ['b' - 'a'] = B(11), ['c' - 'a'] = B(4) | B(5) | B(11),
    ['d' - 'a'] = B(2) | B(3) | B(6), ['i' - 'a'] = B(2) | B(4), ['l' - 'a'] = B(3) | B(7),
    ['m' - 'a'] = B(2) | B(3) | B(6) | B(8), ['n' - 'a'] = B(3), ['p' - 'a'] = B(5) | B(6) | B(8),
    ['r' - 'a'] = B(6) | B(12), ['s' - 'a'] = B(2) | B(3) | B(6) | B(10), ['v' - 'a'] = B(3),
};
#undef B

/* "number", "no.", "#", ":" ... between a keyword and its code, from s[j];
 * *marked: one of them (not only spaces) was there. */
static size_t keyword_sep(const char *s, size_t n, size_t j, int *marked, int *plate)
{
    size_t e = j;
    *marked = 0;
    for (int round = 0; round < 4 && e < n; round++) {
        size_t w = 0;
        while (e < n && (s[e] == ' ' || s[e] == ':' || s[e] == '#' || s[e] == '=' || s[e] == '-')) {
            *marked |= s[e] != ' ';
            e++;
        }
        if ((w = word_ci(s, n, e, "number")) || (w = word_ci(s, n, e, "no")) || (w = word_ci(s, n, e, "nbr")) ||
            (w = word_ci(s, n, e, "num")) || (w = word_ci(s, n, e, "is")) || (w = word_ci(s, n, e, "id")) ||
            (w = word_ci(s, n, e, "plate")) || (w = word_ci(s, n, e, "of"))) {
            *plate |= w == 5 && lc(s[e]) == 'p';
            *marked |= !(w == 2 && (prefix_ci(s, n, e, "is") || prefix_ci(s, n, e, "of")));
            e += w;
            if (e < n && s[e] == '.')
                e++;
            continue;
        }
        break;
    }
    return e;
}

/* A code after a keyword at s[i] of l letters: the whole, with *keep the
 * bytes before the code. */
static size_t m_keyword(const char *s, size_t n, size_t i, size_t l, size_t *keep, label *lab)
{
    if (l >= 32 || !(keyword_gate[lc(s[i]) - 'a'] >> l & 1))
        return 0;
    const struct keyword *kw = NULL;
    for (size_t k = keyword_from[lc(s[i]) - 'a']; keywords[k].w[0] == lc(s[i]) && !kw; k++)
        if (keywords[k].len == l && word_ci_n(s, n, i, keywords[k].w, l))
            kw = &keywords[k];
    if (!kw)
        return 0;
    int marked, plate = 0;
    size_t j = keyword_sep(s, n, i + l, &marked, &plate);
    int kind = plate ? K_VEHICLE : kw->kind;
    if (j == i + l || j >= n || !is_an(s[j]) || (kw->strict && !marked))
        return 0;
    /* The code: letters, digits and inner '-', '/' or '.'; with a digit,
     * or (vehicles) in capitals. */
    size_t e = j, d = 0, low = 0;
    for (;;) {
        while (e < n && is_an(s[e])) {
            d += is_d(s[e]);
            low += s[e] >= 'a' && s[e] <= 'z';
            e++;
        }
        if (e + 1 < n && (s[e] == '-' || s[e] == '/' || s[e] == '.') && is_an(s[e + 1])) {
            e++;
            continue;
        }
        /* "AB12 CDE", "ABC 1234": a plate in two parts */
        if (kind == K_VEHICLE && !low && e - j <= 4 && e + 1 < n && s[e] == ' ' && is_an(s[e + 1])) {
            size_t f = e + 1, fl = 0;
            while (f < n && is_an(s[f]) && !(s[f] >= 'a' && s[f] <= 'z'))
                f++, fl++;
            if (fl >= 1 && fl <= 4 && (f >= n || !is_w(s[f]))) {
                for (size_t t = e + 1; t < f; t++)
                    d += is_d(s[t]);
                e = f;
            }
        }
        break;
    }
    if (e < n && is_w(s[e]))
        return 0;
    /* a plate has two characters or more ("growth plate 2 cm" stays); a
     * device serial may be all capitals ("SN-FZWHCHLASB", "serial: ABCDEF") */
    int caps_ok = !low && ((kind == K_VEHICLE) || (kind == K_DEVICE && marked && e - j >= 5));
    if ((!d && !caps_ok) || (kind == K_VEHICLE && e - j < 2))
        return 0;
    *keep = j - i;
    *lab = kind_labels[kind];
    return e - i;
}

/* Identifier-like codes: a word of letters, digits and '-' holding at
 * least five digits (MRNs, account and plan numbers, ZIP codes), or a
 * vehicle identification number (17 letters and digits, no I, O or Q). */
static size_t m_number(const char *s, size_t n, size_t i, int *zip, int *vin)
{
    size_t j = i, d = 0, bad_vin = 0;
    while (j < n && (is_d(s[j]) || is_a(s[j]) || (s[j] == '-' && j + 1 < n && is_w(s[j + 1])))) {
        d += is_d(s[j]);
        bad_vin += s[j] == '-' || lc(s[j]) == 'i' || lc(s[j]) == 'o' || lc(s[j]) == 'q';
        j++;
    }
    *vin = j - i == 17 && !bad_vin && d && d < 17;
    if (d < 5 && !*vin)
        return 0;
    *zip = (j - i == 5 && d == 5) || (j - i == 10 && d == 9 && s[i + 5] == '-');
    return j - i;
}

static size_t m_grouped(const char *s, size_t n, size_t i, label *lab)
{
    groups g;
    int plus = s[i] == '+';
    m_groups(s, n, i + (size_t)plus, plus ? "-." : "-", &g);
    if (g.count == 0)
        return 0;
    if (plus || (s[i] == '0' && i + 1 < n && s[i + 1] == '0')) {
        if (g.digits < 8 || g.digits > 17)
            return 0;
        *lab = LABEL("PHONE");
    } else if (g.count < 2) {
        return 0;
    } else if (s[i] == '0' && g.digits >= 10 && g.digits <= 11) {
        *lab = LABEL("PHONE"); /* a national number: 020 7946 0958 */
    } else if (g.minlen >= 2 && g.digits >= 10 && g.count <= 6) {
        *lab = g.digits >= 13 && g.digits <= 19 ? LABEL("ACCOUNT") : LABEL("ID");
    } else {
        return 0;
    }
    return g.end + m_ext(s, n, g.end) - i;
}

/* Identifiers chained by their lower-cased first byte, and a bit per hash
 * of their first two bytes: most words share no first two bytes with any
 * identifier and are rejected on one bit. */
typedef struct phi_id_index {
    uint64_t pairs[8];
    int any1; /* an identifier of one byte: no second byte to check */
    int apos; /* the text has an apostrophe (-1: not looked up yet) */
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

/* The index of the record's identifiers: built once per record (and
 * again when one is added), not per text scrubbed. */
static id_index *record_index(phi_deid_rec *r)
{
    if (!r->idx && !(r->idx = phi_malloc(sizeof *r->idx)))
        return NULL;
    if (r->idx_gen != r->ids_gen || r->idx_gen == 0) {
        index_ids(r, r->idx);
        r->idx_gen = r->ids_gen;
    }
    return r->idx;
}

/* Whether an identifier may start at s[i]: false when m_ident would find none. */
static int may_ident(const id_index *x, const char *s, size_t n, size_t i)
{
    if (i + 1 >= n)
        return x->any1;
    /* identifiers are kept without apostrophes: O'Brien is "obrien" */
    char second = s[i + 1];
    if ((second == '\'' || second == '`') && i + 2 < n)
        second = s[i + 2];
    unsigned h = pair_hash(s[i], second);
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

/* The end of identifier v[0..k) (folded: no accents, no apostrophes) in s
 * from s[i], whose first byte matched, ignoring case and the apostrophes
 * of s; 0 if it is not there. */
static size_t ident_end(const char *s, size_t n, size_t i, const char *v, size_t k, int *apos)
{
    if (i + k <= n && eq_ci(s + i + 1, v + 1, k - 1))
        return i + k;
    /* Only an apostrophe in the text makes a longer match possible
     * (whether the text has one is looked up once, when first needed). */
    if (*apos < 0)
        *apos = memchr(s, '\'', n) || memchr(s, '`', n);
    if (!*apos)
        return 0;
    size_t j = i + 1, t = 1;
    while (t < k) {
        if (j >= n)
            return 0;
        if (s[j] == '\'' || s[j] == '`') {
            j++;
            continue;
        }
        if (lc(s[j]) != lc(v[t]))
            return 0;
        j++;
        t++;
    }
    return j;
}

/* The longest of the record's identifiers that is a whole word at s[i]
 * (one letter only as a capital: an initial, not the word "a"). */
static size_t m_ident(const phi_deid_rec *r, id_index *x, const char *s, size_t n, size_t i, label *lab)
{
    const char *name = NULL;
    size_t best = 0, namelen = 0;
    for (int t = x->head[(unsigned char)lc(s[i])]; t >= 0; t = x->next[t]) {
        const phi_ident *id = &r->ids[t];
        const char *v = r->idarena.p + id->off;
        size_t k = id->n; /* the first byte is the index's */
        if (k == 1 && !(s[i] >= 'A' && s[i] <= 'Z'))
            continue;
        size_t e = ident_end(s, n, i, v, k, &x->apos);
        if (e > i + best && (e >= n || !is_w(s[e]) || !is_w(v[k - 1]))) {
            best = e - i;
            name = r->idarena.p + id->loff;
            namelen = id->ln;
        }
    }
    if (best)
        *lab = (label){ name, namelen, 0 };
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


/* A long opaque token: a hash, key or hex digest written as base64,
 * base64url or hex ("voiceprint hash z6jvzakEKgAk+M0j/VDhY+GV0H/xJSeU=").
 * 16 bytes or more of [A-Za-z0-9+/=_-] (separators at most a sixth of it,
 * so "q4h-prn-2x-daily" stays) that no word looks like: hex with a digit
 * and a letter, or at least 3 letter/digit changes, or 2 capitals inside
 * a run of lower case and digits. */
static size_t m_opaque(const char *s, size_t n, size_t i)
{
    size_t j = i, seps = 0, dashes = 0, hex = 0, changes = 0, inner = 0, d = 0, a = 0;
    while (j < n && j - i < 1024) {
        char c = s[j];
        unsigned cl = cls[(unsigned char)c];
        if (cl & (C_D | C_A)) {
            d += (cl & C_D) != 0;
            a += (cl & C_A) != 0;
            hex += is_hex(c);
            if (j > i) {
                unsigned pl = cls[(unsigned char)s[j - 1]];
                changes += ((pl & C_D) && (cl & C_A)) || ((pl & C_A) && (cl & C_D));
                inner += c >= 'A' && c <= 'Z' && ((s[j - 1] >= 'a' && s[j - 1] <= 'z') || (pl & C_D));
            }
        } else if (c == '+' || c == '/' || c == '_' || c == '-' || c == '=') {
            seps++;
            dashes += c == '-' || c == '_';
        } else {
            break;
        }
        j++;
    }
    /* '=' only pads the end; other separators do not end a token */
    while (j > i && (s[j - 1] == '-' || s[j - 1] == '/' || s[j - 1] == '_' || s[j - 1] == '+')) {
        dashes -= s[j - 1] == '-' || s[j - 1] == '_';
        j--;
        seps--;
    }
    size_t len = j - i;
    /* not the start of an e-mail address or a host name */
    /* base64 may hold a + or / every few characters; words joined by
     * dashes (q4h-prn-2x-daily) are text */
    if (len < 16 || seps * 4 > len || dashes * 6 > len ||
        (j < n && (is_w(s[j]) || s[j] == '@' || (s[j] == '.' && j + 1 < n && is_an(s[j + 1])))))
        return 0;
    if (!seps && hex == len && d && a)
        return len;
    if (d && a && (changes >= 3 || inner >= 2))
        return len;
    /* base64 without a digit still has capitals all through its lower
     * case; upper-cased base64 has few changes left, but no word in
     * capitals is 24 letters long, and words are not joined with + or = */
    int low = 0, pe = 0;
    for (size_t t = i; t < j; t++) {
        low |= s[t] >= 'a' && s[t] <= 'z';
        pe |= s[t] == '+' || s[t] == '=';
    }
    if (len < 24)
        return 0;
    if (low)
        return inner >= 4 ? len : 0;
    return changes >= 2 || pe || (!d && !seps) ? len : 0;
}

/* A vehicle identification number in letters only, in capitals
 * ("GBAESRNEDPEAWWNUB": 17, no I, O or Q); with digits, m_number has it. */
static size_t m_vin_letters(const char *s, size_t n, size_t i, size_t l)
{
    if (l != 17 || (i + l < n && is_w(s[i + l])))
        return 0;
    for (size_t t = i; t < i + l; t++)
        if (!is_cap(s[t]) || s[t] == 'I' || s[t] == 'O' || s[t] == 'Q')
            return 0;
    return l;
}

/* Vehicle plates written without a keyword: "7ABC123" (a digit, three
 * capitals, three digits) or "ABC 1234", "ABC-1234" (three capitals, a
 * space or hyphen, four digits), whole words. Lower case and other
 * lengths (BP 120/80, B12, COVID19, HbA1c) are left alone. */
static size_t m_plate(const char *s, size_t n, size_t i)
{
    size_t j;
    if (is_d(s[i])) {
        if (i + 7 > n || !is_cap(s[i + 1]) || !is_cap(s[i + 2]) || !is_cap(s[i + 3]) || digits_at(s, n, i + 4) != 3)
            return 0;
        j = i + 7;
    } else {
        if (i + 8 > n || !is_cap(s[i]) || !is_cap(s[i + 1]) || !is_cap(s[i + 2]) ||
            (s[i + 3] != ' ' && s[i + 3] != '-') || digits_at(s, n, i + 4) != 4)
            return 0;
        j = i + 8;
    }
    return j < n && (is_w(s[j]) || ((s[j] == '.' || s[j] == '/' || s[j] == '-') && j + 1 < n && is_d(s[j + 1])))
               ? 0
               : j - i;
}

static size_t m_code(const char *s, size_t n, size_t i, label *lab)
{
    int zip = 0, vin = 0;
    size_t m = m_number(s, n, i, &zip, &vin);
    *lab = vin ? LABEL("VEHICLE") : zip ? LABEL("ZIP") : LABEL("MRN");
    return m;
}

/* Recognisers that can start with a digit. Each is only tried when the
 * length k of the run of digits allows it; *kp: that length, for the caller
 * to skip when none matches. */
static size_t at_digit(const char *s, size_t n, size_t i, const char **at, label *lab, size_t *kp)
{
    size_t k = *kp = digits_at(s, n, i), m;
    char next = i + k < n ? s[i + k] : 0;
    if (k == 3 && (m = m_ssn(s, n, i)) && num_end(s, n, i + m)) {
        *lab = LABEL("SSN");
        return m;
    }
    if ((k <= 2 || k == 4) && (m = m_date(s, n, i, k)) && num_end(s, n, i + m)) {
        *lab = LABEL("DATE");
        return m;
    }
    if (k <= 3 && next == '.' && (m = m_ip(s, n, i))) {
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
    if (k <= 4 && (next == ':' || is_hex(next))) {
        int mac;
        if ((m = m_ipv6(s, n, i, &mac))) {
            *lab = mac ? LABEL("DEVICE") : LABEL("IP");
            return m;
        }
    }
    if ((next == ' ' || next == '-' || next == '(') && i + k + 2 < n &&
        (is_d(s[i + k + 1]) || s[i + k + 1] == '(' || (s[i + k + 1] == ' ' && (s[i + k + 2] == '-' || is_d(s[i + k + 2])))) &&
        (m = m_grouped(s, n, i, lab)))
        return m;
    if (may_email(s, n, i, k, at) && (m = m_email(s, n, i))) {
        *lab = LABEL("EMAIL");
        return m;
    }
    if ((next == '.' || next == '-') && (m = m_host(s, n, i))) {
        *lab = LABEL("URL");
        return m;
    }
    if (k == 1 && is_cap(next) && (m = m_plate(s, n, i))) {
        *lab = LABEL("VEHICLE");
        return m;
    }
    if ((is_a(next) || next == '+' || next == '/' || next == '_' || next == '-' || next == '=') && (m = m_opaque(s, n, i))) {
        *lab = LABEL("ID");
        return m;
    }
    return m_code(s, n, i, lab);
}

/* Recognisers that can start with a letter; l is the run of letters at
 * s[i] (*lp, for the caller to skip). Most words are none of them, and are
 * rejected on l alone. */
static size_t at_letter(const char *s, size_t n, size_t i, const char **at, label *lab, size_t *lp)
{
    size_t l = *lp = alpha_run(s, n, i), m, keep = 0;
    char c = lc(s[i]), next = i + l < n ? s[i + l] : 0;
    /* "http://", "https://", "www." and "ftp://" start with 3 to 5 letters. */
    if ((c == 'h' || c == 'w' || c == 'f') && l >= 3 && l <= 5 && (m = m_url(s, n, i))) {
        *lab = LABEL("URL");
        return m;
    }
    if (may_month(s, i, l) && (m = month_name(s, i, l))) {
        /* a month alone is a date element too when it is a capitalised
         * full name ("in March"; not "may", not the verb "march") */
        size_t d = m_date_month(s, n, i, m);
        if (d || (l >= 4 && s[i] >= 'A' && s[i] <= 'Z')) {
            *lab = LABEL("DATE");
            return d ? d : l;
        }
    }
    if (c == 'a' && (l == 3 || l == 4) && (m = m_age_of(s, n, i, l, &keep))) {
        *lab = LABEL("AGE 90+");
        lab->keep = keep;
        return m;
    }
    if (((c == 'n' && l >= 6) || (c == 'o' && l == 3) || (c == 'a' && l == 1) || (c == 'h' && l == 7)) &&
        (m = m_age(s, n, i))) {
        *lab = LABEL("AGE 90+");
        return m;
    }
    if (next != '@' && (m = m_keyword(s, n, i, l, &keep, lab))) {
        lab->keep = keep;
        return m;
    }
    if (l == 3 && (next == ' ' || next == '-') && is_cap(s[i]) && (m = m_plate(s, n, i))) {
        *lab = LABEL("VEHICLE");
        return m;
    }
    if (l == 17 && (m = m_vin_letters(s, n, i, l))) {
        *lab = LABEL("VEHICLE");
        return m;
    }
    if ((l >= 16 || is_d(next) || next == '+' || next == '/' || next == '_' || next == '-' || next == '=') &&
        (m = m_opaque(s, n, i))) {
        *lab = LABEL("ID");
        return m;
    }
    /* The rest go on past the letters: not after a space or a comma. */
    if (!(cls[(unsigned char)next] & C_EL) && next != '@' && next != ':')
        return 0;
    if (may_email(s, n, i, l, at) && (m = m_email(s, n, i))) {
        *lab = LABEL("EMAIL");
        return m;
    }
    if ((next == '.' || next == '-' || is_d(next)) && i + l + 1 < n && (m = m_host(s, n, i))) {
        *lab = LABEL("URL");
        return m;
    }
    if (l <= 4 && (next == ':' || is_d(next)) && c <= 'f') {
        int mac;
        if ((m = m_ipv6(s, n, i, &mac))) {
            *lab = mac ? LABEL("DEVICE") : LABEL("IP");
            return m;
        }
    }
    /* A code holds digits: one must follow the letters. */
    if (!is_d(next))
        return 0;
    if ((m = m_code(s, n, i, lab)))
        return m;
    /* a prefix glued to a number: "IP10.1.2.3", "tel617-432-0100" */
    size_t k;
    if (l <= 4 && (m = at_digit(s, n, i + l, at, lab, &k))) {
        lab->keep = l;
        return l + m;
    }
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
    if (c == '+' && i + 1 < n && is_d(s[i + 1]) && (m = m_grouped(s, n, i, lab)) && num_end(s, n, i + m))
        return m;
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


/* Scans t[0..tn) for identifiers and writes src with them replaced: src is
 * t itself, or (map != NULL) the text t is the folded shadow of, t[j] coming
 * from src[map[j]] (see fold_private.h). */
static int scan(phi_deid_rec *r, const phi_deid_rule *rule, const char *s, size_t n, const char *src,
                const uint32_t *map, phi_sbuf *out, size_t *matches)
{
#define SRC(j) (map ? (size_t)map[j] : (j))
    size_t i = 0, run = 0;
    *matches = 0;
    /* Where the next '@' is: e-mail addresses are only looked for near one. */
    const char *at = memchr(s, '@', n);
    id_index *x = r->nids ? record_index(r) : NULL;
    if (r->nids && !x)
        return phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    if (x)
        x->apos = -1;
    /* In folded text, letters beyond ASCII are other scripts' (CJK ...),
     * often written without spaces: ASCII after them starts a word. */
    int mixed = map != NULL;
    while (i < n) {
        char c = s[i];
        if (c == ' ' || (i > 0 && is_w(s[i - 1]) && c != '(' && c != '+' && !(mixed && (c ^ s[i - 1]) & 0x80))) {
            i++;
            continue;
        }
        size_t word = 1; /* s[i + 1 .. i + word) are word bytes */
        label lab = { NULL, 0, 0 };
        size_t m = x && may_ident(x, s, n, i) ? m_ident(r, x, s, n, i, &lab) : 0;
        /* A recogniser's longer match wins over the record's own words: a
         * URL, phone or code must go whole, not around a word of it
         * ("ftp://example.com/p/1" with "ftp" and "example" a website's,
         * "617.396.3953" with "617" a phone field's). Own words are rare,
         * so trying both there costs little. */
        label glab = { NULL, 0, 0 };
        size_t g = is_d(c)   ? at_digit(s, n, i, &at, &glab, &word)
                   : is_a(c) ? at_letter(s, n, i, &at, &glab, &word)
                             : at_other(s, n, i, &at, &glab);
        if (g > m) {
            m = g;
            lab = glab;
        }
        if (!m) {
            /* No identifier starts here: skip the rest of the word. After a
             * byte that is no word's (a bracket, a quote), the next word
             * starts right after it. */
            i += word;
            if (is_w(c))
                while (i < n && is_w(s[i]) && !(mixed && (s[i] ^ s[i - 1]) & 0x80))
                    i++;
            continue;
        }
        size_t e = i + m;
        /* a match ends with the character it ends in */
        while (map && e < n && map[e] == map[e - 1])
            e++;
        ++*matches;
        phi_sbuf_put(out, src + SRC(run), SRC(i + lab.keep) - SRC(run));
        int rc = emit(r, rule, lab, src + SRC(i + lab.keep), SRC(e) - SRC(i + lab.keep), out);
        if (rc)
            return rc;
        i = run = e;
    }
    phi_sbuf_put(out, src + SRC(run), SRC(n) - SRC(run));
#undef SRC
    return out->oom ? phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory") : 0;
}

/* Whether one of the record's identifiers is a word of s, at a place
 * scan() would look for one (word starts, '(' and '+'); ASCII text. */
static int has_ident(phi_deid_rec *r, id_index *x, const char *s, size_t n)
{
    x->apos = -1;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == ' ' || (i > 0 && is_w(s[i - 1]) && c != '(' && c != '+')) {
            i++;
            continue;
        }
        label lab;
        if (may_ident(x, s, n, i) && m_ident(r, x, s, n, i, &lab))
            return 1;
        i++;
        if (is_w(c))
            while (i < n && is_w(s[i]))
                i++;
    }
    return 0;
}

/* Short texts in which no recogniser matched (the same kept values come
 * back record after record: a diagnosis, a reason, a status): what the
 * recognisers find depends on the text alone, the record's identifiers are
 * looked for again at each use. A direct-mapped table of copies (compared
 * whole, never by hash alone), wiped when freed. */
#define MEMO_SLOTS 256
#define MEMO_MAX 48
typedef struct phi_scrub_memo {
    struct {
        uint64_t h;
        uint32_t n; /* 0: empty */
        char s[MEMO_MAX];
    } e[MEMO_SLOTS];
} memo_t;

static uint64_t memo_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h ^ h >> 29;
}

void phi_scrub_free(phi_deid_rec *r)
{
    if (r->memo)
        phi_wipe_free(r->memo, sizeof *r->memo);
    r->memo = NULL;
    phi_free(r->idx);
    r->idx = NULL;
    r->idx_gen = 0;
}

int phi_scrub(phi_deid_rec *r, const phi_deid_rule *rule, const char *s, size_t n, phi_sbuf *out)
{
    phi_sbuf_reserve(out, n + 16);
    /* ASCII text is scanned as it is; other text through its shadow, where
     * a fullwidth digit, a no-break space or an accent hides nothing. */
    size_t matches;
    if (n >= UINT32_MAX || !phi_fold_needed(s, n)) {
        if (n == 0 || n > MEMO_MAX)
            return scan(r, rule, s, n, s, NULL, out, &matches);
        uint64_t h = memo_hash(s, n);
        if (r->memo) {
            const struct phi_scrub_memo *m = r->memo;
            size_t k = h % MEMO_SLOTS;
            if (m->e[k].n == n && m->e[k].h == h && memcmp(m->e[k].s, s, n) == 0) {
                id_index *x = r->nids ? record_index(r) : NULL;
                if (r->nids && !x)
                    return phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
                if (!x || !has_ident(r, x, s, n)) {
                    phi_sbuf_put(out, s, n);
                    return out->oom ? phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory") : 0;
                }
            }
        }
        int rc = scan(r, rule, s, n, s, NULL, out, &matches);
        if (rc || matches)
            return rc;
        if (!r->memo && !(r->memo = phi_calloc(1, sizeof *r->memo)))
            return 0; /* only a memo */
        size_t k = h % MEMO_SLOTS;
        r->memo->e[k].h = h;
        r->memo->e[k].n = (uint32_t)n;
        memcpy(r->memo->e[k].s, s, n);
        return 0;
    }
    char *t = phi_malloc(n + 1);
    uint32_t *map = phi_malloc((n + 1) * sizeof *map);
    int rc;
    if (!t || !map) {
        rc = phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    } else {
        size_t tn = phi_fold_shadow(s, n, t, map);
        rc = scan(r, rule, t, tn, s, map, out, &matches);
    }
    if (t)
        phi_wipe_free(t, n + 1);
    phi_free(map);
    return rc;
}

/* ---- the record's own identifiers ---- */

/* Field names whose values are names of people (or of an employer):
 * their words match at any length. Lower case, without '_', '-', '.'. */
static const struct {
    const char *w;
    size_t len;
} name_fields[] = {
#define NF(w) { w, sizeof w - 1 }
    NF("first"),    NF("last"),      NF("middle"),   NF("given"),  NF("family"),  NF("surname"),
    NF("initials"), NF("emergencycontact"), NF("nextofkin"), NF("guarantor"), NF("employer"), NF("contact"),
    NF("relative"), NF("spouse"),    NF("mother"),   NF("father"), NF("guardian"),
#undef NF
};

/* Whether key[0..n) is name field f, ignoring case (and, with `seps`,
 * the '_', '-', ' ' and '.' in key). */
static int is_field(const char *key, size_t n, size_t f, int seps)
{
    const char *w = name_fields[f].w;
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        if (seps && (key[i] == '_' || key[i] == '-' || key[i] == ' ' || key[i] == '.'))
            continue;
        if (t == name_fields[f].len || lc(key[i]) != w[t])
            return 0;
        t++;
    }
    return t == name_fields[f].len;
}

/* Per first letter, a bit per length of the name fields that start with it. */
#define B(l) (1u << (l))
static const uint32_t name_gate[26] = {
    ['c' - 'a'] = B(7), ['e' - 'a'] = B(8) | B(16), ['f' - 'a'] = B(5) | B(6), ['g' - 'a'] = B(5) | B(8) | B(9),
    ['i' - 'a'] = B(8), ['l' - 'a'] = B(4),         ['m' - 'a'] = B(6),        ['n' - 'a'] = B(9),
    ['r' - 'a'] = B(8), ['s' - 'a'] = B(6) | B(7),
};
#undef B

int phi_scrub_is_name(const char *key, size_t n)
{
    if (n >= 4 && lc(key[n - 1]) == 'e' && lc(key[n - 2]) == 'm' && lc(key[n - 3]) == 'a' && lc(key[n - 4]) == 'n')
        return 1;
    if (n < 4 || n > 40 || !is_a(key[0]))
        return 0;
    /* most keys are rejected on their length and first letter */
    if (n < 32 && !(name_gate[lc(key[0]) - 'a'] >> n & 1) && n < 9)
        return 0;
    for (size_t f = 0; f < sizeof name_fields / sizeof name_fields[0]; f++)
        if (name_fields[f].len == n && name_fields[f].w[0] == lc(key[0]) && is_field(key, n, f, 0))
            return 1;
    /* "next_of_kin", "emergency-contact" */
    if (n < 9 || (!memchr(key, '_', n) && !memchr(key, '-', n) && !memchr(key, ' ', n) && !memchr(key, '.', n)))
        return 0;
    for (size_t f = 0; f < sizeof name_fields / sizeof name_fields[0]; f++)
        if (name_fields[f].w[0] == lc(key[0]) && is_field(key, n, f, 1))
            return 1;
    return 0;
}

/* Adds the k bytes at idarena[off] (already folded) as an identifier. */
static void add_one(phi_deid_rec *r, size_t off, size_t k, size_t loff, size_t ln)
{
    if (r->nids >= 256)
        return;
    /* Duplicates are not looked for: they only cost a comparison in scrub. */
    if (r->nids == r->capids) {
        size_t cap = r->capids ? r->capids * 2 : 16;
        phi_ident *ni = phi_realloc(r->ids, cap * sizeof *ni);
        if (!ni)
            return;
        r->ids = ni;
        r->capids = cap;
    }
    r->ids_gen++; /* the index is stale */
    phi_ident *id = &r->ids[r->nids++];
    id->off = off;
    id->n = k;
    id->loff = loff;
    id->ln = ln;
    id->first = lc(r->idarena.p[off]);
}

void phi_scrub_add_ident(phi_deid_rec *r, const char *s, size_t n, size_t loff, size_t ln, int name)
{
    if (!n || r->nids >= 256)
        return;
    phi_sbuf_reserve(&r->idarena, n);
    if (r->idarena.oom)
        return;
    size_t off = r->idarena.len, k = n;
    char *v = r->idarena.p + off;
    memcpy(v, s, n);
    /* Names match at any length (Li, Wu); other values from 3 bytes. */
    size_t min = name ? 1 : 3;
    /* Its words (runs of word bytes, with inner '-') also identify on their
     * own ("Mr. Smith", "lives on Elm"), a hyphenated name also in parts
     * (Nguyen-Tran, Nguyen, Tran; not an SSN's 123). All are in the arena already, as parts
     * of the value. The value itself is added first, without the
     * punctuation around it. A value with a byte beyond ASCII or an
     * apostrophe is folded first (see fold_private.h), then split again. */
    size_t st[16], en[16], nw;
    int hyphens, fold = 0;
again:
    nw = 0;
    hyphens = 0;
    for (size_t i = 0; i < k;) {
        unsigned cl;
        while (i < k && !((cl = cls[(unsigned char)v[i]]) & C_W)) {
            fold |= (int)(cl & C_F);
            i++;
        }
        if (i == k)
            break;
        size_t a = i;
        for (;;) {
            while (i < k && ((cl = cls[(unsigned char)v[i]]) & C_W)) {
                fold |= (int)(cl & C_F);
                i++;
            }
            if (i + 1 < k && v[i] == '-' && is_w(v[i + 1])) {
                hyphens = name;
                i++;
                continue;
            }
            break;
        }
        if (nw < 16) {
            st[nw] = a;
            en[nw++] = i;
        }
    }
    if (fold > 0) {
        k = phi_fold_ident(s, n, v);
        fold = -1;
        goto again;
    }
    r->idarena.len += k;
    if (!nw)
        return;
    size_t a = st[0], b = en[nw - 1];
    if (b - a >= min)
        add_one(r, off + a, b - a, loff, ln);
    for (size_t w = 0; w < nw; w++) {
        if (en[w] - st[w] >= min && en[w] - st[w] < b - a)
            add_one(r, off + st[w], en[w] - st[w], loff, ln);
        for (size_t p = st[w]; hyphens && p < en[w];) {
            size_t q = p;
            while (q < en[w] && v[q] != '-')
                q++;
            if (q - p >= min && q - p < en[w] - st[w])
                add_one(r, off + p, q - p, loff, ln);
            p = q + 1;
        }
    }
}
