/* Aggregation pipelines under FLE1 query analysis.
 *
 * The stages are those MongoDB lists as supported by automatic encryption
 * (CSFLE "Supported Operations": $addFields, $bucket, $bucketAuto,
 * $collStats, $count, $geoNear, $group, $indexStats, $limit, $lookup,
 * $graphLookup, $match, $project, $redact, $replaceRoot, $sample, $skip,
 * $sort, $sortByCount, $unwind), plus the aliases $set, $unset and
 * $replaceWith and $facet, whose sub-pipelines are analysed the same way.
 * Each stage turns the shape of its input documents (a->root: which fields
 * hold which encryption) into the shape of its output, so that a later
 * $match marks the right values and refuses what ciphertext cannot answer:
 * - $group may group by a deterministically encrypted value (it then stays
 *   encrypted in _id); $push/$addToSet collect encrypted values into arrays
 *   that no later stage can compare; $first/$last keep the value's
 *   encryption; any other accumulator on an encrypted value is refused;
 * - $lookup/$graphLookup only from the same collection (self-lookup), and
 *   joining encrypted fields only when they are encrypted alike with the
 *   deterministic algorithm;
 * - $sort, $bucket and $bucketAuto never order encrypted values.
 * Any other stage is refused by name. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

static int need_doc(phi_actx *a, bson_iter_t *it, const char *stage, bson_iter_t *fields)
{
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, fields))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs a document", stage);
    return 0;
}

/* "$a.b" -> "a.b"; refuses anything else where a field path is required. */
static int field_path(phi_actx *a, bson_iter_t *it, const char *stage, const char **path)
{
    if (!BSON_ITER_HOLDS_UTF8(it) || bson_iter_utf8(it, NULL)[0] != '$' || bson_iter_utf8(it, NULL)[1] == '$')
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs a field path starting with '$'", stage);
    *path = bson_iter_utf8(it, NULL) + 1;
    return 0;
}

static int set_plain(phi_actx *a, const char *path)
{
    return phi_shape_set(a, a->root, path, NULL, &a->root);
}

/* ---- $match, $sort ---- */

static int match_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_t sub, child;
    if (!phi_sub_document(it, &sub))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "$match needs a document");
    bson_append_document_begin(out, "$match", -1, &child);
    int rc = phi_mark_filter(a, &sub, &child);
    bson_append_document_end(out, &child);
    return rc;
}

static int sort_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    int rc = need_doc(a, it, "$sort", &f);
    while (!rc && bson_iter_next(&f)) {
        const phi_snode *n;
        if ((rc = phi_shape_at(a, bson_iter_key(&f), &n)))
            break;
        if (n && BSON_ITER_HOLDS_DOCUMENT(&f))
            continue; /* {$meta: ...} sorts by no field value */
        if (n)
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "$sort on encrypted field '%s' is not allowed: ciphertext order is not the plaintext order",
                           bson_iter_key(&f));
    }
    if (!rc)
        bson_append_iter(out, "$sort", -1, it);
    return rc;
}

/* ---- $project, $addFields/$set, $unset ---- */

/* Flattens {a: {b: 1}} into paths; `fn` gets each leaf (path, value). */
typedef int (*proj_fn)(phi_actx *a, const char *path, bson_iter_t *v, bson_t *out, void *ctx);

static int each_projection(phi_actx *a, bson_iter_t *f, const char *prefix, bson_t *out, proj_fn fn, void *ctx)
{
    int rc = 0;
    while (!rc && bson_iter_next(f)) {
        char path[PHI_PATH_MAX];
        if (!phi_path_join(path, sizeof path, prefix, bson_iter_key(f)))
            return phi_error(a->eh, PHICRYPT_EBADDATA, "field path too long in a projection");
        bson_iter_t c;
        bool nested = BSON_ITER_HOLDS_DOCUMENT(f) && bson_iter_recurse(f, &c) && bson_iter_next(&c) &&
                      bson_iter_key(&c)[0] != '$';
        if (nested) {
            bson_t child;
            bson_iter_recurse(f, &c);
            bson_append_document_begin(out, bson_iter_key(f), -1, &child);
            rc = each_projection(a, &c, path, &child, fn, ctx);
            bson_append_document_end(out, &child);
        } else {
            rc = fn(a, path, f, out, ctx);
        }
    }
    return rc;
}

