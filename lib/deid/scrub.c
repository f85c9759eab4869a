/* Free-text scrubbing: finds identifiers in notes and replaces each with a
 * typed placeholder ("[SSN]") or, with a key, a consistent pseudonym
 * ("[SSN:ps1...]"). Hand-written recognisers (not regex) keep it fast and
 * the same on every platform. Recognisers only start at a word boundary. */
#include <string.h>

#include "core/error_private.h"
#include "deid/deid_private.h"

static int is_d(char c) { return c >= '0' && c <= '9'; }
static int is_a(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_w(char c) { return is_d(c) || is_a(c) || (unsigned char)c >= 0x80 || c == '_'; }
static char lc(char c) { return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c); }

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
    while (j < n && (is_d(s[j]) || is_a(s[j]) || s[j] == '.' || s[j] == '_' || s[j] == '%' || s[j] == '+' ||
                     s[j] == '-'))
        j++;
    if (j == i || j >= n || s[j] != '@')
        return 0;
    size_t at = j++;
    int dots = 0;
    size_t last_ok = 0;
    while (j < n && (is_d(s[j]) || is_a(s[j]) || s[j] == '-' || s[j] == '.')) {
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

static const struct { const char *name; size_t len; } months[] = {
    { "january", 7 }, { "february", 8 }, { "march", 5 }, { "april", 5 }, { "may", 3 }, { "june", 4 },
    { "july", 4 }, { "august", 6 }, { "september", 9 }, { "october", 7 }, { "november", 8 }, { "december", 8 },
    { "jan", 3 }, { "feb", 3 }, { "mar", 3 }, { "apr", 3 }, { "jun", 3 }, { "jul", 3 }, { "aug", 3 },
    { "sep", 3 }, { "sept", 4 }, { "oct", 3 }, { "nov", 3 }, { "dec", 3 }, { NULL, 0 }
};

static size_t m_month(const char *s, size_t n, size_t i)
{
    char c = lc(s[i]);
    switch (c) {
    case 'j': case 'f': case 'm': case 'a': case 's': case 'o': case 'n': case 'd':
        break;
    default:
        return 0;
    }
    size_t best = 0;
    for (int m = 0; months[m].name; m++) {
        size_t l = months[m].len;
        if (months[m].name[0] == c && l > best && prefix_ci(s, n, i, months[m].name) && (i + l >= n || !is_a(s[i + l])))
            best = l;
    }
    return best;
}

static size_t m_date(const char *s, size_t n, size_t i)
{
    size_t k = digits_at(s, n, i);
    if (k == 4 && i + 10 <= n && (s[i + 4] == '-' || s[i + 4] == '/') && digits_at(s, n, i + 5) >= 1 &&
        digits_at(s, n, i + 5) <= 2) {
        size_t j = i + 5 + digits_at(s, n, i + 5);
        if (j < n && s[j] == s[i + 4] && digits_at(s, n, j + 1) >= 1 && digits_at(s, n, j + 1) <= 2) {
            j += 1 + digits_at(s, n, j + 1);
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
    if (k >= 1 && k <= 2 && i + k < n && (s[i + k] == '/' || s[i + k] == '-' || s[i + k] == '.')) {
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
    /* "March 5, 2019", "Mar 5th", "March 2019" */
    size_t m = m_month(s, n, i);
    if (m) {
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
    /* "5 March 2019" */
    if (k >= 1 && k <= 2 && i + k + 1 < n && s[i + k] == ' ') {
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

static int has_digit_in_word(const char *s, size_t n, size_t i)
{
    while (i < n && is_a(s[i]))
        i++;
    return i < n && is_d(s[i]);
}

/* Identifiers chained by their lower-cased first byte. */
typedef struct id_index {
    int16_t head[256];
    int16_t next[256];
} id_index;

static void index_ids(const phi_deid_rec *r, id_index *x)
{
    memset(x->head, 0xff, sizeof x->head);
    for (size_t t = r->nids; t-- > 0;) {
        unsigned char c = (unsigned char)r->ids[t].first;
        x->next[t] = x->head[c];
        x->head[c] = (int16_t)t;
    }
}

static size_t m_ident(const phi_deid_rec *r, const id_index *x, const char *s, size_t n, size_t i,
                      const char **label)
{
    size_t best = 0;
    for (int t = x->head[(unsigned char)lc(s[i])]; t >= 0; t = x->next[t]) {
        const phi_ident *id = &r->ids[t];
        if (id->n <= best || i + id->n > n)
            continue;
        const char *v = r->idarena.p + id->off;
        size_t k = 1;
        while (k < id->n && lc(s[i + k]) == lc(v[k]))
            k++;
        if (k == id->n && (i + k >= n || !is_w(s[i + k]) || !is_w(v[k - 1]))) {
            best = id->n;
            *label = r->idarena.p + id->loff;
        }
    }
    return best;
}

static int emit(phi_deid_rec *r, const phi_deid_rule *rule, const char *label, const char *s, size_t n,
                phi_sbuf *out)
{
    phi_sbuf_putc(out, '[');
    phi_sbuf_puts(out, label);
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
        if ((i > 0 && is_w(s[i - 1]) && c != '(' && c != '+') || c == ' ') {
            i++;
            continue;
        }
        size_t m = 0;
        const char *label = NULL;
        int zip = 0;
        if (r->nids)
            m = m_ident(r, &x, s, n, i, &label);
        if (!m && is_d(c)) {
            if ((m = m_ssn(s, n, i)) && num_end(s, n, i + m))
                label = "SSN";
            else if ((m = m_date(s, n, i)) && num_end(s, n, i + m))
                label = "DATE";
            else if ((m = m_ip(s, n, i)))
                label = "IP";
            else if ((m = m_phone(s, n, i)) && num_end(s, n, i + m))
                label = "PHONE";
            else if ((m = m_age(s, n, i)))
                label = "AGE 90+";
            else
                m = 0;
        }
        if (!m && (c == '(' || c == '+') && (m = m_phone(s, n, i)) && num_end(s, n, i + m))
            label = "PHONE";
        if (!m && is_a(c)) {
            char l = lc(c);
            if ((l == 'h' || l == 'w' || l == 'f') && (m = m_url(s, n, i)))
                label = "URL";
            else if ((m = m_date(s, n, i)))
                label = "DATE";
            else if (l == 'a' && (m = m_age(s, n, i)))
                label = "AGE 90+";
        }
        if (at && at < s + i)
            at = memchr(s + i, '@', n - i);
        if (!m && at && (size_t)(at - s) - i < 65 && (is_w(c) || c == '.') && (m = m_email(s, n, i)))
            label = "EMAIL";
        if (!m && (is_d(c) || (is_a(c) && has_digit_in_word(s, n, i))) && (m = m_number(s, n, i, &zip)))
            label = zip ? "ZIP" : "MRN";
        if (!m) {
            /* No identifier starts here: skip the rest of the word. */
            i++;
            while (i < n && is_w(s[i]))
                i++;
            continue;
        }
        phi_sbuf_put(out, s + run, i - run);
        int rc = emit(r, rule, label, s + i, m, out);
        if (rc)
            return rc;
        i += m;
        run = i;
    }
    phi_sbuf_put(out, s + run, n - run);
    return out->oom ? phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory") : 0;
}
