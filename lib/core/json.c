/* JSON <-> BSON helpers on libbson. */
#define _GNU_SOURCE 1 /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"

/* libbson's parse errors may quote input text (which can be PHI); keep the
 * structure of the message but blank out anything between quotes. */
static void sanitize_parse_error(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    int in_quote = 0;
    for (const char *p = src; *p && o + 4 < cap; p++) {
        if (*p == '"') {
            if (!in_quote) {
                memcpy(dst + o, "\"\xe2\x80\xa6", 4); /* opening quote + ellipsis */
                o += 4;
            } else {
                dst[o++] = '"';
            }
            in_quote = !in_quote;
            continue;
        }
        if (!in_quote)
            dst[o++] = *p;
    }
    dst[o] = '\0';
}

/* ---- query operators that collide with legacy Extended JSON wrappers ----
 *
 * libbson reads {"$type": ...} as the start of the legacy binary wrapper
 * {"$binary": "...", "$type": "00"} and fails when no "$binary" follows, so
 * a query such as {"x": {"$type": 2}} cannot be parsed. When a parse fails,
 * each "$type" key of an object that has no "$binary" key is renamed to a
 * placeholder, the text is parsed again, and the placeholder is renamed back
 * in the BSON. Text that parses the first time is never touched. */

#define TYPE_STANDIN "$phicrypt:type"

typedef struct jscan {
    const char *s;
    size_t n, i;
} jscan;

/* Skips a JSON string starting at s[i] == '"'; returns false if unterminated. */
static bool skip_string(jscan *j)
{
    for (j->i++; j->i < j->n; j->i++) {
        if (j->s[j->i] == '\\')
            j->i++;
        else if (j->s[j->i] == '"')
            return ++j->i, true;
    }
    return false;
}

static void skip_space(jscan *j)
{
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

/* Scans one object starting at '{'; records the offsets of its "$type" keys
 * in `keys` (when it has no "$binary" key) and recurses into values. */
static bool scan_value(jscan *j, size_t *keys, size_t *nkeys, size_t cap, int depth);

static bool scan_object(jscan *j, size_t *keys, size_t *nkeys, size_t cap, int depth)
{
    size_t mine[64], nmine = 0;
    bool binary = false;
    j->i++; /* '{' */
    for (;;) {
        skip_space(j);
        if (j->i >= j->n)
            return false;
        if (j->s[j->i] == '}')
            break;
        if (j->s[j->i] == ',') {
            j->i++;
            continue;
        }
        if (j->s[j->i] != '"')
            return false;
        size_t start = j->i;
        if (!skip_string(j))
            return false;
        size_t klen = j->i - start;
        if (klen == 7 && memcmp(j->s + start, "\"$type\"", 7) == 0 && nmine < 64)
            mine[nmine++] = start;
        if (klen == 9 && memcmp(j->s + start, "\"$binary\"", 9) == 0)
            binary = true;
        skip_space(j);
        if (j->i >= j->n || j->s[j->i] != ':')
            return false;
        j->i++;
        if (!scan_value(j, keys, nkeys, cap, depth + 1))
            return false;
    }
    j->i++; /* '}' */
    for (size_t k = 0; !binary && k < nmine && *nkeys < cap; k++)
        keys[(*nkeys)++] = mine[k];
    return true;
}

static bool scan_value(jscan *j, size_t *keys, size_t *nkeys, size_t cap, int depth)
{
    if (depth > 200)
        return false;
    skip_space(j);
    if (j->i >= j->n)
        return false;
    char c = j->s[j->i];
    if (c == '{')
        return scan_object(j, keys, nkeys, cap, depth);
    if (c == '"')
        return skip_string(j);
    if (c == '[') {
        j->i++;
        for (;;) {
            skip_space(j);
            if (j->i >= j->n)
                return false;
            if (j->s[j->i] == ']')
                return j->i++, true;
            if (j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            if (!scan_value(j, keys, nkeys, cap, depth + 1))
                return false;
        }
    }
    size_t from = j->i;
    while (j->i < j->n && !strchr(",}] \t\r\n", j->s[j->i]))
        j->i++; /* number, true, false, null */
    /* A stray '}' or ']' where a value belongs is no value: without this
     * an array holding one ("[}") would be scanned forever. */
    return j->i > from;
}

static int cmp_size(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return a < b ? -1 : a > b;
}

/* Copies `in` into `out`, renaming TYPE_STANDIN keys back to "$type". */
static void rename_back(const bson_t *in, bson_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, in))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, TYPE_STANDIN) == 0)
            key = "$type";
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            uint32_t len;
            const uint8_t *data;
            bson_t sub, child;
            bool arr = BSON_ITER_HOLDS_ARRAY(&it);
            if (arr)
                bson_iter_array(&it, &len, &data);
            else
                bson_iter_document(&it, &len, &data);
            if (!bson_init_static(&sub, data, len))
                continue;
            if (arr)
                bson_append_array_begin(out, key, -1, &child);
            else
                bson_append_document_begin(out, key, -1, &child);
            rename_back(&sub, &child);
            if (arr)
                bson_append_array_end(out, &child);
            else
                bson_append_document_end(out, &child);
        } else {
            bson_append_iter(out, key, -1, &it);
        }
    }
}

