/* Buffers, dates and per-batch statistics of the de-identification engine. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/scan_private.h"

void phi_sbuf_reserve(phi_sbuf *b, size_t n)
{
    if (b->oom || b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    /* Not realloc: the old bytes may hold PHI and must be wiped. */
    char *p = phi_malloc(cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    if (b->p) {
        memcpy(p, b->p, b->len);
        phi_wipe_free(b->p, b->cap);
    }
    b->p = p;
    b->cap = cap;
}

void phi_sbuf_put_slow(phi_sbuf *b, const void *d, size_t n)
{
    phi_sbuf_reserve(b, n + 1);
    if (b->oom)
        return;
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0;
}

void phi_sbuf_puts(phi_sbuf *b, const char *s) { phi_sbuf_put(b, s, strlen(s)); }

void phi_sbuf_printf(phi_sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) {
        size_t k = (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
        phi_sbuf_put(b, tmp, k);
        phi_wipe(tmp, k);
    }
}

void phi_sbuf_free(phi_sbuf *b)
{
    if (b->p)
        phi_wipe_free(b->p, b->cap);
    memset(b, 0, sizeof *b);
}

void phi_sbuf_json_str(phi_sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    phi_sbuf_reserve(b, n + 2);
    phi_sbuf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        i += phi_json_plain_run((const unsigned char *)s + i, n - i, 0);
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        phi_sbuf_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': phi_sbuf_put(b, "\\\"", 2); break;
        case '\\': phi_sbuf_put(b, "\\\\", 2); break;
        case '\n': phi_sbuf_put(b, "\\n", 2); break;
        case '\r': phi_sbuf_put(b, "\\r", 2); break;
        case '\t': phi_sbuf_put(b, "\\t", 2); break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            phi_sbuf_put(b, u, 6);
        }
        }
    }
    phi_sbuf_put(b, s + run, n - run);
    phi_sbuf_putc(b, '"');
}

void phi_dout_begin(phi_deid_rec *r, phi_dout *o)
{
    memset(o, 0, sizeof *o);
    o->text = r->dtext; /* the worker's buffer, lent (no allocation per value) */
    o->text.len = 0;
}

void phi_dout_end(phi_deid_rec *r, phi_dout *o)
{
    /* Wiped once per record (phi_rec_reset), up to the longest use. */
    if (o->text.len > r->dtext_used)
        r->dtext_used = o->text.len;
    if (o->text.oom) {
        phi_sbuf_free(&o->text);
        r->dtext_used = 0;
    }
    r->dtext = o->text;
    r->dtext.len = 0;
    if (o->bson.data)
        phicrypt_buf_dispose(&o->bson);
}

void phi_scratch_wipe(phi_sbuf *b, size_t *used)
{
    size_t n = *used > b->len ? *used : b->len;
    if (b->p && n)
        phi_wipe(b->p, n < b->cap ? n + 1 : b->cap);
    b->len = 0;
    b->oom = 0; /* a failed growth does not poison the next record */
    *used = 0;
}

int phi_parse_decimal(const char *s, size_t n, double *v)
{
    size_t i = 0;
    int neg = 0, digits = 0, exp10 = 0, e = 0, eneg = 0;
    double m = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (m < 1e17)
            m = m * 10 + (s[i] - '0');
        else
            exp10++; /* digits past double precision only scale */
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (m < 1e17) {
                m = m * 10 + (s[i] - '0');
                exp10--;
            }
        }
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
    }
    if (i != n)
        return 0;
    exp10 += eneg ? -e : e;
    if (m != 0 && exp10 > 0) {
        for (int k = 0; k < exp10; k++) {
            m *= 10;
            if (m > 1.7976931348623157e308)
                return 0;
        }
    } else if (m != 0) {
        for (int k = 0; k < -exp10 && m != 0; k++)
            m /= 10;
    }
    *v = neg ? -m : m;
    return 1;
}

/* Civil calendar <-> days since 1970-01-01 (proleptic Gregorian), so that
 * dates outside time_t's range and every time zone setting give the same
 * answer on every machine. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

int64_t phi_ms_from_civil(int y, int m, int d) { return days_from_civil(y, m, d) * 86400000LL; }

void phi_civil_from_ms(int64_t ms, int *y, int *m, int *d)
{
    /* floor division, without negating ms (INT64_MIN has no negation) */
    int64_t days = ms / 86400000LL - (ms % 86400000LL < 0);
    civil_from_days(days, y, m, d);
}

