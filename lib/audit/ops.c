/* Operator commands on the audit log: resume after truncation or
 * rollback, key rotation, public keys, and which key versions the log
 * still needs. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include <phicrypt.h>
#include "audit/audit_impl_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/mem_private.h"

static void operator_actor(char actor[32])
{
    snprintf(actor, 32, "uid:%lu", (unsigned long)getuid());
}

int phicrypt_audit_resume(phicrypt_t *ph, const char *reason)
{
    phi_audit_lock lk;
    phi_sbuf b = { 0 };
    char actor[32];
    size_t start;
    int rc;
    if (!ph || !reason || !*reason)
        return phi_error(ph, PHICRYPT_EINVAL, "audit resume: give a reason");
    if ((rc = phi_audit_lock_open(ph, &lk, 2)) != 0)
        return rc;
    if (!lk.behind) {
        phi_audit_lock_close(ph, &lk, 0);
        return phi_error(ph, PHICRYPT_EINVAL, "audit resume: the log %s is not behind its anchors; nothing to resume",
                         phi_audit_path(ph));
    }
    operator_actor(actor);
    start = phi_audit_line_begin(&b, &lk.tail);
    phi_sb_time(&b);
    phi_sb_field(&b, "actor", actor);
    phi_sb_field(&b, "op", "resumed");
    phi_sb_field(&b, "reason", reason);
    phi_sb_field(&b, "found", lk.behind_why);
    phi_sb_int(&b, "log_seq", lk.tail.seq);
    phi_sb_int(&b, "anchored_seq", lk.behind_seq);
    phi_sb_hex(&b, "anchored_sha256", lk.behind_sha, 32);
    phi_audit_line_end(&b, start, &lk.tail);
    /* Signed at once: an acknowledgement only counts under a signature. */
    if ((rc = phi_audit_add_checkpoint(ph, &lk, &b, 0)) == 0 && (rc = phi_audit_commit(ph, &lk, &b)) == 0)
        rc = phi_audit_anchor_out(ph, &lk, &b);
    phi_audit_lock_close(ph, &lk, rc == 0);
    phi_free(b.p);
    return rc;
}

int phicrypt_audit_rotate_key(phicrypt_t *ph, uint32_t *new_version, int subject_key)
{
    phi_audit *a = phi_audit_of(ph);
    phi_audit_lock lk;
    phi_sbuf b = { 0 };
    char actor[32];
    uint32_t v = 0;
    size_t start;
    int rc;
    if (new_version)
        *new_version = 0;
    if (!a || !a->keys.rotate)
        return phi_error(ph, PHICRYPT_EUNSUPPORTED, "no audit log is configured (\"audit\": {\"path\": ...})");
    /* The keyring records its own "keyring_rotate" line (outside our lock). */
    if ((rc = a->keys.rotate(ph, subject_key ? PHI_AUDIT_SUBJECT_KEY : PHI_AUDIT_SIGN_KEY, &v)) != 0)
        return rc;
    if ((rc = phi_audit_lock_open(ph, &lk, 1)) != 0)
        return phi_error_wrap(ph, rc, "audit rotate-key: version %u was added but the log does not name it yet", v);
    if (subject_key) {
        operator_actor(actor);
        lk.tail.skv = v;
        start = phi_audit_line_begin(&b, &lk.tail);
        phi_sb_time(&b);
        phi_sb_field(&b, "actor", actor);
        phi_sb_field(&b, "op", "subject_key_rotate");
        phi_sb_field(&b, "key_name", "audit:subject");
        phi_sb_int(&b, "key_version", v);
        phi_audit_line_end(&b, start, &lk.tail);
        rc = phi_audit_add_checkpoint(ph, &lk, &b, 0);
    } else if (lk.tail.seq == 0) {
        lk.tail.kv = v; /* a new log starts with the new key */
    } else {
        rc = phi_audit_add_checkpoint(ph, &lk, &b, v);
    }
    if (rc == 0 && b.n && (rc = phi_audit_commit(ph, &lk, &b)) == 0)
        rc = phi_audit_anchor_out(ph, &lk, &b);
    phi_audit_lock_close(ph, &lk, rc == 0 && b.n);
    phi_free(b.p);
    if (rc == 0 && new_version)
        *new_version = v;
    return rc;
}

int phicrypt_audit_checkpoint(phicrypt_t *ph)
{
    phi_audit_lock lk;
    phi_sbuf b = { 0 };
    int rc;
    if (!ph)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_checkpoint: NULL argument");
    if ((rc = phi_audit_lock_open(ph, &lk, 1)) != 0)
        return rc;
    if (!lk.tail.is_checkpoint && lk.tail.seq > 0 && (rc = phi_audit_add_checkpoint(ph, &lk, &b, 0)) == 0 &&
        (rc = phi_audit_commit(ph, &lk, &b)) == 0)
        rc = phi_audit_anchor_out(ph, &lk, &b);
    phi_audit_lock_close(ph, &lk, rc == 0 && b.n);
    phi_free(b.p);
    return rc;
}

/* The key versions the log names: bit v of *sign / *subject (v < 64), and
 * whether any line names one at all. */
static int versions_used(phicrypt_t *ph, uint64_t *sign, uint64_t *subject, int *any)
{
    const char *path = phi_audit_path(ph);
    char *text = NULL;
    size_t len = 0, i = 0;
    int rc;
    *sign = *subject = 0;
    *any = 0;
    if (!path)
        return 0;
    if (access(path, F_OK) != 0)
        return 0;
    if ((rc = phi_file_read_all(ph, PHICRYPT_EIO, path, &text, &len)) != 0)
        return rc;
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
        phi_audit_meta m;
        if (l && phi_audit_meta_parse(text + i, l, &m) == 0) {
            *any = 1;
            if (m.kv >= 1 && m.kv < 64)
                *sign |= 1ull << m.kv;
            if (m.kv_new >= 1 && m.kv_new < 64)
                *sign |= 1ull << m.kv_new;
            if (m.skv >= 1 && m.skv < 64)
                *subject |= 1ull << m.skv;
        }
        i += l + 1;
    }
    phi_free(text);
    return 0;
}

int phi_audit_needs_key(phicrypt_t *ph, const char *name, uint32_t version)
{
    uint64_t sign, subject, set;
    int any, rc = versions_used(ph, &sign, &subject, &any);
    if (rc != 0)
        return rc;
    if (strcmp(name, "audit:sign") == 0)
        set = sign;
    else if (strcmp(name, "audit:subject") == 0)
        set = subject;
    else
        return 0;
    if (version == 0)
        return set != 0;
    return version >= 64 || ((set >> version) & 1) != 0;
}

int phicrypt_audit_public_keys(phicrypt_t *ph, phicrypt_buf *out)
{
    phi_sbuf b = { 0 };
    uint32_t current = 0, got;
    uint8_t pk[32];
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_audit_public_keys: NULL argument");
    if ((rc = phi_audit_public_key(ph, 0, &current, pk)) != 0)
        return rc;
    /* Every version still in the keyring, oldest first. */
    for (uint32_t v = 1; v <= current; v++) {
        char line[160], hex[65];
        if (phi_audit_public_key(ph, v, &got, pk) != 0 || got != v) {
            phi_error_clear(ph);
            continue;
        }
        sodium_bin2hex(hex, sizeof hex, pk, 32);
        snprintf(line, sizeof line, "{\"key\":\"audit:sign\",\"kv\":%u,\"ed25519\":\"%s\"}\n", v, hex);
        phi_sb_lit(&b, line);
    }
    if (b.oom) {
        phi_free(b.p);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    phi_buf_give(out, b.p, b.n);
    return 0;
}
