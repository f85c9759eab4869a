/* Reading the audit log: verification (chain, checkpoint signatures,
 * anchors) with public keys only, and the accounting of disclosures. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <phicrypt.h>
#include "audit/audit_impl_private.h"
#include "core/config_private.h"
#include "core/handle_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"

#define CHAIN_TAG ",\"chain\":\""
#define SIG_TAG ",\"sig\":\""
#define MAX_KEYS 256

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

/* One line of a file, as found. */
typedef struct line_ref {
    const char *p;
    size_t len;
    int complete; /* ended by '\n' */
    phi_audit_meta m;
    int shaped;   /* parses and ends in a chain */
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
        }
        n++;
        i += l + 1;
    }
    return n;
}

static line_ref *load_lines(char *text, size_t len, size_t *n)
{
    line_ref *lines;
    *n = split_lines(text, len, NULL);
    if (!(lines = phi_calloc(*n ? *n : 1, sizeof *lines)))
        return NULL;
    split_lines(text, len, lines);
    for (size_t i = 0; i < *n; i++) {
        size_t cl;
        uint8_t c[32];
        lines[i].shaped = lines[i].complete && phi_audit_split_line(lines[i].p, lines[i].len, &cl, c) == 0 &&
                          phi_audit_meta_parse(lines[i].p, lines[i].len, &lines[i].m) == 0 && lines[i].m.seq >= 1;
    }
    return lines;
}

static int doc_hex(const bson_t *d, const char *k, uint8_t *out, size_t n)
{
    bson_iter_t it;
    const char *s;
    if (!bson_iter_init_find(&it, d, k) || !BSON_ITER_HOLDS_UTF8(&it))
        return -1;
    s = bson_iter_utf8(&it, NULL);
    if (strlen(s) != 2 * n)
        return -1;
    return sodium_hex2bin(out, n, s, 2 * n, NULL, NULL, NULL) == 0 ? 0 : -1;
}

static int64_t doc_int(const bson_t *d, const char *k)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, k) && (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)))
        return bson_iter_as_int64(&it);
    return -1;
}

/* ------------------------------------------------------------ key table */

typedef struct keytab {
    uint32_t kv[MAX_KEYS];
    uint8_t pk[MAX_KEYS][32];
    size_t n;
    phicrypt_t *ph; /* fetches more from the keyring when set */
} keytab;

static const uint8_t *key_find(keytab *t, uint32_t kv)
{
    uint32_t got;
    for (size_t i = 0; i < t->n; i++)
        if (t->kv[i] == kv)
            return t->pk[i];
    if (t->ph && t->n < MAX_KEYS && phi_audit_public_key(t->ph, kv, &got, t->pk[t->n]) == 0 && got == kv) {
        t->kv[t->n] = kv;
        return t->pk[t->n++];
    }
    return NULL;
}

static void key_add(keytab *t, uint32_t kv, const uint8_t pk[32])
{
    if (t->n < MAX_KEYS) {
        t->kv[t->n] = kv;
        memcpy(t->pk[t->n++], pk, 32);
    }
}

