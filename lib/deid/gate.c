/* The residual-PHI gate (see gate_private.h for the idea and its cost). */
#include <pthread.h>
#include <string.h>

#include "core/mem_private.h"
#include "deid/gate_private.h"

#define FNV_PRIME UINT64_C(0x100000001b3)

/* A byte of a token, ASCII letters lower-cased; 0 for a separator. */
static const unsigned char tokfold[256] = {
#define R16(b) b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13, b + 14, b + 15
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5', ['6'] = '6', ['7'] = '7',
    ['8'] = '8', ['9'] = '9',
    ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h',
    ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p',
    ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z',
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g', ['h'] = 'h',
    ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p',
    ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
    ['y'] = 'y', ['z'] = 'z',
    R16(0x80), R16(0x90), R16(0xA0), R16(0xB0), R16(0xC0), R16(0xD0), R16(0xE0), R16(0xF0)
#undef R16
};

/* The bytes a JSON scan stops at between words: word bytes and '\\'. */
static unsigned char stopj[256];
static void stopj_init(void)
{
    for (int c = 0; c < 256; c++)
        stopj[c] = tokfold[c] ? 1 : 0;
    stopj['\\'] = 1;
}

static inline uint64_t fmix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* A word's hash from its FNV-1a state: cheap, as it runs once per word of
 * every output record; the key is in the FNV start value. */
static inline uint64_t wmix(uint64_t h)
{
    h ^= h >> 32;
    h *= UINT64_C(0x9e3779b97f4a7c15);
    return h ^ (h >> 29);
}

/* The table entry of a sequence of k tokens whose rolling hash is `seq`. */
static inline uint64_t entry(const phi_gate *g, uint64_t seq, unsigned k)
{
    return (seq ^ g->kc[k]) | 1;
}

/* Placeholders a messy export carries in identifier fields: their
 * survival in free text says nothing about a person. The words of the
 * scrub's own labels ("[PHONE]", "[NAME]") likewise, but only for a coded
 * one-word value outside name fields (FHIR's telecom system "phone" is
 * found again in every "[PHONE]" the scrub writes); a person whose name is
 * one of those words is still remembered. Kept as word hashes (made with
 * the run's key in phi_gate_init). */
static const char *const placeholders[PHI_GATE_NPLACEHOLDERS] = {
    "unknown", "none",    "null",    "redacted", "removed", "anonymous", "undefined",  "true", "false",
    "test",    "patient", "other",   "phone",    "email",   "date",      "device",     "name", "vehicle",
    "account", "license", "fax",     "url",      "ssn",     "mrn",       "identifier", "zip"
};
#define PHI_GATE_NFILLERS 12 /* placeholders[0..12) are fillers; the rest are label words */

static uint64_t word_hash(const phi_gate *g, const char *w)
{
    uint64_t th = g->key.k0;
    for (; *w; w++)
        th = (th ^ tokfold[(unsigned char)*w]) * FNV_PRIME;
    return wmix(th);
}


int phi_gate_key_new(phi_gate_key *k)
{
    int rc = phi_random(k, sizeof *k);
    k->base |= 1; /* odd: powers never vanish mod 2^64 */
    return rc;
}

void phi_gate_init(phi_gate *g, const phi_gate_key *key)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, stopj_init);
    memset(g, 0, sizeof *g);
    g->key = *key;
    g->pow[0] = 1;
    for (int k = 1; k <= PHI_GATE_MAX_TOKENS; k++) {
        g->pow[k] = g->pow[k - 1] * key->base;
        g->kc[k] = fmix(key->k1 + (uint64_t)k);
    }
    for (size_t i = 0; i < PHI_GATE_NPLACEHOLDERS; i++)
        g->placeholder[i] = word_hash(g, placeholders[i]);
}

void phi_gate_free(phi_gate *g)
{
    phi_free(g->tab);
    phi_free(g->tsrc);
    phi_free(g->used);
    phi_free(g->srcs);
    phi_sbuf_free(&g->paths);
    phi_wipe(&g->key, sizeof g->key);
    memset(g, 0, sizeof *g);
}

