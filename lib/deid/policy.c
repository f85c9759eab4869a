/* Policy parsing and validation. Everything is checked before any input is
 * read, and every message names the JSON location of the problem. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/risk_private.h"

static const char *const act_names[PHI_ACT_COUNT + 1] = {
    "keep", "drop", "redact", "mask", "encrypt", "tokenize", "pseudonymize", "generalize", "date_shift",
    "zip3", "age", "scrub",
};

const char *phi_deid_act_name(int act)
{
    return act >= 0 && act < PHI_ACT_COUNT ? act_names[act] : "unknown";
}

int phi_deid_act_is_identifier(int act)
{
    switch (act) {
    case PHI_ACT_DROP: case PHI_ACT_REDACT: case PHI_ACT_MASK: case PHI_ACT_ENCRYPT:
    case PHI_ACT_TOKENIZE: case PHI_ACT_PSEUDONYMIZE: case PHI_ACT_ZIP3:
        return 1;
    default:
        return 0;
    }
}

static void rule_free(phi_deid_rule *r)
{
    phi_free(r->path_text);
    phi_path_free(&r->path);
    phi_free(r->with);
    phi_free(r->key);
    phi_free(r->format);
    phi_free(r->context);
    phi_path_free(&r->subject);
    phi_free(r->subject_text);
}

void phicrypt_deid_policy_free(phicrypt_deid_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++)
        rule_free(&p->rules[i]);
    phi_free(p->rules);
    for (int i = 0; i < PHI_ACT_COUNT; i++)
        rule_free(&p->preset_rules[i]);
    phi_free(p->scrub_key);
    phi_risk_qi_free(p);
    phi_free(p);
}

const char *phicrypt_deid_errmsg(void) { return phi_error_message(NULL); }

static int want_string(const void *eh, bson_iter_t *it, const char *loc, char **out)
{
    if (!BSON_ITER_HOLDS_UTF8(it))
        return phi_error(eh, PHICRYPT_EINVAL, "%s: must be a string", loc);
    uint32_t n;
    const char *s = bson_iter_utf8(it, &n);
    if (n == 0 || strlen(s) != n)
        return phi_error(eh, PHICRYPT_EINVAL, "%s: must be a non-empty string", loc);
    *out = phi_strdup(s);
    return *out ? 0 : phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
}

static int want_int(const void *eh, bson_iter_t *it, const char *loc, int64_t lo, int64_t hi, int64_t *out)
{
    /* A double is converted only inside int64's range: converting 1e21
     * is undefined behaviour (found by the policy fuzzer, issue 19). */
    if (!BSON_ITER_HOLDS_INT32(it) && !BSON_ITER_HOLDS_INT64(it) &&
        !(BSON_ITER_HOLDS_DOUBLE(it) && bson_iter_double(it) > -9.2e18 && bson_iter_double(it) < 9.2e18 &&
          bson_iter_double(it) == (double)(int64_t)bson_iter_double(it)))
        return phi_error(eh, PHICRYPT_EINVAL, "%s: must be an integer", loc);
    int64_t v = BSON_ITER_HOLDS_DOUBLE(it) ? (int64_t)bson_iter_double(it) : bson_iter_as_int64(it);
    if (v < lo || v > hi)
        return phi_error(eh, PHICRYPT_EINVAL, "%s: must be between %lld and %lld", loc, (long long)lo,
                         (long long)hi);
    *out = v;
    return 0;
}

/* Options each action accepts (besides "action"). */
static const char *const allowed[PHI_ACT_COUNT][6] = {
    [PHI_ACT_KEEP] = { NULL },
    [PHI_ACT_DROP] = { NULL },
    [PHI_ACT_REDACT] = { "with", NULL },
    [PHI_ACT_MASK] = { "keep_last", "char", NULL },
    [PHI_ACT_ENCRYPT] = { "key_alt_name", "algorithm", NULL },
    [PHI_ACT_TOKENIZE] = { "key", "format", "context", "key_version", "domain", NULL },
    [PHI_ACT_PSEUDONYMIZE] = { "key", "context", NULL },
    [PHI_ACT_GENERALIZE] = { "to", "bucket", "date_of", NULL },
    [PHI_ACT_DATE_SHIFT] = { "subject", "key", "max_days", "date_of", NULL },
    [PHI_ACT_ZIP3] = { NULL },
    [PHI_ACT_AGE] = { NULL },
    [PHI_ACT_SCRUB] = { "key", NULL },
};

