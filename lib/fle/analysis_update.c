/* Update documents (update's u, findAndModify's update): operator updates
 * and replacement documents.
 *
 * mongocryptd's behaviour pinned here (spec tests updateOne.json,
 * findOneAndUpdate.json, findOneAndReplace.json, badQueries.json,
 * keyAltName.json): $set / $setOnInsert values at encrypted paths become
 * markings (a sub-document is walked like an inserted one); $unset is
 * allowed; a replacement document is marked like an insert; $inc, $mul,
 * $min, $max, $currentDate, $pop, $pull, $pullAll, $push, $addToSet and $bit
 * on an encrypted field are refused; $rename only between paths with the same
 * encryption; positional and array-filter updates cannot reach into
 * encrypted fields; a JSON-pointer keyId cannot be used by an operator
 * update (the key alt name lives in the stored document, not the update). */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"

/* Resolves an update path; a positional step ("$", "$[]", "$[id]") stops the
 * walk and is reported in *positional (NULL when there is none). */
static int resolve_update_path(phi_actx *a, const char *path, const phi_encinfo **enc, phi_nodeset *below,
                               const char **positional)
{
    char prefix[PHI_PATH_MAX];
    const char *p = path;
    *positional = NULL;
    if (strlen(path) >= sizeof prefix)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "update path too long");
    for (;;) {
        if (*p == '$') {
            *positional = p;
            break;
        }
        const char *dot = strchr(p, '.');
        if (!dot)
            break;
        p = dot + 1;
    }
    if (*positional == NULL)
        return phi_schema_resolve(a, path, enc, below);
    if (*positional == path)
        return phi_error(a->eh, PHICRYPT_EBADDATA, "update path '%s' starts with a positional operator", path);
    size_t n = (size_t)(*positional - path) - 1;
    memcpy(prefix, path, n);
    prefix[n] = '\0';
    return phi_schema_resolve(a, prefix, enc, below);
}

static int positional_refusal(phi_actx *a, const char *path, const char *positional)
{
    if (strncmp(positional, "$[", 2) == 0)
        return phi_error(a->eh, PHICRYPT_ESCHEMA, "Array update operations not allowed on encrypted values: '%s'",
                         path);
    return phi_error(a->eh, PHICRYPT_ESCHEMA, "Cannot encrypt fields below '$' positional update operator: '%s'",
                     path);
}

static int set_field(phi_actx *a, bson_iter_t *it, bson_t *out)
{
    const char *path = bson_iter_key(it);
    const phi_encinfo *enc;
    const char *positional;
    phi_nodeset below = { 0 };
    int rc = resolve_update_path(a, path, &enc, &below, &positional);

    if (!rc && positional && (enc || phi_nodeset_has_encrypt(&below)))
        rc = positional_refusal(a, path, positional);
    else if (!rc && enc)
        rc = phi_mark_value(a, enc, path, bson_iter_value(it), NULL, out, path);
    else if (!rc && phi_nodeset_has_encrypt(&below) && BSON_ITER_HOLDS_DOCUMENT(it)) {
        bson_t sub, child;
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(it, &len, &data);
        if (!bson_init_static(&sub, data, len)) {
            rc = phi_error(a->eh, PHICRYPT_EBADDATA, "malformed document at '%s'", path);
        } else {
            bson_append_document_begin(out, path, -1, &child);
            a->set_value = true;
            rc = phi_mark_document(a, &sub, &below, path, NULL, false, &child);
            a->set_value = false;
            bson_append_document_end(out, &child);
        }
    } else if (!rc && phi_nodeset_has_encrypt(&below)) {
        rc = phi_set_prefix_refusal(a, path);
    } else if (!rc) {
        bson_append_iter(out, path, -1, it);
    }
    phi_free((void *)below.v);
    return rc;
}

/* Operators that need the plaintext, and how mongocryptd words the refusal. */
static const struct {
    const char *op;
    const char *msg;
} refused_ops[] = {
    { "$inc", "$inc and $mul" },     { "$mul", "$inc and $mul" },   { "$max", "$max and $min" },
    { "$min", "$max and $min" },     { "$currentDate", "$currentDate" }, { "$pop", "$pop" },
    { "$pull", "$pull" },            { "$pullAll", "$pullAll" },    { "$push", "$push" },
    { "$addToSet", "$addToSet" },    { "$bit", "$bit" },
};

