/* Readers: cut a stream into batches of whole records without parsing
 * them (the workers do that). Only what is needed to find a record's end
 * is looked at: newlines (JSON lines), brackets and strings (JSON arrays),
 * length prefixes (BSON), quotes and newlines (CSV). */
#include <string.h>

#include "core/error_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"

enum { CUT_OK = 1, CUT_MORE = 0 };

static int add_span(phi_span **spans, size_t *n, size_t *cap, size_t off, size_t len, uint64_t line, uint64_t byte)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        phi_span *s = phi_realloc(*spans, c * sizeof *s);
        if (!s)
            return PHICRYPT_ENOMEM;
        *spans = s;
        *cap = c;
    }
    (*spans)[(*n)++] = (phi_span){ off, len, line, byte };
    return 0;
}

static size_t count_nl(const char *s, size_t n)
{
    size_t k = 0;
    const char *p = s, *e = s + n;
    while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

static int only_ws(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* One JSON value's end from s[i] (validation is the worker's job): depth
 * and strings only. Returns the end offset, or 0 when more input is needed. */
static size_t json_value_end(const char *s, size_t n, size_t i)
{
    int depth = 0, in_str = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (--depth <= 0)
                return i + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t'))
            return i; /* a bare scalar: the worker will refuse it */
    }
    return 0;
}

/* Lists a record over the size limit as skipped (skip_bad). */
static void note_skipped(phi_reader *rd, uint64_t byte)
{
    char msg[512];
    phi_sbuf *b = &rd->skipped;
    rd->records++;
    if (rd->fmt == PHICRYPT_DEID_BSON) {
        snprintf(msg, sizeof msg, "%s: record %llu, byte %llu: record larger than %u bytes (skipped)", rd->name,
                 (unsigned long long)rd->records, (unsigned long long)byte, PHICRYPT_DEID_MAX_RECORD);
        phi_sbuf_printf(b, "%s{\"record\":{\"offset\":%llu},\"reason\":", b->len ? "," : "", (unsigned long long)byte);
    } else {
        snprintf(msg, sizeof msg, "%s: line %llu: record larger than %u bytes (skipped)", rd->name,
                 (unsigned long long)rd->line, PHICRYPT_DEID_MAX_RECORD);
        phi_sbuf_printf(b, "%s{\"record\":{\"line\":%llu},\"reason\":", b->len ? "," : "",
                        (unsigned long long)rd->line);
    }
    phi_sbuf_json_str(b, msg, strlen(msg));
    phi_sbuf_putc(b, '}');
    rd->nskipped++;
    rd->skip_depth = rd->skip_str = rd->skip_esc = 0;
    rd->skip_line = rd->line;
    rd->skip_byte = byte;
}

/* A whole record of a text format over the size limit: an error, or with
 * skip_bad 1 (list it, then pass over it) or 0 when the records cut
 * before it must be handed out first. */
static int too_large(const void *eh, phi_reader *rd, size_t ns, uint64_t byte, int *rc)
{
    if (!rd->skip_bad) {
        *rc = phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu (byte %llu): record larger than %u bytes (--skip-bad "
                        "skips it)", rd->name, (unsigned long long)rd->line, (unsigned long long)byte,
                        PHICRYPT_DEID_MAX_RECORD);
        return 0;
    }
    if (ns)
        return 0;
    note_skipped(rd, byte);
    return 1;
}

/* Reads on through a skipped record: returns how many bytes of s[0..n)
 * belong to it, and clears rd->skipping at its end. Only the framing is
 * followed (as in cut()); nothing is kept. */
