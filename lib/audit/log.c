/* The audit log: configuration, appends, signed checkpoints and anchors.
 *
 * Line: {"seq":N,"kv":K,"skv":J,<event>,"chain":"<hex>"} where chain =
 * SHA-256(previous chain || the line up to ,"chain"), K is the signing key
 * version whose next checkpoint covers the line and J the subject key
 * version of its pseudonym. A checkpoint is a line with "op":"checkpoint",
 * "log_id", "head" (the previous chain) and "sig" (Ed25519 over the line up
 * to ,"sig"); a rotation checkpoint also carries kv_new, pk, pk_new and
 * sig_new. Every append happens under flock(LOCK_EX) with one write(2); a
 * short write or failed fsync truncates back to the old size. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <phicrypt.h>
#include "audit/audit_private.h"
#include "audit/audit_impl_private.h"
#include "core/config_private.h"
#include "core/handle_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"

static const char *const audit_keys[] = { "path", "subject_field", "fsync", "anchors", "checkpoint_every", NULL };

static int parse_anchors(phi_audit *a, const void *eh, bson_iter_t *it, const char *base_dir)
{
    bson_iter_t c;
    size_t n = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'audit.anchors' must be an array of strings");
    while (bson_iter_next(&c))
        n++;
    if (!(a->anchors = phi_calloc(n + 1, sizeof *a->anchors)) || !(a->acache = phi_calloc(n + 1, sizeof *a->acache)) ||
        !(a->manchors = phi_calloc(n + 1, sizeof *a->manchors)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    bson_iter_recurse(it, &c);
    n = 0;
    while (bson_iter_next(&c)) {
        const char *v = BSON_ITER_HOLDS_UTF8(&c) ? bson_iter_utf8(&c, NULL) : NULL;
        if (phi_audit_manchor_spec(v)) {
            /* Connected once the key vault is known (phi_audit_bind). */
            char what[64];
            int rc;
            snprintf(what, sizeof what, "configuration: 'audit.anchors[%zu]'", n);
            if ((rc = phi_audit_manchor_new(&a->manchors[n], eh, what, v)) != 0)
                return rc;
            if (!(a->anchors[n++] = phi_strdup("mongodb")))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            continue;
        }
        if (!v || strncmp(v, "file:", 5) != 0 || !v[5])
            return phi_error(eh, PHICRYPT_ECONFIG,
                             "configuration: 'audit.anchors[%zu]' must be \"file:PATH\", \"mongodb\" or a mongodb:// URI",
                             n);
        if (!(a->anchors[n++] = phi_path_resolve(base_dir, v + 5)))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_every(phi_audit *a, const void *eh, bson_iter_t *it)
{
    bson_iter_t c;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG,
                         "configuration: 'audit.checkpoint_every' must be {\"lines\": N, \"seconds\": T}");
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        int64_t v = BSON_ITER_HOLDS_NUMBER(&c) ? bson_iter_as_int64(&c) : -1;
        if (strcmp(k, "lines") == 0 && v >= 1 && v <= 100000000)
            a->cp_lines = v;
        else if (strcmp(k, "seconds") == 0 && v >= 0 && v <= 86400 * 366)
            a->cp_ms = v * 1000;
        else
            return phi_error(eh, PHICRYPT_ECONFIG,
                             "configuration: 'audit.checkpoint_every.%s': lines (1 or more) and seconds (0 or more) "
                             "are the members, as integers", k);
    }
    return 0;
}

