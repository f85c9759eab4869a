/* The audit log: one line per event with the right fields, a chain that
 * detects edits, deletions, reordering, truncation and forgeries, safe
 * concurrent appends, no PHI, and the accounting of disclosures. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access_fixture.h"
#include "audit/audit_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"

/* Set in forked children (see write_event). */
static int in_child;

static void write_event(phicrypt_t *ph, const char *actor, const char *op, const char *subject)
{
    phi_audit_event ev;
    const char *fields[] = { "ssn" };
    memset(&ev, 0, sizeof ev);
    ev.actor = actor;
    ev.role = "billing";
    ev.purpose = "PAYMENT";
    ev.op = op;
    ev.ns = "hospital.patients";
    ev.outcome = "ok";
    ev.fields = fields;
    ev.n_fields = 1;
    ev.count = 1;
    ev.subject = subject;
    ev.subject_len = subject ? strlen(subject) : 0;
    int rc = phi_audit_write(ph, &ev);
    if (rc != 0 && in_child) {
        /* A cmocka assert in a forked child would run the rest of the
         * suite there: the child says why and exits instead. */
        fprintf(stderr, "# child %ld: audit write failed: %s\n", (long)getpid(), phicrypt_errmsg(ph));
        _exit(3);
    }
    assert_int_equal(rc, 0);
}

/* Lines of the log whose op is `op`. */
static int count_op(afx *f, const char *op)
{
    size_t len;
    char *t = tu_read_file(f->log, &len), needle[64], *p;
    int n = 0;
    snprintf(needle, sizeof needle, "\"op\":\"%s\"", op);
    for (p = t; p && (p = strstr(p, needle)); p++)
        n++;
    free(t);
    return n;
}

static int verify(afx *f, const char *path, char **report)
{
    phicrypt_buf r = PHICRYPT_BUF_INIT;
    int rc = phicrypt_audit_verify(f->ph, &r, path);
    *report = strdup(r.data ? (char *)r.data : "");
    phicrypt_buf_dispose(&r);
    return rc;
}

static void test_audit__decrypt_writes_one_line_with_every_field(void **state)
{
    afx *f = *state;
    phicrypt_session s = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT, sub = PHICRYPT_BUF_INIT;
    char *text, u[37];
    size_t len;
    bson_t line;
    bson_iter_t it, a;
    bson_error_t err;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    text = tu_read_file(f->log, &len);
    assert_non_null(text);
    assert_int_equal(afx_log_lines(f), 1);
    assert_true(bson_init_from_json(&line, text, (ssize_t)len - 1, &err));
    assert_true(bson_iter_init_find(&it, &line, "seq"));
    assert_int_equal(bson_iter_as_int64(&it), 1);
    assert_true(bson_iter_init_find(&it, &line, "time"));
    assert_true(phi_audit_parse_time(bson_iter_utf8(&it, NULL)) > 0);
#define STR_IS(k, v)                                                                                               \
    assert_true(bson_iter_init_find(&it, &line, k));                                                               \
    assert_string_equal(bson_iter_utf8(&it, NULL), v)
    STR_IS("actor", "clerk");
    STR_IS("role", "billing");
    STR_IS("purpose", "PAYMENT");
    STR_IS("op", "decrypt");
    STR_IS("ns", "hospital.patients");
    STR_IS("outcome", "ok");
    assert_true(bson_iter_init_find(&it, &line, "fields") && bson_iter_recurse(&it, &a) && bson_iter_next(&a));
    assert_string_equal(bson_iter_utf8(&a, NULL), "ssn");
    assert_false(bson_iter_next(&a));
    assert_true(bson_iter_init_find(&it, &line, "denied_fields"));
    assert_true(bson_iter_init_find(&it, &line, "key_ids") && bson_iter_recurse(&it, &a) && bson_iter_next(&a));
    {
        phi_uuid_format(u, f->ssn_key);
        assert_string_equal(bson_iter_utf8(&a, NULL), u);
        assert_false(bson_iter_next(&a)); /* the diagnosis key is not listed: it was not used */
    }
    assert_true(bson_iter_init_find(&it, &line, "count"));
    assert_int_equal(bson_iter_as_int64(&it), 1);
    assert_true(bson_iter_init_find(&it, &line, "break_glass"));
    assert_false(bson_iter_bool(&it));
    assert_int_equal(phicrypt_audit_subject_id(f->ph, &sub, PT_MRN), 0);
    STR_IS("subject", (char *)sub.data);
    assert_true(bson_iter_init_find(&it, &line, "chain"));
    assert_int_equal(strlen(bson_iter_utf8(&it, NULL)), 64);
    phicrypt_buf_dispose(&sub);
    bson_destroy(&line);
    free(text);
}

