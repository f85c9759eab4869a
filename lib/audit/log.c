/* The audit log: configuration, HMAC keys, and appending one line. */
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
#include "core/config_private.h"
#include "core/handle_private.h"
#include "token/keyring_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"

struct phi_audit {
    char *path;
    char *subject_field;
    int fsync_each;
    pthread_mutex_t mu;   /* guards the lazily derived keys */
    uint8_t *keys;        /* secure memory: chain key || subject key, or NULL */
};

static const char *const audit_keys[] = { "path", "subject_field", "fsync", NULL };

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
    phi_secure_free(a->keys);
    pthread_mutex_destroy(&a->mu);
    phi_free(a);
}

static phi_audit *audit_of(const phicrypt_t *ph)
{
    return (ph && ph->cfg) ? ph->cfg->audit : NULL;
}

const char *phi_audit_path(const phicrypt_t *ph)
{
    phi_audit *a = audit_of(ph);
    return a ? a->path : NULL;
}

const char *phi_audit_subject_field(const phicrypt_t *ph)
{
    phi_audit *a = audit_of(ph);
    return a ? a->subject_field : NULL;
}

/* ------------------------------------------------------------------ keys */

/* A deterministic CSFLE ciphertext of a fixed label is a PRF of the data
 * key: hashing it gives a key that only holders of the master key can
 * compute, without ever exporting the data key itself. */
static int derive(phicrypt_t *ph, const char *label, uint8_t out[32])
{
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT;
    bson_t v = BSON_INITIALIZER;
    int rc;
    o.key_alt_name = PHI_AUDIT_DATA_KEY;
    BSON_APPEND_UTF8(&v, "v", label);
    rc = phicrypt_encrypt(ph, &ct, bson_get_data(&v), v.len, &o);
    bson_destroy(&v);
    if (rc != 0)
        return rc;
    crypto_hash_sha256(out, ct.data, ct.len);
    phicrypt_buf_dispose(&ct);
    return 0;
}

static int ensure_data_key(phicrypt_t *ph)
{
    phicrypt_buf doc = PHICRYPT_BUF_INIT;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[1] = { PHI_AUDIT_DATA_KEY };
    uint8_t id[16];
    int rc = phicrypt_datakey_get_by_alt_name(ph, &doc, PHI_AUDIT_DATA_KEY);
    phicrypt_buf_dispose(&doc);
    if (rc != PHICRYPT_EKEYNOTFOUND)
        return rc;
    o.alt_names = names;
    o.alt_names_count = 1;
    rc = phicrypt_datakey_create(ph, id, &o);
    /* Another process may have created it meanwhile. */
    return rc == PHICRYPT_EEXIST ? 0 : rc;
}

/* With a keyring, the audit keys are its HMAC keys "audit:chain" and
 * "audit:subject" (created on first use), so they rotate and are listed
 * with the other keyring keys; without one they are derived from the data
 * key PHI_AUDIT_DATA_KEY. */
static int keyring_keys(phicrypt_t *ph, uint8_t k[64])
{
    static const char *const names[2] = { "audit:chain", "audit:subject" };
    for (int i = 0; i < 2; i++) {
        phi_kr_key *key = NULL;
        int rc = phi_keyring_get(ph, names[i], 0, PHICRYPT_KEYRING_HMAC, &key);
        if (rc == PHICRYPT_EKEYNOTFOUND) {
            rc = phicrypt_keyring_create(ph, names[i], PHICRYPT_KEYRING_HMAC);
            if (rc == PHICRYPT_EEXIST || rc == 0) /* another process may have made it */
                rc = phi_keyring_get(ph, names[i], 0, PHICRYPT_KEYRING_HMAC, &key);
        }
        if (rc != 0)
            return phi_error_wrap(ph, rc, "audit key '%s' in the keyring", names[i]);
        memcpy(k + 32 * i, key->hmac_root, 32);
        phi_keyring_put(key);
    }
    return 0;
}