/* The retry described above: 1 when it parsed, 0 when it did not apply. */
static int parse_with_type_operators(const char *json, size_t len, bson_t *out)
{
    size_t keys[256], nkeys = 0;
    jscan j = { json, len, 0 };
    if (!memmem(json, len, "\"$type\"", 7) || !scan_value(&j, keys, &nkeys, 256, 0) || nkeys == 0)
        return 0;
    qsort(keys, nkeys, sizeof keys[0], cmp_size);
    size_t extra = nkeys * (sizeof TYPE_STANDIN - 1 - 5), cap = len + extra + 1;
    char *text = phi_malloc(cap);
    if (!text)
        return 0;
    size_t o = 0, from = 0;
    for (size_t k = 0; k < nkeys; k++) {
        memcpy(text + o, json + from, keys[k] - from);
        o += keys[k] - from;
        memcpy(text + o, "\"" TYPE_STANDIN "\"", sizeof TYPE_STANDIN + 1);
        o += sizeof TYPE_STANDIN + 1;
        from = keys[k] + 7;
    }
    memcpy(text + o, json + from, len - from);
    o += len - from;
    bson_t tmp;
    bson_error_t berr;
    bool ok = bson_init_from_json(&tmp, text, (ssize_t)o, &berr);
    phi_wipe_free(text, cap);
    if (!ok)
        return 0;
    bson_init(out);
    rename_back(&tmp, out);
    phi_bson_wipe_destroy(&tmp);
    return 1;
}

/* ---- where a parse failed, in terms a person can act on ----
 *
 * libbson reports a byte position; people edit files by line and column. And
 * its nesting limit fails like any syntax error, so that is said outright. */
#define PHI_JSON_MAX_DEPTH 100 /* libbson's limit */

/* The first byte offset at which the text nests deeper than the limit, or len. */
static size_t too_deep_at(const char *json, size_t len)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > PHI_JSON_MAX_DEPTH)
                return i;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return len;
}

/* Line and column (1-based, columns in bytes) of offset pos; `skip` bytes of a
 * prefix the caller added on line 1 are not counted. */