static void test_audit__no_phi_in_the_log(void **state)
{
    afx *f = *state;
    const char *roles[][2] = { { "physician", "TREATMENT" }, { "billing", "PAYMENT" }, { "nurse", "TREATMENT" },
                               { "physician", "EMERGENCY" }, { "billing", "RESEARCH" } };
    const char *plain[] = { PT_MRN, PT_SSN, PT_DX, PT_NOTES, PT_VISIT_DX, "4711", "123456789" };
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char *text;
    size_t len;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        phicrypt_session s = afx_session("user", roles[i][0], roles[i][1]);
        phicrypt_decrypt_document_as(f->ph, &out, &s, "hospital.patients", f->doc, f->doc_len);
        phicrypt_buf_dispose(&out);
    }
    assert_int_equal(afx_log_lines(f), 5);
    text = tu_read_file(f->log, &len);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        assert_false(tu_contains(text, plain[i]));
    free(text);
}


/* A client on the fixture's key set with more "audit" members. */
static phicrypt_t *client_with(afx *f, const char *audit_extra)
{
    char *cfg = afx_config(f, NULL), *at = strstr(cfg, "\"fsync\": \"never\"}"), *full;
    phicrypt_t *ph = NULL;
    assert_non_null(at);
    *at = '\0';
    if (asprintf(&full, "%s\"fsync\": \"never\", %s}%s", cfg, audit_extra, at + strlen("\"fsync\": \"never\"}")) < 0)
        abort();
    free(cfg);
    if (phicrypt_new(&ph, full) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    free(full);
    return ph;
}

static void to_hex(char out[65], const uint8_t b[32])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* What an attacker without the signing key can do: recompute every chain
 * value (and checkpoint head) after an edit. */
static void rechain(char *t, size_t len)
{
    uint8_t prev[32] = { 0 }, c[32];
    char hex[65];
    size_t o = 0;
    while (o < len) {
        char *nl = memchr(t + o, '\n', len - o), *head, save;
        size_t l, cl;
        if (!nl)
            break;
        l = (size_t)(nl - (t + o));
        save = *nl;
        *nl = '\0';
        if ((head = strstr(t + o, "\"head\":\""))) {
            to_hex(hex, prev);
            memcpy(head + 8, hex, 64);
        }
        *nl = save;
        if (phi_audit_split_line(t + o, l, &cl, c) == 0) {
            phi_audit_chain(prev, t + o, cl, c);
            to_hex(hex, c);
            memcpy(t + o + cl + strlen(",\"chain\":\""), hex, 64);
            memcpy(prev, c, 32);
        }
        o += l + 1;
    }
}

/* Line number (1-based) of the k-th line containing needle. */
static int nth_line_with(const char *text, const char *needle, int k)
{
    int line = 1;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        char *copy = strndup(p, l);
        if (strstr(copy, needle) && --k == 0) {
            free(copy);
            return line;
        }
        free(copy);
        line++;
        p += l + (nl ? 1 : 0);
    }
    return 0;
}

/* Seven events with a checkpoint every 2 lines: e e c e e c e e c e (seq 1..10 plus). */
static char *make_signed_log(afx *f, size_t *len)
{
    phicrypt_t *ph = client_with(f, "\"checkpoint_every\": {\"lines\": 2, \"seconds\": 0}");
    char *report;
    for (int i = 0; i < 7; i++)
        write_event(ph, "clerk", "decrypt", PT_MRN);
    phicrypt_free(ph);
    assert_int_equal(verify(f, NULL, &report), 0);
    free(report);
    return tu_read_file(f->log, len);
}

