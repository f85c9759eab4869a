/* Query filters (find filter, update/delete q, count query, $match, ...).
 *
 * An equality on a deterministically encrypted field is rewritten the way
 * mongocryptd serialises it: {f: v} becomes {f: {$eq: <marking>}} (spec
 * tests find.json, count.json, delete.json); operator documents keep their
 * shape with each operand marked ({f: {$in: [<m>, <m>]}}). Parts of the
 * filter that touch no encrypted field keep their operators, and a plain
 * equality {x: 1} becomes {x: {$eq: 1}} as mongocryptd re-serialises it
 * (spec test bulk.json: {_id: {$eq: 2}}).
 *
 * Refused, as mongocryptd refuses them (badQueries.json): any operator that
 * needs the plaintext order or content ($gt, $regex, $mod, $size, $type,
 * $all, $elemMatch, $bits*, geo ...) on an encrypted field; queries that
 * need a marking on a randomly encrypted field; equality to null; an array
 * compared at a path with encrypted fields below; $text and $where. $expr
 * is analysed as an aggregation expression (analysis_expr.c). An object compared at such a
 * path gets its encrypted fields marked, as mongocryptd marks them
 * (fle_match_expression: replaceElementsInEqExpression). */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

/* MongoDB refuses documents nested deeper than 100 levels; this bounds our
 * recursion on hostile input the same way. */
#define MAX_FILTER_DEPTH 100

static int enter(phi_actx *a)
{
    if (++a->depth > MAX_FILTER_DEPTH) {
        a->depth--;
        return phi_error(a->eh, PHICRYPT_EBADDATA, "filter nested more than %d levels deep", MAX_FILTER_DEPTH);
    }
    return 0;
}

static bool is_operator_doc(const bson_iter_t *it)
{
    bson_iter_t c;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c) || !bson_iter_next(&c))
        return false;
    return bson_iter_key(&c)[0] == '$';
}

/* Appends key: marking(value) for an equality-like operand. */
static int eq_operand(phi_actx *a, const phi_encinfo *enc, const char *path, bson_iter_t *v, bool in_list,
                      bson_t *out, const char *key)
{
    if (enc->algorithm == PHI_ALG_RANDOM)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Cannot query on fields encrypted with the randomized encryption algorithm: '%s'", path);
    /* null also matches a missing field, which no ciphertext can express */
    if (BSON_ITER_HOLDS_NULL(v) || BSON_ITER_HOLDS_UNDEFINED(v))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         in_list ? "Illegal equality to null inside $in against an encrypted field: '%s'"
                                 : "Illegal equality to null predicate for encrypted field: '%s'",
                         path);
    if (BSON_ITER_HOLDS_REGEX(v))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         in_list ? "Illegal regex inside $in against an encrypted field: '%s'"
                                 : "Invalid match expression operator on encrypted field '%s': regular expression",
                         path);
    a->comparison = true;
    int rc = phi_mark_value(a, enc, path, bson_iter_value(v), NULL, out, key);
    a->comparison = false;
    return rc;
}

static int encrypted_operators(phi_actx *a, const phi_encinfo *enc, const char *path, bson_iter_t *ops,
                               bson_t *out)
{
    int rc = 0;
    while (!rc && bson_iter_next(ops)) {
        const char *op = bson_iter_key(ops);
        if (strcmp(op, "$eq") == 0 || strcmp(op, "$ne") == 0) {
            rc = eq_operand(a, enc, path, ops, false, out, op);
        } else if (strcmp(op, "$in") == 0 || strcmp(op, "$nin") == 0) {
            bson_iter_t el;
            bson_t arr;
            if (!BSON_ITER_HOLDS_ARRAY(ops) || !bson_iter_recurse(ops, &el))
                return phi_error(a->eh, PHICRYPT_EBADDATA, "%s at '%s' needs an array", op, path);
            bson_append_array_begin(out, op, -1, &arr);
            while (!rc && bson_iter_next(&el))
                rc = eq_operand(a, enc, path, &el, true, &arr, bson_iter_key(&el));
            bson_append_array_end(out, &arr);
        } else if (strcmp(op, "$exists") == 0) {
            bson_append_iter(out, op, -1, ops); /* presence needs no plaintext */
        } else if (strcmp(op, "$not") == 0 && is_operator_doc(ops)) {
            bson_iter_t inner;
            bson_t child;
            bson_iter_recurse(ops, &inner);
            if ((rc = enter(a)))
                break;
            bson_append_document_begin(out, op, -1, &child);
            rc = encrypted_operators(a, enc, path, &inner, &child);
            bson_append_document_end(out, &child);
            a->depth--;
        } else {
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "Invalid match expression operator on encrypted field '%s': %s",
                           path, op);
        }
    }
    return rc;
}

