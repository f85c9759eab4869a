/* The residual-PHI gate (lib/deid/gate.c) through the public API: a value
 * the policy transforms that survives elsewhere in its record fails the run
 * (Safe Harbor default) or is listed (warn), in JSON lines, BSON and CSV,
 * whatever its case, separators or JSON escapes; never with the value in a
 * message or the report. The values below are synthetic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bson/bson.h>
#include <phicrypt.h>

#include "test_util.h"

static const char *sh_keep_notes =
    "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\",\"fields\":{\"notes\":{\"action\":\"keep\"}}}";
static const char *sh_plain = "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\",\"fields\":{}}";
/* No preset: the name is redacted, everything else kept. */
static const char *plain_keep =
    "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"name\":{\"action\":\"redact\"}}}";

static const char *rec1 = "{\"name\":{\"first\":\"Noah\",\"last\":\"Okafor\"},\"ssn\":\"381-41-4657\","
                          "\"notes\":\"Noah Okafor seen today, SSN 381-41-4657.\"}\n";

typedef struct run_result {
    int rc;
    char err[1024];
    char *report;
    int out_exists;
    char *out;
} run_result;

static void run_free(run_result *r)
{
    free(r->report);
    free(r->out);
}

/* Runs deid over `input` (written to DIR/in.EXT) with `policy` and gate mode `gate`. */
static run_result run_deid(const char *policy, const void *input, size_t len, const char *ext, int gate)
{
    run_result r;
    memset(&r, 0, sizeof r);
    char *dir = tu_tmpdir();
    char ip[512], op[512];
    snprintf(ip, sizeof ip, "%s/in.%s", dir, ext);
    snprintf(op, sizeof op, "%s/out.%s", dir, ext);
    tu_write_file(ip, input, len, 0600);
    phicrypt_deid_policy *p = NULL;
    if (phicrypt_deid_policy_new(&p, NULL, policy))
        fail_msg("policy: %s", phicrypt_deid_errmsg());
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    o.gate = (phicrypt_deid_gate)gate;
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    r.rc = phicrypt_deid_file(NULL, &rep, p, ip, op, &o);
    snprintf(r.err, sizeof r.err, "%s", r.rc ? phicrypt_deid_errmsg() : "");
    r.report = rep.data ? strndup((const char *)rep.data, rep.len) : NULL;
    phicrypt_buf_dispose(&rep);
    struct stat st;
    r.out_exists = stat(op, &st) == 0;
    if (r.out_exists)
        r.out = tu_read_file(op, NULL);
    phicrypt_deid_policy_free(p);
    tu_rm_rf(dir);
    free(dir);
    return r;
}

/* The "gate" object's integer member `k` in a report. */
static long long gate_num(const char *report, const char *k)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", k);
    const char *g = strstr(report, "\"gate\":{");
    assert_non_null(g);
    const char *v = strstr(g, pat);
    assert_non_null(v);
    return atoll(v + strlen(pat));
}

/* No planted value in a message or report. */
static void no_values(const char *s)
{
    static const char *const planted[] = { "Noah", "Okafor", "NOAH", "381-41-4657", "4657", NULL };
    for (const char *const *p = planted; *p; p++)
        if (s && strstr(s, *p))
            fail_msg("a planted value appears in a message or report");
}

/* The "Done when": a broken policy (keep on notes) under the Safe
 * Harbor preset fails by default, names field, class and place, writes nothing. */
static void test_gate__keep_notes_fails_closed(void **state)
{
    (void)state;
    run_result r = run_deid(sh_keep_notes, rec1, strlen(rec1), "jsonl", PHICRYPT_DEID_GATE_DEFAULT);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    assert_false(r.out_exists);
    assert_non_null(strstr(r.err, "residual-PHI gate"));
    assert_non_null(strstr(r.err, "'name.first' (names)"));
    assert_non_null(strstr(r.err, "at 'notes'"));
    assert_non_null(strstr(r.err, "line 1"));
    no_values(r.err);
    no_values(r.report);
    run_free(&r);
}

