/* The locked log: open + flock, its tail, and the anchors (checking that
 * the log still holds the newest anchored checkpoint, and copying new
 * checkpoints out). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit_impl_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/mem_private.h"

int phi_audit_meta_parse(const char *line, size_t len, phi_audit_meta *m)
{
    bson_t doc;
    bson_error_t err;
    bson_iter_t it;
    m->seq = -1;
    m->kv = m->skv = m->kv_new = -1;
    m->op[0] = '\0';
    if (!bson_init_from_json(&doc, line, (ssize_t)len, &err))
        return -1;
    if (bson_iter_init(&it, &doc))
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            int num = BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it);
            if (strcmp(k, "seq") == 0 && num)
                m->seq = bson_iter_as_int64(&it);
            else if (strcmp(k, "kv") == 0 && num)
                m->kv = bson_iter_as_int64(&it);
            else if (strcmp(k, "skv") == 0 && num)
                m->skv = bson_iter_as_int64(&it);
            else if (strcmp(k, "kv_new") == 0 && num)
                m->kv_new = bson_iter_as_int64(&it);
            else if (strcmp(k, "op") == 0 && BSON_ITER_HOLDS_UTF8(&it))
                snprintf(m->op, sizeof m->op, "%s", bson_iter_utf8(&it, NULL));
        }
    bson_destroy(&doc);
    return 0;
}

int phi_audit_last_line(int fd, off_t size, char **line, size_t *len, off_t *start_out, off_t *end_torn)
{
    size_t cap = 4096;
    char *buf = NULL;
    *line = NULL;
    *len = 0;
    *start_out = 0;
    *end_torn = size;
    while (size > 0) {
        off_t start = size > (off_t)cap ? size - (off_t)cap : 0;
        size_t n = (size_t)(size - start), i, line_end;
        phi_free(buf);
        if (!(buf = phi_malloc(n + 1)))
            return PHICRYPT_ENOMEM;
        if (pread(fd, buf, n, start) != (ssize_t)n) {
            phi_free(buf);
            return PHICRYPT_EIO;
        }
        for (i = n; i > 0 && buf[i - 1] != '\n'; i--)
            ;
        if (i == 0 && start > 0) {
            cap *= 2;
            continue;
        }
        *end_torn = start + (off_t)i;
        if (i == 0)
            break; /* no complete line at all */
        line_end = i - 1;
        for (i = line_end; i > 0 && buf[i - 1] != '\n'; i--)
            ;
        if (i == 0 && start > 0) {
            cap *= 2;
            continue;
        }
        memmove(buf, buf + i, line_end - i);
        buf[line_end - i] = '\0';
        *line = buf;
        *len = line_end - i;
        *start_out = start + (off_t)i;
        return 0;
    }
    phi_free(buf);
    return 0;
}