static int check_not_encrypted(phi_actx *a, const char *msg, const char *path)
{
    const phi_encinfo *enc;
    const char *positional;
    phi_nodeset below = { 0 };
    int rc = resolve_update_path(a, path, &enc, &below, &positional);
    if (!rc && (enc || phi_nodeset_has_encrypt(&below)))
        rc = phi_error(a->eh, PHICRYPT_ESCHEMA, "%s not allowed on encrypted values: '%s'", msg, path);
    phi_free((void *)below.v);
    return rc;
}

static int rename_field(phi_actx *a, bson_iter_t *it)
{
    const char *from = bson_iter_key(it);
    const phi_encinfo *e1 = NULL, *e2 = NULL;
    const char *pos1, *pos2;
    phi_nodeset b1 = { 0 }, b2 = { 0 };
    int rc;

    if (!BSON_ITER_HOLDS_UTF8(it))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "$rename target for '%s' must be a string", from);
    const char *to = bson_iter_utf8(it, NULL);
    rc = resolve_update_path(a, from, &e1, &b1, &pos1);
    if (!rc)
        rc = resolve_update_path(a, to, &e2, &b2, &pos2);
    if (!rc) {
        bool same = (!e1 && !e2) || (e1 && e2 && phi_encinfo_equal(e1, e2));
        if (same && !e1 && (phi_nodeset_has_encrypt(&b1) || phi_nodeset_has_encrypt(&b2)))
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "$rename is not allowed on an object containing encrypted fields: '%s' to '%s'", from, to);
        else if (!same)
            rc = phi_error(a->eh, PHICRYPT_ESCHEMA,
                           "$rename between two encrypted fields must have the same metadata or both be unencrypted: "
                           "'%s' to '%s'",
                           from, to);
    }
    phi_free((void *)b1.v);
    phi_free((void *)b2.v);
    return rc;
}

static int operator_update(phi_actx *a, const bson_t *update, bson_t *out)
{
    bson_iter_t it, f;
    int rc = 0;

    bson_iter_init(&it, update);
    while (!rc && bson_iter_next(&it)) {
        const char *op = bson_iter_key(&it);
        if (op[0] != '$')
            return phi_error(a->eh, PHICRYPT_EBADDATA,
                             "an update document mixes operators and fields (field '%s')", op);
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &f))
            return phi_error(a->eh, PHICRYPT_EBADDATA, "the operand of %s must be a document", op);
        if (strcmp(op, "$set") == 0 || strcmp(op, "$setOnInsert") == 0) {
            bson_t child;
            bson_append_document_begin(out, op, -1, &child);
            while (!rc && bson_iter_next(&f))
                rc = set_field(a, &f, &child);
            bson_append_document_end(out, &child);
            continue;
        }
        if (strcmp(op, "$unset") == 0) {
            const phi_encinfo *enc;
            const char *positional;
            while (!rc && bson_iter_next(&f)) {
                phi_nodeset below = { 0 };
                rc = resolve_update_path(a, bson_iter_key(&f), &enc, &below, &positional);
                phi_free((void *)below.v);
            }
        } else if (strcmp(op, "$rename") == 0) {
            while (!rc && bson_iter_next(&f))
                rc = rename_field(a, &f);
        } else {
            size_t i;
            for (i = 0; i < sizeof refused_ops / sizeof refused_ops[0]; i++)
                if (strcmp(op, refused_ops[i].op) == 0)
                    break;
            if (i == sizeof refused_ops / sizeof refused_ops[0])
                return phi_error(a->eh, PHICRYPT_ESCHEMA, "Unsupported update operator for encryption: %s", op);
            while (!rc && bson_iter_next(&f))
                rc = check_not_encrypted(a, refused_ops[i].msg, bson_iter_key(&f));
        }
        if (!rc)
            bson_append_iter(out, op, -1, &it);
    }
    return rc;
}

int phi_mark_update(phi_actx *a, const bson_t *update, bson_t *out)
{
    bson_iter_t it;
    phi_nodeset top = { 0 };
    int rc;

    if (!bson_iter_init(&it, update))
        return phi_error(a->eh, PHICRYPT_EBADDATA, "malformed update document");
    if (bson_iter_next(&it) && bson_iter_key(&it)[0] == '$')
        return operator_update(a, update, out);
    /* a replacement document: marked like an inserted one, JSON-pointer
     * keyIds resolved inside it */
    if ((rc = phi_nodeset_add(a->eh, &top, a->root)))
        return rc;
    rc = phi_mark_document(a, update, &top, "", update, true, out);
    phi_free((void *)top.v);
    return rc;
}
