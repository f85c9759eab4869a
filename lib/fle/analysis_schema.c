/* JSON schema walk for FLE1 query analysis: builds a tree of the schema
 * nodes that matter for encryption and validates it the way mongocryptd
 * does.
 *
 * Rules kept (mongocryptd's behaviour, read in MongoDB's JSON schema parser and
 * mongocryptd's encryption schema tree, and the specification tests
 * badSchema / badQueries):
 * - 'encrypt' is allowed only where every enclosing schema restricts the type
 *   to object ('type' or 'bsonType' naming exactly "object"), never at the
 *   top level, never under a property name containing '.', and never inside
 *   items, additionalItems, allOf, anyOf, oneOf or not;
 * - 'encrypt' has no sibling keyword (so no 'type'/'bsonType' beside it) and
 *   no 'encryptMetadata' beside it;
 * - keyId and algorithm are inherited from the nearest enclosing
 *   'encryptMetadata' and overridden by 'encrypt';
 * - deterministic needs exactly one bsonType, not double, decimal, bool,
 *   object, array or javascriptWithScope, and a UUID (not JSON pointer) keyId;
 * - no algorithm encrypts null, undefined, minKey or maxKey;
 * - nothing that may hold the top-level '_id' (its property, a top-level
 *   pattern matching "_id", top-level additionalProperties when '_id' is not
 *   a named property) may use the random algorithm;
 * - only MongoDB's validation keywords are accepted, and a local schema
 *   (isRemoteSchema false) only the ones that shape encryption (type,
 *   bsonType, properties, patternProperties, additionalProperties, items,
 *   additionalItems, allOf, anyOf, oneOf, not, title, description, encrypt,
 *   encryptMetadata); 'dependencies' and '$ref' are refused.
 *
 * patternProperties use POSIX extended regular expressions (regcomp with
 * REG_EXTENDED), matched unanchored like ECMA-262 "search". The subset shared
 * by both dialects is accepted: literals, ., [], [^], ^, $, |, (), *, +, ?,
 * {m,n}, and backslash-escaped punctuation. Patterns using ECMA-only syntax
 * (\d \w \s \b and their capitals, (?...) groups, lazy quantifiers) are
 * refused rather than silently matched differently. */
#include <regex.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

#define MAX_DEPTH 32 /* bounds stack use (path buffers per level) */

struct phi_prop {
    char *name;
    phi_snode *child;
    bool defined; /* set by an aggregation stage: hides patterns/additionalProperties */
};

struct phi_pat {
    char *pattern;
    regex_t re;
    phi_snode *child;
};

struct phi_snode {
    phi_encinfo *enc; /* non-NULL: an 'encrypt' node (no children) */
    struct phi_prop *props;
    size_t nprops;
    struct phi_pat *pats;
    size_t npats;
    phi_snode *additional;
    bool has_enc; /* an 'encrypt' at or below this node */
    /* A node built for an aggregation stage (phi_synth_*): it owns only its
     * props array and their names; children, patterns, additionalProperties
     * and enc are shared with the parsed schema or other synthetic nodes. */
    bool synthetic;
    struct phi_snode *next_synth; /* the analysis' list of synthetic nodes */
};

/* One 'encryptMetadata' on the way from the root (innermost first). */
typedef struct meta_chain {
    const struct meta_chain *up;
    int algorithm; /* 0 = not given */
    bool has_key;
    bool key_is_pointer;
    uint8_t uuid[16];
    const char *pointer;
    /* not metadata but walk state, copied from link to link: */
    bool remote;    /* the schema is the collection's own (isRemoteSchema) */
    bool no_random; /* below the top-level _id: random is not allowed */
} meta_chain;

/* A link that adds no metadata, only walk state. */
static meta_chain child_link(const meta_chain *up, bool no_random)
{
    meta_chain m = { 0 };
    m.up = up;
    m.remote = up->remote;
    m.no_random = up->no_random || no_random;
    return m;
}

/* ---- types ---- */

static const struct {
    const char *name;
    uint32_t bits;
} type_aliases[] = {
    { "double", 1u << BSON_TYPE_DOUBLE },
    { "string", 1u << BSON_TYPE_UTF8 },
    { "object", 1u << BSON_TYPE_DOCUMENT },
    { "array", 1u << BSON_TYPE_ARRAY },
    { "binData", 1u << BSON_TYPE_BINARY },
    { "undefined", 1u << BSON_TYPE_UNDEFINED },
    { "objectId", 1u << BSON_TYPE_OID },
    { "bool", 1u << BSON_TYPE_BOOL },
    { "date", 1u << BSON_TYPE_DATE_TIME },
    { "null", 1u << BSON_TYPE_NULL },
    { "regex", 1u << BSON_TYPE_REGEX },
    { "dbPointer", 1u << BSON_TYPE_DBPOINTER },
    { "javascript", 1u << BSON_TYPE_CODE },
    { "symbol", 1u << BSON_TYPE_SYMBOL },
    { "javascriptWithScope", 1u << BSON_TYPE_CODEWSCOPE },
    { "int", 1u << BSON_TYPE_INT32 },
    { "timestamp", 1u << BSON_TYPE_TIMESTAMP },
    { "long", 1u << BSON_TYPE_INT64 },
    { "decimal", 1u << BSON_TYPE_DECIMAL128 },
    { "minKey", 1u << 20 },
    { "maxKey", 1u << 21 },
    { "number", (1u << BSON_TYPE_DOUBLE) | (1u << BSON_TYPE_INT32) | (1u << BSON_TYPE_INT64) |
                    (1u << BSON_TYPE_DECIMAL128) },
};