static bool flag_value(const bson_iter_t *v, bool *on)
{
    if (BSON_ITER_HOLDS_BOOL(v)) {
        *on = bson_iter_bool(v);
        return true;
    }
    if (BSON_ITER_HOLDS_NUMBER(v)) {
        *on = bson_iter_as_int64(v) != 0;
        return true;
    }
    return false;
}

typedef struct proj_ctx {
    const phi_snode *in; /* input shape */
    phi_snode *made;     /* output shape (inclusion) */
    bool inclusion;
    bool id_seen;
} proj_ctx;

static int mode_of(phi_actx *a, const char *path, bson_iter_t *v, bson_t *out, void *ctx)
{
    proj_ctx *p = ctx;
    bool on;
    (void)a;
    (void)out;
    if (strcmp(path, "_id") == 0)
        return 0; /* _id: 0 is allowed in an inclusion projection */
    if (!flag_value(v, &on) || on)
        p->inclusion = true;
    return 0;
}

static int project_one(phi_actx *a, const char *path, bson_iter_t *v, bson_t *out, void *ctx)
{
    proj_ctx *p = ctx;
    bool on;
    int rc;
    const phi_snode *n;
    if (strcmp(path, "_id") == 0)
        p->id_seen = true;
    if (flag_value(v, &on)) {
        bson_append_iter(out, bson_iter_key(v), -1, v);
        if (!p->inclusion) /* exclusion: the field is gone */
            return set_plain(a, path);
        if (!on)
            return 0;
        if ((rc = phi_shape_at(a, path, &n)))
            return rc;
        return n ? phi_shape_set(a, p->made, path, n, &p->made) : 0;
    }
    if (!p->inclusion)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "$project cannot mix exclusions and computed fields ('%s')", path);
    if ((rc = phi_mark_expr(a, v, out, bson_iter_key(v), &n)))
        return rc;
    return n ? phi_shape_set(a, p->made, path, n, &p->made) : 0;
}

static int project_stage(phi_actx *a, const char *name, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    bson_t child;
    proj_ctx p = { .in = a->root };
    int rc;
    if ((rc = need_doc(a, it, name, &f)))
        return rc;
    bson_t scratch = BSON_INITIALIZER;
    rc = each_projection(a, &f, "", &scratch, mode_of, &p);
    bson_destroy(&scratch); /* only field names went there */
    if (rc)
        return rc;
    bson_iter_recurse(it, &f);
    bson_append_document_begin(out, name, -1, &child);
    /* computed fields and inclusions read the input shape; the output is
     * built aside (inclusion) or in place (exclusion) */
    rc = each_projection(a, &f, "", &child, project_one, &p);
    bson_append_document_end(out, &child);
    if (!rc && p.inclusion) {
        const phi_snode *id;
        if (!p.id_seen && !(rc = phi_shape_at(a, "_id", &id)) && id)
            rc = phi_shape_set(a, p.made, "_id", id, &p.made);
        if (!rc)
            a->root = p.made ? p.made : phi_synth_object(a);
        if (!a->root)
            rc = PHICRYPT_ENOMEM;
    }
    return rc;
}

static int add_fields_one(phi_actx *a, const char *path, bson_iter_t *v, bson_t *out, void *ctx)
{
    phi_snode **made = ctx;
    const phi_snode *n;
    int rc = phi_mark_expr(a, v, out, bson_iter_key(v), &n);
    if (!rc)
        rc = phi_shape_set(a, *made, path, n, made);
    return rc;
}

static int add_fields_stage(phi_actx *a, const char *name, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    bson_t child;
    int rc;
    phi_snode *made = (phi_snode *)a->root;
    if ((rc = need_doc(a, it, name, &f)))
        return rc;
    bson_append_document_begin(out, name, -1, &child);
    /* every expression reads the input document, not the fields added before it */
    rc = each_projection(a, &f, "", &child, add_fields_one, &made);
    bson_append_document_end(out, &child);
    if (!rc)
        a->root = made;
    return rc;
}

