/* The streaming engine: a reader (the calling thread) cuts the input into
 * batches, N workers rewrite them, and the calling thread writes their
 * outputs in input order. At most 2N batches are in flight, so memory stays
 * bounded whatever the file size. Output goes to an unnamed temporary file
 * in the destination directory that is only given its name at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/gate_private.h"
#include "deid/risk_private.h"

#define BATCH_BYTES (1u << 20)

enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

typedef struct slot {
    int state;
    uint64_t seq;
    phi_sbuf in, out;
    size_t in_used, out_used; /* the most of in and out that may hold old bytes */
    phi_span *spans;
    size_t nspans, cap_spans;
    phi_deid_stats st;
    unsigned char *hit; /* per explicit rule: matched in this batch */
    uint64_t first_rec; /* records of the input before this batch */
    uint64_t records_out;
    int rc;
    char msg[PHI_ERRMSG_MAX];
    /* residual-PHI gate: records checked, values remembered, hits (report
     * objects, comma-separated, and their warning lines NUL-separated) */
    uint64_t gate_records, gate_values, gate_hits;
    phi_sbuf gate_found, gate_warn;
} slot;

typedef struct run {
    phicrypt_t *ph;
    const phicrypt_deid_policy *pol;
    int fmt, reid, skip_bad;
    const phi_deid_guard *guard;
    const char *in_name;
    phi_csv_cols cols;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *slots;
    size_t nslots;
    int stop;
    int gate; /* PHICRYPT_DEID_GATE_OFF, _WARN or _FAIL */
    phi_gate_key gate_key;
    uint64_t gate_records, gate_values, gate_hits;
    phi_sbuf gate_found;
    phi_risk *risk; /* the risk report (risk.c), or NULL */
} run;

static const char *fmt_name(int f)
{
    switch (f) {
    case PHICRYPT_DEID_JSONL: return "jsonl";
    case PHICRYPT_DEID_JSON: return "json";
    case PHICRYPT_DEID_BSON: return "bson";
    case PHICRYPT_DEID_CSV: return "csv";
    }
    return "auto";
}

static int fmt_from_ext(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot)
        return 0;
    if (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".ndjson") == 0)
        return PHICRYPT_DEID_JSONL;
    if (strcmp(dot, ".json") == 0)
        return PHICRYPT_DEID_JSON;
    if (strcmp(dot, ".bson") == 0)
        return PHICRYPT_DEID_BSON;
    if (strcmp(dot, ".csv") == 0)
        return PHICRYPT_DEID_CSV;
    return 0;
}

/* Buffers are reused batch after batch: the new bytes overwrite the old,
 * and only what the previous batch left beyond them is wiped here (the
 * rest when the run frees them). This keeps two full wipes per batch off
 * the critical path. */
static void wipe_residue(phi_sbuf *b, size_t *used)
{
    if (b->p && *used > b->len)
        phi_wipe(b->p + b->len, *used - b->len);
    *used = b->len;
}

/* Every error during a record names it: the rewriters' own messages do,
 * an action's message ("email: tokenize: ...") gets the prefix here. */
