/* BSON records (mongodump .bson). Untouched elements are appended with
 * bson_append_iter, which copies their bytes, so a document no rule
 * changes comes out identical. */
#include <stdio.h>
#include <string.h>

#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"

typedef struct bw {
    phi_deid_rec *r;
    phi_pstack ps;
} bw;

static void to_dv(const bson_iter_t *it, phi_dv *v, char *num, size_t numcap)
{
    memset(v, 0, sizeof *v);
    v->iter = it;
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
        uint32_t l;
        v->s = bson_iter_utf8(it, &l);
        v->n = l;
        v->kind = PHI_DV_STR;
        break;
    }
    case BSON_TYPE_INT32:
        v->n = (size_t)snprintf(num, numcap, "%d", bson_iter_int32(it));
        v->s = num;
        v->kind = PHI_DV_NUM;
        break;
    case BSON_TYPE_INT64:
        v->n = (size_t)snprintf(num, numcap, "%lld", (long long)bson_iter_int64(it));
        v->s = num;
        v->kind = PHI_DV_NUM;
        break;
    case BSON_TYPE_DOUBLE:
        v->n = (size_t)snprintf(num, numcap, "%.17g", bson_iter_double(it));
        v->s = num;
        v->kind = PHI_DV_NUM;
        break;
    case BSON_TYPE_DATE_TIME:
        v->ms = bson_iter_date_time(it);
        v->kind = PHI_DV_DATE;
        v->date_form = PHI_DF_BSON;
        break;
    case BSON_TYPE_TIMESTAMP: {
        /* A Timestamp is a date (its seconds), as {"$timestamp": ...} is. */
        uint32_t t, inc;
        bson_iter_timestamp(it, &t, &inc);
        v->ms = (int64_t)t * 1000;
        v->kind = PHI_DV_DATE;
        v->date_form = PHI_DF_BSON;
        break;
    }
    case BSON_TYPE_OID:
        v->kind = PHI_DV_EXT;
        v->oid = 1;
        break;
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        v->kind = PHI_DV_NULL;
        break;
    case BSON_TYPE_BOOL:
        v->kind = PHI_DV_BOOL;
        break;
    case BSON_TYPE_DOCUMENT:
        v->kind = PHI_DV_OBJ;
        break;
    case BSON_TYPE_ARRAY:
        v->kind = PHI_DV_ARR;
        break;
    default:
        v->kind = PHI_DV_EXT;
    }
}

static int walk(bw *w, bson_iter_t *it, bson_t *out, int is_array, int depth, const phi_deid_rule *inherited);

static int element(bw *w, bson_iter_t *it, bson_t *out, const char *key, size_t klen, int depth,
                   const phi_deid_rule *inherited, int *dropped)
{
    phi_deid_rec *r = w->r;
    const phicrypt_deid_policy *p = r->pol;
    const phi_deid_rule *rule = phi_rule_resolve(&w->ps, inherited);
    bson_type_t t = bson_iter_type(it);
    char num[40];
    phi_dv v;
    int rc = 0;
    *dropped = 0;
    to_dv(it, &v, num, sizeof num);
    if (t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY) {
        const phi_deid_rule *child;
        int whole = phi_container_whole(rule, inherited, &child);
        /* Collecting, a container an identifier rule takes whole gives its
         * strings to the record's identifiers (as JSON's does). */
        if (whole && r->collecting && p->needs_identifiers && phi_deid_act_is_identifier(rule->act)) {
            whole = 0;
            child = rule;
        }
        if (!whole) {
            bson_iter_t citer;
            bson_t sub;
            if (depth >= PHI_DEID_MAX_DEPTH)
                return phi_error(r->eh, PHICRYPT_EBADDATA, "%s: nesting deeper than 100 levels", phi_rec_where(r));
            if (!bson_iter_recurse(it, &citer))
                return phi_error(r->eh, PHICRYPT_EBADDATA, "%s: malformed nested document", phi_rec_where(r));
            if (out) {
                if (t == BSON_TYPE_DOCUMENT)
                    bson_append_document_begin(out, key, (int)klen, &sub);
                else
                    bson_append_array_begin(out, key, (int)klen, &sub);
            }
            rc = walk(w, &citer, out ? &sub : NULL, t == BSON_TYPE_ARRAY, depth + 1, child);
            if (out) {
                if (t == BSON_TYPE_DOCUMENT)
                    bson_append_document_end(out, &sub);
                else
                    bson_append_array_end(out, &sub);
            }
            return rc;
        }
    }
    if (r->collecting && p->needs_subjects)
        phi_rec_collect_subject(r, w->ps.comps, w->ps.nc, &v);
    rule = phi_rule_for_value(p, rule, &v);
    if (r->collecting) {
        if (rule)
            phi_rec_collect(r, rule, 0, w->ps.comps, w->ps.nc, &v);
        return 0;
    }
    size_t plen;
    if (!rule) {
        if (!r->reid) {
            const char *path = phi_ps_path(&w->ps, &plen);
            phi_stats_unknown(r->st, path, plen);
            if (p->unknown == PHI_UNKNOWN_ERROR)
                return phi_error(r->eh, PHICRYPT_EINVAL,
                                 "%s: field '%s' is not in the policy (set \"unknown_fields\" to \"drop\" or \"keep\", "
                                 "or add a rule)", phi_rec_where(r), path);
            if (p->unknown == PHI_UNKNOWN_DROP) {
                *dropped = 1;
                return 0;
            }
        }
        bson_append_iter(out, key, (int)klen, it);
        return 0;
    }
    phi_dout o;
    phi_dout_begin(r, &o);
    if (rule->act == PHI_ACT_KEEP) {
        phi_ps_count(&w->ps, PHI_ACT_KEEP);
    } else if ((rc = phi_action_apply(r, rule, phi_ps_path(&w->ps, &plen), &v, &o))) {
        phi_dout_end(r, &o);
        return rc;
    } else {
        phi_ps_count(&w->ps, rule->act);
    }
    switch (o.op) {
    case PHI_OUT_SAME:
        bson_append_iter(out, key, (int)klen, it);
        break;
    case PHI_OUT_DROP:
        *dropped = 1;
        break;
    case PHI_OUT_STR:
        bson_append_utf8(out, key, (int)klen, o.text.p ? o.text.p : "", (int)o.text.len);
        break;
    case PHI_OUT_NULL:
        bson_append_null(out, key, (int)klen);
        break;
    case PHI_OUT_DATE:
        bson_append_date_time(out, key, (int)klen, o.ms);
        break;
    case PHI_OUT_BSON: {
        bson_t doc;
        bson_iter_t vi;
        if (bson_init_static(&doc, o.bson.data, o.bson.len) && bson_iter_init_find(&vi, &doc, "v"))
            bson_append_iter(out, key, (int)klen, &vi);
        break;
    }
    }
    phi_dout_end(r, &o);
    return 0;
}

