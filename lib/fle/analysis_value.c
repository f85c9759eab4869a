/* Intent-to-encrypt markings, and marking every encrypted value of a whole
 * document (insert, replacement, $set of a sub-document).
 *
 * Marking format (libmongocrypt 1.7.2 src/mongocrypt-marking.c): binary
 * subtype 6, first byte 0 (FLE1 placeholder), then the BSON document
 * { a: int32 algorithm, ki: UUID | ka: string, v: value }. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

/* Resolves an RFC 6901 pointer ("/a/b", ~0 = '~', ~1 = '/') inside `doc`.
 * Array elements are addressed by index, as in JSON. */
static bool resolve_pointer(const bson_t *doc, const char *pointer, bson_iter_t *found)
{
    bson_iter_t it, child;
    char token[PHI_PATH_MAX];
    const char *p = pointer;

    if (!bson_iter_init(&it, doc))
        return false;
    while (*p == '/') {
        size_t n = 0;
        p++;
        while (*p && *p != '/') {
            if (n + 1 >= sizeof token)
                return false;
            if (p[0] == '~' && p[1] == '0') {
                token[n++] = '~';
                p += 2;
            } else if (p[0] == '~' && p[1] == '1') {
                token[n++] = '/';
                p += 2;
            } else {
                token[n++] = *p++;
            }
        }
        token[n] = '\0';
        if (!bson_iter_find(&it, token))
            return false;
        if (*p == '\0') {
            *found = it;
            return true;
        }
        if (!(BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) || !bson_iter_recurse(&it, &child))
            return false;
        it = child;
    }
    return false;
}

/* The key alt name must be readable in plaintext: a pointer into an
 * encrypted field is refused (mongocryptd does the same). */
static int check_pointer_target(phi_actx *a, const char *pointer, const char *path)
{
    char dotted[PHI_PATH_MAX];
    size_t n = 0;
    const phi_encinfo *target = NULL;
    for (const char *p = pointer + 1; *p && n + 1 < sizeof dotted; p++) {
        if (p[0] == '~' && p[1] == '0') {
            dotted[n++] = '~';
            p++;
        } else if (p[0] == '~' && p[1] == '1') {
            dotted[n++] = '/';
            p++;
        } else {
            dotted[n++] = *p == '/' ? '.' : *p;
        }
    }
    dotted[n] = '\0';
    int rc = phi_schema_resolve(a, dotted, &target, NULL);
    if (rc && rc != PHICRYPT_ESCHEMA)
        return rc;
    if (rc || target)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "keyId pointer '%s' cannot point to an encrypted field (encrypted field '%s')", pointer, path);
    return 0;
}

int phi_mark_value(phi_actx *a, const phi_encinfo *enc, const char *path, const bson_value_t *value,
                   const bson_t *doc, bson_t *out, const char *key)
{
    bson_type_t t = value->value_type;
    uint32_t bit = phi_type_bit(t);
    uint32_t never = phi_type_bit(BSON_TYPE_NULL) | phi_type_bit(BSON_TYPE_UNDEFINED) |
                     phi_type_bit(BSON_TYPE_MINKEY) | phi_type_bit(BSON_TYPE_MAXKEY);

    if ((bit & never) || bit == 0)
        return phi_error(a->eh, PHICRYPT_ESCHEMA, "Cannot encrypt element of type: %s (field '%s')", phi_type_name(t),
                         path);
    if (enc->algorithm == PHI_ALG_OPAQUE)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Cannot compare '%s': an earlier aggregation stage made it an array of encrypted values "
                         "($push, $addToSet) or a value whose encryption is known only when the query runs",
                         path);
    if (a->comparison && enc->algorithm == PHI_ALG_RANDOM)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Cannot query on fields encrypted with the randomized encryption algorithm: '%s'", path);
    /* the server compares ciphertexts, which cannot honour a collation */
    if (a->comparison && a->collation && (t == BSON_TYPE_UTF8 || t == BSON_TYPE_SYMBOL))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "cannot apply non-simple collation when comparing to an encrypted string field '%s' with "
                         "client-side encryption",
                         path);
    if (enc->types && !(enc->types & bit)) {
        char allowed[256];
        phi_types_string(enc->types, allowed, sizeof allowed);
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Cannot encrypt element of type %s because schema requires that type is one of: %s "
                         "(field '%s')",
                         phi_type_name(t), allowed, path);
    }
    if (t == BSON_TYPE_BINARY && value->value.v_binary.subtype == BSON_SUBTYPE_ENCRYPTED)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "field '%s' already holds an encrypted value (binary subtype 6); it cannot be encrypted again",
                         path);

    bson_t m = BSON_INITIALIZER;
    BSON_APPEND_INT32(&m, "a", enc->algorithm);
    if (enc->key_is_pointer) {
        bson_iter_t kit;
        if (!doc)
            return phi_bson_wipe_destroy(&m),
                   phi_error(a->eh, PHICRYPT_ESCHEMA,
                             "A non-static (JSONPointer) keyId is not supported here: field '%s' takes its key from "
                             "'%s' in the same document, which only an insert or a replacement provides",
                             path, enc->key_pointer);
        int rc = check_pointer_target(a, enc->key_pointer, path);
        if (rc)
            return phi_bson_wipe_destroy(&m), rc;
        if (!resolve_pointer(doc, enc->key_pointer, &kit))
            return phi_bson_wipe_destroy(&m),
                   phi_error(a->eh, PHICRYPT_ESCHEMA,
                             "keyId pointer '%s' must point to a field that exists (encrypted field '%s')",
                             enc->key_pointer, path);
        if (!BSON_ITER_HOLDS_UTF8(&kit))
            return phi_bson_wipe_destroy(&m),
                   phi_error(a->eh, PHICRYPT_ESCHEMA,
                             "keyId pointer '%s' must point to a string, the key alt name (encrypted field '%s')",
                             enc->key_pointer, path);
        uint32_t len;
        const char *s = bson_iter_utf8(&kit, &len);
        bson_append_utf8(&m, "ka", 2, s, (int)len);
    } else {
        BSON_APPEND_BINARY(&m, "ki", BSON_SUBTYPE_UUID, enc->key_uuid, 16);
    }
    bson_append_value(&m, "v", 1, value);

    /* 0x00 (FLE1 placeholder) + the marking document */
    uint8_t *buf = phi_malloc((size_t)m.len + 1);
    if (!buf) {
        phi_bson_wipe_destroy(&m);
        return phi_error(a->eh, PHICRYPT_ENOMEM, "out of memory");
    }
    buf[0] = 0;
    memcpy(buf + 1, bson_get_data(&m), m.len);
    bool ok = bson_append_binary(out, key, -1, BSON_SUBTYPE_ENCRYPTED, buf, m.len + 1);
    phi_wipe_free(buf, (size_t)m.len + 1); /* held plaintext */
    phi_bson_wipe_destroy(&m);
    if (!ok)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "document too large after marking field '%s'", path);
    a->marked = true;
    return 0;
}

