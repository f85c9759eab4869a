/* JSON records: one pass over the text that validates it, tracks the path
 * of each value, and rewrites only the spans of targeted values; every
 * other byte is copied as it was (no parse-and-reserialise). Extended JSON
 * wrappers ({"$date": ...}, {"$numberLong": ...}, {"$oid": ...}) count as
 * single values. */
#include <stdlib.h>
#include <string.h>

#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/scan_private.h"

typedef struct jw {
    phi_deid_rec *r;
    const char *s;
    size_t n, i;
    phi_sbuf *out;
    size_t copied;
    phi_pstack ps;
    /* Single pass for scrub: identifiers are collected while rewriting,
     * and free text is scrubbed at the end of the record, once all of
     * them are known (in r->dfr). */
    int defer;
    size_t ndfr;
    /* First pass for date_shift only: collects subjects (no identifiers:
     * the rewrite pass does, deferred) and stops with JW_STOP once every
     * date_shift rule has its subject, usually a few fields in. */
    int subjects_only;
} jw;

/* Not an error: the subjects-only pass found all it looks for. */
#define JW_STOP 1

static int bad(jw *w, const char *why)
{
    return phi_error(w->r->eh, PHICRYPT_EBADDATA, "%s, byte %zu of the record: %s", phi_rec_where(w->r), w->i, why);
}

static inline void ws(jw *w)
{
    while (w->i < w->n) {
        char c = w->s[w->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        w->i++;
    }
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, unsigned *v)
{
    unsigned x = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexv(p[k]);
        if (h < 0)
            return 0;
        x = x * 16 + (unsigned)h;
    }
    *v = x;
    return 1;
}

/* Length of the valid UTF-8 sequence at p (0 if invalid). */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    if (c < 0xC2 || c > 0xF4)
        return 0;
    size_t need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (avail < need)
        return 0;
    for (size_t k = 1; k < need; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    if (c == 0xE0 && p[1] < 0xA0)
        return 0; /* overlong */
    if (c == 0xED && p[1] > 0x9F)
        return 0; /* surrogate */
    if (c == 0xF0 && p[1] < 0x90)
        return 0;
    if (c == 0xF4 && p[1] > 0x8F)
        return 0;
    return need;
}

/* Validates the string at w->i (a '"'); w->i ends after the closing quote. */
static int scan_string(jw *w, int *esc)
{
    const unsigned char *s = (const unsigned char *)w->s;
    size_t i = w->i + 1, n = w->n;
    *esc = 0;
    for (;;) {
        i += phi_json_plain_run(s + i, n - i, 1);
        if (i >= n) {
            w->i = i;
            return bad(w, "unterminated string");
        }
        unsigned char c = s[i];
        if (c == '"') {
            w->i = i + 1;
            return 0;
        }
        if (c < 0x20) {
            w->i = i;
            return bad(w, "control character in a string");
        }
        if (c == '\\') {
            *esc = 1;
            if (i + 1 >= n) {
                w->i = i;
                return bad(w, "unterminated string");
            }
            char e = (char)s[i + 1];
            if (strchr("\"\\/bfnrt", e) && e) {
                i += 2;
                continue;
            }
            unsigned u, u2;
            if (e != 'u' || i + 6 > n || !hex4(w->s + i + 2, &u)) {
                w->i = i;
                return bad(w, "bad escape in a string");
            }
            if (u >= 0xDC00 && u <= 0xDFFF) {
                w->i = i;
                return bad(w, "bad escape in a string (lone low surrogate)");
            }
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (i + 12 > n || s[i + 6] != '\\' || s[i + 7] != 'u' || !hex4(w->s + i + 8, &u2) || u2 < 0xDC00 ||
                    u2 > 0xDFFF) {
                    w->i = i;
                    return bad(w, "bad escape in a string (unpaired surrogate)");
                }
                i += 12;
            } else {
                i += 6;
            }
            continue;
        }
        size_t k = utf8_len(s + i, n - i);
        if (!k) {
            w->i = i;
            return bad(w, "invalid UTF-8 in a string");
        }
        i += k;
    }
}

