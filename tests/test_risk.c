/* lib/deid risk report: policy members, the same counts from every input
 * format, thread count and memory budget (spilled runs), the suppression
 * pass, hostile input and no value in the report. The brute-force check
 * against an independent count is tests/cli/test_risk_cli.sh. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>
#include <phicrypt.h>
#include "test_util.h"

#define N 3000

static const char *const POLICY =
    "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"name\":{\"action\":\"redact\"},"
    "\"address.zip\":{\"action\":\"zip3\"},\"dob\":{\"action\":\"generalize\",\"to\":\"year\"}},"
    "\"quasi_identifiers\":[\"address.zip\",\"dob\",\"sex\"],\"k\":4}";

typedef struct fx {
    char *dir;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (!getenv("RISK_KEEP")) tu_rm_rf(f->dir); else fprintf(stderr, "kept %s\n", f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static char *path_in(const fx *f, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", f->dir, name) < 0)
        abort();
    return p;
}

static phicrypt_deid_policy *policy(const char *json)
{
    phicrypt_deid_policy *p = NULL;
    if (phicrypt_deid_policy_new(&p, NULL, json) != 0)
        fail_msg("policy: %s", phicrypt_deid_errmsg());
    return p;
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* The same N records as JSON lines, one JSON array, BSON and CSV: a few
 * without a sex or an address (missing values), dates as dates. */
static void write_inputs(const fx *f)
{
    static const char *const zips[] = { "02139", "02140", "03755", "04101", "82601", "89501", "78701", "85201" };
    uint32_t seed = 7;
    FILE *jl, *ja, *bs, *cs;
    char *p;
    jl = fopen(p = path_in(f, "in.jsonl"), "wb");
    free(p);
    ja = fopen(p = path_in(f, "in.json"), "wb");
    free(p);
    bs = fopen(p = path_in(f, "in.bson"), "wb");
    free(p);
    cs = fopen(p = path_in(f, "in.csv"), "wb");
    free(p);
    assert_non_null(jl);
    assert_non_null(ja);
    assert_non_null(bs);
    assert_non_null(cs);
    fputs("name,address.zip,address.city,dob,sex\n", cs);
    fputc('[', ja);
    for (int i = 0; i < N; i++) {
        bson_t d = BSON_INITIALIZER, a;
        char name[32], iso[40];
        snprintf(name, sizeof name, "Patient %d", i);
        const char *zip = zips[lcg(&seed) % 8];
        int year = 1930 + (int)(lcg(&seed) % 60), has_addr = i % 23 != 0, has_sex = i % 17 != 0;
        const char *sex = lcg(&seed) % 2 ? "F" : "M";
        int64_t ms = ((int64_t)(year - 1970) * 365 + (year - 1969) / 4) * 86400000LL + 86400000LL * 40;
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        BSON_APPEND_UTF8(&d, "name", name);
        if (has_addr) {
            BSON_APPEND_DOCUMENT_BEGIN(&d, "address", &a);
            BSON_APPEND_UTF8(&a, "zip", zip);
            BSON_APPEND_UTF8(&a, "city", "Springfield");
            bson_append_document_end(&d, &a);
        }
        BSON_APPEND_DATE_TIME(&d, "dob", ms);
        if (has_sex)
            BSON_APPEND_UTF8(&d, "sex", sex);
        size_t jlen;
        char *j = bson_as_relaxed_extended_json(&d, &jlen);
        fprintf(jl, "%s\n", j);
        fprintf(ja, "%s%s", i ? "," : "", j);
        bson_free(j);
        fwrite(bson_get_data(&d), 1, d.len, bs);
        fprintf(cs, "%s,%s,%s,%s,%s\n", name, has_addr ? zip : "", has_addr ? "Springfield" : "", iso,
                has_sex ? sex : "");
        bson_destroy(&d);
    }
    fputs("]\n", ja);
    fclose(jl);
    fclose(ja);
    fclose(bs);
    fclose(cs);
}

/* Runs deid; returns the report's "risk" as canonical JSON without the
 * memory figures (malloc'd), and *spilled. */
