/* The re-identification risk report and the suppression pass (see
 * risk_private.h). Values are read back from the output records, so what
 * is counted is what a recipient sees; each value is made canonical (one
 * form per value whatever the format wrote it as), the tuple is hashed
 * with a run key, and only hashes and counts are kept. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/risk_private.h"

/* Canonical value tags: a missing value is its own value. */
enum { TAG_MISSING = 0, TAG_NULL = 1, TAG_TEXT = 2, TAG_COMPOSITE = 3 };

/* ---- policy ---- */

void phi_risk_qi_free(phicrypt_deid_policy *p)
{
    for (size_t i = 0; p->qi && i < p->nqi; i++) {
        phi_free(p->qi[i].text);
        for (size_t j = 0; j < p->qi[i].nseg; j++)
            phi_free(p->qi[i].segs[j]);
        phi_free(p->qi[i].segs);
        phi_free(p->qi[i].seglen);
    }
    phi_free(p->qi);
    p->qi = NULL;
    p->nqi = 0;
}

static int is_prefix(const phi_risk_qi *a, const phi_risk_qi *b)
{
    if (a->nseg > b->nseg)
        return 0;
    for (size_t i = 0; i < a->nseg; i++)
        if (a->seglen[i] != b->seglen[i] || memcmp(a->segs[i], b->segs[i], a->seglen[i]) != 0)
            return 0;
    return 1;
}

int phi_risk_parse_qi(const void *eh, const bson_iter_t *it0, phicrypt_deid_policy *p)
{
    bson_iter_t it = *it0, a;
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &a))
        return phi_error(eh, PHICRYPT_EINVAL,
                         "quasi_identifiers: must be an array of field paths (e.g. [\"address.zip\", \"dob\", \"sex\"])");
    size_t n = 0;
    while (bson_iter_next(&a))
        n++;
    if (n == 0)
        return phi_error(eh, PHICRYPT_EINVAL,
                         "quasi_identifiers: empty (name at least one field path, or leave the member out)");
    if (n > 64)
        return phi_error(eh, PHICRYPT_EINVAL, "quasi_identifiers: at most 64 field paths");
    p->qi = phi_calloc(n, sizeof *p->qi);
    if (!p->qi)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    p->nqi = n;
    bson_iter_recurse(&it, &a);
    for (size_t i = 0; i < n && bson_iter_next(&a); i++) {
        phi_risk_qi *q = &p->qi[i];
        if (!BSON_ITER_HOLDS_UTF8(&a))
            return phi_error(eh, PHICRYPT_EINVAL,
                             "quasi_identifiers[%zu]: must be a string (a field path such as \"address.zip\"), not %s",
                             i, phi_bson_type_name(bson_iter_type(&a)));
        uint32_t len;
        const char *s = bson_iter_utf8(&a, &len);
        char loc[64];
        snprintf(loc, sizeof loc, "quasi_identifiers[%zu]", i);
        phi_path path;
        memset(&path, 0, sizeof path);
        if (len == 0 || strlen(s) != len)
            return phi_error(eh, PHICRYPT_EINVAL, "%s: must be a non-empty field path", loc);
        int rc = phi_path_parse(eh, loc, s, &path);
        if (rc)
            return rc;
        q->text = phi_strdup(s);
        q->segs = phi_calloc(path.n, sizeof *q->segs);
        q->seglen = phi_calloc(path.n, sizeof *q->seglen);
        if (!q->text || !q->segs || !q->seglen) {
            phi_path_free(&path);
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        }
        q->nseg = path.n;
        for (size_t j = 0; j < path.n; j++) {
            if (path.segs[j].kind != PHI_SEG_KEY) {
                phi_path_free(&path);
                return phi_error(eh, PHICRYPT_EINVAL,
                                 "%s: '%s': a quasi-identifier is one value per record: plain keys only "
                                 "(no '*', no '[]')", loc, q->text);
            }
            q->segs[j] = phi_malloc(path.segs[j].key_len + 1);
            if (!q->segs[j]) {
                phi_path_free(&path);
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            }
            memcpy(q->segs[j], path.segs[j].key, path.segs[j].key_len);
            q->segs[j][path.segs[j].key_len] = 0;
            q->seglen[j] = path.segs[j].key_len;
        }
        phi_path_free(&path);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->qi[j].text, q->text) == 0)
                return phi_error(eh, PHICRYPT_EINVAL, "%s: '%s' given twice", loc, q->text);
            if (is_prefix(&p->qi[j], q) || is_prefix(q, &p->qi[j]))
                return phi_error(eh, PHICRYPT_EINVAL, "%s: '%s' and '%s' overlap (one contains the other): name one",
                                 loc, q->text, p->qi[j].text);
        }
    }
    return 0;
}

/* ---- canonical values ---- */

static void put_item(crypto_generichash_blake2b_state *st, int tag, const void *d, size_t n)
{
    uint8_t hdr[9];
    hdr[0] = (uint8_t)tag;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (uint8_t)((uint64_t)n >> (8 * i));
    crypto_generichash_blake2b_update(st, hdr, sizeof hdr);
    if (n)
        crypto_generichash_blake2b_update(st, d, n);
}

/* A date's canonical text: ISO 8601 UTC with milliseconds. */
static void date_text(char *tmp, size_t cap, int64_t ms)
{
    if (!phi_date_ms_ok(ms)) {
        snprintf(tmp, cap, "date:%lld", (long long)ms);
        return;
    }
    int y, m, d;
    int64_t day = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - day * 86400000;
    phi_civil_from_ms(day * 86400000, &y, &m, &d);
    if (y < 0 || y > 9999 || cap < 25) {
        snprintf(tmp, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, (int)(rem / 3600000),
                 (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
        return;
    }
    /* By hand: this runs once per date per record. */
    int f[7] = { y, m, d, (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000) };
    static const int w[7] = { 4, 2, 2, 2, 2, 2, 3 };
    static const char sep[7] = { '-', '-', 'T', ':', ':', '.', 'Z' };
    char *p = tmp;
    for (int i = 0; i < 7; i++) {
        for (int k = w[i] - 1, v = f[i]; k >= 0; k--, v /= 10)
            p[k] = (char)('0' + v % 10);
        p += w[i];
        *p++ = sep[i];
    }
    *p = 0;
}

/* A BSON value, canonical: text for scalars (numbers by value, dates as
 * ISO 8601 UTC, ObjectIds in hex), canonical Extended JSON for the rest. */
static int canon_bson(const void *eh, phi_risk_tab *t, const bson_iter_t *it, crypto_generichash_blake2b_state *st)
{
    char tmp[64];
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
        uint32_t l;
        const char *s = bson_iter_utf8(it, &l);
        put_item(st, TAG_TEXT, s, l);
        return 0;
    }
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        put_item(st, TAG_NULL, NULL, 0);
        return 0;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        snprintf(tmp, sizeof tmp, "%lld", (long long)bson_iter_as_int64(it));
        break;
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(it);
        if (d == (double)(long long)d && d > -9e15 && d < 9e15) {
            snprintf(tmp, sizeof tmp, "%lld", (long long)d);
        } else {
            snprintf(tmp, sizeof tmp, "%.15g", d);
            if (strtod(tmp, NULL) != d)
                snprintf(tmp, sizeof tmp, "%.17g", d);
        }
        break;
    }
    case BSON_TYPE_BOOL:
        snprintf(tmp, sizeof tmp, "%s", bson_iter_bool(it) ? "true" : "false");
        break;
    case BSON_TYPE_DATE_TIME:
        date_text(tmp, sizeof tmp, bson_iter_date_time(it));
        break;
    case BSON_TYPE_OID:
        bson_oid_to_string(bson_iter_oid(it), tmp);
        break;
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t dec;
        bson_iter_decimal128(it, &dec);
        bson_decimal128_to_string(&dec, tmp);
        break;
    }
    default: {
        size_t l = 0;
        char *j = phi_bson_value_to_json(eh, it, 1, &l);
        if (!j)
            return PHICRYPT_ENOMEM;
        put_item(st, TAG_COMPOSITE, j, l);
        phi_wipe_free(j, l);
        return 0;
    }
    }
    (void)t;
    put_item(st, TAG_TEXT, tmp, strlen(tmp));
    return 0;
}