static int parse_rule(const void *eh, const char *fpath, const bson_t *doc, phi_deid_rule *r)
{
    char loc[600];
    bson_iter_t it;
    int rc;
    snprintf(loc, sizeof loc, "fields.\"%s\".action", fpath);
    if (!bson_iter_init_find(&it, doc, "action"))
        return phi_error(eh, PHICRYPT_EINVAL, "%s: missing (one of keep, drop, redact, mask, encrypt, tokenize, "
                                              "pseudonymize, generalize, date_shift, zip3, age, scrub)", loc);
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return phi_error(eh, PHICRYPT_EINVAL, "%s: must be a string", loc);
    const char *a = bson_iter_utf8(&it, NULL);
    r->act = -1;
    for (int i = 0; i < PHI_ACT_COUNT; i++)
        if (strcmp(a, act_names[i]) == 0)
            r->act = i;
    if (r->act < 0) {
        const char *s = phi_suggest(a, act_names);
        return phi_error(eh, PHICRYPT_EINVAL, "%s: unknown action%s%s%s", loc, s ? " (did you mean '" : "",
                         s ? s : "", s ? "'?)" : "");
    }
    r->mask_char = '*';
    r->keep_last = 4;
    r->algorithm = PHICRYPT_ALG_DETERMINISTIC;
    r->max_days = 365;
    r->email_domain = -1;
    r->date_of = -1;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "action") == 0)
            continue;
        snprintf(loc, sizeof loc, "fields.\"%s\".%s", fpath, k);
        int ok = 0;
        for (int i = 0; allowed[r->act][i]; i++)
            if (strcmp(allowed[r->act][i], k) == 0)
                ok = 1;
        if (!ok) {
            const char *s = phi_suggest(k, allowed[r->act]);
            return phi_error(eh, PHICRYPT_EINVAL, "%s: not an option of action '%s'%s%s%s", loc, act_names[r->act],
                             s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
        int64_t v;
        char *str = NULL;
        if (strcmp(k, "with") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&it))
                return phi_error(eh, PHICRYPT_EINVAL, "%s: must be a string", loc);
            r->with = phi_strdup(bson_iter_utf8(&it, NULL));
        } else if (strcmp(k, "keep_last") == 0) {
            if ((rc = want_int(eh, &it, loc, 0, 64, &v)))
                return rc;
            r->keep_last = (size_t)v;
        } else if (strcmp(k, "char") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&it) || strlen(bson_iter_utf8(&it, NULL)) != 1 ||
                (unsigned char)bson_iter_utf8(&it, NULL)[0] < 0x20 || (unsigned char)bson_iter_utf8(&it, NULL)[0] > 0x7e)
                return phi_error(eh, PHICRYPT_EINVAL, "%s: must be one printable ASCII character", loc);
            r->mask_char = bson_iter_utf8(&it, NULL)[0];
        } else if (strcmp(k, "key_alt_name") == 0 || strcmp(k, "key") == 0) {
            if ((rc = want_string(eh, &it, loc, &r->key)))
                return rc;
        } else if (strcmp(k, "algorithm") == 0) {
            if ((rc = want_string(eh, &it, loc, &str)))
                return rc;
            if (strcmp(str, "deterministic") == 0)
                r->algorithm = PHICRYPT_ALG_DETERMINISTIC;
            else if (strcmp(str, "random") == 0)
                r->algorithm = PHICRYPT_ALG_RANDOM;
            else
                rc = phi_error(eh, PHICRYPT_EINVAL, "%s: must be \"deterministic\" or \"random\"", loc);
            phi_free(str);
            if (rc)
                return rc;
        } else if (strcmp(k, "format") == 0) {
            if ((rc = want_string(eh, &it, loc, &r->format)))
                return rc;
            static const char *const fmts[] = { "siv", "digits", "ssn", "phone", "mrn", "alnum", "credit_card",
                                                "email", "email_full", NULL };
            int found = 0;
            for (int i = 0; fmts[i]; i++)
                found |= strcmp(fmts[i], r->format) == 0;
            if (!found)
                return phi_error(eh, PHICRYPT_EINVAL,
                                 "%s: unknown format (siv, digits, ssn, phone, mrn, alnum, credit_card, email, "
                                 "email_full)", loc);
        } else if (strcmp(k, "domain") == 0 || strcmp(k, "date_of") == 0) {
            static const char *const dom[] = { "keep", "encrypt", NULL }, *const of[] = { "any", "birth", "death", NULL };
            const char *const *vals = strcmp(k, "domain") == 0 ? dom : of;
            if ((rc = want_string(eh, &it, loc, &str)))
                return rc;
            int found = -1;
            for (int i = 0; vals[i]; i++)
                if (strcmp(vals[i], str) == 0)
                    found = i;
            phi_free(str);
            if (found < 0)
                return phi_error(eh, PHICRYPT_EINVAL, "%s: must be %s", loc,
                                 vals == dom ? "\"keep\" or \"encrypt\"" : "\"any\", \"birth\" or \"death\"");
            if (vals == dom)
                r->email_domain = found;
            else
                r->date_of = found;
        } else if (strcmp(k, "context") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&it))
                return phi_error(eh, PHICRYPT_EINVAL, "%s: must be a string", loc);
            r->context = phi_strdup(bson_iter_utf8(&it, NULL));
        } else if (strcmp(k, "key_version") == 0) {
            if ((rc = want_int(eh, &it, loc, 0, UINT32_MAX, &v)))
                return rc;
            r->key_version = (uint32_t)v;
        } else if (strcmp(k, "to") == 0) {
            if ((rc = want_string(eh, &it, loc, &str)))
                return rc;
            if (strcmp(str, "year") == 0)
                r->gen_month = 0;
            else if (strcmp(str, "month") == 0)
                r->gen_month = 1;
            else
                rc = phi_error(eh, PHICRYPT_EINVAL, "%s: must be \"year\" or \"month\"", loc);
            phi_free(str);
            if (rc)
                return rc;
        } else if (strcmp(k, "bucket") == 0) {
            if ((rc = want_int(eh, &it, loc, 1, INT64_C(1) << 40, &v)))
                return rc;
            r->bucket = v;
        } else if (strcmp(k, "subject") == 0) {
            if ((rc = want_string(eh, &it, loc, &r->subject_text)))
                return rc;
            if ((rc = phi_path_parse(eh, loc, r->subject_text, &r->subject)))
                return rc;
        } else if (strcmp(k, "max_days") == 0) {
            if ((rc = want_int(eh, &it, loc, 1, 36500, &v)))
                return rc;
            r->max_days = (int)v;
        }
    }
    snprintf(loc, sizeof loc, "fields.\"%s\"", fpath);
    switch (r->act) {
    case PHI_ACT_ENCRYPT:
        if (!r->key)
            return phi_error(eh, PHICRYPT_EINVAL, "%s.key_alt_name: missing (the data key to encrypt with)", loc);
        break;
    case PHI_ACT_TOKENIZE:
    case PHI_ACT_PSEUDONYMIZE:
        if (!r->key)
            return phi_error(eh, PHICRYPT_EINVAL, "%s.key: missing (the keyring key)", loc);
        break;
    case PHI_ACT_DATE_SHIFT:
        if (!r->key)
            return phi_error(eh, PHICRYPT_EINVAL, "%s.key: missing (the keyring HMAC key of the offsets)", loc);
        if (!r->subject_text)
            return phi_error(eh, PHICRYPT_EINVAL, "%s.subject: missing (the path of the subject's identifier)", loc);
        break;
    default:
        break;
    }
    if (r->act == PHI_ACT_REDACT && !r->with)
        r->with = phi_strdup("[REDACTED]");
    if (!r->context && (r->act == PHI_ACT_TOKENIZE || r->act == PHI_ACT_PSEUDONYMIZE))
        r->context = phi_strdup(fpath);
    if (r->act == PHI_ACT_TOKENIZE && !r->format)
        r->format = phi_strdup("siv");
    /* The name of a path that ends in a key (or its elements) is known now. */
    r->name_class = r->path.n && r->path.segs[r->path.n - 1].kind != PHI_SEG_ANY ? phi_safe_harbor_name_class(fpath) : -1;
    if (r->path.n > 1 && r->path.segs[r->path.n - 1].kind == PHI_SEG_ELEM && r->path.segs[r->path.n - 2].kind == PHI_SEG_ANY)
        r->name_class = -1;
    if (r->email_domain >= 0 && strcmp(r->format ? r->format : "", "email") != 0)
        return phi_error(eh, PHICRYPT_EINVAL, "%s.domain: only for format \"email\"", loc);
    return 0;
}

