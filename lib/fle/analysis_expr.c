/* Aggregation expressions under FLE1 query analysis, and the document shape
 * helpers the pipeline stages share.
 *
 * What may touch an encrypted field follows MongoDB's list of aggregation
 * expressions supported by automatic encryption (CSFLE "Supported
 * Operations" page): $cond, $eq, $ifNull, $in, $let, $literal, $ne and
 * $switch, on deterministically encrypted fields, with its refusals:
 * - $eq/$ne comparing an encrypted field to anything but a constant or a
 *   field with the same encryption, or comparing a prefix of encrypted fields;
 * - $in whose first argument is encrypted and whose second is not an array
 *   literal (or is itself encrypted);
 * - $let binding a variable to an encrypted value, or rebinding CURRENT;
 * - $cond/$switch/$ifNull whose branches differ in encryption: the result's
 *   encryption is known only at run time, so a later stage cannot compare it
 *   (it becomes PHI_ALG_OPAQUE).
 * Every other operator is accepted only when none of its arguments holds an
 * encrypted value. Constants compared to a deterministic field become
 * markings, as in a find filter. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

#define MAX_EXPR_DEPTH 100

/* ---- shapes ---- */

int phi_shape_at(phi_actx *a, const char *path, const phi_snode **node)
{
    const phi_encinfo *enc;
    phi_nodeset below = { 0 };
    int rc;

    *node = NULL;
    if (!path[0]) {
        *node = phi_snode_has_encrypt(a->root) ? a->root : NULL;
        return 0;
    }
    if ((rc = phi_schema_resolve(a, path, &enc, &below)))
        goto done;
    if (enc)
        *node = below.v[0]; /* every node there agrees on `enc` */
    else if (phi_nodeset_has_encrypt(&below) && below.n == 1)
        *node = below.v[0];
    else if (phi_nodeset_has_encrypt(&below))
        rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                       "'%s' is described by several schema rules that encrypt fields below it; query analysis "
                       "cannot tell what an aggregation stage makes of it",
                       path);
done:
    phi_free((void *)below.v);
    return rc;
}

int phi_shape_set(phi_actx *a, const phi_snode *base, const char *path, const phi_snode *value, phi_snode **out)
{
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char comp[PHI_PATH_MAX];
    int rc = 0;

    if (len == 0 || len >= sizeof comp)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "invalid field path '%s' in an aggregation stage", path);
    memcpy(comp, path, len);
    comp[len] = '\0';
    if (base && phi_snode_enc(base))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Invalid operation on path '%s' which contains an encrypted path prefix", path);
    phi_snode *copy = phi_synth_clone(a, base);
    if (!copy)
        return PHICRYPT_ENOMEM;
    const phi_snode *child = value;
    if (dot) {
        phi_nodeset set = { 0 }, next = { 0 };
        const phi_snode *old = NULL;
        phi_snode *made;
        if (base && (rc = phi_nodeset_add(a->eh, &set, base)) == 0 &&
            (rc = phi_nodeset_child(a->eh, &set, comp, &next)) == 0) {
            if (next.n > 1 && phi_nodeset_has_encrypt(&next))
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                               "'%s' is described by several schema rules; query analysis cannot define '%s' below it",
                               comp, path);
            else if (next.n >= 1)
                old = next.v[0];
        }
        phi_free((void *)set.v);
        phi_free((void *)next.v);
        if (!rc)
            rc = phi_shape_set(a, old, dot + 1, value, &made);
        if (rc)
            return rc;
        child = made;
    }
    if (!child && !(child = phi_synth_object(a)))
        return PHICRYPT_ENOMEM;
    if ((rc = phi_synth_set(a, copy, comp, child)))
        return rc;
    *out = copy;
    return 0;
}

/* ---- expressions ---- */

static bool is_field_path(const bson_iter_t *it)
{
    if (!BSON_ITER_HOLDS_UTF8(it))
        return false;
    const char *s = bson_iter_utf8(it, NULL);
    return s[0] == '$' && s[1] != '$';
}

/* A value the server treats as a constant: a scalar that is not a field
 * path or variable, or {$literal: x}. */
