/* CSV records (mongoexport --type=csv, RFC 4180). The header's dotted
 * names are the field paths; each column's rule is decided once from the
 * header. Untouched fields are copied as they were written. */
#include <string.h>

#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"

void phi_csv_row_free(phi_csv_row *row)
{
    phi_free(row->raw_off);
    phi_free(row->raw_len);
    phi_free(row->dec_off);
    phi_free(row->dec_len);
    phi_sbuf_free(&row->dec);
    memset(row, 0, sizeof *row);
}

static int grow(phi_csv_row *r)
{
    size_t c = r->cap ? r->cap * 2 : 32;
    size_t *a = phi_realloc(r->raw_off, c * sizeof *a);
    if (!a)
        return 0;
    r->raw_off = a;
    if (!(a = phi_realloc(r->raw_len, c * sizeof *a)))
        return 0;
    r->raw_len = a;
    if (!(a = phi_realloc(r->dec_off, c * sizeof *a)))
        return 0;
    r->dec_off = a;
    if (!(a = phi_realloc(r->dec_len, c * sizeof *a)))
        return 0;
    r->dec_len = a;
    r->cap = c;
    return 1;
}

int phi_csv_split(const char *s, size_t n, char sep, phi_csv_row *row, const char **why)
{
    size_t i = 0;
    row->n = 0;
    row->dec.len = 0;
    for (;;) {
        if (row->n == row->cap && !grow(row)) {
            *why = "out of memory";
            return PHICRYPT_ENOMEM;
        }
        size_t k = row->n++;
        row->raw_off[k] = i;
        row->dec_off[k] = row->dec.len;
        if (i < n && s[i] == '"') {
            i++;
            for (;;) {
                const char *q = memchr(s + i, '"', n - i);
                if (!q) {
                    *why = "unterminated quoted field";
                    return PHICRYPT_EBADDATA;
                }
                size_t e = (size_t)(q - s);
                phi_sbuf_put(&row->dec, s + i, e - i);
                if (e + 1 < n && s[e + 1] == '"') {
                    phi_sbuf_putc(&row->dec, '"');
                    i = e + 2;
                    continue;
                }
                i = e + 1;
                break;
            }
            if (i < n && s[i] != sep) {
                *why = "text after a closing quote";
                return PHICRYPT_EBADDATA;
            }
        } else {
            const char *c = memchr(s + i, sep, n - i);
            size_t e = c ? (size_t)(c - s) : n;
            if (memchr(s + i, '"', e - i)) {
                *why = "quote inside an unquoted field";
                return PHICRYPT_EBADDATA;
            }
            phi_sbuf_put(&row->dec, s + i, e - i);
            i = e;
        }
        row->raw_len[k] = i - row->raw_off[k];
        row->dec_len[k] = row->dec.len - row->dec_off[k];
        if (i >= n)
            break;
        i++; /* the separator */
    }
    if (row->dec.oom) {
        *why = "out of memory";
        return PHICRYPT_ENOMEM;
    }
    /* Fields must be valid UTF-8. */
    const unsigned char *d = (const unsigned char *)row->dec.p;
    for (size_t j = 0; d && j < row->dec.len;) {
        unsigned char c = d[j];
        size_t need = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!need || j + need > row->dec.len) {
            *why = "invalid UTF-8";
            return PHICRYPT_EBADDATA;
        }
        for (size_t t = 1; t < need; t++)
            if ((d[j + t] & 0xC0) != 0x80) {
                *why = "invalid UTF-8";
                return PHICRYPT_EBADDATA;
            }
        j += need;
    }
    return 0;
}

void phi_csv_put_field(phi_sbuf *b, const char *s, size_t n, char sep)
{
    int q = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == sep || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!q) {
        phi_sbuf_put(b, s, n);
        return;
    }
    phi_sbuf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') {
            phi_sbuf_put(b, s + run, i + 1 - run);
            phi_sbuf_putc(b, '"');
            run = i + 1;
        }
    phi_sbuf_put(b, s + run, n - run);
    phi_sbuf_putc(b, '"');
}