static int unset_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_iter_t el;
    int rc = 0;
    if (BSON_ITER_HOLDS_UTF8(it)) {
        rc = set_plain(a, bson_iter_utf8(it, NULL));
    } else if (BSON_ITER_HOLDS_ARRAY(it) && bson_iter_recurse(it, &el)) {
        while (!rc && bson_iter_next(&el))
            rc = BSON_ITER_HOLDS_UTF8(&el) ? set_plain(a, bson_iter_utf8(&el, NULL))
                                           : phi_error(a->eh, PHICRYPT_EBADDATA, "$unset needs field names");
    } else {
        rc = phi_error(a->eh, PHICRYPT_EBADDATA, "$unset needs a field name or an array of them");
    }
    if (!rc)
        bson_append_iter(out, "$unset", -1, it);
    return rc;
}

/* ---- $group, $bucket, $bucketAuto, $sortByCount, $count ---- */

/* `key` is the grouping expression, named in refusals when it is a path. */
static int group_key(phi_actx *a, const char *stage, const bson_iter_t *key, const phi_snode *n)
{
    if (!n)
        return 0;
    const char *what = BSON_ITER_HOLDS_UTF8(key) ? bson_iter_utf8(key, NULL) : "(expression)";
    const phi_encinfo *e = phi_snode_enc(n);
    if (!e)
        return phi_error(a->eh, PHICRYPT_ESCHEMA, "%s cannot group by '%s': a document that holds encrypted fields",
                         stage, what);
    if (e->algorithm != PHI_ALG_DETERMINISTIC)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         e->algorithm == PHI_ALG_RANDOM
                             ? "%s cannot group by '%s': it is encrypted with the randomized encryption algorithm"
                             : "%s cannot group by '%s': its encryption is not known until the query runs",
                         stage, what);
    return 0;
}

/* {name: {$acc: expr}, ...} of $group and $bucket's output. */
static int accumulator(phi_actx *a, const char *stage, bson_iter_t *f, bson_t *out, phi_snode **made)
{
    bson_iter_t c;
    bson_t child;
    const char *name = bson_iter_key(f);
    const phi_snode *n = NULL;
    int rc = 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(f) || !bson_iter_recurse(f, &c) || !bson_iter_next(&c) ||
        bson_iter_key(&c)[0] != '$')
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s field '%s' must be an accumulator object", stage, name);
    const char *acc = bson_iter_key(&c);
    bson_append_document_begin(out, name, -1, &child);
    rc = phi_mark_expr(a, &c, &child, acc, &n);
    bson_append_document_end(out, &child);
    if (rc || !n)
        return rc ? rc : phi_shape_set(a, *made, name, NULL, made);
    if (strcmp(acc, "$push") == 0 || strcmp(acc, "$addToSet") == 0) {
        const phi_snode *arr = phi_synth_opaque(a);
        return arr ? phi_shape_set(a, *made, name, arr, made) : PHICRYPT_ENOMEM;
    }
    if (strcmp(acc, "$first") == 0 || strcmp(acc, "$last") == 0)
        return phi_shape_set(a, *made, name, n, made);
    return phi_error(a->eh, PHICRYPT_ESCHEMA,
                     "%s accumulator %s is not supported on encrypted values (field '%s'); only $push, $addToSet, "
                     "$first and $last may take them",
                     stage, acc, name);
}

static int group_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    bson_t child;
    phi_snode *made = phi_synth_object(a);
    bool has_id = false;
    int rc;
    if (!made)
        return PHICRYPT_ENOMEM;
    if ((rc = need_doc(a, it, "$group", &f)))
        return rc;
    bson_append_document_begin(out, "$group", -1, &child);
    while (!rc && bson_iter_next(&f)) {
        if (strcmp(bson_iter_key(&f), "_id") == 0) {
            const phi_snode *n;
            has_id = true;
            if (!(rc = phi_mark_expr(a, &f, &child, "_id", &n)) && !(rc = group_key(a, "$group", &f, n)) && n)
                rc = phi_shape_set(a, made, "_id", n, &made);
        } else {
            rc = accumulator(a, "$group", &f, &child, &made);
        }
    }
    bson_append_document_end(out, &child);
    if (!rc && !has_id)
        rc = phi_error(a->eh, PHICRYPT_EBADDATA, "$group needs an _id");
    if (!rc)
        a->root = made;
    return rc;
}