static int read_tail(phicrypt_t *ph, int rfd, const char *path, phi_audit_tail *t)
{
    phi_audit *a = phi_audit_of(ph);
    struct stat st;
    char *line = NULL;
    size_t len, content_len;
    off_t start;
    phi_audit_meta m;
    int rc;
    memset(t, 0, sizeof *t);
    if (fstat(rfd, &st) != 0)
        return phi_error(ph, PHICRYPT_EIO, "audit log %s: %s", path, strerror(errno));
    t->size = st.st_size;
    if ((rc = phi_audit_last_line(rfd, t->size, &line, &len, &start, &t->frag_start)) != 0)
        return phi_error(ph, rc, "audit log %s: cannot read its last line", path);
    t->torn = t->frag_start < t->size;
    if (!line) {
        pthread_mutex_lock(&a->mu);
        a->lid_valid = 0; /* a new log gets a new id, even in the same file */
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    if (phi_audit_split_line(line, len, &content_len, t->chain) != 0 || phi_audit_meta_parse(line, len, &m) != 0 ||
        m.seq < 1) {
        phi_free(line);
        return phi_error(ph, PHICRYPT_EBADDATA,
                         "audit log %s: the last line is not an audit line; run 'phicrypt audit verify'", path);
    }
    phi_free(line);
    if (m.kv < 1 || m.skv < 1)
        return phi_error(ph, PHICRYPT_EBADDATA,
                         "audit log %s was written by an older phicrypt (audit log v1, no key versions): keep it "
                         "(verify it with that version) under another name and let a new log start",
                         path);
    t->seq = m.seq;
    t->kv = (uint32_t)(m.kv_new > 0 ? m.kv_new : m.kv);
    t->skv = (uint32_t)m.skv;
    t->is_checkpoint = strcmp(m.op, "checkpoint") == 0;
    pthread_mutex_lock(&a->mu);
    if (a->lid_valid && a->lid_dev == st.st_dev && a->lid_ino == st.st_ino) {
        memcpy(t->log_id, a->lid, sizeof t->log_id);
        t->have_log_id = 1;
    }
    pthread_mutex_unlock(&a->mu);
    if (!t->have_log_id) {
        /* The log id is line 1's chain. */
        char head[4096];
        ssize_t r = pread(rfd, head, sizeof head, 0);
        char *nl = r > 0 ? memchr(head, '\n', (size_t)r) : NULL;
        uint8_t c1[32];
        if (nl && phi_audit_split_line(head, (size_t)(nl - head), &content_len, c1) == 0) {
            memcpy(t->log_id, c1, sizeof t->log_id);
            t->have_log_id = 1;
            pthread_mutex_lock(&a->mu);
            a->lid_valid = 1;
            a->lid_dev = st.st_dev;
            a->lid_ino = st.st_ino;
            memcpy(a->lid, c1, sizeof a->lid);
            pthread_mutex_unlock(&a->mu);
        }
    }
    return 0;
}

/* Offset of the line whose seq is `seq`, searching back from the end. */
static int find_seq(int fd, off_t size, int64_t seq, off_t *at)
{
    char pat[48];
    size_t pl = (size_t)snprintf(pat, sizeof pat, "{\"seq\":%lld,", (long long)seq);
    const size_t chunk = 65536;
    char *buf = phi_malloc(chunk + sizeof pat);
    off_t end = size;
    if (!buf)
        return PHICRYPT_ENOMEM;
    while (end > 0) {
        off_t start = end > (off_t)chunk ? end - (off_t)chunk : 0;
        off_t stop = end + (off_t)pl < size ? end + (off_t)pl : size;
        size_t n = (size_t)(stop - start);
        if (pread(fd, buf, n, start) != (ssize_t)n)
            break;
        for (size_t p = (size_t)(end - start); p-- > 0;) {
            char before = '\n';
            if (p + pl > n || memcmp(buf + p, pat, pl) != 0)
                continue;
            if (p > 0)
                before = buf[p - 1];
            else if (start > 0 && pread(fd, &before, 1, start - 1) != 1)
                before = 0;
            if (before == '\n') {
                *at = start + (off_t)p;
                phi_free(buf);
                return 0;
            }
        }
        end = start;
    }
    phi_free(buf);
    return PHICRYPT_EKEYNOTFOUND;
}

/* The anchor's newest complete line (a copy in *line, or NULL when the
 * anchor is missing or empty), reread only when the file changed. */
static int anchor_line(phi_audit *a, size_t i, char **line, size_t *len, int64_t *seq)
{
    phi_audit_meta m;
    phi_audit_acache *c = &a->acache[i];
    struct stat st;
    off_t start, torn;
    char *fresh = NULL;
    size_t flen = 0;
    int fd = open(a->anchors[i], O_RDONLY | O_CLOEXEC), rc;
    *line = NULL;
    if (fd < 0)
        return errno == ENOENT ? 0 : PHICRYPT_EIO;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return PHICRYPT_EIO;
    }
    pthread_mutex_lock(&a->mu);
    if (c->line && c->a_dev == st.st_dev && c->a_ino == st.st_ino && c->a_size == st.st_size &&
        c->a_mtime.tv_sec == st.st_mtim.tv_sec && c->a_mtime.tv_nsec == st.st_mtim.tv_nsec &&
        (*line = phi_malloc(c->len + 1))) {
        memcpy(*line, c->line, c->len + 1);
        *len = c->len;
        *seq = c->a_seq;
    }
    pthread_mutex_unlock(&a->mu);
    if (*line) {
        close(fd);
        return 0;
    }
    rc = phi_audit_last_line(fd, st.st_size, &fresh, &flen, &start, &torn);
    close(fd);
    if (rc != 0 || !fresh)
        return rc;
    if (phi_audit_meta_parse(fresh, flen, &m) != 0 || m.seq < 1) {
        phi_free(fresh);
        return PHICRYPT_EBADDATA;
    }
    *seq = m.seq;
    pthread_mutex_lock(&a->mu);
    phi_free(c->line);
    c->line = NULL;
    if ((c->line = phi_malloc(flen + 1))) {
        memcpy(c->line, fresh, flen + 1);
        c->len = flen;
        c->a_seq = m.seq;
        c->a_dev = st.st_dev;
        c->a_ino = st.st_ino;
        c->a_size = st.st_size;
        c->a_mtime = st.st_mtim;
    }
    pthread_mutex_unlock(&a->mu);
    *line = fresh;
    *len = flen;
    return 0;
}