static void line_col(const char *json, size_t len, size_t pos, size_t skip, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (json[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    if (l == 1)
        c = c > skip ? c - skip : 1;
    *line = l;
    *col = c;
}

static int parse_json(const void *eh, const char *where, const char *json, size_t len, size_t skip, bson_t *out)
{
    bson_error_t berr;
    char clean[512];
    size_t deep, pos, line, col;
    const char *p;

    if (len > (size_t)INT32_MAX)
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: JSON text too large", where);
    if (!bson_init_from_json(out, json, (ssize_t)len, &berr)) {
        if (parse_with_type_operators(json, len, out))
            return 0;
        if ((deep = too_deep_at(json, len)) < len) {
            line_col(json, len, deep, skip, &line, &col);
            return phi_error(eh, PHICRYPT_EBADDATA, "%s: invalid JSON at line %zu, column %zu: nested deeper than %d "
                             "levels (objects and arrays)", where, line, col, PHI_JSON_MAX_DEPTH);
        }
        sanitize_parse_error(clean, sizeof clean, berr.message);
        if ((p = strstr(berr.message, "position ")) && sscanf(p + 9, "%zu", &pos) == 1) {
            char *q = strstr(clean, ", position ");
            line_col(json, len, pos, skip, &line, &col);
            if (q) { /* libbson's offset counts a wrapper the caller never wrote: line and column replace it */
                size_t d = strspn(q + 11, "0123456789");
                memmove(q, q + 11 + d, strlen(q + 11 + d) + 1);
            }
            return phi_error(eh, PHICRYPT_EBADDATA, "%s: invalid JSON at line %zu, column %zu: %s", where, line, col,
                             clean);
        }
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: invalid JSON: %s", where, clean);
    }
    return 0;
}

int phi_json_to_bson(const void *eh, const char *where, const char *json, size_t len, bson_t *out)
{
    return parse_json(eh, where, json, len, 0, out);
}

int phi_json_value_to_bson(const void *eh, const char *where, const char *json, size_t len, bson_t *out)
{
    static const char head[] = "{\"v\":";
    size_t n = sizeof head - 1 + len + 2;
    char *text;
    int rc;
    bson_iter_t it;

    /* Trim so that an empty input is reported as such. */
    while (len > 0 && (json[len - 1] == '\n' || json[len - 1] == '\r' || json[len - 1] == ' ' || json[len - 1] == '\t'))
        len--;
    if (len == 0)
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: expected one Extended JSON value, got nothing", where);
    text = phi_malloc(n);
    if (!text)
        return phi_error(eh, PHICRYPT_ENOMEM, "%s: out of memory", where);
    memcpy(text, head, sizeof head - 1);
    memcpy(text + sizeof head - 1, json, len);
    text[sizeof head - 1 + len] = ' ';
    text[sizeof head + len] = '}';
    rc = parse_json(eh, where, text, sizeof head + len + 1, sizeof head - 1, out);
    phi_wipe_free(text, n);
    if (rc != 0)
        return rc;
    /* Wrapping lets text like `1, "x": 2` smuggle in a second field; refuse it. */
    if (!bson_iter_init(&it, out) || !bson_iter_next(&it) || strcmp(bson_iter_key(&it), "v") != 0 ||
        bson_iter_next(&it)) {
        phi_bson_wipe_destroy(out);
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: expected exactly one Extended JSON value", where);
    }
    return 0;
}

/* ---- doubles as the shortest text that reads back the same ----
 *
 * libbson prints doubles with "%.20g" (98.6 becomes 98.599999999999994316),
 * so text comparisons with mongoexport and the other drivers fail. The
 * Extended JSON specification's examples (bson-corpus double tests) and
 * every driver write the shortest decimal that parses back to the same
 * double, with ".0" on integral values: 1.0, -0.0, 98.6, 1e+21. */

/* Writes the shortest round-trip form of `d` (finite) into buf. */
static size_t shortest_double(double d, char *buf, size_t cap)
{
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, d);
        if (n > 0 && (size_t)n < cap && strtod(buf, NULL) == d)
            break;
    }
    if (n <= 0 || (size_t)n >= cap)
        return 0;
    if (!strpbrk(buf, ".eEni") && (size_t)n + 2 < cap) { /* integral: keep it a double */
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    return (size_t)n;
}

/* Replaces the double written at s[i..i+len) (a bare relaxed number or the
 * text of a canonical $numberDouble) by its shortest form when that is not
 * longer; returns the length written at s+o. */
static size_t rewrite_double(char *s, size_t o, size_t i, size_t len)
{
    char tok[64], out[40];
    size_t n = 0;
    if (len < sizeof tok) {
        memcpy(tok, s + i, len);
        tok[len] = '\0';
        char *end;
        double d = strtod(tok, &end);
        if (end == tok + len && isfinite(d))
            n = shortest_double(d, out, sizeof out);
    }
    if (n == 0 || n > len) {
        memmove(s + o, s + i, len);
        return len;
    }
    memcpy(s + o, out, n);
    return n;
}

static bool number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Removes the spaces libbson puts around ':' ',' '{' '}' outside strings,
 * and writes doubles in their shortest form (above). */
static size_t compact_json(char *s)
{
    static const char key[] = "\"$numberDouble\":\"";
    size_t o = 0;
    int in_str = 0, esc = 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (in_str) {
            s[o++] = c;
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
            continue;
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t len = 0;
            bool dbl = false;
            while (number_char(s[i + len])) {
                dbl |= s[i + len] == '.' || s[i + len] == 'e' || s[i + len] == 'E';
                len++;
            }
            /* relaxed mode writes doubles bare, always with '.' or an exponent */
            if (dbl)
                o += rewrite_double(s, o, i, len);
            else
                memmove(s + o, s + i, len), o += len;
            i += len - 1;
            continue;
        }
        if (c == '"') {
            in_str = 1;
            s[o++] = c;
            /* {"$numberDouble":"..."}: the key was just written */
            if (o >= sizeof key - 1 && memcmp(s + o - (sizeof key - 1), key, sizeof key - 1) == 0) {
                size_t len = 0;
                while (number_char(s[i + 1 + len]))
                    len++;
                if (len && s[i + 1 + len] == '"') {
                    o += rewrite_double(s, o, i + 1, len);
                    i += len;
                }
            }
            continue;
        }
        s[o++] = c;
    }
    s[o] = '\0';
    return o;
}