/* Five lines, then a damaged copy per case. */
static char *make_log(afx *f, size_t *len)
{
    char *text, *report;
    for (int i = 0; i < 5; i++)
        write_event(f->ph, "clerk", "decrypt", PT_MRN);
    assert_int_equal(verify(f, NULL, &report), 0);
    assert_true(tu_contains(report, "intact: 5 lines,"));
    free(report);
    text = tu_read_file(f->log, len);
    assert_non_null(text);
    return text;
}

/* Start offsets of the lines of text. */
static size_t line_at(const char *text, int n)
{
    size_t o = 0;
    while (n-- > 1)
        o = (size_t)(strchr(text + o, '\n') - text) + 1;
    return o;
}

static void expect_bad(afx *f, const char *text, size_t len, int code, const char *needle)
{
    char path[4096], *report;
    snprintf(path, sizeof path, "%s/damaged.jsonl", f->dir);
    tu_write_file(path, text, len, 0600);
    assert_int_equal(verify(f, path, &report), code);
    if (!tu_contains(report, needle))
        fail_msg("report '%s' lacks '%s'", report, needle);
    free(report);
}

static void test_audit__edited_byte_is_detected(void **state)
{
    afx *f = *state;
    size_t len;
    char *t = make_log(f, &len);
    char *actor = strstr(t + line_at(t, 3), "clerk");
    actor[0] = 'C';
    expect_bad(f, t, len, PHICRYPT_EAUTH, "line 3: chain value does not match");
    free(t);
}

static void test_audit__deleted_line_is_detected(void **state)
{
    afx *f = *state;
    size_t len, a, b;
    char *t = make_log(f, &len);
    a = line_at(t, 2);
    b = line_at(t, 3);
    memmove(t + a, t + b, len - b);
    expect_bad(f, t, len - (b - a), PHICRYPT_EAUTH, "line 2: sequence 3 where 2 was expected: 1 line(s) deleted");
    free(t);
}

static void test_audit__swapped_lines_are_detected(void **state)
{
    afx *f = *state;
    size_t len, a, b, c;
    char *t = make_log(f, &len), *s = malloc(len);
    a = line_at(t, 2);
    b = line_at(t, 3);
    c = line_at(t, 4);
    memcpy(s, t, a);
    memcpy(s + a, t + b, c - b);
    memcpy(s + a + (c - b), t + a, b - a);
    memcpy(s + c, t + c, len - c);
    expect_bad(f, s, len, PHICRYPT_EAUTH, "line 2: sequence 3 where 2 was expected: lines were reordered");
    free(s);
    free(t);
}

static void test_audit__truncation_mid_line_is_torn_not_tampered(void **state)
{
    afx *f = *state;
    size_t len;
    char *t = make_log(f, &len), *report;
    size_t cut = line_at(t, 5) + 40;
    expect_bad(f, t, cut, PHICRYPT_EBADDATA, "torn");
    /* A writer after the crash closes the torn line off with a recorded
     * "repaired" entry and chains on: the log is intact again. */
    tu_write_file(f->log, t, cut, 0600);
    write_event(f->ph, "clerk", "decrypt", PT_MRN);
    assert_int_equal(verify(f, NULL, &report), 0);
    assert_true(tu_contains(report, "intact: 6 lines"));
    free(report);
    free(t);
    t = tu_read_file(f->log, &len);
    assert_true(tu_contains(t, "\"op\":\"repaired\",\"torn_bytes\":40,"));
    free(t);
}

static void test_audit__forged_line_is_detected(void **state)
{
    afx *f = *state;
    size_t len;
    char *t = make_log(f, &len), *s;
    const char *forged = "{\"seq\":6,\"time\":\"2026-01-01T00:00:00.000Z\",\"actor\":\"x\",\"op\":\"decrypt\","
                         "\"chain\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}\n";
    s = malloc(len + strlen(forged));
    memcpy(s, t, len);
    memcpy(s + len, forged, strlen(forged));
    expect_bad(f, s, len + strlen(forged), PHICRYPT_EAUTH, "line 6: chain value does not match");
    free(s);
    free(t);
}