/* Whether the log holds anchor i's newest checkpoint, byte for byte. */
static int check_anchor(phicrypt_t *ph, phi_audit_lock *lk, size_t i, int mode)
{
    phi_audit *a = phi_audit_of(ph);
    const char *apath = a->anchors[i];
    phi_audit_acache *c = &a->acache[i];
    char *line = NULL, *got = NULL, why[160];
    size_t len;
    int rc, ok = 0;
    phi_audit_meta m;
    struct stat st;
    off_t off = 0;
    if (a->manchors && a->manchors[i]) {
        /* MongoDB: one query a check (a cache would trust a server state
         * it cannot see change). Unreadable means no append: fail closed. */
        if ((rc = phi_audit_manchor_newest(a->manchors[i], ph, &line, &len, &m.seq)) != 0)
            return rc;
    } else if ((rc = anchor_line(a, i, &line, &len, &m.seq)) != 0)
        return phi_error(ph, rc, rc == PHICRYPT_EBADDATA ? "audit anchor %s: its last line is not a checkpoint"
                                                         : "audit anchor %s: cannot read it", apath);
    if (!line)
        return 0;
    fstat(lk->rfd, &st);
    if (lk->tail.seq == 0) {
        snprintf(why, sizeof why, "the log is empty or missing but the anchor holds checkpoint seq %lld",
                 (long long)m.seq);
    } else if (m.seq > lk->tail.seq) {
        snprintf(why, sizeof why, "the log ends at seq %lld but the anchor holds checkpoint seq %lld",
                 (long long)lk->tail.seq, (long long)m.seq);
    } else {
        pthread_mutex_lock(&a->mu);
        if (c->valid && c->dev == st.st_dev && c->ino == st.st_ino && c->seq == m.seq) {
            off = c->off;
            rc = 0;
        } else {
            rc = 1;
        }
        pthread_mutex_unlock(&a->mu);
        if (rc == 1 && (rc = find_seq(lk->rfd, lk->tail.size, m.seq, &off)) == PHICRYPT_ENOMEM) {
            phi_free(line);
            return phi_error(ph, rc, "out of memory");
        }
        if (rc == 0 && off + (off_t)len < lk->tail.size && (got = phi_malloc(len + 1)) &&
            pread(lk->rfd, got, len + 1, off) == (ssize_t)(len + 1) && memcmp(got, line, len) == 0 && got[len] == '\n')
            ok = 1;
        phi_free(got);
        snprintf(why, sizeof why, "the log's line seq %lld is not the anchored checkpoint", (long long)m.seq);
        if (ok) {
            pthread_mutex_lock(&a->mu);
            c->valid = 1;
            c->dev = st.st_dev;
            c->ino = st.st_ino;
            c->seq = m.seq;
            c->off = off;
            pthread_mutex_unlock(&a->mu);
        }
    }
    if (!ok && mode == 2 && !lk->behind) {
        lk->behind = 1;
        lk->behind_seq = m.seq;
        crypto_hash_sha256(lk->behind_sha, (const uint8_t *)line, len);
        snprintf(lk->behind_why, sizeof lk->behind_why, "%s", why);
    }
    phi_free(line);
    if (!ok && mode == 1)
        return phi_error(ph, PHICRYPT_EAUTH,
                         "audit log %s is behind its anchor %s (%s): it was truncated or rolled back; appends are "
                         "refused until an operator runs 'phicrypt audit resume --reason TEXT'",
                         a->path, apath, why);
    return 0;
}