static void name_the_record(phi_deid_rec *rec, const void *eh, int rc)
{
    const char *where = phi_rec_where(rec), *m = phi_error_message(eh);
    size_t wl = strlen(where);
    if (strncmp(m, where, wl) == 0 && (m[wl] == ':' || m[wl] == ','))
        return;
    char msg[PHI_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", m);
    phi_error(eh, rc, "%s: %s", where, msg);
}

/* The residual-PHI gate over the record just written at sl->out[mark..]:
 * 1 when it stops the batch (a hit with the gate failing the run). A hit
 * names the field the value came from, its class and where it survived;
 * never the value. */
static int gate_check(run *ru, slot *sl, phi_deid_rec *rec, const phi_span *sp, size_t mark)
{
    phi_gate_hit h;
    sl->gate_records++;
    if (!phi_gate_scan(rec->gate, sl->out.p + mark, sl->out.len - mark, ru->fmt != PHICRYPT_DEID_BSON &&
                       ru->fmt != PHICRYPT_DEID_CSV, &h))
        return 0;
    const phi_gate_src *src = &rec->gate->srcs[h.src];
    phi_sbuf at = { 0 }, from = { 0 };
    phi_gate_locate(ru->fmt, sl->out.p + mark, sl->out.len - mark, h.at, ru->cols.names, ru->cols.n, ru->cols.sep,
                    &at);
    phi_sbuf_put(&from, rec->gate->paths.p + src->path_off, src->path_len);
    const char *where = phi_rec_where(rec), *cls = phi_gate_class(src->rule, from.p ? from.p : "");
    sl->gate_hits++;
    if (ru->gate == PHICRYPT_DEID_GATE_FAIL) {
        sl->rc = PHICRYPT_EINVAL;
        snprintf(sl->msg, sizeof sl->msg,
                 "%s: residual-PHI gate: a value of '%s' (%s) survives in the output at '%s'; nothing written "
                 "(fix the policy, or --gate warn to write it anyway)",
                 where, from.p ? from.p : "", cls, at.p ? at.p : "");
    } else if (sl->gate_hits <= PHI_GATE_MAX_FINDINGS) {
        phi_sbuf *f = &sl->gate_found;
        if (f->len)
            phi_sbuf_putc(f, ',');
        phi_sbuf_printf(f, ru->fmt == PHICRYPT_DEID_BSON ? "{\"record\":%llu,\"offset\":%llu,\"path\":"
                                                         : "{\"record\":%llu,\"line\":%llu,\"path\":",
                        (unsigned long long)rec->where_rec,
                        (unsigned long long)(ru->fmt == PHICRYPT_DEID_BSON ? sp->byte : sp->line));
        phi_sbuf_json_str(f, from.p ? from.p : "", from.len);
        phi_sbuf_printf(f, ",\"class\":\"%s\",\"found_at\":", cls);
        phi_sbuf_json_str(f, at.p ? at.p : "", at.len);
        phi_sbuf_putc(f, '}');
        phi_sbuf_printf(&sl->gate_warn, "%s: residual-PHI gate: a value of '%s' (%s) survives in the output at '%s'",
                        where, from.p ? from.p : "", cls, at.p ? at.p : "");
        phi_sbuf_putc(&sl->gate_warn, 0);
    }
    phi_sbuf_free(&at);
    phi_sbuf_free(&from);
    return ru->gate == PHICRYPT_DEID_GATE_FAIL;
}

/* Rewrites every record of a batch; a bad record stops the batch (or is
 * listed and skipped with skip_bad). */
static void process(run *ru, slot *sl, const void *eh, phi_risk_tab *rt)
{
    phi_deid_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.pol = ru->pol;
    rec.ph = ru->ph;
    rec.eh = eh;
    rec.reid = ru->reid;
    rec.guard = ru->guard;
    rec.st = &sl->st;
    rec.rule_hit = sl->hit;
    rec.nsubjects = ru->pol->nrules;
    if (rec.nsubjects)
        rec.subjects = phi_calloc(rec.nsubjects, sizeof *rec.subjects);
    phi_gate gate;
    if (ru->gate != PHICRYPT_DEID_GATE_OFF) {
        phi_gate_init(&gate, &ru->gate_key);
        rec.gate = &gate;
    }
    sl->out.len = 0;
    sl->rc = 0;
    sl->records_out = 0;
    for (size_t k = 0; k < sl->nspans; k++) {
        const phi_span *sp = &sl->spans[k];
        const char *s = sl->in.p + sp->off;
        size_t mark = sl->out.len;
        int rc;
        rec.where_file = ru->in_name;
        rec.where_is_byte = ru->fmt == PHICRYPT_DEID_BSON;
        rec.where_pos = rec.where_is_byte ? sp->byte : sp->line;
        rec.where_rec = sl->first_rec + k + 1;
        if (ru->fmt == PHICRYPT_DEID_JSON)
            phi_sbuf_put(&sl->out, ",\n", 2);
        if (rec.gate)
            phi_gate_record_start(rec.gate);
        if (ru->fmt == PHICRYPT_DEID_BSON)
            rc = phi_bson_rewrite(&rec, (const uint8_t *)s, sp->len, &sl->out);
        else if (ru->fmt == PHICRYPT_DEID_CSV)
            rc = phi_csv_rewrite(&rec, &ru->cols, s, sp->len, &sl->out);
        else
            rc = phi_json_rewrite(&rec, s, sp->len, &sl->out);
        if (rc)
            name_the_record(&rec, eh, rc);
        if (rc == PHICRYPT_EBADDATA && ru->skip_bad) {
            if (sl->out.len > sl->out_used)
                sl->out_used = sl->out.len; /* the dropped bytes are wiped with the residue */
            sl->out.len = mark;
            phi_deid_stats *st = &sl->st;
            if (st->bad.len)
                phi_sbuf_putc(&st->bad, ',');
            phi_sbuf_puts(&st->bad, "{\"record\":");
            phi_sbuf_printf(&st->bad, ru->fmt == PHICRYPT_DEID_BSON ? "{\"offset\":%llu}" : "{\"line\":%llu}",
                            (unsigned long long)(ru->fmt == PHICRYPT_DEID_BSON ? sp->byte : sp->line));
            phi_sbuf_puts(&st->bad, ",\"reason\":");
            const char *m = phi_error_message(eh);
            phi_sbuf_json_str(&st->bad, m, strlen(m));
            phi_sbuf_putc(&st->bad, '}');
            st->nbad++;
            continue;
        }
        if (rc == 0 && rec.gate && gate_check(ru, sl, &rec, sp, mark))
            break;
        /* The risk report counts the record as written: its values after
         * de-identification (a JSON array's separator is not part of it). */
        if (rc == 0 && rt) {
            size_t at = ru->fmt == PHICRYPT_DEID_JSON ? mark + 2 : mark;
            rc = phi_risk_add(eh, rt, sl->out.p + at, sl->out.len - at);
        }
        if (rc) {
            sl->rc = rc;
            snprintf(sl->msg, sizeof sl->msg, "%s", phi_error_message(eh));
            break;
        }
        if (ru->fmt == PHICRYPT_DEID_JSONL)
            phi_sbuf_putc(&sl->out, '\n');
        else if (ru->fmt == PHICRYPT_DEID_CSV) {
            /* The record's own line end (the span stops before it); a last
             * line without one is ended like the header. */
            char end = s[sp->len];
            if (end == '\r' || (end != '\n' && ru->cols.crlf))
                phi_sbuf_putc(&sl->out, '\r');
            phi_sbuf_putc(&sl->out, '\n');
        }
        sl->records_out++;
    }
    if (sl->rc == 0 && sl->out.oom) {
        sl->rc = PHICRYPT_ENOMEM;
        snprintf(sl->msg, sizeof sl->msg, "out of memory");
    }
    if (rec.gate) {
        sl->gate_values += gate.values;
        if (gate.oom && sl->rc == 0) {
            sl->rc = PHICRYPT_ENOMEM;
            snprintf(sl->msg, sizeof sl->msg, "out of memory");
        }
        phi_gate_free(&gate);
    }
    phi_rec_free(&rec);
    wipe_residue(&sl->out, &sl->out_used);
}

static void *worker(void *arg)
{
    run *ru = arg;
    int eh; /* this worker's error handle */
    phi_risk_tab *rt = NULL;
    if (ru->risk && !(rt = phi_risk_tab_new(ru->risk))) {
        pthread_mutex_lock(&ru->risk->mu);
        if (!ru->risk->err) {
            ru->risk->err = PHICRYPT_ENOMEM;
            snprintf(ru->risk->errmsg, sizeof ru->risk->errmsg, "out of memory");
        }
        pthread_mutex_unlock(&ru->risk->mu);
    }
    pthread_mutex_lock(&ru->mu);
    for (;;) {
        slot *best = NULL;
        for (size_t i = 0; i < ru->nslots; i++)
            if (ru->slots[i].state == SLOT_READY && (!best || ru->slots[i].seq < best->seq))
                best = &ru->slots[i];
        if (!best) {
            if (ru->stop)
                break;
            pthread_cond_wait(&ru->cv, &ru->mu);
            continue;
        }
        best->state = SLOT_BUSY;
        pthread_mutex_unlock(&ru->mu);
        process(ru, best, &eh, rt);
        phi_error_clear(&eh);
        pthread_mutex_lock(&ru->mu);
        best->state = SLOT_DONE;
        pthread_cond_broadcast(&ru->cv);
    }
    pthread_mutex_unlock(&ru->mu);
    if (rt)
        phi_risk_tab_done(rt); /* merged by the calling thread at the end */
    return NULL;
}

/* ---- output ---- */
typedef struct outf {
    int fd;
    int is_stdout;
    int direct;      /* a device or a FIFO: written in place */
    int tmpfile;     /* O_TMPFILE: no name until linked */
    char *tmp_path;  /* mkstemp fallback */
    char *path;
    uint64_t bytes;
    uint64_t flushed; /* bytes whose write-back has been started */
} outf;

/* "/dev/stdout", "/dev/fd/N", "/proc/self/fd/N": the descriptor N, or -1. */
static int fd_path(const char *path)
{
    static const char *const prefixes[] = { "/dev/fd/", "/proc/self/fd/" };
    if (strcmp(path, "/dev/stdout") == 0)
        return STDOUT_FILENO;
    if (strcmp(path, "/dev/stderr") == 0)
        return STDERR_FILENO;
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], k) == 0 && path[k] >= '0' && path[k] <= '9') {
            char *end;
            long fd = strtol(path + k, &end, 10);
            return *end == 0 && fd <= 1 << 20 ? (int)fd : -1;
        }
    }
    return -1;
}