static int popcount_bits(uint32_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

uint32_t phi_type_bit(bson_type_t t)
{
    if (t == BSON_TYPE_MINKEY)
        return 1u << 20;
    if (t == BSON_TYPE_MAXKEY)
        return 1u << 21;
    if ((unsigned)t >= 1 && (unsigned)t <= 0x13)
        return 1u << (unsigned)t;
    return 0;
}

const char *phi_type_name(bson_type_t t)
{
    uint32_t bit = phi_type_bit(t);
    for (size_t i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++)
        if (type_aliases[i].bits == bit)
            return type_aliases[i].name;
    return "unknown";
}

void phi_types_string(uint32_t types, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < sizeof type_aliases / sizeof type_aliases[0] && n < size; i++)
        if (popcount_bits(type_aliases[i].bits) == 1 && (types & type_aliases[i].bits))
            n += (size_t)snprintf(buf + n, size - n, " %s", type_aliases[i].name);
    if (n < size)
        snprintf(buf + n, size - n, " ]");
}

static const char *bit_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++)
        if (type_aliases[i].bits == bit)
            return type_aliases[i].name;
    return "unknown";
}


/* bsonType value (string or array of strings) into a type mask. */
static int parse_bson_types(const void *eh, bson_iter_t *it, const char *path, uint32_t *out)
{
    *out = 0;
    bson_iter_t arr;
    bool single = BSON_ITER_HOLDS_UTF8(it);
    if (!single && !(BSON_ITER_HOLDS_ARRAY(it) && bson_iter_recurse(it, &arr)))
        return phi_error(eh, PHICRYPT_EBADDATA,
                         "'bsonType' in 'encrypt' at '%s' must be a string or an array of strings", path);
    for (;;) {
        const char *name;
        if (single) {
            name = bson_iter_utf8(it, NULL);
        } else {
            if (!bson_iter_next(&arr))
                break;
            if (!BSON_ITER_HOLDS_UTF8(&arr))
                return phi_error(eh, PHICRYPT_EBADDATA,
                                 "'bsonType' in 'encrypt' at '%s' must be a string or an array of strings", path);
            name = bson_iter_utf8(&arr, NULL);
        }
        size_t i;
        for (i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++)
            if (strcmp(type_aliases[i].name, name) == 0)
                break;
        if (i == sizeof type_aliases / sizeof type_aliases[0])
            return phi_error(eh, PHICRYPT_EBADDATA, "unknown bsonType in 'encrypt' at '%s'", path);
        *out |= type_aliases[i].bits;
        if (single)
            break;
    }
    if (*out == 0)
        return phi_error(eh, PHICRYPT_EBADDATA, "'bsonType' in 'encrypt' at '%s' is an empty array", path);
    return 0;
}

/* True when a 'type'/'bsonType' value names exactly "object". */
static bool restricts_to_object(bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_UTF8(it))
        return strcmp(bson_iter_utf8(it, NULL), "object") == 0;
    bson_iter_t arr;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr))
        return false;
    int n = 0;
    bool obj = false;
    while (bson_iter_next(&arr)) {
        n++;
        obj = BSON_ITER_HOLDS_UTF8(&arr) && strcmp(bson_iter_utf8(&arr, NULL), "object") == 0;
    }
    return n == 1 && obj;
}

/* ---- keyId / algorithm, shared by 'encrypt' and 'encryptMetadata' ---- */

static int parse_key_id(const void *eh, bson_iter_t *it, const char *kw, const char *path, meta_chain *m)
{
    if (BSON_ITER_HOLDS_UTF8(it)) {
        const char *p = bson_iter_utf8(it, NULL);
        if (p[0] != '/' || p[1] == '\0')
            return phi_error(eh, PHICRYPT_EBADDATA,
                             "'keyId' in '%s' at '%s' must be a JSON pointer (\"/field\") or an array of one UUID", kw,
                             path);
        m->has_key = true;
        m->key_is_pointer = true;
        m->pointer = p;
        return 0;
    }
    bson_iter_t arr;
    if (BSON_ITER_HOLDS_ARRAY(it) && bson_iter_recurse(it, &arr) && bson_iter_next(&arr) &&
        BSON_ITER_HOLDS_BINARY(&arr)) {
        bson_subtype_t st;
        uint32_t len;
        const uint8_t *data;
        bson_iter_binary(&arr, &st, &len, &data);
        if (st == BSON_SUBTYPE_UUID && len == 16 && !bson_iter_next(&arr)) {
            m->has_key = true;
            m->key_is_pointer = false;
            memcpy(m->uuid, data, 16);
            return 0;
        }
    }
    return phi_error(eh, PHICRYPT_EBADDATA,
                     "'keyId' in '%s' at '%s' must be an array of exactly one UUID (binary subtype 4, 16 bytes) or a "
                     "JSON pointer string",
                     kw, path);
}

static int parse_algorithm(const void *eh, bson_iter_t *it, const char *kw, const char *path, int *alg)
{
    if (BSON_ITER_HOLDS_UTF8(it)) {
        const char *s = bson_iter_utf8(it, NULL);
        if (strcmp(s, "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic") == 0) {
            *alg = PHI_ALG_DETERMINISTIC;
            return 0;
        }
        if (strcmp(s, "AEAD_AES_256_CBC_HMAC_SHA_512-Random") == 0) {
            *alg = PHI_ALG_RANDOM;
            return 0;
        }
    }
    return phi_error(eh, PHICRYPT_EBADDATA,
                     "'algorithm' in '%s' at '%s' must be \"AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic\" or "
                     "\"AEAD_AES_256_CBC_HMAC_SHA_512-Random\"",
                     kw, path);
}