/* The preset alone scrubs its notes: the gate checks every record and passes. */
static void test_gate__clean_run_passes(void **state)
{
    (void)state;
    char in[4096] = "";
    for (int i = 0; i < 5; i++)
        strcat(in, rec1);
    run_result r = run_deid(sh_plain, in, strlen(in), "jsonl", PHICRYPT_DEID_GATE_DEFAULT);
    if (r.rc)
        fail_msg("deid: %s", r.err);
    assert_true(r.out_exists);
    assert_non_null(strstr(r.report, "\"mode\":\"fail\""));
    assert_int_equal(gate_num(r.report, "records_checked"), 5);
    assert_int_equal(gate_num(r.report, "hits"), 0);
    assert_true(gate_num(r.report, "values_checked") >= 5 * 3); /* first, last, ssn */
    no_values(r.out);
    run_free(&r);
}

/* warn: the output is written and the report lists each hit. */
static void test_gate__warn_lists_findings(void **state)
{
    (void)state;
    char in[4096];
    snprintf(in, sizeof in, "%s%s", rec1, rec1);
    run_result r = run_deid(sh_keep_notes, in, strlen(in), "jsonl", PHICRYPT_DEID_GATE_WARN);
    if (r.rc)
        fail_msg("deid: %s", r.err);
    assert_true(r.out_exists);
    assert_int_equal(gate_num(r.report, "hits"), 2);
    assert_non_null(strstr(r.report, "{\"record\":2,\"line\":2,\"path\":\"name.first\",\"class\":\"names\","
                                     "\"found_at\":\"notes\"}"));
    no_values(r.report);
    run_free(&r);
}

/* off: nothing is checked; a policy without the preset is off by default. */
static void test_gate__off_and_default_without_preset(void **state)
{
    (void)state;
    run_result r = run_deid(sh_keep_notes, rec1, strlen(rec1), "jsonl", PHICRYPT_DEID_GATE_OFF);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.report, "\"mode\":\"off\""));
    assert_int_equal(gate_num(r.report, "records_checked"), 0);
    run_free(&r);
    r = run_deid(plain_keep, rec1, strlen(rec1), "jsonl", PHICRYPT_DEID_GATE_DEFAULT);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.report, "\"mode\":\"off\""));
    run_free(&r);
    /* an unknown mode is refused before anything is read */
    r = run_deid(plain_keep, rec1, strlen(rec1), "jsonl", 7);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    assert_false(r.out_exists);
    run_free(&r);
}

/* Attack: the value survives in another case, with other separators,
 * inside a longer text, in another field, as JSON escapes, or as a key. */