static int out_open(const void *eh, outf *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (strcmp(path, "-") == 0) {
        o->fd = STDOUT_FILENO;
        o->is_stdout = 1;
        return 0;
    }
    o->path = phi_strdup(path);
    if (!o->path)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    /* An already open descriptor (/dev/stdout, /dev/fd/N) is written as it
     * is, like "-": reopening it would lose its offset and append mode, and
     * renaming over the name would replace the link, not the file. */
    int dfd = fd_path(path);
    if (dfd >= 0) {
        o->fd = dup(dfd);
        if (o->fd < 0)
            return phi_error(eh, PHICRYPT_EIO, "%s: not an open descriptor (%s)", path, strerror(errno));
        o->direct = 1;
        return 0;
    }
    /* An existing device or FIFO (/dev/null, a named pipe) is written in
     * place: renaming a file over it would replace the device itself, and a
     * stream has no partial file to avoid. */
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        return phi_error(eh, PHICRYPT_EINVAL, "%s: is a directory", path);
    if (exists && !S_ISREG(st.st_mode)) {
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0)
            return phi_error(eh, PHICRYPT_EIO, "%s: cannot open the output (%s)", path, strerror(errno));
        o->direct = 1;
        return 0;
    }
    /* A symbolic link to a file: the file it points to is replaced (in its
     * own directory), and the link stays. */
    struct stat lst;
    if (exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        char *real = realpath(path, NULL);
        if (!real)
            return phi_error(eh, PHICRYPT_EIO, "%s: cannot resolve the link (%s)", path, strerror(errno));
        phi_free(o->path);
        o->path = phi_strdup(real);
        free(real);
        if (!o->path)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        path = o->path;
    }
    char *dir = phi_path_dirname(path);
    if (!dir)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
#ifdef O_TMPFILE
    /* Read and write: the suppression pass reads it back. */
    o->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (o->fd >= 0)
        o->tmpfile = 1;
#endif
    if (o->fd < 0) {
        size_t n = strlen(dir) + 32;
        o->tmp_path = phi_malloc(n);
        if (o->tmp_path) {
            snprintf(o->tmp_path, n, "%s/.phicrypt-deid-XXXXXX", dir);
            o->fd = mkstemp(o->tmp_path);
        }
    }
    phi_free(dir);
    if (o->fd < 0)
        return phi_error(eh, PHICRYPT_EIO, "%s: cannot create the output file (%s)", path, strerror(errno));
    return 0;
}

static int out_write(const void *eh, outf *o, const void *d, size_t n)
{
    const char *p = d;
    while (n) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return phi_error(eh, PHICRYPT_EIO, "%s: write failed (%s)", o->is_stdout ? "stdout" : o->path,
                             strerror(errno));
        p += w;
        n -= (size_t)w;
        o->bytes += (uint64_t)w;
    }
#ifdef SYNC_FILE_RANGE_WRITE
    /* Start writing the file back every few MB (without waiting), so the
     * final fsync has little left to do and dirty pages stay few. */
    if (!o->is_stdout && !o->direct && o->bytes - o->flushed >= (8u << 20)) {
        (void)sync_file_range(o->fd, (off_t)o->flushed, (off_t)(o->bytes - o->flushed), SYNC_FILE_RANGE_WRITE);
        o->flushed = o->bytes;
    }
#endif
    return 0;
}

static void out_abort(outf *o)
{
    if (!o->is_stdout && o->fd >= 0)
        close(o->fd);
    if (o->tmp_path)
        unlink(o->tmp_path);
    phi_free(o->tmp_path);
    phi_free(o->path);
    o->fd = -1;
    o->tmp_path = o->path = NULL;
}

static int out_commit(const void *eh, outf *o)
{
    int rc = 0;
    if (o->is_stdout)
        return 0;
    if (o->direct) {
        out_abort(o);
        return 0;
    }
    if (fsync(o->fd) != 0)
        rc = phi_error(eh, PHICRYPT_EIO, "%s: fsync failed (%s)", o->path, strerror(errno));
    if (rc == 0 && o->tmpfile) {
        /* Give the unnamed file a temporary name, then rename it over the
         * destination (linkat cannot replace an existing file). */
        char proc[64];
        size_t n = strlen(o->path) + 48;
        o->tmp_path = phi_malloc(n);
        if (!o->tmp_path)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        char *dir = phi_path_dirname(o->path);
        snprintf(o->tmp_path, n, "%s/.phicrypt-deid-%ld-%p", dir ? dir : ".", (long)getpid(), (void *)o);
        phi_free(dir);
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, o->tmp_path, AT_SYMLINK_FOLLOW) != 0) {
            rc = phi_error(eh, PHICRYPT_EIO, "%s: cannot name the output file (%s)", o->path, strerror(errno));
            phi_free(o->tmp_path);
            o->tmp_path = NULL;
        }
    }
    if (rc == 0 && rename(o->tmp_path, o->path) != 0)
        rc = phi_error(eh, PHICRYPT_EIO, "%s: cannot rename the output file into place (%s)", o->path,
                       strerror(errno));
    if (rc == 0) {
        phi_fsync_dir_of(o->path);
        phi_free(o->tmp_path);
        o->tmp_path = NULL;
    }
    close(o->fd);
    o->fd = -1;
    if (o->tmp_path)
        unlink(o->tmp_path);
    phi_free(o->tmp_path);
    phi_free(o->path);
    o->tmp_path = o->path = NULL;
    return rc;
}