static int parse_pubkeys(phicrypt_t *ph, keytab *t, const char *text)
{
    size_t n, len = strlen(text);
    char *copy = phi_strdup(text);
    line_ref *lines;
    int rc = 0;
    if (!copy)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    n = split_lines(copy, len, NULL);
    if (!(lines = phi_calloc(n ? n : 1, sizeof *lines))) {
        phi_free(copy);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    split_lines(copy, len, lines);
    for (size_t i = 0; i < n && rc == 0; i++) {
        bson_t d;
        bson_error_t err;
        uint8_t pk[32];
        int64_t kv;
        if (lines[i].len == 0)
            continue;
        if (!bson_init_from_json(&d, lines[i].p, (ssize_t)lines[i].len, &err)) {
            rc = phi_error(ph, PHICRYPT_EBADDATA, "public key file, line %zu: not JSON", i + 1);
            continue;
        }
        kv = doc_int(&d, "kv");
        if (kv < 1 || kv > UINT32_MAX || doc_hex(&d, "ed25519", pk, 32) != 0)
            rc = phi_error(ph, PHICRYPT_EBADDATA,
                           "public key file, line %zu: needs {\"kv\": N, \"ed25519\": \"<64 hex digits>\"}", i + 1);
        else
            key_add(t, (uint32_t)kv, pk);
        bson_destroy(&d);
    }
    phi_free(lines);
    phi_free(copy);
    if (rc == 0 && t->n == 0)
        rc = phi_error(ph, PHICRYPT_EBADDATA, "public key file: no key in it");
    return rc;
}

/* The text a checkpoint's signatures cover: the line up to ,"sig":". */
static size_t signed_len(const line_ref *l)
{
    const size_t tl = sizeof SIG_TAG - 1;
    for (size_t i = 0; i + tl <= l->len; i++)
        if (memcmp(l->p + i, SIG_TAG, tl) == 0)
            return i;
    return 0;
}

static int sig_ok(const line_ref *l, const bson_t *d, const char *sig_name, const uint8_t *pk)
{
    uint8_t sig[64];
    size_t sl = signed_len(l);
    if (!pk || !sl || doc_hex(d, sig_name, sig, 64) != 0)
        return 0;
    return crypto_sign_verify_detached(sig, (const uint8_t *)l->p, sl, pk) == 0;
}

/* A rotation checkpoint signed by a trusted key vouches for the other. */
static void propagate_trust(keytab *t, line_ref *lines, size_t n)
{
    int changed = 1;
    while (changed) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            bson_t d;
            bson_error_t err;
            uint8_t pk[32], pk_new[32];
            const uint8_t *have_old, *have_new;
            if (!lines[i].shaped || lines[i].m.kv_new < 1 || strcmp(lines[i].m.op, "checkpoint") != 0)
                continue;
            if (!bson_init_from_json(&d, lines[i].p, (ssize_t)lines[i].len, &err))
                continue;
            if (doc_hex(&d, "pk", pk, 32) == 0 && doc_hex(&d, "pk_new", pk_new, 32) == 0) {
                have_old = key_find(t, (uint32_t)lines[i].m.kv);
                have_new = key_find(t, (uint32_t)lines[i].m.kv_new);
                if (have_old && !have_new && memcmp(have_old, pk, 32) == 0 && sig_ok(&lines[i], &d, "sig", pk) &&
                    sig_ok(&lines[i], &d, "sig_new", pk_new)) {
                    key_add(t, (uint32_t)lines[i].m.kv_new, pk_new);
                    changed = 1;
                } else if (have_new && !have_old && memcmp(have_new, pk_new, 32) == 0 &&
                           sig_ok(&lines[i], &d, "sig_new", pk_new) && sig_ok(&lines[i], &d, "sig", pk)) {
                    key_add(t, (uint32_t)lines[i].m.kv, pk);
                    changed = 1;
                }
            }
            bson_destroy(&d);
        }
    }
}

/* ---------------------------------------------------------- verification */

typedef struct report_buf {
    char msg[1024];
} report_buf;