static int digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM|+HHMM). */
int phi_date_parse(const char *s, size_t n, int64_t *ms, int *form, int *frac)
{
    int y, mo, d, h = 0, mi = 0, se = 0, msec = 0;
    *frac = 0;
    if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return 0;
    if (n == 10) {
        *form = PHI_DF_DAY;
        *ms = phi_ms_from_civil(y, mo, d);
        return 1;
    }
    if (n < 19 || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &se) || h > 23 || mi > 59 || se > 60)
        return 0;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        size_t j = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == j)
            return 0;
        int scale = 100;
        for (size_t k = j; k < i && k < j + 3; k++, scale /= 10)
            msec += (s[k] - '0') * scale;
        *frac = 1;
    }
    int64_t off = 0;
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        int sign = s[i] == '-' ? -1 : 1;
        i++;
        if (i + 2 > n || !digits(s + i, 2, &oh))
            return 0;
        i += 2;
        if (i < n && s[i] == ':')
            i++;
        if (i + 2 > n || !digits(s + i, 2, &om))
            return 0;
        i += 2;
        off = sign * (oh * 3600000LL + om * 60000LL);
    } else {
        return 0;
    }
    if (i != n)
        return 0;
    *form = PHI_DF_ISO;
    *ms = phi_ms_from_civil(y, mo, d) + h * 3600000LL + mi * 60000LL + se * 1000LL + msec - off;
    return 1;
}

static char *put_num(char *p, int v, int width)
{
    for (int k = width - 1; k >= 0; k--) {
        p[k] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

void phi_date_format(phi_sbuf *b, int64_t ms, int form, int frac)
{
    int y, m, d;
    char t[40], *p = t;
    phi_civil_from_ms(ms, &y, &m, &d);
    if (y < 0 || y > 9999) {
        phi_sbuf_printf(b, "%d-%02d-%02d", y, m, d); /* outside ISO 8601's four digits */
        return;
    }
    p = put_num(p, y, 4);
    *p++ = '-';
    p = put_num(p, m, 2);
    *p++ = '-';
    p = put_num(p, d, 2);
    if (form != PHI_DF_DAY) {
        int64_t day_ms = ms - phi_ms_from_civil(y, m, d);
        *p++ = 'T';
        p = put_num(p, (int)(day_ms / 3600000), 2);
        *p++ = ':';
        p = put_num(p, (int)(day_ms / 60000 % 60), 2);
        *p++ = ':';
        p = put_num(p, (int)(day_ms / 1000 % 60), 2);
        if (frac) {
            *p++ = '.';
            p = put_num(p, (int)(day_ms % 1000), 3);
        }
        *p++ = 'Z';
    }
    phi_sbuf_put(b, t, (size_t)(p - t));
}

/* ---- statistics ---- */
static uint64_t path_hash(const char *p, size_t n, int act)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)(unsigned)act; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211u;
    return h;
}

/* Grows an index to twice `n` slots (at least 64) and refills it; `key`
 * gives entry i's path, length and action. 0 on failure (then the
 * caller's index stays as it was). */
static int index_grow(uint32_t **slots, size_t *nslots, size_t n, const phi_deid_stats *st,
                      void (*key)(const phi_deid_stats *, size_t, const char **, size_t *, int *))
{
    size_t want = 64;
    while (want < 2 * (n + 1))
        want *= 2;
    uint32_t *ns = phi_calloc(want, sizeof *ns);
    if (!ns)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t len;
        int act;
        key(st, i, &p, &len, &act);
        size_t j = path_hash(p, len, act) & (want - 1);
        while (ns[j])
            j = (j + 1) & (want - 1);
        ns[j] = (uint32_t)i + 1;
    }
    phi_free(*slots);
    *slots = ns;
    *nslots = want;
    return 1;
}

static void ent_key(const phi_deid_stats *st, size_t i, const char **p, size_t *len, int *act)
{
    *p = st->ents[i].path;
    *len = st->ents[i].len;
    *act = st->ents[i].act;
}

static void unknown_key(const phi_deid_stats *st, size_t i, const char **p, size_t *len, int *act)
{
    *p = st->unknown[i];
    *len = strlen(st->unknown[i]);
    *act = -1;
}

