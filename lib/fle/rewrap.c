/* phicrypt_datakey_rewrap: key rotation. libmongocrypt rewraps; this file
 * selects the keys (a small MongoDB filter subset) and stores the result
 * in one atomic write of the key vault. */
#include <string.h>

#include <phicrypt.h>
#include "core/events_private.h"
#include "core/handle_private.h"
#include "core/config_private.h"
#include "core/error_private.h"
#include "core/json_private.h"
#include "fle/fle_private.h"
#include "keyvault/keyvault_private.h"
#include "kms/registry_private.h"

#define MAX_DEPTH 8

static int values_equal(const bson_iter_t *a, const bson_iter_t *b)
{
    bson_type_t ta = bson_iter_type(a), tb = bson_iter_type(b);
    if (BSON_ITER_HOLDS_NUMBER(a) && BSON_ITER_HOLDS_NUMBER(b))
        return bson_iter_as_double(a) == bson_iter_as_double(b);
    if (ta != tb)
        return 0;
    switch (ta) {
    case BSON_TYPE_UTF8:
        return strcmp(bson_iter_utf8(a, NULL), bson_iter_utf8(b, NULL)) == 0;
    case BSON_TYPE_BOOL:
        return bson_iter_bool(a) == bson_iter_bool(b);
    case BSON_TYPE_DATE_TIME:
        return bson_iter_date_time(a) == bson_iter_date_time(b);
    case BSON_TYPE_BINARY: {
        bson_subtype_t sa, sb;
        uint32_t la, lb;
        const uint8_t *da, *db;
        bson_iter_binary(a, &sa, &la, &da);
        bson_iter_binary(b, &sb, &lb, &db);
        return sa == sb && la == lb && memcmp(da, db, la) == 0;
    }
    default:
        return 0;
    }
}

/* The field's value equals `want`, or (an array field) one element does. */
static int field_has(const bson_iter_t *field, const bson_iter_t *want)
{
    bson_iter_t e;
    if (values_equal(field, want))
        return 1;
    if (BSON_ITER_HOLDS_ARRAY(field) && bson_iter_recurse(field, &e))
        while (bson_iter_next(&e))
            if (values_equal(&e, want))
                return 1;
    return 0;
}

static int match_doc(const void *eh, const bson_t *doc, bson_iter_t *filter, int depth, int *ok);

/* One "path: condition" of a filter. */
static int match_field(const void *eh, const bson_t *doc, bson_iter_t *cond, int *ok)
{
    const char *path = bson_iter_key(cond);
    bson_iter_t field, ops;
    int present = bson_iter_init(&field, doc) && bson_iter_find_descendant(&field, path, &field);
    if (!BSON_ITER_HOLDS_DOCUMENT(cond) || !bson_iter_recurse(cond, &ops) || !bson_iter_next(&ops) ||
        bson_iter_key(&ops)[0] != '$') {
        *ok = present && field_has(&field, cond);
        return 0;
    }
    bson_iter_recurse(cond, &ops);
    *ok = 1;
    while (*ok && bson_iter_next(&ops)) {
        const char *op = bson_iter_key(&ops);
        if (strcmp(op, "$eq") == 0) {
            *ok = present && field_has(&field, &ops);
        } else if (strcmp(op, "$in") == 0) {
            bson_iter_t e;
            if (!BSON_ITER_HOLDS_ARRAY(&ops) || !bson_iter_recurse(&ops, &e))
                return phi_error(eh, PHICRYPT_EINVAL, "rewrap filter: $in under '%s' needs an array", path);
            *ok = 0;
            while (!*ok && bson_iter_next(&e))
                *ok = present && field_has(&field, &e);
        } else if (strcmp(op, "$exists") == 0) {
            *ok = present == bson_iter_as_bool(&ops);
        } else {
            return phi_error(eh, PHICRYPT_EUNSUPPORTED,
                             "rewrap filter: operator %s is not supported (use equality, $eq, $in, $exists, $or, "
                             "$and)", op);
        }
    }
    return 0;
}

static int match_list(const void *eh, const bson_t *doc, bson_iter_t *it, int depth, int any, int *ok)
{
    bson_iter_t arr;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr))
        return phi_error(eh, PHICRYPT_EINVAL, "rewrap filter: %s needs an array of filters", bson_iter_key(it));
    *ok = !any;
    while (bson_iter_next(&arr)) {
        bson_iter_t sub;
        int one, rc;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &sub))
            return phi_error(eh, PHICRYPT_EINVAL, "rewrap filter: %s needs an array of filters", bson_iter_key(it));
        if ((rc = match_doc(eh, doc, &sub, depth + 1, &one)) != 0)
            return rc;
        if (any && one)
            *ok = 1;
        if (!any && !one)
            *ok = 0;
    }
    return 0;
}

