/* Reading the audit log: chain verification and the accounting of
 * disclosures for one subject. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <phicrypt.h>
#include "audit/audit_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"

#define CHAIN_TAG ",\"chain\":\""

int phi_audit_split_line(const char *line, size_t len, size_t *content_len, uint8_t chain[PHI_AUDIT_CHAIN_LEN])
{
    const size_t tag = sizeof CHAIN_TAG - 1;
    size_t hex_at;
    /* The chain is the last member: ...,"chain":"<64 hex>"} */
    if (len < tag + 64 + 2 || line[len - 1] != '}' || line[len - 2] != '"')
        return -1;
    hex_at = len - 2 - 64;
    if (memcmp(line + hex_at - tag, CHAIN_TAG, tag) != 0)
        return -1;
    if (sodium_hex2bin(chain, PHI_AUDIT_CHAIN_LEN, line + hex_at, 64, NULL, NULL, NULL) != 0)
        return -1;
    *content_len = hex_at - tag;
    return 0;
}

int64_t phi_audit_parse_time(const char *s)
{
    struct tm tm;
    int ms = 0, n = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6)
        return -1;
    if (s[n] == '.')
        sscanf(s + n + 1, "%3d", &ms);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* One line of the file, as found. */
typedef struct line_ref {
    const char *p;
    size_t len;
    int complete;   /* ended by '\n' */
    int64_t seq;    /* -1 when unparsed */
} line_ref;

static size_t split_lines(char *text, size_t len, line_ref *lines)
{
    size_t n = 0, i = 0;
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
        if (lines) {
            lines[n].p = text + i;
            lines[n].len = l;
            lines[n].complete = nl != NULL;
            lines[n].seq = -1;
        }
        n++;
        i += l + 1;
    }
    return n;
}

static int64_t seq_of(const line_ref *l)
{
    bson_t doc;
    bson_error_t err;
    bson_iter_t it;
    int64_t seq = -1;
    if (!bson_init_from_json(&doc, l->p, (ssize_t)l->len, &err))
        return -1;
    if (bson_iter_init_find(&it, &doc, "seq") && BSON_ITER_HOLDS_NUMBER(&it))
        seq = bson_iter_as_int64(&it);
    bson_destroy(&doc);
    return seq;
}

static int report(phicrypt_t *ph, phicrypt_buf *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int report(phicrypt_t *ph, phicrypt_buf *out, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (out) {
        out->data = (uint8_t *)phi_strdup(msg);
        out->len = out->data ? strlen(msg) : 0;
    }
    if (code != 0)
        return phi_error(ph, code, "audit log: %s", msg);
    phi_error_clear(ph);
    return 0;
}

static int verify_text(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *key, char *text, size_t len)
{
    size_t n = split_lines(text, len, NULL), good = 0, torn_line = 0;
    line_ref *lines = phi_calloc(n ? n : 1, sizeof *lines);
    uint8_t prev[PHI_AUDIT_CHAIN_LEN] = { 0 };
    int64_t last_seq = 0;
    int rc = 0;
    if (!lines)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    split_lines(text, len, lines);
    for (size_t i = 0; i < n; i++)
        lines[i].seq = seq_of(&lines[i]);
    for (size_t i = 0; i < n && rc == 0; i++) {
        line_ref *l = &lines[i];
        size_t content_len;
        uint8_t chain[PHI_AUDIT_CHAIN_LEN], want[PHI_AUDIT_CHAIN_LEN];
        int64_t expect = last_seq + 1;
        /* An append cut short leaves a prefix of a line: it cannot end in
         * '"}' (every line does), and a later append starts on a new line. */
        if (!l->complete || l->len < 2 || l->p[l->len - 1] != '}' || l->p[l->len - 2] != '"') {
            if (l->len == 0 && !l->complete)
                continue;
            if (!torn_line)
                torn_line = i + 1;
            continue;
        }
        if (phi_audit_split_line(l->p, l->len, &content_len, chain) != 0 || l->seq < 0) {
            rc = report(ph, out, PHICRYPT_EAUTH, "line %zu: not an audit line (edited)", i + 1);
            break;
        }
        phi_audit_chain(key, prev, l->p, content_len, want);
        if (!phi_ct_equal(want, chain, sizeof want)) {
            if (l->seq > expect) {
                int later = 0;
                for (size_t j = i + 1; j < n; j++)
                    if (lines[j].seq == expect)
                        later = 1;
                if (later)
                    rc = report(ph, out, PHICRYPT_EAUTH,
                                "line %zu: sequence %lld where %lld was expected: lines were reordered", i + 1,
                                (long long)l->seq, (long long)expect);
                else
                    rc = report(ph, out, PHICRYPT_EAUTH,
                                "line %zu: sequence %lld where %lld was expected: %lld line(s) deleted before it", i + 1,
                                (long long)l->seq, (long long)expect, (long long)(l->seq - expect));
            } else if (l->seq < expect) {
                rc = report(ph, out, PHICRYPT_EAUTH,
                            "line %zu: sequence %lld where %lld was expected: lines were reordered or duplicated",
                            i + 1, (long long)l->seq, (long long)expect);
            } else {
                rc = report(ph, out, PHICRYPT_EAUTH,
                            "line %zu: chain value does not match: the line was edited, or forged without the audit key",
                            i + 1);
            }
            break;
        }
        memcpy(prev, chain, sizeof prev);
        last_seq = l->seq;
        good++;
    }
    if (rc == 0 && torn_line)
        rc = report(ph, out, PHICRYPT_EBADDATA,
                    "line %zu: torn (an append was interrupted, e.g. the process was killed); not tampered: the "
                    "%zu other lines chain correctly",
                    torn_line, good);
    else if (rc == 0)
        rc = report(ph, out, 0, "intact: %zu lines", good);
    phi_free(lines);
    return rc;
}

int phicrypt_audit_verify(phicrypt_t *ph, phicrypt_buf *report_out, const char *path)
{
    const uint8_t *key;
    char *text = NULL;
    size_t len = 0;
    int rc;
    if (!ph)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_verify: NULL argument");
    if (report_out) {
        report_out->data = NULL;
        report_out->len = 0;
    }
    if (!path && !(path = phi_audit_path(ph)))
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_verify: no file given and no \"audit.path\" configured");
    if ((rc = phi_audit_chain_key(ph, &key)) != 0)
        return rc;
    if ((rc = phi_file_read_all(ph, PHICRYPT_EIO, path, &text, &len)) != 0)
        return rc;
    rc = verify_text(ph, report_out, key, text, len);
    phi_free(text);
    return rc;
}