/* A writer killed at an arbitrary moment leaves a log that verifies (or,
 * at worst, ends in one torn line), and later writers carry on. */
static void test_audit__killed_writer_leaves_a_valid_log(void **state)
{
    afx *f = *state;
    char *report;
    pid_t pid;
    int st, rc;
    write_event(f->ph, "parent", "decrypt", NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        in_child = 1;
        phicrypt_t *ph = afx_client(f, NULL);
        for (;;)
            write_event(ph, "child", "decrypt", PT_MRN);
    }
    while (afx_log_lines(f) < 20)
        usleep(1000);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    rc = verify(f, NULL, &report);
    if (rc != 0) {
        assert_int_equal(rc, PHICRYPT_EBADDATA);
        assert_true(tu_contains(report, "torn"));
    }
    free(report);
    write_event(f->ph, "parent", "decrypt", NULL);
    rc = verify(f, NULL, &report);
    if (rc != 0)
        fail_msg("%s", report);
    free(report);
}


static void test_audit__checkpoint_every_n_lines_and_at_shutdown(void **state)
{
    afx *f = *state;
    size_t len;
    char *t = make_signed_log(f, &len), *report;
    /* e e c e c e c e c e c? : every even seq after an event, and one at free. */
    assert_int_equal(count_op(f, "decrypt"), 7);
    assert_true(count_op(f, "checkpoint") >= 4);
    assert_true(tu_contains(t + len - 400, "\"op\":\"checkpoint\"")); /* the clean-shutdown one is last */
    assert_int_equal(verify(f, NULL, &report), 0);
    assert_true(tu_contains(report, "0 lines after it not yet signed"));
    free(report);
    free(t);
}

static void test_audit__edit_and_rechain_is_caught_by_the_signature(void **state)
{
    afx *f = *state;
    size_t len;
    char *t = make_signed_log(f, &len);
    char *actor = strstr(t, "clerk");
    actor[0] = 'C';
    rechain(t, len);
    expect_bad(f, t, len, PHICRYPT_EAUTH, "checkpoint signature (key version 1) does not verify");
    free(t);
}

static void test_audit__edited_checkpoint_is_detected(void **state)
{
    afx *f = *state;
    size_t len;
    char *t = make_signed_log(f, &len), *p;
    int l = nth_line_with(t, "\"op\":\"checkpoint\"", 1);
    p = strstr(t + line_at(t, l), "\"time\":\"") + 8;
    p[3] = p[3] == '9' ? '8' : '9'; /* another year */
    expect_bad(f, t, len, PHICRYPT_EAUTH, "chain value does not match");
    rechain(t, len);
    expect_bad(f, t, len, PHICRYPT_EAUTH, "checkpoint signature");
    free(t);
}

static void test_audit__dropped_checkpoint_is_detected(void **state)
{
    afx *f = *state;
    size_t len, a, b;
    char *t = make_signed_log(f, &len);
    int l = nth_line_with(t, "\"op\":\"checkpoint\"", 2);
    a = line_at(t, l);
    b = line_at(t, l + 1);
    memmove(t + a, t + b, len - b);
    expect_bad(f, t, len - (b - a), PHICRYPT_EAUTH, "deleted");
    free(t);
}

static void test_audit__swapped_checkpoints_are_detected(void **state)
{
    afx *f = *state;
    size_t len, a1, b1, a2, b2;
    char *t = make_signed_log(f, &len), *s = malloc(len);
    int l1 = nth_line_with(t, "\"op\":\"checkpoint\"", 1), l2 = nth_line_with(t, "\"op\":\"checkpoint\"", 2);
    a1 = line_at(t, l1), b1 = line_at(t, l1 + 1), a2 = line_at(t, l2), b2 = line_at(t, l2 + 1);
    memcpy(s, t, a1);
    memcpy(s + a1, t + a2, b2 - a2);
    memcpy(s + a1 + (b2 - a2), t + b1, a2 - b1);
    memcpy(s + a1 + (b2 - a2) + (a2 - b1), t + a1, b1 - a1);
    memcpy(s + b2, t + b2, len - b2);
    expect_bad(f, s, len, PHICRYPT_EAUTH, "line");
    rechain(s, len);
    expect_bad(f, s, len, PHICRYPT_EAUTH, "line");
    free(s);
    free(t);
}