char *phi_bson_to_json(const void *eh, const bson_t *doc, int canonical, size_t *len)
{
    size_t n = 0;
    char *raw = canonical ? bson_as_canonical_extended_json(doc, &n) : bson_as_relaxed_extended_json(doc, &n);
    char *out;
    if (!raw) {
        phi_error(eh, PHICRYPT_EBADDATA, "document cannot be converted to Extended JSON");
        return NULL;
    }
    n = compact_json(raw);
    out = phi_strndup(raw, n);
    phi_wipe(raw, n);
    bson_free(raw);
    if (!out) {
        phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        return NULL;
    }
    if (len)
        *len = n;
    return out;
}

char *phi_bson_value_to_json(const void *eh, const bson_iter_t *it, int canonical, size_t *len)
{
    bson_t tmp = BSON_INITIALIZER;
    char *full, *out = NULL;
    size_t n = 0;

    if (!bson_append_iter(&tmp, "v", 1, it)) {
        phi_bson_wipe_destroy(&tmp);
        phi_error(eh, PHICRYPT_EBADDATA, "value cannot be converted to Extended JSON");
        return NULL;
    }
    full = phi_bson_to_json(eh, &tmp, canonical, &n);
    phi_bson_wipe_destroy(&tmp);
    if (!full)
        return NULL;
    /* full is {"v":VALUE} */
    if (n >= 6) {
        out = phi_strndup(full + 5, n - 6);
        if (len)
            *len = n - 6;
    }
    phi_wipe_free(full, n);
    if (!out)
        phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    return out;
}

static bool deep_valid(const bson_t *doc, int depth)
{
    bson_iter_t it;
    if (depth > 1000 || !bson_iter_init(&it, doc))
        return false;
    while (bson_iter_next(&it)) {
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            uint32_t len;
            const uint8_t *data;
            bson_t sub;
            if (BSON_ITER_HOLDS_DOCUMENT(&it))
                bson_iter_document(&it, &len, &data);
            else
                bson_iter_array(&it, &len, &data);
            if (!data || !bson_init_static(&sub, data, len) || !deep_valid(&sub, depth + 1))
                return false;
        } else if (BSON_ITER_HOLDS_CODEWSCOPE(&it)) {
            uint32_t len, slen;
            const uint8_t *scope;
            bson_t sub;
            bson_iter_codewscope(&it, &len, &slen, &scope);
            if (!scope || !bson_init_static(&sub, scope, slen) || !deep_valid(&sub, depth + 1))
                return false;
        }
    }
    return it.err_off == 0;
}