/* ---- JSON: find a path's value in a record's text ---- */

static size_t jws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static int jskip_str(const char *s, size_t n, size_t *i)
{
    size_t j = *i + 1;
    while (j < n) {
        const char *q = memchr(s + j, '"', n - j);
        if (!q)
            return -1;
        size_t e = (size_t)(q - s), b = e;
        while (b > j && s[b - 1] == '\\')
            b--;
        if ((e - b) % 2 == 0) { /* not escaped */
            *i = e + 1;
            return 0;
        }
        j = e + 1;
    }
    return -1;
}

static int jskip_val(const char *s, size_t n, size_t *i)
{
    size_t j = *i;
    if (j >= n)
        return -1;
    if (s[j] == '"')
        return jskip_str(s, n, i);
    if (s[j] == '{' || s[j] == '[') {
        int depth = 0;
        while (j < n) {
            char c = s[j];
            if (c == '"') {
                if (jskip_str(s, n, &j))
                    return -1;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0) {
                *i = j + 1;
                return 0;
            }
            j++;
        }
        return -1;
    }
    while (j < n && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' &&
           s[j] != '\r')
        j++;
    if (j == *i)
        return -1;
    *i = j;
    return 0;
}

/* Whether the key s[k0..k1) (raw, between the quotes) is `seg`. */
static int jkey_is(const void *eh, const char *s, size_t k0, size_t k1, const char *seg, size_t seglen)
{
    if (!memchr(s + k0, '\\', k1 - k0))
        return k1 - k0 == seglen && memcmp(s + k0, seg, seglen) == 0;
    bson_t b;
    if (phi_json_value_to_bson(eh, "risk", s + k0 - 1, k1 - k0 + 2, &b) != 0)
        return 0;
    bson_iter_t it;
    int r = 0;
    if (bson_iter_init_find(&it, &b, "v") && BSON_ITER_HOLDS_UTF8(&it)) {
        uint32_t l;
        const char *k = bson_iter_utf8(&it, &l);
        r = l == seglen && memcmp(k, seg, seglen) == 0;
    }
    bson_destroy(&b);
    return r;
}

/* The value of q in the JSON object at s[i]: 1 and its span, 0 missing
 * (or a scalar where a document is expected), 2 an array on the way
 * (its span: the array is the value), -1 malformed. */
static int jfind(const void *eh, const char *s, size_t n, size_t i, const phi_risk_qi *q, size_t d, size_t *v0,
                 size_t *v1)
{
    i = jws(s, n, i);
    if (i >= n || s[i] != '{')
        return -1;
    i++;
    for (;;) {
        i = jws(s, n, i);
        if (i < n && s[i] == '}')
            return 0;
        if (i >= n || s[i] != '"')
            return -1;
        size_t k0 = i + 1;
        if (jskip_str(s, n, &i))
            return -1;
        size_t k1 = i - 1;
        i = jws(s, n, i);
        if (i >= n || s[i] != ':')
            return -1;
        i = jws(s, n, i + 1);
        if (jkey_is(eh, s, k0, k1, q->segs[d], q->seglen[d])) {
            size_t b = i;
            if (d + 1 < q->nseg && s[i] == '{')
                return jfind(eh, s, n, i, q, d + 1, v0, v1);
            if (jskip_val(s, n, &i))
                return -1;
            if (d + 1 == q->nseg) {
                *v0 = b;
                *v1 = i;
                return 1;
            }
            if (s[b] == '[') {
                *v0 = b;
                *v1 = i;
                return 2;
            }
            return 0;
        }
        if (jskip_val(s, n, &i))
            return -1;
        i = jws(s, n, i);
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}')
            return 0;
        return -1;
    }
}

/* A JSON integer whose text is its canonical form: no leading zero, no
 * "-0", at most 18 digits (within int64 and exact in libbson's parse). */