void phi_csv_cols_free(phi_csv_cols *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->names)
            phi_free(c->names[i]);
        if (c->comps)
            phi_free(c->comps[i]);
    }
    phi_free(c->names);
    phi_free(c->comps);
    phi_free(c->ncomps);
    phi_free(c->rules);
    phi_free(c->drop);
    phi_free(c->unknown);
    memset(c, 0, sizeof *c);
}

/* "visits.0.date" -> visits, [], date (mongoexport numbers array items). */
static int name_comps(const char *name, phi_pcomp **out, size_t *n)
{
    size_t cnt = 1;
    for (const char *p = name; *p; p++)
        cnt += *p == '.';
    phi_pcomp *c = phi_calloc(cnt, sizeof *c);
    if (!c)
        return PHICRYPT_ENOMEM;
    const char *p = name;
    size_t k = 0;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        int num = len > 0;
        for (size_t i = 0; i < len; i++)
            num &= p[i] >= '0' && p[i] <= '9';
        c[k].key = num ? NULL : p;
        c[k].key_len = num ? 0 : len;
        k++;
        if (!dot)
            break;
        p = dot + 1;
    }
    *out = c;
    *n = k;
    return 0;
}

/* Dotted components that are array indexes or identifier-like names
 * (a letter or '_', then letters, digits or '_', at most 40 bytes). */
static int plain_name(const char *name)
{
    for (const char *p = name;;) {
        size_t len = strcspn(p, ".");
        int digits = len > 0, ok = len > 0 && len <= 40 && !(p[0] >= '0' && p[0] <= '9');
        for (size_t i = 0; i < len; i++) {
            char c = p[i];
            int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
            int digit = c >= '0' && c <= '9';
            digits &= digit;
            ok &= alpha || digit;
        }
        if (!ok && !digits)
            return 0;
        if (!p[len])
            return 1;
        p += len + 1;
    }
}