/* Set while this thread creates the audit key: the key operations that
 * involves must not try to audit themselves (they would need that key). */
static _Thread_local int deriving;

static int get_keys(phicrypt_t *ph, const uint8_t **keys)
{
    phi_audit *a = audit_of(ph);
    int rc = 0;
    if (!a)
        return phi_error(ph, PHICRYPT_EUNSUPPORTED, "no audit log is configured (\"audit\": {\"path\": ...})");
    pthread_mutex_lock(&a->mu);
    deriving = 1;
    if (!a->keys) {
        uint8_t *k = phi_secure_alloc(64);
        if (!k)
            rc = phi_error(ph, PHICRYPT_ENOMEM, "out of secure memory");
        else if (ph->keyring && (rc = keyring_keys(ph, k)) != 0)
            phi_secure_free(k);
        else if (!ph->keyring && ((rc = ensure_data_key(ph)) != 0 || (rc = derive(ph, "phicrypt audit chain v1", k)) != 0 ||
                                  (rc = derive(ph, "phicrypt audit subject v1", k + 32)) != 0)) {
            phi_error_wrap(ph, rc, "audit key (data key '%s')", PHI_AUDIT_DATA_KEY);
            phi_secure_free(k);
        } else {
            a->keys = k;
        }
    }
    deriving = 0;
    pthread_mutex_unlock(&a->mu);
    *keys = a->keys;
    return rc;
}

int phi_audit_chain_key(phicrypt_t *ph, const uint8_t **key)
{
    return get_keys(ph, key);
}

int phi_audit_subject(phicrypt_t *ph, char out[PHI_AUDIT_SUBJECT_TEXT], const char *value, size_t len)
{
    const uint8_t *keys;
    uint8_t mac[32];
    int rc = get_keys(ph, &keys);
    if (rc != 0)
        return rc;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, keys + 32, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)value, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sub1.", 5);
    sodium_bin2hex(out + 5, 33, mac, 16);
    sodium_memzero(mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
    return 0;
}

void phi_audit_chain(const uint8_t *key, const uint8_t prev[PHI_AUDIT_CHAIN_LEN], const char *content,
                     size_t content_len, uint8_t out[PHI_AUDIT_CHAIN_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, prev, PHI_AUDIT_CHAIN_LEN);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)content, content_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* ------------------------------------------------------------- line text */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
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

