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
            if (!only_ws(s + i, e - i) && (rc = add_span(spans, ns, cs, i, e - i, rd->line, byte)))
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
            if (len && (rc = add_span(spans, ns, cs, i, len, rd->line, byte)))
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
            if (len < 5 || len > PHICRYPT_DEID_MAX_RECORD)
                return phi_error(eh, PHICRYPT_EBADDATA, "%s: byte %llu: bad BSON document length %u", rd->name,
                                 (unsigned long long)byte, len);
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
            if ((rc = add_span(spans, ns, cs, j, e - j, rd->line, rd->byte + j)))
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
    size_t pos = 0;
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
        if ((rc = cut(eh, rd, buf, &pos, spans, nspans, cap_spans)))
            return rc;
        if (*nspans > 0 || rd->eof)
            break;
        /* No whole record yet: read on, up to the record size limit. */
        if (buf->len - pos > PHICRYPT_DEID_MAX_RECORD)
            return phi_error(eh, PHICRYPT_EBADDATA, "%s: line %llu (byte %llu): record larger than %u bytes",
                             rd->name, (unsigned long long)rd->line, (unsigned long long)(rd->byte + pos),
                             PHICRYPT_DEID_MAX_RECORD);
        target = buf->len + (buf->len > target ? buf->len : target);
    }
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
    if (line->len && line->p[line->len - 1] == '\r')
        line->len--;
    if (line->len == 0)
        return phi_error(eh, PHICRYPT_EBADDATA, "%s: line 1: empty CSV header", rd->name);
    return 0;
}