static size_t skip_scan(phi_reader *rd, const char *s, size_t n)
{
    size_t i;
    switch (rd->fmt) {
    case PHICRYPT_DEID_BSON: {
        size_t k = rd->skip_left < n ? (size_t)rd->skip_left : n;
        rd->skip_left -= k;
        rd->skipping = rd->skip_left > 0;
        return k;
    }
    case PHICRYPT_DEID_JSONL: {
        const char *nl = memchr(s, '\n', n);
        if (!nl)
            return n;
        rd->skipping = 0;
        rd->line++;
        return (size_t)(nl - s) + 1;
    }
    case PHICRYPT_DEID_CSV:
        for (i = 0; i < n; i++) {
            if (s[i] == '"')
                rd->skip_str = !rd->skip_str;
            else if (s[i] == '\n') {
                rd->line++;
                if (!rd->skip_str) {
                    rd->skipping = 0;
                    return i + 1;
                }
            }
        }
        return n;
    default: /* one value of a JSON array, as json_value_end() sees it */
        for (i = 0; i < n; i++) {
            char c = s[i];
            if (rd->skip_str) {
                if (rd->skip_esc)
                    rd->skip_esc = 0;
                else if (c == '\\')
                    rd->skip_esc = 1;
                else if (c == '"')
                    rd->skip_str = 0;
            } else if (c == '"') {
                rd->skip_str = 1;
            } else if (c == '{' || c == '[') {
                rd->skip_depth++;
            } else if (c == '}' || c == ']') {
                /* depth 0: a bare value ended before the array's ']' */
                size_t end = rd->skip_depth == 0 ? i : i + 1;
                if (rd->skip_depth == 0 || --rd->skip_depth == 0) {
                    rd->skipping = 0;
                    rd->need_sep = 1;
                    return end;
                }
            } else if (rd->skip_depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
                rd->skipping = 0;
                rd->need_sep = 1;
                return i;
            }
            if (c == '\n')
                rd->line++;
        }
        return n;
    }
}