static int parse_metadata(const void *eh, bson_iter_t *it, const char *path, meta_chain *m)
{
    bson_iter_t f;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f))
        return phi_error(eh, PHICRYPT_EBADDATA, "'encryptMetadata' at '%s' must be a document", path);
    int n = 0;
    while (bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        int rc;
        n++;
        if (strcmp(k, "keyId") == 0)
            rc = parse_key_id(eh, &f, "encryptMetadata", path, m);
        else if (strcmp(k, "algorithm") == 0)
            rc = parse_algorithm(eh, &f, "encryptMetadata", path, &m->algorithm);
        else
            rc = phi_error(eh, PHICRYPT_EBADDATA, "unknown field '%s' in 'encryptMetadata' at '%s'", k, path);
        if (rc)
            return rc;
    }
    if (n == 0)
        return phi_error(eh, PHICRYPT_EBADDATA, "'encryptMetadata' at '%s' cannot be an empty document", path);
    return 0;
}

static int parse_encrypt(const void *eh, bson_iter_t *it, const char *path, const meta_chain *chain,
                         phi_encinfo **out)
{
    bson_iter_t f;
    meta_chain own = { 0 };
    uint32_t types = 0;
    int rc;

    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f))
        return phi_error(eh, PHICRYPT_EBADDATA, "'encrypt' at '%s' must be a document", path);
    while (bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        if (strcmp(k, "keyId") == 0)
            rc = parse_key_id(eh, &f, "encrypt", path, &own);
        else if (strcmp(k, "algorithm") == 0)
            rc = parse_algorithm(eh, &f, "encrypt", path, &own.algorithm);
        else if (strcmp(k, "bsonType") == 0)
            rc = parse_bson_types(eh, &f, path, &types);
        else
            rc = phi_error(eh, PHICRYPT_EBADDATA, "unknown field '%s' in 'encrypt' at '%s'", k, path);
        if (rc)
            return rc;
    }
    /* Inherit what 'encrypt' leaves out from the nearest encryptMetadata. */
    for (const meta_chain *m = chain; m && (!own.algorithm || !own.has_key); m = m->up) {
        if (!own.algorithm && m->algorithm)
            own.algorithm = m->algorithm;
        if (!own.has_key && m->has_key) {
            own.has_key = true;
            own.key_is_pointer = m->key_is_pointer;
            own.pointer = m->pointer;
            memcpy(own.uuid, m->uuid, 16);
        }
    }
    if (!own.algorithm)
        return phi_error(eh, PHICRYPT_ESCHEMA,
                         "encrypted field '%s' has no 'algorithm' (in 'encrypt' or an enclosing 'encryptMetadata')",
                         path);
    if (!own.has_key)
        return phi_error(eh, PHICRYPT_ESCHEMA,
                         "encrypted field '%s' has no 'keyId' (in 'encrypt' or an enclosing 'encryptMetadata')", path);
    uint32_t never = phi_type_bit(BSON_TYPE_NULL) | phi_type_bit(BSON_TYPE_UNDEFINED) |
                     phi_type_bit(BSON_TYPE_MINKEY) | phi_type_bit(BSON_TYPE_MAXKEY);
    if (types & never)
        return phi_error(eh, PHICRYPT_ESCHEMA, "Cannot encrypt element of type: %s (field '%s')",
                         bit_name(types & never & (~(types & never) + 1u)), path);
    if (own.algorithm == PHI_ALG_DETERMINISTIC) {
        if (popcount_bits(types) != 1)
            return phi_error(eh, PHICRYPT_ESCHEMA,
                             "A deterministically encrypted field must have exactly one specified type (field '%s')",
                             path);
        uint32_t banned = phi_type_bit(BSON_TYPE_DOUBLE) | phi_type_bit(BSON_TYPE_DECIMAL128) |
                          phi_type_bit(BSON_TYPE_BOOL) | phi_type_bit(BSON_TYPE_DOCUMENT) |
                          phi_type_bit(BSON_TYPE_ARRAY) | phi_type_bit(BSON_TYPE_CODEWSCOPE);
        if (types & banned)
            return phi_error(eh, PHICRYPT_ESCHEMA,
                             "Cannot use deterministic encryption for element of type: %s (field '%s')",
                             bit_name(types), path);
        if (own.key_is_pointer)
            return phi_error(eh, PHICRYPT_ESCHEMA,
                             "A deterministically encrypted field cannot have a keyId represented by a JSON pointer "
                             "(field '%s')",
                             path);
    }
    if (chain->no_random && own.algorithm == PHI_ALG_RANDOM)
        return phi_error(eh, PHICRYPT_ESCHEMA,
                         "Invalid schema containing the 'encrypt' keyword, AEAD_AES_256_CBC_HMAC_SHA_512-Random "
                         "encryption algorithm not allowed at '%s': the top-level '_id' cannot be randomly encrypted",
                         path);

    phi_encinfo *e = phi_calloc(1, sizeof *e);
    if (!e)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    e->algorithm = own.algorithm;
    e->key_is_pointer = own.key_is_pointer;
    memcpy(e->key_uuid, own.uuid, 16);
    e->types = types;
    if (own.key_is_pointer && !(e->key_pointer = phi_strdup(own.pointer))) {
        phi_free(e);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    *out = e;
    return 0;
}

/* ---- the tree ---- */