/* A short write (the file size limit here, ENOSPC alike) is truncated back
 * under the lock: no torn line, an error, and the log verifies. */
static void test_audit__short_write_leaves_no_torn_line(void **state)
{
    afx *f = *state;
    struct stat st;
    pid_t pid;
    int status;
    char *report;
    write_event(f->ph, "clerk", "decrypt", PT_MRN);
    assert_int_equal(stat(f->log, &st), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        phicrypt_t *ph = afx_client(f, NULL);
        struct rlimit rl = { (rlim_t)st.st_size + 100, (rlim_t)st.st_size + 100 };
        phi_audit_event ev;
        memset(&ev, 0, sizeof ev);
        ev.actor = "clerk";
        ev.op = "decrypt";
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        _exit(phi_audit_write(ph, &ev) == PHICRYPT_EIO && tu_contains(phicrypt_errmsg(ph), "nothing was appended")
                  ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    {
        struct stat st2;
        assert_int_equal(stat(f->log, &st2), 0);
        assert_int_equal(st2.st_size, st.st_size);
    }
    assert_int_equal(verify(f, NULL, &report), 0);
    free(report);
    write_event(f->ph, "clerk", "decrypt", PT_MRN);
    assert_int_equal(verify(f, NULL, &report), 0);
    free(report);
}

typedef struct thr_arg {
    phicrypt_t *ph;
    int n;
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *a = p;
    for (int i = 0; i < a->n; i++)
        write_event(a->ph, "thread", "decrypt", PT_MRN);
    return NULL;
}

/* 4 processes x 500 appends (one of them on 4 threads), checkpoints every
 * 50 lines: nothing lost, nothing duplicated, every checkpoint verifies. */
static void test_audit__many_processes_and_threads(void **state)
{
    afx *f = *state;
    enum { PROCS = 4, EACH = 500, THREADS = 4 };
    pid_t pids[PROCS];
    char *report;
    write_event(f->ph, "parent", "decrypt", NULL);
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            in_child = 1;
            phicrypt_t *ph = client_with(f, "\"checkpoint_every\": {\"lines\": 50, \"seconds\": 1}");
            if (p == 0) {
                pthread_t th[THREADS];
                thr_arg a = { ph, EACH / THREADS };
                for (int i = 0; i < THREADS; i++)
                    pthread_create(&th[i], NULL, thr_main, &a);
                for (int i = 0; i < THREADS; i++)
                    pthread_join(th[i], NULL);
            } else {
                for (int i = 0; i < EACH; i++)
                    write_event(ph, "child", "decrypt", PT_MRN);
            }
            phicrypt_free(ph);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(count_op(f, "decrypt"), 1 + PROCS * EACH);
    assert_true(count_op(f, "checkpoint") >= PROCS * EACH / 50);
    /* Seqs strictly 1, 2, 3 ... and every signature: verify checks both. */
    if (verify(f, NULL, &report) != 0)
        fail_msg("%s", report);
    free(report);
}


/* A log written by audit log v1 (HMAC chain, no key versions) is named as
 * such by verify, and the writer does not chain v2 lines onto it. */
static void test_audit__v1_log_is_named_and_not_appended_to(void **state)
{
    afx *f = *state;
    const char v1[] = "{\"seq\":1,\"time\":\"2026-01-01T00:00:00.000Z\",\"actor\":\"x\",\"op\":\"decrypt\","
                      "\"chain\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}\n";
    char *report;
    phi_audit_event ev;
    tu_write_file(f->log, v1, sizeof v1 - 1, 0600);
    assert_int_equal(verify(f, NULL, &report), PHICRYPT_EBADDATA);
    assert_true(tu_contains(report, "audit log v1"));
    free(report);
    memset(&ev, 0, sizeof ev);
    ev.actor = "x";
    ev.op = "decrypt";
    assert_int_equal(phi_audit_write(f->ph, &ev), PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "older phicrypt"));
}


/* Bad audit configuration and bad arguments to the v2 calls. */
static void test_audit__v2_bad_inputs(void **state)
{
    afx *f = *state;
    static const char *const bad[] = {
        "\"anchors\": \"file:a.jsonl\"", "\"anchors\": [\"a.jsonl\"]", "\"anchors\": [\"file:\"]",
        "\"anchors\": [\"mongodb\"]", "\"anchors\": [3]", "\"checkpoint_every\": 5",
        "\"checkpoint_every\": {\"lines\": 0}", "\"checkpoint_every\": {\"seconds\": -1}",
        "\"checkpoint_every\": {\"lines\": \"10\"}", "\"checkpoint_every\": {\"minutes\": 1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *cfg = afx_config(f, NULL), *at = strstr(cfg, "\"fsync\": \"never\"}"), *full;
        phicrypt_t *ph = NULL;
        int rc;
        *at = '\0';
        if (asprintf(&full, "%s\"fsync\": \"never\", %s}}", cfg, bad[i]) < 0)
            abort();
        rc = phicrypt_new(&ph, full);
        if (rc != PHICRYPT_ECONFIG && rc != PHICRYPT_EUNSUPPORTED)
            fail_msg("config %s: %d", bad[i], rc);
        assert_true(tu_contains(phicrypt_errmsg(NULL), "audit."));
        free(cfg);
        free(full);
    }
    {
        phicrypt_buf out = PHICRYPT_BUF_INIT;
        phicrypt_audit_verify_opts vo = PHICRYPT_AUDIT_VERIFY_OPTS_INIT;
        phicrypt_audit_accounting_opts ao = PHICRYPT_AUDIT_ACCOUNTING_OPTS_INIT;
        int torn;
        assert_int_equal(phicrypt_audit_resume(f->ph, NULL), PHICRYPT_EINVAL);
        assert_int_equal(phicrypt_audit_resume(f->ph, ""), PHICRYPT_EINVAL);
        write_event(f->ph, "clerk", "decrypt", PT_MRN);
        assert_int_equal(phicrypt_audit_resume(f->ph, "nothing lost"), PHICRYPT_EINVAL); /* not behind */
        vo.version = 99;
        assert_int_equal(phicrypt_audit_verify_log(f->ph, &out, &torn, NULL, &vo), PHICRYPT_EINVAL);
        assert_int_equal(phicrypt_audit_verify_log(NULL, &out, &torn, NULL, NULL), PHICRYPT_EINVAL);
        vo.version = PHICRYPT_AUDIT_VERIFY_OPTS_VERSION;
        vo.public_key_file = "/nonexistent/keys.jsonl";
        assert_int_equal(phicrypt_audit_verify_log(NULL, &out, &torn, f->log, &vo), PHICRYPT_EIO);
        ao.version = 0;
        assert_int_equal(phicrypt_audit_accounting(f->ph, &out, PT_MRN, &ao), PHICRYPT_EINVAL);
        assert_int_equal(phicrypt_audit_accounting(f->ph, NULL, PT_MRN, NULL), PHICRYPT_EINVAL);
        assert_int_equal(phicrypt_audit_public_keys(f->ph, NULL), PHICRYPT_EINVAL);
        assert_int_equal(phicrypt_audit_checkpoint(NULL), PHICRYPT_EINVAL);
    }
}