/* One pass of the suppression (risk.c) from the output written so far to
 * a fresh temporary file, which then becomes the output. */
static int risk_pass(const void *eh, outf *out, const char *out_path, phi_risk *rk, phi_risk *after, int drop,
                     const char *name, uint64_t *records, uint64_t *values)
{
    outf o2;
    uint64_t bytes = 0;
    int rc = out_open(eh, &o2, out_path);
    if (rc == 0)
        rc = phi_risk_suppress(eh, rk, after, drop, out->fd, o2.fd, name, records, values, &bytes);
    if (rc) {
        out_abort(&o2);
        return rc;
    }
    out_abort(out);
    *out = o2;
    out->bytes = bytes;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Warnings of a run, NUL-separated in `buf` (paths and file names only). */
typedef struct warns {
    phi_sbuf buf;
    size_t n;
} warns;

static void warn_add(warns *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_add(warns *w, const char *fmt, ...)
{
    char msg[PHI_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    phi_sbuf_put(&w->buf, msg, strlen(msg) + 1);
    w->n++;
}

/* A batch's gate counts and findings into the run's, in input order. */
static void gate_merge(run *ru, slot *sl, warns *w)
{
    ru->gate_records += sl->gate_records;
    ru->gate_values += sl->gate_values;
    uint64_t before = ru->gate_hits;
    ru->gate_hits += sl->gate_hits;
    if (sl->gate_found.len && before < PHI_GATE_MAX_FINDINGS) {
        if (ru->gate_found.len)
            phi_sbuf_putc(&ru->gate_found, ',');
        phi_sbuf_put(&ru->gate_found, sl->gate_found.p, sl->gate_found.len);
        const char *m = sl->gate_warn.p;
        for (const char *e = m + sl->gate_warn.len; m < e; m += strlen(m) + 1)
            warn_add(w, "%s", m);
    }
    sl->gate_records = sl->gate_values = sl->gate_hits = 0;
    sl->gate_found.len = 0;
    sl->gate_warn.len = 0;
}

/* The warnings that only the end of a run can tell: explicit rules that
 * matched no value, unknown fields kept. Returns how many of each. */
static void end_warnings(const run *ru, const phi_deid_stats *st, const unsigned char *hit, warns *w,
                         size_t *unmatched, size_t *kept)
{
    const phicrypt_deid_policy *p = ru->pol;
    *unmatched = *kept = 0;
    for (size_t i = 0; hit && i < p->nrules; i++)
        if (!hit[i]) {
            warn_add(w, "rule '%s' (%s) matched no field of %s: a misspelt path, a field this export does not "
                        "have, or a rule on an enclosing field that takes precedence",
                     p->rules[i].path_text, phi_deid_act_name(p->rules[i].act), ru->in_name);
            (*unmatched)++;
        }
    if (ru->reid || p->unknown != PHI_UNKNOWN_KEEP)
        return;
    /* One warning per field, up to a screenful; the report has them all. */
    for (size_t i = 0; i < st->nunknown; i++) {
        if (i < 50)
            warn_add(w, "field '%s' is not in the policy and was kept as it is (\"unknown_fields\": \"keep\")",
                     st->unknown[i]);
        else if (i == 50)
            warn_add(w, "%zu more unknown fields kept (the report's \"unknown_fields\" lists them all)",
                     st->nunknown - 50);
        (*kept)++;
    }
}

static int build_report(const void *eh, phicrypt_buf *rep, const run *ru, const phi_deid_stats *st,
                        unsigned threads, uint64_t rin, uint64_t rout, uint64_t bin, uint64_t bout, double secs,
                        const char *error, const unsigned char *hit, const warns *w, const phi_sbuf *risk)
{
    phi_sbuf b = { 0 };
    phi_sbuf_printf(&b, "{\"operation\":\"%s\",\"completed\":%s,", ru->reid ? "reid" : "deid", error ? "false" : "true");
    if (error) {
        phi_sbuf_puts(&b, "\"error\":");
        phi_sbuf_json_str(&b, error, strlen(error));
        phi_sbuf_putc(&b, ',');
    }
    phi_sbuf_printf(&b, "\"format\":\"%s\",\"threads\":%u,\"records_in\":%llu,"
                        "\"records_out\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,\"elapsed_seconds\":%.3f,"
                        "\"fields\":[",
                    fmt_name(ru->fmt), threads, (unsigned long long)rin, (unsigned long long)rout,
                    (unsigned long long)bin, (unsigned long long)bout, secs);
    for (size_t i = 0; i < st->n; i++) {
        if (i)
            phi_sbuf_putc(&b, ',');
        phi_sbuf_puts(&b, "{\"path\":");
        phi_sbuf_json_str(&b, st->ents[i].path, strlen(st->ents[i].path));
        phi_sbuf_printf(&b, ",\"action\":\"%s\",\"count\":%llu}", phi_deid_act_name(st->ents[i].act),
                        (unsigned long long)st->ents[i].count);
    }
    phi_sbuf_puts(&b, "],\"unknown_fields\":[");
    for (size_t i = 0; i < st->nunknown; i++) {
        if (i)
            phi_sbuf_putc(&b, ',');
        phi_sbuf_json_str(&b, st->unknown[i], strlen(st->unknown[i]));
    }
    phi_sbuf_printf(&b, "],\"unknown_fields_policy\":\"%s\",\"unmatched_rules\":[",
                    ru->pol->unknown == PHI_UNKNOWN_ERROR ? "error"
                    : ru->pol->unknown == PHI_UNKNOWN_DROP ? "drop" : "keep");
    int first = 1;
    for (size_t i = 0; hit && i < ru->pol->nrules; i++)
        if (!hit[i]) {
            phi_sbuf_puts(&b, first ? "{\"path\":" : ",{\"path\":");
            phi_sbuf_json_str(&b, ru->pol->rules[i].path_text, strlen(ru->pol->rules[i].path_text));
            phi_sbuf_printf(&b, ",\"action\":\"%s\"}", phi_deid_act_name(ru->pol->rules[i].act));
            first = 0;
        }
    phi_sbuf_puts(&b, "],\"warnings\":[");
    const char *m = w->buf.p;
    for (size_t i = 0; i < w->n; i++, m += strlen(m) + 1) {
        if (i)
            phi_sbuf_putc(&b, ',');
        phi_sbuf_json_str(&b, m, strlen(m));
    }
    phi_sbuf_printf(&b, "],\"bad_records_count\":%llu,\"bad_records\":[", (unsigned long long)st->nbad);
    if (st->bad.len)
        phi_sbuf_put(&b, st->bad.p, st->bad.len);
    phi_sbuf_putc(&b, ']');
    if (!ru->reid) {
        static const char *const modes[] = { "default", "off", "warn", "fail" };
        phi_sbuf_printf(&b, ",\"gate\":{\"mode\":\"%s\",\"records_checked\":%llu,\"values_checked\":%llu,"
                            "\"hits\":%llu,\"findings\":[",
                        modes[ru->gate], (unsigned long long)ru->gate_records, (unsigned long long)ru->gate_values,
                        (unsigned long long)ru->gate_hits);
        if (ru->gate_found.len)
            phi_sbuf_put(&b, ru->gate_found.p, ru->gate_found.len);
        phi_sbuf_puts(&b, "]}");
        phi_sbuf_puts(&b, ",\"risk\":");
        if (risk && risk->len)
            phi_sbuf_put(&b, risk->p, risk->len);
        else
            phi_sbuf_puts(&b, "null");
    }
    if (ru->pol->safe_harbor) /* the day ages are counted to (birth years of 90+) */
        phi_sbuf_printf(&b, ",\"reference_date\":\"%04d-%02d-%02d\"", ru->pol->ref_y, ru->pol->ref_m, ru->pol->ref_d);
    phi_sbuf_putc(&b, '}');
    if (b.oom) {
        phi_sbuf_free(&b);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    phi_buf_give(rep, b.p, b.len);
    return 0;
}

static int run_file(phicrypt_t *ph, phicrypt_buf *report, const phicrypt_deid_policy *p, const char *in_path,
                    const char *out_path, const phicrypt_deid_opts *opts, int reid, const phi_deid_guard *guard)
{
    const void *eh = ph;
    phicrypt_deid_opts dflt = PHICRYPT_DEID_OPTS_INIT;
    if (!opts)
        opts = &dflt;
    if (!p || !in_path || !out_path)
        return phi_error(eh, PHICRYPT_EINVAL, "deid: NULL argument");
    if (opts->version < 1 || opts->version > PHICRYPT_DEID_OPTS_VERSION)
        return phi_error(eh, PHICRYPT_EINVAL, "phicrypt_deid_opts: version %u unknown (expected 1 to %u)",
                         opts->version, PHICRYPT_DEID_OPTS_VERSION);
    /* Fields after the caller's version are not read (append-only struct). */
    int v2 = opts->version >= 2;
    int delim = v2 ? opts->csv_delimiter : 0, strict = v2 && opts->strict;
    phicrypt_deid_warn_fn warn_fn = v2 ? opts->warn : NULL;
    int gate = opts->version >= 3 ? (int)opts->gate : PHICRYPT_DEID_GATE_DEFAULT;
    if (gate < PHICRYPT_DEID_GATE_DEFAULT || gate > PHICRYPT_DEID_GATE_FAIL)
        return phi_error(eh, PHICRYPT_EINVAL, "phicrypt_deid_opts: gate %d unknown", gate);
    /* Safe Harbor promises zero surviving identifiers: the gate fails closed there. */
    if (gate == PHICRYPT_DEID_GATE_DEFAULT)
        gate = p && p->safe_harbor ? PHICRYPT_DEID_GATE_FAIL : PHICRYPT_DEID_GATE_OFF;
    if (reid)
        gate = PHICRYPT_DEID_GATE_OFF;
    int v4 = opts->version >= 4, suppress = v4 && opts->suppress_below_k;
    size_t risk_memory = v4 ? opts->risk_memory : 0;
    if (suppress && (reid || !p || !p->nqi))
        return phi_error(eh, PHICRYPT_EINVAL, "suppress_below_k: %s", reid ? "deid only"
                         : "the policy names no \"quasi_identifiers\" (the fields whose classes it counts)");
    if (suppress && (strcmp(out_path, "-") == 0 || fd_path(out_path) >= 0))
        return phi_error(eh, PHICRYPT_EINVAL, "suppress_below_k: needs an output file (a second pass reads the "
                                              "output back), not a stream");
    /* A report is written on failure too ("completed": false): a stale one
     * from an earlier call must not be read as this call's (nor leak). */
    phicrypt_buf_dispose(report);
    int fmt = opts->format;
    if (fmt == PHICRYPT_DEID_AUTO)
        fmt = fmt_from_ext(strcmp(in_path, "-") == 0 ? out_path : in_path);
    if (fmt < PHICRYPT_DEID_JSONL || fmt > PHICRYPT_DEID_CSV)
        return phi_error(eh, PHICRYPT_EINVAL,
                         "%s: cannot tell the format from the file name (.jsonl, .json, .bson, .csv): give one",
                         in_path);
    unsigned threads = opts->threads ? opts->threads : 1;
    if (threads > 256)
        return phi_error(eh, PHICRYPT_EINVAL, "threads: at most 256");
    if (strcmp(in_path, out_path) == 0 && strcmp(in_path, "-") != 0)
        return phi_error(eh, PHICRYPT_EINVAL, "%s: the output cannot be the input", in_path);
    if (delim && fmt != PHICRYPT_DEID_CSV)
        return phi_error(eh, PHICRYPT_EINVAL, "csv_delimiter: the input is %s, not CSV", fmt_name(fmt));
    if (delim && (delim < 1 || delim > 126 || delim == '"' || delim == '\n' || delim == '\r'))
        return phi_error(eh, PHICRYPT_EINVAL, "csv_delimiter: one ASCII character other than a quote or a line end");
    warns w = { { 0 }, 0 };
    /* Today's output keeps the input's format: a name that says another
     * one misleads whoever opens it next. */
    if (strcmp(out_path, "-") != 0 && fd_path(out_path) < 0) {
        const char *base = strrchr(out_path, '/');
        base = base ? base + 1 : out_path;
        const char *dot = strrchr(base, '.');
        if (dot && dot != base && fmt_from_ext(base) != fmt)
            warn_add(&w, "%s: the name ends in '%s' but the output is %s (the input's format)", out_path, dot,
                     fmt_name(fmt));
    }

    run ru;
    memset(&ru, 0, sizeof ru);
    ru.ph = ph;
    ru.pol = p;
    ru.fmt = fmt;
    ru.reid = reid;
    ru.guard = guard;
    ru.skip_bad = opts->skip_bad;
    ru.gate = gate;
    if (gate != PHICRYPT_DEID_GATE_OFF && phi_gate_key_new(&ru.gate_key) != 0) {
        phi_sbuf_free(&w.buf);
        return phi_error(eh, PHICRYPT_EINTERNAL, "residual-PHI gate: no random key");
    }
    ru.in_name = strcmp(in_path, "-") == 0 ? "stdin" : in_path;
    phi_reader rd;
    memset(&rd, 0, sizeof rd);
    rd.fmt = fmt;
    rd.name = ru.in_name;
    rd.line = 1;
    rd.skip_bad = opts->skip_bad;
    rd.f = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "rb");
    if (!rd.f) {
        phi_sbuf_free(&w.buf);
        return phi_error(eh, PHICRYPT_EIO, "%s: cannot open (%s)", in_path, strerror(errno));
    }
    uint64_t total = 0;
    struct stat sb;
    int in_reg = fstat(fileno(rd.f), &sb) == 0 && S_ISREG(sb.st_mode);
    if (in_reg)
        total = (uint64_t)sb.st_size;
    /* The same file under another name (a link) would be replaced by its
     * own de-identified copy. */
    struct stat ob;
    if (in_reg && strcmp(out_path, "-") != 0 && stat(out_path, &ob) == 0 && ob.st_dev == sb.st_dev &&
        ob.st_ino == sb.st_ino) {
        if (rd.f != stdin)
            fclose(rd.f);
        phi_sbuf_free(&w.buf);
        return phi_error(eh, PHICRYPT_EINVAL, "%s: the output is the input file (%s)", out_path, in_path);
    }

    double t0 = now_s();
    int rc = 0;
    outf out;
    phi_deid_stats all;
    memset(&all, 0, sizeof all);
    if ((rc = out_open(eh, &out, out_path))) {
        out_abort(&out);
        if (rd.f != stdin)
            fclose(rd.f);
        phi_sbuf_free(&w.buf);
        return rc;
    }
    if (suppress && out.direct) {
        out_abort(&out);
        if (rd.f != stdin)
            fclose(rd.f);
        phi_sbuf_free(&w.buf);
        return phi_error(eh, PHICRYPT_EINVAL, "%s: suppress_below_k needs a regular output file (a second pass "
                                              "reads the output back), not a device or FIFO", out_path);
    }
    /* The risk report: per-worker tables under one memory budget. */
    phi_risk risk_st;
    phi_risk_tab *main_rt = NULL;
    phi_risk_res risk_res, risk_after;
    phi_sbuf risk_json = { 0 };
    memset(&risk_st, 0, sizeof risk_st);
    memset(&risk_res, 0, sizeof risk_res);
    memset(&risk_after, 0, sizeof risk_after);
    uint64_t sup_records = 0, sup_values = 0, sup_dropped = 0;
    int risk_done = 0;
    if (!reid && p->nqi) {
        ru.risk = &risk_st;
        /* One table per worker (the calling thread's own when it is the only one). */
        if ((rc = phi_risk_init(eh, &risk_st, p, fmt, risk_memory, threads, out_path)) == 0 && threads <= 1 &&
            !(main_rt = phi_risk_tab_new(&risk_st)))
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        risk_st.want_below = suppress;
    }
    size_t nslots = threads > 1 ? 2 * threads : 1, nr = p->nrules ? p->nrules : 1;
    ru.slots = phi_calloc(nslots, sizeof *ru.slots);
    ru.nslots = nslots;
    unsigned char *hit = phi_calloc(nr, 1);
    for (size_t i = 0; ru.slots && i < nslots; i++)
        if (!(ru.slots[i].hit = phi_calloc(nr, 1)))
            rc = rc ? rc : PHICRYPT_ENOMEM;
    if (rc == PHICRYPT_ENOMEM || !ru.slots || !hit)
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    /* The header of a CSV file is read and rewritten before any batch. */
    if (rc == 0 && fmt == PHICRYPT_DEID_CSV) {
        phi_sbuf line = { 0 }, hout = { 0 };
        phi_deid_rec hrec;
        memset(&hrec, 0, sizeof hrec);
        hrec.pol = p;
        hrec.ph = ph;
        hrec.eh = eh;
        hrec.reid = reid;
        hrec.guard = guard;
        hrec.st = &all;
        hrec.rule_hit = hit;
        snprintf(hrec.where, sizeof hrec.where, "%s: line 1", ru.in_name);
        rc = phi_reader_csv_header(eh, &rd, &line);
        /* A byte order mark stays, as the line ends do (Excel reads UTF-8
         * by it); it is just not part of the first column's name. */
        if (rc == 0 && rd.bom)
            phi_sbuf_put(&hout, "\xEF\xBB\xBF", 3);
        if (rc == 0)
            rc = phi_csv_header(&hrec, line.p, line.len, delim ? (char)delim : ',', delim != 0, rd.crlf, &ru.cols,
                                &hout);
        if (rc == 0)
            rc = out_write(eh, &out, hout.p, hout.len);
        if (rc == 0 && ru.risk)
            phi_risk_set_csv(ru.risk, &ru.cols);
        phi_sbuf_free(&line);
        phi_sbuf_free(&hout);
    }
    if (rc == 0 && fmt == PHICRYPT_DEID_JSON)
        rc = out_write(eh, &out, "[", 1);

    pthread_t *tids = threads > 1 ? phi_calloc(threads, sizeof *tids) : NULL;
    size_t started = 0;
    if (threads > 1 && !tids)
        rc = rc ? rc : phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    pthread_mutex_init(&ru.mu, NULL);
    pthread_cond_init(&ru.cv, NULL);
    for (size_t i = 0; rc == 0 && threads > 1 && i < threads; i++) {
        if (pthread_create(&tids[i], NULL, worker, &ru) != 0) {
            rc = phi_error(eh, PHICRYPT_EINTERNAL, "cannot start a worker thread");
            break;
        }
        started++;
    }

    uint64_t seq_read = 0, seq_write = 0, records_in = 0, records_out = 0, first_json = 1;
    int eof = 0;
    while (rc == 0 && (!eof || seq_write < seq_read)) {
        /* Read as long as a slot is free. */
        while (rc == 0 && !eof) {
            slot *sl = &ru.slots[seq_read % nslots];
            pthread_mutex_lock(&ru.mu);
            int free_slot = sl->state == SLOT_FREE;
            pthread_mutex_unlock(&ru.mu);
            if (!free_slot)
                break;
            rc = phi_reader_next(eh, &rd, &sl->in, &sl->spans, &sl->nspans, &sl->cap_spans, BATCH_BYTES);
            wipe_residue(&sl->in, &sl->in_used);
            if (rc)
                break;
            if (sl->nspans == 0 && rd.nskipped == 0 && rd.eof && rd.carry_len == 0) {
                eof = 1;
                break;
            }
            /* Records the reader skipped (too large) come before the
             * batch's own in the report. */
            if (rd.nskipped) {
                phi_sbuf_put(&sl->st.bad, rd.skipped.p, rd.skipped.len);
                sl->st.nbad += rd.nskipped;
                records_in += rd.nskipped;
                rd.skipped.len = 0;
                rd.nskipped = 0;
            }
            sl->first_rec = rd.records - sl->nspans;
            records_in += sl->nspans;
            sl->seq = seq_read++;
            if (threads > 1) {
                pthread_mutex_lock(&ru.mu);
                sl->state = SLOT_READY;
                pthread_cond_broadcast(&ru.cv);
                pthread_mutex_unlock(&ru.mu);
            } else {
                process(&ru, sl, eh, main_rt);
                sl->state = SLOT_DONE;
            }
            if (rd.eof && rd.carry_len == 0)
                eof = 1;
        }
        if (rc || seq_write == seq_read)
            continue;
        /* Write the oldest batch once it is done. */
        slot *sl = &ru.slots[seq_write % nslots];
        pthread_mutex_lock(&ru.mu);
        while (sl->state != SLOT_DONE)
            pthread_cond_wait(&ru.cv, &ru.mu);
        pthread_mutex_unlock(&ru.mu);
        if (sl->rc) {
            rc = phi_error(eh, sl->rc, "%s", sl->msg);
            break;
        }
        const char *d = sl->out.p;
        size_t dl = sl->out.len;
        if (fmt == PHICRYPT_DEID_JSON && first_json && dl >= 2) {
            d += 2; /* no separator before the first document */
            dl -= 2;
            first_json = 0;
        }
        if (dl)
            rc = out_write(eh, &out, d, dl);
        records_out += sl->records_out;
        gate_merge(&ru, sl, &w);
        phi_stats_merge(&all, &sl->st);
        phi_stats_free(&sl->st);
        for (size_t i = 0; i < p->nrules; i++) {
            hit[i] |= sl->hit[i];
            sl->hit[i] = 0;
        }
        /* Kept for the next batch (no page faults for a fresh buffer). */
        sl->out.len = 0;
        pthread_mutex_lock(&ru.mu);
        sl->state = SLOT_FREE;
        pthread_mutex_unlock(&ru.mu);
        seq_write++;
        if (opts->progress)
            opts->progress(opts->progress_user, records_in, rd.byte, total);
    }
    if (rc == 0 && fmt == PHICRYPT_DEID_JSON)
        rc = out_write(eh, &out, "]\n", 2);

    pthread_mutex_lock(&ru.mu);
    ru.stop = 1;
    for (size_t i = 0; i < nslots && ru.slots; i++)
        if (ru.slots[i].state == SLOT_READY)
            ru.slots[i].state = SLOT_FREE; /* abandoned */
    pthread_cond_broadcast(&ru.cv);
    pthread_mutex_unlock(&ru.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    phi_free(tids);
    pthread_mutex_destroy(&ru.mu);
    pthread_cond_destroy(&ru.cv);

    /* The risk report, over every worker's classes; then the suppression
     * pass, from the output written so far to a second temporary file that
     * becomes the output instead (nothing partial either way). */
    if (main_rt) {
        phi_risk_tab_done(main_rt);
        main_rt = NULL;
    }
    if (rc == 0 && ru.risk) {
        rc = phi_risk_finish(eh, ru.risk, &risk_res);
        risk_done = rc == 0;
    }
    if (rc == 0 && ru.risk && suppress) {
        /* Pass 2 replaces the values of the records below k. Records that
         * stay in classes below k after it differ only in which
         * quasi-identifiers are missing (a missing value stays missing):
         * pass 3 leaves those records out, so no class below k remains. */
        phi_risk a1, a2;
        phi_risk_res r1;
        int have_a2 = 0;
        memset(&r1, 0, sizeof r1);
        rc = phi_risk_init(eh, &a1, p, fmt, risk_memory, 1, out_path);
        a1.want_below = 1;
        if (rc == 0 && fmt == PHICRYPT_DEID_CSV)
            phi_risk_set_csv(&a1, &ru.cols);
        if (rc == 0)
            rc = risk_pass(eh, &out, out_path, ru.risk, &a1, 0, ru.in_name, &sup_records, &sup_values);
        if (rc == 0)
            rc = phi_risk_finish(eh, &a1, &r1);
        if (rc == 0 && r1.records_below_k) {
            uint64_t nv = 0;
            have_a2 = 1;
            rc = phi_risk_init(eh, &a2, p, fmt, risk_memory, 1, out_path);
            if (rc == 0 && fmt == PHICRYPT_DEID_CSV)
                phi_risk_set_csv(&a2, &ru.cols);
            if (rc == 0)
                rc = risk_pass(eh, &out, out_path, &a1, &a2, 1, ru.in_name, &sup_dropped, &nv);
            if (rc == 0)
                rc = phi_risk_finish(eh, &a2, &risk_after);
            records_out -= sup_dropped;
        } else if (rc == 0) {
            risk_after = r1;
            memset(&r1, 0, sizeof r1);
        }
        phi_risk_res_free(&r1);
        phi_risk_free(&a1);
        if (have_a2)
            phi_risk_free(&a2);
    }
    if (risk_done) {
        phi_risk_report(&risk_json, ru.risk, &risk_res, rc == 0 && suppress ? &risk_after : NULL, sup_records,
                        sup_values, sup_dropped);
        if (rc == 0 && risk_json.oom)
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }

    size_t unmatched = 0, kept = 0;
    /* Only a whole run can tell a rule matched nothing; reid reads
     * deid's output, where dropped fields are gone by design. */
    int ended = rc == 0 && hit && !ru.reid;
    if (ended)
        end_warnings(&ru, &all, hit, &w, &unmatched, &kept);
    if (rc == 0 && strict && (unmatched || kept))
        rc = phi_error(eh, PHICRYPT_EINVAL,
                       "%s: strict: %zu rule(s) matched no field, %zu unknown field(s) kept (see the warnings); "
                       "%s", ru.in_name, unmatched, kept,
                       out.is_stdout || out.direct ? "the output already written is incomplete" : "nothing written");
    if (rc == 0)
        rc = out_commit(eh, &out);
    else
        out_abort(&out);
    /* The caller gets the warnings and the report on failure too: what
     * was done, and why it stopped. */
    char err[PHI_ERRMSG_MAX];
    snprintf(err, sizeof err, "%s", rc ? phi_error_message(eh) : "");
    const char *m = w.buf.p;
    for (size_t i = 0; warn_fn && i < w.n; i++, m += strlen(m) + 1)
        warn_fn(opts->warn_user, m);
    if (report) {
        int brc = build_report(eh, report, &ru, &all, threads, records_in, records_out, rd.byte, out.bytes,
                               now_s() - t0, rc ? err : NULL, ended ? hit : NULL, &w, &risk_json);
        if (rc == 0)
            rc = brc;
        else if (brc)
            phi_error(eh, rc, "%s", err); /* keep the first error's message */
    }
    phi_sbuf_free(&w.buf);
    phi_free(hit);
    for (size_t i = 0; i < nslots && ru.slots; i++) {
        phi_sbuf_free(&ru.slots[i].in);
        phi_sbuf_free(&ru.slots[i].out);
        phi_free(ru.slots[i].spans);
        phi_free(ru.slots[i].hit);
        phi_stats_free(&ru.slots[i].st);
        phi_sbuf_free(&ru.slots[i].gate_found);
        phi_sbuf_free(&ru.slots[i].gate_warn);
    }
    phi_free(ru.slots);
    phi_sbuf_free(&ru.gate_found);
    phi_wipe(&ru.gate_key, sizeof ru.gate_key);
    phi_stats_free(&all);
    if (main_rt)
        phi_risk_tab_free(main_rt);
    if (ru.risk)
        phi_risk_free(ru.risk);
    phi_risk_res_free(&risk_res);
    phi_risk_res_free(&risk_after);
    phi_sbuf_free(&risk_json);
    phi_csv_cols_free(&ru.cols);
    if (rd.carry)
        phi_wipe_free(rd.carry, rd.carry_cap);
    phi_sbuf_free(&rd.skipped);
    if (rd.f != stdin)
        fclose(rd.f);
    return rc;
}

size_t phicrypt_deid_max_record(void) { return PHICRYPT_DEID_MAX_RECORD; }

int phicrypt_deid_file(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_deid_policy *p, const char *in_path,
                       const char *out_path, const phicrypt_deid_opts *opts)
{
    return run_file(ph, report_json, p, in_path, out_path, opts, 0, NULL);
}

int phi_reid_file_raw(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_deid_policy *p, const char *in_path,
                      const char *out_path, const phicrypt_deid_opts *opts, const phi_deid_guard *guard)
{
    return run_file(ph, report_json, p, in_path, out_path, opts, 1, guard);
}

int phicrypt_deid_json(phicrypt_t *ph, phicrypt_buf *out, const phicrypt_deid_policy *p, const char *json,
                       size_t json_len)
{
    if (!out || !p || !json)
        return phi_error(ph, PHICRYPT_EINVAL, "deid: NULL argument");
    if (json_len > PHICRYPT_DEID_MAX_RECORD)
        return phi_error(ph, PHICRYPT_EBADDATA, "document larger than %u bytes", PHICRYPT_DEID_MAX_RECORD);
    phi_deid_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.pol = p;
    rec.ph = ph;
    rec.eh = ph;
    rec.nsubjects = p->nrules;
    if (p->nrules && !(rec.subjects = phi_calloc(p->nrules, sizeof *rec.subjects)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    snprintf(rec.where, sizeof rec.where, "document");
    phi_sbuf b = { 0 };
    int rc = phi_json_rewrite(&rec, json, json_len, &b);
    phi_rec_free(&rec);
    if (rc) {
        phi_sbuf_free(&b);
        return rc;
    }
    rc = phi_buf_from_bytes(ph, out, (const uint8_t *)(b.p ? b.p : ""), b.len + 1);
    if (rc == 0)
        out->len = b.len;
    phi_sbuf_free(&b);
    return rc;
}