static int encrypted_field(phi_actx *a, const phi_encinfo *enc, const char *path, bson_iter_t *it, bson_t *out)
{
    bson_t child;
    int rc;
    bson_append_document_begin(out, bson_iter_key(it), -1, &child);
    if (is_operator_doc(it)) {
        bson_iter_t ops;
        bson_iter_recurse(it, &ops);
        rc = encrypted_operators(a, enc, path, &ops, &child);
    } else {
        rc = eq_operand(a, enc, path, it, false, &child, "$eq");
    }
    bson_append_document_end(out, &child);
    return rc;
}

/* The path itself is not encrypted but fields below it are. As mongocryptd
 * does, an object compared there has its encrypted fields marked (so the
 * whole-object equality still holds on ciphertext), and an array there is
 * refused (it could hold objects with plaintext where ciphertext is
 * stored). */
static int prefix_operand(phi_actx *a, const phi_nodeset *below, const char *path, bson_iter_t *v, bool in_list,
                          bson_t *out, const char *key)
{
    if (BSON_ITER_HOLDS_ARRAY(v))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         in_list ? "Illegal $in element for prefix '%s' of encrypted path: an array"
                                 : "$eq to array predicate is illegal for prefix '%s' of encrypted path",
                         path);
    if (!BSON_ITER_HOLDS_DOCUMENT(v)) {
        bson_append_iter(out, key, -1, v);
        return 0;
    }
    bson_t sub, child;
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(v, &len, &data);
    if (!bson_init_static(&sub, data, len))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "malformed document compared at '%s'", path);
    bson_append_document_begin(out, key, -1, &child);
    a->comparison = true;
    int rc = phi_mark_document(a, &sub, below, path, NULL, false, &child);
    a->comparison = false;
    bson_append_document_end(out, &child);
    return rc;
}

static bool is_range_op(const char *op)
{
    return strcmp(op, "$gt") == 0 || strcmp(op, "$gte") == 0 || strcmp(op, "$lt") == 0 || strcmp(op, "$lte") == 0;
}

static int prefix_operators(phi_actx *a, const phi_nodeset *below, const char *path, bson_iter_t *ops, bson_t *out)
{
    int rc = 0;
    while (!rc && bson_iter_next(ops)) {
        const char *op = bson_iter_key(ops);
        if (strcmp(op, "$eq") == 0 || strcmp(op, "$ne") == 0) {
            rc = prefix_operand(a, below, path, ops, false, out, op);
        } else if (strcmp(op, "$in") == 0 || strcmp(op, "$nin") == 0) {
            bson_iter_t el;
            bson_t arr;
            if (!BSON_ITER_HOLDS_ARRAY(ops) || !bson_iter_recurse(ops, &el))
                return phi_error(a->eh, PHICRYPT_EBADDATA, "%s at '%s' needs an array", op, path);
            bson_append_array_begin(out, op, -1, &arr);
            while (!rc && bson_iter_next(&el))
                rc = prefix_operand(a, below, path, &el, true, &arr, bson_iter_key(&el));
            bson_append_array_end(out, &arr);
        } else if (is_range_op(op) && BSON_ITER_HOLDS_DOCUMENT(ops)) {
            /* ordering an object whose fields are encrypted is meaningless */
            bson_t scratch = BSON_INITIALIZER;
            bool marked = a->marked;
            a->marked = false;
            rc = prefix_operand(a, below, path, ops, false, &scratch, op);
            if (!rc && a->marked)
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                               "Invalid match expression operator on encrypted field '%s': %s with an object holding "
                               "encrypted fields",
                               path, op);
            a->marked = marked;
            phi_bson_wipe_destroy(&scratch);
            if (!rc)
                bson_append_iter(out, op, -1, ops);
        } else if (strcmp(op, "$elemMatch") == 0) {
            /* its sub-filter paths are relative to array elements, which
             * this analysis does not follow */
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "$elemMatch at '%s' is not supported: the schema encrypts fields below it", path);
        } else if (strcmp(op, "$not") == 0 && is_operator_doc(ops)) {
            bson_iter_t inner;
            bson_t child;
            bson_iter_recurse(ops, &inner);
            if ((rc = enter(a)))
                break;
            bson_append_document_begin(out, op, -1, &child);
            rc = prefix_operators(a, below, path, &inner, &child);
            bson_append_document_end(out, &child);
            a->depth--;
        } else {
            bson_append_iter(out, op, -1, ops);
        }
    }
    return rc;
}