static int match_doc(const void *eh, const bson_t *doc, bson_iter_t *filter, int depth, int *ok)
{
    if (depth > MAX_DEPTH)
        return phi_error(eh, PHICRYPT_EINVAL, "rewrap filter nested too deeply");
    *ok = 1;
    while (*ok && bson_iter_next(filter)) {
        const char *k = bson_iter_key(filter);
        int rc;
        if (strcmp(k, "$or") == 0 || strcmp(k, "$and") == 0)
            rc = match_list(eh, doc, filter, depth, k[1] == 'o', ok);
        else if (k[0] == '$')
            return phi_error(eh, PHICRYPT_EUNSUPPORTED, "rewrap filter: operator %s is not supported", k);
        else
            rc = match_field(eh, doc, filter, ok);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef struct filter_ctx {
    phicrypt_t *ph;
    const bson_t *filter;
    phi_key_emit_fn emit;
    void *ectx;
} filter_ctx;

static int emit_matching(void *arg, const bson_t *doc)
{
    filter_ctx *fc = arg;
    bson_iter_t it;
    int ok = 0, rc;
    if (!bson_iter_init(&it, fc->filter))
        return phi_error(fc->ph, PHICRYPT_EINVAL, "rewrap filter: unreadable");
    if ((rc = match_doc(fc->ph, doc, &it, 0, &ok)) != 0)
        return rc;
    return ok ? fc->emit(fc->ectx, doc) : 0;
}

static int find_by_filter(void *ctx, const void *eh, const bson_t *filter, phi_key_emit_fn emit, void *ectx)
{
    phicrypt_t *ph = ctx;
    filter_ctx fc = { ph, filter, emit, ectx };
    (void)eh;
    return phi_keyvault_each(ph->kv, ph, emit_matching, &fc);
}

int phicrypt_datakey_rewrap(phicrypt_t *ph, size_t *count, const char *filter_json, const char *provider,
                            const char *master_key_json)
{
    bson_t filter, mk, out;
    bson_iter_t it, v;
    phi_mcrypt_io io;
    int rc, have_mk = 0;

    if (count)
        *count = 0;
    if (!ph)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_rewrap: NULL client");
    if (master_key_json && !provider)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_datakey_rewrap: a master key needs its provider");
    if (provider && strcmp(provider, "local") != 0 && !phi_kms_registry_find(ph->cfg->kms_registry, provider) &&
        (!ph->cfg->kms_remote || !bson_has_field(ph->cfg->kms_remote, provider)))
        return phi_error(ph, PHICRYPT_ECONFIG, "KMS provider '%s' is not configured (kms_providers.%s)", provider,
                         provider);
    if (provider && !master_key_json &&
        (strcmp(provider, "aws") == 0 || strcmp(provider, "azure") == 0 || strcmp(provider, "gcp") == 0))
        return phi_error(ph, PHICRYPT_EINVAL, "KMS provider '%s' needs a master key document (master_key_json)",
                         provider);
    if (provider && strcmp(provider, "local") == 0 && !ph->cfg->local_key)
        return phi_error(ph, PHICRYPT_ECONFIG, "KMS provider 'local' is not configured (kms_providers.local)");
    if ((rc = phi_json_to_bson(ph, "rewrap filter", filter_json ? filter_json : "{}",
                               strlen(filter_json ? filter_json : "{}"), &filter)) != 0)
        return phi_error_wrap(ph, PHICRYPT_EINVAL, "rewrap");
    if (master_key_json) {
        if (phi_json_to_bson(ph, "master key", master_key_json, strlen(master_key_json), &mk) != 0) {
            bson_destroy(&filter);
            return phi_error(ph, PHICRYPT_EINVAL, "master key: not a JSON object");
        }
        have_mk = 1;
        if ((rc = phi_fle_check_master_key(ph, provider, &mk)) != 0) {
            bson_destroy(&filter);
            bson_destroy(&mk);
            return rc;
        }
    }
    phi_fle_io(ph, &io);
    io.ctx = ph;
    io.find_by_filter = find_by_filter;
    rc = phi_mcrypt_rewrap(phi_fle_acquire(ph), ph, &io, &filter, provider, have_mk ? &mk : NULL, &out);
    phi_fle_release(ph);
    bson_destroy(&filter);
    if (have_mk)
        bson_destroy(&mk);
    if (rc != 0)
        return rc;
    if (bson_iter_init_find(&it, &out, "v") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &v)) {
        uint32_t len;
        const uint8_t *data;
        bson_t arr;
        bson_iter_array(&it, &len, &data);
        if (bson_init_static(&arr, data, len) && bson_count_keys(&arr) > 0) {
            rc = phi_keyvault_replace_many(ph->kv, ph, &arr, count);
            if (rc == 0)
                rc = ph->reset_mcrypt(ph);
        }
    } else {
        rc = phi_error(ph, PHICRYPT_EINTERNAL, "rewrap: libmongocrypt returned no key list");
    }
    bson_destroy(&out);
    return phi_key_event_emit(ph, rc, "key_rewrap", NULL, NULL, 0, count ? (int64_t)*count : 0);
}