int phi_csv_header(phi_deid_rec *r, const char *s, size_t n, char sep, int sep_given, int crlf, phi_csv_cols *cols,
                   phi_sbuf *out)
{
    phi_csv_row row = { 0 };
    const char *why = NULL;
    int rc;
    memset(cols, 0, sizeof *cols);
    cols->sep = sep;
    cols->crlf = crlf;
    if ((rc = phi_csv_split(s, n, sep, &row, &why))) {
        phi_csv_row_free(&row);
        return phi_error(r->eh, rc, "%s: CSV header: %s", phi_rec_where(r), why);
    }
    /* One column whose name holds another usual separator: the file is
     * most likely not comma-separated, and read as one column every value
     * would be kept or dropped whole. */
    if (row.n == 1 && !sep_given) {
        static const struct { char c; const char *what, *opt; } other[] = { { ';', "';'", ";" },
                                                                             { '\t', "a tab", "\\t" },
                                                                             { '|', "'|'", "|" } };
        for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
            if (row.dec.p && memchr(row.dec.p, other[i].c, row.dec_len[0])) {
                phi_csv_row_free(&row);
                return phi_error(r->eh, PHICRYPT_EBADDATA,
                                 "%s: the CSV header is one column whose name contains %s: the file does not look "
                                 "comma-separated; give its delimiter (--delimiter '%s', or csv_delimiter in the "
                                 "options)", phi_rec_where(r), other[i].what, other[i].opt);
            }
    }
    cols->n = row.n;
    cols->names = phi_calloc(row.n, sizeof *cols->names);
    cols->comps = phi_calloc(row.n, sizeof *cols->comps);
    cols->ncomps = phi_calloc(row.n, sizeof *cols->ncomps);
    cols->rules = phi_calloc(row.n, sizeof *cols->rules);
    cols->drop = phi_calloc(row.n, sizeof *cols->drop);
    cols->unknown = phi_calloc(row.n, sizeof *cols->unknown);
    if (!cols->names || !cols->comps || !cols->ncomps || !cols->rules || !cols->drop || !cols->unknown) {
        phi_csv_row_free(&row);
        return phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    }
    int first = 1;
    for (size_t k = 0; k < row.n; k++) {
        cols->names[k] = phi_strndup(row.dec.p + row.dec_off[k], row.dec_len[k]);
        if (!cols->names[k] || name_comps(cols->names[k], &cols->comps[k], &cols->ncomps[k])) {
            phi_csv_row_free(&row);
            return phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
        }
        const phi_deid_rule *rule = phi_rule_for_column(r->pol, cols->comps[k], cols->ncomps[k]);
        cols->rules[k] = rule;
        phi_rec_hit(r, rule);
        if (!rule && !r->reid) {
            cols->unknown[k] = 1;
            phi_stats_unknown(r->st, cols->names[k], strlen(cols->names[k]));
            if (r->pol->unknown == PHI_UNKNOWN_ERROR) {
                rc = phi_error(r->eh, PHICRYPT_EINVAL,
                               "%s: column '%s' is not in the policy (set \"unknown_fields\" to \"drop\" or \"keep\", "
                               "or add a rule)", phi_rec_where(r), cols->names[k]);
                phi_csv_row_free(&row);
                return rc;
            }
            /* Under the preset an unknown column is decided per value, as
             * in a JSON record (a date there becomes its year, an ObjectId
             * goes, anything else follows "unknown_fields"), so the output
             * does not depend on the input's format. Only a plain name is
             * kept for that: a name that may itself be data goes whole. */
            cols->drop[k] = r->pol->unknown == PHI_UNKNOWN_DROP &&
                            !(r->pol->safe_harbor && plain_name(cols->names[k]));
        }
        if (rule && rule->act == PHI_ACT_DROP && !r->reid)
            cols->drop[k] = 1;
        if (cols->drop[k])
            continue;
        if (!first)
            phi_sbuf_putc(out, sep);
        first = 0;
        phi_sbuf_put(out, s + row.raw_off[k], row.raw_len[k]);
    }
    phi_sbuf_puts(out, crlf ? "\r\n" : "\n");
    phi_csv_row_free(&row);
    return out->oom ? phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory") : 0;
}

static void put_bson_value(phi_deid_rec *r, const phi_dout *o, phi_sbuf *out, char sep)
{
    bson_t doc;
    bson_iter_t it;
    if (!bson_init_static(&doc, o->bson.data, o->bson.len) || !bson_iter_init_find(&it, &doc, "v"))
        return;
    if (BSON_ITER_HOLDS_UTF8(&it)) {
        uint32_t l;
        const char *s = bson_iter_utf8(&it, &l);
        phi_csv_put_field(out, s, l, sep);
        return;
    }
    size_t len;
    char *j = phi_bson_value_to_json(r->eh, &it, !r->reid, &len);
    if (j) {
        phi_csv_put_field(out, j, len, sep);
        phi_wipe_free(j, len);
    }
}