bool phi_path_join(char *buf, size_t size, const char *prefix, const char *key)
{
    int n = prefix[0] ? snprintf(buf, size, "%s.%s", prefix, key) : snprintf(buf, size, "%s", key);
    return n >= 0 && (size_t)n < size;
}

void phi_schema_free(phi_snode *node)
{
    if (!node)
        return;
    if (node->enc) {
        phi_free(node->enc->key_pointer);
        phi_free(node->enc);
    }
    for (size_t i = 0; i < node->nprops; i++) {
        phi_free(node->props[i].name);
        phi_schema_free(node->props[i].child);
    }
    phi_free(node->props);
    for (size_t i = 0; i < node->npats; i++) {
        phi_free(node->pats[i].pattern);
        regfree(&node->pats[i].re);
        phi_schema_free(node->pats[i].child);
    }
    phi_free(node->pats);
    phi_schema_free(node->additional);
    phi_free(node);
}

bool phi_snode_has_encrypt(const phi_snode *node)
{
    return node && node->has_enc;
}

/* Keywords that shape encryption or where 'encrypt' is forbidden. */
enum kw {
    KW_TYPE,
    KW_BSONTYPE,
    KW_ENCRYPT,
    KW_ENCRYPTMETADATA,
    KW_PROPERTIES,
    KW_PATTERNPROPERTIES,
    KW_ADDITIONALPROPERTIES,
    KW_ITEMS,
    KW_ADDITIONALITEMS,
    KW_ALLOF,
    KW_ANYOF,
    KW_ONEOF,
    KW_NOT,
    KW_COUNT
};
static const char *const kw_names[KW_COUNT] = {
    "type",  "bsonType",        "encrypt", "encryptMetadata", "properties", "patternProperties", "additionalProperties",
    "items", "additionalItems", "allOf",   "anyOf",           "oneOf",      "not",
};

/* mongocryptd accepts only these keywords in any schema (MongoDB's JSON
 * schema keywords minus $ref, dependencies, ...), and in a local schema
 * (isRemoteSchema false) only the ones that shape encryption. */
static const char *const remote_keywords[] = {
    "additionalItems", "additionalProperties", "allOf", "anyOf", "bsonType", "description", "encrypt",
    "encryptMetadata", "enum", "exclusiveMaximum", "exclusiveMinimum", "items", "maxItems", "maxLength",
    "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum", "multipleOf", "not", "oneOf",
    "pattern", "patternProperties", "properties", "required", "title", "type", "uniqueItems",
};
static const char *const local_keywords[] = {
    "additionalItems", "additionalProperties", "allOf", "anyOf", "bsonType", "description", "encrypt",
    "encryptMetadata", "items", "not", "oneOf", "patternProperties", "properties", "title", "type",
};

static bool in_list(const char *const *list, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], k) == 0)
            return true;
    return false;
}

/* bson_iter_t is over-aligned, so an array needs a padded wrapper. */
typedef struct kwslot {
    bson_iter_t it;
} kwslot;

static int parse_node(const void *eh, const bson_t *schema, const char *path, bool allowed, const char *why_not,
                      const meta_chain *chain, int depth, phi_snode **out);

/* Parses a subschema where 'encrypt' may not appear, only to refuse one. */
static int forbid_in(const void *eh, bson_iter_t *it, const char *path, const char *kw, const meta_chain *chain,
                     int depth)
{
    uint32_t len;
    const uint8_t *data;
    bson_t sub;
    phi_snode *node = NULL;
    char why[64];

    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return phi_error(eh, PHICRYPT_EBADDATA, "a subschema of '%s' at '%s' must be a document", kw,
                         path[0] ? path : "(top level)");
    bson_iter_document(it, &len, &data);
    if (!bson_init_static(&sub, data, len))
        return phi_error(eh, PHICRYPT_EBADDATA, "malformed subschema of '%s' at '%s'", kw, path);
    snprintf(why, sizeof why, "'encrypt' is not allowed inside '%s'", kw);
    int rc = parse_node(eh, &sub, path, false, why, chain, depth + 1, &node);
    phi_schema_free(node);
    return rc;
}