/* Decodes a validated string literal s[a..b) (without quotes) into out. */
static void decode_string(const char *s, size_t a, size_t b, phi_sbuf *out)
{
    out->len = 0;
    size_t run = a, i = a;
    phi_sbuf_reserve(out, b - a + 1);
    while (i < b) {
        if (s[i] != '\\') {
            i++;
            continue;
        }
        phi_sbuf_put(out, s + run, i - run);
        char e = s[i + 1];
        char c = 0;
        switch (e) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': break;
        default: c = e;
        }
        if (e != 'u') {
            phi_sbuf_putc(out, c);
            i += 2;
        } else {
            unsigned u, u2;
            hex4(s + i + 2, &u);
            i += 6;
            if (u >= 0xD800 && u <= 0xDBFF) {
                hex4(s + i + 2, &u2);
                u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                i += 6;
            }
            char b8[4];
            size_t k;
            if (u < 0x80) {
                b8[0] = (char)u;
                k = 1;
            } else if (u < 0x800) {
                b8[0] = (char)(0xC0 | (u >> 6));
                b8[1] = (char)(0x80 | (u & 0x3F));
                k = 2;
            } else if (u < 0x10000) {
                b8[0] = (char)(0xE0 | (u >> 12));
                b8[1] = (char)(0x80 | ((u >> 6) & 0x3F));
                b8[2] = (char)(0x80 | (u & 0x3F));
                k = 3;
            } else {
                b8[0] = (char)(0xF0 | (u >> 18));
                b8[1] = (char)(0x80 | ((u >> 12) & 0x3F));
                b8[2] = (char)(0x80 | ((u >> 6) & 0x3F));
                b8[3] = (char)(0x80 | (u & 0x3F));
                k = 4;
            }
            phi_sbuf_put(out, b8, k);
        }
        run = i;
    }
    phi_sbuf_put(out, s + run, b - run);
}

static int scan_number(jw *w)
{
    size_t st = w->i, i = w->i, n = w->n;
    const char *s = w->s;
    int expo = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0') {
        i++;
    } else if (i < n && s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return bad(w, "bad number");
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return bad(w, "bad number");
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        expo = 1;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return bad(w, "bad number");
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i - st > 64)
        return bad(w, "number too long (more than 64 characters)");
    double v;
    if (expo && !phi_parse_decimal(s + st, i - st, &v))
        return bad(w, "number out of range");
    w->i = i;
    return 0;
}

static int lit(jw *w, const char *word)
{
    size_t k = strlen(word);
    if (w->i + k > w->n || memcmp(w->s + w->i, word, k) != 0)
        return bad(w, "unexpected character");
    w->i += k;
    return 0;
}

static void flush_to(jw *w, size_t pos)
{
    if (!w->out || pos <= w->copied)
        return;
    phi_sbuf_put(w->out, w->s + w->copied, pos - w->copied);
    w->copied = pos;
}

static int value(jw *w, int depth, const phi_deid_rule *inherited, int *drop);

/* Extended JSON wrapper keys (the first key of a {"$...": ...} value). */
enum { EXT_DATE, EXT_NUMBER_LONG, EXT_NUMBER_INT, EXT_NUMBER_DOUBLE, EXT_NUMBER_DECIMAL, EXT_OID, EXT_TIMESTAMP, EXT_OTHER };
static const struct {
    const char *name;
    size_t len;
    int kind;
} ext_keys[] = {
    { "$date", 5, EXT_DATE }, { "$numberLong", 11, EXT_NUMBER_LONG }, { "$numberInt", 10, EXT_NUMBER_INT },
    { "$numberDouble", 13, EXT_NUMBER_DOUBLE }, { "$numberDecimal", 14, EXT_NUMBER_DECIMAL },
    { "$oid", 4, EXT_OID }, { "$binary", 7, EXT_OTHER }, { "$uuid", 5, EXT_OTHER }, { "$timestamp", 10, EXT_TIMESTAMP },
    { "$regularExpression", 18, EXT_OTHER }, { "$symbol", 7, EXT_OTHER }, { "$code", 5, EXT_OTHER },
    { "$minKey", 7, EXT_OTHER }, { "$maxKey", 7, EXT_OTHER }, { "$undefined", 10, EXT_OTHER },
    { "$dbPointer", 10, EXT_OTHER }, { "$regex", 6, EXT_OTHER }, { "$type", 5, EXT_OTHER },
};

