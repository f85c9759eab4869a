/* Reads one whole HTTP/1.1 response so that its status can decide on a
 * retry before libmongocrypt sees it (libmongocrypt 1.7 cannot be told to
 * forget a reply). The response handed on always has a Content-Length
 * body: a chunked body is reassembled. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "kms/kms_impl_private.h"

#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_HEADER_LINES 128
#define MAX_TRAILER_BYTES (16 * 1024)
#define MAX_TRAILER_LINES 64
#define MAX_BODY_BYTES (1024 * 1024)
/* Everything read for one reply, chunk framing included: a hostile peer
 * cannot make us hold more, whatever the shape of what it sends. */
#define MAX_REPLY_BYTES (MAX_HEADER_BYTES + 2 * MAX_BODY_BYTES + MAX_TRAILER_BYTES)

int phi_kms_bytes_append(phi_kms_bytes *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        uint8_t *nd;
        while (nc < b->len + n + 1)
            nc *= 2;
        nd = phi_malloc(nc);
        if (!nd)
            return PHICRYPT_ENOMEM;
        if (b->len)
            memcpy(nd, b->data, b->len);
        phi_wipe_free(b->data, b->cap);
        b->data = nd;
        b->cap = nc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

void phi_kms_bytes_free(phi_kms_bytes *b)
{
    phi_wipe_free(b->data, b->cap);
    memset(b, 0, sizeof *b);
}

static int has_word(const char *p, size_t n, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= n; i++)
        if (strncasecmp(p + i, word, wl) == 0)
            return 1;
    return 0;
}

static int bad(const void *eh, const phi_kms_where *w, const char *detail)
{
    return phi_error(eh, PHICRYPT_EKMS, "kms %s %s: read reply: %s", w->provider, w->endpoint, detail);
}

/* Reads more bytes into `in`; 0 at end of stream, >0 count, <0 error. */
static long fill(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_bytes *in)
{
    uint8_t buf[4096];
    long r;
    if (in->len >= MAX_REPLY_BYTES)
        return bad(eh, w, "reply too large");
    r = phi_kms_conn_read(c, eh, w, buf, sizeof buf);
    if (r > 0 && phi_kms_bytes_append(in, buf, (size_t)r) != 0)
        r = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    phi_wipe(buf, sizeof buf);
    return r;
}

/* Makes sure `in` holds at least `want` bytes from `pos`. */
static int need(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_bytes *in, size_t pos, size_t want)
{
    while (in->len - pos < want) {
        long r = fill(c, eh, w, in);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return bad(eh, w, "connection closed before the end of the reply");
    }
    return 0;
}

/* Index of the end of the line starting at pos ("\r\n"), reading more. */
static int line_end(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_bytes *in, size_t pos,
                    size_t *eol)
{
    for (;;) {
        uint8_t *p = in->len > pos ? memchr(in->data + pos, '\n', in->len - pos) : NULL;
        long r;
        if (p) {
            *eol = (size_t)(p - in->data);
            return 0;
        }
        if (in->len - pos > MAX_HEADER_BYTES)
            return bad(eh, w, "line too long");
        if ((r = fill(c, eh, w, in)) < 0)
            return (int)r;
        if (r == 0)
            return bad(eh, w, "connection closed before the end of the reply");
    }
}

static int dechunk(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_bytes *in, size_t pos,
                   phi_kms_bytes *body)
{
    for (;;) {
        size_t eol, size;
        char *end;
        int rc;
        if ((rc = line_end(c, eh, w, in, pos, &eol)) != 0)
            return rc;
        size = strtoul((const char *)in->data + pos, &end, 16);
        if (end == (char *)in->data + pos || size > MAX_BODY_BYTES || body->len + size > MAX_BODY_BYTES)
            return bad(eh, w, "malformed or oversized chunk");
        pos = eol + 1;
        if (size == 0) { /* trailers end with an empty line */
            size_t start = pos;
            for (int lines = 0;; lines++) {
                if ((rc = line_end(c, eh, w, in, pos, &eol)) != 0)
                    return rc;
                if (eol == pos || (eol == pos + 1 && in->data[pos] == '\r'))
                    return 0;
                if (lines >= MAX_TRAILER_LINES || eol - start > MAX_TRAILER_BYTES)
                    return bad(eh, w, "too many or too large chunked trailers");
                pos = eol + 1;
            }
        }
        if ((rc = need(c, eh, w, in, pos, size + 2)) != 0)
            return rc;
        if (phi_kms_bytes_append(body, in->data + pos, size) != 0)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        pos += size + 2;
    }
}