static int is_disclosure(const char *op)
{
    return strcmp(op, "decrypt") == 0 || strcmp(op, "detokenize") == 0 || strcmp(op, "reid") == 0;
}

int phicrypt_audit_disclosures(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value, int64_t since_ms)
{
    char sub[PHI_AUDIT_SUBJECT_TEXT], *text = NULL, idx[16];
    const char *path, *key;
    size_t len = 0, n;
    line_ref *lines;
    bson_t res = BSON_INITIALIZER, arr;
    uint32_t count = 0;
    int rc;
    if (!ph || !out || !subject_value)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_disclosures: NULL argument");
    if (!(path = phi_audit_path(ph)))
        return phi_error(ph, PHICRYPT_EUNSUPPORTED, "no audit log is configured (\"audit\": {\"path\": ...})");
    if ((rc = phi_audit_subject(ph, sub, subject_value, strlen(subject_value))) != 0)
        return rc;
    if ((rc = phi_file_read_all(ph, PHICRYPT_EIO, path, &text, &len)) != 0)
        return rc;
    n = split_lines(text, len, NULL);
    if (!(lines = phi_calloc(n ? n : 1, sizeof *lines))) {
        phi_free(text);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    split_lines(text, len, lines);
    BSON_APPEND_UTF8(&res, "subject", sub);
    BSON_APPEND_ARRAY_BEGIN(&res, "disclosures", &arr);
    for (size_t i = 0; i < n; i++) {
        bson_t doc;
        bson_error_t err;
        bson_iter_t it;
        int match = 1;
        if (!lines[i].complete || !bson_init_from_json(&doc, lines[i].p, (ssize_t)lines[i].len, &err))
            continue;
        if (!bson_iter_init_find(&it, &doc, "subject") || !BSON_ITER_HOLDS_UTF8(&it) ||
            strcmp(bson_iter_utf8(&it, NULL), sub) != 0)
            match = 0;
        if (match && (!bson_iter_init_find(&it, &doc, "op") || !BSON_ITER_HOLDS_UTF8(&it) ||
                      !is_disclosure(bson_iter_utf8(&it, NULL))))
            match = 0;
        if (match && since_ms > 0 &&
            (!bson_iter_init_find(&it, &doc, "time") || !BSON_ITER_HOLDS_UTF8(&it) ||
             phi_audit_parse_time(bson_iter_utf8(&it, NULL)) < since_ms))
            match = 0;
        if (match) {
            bson_uint32_to_string(count++, &key, idx, sizeof idx);
            bson_append_document(&arr, key, -1, &doc);
        }
        bson_destroy(&doc);
    }
    bson_append_array_end(&res, &arr);
    rc = phi_buf_from_bson(ph, out, &res);
    bson_destroy(&res);
    phi_free(lines);
    phi_free(text);
    return rc;
}

int phicrypt_audit_subject_id(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value)
{
    char sub[PHI_AUDIT_SUBJECT_TEXT];
    int rc;
    if (!ph || !out || !subject_value)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_subject_id: NULL argument");
    if ((rc = phi_audit_subject(ph, sub, subject_value, strlen(subject_value))) != 0)
        return rc;
    out->data = (uint8_t *)phi_strdup(sub);
    if (!out->data)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    out->len = strlen(sub);
    return 0;
}