static int forbid_in_array(const void *eh, bson_iter_t *it, const char *path, const char *kw,
                           const meta_chain *chain, int depth)
{
    bson_iter_t arr;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr))
        return phi_error(eh, PHICRYPT_EBADDATA, "'%s' at '%s' must be an array of subschemas", kw,
                         path[0] ? path : "(top level)");
    while (bson_iter_next(&arr)) {
        int rc = forbid_in(eh, &arr, path, kw, chain, depth);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_forbidden(const void *eh, kwslot kw[KW_COUNT], const bool has[KW_COUNT], const char *path,
                           const meta_chain *chain, int depth)
{
    int rc = 0;
    if (has[KW_ITEMS])
        rc = BSON_ITER_HOLDS_ARRAY(&kw[KW_ITEMS].it) ? forbid_in_array(eh, &kw[KW_ITEMS].it, path, "items", chain, depth)
                                                  : forbid_in(eh, &kw[KW_ITEMS].it, path, "items", chain, depth);
    if (!rc && has[KW_ADDITIONALITEMS] && !BSON_ITER_HOLDS_BOOL(&kw[KW_ADDITIONALITEMS].it))
        rc = forbid_in(eh, &kw[KW_ADDITIONALITEMS].it, path, "additionalItems", chain, depth);
    for (int k = KW_ALLOF; !rc && k <= KW_ONEOF; k++)
        if (has[k])
            rc = forbid_in_array(eh, &kw[k].it, path, kw_names[k], chain, depth);
    if (!rc && has[KW_NOT])
        rc = forbid_in(eh, &kw[KW_NOT].it, path, "not", chain, depth);
    return rc;
}

/* ECMA-only regex syntax that POSIX ERE would read differently. */
static bool ecma_only_syntax(const char *p)
{
    for (; *p; p++) {
        if (*p == '\\') {
            if (p[1] && strchr("dDwWsSbB", p[1]))
                return true;
            if (p[1])
                p++;
        } else if (*p == '(' && p[1] == '?') {
            return true;
        } else if ((*p == '*' || *p == '+' || *p == '?' || *p == '}') && p[1] == '?') {
            return true;
        }
    }
    return false;
}

static int add_child_schema(const void *eh, bson_iter_t *it, const char *child_path, bool allowed,
                            const char *why, const meta_chain *chain, int depth, phi_snode **child)
{
    uint32_t len;
    const uint8_t *data;
    bson_t sub;
    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return phi_error(eh, PHICRYPT_EBADDATA, "the schema for '%s' must be a document", child_path);
    bson_iter_document(it, &len, &data);
    if (!bson_init_static(&sub, data, len))
        return phi_error(eh, PHICRYPT_EBADDATA, "malformed schema for '%s'", child_path);
    return parse_node(eh, &sub, child_path, allowed, why, chain, depth + 1, child);
}

static int parse_object_keywords(const void *eh, phi_snode *node, kwslot kw[KW_COUNT],
                                 const bool has[KW_COUNT], const char *path, bool allowed, const char *why_not,
                                 const meta_chain *chain, int depth)
{
    bool is_object = (has[KW_TYPE] && restricts_to_object(&kw[KW_TYPE].it)) ||
                     (has[KW_BSONTYPE] && restricts_to_object(&kw[KW_BSONTYPE].it));
    bool sub_allowed = allowed && is_object;
    const char *sub_why = allowed ? "every enclosing schema must have 'bsonType' or 'type' \"object\"" : why_not;
    char child_path[PHI_PATH_MAX];
    bson_iter_t f;
    size_t n;
    int rc;
    bool top = path[0] == '\0', id_named = false;
    /* at the top level whatever may hold _id cannot use random */
    meta_chain id_link = child_link(chain, true);

    if (has[KW_PROPERTIES]) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&kw[KW_PROPERTIES].it) || !bson_iter_recurse(&kw[KW_PROPERTIES].it, &f))
            return phi_error(eh, PHICRYPT_EBADDATA, "'properties' at '%s' must be a document",
                             path[0] ? path : "(top level)");
        for (n = 0; bson_iter_next(&f); n++) {
        }
        node->props = phi_calloc(n ? n : 1, sizeof *node->props);
        if (!node->props)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        bson_iter_recurse(&kw[KW_PROPERTIES].it, &f);
        while (bson_iter_next(&f)) {
            const char *name = bson_iter_key(&f);
            struct phi_prop *p = &node->props[node->nprops];
            if (!phi_path_join(child_path, sizeof child_path, path, name))
                return phi_error(eh, PHICRYPT_EBADDATA, "schema path too long under '%s'", path);
            bool dotted = strchr(name, '.') != NULL;
            if (!(p->name = phi_strdup(name)))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            node->nprops++;
            bool is_id = top && strcmp(name, "_id") == 0;
            id_named |= is_id;
            rc = add_child_schema(eh, &f, child_path, sub_allowed && !dotted,
                                  sub_allowed ? "a property name containing '.' cannot be encrypted" : sub_why,
                                  is_id ? &id_link : chain, depth, &p->child);
            if (rc)
                return rc;
            node->has_enc |= p->child->has_enc;
        }
    }
    if (has[KW_PATTERNPROPERTIES]) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&kw[KW_PATTERNPROPERTIES].it) ||
            !bson_iter_recurse(&kw[KW_PATTERNPROPERTIES].it, &f))
            return phi_error(eh, PHICRYPT_EBADDATA, "'patternProperties' at '%s' must be a document",
                             path[0] ? path : "(top level)");
        for (n = 0; bson_iter_next(&f); n++) {
        }
        node->pats = phi_calloc(n ? n : 1, sizeof *node->pats);
        if (!node->pats)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        bson_iter_recurse(&kw[KW_PATTERNPROPERTIES].it, &f);
        while (bson_iter_next(&f)) {
            const char *pattern = bson_iter_key(&f);
            struct phi_pat *p = &node->pats[node->npats];
            char step[PHI_PATH_MAX];
            snprintf(step, sizeof step, "/%s/", pattern);
            if (!phi_path_join(child_path, sizeof child_path, path, step))
                return phi_error(eh, PHICRYPT_EBADDATA, "schema path too long under '%s'", path);
            if (ecma_only_syntax(pattern))
                return phi_error(eh, PHICRYPT_ESCHEMA,
                                 "patternProperties regex at '%s' uses ECMA-only syntax (\\d \\w \\s \\b, (?...), "
                                 "lazy quantifiers); only the POSIX extended subset is supported",
                                 child_path);
            if (regcomp(&p->re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return phi_error(eh, PHICRYPT_EBADDATA, "invalid patternProperties regex at '%s'", child_path);
            if (!(p->pattern = phi_strdup(pattern))) {
                regfree(&p->re);
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            }
            node->npats++;
            bool is_id = top && regexec(&p->re, "_id", 0, NULL, 0) == 0;
            rc = add_child_schema(eh, &f, child_path, sub_allowed, sub_why, is_id ? &id_link : chain, depth,
                                  &p->child);
            if (rc)
                return rc;
            node->has_enc |= p->child->has_enc;
        }
    }
    if (has[KW_ADDITIONALPROPERTIES] && !BSON_ITER_HOLDS_BOOL(&kw[KW_ADDITIONALPROPERTIES].it)) {
        if (!phi_path_join(child_path, sizeof child_path, path, "*"))
            return phi_error(eh, PHICRYPT_EBADDATA, "schema path too long under '%s'", path);
        rc = add_child_schema(eh, &kw[KW_ADDITIONALPROPERTIES].it, child_path, sub_allowed, sub_why,
                              top && !id_named ? &id_link : chain, depth, &node->additional);
        if (rc)
            return rc;
        node->has_enc |= node->additional->has_enc;
    }
    return 0;
}