void phi_gate_record_start(phi_gate *g)
{
    for (size_t i = 0; i < g->n; i++)
        g->tab[g->used[i]] = 0;
    g->n = 0;
    g->kmask = 0;
    memset(g->last, 0, sizeof g->last);
    g->nsrc = 0;
    g->paths.len = 0;
}

static int grow(phi_gate *g)
{
    size_t cap = g->cap ? g->cap * 2 : 64;
    uint64_t *tab = phi_calloc(cap, sizeof *tab);
    uint32_t *tsrc = phi_calloc(cap, sizeof *tsrc);
    uint32_t *used = phi_calloc(cap / 2, sizeof *used);
    if (!tab || !tsrc || !used) {
        phi_free(tab);
        phi_free(tsrc);
        phi_free(used);
        g->oom = 1;
        return -1;
    }
    for (size_t i = 0; i < g->n; i++) {
        size_t s = g->used[i];
        size_t j = (size_t)(g->tab[s] >> 7) & (cap - 1);
        while (tab[j])
            j = (j + 1) & (cap - 1);
        tab[j] = g->tab[s];
        tsrc[j] = g->tsrc[s];
        used[i] = (uint32_t)j;
    }
    phi_free(g->tab);
    phi_free(g->tsrc);
    phi_free(g->used);
    g->tab = tab;
    g->tsrc = tsrc;
    g->used = used;
    g->cap = cap;
    return 0;
}

/* The bloom bit of a word that ends a remembered sequence. */
static inline void last_set(phi_gate *g, uint64_t wh) { g->last[(wh >> 58) & 3] |= UINT64_C(1) << ((wh >> 52) & 63); }
static inline int last_has(const phi_gate *g, uint64_t wh)
{
    return (int)(g->last[(wh >> 58) & 3] >> ((wh >> 52) & 63)) & 1;
}

static void insert(phi_gate *g, uint64_t e, uint32_t src)
{
    if ((g->n + 1) * 2 > g->cap && grow(g))
        return;
    size_t j = (size_t)(e >> 7) & (g->cap - 1);
    while (g->tab[j]) {
        if (g->tab[j] == e)
            return; /* the first source found names it */
        j = (j + 1) & (g->cap - 1);
    }
    g->tab[j] = e;
    g->tsrc[j] = src;
    g->used[g->n++] = (uint32_t)j;
}

static inline int lookup(const phi_gate *g, uint64_t e, uint32_t *src)
{
    size_t j = (size_t)(e >> 7) & (g->cap - 1);
    for (;;) {
        uint64_t t = g->tab[j];
        if (t == e) {
            *src = g->tsrc[j];
            return 1;
        }
        if (!t)
            return 0;
        j = (j + 1) & (g->cap - 1);
    }
}

/* ---- remembering values ---- */

/* "YYYY-MM-DD " (years 0-9999, else empty) into t[12]; its length. */
static size_t day_text(int64_t ms, char t[12])
{
    int y, m, d;
    phi_civil_from_ms(ms, &y, &m, &d);
    if (y < 0 || y > 9999)
        return 0;
    t[0] = (char)('0' + y / 1000);
    t[1] = (char)('0' + y / 100 % 10);
    t[2] = (char)('0' + y / 10 % 10);
    t[3] = (char)('0' + y % 10);
    t[4] = '-';
    t[5] = (char)('0' + m / 10);
    t[6] = (char)('0' + m % 10);
    t[7] = '-';
    t[8] = (char)('0' + d / 10);
    t[9] = (char)('0' + d % 10);
    t[10] = ' ';
    return 11;
}

/* Values too short to tell a person from a common word ("M", "TX", "93")
 * are not remembered; names (a class whose words the scrub looks for at
 * any length) from 3 letters. */
#define MIN_BYTES 4
#define MIN_BYTES_NAME 3