static void test_audit__disclosures_of_one_patient(void **state)
{
    afx *f = *state;
    phicrypt_session doc = afx_session("dr.house", "physician", "TREATMENT");
    phicrypt_session bill = afx_session("clerk", "billing", "PAYMENT");
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t res;
    bson_iter_t it, a;
    int n = 0;
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &doc, "hospital.patients", f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &out, &bill, "hospital.patients", f->doc, f->doc_len), 0);
    phicrypt_buf_dispose(&out);
    write_event(f->ph, "clerk", "decrypt", "MRN-9999");   /* another patient */
    write_event(f->ph, "admin", "key_create", NULL);       /* not a disclosure */
    assert_int_equal(phicrypt_audit_disclosures(f->ph, &out, PT_MRN, 0), 0);
    assert_true(bson_init_static(&res, out.data, out.len));
    assert_true(bson_iter_init_find(&it, &res, "disclosures") && bson_iter_recurse(&it, &a));
    while (bson_iter_next(&a))
        n++;
    assert_int_equal(n, 2);
    {
        char *json = afx_json(&out);
        assert_false(tu_contains(json, PT_MRN));
        bson_free(json);
    }
    phicrypt_buf_dispose(&out);
    /* Nothing after a date in the future. */
    assert_int_equal(phicrypt_audit_disclosures(f->ph, &out, PT_MRN, (int64_t)4102444800000), 0);
    assert_true(bson_init_static(&res, out.data, out.len));
    assert_true(bson_iter_init_find(&it, &res, "disclosures") && bson_iter_recurse(&it, &a));
    assert_false(bson_iter_next(&a));
    phicrypt_buf_dispose(&out);
    assert_int_equal(phicrypt_audit_disclosures(f->ph, &out, NULL, 0), PHICRYPT_EINVAL);
}