static bool constant_operand(const bson_iter_t *it, bson_iter_t *value)
{
    *value = *it;
    if (BSON_ITER_HOLDS_UTF8(it))
        return bson_iter_utf8(it, NULL)[0] != '$';
    if (BSON_ITER_HOLDS_DOCUMENT(it)) {
        bson_iter_t c;
        if (bson_iter_recurse(it, &c) && bson_iter_next(&c) && strcmp(bson_iter_key(&c), "$literal") == 0) {
            bson_iter_t extra = c;
            if (!bson_iter_next(&extra)) {
                *value = c;
                return true;
            }
        }
        return false;
    }
    return !BSON_ITER_HOLDS_ARRAY(it);
}

static const char *path_name(const bson_iter_t *it)
{
    return BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, NULL) + 1 : "(expression)";
}

static int expr(phi_actx *a, bson_iter_t *it, bson_t *out, const char *key, const phi_snode **result, int depth);

/* Analyses every element of an array or document argument; *any is set when
 * one of them holds an encrypted value. */
static int args(phi_actx *a, bson_iter_t *it, bson_t *out, const char *key, bool *any, int depth)
{
    bson_iter_t c;
    bson_t child;
    int rc = 0;
    bool arr = BSON_ITER_HOLDS_ARRAY(it);
    bool opdoc = false;
    if (!arr && BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &c) && bson_iter_next(&c))
        opdoc = bson_iter_key(&c)[0] == '$';
    if (opdoc || (!arr && !BSON_ITER_HOLDS_DOCUMENT(it))) {
        const phi_snode *r;
        rc = expr(a, it, out, key, &r, depth);
        *any |= r != NULL;
        return rc;
    }
    bson_iter_recurse(it, &c);
    if (arr)
        bson_append_array_begin(out, key, -1, &child);
    else
        bson_append_document_begin(out, key, -1, &child);
    while (!rc && bson_iter_next(&c)) {
        const phi_snode *r;
        rc = expr(a, &c, &child, bson_iter_key(&c), &r, depth);
        *any |= r != NULL;
    }
    if (arr)
        bson_append_array_end(out, &child);
    else
        bson_append_document_end(out, &child);
    return rc;
}

/* The operands of $eq/$ne/$in as iterators (exactly `n` of them). */
static int operands(phi_actx *a, const char *op, bson_iter_t *it, bson_iter_t **v, int n)
{
    bson_iter_t c;
    int i = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &c))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs an array of %d arguments", op, n);
    while (bson_iter_next(&c)) {
        if (i == n)
            return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs exactly %d arguments", op, n);
        *v[i++] = c;
    }
    if (i != n)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs exactly %d arguments", op, n);
    return 0;
}

/* Appends `key`: marking of the constant `v`, compared to encrypted `enc`. */
static int mark_constant(phi_actx *a, const phi_encinfo *enc, const char *path, bson_iter_t *v, bson_t *out,
                         const char *key)
{
    if (enc->algorithm != PHI_ALG_DETERMINISTIC)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         enc->algorithm == PHI_ALG_RANDOM
                             ? "Cannot query on fields encrypted with the randomized encryption algorithm: '%s'"
                             : "Cannot compare '%s': its encryption is not known until the query runs, or it holds "
                               "several encrypted values",
                         path);
    if (BSON_ITER_HOLDS_NULL(v) || BSON_ITER_HOLDS_UNDEFINED(v) || BSON_ITER_HOLDS_REGEX(v))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "Illegal comparison of encrypted field '%s' to null or a regular expression", path);
    bool cmp = a->comparison;
    a->comparison = true;
    int rc = phi_mark_value(a, enc, path, bson_iter_value(v), NULL, out, key);
    a->comparison = cmp;
    return rc;
}

