/* De-identification and re-identification of files through a session.
 * Re-identification restores the reversible fields the role may see with
 * keys it may use, leaves the others as configured (kept, redacted or
 * null), and is refused outright when a field it may see names a key it
 * may not use (a relabelling). The output appears only once its audit line
 * is written: the run goes to a staging file (or memory), then the line,
 * then the rename (or copy). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <phicrypt.h>
#include "access/access_private.h"
#include "audit/audit_private.h"
#include "core/config_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/handle_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"

#define RULE_PATH_MAX 256

/* "a[].b" -> "a.b": access rules do not write array steps. */
static void rule_path(char *out, size_t cap, const phi_deid_rule *r)
{
    size_t o = 0;
    if (r->preset) {
        /* Chosen by field name anywhere in the record: only a role that may
         * see every field may reverse it. */
        snprintf(out, cap, "*");
        return;
    }
    for (const char *p = r->path_text; *p && o + 1 < cap; p++) {
        if (p[0] == '[' && p[1] == ']') {
            p++;
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

static int64_t records_of(const phicrypt_buf *report)
{
    const char *p;
    long long n = 0;
    if (!report->data || !(p = strstr((const char *)report->data, "\"records_out\":")))
        return 0;
    sscanf(p + strlen("\"records_out\":"), "%lld", &n);
    return n;
}

/* What the workers consult for every ciphertext they are about to decrypt. */
typedef struct guard_arg {
    phicrypt_t *ph;
    const phi_access_grant *g;
    const phi_keyset *ks;
    const char *ns;
    atomic_int tripped;
} guard_arg;

static int key_ok(void *arg, const uint8_t id[16], const phi_deid_rule *rule)
{
    guard_arg *ga = arg;
    char path[RULE_PATH_MAX];
    rule_path(path, sizeof path, rule);
    if (phi_access_judge(ga->ph->cfg->access, ga->g, ga->ks, ga->ns, path, id) == PHI_KEY_OK)
        return 1;
    atomic_store(&ga->tripped, 1);
    return 0;
}

/* Where the run writes before its audit line exists. */
typedef struct stage {
    char *tmp;      /* a file next to the destination, or NULL */
    char *target;   /* what it is renamed to */
    int memfd;      /* or a memory file copied to a stream afterwards */
    char fdpath[40];
} stage;

static int is_stream(const char *path)
{
    struct stat st;
    /* /dev/stdout may lead to a regular file opened for appending: it is
     * written through its descriptor, never renamed over. */
    return strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0 || strcmp(path, "/dev/stderr") == 0 ||
           strncmp(path, "/dev/fd/", 8) == 0 || strncmp(path, "/proc/self/fd/", 14) == 0 ||
           (stat(path, &st) == 0 && !S_ISREG(st.st_mode));
}

static int stage_open(phicrypt_t *ph, stage *s, const char *out_path)
{
    static atomic_uint seq;
    char *dir;
    const char *ext;
    size_t n;
    memset(s, 0, sizeof *s);
    s->memfd = -1;
    if (is_stream(out_path)) {
        /* Plaintext bound for a stream waits in memory, never on disk. */
        if ((s->memfd = memfd_create("phicrypt-reid", MFD_CLOEXEC)) < 0)
            return phi_error(ph, PHICRYPT_EIO, "reid: cannot create a staging buffer (%s)", strerror(errno));
        snprintf(s->fdpath, sizeof s->fdpath, "/proc/self/fd/%d", s->memfd);
        return 0;
    }
    {
        struct stat lst;
        /* A link to a file: the file is replaced and the link stays (as the engine does). */
        if (lstat(out_path, &lst) == 0 && S_ISLNK(lst.st_mode))
            s->target = realpath(out_path, NULL);
        if (!s->target && !(s->target = strdup(out_path)))
            return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    if (!(dir = phi_path_dirname(s->target)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    /* The same extension: the engine may tell the format from it. */
    ext = strrchr(s->target, '.');
    if (!ext || strchr(ext, '/'))
        ext = "";
    n = strlen(dir) + strlen(ext) + 64;
    if ((s->tmp = malloc(n)))
        snprintf(s->tmp, n, "%s/.phicrypt-reid-%ld-%u%s", dir, (long)getpid(), atomic_fetch_add(&seq, 1), ext);
    phi_free(dir);
    return s->tmp ? 0 : phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
}

static const char *stage_path(const stage *s)
{
    return s->tmp ? s->tmp : s->fdpath;
}

static void stage_discard(stage *s)
{
    if (s->tmp)
        unlink(s->tmp);
    if (s->memfd >= 0) {
        if (ftruncate(s->memfd, 0) != 0) {
            /* closing frees it anyway */
        }
        close(s->memfd);
    }
    free(s->tmp);
    free(s->target);
    memset(s, 0, sizeof *s);
    s->memfd = -1;
}

/* Hands the staged output over to its destination. */
static int stage_commit(phicrypt_t *ph, stage *s, const char *out_path)
{
    uint8_t *buf;
    int fd, rc = 0, own = 0;
    if (s->tmp) {
        if (rename(s->tmp, s->target) != 0)
            return phi_error(ph, PHICRYPT_EIO, "%s: cannot rename the output file into place (%s)", out_path,
                             strerror(errno));
        phi_fsync_dir_of(s->target);
        free(s->tmp);
        s->tmp = NULL;
        return 0;
    }
    if (strcmp(out_path, "-") == 0 || strcmp(out_path, "/dev/stdout") == 0)
        fd = STDOUT_FILENO;
    else if (strcmp(out_path, "/dev/stderr") == 0)
        fd = STDERR_FILENO;
    else if (strncmp(out_path, "/dev/fd/", 8) == 0 || strncmp(out_path, "/proc/self/fd/", 14) == 0)
        fd = atoi(strrchr(out_path, '/') + 1);
    else if ((fd = open(out_path, O_WRONLY | O_CLOEXEC)) >= 0)
        own = 1;
    if (fd < 0)
        return phi_error(ph, PHICRYPT_EIO, "%s: cannot open the output (%s)", out_path, strerror(errno));
    if (!(buf = phi_malloc(1 << 16))) {
        if (own)
            close(fd);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    if (lseek(s->memfd, 0, SEEK_SET) != 0)
        rc = phi_error(ph, PHICRYPT_EIO, "reid: staging buffer: %s", strerror(errno));
    while (rc == 0) {
        ssize_t r = read(s->memfd, buf, 1 << 16);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = phi_error(ph, PHICRYPT_EIO, "reid: staging buffer: %s", strerror(errno));
        if (r <= 0)
            break;
        if (phi_write_all(fd, buf, (size_t)r) != 0)
            rc = phi_error(ph, PHICRYPT_EIO, "%s: write failed (%s)", out_path, strerror(errno));
    }
    phi_wipe_free(buf, 1 << 16);
    if (own)
        close(fd);
    return rc;
}

/* {... ,"reid_fields":[...],"withheld_fields":[...]} added to the report. */
static int report_sets(phicrypt_t *ph, phicrypt_buf *rep, const char *const *a, size_t na, const char *const *d,
                       size_t nd)
{
    size_t cap = (rep->len ? rep->len : 2) + 64, o;
    char *end, *t;
    for (size_t i = 0; i < na; i++)
        cap += 2 * strlen(a[i]) + 4;
    for (size_t i = 0; i < nd; i++)
        cap += 2 * strlen(d[i]) + 4;
    if (!rep->data || !(end = strrchr((char *)rep->data, '}')))
        return 0;
    if (!(t = phi_malloc(cap)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    o = (size_t)(end - (char *)rep->data);
    memcpy(t, rep->data, o);
    for (int k = 0; k < 2; k++) {
        const char *const *v = k ? d : a;
        size_t n = k ? nd : na;
        o += (size_t)snprintf(t + o, cap - o, ",\"%s\":[", k ? "withheld_fields" : "reid_fields");
        for (size_t i = 0; i < n; i++) {
            t[o++] = i ? ',' : '"';
            if (i)
                t[o++] = '"';
            for (const char *c = v[i]; *c; c++) { /* paths are checked UTF-8 text */
                if (*c == '"' || *c == '\\')
                    t[o++] = '\\';
                t[o++] = *c;
            }
            t[o++] = '"';
        }
        t[o++] = ']';
    }
    o += (size_t)snprintf(t + o, cap - o, "%s", end);
    phi_buf_give(rep, t, o);
    return 0;
}

int phi_reid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, int anon,
                     const char *ns, const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                     const phicrypt_deid_opts *opts)
{
    phi_access *a = ph && ph->cfg ? ph->cfg->access : NULL;
    phi_access_grant g;
    phi_keyset ks;
    phi_audit_event ev;
    phicrypt_buf report = PHICRYPT_BUF_INIT;
    phicrypt_deid_policy view;
    phi_deid_rule *rules = NULL;
    phi_deid_guard guard;
    guard_arg ga;
    stage st;
    const char **fields = NULL, **denied = NULL;
    const char *bad_field = NULL, *bad_key = NULL;
    char (*paths)[RULE_PATH_MAX] = NULL;
    uint8_t (*kids)[16] = NULL;
    size_t nf = 0, nd = 0, nk = 0, n;
    int rc, withhold;
    struct stat ib, ob;

    memset(&ks, 0, sizeof ks);
    memset(&st, 0, sizeof st);
    st.memfd = -1;
    if (!ph || !p || !in_path || !out_path)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_reid_file_as: NULL argument");
    if ((rc = phi_access_begin(ph, session, anon, "reid", ns, NULL, &g)) != 0)
        return rc;
    if (strcmp(in_path, out_path) == 0 && strcmp(in_path, "-") != 0)
        return phi_error(ph, PHICRYPT_EINVAL, "%s: the output cannot be the input", in_path);
    /* The engine would refuse this, but it only sees the staging name. */
    if (strcmp(in_path, "-") != 0 && stat(in_path, &ib) == 0 && S_ISREG(ib.st_mode) && stat(out_path, &ob) == 0 &&
        ib.st_dev == ob.st_dev && ib.st_ino == ob.st_ino)
        return phi_error(ph, PHICRYPT_EINVAL, "%s: the output is the input file (%s)", out_path, in_path);
    if (g.role && (rc = phi_access_keyset(ph, a, &g, ns, &ks)) != 0)
        return rc;
    n = p->nrules + PHI_ACT_COUNT;
    paths = phi_calloc(n, sizeof *paths);
    fields = phi_calloc(n, sizeof *fields);
    denied = phi_calloc(n, sizeof *denied);
    rules = phi_calloc(p->nrules ? p->nrules : 1, sizeof *rules);
    kids = phi_calloc(n, sizeof *kids);
    if (!paths || !fields || !denied || !rules || !kids) {
        rc = phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        goto out;
    }
    /* A view of the policy whose withheld rules are marked (the pointers are
     * the policy's own: only the rule arrays are copies). */
    view = *p;
    if (p->nrules)
        memcpy(rules, p->rules, p->nrules * sizeof *rules);
    view.rules = rules;
    withhold = phi_access_denied_mode(a) == PHI_DENIED_NULL     ? PHI_WITHHOLD_NULL
               : phi_access_denied_mode(a) == PHI_DENIED_MARKER ? PHI_WITHHOLD_REDACT
                                                                : PHI_WITHHOLD_KEEP;
    for (size_t i = 0; i < n; i++) {
        phi_deid_rule *r = i < p->nrules ? &rules[i] : &view.preset_rules[i - p->nrules];
        char *path = paths[nf + nd];
        int key_usable = 1, have_id = 0;
        if (i >= p->nrules && !p->safe_harbor)
            break;
        if (r->act != PHI_ACT_TOKENIZE && r->act != PHI_ACT_ENCRYPT)
            continue;
        rule_path(path, RULE_PATH_MAX, r);
        if (phi_access_text_check(path, RULE_PATH_MAX) != 0) {
            rc = phi_error(ph, PHICRYPT_EINVAL, "reid: a policy path is not valid UTF-8 text");
            goto out;
        }
        if (r->act == PHI_ACT_ENCRYPT && r->key)
            have_id = phicrypt_datakey_id_by_alt_name(ph, kids[nk], r->key) == 0;
        if (!g.role) {
            nk += (size_t)have_id; /* the data keys used go on the audit line */
            fields[nf++] = path;
            continue;
        }
        if (!phi_access_allows(&g, ns, path)) {
            r->reid_withhold = withhold;
            if (withhold == PHI_WITHHOLD_REDACT)
                r->with = (char *)phi_access_marker(a);
            denied[nd++] = path;
            continue;
        }
        /* A field the role may see, reversed with a key it may not use: the
         * policy relabels another field's key. */
        if (r->act == PHI_ACT_TOKENIZE)
            key_usable = phi_keyset_has_name(&ks, r->key);
        else
            key_usable = have_id && phi_access_judge(a, &g, &ks, ns, path, kids[nk]) == PHI_KEY_OK;
        nk += (size_t)have_id;
        if (!key_usable && !bad_field) {
            bad_field = path;
            bad_key = r->key;
        }
        fields[nf++] = path;
    }
    if (bad_field) {
        phi_error(ph, PHICRYPT_EACCESS, "access denied: the policy reverses '%s' with key '%s', which role '%s' may "
                  "not use for it", bad_field, bad_key ? bad_key : "", session->role);
        rc = phi_access_refuse(ph, session, "reid", ns, PHICRYPT_EACCESS, &bad_field, 1, NULL, 0,
                               bad_key && phi_access_text_check(bad_key, PHI_ACCESS_TEXT_MAX) == 0 ? bad_key : NULL);
        goto out;
    }
    if (nd > 0 && nf == 0) {
        phi_error(ph, PHICRYPT_EACCESS, "access denied: role '%s' with purpose '%s' may re-identify none of the "
                  "policy's %zu reversible field(s)", session->role, session->purpose, nd);
        rc = phi_access_refuse(ph, session, "reid", ns, PHICRYPT_EACCESS, denied, nd, NULL, 0, NULL);
        goto out;
    }
    memset(&ga, 0, sizeof ga);
    ga.ph = ph;
    ga.g = &g;
    ga.ks = &ks;
    ga.ns = ns;
    atomic_init(&ga.tripped, 0);
    guard.key_ok = key_ok;
    guard.arg = &ga;
    if ((rc = stage_open(ph, &st, out_path)) != 0)
        goto out;
    rc = phi_reid_file_raw(ph, &report, &view, in_path, stage_path(&st), opts, g.role ? &guard : NULL);
    if (atomic_load(&ga.tripped)) {
        /* Even a skipped record (skip_bad) was an attempt: nothing is kept. */
        const char *f = fields[0];
        phi_error(ph, PHICRYPT_EACCESS, "access denied: the input holds a ciphertext under a data key that role '%s' "
                  "may not use for its field (a relabelled ciphertext)", session->role);
        rc = phi_access_refuse(ph, session, "reid", ns, PHICRYPT_EACCESS, &f, 1, NULL, 0, NULL);
        goto out;
    }
    if (rc != 0) {
        if (report_json) /* the run's report says how far it got ("completed": false) */
            phi_buf_give(report_json, report.data, report.len), report.data = NULL, report.len = 0;
        goto out;
    }
    phi_access_event(&ev, session, "reid", ns);
    ev.break_glass = g.break_glass;
    ev.fields = fields;
    ev.n_fields = nf;
    ev.denied_fields = denied;
    ev.n_denied_fields = nd;
    ev.count = records_of(&report);
    ev.key_ids = (const uint8_t(*)[16])kids;
    ev.n_key_ids = nk;
    /* The audit line first: if it cannot be written, the output never appears. */
    if ((rc = phi_access_record(ph, &ev)) != 0 || (rc = stage_commit(ph, &st, out_path)) != 0)
        goto out;
    if (report_json) {
        if ((rc = report_sets(ph, &report, fields, nf, denied, nd)) != 0)
            goto out;
        phi_buf_give(report_json, report.data, report.len);
        report.data = NULL;
        report.len = 0;
    }
out:
    stage_discard(&st);
    phi_keyset_free(&ks);
    phicrypt_buf_dispose(&report);
    phi_free(paths);
    phi_free(fields);
    phi_free(denied);
    phi_free(rules);
    phi_free(kids);
    return rc;
}

int phicrypt_reid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, const char *ns,
                          const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                          const phicrypt_deid_opts *opts)
{
    return phi_reid_file_as(ph, report_json, session, 0, ns, p, in_path, out_path, opts);
}

int phicrypt_deid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, const char *ns,
                          const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                          const phicrypt_deid_opts *opts)
{
    phi_access_grant g;
    phi_audit_event ev;
    phicrypt_buf report = PHICRYPT_BUF_INIT;
    const char **fields = NULL;
    char (*paths)[RULE_PATH_MAX] = NULL;
    size_t nf = 0, n;
    int rc;
    if (!ph || !p)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_deid_file_as: NULL argument");
    if ((rc = phi_access_begin(ph, session, 0, "deid", ns, NULL, &g)) != 0)
        return rc;
    n = p->nrules + PHI_ACT_COUNT;
    paths = phi_calloc(n, sizeof *paths);
    fields = phi_calloc(n, sizeof *fields);
    if (!paths || !fields) {
        rc = phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const phi_deid_rule *r = i < p->nrules ? &p->rules[i] : &p->preset_rules[i - p->nrules];
        if (i >= p->nrules && !p->safe_harbor)
            break;
        if (r->act != PHI_ACT_TOKENIZE && r->act != PHI_ACT_ENCRYPT)
            continue;
        rule_path(paths[nf], RULE_PATH_MAX, r);
        if (phi_access_text_check(paths[nf], RULE_PATH_MAX) == 0)
            fields[nf] = paths[nf], nf++;
    }
    if ((rc = phicrypt_deid_file(ph, &report, p, in_path, out_path, opts)) != 0) {
        if (report_json) /* the run's report says how far it got ("completed": false) */
            phi_buf_give(report_json, report.data, report.len), report.data = NULL, report.len = 0;
        goto out;
    }
    phi_access_event(&ev, session, "deid", ns);
    ev.break_glass = g.break_glass;
    ev.fields = fields;
    ev.n_fields = nf;
    ev.count = records_of(&report);
    if ((rc = phi_access_record(ph, &ev)) != 0)
        goto out;
    if (report_json) {
        phi_buf_give(report_json, report.data, report.len);
        report.data = NULL;
        report.len = 0;
    }
out:
    phicrypt_buf_dispose(&report);
    phi_free(paths);
    phi_free(fields);
    return rc;
}