static int isint(const char *v, size_t l)
{
    size_t i = v[0] == '-';
    if (l <= i || l - i > 18 || (v[i] == '0' && l - i > 1) || (i && v[1] == '0'))
        return 0;
    for (; i < l; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

static int canon_json(const void *eh, phi_risk_tab *t, const char *s, size_t v0, size_t v1,
                      crypto_generichash_blake2b_state *st)
{
    size_t l = v1 - v0;
    if (l == 4 && memcmp(s + v0, "null", 4) == 0) {
        put_item(st, TAG_NULL, NULL, 0);
        return 0;
    }
    if (s[v0] == '"' && !memchr(s + v0, '\\', l)) {
        put_item(st, TAG_TEXT, s + v0 + 1, l - 2);
        return 0;
    }
    /* Fast paths for what the rewriters write most (compact Extended
     * JSON); the same canonical text as canon_bson gives. */
    const char *v = s + v0;
    if (isint(v, l)) {
        put_item(st, TAG_TEXT, v, l);
        return 0;
    }
    if (l > 12 && memcmp(v, "{\"$date\":\"", 10) == 0 && memcmp(v + l - 2, "\"}", 2) == 0 &&
        !memchr(v + 10, '"', l - 12)) {
        int64_t ms;
        int form, frac;
        char tmp[64];
        if (phi_date_parse(v + 10, l - 12, &ms, &form, &frac) && form != PHI_DF_DAY) {
            date_text(tmp, sizeof tmp, ms);
            put_item(st, TAG_TEXT, tmp, strlen(tmp));
            return 0;
        }
    }
    if (l > 28 && memcmp(v, "{\"$date\":{\"$numberLong\":\"", 25) == 0 && memcmp(v + l - 3, "\"}}", 3) == 0 &&
        isint(v + 25, l - 28)) {
        char tmp[64];
        long long ms = strtoll(v + 25, NULL, 10);
        date_text(tmp, sizeof tmp, (int64_t)ms);
        put_item(st, TAG_TEXT, tmp, strlen(tmp));
        return 0;
    }
    if (l == 35 && memcmp(v, "{\"$oid\":\"", 9) == 0 && memcmp(v + 33, "\"}", 2) == 0) {
        char hex[24];
        int ok = 1;
        for (int i = 0; i < 24; i++) {
            char c = v[9 + i];
            if (c >= 'A' && c <= 'F')
                c = (char)(c - 'A' + 'a');
            ok &= (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            hex[i] = c;
        }
        if (ok) {
            put_item(st, TAG_TEXT, hex, 24);
            return 0;
        }
    }
    if (l > 18 && memcmp(v, "{\"$numberLong\":\"", 16) == 0 && memcmp(v + l - 2, "\"}", 2) == 0 &&
        isint(v + 16, l - 18)) {
        put_item(st, TAG_TEXT, v + 16, l - 18);
        return 0;
    }
    bson_t b;
    int rc = phi_json_value_to_bson(eh, "risk", s + v0, l, &b);
    if (rc)
        return rc;
    bson_iter_t it;
    if (bson_iter_init_find(&it, &b, "v"))
        rc = canon_bson(eh, t, &it, st);
    phi_bson_wipe_destroy(&b);
    return rc;
}

/* ---- BSON: find a path's value ---- */

/* 1 found (*out), 0 missing, 2 an array on the way (*out is it). */
static int bfind(const bson_t *doc, const phi_risk_qi *q, bson_iter_t *out)
{
    bson_iter_t it, sub;
    if (!bson_iter_init(&it, doc))
        return 0;
    for (size_t d = 0; d < q->nseg; d++) {
        int found = 0;
        while (bson_iter_next(&it)) {
            uint32_t kl = bson_iter_key_len(&it);
            if (kl == q->seglen[d] && memcmp(bson_iter_key(&it), q->segs[d], kl) == 0) {
                found = 1;
                break;
            }
        }
        if (!found)
            return 0;
        if (d + 1 == q->nseg) {
            *out = it;
            return 1;
        }
        if (BSON_ITER_HOLDS_ARRAY(&it)) {
            *out = it;
            return 2;
        }
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &sub))
            return 0;
        it = sub;
    }
    return 0;
}

/* ---- the tuple of a record ---- */

/* Hashes the record's tuple into h (16 bytes); counts missing values. */
static int tuple_hash(const void *eh, phi_risk_tab *t, const char *rec, size_t n, uint8_t h[16], int count_missing)
{
    const phi_risk *rk = t->rk;
    const phicrypt_deid_policy *p = rk->pol;
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, rk->key, sizeof rk->key, 16);
    int rc = 0;
    if (rk->fmt == PHICRYPT_DEID_BSON) {
        bson_t doc;
        if (!bson_init_static(&doc, (const uint8_t *)rec, n))
            return phi_error(eh, PHICRYPT_EBADDATA, "risk: an output record is not a BSON document");
        for (size_t i = 0; rc == 0 && i < p->nqi; i++) {
            bson_iter_t v;
            int f = bfind(&doc, &p->qi[i], &v);
            if (f == 0) {
                put_item(&st, TAG_MISSING, NULL, 0);
                if (count_missing)
                    t->missing[i]++;
            } else {
                rc = canon_bson(eh, t, &v, &st);
            }
        }
    } else if (rk->fmt == PHICRYPT_DEID_CSV) {
        const char *why = NULL;
        rc = phi_csv_split(rec, n, rk->cols->sep, &t->row, &why);
        if (rc)
            return phi_error(eh, rc, "risk: an output row does not split (%s)", why ? why : "?");
        for (size_t i = 0; i < p->nqi; i++) {
            size_t c = rk->csv_col[i];
            if (c == SIZE_MAX || c >= t->row.n || t->row.dec_len[c] == 0) {
                put_item(&st, TAG_MISSING, NULL, 0);
                if (count_missing)
                    t->missing[i]++;
            } else {
                put_item(&st, TAG_TEXT, t->row.dec.p + t->row.dec_off[c], t->row.dec_len[c]);
            }
        }
    } else {
        for (size_t i = 0; rc == 0 && i < p->nqi; i++) {
            size_t v0 = 0, v1 = 0;
            int f = jfind(eh, rec, n, 0, &p->qi[i], 0, &v0, &v1);
            if (f < 0)
                return phi_error(eh, PHICRYPT_EBADDATA, "risk: an output record is not a JSON document");
            if (f == 0) {
                put_item(&st, TAG_MISSING, NULL, 0);
                if (count_missing)
                    t->missing[i]++;
            } else {
                rc = canon_json(eh, t, rec, v0, v1, &st);
            }
        }
    }
    crypto_generichash_blake2b_final(&st, h, 16);
    sodium_memzero(&st, sizeof st);
    return rc;
}

/* ---- tables and runs ---- */

static size_t slot_of(const uint8_t h[16], size_t mask)
{
    uint64_t x;
    memcpy(&x, h, 8);
    return (size_t)x & mask;
}

static int ent_cmp(const void *a, const void *b) { return memcmp(a, b, 16); }

/* Moves the filled entries to the front and sorts them; returns how many. */
static size_t compact_sort(phi_risk_tab *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].n)
            t->e[k++] = t->e[i];
    qsort(t->e, k, sizeof *t->e, ent_cmp);
    return k;
}

static int write_all(int fd, const void *d, size_t n)
{
    const char *p = d;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A new unlinked temporary file in the spill directory. */
static int spill_file(phi_risk *rk)
{
    size_t n = strlen(rk->tmpdir) + 32;
    char *path = phi_malloc(n);
    if (!path)
        return -1;
    snprintf(path, n, "%s/.phicrypt-risk-XXXXXX", rk->tmpdir);
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    phi_free(path);
    return fd;
}

static int add_run(phi_risk *rk, int fd, uint64_t n, int spilled)
{
    pthread_mutex_lock(&rk->mu);
    if (rk->nruns == rk->capruns) {
        size_t c = rk->capruns ? rk->capruns * 2 : 16;
        phi_risk_run *r = phi_realloc(rk->runs, c * sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&rk->mu);
            return -1;
        }
        rk->runs = r;
        rk->capruns = c;
    }
    rk->runs[rk->nruns++] = (phi_risk_run){ fd, n };
    rk->spilled += spilled != 0;
    pthread_mutex_unlock(&rk->mu);
    return 0;
}

static void set_err(phi_risk *rk, int code, const char *what)
{
    pthread_mutex_lock(&rk->mu);
    if (!rk->err) {
        rk->err = code;
        snprintf(rk->errmsg, sizeof rk->errmsg, "risk report: cannot %s a temporary file in %s", what, rk->tmpdir);
    }
    pthread_mutex_unlock(&rk->mu);
}

static int cascade_some(const void *eh, phi_risk *rk);