bool phi_bson_deep_valid(const bson_t *doc)
{
    return bson_validate(doc, BSON_VALIDATE_NONE, NULL) && deep_valid(doc, 0);
}

int phi_bson_view(const void *eh, const char *what, const uint8_t *data, size_t len, bson_t *view)
{
    if (!data)
        return phi_error(eh, PHICRYPT_EINVAL, "%s: NULL BSON", what);
    if (len < 5 || len > (size_t)INT32_MAX || !bson_init_static(view, data, len))
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: not a BSON document (bad length header)", what);
    if (!phi_bson_deep_valid(view))
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: corrupt or too deeply nested BSON document", what);
    return 0;
}

int phi_buf_from_bytes(const void *eh, phicrypt_buf *out, const uint8_t *data, size_t len)
{
    uint8_t *p = phi_malloc(len);
    if (!p)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (len)
        memcpy(p, data, len);
    phi_buf_give(out, p, len);
    return 0;
}

int phi_buf_from_bson(const void *eh, phicrypt_buf *out, const bson_t *doc)
{
    return phi_buf_from_bytes(eh, out, bson_get_data(doc), doc->len);
}

void phi_bson_wipe_destroy(bson_t *doc)
{
    if (!doc)
        return;
    /* Only for documents we built or parsed (never a read-only view):
     * an inline buffer is the struct itself, a heap one is ours. */
    phi_wipe((void *)bson_get_data(doc), doc->len);
    bson_destroy(doc);
}

const char *phi_bson_type_name(bson_type_t t)
{
    switch (t) {
    case BSON_TYPE_DOUBLE: return "double";
    case BSON_TYPE_UTF8: return "string";
    case BSON_TYPE_DOCUMENT: return "object";
    case BSON_TYPE_ARRAY: return "array";
    case BSON_TYPE_BINARY: return "binData";
    case BSON_TYPE_UNDEFINED: return "undefined";
    case BSON_TYPE_OID: return "objectId";
    case BSON_TYPE_BOOL: return "bool";
    case BSON_TYPE_DATE_TIME: return "date";
    case BSON_TYPE_NULL: return "null";
    case BSON_TYPE_REGEX: return "regex";
    case BSON_TYPE_DBPOINTER: return "dbPointer";
    case BSON_TYPE_CODE: return "javascript";
    case BSON_TYPE_SYMBOL: return "symbol";
    case BSON_TYPE_CODEWSCOPE: return "javascriptWithScope";
    case BSON_TYPE_INT32: return "int";
    case BSON_TYPE_TIMESTAMP: return "timestamp";
    case BSON_TYPE_INT64: return "long";
    case BSON_TYPE_DECIMAL128: return "decimal";
    case BSON_TYPE_MAXKEY: return "maxKey";
    case BSON_TYPE_MINKEY: return "minKey";
    default: return "unknown";
    }
}

const char *phi_ns_dot(const char *ns)
{
    const char *dot = ns ? strchr(ns, '.') : NULL;
    return (dot && dot != ns && dot[1]) ? dot : NULL;
}

void phi_uuid_format(char out[37], const uint8_t id[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int phi_uuid_parse(uint8_t id[16], const char *text)
{
    size_t n = 0;
    if (!text || strlen(text) != 36)
        return PHICRYPT_EINVAL;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return PHICRYPT_EINVAL;
            i++;
            continue;
        }
        int hi = hexval(text[i]), lo = hexval(text[i + 1]);
        if (hi < 0 || lo < 0)
            return PHICRYPT_EINVAL;
        id[n++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
            size_t best = prev + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

const char *phi_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = 4;
    for (size_t i = 0; candidates[i]; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}

int phi_config_unknown_key(const void *eh, const char *where, const char *key, const char *const *known)
{
    const char *s = phi_suggest(key, known);
    if (s)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: unknown key '%s%s' (did you mean '%s'?)", where, key, s);
    return phi_error(eh, PHICRYPT_ECONFIG, "configuration: unknown key '%s%s'", where, key);
}