static int logical(phi_actx *a, const char *op, bson_iter_t *it, bson_t *out)
{
    bson_iter_t el;
    bson_t arr;
    int rc = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &el))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s must be an array of filter documents", op);
    bson_append_array_begin(out, op, -1, &arr);
    while (!rc && bson_iter_next(&el)) {
        bson_t sub, child;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&el)) {
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "%s must be an array of filter documents", op);
            break;
        }
        bson_iter_document(&el, &len, &data);
        if (!bson_init_static(&sub, data, len)) {
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "malformed filter inside %s", op);
            break;
        }
        bson_append_document_begin(&arr, bson_iter_key(&el), -1, &child);
        rc = phi_mark_filter(a, &sub, &child);
        bson_append_document_end(&arr, &child);
    }
    bson_append_array_end(out, &arr);
    return rc;
}

int phi_mark_filter(phi_actx *a, const bson_t *filter, bson_t *out)
{
    bson_iter_t it;
    phi_nodeset below = { 0 };
    int rc = 0;

    if (!bson_iter_init(&it, filter))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "malformed filter document");
    if ((rc = enter(a)))
        return rc;
    while (!rc && bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (key[0] == '$') {
            if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0 || strcmp(key, "$nor") == 0)
                rc = logical(a, key, &it, out);
            else if (strcmp(key, "$comment") == 0)
                bson_append_iter(out, key, -1, &it);
            else if (strcmp(key, "$expr") == 0) {
                const phi_snode *r;
                if (!(rc = phi_mark_expr(a, &it, out, key, &r)) && r)
                    rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                                   "$expr cannot test an encrypted value's truth: compare it with $eq, $ne or $in");
            }
            else
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "Unsupported match expression operator for encryption: %s",
                               key);
            continue;
        }
        const phi_encinfo *enc;
        if ((rc = phi_schema_resolve(a, key, &enc, &below)))
            break;
        if (enc) {
            rc = encrypted_field(a, enc, key, &it, out);
        } else if (phi_nodeset_has_encrypt(&below) && (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it))) {
            bson_t child;
            bson_append_document_begin(out, key, -1, &child);
            if (is_operator_doc(&it)) {
                bson_iter_t ops;
                bson_iter_recurse(&it, &ops);
                rc = prefix_operators(a, &below, key, &ops, &child);
            } else {
                rc = prefix_operand(a, &below, key, &it, false, &child, "$eq");
            }
            bson_append_document_end(out, &child);
        } else if (is_operator_doc(&it) || BSON_ITER_HOLDS_REGEX(&it)) {
            bson_append_iter(out, key, -1, &it);
        } else {
            /* mongocryptd returns the filter as the server parsed it, where
             * every equality is {path: {$eq: value}} */
            bson_t child;
            bson_append_document_begin(out, key, -1, &child);
            bson_append_iter(&child, "$eq", 3, &it);
            bson_append_document_end(out, &child);
        }
    }
    phi_free((void *)below.v);
    a->depth--;
    return rc;
}