/* $eq / $ne: [x, y] */
static int eq_expr(phi_actx *a, const char *op, bson_iter_t *it, bson_t *out, int depth)
{
    bson_iter_t v0, v1, cv;
    bson_iter_t *v[2] = { &v0, &v1 };
    const phi_snode *r[2] = { NULL, NULL };
    bson_t arr;
    int rc;
    if ((rc = operands(a, op, it, v, 2)))
        return rc;
    for (int i = 0; i < 2 && !rc; i++)
        if (is_field_path(v[i]))
            rc = phi_shape_at(a, path_name(v[i]), &r[i]);
    if (rc)
        return rc;
    for (int i = 0; i < 2; i++)
        if (r[i] && !phi_snode_enc(r[i]))
            return phi_error(a->eh, PHICRYPT_ESCHEMA,
                             "%s cannot compare '%s': it is a prefix of encrypted fields", op, path_name(v[i]));
    bson_append_array_begin(out, op, -1, &arr);
    if (r[0] && r[1]) {
        if (!phi_encinfo_equal(phi_snode_enc(r[0]), phi_snode_enc(r[1])) ||
            phi_snode_enc(r[0])->algorithm != PHI_ALG_DETERMINISTIC)
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "%s compares '%s' and '%s', which are not encrypted alike with the deterministic algorithm",
                           op, path_name(v[0]), path_name(v[1]));
        else
            bson_append_iter(&arr, "0", 1, v[0]), bson_append_iter(&arr, "1", 1, v[1]);
    } else if (r[0] || r[1]) {
        int e = r[0] ? 0 : 1, o = 1 - e;
        if (!constant_operand(v[o], &cv)) {
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "%s compares encrypted field '%s' to an expression; only a constant can be compared to it",
                           op, path_name(v[e]));
        } else {
            for (int i = 0; i < 2 && !rc; i++) {
                const char *k = i ? "1" : "0";
                if (i == e)
                    bson_append_iter(&arr, k, 1, v[i]);
                else
                    rc = mark_constant(a, phi_snode_enc(r[e]), path_name(v[e]), &cv, &arr, k);
            }
        }
    } else {
        for (int i = 0; i < 2 && !rc; i++) {
            const phi_snode *x;
            rc = expr(a, v[i], &arr, i ? "1" : "0", &x, depth);
            if (!rc && x)
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                               "%s compares the result of an expression that holds encrypted values", op);
        }
    }
    bson_append_array_end(out, &arr);
    return rc;
}

/* $in: [x, [c, ...]] */
static int in_expr(phi_actx *a, bson_iter_t *it, bson_t *out, int depth)
{
    bson_iter_t v0, v1;
    bson_iter_t *v[2] = { &v0, &v1 };
    const phi_snode *r = NULL;
    bson_t arr;
    int rc;
    if ((rc = operands(a, "$in", it, v, 2)))
        return rc;
    if (is_field_path(v[0]) && (rc = phi_shape_at(a, path_name(v[0]), &r)))
        return rc;
    if (!r) {
        bool any = false;
        rc = args(a, it, out, "$in", &any, depth);
        if (!rc && any)
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "$in cannot look for a value in an array of encrypted values");
        return rc;
    }
    if (!phi_snode_enc(r))
        return phi_error(a->eh, PHICRYPT_ESCHEMA, "$in cannot compare '%s': it is a prefix of encrypted fields",
                         path_name(v[0]));
    if (!BSON_ITER_HOLDS_ARRAY(v[1]))
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "$in with encrypted field '%s' needs an array literal as its second argument",
                         path_name(v[0]));
    bson_iter_t el, cv;
    bson_t list;
    bson_iter_recurse(v[1], &el);
    bson_append_array_begin(out, "$in", -1, &arr);
    bson_append_iter(&arr, "0", 1, v[0]);
    bson_append_array_begin(&arr, "1", 1, &list);
    while (!rc && bson_iter_next(&el)) {
        if (!constant_operand(&el, &cv))
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "$in with encrypted field '%s' needs constants in its array", path_name(v[0]));
        else
            rc = mark_constant(a, phi_snode_enc(r), path_name(v[0]), &cv, &list, bson_iter_key(&el));
    }
    bson_append_array_end(&arr, &list);
    bson_append_array_end(out, &arr);
    return rc;
}

/* The encryption of a value that is one of several branches: *acc joined
 * with `y` (the first branch when `first`). Out of memory is an error, never
 * "unencrypted". */
static int join(phi_actx *a, const phi_snode **acc, const phi_snode *y, bool first)
{
    const phi_snode *x = *acc;
    if (first || x == y) {
        *acc = first ? y : x;
        return 0;
    }
    if (x && y && phi_snode_enc(x) && phi_snode_enc(y) && phi_encinfo_equal(phi_snode_enc(x), phi_snode_enc(y)))
        return 0;
    if (!x && !y)
        return 0;
    return (*acc = phi_synth_opaque(a)) ? 0 : PHICRYPT_ENOMEM;
}