static void test_audit__key_operations_are_logged(void **state)
{
    afx *f = *state;
    phicrypt_datakey_opts ko = PHICRYPT_DATAKEY_OPTS_INIT;
    uint8_t id[16];
    size_t n = 0, len;
    char *text, u[37], *report;
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &ko), 0);
    assert_int_equal(phicrypt_datakey_rewrap(f->ph, &n, NULL, NULL, NULL), 0);
    assert_true(n >= 3);
    assert_int_equal(phicrypt_datakey_delete(f->ph, id), 0);
    assert_int_equal(afx_log_lines(f), 3);
    text = tu_read_file(f->log, &len);
    phi_uuid_format(u, id);
    assert_true(tu_contains(text, "\"op\":\"key_create\""));
    assert_true(tu_contains(text, "\"op\":\"key_rewrap\""));
    assert_true(tu_contains(text, "\"op\":\"key_delete\""));
    assert_true(tu_contains(text, u));
    assert_true(tu_contains(text, "\"actor\":\"uid:"));
    free(text);
    assert_int_equal(verify(f, NULL, &report), 0);
    free(report);
}

static void test_audit__verify_bad_inputs(void **state)
{
    afx *f = *state;
    char path[4096], *report;
    const char junk[] = "\x00\xff{\"seq\":1}\n\n}\"\nnot json at all \"}\n";
    snprintf(path, sizeof path, "%s/junk.jsonl", f->dir);
    tu_write_file(path, "", 0, 0600);
    assert_int_equal(verify(f, path, &report), 0);
    assert_true(tu_contains(report, "intact: 0 lines,"));
    free(report);
    tu_write_file(path, junk, sizeof junk - 1, 0600);
    assert_int_not_equal(verify(f, path, &report), 0);
    free(report);
    snprintf(path, sizeof path, "%s/missing.jsonl", f->dir);
    assert_int_equal(verify(f, path, &report), PHICRYPT_EIO);
    free(report);
    /* An audit log that is not one refuses appends rather than chaining on. */
    tu_write_file(f->log, "hello\n", 6, 0600);
    {
        phi_audit_event ev;
        memset(&ev, 0, sizeof ev);
        ev.actor = "x";
        ev.op = "decrypt";
        assert_int_equal(phi_audit_write(f->ph, &ev), PHICRYPT_EBADDATA);
    }
}

/* Issue 19 item 6: a phicrypt_buf passed again as an out-parameter has
 * its old bytes wiped and freed (seen through the free observer), not
 * leaked or overwritten, on success and (for reports) on failure. */
#define STALE_LEN 48
static const void *stale;
static int stale_seen, stale_dirty;

static void note_free(const void *p, size_t n)
{
    if (p != stale)
        return;
    stale_seen++;
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i])
            stale_dirty++;
}