static int mark_array_check(phi_actx *a, const phi_nodeset *children, const char *path)
{
    if (phi_nodeset_has_encrypt(children))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "An array at path '%s' would violate the schema (it has encrypted fields below it)", path);
    return 0;
}

int phi_set_prefix_refusal(phi_actx *a, const char *path)
{
    return phi_error(a->eh, PHICRYPT_ESCHEMA,
                     "Cannot $set to a path '%s' that is an encrypted prefix to a non-object type", path);
}

int phi_mark_document(phi_actx *a, const bson_t *in, const phi_nodeset *set, const char *prefix,
                      const bson_t *doc, bool top, bson_t *out)
{
    bson_iter_t it;
    phi_nodeset children = { 0 };
    char path[PHI_PATH_MAX];
    int rc = 0;

    if (!bson_iter_init(&it, in))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "malformed document at '%s'", prefix[0] ? prefix : "(top)");
    while (!rc && bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        const phi_encinfo *enc = NULL;
        if (!phi_path_join(path, sizeof path, prefix, key)) {
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "field path too long under '%s'", prefix);
            break;
        }
        if ((rc = phi_nodeset_child(a->eh, set, key, &children)))
            break;
        if (children.n == 0) {
            bson_append_iter(out, key, -1, &it);
            continue;
        }
        if ((rc = phi_nodeset_enc(a->eh, &children, path, &enc)))
            break;
        if (enc) {
            if (top && strcmp(key, "_id") == 0 && enc->algorithm == PHI_ALG_RANDOM) {
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                               "the top-level '_id' cannot be encrypted with the randomized encryption algorithm");
                break;
            }
            if (top && BSON_ITER_HOLDS_TIMESTAMP(&it)) {
                uint32_t ts, inc;
                bson_iter_timestamp(&it, &ts, &inc);
                if (ts == 0 && inc == 0) {
                    /* the server would replace it with the current time */
                    rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                                   "A command that inserts cannot supply Timestamp(0, 0) for an encrypted top-level "
                                   "field at path '%s'",
                                   path);
                    break;
                }
            }
            rc = phi_mark_value(a, enc, path, bson_iter_value(&it), doc, out, key);
        } else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_t sub, child;
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&it, &len, &data);
            if (!bson_init_static(&sub, data, len)) {
                rc = phi_error(a->eh, PHICRYPT_EBADDATA, "malformed document at '%s'", path);
                break;
            }
            bson_append_document_begin(out, key, -1, &child);
            rc = phi_mark_document(a, &sub, &children, path, doc, false, &child);
            bson_append_document_end(out, &child);
        } else if (a->set_value && phi_nodeset_has_encrypt(&children)) {
            rc = phi_set_prefix_refusal(a, path);
        } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
            if (!(rc = mark_array_check(a, &children, path)))
                bson_append_iter(out, key, -1, &it);
        } else {
            /* a scalar where the schema expects a document: nothing below
             * it can be encrypted, so it is left as is */
            bson_append_iter(out, key, -1, &it);
        }
    }
    phi_free((void *)children.v);
    return rc;
}
