/* JSON <-> BSON helpers on libbson. */
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

int phi_json_to_bson(const void *eh, const char *where, const char *json, size_t len, bson_t *out)
{
    bson_error_t berr;
    char clean[512];

    if (len > (size_t)INT32_MAX)
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: JSON text too large", where);
    if (!bson_init_from_json(out, json, (ssize_t)len, &berr)) {
        sanitize_parse_error(clean, sizeof clean, berr.message);
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: invalid JSON: %s", where, clean);
    }
    return 0;
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
    rc = phi_json_to_bson(eh, where, text, sizeof head + len + 1, out);
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

/* Removes the spaces libbson puts around ':' ',' '{' '}' outside strings. */
static size_t compact_json(char *s)
{
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
        if (c == '"')
            in_str = 1;
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