/* Cuts records off buf[*pos..); returns the error code or 0. */
static int cut(const void *eh, phi_reader *rd, phi_sbuf *buf, size_t *pos, phi_span **spans, size_t *ns, size_t *cs)
{
    const char *s = buf->p;
    size_t n = buf->len;
    int rc;
    while (*pos < n) {
        size_t i = *pos;
        uint64_t byte = rd->byte + i;
        switch (rd->fmt) {
        case PHICRYPT_DEID_JSONL: {
            const char *nl = memchr(s + i, '\n', n - i);
            if (!nl && !rd->eof)
                return 0;
            size_t e = nl ? (size_t)(nl - s) : n;
            size_t j = i;
            while (j < e && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
                j++;
            /* A line that is only "{" or "[" starts a document spread over
             * lines: say so, rather than fail on its next line's syntax
             * (or, with skip_bad, skip every line of the file). */
            if (j < e && (s[j] == '{' || s[j] == '[') && only_ws(s + j + 1, e - j - 1))
                return phi_error(eh, PHICRYPT_EBADDATA,
                                 s[j] == '{'
                                     ? "%s: line %llu: a record spans several lines: this looks like a pretty-printed "
                                       "export (mongoexport --pretty); JSON lines need one document per line (export "
                                       "without --pretty, or as an array with --jsonArray and read it with --format json)"
                                     : "%s: line %llu: a JSON array spread over lines, not JSON lines: read it with "
                                       "--format json (or name it .json)",
                                 rd->name, (unsigned long long)rd->line);
            int skip = 0;
            rc = 0;
            if (j < e && e - i > PHICRYPT_DEID_MAX_RECORD && !(skip = too_large(eh, rd, *ns, byte, &rc)))
                return rc;
            if (j < e && !skip && (rc = add_span(spans, ns, cs, i, e - i, rd->line, byte)))
                return rc;
            rd->line++;
            *pos = nl ? e + 1 : n;
            break;
        }
        case PHICRYPT_DEID_CSV: {
            int q = 0;
            size_t e = i;
            for (; e < n; e++) {
                if (s[e] == '"')
                    q = !q;
                else if (s[e] == '\n' && !q)
                    break;
            }
            if (e >= n && !rd->eof)
                return 0;
            if (e >= n && q)
                return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu: unterminated quoted CSV field", rd->name,
                                 (unsigned long long)rd->line);
            size_t len = e - i;
            if (len && s[i + len - 1] == '\r')
                len--;
            int skip = 0;
            rc = 0;
            if (len > PHICRYPT_DEID_MAX_RECORD && !(skip = too_large(eh, rd, *ns, byte, &rc)))
                return rc;
            if (len && !skip && (rc = add_span(spans, ns, cs, i, len, rd->line, byte)))
                return rc;
            rd->line += count_nl(s + i, e - i) + 1;
            *pos = e < n ? e + 1 : n;
            break;
        }
        case PHICRYPT_DEID_BSON: {
            if (n - i < 4) {
                if (rd->eof)
                    return phi_error(eh, PHICRYPT_EBADDATA, "%s: byte %llu: truncated BSON document", rd->name,
                                     (unsigned long long)byte);
                return 0;
            }
            uint32_t len;
            memcpy(&len, s + i, 4);
            len = BSON_UINT32_FROM_LE(len);
            if (len >= 5 && len > PHICRYPT_DEID_MAX_RECORD && rd->skip_bad) {
                if (*ns)
                    return 0; /* hand out the records before it first */
                *pos = i;
                note_skipped(rd, byte);
                rd->skipping = 1;
                rd->skip_left = len;
                return 0;
            }
            if (len < 5 || len > PHICRYPT_DEID_MAX_RECORD)
                return phi_error(eh, PHICRYPT_EBADDATA, "%s: record %llu, byte %llu: bad BSON document length %u%s",
                                 rd->name, (unsigned long long)(rd->records + *ns + 1), (unsigned long long)byte, len,
                                 len >= 5 ? " (over the 16 MiB limit: --skip-bad skips it)" : "");
            if (n - i < len) {
                if (rd->eof)
                    return phi_error(eh, PHICRYPT_EBADDATA, "%s: byte %llu: truncated BSON document", rd->name,
                                     (unsigned long long)byte);
                return 0;
            }
            if ((rc = add_span(spans, ns, cs, i, len, 0, byte)))
                return rc;
            *pos = i + len;
            break;
        }
        case PHICRYPT_DEID_JSON: {
            size_t j = i;
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
                j++;
            rd->line += count_nl(s + i, j - i);
            *pos = j;
            if (j >= n)
                return 0;
            if (rd->array_state == 0) {
                if (s[j] != '[')
                    return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu: a JSON array file must start with '['",
                                     rd->name, (unsigned long long)rd->line);
                rd->array_state = 1;
                *pos = j + 1;
                break;
            }
            if (rd->array_state == 2)
                return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu: text after the closing ']'", rd->name,
                                 (unsigned long long)rd->line);
            if (s[j] == ']') {
                rd->array_state = 2;
                *pos = j + 1;
                break;
            }
            if (rd->need_sep) {
                if (s[j] != ',')
                    return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu: expected ',' or ']' between documents",
                                     rd->name, (unsigned long long)rd->line);
                rd->need_sep = 0;
                *pos = j + 1;
                break;
            }
            size_t e = json_value_end(s, n, j);
            if (e == 0) {
                if (rd->eof)
                    return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu: truncated JSON array", rd->name,
                                     (unsigned long long)rd->line);
                return 0;
            }
            int skip = 0;
            rc = 0;
            if (e - j > PHICRYPT_DEID_MAX_RECORD && !(skip = too_large(eh, rd, *ns, rd->byte + j, &rc)))
                return rc;
            if (!skip && (rc = add_span(spans, ns, cs, j, e - j, rd->line, rd->byte + j)))
                return rc;
            rd->line += count_nl(s + j, e - j);
            rd->need_sep = 1;
            *pos = e;
            break;
        }
        }
    }
    return 0;
}