static void test_gate__messy_survivors(void **state)
{
    (void)state;
    static const char *const leaks[] = {
        "{\"name\":\"Noah Okafor\",\"memo\":\"pt NOAH-okafor called\"}\n",
        "{\"name\":\"Noah Okafor\",\"memo\":{\"deep\":[1,{\"x\":\"re: noah\\nOKAFOR!\"}]}}\n",
        "{\"name\":\"Noah Okafor\",\"memo\":\"\\u004eoah \\u004Fkafor\"}\n",
        "{\"name\":\"Noah Okafor\",\"memo\":{\"Noah Okafor\":1}}\n",
        "{\"memo\":\"(noah   okafor)\",\"name\":\"Noah Okafor\"}\n", /* the leak comes before the field */
    };
    for (size_t i = 0; i < sizeof leaks / sizeof leaks[0]; i++) {
        run_result r = run_deid(plain_keep, leaks[i], strlen(leaks[i]), "jsonl", PHICRYPT_DEID_GATE_FAIL);
        if (r.rc != PHICRYPT_EINVAL)
            fail_msg("case %zu: not caught (rc %d)", i, r.rc);
        assert_false(r.out_exists);
        assert_non_null(strstr(r.err, "a value of 'name'"));
        if (!strstr(r.err, "at 'memo"))
            fail_msg("case %zu: the place is not named", i);
        no_values(r.err);
        run_free(&r);
    }
    /* A name is also looked for word by word. */
    const char *word = "{\"name\":\"Noah Okafor\",\"memo\":\"Dr. OKAFOR called\"}\n";
    run_result r = run_deid(plain_keep, word, strlen(word), "jsonl", PHICRYPT_DEID_GATE_FAIL);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    run_free(&r);
    /* Other values only as a whole: the same words reordered, or a longer
     * word that starts with them, are no hit. */
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"street\":{\"action\":\"redact\"}}}";
    const char *ok = "{\"street\":\"693 Quarry Road\",\"memo\":\"Quarry Road 693; 693 Quarry Roads\"}\n";
    r = run_deid(pol, ok, strlen(ok), "jsonl", PHICRYPT_DEID_GATE_FAIL);
    if (r.rc)
        fail_msg("false positive: %s", r.err);
    run_free(&r);
    const char *bad = "{\"street\":\"693 Quarry Road\",\"memo\":\"at 693 QUARRY road.\"}\n";
    r = run_deid(pol, bad, strlen(bad), "jsonl", PHICRYPT_DEID_GATE_FAIL);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    assert_non_null(strstr(r.err, "'street' (geographic subdivisions)"));
    run_free(&r);
}

/* BSON and CSV: the same leak is caught and placed by field and column. */
static void test_gate__bson_and_csv(void **state)
{
    (void)state;
    bson_t *b = bson_new();
    BSON_APPEND_UTF8(b, "name", "Noah Okafor");
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(b, "memo", &sub);
    BSON_APPEND_UTF8(&sub, "text", "seen: NOAH OKAFOR");
    bson_append_document_end(b, &sub);
    run_result r = run_deid(plain_keep, bson_get_data(b), b->len, "bson", PHICRYPT_DEID_GATE_FAIL);
    bson_destroy(b);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    assert_false(r.out_exists);
    assert_non_null(strstr(r.err, "at 'memo.text'"));
    run_free(&r);
    const char *csv = "name,memo\n\"Noah Okafor\",\"pt \"\"noah okafor\"\" seen\"\n";
    r = run_deid(plain_keep, csv, strlen(csv), "csv", PHICRYPT_DEID_GATE_FAIL);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    assert_false(r.out_exists);
    assert_non_null(strstr(r.err, "at 'memo'"));
    no_values(r.err);
    run_free(&r);
}

/* A value found in its own replacement, a placeholder, a short code, a
 * bucket that starts with it, or a lone 4-digit number (a ZIP stored as
 * the number 1970 against a kept year 1970) is no leak: no false alarm. */
static void test_gate__no_false_alarms(void **state)
{
    (void)state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                      "\"name\":{\"action\":\"redact\"},\"sex\":{\"action\":\"redact\"},"
                      "\"balance\":{\"action\":\"generalize\",\"bucket\":1000},"
                      "\"alias\":{\"action\":\"redact\"},\"seen\":{\"action\":\"generalize\",\"to\":\"year\"},"
                      "\"other\":{\"action\":\"generalize\",\"to\":\"year\"},\"zip\":{\"action\":\"zip3\"}}}";
    /* seen is already 1 January: generalised, it is itself; other becomes the same text */
    const char *in = "{\"name\":\"[REDACTED]\",\"sex\":\"F\",\"balance\":51000,\"alias\":\"Unknown\","
                     "\"seen\":{\"$date\":\"2019-01-01T00:00:00Z\"},\"other\":{\"$date\":\"2019-03-05T00:00:00Z\"},"
                     "\"zip\":1970,\"memo\":\"[REDACTED] F unknown 51000 born 1970\"}\n";
    run_result r = run_deid(pol, in, strlen(in), "jsonl", PHICRYPT_DEID_GATE_FAIL);
    if (r.rc)
        fail_msg("false alarm: %s", r.err);
    assert_int_equal(gate_num(r.report, "hits"), 0);
    run_free(&r);
}

