/* The value actions of a policy. Each takes one value and says what to
 * write instead (or to keep it, or drop it); the format layers do the
 * writing. Keyed actions live in actions_keyed.c. */
#include <stdlib.h>
#include <string.h>

#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/gate_private.h"
#include "fle/fle_private.h"

/* The 17 three-digit ZIP prefixes whose areas had 20,000 people or fewer
 * (2000 Census), which Safe Harbor requires to be written as 000: HHS OCR,
 * "Guidance Regarding Methods for De-identification of Protected Health
 * Information in Accordance with the HIPAA Privacy Rule" (2012), section
 * "When can ZIP codes be included in de-identified information?", after
 * 67 FR 53182, 53233-53234 (Aug. 14, 2002). */
static const char restricted_zip3[17][4] = { "036", "059", "063", "102", "203", "556", "692", "790", "821",
                                             "823", "830", "831", "878", "879", "884", "890", "893" };

const char *phi_zip3_restricted(size_t i) { return i < 17 ? restricted_zip3[i] : NULL; }

static int zip3_of(const char *s, size_t n, char out[4])
{
    char d[5];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 5; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            d[k++] = s[i];
        else if (s[i] == '-' || s[i] == ' ')
            break;
        else
            return 0;
    }
    if (k < 3)
        return 0;
    memcpy(out, d, 3);
    out[3] = 0;
    for (int i = 0; i < 17; i++)
        if (memcmp(out, restricted_zip3[i], 3) == 0)
            memcpy(out, "000", 3);
    return 1;
}

static int parse_number(const char *s, size_t n, double *v)
{
    return n > 0 && n <= 64 && phi_parse_decimal(s, n, v);
}

/* The text of a scalar value as a person would read it. */
static int scalar_text(const phi_dv *v, const char **s, size_t *n)
{
    if (v->kind == PHI_DV_STR || v->kind == PHI_DV_NUM) {
        *s = v->s;
        *n = v->n;
        return 1;
    }
    return 0;
}

static void set_str(phi_dout *o, const char *s, size_t n)
{
    o->op = PHI_OUT_STR;
    o->text.len = 0;
    phi_sbuf_put(&o->text, s, n);
}

static int mask(const phi_deid_rule *rule, const char *s, size_t n, phi_dout *o)
{
    /* Count code points so that multi-byte characters mask as one. */
    size_t cps = 0;
    for (size_t i = 0; i < n; i++)
        cps += ((unsigned char)s[i] & 0xC0) != 0x80;
    /* Never the whole value, nor more than half of it ("0100", "12"). */
    size_t keep = rule->keep_last < cps / 2 ? rule->keep_last : cps / 2;
    size_t masked = cps - keep, seen = 0, i = 0;
    o->op = PHI_OUT_STR;
    o->text.len = 0;
    for (; i < n && seen < masked; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            seen++;
            phi_sbuf_putc(&o->text, rule->mask_char);
        }
    }
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    phi_sbuf_put(&o->text, s + i, n - i);
    return 0;
}

static int encrypt_value(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const phi_dv *v, phi_dout *o)
{
    bson_t doc = BSON_INITIALIZER;
    int rc = 0;
    if (v->iter) {
        bson_append_iter(&doc, "v", 1, v->iter);
    } else if (v->json) {
        bson_t tmp;
        if ((rc = phi_json_value_to_bson(r->eh, path, v->json, v->json_len, &tmp))) {
            bson_destroy(&doc);
            return rc;
        }
        bson_destroy(&doc);
        doc = tmp;
    } else {
        bson_append_utf8(&doc, "v", 1, v->s, (int)v->n);
    }
    phicrypt_encrypt_opts eo = PHICRYPT_ENCRYPT_OPTS_INIT;
    eo.algorithm = rule->algorithm;
    eo.key_alt_name = rule->key;
    rc = phicrypt_encrypt(r->ph, &o->bson, bson_get_data(&doc), doc.len, &eo);
    phi_bson_wipe_destroy(&doc);
    if (rc)
        return phi_error_adopt(r->ph, r->eh, rc, path);
    o->op = PHI_OUT_BSON;
    return 0;
}