/* Fills `b` with stale bytes (freed by phicrypt_buf_dispose: malloc'd). */
static void stale_fill(phicrypt_buf *b)
{
    phicrypt_buf_dispose(b);
    b->data = malloc(STALE_LEN);
    assert_non_null(b->data);
    memset(b->data, 'S', STALE_LEN);
    b->len = STALE_LEN;
    stale = b->data;
    stale_seen = stale_dirty = 0;
    phi_test_set_free_observer(note_free);
}

static void stale_check(const char *call)
{
    phi_test_set_free_observer(NULL);
    if (stale_seen != 1 || stale_dirty)
        fail_msg("%s: the buffer's old bytes were %s", call, stale_seen ? "not wiped" : "not freed (leaked)");
}

static void test_audit__out_buffers_reused_are_wiped(void **state)
{
    afx *f = *state;
    phicrypt_session doc = afx_session("dr.house", "physician", "TREATMENT");
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    char missing[4096];
    assert_int_equal(phicrypt_decrypt_document_as(f->ph, &b, &doc, "hospital.patients", f->doc, f->doc_len), 0);
    assert_int_equal(phicrypt_audit_checkpoint(f->ph), 0);

    stale_fill(&b);
    assert_int_equal(phicrypt_audit_public_keys(f->ph, &b), 0);
    stale_check("phicrypt_audit_public_keys");
    assert_true(tu_contains((const char *)b.data, "\"ed25519\""));

    stale_fill(&b);
    assert_int_equal(phicrypt_audit_subject_id(f->ph, &b, PT_MRN), 0);
    stale_check("phicrypt_audit_subject_id");

    stale_fill(&b);
    assert_int_equal(phicrypt_audit_verify(f->ph, &b, NULL), 0);
    stale_check("phicrypt_audit_verify");
    assert_true(tu_contains((const char *)b.data, "intact"));

    stale_fill(&b);
    assert_int_equal(phicrypt_audit_disclosures(f->ph, &b, PT_MRN, 0), 0);
    stale_check("phicrypt_audit_disclosures");

    /* A report is written on failure too: the stale one is gone either way. */
    snprintf(missing, sizeof missing, "%s/missing.jsonl", f->dir);
    stale_fill(&b);
    assert_int_equal(phicrypt_audit_verify(f->ph, &b, missing), PHICRYPT_EIO);
    stale_check("phicrypt_audit_verify (failing)");
    assert_null(b.data);

    /* Other calls keep the documented rule: on failure, left as it was. */
    stale_fill(&b);
    assert_int_equal(phicrypt_audit_disclosures(f->ph, &b, NULL, 0), PHICRYPT_EINVAL);
    phi_test_set_free_observer(NULL);
    assert_int_equal(stale_seen, 0);
    assert_ptr_equal(b.data, stale);
    phicrypt_buf_dispose(&b);
}

static void test_audit__without_configuration(void **state)
{
    afx *f = *state;
    phicrypt_t *ph = tu_client(f->dir);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    assert_int_equal(phicrypt_audit_disclosures(ph, &out, PT_MRN, 0), PHICRYPT_EUNSUPPORTED);
    assert_int_equal(phicrypt_audit_verify(ph, &out, NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_audit_verify(NULL, &out, NULL), PHICRYPT_EINVAL);
    phicrypt_free(ph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audit__decrypt_writes_one_line_with_every_field, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__no_phi_in_the_log, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__edited_byte_is_detected, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__deleted_line_is_detected, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__swapped_lines_are_detected, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__truncation_mid_line_is_torn_not_tampered, afx_setup,
                                        afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__forged_line_is_detected, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__killed_writer_leaves_a_valid_log, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__checkpoint_every_n_lines_and_at_shutdown, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__edit_and_rechain_is_caught_by_the_signature, afx_setup,
                                        afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__edited_checkpoint_is_detected, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__dropped_checkpoint_is_detected, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__swapped_checkpoints_are_detected, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__short_write_leaves_no_torn_line, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__many_processes_and_threads, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__v1_log_is_named_and_not_appended_to, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__v2_bad_inputs, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__disclosures_of_one_patient, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__key_operations_are_logged, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__verify_bad_inputs, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__without_configuration, afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_audit__out_buffers_reused_are_wiped, afx_setup, afx_teardown),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