static int bucket_stage(phi_actx *a, const char *name, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f, o;
    bson_t child, outs;
    phi_snode *made = phi_synth_object(a);
    int rc;
    if (!made)
        return PHICRYPT_ENOMEM;
    if ((rc = need_doc(a, it, name, &f)))
        return rc;
    bson_append_document_begin(out, name, -1, &child);
    while (!rc && bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        if (strcmp(k, "groupBy") == 0) {
            const phi_snode *n;
            if (!(rc = phi_mark_expr(a, &f, &child, k, &n)) && n)
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                               "%s cannot bucket encrypted values: buckets need the plaintext order", name);
        } else if (strcmp(k, "output") == 0) {
            if ((rc = need_doc(a, &f, name, &o)))
                break;
            bson_append_document_begin(&child, k, -1, &outs);
            while (!rc && bson_iter_next(&o))
                rc = accumulator(a, name, &o, &outs, &made);
            bson_append_document_end(&child, &outs);
        } else {
            bson_append_iter(&child, k, -1, &f); /* boundaries, default, buckets, granularity */
        }
    }
    bson_append_document_end(out, &child);
    if (!rc)
        a->root = made;
    return rc;
}

static int sort_by_count_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    const phi_snode *n;
    phi_snode *made = NULL;
    int rc = phi_mark_expr(a, it, out, "$sortByCount", &n);
    if (!rc)
        rc = group_key(a, "$sortByCount", it, n);
    if (!rc)
        rc = phi_shape_set(a, NULL, "_id", n, &made);
    if (!rc)
        a->root = made;
    return rc;
}

static int count_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    if (!BSON_ITER_HOLDS_UTF8(it))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "$count needs a field name");
    bson_append_iter(out, "$count", -1, it);
    return (a->root = phi_synth_object(a)) ? 0 : PHICRYPT_ENOMEM;
}

/* ---- $unwind, $replaceRoot/$replaceWith, $redact, $geoNear ---- */

static int unwind_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    const char *path = NULL;
    const phi_snode *n;
    int rc = 0;
    if (BSON_ITER_HOLDS_UTF8(it)) {
        rc = field_path(a, it, "$unwind", &path);
    } else if (!(rc = need_doc(a, it, "$unwind", &f))) {
        while (!rc && bson_iter_next(&f)) {
            if (strcmp(bson_iter_key(&f), "path") == 0)
                rc = field_path(a, &f, "$unwind", &path);
            else if (strcmp(bson_iter_key(&f), "includeArrayIndex") == 0 && BSON_ITER_HOLDS_UTF8(&f))
                rc = set_plain(a, bson_iter_utf8(&f, NULL));
        }
        if (!rc && !path)
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "$unwind needs a path");
    }
    /* an encrypted value is one BinData, which unwinds to itself; an array
     * of documents keeps their shape */
    if (!rc)
        rc = phi_shape_at(a, path, &n);
    if (!rc)
        bson_append_iter(out, "$unwind", -1, it);
    return rc;
}

static int new_root(phi_actx *a, const char *stage, const phi_snode *n)
{
    if (n && phi_snode_enc(n))
        return phi_error(a->eh, PHICRYPT_ESCHEMA, "%s cannot make an encrypted value the document", stage);
    a->root = n ? phi_synth_clone(a, n) : phi_synth_object(a);
    return a->root ? 0 : PHICRYPT_ENOMEM;
}

static int replace_root_stage(phi_actx *a, const char *name, bson_iter_t *it, bson_t *out)
{
    const phi_snode *n = NULL;
    bson_t child;
    int rc = 0;
    if (strcmp(name, "$replaceWith") == 0) {
        rc = phi_mark_expr(a, it, out, name, &n);
    } else {
        bson_iter_t f;
        bool seen = false;
        if ((rc = need_doc(a, it, name, &f)))
            return rc;
        bson_append_document_begin(out, name, -1, &child);
        while (!rc && bson_iter_next(&f)) {
            if (strcmp(bson_iter_key(&f), "newRoot") != 0)
                rc = phi_error(a->eh, PHICRYPT_EBADDATA, "unknown $replaceRoot argument '%s'", bson_iter_key(&f));
            else
                seen = true, rc = phi_mark_expr(a, &f, &child, "newRoot", &n);
        }
        bson_append_document_end(out, &child);
        if (!rc && !seen)
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "$replaceRoot needs newRoot");
    }
    return rc ? rc : new_root(a, name, n);
}