int phi_audit_parse(phi_audit **out, const void *eh, bson_iter_t *it, const char *base_dir)
{
    bson_iter_t c;
    phi_audit *a;
    int rc = 0;
    *out = NULL;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'audit' must be an object");
    if (!(a = phi_calloc(1, sizeof *a)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    a->fsync_each = 1;
    a->cp_lines = 1000;
    a->cp_ms = 60000;
    pthread_mutex_init(&a->mu, NULL);
    while (rc == 0 && bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        const char *v = BSON_ITER_HOLDS_UTF8(&c) ? bson_iter_utf8(&c, NULL) : NULL;
        if (strcmp(k, "path") == 0) {
            if (!v || !*v)
                rc = phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'audit.path' must be a file name");
            else if (!(a->path = phi_path_resolve(base_dir, v)))
                rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        } else if (strcmp(k, "subject_field") == 0) {
            if (!v || !*v)
                rc = phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'audit.subject_field' must be a field path");
            else if (!(a->subject_field = phi_strdup(v)))
                rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        } else if (strcmp(k, "fsync") == 0) {
            if (v && strcmp(v, "always") == 0)
                a->fsync_each = 1;
            else if (v && strcmp(v, "never") == 0)
                a->fsync_each = 0;
            else
                rc = phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'audit.fsync' must be \"always\" or \"never\"");
        } else if (strcmp(k, "anchors") == 0) {
            rc = parse_anchors(a, eh, &c, base_dir);
        } else if (strcmp(k, "checkpoint_every") == 0) {
            rc = parse_every(a, eh, &c);
        } else {
            rc = phi_config_unknown_key(eh, "audit.", k, audit_keys);
        }
    }
    if (rc == 0 && !a->path)
        rc = phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'audit' needs \"path\" (e.g. \"audit.jsonl\")");
    if (rc != 0) {
        phi_audit_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void phi_audit_free(phi_audit *a)
{
    if (!a)
        return;
    phi_free(a->path);
    phi_free(a->subject_field);
    for (size_t i = 0; a->anchors && a->anchors[i]; i++) {
        if (a->acache)
            phi_free(a->acache[i].line);
        phi_free(a->anchors[i]);
    }
    for (size_t i = 0; a->manchors && a->anchors && a->anchors[i]; i++)
        phi_audit_manchor_free(a->manchors[i]);
    phi_free(a->manchors);
    phi_free(a->anchors);
    phi_free(a->acache);
    while (a->kcache) {
        phi_audit_kcache *k = a->kcache;
        a->kcache = k->next;
        phi_secure_free(k->material);
        phi_free(k);
    }
    pthread_mutex_destroy(&a->mu);
    phi_free(a);
}

int phi_audit_bind(phi_audit *a, const void *eh, const char *key_vault, const char *key_vault_ns)
{
    for (size_t i = 0; a && a->manchors && a->anchors[i]; i++) {
        int rc;
        if (!a->manchors[i])
            continue;
        if ((rc = phi_audit_manchor_bind(a->manchors[i], eh, key_vault, key_vault_ns, a->path)) != 0)
            return rc;
        phi_free(a->anchors[i]);
        if (!(a->anchors[i] = phi_strdup(phi_audit_manchor_name(a->manchors[i]))))
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    return 0;
}

struct phi_audit_manchor *const *phi_audit_mongo_anchors(const phicrypt_t *ph)
{
    phi_audit *a = phi_audit_of(ph);
    return a ? (phi_audit_manchor *const *)a->manchors : NULL;
}

void phi_audit_set_keys(phi_audit *a, const phi_audit_keys *keys)
{
    if (a)
        a->keys = *keys;
}

phi_audit *phi_audit_of(const phicrypt_t *ph)
{
    return (ph && ph->cfg) ? ph->cfg->audit : NULL;
}

const char *phi_audit_path(const phicrypt_t *ph)
{
    phi_audit *a = phi_audit_of(ph);
    return a ? a->path : NULL;
}

const char *phi_audit_subject_field(const phicrypt_t *ph)
{
    phi_audit *a = phi_audit_of(ph);
    return a ? a->subject_field : NULL;
}

const char *const *phi_audit_anchor_files(const phicrypt_t *ph)
{
    phi_audit *a = phi_audit_of(ph);
    return a ? (const char *const *)a->anchors : NULL;
}

/* ------------------------------------------------------------------ keys */

/* Key material of a given version (0: current, not cached: it may change
 * under us). *mat stays valid until the audit object is freed. */
int phi_audit_key(phicrypt_t *ph, int which, uint32_t version, uint32_t *got, const uint8_t **mat)
{
    phi_audit *a = phi_audit_of(ph);
    phi_audit_kcache *k;
    uint8_t *m;
    uint32_t v = 0;
    int rc;
    if (!a || !a->keys.get)
        return phi_error(ph, PHICRYPT_EUNSUPPORTED, "no audit log is configured (\"audit\": {\"path\": ...})");
    pthread_mutex_lock(&a->mu);
    for (k = a->kcache; version && k; k = k->next)
        if (k->which == which && k->version == version) {
            *got = version;
            *mat = k->material;
            pthread_mutex_unlock(&a->mu);
            return 0;
        }
    pthread_mutex_unlock(&a->mu);
    if (!(m = phi_secure_alloc(32)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of secure memory");
    if ((rc = a->keys.get(ph, which, version, &v, m)) != 0) {
        phi_secure_free(m);
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    for (k = a->kcache; k; k = k->next)
        if (k->which == which && k->version == v)
            break;
    if (k) {
        phi_secure_free(m);
    } else if (!(k = phi_calloc(1, sizeof *k))) {
        pthread_mutex_unlock(&a->mu);
        phi_secure_free(m);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    } else {
        k->which = which;
        k->version = v;
        k->material = m;
        k->next = a->kcache;
        a->kcache = k;
    }
    *got = v;
    *mat = k->material;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

int phi_audit_public_key(phicrypt_t *ph, uint32_t version, uint32_t *got, uint8_t pk[32])
{
    const uint8_t *seed;
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    int rc = phi_audit_key(ph, PHI_AUDIT_SIGN_KEY, version, got, &seed);
    if (rc != 0)
        return rc;
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    return 0;
}

int phi_audit_subject(phicrypt_t *ph, char out[PHI_AUDIT_SUBJECT_TEXT], uint32_t version, uint32_t *used,
                      const char *value, size_t len)
{
    const uint8_t *key;
    uint8_t mac[32];
    uint32_t v;
    crypto_auth_hmacsha256_state st;
    int rc = phi_audit_key(ph, PHI_AUDIT_SUBJECT_KEY, version, &v, &key);
    if (rc != 0)
        return rc;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)value, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sub1.", 5);
    sodium_bin2hex(out + 5, 33, mac, 16);
    sodium_memzero(mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
    if (used)
        *used = v;
    return 0;
}

void phi_audit_chain(const uint8_t prev[PHI_AUDIT_CHAIN_LEN], const char *content, size_t content_len,
                     uint8_t out[PHI_AUDIT_CHAIN_LEN])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, prev, PHI_AUDIT_CHAIN_LEN);
    crypto_hash_sha256_update(&st, (const uint8_t *)content, content_len);
    crypto_hash_sha256_final(&st, out);
}

/* ------------------------------------------------------------- line text */

void phi_sb_add(phi_sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        char *np;
        while (cap < b->n + n + 1)
            cap *= 2;
        if (!(np = phi_realloc(b->p, cap))) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void phi_sb_lit(phi_sbuf *b, const char *s)
{
    phi_sb_add(b, s, strlen(s));
}

static void sb_str(phi_sbuf *b, const char *s)
{
    if (!s) {
        phi_sb_lit(b, "null");
        return;
    }
    phi_sb_lit(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') {
            e[0] = '\\';
            e[1] = (char)*p;
            phi_sb_add(b, e, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(e, sizeof e, "\\u%04x", *p);
            phi_sb_add(b, e, 6);
        } else {
            phi_sb_add(b, (const char *)p, 1);
        }
    }
    phi_sb_lit(b, "\"");
}

void phi_sb_field(phi_sbuf *b, const char *name, const char *s)
{
    phi_sb_lit(b, ",\"");
    phi_sb_lit(b, name);
    phi_sb_lit(b, "\":");
    sb_str(b, s);
}

void phi_sb_int(phi_sbuf *b, const char *name, int64_t v)
{
    char num[48];
    snprintf(num, sizeof num, ",\"%s\":%lld", name, (long long)v);
    phi_sb_lit(b, num);
}

void phi_sb_hex(phi_sbuf *b, const char *name, const uint8_t *bin, size_t n)
{
    char hex[2 * 64 + 1];
    sodium_bin2hex(hex, sizeof hex, bin, n);
    phi_sb_field(b, name, hex);
}

static void sb_strs(phi_sbuf *b, const char *name, const char *const *v, size_t n)
{
    phi_sb_lit(b, ",\"");
    phi_sb_lit(b, name);
    phi_sb_lit(b, "\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            phi_sb_lit(b, ",");
        sb_str(b, v[i]);
    }
    phi_sb_lit(b, "]");
}

void phi_sb_time(phi_sbuf *b)
{
    char num[64];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(num, sizeof num, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    phi_sb_field(b, "time", num);
}

/* Everything after seq/kv/skv but the subject (which needs the log's
 * subject key version) and the chain. */
static void body(const phi_audit_event *ev, phi_sbuf *b)
{
    phi_sb_time(b);
    phi_sb_field(b, "actor", ev->actor);
    phi_sb_field(b, "role", ev->role);
    phi_sb_field(b, "purpose", ev->purpose);
    phi_sb_field(b, "op", ev->op);
    phi_sb_field(b, "ns", ev->ns);
    sb_strs(b, "fields", ev->fields, ev->n_fields);
    if (ev->n_denied_fields)
        sb_strs(b, "denied_fields", ev->denied_fields, ev->n_denied_fields);
    phi_sb_lit(b, ",\"key_ids\":[");
    for (size_t i = 0; i < ev->n_key_ids; i++) {
        char u[37];
        if (i)
            phi_sb_lit(b, ",");
        phi_uuid_format(u, ev->key_ids[i]);
        sb_str(b, u);
    }
    phi_sb_lit(b, "]");
    if (ev->key_name)
        phi_sb_field(b, "key_name", ev->key_name);
    if (ev->key_version)
        phi_sb_int(b, "key_version", ev->key_version);
    phi_sb_int(b, "count", ev->count);
    phi_sb_field(b, "outcome", ev->outcome ? ev->outcome : "ok");
    if (ev->reason)
        phi_sb_field(b, "reason", ev->reason);
    phi_sb_lit(b, ev->break_glass ? ",\"break_glass\":true" : ",\"break_glass\":false");
}

/* Starts a line for the next seq; returns where it starts in b. */
size_t phi_audit_line_begin(phi_sbuf *b, const phi_audit_tail *t)
{
    char num[96];
    size_t start = b->n;
    snprintf(num, sizeof num, "{\"seq\":%lld,\"kv\":%u,\"skv\":%u", (long long)(t->seq + 1), t->kv, t->skv);
    phi_sb_lit(b, num);
    return start;
}

/* Chains and closes the line that starts at `start`; t moves on to it. */
void phi_audit_line_end(phi_sbuf *b, size_t start, phi_audit_tail *t)
{
    uint8_t chain[32];
    if (b->oom)
        return;
    phi_audit_chain(t->chain, b->p + start, b->n - start, chain);
    phi_sb_hex(b, "chain", chain, 32);
    phi_sb_lit(b, "}\n");
    memcpy(t->chain, chain, 32);
    t->seq++;
    t->is_checkpoint = 0;
    if (t->seq == 1) {
        memcpy(t->log_id, chain, sizeof t->log_id);
        t->have_log_id = 1;
    }
}

/* ------------------------------------------------------------ appending */

int64_t phi_audit_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends b to the locked log; on any failure (short write, ENOSPC, EFBIG,
 * fsync) truncates back to `size0` so that no torn line is left behind. */
int phi_audit_commit(phicrypt_t *ph, phi_audit_lock *lk, const phi_sbuf *b)
{
    phi_audit *a = phi_audit_of(ph);
    const char *what = NULL;
    int err = 0;
    if (b->oom)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    if (write_all(lk->fd, b->p, b->n) != 0)
        what = "write";
    else if (a->fsync_each && fsync(lk->fd) != 0)
        what = "fsync";
    if (what) {
        err = errno;
        /* Still under the lock: nobody has appended after us. */
        if (ftruncate(lk->fd, lk->tail.size) != 0 || fsync(lk->fd) != 0)
            return phi_error(ph, PHICRYPT_EIO,
                             "audit log %s: %s: %s, and truncating back failed (%s): run 'phicrypt audit verify'",
                             a->path, what, strerror(err), strerror(errno));
        return phi_error(ph, PHICRYPT_EIO, "audit log %s: %s: %s (nothing was appended)", a->path, what,
                         strerror(err));
    }
    if (a->fsync_each && lk->created)
        phi_fsync_dir_of(a->path); /* a new file's directory entry must reach the disk too */
    lk->created = 0;
    if (lk->checkpointed)
        lk->cp_off = lk->tail.size + (off_t)lk->cp_start;
    lk->tail.size += (off_t)b->n;
    lk->tail.torn = 0;
    return 0;
}

/* A torn last line (a crash mid-append) is closed off and recorded: the
 * fragment stays as evidence, bound into the chain by its hash. */
static int add_repaired(phicrypt_t *ph, phi_audit_lock *lk, phi_sbuf *b)
{
    phi_audit_tail *t = &lk->tail;
    size_t n = (size_t)(t->size - t->frag_start), start;
    uint8_t h[32];
    char *frag;
    if (!t->torn)
        return 0;
    if (!(frag = phi_malloc(n ? n : 1)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    if (pread(lk->rfd, frag, n, t->frag_start) != (ssize_t)n) {
        phi_free(frag);
        return phi_error(ph, PHICRYPT_EIO, "audit log %s: short read", phi_audit_path(ph));
    }
    crypto_hash_sha256(h, (const uint8_t *)frag, n);
    phi_free(frag);
    phi_sb_lit(b, "\n");
    start = phi_audit_line_begin(b, t);
    phi_sb_time(b);
    phi_sb_field(b, "op", "repaired");
    phi_sb_int(b, "torn_bytes", (int64_t)n);
    phi_sb_hex(b, "torn_sha256", h, 32);
    phi_sb_field(b, "reason", "the line above was torn by an interrupted append (crash); kept as found");
    phi_audit_line_end(b, start, t);
    return 0;
}

/* The checkpoint after the current tail; with kv_new, the rotation
 * checkpoint signed by both the old and the new key. */
int phi_audit_add_checkpoint(phicrypt_t *ph, phi_audit_lock *lk, phi_sbuf *b, uint32_t kv_new)
{
    phi_audit_tail *t = &lk->tail;
    const uint8_t *seed, *seed_new = NULL;
    uint8_t pk[32], pk_new[32], sk[crypto_sign_SECRETKEYBYTES], sig[64], sig_new[64];
    uint32_t got;
    size_t start;
    int rc;
    if (t->seq == 0 && !kv_new)
        return 0;
    if ((rc = phi_audit_key(ph, PHI_AUDIT_SIGN_KEY, t->kv, &got, &seed)) != 0 ||
        (kv_new && (rc = phi_audit_key(ph, PHI_AUDIT_SIGN_KEY, kv_new, &got, &seed_new)) != 0))
        return phi_error_wrap(ph, rc, "audit checkpoint: signing key");
    start = phi_audit_line_begin(b, t);
    phi_sb_time(b);
    phi_sb_field(b, "op", "checkpoint");
    phi_sb_hex(b, "log_id", t->log_id, sizeof t->log_id);
    phi_sb_hex(b, "head", t->chain, 32);
    if (kv_new) {
        crypto_sign_seed_keypair(pk, sk, seed);
        crypto_sign_seed_keypair(pk_new, sk, seed_new);
        phi_sb_int(b, "kv_new", kv_new);
        phi_sb_hex(b, "pk", pk, 32);
        phi_sb_hex(b, "pk_new", pk_new, 32);
    }
    if (b->oom)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(sig, NULL, (const uint8_t *)b->p + start, b->n - start, sk);
    if (kv_new) {
        crypto_sign_seed_keypair(pk_new, sk, seed_new);
        crypto_sign_detached(sig_new, NULL, (const uint8_t *)b->p + start, b->n - start, sk);
    }
    sodium_memzero(sk, sizeof sk);
    phi_sb_hex(b, "sig", sig, 64);
    if (kv_new)
        phi_sb_hex(b, "sig_new", sig_new, 64);
    phi_audit_line_end(b, start, t);
    lk->cp_start = start;
    lk->cp_len = b->n - start - 1;
    lk->cp_seq = t->seq;
    t->is_checkpoint = 1;
    if (kv_new)
        t->kv = kv_new;
    lk->checkpointed = 1;
    return 0;
}

int phi_audit_write(phicrypt_t *ph, const phi_audit_event *ev)
{
    phi_audit *a = phi_audit_of(ph);
    phi_sbuf rest = { 0 }, b = { 0 };
    phi_audit_lock lk;
    char subject[PHI_AUDIT_SUBJECT_TEXT];
    int64_t now;
    size_t start;
    int rc;

    if (!a)
        return 0;
    body(ev, &rest);
    if (rest.oom) {
        phi_free(rest.p);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    if ((rc = phi_audit_lock_open(ph, &lk, 1)) != 0) {
        phi_free(rest.p);
        return rc;
    }
    if ((rc = add_repaired(ph, &lk, &b)) != 0)
        goto out;
    start = phi_audit_line_begin(&b, &lk.tail);
    phi_sb_add(&b, rest.p, rest.n);
    if (ev->subject) {
        if ((rc = phi_audit_subject(ph, subject, lk.tail.skv, NULL, ev->subject, ev->subject_len)) != 0)
            goto out;
        phi_sb_field(&b, "subject", subject);
    } else {
        phi_sb_field(&b, "subject", NULL);
    }
    phi_audit_line_end(&b, start, &lk.tail);
    now = phi_audit_now_ms();
    /* last_cp_ms is shared by the handle's threads: read under the lock. */
    pthread_mutex_lock(&a->mu);
    if (!a->last_cp_ms)
        a->last_cp_ms = now;
    int64_t since_cp = now - a->last_cp_ms;
    pthread_mutex_unlock(&a->mu);
    if (lk.tail.seq % a->cp_lines == 0 || (a->cp_ms > 0 && since_cp >= a->cp_ms))
        if ((rc = phi_audit_add_checkpoint(ph, &lk, &b, 0)) != 0)
            goto out;
    if ((rc = phi_audit_commit(ph, &lk, &b)) != 0)
        goto out;
    rc = phi_audit_anchor_out(ph, &lk, &b);
out:
    phi_audit_lock_close(ph, &lk, rc == 0);
    phi_free(b.p);
    phi_free(rest.p);
    return rc;
}

void phi_audit_close(phicrypt_t *ph, phi_audit *a)
{
    phi_audit_lock lk;
    phi_sbuf b = { 0 };
    if (!a || !a->dirty)
        return;
    /* Clean shutdown: sign what this process appended (unless another
     * process's checkpoint already covers the tail). Errors have nobody to
     * go to; the next verify shows the unsigned tail. */
    if (phi_audit_lock_open(ph, &lk, 1) != 0)
        return;
    if (!lk.tail.is_checkpoint && lk.tail.seq > 0 && add_repaired(ph, &lk, &b) == 0 &&
        phi_audit_add_checkpoint(ph, &lk, &b, 0) == 0 && phi_audit_commit(ph, &lk, &b) == 0)
        phi_audit_anchor_out(ph, &lk, &b);
    phi_audit_lock_close(ph, &lk, 0);
    phi_free(b.p);
    a->dirty = 0;
}

int phi_audit_key_event(phicrypt_t *ph, const phi_key_event *kev)
{
    phi_audit_event ev;
    char actor[32];
    if (!phi_audit_of(ph))
        return 0;
    memset(&ev, 0, sizeof ev);
    snprintf(actor, sizeof actor, "uid:%lu", (unsigned long)getuid());
    ev.actor = actor;
    ev.op = kev->op;
    ev.outcome = "ok";
    ev.count = kev->count;
    ev.key_name = kev->key_name;
    ev.key_version = kev->version;
    ev.reason = kev->reason;
    if (kev->id) {
        ev.key_ids = (const uint8_t(*)[16])kev->id;
        ev.n_key_ids = 1;
    }
    return phi_audit_write(ph, &ev);
}