int phi_reader_next(const void *eh, phi_reader *rd, phi_sbuf *buf, phi_span **spans, size_t *nspans,
                    size_t *cap_spans, size_t target)
{
    size_t pos = 0, target0 = target;
    int rc;
    buf->len = 0;
    *nspans = 0;
    phi_sbuf_put(buf, rd->carry, rd->carry_len);
    rd->carry_len = 0;
    for (;;) {
        if (!rd->eof && buf->len < target) {
            phi_sbuf_reserve(buf, target - buf->len + 1);
            if (buf->oom)
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            size_t got = fread(buf->p + buf->len, 1, buf->cap - buf->len - 1, rd->f);
            buf->len += got;
            buf->p[buf->len] = 0;
            if (got == 0) {
                if (ferror(rd->f))
                    return phi_error(eh, PHICRYPT_EIO, "%s: read error", rd->name);
                rd->eof = 1;
            }
            continue;
        }
        if (rd->skipping) {
            pos += skip_scan(rd, buf->p + pos, buf->len - pos);
            if (rd->skipping) {
                /* All of it belongs to the skipped record: drop it. */
                phi_wipe(buf->p, buf->len);
                rd->byte += buf->len;
                buf->len = 0;
                pos = 0;
                if (!rd->eof)
                    continue;
                rd->skipping = 0;
                /* Skipped or not, a file cut short in a record is broken. */
                if (rd->fmt == PHICRYPT_DEID_BSON)
                    return phi_error(eh, PHICRYPT_EBADDATA, "%s: record %llu, byte %llu: truncated BSON document",
                                     rd->name, (unsigned long long)rd->records, (unsigned long long)rd->skip_byte);
                if (rd->fmt == PHICRYPT_DEID_CSV && rd->skip_str)
                    return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu: unterminated quoted CSV field", rd->name,
                                     (unsigned long long)rd->skip_line);
            }
        }
        /* A UTF-8 byte order mark is not part of the first record. */
        if (rd->byte == 0 && pos == 0 && rd->fmt != PHICRYPT_DEID_BSON && buf->len >= 3 &&
            memcmp(buf->p, "\xEF\xBB\xBF", 3) == 0) {
            pos = 3;
            rd->bom = 1;
        }
        if ((rc = cut(eh, rd, buf, &pos, spans, nspans, cap_spans)))
            return rc;
        if (rd->skipping)
            continue;
        if (*nspans > 0 || rd->eof)
            break;
        /* No whole record yet: read on, up to the record size limit. */
        if (buf->len - pos > PHICRYPT_DEID_MAX_RECORD) {
            if (!rd->skip_bad)
                return phi_error(eh, PHICRYPT_EBADDATA,
                                 "%s: line %llu (byte %llu): record larger than %u bytes (--skip-bad skips it)",
                                 rd->name, (unsigned long long)rd->line, (unsigned long long)(rd->byte + pos),
                                 PHICRYPT_DEID_MAX_RECORD);
            note_skipped(rd, rd->byte + pos);
            rd->skipping = 1;
            target = target0;
            continue;
        }
        target = buf->len + (buf->len > target ? buf->len : target);
    }
    rd->records += *nspans;
    if (rd->eof && rd->fmt == PHICRYPT_DEID_JSON && pos >= buf->len && rd->array_state != 2)
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu: truncated JSON array (no closing ']')", rd->name,
                         (unsigned long long)rd->line);
    /* Keep the partial record for the next batch. */
    size_t rest = buf->len - pos;
    if (rest > rd->carry_cap) {
        char *c = phi_malloc(rest);
        if (!c)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        if (rd->carry)
            phi_wipe_free(rd->carry, rd->carry_cap);
        rd->carry = c;
        rd->carry_cap = rest;
    }
    if (rest) {
        memcpy(rd->carry, buf->p + pos, rest);
        phi_wipe(buf->p + pos, rest); /* the batch ends at pos: no copy left behind it */
    }
    rd->carry_len = rest;
    rd->byte += pos;
    buf->len = pos;
    return 0;
}

int phi_reader_csv_header(const void *eh, phi_reader *rd, phi_sbuf *line)
{
    int c;
    line->len = 0;
    int q = 0;
    while ((c = fgetc(rd->f)) != EOF) {
        rd->byte++;
        if (c == '"')
            q = !q;
        if (c == '\n' && !q)
            break;
        phi_sbuf_putc(line, (char)c);
        if (line->len > 1u << 20)
            return phi_error(eh, PHICRYPT_EBADDATA, "%s: CSV header longer than 1 MiB", rd->name);
    }
    rd->line = 2;
    /* A byte order mark (Excel's "CSV UTF-8") would else be part of the
     * first column's name, which then matches no rule. */
    if (line->len >= 3 && memcmp(line->p, "\xEF\xBB\xBF", 3) == 0) {
        memmove(line->p, line->p + 3, line->len - 3);
        line->len -= 3;
        rd->bom = 1;
    }
    if (line->len && line->p[line->len - 1] == '\r') {
        line->len--;
        rd->crlf = 1;
    }
    if (line->len == 0)
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: line 1: empty CSV header", rd->name);
    return 0;
}