static int redact_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    const phi_snode *n;
    int rc = phi_mark_expr(a, it, out, "$redact", &n);
    if (!rc && n)
        rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "$redact cannot decide on an encrypted value");
    return rc;
}

static int geo_near_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    bson_t child;
    int rc;
    if ((rc = need_doc(a, it, "$geoNear", &f)))
        return rc;
    bson_append_document_begin(out, "$geoNear", -1, &child);
    while (!rc && bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        const phi_snode *n;
        if (strcmp(k, "query") == 0) {
            bson_t sub, q;
            if (!phi_sub_document(&f, &sub)) {
                rc = phi_error(a->eh, PHICRYPT_EBADDATA, "$geoNear query must be a document");
                break;
            }
            bson_append_document_begin(&child, k, -1, &q);
            rc = phi_mark_filter(a, &sub, &q);
            bson_append_document_end(&child, &q);
            continue;
        }
        if (strcmp(k, "key") == 0 && BSON_ITER_HOLDS_UTF8(&f) && !(rc = phi_shape_at(a, bson_iter_utf8(&f, NULL), &n)) &&
            n)
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "$geoNear key '%s' is encrypted", bson_iter_utf8(&f, NULL));
        bson_append_iter(&child, k, -1, &f);
    }
    bson_append_document_end(out, &child);
    /* distanceField and includeLocs are computed: plain */
    if (!rc && bson_iter_recurse(it, &f))
        while (!rc && bson_iter_next(&f))
            if ((strcmp(bson_iter_key(&f), "distanceField") == 0 || strcmp(bson_iter_key(&f), "includeLocs") == 0) &&
                BSON_ITER_HOLDS_UTF8(&f))
                rc = set_plain(a, bson_iter_utf8(&f, NULL));
    return rc;
}

/* ---- $lookup, $graphLookup, $facet ---- */

static int same_collection(phi_actx *a, const char *stage, bson_iter_t *it)
{
    if (!BSON_ITER_HOLDS_UTF8(it) || !a->coll || strcmp(bson_iter_utf8(it, NULL), a->coll) != 0)
        return phi_error(a->eh, PHICRYPT_ESCHEMA,
                         "%s from a different collection is not supported with automatic encryption: only a "
                         "self-lookup (from '%s') is, since the other collection's schema is not known here",
                         stage, a->coll ? a->coll : "");
    return 0;
}

/* Joined fields must compare as ciphertexts: both plain, or both encrypted
 * alike with the deterministic algorithm. */
static int join_fields(phi_actx *a, const char *stage, const char *local, const phi_snode *ln, const char *foreign,
                       const phi_snode *fn)
{
    const phi_encinfo *le = phi_snode_enc(ln), *fe = phi_snode_enc(fn);
    if (!ln && !fn)
        return 0;
    if (le && fe && le->algorithm == PHI_ALG_DETERMINISTIC && phi_encinfo_equal(le, fe))
        return 0;
    return phi_error(a->eh, PHICRYPT_ESCHEMA,
                     "%s joins '%s' and '%s', which are not both unencrypted or encrypted alike with the deterministic "
                     "algorithm",
                     stage, local, foreign);
}

/* Resolves `path` in the collection's own schema (the joined documents). */
static int foreign_at(phi_actx *a, const char *path, const phi_snode **n)
{
    phi_snode *cur = a->root;
    a->root = a->coll_root;
    int rc = phi_shape_at(a, path, n);
    a->root = cur;
    return rc;
}

static int sub_pipeline(phi_actx *a, bson_iter_t *it, phi_snode *start, bson_t *out, const phi_snode **result)
{
    phi_snode *cur = a->root;
    a->root = start;
    int rc = phi_mark_pipeline(a, it, out);
    *result = a->root;
    a->root = cur;
    return rc;
}