int phi_csv_rewrite(phi_deid_rec *r, const phi_csv_cols *cols, const char *s, size_t n, phi_sbuf *out)
{
    phi_csv_row row = { 0 };
    const char *why = NULL;
    int rc = phi_csv_split(s, n, cols->sep, &row, &why);
    if (rc) {
        phi_csv_row_free(&row);
        return phi_error(r->eh, rc, "%s: %s", phi_rec_where(r), why);
    }
    if (row.n != cols->n) {
        size_t got = row.n;
        phi_csv_row_free(&row);
        return phi_error(r->eh, PHICRYPT_EBADDATA, "%s: %zu fields where the header has %zu", phi_rec_where(r), got,
                         cols->n);
    }
    phi_rec_reset(r);
    phi_dv v;
    if (r->pol->needs_identifiers || r->pol->needs_subjects) {
        for (size_t k = 0; k < row.n; k++) {
            memset(&v, 0, sizeof v);
            v.kind = row.dec_len[k] ? PHI_DV_STR : PHI_DV_NULL;
            v.s = row.dec.p + row.dec_off[k];
            v.n = row.dec_len[k];
            if (r->pol->needs_subjects && v.n)
                phi_rec_collect_subject(r, cols->comps[k], cols->ncomps[k], &v);
            const phi_deid_rule *child;
            if (!cols->drop[k] && !phi_container_whole(cols->rules[k], NULL, &child) && v.n) {
                r->collecting = 1;
                int j = phi_json_cell(r, cols->comps[k], cols->ncomps[k], v.s, v.n, NULL);
                r->collecting = 0;
                if (j == 0)
                    continue;
            }
            if (cols->rules[k] && v.n)
                phi_rec_collect(r, cols->rules[k], 0, cols->comps[k], cols->ncomps[k], &v);
        }
    }
    int first = 1;
    for (size_t k = 0; rc == 0 && k < row.n; k++) {
        if (cols->drop[k])
            continue;
        if (!first)
            phi_sbuf_putc(out, cols->sep);
        first = 0;
        memset(&v, 0, sizeof v);
        v.kind = row.dec_len[k] ? PHI_DV_STR : PHI_DV_NULL;
        v.s = row.dec.p + row.dec_off[k];
        v.n = row.dec_len[k];
        /* As in JSON and BSON: a date kept or unknown under the preset is a date. */
        const phi_deid_rule *rule = r->reid ? cols->rules[k] : phi_rule_for_value(r->pol, cols->rules[k], &v);
        if (r->reid && rule && rule->act == PHI_ACT_ENCRYPT && v.n > 10 && memcmp(v.s, "{\"$binary\"", 10) == 0) {
            v.kind = PHI_DV_EXT;
            v.json = v.s;
            v.json_len = v.n;
        }
        const phi_deid_rule *child;
        if (v.n && !phi_container_whole(cols->rules[k], NULL, &child)) {
            /* A nested value as JSON text: walked as in a JSON record. */
            phi_sbuf cell = { 0 };
            rc = phi_json_cell(r, cols->comps[k], cols->ncomps[k], v.s, v.n, &cell);
            if (rc == 0)
                phi_csv_put_field(out, cell.p ? cell.p : "", cell.len, cols->sep);
            phi_sbuf_free(&cell);
            if (rc == 0)
                continue;
            if (rc != 1)
                break;
            rc = 0;
        }
        if (!rule && cols->unknown[k] && !r->reid && r->pol->unknown == PHI_UNKNOWN_DROP)
            continue; /* an unknown value, not a date: the cell stays empty */
        phi_dout o;
        phi_dout_begin(r, &o);
        if (rule && (rule->act != PHI_ACT_KEEP)) {
            rc = phi_action_apply(r, rule, cols->names[k], &v, &o);
            if (rc == 0)
                phi_stats_count(r->st, cols->names[k], strlen(cols->names[k]), rule->act);
        } else if (rule) {
            phi_stats_count(r->st, cols->names[k], strlen(cols->names[k]), PHI_ACT_KEEP);
        }
        if (rc == 0) {
            if (o.op == PHI_OUT_STR)
                phi_csv_put_field(out, o.text.p ? o.text.p : "", o.text.len, cols->sep);
            else if (o.op == PHI_OUT_BSON)
                put_bson_value(r, &o, out, cols->sep);
            else if (o.op == PHI_OUT_SAME || (o.op == PHI_OUT_DROP && r->reid))
                phi_sbuf_put(out, s + row.raw_off[k], row.raw_len[k]);
            /* PHI_OUT_DROP (an ObjectId in a kept column): an empty cell */
        }
        phi_dout_end(r, &o);
    }
    phi_csv_row_free(&row);
    if (rc == 0 && out->oom)
        rc = phi_error(r->eh, PHICRYPT_ENOMEM, "out of memory");
    return rc;
}