/* A member given twice in one object of the policy: JSON allows it, but
 * which one would win is a guess (and the rule parser would keep both
 * copies), so the policy is refused naming where. Depth is bounded by the
 * policy's shape (top level, "fields", one rule). */
static int member_given_twice(const void *eh, const bson_t *doc, const char *loc, int depth)
{
    bson_iter_t it, before, sub;
    if (!bson_iter_init(&it, doc))
        return 0;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char where[700];
        if (depth == 0)
            snprintf(where, sizeof where, "%s", k);
        else if (depth == 1)
            snprintf(where, sizeof where, "%s.\"%s\"", loc, k);
        else
            snprintf(where, sizeof where, "%s.%s", loc, k);
        bson_iter_init(&before, doc);
        while (bson_iter_next(&before) && bson_iter_offset(&before) < bson_iter_offset(&it))
            if (strcmp(bson_iter_key(&before), k) == 0)
                return phi_error(eh, PHICRYPT_EINVAL,
                                 "%s: given twice (each member of a policy object is given once)", where);
        if (depth < 2 && BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &sub)) {
            uint32_t len;
            const uint8_t *data;
            bson_t child;
            int rc;
            bson_iter_document(&it, &len, &data);
            if (bson_init_static(&child, data, len) && (rc = member_given_twice(eh, &child, where, depth + 1)))
                return rc;
        }
    }
    return 0;
}