static int parse_node(const void *eh, const bson_t *schema, const char *path, bool allowed, const char *why_not,
                      const meta_chain *chain, int depth, phi_snode **out)
{
    bson_iter_t it;
    kwslot kw[KW_COUNT];
    bool has[KW_COUNT] = { false };
    int nfields = 0, rc;
    const char *where = path[0] ? path : "(top level)";

    *out = NULL;
    if (depth > MAX_DEPTH)
        return phi_error(eh, PHICRYPT_EBADDATA, "schema nested more than %d levels deep at '%s'", MAX_DEPTH, where);
    if (!bson_iter_init(&it, schema))
        return phi_error(eh, PHICRYPT_EBADDATA, "malformed schema at '%s'", where);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        nfields++;
        if (!in_list(remote_keywords, sizeof remote_keywords / sizeof remote_keywords[0], k))
            return phi_error(eh, PHICRYPT_ESCHEMA,
                             "JSON schema keyword '%s' is not supported for client-side encryption (at '%s')", k,
                             where);
        if (!chain->remote && !in_list(local_keywords, sizeof local_keywords / sizeof local_keywords[0], k))
            return phi_error(eh, PHICRYPT_ESCHEMA,
                             "JSON schema keyword '%s' is only allowed with a remote schema (at '%s'); a local "
                             "schema may only use keywords that shape encryption",
                             k, where);
        for (int i = 0; i < KW_COUNT; i++) {
            if (strcmp(k, kw_names[i]) == 0) {
                if (has[i])
                    return phi_error(eh, PHICRYPT_EBADDATA, "duplicate schema keyword '%s' at '%s'", k, where);
                has[i] = true;
                kw[i].it = it;
            }
        }
    }
    if (has[KW_TYPE] && has[KW_BSONTYPE])
        return phi_error(eh, PHICRYPT_ESCHEMA, "Cannot specify both schema keywords 'type' and 'bsonType' at '%s'",
                         where);
    if (has[KW_ENCRYPT] && (has[KW_TYPE] || has[KW_BSONTYPE]))
        return phi_error(eh, PHICRYPT_ESCHEMA,
                         "'encrypt' cannot be used in conjunction with '%s' at '%s' ('encrypt' implies binData)",
                         has[KW_TYPE] ? "type" : "bsonType", where);
    if (has[KW_ENCRYPT] && has[KW_ENCRYPTMETADATA])
        return phi_error(eh, PHICRYPT_ESCHEMA, "Cannot specify both 'encrypt' and 'encryptMetadata' at '%s'", where);
    rc = check_forbidden(eh, kw, has, path, chain, depth);
    if (rc)
        return rc;

    phi_snode *node = phi_calloc(1, sizeof *node);
    if (!node)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");

    if (has[KW_ENCRYPT]) {
        if (!allowed)
            rc = phi_error(eh, PHICRYPT_ESCHEMA, "Invalid schema containing the 'encrypt' keyword. At '%s': %s", where,
                           why_not);
        else if (!path[0])
            rc = phi_error(eh, PHICRYPT_ESCHEMA,
                           "Invalid schema containing the 'encrypt' keyword. At the top level only fields can be "
                           "encrypted");
        else if (nfields != 1)
            rc = phi_error(eh, PHICRYPT_ESCHEMA,
                           "Invalid schema containing the 'encrypt' keyword. At '%s': sibling keywords are not allowed "
                           "beside 'encrypt'",
                           where);
        else
            rc = parse_encrypt(eh, &kw[KW_ENCRYPT].it, path, chain, &node->enc);
        node->has_enc = true;
    } else {
        meta_chain link = child_link(chain, false);
        const meta_chain *inner = chain;
        if (has[KW_ENCRYPTMETADATA]) {
            if (!allowed)
                rc = phi_error(eh, PHICRYPT_ESCHEMA,
                               "Invalid schema containing the 'encryptMetadata' keyword. At '%s': %s", where, why_not);
            else
                rc = parse_metadata(eh, &kw[KW_ENCRYPTMETADATA].it, where, &link);
            inner = &link;
        }
        if (!rc)
            rc = parse_object_keywords(eh, node, kw, has, path, allowed, why_not, inner, depth);
    }
    if (rc) {
        phi_schema_free(node);
        return rc;
    }
    *out = node;
    return 0;
}

int phi_schema_parse(const void *eh, const bson_t *schema, bool remote, phi_snode **out)
{
    meta_chain root = { 0 }; /* no metadata: only the walk state */
    root.remote = remote;
    return parse_node(eh, schema, "", true, "", &root, 0, out);
}

/* ---- node sets ---- */

void phi_nodeset_clear(phi_nodeset *s)
{
    s->n = 0;
}