static int walk(bw *w, bson_iter_t *it, bson_t *out, int is_array, int depth, const phi_deid_rule *inherited)
{
    uint32_t idx = 0;
    while (bson_iter_next(it)) {
        const char *key = bson_iter_key(it);
        size_t klen = bson_iter_key_len(it);
        char ik[16];
        if (is_array) {
            phi_ps_push(&w->ps, NULL, 0, NULL);
            /* Arrays are renumbered: a dropped element leaves no gap. */
            const char *k2;
            klen = bson_uint32_to_string(idx, &k2, ik, sizeof ik);
            key = k2;
        } else {
            phi_ps_push(&w->ps, key, klen, NULL);
        }
        int dropped = 0;
        int rc = element(w, it, out, key, klen, depth, inherited, &dropped);
        phi_ps_pop(&w->ps);
        if (rc)
            return rc;
        if (!dropped)
            idx++;
    }
    return 0;
}

/* libbson's UTF-8 validation lets some invalid sequences through; every
 * key and string is checked here (and the nesting depth). 0 when valid,
 * else 1 (bad UTF-8) or 2 (too deep). */
static int deep_check(bson_iter_t *it, int depth)
{
    if (depth > PHI_DEID_MAX_DEPTH)
        return 2;
    while (bson_iter_next(it)) {
        if (!bson_utf8_validate(bson_iter_key(it), bson_iter_key_len(it), false))
            return 1;
        bson_type_t t = bson_iter_type(it);
        if (t == BSON_TYPE_UTF8) {
            uint32_t l;
            const char *s = bson_iter_utf8(it, &l);
            if (!bson_utf8_validate(s, l, true))
                return 1;
        } else if (t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY) {
            bson_iter_t child;
            int rc;
            if (!bson_iter_recurse(it, &child))
                return 1;
            if ((rc = deep_check(&child, depth + 1)))
                return rc;
        }
    }
    return 0;
}

int phi_bson_rewrite(phi_deid_rec *r, const uint8_t *d, size_t n, phi_sbuf *out)
{
    bson_t doc, res;
    bson_iter_t it;
    size_t off = 0;
    int rc = 0;
    if (!bson_init_static(&doc, d, n) || !bson_validate(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &off) ||
        !phi_bson_deep_valid(&doc))
        return phi_error(r->eh, PHICRYPT_EBADDATA, "%s: malformed BSON document (near byte %zu of it)", phi_rec_where(r), off);
    bson_iter_init(&it, &doc);
    int bad = deep_check(&it, 0);
    if (bad)
        return phi_error(r->eh, PHICRYPT_EBADDATA, "%s: %s", phi_rec_where(r),
                         bad == 2 ? "nesting deeper than 100 levels" : "invalid UTF-8 in a key or string");
    bw w;
    memset(&w, 0, sizeof w);
    w.r = r;
    phi_rec_reset(r);
    phi_ps_init(&w.ps, r);
    if (r->pol->needs_identifiers || r->pol->needs_subjects) {
        r->collecting = 1;
        bson_iter_init(&it, &doc);
        rc = walk(&w, &it, NULL, 0, 0, NULL);
        r->collecting = 0;
    }
    bson_init(&res);
    if (rc == 0) {
        bson_iter_init(&it, &doc);
        rc = walk(&w, &it, &res, 0, 0, NULL);
    }
    if (rc == 0)
        phi_sbuf_put(out, bson_get_data(&res), res.len);
    phi_bson_wipe_destroy(&res);
    phi_ps_free(&w.ps);
    if (rc == 0 && out->oom)
        rc = phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    return rc;
}