static void sb_lit(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_str(sbuf *b, const char *s)
{
    if (!s) {
        sb_lit(b, "null");
        return;
    }
    sb_lit(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') {
            e[0] = '\\';
            e[1] = (char)*p;
            sb_add(b, e, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(e, sizeof e, "\\u%04x", *p);
            sb_add(b, e, 6);
        } else {
            sb_add(b, (const char *)p, 1);
        }
    }
    sb_lit(b, "\"");
}

static void sb_field(sbuf *b, const char *name, const char *s)
{
    sb_lit(b, ",\"");
    sb_lit(b, name);
    sb_lit(b, "\":");
    sb_str(b, s);
}

static void sb_strs(sbuf *b, const char *name, const char *const *v, size_t n)
{
    sb_lit(b, ",\"");
    sb_lit(b, name);
    sb_lit(b, "\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_lit(b, ",");
        sb_str(b, v[i]);
    }
    sb_lit(b, "]");
}

/* Everything but seq and chain (which depend on the file). */
static int body(phicrypt_t *ph, const phi_audit_event *ev, sbuf *b)
{
    char num[64], subject[PHI_AUDIT_SUBJECT_TEXT];
    struct timespec ts;
    struct tm tm;
    int rc;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(num, sizeof num, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    sb_field(b, "time", num);
    sb_field(b, "actor", ev->actor);
    sb_field(b, "role", ev->role);
    sb_field(b, "purpose", ev->purpose);
    sb_field(b, "op", ev->op);
    sb_field(b, "ns", ev->ns);
    sb_strs(b, "fields", ev->fields, ev->n_fields);
    if (ev->n_denied_fields)
        sb_strs(b, "denied_fields", ev->denied_fields, ev->n_denied_fields);
    sb_lit(b, ",\"key_ids\":[");
    for (size_t i = 0; i < ev->n_key_ids; i++) {
        char u[37];
        if (i)
            sb_lit(b, ",");
        phi_uuid_format(u, ev->key_ids[i]);
        sb_str(b, u);
    }
    sb_lit(b, "]");
    if (ev->key_name)
        sb_field(b, "key_name", ev->key_name);
    snprintf(num, sizeof num, ",\"count\":%lld", (long long)ev->count);
    sb_lit(b, num);
    sb_field(b, "outcome", ev->outcome ? ev->outcome : "ok");
    if (ev->reason)
        sb_field(b, "reason", ev->reason);
    sb_lit(b, ev->break_glass ? ",\"break_glass\":true" : ",\"break_glass\":false");
    if (ev->subject) {
        if ((rc = phi_audit_subject(ph, subject, ev->subject, ev->subject_len)) != 0)
            return rc;
        sb_field(b, "subject", subject);
    } else {
        sb_field(b, "subject", NULL);
    }
    return b->oom ? phi_error(ph, PHICRYPT_ENOMEM, "out of memory") : 0;
}

/* ------------------------------------------------------------ appending */

/* Reads the last complete line of the file (under the lock) for its seq
 * and chain. *torn tells whether the file ends in an incomplete line. */
static int read_tail(phicrypt_t *ph, int fd, const char *path, int64_t *seq, uint8_t chain[32], int *torn)
{
    struct stat st;
    off_t end, start;
    char *buf = NULL;
    size_t cap = 4096;
    *seq = 0;
    *torn = 0;
    memset(chain, 0, 32);
    if (fstat(fd, &st) != 0)
        return phi_error(ph, PHICRYPT_EIO, "audit log %s: %s", path, strerror(errno));
    end = st.st_size;
    if (end == 0)
        return 0;
    for (;;) {
        ssize_t r;
        size_t n, i, line_end, line_start;
        start = end > (off_t)cap ? end - (off_t)cap : 0;
        n = (size_t)(end - start);
        phi_free(buf);
        if (!(buf = phi_malloc(n + 1)))
            return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        r = pread(fd, buf, n, start);
        if (r != (ssize_t)n) {
            phi_free(buf);
            return phi_error(ph, PHICRYPT_EIO, "audit log %s: short read", path);
        }
        *torn = buf[n - 1] != '\n';
        /* The last '\n' ends the last complete line. */
        for (i = n; i > 0 && buf[i - 1] != '\n'; i--)
            ;
        if (i == 0 && start > 0) {
            cap *= 2;
            continue;
        }
        if (i == 0) { /* no complete line at all */
            phi_free(buf);
            return 0;
        }
        line_end = i - 1;
        for (i = line_end; i > 0 && buf[i - 1] != '\n'; i--)
            ;
        if (i == 0 && start > 0) {
            cap *= 2;
            continue;
        }
        line_start = i;
        {
            size_t content_len;
            bson_t doc;
            bson_iter_t it;
            bson_error_t err;
            buf[line_end] = '\0';
            if (phi_audit_split_line(buf + line_start, line_end - line_start, &content_len, chain) != 0 ||
                !bson_init_from_json(&doc, buf + line_start, (ssize_t)(line_end - line_start), &err)) {
                phi_free(buf);
                return phi_error(ph, PHICRYPT_EBADDATA,
                                 "audit log %s: the last line is not an audit line; run 'phicrypt audit verify'",
                                 path);
            }
            if (bson_iter_init_find(&it, &doc, "seq") && BSON_ITER_HOLDS_NUMBER(&it))
                *seq = bson_iter_as_int64(&it);
            bson_destroy(&doc);
        }
        phi_free(buf);
        return 0;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    /* O_APPEND makes one write land at the end as a unit; a short write
     * (disk full, signal) is finished off rather than left torn. */
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int phi_audit_write(phicrypt_t *ph, const phi_audit_event *ev)
{
    phi_audit *a = audit_of(ph);
    sbuf head = { 0 }, rest = { 0 };
    const uint8_t *keys;
    uint8_t prev[32], chain[32];
    char hex[65], num[48];
    int64_t seq;
    int fd = -1, torn, rc, created;

    if (!a)
        return 0;
    if ((rc = get_keys(ph, &keys)) != 0 || (rc = body(ph, ev, &rest)) != 0)
        goto out;
    {
        struct stat st;
        created = stat(a->path, &st) != 0 && errno == ENOENT;
    }
    fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = phi_error(ph, PHICRYPT_EIO, "audit log %s: %s", a->path, strerror(errno));
        goto out;
    }
    /* The lock makes read-last-line-then-append one step across processes. */
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            rc = phi_error(ph, PHICRYPT_EIO, "audit log %s: lock: %s", a->path, strerror(errno));
            goto out;
        }
    }
    {
        int rfd = open(a->path, O_RDONLY | O_CLOEXEC);
        if (rfd < 0) {
            rc = phi_error(ph, PHICRYPT_EIO, "audit log %s: %s", a->path, strerror(errno));
            goto out;
        }
        rc = read_tail(ph, rfd, a->path, &seq, prev, &torn);
        close(rfd);
        if (rc != 0)
            goto out;
    }
    /* A torn last line (a crash mid-append) is closed off, not continued:
     * verify reports it as torn and the chain resumes from the line before. */
    if (torn)
        sb_lit(&head, "\n");
    snprintf(num, sizeof num, "{\"seq\":%lld", (long long)(seq + 1));
    sb_lit(&head, num);
    {
        size_t content_start = torn ? 1 : 0;
        sb_add(&head, rest.p ? rest.p : "", rest.n);
        if (head.oom) {
            rc = phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
            goto out;
        }
        phi_audit_chain(keys, prev, head.p + content_start, head.n - content_start, chain);
    }
    sodium_bin2hex(hex, sizeof hex, chain, 32);
    sb_lit(&head, ",\"chain\":\"");
    sb_lit(&head, hex);
    sb_lit(&head, "\"}\n");
    if (head.oom) {
        rc = phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        goto out;
    }
    if (write_all(fd, head.p, head.n) != 0) {
        rc = phi_error(ph, PHICRYPT_EIO, "audit log %s: write: %s", a->path, strerror(errno));
        goto out;
    }
    if (a->fsync_each && fsync(fd) != 0) {
        rc = phi_error(ph, PHICRYPT_EIO, "audit log %s: fsync: %s", a->path, strerror(errno));
        goto out;
    }
    if (a->fsync_each && created)
        phi_fsync_dir_of(a->path); /* a new file's directory entry must reach the disk too */
    rc = 0;
out:
    if (fd >= 0)
        close(fd); /* releases the lock */
    phi_free(head.p);
    phi_free(rest.p);
    return rc;
}

int phi_audit_key_op(phicrypt_t *ph, int rc, const char *op, const uint8_t *id, const char *key_name, int64_t count)
{
    phi_audit_event ev;
    char actor[32];
    if (rc != 0 || deriving || !audit_of(ph))
        return rc;
    memset(&ev, 0, sizeof ev);
    snprintf(actor, sizeof actor, "uid:%lu", (unsigned long)getuid());
    ev.actor = actor;
    ev.op = op;
    ev.outcome = "ok";
    ev.count = count;
    ev.key_name = key_name;
    if (id) {
        ev.key_ids = (const uint8_t(*)[16])id;
        ev.n_key_ids = 1;
    }
    return phi_audit_write(ph, &ev);
}