/* At '{': the index in ext_keys of its first key when that names an
 * Extended JSON wrapper, else -1. */
static int ext_key(jw *w)
{
    size_t i = w->i + 1;
    while (i < w->n && (w->s[i] == ' ' || w->s[i] == '\t' || w->s[i] == '\r' || w->s[i] == '\n'))
        i++;
    if (i + 2 >= w->n || w->s[i] != '"' || w->s[i + 1] != '$')
        return -1;
    const char *k = w->s + i + 1;
    const char *q = memchr(k, '"', w->n - i - 1 < 20 ? w->n - i - 1 : 20);
    if (!q)
        return -1;
    size_t kl = (size_t)(q - k);
    for (size_t e = 0; e < sizeof ext_keys / sizeof ext_keys[0]; e++)
        if (ext_keys[e].len == kl && memcmp(k, ext_keys[e].name, kl) == 0)
            return (int)e;
    return -1;
}

/* Reads the date of {"$date": ...} spanning s[a..b). */
static int ext_date(jw *w, size_t a, size_t b, phi_dv *v)
{
    const char *s = w->s;
    size_t i = a + 1;
    while (i < b && s[i] != ':')
        i++;
    i++;
    while (i < b && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < b && s[i] == '"') {
        size_t e = i + 1;
        while (e < b && s[e] != '"')
            e++;
        if (!phi_date_parse(s + i + 1, e - i - 1, &v->ms, &v->date_form, &v->ms_frac))
            return 0;
        v->date_form = PHI_DF_EXT_ISO;
        return 1;
    }
    int form = PHI_DF_EXT_NUM;
    if (i < b && s[i] == '{') {
        while (i < b && s[i] != ':')
            i++;
        i++;
        while (i < b && (s[i] == ' ' || s[i] == '"'))
            i++;
        form = PHI_DF_EXT_LONG;
    }
    char tmp[32];
    size_t k = 0;
    while (i < b && k < sizeof tmp - 1 && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
        tmp[k++] = s[i++];
    tmp[k] = 0;
    if (!k)
        return 0;
    v->ms = strtoll(tmp, NULL, 10);
    v->date_form = form;
    v->ms_frac = 1;
    return 1;
}

/* {"$timestamp": {"t": seconds, "i": n}} spanning s[a..b) is a date (its
 * seconds), as a BSON Timestamp is. */
static int ext_timestamp(jw *w, size_t a, size_t b, phi_dv *v)
{
    const char *s = w->s;
    for (size_t i = a + 12; i + 3 < b; i++) {
        if (s[i] != '"' || s[i + 1] != 't' || s[i + 2] != '"')
            continue;
        i += 3;
        while (i < b && (s[i] == ' ' || s[i] == ':' || s[i] == '\t'))
            i++;
        int64_t t = 0;
        size_t d0 = i;
        while (i < b && i - d0 < 12 && s[i] >= '0' && s[i] <= '9')
            t = t * 10 + (s[i++] - '0');
        if (i == d0)
            return 0;
        v->ms = t * 1000;
        v->date_form = PHI_DF_EXT_ISO;
        return 1;
    }
    return 0;
}

static void write_date(jw *w, const phi_dv *v, int64_t ms)
{
    int form = v->date_form;
    if (form == PHI_DF_EXT_ISO && (ms < 0 || ms >= INT64_C(253402300800000)))
        form = PHI_DF_EXT_LONG;
    if (form == PHI_DF_EXT_ISO) {
        phi_sbuf_puts(w->out, "{\"$date\":\"");
        phi_date_format(w->out, ms, PHI_DF_ISO, 1);
        phi_sbuf_puts(w->out, "\"}");
    } else if (form == PHI_DF_EXT_NUM) {
        phi_sbuf_printf(w->out, "{\"$date\":%lld}", (long long)ms);
    } else {
        phi_sbuf_printf(w->out, "{\"$date\":{\"$numberLong\":\"%lld\"}}", (long long)ms);
    }
}

static int write_bson_value(jw *w, const phi_dout *o)
{
    bson_t doc;
    bson_iter_t it;
    if (!bson_init_static(&doc, o->bson.data, o->bson.len) || !bson_iter_init_find(&it, &doc, "v"))
        return phi_error(w->r->eh, PHICRYPT_EINTERNAL, "%s: unexpected encryption result", phi_rec_where(w->r));
    size_t len;
    char *j = phi_bson_value_to_json(w->r->eh, &it, !w->r->reid, &len);
    if (!j)
        return phi_error_wrap(w->r->eh, PHICRYPT_EINTERNAL, "%s", phi_rec_where(w->r));
    phi_sbuf_put(w->out, j, len);
    phi_wipe_free(j, len);
    return 0;
}

/* Applies `rule` to the value v spanning s[v0..w->i). */
static int apply(jw *w, const phi_deid_rule *rule, phi_dv *v, size_t v0, int *drop)
{
    phi_deid_rec *r = w->r;
    if (r->collecting) {
        if (!w->subjects_only)
            phi_rec_collect(r, rule, 0, w->ps.comps, w->ps.nc, v);
        return 0;
    }
    if (w->defer && phi_deid_act_is_identifier(rule->act))
        phi_rec_collect(r, rule, 0, w->ps.comps, w->ps.nc, v);
    if (w->defer && rule->act == PHI_ACT_SCRUB && v->kind == PHI_DV_STR) {
        if (w->ndfr == r->capdfr) {
            size_t cap = r->capdfr ? r->capdfr * 2 : 8;
            phi_deferred *d = phi_realloc(r->dfr, cap * sizeof *d);
            if (!d)
                return phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
            r->dfr = d;
            r->capdfr = cap;
        }
        flush_to(w, v0);
        r->dfr[w->ndfr++] = (phi_deferred){ w->out->len, v0, w->i, rule };
        w->copied = w->i;
        phi_ps_count(&w->ps, rule->act);
        return 0;
    }
    size_t plen;
    const char *path = phi_ps_path(&w->ps, &plen);
    phi_dout o;
    phi_dout_begin(r, &o);
    int rc = phi_action_apply(r, rule, path, v, &o);
    if (rc) {
        phi_dout_end(r, &o);
        return rc;
    }
    phi_ps_count(&w->ps, rule->act);
    switch (o.op) {
    case PHI_OUT_SAME:
        break;
    case PHI_OUT_DROP:
        *drop = 1;
        break;
    default:
        flush_to(w, v0);
        if (o.op == PHI_OUT_STR)
            phi_sbuf_json_str(w->out, o.text.p ? o.text.p : "", o.text.len);
        else if (o.op == PHI_OUT_NULL)
            phi_sbuf_puts(w->out, "null");
        else if (o.op == PHI_OUT_DATE)
            write_date(w, v, o.ms);
        else if (o.op == PHI_OUT_BSON)
            rc = write_bson_value(w, &o);
        w->copied = w->i;
    }
    phi_dout_end(r, &o);
    if (rc == 0 && w->out && w->out->oom)
        rc = phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    return rc;
}

/* A value with no rule: descend, or apply the unknown-field policy. */
static int unknown_leaf(jw *w, int *drop)
{
    phi_deid_rec *r = w->r;
    if (r->collecting || r->reid)
        return 0;
    size_t plen;
    const char *path = phi_ps_path(&w->ps, &plen);
    if (r->st)
        phi_stats_unknown(r->st, path, plen);
    if (r->pol->unknown == PHI_UNKNOWN_ERROR)
        return phi_error(r->eh, PHICRYPT_EINVAL,
                         "%s: field '%s' is not in the policy (set \"unknown_fields\" to \"drop\" or \"keep\", or add "
                         "a rule)", phi_rec_where(r), path);
    if (r->pol->unknown == PHI_UNKNOWN_DROP)
        *drop = 1;
    return 0;
}

static int container(jw *w, int depth, const phi_deid_rule *inherited)
{
    int is_obj = w->s[w->i] == '{';
    char close = is_obj ? '}' : ']';
    int rc, emitted = 0, skip_comma = 0;
    size_t prev_comma = 0;
    if (depth >= PHI_DEID_MAX_DEPTH)
        return bad(w, "nesting deeper than 100 levels");
    w->i++;
    ws(w);
    if (w->i < w->n && w->s[w->i] == close) {
        w->i++;
        return 0;
    }
    for (;;) {
        ws(w);
        size_t m0 = w->i;
        if (is_obj) {
            int esc;
            if (w->i >= w->n || w->s[w->i] != '"')
                return bad(w, "expected a member name");
            if ((rc = scan_string(w, &esc)))
                return rc;
            char *owned = NULL;
            const char *k = w->s + m0 + 1;
            size_t kn = w->i - m0 - 2;
            if (esc) {
                phi_sbuf tmp = { 0 };
                decode_string(w->s, m0 + 1, w->i - 1, &tmp);
                if (tmp.oom)
                    return phi_error(w->r->eh, PHICRYPT_ENOMEM, "out of memory");
                owned = tmp.p ? tmp.p : NULL;
                k = owned ? owned : "";
                kn = tmp.len;
            }
            phi_ps_push(&w->ps, k, kn, owned);
            ws(w);
            if (w->i >= w->n || w->s[w->i] != ':') {
                phi_ps_pop(&w->ps);
                return bad(w, "expected ':'");
            }
            w->i++;
            ws(w);
        } else {
            phi_ps_push(&w->ps, NULL, 0, NULL);
        }
        int drop = 0;
        rc = value(w, depth + 1, inherited, &drop);
        phi_ps_pop(&w->ps);
        if (rc)
            return rc;
        if (drop && w->out) {
            if (emitted > 0) {
                flush_to(w, prev_comma);
            } else {
                flush_to(w, m0);
                skip_comma = 1;
            }
            w->copied = w->i;
        } else {
            emitted++;
        }
        ws(w);
        if (w->i >= w->n)
            return bad(w, is_obj ? "unterminated object" : "unterminated array");
        if (w->s[w->i] == ',') {
            if (skip_comma && w->out) {
                flush_to(w, w->i);
                w->copied = w->i + 1;
                skip_comma = 0;
            } else {
                prev_comma = w->i;
            }
            w->i++;
            continue;
        }
        if (w->s[w->i] == close) {
            w->i++;
            return 0;
        }
        return bad(w, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* Validates a container without rewriting anything inside it. With an
 * identifier rule `as`, its strings join the record's identifiers (a
 * redacted address object still hides its street in the notes). */
static int skip_container(jw *w, int depth, const phi_deid_rule *as)
{
    phi_sbuf *out = w->out;
    w->out = NULL;
    int collecting = w->r->collecting;
    /* No rules inside: a private walk with the unknown-field policy off. */
    const phi_deid_rule keep = { .act = PHI_ACT_KEEP };
    int collect_ids = as && phi_deid_act_is_identifier(as->act) && w->r->pol->needs_identifiers &&
                      ((collecting && !w->subjects_only) || w->defer);
    w->r->collecting = 1;
    int rc = container(w, depth, collect_ids ? as : &keep);
    w->r->collecting = collecting;
    w->out = out;
    return rc;
}

static int value(jw *w, int depth, const phi_deid_rule *inherited, int *drop)
{
    phi_deid_rec *r = w->r;
    const phicrypt_deid_policy *p = r->pol;
    if (w->i >= w->n)
        return bad(w, "unexpected end of the record");
    const phi_deid_rule *rule = phi_rule_resolve(&w->ps, inherited);
    size_t v0 = w->i;
    char c = w->s[v0];
    phi_dv v = { 0 };
    int rc;
    if (c == '{' || c == '[') {
        int ek = c == '{' ? ext_key(w) : -1;
        if (ek < 0) {
            const phi_deid_rule *child;
            if (!phi_container_whole(rule, inherited, &child))
                return container(w, depth, child);
            if (rule->act == PHI_ACT_KEEP) {
                if (!r->collecting)
                    phi_ps_count(&w->ps, PHI_ACT_KEEP);
                return skip_container(w, depth, NULL);
            }
            /* The rule takes the whole object or array. */
            if ((rc = skip_container(w, depth, rule)))
                return rc;
            v.kind = c == '{' ? PHI_DV_OBJ : PHI_DV_ARR;
            v.json = w->s + v0;
            v.json_len = w->i - v0;
            return apply(w, rule, &v, v0, drop);
        }
        if ((rc = skip_container(w, depth, NULL)))
            return rc;
        v.json = w->s + v0;
        v.json_len = w->i - v0;
        v.kind = PHI_DV_EXT;
        if (ext_keys[ek].kind == EXT_DATE) {
            if (ext_date(w, v0, w->i, &v))
                v.kind = PHI_DV_DATE;
        } else if (ext_keys[ek].kind == EXT_TIMESTAMP) {
            if (ext_timestamp(w, v0, w->i, &v))
                v.kind = PHI_DV_DATE;
        } else if (ext_keys[ek].kind == EXT_OID) {
            v.oid = 1;
        } else if (ext_keys[ek].kind != EXT_OTHER) {
            /* {"$numberLong": "123"}: the number's text */
            size_t kl = ext_keys[ek].len;
            const char *q = memchr(w->s + v0 + 3 + kl, '"', w->i - v0 - 3 - kl);
            if (q) {
                const char *e = memchr(q + 1, '"', (size_t)(w->s + w->i - q - 1));
                if (e) {
                    v.kind = PHI_DV_NUM;
                    v.s = q + 1;
                    v.n = (size_t)(e - q - 1);
                }
            }
        }
        if (v.kind == PHI_DV_EXT) {
            v.s = v.json;
            v.n = v.json_len;
        }
    } else if (c == '"') {
        int esc;
        if ((rc = scan_string(w, &esc)))
            return rc;
        v.kind = PHI_DV_STR;
        v.json = w->s + v0;
        v.json_len = w->i - v0;
        if (rule || p->safe_harbor || (r->collecting && p->needs_subjects)) {
            if (esc) {
                decode_string(w->s, v0 + 1, w->i - 1, &r->str);
                if (r->str.len > r->str_used)
                    r->str_used = r->str.len;
                if (r->str.oom)
                    return phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
                v.s = r->str.p ? r->str.p : "";
                v.n = r->str.len;
            } else {
                v.s = w->s + v0 + 1;
                v.n = w->i - v0 - 2;
            }
        }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if ((rc = scan_number(w)))
            return rc;
        v.kind = PHI_DV_NUM;
        v.s = v.json = w->s + v0;
        v.n = v.json_len = w->i - v0;
    } else if (c == 't' || c == 'f') {
        if ((rc = lit(w, c == 't' ? "true" : "false")))
            return rc;
        v.kind = PHI_DV_BOOL;
        v.json = w->s + v0;
        v.json_len = w->i - v0;
    } else if (c == 'n') {
        if ((rc = lit(w, "null")))
            return rc;
        v.kind = PHI_DV_NULL;
        v.json = w->s + v0;
        v.json_len = 4;
    } else {
        return bad(w, "unexpected character");
    }
    if (r->collecting && p->needs_subjects && (v.kind == PHI_DV_STR || v.kind == PHI_DV_NUM || v.kind == PHI_DV_EXT)) {
        phi_rec_collect_subject(r, w->ps.comps, w->ps.nc, &v);
        if (w->subjects_only && r->nsubjects_found == p->nshift)
            return JW_STOP; /* unwinds the path stack on its way up */
    }
    rule = phi_rule_for_value(p, rule, &v);
    if (!rule)
        return unknown_leaf(w, drop);
    if (rule->act == PHI_ACT_KEEP && !r->collecting) {
        phi_ps_count(&w->ps, PHI_ACT_KEEP);
        return 0;
    }
    return apply(w, rule, &v, v0, drop);
}

/* Splices the scrubbed free text into the record's output: the output
 * from the first deferred value on is moved aside and put back around the
 * scrubbed texts. */
static int finish_deferred(jw *w, phi_sbuf *out)
{
    phi_deid_rec *r = w->r;
    phi_sbuf *tail = &r->tail, *text = &r->text;
    int rc = 0;
    size_t base = r->dfr[0].out_off;
    if (out->len < base || !out->p)
        return phi_error(r->eh, PHICRYPT_EINTERNAL, "output buffer shrank");
    tail->len = 0;
    tail->oom = text->oom = 0;
    phi_sbuf_put(tail, out->p + base, out->len - base);
    if (tail->oom)
        return phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    out->len = base;
    size_t prev = 0;
    for (size_t k = 0; rc == 0 && k < w->ndfr; k++) {
        const phi_deferred *d = &r->dfr[k];
        size_t off = d->out_off - base;
        phi_sbuf_put(out, tail->p + prev, off - prev);
        prev = off;
        const char *vs = w->s + d->v0 + 1;
        size_t vn = d->v1 - d->v0 - 2;
        if (memchr(vs, '\\', vn)) {
            decode_string(w->s, d->v0 + 1, d->v1 - 1, &r->str);
            if (r->str.len > r->str_used)
                r->str_used = r->str.len;
            vs = r->str.p ? r->str.p : "";
            vn = r->str.len;
        }
        text->len = 0;
        rc = phi_scrub(r, d->rule, vs, vn, text);
        if (rc == 0)
            phi_sbuf_json_str(out, text->p ? text->p : "", text->len);
        if (text->p)
            phi_wipe(text->p, text->len);
    }
    if (rc == 0)
        phi_sbuf_put(out, tail->p + prev, tail->len - prev);
    phi_wipe(tail->p, tail->len);
    tail->len = 0;
    if (rc == 0 && out->oom)
        rc = phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    return rc;
}

int phi_json_rewrite(phi_deid_rec *r, const char *s, size_t n, phi_sbuf *out)
{
    jw w;
    int rc = 0, drop = 0;
    memset(&w, 0, sizeof w);
    w.r = r;
    w.s = s;
    w.n = n;
    phi_rec_reset(r);
    phi_ps_init(&w.ps, r);
    ws(&w);
    if (w.i >= n || s[w.i] != '{')
        return bad(&w, "a record must be a JSON object");
    w.defer = r->pol->needs_identifiers && !r->reid;
    if (!w.defer && (r->pol->needs_identifiers || r->pol->needs_subjects)) {
        /* First pass: the record's own identifiers and date_shift subjects. */
        r->collecting = 1;
        rc = container(&w, 0, NULL);
        r->collecting = 0;
        w.i = 0;
        ws(&w);
    } else if (r->pol->needs_subjects) {
        /* First pass for the date_shift subjects alone, up to the last one
         * found (a date may come before its subject). Identifiers are
         * collected by the rewrite pass, which defers scrubs (w.defer). */
        int defer = w.defer;
        w.defer = 0; /* skipped containers' identifiers wait for the rewrite pass */
        w.subjects_only = 1;
        r->collecting = 1;
        rc = container(&w, 0, NULL);
        if (rc == JW_STOP)
            rc = 0;
        r->collecting = 0;
        w.subjects_only = 0;
        w.defer = defer;
        w.i = 0;
        ws(&w);
    }
    w.out = out;
    if (rc == 0)
        rc = value(&w, 0, NULL, &drop);
    if (rc == 0) {
        ws(&w);
        if (w.i != n)
            rc = bad(&w, "unexpected text after the record");
    }
    if (rc == 0)
        flush_to(&w, n);
    if (rc == 0 && w.ndfr)
        rc = finish_deferred(&w, out);
    phi_ps_free(&w.ps);
    phi_scratch_wipe(&r->str, &r->str_used);
    if (rc == 0 && out->oom)
        rc = phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    return rc;
}

int phi_json_cell(phi_deid_rec *r, const phi_pcomp *comps, size_t nc, const char *s, size_t n, phi_sbuf *out)
{
    jw w;
    int rc, drop = 0, collecting = r->collecting;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i >= n || (s[i] != '{' && s[i] != '[') || nc >= PHI_DEID_MAX_DEPTH)
        return 1;
    memset(&w, 0, sizeof w);
    w.r = r;
    w.s = s;
    w.n = n;
    phi_ps_init(&w.ps, r);
    for (size_t k = 0; k < nc; k++)
        phi_ps_push(&w.ps, comps[k].key, comps[k].key_len, NULL);
    /* Only JSON is rewritten as JSON: a cell that does not parse is text. */
    r->collecting = 1;
    w.i = i;
    rc = value(&w, (int)nc, NULL, &drop);
    if (rc == 0) {
        ws(&w);
        rc = w.i == n ? 0 : 1;
    }
    r->collecting = collecting;
    if (rc == 0 && !collecting) {
        w.i = i;
        w.out = out;
        w.copied = 0;
        rc = value(&w, (int)nc, NULL, &drop);
        if (rc == 0 && drop)
            out->len = 0;
        else if (rc == 0)
            flush_to(&w, n);
        if (rc == 0 && out->oom)
            rc = phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    } else if (rc) {
        rc = 1;
    }
    phi_ps_free(&w.ps);
    return rc;
}