static int decrypt_value(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const phi_dv *v, phi_dout *o)
{
    bson_t doc = BSON_INITIALIZER;
    int rc;
    if (v->iter) {
        if (!BSON_ITER_HOLDS_BINARY(v->iter)) {
            bson_destroy(&doc);
            return 0;
        }
        bson_append_iter(&doc, "v", 1, v->iter);
    } else if (v->json && v->kind == PHI_DV_EXT && v->json_len > 10 && memcmp(v->json, "{\"$binary\"", 10) == 0) {
        bson_destroy(&doc);
        if ((rc = phi_json_value_to_bson(r->eh, path, v->json, v->json_len, &doc)))
            return rc;
    } else {
        bson_destroy(&doc);
        return 0; /* not a ciphertext: left as it is */
    }
    if (r->guard) {
        bson_iter_t it;
        bson_subtype_t st;
        uint32_t len = 0;
        const uint8_t *data = NULL;
        if (bson_iter_init_find(&it, &doc, "v") && BSON_ITER_HOLDS_BINARY(&it))
            bson_iter_binary(&it, &st, &len, &data);
        /* Byte 0 is the blob subtype, bytes 1..16 the data key's UUID. */
        if (len < 17 || !r->guard->key_ok(r->guard->arg, data + 1, rule)) {
            bson_destroy(&doc);
            return phi_error(r->eh, PHICRYPT_EACCESS, "%s: %s: encrypted under a data key the session may not use",
                             phi_rec_where(r), path);
        }
    }
    rc = phi_decrypt_raw(r->ph, &o->bson, bson_get_data(&doc), doc.len);
    bson_destroy(&doc);
    if (rc)
        return phi_error_adopt(r->ph, r->eh, rc, path);
    o->op = PHI_OUT_BSON;
    return 0;
}