/* $cond, $switch, $ifNull: the value is one of the branches; a condition
 * must not be an encrypted value (its truth would be the ciphertext's). */
static int branch_expr(phi_actx *a, const char *op, bson_iter_t *it, bson_t *out, const phi_snode **result,
                       int depth)
{
    bson_iter_t c;
    bson_t child;
    int rc = 0, n = 0;
    const phi_snode *acc = NULL;
    bool arr = BSON_ITER_HOLDS_ARRAY(it);
    bool is_cond = strcmp(op, "$cond") == 0, is_switch = strcmp(op, "$switch") == 0;

    if (!arr && !BSON_ITER_HOLDS_DOCUMENT(it))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs an array or a document", op);
    bson_iter_recurse(it, &c);
    if (arr)
        bson_append_array_begin(out, op, -1, &child);
    else
        bson_append_document_begin(out, op, -1, &child);
    while (!rc && bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        const phi_snode *r = NULL;
        bool condition = is_cond && (arr ? strcmp(k, "0") == 0 : strcmp(k, "if") == 0);
        if (is_switch && strcmp(k, "branches") == 0) {
            bson_iter_t b, f;
            bson_t barr, bdoc;
            if (!BSON_ITER_HOLDS_ARRAY(&c) || !bson_iter_recurse(&c, &b)) {
                rc = phi_error(a->eh, PHICRYPT_EBADDATA, "$switch branches must be an array");
                break;
            }
            bson_append_array_begin(&child, k, -1, &barr);
            while (!rc && bson_iter_next(&b)) {
                if (!BSON_ITER_HOLDS_DOCUMENT(&b) || !bson_iter_recurse(&b, &f)) {
                    rc = phi_error(a->eh, PHICRYPT_EBADDATA, "each $switch branch must be a document");
                    break;
                }
                bson_append_document_begin(&barr, bson_iter_key(&b), -1, &bdoc);
                while (!rc && bson_iter_next(&f)) {
                    rc = expr(a, &f, &bdoc, bson_iter_key(&f), &r, depth);
                    if (!rc && strcmp(bson_iter_key(&f), "case") == 0 && r)
                        rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                                       "a $switch case cannot be an encrypted value: its truth is the ciphertext's");
                    else if (!rc && strcmp(bson_iter_key(&f), "then") == 0)
                        rc = join(a, &acc, r, n++ == 0);
                }
                bson_append_document_end(&barr, &bdoc);
            }
            bson_append_array_end(&child, &barr);
            continue;
        }
        if ((rc = expr(a, &c, &child, k, &r, depth)))
            break;
        if (condition) {
            if (r)
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                               "a $cond condition cannot be an encrypted value: its truth is the ciphertext's");
        } else {
            rc = join(a, &acc, r, n++ == 0);
        }
    }
    if (arr)
        bson_append_array_end(out, &child);
    else
        bson_append_document_end(out, &child);
    *result = acc;
    return rc;
}

/* $let: {vars: {...}, in: expr} */
static int let_expr(phi_actx *a, bson_iter_t *it, bson_t *out, const phi_snode **result, int depth)
{
    bson_iter_t c, v;
    bson_t child, vars;
    int rc = 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "$let needs a document");
    bson_append_document_begin(out, "$let", -1, &child);
    while (!rc && bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        if (strcmp(k, "vars") == 0 && BSON_ITER_HOLDS_DOCUMENT(&c)) {
            bson_iter_recurse(&c, &v);
            bson_append_document_begin(&child, k, -1, &vars);
            while (!rc && bson_iter_next(&v)) {
                const phi_snode *r;
                if (strcmp(bson_iter_key(&v), "CURRENT") == 0)
                    rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                                   "$let cannot rebind CURRENT when the schema encrypts fields");
                else if (!(rc = expr(a, &v, &vars, bson_iter_key(&v), &r, depth)) && r)
                    rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                                   "$let cannot bind variable '%s' to an encrypted value", bson_iter_key(&v));
            }
            bson_append_document_end(&child, &vars);
        } else if (strcmp(k, "in") == 0) {
            rc = expr(a, &c, &child, k, result, depth);
        } else {
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "unknown $let argument '%s'", k);
        }
    }
    bson_append_document_end(out, &child);
    return rc;
}