static int spill(const void *eh, phi_risk_tab *t)
{
    phi_risk *rk = t->rk;
    size_t k = compact_sort(t);
    int fd = spill_file(rk);
    if (fd < 0) {
        set_err(rk, PHICRYPT_EIO, "create");
        return phi_error(eh, PHICRYPT_EIO, "risk report: cannot create a temporary file in %s (%s)", rk->tmpdir,
                         strerror(errno));
    }
    if (write_all(fd, t->e, k * sizeof *t->e) != 0 || add_run(rk, fd, k, 1) != 0) {
        close(fd);
        set_err(rk, PHICRYPT_EIO, "write");
        return phi_error(eh, PHICRYPT_EIO, "risk report: cannot write a temporary file in %s", rk->tmpdir);
    }
    memset(t->e, 0, t->cap * sizeof *t->e);
    t->used = 0;
    return cascade_some(eh, rk);
}

static int grow(phi_risk_tab *t)
{
    size_t nc = t->cap * 2;
    phi_risk_ent *ne = phi_calloc(nc, sizeof *ne);
    if (!ne)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].n)
            continue;
        size_t s = slot_of(t->e[i].h, nc - 1);
        while (ne[s].n)
            s = (s + 1) & (nc - 1);
        ne[s] = t->e[i];
    }
    phi_free(t->e);
    t->e = ne;
    t->cap = nc;
    return 0;
}

static int tab_insert(const void *eh, phi_risk_tab *t, const uint8_t h[16], uint64_t count)
{
    size_t mask = t->cap - 1, s = slot_of(h, mask);
    while (t->e[s].n) {
        if (memcmp(t->e[s].h, h, 16) == 0) {
            t->e[s].n += count;
            return 0;
        }
        s = (s + 1) & mask;
    }
    memcpy(t->e[s].h, h, 16);
    t->e[s].n = count;
    t->used++;
    if (t->used * 4 >= t->cap * 3) {
        if (t->cap < t->max_cap && grow(t) == 0)
            return 0;
        return spill(eh, t);
    }
    return 0;
}