int phi_audit_lock_open(phicrypt_t *ph, phi_audit_lock *lk, int anchors)
{
    phi_audit *a = phi_audit_of(ph);
    struct stat st;
    int rc;
    memset(lk, 0, sizeof *lk);
    lk->fd = lk->rfd = -1;
    if (!a)
        return phi_error(ph, PHICRYPT_EUNSUPPORTED, "no audit log is configured (\"audit\": {\"path\": ...})");
    lk->created = stat(a->path, &st) != 0 && errno == ENOENT;
    lk->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (lk->fd < 0)
        return phi_error(ph, PHICRYPT_EIO, "audit log %s: %s", a->path, strerror(errno));
    /* The lock makes read-tail-then-append one step across processes and
     * threads (flock belongs to the open file description). */
    while (flock(lk->fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            rc = phi_error(ph, PHICRYPT_EIO, "audit log %s: lock: %s", a->path, strerror(errno));
            goto fail;
        }
    }
    if ((lk->rfd = open(a->path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = phi_error(ph, PHICRYPT_EIO, "audit log %s: %s", a->path, strerror(errno));
        goto fail;
    }
    if ((rc = read_tail(ph, lk->rfd, a->path, &lk->tail)) != 0)
        goto fail;
    if (lk->tail.seq == 0) {
        const uint8_t *m;
        if ((rc = phi_audit_key(ph, PHI_AUDIT_SIGN_KEY, 0, &lk->tail.kv, &m)) != 0 ||
            (rc = phi_audit_key(ph, PHI_AUDIT_SUBJECT_KEY, 0, &lk->tail.skv, &m)) != 0)
            goto fail;
    }
    for (size_t i = 0; anchors && a->anchors && a->anchors[i]; i++)
        if ((rc = check_anchor(ph, lk, i, anchors)) != 0)
            goto fail;
    return 0;
fail:
    phi_audit_lock_close(ph, lk, 0);
    return rc;
}

void phi_audit_lock_close(phicrypt_t *ph, phi_audit_lock *lk, int appended)
{
    phi_audit *a = phi_audit_of(ph);
    if (lk->rfd >= 0)
        close(lk->rfd);
    if (lk->fd >= 0)
        close(lk->fd); /* releases the lock */
    lk->fd = lk->rfd = -1;
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    if (lk->checkpointed && appended)
        a->last_cp_ms = phi_audit_now_ms();
    if (appended)
        a->dirty = !lk->tail.is_checkpoint;
    pthread_mutex_unlock(&a->mu);
}

static int anchor_append(phicrypt_t *ph, const char *apath, const char *text, size_t n)
{
    struct stat st;
    int created = stat(apath, &st) != 0 && errno == ENOENT, rc = 0;
    int fd = open(apath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    const char *what = NULL;
    char last = '\n';
    if (fd < 0)
        return phi_error(ph, PHICRYPT_EIO, "audit anchor %s: %s", apath, strerror(errno));
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            close(fd);
            return phi_error(ph, PHICRYPT_EIO, "audit anchor %s: lock: %s", apath, strerror(errno));
        }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return phi_error(ph, PHICRYPT_EIO, "audit anchor %s: %s", apath, strerror(errno));
    }
    if (st.st_size > 0) {
        int r = open(apath, O_RDONLY | O_CLOEXEC);
        if (r < 0 || pread(r, &last, 1, st.st_size - 1) != 1)
            last = 0;
        if (r >= 0)
            close(r);
    }
    /* A torn last anchor line is closed off (readers skip it). */
    if ((last != '\n' && (size_t)write(fd, "\n", 1) != 1))
        what = "write";
    else {
        while (n > 0 && !what) {
            ssize_t w = write(fd, text, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                what = "write";
            else {
                text += w;
                n -= (size_t)w;
            }
        }
    }
    if (!what && fsync(fd) != 0)
        what = "fsync";
    if (what) {
        int err = errno;
        if (ftruncate(fd, st.st_size) != 0) {
            /* nothing more to do: readers skip a torn last line */
        }
        rc = phi_error(ph, PHICRYPT_EIO, "audit anchor %s: %s: %s", apath, what, strerror(err));
    } else if (created) {
        phi_fsync_dir_of(apath);
    }
    close(fd);
    return rc;
}

int phi_audit_anchor_out(phicrypt_t *ph, phi_audit_lock *lk, const phi_sbuf *b)
{
    phi_audit *a = phi_audit_of(ph);
    struct stat st;
    if (!lk->checkpointed || !a->anchors)
        return 0;
    fstat(lk->rfd, &st);
    for (size_t i = 0; a->anchors[i]; i++) {
        int rc = a->manchors && a->manchors[i]
                     ? phi_audit_manchor_insert(a->manchors[i], ph, b->p + lk->cp_start, lk->cp_len, lk->cp_seq)
                     : anchor_append(ph, a->anchors[i], b->p + lk->cp_start, lk->cp_len + 1);
        if (rc != 0)
            return phi_error_wrap(ph, rc, "audit checkpoint seq %lld is in the log but not anchored",
                                  (long long)lk->cp_seq);
        pthread_mutex_lock(&a->mu);
        a->acache[i].valid = 1;
        a->acache[i].dev = st.st_dev;
        a->acache[i].ino = st.st_ino;
        a->acache[i].seq = lk->cp_seq;
        a->acache[i].off = lk->cp_off;
        pthread_mutex_unlock(&a->mu);
    }
    return 0;
}