/* A coded value inside an identifier container (FHIR telecom's system
 * "phone", "email") is found again in the labels the scrub itself writes
 * ("[PHONE]"): that says nothing about a person and must not fail the run
 * (found by the independent Faker export, tests/deid/gen_faker.py). The
 * number itself surviving still fails. */
static void test_gate__coded_values_in_scrub_labels(void **state)
{
    (void)state;
    const char *in = "{\"telecom\":[{\"system\":\"phone\",\"value\":\"617-432-0100\"},"
                     "{\"system\":\"email\",\"value\":\"jd@example.org\"}],"
                     "\"notes\":\"Reach by 617-432-0100 or jd@example.org; her son's phone 508-555-0199, "
                     "email son@example.net.\"}\n";
    run_result r = run_deid(sh_plain, in, strlen(in), "jsonl", PHICRYPT_DEID_GATE_FAIL);
    if (r.rc)
        fail_msg("false alarm: %s", r.err);
    assert_non_null(r.out);
    assert_null(strstr(r.out, "432-0100"));
    assert_null(strstr(r.out, "555-0199"));
    assert_non_null(strstr(r.out, "[PHONE]"));
    assert_int_equal(gate_num(r.report, "hits"), 0);
    run_free(&r);
    const char *leak = "{\"telecom\":[{\"system\":\"phone\",\"value\":\"617-432-0100\"}],"
                       "\"notes\":\"phone 617 432 0100\"}\n";
    r = run_deid(sh_keep_notes, leak, strlen(leak), "jsonl", PHICRYPT_DEID_GATE_FAIL);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    assert_true(tu_contains(r.err, "telecom"));
    assert_false(r.out_exists);
    run_free(&r);
    /* A person whose surname is a label word ("Date") is still remembered. */
    const char *name = "{\"name\":{\"first\":\"Noah\",\"last\":\"Date\"},\"notes\":\"Mr Date was seen.\"}\n";
    r = run_deid(sh_keep_notes, name, strlen(name), "jsonl", PHICRYPT_DEID_GATE_FAIL);
    assert_int_equal(r.rc, PHICRYPT_EINVAL);
    assert_true(tu_contains(r.err, "name"));
    assert_false(r.out_exists);
    run_free(&r);
}

/* An options struct of version 2 (no gate field) gets the default. */
static void test_gate__old_opts_version(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char ip[512], op[512];
    snprintf(ip, sizeof ip, "%s/in.jsonl", dir);
    snprintf(op, sizeof op, "%s/out.jsonl", dir);
    tu_write_file(ip, rec1, strlen(rec1), 0600);
    phicrypt_deid_policy *p = NULL;
    assert_int_equal(phicrypt_deid_policy_new(&p, NULL, sh_keep_notes), 0);
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    o.version = 2;
    o.gate = PHICRYPT_DEID_GATE_OFF; /* not read: a version 2 caller has no such field */
    assert_int_equal(phicrypt_deid_file(NULL, NULL, p, ip, op, &o), PHICRYPT_EINVAL);
    assert_int_equal(access(op, F_OK), -1);
    phicrypt_deid_policy_free(p);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate__keep_notes_fails_closed),
        cmocka_unit_test(test_gate__clean_run_passes),
        cmocka_unit_test(test_gate__warn_lists_findings),
        cmocka_unit_test(test_gate__off_and_default_without_preset),
        cmocka_unit_test(test_gate__messy_survivors),
        cmocka_unit_test(test_gate__bson_and_csv),
        cmocka_unit_test(test_gate__no_false_alarms),
        cmocka_unit_test(test_gate__coded_values_in_scrub_labels),
        cmocka_unit_test(test_gate__old_opts_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