/* With `labels`, the scrub's label words count too. */
static inline int placeholder(const phi_gate *g, uint64_t wh, int labels)
{
    for (size_t i = 0, n = labels ? PHI_GATE_NPLACEHOLDERS : PHI_GATE_NFILLERS; i < n; i++)
        if (g->placeholder[i] == wh)
            return 1;
    return 0;
}

/* What the action itself wrote for a value, as word hashes: a value
 * found in its own replacement ("51000" in the bucket "51000-51999", a
 * 1 January date generalised to itself, a value that already read
 * "[REDACTED]") is no leak. */
typedef phi_gate_own own_out;

static void own_words(const phi_gate *g, const char *s, size_t n, own_out *w)
{
    uint64_t th = 0;
    size_t tlen = 0;
    w->n = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned f = i < n ? tokfold[(unsigned char)s[i]] : 0;
        if (f) {
            if (!tlen)
                th = g->key.k0;
            th = (th ^ f) * FNV_PRIME;
            tlen++;
            continue;
        }
        if (tlen && w->n < 64)
            w->h[w->n++] = wmix(th);
        tlen = 0;
    }
}

/* Whether the k-word sequence hashing to `seq` is in the action's output. */
static int in_own(const phi_gate *g, const own_out *w, uint64_t seq, unsigned k)
{
    for (size_t i = 0; w && i + k <= w->n; i++) {
        uint64_t h = 0;
        for (size_t j = 0; j < k; j++)
            h = h * g->key.base + w->h[i + j];
        if (h == seq)
            return 1;
    }
    return 0;
}

/* The words of s[0..n) (already decoded text) as one sequence. `each`:
 * also every word of at least `min` bytes on its own (names). */
static void remember_text(phi_gate *g, const char *s, size_t n, uint32_t src, int each, size_t min,
                          const own_out *skip)
{
    uint64_t h = 0, lastw = 0;
    unsigned ntok = 0, digits = 1;
    size_t bytes = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned f = tokfold[u[i]];
        if (!f) {
            i++;
            continue;
        }
        uint64_t th = g->key.k0;
        size_t t0 = i;
        do {
            th = (th ^ f) * FNV_PRIME;
            digits &= f >= '0' && f <= '9';
            f = ++i < n ? tokfold[u[i]] : 0;
        } while (f);
        uint64_t fh = wmix(th);
        size_t tlen = i - t0;
        h = h * g->key.base + fh;
        ntok++;
        bytes += tlen;
        lastw = fh;
        if (each && tlen >= min && !placeholder(g, fh, 0) && !in_own(g, skip, fh, 1)) {
            insert(g, entry(g, fh, 1), src);
            last_set(g, fh);
            g->kmask |= 1u << 1;
        }
    }
    if (ntok == 0 || ntok > PHI_GATE_MAX_TOKENS || bytes < (each ? MIN_BYTES_NAME : MIN_BYTES))
        return;
    /* One number of up to 4 digits is a year Safe Harbor keeps, an age, a
     * count: it says nothing on its own (a ZIP stored as the number 1970
     * is not the kept birth year 1970). */
    if ((ntok == 1 && (placeholder(g, lastw, !each) || (digits && bytes < 5))) || in_own(g, skip, h, ntok))
        return;
    insert(g, entry(g, h, ntok), src);
    last_set(g, lastw);
    g->kmask |= 1u << ntok;
    g->values++;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned hex4(const char *s)
{
    int a = hexval(s[0]), b = hexval(s[1]), c = hexval(s[2]), d = hexval(s[3]);
    if ((a | b | c | d) < 0)
        return 0xFFFFFFFFu;
    return (unsigned)(a << 12 | b << 8 | c << 4 | d);
}

/* A JSON escape at s[i] (a backslash): its bytes as decoded text into
 * b[4] (*bn of them), and its length. Separators decode to nothing. */