int phi_kms_read_http(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_reply *out)
{
    phi_kms_bytes in = { 0 }, head = { 0 }, body = { 0 };
    size_t pos = 0, eol, clen = 0;
    int rc, status = 0, chunked = 0, have_len = 0, first = 1, lines = 0;
    char cl[64];

    memset(out, 0, sizeof *out);
    /* Status line and headers; Content-Length and Transfer-Encoding are
     * left out of `head` and written again below. */
    for (;;) {
        const char *l;
        size_t n;
        if ((rc = line_end(c, eh, w, &in, pos, &eol)) != 0)
            goto out;
        l = (const char *)in.data + pos;
        n = eol - pos;
        if (n && l[n - 1] == '\r')
            n--;
        /* Every line counts, those left out of `head` too: repeating
         * Content-Length or Transfer-Encoding must not bypass the limits. */
        if (eol + 1 > MAX_HEADER_BYTES || ++lines > MAX_HEADER_LINES) {
            rc = bad(eh, w, "headers too large or too many");
            goto out;
        }
        if (first) {
            if (n < 12 || strncmp(l, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)l[9]) ||
                !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11])) {
                rc = bad(eh, w, "not an HTTP response");
                goto out;
            }
            status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
            first = 0;
        } else if (n == 0) {
            pos = eol + 1;
            break;
        } else if (n >= 15 && strncasecmp(l, "Content-Length:", 15) == 0) {
            char *end;
            size_t v;
            const char *p = l + 15;
            while (p < l + n && (*p == ' ' || *p == '\t'))
                p++;
            v = isdigit((unsigned char)*p) ? strtoul(p, &end, 10) : (end = (char *)p, 0);
            while (end < l + n && (*end == ' ' || *end == '\t'))
                end++;
            if (end == p || end != l + n || (have_len && v != clen)) {
                rc = bad(eh, w, "malformed or conflicting Content-Length");
                goto out;
            }
            clen = v;
            have_len = 1;
            if (clen > MAX_BODY_BYTES) {
                rc = bad(eh, w, "reply body too large");
                goto out;
            }
            pos = eol + 1;
            continue;
        } else if (n >= 18 && strncasecmp(l, "Transfer-Encoding:", 18) == 0) {
            chunked = has_word(l + 18, n - 18, "chunked");
            pos = eol + 1;
            continue;
        }
        if (phi_kms_bytes_append(&head, l, n) != 0 || phi_kms_bytes_append(&head, "\r\n", 2) != 0) {
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            goto out;
        }
        pos = eol + 1;
    }
    if (chunked) {
        rc = dechunk(c, eh, w, &in, pos, &body);
    } else if (have_len) {
        if ((rc = need(c, eh, w, &in, pos, clen)) == 0 && phi_kms_bytes_append(&body, in.data + pos, clen) != 0)
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    } else {
        /* No length: the body runs to the end of the stream. */
        long r;
        while ((r = fill(c, eh, w, &in)) > 0)
            if (in.len - pos > MAX_BODY_BYTES) {
                r = bad(eh, w, "reply body too large");
                break;
            }
        rc = r < 0 ? (int)r : 0;
        if (rc == 0 && phi_kms_bytes_append(&body, in.data + pos, in.len - pos) != 0)
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    if (rc != 0)
        goto out;
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", body.len);
    if (phi_kms_bytes_append(&head, cl, strlen(cl)) != 0 ||
        (body.len && phi_kms_bytes_append(&head, body.data, body.len) != 0)) {
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        goto out;
    }
    out->data = head.data;
    out->len = head.len;
    out->http_status = status;
    head.data = NULL;
    head.cap = 0;
out:
    phi_kms_bytes_free(&in);
    phi_kms_bytes_free(&head);
    phi_kms_bytes_free(&body);
    return rc;
}