int phi_nodeset_add(const void *eh, phi_nodeset *s, const phi_snode *node)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == node)
            return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        const phi_snode **v = phi_realloc((void *)s->v, cap * sizeof *v);
        if (!v)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = node;
    return 0;
}

int phi_nodeset_child(const void *eh, const phi_nodeset *in, const char *name, phi_nodeset *out)
{
    int rc;
    phi_nodeset_clear(out);
    for (size_t i = 0; i < in->n; i++) {
        const phi_snode *node = in->v[i];
        bool matched = false, defined = false;
        if (node->enc)
            continue;
        for (size_t j = 0; j < node->nprops; j++) {
            if (strcmp(node->props[j].name, name) == 0) {
                matched = true;
                defined |= node->props[j].defined;
                if ((rc = phi_nodeset_add(eh, out, node->props[j].child)))
                    return rc;
            }
        }
        if (defined) /* a stage defined this field: nothing else describes it */
            continue;
        for (size_t j = 0; j < node->npats; j++) {
            if (regexec(&node->pats[j].re, name, 0, NULL, 0) == 0) {
                matched = true;
                if ((rc = phi_nodeset_add(eh, out, node->pats[j].child)))
                    return rc;
            }
        }
        /* additionalProperties applies only to names nothing else matched */
        if (!matched && node->additional && (rc = phi_nodeset_add(eh, out, node->additional)))
            return rc;
    }
    return 0;
}

bool phi_encinfo_equal(const phi_encinfo *x, const phi_encinfo *y)
{
    if (x->algorithm != y->algorithm || x->key_is_pointer != y->key_is_pointer || x->types != y->types)
        return false;
    return x->key_is_pointer ? strcmp(x->key_pointer, y->key_pointer) == 0
                             : memcmp(x->key_uuid, y->key_uuid, 16) == 0;
}

int phi_nodeset_enc(const void *eh, const phi_nodeset *s, const char *path, const phi_encinfo **enc)
{
    const phi_encinfo *first = NULL;
    bool plain = false;
    *enc = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const phi_encinfo *e = s->v[i]->enc;
        if (!e) {
            plain = true;
        } else if (!first) {
            first = e;
        } else if (!phi_encinfo_equal(first, e)) {
            return phi_error(eh, PHICRYPT_ESCHEMA, "Found conflicting encryption metadata for path: '%s'", path);
        }
    }
    if (first && plain)
        return phi_error(eh, PHICRYPT_ESCHEMA,
                         "Found conflicting encryption metadata for path: '%s' (encrypted by one matching schema, "
                         "not by another)",
                         path);
    *enc = first;
    return 0;
}

bool phi_nodeset_has_encrypt(const phi_nodeset *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->has_enc)
            return true;
    return false;
}

int phi_schema_resolve(phi_actx *a, const char *path, const phi_encinfo **enc, phi_nodeset *below)
{
    phi_nodeset cur = { 0 }, next = { 0 };
    char comp[PHI_PATH_MAX];
    const char *p = path;
    int rc = 0;

    *enc = NULL;
    if (strlen(path) >= sizeof comp)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "field path too long");
    if ((rc = phi_nodeset_add(a->eh, &cur, a->root)))
        goto done;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        memcpy(comp, p, len);
        comp[len] = '\0';
        if ((rc = phi_nodeset_child(a->eh, &cur, comp, &next)))
            goto done;
        phi_nodeset tmp = cur;
        cur = next;
        next = tmp;
        if (!dot || cur.n == 0)
            break;
        const phi_encinfo *e;
        if ((rc = phi_nodeset_enc(a->eh, &cur, path, &e)))
            goto done;
        if (e) {
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "Invalid operation on path '%s' which contains an encrypted path prefix", path);
            goto done;
        }
        p = dot + 1;
    }
    if ((rc = phi_nodeset_enc(a->eh, &cur, path, enc)))
        goto done;
    if (below) {
        phi_nodeset_clear(below);
        for (size_t i = 0; i < cur.n && !rc; i++)
            rc = phi_nodeset_add(a->eh, below, cur.v[i]);
    }
done:
    phi_free((void *)cur.v);
    phi_free((void *)next.v);
    return rc;
}

/* ---- synthetic nodes (aggregation stages) ---- */

static phi_snode *synth_alloc(phi_actx *a)
{
    phi_snode *n = phi_calloc(1, sizeof *n);
    if (!n) {
        phi_error(a->eh, PHICRYPT_ENOMEM, "out of memory");
        return NULL;
    }
    n->synthetic = true;
    n->next_synth = a->synth;
    a->synth = n;
    return n;
}

phi_snode *phi_synth_object(phi_actx *a)
{
    return synth_alloc(a);
}

phi_snode *phi_synth_leaf(phi_actx *a, const phi_encinfo *enc)
{
    phi_snode *n = synth_alloc(a);
    if (n) {
        n->enc = (phi_encinfo *)enc; /* shared; never freed through this node */
        n->has_enc = enc != NULL;
    }
    return n;
}

phi_snode *phi_synth_opaque(phi_actx *a)
{
    static const phi_encinfo opaque = { .algorithm = PHI_ALG_OPAQUE };
    return phi_synth_leaf(a, &opaque);
}