static int say(report_buf *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(report_buf *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* Whether line i is a fragment that the next line (a "repaired" entry)
 * accounts for: same length and SHA-256. */
static int repaired_fragment(line_ref *lines, size_t n, size_t i)
{
    bson_t d;
    bson_error_t err;
    uint8_t h[32], want[32];
    int ok = 0;
    if (i + 1 >= n || !lines[i + 1].shaped || strcmp(lines[i + 1].m.op, "repaired") != 0)
        return 0;
    if (!bson_init_from_json(&d, lines[i + 1].p, (ssize_t)lines[i + 1].len, &err))
        return 0;
    crypto_hash_sha256(h, (const uint8_t *)lines[i].p, lines[i].len);
    if (doc_int(&d, "torn_bytes") == (int64_t)lines[i].len && doc_hex(&d, "torn_sha256", want, 32) == 0 &&
        memcmp(h, want, 32) == 0)
        ok = 1;
    bson_destroy(&d);
    return ok;
}

typedef struct resumed_ref {
    size_t line;
    uint8_t sha[32];
} resumed_ref;

/* Every checkpoint an anchor holds must be in the log byte for byte, or
 * acknowledged by a signed "resumed" entry naming it or a later one. */
static int check_anchor_text(phicrypt_t *ph, report_buf *r, const char *apath, char *text, size_t len,
                             line_ref **good, size_t n_good, const resumed_ref *res, size_t n_res, size_t last_cp,
                             size_t *matched)
{
    size_t n;
    line_ref *al;
    int rc = 0;
    int64_t ack_upto = -1;
    if (!(al = phi_calloc((n = split_lines(text, len, NULL)) ? n : 1, sizeof *al))) {
        phi_free(text);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    split_lines(text, len, al);
    for (size_t j = 0; j < n; j++) {
        uint8_t h[32];
        if (!al[j].complete)
            continue;
        crypto_hash_sha256(h, (const uint8_t *)al[j].p, al[j].len);
        for (size_t k = 0; k < n_res; k++)
            if (res[k].line <= last_cp && memcmp(res[k].sha, h, 32) == 0 && (int64_t)j > ack_upto)
                ack_upto = (int64_t)j;
    }
    for (size_t j = 0; j < n && rc == 0; j++) {
        phi_audit_meta m;
        size_t lo = 0, hi = n_good;
        int found = 0;
        if (!al[j].complete || al[j].len == 0)
            continue; /* a torn last anchor line is an interrupted copy */
        if (phi_audit_meta_parse(al[j].p, al[j].len, &m) != 0 || m.seq < 1) {
            rc = say(r, PHICRYPT_EAUTH, "anchor %s, line %zu: not a checkpoint", apath, j + 1);
            break;
        }
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (good[mid]->m.seq < m.seq)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n_good && good[lo]->m.seq == m.seq && good[lo]->len == al[j].len &&
            memcmp(good[lo]->p, al[j].p, al[j].len) == 0)
            found = 1;
        if (found)
            (*matched)++;
        else if ((int64_t)j > ack_upto)
            rc = say(r, PHICRYPT_EAUTH,
                     "anchor %s holds checkpoint seq %lld (line %zu) that the log does not: the log was truncated or "
                     "rolled back",
                     apath, (long long)m.seq, j + 1);
    }
    phi_free(al);
    phi_free(text);
    return rc;
}

/* A file anchor, or a MongoDB anchor's checkpoints of this log (by its id,
 * so an auditor's copy of the log under any name finds them). */
static int check_anchor(phicrypt_t *ph, report_buf *r, const char *apath, phi_audit_manchor *ma,
                        const uint8_t log_id[16], line_ref **good, size_t n_good, const resumed_ref *res, size_t n_res,
                        size_t last_cp, size_t *matched)
{
    char *text = NULL, hex[33];
    size_t len = 0;
    int rc;
    if (ma) {
        sodium_bin2hex(hex, sizeof hex, log_id, 16);
        rc = phi_audit_manchor_text(ma, ph, hex, &text, &len);
    } else {
        rc = phi_file_read_all(ph, PHICRYPT_EIO, apath, &text, &len);
    }
    if (rc != 0)
        return rc;
    if (!text)
        return 0;
    return check_anchor_text(ph, r, apath, text, len, good, n_good, res, n_res, last_cp, matched);
}

int phi_audit_verify_text(phicrypt_t *ph, phicrypt_buf *out, int *torn_last, char *text, size_t len,
                          const char *pubkeys, const char *const *anchors)
{
    return phi_audit_verify_text_with(ph, out, torn_last, text, len, pubkeys, anchors, NULL);
}

int phi_audit_verify_text_with(phicrypt_t *ph, phicrypt_buf *out, int *torn_last, char *text, size_t len,
                               const char *pubkeys, const char *const *anchors, phi_audit_manchor *const *manchors)
{
    size_t n, good = 0, checkpoints = 0, last_cp = 0, n_res = 0, matched = 0, n_anchor_files = 0;
    line_ref *lines = NULL, **goods = NULL;
    resumed_ref *res = NULL;
    uint8_t prev[32] = { 0 }, log_id[16] = { 0 };
    int64_t last_seq = 0, cur_kv = -1, last_signed_seq = 0;
    int rc = 0, pending_fragment = 0;
    keytab *keys = NULL;
    report_buf r;
    r.msg[0] = '\0';
    *torn_last = 0;
    if (!(lines = load_lines(text, len, &n)) || !(goods = phi_calloc(n ? n : 1, sizeof *goods)) ||
        !(res = phi_calloc(n ? n : 1, sizeof *res)) || !(keys = phi_calloc(1, sizeof *keys))) {
        rc = phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        goto done;
    }
    if (pubkeys) {
        if ((rc = parse_pubkeys(ph, keys, pubkeys)) != 0)
            goto done;
    } else {
        keys->ph = ph;
    }
    propagate_trust(keys, lines, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        line_ref *l = &lines[i];
        size_t content_len;
        uint8_t chain[32], want[32];
        int64_t expect = last_seq + 1;
        if (!l->complete) {
            if (l->len > 0)
                *torn_last = 1; /* only the last line can lack its newline */
            continue;
        }
        if (repaired_fragment(lines, n, i)) {
            pending_fragment = 1;
            continue;
        }
        if (!l->shaped) {
            rc = say(&r, PHICRYPT_EAUTH,
                     "line %zu: not an audit line: edited, or a torn line in the middle of the log that no "
                     "'repaired' entry accounts for (only the last line may be torn)",
                     i + 1);
            break;
        }
        if (strcmp(l->m.op, "repaired") == 0 && !pending_fragment) {
            rc = say(&r, PHICRYPT_EAUTH, "line %zu: a 'repaired' entry without the torn line it names", i + 1);
            break;
        }
        pending_fragment = 0;
        if (good == 0 && (l->m.kv < 1 || l->m.skv < 1)) {
            rc = say(&r, PHICRYPT_EBADDATA, "line %zu: an audit log v1 line (no key versions): verify this log "
                     "with the phicrypt version that wrote it", i + 1);
            break;
        }
        phi_audit_split_line(l->p, l->len, &content_len, chain);
        phi_audit_chain(prev, l->p, content_len, want);
        if (l->m.seq != expect) {
            int later = 0;
            for (size_t j = i + 1; j < n; j++)
                if (lines[j].shaped && lines[j].m.seq == expect)
                    later = 1;
            if (l->m.seq > expect && !later)
                rc = say(&r, PHICRYPT_EAUTH, "line %zu: sequence %lld where %lld was expected: %lld line(s) deleted before it",
                         i + 1, (long long)l->m.seq, (long long)expect, (long long)(l->m.seq - expect));
            else
                rc = say(&r, PHICRYPT_EAUTH,
                         "line %zu: sequence %lld where %lld was expected: lines were reordered or duplicated", i + 1,
                         (long long)l->m.seq, (long long)expect);
            break;
        }
        if (!phi_ct_equal(want, chain, sizeof want)) {
            rc = say(&r, PHICRYPT_EAUTH, "line %zu: chain value does not match: the line was edited, or forged", i + 1);
            break;
        }
        if (cur_kv >= 0 && l->m.kv != cur_kv) {
            rc = say(&r, PHICRYPT_EAUTH, "line %zu: names signing key version %lld where %lld was expected", i + 1,
                     (long long)l->m.kv, (long long)cur_kv);
            break;
        }
        if (good == 0)
            memcpy(log_id, chain, sizeof log_id);
        cur_kv = l->m.kv;
        if (strcmp(l->m.op, "checkpoint") == 0) {
            bson_t d;
            bson_error_t err;
            uint8_t id[16], head[32];
            const uint8_t *pk = key_find(keys, (uint32_t)l->m.kv), *pk_new = NULL;
            if (!bson_init_from_json(&d, l->p, (ssize_t)l->len, &err)) {
                rc = say(&r, PHICRYPT_EAUTH, "line %zu: checkpoint is not JSON", i + 1);
                break;
            }
            /* The signature first: it is what an attacker cannot redo. */
            if (!pk)
                rc = say(&r, PHICRYPT_EKEYNOTFOUND,
                         "line %zu: cannot check the checkpoint: no public key for signing key version %lld "
                         "(give it with --public-key)",
                         i + 1, (long long)l->m.kv);
            else if (!sig_ok(l, &d, "sig", pk))
                rc = say(&r, PHICRYPT_EAUTH, "line %zu: checkpoint signature (key version %lld) does not verify: "
                         "edited or forged", i + 1, (long long)l->m.kv);
            else if (l->m.kv_new > 0 && (!(pk_new = key_find(keys, (uint32_t)l->m.kv_new)) ||
                                         !sig_ok(l, &d, "sig_new", pk_new)))
                rc = say(&r, PHICRYPT_EAUTH, "line %zu: key rotation checkpoint: the new key's signature "
                         "(version %lld) does not verify", i + 1, (long long)l->m.kv_new);
            else if (doc_hex(&d, "log_id", id, 16) != 0 || memcmp(id, log_id, 16) != 0)
                rc = say(&r, PHICRYPT_EAUTH, "line %zu: checkpoint of another log (log_id differs)", i + 1);
            else if (doc_hex(&d, "head", head, 32) != 0 || memcmp(head, prev, 32) != 0)
                rc = say(&r, PHICRYPT_EAUTH, "line %zu: checkpoint head is not the chain of the line before it", i + 1);
            bson_destroy(&d);
            if (rc != 0)
                break;
            if (l->m.kv_new > 0)
                cur_kv = l->m.kv_new;
            checkpoints++;
            last_cp = i;
            last_signed_seq = l->m.seq;
        } else if (strcmp(l->m.op, "resumed") == 0) {
            bson_t d;
            bson_error_t err;
            if (bson_init_from_json(&d, l->p, (ssize_t)l->len, &err)) {
                if (doc_hex(&d, "anchored_sha256", res[n_res].sha, 32) == 0)
                    res[n_res++].line = i;
                bson_destroy(&d);
            }
        }
        memcpy(prev, chain, sizeof prev);
        last_seq = l->m.seq;
        goods[good++] = l;
    }
    if (rc == 0 && pending_fragment)
        rc = say(&r, PHICRYPT_EAUTH, "the log ends in a closed-off torn line without its 'repaired' entry");
    for (size_t i = 0; rc == 0 && anchors && anchors[i]; i++, n_anchor_files++)
        rc = check_anchor(ph, &r, anchors[i], manchors ? manchors[i] : NULL, log_id, goods, good, res, n_res,
                          checkpoints ? last_cp : 0, &matched);
    if (rc == 0) {
        size_t unsigned_tail = 0;
        for (size_t i = 0; i < good; i++)
            if (goods[i]->m.seq > last_signed_seq)
                unsigned_tail++;
        say(&r, 0, "intact: %zu lines, %zu signed checkpoint%s (last at seq %lld), %zu line%s after it not yet signed%s%s",
            good, checkpoints, checkpoints == 1 ? "" : "s", (long long)last_signed_seq, unsigned_tail,
            unsigned_tail == 1 ? "" : "s", n_anchor_files ? "; anchors reached" : "; no anchors checked",
            *torn_last ? "; the last line is torn (an append was interrupted by a crash): not tampering" : "");
        if (n_anchor_files) {
            char more[64];
            snprintf(more, sizeof more, " (%zu anchored checkpoint%s found)", matched, matched == 1 ? "" : "s");
            strncat(r.msg, more, sizeof r.msg - strlen(r.msg) - 1);
        }
    }
done:
    if (r.msg[0] && out) {
        char *m = phi_strdup(r.msg);
        if (m)
            phi_buf_give(out, m, strlen(m));
    }
    if (rc != 0 && r.msg[0])
        phi_error(ph, rc, "audit log: %s", r.msg);
    else if (rc == 0)
        phi_error_clear(ph);
    phi_free(keys);
    phi_free(res);
    phi_free(goods);
    phi_free(lines);
    return rc;
}

int phicrypt_audit_verify_log(phicrypt_t *ph, phicrypt_buf *report, int *torn_last, const char *path,
                              const phicrypt_audit_verify_opts *opts)
{
    char *text = NULL, *keytext = NULL;
    size_t len = 0, klen = 0;
    const char *anchors[2] = { NULL, NULL };
    const char *const *use_anchors;
    phi_audit_manchor *given[2] = { NULL, NULL }, *const *use_manchors = NULL;
    int rc, torn = 0;
    /* A report is written on failure too: a stale one from an earlier
     * call must not be read as this call's (nor leak). */
    phicrypt_buf_dispose(report);
    if (torn_last)
        *torn_last = 0;
    if (opts && opts->version != PHICRYPT_AUDIT_VERIFY_OPTS_VERSION)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_verify_log: opts version %u unknown", opts->version);
    if (!path && !(path = phi_audit_path(ph)))
        return phi_error(ph, PHICRYPT_EINVAL, "audit verify: no log file given and no \"audit.path\" configured");
    if ((!opts || !opts->public_key_file) && !phi_audit_of(ph))
        return phi_error(ph, PHICRYPT_EINVAL,
                         "audit verify: give the public key file (without a configuration there is no keyring)");
    if (opts && opts->anchors_file && phi_audit_manchor_spec(opts->anchors_file)) {
        /* "mongodb" (the configured key vault's deployment) or a URI. */
        const phi_config *cfg = ph ? ph->cfg : NULL;
        if ((rc = phi_audit_manchor_new(&given[0], ph, "audit verify --anchors", opts->anchors_file)) != 0 ||
            (rc = phi_audit_manchor_bind(given[0], ph, cfg ? cfg->key_vault : NULL, cfg ? cfg->key_vault_ns : NULL,
                                         NULL)) != 0) {
            phi_audit_manchor_free(given[0]);
            return rc;
        }
        anchors[0] = phi_audit_manchor_name(given[0]);
        use_anchors = anchors;
        use_manchors = given;
    } else if (opts && opts->anchors_file) {
        anchors[0] = opts->anchors_file;
        use_anchors = anchors;
    } else {
        use_anchors = phi_audit_anchor_files(ph);
        use_manchors = phi_audit_mongo_anchors(ph);
    }
    if (opts && opts->public_key_file &&
        (rc = phi_file_read_all(ph, PHICRYPT_EIO, opts->public_key_file, &keytext, &klen)) != 0) {
        phi_audit_manchor_free(given[0]);
        return rc;
    }
    if ((rc = phi_file_read_all(ph, PHICRYPT_EIO, path, &text, &len)) == 0)
        rc = phi_audit_verify_text_with(ph, report, &torn, text, len, keytext, use_anchors, use_manchors);
    phi_audit_manchor_free(given[0]);
    if (torn_last)
        *torn_last = torn;
    phi_free(text);
    phi_free(keytext);
    return rc;
}

int phicrypt_audit_verify(phicrypt_t *ph, phicrypt_buf *report, const char *path)
{
    int torn = 0, rc;
    if (!ph)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_verify: NULL argument");
    rc = phicrypt_audit_verify_log(ph, report, &torn, path, NULL);
    if (rc == 0 && torn)
        rc = phi_error(ph, PHICRYPT_EBADDATA, "audit log: the last line is torn (an interrupted append); the rest "
                                              "is intact");
    return rc;
}

/* ---------------------------------------------------------- disclosures */

static int is_disclosure(const char *op)
{
    return strcmp(op, "decrypt") == 0 || strcmp(op, "detokenize") == 0 || strcmp(op, "reid") == 0;
}

#define MAX_SKV 64

int phicrypt_audit_accounting(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value,
                              const phicrypt_audit_accounting_opts *opts)
{
    char subs[MAX_SKV][PHI_AUDIT_SUBJECT_TEXT], *text = NULL, idx[16];
    uint32_t skvs[MAX_SKV];
    size_t n_skv = 0, len = 0, n;
    const char *path, *key;
    line_ref *lines;
    bson_t res = BSON_INITIALIZER, arr;
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    uint32_t count = 0;
    int64_t since_ms = opts ? opts->since_ms : 0;
    int rc, torn = 0, verified;
    if (!ph || !out || !subject_value)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_accounting: NULL argument");
    if (opts && opts->version != PHICRYPT_AUDIT_ACCOUNTING_OPTS_VERSION)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_accounting: opts version %u unknown", opts->version);
    if (!(path = phi_audit_path(ph)))
        return phi_error(ph, PHICRYPT_EUNSUPPORTED, "no audit log is configured (\"audit\": {\"path\": ...})");
    /* Verify first: an accounting from a log that was tampered with is
     * not evidence. */
    rc = phicrypt_audit_verify_log(ph, &rep, &torn, NULL, NULL);
    verified = rc == 0;
    if (rc != 0 && rc != PHICRYPT_EAUTH && rc != PHICRYPT_EKEYNOTFOUND) {
        phicrypt_buf_dispose(&rep);
        return rc;
    }
    if (!verified && !(opts && opts->unverified)) {
        rc = phi_error(ph, PHICRYPT_EAUTH, "audit log does not verify (%s): refusing the accounting (it would not "
                                           "be evidence); --unverified overrides",
                       rep.data ? (const char *)rep.data : "?");
        phicrypt_buf_dispose(&rep);
        return rc;
    }
    if ((rc = phi_file_read_all(ph, PHICRYPT_EIO, path, &text, &len)) != 0) {
        phicrypt_buf_dispose(&rep);
        return rc;
    }
    if (!(lines = load_lines(text, len, &n))) {
        phi_free(text);
        phicrypt_buf_dispose(&rep);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    BSON_APPEND_BOOL(&res, "verified", verified);
    BSON_APPEND_UTF8(&res, "verify_report", rep.data ? (const char *)rep.data : "");
    BSON_APPEND_ARRAY_BEGIN(&res, "disclosures", &arr);
    for (size_t i = 0; i < n && rc == 0; i++) {
        bson_t doc;
        bson_error_t err;
        bson_iter_t it;
        const char *want = NULL;
        int match = 1;
        if (!lines[i].shaped || lines[i].m.skv < 1 || !is_disclosure(lines[i].m.op))
            continue;
        /* The pseudonym under the subject key version the line names. */
        for (size_t k = 0; k < n_skv; k++)
            if (skvs[k] == (uint32_t)lines[i].m.skv)
                want = subs[k];
        if (!want && n_skv < MAX_SKV) {
            if ((rc = phi_audit_subject(ph, subs[n_skv], (uint32_t)lines[i].m.skv, NULL, subject_value,
                                        strlen(subject_value))) != 0)
                break;
            skvs[n_skv] = (uint32_t)lines[i].m.skv;
            want = subs[n_skv++];
        }
        if (!want || !bson_init_from_json(&doc, lines[i].p, (ssize_t)lines[i].len, &err))
            continue;
        if (!bson_iter_init_find(&it, &doc, "subject") || !BSON_ITER_HOLDS_UTF8(&it) ||
            strcmp(bson_iter_utf8(&it, NULL), want) != 0)
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
    if (rc == 0) {
        char sub[PHI_AUDIT_SUBJECT_TEXT];
        if ((rc = phi_audit_subject(ph, sub, 0, NULL, subject_value, strlen(subject_value))) == 0) {
            BSON_APPEND_UTF8(&res, "subject", sub);
            rc = phi_buf_from_bson(ph, out, &res);
        }
    }
    bson_destroy(&res);
    phi_free(lines);
    phi_free(text);
    phicrypt_buf_dispose(&rep);
    return rc;
}

int phicrypt_audit_disclosures(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value, int64_t since_ms)
{
    phicrypt_audit_accounting_opts o = PHICRYPT_AUDIT_ACCOUNTING_OPTS_INIT;
    o.since_ms = since_ms;
    return phicrypt_audit_accounting(ph, out, subject_value, &o);
}

int phicrypt_audit_subject_id(phicrypt_t *ph, phicrypt_buf *out, const char *subject_value)
{
    char sub[PHI_AUDIT_SUBJECT_TEXT];
    int rc;
    if (!ph || !out || !subject_value)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_subject_id: NULL argument");
    if ((rc = phi_audit_subject(ph, sub, 0, NULL, subject_value, strlen(subject_value))) != 0)
        return rc;
    {
        char *s = phi_strdup(sub);
        if (!s)
            return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        phi_buf_give(out, s, strlen(s));
    }
    return 0;
}