static int lookup_stage(phi_actx *a, const char *name, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    bson_t child;
    const char *local = NULL, *foreign = NULL, *as = NULL;
    const phi_snode *joined = a->coll_root;
    bool graph = strcmp(name, "$graphLookup") == 0;
    int rc;
    if ((rc = need_doc(a, it, name, &f)))
        return rc;
    bson_append_document_begin(out, name, -1, &child);
    while (!rc && bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        if (strcmp(k, "from") == 0) {
            rc = same_collection(a, name, &f);
        } else if (strcmp(k, graph ? "connectFromField" : "localField") == 0 && BSON_ITER_HOLDS_UTF8(&f)) {
            local = bson_iter_utf8(&f, NULL);
        } else if (strcmp(k, graph ? "connectToField" : "foreignField") == 0 && BSON_ITER_HOLDS_UTF8(&f)) {
            foreign = bson_iter_utf8(&f, NULL);
        } else if (strcmp(k, "as") == 0 && BSON_ITER_HOLDS_UTF8(&f)) {
            as = bson_iter_utf8(&f, NULL);
        } else if (!graph && strcmp(k, "let") == 0) {
            const phi_snode *n;
            bson_iter_t v;
            bson_t vars;
            if ((rc = need_doc(a, &f, "$lookup let", &v)))
                break;
            bson_append_document_begin(&child, k, -1, &vars);
            while (!rc && bson_iter_next(&v))
                if (!(rc = phi_mark_expr(a, &v, &vars, bson_iter_key(&v), &n)) && n)
                    rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "$lookup cannot bind variable '%s' to an encrypted value",
                                   bson_iter_key(&v));
            bson_append_document_end(&child, &vars);
            continue;
        } else if (!graph && strcmp(k, "pipeline") == 0) {
            rc = sub_pipeline(a, &f, a->coll_root, &child, &joined);
            continue;
        } else if (graph && strcmp(k, "startWith") == 0) {
            const phi_snode *n;
            if (!(rc = phi_mark_expr(a, &f, &child, k, &n)) && n)
                rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                               "$graphLookup startWith holds an encrypted value; only plaintext start values are "
                               "supported");
            continue;
        } else if (graph && strcmp(k, "restrictSearchWithMatch") == 0) {
            bson_t sub, q;
            phi_snode *cur = a->root;
            if (!phi_sub_document(&f, &sub)) {
                rc = phi_error(a->eh, PHICRYPT_EBADDATA, "restrictSearchWithMatch must be a document");
                break;
            }
            a->root = a->coll_root;
            bson_append_document_begin(&child, k, -1, &q);
            rc = phi_mark_filter(a, &sub, &q);
            bson_append_document_end(&child, &q);
            a->root = cur;
            continue;
        }
        bson_append_iter(&child, k, -1, &f);
    }
    bson_append_document_end(out, &child);
    if (rc)
        return rc;
    if (!as)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs 'as'", name);
    if (local || foreign) {
        const phi_snode *ln = NULL, *fn = NULL;
        if (!local || !foreign)
            return phi_error(a->eh, PHICRYPT_EBADDATA, "%s needs both fields it joins", name);
        /* $graphLookup matches connectFromField of the joined documents */
        if ((rc = graph ? foreign_at(a, local, &ln) : phi_shape_at(a, local, &ln)) || (rc = foreign_at(a, foreign, &fn)))
            return rc;
        if ((rc = join_fields(a, name, local, ln, foreign, fn)))
            return rc;
    }
    if ((rc = phi_shape_set(a, a->root, as, joined, &a->root)))
        return rc;
    if (graph && bson_iter_recurse(it, &f))
        while (!rc && bson_iter_next(&f))
            if (strcmp(bson_iter_key(&f), "depthField") == 0 && BSON_ITER_HOLDS_UTF8(&f)) {
                char path[PHI_PATH_MAX];
                if (!phi_path_join(path, sizeof path, as, bson_iter_utf8(&f, NULL)))
                    return phi_error(a->eh, PHICRYPT_EBADDATA, "field path too long");
                rc = set_plain(a, path);
            }
    return rc;
}