phi_snode *phi_synth_clone(phi_actx *a, const phi_snode *src)
{
    phi_snode *n = synth_alloc(a);
    if (!n || !src)
        return n;
    n->enc = src->enc;
    n->pats = src->pats;
    n->npats = src->npats;
    n->additional = src->additional;
    n->has_enc = src->has_enc;
    if (src->nprops) {
        n->props = phi_calloc(src->nprops, sizeof *n->props);
        if (!n->props) {
            phi_error(a->eh, PHICRYPT_ENOMEM, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < src->nprops; i++) {
            n->props[i].child = src->props[i].child;
            n->props[i].defined = src->props[i].defined;
            if (!(n->props[i].name = phi_strdup(src->props[i].name))) {
                phi_error(a->eh, PHICRYPT_ENOMEM, "out of memory");
                return NULL; /* names set so far are freed with the node */
            }
            n->nprops = i + 1;
        }
    }
    return n;
}

const phi_encinfo *phi_snode_enc(const phi_snode *node)
{
    return node ? node->enc : NULL;
}

static void synth_recount(phi_snode *n)
{
    bool has = n->enc != NULL || (n->additional && n->additional->has_enc);
    for (size_t i = 0; !has && i < n->nprops; i++)
        has = n->props[i].child->has_enc;
    for (size_t i = 0; !has && i < n->npats; i++)
        has = n->pats[i].child->has_enc;
    n->has_enc = has;
}

int phi_synth_set(phi_actx *a, phi_snode *node, const char *name, const phi_snode *child)
{
    if (!node->synthetic)
        return phi_error(a->eh, PHICRYPT_EINVAL, "internal: only a synthetic schema node can be changed");
    for (size_t i = 0; i < node->nprops; i++) {
        if (strcmp(node->props[i].name, name) == 0) {
            node->props[i].child = (phi_snode *)child;
            node->props[i].defined = true;
            synth_recount(node);
            return 0;
        }
    }
    struct phi_prop *v = phi_realloc(node->props, (node->nprops + 1) * sizeof *v);
    if (!v)
        return phi_error(a->eh, PHICRYPT_ENOMEM, "out of memory");
    node->props = v;
    if (!(v[node->nprops].name = phi_strdup(name)))
        return phi_error(a->eh, PHICRYPT_ENOMEM, "out of memory");
    v[node->nprops].defined = true;
    v[node->nprops++].child = (phi_snode *)child;
    synth_recount(node);
    return 0;
}

void phi_synth_free_all(phi_actx *a)
{
    while (a->synth) {
        phi_snode *n = a->synth;
        a->synth = n->next_synth;
        for (size_t i = 0; i < n->nprops; i++)
            phi_free(n->props[i].name);
        phi_free(n->props);
        phi_free(n);
    }
}

/* ---- describe ---- */

static int describe_node(const void *eh, const phi_snode *node, const char *path, bson_t *fields, uint32_t *idx)
{
    char child[PHI_PATH_MAX];
    int rc;
    if (node->enc) {
        const phi_encinfo *e = node->enc;
        char key[16];
        const char *k;
        bson_t entry, types;
        bson_uint32_to_string((*idx)++, &k, key, sizeof key);
        bson_append_document_begin(fields, k, -1, &entry);
        BSON_APPEND_UTF8(&entry, "path", path);
        BSON_APPEND_UTF8(&entry, "algorithm", e->algorithm == PHI_ALG_DETERMINISTIC ? "deterministic" : "random");
        if (e->key_is_pointer)
            BSON_APPEND_UTF8(&entry, "keyIdPointer", e->key_pointer);
        else
            BSON_APPEND_BINARY(&entry, "keyId", BSON_SUBTYPE_UUID, e->key_uuid, 16);
        if (e->types) {
            uint32_t n = 0;
            bson_append_array_begin(&entry, "bsonType", -1, &types);
            for (size_t i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++) {
                if (popcount_bits(type_aliases[i].bits) == 1 && (e->types & type_aliases[i].bits)) {
                    bson_uint32_to_string(n++, &k, key, sizeof key);
                    BSON_APPEND_UTF8(&types, k, type_aliases[i].name);
                }
            }
            bson_append_array_end(&entry, &types);
        }
        bson_append_document_end(fields, &entry);
        return 0;
    }
    for (size_t i = 0; i < node->nprops; i++) {
        if (!node->props[i].child->has_enc)
            continue;
        phi_path_join(child, sizeof child, path, node->props[i].name);
        if ((rc = describe_node(eh, node->props[i].child, child, fields, idx)))
            return rc;
    }
    for (size_t i = 0; i < node->npats; i++) {
        char step[PHI_PATH_MAX];
        if (!node->pats[i].child->has_enc)
            continue;
        snprintf(step, sizeof step, "/%s/", node->pats[i].pattern);
        phi_path_join(child, sizeof child, path, step);
        if ((rc = describe_node(eh, node->pats[i].child, child, fields, idx)))
            return rc;
    }
    if (node->additional && node->additional->has_enc) {
        phi_path_join(child, sizeof child, path, "*");
        if ((rc = describe_node(eh, node->additional, child, fields, idx)))
            return rc;
    }
    return 0;
}

int phi_analysis_describe(const void *eh, const bson_t *schema, bson_t *out)
{
    phi_snode *root = NULL;
    bson_t fields;
    uint32_t idx = 0;
    int rc;

    if (!schema || !out)
        return phi_error(eh, PHICRYPT_EINVAL, "phi_analysis_describe: NULL argument");
    if ((rc = phi_schema_parse(eh, schema, false, &root)))
        return rc;
    bson_init(out);
    BSON_APPEND_BOOL(out, "schemaRequiresEncryption", root->has_enc);
    bson_append_array_begin(out, "fields", -1, &fields);
    rc = describe_node(eh, root, "", &fields, &idx);
    bson_append_array_end(out, &fields);
    phi_schema_free(root);
    if (rc)
        bson_destroy(out);
    return rc;
}