static int date_shift_days(phi_deid_rec *r, const phi_deid_rule *rule, int64_t *days)
{
    size_t idx = (size_t)(rule - r->pol->rules);
    phi_subject *sb = idx < r->nsubjects ? &r->subjects[idx] : NULL;
    const char *subj = sb ? sb->value : NULL;
    if (!subj)
        return phi_error(r->eh, PHICRYPT_EBADDATA, "%s: date_shift subject '%s' is missing", phi_rec_where(r),
                         rule->subject_text);
    if (sb->have_days) { /* the record's other dates under this rule */
        *days = sb->days;
        return 0;
    }
    char ps[PHI_DEID_PSEUDONYM_CAP];
    size_t pl = 0;
    int rc = phi_act_pseudonym_text(r, rule->key, "phicrypt.date_shift", subj, strlen(subj), ps, sizeof ps, &pl);
    if (rc)
        return rc;
    /* The pseudonym is ps1.<version>.<base32 MAC>: fold its MAC characters
     * into a number; every machine computes the same offset. */
    uint64_t h = 1469598103934665603ULL;
    const char *mac = strrchr(ps, '.');
    for (const char *c = mac ? mac + 1 : ps; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    phi_wipe(ps, pl); /* it gives the shift, hence the true dates */
    uint64_t span = 2 * (uint64_t)rule->max_days; /* [-max, max] without 0 */
    int64_t d = (int64_t)(h % span) - rule->max_days;
    if (d >= 0)
        d++;
    *days = sb->days = d;
    sb->have_days = 1;
    return 0;
}

/* Forms of a date written as a number (under a date field name). */
enum { DF_NUM_YMD = 100, DF_NUM_YEAR, DF_NUM_MS, DF_NUM_S };

/* A number, or a string of one, under a date field name: YYYYMMDD, a
 * four-digit year, else milliseconds (magnitude of 1e11 or more) or
 * seconds since the epoch. Every number there is a date: none is
 * bucketed as a quantity. */
static int numeric_date(const char *s, size_t n, int64_t *ms, int *form)
{
    int digits = n > 0;
    for (size_t i = 0; i < n; i++)
        digits &= s[i] >= '0' && s[i] <= '9';
    if (digits && (n == 8 || n == 4)) {
        int y = 0, m = 1, d = 1;
        for (size_t i = 0; i < 4; i++)
            y = y * 10 + (s[i] - '0');
        if (n == 8) {
            m = (s[4] - '0') * 10 + (s[5] - '0');
            d = (s[6] - '0') * 10 + (s[7] - '0');
        }
        if (y >= 1000 && m >= 1 && m <= 12 && d >= 1 && d <= 31) {
            *ms = phi_ms_from_civil(y, m, d);
            *form = n == 8 ? DF_NUM_YMD : DF_NUM_YEAR;
            return 1;
        }
    }
    double x;
    if (n == 0 || n > 64 || !phi_parse_decimal(s, n, &x) || x != x)
        return 0;
    int is_ms = x >= 1e11 || x <= -1e11;
    if (!is_ms)
        x *= 1000;
    if (x > (double)PHI_DATE_MS_MAX || x < -(double)PHI_DATE_MS_MAX)
        return 0;
    *ms = (int64_t)x;
    *form = is_ms ? DF_NUM_MS : DF_NUM_S;
    return 1;
}

/* PHI_SH_* class of the value's field, found once per value and only when
 * needed: from the rule's "date_of", else from the field's name. */
static int date_class(const phi_deid_rule *rule, const char *path, int *cls, int want)
{
    /* The preset chose generalize for a date name or a date value. */
    if (rule->preset && want == PHI_SH_DATE)
        return PHI_SH_DATE;
    if (*cls < 0) {
        *cls = rule->date_of == PHI_DATE_OF_BIRTH   ? PHI_SH_DATE | PHI_SH_BIRTH
               : rule->date_of == PHI_DATE_OF_DEATH ? PHI_SH_DATE | PHI_SH_DEATH
               : rule->name_class >= 0              ? rule->name_class
                                                    : phi_safe_harbor_name_class(path ? path : "");
        if (rule->date_of == PHI_DATE_OF_ANY)
            *cls &= PHI_SH_DATE;
    }
    return *cls;
}

/* Dates given as text (a CSV cell, a JSON string) count as dates, and so do
 * numbers under a date field name. A date value outside the calendar range
 * is still a date (the Safe Harbor preset applies to it) but is not
 * computed with: date rules redact it. */
static int as_date(const phi_deid_rule *rule, const char *path, int *cls, const phi_dv *v, int64_t *ms, int *form,
                   int *frac)
{
    if (v->kind == PHI_DV_DATE) {
        if (!phi_date_ms_ok(v->ms))
            return 0;
        *ms = v->ms;
        *form = v->date_form;
        *frac = v->ms_frac;
        return 1;
    }
    if (v->kind == PHI_DV_STR && phi_date_parse(v->s, v->n, ms, form, frac))
        return 1;
    if ((v->kind == PHI_DV_STR || v->kind == PHI_DV_NUM) && (date_class(rule, path, cls, PHI_SH_DATE) & PHI_SH_DATE)) {
        *frac = 0;
        return numeric_date(v->s, v->n, ms, form);
    }
    return 0;
}

/* With the preset, a birth (or death) date whose year is 90 or more years
 * before the reference year is replaced by one category for all such
 * records: 45 CFR 164.514(b)(2)(i)(C) removes every date element, the year
 * included, indicative of an age over 89. By year, not by day: a kept year
 * is all a reader has, and 2020 - 1930 reads as 90. */
static int aggregated_age(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, int *cls, int64_t ms,
                          phi_dout *o)
{
    const phicrypt_deid_policy *p = r->pol;
    int y, m, d;
    if (!p->safe_harbor || ms >= p->young_ms)
        return 0;
    phi_civil_from_ms(ms, &y, &m, &d);
    if (p->ref_y - y < 90 || !(date_class(rule, path, cls, PHI_SH_BIRTH) & (PHI_SH_BIRTH | PHI_SH_DEATH)))
        return 0;
    set_str(o, "90+", 3);
    return 1;
}

static int out_date(const phi_dv *v, int64_t ms, int form, int frac, phi_dout *o)
{
    if (v->kind == PHI_DV_DATE) {
        o->op = PHI_OUT_DATE;
        o->ms = ms;
        return 0;
    }
    o->op = PHI_OUT_STR;
    o->text.len = 0;
    if (form >= DF_NUM_YMD) {
        /* A numeric date keeps its form, as text. */
        int y, m, d;
        phi_civil_from_ms(ms, &y, &m, &d);
        if (form == DF_NUM_YMD)
            phi_sbuf_printf(&o->text, "%04d%02d%02d", y, m, d);
        else if (form == DF_NUM_YEAR)
            phi_sbuf_printf(&o->text, "%04d", y);
        else
            phi_sbuf_printf(&o->text, "%lld", (long long)(form == DF_NUM_MS ? ms : ms / 1000));
        return 0;
    }
    phi_date_format(&o->text, ms, form, frac);
    return 0;
}

/* Decimal text of v at p (no snprintf: this runs for every bucketed value). */
static size_t put_i64(char *p, int64_t v)
{
    char t[24];
    size_t k = 0, n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        t[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        p[n++] = '-';
    while (k)
        p[n++] = t[--k];
    return n;
}

static int generalize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const phi_dv *v, phi_dout *o)
{
    int64_t ms;
    int form, frac, y, m, d, cls = -1;
    char tmp[64];
    if (as_date(rule, path, &cls, v, &ms, &form, &frac)) {
        if (aggregated_age(r, rule, path, &cls, ms, o))
            return 0;
        phi_civil_from_ms(ms, &y, &m, &d);
        if (v->kind == PHI_DV_DATE) {
            o->op = PHI_OUT_DATE;
            o->ms = phi_ms_from_civil(y, rule->gen_month ? m : 1, 1);
            return 0;
        }
        int k = rule->gen_month ? snprintf(tmp, sizeof tmp, "%04d-%02d", y, m) : snprintf(tmp, sizeof tmp, "%04d", y);
        set_str(o, tmp, (size_t)k);
        return 0;
    }
    const char *s;
    size_t n;
    double x;
    if (scalar_text(v, &s, &n) && !(date_class(rule, path, &cls, PHI_SH_DATE) & PHI_SH_DATE) && parse_number(s, n, &x)) {
        int64_t b = rule->bucket ? rule->bucket : 10;
        if (x > 9e15 || x < -9e15) {
            set_str(o, "[OUT OF RANGE]", 14);
            return 0;
        }
        int64_t xi = (int64_t)x - (x < 0 && x != (double)(int64_t)x);
        int64_t lo = (xi >= 0 ? xi / b : -((-xi + b - 1) / b)) * b;
        size_t k = put_i64(tmp, lo);
        tmp[k++] = '-';
        k += put_i64(tmp + k, lo + b - 1);
        set_str(o, tmp, k);
        return 0;
    }
    if (v->kind == PHI_DV_NULL)
        return 0;
    /* Neither a date nor a number: nothing to generalise safely. */
    set_str(o, "[REDACTED]", 10);
    return 0;
}

static int action_apply(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const phi_dv *v, phi_dout *o)
{
    const char *s;
    size_t n;
    o->op = PHI_OUT_SAME;
    if (r->reid) {
        if (rule->reid_withhold == PHI_WITHHOLD_REDACT) {
            set_str(o, rule->with ? rule->with : "[REDACTED]", strlen(rule->with ? rule->with : "[REDACTED]"));
            return 0;
        }
        if (rule->reid_withhold == PHI_WITHHOLD_NULL) {
            o->op = PHI_OUT_NULL;
            return 0;
        }
        if (rule->reid_withhold != PHI_WITHHOLD_NONE)
            return 0; /* kept as it is: still tokenized or encrypted */
        if (rule->act == PHI_ACT_ENCRYPT)
            return decrypt_value(r, rule, path, v, o);
        if (rule->act == PHI_ACT_TOKENIZE && v->kind == PHI_DV_STR) {
            o->op = PHI_OUT_STR;
            return phi_act_detokenize(r, rule, path, v->s, v->n, &o->text);
        }
        return 0;
    }
    if (rule->act == PHI_ACT_DROP) {
        o->op = PHI_OUT_DROP;
        return 0;
    }
    if (v->kind == PHI_DV_NULL && rule->act != PHI_ACT_KEEP)
        return 0; /* null says nothing */
    switch (rule->act) {
    case PHI_ACT_KEEP:
        return 0;
    case PHI_ACT_REDACT:
        set_str(o, rule->with, strlen(rule->with));
        return 0;
    case PHI_ACT_MASK:
        if (scalar_text(v, &s, &n))
            return mask(rule, s, n, o);
        set_str(o, "[REDACTED]", 10);
        return 0;
    case PHI_ACT_ENCRYPT:
        return encrypt_value(r, rule, path, v, o);
    case PHI_ACT_TOKENIZE:
        if (!scalar_text(v, &s, &n))
            return phi_error(r->eh, PHICRYPT_EBADDATA, "%s: %s: tokenize needs a string or a number, not a %s",
                             phi_rec_where(r), path, v->kind == PHI_DV_DATE ? "date" : "structured value");
        o->op = PHI_OUT_STR;
        return phi_act_tokenize(r, rule, path, s, n, &o->text);
    case PHI_ACT_PSEUDONYMIZE:
        if (!scalar_text(v, &s, &n)) {
            if (v->json) {
                s = v->json;
                n = v->json_len;
            } else {
                set_str(o, "[REDACTED]", 10);
                return 0;
            }
        }
        o->op = PHI_OUT_STR;
        return phi_act_pseudonym(r, rule->key, rule->context, s, n, &o->text);
    case PHI_ACT_GENERALIZE:
        return generalize(r, rule, path, v, o);
    case PHI_ACT_DATE_SHIFT: {
        int64_t ms, days = 0;
        int form, frac, rc, cls = -1;
        if (!as_date(rule, path, &cls, v, &ms, &form, &frac)) {
            set_str(o, "[REDACTED]", 10);
            return 0;
        }
        if (aggregated_age(r, rule, path, &cls, ms, o))
            return 0;
        if ((rc = date_shift_days(r, rule, &days)))
            return rc;
        return out_date(v, ms + days * 86400000LL, form, frac, o);
    }
    case PHI_ACT_ZIP3: {
        char z[4];
        char pad[8];
        if (!scalar_text(v, &s, &n)) {
            set_str(o, "000", 3);
            return 0;
        }
        size_t nd = 0;
        while (nd < n && s[nd] >= '0' && s[nd] <= '9')
            nd++;
        if (nd == n && n > 0 && n < 5) {
            /* A ZIP stored as a number lost its leading zeros; written out
             * as text (CSV, a JSON string) it is the same ZIP. */
            memset(pad, '0', 5 - n);
            memcpy(pad + 5 - n, s, n);
            s = pad;
            n = 5;
        }
        if (!zip3_of(s, n, z))
            memcpy(z, "000", 4);
        set_str(o, z, 3);
        return 0;
    }
    case PHI_ACT_AGE: {
        double x;
        if (scalar_text(v, &s, &n) && parse_number(s, n, &x)) {
            if (x >= 90)
                set_str(o, "90+", 3);
            return 0;
        }
        set_str(o, "[REDACTED]", 10);
        return 0;
    }
    case PHI_ACT_SCRUB:
        if (v->kind != PHI_DV_STR)
            return 0;
        o->op = PHI_OUT_STR;
        o->text.len = 0;
        return phi_scrub(r, rule, v->s, v->n, &o->text);
    }
    return 0;
}

int phi_action_apply(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const phi_dv *v, phi_dout *o)
{
    int rc = action_apply(r, rule, path, v, o);
    /* What the policy changed is what must not survive anywhere in the record. */
    if (rc == 0 && r->gate && !r->reid && o->op != PHI_OUT_SAME)
        phi_gate_remember(r->gate, rule, path, v, o);
    return rc;
}

/* ---- per-record identifiers (for scrub) and date_shift subjects ---- */
void phi_rec_reset(phi_deid_rec *r)
{
    if (r->idarena.p)
        phi_wipe(r->idarena.p, r->idarena.len);
    r->idarena.len = 0;
    r->nids = 0;
    r->ids_gen++;
    phi_scratch_wipe(&r->str, &r->str_used);
    phi_scratch_wipe(&r->dtext, &r->dtext_used);
    phi_ptable_record_start(&r->pt);
    if (r->nsubjects_found)
        for (size_t i = r->pol->shift_lo; i < r->pol->shift_hi && i < r->nsubjects; i++) {
            phi_subject *sb = &r->subjects[i];
            if (sb->value)
                phi_wipe_free(sb->value, strlen(sb->value));
            phi_wipe(sb, sizeof *sb); /* the shift says something of the subject */
        }
    r->nsubjects_found = 0;
}

const char *phi_rec_where(phi_deid_rec *r)
{
    if (r->where_file) {
        if (r->where_is_byte && r->where_rec)
            snprintf(r->where, sizeof r->where, "%s: record %llu, byte %llu", r->where_file,
                     (unsigned long long)r->where_rec, (unsigned long long)r->where_pos);
        else
            snprintf(r->where, sizeof r->where, r->where_is_byte ? "%s: byte %llu" : "%s: line %llu", r->where_file,
                     (unsigned long long)r->where_pos);
    }
    return r->where;
}

void phi_rec_free(phi_deid_rec *r)
{
    phi_rec_reset(r);
    phi_scrub_free(r);
    phi_act_keys_free(r);
    phi_ptable_free(&r->pt);
    phi_sbuf_free(&r->str);
    phi_sbuf_free(&r->dtext);
    phi_sbuf_free(&r->text);
    phi_sbuf_free(&r->tail);
    phi_free(r->dfr);
    r->dfr = NULL;
    r->capdfr = 0;
    phi_free(r->ids);
    phi_sbuf_free(&r->idarena);
    phi_free(r->subjects);
    r->ids = NULL;
    r->subjects = NULL;
    r->capids = r->nsubjects = 0;
}

/* The placeholder label of the identifiers that follow, upper-cased, in
 * the arena; 0 when there is no room. */
static int add_label(phi_deid_rec *r, const char *label, size_t n, size_t *off)
{
    phi_sbuf_reserve(&r->idarena, n + 2);
    if (r->idarena.oom)
        return 0;
    char *p = r->idarena.p + r->idarena.len;
    for (size_t i = 0; i < n; i++) {
        char c = label[i];
        p[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    p[n] = 0;
    *off = r->idarena.len;
    r->idarena.len += n + 1;
    return 1;
}

void phi_rec_collect(phi_deid_rec *r, const phi_deid_rule *rule, size_t rule_index, const phi_pcomp *comps, size_t n,
                     const phi_dv *v)
{
    (void)rule_index;
    if (!phi_deid_act_is_identifier(rule->act) || (v->kind != PHI_DV_STR && v->kind != PHI_DV_NUM) || v->n == 0 ||
        r->nids >= 256)
        return;
    const char *label = "IDENTIFIER";
    size_t ll = 10;
    for (size_t j = n; j > 0; j--)
        if (comps[j - 1].key) {
            label = comps[j - 1].key;
            ll = comps[j - 1].key_len < 32 ? comps[j - 1].key_len : 32;
            break;
        }
    int name = rule->act != PHI_ACT_ZIP3 && phi_scrub_is_name(label, ll);
    if (name) {
        label = "NAME";
        ll = 4;
    }
    if (rule->act == PHI_ACT_ZIP3) {
        label = "ZIP";
        ll = 3;
    }
    size_t loff;
    if (!add_label(r, label, ll, &loff))
        return;
    phi_scrub_add_ident(r, v->s, v->n, loff, ll, name);
}

void phi_rec_collect_subject(phi_deid_rec *r, const phi_pcomp *comps, size_t n, const phi_dv *v)
{
    const phicrypt_deid_policy *p = r->pol;
    if (r->nsubjects_found == p->nshift) /* all known: the first value wins */
        return;
    for (size_t i = p->shift_lo; i < p->shift_hi && i < r->nsubjects; i++) {
        const phi_deid_rule *rule = &p->rules[i];
        if (rule->act != PHI_ACT_DATE_SHIFT || r->subjects[i].value || !phi_path_match(&rule->subject, comps, n))
            continue;
        if (v->kind == PHI_DV_STR || v->kind == PHI_DV_NUM)
            r->subjects[i].value = phi_strndup(v->s, v->n);
        else if (v->json)
            r->subjects[i].value = phi_strndup(v->json, v->json_len);
        if (r->subjects[i].value)
            r->nsubjects_found++;
    }
}