static int facet_stage(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    bson_iter_t f;
    bson_t child;
    phi_snode *made = phi_synth_object(a);
    int rc;
    if (!made)
        return PHICRYPT_ENOMEM;
    if ((rc = need_doc(a, it, "$facet", &f)))
        return rc;
    bson_append_document_begin(out, "$facet", -1, &child);
    while (!rc && bson_iter_next(&f)) {
        const phi_snode *res;
        if (!(rc = sub_pipeline(a, &f, a->root, &child, &res)))
            rc = phi_shape_set(a, made, bson_iter_key(&f), phi_snode_has_encrypt(res) ? res : NULL, &made);
    }
    bson_append_document_end(out, &child);
    if (!rc)
        a->root = made;
    return rc;
}

/* ---- the pipeline ---- */

static int stats_stage(phi_actx *a, const char *name, bson_iter_t *it, bson_t *out)
{
    bson_append_iter(out, name, -1, it);
    /* statistics documents hold no collection field */
    return (a->root = phi_synth_object(a)) ? 0 : PHICRYPT_ENOMEM;
}

static int pass_stage(phi_actx *a, const char *name, bson_iter_t *it, bson_t *out)
{
    (void)a;
    bson_append_iter(out, name, -1, it);
    return 0;
}

static int stage_one(phi_actx *a, const bson_t *stage, bson_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, stage) || !bson_iter_next(&it))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "an aggregation stage must be a document with one field");
    const char *name = bson_iter_key(&it);
    bson_iter_t extra = it;
    if (bson_iter_next(&extra))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "aggregation stage %s has more than one field", name);
    if (strcmp(name, "$match") == 0)
        return match_stage(a, &it, out);
    if (strcmp(name, "$sort") == 0)
        return sort_stage(a, &it, out);
    if (strcmp(name, "$project") == 0)
        return project_stage(a, name, &it, out);
    if (strcmp(name, "$addFields") == 0 || strcmp(name, "$set") == 0)
        return add_fields_stage(a, name, &it, out);
    if (strcmp(name, "$unset") == 0)
        return unset_stage(a, &it, out);
    if (strcmp(name, "$group") == 0)
        return group_stage(a, &it, out);
    if (strcmp(name, "$bucket") == 0 || strcmp(name, "$bucketAuto") == 0)
        return bucket_stage(a, name, &it, out);
    if (strcmp(name, "$sortByCount") == 0)
        return sort_by_count_stage(a, &it, out);
    if (strcmp(name, "$count") == 0)
        return count_stage(a, &it, out);
    if (strcmp(name, "$unwind") == 0)
        return unwind_stage(a, &it, out);
    if (strcmp(name, "$replaceRoot") == 0 || strcmp(name, "$replaceWith") == 0)
        return replace_root_stage(a, name, &it, out);
    if (strcmp(name, "$redact") == 0)
        return redact_stage(a, &it, out);
    if (strcmp(name, "$geoNear") == 0)
        return geo_near_stage(a, &it, out);
    if (strcmp(name, "$lookup") == 0 || strcmp(name, "$graphLookup") == 0)
        return lookup_stage(a, name, &it, out);
    if (strcmp(name, "$facet") == 0)
        return facet_stage(a, &it, out);
    if (strcmp(name, "$collStats") == 0 || strcmp(name, "$indexStats") == 0)
        return stats_stage(a, name, &it, out);
    if (strcmp(name, "$limit") == 0 || strcmp(name, "$skip") == 0 || strcmp(name, "$sample") == 0)
        return pass_stage(a, name, &it, out);
    return phi_error(a->eh, PHICRYPT_ESCHEMA,
                     "Aggregation stage %s is not supported by query analysis when the schema encrypts fields "
                     "(supported: $addFields, $bucket, $bucketAuto, $collStats, $count, $facet, $geoNear, $graphLookup, "
                     "$group, $indexStats, $limit, $lookup, $match, $project, $redact, $replaceRoot, $replaceWith, "
                     "$sample, $set, $skip, $sort, $sortByCount, $unset, $unwind)",
                     name);
}

int phi_mark_pipeline(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    /* sub-pipelines ($lookup, $facet) nest: bound the recursion */
    if (++a->depth > 100) {
        a->depth--;
        return phi_error(a->eh, PHICRYPT_EBADDATA, "pipelines nested more than 100 levels deep");
    }
    int rc = phi_each_document(a, it, stage_one, out);
    a->depth--;
    return rc;
}
