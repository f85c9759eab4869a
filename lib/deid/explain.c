/* deid --explain: for every field path a run saw, the rule that decided it
 * (or why none did), the action and the count, from the run's report and
 * the policy. Names and counts only, never a value. */
#include <string.h>

#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/gate_private.h"

/* "visits[].date" -> components (keys point into `text`, which is split
 * in place). Returns how many, at most `max`. */
static size_t split_path(char *text, phi_pcomp *c, size_t max)
{
    size_t n = 0;
    char *p = text;
    while (*p && n < max) {
        char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        size_t elems = 0;
        while (len >= 2 && p[len - 2] == '[' && p[len - 1] == ']') {
            len -= 2;
            elems++;
        }
        c[n].key = p;
        c[n++].key_len = len;
        while (elems-- && n < max) {
            c[n].key = NULL;
            c[n++].key_len = 0;
        }
        if (!dot)
            break;
        p = dot + 1;
    }
    return n;
}

/* Why `path` got its action: an explicit rule (its own or an enclosing
 * field's), the preset, or the unknown-field policy. */
static void why(phi_sbuf *b, const phicrypt_deid_policy *p, const char *path, const char *act)
{
    char *copy = phi_strdup(path);
    phi_pcomp c[PHI_DEID_MAX_DEPTH + 2];
    size_t n = copy ? split_path(copy, c, PHI_DEID_MAX_DEPTH + 2) : 0;
    const phi_deid_rule *r = NULL;
    size_t at = 0;
    /* An explicit rule on an enclosing field takes every value inside it. */
    for (size_t k = 1; k <= n && !r; k++) {
        const phi_deid_rule *x = phi_rule_for(p, c, k);
        if (x && !x->preset) {
            r = x;
            at = k;
        }
    }
    if (!r && n)
        r = phi_rule_for(p, c, n);
    if (r && !r->preset) {
        phi_sbuf_printf(b, "rule \"%s\"%s", r->path_text, at < n ? " (an enclosing field: it takes what is inside)" : "");
        if (strcmp(phi_deid_act_name(r->act), act) != 0)
            phi_sbuf_printf(b, "; %s here by the value's type", act);
    } else if (r && r->act == PHI_ACT_KEEP) {
        phi_sbuf_puts(b, "Safe Harbor preset: kept by its name (not an identifier)");
        if (strcmp(act, "scrub") == 0)
            phi_sbuf_puts(b, "; its text is scrubbed all the same");
        else if (strcmp(act, "keep") != 0)
            phi_sbuf_printf(b, "; %s by the value's type (a date or an ObjectId)", act);
    } else if (r) {
        phi_sbuf_printf(b, "Safe Harbor preset: the field name (%s)", phi_gate_class(r, path));
        if (strcmp(phi_deid_act_name(r->act), act) != 0)
            phi_sbuf_printf(b, "; %s by the value's type (a date or an ObjectId)", act);
    } else if (p->safe_harbor && strcmp(act, "keep") != 0) {
        phi_sbuf_puts(b, "Safe Harbor preset: by the value's type (a date or an ObjectId) or an enclosing field");
    } else {
        phi_sbuf_puts(b, "no rule");
    }
    phi_free(copy);
}

int phicrypt_deid_explain(phicrypt_buf *out, const phicrypt_deid_policy *p, const char *report_json)
{
    if (!out || !p || !report_json)
        return phi_error(NULL, PHICRYPT_EINVAL, "explain: NULL argument");
    out->data = NULL;
    out->len = 0;
    bson_t rep;
    int rc = phi_json_to_bson(NULL, "report", report_json, strlen(report_json), &rep);
    if (rc)
        return rc;
    phi_sbuf b = { 0 };
    bson_iter_t it, f, e;
    phi_sbuf_printf(&b, "%-40s %-12s %10s  %s\n", "FIELD PATH", "ACTION", "COUNT", "WHY (RULE)");
    if (bson_iter_init_find(&it, &rep, "fields") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &f)) {
        while (bson_iter_next(&f)) {
            const char *path = NULL, *act = NULL;
            int64_t count = 0;
            if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &e))
                continue;
            while (bson_iter_next(&e)) {
                const char *k = bson_iter_key(&e);
                if (strcmp(k, "path") == 0 && BSON_ITER_HOLDS_UTF8(&e))
                    path = bson_iter_utf8(&e, NULL);
                else if (strcmp(k, "action") == 0 && BSON_ITER_HOLDS_UTF8(&e))
                    act = bson_iter_utf8(&e, NULL);
                else if (strcmp(k, "count") == 0 && BSON_ITER_HOLDS_NUMBER(&e))
                    count = bson_iter_as_int64(&e);
            }
            if (!path || !act)
                continue;
            phi_sbuf_printf(&b, "%-40s %-12s %10lld  ", path, act, (long long)count);
            why(&b, p, path, act);
            phi_sbuf_putc(&b, '\n');
        }
    }
    const char *unk = p->unknown == PHI_UNKNOWN_ERROR ? "error" : p->unknown == PHI_UNKNOWN_DROP ? "drop" : "keep";
    if (bson_iter_init_find(&it, &rep, "unknown_fields") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &f))
        while (bson_iter_next(&f))
            if (BSON_ITER_HOLDS_UTF8(&f))
                phi_sbuf_printf(&b, "%-40s %-12s %10s  no rule and not a name the preset knows: \"unknown_fields\": "
                                    "\"%s\"\n",
                                bson_iter_utf8(&f, NULL), unk, "-", unk);
    if (bson_iter_init_find(&it, &rep, "unmatched_rules") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &f))
        while (bson_iter_next(&f)) {
            const char *path = NULL, *act = NULL;
            if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &e))
                continue;
            while (bson_iter_next(&e)) {
                if (strcmp(bson_iter_key(&e), "path") == 0 && BSON_ITER_HOLDS_UTF8(&e))
                    path = bson_iter_utf8(&e, NULL);
                else if (strcmp(bson_iter_key(&e), "action") == 0 && BSON_ITER_HOLDS_UTF8(&e))
                    act = bson_iter_utf8(&e, NULL);
            }
            if (path && act)
                phi_sbuf_printf(&b, "rule \"%s\" (%s) matched no field (a misspelt path, or an enclosing rule "
                                    "takes precedence)\n", path, act);
        }
    bson_destroy(&rep);
    if (b.oom) {
        phi_sbuf_free(&b);
        return phi_error(NULL, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = phi_buf_from_bytes(NULL, out, (const uint8_t *)b.p, b.len + 1);
    if (rc == 0)
        out->len = b.len;
    phi_sbuf_free(&b);
    return rc;
}