static char *run_risk(const fx *f, const char *pol_json, const char *in, const char *out, unsigned threads,
                      size_t memory, int suppress, int64_t *spilled, int want_rc)
{
    phicrypt_deid_policy *p = policy(pol_json);
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    char *ip = path_in(f, in), *op = strcmp(out, "-") == 0 ? strdup("-") : path_in(f, out);
    o.threads = threads;
    o.risk_memory = memory;
    o.suppress_below_k = suppress;
    int rc = phicrypt_deid_file(NULL, &rep, p, ip, op, &o);
    if (rc != want_rc)
        fail_msg("deid %s: %d %s", in, rc, phicrypt_deid_errmsg());
    char *res = NULL;
    if (rc == 0) {
        bson_error_t err;
        bson_t *b = bson_new_from_json(rep.data, (ssize_t)rep.len, &err);
        assert_non_null(b);
        bson_iter_t it, r;
        assert_true(bson_iter_init_find(&it, b, "risk"));
        assert_true(BSON_ITER_HOLDS_DOCUMENT(&it));
        bson_t risk = BSON_INITIALIZER;
        assert_true(bson_iter_recurse(&it, &r));
        while (bson_iter_next(&r)) {
            if (strcmp(bson_iter_key(&r), "spilled_runs") == 0) {
                if (spilled)
                    *spilled = bson_iter_as_int64(&r);
                continue;
            }
            if (strcmp(bson_iter_key(&r), "memory_budget") == 0)
                continue;
            bson_append_iter(&risk, NULL, 0, &r);
        }
        res = bson_as_canonical_extended_json(&risk, NULL);
        bson_destroy(&risk);
        bson_destroy(b);
    }
    phicrypt_buf_dispose(&rep);
    phicrypt_deid_policy_free(p);
    free(ip);
    free(op);
    return res;
}

static int64_t risk_int(const char *risk_json, const char *dotted)
{
    bson_error_t err;
    bson_t *b = bson_new_from_json((const uint8_t *)risk_json, -1, &err);
    assert_non_null(b);
    bson_iter_t it, d;
    int64_t v = -1;
    if (bson_iter_init(&it, b) && bson_iter_find_descendant(&it, dotted, &d) && BSON_ITER_HOLDS_NUMBER(&d))
        v = bson_iter_as_int64(&d);
    bson_destroy(b);
    return v;
}