static size_t unescape(const char *s, size_t i, size_t n, unsigned char b[4], size_t *bn)
{
    *bn = 0;
    if (i + 1 >= n)
        return 1;
    if (s[i + 1] != 'u' || i + 6 > n)
        return 2;
    unsigned cp = hex4(s + i + 2);
    size_t len = 6;
    if (cp == 0xFFFFFFFFu)
        return 2;
    if (cp >= 0xD800 && cp < 0xDC00 && i + 12 <= n && s[i + 6] == '\\' && s[i + 7] == 'u') {
        unsigned lo = hex4(s + i + 8);
        if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            len = 12;
        }
    }
    if (cp < 0x80) {
        b[(*bn)++] = (unsigned char)cp;
    } else if (cp < 0x800) {
        b[(*bn)++] = (unsigned char)(0xC0 | cp >> 6);
        b[(*bn)++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        b[(*bn)++] = (unsigned char)(0xE0 | cp >> 12);
        b[(*bn)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[(*bn)++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        b[(*bn)++] = (unsigned char)(0xF0 | cp >> 18);
        b[(*bn)++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[(*bn)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[(*bn)++] = (unsigned char)(0x80 | (cp & 0x3F));
    }
    return len;
}

/* The string values (not keys) of JSON text: every one is remembered. */
static void remember_json(phi_gate *g, const char *s, size_t n, uint32_t src, int each)
{
    phi_sbuf d = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"')
            continue;
        size_t j = i + 1;
        d.len = 0;
        while (j < n && s[j] != '"') {
            if (s[j] == '\\') {
                unsigned char b[4];
                size_t bn, adv = unescape(s, j, n, b, &bn);
                phi_sbuf_put(&d, bn ? (const char *)b : " ", bn ? bn : 1);
                j += adv;
                continue;
            } else {
                phi_sbuf_putc(&d, s[j]);
            }
            j++;
        }
        size_t k = j + 1;
        while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
            k++;
        int is_key = k < n && s[k] == ':';
        if (!is_key && d.len && d.p[0] != '$')
            remember_text(g, d.p, d.len, src, each, MIN_BYTES_NAME, NULL);
        i = j;
    }
    phi_sbuf_free(&d);
}

static void remember_bson(phi_gate *g, const bson_iter_t *it, uint32_t src, int each, int depth)
{
    bson_iter_t c;
    if (depth > PHI_DEID_MAX_DEPTH || !bson_iter_recurse(it, &c))
        return;
    while (bson_iter_next(&c)) {
        if (BSON_ITER_HOLDS_UTF8(&c)) {
            uint32_t l;
            const char *s = bson_iter_utf8(&c, &l);
            remember_text(g, s, l, src, each, MIN_BYTES_NAME, NULL);
        } else if (BSON_ITER_HOLDS_DOCUMENT(&c) || BSON_ITER_HOLDS_ARRAY(&c)) {
            remember_bson(g, &c, src, each, depth + 1);
        } else if (BSON_ITER_HOLDS_OID(&c)) {
            char hex[25];
            bson_oid_to_string(bson_iter_oid(&c), hex);
            remember_text(g, hex, 24, src, 0, MIN_BYTES, NULL);
        }
    }
}

static void last_key(const char *path, char n[64]);
const char *phi_gate_class(const phi_deid_rule *rule, const char *path);

/* Whether the path's class is names (a cheap reject on the last key's
 * letters first: most paths are not). */
static int names_path(phi_gate *g, const char *path, size_t len)
{
    size_t b = len;
    while (b > 0 && path[b - 1] != '.')
        b--;
    int maybe = 0;
    for (size_t i = b; i < len && !maybe; i++) {
        char c = (char)(path[i] | 0x20);
        maybe = c == 'n' || c == 'f' || c == 'l' || c == 'm' || c == 'g' || c == 'i' || c == 'a' || c == 'e';
    }
    if (!maybe)
        return 0;
    /* Paths repeat record after record: a small cache of the answer. */
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)path[i]) * FNV_PRIME;
    h |= 1;
    phi_gate_namec *c = &g->namec[(h ^ (h >> 29)) & (PHI_GATE_NAMEC - 1)];
    if (c->h != h) {
        c->h = h;
        c->names = strcmp(phi_gate_class(NULL, path), "names") == 0;
    }
    return c->names;
}

void phi_gate_remember(phi_gate *g, const phi_deid_rule *rule, const char *path, const phi_dv *v, const phi_dout *o)
{
    if (rule->act == PHI_ACT_SCRUB || g->oom)
        return; /* free text: what it keeps is checked, not what it was */
    if (g->nsrc == g->capsrc) {
        size_t cap = g->capsrc ? g->capsrc * 2 : 16;
        phi_gate_src *s = phi_realloc(g->srcs, cap * sizeof *s);
        if (!s) {
            g->oom = 1;
            return;
        }
        g->srcs = s;
        g->capsrc = cap;
    }
    uint32_t src = (uint32_t)g->nsrc++;
    phi_gate_src *sr = &g->srcs[src];
    sr->path_off = g->paths.len;
    sr->path_len = strlen(path);
    sr->rule = rule;
    phi_sbuf_put(&g->paths, path, sr->path_len);
    /* Names are also looked for word by word; knowing the class needs the
     * path's last key (done here cheaply: the full class only on a hit). */
    int each = rule->act != PHI_ACT_DATE_SHIFT && rule->act != PHI_ACT_GENERALIZE && names_path(g, path, sr->path_len);
    own_out own, *skip = NULL;
    if (o && o->op == PHI_OUT_STR && o->text.p) {
        /* Most replacements are the same few texts ("[REDACTED]"). */
        if (o->text.len > sizeof g->own_text || o->text.len != g->own_len ||
            memcmp(o->text.p, g->own_text, o->text.len) != 0) {
            own_words(g, o->text.p, o->text.len, &g->own);
            g->own_len = o->text.len <= sizeof g->own_text ? o->text.len : SIZE_MAX;
            if (g->own_len != SIZE_MAX)
                memcpy(g->own_text, o->text.p, o->text.len);
        }
        skip = &g->own;
    } else if (o && o->op == PHI_OUT_DATE && phi_date_ms_ok(o->ms)) {
        char day[12];
        size_t dn = day_text(o->ms, day);
        if (v->date_form == PHI_DF_ISO && v->s) { /* the raw text is remembered too: so is the output's */
            phi_sbuf t = { 0 };
            phi_sbuf_printf(&t, "%.*s", (int)dn, day);
            phi_date_format(&t, o->ms, v->date_form, v->ms_frac);
            own_words(g, t.p ? t.p : "", t.len, &own);
            phi_sbuf_free(&t);
        } else {
            own_words(g, day, dn, &own);
        }
        skip = &own;
    }
    switch (v->kind) {
    case PHI_DV_STR:
    case PHI_DV_NUM:
        if (v->s)
            remember_text(g, v->s, v->n, src, each, MIN_BYTES_NAME, skip);
        break;
    case PHI_DV_DATE: {
        /* As free text writes it: 2018-07-11 (and the text it had). */
        if (phi_date_ms_ok(v->ms)) {
            char t[12];
            size_t k = day_text(v->ms, t);
            if (k)
                remember_text(g, t, k, src, 0, MIN_BYTES, skip);
        }
        if (v->s && v->date_form == PHI_DF_ISO)
            remember_text(g, v->s, v->n, src, 0, MIN_BYTES, skip);
        break;
    }
    case PHI_DV_EXT:
        if (v->oid && v->iter && BSON_ITER_HOLDS_OID(v->iter)) {
            char hex[25];
            bson_oid_to_string(bson_iter_oid(v->iter), hex);
            remember_text(g, hex, 24, src, 0, MIN_BYTES, skip);
        } else if (v->json) {
            remember_json(g, v->json, v->json_len, src, 0);
        }
        break;
    case PHI_DV_OBJ:
    case PHI_DV_ARR:
        if (v->iter)
            remember_bson(g, v->iter, src, each, 0);
        else if (v->json)
            remember_json(g, v->json, v->json_len, src, each);
        break;
    default:
        break;
    }
}

/* ---- the scan ---- */

typedef struct scan {
    const phi_gate *g;
    uint64_t ring[32];  /* ring[t & 31]: rolling hash after t words */
    size_t starts[32];  /* starts[t & 31]: where word t started */
    uint64_t t;
} scan;

/* A word s[start..] with hash state th has ended; 1 when a remembered
 * sequence ends with it. */
static inline int end_word(scan *sc, uint64_t th, size_t start, phi_gate_hit *hit)
{
    const phi_gate *g = sc->g;
    uint64_t wh = wmix(th);
    uint64_t p = sc->ring[sc->t & 31] * g->key.base + wh;
    sc->starts[sc->t & 31] = start;
    sc->t++;
    sc->ring[sc->t & 31] = p;
    if (!last_has(g, wh))
        return 0; /* no remembered sequence ends with this word */
    uint32_t m = g->kmask;
    while (m) {
        unsigned k = (unsigned)__builtin_ctz(m);
        m &= m - 1;
        if (k > sc->t)
            break;
        uint64_t seq = p - sc->ring[(sc->t - k) & 31] * g->pow[k];
        uint32_t src;
        if (lookup(g, entry(g, seq, k), &src)) {
            hit->at = sc->starts[(sc->t - k) & 31];
            hit->src = src;
            return 1;
        }
    }
    return 0;
}

/* s[n] must be readable and not a word byte (the engine's buffers end with
 * a NUL): the inner loop needs no bound check. */
int phi_gate_scan(const phi_gate *g, const char *s, size_t n, int json, phi_gate_hit *hit)
{
    if (!g->n)
        return 0;
    scan sc;
    sc.g = g;
    sc.t = 0;
    sc.ring[0] = 0;
    const unsigned char *u = (const unsigned char *)s;
    const uint64_t k0 = g->key.k0;
    size_t i = 0;
    while (i < n) {
        unsigned f = tokfold[u[i]];
        uint64_t th = k0;
        size_t start = i;
        if (!f && !(json && u[i] == '\\')) {
            /* Separators: skip to the next word byte (or escape). */
            const unsigned char *stop = json ? stopj : tokfold;
            do
                i++;
            while (i < n && !stop[u[i]]);
            continue;
        }
        if (!f) {
            /* An escape: a word byte (\u00e9) starts a word, else it separates. */
            unsigned char b[4];
            size_t bn, adv = unescape(s, i, n, b, &bn);
            i += adv;
            if (!bn || !tokfold[b[0]])
                continue;
            for (size_t k = 0; k < bn; k++)
                th = (th ^ tokfold[b[k]]) * FNV_PRIME;
            f = i < n ? tokfold[u[i]] : 0;
        }
        for (;;) {
            while (f) {
                th = (th ^ f) * FNV_PRIME;
                f = tokfold[u[++i]];
            }
            if (!json || i >= n || u[i] != '\\')
                break;
            unsigned char b[4];
            size_t bn, adv = unescape(s, i, n, b, &bn);
            if (!bn || !tokfold[b[0]])
                break;
            for (size_t k = 0; k < bn; k++)
                th = (th ^ tokfold[b[k]]) * FNV_PRIME;
            i += adv;
            f = i < n ? tokfold[u[i]] : 0;
        }
        if (end_word(&sc, th, start, hit))
            return 1;
    }
    return 0;
}

/* ---- naming ---- */

/* The last key of a path ("visits[].date" -> "date"), lower-cased without
 * '_', '-', ' ', '.', into n (64 bytes). */
static void last_key(const char *path, char n[64])
{
    size_t e = strlen(path);
    while (e >= 2 && path[e - 2] == '[' && path[e - 1] == ']')
        e -= 2;
    size_t b = e;
    while (b > 0 && path[b - 1] != '.')
        b--;
    size_t k = 0;
    for (size_t i = b; i < e && k + 1 < 64; i++) {
        char c = path[i];
        if (c == '_' || c == '-' || c == ' ')
            continue;
        n[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    n[k] = 0;
}

typedef struct cls_ent {
    const char *part; /* a part of the normalised name */
    const char *cls;
} cls_ent;

/* 45 CFR 164.514(b)(2)(i) (A)-(R), by the words field names use; first match wins. */
static const cls_ent classes[] = {
    { "email", "email addresses" }, { "fax", "fax numbers" }, { "phone", "telephone numbers" },
    { "mobile", "telephone numbers" }, { "tel", "telephone numbers" }, { "cell", "telephone numbers" },
    { "ssn", "social security numbers" }, { "socialsecurity", "social security numbers" },
    { "mrn", "medical record numbers" }, { "medicalrecord", "medical record numbers" },
    { "member", "health plan beneficiary numbers" }, { "insurance", "health plan beneficiary numbers" },
    { "beneficiary", "health plan beneficiary numbers" }, { "subscriber", "health plan beneficiary numbers" },
    { "healthplan", "health plan beneficiary numbers" }, { "policynumber", "health plan beneficiary numbers" },
    { "account", "account numbers" }, { "license", "certificate/license numbers" },
    { "certificate", "certificate/license numbers" }, { "vin", "vehicle identifiers" },
    { "vehicle", "vehicle identifiers" }, { "plate", "vehicle identifiers" }, { "device", "device identifiers" },
    { "serial", "device identifiers" }, { "udi", "device identifiers" }, { "url", "URLs" },
    { "website", "URLs" }, { "homepage", "URLs" }, { "ipaddress", "IP addresses" }, { "mac", "IP addresses" },
    { "biometric", "biometric identifiers" }, { "fingerprint", "biometric identifiers" },
    { "voiceprint", "biometric identifiers" }, { "photo", "full-face photographs" },
    { "image", "full-face photographs" }, { "picture", "full-face photographs" },
    { "zip", "geographic subdivisions" }, { "postal", "geographic subdivisions" },
    { "postcode", "geographic subdivisions" }, { "address", "geographic subdivisions" },
    { "street", "geographic subdivisions" }, { "line1", "geographic subdivisions" },
    { "line2", "geographic subdivisions" }, { "city", "geographic subdivisions" },
    { "town", "geographic subdivisions" }, { "county", "geographic subdivisions" },
    { "precinct", "geographic subdivisions" }, { "district", "geographic subdivisions" },
    { "neighborhood", "geographic subdivisions" }, { "lat", "geographic subdivisions" },
    { "lon", "geographic subdivisions" }, { "lng", "geographic subdivisions" },
    { "geo", "geographic subdivisions" }, { "location", "geographic subdivisions" },
    { "coordinates", "geographic subdivisions" }, { "birthplace", "geographic subdivisions" },
    { "dob", "dates" }, { "dod", "dates" }, { "date", "dates" }, { "birth", "dates" }, { "death", "dates" },
    { "admitted", "dates" }, { "discharged", "dates" }, { "timestamp", "dates" }, { "age", "ages over 89" },
    { "name", "names" }, { "first", "names" }, { "last", "names" }, { "middle", "names" }, { "given", "names" },
    { "family", "names" }, { "initials", "names" }, { "alias", "names" }, { "guarantor", "names" },
    { "employer", "names" }, { "nextofkin", "names" }, { "emergencycontact", "names" },
    { "ip", "IP addresses" }, { "id", "other unique identifying numbers" },
    { "identifier", "other unique identifying numbers" }, { "uuid", "other unique identifying numbers" },
    { NULL, NULL }
};

const char *phi_gate_class(const phi_deid_rule *rule, const char *path)
{
    char n[64];
    last_key(path, n);
    size_t nl = strlen(n);
    for (const cls_ent *c = classes; c->part; c++) {
        size_t pl = strlen(c->part);
        /* Two-letter parts only as the whole name or its end ("patientId"). */
        if (pl <= 3 ? (nl >= pl && strcmp(n + nl - pl, c->part) == 0) : strstr(n, c->part) != NULL)
            return c->cls;
    }
    static const char *const text[] = { "notes", "note", "comment", "comments", "narrative", "text", "description",
                                        "summary", "history", "remarks", NULL };
    for (const char *const *t = text; *t; t++)
        if (strcmp(n, *t) == 0)
            return "free text";
    switch (rule ? rule->act : -1) {
    case -1: return "none"; /* a name the table does not know, no rule to say more */
    case PHI_ACT_DATE_SHIFT: return "dates";
    case PHI_ACT_ZIP3: return "geographic subdivisions";
    case PHI_ACT_AGE: return "ages over 89";
    default: return "other identifiers (a value the policy transforms)";
    }
}

/* ---- where a hit is ---- */

/* JSON: walks the record to `at`, keeping the path of keys. */
static void locate_json(const char *s, size_t n, size_t at, phi_sbuf *out)
{
    /* Per level: where its key starts in `out` (objects) or an array marker. */
    size_t lens[PHI_DEID_MAX_DEPTH + 2];
    int arr[PHI_DEID_MAX_DEPTH + 2];
    int depth = 0;
    out->len = 0;
    for (size_t i = 0; i < n && i <= at; i++) {
        char c = s[i];
        if (c == '{' || c == '[') {
            if (depth > PHI_DEID_MAX_DEPTH)
                break;
            lens[depth] = out->len;
            arr[depth] = c == '[';
            if (c == '[')
                phi_sbuf_put(out, "[]", 2);
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth > 0)
                out->len = lens[--depth];
        } else if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            size_t k = j + 1;
            while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
                k++;
            if (k < n && s[k] == ':' && depth > 0 && !arr[depth - 1]) {
                out->len = lens[depth - 1];
                if (out->len)
                    phi_sbuf_putc(out, '.');
                if (at > i && at < j) {
                    /* The key itself holds the value: it is not shown. */
                    phi_sbuf_puts(out, "(a key)");
                    break;
                }
                phi_sbuf_put(out, s + i + 1, j > i + 1 ? j - i - 1 : 0);
            }
            i = j;
        }
    }
    if (out->len && out->p[0] == '.')
        memmove(out->p, out->p + 1, out->len--);
}

static int locate_bson(const uint8_t *base, const bson_iter_t *it0, size_t at, phi_sbuf *out, int depth, int is_arr)
{
    bson_iter_t it = *it0;
    while (bson_iter_next(&it)) {
        size_t start = (size_t)(it.raw - base) + it.off, end = (size_t)(it.raw - base) + it.next_off;
        if (at < start || at >= end)
            continue;
        if (is_arr) {
            phi_sbuf_put(out, "[]", 2);
        } else {
            const char *k = bson_iter_key(&it);
            size_t k0 = start + 1, kn = strlen(k);
            if (out->len)
                phi_sbuf_putc(out, '.');
            if (at >= k0 && at < k0 + kn) {
                phi_sbuf_puts(out, "(a key)"); /* the key itself holds the value: not shown */
                return 1;
            }
            phi_sbuf_puts(out, k);
        }
        bson_iter_t c;
        if ((BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) && depth < PHI_DEID_MAX_DEPTH &&
            bson_iter_recurse(&it, &c))
            (void)locate_bson(base, &c, at, out, depth + 1, BSON_ITER_HOLDS_ARRAY(&it));
        return 1;
    }
    return 0;
}

void phi_gate_locate(int fmt, const char *rec, size_t n, size_t at, char *const *csv_names, size_t ncols, char sep,
                     phi_sbuf *out)
{
    out->len = 0;
    if (fmt == PHICRYPT_DEID_BSON) {
        bson_iter_t it;
        if (bson_iter_init_from_data(&it, (const uint8_t *)rec, n))
            locate_bson((const uint8_t *)rec, &it, at, out, 0, 0);
    } else if (fmt == PHICRYPT_DEID_CSV) {
        size_t col = 0;
        int q = 0;
        for (size_t i = 0; i < n && i < at; i++) {
            if (rec[i] == '"')
                q = !q;
            else if (!q && rec[i] == sep)
                col++;
        }
        if (col < ncols && csv_names && csv_names[col])
            phi_sbuf_puts(out, csv_names[col]);
    } else {
        locate_json(rec, n, at, out);
    }
    if (!out->len)
        phi_sbuf_puts(out, "(record)");
}