/* The entry of (path, act), or SIZE_MAX; *slot receives where to insert. */
static size_t ent_find(const phi_deid_stats *st, const char *path, size_t len, int act, size_t *slot)
{
    size_t j = path_hash(path, len, act) & (st->nslots - 1);
    for (; st->slots[j]; j = (j + 1) & (st->nslots - 1)) {
        const phi_count_ent *e = &st->ents[st->slots[j] - 1];
        if (e->len == len && e->act == act && memcmp(e->path, path, len) == 0)
            return st->slots[j] - 1;
    }
    *slot = j;
    return SIZE_MAX;
}

size_t phi_stats_count(phi_deid_stats *st, const char *path, size_t len, int act)
{
    size_t i, slot = 0;
    if (st->hint < st->n) {
        phi_count_ent *e = &st->ents[st->hint];
        if (e->len == len && e->act == act && memcmp(e->path, path, len) == 0) {
            e->count++;
            return st->hint++;
        }
    }
    if ((2 * (st->n + 1) > st->nslots && !index_grow(&st->slots, &st->nslots, st->n, st, ent_key)))
        return SIZE_MAX;
    if ((i = ent_find(st, path, len, act, &slot)) == SIZE_MAX && st->n >= PHI_STATS_MAX_PATHS &&
        !(len == sizeof PHI_STATS_OTHER - 1 && memcmp(path, PHI_STATS_OTHER, len) == 0))
        return phi_stats_count(st, PHI_STATS_OTHER, sizeof PHI_STATS_OTHER - 1, act);
    if (i != SIZE_MAX) {
        st->ents[i].count++;
        st->hint = i + 1;
        return i;
    }
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        phi_count_ent *n = phi_realloc(st->ents, cap * sizeof *n);
        if (!n)
            return SIZE_MAX;
        st->ents = n;
        st->cap = cap;
    }
    char *p = phi_strndup(path, len);
    if (!p)
        return SIZE_MAX;
    st->ents[st->n++] = (phi_count_ent){ p, len, act, 1 };
    st->slots[slot] = (uint32_t)st->n;
    st->hint = st->n;
    return st->n - 1;
}

void phi_stats_unknown(phi_deid_stats *st, const char *path, size_t len)
{
    size_t j;
    if (2 * (st->nunknown + 1) > st->nuslots && !index_grow(&st->uslots, &st->nuslots, st->nunknown, st, unknown_key))
        return;
    for (j = path_hash(path, len, -1) & (st->nuslots - 1); st->uslots[j]; j = (j + 1) & (st->nuslots - 1)) {
        const char *u = st->unknown[st->uslots[j] - 1];
        if (strncmp(u, path, len) == 0 && u[len] == '\0')
            return;
    }
    if (st->nunknown >= 10000)
        return;
    if (st->nunknown == st->capunknown) {
        size_t cap = st->capunknown ? st->capunknown * 2 : 16;
        char **n = phi_realloc(st->unknown, cap * sizeof *n);
        if (!n)
            return;
        st->unknown = n;
        st->capunknown = cap;
    }
    char *p = phi_strndup(path, len);
    if (p) {
        st->unknown[st->nunknown++] = p;
        st->uslots[j] = (uint32_t)st->nunknown;
    }
}

void phi_stats_merge(phi_deid_stats *into, const phi_deid_stats *from)
{
    for (size_t i = 0; i < from->n; i++) {
        const phi_count_ent *e = &from->ents[i];
        size_t j = phi_stats_count(into, e->path, e->len, e->act); /* counts 1 */
        if (j != SIZE_MAX)
            into->ents[j].count += e->count - 1;
    }
    for (size_t i = 0; i < from->nunknown; i++)
        phi_stats_unknown(into, from->unknown[i], strlen(from->unknown[i]));
    if (from->bad.len && into->nbad < 1000) {
        if (into->bad.len)
            phi_sbuf_putc(&into->bad, ',');
        phi_sbuf_put(&into->bad, from->bad.p, from->bad.len);
    }
    into->nbad += from->nbad;
}

void phi_stats_free(phi_deid_stats *st)
{
    for (size_t i = 0; i < st->n; i++)
        phi_free(st->ents[i].path);
    phi_free(st->ents);
    for (size_t i = 0; i < st->nunknown; i++)
        phi_free(st->unknown[i]);
    phi_free(st->unknown);
    phi_free(st->slots);
    phi_free(st->uslots);
    phi_sbuf_free(&st->bad);
    memset(st, 0, sizeof *st);
}