static void test_risk__policy_errors(void **state)
{
    (void)state;
    static const struct {
        const char *members, *msg;
    } cases[] = {
        { "\"quasi_identifiers\":[\"dob\",true]", "quasi_identifiers[1]: must be a string" },
        { "\"quasi_identifiers\":{\"dob\":1}", "quasi_identifiers: must be an array" },
        { "\"quasi_identifiers\":[]", "quasi_identifiers: empty" },
        { "\"quasi_identifiers\":[\"dob\",\"dob\"]", "'dob' given twice" },
        { "\"quasi_identifiers\":[\"a.b\",\"a\"]", "overlap" },
        { "\"quasi_identifiers\":[\"a.*.b\"]", "plain keys only" },
        { "\"quasi_identifiers\":[\"\"]", "quasi_identifiers[0]" },
        { "\"quasi_identifiers\":[\"dob\"],\"k\":1", "k: must be from 2" },
        { "\"quasi_identifiers\":[\"dob\"],\"k\":-5", "k: must be from 2" },
        { "\"quasi_identifiers\":[\"dob\"],\"k\":2.5", "k: must be an integer" },
        { "\"k\":3", "k: needs \"quasi_identifiers\"" },
        { "\"quasi_identifier\":[\"dob\"]", "did you mean 'quasi_identifiers'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *j;
        assert_true(asprintf(&j, "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{},%s}", cases[i].members) > 0);
        phicrypt_deid_policy *p = NULL;
        int rc = phicrypt_deid_policy_new(&p, NULL, j);
        if (rc != PHICRYPT_EINVAL || !strstr(phicrypt_deid_errmsg(), cases[i].msg))
            fail_msg("%s: rc %d, '%s'", cases[i].members, rc, phicrypt_deid_errmsg());
        assert_null(p);
        free(j);
    }
    /* k defaults to 5. */
    phicrypt_deid_policy *p = policy("{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{},"
                                     "\"quasi_identifiers\":[\"dob\"]}");
    phicrypt_deid_policy_free(p);
}

static void test_risk__four_formats_agree(void **state)
{
    fx *f = *state;
    write_inputs(f);
    char *jl = run_risk(f, POLICY, "in.jsonl", "out.jsonl", 2, 0, 0, NULL, 0);
    char *ja = run_risk(f, POLICY, "in.json", "out.json", 2, 0, 0, NULL, 0);
    char *bs = run_risk(f, POLICY, "in.bson", "out.bson", 2, 0, 0, NULL, 0);
    char *cs = run_risk(f, POLICY, "in.csv", "out.csv", 2, 0, 0, NULL, 0);
    assert_string_equal(jl, ja);
    assert_string_equal(jl, bs);
    assert_string_equal(jl, cs);
    assert_int_equal(risk_int(jl, "records"), N);
    assert_true(risk_int(jl, "classes") > 10);
    /* The records without a sex (every 17th) are counted as missing. */
    assert_true(strstr(jl, "\"path\" : \"sex\", \"missing\" : { \"$numberLong\" : \"177\" }") ||
                strstr(jl, "\"path\" : \"sex\", \"missing\" : { \"$numberInt\" : \"177\" }"));
    free(jl);
    free(ja);
    free(bs);
    free(cs);
}

static void test_risk__spill_and_threads_give_the_same_counts(void **state)
{
    fx *f = *state;
    write_inputs(f);
    static const char *const ins[] = { "in.jsonl", "in.bson", "in.csv" };
    static const char *const outs[] = { "o.jsonl", "o.bson", "o.csv" };
    for (int i = 0; i < 3; i++) {
        int64_t sp0 = -1, sp1 = -1, sp2 = -1;
        char *a = run_risk(f, POLICY, ins[i], outs[i], 1, 0, 0, &sp0, 0);
        char *b = run_risk(f, POLICY, ins[i], outs[i], 3, 4096, 0, &sp1, 0);
        char *c = run_risk(f, POLICY, ins[i], outs[i], 1, 4096, 0, &sp2, 0);
        assert_int_equal(sp0, 0);
        assert_true(sp1 > 0);
        assert_true(sp2 > 0);
        assert_string_equal(a, b);
        assert_string_equal(a, c);
        free(a);
        free(b);
        free(c);
    }
    /* Many runs (more than one merge can take at once): unique records. */
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{},\"quasi_identifiers\":[\"name\"]}";
    int64_t sp = 0;
    char *u = run_risk(f, pol, "in.jsonl", "u.jsonl", 2, 4096, 0, &sp, 0);
    assert_true(sp > 32);
    assert_int_equal(risk_int(u, "unique_records"), N);
    assert_int_equal(risk_int(u, "classes"), N);
    assert_int_equal(risk_int(u, "k_min"), 1);
    free(u);
    /* No spill file is left in the output's directory. */
    char *cmd;
    assert_true(asprintf(&cmd, "ls -a '%s' | grep -q phicrypt-risk", f->dir) > 0);
    assert_int_not_equal(system(cmd), 0);
    free(cmd);
}

static void test_risk__suppress_leaves_no_class_below_k(void **state)
{
    fx *f = *state;
    write_inputs(f);
    static const char *const ins[] = { "in.jsonl", "in.json", "in.bson", "in.csv" };
    static const char *const outs[] = { "s.jsonl", "s.json", "s.bson", "s.csv" };
    /* k = 40: many classes are below it. */
    char *pol = strdup(POLICY);
    *strstr(pol, "\"k\":4") = 0;
    char *pol40;
    assert_true(asprintf(&pol40, "%s\"k\":40}", pol) > 0);
    char *first = NULL;
    for (int i = 0; i < 4; i++) {
        char *before = run_risk(f, pol40, ins[i], outs[i], 2, 0, 0, NULL, 0);
        char *r = run_risk(f, pol40, ins[i], outs[i], 2, i == 2 ? 4096 : 0, 1, NULL, 0);
        int64_t below = risk_int(before, "records_below_k");
        assert_true(below > 0);
        assert_int_equal(risk_int(r, "suppression.records"), below);
        assert_true(risk_int(r, "suppression.values") >= below);
        assert_int_equal(risk_int(r, "suppression.after.classes_below_k"), 0);
        /* Suppressed records left alone in a class (they differ in which
         * values are missing) are dropped: few, and counted. */
        int64_t dropped = risk_int(r, "suppression.records_dropped");
        assert_true(dropped >= 0 && dropped < below);
        assert_int_equal(risk_int(r, "suppression.after.records") + dropped, N);
        if (!first)
            first = strdup(r);
        else
            assert_string_equal(first, r);
        free(before);
        free(r);
    }
    /* The BSON output is still BSON, with "*" for strings and null for the dates. */
    char *sp = path_in(f, "s.bson");
    size_t len;
    char *data = tu_read_file(sp, &len);
    assert_non_null(data);
    bson_reader_t *rd = bson_reader_new_from_data((const uint8_t *)data, len);
    const bson_t *d;
    bool eof = false;
    size_t n = 0, starred = 0;
    while ((d = bson_reader_read(rd, &eof))) {
        bson_iter_t it;
        n++;
        if (bson_iter_init_find(&it, d, "sex") && BSON_ITER_HOLDS_UTF8(&it) &&
            strcmp(bson_iter_utf8(&it, NULL), "*") == 0) {
            starred++;
            assert_true(bson_iter_init_find(&it, d, "dob") && BSON_ITER_HOLDS_NULL(&it));
        }
    }
    assert_true(eof);
    assert_int_equal(n, (size_t)(N - risk_int(first, "suppression.records_dropped")));
    assert_true(starred > 0);
    bson_reader_destroy(rd);
    free(data);
    free(sp);
    free(first);
    free(pol);
    free(pol40);
}

static void test_risk__suppress_needs_a_file(void **state)
{
    fx *f = *state;
    write_inputs(f);
    run_risk(f, POLICY, "in.jsonl", "-", 1, 0, 1, NULL, PHICRYPT_EINVAL);
    assert_non_null(strstr(phicrypt_deid_errmsg(), "needs an output file"));
    run_risk(f, "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{}}", "in.jsonl", "x.jsonl", 1, 0, 1, NULL,
             PHICRYPT_EINVAL);
    char *x = path_in(f, "x.jsonl");
    assert_int_not_equal(access(x, F_OK), 0);
    free(x);
}

/* Arrays and documents where a scalar is expected, scalars where a
 * document is expected, long values, escapes: defined handling (an array
 * on the path is the value; a scalar on the way means missing), and no
 * value in the report. Invalid UTF-8 fails the run as bad input (the
 * engine's rule), naming the line, not the value. */
static void test_risk__hostile_input(void **state)
{
    fx *f = *state;
    size_t big = 200000;
    char *longv = malloc(big + 1);
    memset(longv, 'Q', big);
    memcpy(longv, "CANARYLONG", 10);
    longv[big] = 0;
    char *p = path_in(f, "h.jsonl");
    FILE *o = fopen(p, "wb");
    assert_non_null(o);
    for (int i = 0; i < 6; i++) {
        fprintf(o, "{\"zip\":[\"CANARYARR\",1],\"a\":{\"b\":\"x\"},\"s\":\"F\"}\n");
        fprintf(o, "{\"zip\":{\"CANARYKEY\":2},\"a\":[{\"b\":\"CANARYIN\"}],\"s\":null}\n");
        fprintf(o, "{\"zip\":\"%s\",\"a\":\"CANARYSCALAR\",\"s\":\"\\u0046\"}\n", longv);
        fprintf(o, "{\"other\":1}\n");
        fprintf(o, "{\"zip\":12.50,\"a\":{\"b\":{\"$numberLong\":\"7\"}},\"s\":true}\n");
    }
    fprintf(o, "{\"zip\":\"CANARYONE\",\"a\":{\"b\":\"CANARYTWO\"},\"s\":\"M\"}\n");
    fclose(o);
    free(p);
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{},"
                      "\"quasi_identifiers\":[\"zip\",\"a.b\",\"s\"],\"k\":5}";
    char *r = run_risk(f, pol, "h.jsonl", "h.out.jsonl", 2, 0, 1, NULL, 0);
    assert_int_equal(risk_int(r, "records"), 31);
    assert_int_equal(risk_int(r, "classes"), 6);
    assert_int_equal(risk_int(r, "unique_records"), 1);
    assert_int_equal(risk_int(r, "records_below_k"), 1);
    assert_int_equal(risk_int(r, "suppression.records"), 1);
    assert_int_equal(risk_int(r, "suppression.values"), 3);
    /* Alone in its class even suppressed ("*", "*", "*"): dropped. */
    assert_int_equal(risk_int(r, "suppression.records_dropped"), 1);
    assert_int_equal(risk_int(r, "suppression.after.records"), 30);
    assert_int_equal(risk_int(r, "suppression.after.classes_below_k"), 0);
    assert_null(strstr(r, "CANARY"));
    assert_null(strstr(r, "QQQQ"));
    free(r);
    char *op = path_in(f, "h.out.jsonl");
    char *out = tu_read_file(op, NULL);
    assert_non_null(out);
    assert_null(strstr(out, "CANARYONE"));
    assert_null(strstr(out, "CANARYTWO"));
    assert_non_null(strstr(out, "CANARYLONG")); /* in a class of 6: kept */
    free(out);
    free(op);
    /* Invalid UTF-8 in a quasi-identifier: refused as bad input. */
    p = path_in(f, "u.jsonl");
    const char *bad = "{\"zip\":\"ok\"}\n{\"zip\":\"CANARY\xff\xfe\"}\n";
    tu_write_file(p, bad, strlen(bad), 0600);
    free(p);
    r = run_risk(f, pol, "u.jsonl", "u.out.jsonl", 1, 0, 0, NULL, PHICRYPT_EBADDATA);
    assert_null(r);
    assert_null(strstr(phicrypt_deid_errmsg(), "CANARY"));
    assert_non_null(strstr(phicrypt_deid_errmsg(), "line 2"));
    free(longv);
}

/* One value, one class, however the output writes it: numbers by value,
 * ObjectIds in either case, dates in any Extended JSON form; null and a
 * missing value are two more values. */
static void test_risk__canonical_values(void **state)
{
    fx *f = *state;
    static const char *const vals[] = {
        "7", "{\"$numberLong\":\"7\"}", "7.0", "{\"$numberInt\":\"7\"}", "\"7\"",
        "{\"$oid\":\"5F1D7A4E0000000000000001\"}", "{\"$oid\":\"5f1d7a4e0000000000000001\"}",
        "{\"$date\":\"2020-01-02T03:04:05Z\"}", "{\"$date\":\"2020-01-02T03:04:05.000Z\"}",
        "{\"$date\":{\"$numberLong\":\"1577934245000\"}}", "null", NULL,
    };
    char *p = path_in(f, "c.jsonl");
    FILE *o = fopen(p, "wb");
    assert_non_null(o);
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        if (vals[i])
            fprintf(o, "{\"q\":%s}\n", vals[i]);
        else
            fprintf(o, "{\"r\":1}\n");
    fclose(o);
    free(p);
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{},\"quasi_identifiers\":[\"q\"]}";
    char *r = run_risk(f, pol, "c.jsonl", "c.out.jsonl", 1, 0, 0, NULL, 0);
    assert_int_equal(risk_int(r, "records"), 12);
    assert_int_equal(risk_int(r, "classes"), 5);
    assert_int_equal(risk_int(r, "unique_records"), 2);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_risk__policy_errors),
        cmocka_unit_test_setup_teardown(test_risk__four_formats_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_risk__spill_and_threads_give_the_same_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_risk__suppress_leaves_no_class_below_k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_risk__suppress_needs_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_risk__hostile_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_risk__canonical_values, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