static int field_ref(phi_actx *a, const char *s, const phi_snode **result)
{
    if (s[1] != '$')
        return phi_shape_at(a, s + 1, result);
    /* $$ROOT and $$CURRENT are the document; other variables are bound by
     * $let (never to encrypted values, see let_expr) or by the server */
    const char *rest = NULL;
    if (strncmp(s, "$$ROOT", 6) == 0)
        rest = s + 6;
    else if (strncmp(s, "$$CURRENT", 9) == 0)
        rest = s + 9;
    if (!rest || (*rest && *rest != '.'))
        return 0;
    return phi_shape_at(a, *rest ? rest + 1 : "", result);
}

static int expr(phi_actx *a, bson_iter_t *it, bson_t *out, const char *key, const phi_snode **result, int depth)
{
    *result = NULL;
    if (depth > MAX_EXPR_DEPTH)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "aggregation expression nested more than %d levels deep",
                         MAX_EXPR_DEPTH);
    if (BSON_ITER_HOLDS_UTF8(it) && bson_iter_utf8(it, NULL)[0] == '$') {
        bson_append_iter(out, key, -1, it);
        return field_ref(a, bson_iter_utf8(it, NULL), result);
    }
    if (BSON_ITER_HOLDS_ARRAY(it)) {
        bool any = false;
        int rc = args(a, it, out, key, &any, depth + 1);
        if (!rc && any && !(*result = phi_synth_opaque(a)))
            rc = PHICRYPT_ENOMEM;
        return rc;
    }
    if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
        bson_append_iter(out, key, -1, it);
        return 0;
    }
    bson_iter_t c;
    bson_t child;
    int rc = 0;
    bson_iter_recurse(it, &c);
    if (!bson_iter_next(&c)) {
        bson_append_iter(out, key, -1, it);
        return 0;
    }
    const char *op = bson_iter_key(&c);
    if (op[0] != '$') {
        /* an object literal: each field is an expression */
        phi_snode *obj = NULL;
        bson_iter_recurse(it, &c);
        bson_append_document_begin(out, key, -1, &child);
        while (!rc && bson_iter_next(&c)) {
            const phi_snode *r;
            if (bson_iter_key(&c)[0] == '$')
                rc = phi_error(a->eh, PHICRYPT_EBADDATA, "field name '%s' in an object expression starts with '$'",
                               bson_iter_key(&c));
            else if (!(rc = expr(a, &c, &child, bson_iter_key(&c), &r, depth + 1)) && r)
                rc = phi_shape_set(a, obj, bson_iter_key(&c), r, &obj);
        }
        bson_append_document_end(out, &child);
        *result = obj;
        return rc;
    }
    bson_iter_t extra = c;
    if (bson_iter_next(&extra))
        return phi_error(a->eh, PHICRYPT_EBADDATA,
                         "an expression object with operator %s must have exactly one field", op);
    bson_append_document_begin(out, key, -1, &child);
    if (strcmp(op, "$literal") == 0) {
        bson_append_iter(&child, op, -1, &c);
    } else if (strcmp(op, "$eq") == 0 || strcmp(op, "$ne") == 0) {
        rc = eq_expr(a, op, &c, &child, depth + 1);
    } else if (strcmp(op, "$in") == 0) {
        rc = in_expr(a, &c, &child, depth + 1);
    } else if (strcmp(op, "$cond") == 0 || strcmp(op, "$switch") == 0 || strcmp(op, "$ifNull") == 0) {
        rc = branch_expr(a, op, &c, &child, result, depth + 1);
    } else if (strcmp(op, "$let") == 0) {
        rc = let_expr(a, &c, &child, result, depth + 1);
    } else {
        bool any = false;
        rc = args(a, &c, &child, op, &any, depth + 1);
        if (!rc && any)
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "Aggregation expression %s is not supported on encrypted fields (supported there: $cond, "
                           "$eq, $ifNull, $in, $let, $literal, $ne, $switch)",
                           op);
    }
    bson_append_document_end(out, &child);
    return rc;
}

int phi_mark_expr(phi_actx *a, bson_iter_t *it, bson_t *out, const char *key, const phi_snode **result)
{
    return expr(a, it, out, key, result, 0);
}