int phicrypt_deid_policy_new(phicrypt_deid_policy **out, phicrypt_t *ph, const char *policy_json)
{
    const void *eh = ph;
    bson_t doc;
    bson_iter_t it, fit;
    int rc = 0;
    if (!out || !policy_json)
        return phi_error(eh, PHICRYPT_EINVAL, "policy: NULL argument");
    *out = NULL;
    if ((rc = phi_json_to_bson(eh, "policy", policy_json, strlen(policy_json), &doc)))
        return rc;
    if ((rc = member_given_twice(eh, &doc, "", 0))) {
        bson_destroy(&doc);
        return rc;
    }
    phicrypt_deid_policy *p = phi_calloc(1, sizeof *p);
    if (!p) {
        bson_destroy(&doc);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    p->ph = ph;
    p->unknown = PHI_UNKNOWN_ERROR;
    int have_version = 0, have_fields = 0, have_ref = 0;
    bson_iter_init(&it, &doc);
    while (rc == 0 && bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "version") == 0) {
            if (!BSON_ITER_HOLDS_INT32(&it) || bson_iter_int32(&it) != 1)
                rc = phi_error(eh, PHICRYPT_EINVAL, "version: must be 1");
            have_version = 1;
        } else if (strcmp(k, "unknown_fields") == 0) {
            const char *v = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";
            if (strcmp(v, "error") == 0)
                p->unknown = PHI_UNKNOWN_ERROR;
            else if (strcmp(v, "drop") == 0)
                p->unknown = PHI_UNKNOWN_DROP;
            else if (strcmp(v, "keep") == 0)
                p->unknown = PHI_UNKNOWN_KEEP;
            else
                rc = phi_error(eh, PHICRYPT_EINVAL, "unknown_fields: must be \"error\", \"drop\" or \"keep\"");
        } else if (strcmp(k, "reference_date") == 0) {
            int64_t ms;
            int form, frac;
            uint32_t l = 0;
            const char *v = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &l) : "";
            if (l != 10 || !phi_date_parse(v, l, &ms, &form, &frac))
                rc = phi_error(eh, PHICRYPT_EINVAL, "reference_date: must be a date \"YYYY-MM-DD\"");
            else
                phi_civil_from_ms(ms, &p->ref_y, &p->ref_m, &p->ref_d);
            have_ref = 1;
        } else if (strcmp(k, "quasi_identifiers") == 0) {
            rc = phi_risk_parse_qi(eh, &it, p);
        } else if (strcmp(k, "k") == 0) {
            if (!BSON_ITER_HOLDS_INT32(&it) && !BSON_ITER_HOLDS_INT64(&it))
                rc = phi_error(eh, PHICRYPT_EINVAL, "k: must be an integer of at least 2 (the smallest class size "
                                                    "the risk report accepts)");
            else if (bson_iter_as_int64(&it) < 2 || bson_iter_as_int64(&it) > 1000000000)
                rc = phi_error(eh, PHICRYPT_EINVAL, "k: must be from 2 to 1000000000 (got %lld)",
                               (long long)bson_iter_as_int64(&it));
            else
                p->risk_k = (uint64_t)bson_iter_as_int64(&it);
        } else if (strcmp(k, "preset") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&it) || strcmp(bson_iter_utf8(&it, NULL), "safe-harbor") != 0)
                rc = phi_error(eh, PHICRYPT_EINVAL, "preset: the only preset is \"safe-harbor\"");
            p->safe_harbor = 1;
        } else if (strcmp(k, "fields") == 0) {
            have_fields = 1;
            if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &fit)) {
                rc = phi_error(eh, PHICRYPT_EINVAL, "fields: must be an object of path: {action ...}");
                break;
            }
            while (rc == 0 && bson_iter_next(&fit)) {
                const char *fp = bson_iter_key(&fit);
                char loc[600];
                snprintf(loc, sizeof loc, "fields.\"%s\"", fp);
                if (!BSON_ITER_HOLDS_DOCUMENT(&fit)) {
                    rc = phi_error(eh, PHICRYPT_EINVAL, "%s: must be an object {\"action\": ...}", loc);
                    break;
                }
                phi_deid_rule *nr = phi_realloc(p->rules, (p->nrules + 1) * sizeof *nr);
                if (!nr) {
                    rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
                    break;
                }
                p->rules = nr;
                phi_deid_rule *r = &p->rules[p->nrules++];
                memset(r, 0, sizeof *r);
                r->path_text = phi_strdup(fp);
                if ((rc = phi_path_parse(eh, loc, fp, &r->path)))
                    break;
                uint32_t dl;
                const uint8_t *dd;
                bson_t sub;
                bson_iter_document(&fit, &dl, &dd);
                if (!bson_init_static(&sub, dd, dl)) {
                    rc = phi_error(eh, PHICRYPT_EBADDATA, "%s: malformed", loc);
                    break;
                }
                rc = parse_rule(eh, fp, &sub, r);
                for (size_t i = 0; rc == 0 && i + 1 < p->nrules; i++)
                    if (strcmp(p->rules[i].path_text, fp) == 0)
                        rc = phi_error(eh, PHICRYPT_EINVAL, "%s: given twice", loc);
            }
        } else {
            static const char *const top[] = { "version", "unknown_fields", "preset", "fields", "reference_date",
                                               "quasi_identifiers", "k", NULL };
            const char *s = phi_suggest(k, top);
            rc = phi_error(eh, PHICRYPT_EINVAL, "%s: unknown policy member%s%s%s", k, s ? " (did you mean '" : "",
                           s ? s : "", s ? "'?)" : "");
        }
    }
    bson_destroy(&doc);
    if (rc == 0 && !have_ref) {
        /* Ages are counted to the day of the run (the report says which). */
        phi_civil_from_ms((int64_t)time(NULL) * 1000, &p->ref_y, &p->ref_m, &p->ref_d);
    }
    p->young_ms = phi_ms_from_civil(p->ref_y - 89, 1, 1); /* years after ref_y - 90 */
    if (rc == 0 && !have_version)
        rc = phi_error(eh, PHICRYPT_EINVAL, "version: missing (must be 1)");
    if (rc == 0 && p->risk_k && !p->nqi)
        rc = phi_error(eh, PHICRYPT_EINVAL, "k: needs \"quasi_identifiers\" (the fields whose combinations it limits)");
    if (rc == 0 && p->nqi && !p->risk_k)
        p->risk_k = PHI_RISK_DEFAULT_K;
    if (rc == 0 && !have_fields && !p->safe_harbor)
        rc = phi_error(eh, PHICRYPT_EINVAL, "fields: missing (and no preset)");
    for (size_t i = 0; rc == 0 && i < p->nrules; i++) {
        phi_deid_rule *r = &p->rules[i];
        if (r->act == PHI_ACT_SCRUB)
            p->needs_identifiers = 1;
        if (r->act == PHI_ACT_SCRUB && r->key && !p->scrub_key)
            p->scrub_key = phi_strdup(r->key);
        if (r->act == PHI_ACT_DATE_SHIFT) {
            if (!p->needs_subjects)
                p->shift_lo = i;
            p->needs_subjects = 1;
            p->shift_hi = i + 1;
            p->nshift++;
        }
        /* Under the preset a tokenised e-mail hides its domain (the
         * employer, the hospital) unless the policy says otherwise. */
        if (r->act == PHI_ACT_TOKENIZE && strcmp(r->format, "email") == 0 &&
            (r->email_domain == 1 || (r->email_domain < 0 && p->safe_harbor))) {
            phi_free(r->format);
            if (!(r->format = phi_strdup("email_full")))
                rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        }
        if ((r->act == PHI_ACT_ENCRYPT || r->key) && !ph)
            rc = phi_error(eh, PHICRYPT_EINVAL, "fields.\"%s\".action: '%s' with a key needs a client (ph)",
                           r->path_text, act_names[r->act]);
    }
    if (rc == 0 && ph && p->nrules) {
        /* The keys must exist now, not halfway through a file. */
        const char **names = phi_calloc(p->nrules, sizeof *names), **where = phi_calloc(p->nrules, sizeof *where);
        int *dk = phi_calloc(p->nrules, sizeof *dk);
        char (*locs)[600] = phi_calloc(p->nrules, 600);
        size_t n = 0;
        if (!names || !where || !dk || !locs) {
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        } else {
            for (size_t i = 0; i < p->nrules; i++) {
                const phi_deid_rule *r = &p->rules[i];
                if (!r->key)
                    continue;
                dk[n] = r->act == PHI_ACT_ENCRYPT;
                snprintf(locs[n], 600, "fields.\"%s\".%s", r->path_text, dk[n] ? "key_alt_name" : "key");
                names[n] = r->key;
                where[n] = locs[n];
                n++;
            }
            if (n)
                rc = phi_deid_check_keys(ph, names, where, dk, n);
        }
        phi_free(names);
        phi_free(where);
        phi_free(dk);
        phi_free(locs);
    }
    if (rc == 0 && p->safe_harbor) {
        for (int a = 0; a < PHI_ACT_COUNT; a++) {
            phi_deid_rule *r = &p->preset_rules[a];
            r->act = a;
            r->preset = 1;
            r->path_text = phi_strdup("safe-harbor");
            r->with = phi_strdup("[REDACTED]");
            r->mask_char = '*';
            r->date_of = -1;
            r->name_class = -1;
        }
        p->needs_identifiers = 1;
    }
    if (rc) {
        phicrypt_deid_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

const phi_deid_rule *phi_rule_for(const phicrypt_deid_policy *p, const phi_pcomp *comps, size_t n)
{
    for (size_t i = 0; i < p->nrules; i++)
        if (phi_path_match(&p->rules[i].path, comps, n))
            return &p->rules[i];
    if (p->safe_harbor && n > 0) {
        /* The preset goes by the last key, for values (not array levels). */
        size_t j = n;
        while (j > 0 && comps[j - 1].key == NULL)
            j--;
        if (j == 0)
            return NULL;
        int a = phi_safe_harbor_action(comps[j - 1].key, comps[j - 1].key_len);
        if (a >= 0)
            return &p->preset_rules[a];
    }
    return NULL;
}

const phi_deid_rule *phi_rule_for_column(const phicrypt_deid_policy *p, const phi_pcomp *comps, size_t n)
{
    const phi_deid_rule *inherited = NULL, *rule = NULL;
    for (size_t k = 1; k <= n; k++) {
        rule = phi_rule_pick(phi_rule_for(p, comps, k), inherited);
        const phi_deid_rule *child;
        if (k == n || phi_container_whole(rule, inherited, &child))
            return rule;
        inherited = child;
    }
    return rule;
}

int phi_container_whole(const phi_deid_rule *rule, const phi_deid_rule *inherited, const phi_deid_rule **child)
{
    *child = inherited;
    if (!rule)
        return 0;
    if (rule->preset) {
        /* Biometrics, photos, ids: nothing inside them survives. */
        if (rule->act == PHI_ACT_DROP)
            return 1;
        /* A keep passes nothing down (unnamed values inside stay unknown);
         * free text leaves its unnamed values to the unknown-field policy;
         * an identifier or a date covers what it holds (address.value). */
        if (rule->act != PHI_ACT_KEEP && rule->act != PHI_ACT_SCRUB)
            *child = rule;
        return 0;
    }
    if (rule == inherited)
        return 0;
    switch (rule->act) {
    case PHI_ACT_KEEP: case PHI_ACT_DROP: case PHI_ACT_REDACT: case PHI_ACT_ENCRYPT: case PHI_ACT_PSEUDONYMIZE:
        return 1;
    default:
        *child = rule;
        return 0;
    }
}

int phi_oid_text(const phi_dv *v)
{
    /* mongoexport writes an ObjectId in CSV as ObjectId(<24 hex digits>). */
    if (v->kind != PHI_DV_STR || v->n != 34 || memcmp(v->s, "ObjectId(", 9) != 0 || v->s[33] != ')')
        return 0;
    for (size_t i = 9; i < 33; i++) {
        char c = v->s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

const phi_deid_rule *phi_rule_for_value(const phicrypt_deid_policy *p, const phi_deid_rule *rule, const phi_dv *v)
{
    if (!p->safe_harbor || (rule && (!rule->preset || rule->act != PHI_ACT_KEEP)))
        return rule;
    if (v->oid || phi_oid_text(v))
        return &p->preset_rules[PHI_ACT_DROP];
    int64_t ms;
    int form, frac;
    if (v->kind == PHI_DV_DATE || (v->kind == PHI_DV_STR && v->n >= 10 && phi_date_parse(v->s, v->n, &ms, &form, &frac)))
        return &p->preset_rules[PHI_ACT_GENERALIZE];
    if (!rule)
        return rule; /* unknown_fields decides */
    /* A field the preset keeps (reason, status, type, medications ...) is
     * kept for what it usually holds, not for what an export may put in it:
     * text there is scrubbed like notes (the record's own names, phone
     * numbers, addresses in brackets ...), and a number long enough to be a
     * phone number, SSN, MRN or account number is removed. Safe Harbor
     * needs zero surviving identifiers whatever the field's name. */
    if (v->kind == PHI_DV_STR)
        return &p->preset_rules[PHI_ACT_SCRUB];
    if (v->kind == PHI_DV_NUM) {
        /* integers only: identifiers are whole numbers, measurements such
         * as 4500000.0 keep their decimal point */
        size_t digits = 0, i = 0;
        for (; i < v->n && ((v->s[i] >= '0' && v->s[i] <= '9') || v->s[i] == '-'); i++)
            digits += v->s[i] != '-';
        if (i == v->n && digits >= 7)
            return &p->preset_rules[PHI_ACT_REDACT];
    }
    return rule;
}