int phi_risk_init(const void *eh, phi_risk *rk, const phicrypt_deid_policy *p, int fmt, size_t budget, size_t tables,
                  const char *out_path)
{
    memset(rk, 0, sizeof *rk);
    rk->pol = p;
    rk->fmt = fmt;
    rk->budget = budget ? budget : PHI_RISK_DEFAULT_MEMORY;
    if (rk->budget < PHI_RISK_MIN_MEMORY)
        rk->budget = PHI_RISK_MIN_MEMORY;
    rk->ntabs_max = tables ? tables : 1;
    rk->below_fd = -1;
    pthread_mutex_init(&rk->mu, NULL);
    if (phi_random(rk->key, sizeof rk->key) != 0)
        return phi_error(eh, PHICRYPT_EINTERNAL, "risk report: no random key");
    const char *env = getenv("TMPDIR");
    struct stat st;
    /* Beside a file output (new or regular); a stream, device or FIFO
     * (/dev/null for --dry-run) spills to TMPDIR. */
    if (out_path && strcmp(out_path, "-") != 0 && strncmp(out_path, "/dev/", 5) != 0 &&
        strncmp(out_path, "/proc/", 6) != 0 && (stat(out_path, &st) != 0 || S_ISREG(st.st_mode)))
        rk->tmpdir = phi_path_dirname(out_path);
    else
        rk->tmpdir = phi_strdup(env && *env ? env : "/tmp");
    if (!rk->tmpdir)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    /* The output's directory may be unwritable for new names (a device
     * output, a read-only directory with an existing file): TMPDIR then. */
    if (access(rk->tmpdir, W_OK) != 0) {
        phi_free(rk->tmpdir);
        rk->tmpdir = phi_strdup(env && *env ? env : "/tmp");
        if (!rk->tmpdir)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    return 0;
}

void phi_risk_set_csv(phi_risk *rk, const phi_csv_cols *cols)
{
    const phicrypt_deid_policy *p = rk->pol;
    rk->cols = cols;
    phi_free(rk->csv_col);
    rk->csv_col = phi_calloc(p->nqi ? p->nqi : 1, sizeof *rk->csv_col);
    if (!rk->csv_col) {
        rk->err = PHICRYPT_ENOMEM;
        snprintf(rk->errmsg, sizeof rk->errmsg, "out of memory");
        return;
    }
    for (size_t i = 0; i < p->nqi; i++) {
        rk->csv_col[i] = SIZE_MAX;
        size_t oi = 0;
        for (size_t c = 0; c < cols->n; c++) {
            if (cols->drop[c])
                continue;
            if (strcmp(cols->names[c], p->qi[i].text) == 0) {
                rk->csv_col[i] = oi;
                break;
            }
            oi++;
        }
    }
}

phi_risk_tab *phi_risk_tab_new(phi_risk *rk)
{
    phi_risk_tab *t = phi_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->rk = rk;
    size_t per = rk->budget / rk->ntabs_max / sizeof(phi_risk_ent);
    size_t mc = 16;
    while (mc * 2 <= per)
        mc *= 2;
    t->max_cap = mc;
    t->cap = mc < 4096 ? mc : 4096;
    t->e = phi_calloc(t->cap, sizeof *t->e);
    t->missing = phi_calloc(rk->pol->nqi ? rk->pol->nqi : 1, sizeof *t->missing);
    if (!t->e || !t->missing) {
        phi_free(t->e);
        phi_free(t->missing);
        phi_free(t);
        return NULL;
    }
    return t;
}

void phi_risk_tab_free(phi_risk_tab *t)
{
    if (!t)
        return;
    phi_free(t->e);
    phi_free(t->missing);
    phi_csv_row_free(&t->row);
    phi_free(t);
}

int phi_risk_add(const void *eh, phi_risk_tab *t, const char *rec, size_t n)
{
    uint8_t h[16];
    int rc = tuple_hash(eh, t, rec, n, h, 1);
    if (rc)
        return rc;
    t->records++;
    return tab_insert(eh, t, h, 1);
}

void phi_risk_tab_done(phi_risk_tab *t)
{
    phi_risk *rk = t->rk;
    pthread_mutex_lock(&rk->mu);
    phi_risk_tab **nt = phi_realloc(rk->tabs, (rk->ntabs + 1) * sizeof *nt);
    if (nt) {
        rk->tabs = nt;
        rk->tabs[rk->ntabs++] = t;
        t = NULL;
    } else if (!rk->err) {
        rk->err = PHICRYPT_ENOMEM;
        snprintf(rk->errmsg, sizeof rk->errmsg, "out of memory");
    }
    pthread_mutex_unlock(&rk->mu);
    phi_risk_tab_free(t);
}

void phi_risk_free(phi_risk *rk)
{
    for (size_t i = 0; i < rk->ntabs; i++)
        phi_risk_tab_free(rk->tabs[i]);
    phi_free(rk->tabs);
    for (size_t i = 0; i < rk->nruns; i++)
        if (rk->runs[i].fd >= 0)
            close(rk->runs[i].fd);
    phi_free(rk->runs);
    phi_free(rk->tmpdir);
    phi_free(rk->csv_col);
    phi_free(rk->below);
    phi_free(rk->bitmap);
    if (rk->below_fd >= 0)
        close(rk->below_fd);
    pthread_mutex_destroy(&rk->mu);
    sodium_memzero(rk->key, sizeof rk->key);
    memset(rk, 0, sizeof *rk);
}

void phi_risk_res_free(phi_risk_res *res)
{
    phi_free(res->hist);
    phi_free(res->missing);
    memset(res, 0, sizeof *res);
}

/* ---- the merge ---- */

#define FANIN 32
#define RBUF 1024 /* entries read at a time from a run */

typedef struct src {
    const phi_risk_ent *mem; /* in-memory sorted entries, or NULL */
    int fd;
    phi_risk_ent *buf;
    size_t pos, len;
    uint64_t left; /* entries not yet read into buf (runs) / not yet used (memory) */
} src;

static int src_fill(src *s)
{
    if (s->mem)
        return 0;
    if (s->pos < s->len || s->left == 0)
        return 0;
    size_t want = s->left < RBUF ? (size_t)s->left : RBUF, got = 0;
    char *p = (char *)s->buf;
    while (got < want * sizeof *s->buf) {
        ssize_t r = read(s->fd, p + got, want * sizeof *s->buf - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    s->pos = 0;
    s->len = want;
    s->left -= want;
    return 0;
}

static const phi_risk_ent *src_peek(src *s)
{
    if (s->mem)
        return s->pos < s->len ? &s->mem[s->pos] : NULL;
    return s->pos < s->len ? &s->buf[s->pos] : NULL;
}

typedef int (*emit_fn)(void *arg, const uint8_t h[16], uint64_t n);

/* Merges sources (sorted by hash) summing equal hashes. */
static int merge(src *ss, size_t ns, emit_fn emit, void *arg)
{
    for (size_t i = 0; i < ns; i++)
        if (src_fill(&ss[i]))
            return PHICRYPT_EIO;
    for (;;) {
        const phi_risk_ent *best = NULL;
        for (size_t i = 0; i < ns; i++) {
            const phi_risk_ent *e = src_peek(&ss[i]);
            if (e && (!best || memcmp(e->h, best->h, 16) < 0))
                best = e;
        }
        if (!best)
            return 0;
        uint8_t h[16];
        uint64_t total = 0;
        memcpy(h, best->h, 16);
        for (size_t i = 0; i < ns; i++) {
            const phi_risk_ent *e;
            while ((e = src_peek(&ss[i])) && memcmp(e->h, h, 16) == 0) {
                total += e->n;
                ss[i].pos++;
                if (src_fill(&ss[i]))
                    return PHICRYPT_EIO;
            }
        }
        int rc = emit(arg, h, total);
        if (rc)
            return rc;
    }
}

typedef struct to_run {
    int fd;
    phi_risk_ent buf[RBUF];
    size_t n;
    uint64_t total;
} to_run;

static int emit_run(void *arg, const uint8_t h[16], uint64_t n)
{
    to_run *r = arg;
    memcpy(r->buf[r->n].h, h, 16);
    r->buf[r->n].n = n;
    r->total++;
    if (++r->n == RBUF) {
        if (write_all(r->fd, r->buf, sizeof r->buf) != 0)
            return PHICRYPT_EIO;
        r->n = 0;
    }
    return 0;
}

static int open_run_src(src *s, const phi_risk_run *r)
{
    memset(s, 0, sizeof *s);
    s->fd = r->fd;
    s->left = r->n;
    s->buf = phi_malloc(RBUF * sizeof *s->buf);
    if (!s->buf)
        return PHICRYPT_ENOMEM;
    return lseek(r->fd, 0, SEEK_SET) == 0 ? 0 : PHICRYPT_EIO;
}

/* Merges k runs into one new run (*out); the k files are closed. */
static int merge_runs(phi_risk *rk, phi_risk_run *runs, size_t k, phi_risk_run *res)
{
    src ss[FANIN];
    to_run *out = phi_calloc(1, sizeof *out);
    if (!out)
        return PHICRYPT_ENOMEM;
    out->fd = spill_file(rk);
    int rc = out->fd < 0 ? PHICRYPT_EIO : 0;
    size_t opened = 0;
    for (; rc == 0 && opened < k; opened++)
        rc = open_run_src(&ss[opened], &runs[opened]);
    if (rc == 0)
        rc = merge(ss, k, emit_run, out);
    if (rc == 0 && out->n && write_all(out->fd, out->buf, out->n * sizeof *out->buf) != 0)
        rc = PHICRYPT_EIO;
    for (size_t i = 0; i < opened; i++)
        phi_free(ss[i].buf);
    if (rc) {
        if (out->fd >= 0)
            close(out->fd);
        phi_free(out);
        return rc;
    }
    for (size_t i = 0; i < k; i++)
        close(runs[i].fd);
    *res = (phi_risk_run){ out->fd, out->total };
    phi_free(out);
    return 0;
}

/* Merges runs FANIN at a time until at most FANIN are left (the end). */
static int cascade(const void *eh, phi_risk *rk)
{
    while (rk->nruns > FANIN) {
        phi_risk_run m;
        int rc = merge_runs(rk, rk->runs, FANIN, &m);
        if (rc)
            return phi_error(eh, rc, "risk report: cannot merge the temporary files in %s", rk->tmpdir);
        memmove(rk->runs, rk->runs + FANIN, (rk->nruns - FANIN) * sizeof *rk->runs);
        rk->nruns -= FANIN;
        rk->runs[rk->nruns++] = m;
    }
    return 0;
}

/* During the run: a worker that finds 2 * FANIN runs waiting merges FANIN
 * of them, so that open files stay few whatever the input's size. */
static int cascade_some(const void *eh, phi_risk *rk)
{
    phi_risk_run take[FANIN], m;
    pthread_mutex_lock(&rk->mu);
    if (rk->nruns < 2 * FANIN) {
        pthread_mutex_unlock(&rk->mu);
        return 0;
    }
    memcpy(take, rk->runs, sizeof take);
    memmove(rk->runs, rk->runs + FANIN, (rk->nruns - FANIN) * sizeof *rk->runs);
    rk->nruns -= FANIN;
    pthread_mutex_unlock(&rk->mu);
    int rc = merge_runs(rk, take, FANIN, &m);
    if (rc == 0)
        rc = add_run(rk, m.fd, m.n, 0) ? PHICRYPT_ENOMEM : 0;
    if (rc) {
        set_err(rk, rc, "merge");
        return phi_error(eh, rc, "risk report: cannot merge the temporary files in %s", rk->tmpdir);
    }
    return 0;
}

typedef struct counter {
    phi_risk *rk;
    phi_risk_res *res;
    uint64_t k;
    uint64_t small[4096]; /* classes per size below 4096 */
    phi_risk_hist *big;
    size_t nbig, capbig;
    uint8_t bbuf[RBUF][16]; /* below-k hashes not yet written */
    size_t nb;
    int oom;
} counter;

static int emit_count(void *arg, const uint8_t h[16], uint64_t n)
{
    counter *c = arg;
    phi_risk_res *r = c->res;
    r->classes++;
    if (!r->k_min || n < r->k_min)
        r->k_min = n;
    if (n == 1)
        r->unique++;
    if (n < c->k) {
        r->classes_below_k++;
        r->records_below_k += n;
        phi_risk *rk = c->rk;
        if (rk && rk->want_below) {
            /* The hashes of the classes below k, in hash order, go to a
             * file: the suppression pass reads them back a budget at a time. */
            memcpy(c->bbuf[c->nb++], h, 16);
            rk->nbelow++;
            if (c->nb == RBUF) {
                if (write_all(rk->below_fd, c->bbuf, sizeof c->bbuf) != 0)
                    return PHICRYPT_EIO;
                c->nb = 0;
            }
        }
    }
    if (n < 4096) {
        c->small[n]++;
        return 0;
    }
    for (size_t i = 0; i < c->nbig; i++)
        if (c->big[i].size == n) {
            c->big[i].classes++;
            return 0;
        }
    if (c->nbig == c->capbig) {
        size_t nc = c->capbig ? c->capbig * 2 : 16;
        phi_risk_hist *nb = phi_realloc(c->big, nc * sizeof *nb);
        if (!nb)
            return PHICRYPT_ENOMEM;
        c->big = nb;
        c->capbig = nc;
    }
    c->big[c->nbig++] = (phi_risk_hist){ n, 1 };
    return 0;
}

static int hist_cmp(const void *a, const void *b)
{
    const phi_risk_hist *x = a, *y = b;
    return x->size < y->size ? -1 : x->size > y->size;
}

int phi_risk_finish(const void *eh, phi_risk *rk, phi_risk_res *res)
{
    memset(res, 0, sizeof *res);
    const phicrypt_deid_policy *p = rk->pol;
    if (rk->err)
        return phi_error(eh, rk->err, "%s", rk->errmsg);
    res->missing = phi_calloc(p->nqi ? p->nqi : 1, sizeof *res->missing);
    counter *c = phi_calloc(1, sizeof *c);
    if (!res->missing || !c) {
        phi_free(c);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    c->rk = rk;
    c->res = res;
    c->k = p->risk_k;
    int rc = 0;
    for (size_t i = 0; i < rk->ntabs; i++) {
        res->records += rk->tabs[i]->records;
        for (size_t j = 0; j < p->nqi; j++)
            res->missing[j] += rk->tabs[i]->missing[j];
    }
    /* With many runs, the tables are spilled too and the runs cascaded so
     * that at most FANIN files and the tables are merged at once. */
    if ((rc = cascade(eh, rk)) != 0) {
        phi_free(c);
        return rc;
    }
    size_t ns = rk->nruns + rk->ntabs;
    src *ss = phi_calloc(ns ? ns : 1, sizeof *ss);
    if (!ss) {
        phi_free(c);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < rk->nruns; i++, k++)
        rc = open_run_src(&ss[k], &rk->runs[i]);
    for (size_t i = 0; rc == 0 && i < rk->ntabs; i++, k++) {
        ss[k].mem = rk->tabs[i]->e;
        ss[k].len = compact_sort(rk->tabs[i]);
    }
    rk->nbelow = 0;
    if (rk->want_below && rk->below_fd < 0 && (rk->below_fd = spill_file(rk)) < 0)
        rc = PHICRYPT_EIO;
    if (rc == 0)
        rc = merge(ss, k, emit_count, c);
    if (rc == 0 && c->nb && write_all(rk->below_fd, c->bbuf, c->nb * 16) != 0)
        rc = PHICRYPT_EIO;
    rk->records_total = res->records;
    for (size_t i = 0; i < k; i++)
        phi_free(ss[i].buf);
    phi_free(ss);
    if (rc == 0) {
        size_t nh = 0;
        for (size_t s = 1; s < 4096; s++)
            nh += c->small[s] != 0;
        res->hist = phi_calloc(nh + c->nbig + 1, sizeof *res->hist);
        if (!res->hist)
            rc = PHICRYPT_ENOMEM;
        for (size_t s = 1; rc == 0 && s < 4096; s++)
            if (c->small[s])
                res->hist[res->nhist++] = (phi_risk_hist){ s, c->small[s] };
        if (c->nbig) /* qsort's base may not be NULL, even for 0 elements */
            qsort(c->big, c->nbig, sizeof *c->big, hist_cmp);
        for (size_t i = 0; rc == 0 && i < c->nbig; i++)
            res->hist[res->nhist++] = c->big[i];
    }
    res->runs = rk->spilled;
    phi_free(c->big);
    phi_free(c);
    /* Counted: the tables and runs are not needed any more (a suppression
     * pass then has the whole budget for its own count). */
    for (size_t i = 0; i < rk->ntabs; i++)
        phi_risk_tab_free(rk->tabs[i]);
    rk->ntabs = 0;
    for (size_t i = 0; i < rk->nruns; i++)
        close(rk->runs[i].fd);
    rk->nruns = 0;
    if (rc)
        return phi_error(eh, rc, rc == PHICRYPT_ENOMEM ? "out of memory"
                                                         : "risk report: cannot read the temporary files");
    return 0;
}

/* ---- report ---- */

static void put_res(phi_sbuf *b, const phi_risk_res *r, uint64_t k)
{
    phi_sbuf_printf(b,
                    "\"records\":%llu,\"classes\":%llu,\"k_min\":%llu,\"classes_below_k\":%llu,"
                    "\"records_below_k\":%llu,\"share_below_k\":%.6f,\"unique_records\":%llu,\"k_anonymous\":%s",
                    (unsigned long long)r->records, (unsigned long long)r->classes, (unsigned long long)r->k_min,
                    (unsigned long long)r->classes_below_k, (unsigned long long)r->records_below_k,
                    r->records ? (double)r->records_below_k / (double)r->records : 0.0,
                    (unsigned long long)r->unique, r->records_below_k == 0 ? "true" : "false");
    (void)k;
}

void phi_risk_report(phi_sbuf *b, const phi_risk *rk, const phi_risk_res *res, const phi_risk_res *after,
                     uint64_t sup_records, uint64_t sup_values, uint64_t dropped)
{
    const phicrypt_deid_policy *p = rk->pol;
    phi_sbuf_printf(b, "{\"k\":%llu,\"quasi_identifiers\":[", (unsigned long long)p->risk_k);
    for (size_t i = 0; i < p->nqi; i++) {
        phi_sbuf_puts(b, i ? ",{\"path\":" : "{\"path\":");
        phi_sbuf_json_str(b, p->qi[i].text, strlen(p->qi[i].text));
        phi_sbuf_printf(b, ",\"missing\":%llu}", (unsigned long long)(res->missing ? res->missing[i] : 0));
    }
    phi_sbuf_puts(b, "],");
    put_res(b, res, p->risk_k);
    phi_sbuf_puts(b, ",\"histogram\":[");
    for (size_t i = 0; i < res->nhist; i++)
        phi_sbuf_printf(b, "%s{\"size\":%llu,\"classes\":%llu}", i ? "," : "", (unsigned long long)res->hist[i].size,
                        (unsigned long long)res->hist[i].classes);
    phi_sbuf_printf(b, "],\"memory_budget\":%llu,\"spilled_runs\":%llu", (unsigned long long)rk->budget,
                    (unsigned long long)res->runs);
    if (after) {
        phi_sbuf_printf(b,
                        ",\"suppression\":{\"marker\":\"the string \\\"*\\\" for a string value, null otherwise\","
                        "\"records\":%llu,\"values\":%llu,\"records_dropped\":%llu,\"after\":{",
                        (unsigned long long)sup_records, (unsigned long long)sup_values,
                        (unsigned long long)dropped);
        put_res(b, after, p->risk_k);
        phi_sbuf_puts(b, "}}");
    } else {
        phi_sbuf_puts(b, ",\"suppression\":null");
    }
    phi_sbuf_putc(b, '}');
}

/* ---- suppression ---- */

static int below_has(const phi_risk *rk, const uint8_t h[16])
{
    size_t lo = 0, hi = rk->nbelow_loaded;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(rk->below[mid], h, 16);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

typedef struct repl {
    size_t v0, v1;
    int str;
} repl;

static int repl_cmp(const void *a, const void *b)
{
    const repl *x = a, *y = b;
    return x->v0 < y->v0 ? -1 : x->v0 > y->v0;
}

/* JSON: the record with each found quasi-identifier value replaced. */
static int sup_json(const void *eh, const phi_risk *rk, const char *s, size_t n, phi_sbuf *out, uint64_t *values)
{
    const phicrypt_deid_policy *p = rk->pol;
    repl r[64];
    size_t nr = 0;
    for (size_t i = 0; i < p->nqi; i++) {
        size_t v0, v1;
        int f = jfind(eh, s, n, 0, &p->qi[i], 0, &v0, &v1);
        if (f < 0)
            return phi_error(eh, PHICRYPT_EBADDATA, "suppression: an output record is not a JSON document");
        if (f == 0)
            continue;
        int dup = 0;
        for (size_t j = 0; j < nr; j++)
            dup |= r[j].v0 == v0;
        if (!dup)
            r[nr++] = (repl){ v0, v1, s[v0] == '"' };
    }
    qsort(r, nr, sizeof *r, repl_cmp);
    size_t at = 0;
    for (size_t j = 0; j < nr; j++) {
        phi_sbuf_put(out, s + at, r[j].v0 - at);
        phi_sbuf_puts(out, r[j].str ? "\"*\"" : "null");
        at = r[j].v1;
    }
    phi_sbuf_put(out, s + at, n - at);
    *values += nr;
    return 0;
}

/* BSON: a copy of `in` with the quasi-identifier values replaced; depth d
 * of the paths, `on` the quasi-identifiers whose first d keys led here. */
static void sup_bson(const phi_risk *rk, const bson_t *in, bson_t *out, size_t d, const unsigned char *on,
                     uint64_t *values)
{
    const phicrypt_deid_policy *p = rk->pol;
    bson_iter_t it;
    unsigned char next[64];
    if (!bson_iter_init(&it, in))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        uint32_t kl = bson_iter_key_len(&it);
        int leaf = 0, inner = 0;
        memset(next, 0, sizeof next);
        for (size_t i = 0; i < p->nqi; i++) {
            const phi_risk_qi *q = &p->qi[i];
            if (!on[i] || d >= q->nseg || q->seglen[d] != kl || memcmp(q->segs[d], key, kl) != 0)
                continue;
            if (d + 1 == q->nseg)
                leaf = 1;
            else {
                inner = 1;
                next[i] = 1;
            }
        }
        if (leaf || (inner && BSON_ITER_HOLDS_ARRAY(&it))) {
            if (BSON_ITER_HOLDS_UTF8(&it))
                bson_append_utf8(out, key, (int)kl, "*", 1);
            else
                bson_append_null(out, key, (int)kl);
            (*values)++;
        } else if (inner && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            uint32_t len;
            const uint8_t *data;
            bson_t sub, child;
            bson_iter_document(&it, &len, &data);
            if (bson_init_static(&sub, data, len)) {
                bson_append_document_begin(out, key, (int)kl, &child);
                sup_bson(rk, &sub, &child, d + 1, next, values);
                bson_append_document_end(out, &child);
            } else {
                bson_append_iter(out, key, (int)kl, &it);
            }
        } else {
            bson_append_iter(out, key, (int)kl, &it);
        }
    }
}

/* CSV: the row with the quasi-identifier cells that hold a value set to *. */
static void sup_csv(const phi_risk *rk, const phi_csv_row *row, const char *s, size_t n, phi_sbuf *out,
                    uint64_t *values)
{
    const phicrypt_deid_policy *p = rk->pol;
    size_t at = 0;
    for (size_t c = 0; c < row->n; c++) {
        int hit = 0;
        for (size_t i = 0; i < p->nqi; i++)
            hit |= rk->csv_col[i] == c && row->dec_len[c] > 0;
        if (!hit)
            continue;
        phi_sbuf_put(out, s + at, row->raw_off[c] - at);
        phi_sbuf_putc(out, '*');
        at = row->raw_off[c] + row->raw_len[c];
        (*values)++;
    }
    phi_sbuf_put(out, s + at, n - at);
}

static int out_all(int fd, const void *d, size_t n, uint64_t *bytes)
{
    if (write_all(fd, d, n) != 0)
        return -1;
    *bytes += n;
    return 0;
}

/* Reads the below-k hashes [from, from + n) into rk->below. */
static int load_below(phi_risk *rk, uint64_t from, size_t n)
{
    rk->nbelow_loaded = 0;
    if (n > rk->capbelow) {
        uint8_t(*nb)[16] = phi_realloc(rk->below, n * 16);
        if (!nb)
            return PHICRYPT_ENOMEM;
        rk->below = nb;
        rk->capbelow = n;
    }
    size_t want = n * 16, got = 0;
    while (got < want) {
        ssize_t r = pread(rk->below_fd, (char *)rk->below + got, want - got, (off_t)(from * 16 + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return PHICRYPT_EIO;
        got += (size_t)r;
    }
    rk->nbelow_loaded = n;
    return 0;
}

static int one_pass(const void *eh, phi_risk *rk, phi_risk *after, int drop, int mark, int in_fd, int out_fd,
                    const char *name, uint64_t *records, uint64_t *values, uint64_t *bytes_out);

int phi_risk_suppress(const void *eh, phi_risk *rk, phi_risk *after, int drop, int in_fd, int out_fd,
                      const char *name, uint64_t *records, uint64_t *values, uint64_t *bytes_out)
{
    *records = *values = *bytes_out = 0;
    /* The set of classes below k is held a budget at a time: when it is
     * larger, each part marks its records in a bitmap (a bit per record)
     * in a reading pass of its own, and the writing pass reads the bitmap. */
    size_t cap = rk->budget / 16;
    int rc = 0;
    if (cap < 256)
        cap = 256;
    if (rk->below_fd < 0)
        return phi_error(eh, PHICRYPT_EINTERNAL, "suppression: no class count");
    if (rk->nbelow <= cap) {
        if ((rc = load_below(rk, 0, (size_t)rk->nbelow)) != 0)
            return phi_error(eh, rc, "suppression: cannot read the temporary file in %s", rk->tmpdir);
    } else {
        phi_free(rk->bitmap);
        rk->bitmap = phi_calloc((size_t)(rk->records_total / 8 + 1), 1);
        if (!rk->bitmap)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        for (uint64_t from = 0; rc == 0 && from < rk->nbelow; from += cap) {
            size_t n = rk->nbelow - from < cap ? (size_t)(rk->nbelow - from) : cap;
            if ((rc = load_below(rk, from, n)) != 0)
                return phi_error(eh, rc, "suppression: cannot read the temporary file in %s", rk->tmpdir);
            uint64_t r0 = 0, v0 = 0, b0 = 0;
            rc = one_pass(eh, rk, after, drop, 1, in_fd, -1, name, &r0, &v0, &b0);
            rk->passes++;
        }
        phi_free(rk->below);
        rk->below = NULL;
        rk->capbelow = rk->nbelow_loaded = 0;
        if (rc)
            return rc;
    }
    return one_pass(eh, rk, after, drop, 0, in_fd, out_fd, name, records, values, bytes_out);
}

/* A pass over the output: with mark, only sets the bitmap's bits of the
 * records whose class is in the loaded part of the set. */
static int one_pass(const void *eh, phi_risk *rk, phi_risk *after, int drop, int mark, int in_fd, int out_fd,
                    const char *name, uint64_t *records, uint64_t *values, uint64_t *bytes_out)
{
    int rc = 0;
    uint64_t idx = 0;
    int fd = dup(in_fd);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return phi_error(eh, PHICRYPT_EIO, "suppression: cannot read the output back (%s)", strerror(errno));
    }
    if (fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return phi_error(eh, PHICRYPT_EIO, "suppression: cannot read the output back (%s)", strerror(errno));
    }
    /* The result is counted again, with its own key and tables. */
    phi_risk_tab *t2 = mark ? NULL : phi_risk_tab_new(after), *t1 = phi_risk_tab_new(rk);
    phi_reader rd;
    memset(&rd, 0, sizeof rd);
    rd.f = f;
    rd.fmt = rk->fmt;
    rd.name = name;
    rd.line = 1;
    phi_sbuf buf = { 0 }, ob = { 0 }, line = { 0 };
    phi_span *spans = NULL;
    size_t nspans = 0, cap_spans = 0;
    int first = 1;
    if (!t1 || (!t2 && !mark))
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (rc == 0 && rk->fmt == PHICRYPT_DEID_CSV) {
        rc = phi_reader_csv_header(eh, &rd, &line);
        if (rc == 0) {
            if (rd.bom)
                phi_sbuf_put(&ob, "\xEF\xBB\xBF", 3);
            phi_sbuf_put(&ob, line.p, line.len);
            phi_sbuf_puts(&ob, rd.crlf ? "\r\n" : "\n");
        }
    }
    if (rc == 0 && rk->fmt == PHICRYPT_DEID_JSON)
        phi_sbuf_putc(&ob, '[');
    while (rc == 0) {
        rc = phi_reader_next(eh, &rd, &buf, &spans, &nspans, &cap_spans, 1u << 20);
        if (rc || nspans == 0)
            break;
        for (size_t k = 0; rc == 0 && k < nspans; k++) {
            const char *s = buf.p + spans[k].off;
            size_t n = spans[k].len;
            uint8_t h[16];
            if ((rc = tuple_hash(eh, t1, s, n, h, 0)) != 0)
                break;
            uint64_t i = idx++;
            if (mark) {
                if (below_has(rk, h) && i <= rk->records_total)
                    rk->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
                continue;
            }
            int sup = rk->bitmap ? i <= rk->records_total && (rk->bitmap[i / 8] >> (i % 8) & 1) : below_has(rk, h);
            if (sup)
                (*records)++;
            if (sup && drop)
                continue;
            if (rk->fmt == PHICRYPT_DEID_JSON && !first)
                phi_sbuf_put(&ob, ",\n", 2);
            first = 0;
            size_t at = ob.len;
            if (!sup) {
                phi_sbuf_put(&ob, s, n);
            } else if (rk->fmt == PHICRYPT_DEID_BSON) {
                bson_t in, o2 = BSON_INITIALIZER;
                if (!bson_init_static(&in, (const uint8_t *)s, n)) {
                    rc = phi_error(eh, PHICRYPT_EBADDATA, "suppression: an output record is not a BSON document");
                    break;
                }
                unsigned char on[64];
                memset(on, 1, sizeof on);
                sup_bson(rk, &in, &o2, 0, on, values);
                phi_sbuf_put(&ob, bson_get_data(&o2), o2.len);
                phi_bson_wipe_destroy(&o2);
            } else if (rk->fmt == PHICRYPT_DEID_CSV) {
                const char *why = NULL;
                if ((rc = phi_csv_split(s, n, rk->cols->sep, &t1->row, &why)) != 0) {
                    rc = phi_error(eh, rc, "suppression: an output row does not split (%s)", why ? why : "?");
                    break;
                }
                sup_csv(rk, &t1->row, s, n, &ob, values);
            } else if ((rc = sup_json(eh, rk, s, n, &ob, values)) != 0) {
                break;
            }
            if ((rc = phi_risk_add(eh, t2, ob.p + at, ob.len - at)) != 0)
                break;
            if (rk->fmt == PHICRYPT_DEID_JSONL)
                phi_sbuf_putc(&ob, '\n');
            else if (rk->fmt == PHICRYPT_DEID_CSV) {
                if (s[n] == '\r')
                    phi_sbuf_putc(&ob, '\r');
                phi_sbuf_putc(&ob, '\n');
            }
            if (ob.len >= (1u << 20)) {
                if (out_all(out_fd, ob.p, ob.len, bytes_out) != 0)
                    rc = phi_error(eh, PHICRYPT_EIO, "%s: write failed (%s)", name, strerror(errno));
                phi_wipe(ob.p, ob.len);
                ob.len = 0;
            }
        }
        if (rd.eof && rd.carry_len == 0)
            break;
    }
    if (mark)
        ob.len = 0;
    if (rc == 0 && rk->fmt == PHICRYPT_DEID_JSON && !mark)
        phi_sbuf_puts(&ob, "]\n");
    if (rc == 0 && ob.oom)
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (rc == 0 && ob.len && out_all(out_fd, ob.p, ob.len, bytes_out) != 0)
        rc = phi_error(eh, PHICRYPT_EIO, "%s: write failed (%s)", name, strerror(errno));
    if (t2)
        phi_risk_tab_done(t2);
    phi_risk_tab_free(t1);
    phi_sbuf_free(&buf);
    phi_sbuf_free(&ob);
    phi_sbuf_free(&line);
    phi_free(spans);
    if (rd.carry)
        phi_wipe_free(rd.carry, rd.carry_cap);
    phi_sbuf_free(&rd.skipped);
    fclose(f);
    return rc;
}
