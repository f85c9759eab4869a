/* lib/deid: policies, actions, path forms, formats, threads, reid, bad input. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bson/bson.h>
#include <phicrypt.h>
#include "core/mem_private.h"
#include "deid/scan_private.h"
#include "test_util.h"

typedef struct fx {
    char *dir;
    phicrypt_t *ph;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char *cfg, path[4096];
    f->dir = tu_tmpdir();
    free(tu_keyset(f->dir, NULL));
    snprintf(path, sizeof path, "%s/keyring.jsonl", f->dir);
    tu_write_file(path, "", 0, 0600);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\", \"keyring\": \"file:%s/keyring.jsonl\"}",
                 f->dir, f->dir, f->dir) < 0)
        return -1;
    if (phicrypt_new(&f->ph, cfg) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    free(cfg);
    uint8_t id[16];
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *alt[] = { "patients" };
    o.alt_names = alt;
    o.alt_names_count = 1;
    assert_int_equal(phicrypt_datakey_create(f->ph, id, &o), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:ssn", PHICRYPT_KEYRING_FF1), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "tok:opaque", PHICRYPT_KEYRING_SIV), 0);
    assert_int_equal(phicrypt_keyring_create(f->ph, "ps:patient", PHICRYPT_KEYRING_HMAC), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    phicrypt_free(f->ph);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static phicrypt_deid_policy *policy(fx *f, const char *json)
{
    phicrypt_deid_policy *p = NULL;
    int rc = phicrypt_deid_policy_new(&p, f->ph, json);
    if (rc)
        fail_msg("policy: %s", phicrypt_errmsg(f->ph));
    return p;
}

/* De-identifies one JSON document; returns the malloc'd result. */
static char *deid1(fx *f, const char *pol, const char *doc)
{
    phicrypt_deid_policy *p = policy(f, pol);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = phicrypt_deid_json(f->ph, &out, p, doc, strlen(doc));
    if (rc)
        fail_msg("deid: %s", phicrypt_errmsg(f->ph));
    char *s = strdup((const char *)out.data);
    phicrypt_buf_dispose(&out);
    phicrypt_deid_policy_free(p);
    return s;
}

static int deid_err(fx *f, const char *pol, const char *doc, const char *want_msg)
{
    phicrypt_deid_policy *p = policy(f, pol);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = phicrypt_deid_json(f->ph, &out, p, doc, strlen(doc));
    assert_int_not_equal(rc, 0);
    if (want_msg && !tu_contains(phicrypt_errmsg(f->ph), want_msg))
        fail_msg("message '%s' lacks '%s'", phicrypt_errmsg(f->ph), want_msg);
    phicrypt_deid_policy_free(p);
    return rc;
}

static char *path_in(fx *f, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", f->dir, name) < 0)
        fail();
    return p;
}

/* Writes `in` (unless NULL) and runs it through `pol` with options `o`;
 * the report is returned whatever rc is. */
static int run_any(fx *f, const char *pol, const char *in_name, const char *in, size_t in_len, const char *out_name,
                   const phicrypt_deid_opts *o, int reid, char **out, size_t *out_len, char **report)
{
    char *ip = path_in(f, in_name), *op = path_in(f, out_name);
    if (in)
        tu_write_file(ip, in, in_len, 0600);
    unlink(op);
    phicrypt_deid_policy *p = policy(f, pol);
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    int rc = reid ? phicrypt_reid_file(f->ph, &rep, p, ip, op, o) : phicrypt_deid_file(f->ph, &rep, p, ip, op, o);
    if (rc && getenv("DEID_TEST_VERBOSE"))
        fprintf(stderr, "# %s\n", phicrypt_errmsg(f->ph));
    if (out)
        *out = rc == 0 ? tu_read_file(op, out_len) : NULL;
    if (report)
        *report = rep.data ? strdup((const char *)rep.data) : NULL;
    phicrypt_buf_dispose(&rep);
    phicrypt_deid_policy_free(p);
    free(ip);
    free(op);
    return rc;
}

static int run_file(fx *f, const char *pol, const char *in_name, const char *in, size_t in_len, const char *out_name,
                    char **out, size_t *out_len, unsigned threads, int reid, char **report)
{
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    o.threads = threads;
    return run_any(f, pol, in_name, in, in_len, out_name, &o, reid, out, out_len, report);
}

static int exists_in(fx *f, const char *name)
{
    char *p = path_in(f, name);
    int e = access(p, F_OK) == 0;
    free(p);
    return e;
}

/* No output file and no stray temporary file in the directory. */
static void assert_no_output(fx *f, const char *name)
{
    assert_false(exists_in(f, name));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q phicrypt-deid", f->dir);
    assert_int_not_equal(system(cmd), 0);
}

/* ---------------------------------------------------------------- */

static void test_deid__policy_errors_name_the_location(void **state)
{
    fx *f = *state;
    phicrypt_deid_policy *p = NULL;
    struct { const char *json, *msg; int code; } cases[] = {
        { "{\"version\":1,\"fields\":{\"dob\":{\"action\":\"shred\"}}}", "fields.\"dob\".action", PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"dob\":{\"action\":\"generalise\"}}}", "did you mean 'generalize'",
          PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"ssn\":{\"action\":\"tokenize\"}}}", "fields.\"ssn\".key", PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"ssn\":{\"action\":\"encrypt\"}}}", "fields.\"ssn\".key_alt_name",
          PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"a..b\":{\"action\":\"drop\"}}}", "fields.\"a..b\"", PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"a[x]\":{\"action\":\"drop\"}}}", "fields.\"a[x]\"", PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"n\":{\"action\":\"mask\",\"keep\":4}}}", "fields.\"n\".keep",
          PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"d\":{\"action\":\"date_shift\",\"key\":\"ps:patient\"}}}",
          "fields.\"d\".subject", PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"d\":{\"action\":\"generalize\",\"to\":\"week\"}}}", "fields.\"d\".to",
          PHICRYPT_EINVAL },
        { "{\"version\":2,\"fields\":{}}", "version", PHICRYPT_EINVAL },
        { "{\"version\":1,\"unknown_fields\":\"ignore\",\"fields\":{}}", "unknown_fields", PHICRYPT_EINVAL },
        { "{\"version\":1,\"preset\":\"gdpr\"}", "preset", PHICRYPT_EINVAL },
        { "{\"version\":1,\"field\":{}}", "did you mean 'fields'", PHICRYPT_EINVAL },
        { "{\"version\":1,\"fields\":{\"a\":\"drop\"}}", "fields.\"a\"", PHICRYPT_EINVAL },
        { "{\"version\":1,", NULL, PHICRYPT_EBADDATA },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = phicrypt_deid_policy_new(&p, f->ph, cases[i].json);
        if (rc != cases[i].code)
            fail_msg("case %zu: rc %d (%s)", i, rc, phicrypt_errmsg(f->ph));
        assert_null(p);
        if (cases[i].msg && !tu_contains(phicrypt_errmsg(f->ph), cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, phicrypt_errmsg(f->ph), cases[i].msg);
    }
    /* Keys that do not exist are found before any input is read. */
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph,
                                              "{\"version\":1,\"fields\":{\"s\":{\"action\":\"tokenize\",\"key\":\"tok:nope\"}}}"),
                     PHICRYPT_EKEYNOTFOUND);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "fields.\"s\".key"));
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph,
                                              "{\"version\":1,\"fields\":{\"s\":{\"action\":\"encrypt\",\"key_alt_name\":\"nope\"}}}"),
                     PHICRYPT_EKEYNOTFOUND);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "fields.\"s\".key_alt_name"));
    /* Without a client, keyed actions are refused up front. */
    assert_int_equal(phicrypt_deid_policy_new(&p, NULL,
                                              "{\"version\":1,\"fields\":{\"s\":{\"action\":\"tokenize\",\"key\":\"k\"}}}"),
                     PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_deid_errmsg(), "fields.\"s\""));
    assert_int_equal(phicrypt_deid_policy_new(&p, NULL, "{\"version\":1,\"fields\":{\"s\":{\"action\":\"drop\"}}}"), 0);
    phicrypt_deid_policy_free(p);
    phicrypt_deid_policy_free(NULL);
}

/* Found by the policy fuzzer (issue 19): a rule naming a member twice
 * leaked the first copy and silently used the second. Every object of a
 * policy names each member once; the error says where. */
static void test_deid__policy_member_given_twice(void **state)
{
    fx *f = *state;
    phicrypt_deid_policy *p = NULL;
    struct { const char *json, *msg; } cases[] = {
        { "{\"version\":1,\"fields\":{\"n\":{\"action\":\"pseudonymize\",\"key\":\"ps:patient\",\"key\":\"tok:mrn\"}}}",
          "fields.\"n\".key: given twice" },
        { "{\"version\":1,\"fields\":{\"n\":{\"action\":\"keep\",\"action\":\"drop\"}}}", "fields.\"n\".action: given twice" },
        { "{\"version\":1,\"fields\":{\"n\":{\"action\":\"mask\",\"char\":\"#\",\"char\":\"*\"}}}",
          "fields.\"n\".char: given twice" },
        { "{\"version\":1,\"fields\":{\"n\":{\"action\":\"keep\"},\"n\":{\"action\":\"drop\"}}}", "fields.\"n\": given twice" },
        { "{\"version\":1,\"version\":1,\"fields\":{}}", "version: given twice" },
        { "{\"version\":1,\"fields\":{},\"fields\":{\"n\":{\"action\":\"keep\"}}}", "fields: given twice" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = phicrypt_deid_policy_new(&p, f->ph, cases[i].json);
        if (rc != PHICRYPT_EINVAL)
            fail_msg("case %zu: rc %d (%s)", i, rc, phicrypt_errmsg(f->ph));
        assert_null(p);
        if (!tu_contains(phicrypt_errmsg(f->ph), cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, phicrypt_errmsg(f->ph), cases[i].msg);
    }
    /* The same member name in two different objects is fine. */
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph,
                                              "{\"version\":1,\"fields\":{\"a\":{\"action\":\"keep\"},"
                                              "\"b\":{\"action\":\"keep\"}}}"), 0);
    phicrypt_deid_policy_free(p);
}

static void test_deid__simple_actions_rewrite_only_their_spans(void **state)
{
    fx *f = *state;
    const char *pol =
        "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
        "\"name\":{\"action\":\"redact\"},"
        "\"nick\":{\"action\":\"redact\",\"with\":\"X\"},"
        "\"card\":{\"action\":\"mask\",\"keep_last\":4,\"char\":\"#\"},"
        "\"secret\":{\"action\":\"drop\"},"
        "\"zip\":{\"action\":\"zip3\"},\"zip2\":{\"action\":\"zip3\"},\"zipn\":{\"action\":\"zip3\"},"
        "\"age\":{\"action\":\"age\"},\"age2\":{\"action\":\"age\"},"
        "\"dob\":{\"action\":\"generalize\",\"to\":\"year\"},"
        "\"seen\":{\"action\":\"generalize\",\"to\":\"month\"},"
        "\"weight\":{\"action\":\"generalize\",\"bucket\":10},"
        "\"kept\":{\"action\":\"keep\"}}}";
    const char *in = "{ \"name\" : \"Jane \\\"JJ\\\" Doe\",\"nick\":\"jj\",  \"card\":\"4111-1111-1111-1234\","
                     "\"secret\":{\"a\":[1,2]}, \"zip\":\"02138\",\"zip2\":\"03601-1234\",\"zipn\":2138,"
                     "\"age\":93,\"age2\":\"45\",\"dob\":\"1950-07-04\",\"seen\":\"2021-03-05T10:00:00Z\","
                     "\"weight\":87.5,\"kept\":  {\"x\" :1.50e2},\"other\":[true,null, \"\\u00e9\"]}";
    char *out = deid1(f, pol, in);
    assert_string_equal(out, "{ \"name\" : \"[REDACTED]\",\"nick\":\"X\",  \"card\":\"###############1234\", "
                             "\"zip\":\"021\",\"zip2\":\"000\",\"zipn\":\"021\",\"age\":\"90+\",\"age2\":\"45\","
                             "\"dob\":\"1950\",\"seen\":\"2021-03\",\"weight\":\"80-89\",\"kept\":  {\"x\" :1.50e2},"
                             "\"other\":[true,null, \"\\u00e9\"]}");
    free(out);
    /* Dropping the first, a middle and the last member keeps valid JSON. */
    out = deid1(f, "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"a\":{\"action\":\"drop\"},"
                   "\"c\":{\"action\":\"drop\"},\"e\":{\"action\":\"drop\"}}}",
                "{\"a\":1, \"b\":2, \"c\":3, \"d\":4, \"e\":5}");
    assert_string_equal(out, "{ \"b\":2, \"d\":4}");
    free(out);
    out = deid1(f, "{\"version\":1,\"unknown_fields\":\"drop\",\"fields\":{\"k\":{\"action\":\"keep\"}}}",
                "{\"a\":1,\"b\":{\"c\":2},\"k\":3}");
    assert_string_equal(out, "{\"b\":{},\"k\":3}");
    free(out);
}

static void test_deid__every_restricted_zip3_becomes_000(void **state)
{
    fx *f = *state;
    static const char *const restricted[] = { "036", "059", "063", "102", "203", "556", "692", "790", "821",
                                              "823", "830", "831", "878", "879", "884", "890", "893" };
    for (size_t i = 0; i < 17; i++) {
        char doc[64];
        snprintf(doc, sizeof doc, "{\"zip\":\"%s42\"}", restricted[i]);
        char *out = deid1(f, "{\"version\":1,\"fields\":{\"zip\":{\"action\":\"zip3\"}}}", doc);
        assert_string_equal(out, "{\"zip\":\"000\"}");
        free(out);
    }
    char *out = deid1(f, "{\"version\":1,\"fields\":{\"zip\":{\"action\":\"zip3\"}}}", "{\"zip\":\"10001\"}");
    assert_string_equal(out, "{\"zip\":\"100\"}");
    free(out);
}

static void test_deid__path_forms(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                      "\"a.b\":{\"action\":\"redact\",\"with\":\"R1\"},"
                      "\"m.*.ssn\":{\"action\":\"redact\",\"with\":\"R2\"},"
                      "\"visits[].date\":{\"action\":\"generalize\"},"
                      "\"tags[]\":{\"action\":\"mask\",\"keep_last\":1},"
                      "\"deep.list.x\":{\"action\":\"redact\",\"with\":\"R3\"}}}";
    char *out = deid1(f, pol,
                      "{\"a\":{\"b\":\"v\",\"c\":\"w\"},\"m\":{\"p1\":{\"ssn\":\"1\"},\"p2\":{\"ssn\":\"2\",\"z\":0}},"
                      "\"visits\":[{\"date\":\"2020-02-03\",\"dx\":\"flu\"},{\"date\":{\"$date\":\"2019-05-06T07:08:09.123Z\"}}],"
                      "\"tags\":[\"abc\",\"de\"],\"deep\":{\"list\":[{\"x\":1},[{\"x\":2}]]}}");
    assert_string_equal(out,
                        "{\"a\":{\"b\":\"R1\",\"c\":\"w\"},\"m\":{\"p1\":{\"ssn\":\"R2\"},\"p2\":{\"ssn\":\"R2\",\"z\":0}},"
                        "\"visits\":[{\"date\":\"2020\",\"dx\":\"flu\"},{\"date\":{\"$date\":\"2019-01-01T00:00:00.000Z\"}}],"
                        "\"tags\":[\"**c\",\"*e\"],\"deep\":{\"list\":[{\"x\":\"R3\"},[{\"x\":\"R3\"}]]}}");
    free(out);
}

static void test_deid__extended_json_types_are_kept(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                      "\"dob\":{\"action\":\"generalize\"},\"n\":{\"action\":\"generalize\",\"bucket\":100},"
                      "\"age\":{\"action\":\"age\"}}}";
    const char *in = "{\"_id\":{\"$oid\":\"5f1d7a4e8f1b2c3d4e5f6a7b\"},\"dob\":{\"$date\":{\"$numberLong\":\"-1000000000000\"}},"
                     "\"n\":{\"$numberLong\":\"1234\"},\"age\":{\"$numberInt\":\"95\"},"
                     "\"pic\":{\"$binary\":{\"base64\":\"AQID\",\"subType\":\"00\"}},\"big\":{\"$numberLong\":\"9\"}}";
    char *out = deid1(f, pol, in);
    assert_string_equal(out, "{\"_id\":{\"$oid\":\"5f1d7a4e8f1b2c3d4e5f6a7b\"},"
                             "\"dob\":{\"$date\":{\"$numberLong\":\"-1009843200000\"}},\"n\":\"1200-1299\",\"age\":\"90+\","
                             "\"pic\":{\"$binary\":{\"base64\":\"AQID\",\"subType\":\"00\"}},\"big\":{\"$numberLong\":\"9\"}}");
    free(out);
}

static void test_deid__unknown_fields_error_names_the_path(void **state)
{
    fx *f = *state;
    deid_err(f, "{\"version\":1,\"fields\":{\"a\":{\"action\":\"keep\"}}}", "{\"a\":1,\"b\":{\"c\":[{\"d\":1}]}}",
             "'b.c[].d'");
}

static void test_deid__scrub_finds_identifiers_in_free_text(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"fields\":{\"name\":{\"action\":\"redact\"},\"mrn\":{\"action\":\"redact\"},"
                      "\"address.street\":{\"action\":\"redact\"},\"notes\":{\"action\":\"scrub\"}}}";
    const char *in = "{\"name\":\"Alice Smithers\",\"mrn\":\"A-99812\",\"address\":{\"street\":\"12 Larkspur Lane\"},"
                     "\"notes\":\"Alice Smithers (SSN 123-45-6789, MRN A-99812) called from (617) 555-0199 and "
                     "555.123.4567 on 03/04/2021; email alice.s@example.org, see https://portal.example.org/p?id=7 "
                     "from 10.1.2.3. Mrs. Smithers lives on Larkspur Lane; seen March 5, 2020 and 2020-03-06. "
                     "Account 8812345678. A 92-year-old.\"}";
    char *out = deid1(f, pol, in);
    const char *planted[] = { "Alice", "Smithers", "123-45-6789", "A-99812", "555-0199", "555.123.4567", "03/04/2021",
                              "alice.s", "example.org", "10.1.2.3", "Larkspur", "March 5", "2020-03-06",
                              "8812345678", "92-year" };
    for (size_t i = 0; i < sizeof planted / sizeof planted[0]; i++)
        if (strstr(out, planted[i]))
            fail_msg("'%s' left in %s", planted[i], out);
    assert_true(tu_contains(out, "[SSN]"));
    assert_true(tu_contains(out, "[PHONE]"));
    assert_true(tu_contains(out, "[EMAIL]"));
    assert_true(tu_contains(out, "[URL]"));
    assert_true(tu_contains(out, "[IP]"));
    assert_true(tu_contains(out, "[DATE]"));
    assert_true(tu_contains(out, "[NAME]"));
    assert_true(tu_contains(out, "called from"));
    free(out);
}

static void test_deid__keyed_actions_and_reid(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                      "\"ssn\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"ssn\"},"
                      "\"mrn\":{\"action\":\"tokenize\",\"key\":\"tok:opaque\"},"
                      "\"pid\":{\"action\":\"pseudonymize\",\"key\":\"ps:patient\"},"
                      "\"card\":{\"action\":\"encrypt\",\"key_alt_name\":\"patients\"},"
                      "\"visits[].d\":{\"action\":\"date_shift\",\"subject\":\"pid\",\"key\":\"ps:patient\",\"max_days\":30},"
                      "\"notes\":{\"action\":\"scrub\",\"key\":\"ps:patient\"}}}";
    const char *in = "{\"ssn\":\"123-45-6789\",\"mrn\":\"MRN-0042\",\"pid\":\"P1\",\"card\":\"4111\","
                     "\"visits\":[{\"d\":\"2020-01-10\"},{\"d\":{\"$date\":\"2020-01-20T00:00:00Z\"}}],"
                     "\"notes\":\"call 617-555-0100\"}\n"
                     "{\"ssn\":\"123-45-6789\",\"mrn\":\"MRN-0042\",\"pid\":\"P1\",\"card\":\"4111\","
                     "\"visits\":[{\"d\":\"2020-01-11\"}],\"notes\":\"call 617-555-0100\"}\n";
    char *out, *back;
    size_t n, bn;
    assert_int_equal(run_file(f, pol, "k.jsonl", in, strlen(in), "k.out.jsonl", &out, &n, 1, 0, NULL), 0);
    assert_null(strstr(out, "123-45-6789"));
    assert_null(strstr(out, "MRN-0042"));
    assert_null(strstr(out, "\"P1\""));
    assert_null(strstr(out, "555-0100"));
    assert_true(tu_contains(out, "\"subType\":\"06\""));
    assert_true(tu_contains(out, "ps1."));
    assert_true(tu_contains(out, "[PHONE:ps1."));
    /* Same values, same tokens: the two lines agree field by field. */
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_memory_equal(out, nl + 1, 30); /* the same SSN token */
    /* One subject, one offset: 2020-01-10 and 2020-01-11 stay a day apart. */
    int y1, m1, d1, y2, m2, d2;
    const char *v1 = strstr(out, "\"d\":\"");
    const char *v2 = strstr(nl, "\"d\":\"");
    assert_int_equal(sscanf(v1 + 5, "%d-%d-%d", &y1, &m1, &d1), 3);
    assert_int_equal(sscanf(v2 + 5, "%d-%d-%d", &y2, &m2, &d2), 3);
    assert_false(y1 == 2020 && m1 == 1 && d1 == 10);
    struct tm t1 = { .tm_year = y1 - 1900, .tm_mon = m1 - 1, .tm_mday = d1, .tm_hour = 12 };
    struct tm t2 = { .tm_year = y2 - 1900, .tm_mon = m2 - 1, .tm_mday = d2, .tm_hour = 12 };
    assert_int_equal((long)(timegm(&t2) - timegm(&t1)), 86400);
    /* reid restores the tokenized and encrypted values. */
    assert_int_equal(run_file(f, pol, "k.out.jsonl", NULL, 0, "k.back.jsonl", &back, &bn, 2, 1, NULL), 0);
    assert_true(tu_contains(back, "\"ssn\":\"123-45-6789\""));
    assert_true(tu_contains(back, "\"mrn\":\"MRN-0042\""));
    assert_true(tu_contains(back, "\"card\":\"4111\""));
    free(out);
    free(back);
}

/* The n-th (0-based) value of `"key":"..."` in s, copied into buf. */
static const char *nth_str(const char *s, const char *key, int n, char *buf, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = s;
    for (int i = 0; p && i <= n; i++)
        if ((p = strstr(p, pat)) != NULL)
            p += strlen(pat);
    if (!p)
        fail_msg("no value %d of '%s'", n, key);
    const char *e = strchr(p, '"');
    size_t len = (size_t)(e - p) < cap - 1 ? (size_t)(e - p) : cap - 1;
    memcpy(buf, p, len);
    buf[len] = 0;
    return buf;
}

/* A date_shift offset is computed once per record and rule, and never
 * carried to the next record: every record's dates move exactly as the
 * same dates of a record alone with that subject move; two rules with
 * two subjects in one record each keep their own; a subject written
 * after its dates counts; a record without its subject is an error even
 * right after one that had it. */
static void test_deid__date_shift_subjects_per_record(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                      "\"a[].d\":{\"action\":\"date_shift\",\"subject\":\"p\",\"key\":\"ps:patient\",\"max_days\":1000},"
                      "\"b\":{\"action\":\"date_shift\",\"subject\":\"q\",\"key\":\"ps:patient\",\"max_days\":1000}}}";
    const char *in = "{\"p\":\"P1\",\"q\":\"Q1\",\"a\":[{\"d\":\"2020-01-10\"},{\"d\":\"2020-01-10\"}],\"b\":\"2020-01-10\"}\n"
                     "{\"a\":[{\"d\":\"2020-01-10\"}],\"b\":\"2020-01-10\",\"p\":\"P2\",\"q\":\"Q2\"}\n"
                     "{\"p\":\"P1\",\"q\":\"Q2\",\"a\":[{\"d\":\"2020-01-10\"}],\"b\":\"2020-01-10\"}\n"
                     "{\"q\":\"Q1\",\"b\":\"2020-01-10\"}\n";
    const char *alone[] = {
        "{\"p\":\"P1\",\"a\":[{\"d\":\"2020-01-10\"}]}", "{\"p\":\"P2\",\"a\":[{\"d\":\"2020-01-10\"}]}",
        "{\"q\":\"Q1\",\"b\":\"2020-01-10\"}", "{\"q\":\"Q2\",\"b\":\"2020-01-10\"}",
    };
    char want[4][16], got[16], *out;
    size_t n;
    for (int i = 0; i < 4; i++) {
        char *o = deid1(f, pol, alone[i]);
        nth_str(o, i < 2 ? "d" : "b", 0, want[i], sizeof want[i]);
        free(o);
    }
    for (unsigned threads = 1; threads <= 2; threads++) {
        assert_int_equal(run_file(f, pol, "ds.jsonl", in, strlen(in), "ds.out.jsonl", &out, &n, threads, 0, NULL), 0);
        char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1, *l4 = strchr(l3, '\n') + 1;
        assert_string_equal(nth_str(out, "d", 0, got, sizeof got), want[0]);
        assert_string_equal(nth_str(out, "d", 1, got, sizeof got), want[0]);
        assert_string_equal(nth_str(out, "b", 0, got, sizeof got), want[2]);
        assert_string_equal(nth_str(l2, "d", 0, got, sizeof got), want[1]);
        assert_string_equal(nth_str(l2, "b", 0, got, sizeof got), want[3]);
        assert_string_equal(nth_str(l3, "d", 0, got, sizeof got), want[0]);
        assert_string_equal(nth_str(l3, "b", 0, got, sizeof got), want[3]);
        assert_string_equal(nth_str(l4, "b", 0, got, sizeof got), want[2]);
        free(out);
    }
    const char *missing = "{\"p\":\"P1\",\"a\":[{\"d\":\"2020-01-10\"}]}\n{\"a\":[{\"d\":\"2020-01-10\"}]}\n";
    assert_int_not_equal(run_file(f, pol, "dm.jsonl", missing, strlen(missing), "dm.out.jsonl", NULL, NULL, 1, 0, NULL),
                         0);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "subject"));
}

static char *public_call(fx *f, int pseudo, const char *key, const char *format, const char *context, const char *v)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    int rc;
    if (pseudo) {
        phicrypt_pseudonym_opts o = PHICRYPT_PSEUDONYM_OPTS_INIT;
        o.context = context;
        rc = phicrypt_pseudonymize(f->ph, &b, key, v, strlen(v), &o);
    } else {
        phicrypt_token_opts o = PHICRYPT_TOKEN_OPTS_INIT;
        o.format = format;
        o.context = context;
        rc = phicrypt_tokenize(f->ph, &b, key, v, strlen(v), &o);
    }
    if (rc)
        fail_msg("public call: %s", phicrypt_errmsg(f->ph));
    char *s = strndup((const char *)b.data, b.len);
    phicrypt_buf_dispose(&b);
    return s;
}

/* The workers' own key copies give exactly what the public calls give,
 * value by value, at any thread count; a key rotated between two runs is
 * used by the next run (the copies live for one batch). */
static void test_deid__worker_keys_match_the_public_calls(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"error\",\"fields\":{"
                      "\"ssn\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"ssn\"},"
                      "\"mrn\":{\"action\":\"tokenize\",\"key\":\"tok:opaque\",\"context\":\"m\"},"
                      "\"first\":{\"action\":\"pseudonymize\",\"key\":\"ps:patient\",\"context\":\"first-name\"},"
                      "\"email\":{\"action\":\"pseudonymize\",\"key\":\"ps:patient\"}}}";
    size_t cap = 3000 * 160, len = 0, n;
    char *in = malloc(cap), *out, *out2;
    for (int i = 0; i < 3000; i++)
        len += (size_t)snprintf(in + len, cap - len,
                                "{\"ssn\":\"%03d-%02d-%04d\",\"mrn\":\"M%06d\",\"first\":\"Name%d\",\"email\":\"p%d@x.org\"}\n",
                                100 + i % 500, 10 + i % 80, 1000 + i, i, i % 97, i);
    for (unsigned threads = 1; threads <= 3; threads += 2) {
        assert_int_equal(run_file(f, pol, "wk.jsonl", in, len, "wk.out.jsonl", &out, &n, threads, 0, NULL), 0);
        for (int i = 0; i < 3000; i += 37) {
            char v[64], *e[4];
            snprintf(v, sizeof v, "%03d-%02d-%04d", 100 + i % 500, 10 + i % 80, 1000 + i);
            e[0] = public_call(f, 0, "tok:ssn", "ssn", "ssn", v);
            snprintf(v, sizeof v, "M%06d", i);
            e[1] = public_call(f, 0, "tok:opaque", NULL, "m", v);
            snprintf(v, sizeof v, "Name%d", i % 97);
            e[2] = public_call(f, 1, "ps:patient", NULL, "first-name", v);
            snprintf(v, sizeof v, "p%d@x.org", i);
            e[3] = public_call(f, 1, "ps:patient", NULL, "email", v);
            char *line = out;
            for (int k = 0; k < i; k++)
                line = strchr(line, '\n') + 1;
            char want[512];
            snprintf(want, sizeof want, "{\"ssn\":\"%s\",\"mrn\":\"%s\",\"first\":\"%s\",\"email\":\"%s\"}\n", e[0],
                     e[1], e[2], e[3]);
            assert_memory_equal(line, want, strlen(want));
            for (int k = 0; k < 4; k++)
                free(e[k]);
        }
        free(out);
    }
    uint32_t v = 0;
    assert_int_equal(phicrypt_keyring_rotate(f->ph, &v, "tok:opaque"), 0);
    assert_int_equal(run_file(f, pol, "wk.jsonl", NULL, 0, "wk.out2.jsonl", &out2, &n, 2, 0, NULL), 0);
    assert_true(tu_contains(out2, "\"mrn\":\"tk1.2."));
    assert_false(tu_contains(out2, "\"mrn\":\"tk1.1."));
    free(out2);
    free(in);
}

/* Records with ever new field names: each path is counted, up to
 * PHI_STATS_MAX_PATHS distinct ones; the rest are counted together, so the
 * report (and memory) stay bounded, the same at any thread count. Unknown
 * names are listed up to their own limit of 10,000. */
static void test_deid__many_distinct_field_names_stay_bounded(void **state)
{
    fx *f = *state;
    size_t cap = 13000 * 40, len = 0, n1, n3;
    char *in = malloc(cap), *o1, *o3, *r1, *r3, *rk;
    for (int i = 0; i < 13000; i++)
        len += (size_t)snprintf(in + len, cap - len, "{\"f%06d\":\"v\",\"g\":1}\n", i);
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"*\":{\"action\":\"redact\"}}}";
    assert_int_equal(run_file(f, pol, "dn.jsonl", in, len, "dn1.jsonl", &o1, &n1, 1, 0, &r1), 0);
    assert_int_equal(run_file(f, pol, "dn.jsonl", NULL, 0, "dn3.jsonl", &o3, &n3, 3, 0, &r3), 0);
    assert_non_null(strstr(r1, "\"fields\":"));
    assert_string_equal(strstr(r1, "\"fields\":"), strstr(r3, "\"fields\":"));
    assert_true(n1 == n3 && memcmp(o1, o3, n1) == 0);
    assert_true(tu_contains(r1, "{\"path\":\"f000000\",\"action\":\"redact\",\"count\":1}"));
    assert_true(tu_contains(r1, "{\"path\":\"g\",\"action\":\"redact\",\"count\":13000}"));
    /* 9,999 f-paths listed besides g; the other 3,001 counted together */
    assert_true(tu_contains(r1, "{\"path\":\"f009998\",\"action\":\"redact\""));
    assert_false(tu_contains(r1, "\"f009999\""));
    assert_true(tu_contains(r1, "{\"path\":\"(other paths)\",\"action\":\"redact\",\"count\":3001}"));
    /* unknown names (no rule, kept): listed up to 10,000 */
    const char *keep = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"g\":{\"action\":\"keep\"}}}";
    assert_int_equal(run_file(f, keep, "dn.jsonl", NULL, 0, "dnk.jsonl", NULL, NULL, 2, 0, &rk), 0);
    assert_true(tu_contains(rk, "\"f009999\""));
    assert_false(tu_contains(rk, "\"f010000\""));
    free(in);
    free(o1);
    free(o3);
    free(r1);
    free(r3);
    free(rk);
}

static const char *csv_policy = "{\"version\":1,\"fields\":{\"name\":{\"action\":\"redact\"},"
                                "\"address.zip\":{\"action\":\"zip3\"},\"notes\":{\"action\":\"scrub\"},"
                                "\"ssn\":{\"action\":\"drop\"},\"dx\":{\"action\":\"keep\"},"
                                "\"visits[].date\":{\"action\":\"generalize\"}}}";

static void test_deid__csv_quoting_and_columns(void **state)
{
    fx *f = *state;
    const char *in = "name,ssn,address.zip,dx,notes,visits.0.date\n"
                     "\"Doe, Jane\",123-45-6789,02139,\"flu, \"\"bad\"\"\",\"line1\nline2 123-45-6789\",2020-01-02T00:00:00.000Z\n"
                     "Bob,1,90210,,x,\n";
    char *out;
    size_t n;
    assert_int_equal(run_file(f, csv_policy, "p.csv", in, strlen(in), "p.out.csv", &out, &n, 1, 0, NULL), 0);
    assert_string_equal(out, "name,address.zip,dx,notes,visits.0.date\n"
                             "[REDACTED],021,\"flu, \"\"bad\"\"\",\"line1\nline2 [SSN]\",2020\n"
                             "[REDACTED],902,,x,\n");
    free(out);
    /* A row with a wrong field count and an unterminated quote are errors. */
    const char *bad1 = "name,ssn,address.zip,dx,notes,visits.0.date\na,b\n";
    assert_int_equal(run_file(f, csv_policy, "b.csv", bad1, strlen(bad1), "b.out.csv", NULL, NULL, 1, 0, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "line 2"));
    assert_no_output(f, "b.out.csv");
}

static void test_deid__json_array_and_bson_round_trip(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"name\":{\"action\":\"redact\"},"
                      "\"dob\":{\"action\":\"generalize\"},\"x\":{\"action\":\"drop\"},\"arr[]\":{\"action\":\"drop\"}}}";
    const char *in = "[\n {\"name\":\"A\",\"dob\":\"1960-01-02\",\"k\":1},\n {\"name\":\"B\",\"x\":2}\n]\n";
    char *out;
    size_t n;
    assert_int_equal(run_file(f, pol, "a.json", in, strlen(in), "a.out.json", &out, &n, 1, 0, NULL), 0);
    assert_string_equal(out, "[{\"name\":\"[REDACTED]\",\"dob\":\"1960\",\"k\":1},\n{\"name\":\"[REDACTED]\"}]\n");
    free(out);

    /* BSON: two documents; unchanged documents come back byte for byte. */
    bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER, sub;
    BSON_APPEND_UTF8(&a, "name", "Ann");
    BSON_APPEND_DATE_TIME(&a, "dob", INT64_C(-86400000) * 365);
    BSON_APPEND_INT64(&a, "k", 7);
    BSON_APPEND_ARRAY_BEGIN(&a, "arr", &sub);
    BSON_APPEND_INT32(&sub, "0", 1);
    BSON_APPEND_INT32(&sub, "1", 2);
    bson_append_array_end(&a, &sub);
    BSON_APPEND_DOUBLE(&b, "k", 1.5);
    BSON_APPEND_DECIMAL128(&b, "d", &(bson_decimal128_t){ 0 });
    size_t la = a.len, lb = b.len;
    char *buf = malloc(la + lb);
    memcpy(buf, bson_get_data(&a), la);
    memcpy(buf + la, bson_get_data(&b), lb);
    assert_int_equal(run_file(f, pol, "d.bson", buf, la + lb, "d.out.bson", &out, &n, 2, 0, NULL), 0);
    bson_reader_t *rd = bson_reader_new_from_data((const uint8_t *)out, n);
    const bson_t *d1 = bson_reader_read(rd, NULL);
    assert_non_null(d1);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, d1, "name"));
    assert_string_equal(bson_iter_utf8(&it, NULL), "[REDACTED]");
    assert_true(bson_iter_init_find(&it, d1, "dob"));
    assert_true(BSON_ITER_HOLDS_DATE_TIME(&it));
    assert_int_equal(bson_iter_date_time(&it), INT64_C(-31536000000)); /* 1969-01-01 */
    assert_true(bson_iter_init_find(&it, d1, "arr"));
    uint32_t al;
    const uint8_t *ad;
    bson_iter_array(&it, &al, &ad);
    assert_int_equal(al, 5); /* every element dropped: an empty array */
    const bson_t *d2 = bson_reader_read(rd, NULL);
    assert_non_null(d2);
    assert_int_equal(d2->len, lb);
    assert_memory_equal(bson_get_data(d2), bson_get_data(&b), lb);
    assert_null(bson_reader_read(rd, NULL));
    bson_reader_destroy(rd);
    free(out);
    /* Truncated BSON: an error naming the byte offset, and no output. */
    assert_int_equal(run_file(f, pol, "t.bson", buf, la + lb - 3, "t.out.bson", NULL, NULL, 1, 0, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "byte"));
    assert_no_output(f, "t.out.bson");
    free(buf);
    bson_destroy(&a);
    bson_destroy(&b);
}

static char *gen_export(size_t n, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&buf, &cap);
    for (size_t i = 0; i < n; i++)
        fprintf(m,
                "{\"_id\":{\"$oid\":\"5f1d7a4e8f1b2c3d4e%06zx\"},\"name\":\"Pat%zu Q%zu\",\"ssn\":\"%03zu-%02zu-%04zu\","
                "\"dob\":{\"$date\":\"19%02zu-0%zu-1%zuT00:00:00Z\"},\"address\":{\"street\":\"%zu Elm St\",\"zip\":\"%05zu\","
                "\"state\":\"MA\"},\"sex\":\"F\",\"notes\":\"Pat%zu called 617-555-%04zu about 2021-01-0%zu\","
                "\"visits\":[{\"date\":\"2021-02-0%zu\",\"diagnosis\":\"J10\"}]}\n",
                i, i, i % 7, 100 + i % 800, 10 + i % 89, i % 10000, i % 100, 1 + i % 9, i % 10, i, i * 37 % 100000,
                i, i % 10000, 1 + i % 9, 1 + i % 9);
    fclose(m);
    *len = cap;
    return buf;
}

static void test_deid__same_output_with_any_thread_count(void **state)
{
    fx *f = *state;
    size_t len, n1, n4;
    char *in = gen_export(20000, &len), *o1, *o4, *rep;
    const char *pol = "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"error\",\"fields\":{"
                      "\"ssn\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"ssn\"}}}";
    assert_int_equal(run_file(f, pol, "big.jsonl", in, len, "o1.jsonl", &o1, &n1, 1, 0, NULL), 0);
    assert_int_equal(run_file(f, pol, "big.jsonl", NULL, 0, "o4.jsonl", &o4, &n4, 4, 0, &rep), 0);
    assert_int_equal(n1, n4);
    assert_memory_equal(o1, o4, n1);
    assert_true(tu_contains(rep, "\"records_in\":20000"));
    assert_true(tu_contains(rep, "\"path\":\"ssn\",\"action\":\"tokenize\",\"count\":20000"));
    assert_true(tu_contains(rep, "\"unknown_fields\":[]"));
    assert_null(strstr(o1, "Elm St"));
    assert_null(strstr(o1, "617-555"));
    assert_null(strstr(o1, "\"Pat1 "));
    /* ... and reid gives back the SSNs. */
    char *back;
    size_t nb;
    assert_int_equal(run_file(f, pol, "o4.jsonl", NULL, 0, "back.jsonl", &back, &nb, 3, 1, NULL), 0);
    assert_true(tu_contains(back, "\"ssn\":\"102-12-0002\""));
    free(back);
    free(in);
    free(o1);
    free(o4);
    free(rep);
}

static void test_deid__safe_harbor_reports_unrecognised_fields(void **state)
{
    fx *f = *state;
    const char *in = "{\"firstName\":\"Ann\",\"birthDate\":\"1970-03-04\",\"zipCode\":\"02139\",\"favouriteColour\":\"red\","
                     "\"phone_number\":\"617-555-0101\",\"photo\":{\"$binary\":{\"base64\":\"AA==\",\"subType\":\"00\"}},"
                     "\"admittedOn\":{\"$date\":\"2020-04-05T00:00:00Z\"},\"age\":91}\n";
    char *out, *rep;
    size_t n;
    assert_int_equal(run_file(f, "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"keep\"}", "s.jsonl", in,
                              strlen(in), "s.out.jsonl", &out, &n, 1, 0, &rep),
                     0);
    assert_string_equal(out, "{\"firstName\":\"[REDACTED]\",\"birthDate\":\"1970\",\"zipCode\":\"021\",\"favouriteColour\":\"red\","
                             "\"phone_number\":\"[REDACTED]\","
                             "\"admittedOn\":{\"$date\":\"2020-01-01T00:00:00.000Z\"},\"age\":\"90+\"}\n");
    assert_true(tu_contains(rep, "\"unknown_fields\":[\"favouriteColour\"]"));
    free(out);
    free(rep);
}

static void test_deid__malformed_inputs_leave_no_output(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"a\":{\"action\":\"redact\"}}}";
    char deep[400];
    memset(deep, '[', 300);
    strcpy(deep + 300, "]");
    char deepdoc[500];
    snprintf(deepdoc, sizeof deepdoc, "{\"a\":1,\"b\":%s}\n", deep);
    struct { const char *name, *in, *msg; } cases[] = {
        { "trunc.jsonl", "{\"a\":1}\n{\"a\":\"x", "line 2" },
        { "utf8.jsonl", "{\"a\":1}\n{\"b\":\"\xc3\x28\"}\n", "invalid UTF-8" },
        { "esc.jsonl", "{\"b\":\"\\x\"}\n", "bad escape" },
        { "surr.jsonl", "{\"b\":\"\\ud800\"}\n", "surrogate" },
        { "deep.jsonl", deepdoc, "nesting deeper" },
        { "huge.jsonl", "{\"b\":1e999}\n", "out of range" },
        { "long.jsonl", "{\"b\":12345678901234567890123456789012345678901234567890123456789012345678901}\n",
          "too long" },
        { "notobj.jsonl", "[1,2]\n", "JSON object" },
        { "trail.jsonl", "{\"a\":1} x\n", "after the record" },
        { "arr.json", "[{\"a\":1},{\"a\":2}", "truncated" },
        { "arr2.json", "[{\"a\":1} {\"a\":2}]", "expected ','" },
        { "badcsv.csv", "a,b\n\"x,y\n", "unterminated" },
        { "utf8.csv", "a,b\n\xff,1\n", "invalid UTF-8" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char outname[64];
        snprintf(outname, sizeof outname, "out-%s", cases[i].name);
        int rc = run_file(f, pol, cases[i].name, cases[i].in, strlen(cases[i].in), outname, NULL, NULL, 1 + i % 3, 0,
                          NULL);
        if (rc != PHICRYPT_EBADDATA)
            fail_msg("%s: rc %d (%s)", cases[i].name, rc, phicrypt_errmsg(f->ph));
        if (!tu_contains(phicrypt_errmsg(f->ph), cases[i].msg) || !tu_contains(phicrypt_errmsg(f->ph), cases[i].name))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].name, phicrypt_errmsg(f->ph), cases[i].msg);
        assert_no_output(f, outname);
    }
    /* The message never quotes the value. */
    run_file(f, pol, "v.jsonl", "{\"a\":\"SECRET-VALUE\\q\"}\n", 23, "v.out.jsonl", NULL, NULL, 1, 0, NULL);
    assert_null(strstr(phicrypt_errmsg(f->ph), "SECRET"));
}

static void count_progress(void *user, uint64_t records, uint64_t done, uint64_t total)
{
    uint64_t *calls = user;
    assert_true(done <= total);
    assert_true(records <= 3);
    (*calls)++;
}

static void test_deid__skip_bad_lists_and_skips(void **state)
{
    fx *f = *state;
    char *ip = path_in(f, "sb.jsonl"), *op = path_in(f, "sb.out.jsonl");
    const char *in = "{\"a\":\"x\"}\n{\"a\":\n{\"a\":\"y\"}\n";
    tu_write_file(ip, in, strlen(in), 0600);
    phicrypt_deid_policy *p = policy(f, "{\"version\":1,\"fields\":{\"a\":{\"action\":\"redact\"}}}");
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    o.skip_bad = 1;
    uint64_t calls = 0;
    o.progress = count_progress;
    o.progress_user = &calls;
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    assert_int_equal(phicrypt_deid_file(f->ph, &rep, p, ip, op, &o), 0);
    assert_true(calls >= 1);
    size_t n;
    char *out = tu_read_file(op, &n);
    assert_string_equal(out, "{\"a\":\"[REDACTED]\"}\n{\"a\":\"[REDACTED]\"}\n");
    assert_true(tu_contains((const char *)rep.data, "\"bad_records\":[{\"record\":{\"line\":2}"));
    free(out);
    phicrypt_buf_dispose(&rep);
    phicrypt_deid_policy_free(p);
    free(ip);
    free(op);
}

/* Issue 19 item 6: a report buffer passed again has its old bytes wiped
 * and freed (seen through the free observer), when the run succeeds and
 * when it fails (its report says how far it got). */
static const void *stale_rep;
static int stale_seen, stale_dirty;

static void note_free(const void *p, size_t n)
{
    if (p != stale_rep)
        return;
    stale_seen++;
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i])
            stale_dirty++;
}

static void stale_fill(phicrypt_buf *b)
{
    phicrypt_buf_dispose(b);
    b->data = malloc(64);
    assert_non_null(b->data);
    memset(b->data, 'S', 64);
    b->len = 64;
    stale_rep = b->data;
    stale_seen = stale_dirty = 0;
    phi_test_set_free_observer(note_free);
}

static void stale_check(const char *call)
{
    phi_test_set_free_observer(NULL);
    if (stale_seen != 1 || stale_dirty)
        fail_msg("%s: the report's old bytes were %s", call, stale_seen ? "not wiped" : "not freed (leaked)");
}

static void test_deid__report_buffer_reused_is_wiped(void **state)
{
    fx *f = *state;
    char *ip = path_in(f, "ru.jsonl"), *op = path_in(f, "ru.out.jsonl"), *bad = path_in(f, "missing.jsonl");
    const char *in = "{\"a\":\"x\"}\n";
    tu_write_file(ip, in, strlen(in), 0600);
    phicrypt_deid_policy *p = policy(f, "{\"version\":1,\"fields\":{\"a\":{\"action\":\"redact\"}}}");
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    for (int round = 0; round < 3; round++) {
        stale_fill(&rep);
        assert_int_equal(phicrypt_deid_file(f->ph, &rep, p, ip, op, NULL), 0);
        stale_check("phicrypt_deid_file");
        assert_true(tu_contains((const char *)rep.data, "\"records_out\":1"));
    }
    stale_fill(&rep);
    assert_int_equal(phicrypt_deid_file(f->ph, &rep, p, bad, op, NULL), PHICRYPT_EIO);
    stale_check("phicrypt_deid_file (failing)");
    assert_null(rep.data);
    phicrypt_deid_policy_free(p);
    free(ip);
    free(op);
    free(bad);
}

static void test_deid__bad_arguments(void **state)
{
    fx *f = *state;
    phicrypt_deid_policy *p = policy(f, "{\"version\":1,\"fields\":{\"a\":{\"action\":\"keep\"}}}");
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    assert_int_equal(phicrypt_deid_file(f->ph, NULL, NULL, "a", "b", NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_deid_file(f->ph, NULL, p, "in.txt", "out.txt", NULL), PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "format"));
    o.version = 99;
    assert_int_equal(phicrypt_deid_file(f->ph, NULL, p, "a.jsonl", "b.jsonl", &o), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_deid_file(f->ph, NULL, p, "/nonexistent/a.jsonl", "b.jsonl", NULL), PHICRYPT_EIO);
    assert_int_equal(phicrypt_deid_json(f->ph, NULL, p, "{}", 2), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_deid_max_record(), PHICRYPT_DEID_MAX_RECORD);
    phicrypt_deid_policy_free(p);
}

static void test_deid__bson_and_csv_keyed_round_trip(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{"
                      "\"ssn\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"ssn\"},"
                      "\"mrn\":{\"action\":\"tokenize\",\"key\":\"tok:opaque\"},"
                      "\"n\":{\"action\":\"encrypt\",\"key_alt_name\":\"patients\",\"algorithm\":\"random\"}}}";
    bson_t a = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&a, "ssn", "123-45-6789");
    BSON_APPEND_UTF8(&a, "mrn", "MRN-77");
    BSON_APPEND_INT64(&a, "n", 42);
    BSON_APPEND_UTF8(&a, "other", "same");
    char *out, *back;
    size_t n, bn;
    assert_int_equal(run_file(f, pol, "kb.bson", (const char *)bson_get_data(&a), a.len, "kb.out.bson", &out, &n, 1, 0,
                              NULL),
                     0);
    bson_t o;
    bson_iter_t it;
    assert_true(bson_init_static(&o, (const uint8_t *)out, n));
    assert_true(bson_iter_init_find(&it, &o, "n"));
    assert_true(BSON_ITER_HOLDS_BINARY(&it));
    assert_true(bson_iter_init_find(&it, &o, "ssn"));
    assert_string_not_equal(bson_iter_utf8(&it, NULL), "123-45-6789");
    assert_int_equal(run_file(f, pol, "kb.out.bson", NULL, 0, "kb.back.bson", &back, &bn, 2, 1, NULL), 0);
    /* Back to the same bytes: values, types and order. */
    assert_int_equal(bn, a.len);
    assert_memory_equal(back, bson_get_data(&a), a.len);
    free(out);
    free(back);
    bson_destroy(&a);

    const char *csv = "ssn,mrn,n,other\n123-45-6789,MRN-77,42,\"a,b\"\n";
    assert_int_equal(run_file(f, pol, "kc.csv", csv, strlen(csv), "kc.out.csv", &out, &n, 1, 0, NULL), 0);
    assert_null(strstr(out, "123-45-6789"));
    assert_true(tu_contains(out, "\"{\"\"$binary\"\""));
    assert_int_equal(run_file(f, pol, "kc.out.csv", NULL, 0, "kc.back.csv", &back, &bn, 1, 1, NULL), 0);
    assert_string_equal(back, csv);
    free(out);
    free(back);
}

static void test_deid__malformed_bson(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"a\":{\"action\":\"redact\"}}}";
    /* Bad UTF-8 in a string. */
    bson_t a = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&a, "b", "xyz");
    uint8_t *d = malloc(a.len);
    memcpy(d, bson_get_data(&a), a.len);
    for (size_t i = 0; i + 3 < a.len; i++)
        if (memcmp(d + i, "xyz", 3) == 0)
            d[i + 1] = 0xff;
    assert_int_equal(run_file(f, pol, "u.bson", (const char *)d, a.len, "u.out.bson", NULL, NULL, 1, 0, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "u.bson: record 1, byte 0"));
    assert_no_output(f, "u.out.bson");
    free(d);
    bson_destroy(&a);
    /* Nesting deeper than 100 levels. */
    bson_t docs[120];
    bson_init(&docs[119]);
    BSON_APPEND_INT32(&docs[119], "x", 1);
    for (int i = 118; i >= 0; i--) {
        bson_init(&docs[i]);
        BSON_APPEND_DOCUMENT(&docs[i], "d", &docs[i + 1]);
    }
    assert_int_equal(run_file(f, pol, "deep.bson", (const char *)bson_get_data(&docs[0]), docs[0].len,
                              "deep.out.bson", NULL, NULL, 1, 0, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "nesting"));
    for (int i = 0; i < 120; i++)
        bson_destroy(&docs[i]);
    /* A length prefix larger than 16 MiB. */
    const char big[8] = { 0, 0, 0, 0x7f, 0, 0, 0, 0 };
    assert_int_equal(run_file(f, pol, "len.bson", big, 8, "len.out.bson", NULL, NULL, 1, 0, NULL), PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "length"));
    assert_no_output(f, "len.out.bson");
}

static void test_deid__bson_safe_harbor_leaves_no_planted_identifier(void **state)
{
    fx *f = *state;
    size_t len, n;
    char *jl = gen_export(300, &len), *out;
    /* The same export as mongodump would write it. */
    char *bs = NULL;
    size_t bl = 0;
    FILE *m = open_memstream(&bs, &bl);
    for (char *line = strtok(jl, "\n"); line; line = strtok(NULL, "\n")) {
        bson_t b;
        bson_error_t err;
        assert_true(bson_init_from_json(&b, line, -1, &err));
        fwrite(bson_get_data(&b), 1, b.len, m);
        bson_destroy(&b);
    }
    fclose(m);
    assert_int_equal(run_file(f, "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"error\"}", "sh.bson", bs, bl,
                              "sh.out.bson", &out, &n, 2, 0, NULL),
                     0);
    for (size_t i = 0; i < 300; i++) {
        char ssn[16], name[24], street[24], phone[16];
        snprintf(ssn, sizeof ssn, "%03zu-%02zu-%04zu", 100 + i % 800, 10 + i % 89, i % 10000);
        snprintf(name, sizeof name, "Pat%zu Q", i);
        snprintf(street, sizeof street, "%zu Elm St", i);
        snprintf(phone, sizeof phone, "617-555-%04zu", i % 10000);
        const char *planted[] = { ssn, name, street, phone, "Elm" };
        for (size_t k = 0; k < 5; k++)
            if (memmem(out, n, planted[k], strlen(planted[k])))
                fail_msg("record %zu: a planted identifier (#%zu) is left", i, k);
    }
    /* Dates stay BSON dates, reduced to 1 January; a birth year that
     * implies an age of 90 or more (record 0: 1900) becomes "90+". */
    bson_reader_t *rd = bson_reader_new_from_data((const uint8_t *)out, n);
    const bson_t *d = bson_reader_read(rd, NULL);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, d, "dob"));
    assert_true(BSON_ITER_HOLDS_UTF8(&it));
    assert_string_equal(bson_iter_utf8(&it, NULL), "90+");
    assert_false(bson_iter_init_find(&it, d, "_id"));
    for (int k = 0; k < 60; k++)
        d = bson_reader_read(rd, NULL);
    assert_true(bson_iter_init_find(&it, d, "dob")); /* record 60: 1960 */
    assert_true(BSON_ITER_HOLDS_DATE_TIME(&it));
    int64_t ms = bson_iter_date_time(&it);
    assert_int_equal(ms % 86400000, 0);
    bson_reader_destroy(rd);
    free(out);
    free(bs);
    free(jl);
}

/* The string scanners (SSE2 and the portable one) agree with a byte loop
 * on every position of strings full of the bytes they look for. */
static size_t plain_run_bytewise(const unsigned char *s, size_t n, int high)
{
    size_t i = 0;
    while (i < n && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' && !(high && s[i] >= 0x80))
        i++;
    return i;
}

static void test_deid__string_scanners_agree_with_a_byte_loop(void **state)
{
    (void)state;
    static const unsigned char alphabet[] = { 'a', 'Z', '0', ' ', '"', '\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff, '!' };
    unsigned char s[80];
    uint32_t x = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 80);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            /* mostly plain bytes, so that runs are long */
            s[i] = (x >> 16) % 8 ? (unsigned char)('a' + (x >> 20) % 26) : alphabet[(x >> 20) % sizeof alphabet];
        }
        for (int high = 0; high < 2; high++) {
            size_t want = plain_run_bytewise(s, n, high);
            assert_int_equal(phi_json_plain_run(s, n, high), want);
            assert_int_equal(phi_json_plain_run_swar(s, n, high), want);
        }
    }
}

/* More distinct paths than the per-worker path table holds, and keys
 * longer than it caches: rules, counts and error messages stay right. */
static void test_deid__paths_beyond_the_path_table(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"m.*.ssn\":{\"action\":\"redact\"},"
                      "\"*.ssn\":{\"action\":\"mask\",\"keep_last\":2}}}";
    size_t cap = 4u << 20, len = 0;
    char *in = malloc(cap);
    len += (size_t)snprintf(in + len, cap - len, "{\"m\":{");
    for (int k = 0; k < 9000; k++)
        len += (size_t)snprintf(in + len, cap - len, "%s\"k%d\":{\"ssn\":\"123-45-%04d\",\"x\":%d}", k ? "," : "", k, k, k);
    len += (size_t)snprintf(in + len, cap - len, "}}\n");
    /* A 2000-byte key, then ordinary records after the big one. */
    len += (size_t)snprintf(in + len, cap - len, "{\"");
    memset(in + len, 'q', 2000);
    len += 2000;
    len += (size_t)snprintf(in + len, cap - len, "\":{\"ssn\":\"999-88-7777\"}}\n");
    for (int r = 0; r < 3; r++)
        len += (size_t)snprintf(in + len, cap - len, "{\"m\":{\"k7\":{\"ssn\":\"123-45-0007\",\"x\":7}}}\n");
    char *out, *rep;
    size_t n;
    assert_int_equal(run_file(f, pol, "wide.jsonl", in, len, "wide.out.jsonl", &out, &n, 1, 0, &rep), 0);
    assert_false(tu_contains(out, "123-45-"));
    assert_true(tu_contains(out, "\"k8999\":{\"ssn\":\"[REDACTED]\",\"x\":8999}"));
    assert_true(tu_contains(out, "\"k0\":{\"ssn\":\"[REDACTED]\",\"x\":0}"));
    assert_true(tu_contains(out, "qqq\":{\"ssn\":\"*********77\"}}\n"));
    assert_true(tu_contains(out, "\n{\"m\":{\"k7\":{\"ssn\":\"[REDACTED]\",\"x\":7}}}\n{\"m\":{\"k7\":{\"ssn\":\"[REDACTED]\",\"x\":7}}}\n"));
    assert_true(tu_contains(rep, "{\"path\":\"m.k8999.ssn\",\"action\":\"redact\",\"count\":1}"));
    assert_true(tu_contains(rep, "{\"path\":\"m.k7.ssn\",\"action\":\"redact\",\"count\":4}"));
    free(out);
    free(rep);
    /* The same file as BSON documents. */
    bson_t doc, m, k, sub;
    char *bin = NULL;
    size_t blen = 0;
    FILE *mf = open_memstream(&bin, &blen);
    bson_init(&doc);
    bson_append_document_begin(&doc, "m", 1, &m);
    for (int j = 0; j < 9000; j++) {
        char key[16], ssn[16];
        snprintf(key, sizeof key, "k%d", j);
        snprintf(ssn, sizeof ssn, "123-45-%04d", j);
        bson_append_document_begin(&m, key, -1, &k);
        BSON_APPEND_UTF8(&k, "ssn", ssn);
        BSON_APPEND_INT32(&k, "x", j);
        bson_append_document_end(&m, &k);
    }
    bson_append_document_end(&doc, &m);
    fwrite(bson_get_data(&doc), 1, doc.len, mf);
    bson_destroy(&doc);
    bson_init(&doc);
    memset(in, 'q', 2000);
    bson_append_document_begin(&doc, in, 2000, &sub);
    BSON_APPEND_UTF8(&sub, "ssn", "999-88-7777");
    bson_append_document_end(&doc, &sub);
    fwrite(bson_get_data(&doc), 1, doc.len, mf);
    bson_destroy(&doc);
    fclose(mf);
    assert_int_equal(run_file(f, pol, "wide.bson", bin, blen, "wide.out.bson", &out, &n, 1, 0, &rep), 0);
    assert_null(memmem(out, n, "123-45-", 7));
    assert_null(memmem(out, n, "999-88-7777", 11));
    assert_non_null(memmem(out, n, "*********77", 11));
    assert_true(tu_contains(rep, "{\"path\":\"m.k8999.ssn\",\"action\":\"redact\",\"count\":1}"));
    free(out);
    free(rep);
    free(bin);
    /* An unknown field at an uncached path is named in full. */
    const char *strict = "{\"version\":1,\"fields\":{\"m.*.ssn\":{\"action\":\"redact\"},\"m.*.x\":{\"action\":\"keep\"}}}";
    len = 0;
    len += (size_t)snprintf(in + len, cap - len, "{\"m\":{");
    for (int j = 0; j < 9000; j++)
        len += (size_t)snprintf(in + len, cap - len, "\"k%d\":{\"ssn\":\"1\",\"x\":%d},", j, j);
    len += (size_t)snprintf(in + len, cap - len, "\"last\":{\"zz\":1}}}");
    deid_err(f, strict, in, "field 'm.last.zz' is not in the policy");
    free(in);
}

/* Dates at the ends of the int64 range (corrupt exports, fuzzing) are not
 * calendar dates: date rules redact them, without overflowing. */
static void test_deid__dates_beyond_range_are_redacted(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"dob\":{\"action\":\"generalize\",\"to\":\"year\"},"
                      "\"seen\":{\"action\":\"generalize\",\"to\":\"month\"}}}";
    char *out = deid1(f, pol, "{\"dob\":{\"$date\":{\"$numberLong\":\"-9223372036854775808\"}},"
                              "\"seen\":{\"$date\":9223372036854775807},\"x\":{\"$date\":\"2001-02-03T04:05:06Z\"}}");
    assert_string_equal(out, "{\"dob\":\"[REDACTED]\",\"seen\":\"[REDACTED]\",\"x\":{\"$date\":\"2001-02-03T04:05:06Z\"}}");
    free(out);
    /* The last dates inside the range still generalise: -271821-04-20 to
     * -271821-01-01 and 275760-09-13 to 275760-09-01 (checked with Python's
     * datetime, shifted by 400-year cycles of 146097 days). */
    out = deid1(f, pol, "{\"dob\":{\"$date\":{\"$numberLong\":\"-8640000000000000\"}},\"seen\":{\"$date\":8640000000000000}}");
    assert_string_equal(out, "{\"dob\":{\"$date\":{\"$numberLong\":\"-8640009417600000\"}},"
                             "\"seen\":{\"$date\":8639998963200000}}");
    free(out);
    bson_t doc;
    bson_init(&doc);
    BSON_APPEND_DATE_TIME(&doc, "dob", INT64_MIN);
    BSON_APPEND_DATE_TIME(&doc, "seen", INT64_MAX);
    char *bo;
    size_t n;
    assert_int_equal(run_file(f, pol, "range.bson", (const char *)bson_get_data(&doc), doc.len, "range.out.bson", &bo, &n, 1,
                              0, NULL),
                     0);
    bson_destroy(&doc);
    bson_t res;
    bson_iter_t it;
    assert_true(bson_init_static(&res, (const uint8_t *)bo, n));
    assert_true(bson_iter_init_find(&it, &res, "dob") && BSON_ITER_HOLDS_UTF8(&it));
    assert_string_equal(bson_iter_utf8(&it, NULL), "[REDACTED]");
    assert_true(bson_iter_init_find(&it, &res, "seen") && BSON_ITER_HOLDS_UTF8(&it));
    free(bo);
    /* Still a date for the Safe Harbor preset: redacted, not an unknown field. */
    out = deid1(f, "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"error\"}",
                "{\"lastSeen\":{\"$date\":{\"$numberLong\":\"-8640000000000001\"}}}");
    assert_string_equal(out, "{\"lastSeen\":\"[REDACTED]\"}");
    free(out);
}


/* ---- one semantics for every format (issue 16) ---- */

/* A JSON document in relaxed Extended JSON, after a trip through BSON:
 * outputs of different formats compare by value. */
static char *norm_json(const char *json)
{
    bson_t b;
    bson_error_t err;
    if (!bson_init_from_json(&b, json, -1, &err))
        fail_msg("not JSON: %s", err.message);
    char *s = bson_as_relaxed_extended_json(&b, NULL);
    char *r = strdup(s);
    bson_free(s);
    bson_destroy(&b);
    return r;
}

/* De-identifies `json` given as BSON (converted by libbson, as mongodump
 * would write it); the result as relaxed Extended JSON. */
static char *deid_as_bson(fx *f, const char *pol, const char *json)
{
    bson_t b;
    bson_error_t err;
    if (!bson_init_from_json(&b, json, -1, &err))
        fail_msg("not JSON: %s", err.message);
    char *out;
    size_t n;
    int rc = run_file(f, pol, "eq.bson", (const char *)bson_get_data(&b), b.len, "eq.out.bson", &out, &n, 1, 0, NULL);
    bson_destroy(&b);
    if (rc)
        fail_msg("deid bson: %s", phicrypt_errmsg(f->ph));
    bson_t res;
    assert_true(bson_init_static(&res, (const uint8_t *)out, n));
    char *s = bson_as_relaxed_extended_json(&res, NULL);
    char *r = strdup(s);
    bson_free(s);
    free(out);
    return r;
}

/* The JSON and the BSON outputs of one record, as the same relaxed JSON. */
static char *deid_json_eq_bson(fx *f, const char *pol, const char *json)
{
    char *j = deid1(f, pol, json), *jn = norm_json(j), *b = deid_as_bson(f, pol, json);
    if (strcmp(jn, b) != 0)
        fail_msg("JSON and BSON differ:\n%s\n%s", jn, b);
    free(j);
    free(b);
    return jn;
}

#define SH_KEEP "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"keep\",\"reference_date\":\"2020-06-15\"}"
#define SH_DROP "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\",\"reference_date\":\"2020-06-15\"}"

static void expect_same_in_json_and_bson(fx *f, const char *pol, const char *json, const char *want)
{
    char *out = deid_json_eq_bson(f, pol, json);
    assert_string_equal(out, want);
    free(out);
}

static void expect_csv(fx *f, const char *pol, const char *name, const char *csv, const char *want)
{
    char *out, *oname;
    size_t n;
    if (asprintf(&oname, "%s.out.csv", name) < 0)
        fail();
    assert_int_equal(run_file(f, pol, name, csv, strlen(csv), oname, &out, &n, 1, 0, NULL), 0);
    assert_string_equal(out, want);
    free(out);
    free(oname);
}

static void test_deid__preset_keep_on_a_container_walks_it(void **state)
{
    fx *f = *state;
    const char *in = "{\"name\":\"Elijah Nguyen-Tran\",\"diagnoses\":[{\"notedOn\":\"2023-11-13\",\"code\":\"E11.9\","
                     "\"comment\":\"confirmed with Elijah Nguyen-Tran\",\"mrn\":\"MRN-77123\"},\"J45\"],"
                     "\"reason\":{\"text\":\"call 617-432-0100\",\"coding\":{\"code\":\"R07\",\"display\":\"chest pain\"}},"
                     "\"status\":{\"since\":{\"$date\":\"2021-03-04T00:00:00Z\"},\"by\":\"nurse\"}}";
    char *out = deid_json_eq_bson(f, SH_KEEP, in);
    /* Walked: each value has its own treatment; nothing planted survives. */
    const char *planted[] = { "Elijah", "Nguyen", "2023-11-13", "MRN-77123", "617-432-0100", "2021-03-04" };
    for (size_t k = 0; k < sizeof planted / sizeof planted[0]; k++)
        if (strstr(out, planted[k]))
            fail_msg("planted value #%zu survives: %s", k, out);
    assert_true(tu_contains(out, "\"code\" : \"E11.9\""));
    assert_true(tu_contains(out, "\"J45\""));
    assert_true(tu_contains(out, "\"code\" : \"R07\""));
    assert_true(tu_contains(out, "\"notedOn\" : \"2023\""));
    free(out);
    /* With "drop", unnamed values inside a kept container go, in both formats. */
    out = deid_json_eq_bson(f, SH_DROP, in);
    assert_false(tu_contains(out, "display"));
    assert_false(tu_contains(out, "\"by\""));
    assert_true(tu_contains(out, "\"code\" : \"E11.9\""));
    free(out);
    /* A preset identifier on a container covers its unnamed values; a
     * preset drop takes a container whole. */
    expect_same_in_json_and_bson(f, SH_KEEP, "{\"address\":{\"value\":\"12 Elm St\",\"state\":\"MA\"},"
                                 "\"photo\":{\"state\":\"MA\",\"data\":\"x\"},\"id\":[{\"v\":\"A1\"}]}",
                                 "{ \"address\" : { \"value\" : \"[REDACTED]\", \"state\" : \"MA\" } }");
    /* The strings of a container an explicit rule redacts whole are the
     * record's identifiers in BSON as in JSON (scrubbed from its notes). */
    out = deid_json_eq_bson(f, "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"addr\":{\"action\":\"redact\"},"
                               "\"notes\":{\"action\":\"scrub\"}}}",
                            "{\"addr\":{\"street\":\"12 Larkspur Lane\"},\"notes\":\"lives on Larkspur Lane\"}");
    assert_false(tu_contains(out, "Larkspur"));
    free(out);
    /* FHIR-shaped identifiers and contact points. */
    expect_same_in_json_and_bson(f, SH_KEEP, "{\"identifier\":[{\"system\":\"mrn\",\"value\":\"A1\"}],\"telecom\":"
                                 "[{\"system\":\"phone\",\"value\":\"617-432-0100\"}],\"homeFax\":\"617-432-0101\"}",
                                 "{ \"telecom\" : [ { \"system\" : \"[REDACTED]\", \"value\" : \"[REDACTED]\" } ], "
                                 "\"homeFax\" : \"[REDACTED]\" }");
    /* An explicit keep still takes its container whole. */
    expect_same_in_json_and_bson(f, "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\","
                                 "\"fields\":{\"diagnoses\":{\"action\":\"keep\"}}}",
                                 "{\"diagnoses\":[{\"who\":\"Ann\"}]}",
                                 "{ \"diagnoses\" : [ { \"who\" : \"Ann\" } ] }");
    /* CSV gives the same values for the same record. */
    const char *csv = "name,diagnoses.0.notedOn,diagnoses.0.code,diagnoses.0.comment,diagnoses.0.mrn,diagnoses.1\n"
                      "Elijah Nguyen-Tran,2023-11-13,E11.9,confirmed with Elijah Nguyen-Tran,MRN-77123,J45\n";
    size_t n;
    assert_int_equal(run_file(f, SH_KEEP, "k.csv", csv, strlen(csv), "k.out.csv", &out, &n, 1, 0, NULL), 0);
    assert_false(tu_contains(out, "Elijah"));
    assert_false(tu_contains(out, "MRN-77123"));
    assert_true(tu_contains(out, ",2023,E11.9,"));
    free(out);
    /* A nested value mongoexport wrote as JSON text in one cell is walked
     * too, and comes out as the JSON format's value does. */
    const char *pol = "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\"}";
    csv = "name,diagnoses,extra\n"
          "Elijah Nguyen-Tran,\"[{\"\"notedOn\"\":\"\"2023-11-13\"\",\"\"comment\"\":\"\"confirmed with Elijah Nguyen-Tran\"\"}]\","
          "\"{\"\"ssn\"\":\"\"123-45-6789\"\"}\"\n";
    expect_csv(f, pol, "j.csv", csv, "name,diagnoses,extra\n[REDACTED],\"[{\"\"notedOn\"\":\"\"2023\"\",\"\"comment\"\":\"\"confirmed with [NAME]\"\"}]\","
                                     "\"{\"\"ssn\"\":\"\"[REDACTED]\"\"}\"\n");
    char *j = deid1(f, pol, "{\"name\":\"Elijah Nguyen-Tran\",\"diagnoses\":[{\"notedOn\":\"2023-11-13\",\"comment\":"
                            "\"confirmed with Elijah Nguyen-Tran\"}],\"extra\":{\"ssn\":\"123-45-6789\"}}");
    assert_string_equal(j, "{\"name\":\"[REDACTED]\",\"diagnoses\":[{\"notedOn\":\"2023\",\"comment\":\"confirmed with [NAME]\"}],"
                           "\"extra\":{\"ssn\":\"[REDACTED]\"}}");
    free(j);
}

static void test_deid__csv_decides_unknown_columns_per_value_like_json(void **state)
{
    fx *f = *state;
    /* One record as JSON and as mongoexport CSV: an unknown date becomes
     * its year, an ObjectId goes (in a kept column too), any other unknown
     * value follows "unknown_fields", a ZIP that lost its leading zero is
     * padded before the ZIP3 rule, whatever the format. */
    char *j = deid1(f, SH_DROP, "{\"name\":\"Ann Lee\",\"seenOn\":\"2023-11-13T08:00:00Z\","
                                "\"ref\":{\"$oid\":\"5f1d7a4e8f1b2c3d4e000001\"},\"codes\":[\"E11.9\","
                                "{\"$oid\":\"5f1d7a4e8f1b2c3d4e000002\"}],\"zip\":1970,\"postalCode\":\"3789\","
                                "\"memo\":\"Ann Lee 617-432-0100\"}");
    assert_string_equal(j, "{\"name\":\"[REDACTED]\",\"seenOn\":\"2023\",\"codes\":[\"E11.9\"],"
                           "\"zip\":\"019\",\"postalCode\":\"037\"}");
    free(j);
    const char *csv = "name,seenOn,ref,codes.0,codes.1,zip,postalCode,memo\n"
                      "Ann Lee,2023-11-13T08:00:00Z,ObjectId(5f1d7a4e8f1b2c3d4e000001),E11.9,"
                      "ObjectId(5f1d7a4e8f1b2c3d4e000002),1970,3789,Ann Lee 617-432-0100\n";
    expect_csv(f, SH_DROP, "u.csv", csv, "name,seenOn,ref,codes.0,codes.1,zip,postalCode,memo\n"
                                        "[REDACTED],2023,,E11.9,,019,037,\n");
    /* A column name that is not a plain name may itself be data: it goes
     * whole, as before, when unknown fields are dropped. */
    expect_csv(f, SH_DROP, "w.csv", "name,Ann Lee (617-432-0100)\nAnn,2023-11-13\n", "name\n[REDACTED]\n");
    /* With "keep", the unknown value stays, dates and ObjectIds still do not. */
    expect_csv(f, SH_KEEP, "k.csv", "seenOn,ref,memo\n2023-11-13,ObjectId(5f1d7a4e8f1b2c3d4e000001),x\n",
               "seenOn,ref,memo\n2023,,x\n");
}

static void test_deid__text_inside_a_preset_identifier_is_that_identifier(void **state)
{
    fx *f = *state;
    /* A FHIR HumanName's "text" under a key the preset does not know: the
     * name is redacted (not scrubbed as notes, where nothing would know it
     * as a name) and is one of the record's identifiers. */
    const char *in = "{\"contact\":[{\"name\":{\"text\":\"Ryan Jackson\"},\"telecom\":[{\"system\":\"phone\","
                     "\"value\":\"358.641.7689\"}]}],\"notes\":\"Spoke with Ryan Jackson today\"}";
    char *out = deid_json_eq_bson(f, SH_DROP, in);
    assert_true(tu_contains(out, "\"text\" : \"[REDACTED]\""));
    assert_false(tu_contains(out, "Ryan"));
    assert_false(tu_contains(out, "Jackson"));
    assert_false(tu_contains(out, "7689"));
    free(out);
    /* The same record as mongoexport CSV: a column is a value of the
     * containers above it (telecom.0.value is the preset's "telecom"). */
    const char *csv = "contact.0.name.text,contact.0.telecom.0.system,contact.0.telecom.0.value,notes\n"
                      "Ryan Jackson,phone,358.641.7689,Spoke with Ryan Jackson today\n";
    size_t n;
    assert_int_equal(run_file(f, SH_DROP, "fhir.csv", csv, strlen(csv), "fhir.out.csv", &out, &n, 1, 0, NULL), 0);
    assert_true(tu_contains(out, "\n[REDACTED],[REDACTED],[REDACTED],"));
    assert_false(tu_contains(out, "Ryan"));
    assert_false(tu_contains(out, "Jackson"));
    assert_false(tu_contains(out, "7689"));
    free(out);
}

static void test_deid__preset_treats_object_ids_and_timestamps_by_type(void **state)
{
    fx *f = *state;
    const char *in = "{\"ref\":{\"$oid\":\"5f1d7a4e8f1b2c3d4e000001\"},\"status\":{\"$oid\":\"5f1d7a4e8f1b2c3d4e000002\"},"
                     "\"seen\":{\"$timestamp\":{\"t\":1584000000,\"i\":3}},\"type\":\"x\"}";
    char *out = deid_json_eq_bson(f, SH_KEEP, in);
    /* The ObjectIds (they carry their creation time) are gone; the
     * Timestamp is a date reduced to its year (2020-03-12 -> 2020-01-01). */
    assert_string_equal(out, "{ \"seen\" : { \"$date\" : \"2020-01-01T00:00:00Z\" }, \"type\" : \"x\" }");
    free(out);
}

static void test_deid__mask_never_shows_a_whole_value(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"p\":{\"action\":\"mask\"},"
                      "\"q\":{\"action\":\"mask\",\"keep_last\":1}}}";
    expect_same_in_json_and_bson(f, pol, "{\"p\":[\"0100\",\"12\",\"7\",\"\",\"617-432-0100\",\"\\u00e9t\\u00e9\"],\"q\":\"ab\"}",
                                 "{ \"p\" : [ \"**00\", \"*2\", \"*\", \"\", \"********0100\", \"**\u00e9\" ], \"q\" : \"*b\" }");
}

static void test_deid__numeric_dates_are_dates(void **state)
{
    fx *f = *state;
    /* Under date names, numbers are dates (never buckets like
     * "19280100-19280109"): YYYYMMDD as a number or a string, epoch
     * milliseconds and seconds. */
    expect_same_in_json_and_bson(f, SH_KEEP,
                                 "{\"visitDate\":20190305,\"admitDate\":\"20190305\",\"date\":1552000000000,"
                                 "\"dischargeDate\":1552000000,\"timestamp\":{\"$numberLong\":\"1552000000000\"},"
                                 "\"endDate\":-5,\"weight\":20190305,\"height\":172,\"pulse\":4500000.5}",
                                 "{ \"visitDate\" : \"2019\", \"admitDate\" : \"2019\", \"date\" : \"2019\", "
                                 "\"dischargeDate\" : \"2019\", \"timestamp\" : \"2019\", \"endDate\" : \"1969\", "
                                 /* not a date under another name; but a whole number of 7 or more
                                  * digits in a field the preset keeps may be a phone number or an
                                  * MRN, so it goes (measurements keep their value) */
                                 "\"weight\" : \"[REDACTED]\", \"height\" : 172, \"pulse\" : 4500000.5 }");
    /* Explicit rules on date names too; other names still bucket. */
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"dob\":{\"action\":\"generalize\"},"
                      "\"x.*\":{\"action\":\"generalize\",\"to\":\"month\"},\"n\":{\"action\":\"generalize\",\"bucket\":100}}}";
    expect_same_in_json_and_bson(f, pol, "{\"dob\":19280105,\"x\":{\"birthDate\":\"19280105\",\"count\":1928},\"n\":1928}",
                                 "{ \"dob\" : \"1928\", \"x\" : { \"birthDate\" : \"1928-01\", \"count\" : \"1920-1929\" }, "
                                 "\"n\" : \"1900-1999\" }");
    /* The same record as CSV. */
    const char *csv = "visitDate,admitDate,date,dischargeDate\n20190305,20190305,1552000000000,1552000000\n";
    expect_csv(f, SH_KEEP, "n.csv", csv, "visitDate,admitDate,date,dischargeDate\n2019,2019,2019,2019\n");
}

static void test_deid__birth_years_of_the_90_and_over_are_aggregated(void **state)
{
    fx *f = *state;
    /* Reference 2020-06-15: a birth year of 1930 reads as 90, 1931 as 89. */
    expect_same_in_json_and_bson(f, SH_KEEP,
                                 "{\"dob\":\"1930-12-31\",\"birthDate\":\"1931-01-01\",\"patient\":{\"dateOfBirth\":"
                                 "{\"$date\":{\"$numberLong\":\"-2208988800000\"}}},\"dod\":\"1925-01-01\","
                                 "\"admitDate\":\"1925-01-01\",\"birth_date\":19200101,\"age\":95}",
                                 "{ \"dob\" : \"90+\", \"birthDate\" : \"1931\", \"patient\" : { \"dateOfBirth\" : \"90+\" }, "
                                 "\"dod\" : \"90+\", \"admitDate\" : \"1925\", \"birth_date\" : \"90+\", \"age\" : \"90+\" }");
    /* Parts of a birth date under names of their own are dates too. */
    expect_same_in_json_and_bson(f, SH_KEEP, "{\"birthYear\":1925,\"yearOfBirth\":\"1925\",\"death_year\":1990}",
                                 "{ \"birthYear\" : \"90+\", \"yearOfBirth\" : \"90+\", \"death_year\" : \"1990\" }");
    /* A birth date split into parts is still one. */
    expect_same_in_json_and_bson(f, SH_KEEP, "{\"birthDate\":{\"year\":1925,\"day\":\"1925-03-02\"},\"birth\":{\"on\":\"1990-01-01\"}}",
                                 "{ \"birthDate\" : { \"year\" : \"90+\", \"day\" : \"90+\" }, \"birth\" : { \"on\" : \"1990\" } }");
    /* A date the policy marks as a birth date, under a name the preset does
     * not know; without the preset, years are kept. */
    const char *pol = "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\",\"reference_date\":\"2020-06-15\","
                      "\"fields\":{\"born\":{\"action\":\"generalize\",\"date_of\":\"birth\"},"
                      "\"dob\":{\"action\":\"generalize\",\"date_of\":\"any\"}}}";
    expect_same_in_json_and_bson(f, pol, "{\"born\":\"1901-02-03\",\"dob\":\"1901-02-03\"}",
                                 "{ \"born\" : \"90+\", \"dob\" : \"1901\" }");
    char *out = deid1(f, "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"dob\":{\"action\":\"generalize\"}}}",
                      "{\"dob\":\"1901-02-03\"}");
    assert_string_equal(out, "{\"dob\":\"1901\"}");
    free(out);
    /* The same record as CSV; the report says which day ages are counted to. */
    const char *csv = "dob,birthDate,admitDate\n1930-12-31,1931-01-01,1925-01-01\n";
    size_t n;
    char *rep;
    assert_int_equal(run_file(f, SH_KEEP, "a.csv", csv, strlen(csv), "a.out.csv", &out, &n, 1, 0, &rep), 0);
    assert_string_equal(out, "dob,birthDate,admitDate\n90+,1931,1925\n");
    assert_true(tu_contains(rep, "\"reference_date\":\"2020-06-15\""));
    free(out);
    free(rep);
    /* By default, the day of the run (either side of a midnight). */
    time_t now = time(NULL);
    struct tm tm;
    char before[40], after[40];
    gmtime_r(&now, &tm);
    strftime(before, sizeof before, "\"reference_date\":\"%Y-%m-%d\"", &tm);
    assert_int_equal(run_file(f, "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"keep\"}", "a.csv", NULL, 0,
                              "a.out.csv", NULL, NULL, 1, 0, &rep), 0);
    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(after, sizeof after, "\"reference_date\":\"%Y-%m-%d\"", &tm);
    assert_true(tu_contains(rep, before) || tu_contains(rep, after));
    free(rep);
    /* reference_date must be a date. */
    phicrypt_deid_policy *p = NULL;
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph, "{\"version\":1,\"preset\":\"safe-harbor\",\"reference_date\":\"2020\"}"),
                     PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "reference_date"));
}


/* FF1 under the preset: e-mail domains are hidden by default, short values
 * get an opaque token instead of stopping the run, +1 stays; reid undoes all. */
static void test_deid__ff1_tokens_hide_domains_and_take_short_values(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"drop\",\"fields\":{"
                      "\"email\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"email\"},"
                      "\"work\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"email\",\"domain\":\"keep\"},"
                      "\"phone\":{\"action\":\"tokenize\",\"key\":\"tok:ssn\",\"format\":\"phone\"}}}";
    const char *in = "{\"email\":\"john.smith@mgh.harvard.edu\",\"work\":\"john.smith@mgh.harvard.edu\",\"phone\":\"+1 617 432 0100\"}\n"
                     "{\"email\":\"js@x.io\",\"work\":\"js@x.io\",\"phone\":\"0100\"}\n";
    char *out, *back;
    size_t n, bn;
    assert_int_equal(run_file(f, pol, "t.jsonl", in, strlen(in), "t.out.jsonl", &out, &n, 1, 0, NULL), 0);
    const char *l2 = strchr(out, '\n') + 1;
    /* Line 1: the domain goes under the preset default, stays with "keep". */
    assert_memory_equal(out, "{\"email\":\"", 10);
    assert_memory_equal(out + 36 - 4, ".edu\",\"work\":\"", 14);
    assert_null(memmem(out, 36, "harvard", 7));
    assert_null(memmem(out, 36, "mgh", 3));
    assert_true(tu_contains(out, "@mgh.harvard.edu\",\"phone\""));
    assert_true(tu_contains(out, "\"phone\":\"+1 "));
    assert_false(tu_contains(out, "432 0100"));
    /* Line 2: too short for FF1, opaque tokens. */
    assert_true(tu_contains(l2, "\"email\":\"tk1."));
    assert_true(tu_contains(l2, "\"phone\":\"tk1."));
    assert_false(tu_contains(l2, "js@x.io"));
    assert_int_equal(run_file(f, pol, "t.out.jsonl", NULL, 0, "t.back.jsonl", &back, &bn, 1, 1, NULL), 0);
    assert_string_equal(back, in);
    free(out);
    free(back);
    /* "domain" is only for the email format. */
    phicrypt_deid_policy *p = NULL;
    assert_int_equal(phicrypt_deid_policy_new(&p, f->ph, "{\"version\":1,\"fields\":{\"x\":{\"action\":\"tokenize\","
                                                         "\"key\":\"tok:ssn\",\"format\":\"ssn\",\"domain\":\"keep\"}}}"),
                     PHICRYPT_EINVAL);
}

/* ---- issue 16 items 8, 9, 12: CSV dialects, warnings, errors ---- */

typedef struct warnlog {
    char text[8192];
    int n;
} warnlog;

static void log_warning(void *user, const char *msg)
{
    warnlog *w = user;
    size_t k = strlen(w->text);
    snprintf(w->text + k, sizeof w->text - k, "%s\n", msg);
    w->n++;
}

/* Default options whose warnings go to `w`. */
static phicrypt_deid_opts warn_opts(warnlog *w)
{
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    o.warn = log_warning;
    o.warn_user = w;
    return o;
}

static int run_opts(fx *f, const char *pol, const char *in_name, const char *in, size_t in_len, const char *out_name,
                    phicrypt_deid_opts *o, char **out, size_t *out_len, char **report)
{
    return run_any(f, pol, in_name, in, in_len, out_name, o, 0, out, out_len, report);
}

/* Runs `in` through `pol` (options `o`, or NULL for the defaults) and
 * checks the output. */
static void expect_output(fx *f, const char *pol, const char *in_name, const char *in, phicrypt_deid_opts *o,
                          const char *want)
{
    phicrypt_deid_opts d = PHICRYPT_DEID_OPTS_INIT;
    char out_name[128], *out;
    size_t n;
    snprintf(out_name, sizeof out_name, "out-%s", in_name);
    int rc = run_opts(f, pol, in_name, in, strlen(in), out_name, o ? o : &d, &out, &n, NULL);
    if (rc)
        fail_msg("%s: %s", in_name, phicrypt_errmsg(f->ph));
    assert_string_equal(out, want);
    free(out);
}

static const char keep_pol[] =
    "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"name\":{\"action\":\"redact\"},"
    "\"ssn\":{\"action\":\"redact\"}}}";

static void test_deid__csv_bom_is_not_part_of_the_first_column(void **state)
{
    fx *f = *state;
    /* Excel's "CSV UTF-8": the BOM used to glue itself to "name", which
     * then matched no rule and was kept with "unknown_fields": "keep". */
    const char *in = "\xEF\xBB\xBFname,ssn,dx\nAnn Lee,123-45-6789,flu\n";
    char *out, *rep;
    size_t n;
    assert_int_equal(run_file(f, keep_pol, "bom.csv", in, strlen(in), "bom.out.csv", &out, &n, 1, 0, &rep), 0);
    assert_string_equal(out, "\xEF\xBB\xBFname,ssn,dx\n[REDACTED],[REDACTED],flu\n");
    assert_true(tu_contains(rep, "\"unknown_fields\":[\"dx\"]"));
    free(out);
    free(rep);
    /* JSON gets no BOM back (RFC 8259), and the first record is read. */
    expect_output(f, keep_pol, "bom.jsonl", "\xEF\xBB\xBF{\"name\":\"Ann\"}\n", NULL, "{\"name\":\"[REDACTED]\"}\n");
}

static void test_deid__csv_keeps_its_line_ends(void **state)
{
    fx *f = *state;
    /* CRLF stays CRLF, a quoted LF stays inside its field, a last line
     * without an end gets the header's. */
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    for (o.threads = 1; o.threads <= 3; o.threads += 2)
        expect_output(f, keep_pol, "crlf.csv", "name,dx\r\n\"Ann\nLee\",\"a\r\nb\"\r\nBob,x\nCy,y", &o,
                      "name,dx\r\n[REDACTED],\"a\r\nb\"\r\n[REDACTED],x\n[REDACTED],y\r\n");
    expect_output(f, keep_pol, "lf.csv", "name,dx\nAnn,x", NULL, "name,dx\n[REDACTED],x\n");
}

static void test_deid__csv_delimiter(void **state)
{
    fx *f = *state;
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    char *rep;
    /* Read as one comma-separated column, ';' and tab files used to pass
     * every value through whole: refused, naming the option. */
    const char *semi = "name;ssn\nAnn;123-45-6789\n", *tab = "name\tssn\nAnn\t123-45-6789\n";
    assert_int_equal(run_opts(f, keep_pol, "semi.csv", semi, strlen(semi), "semi.out.csv", &o, NULL, NULL, &rep),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "semi.csv: line 1: the CSV header is one column"));
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "--delimiter ';'"));
    assert_true(tu_contains(rep, "\"completed\":false"));
    assert_no_output(f, "semi.out.csv");
    free(rep);
    assert_int_equal(run_opts(f, keep_pol, "tab.csv", tab, strlen(tab), "tab.out.csv", &o, NULL, NULL, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "a tab"));
    /* Given, it splits, and quoting follows it. */
    o.csv_delimiter = ';';
    expect_output(f, keep_pol, "semi2.csv", "name;ssn;dx\n\"Lee; Ann\";123-45-6789;\"a,b;c\"\n", &o,
                  "name;ssn;dx\n[REDACTED];[REDACTED];\"a,b;c\"\n");
    o.csv_delimiter = '\t';
    expect_output(f, keep_pol, "tab2.csv", tab, &o, "name\tssn\n[REDACTED]\t[REDACTED]\n");
    /* A given ',' allows a one-column header with a ';' in its name. */
    o.csv_delimiter = ',';
    expect_output(f, keep_pol, "one.csv", "a;b\n1\n", &o, "a;b\n1\n");
    /* Not for other formats; not a quote or a line end. */
    o.csv_delimiter = ';';
    assert_int_equal(run_opts(f, keep_pol, "d.jsonl", "{}\n", 3, "d.out.jsonl", &o, NULL, NULL, NULL),
                     PHICRYPT_EINVAL);
    const int bad[] = { '"', '\n', '\r', 200, -1 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.csv_delimiter = bad[i];
        assert_int_equal(run_opts(f, keep_pol, "semi2.csv", NULL, 0, "x.out.csv", &o, NULL, NULL, NULL),
                         PHICRYPT_EINVAL);
    }
}

static void test_deid__rules_that_match_nothing_warn(void **state)
{
    fx *f = *state;
    /* "snn" for "ssn": the SSNs went out as they were, exit 0, no word. */
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"name\":{\"action\":\"redact\"},"
                      "\"snn\":{\"action\":\"redact\"},\"a.b\":{\"action\":\"keep\"}}}";
    const char *in = "{\"name\":\"Ann\",\"ssn\":\"123-45-6789\",\"a\":{\"b\":1}}\n";
    warnlog w = { "", 0 };
    phicrypt_deid_opts o = warn_opts(&w);
    char *out, *rep;
    size_t n;
    assert_int_equal(run_opts(f, pol, "w.jsonl", in, strlen(in), "w.out.jsonl", &o, &out, &n, &rep), 0);
    assert_int_equal(w.n, 2);
    assert_true(tu_contains(w.text, "rule 'snn' (redact) matched no field"));
    assert_true(tu_contains(w.text, "field 'ssn' is not in the policy and was kept"));
    assert_null(strstr(w.text, "123-45"));
    assert_true(tu_contains(rep, "\"completed\":true"));
    assert_true(tu_contains(rep, "\"unmatched_rules\":[{\"path\":\"snn\",\"action\":\"redact\"}]"));
    assert_true(tu_contains(rep, "\"warnings\":[\"rule 'snn'"));
    free(out);
    free(rep);
    /* The same in CSV and BSON. */
    const char *csv = "name,ssn,a.b\nAnn,123-45-6789,1\n";
    assert_int_equal(run_opts(f, pol, "w.csv", csv, strlen(csv), "w.out.csv", &o, &out, &n, &rep), 0);
    assert_true(tu_contains(rep, "\"unmatched_rules\":[{\"path\":\"snn\",\"action\":\"redact\"}]"));
    free(out);
    free(rep);
    bson_t b = BSON_INITIALIZER, sub;
    BSON_APPEND_UTF8(&b, "name", "Ann");
    BSON_APPEND_UTF8(&b, "ssn", "123-45-6789");
    BSON_APPEND_DOCUMENT_BEGIN(&b, "a", &sub);
    BSON_APPEND_INT32(&sub, "b", 1);
    bson_append_document_end(&b, &sub);
    assert_int_equal(run_opts(f, pol, "w.bson", (const char *)bson_get_data(&b), b.len, "w.out.bson", &o, &out, &n,
                              &rep),
                     0);
    assert_true(tu_contains(rep, "\"unmatched_rules\":[{\"path\":\"snn\",\"action\":\"redact\"}]"));
    free(out);
    free(rep);
    bson_destroy(&b);
    /* A rule used by any thread's batch counts as matched. */
    char many[64 * 1024];
    size_t k = 0;
    for (int i = 0; i < 1500; i++)
        k += (size_t)snprintf(many + k, sizeof many - k, i == 1400 ? "{\"snn\":1}\n" : "{\"name\":\"x\"}\n");
    assert_int_equal(run_file(f, pol, "m.jsonl", many, k, "m.out.jsonl", NULL, NULL, 4, 0, &rep), 0);
    assert_true(tu_contains(rep, "\"unmatched_rules\":[{\"path\":\"a.b\",\"action\":\"keep\"}]"));
    free(rep);
    /* strict: an error, no output, the report says why. */
    o.strict = 1;
    w.n = 0;
    assert_int_equal(run_opts(f, pol, "w.jsonl", NULL, 0, "w.out.jsonl", &o, NULL, NULL, &rep), PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "strict: 1 rule(s) matched no field, 1 unknown field(s) kept"));
    assert_true(tu_contains(rep, "\"completed\":false,\"error\":\""));
    assert_int_equal(w.n, 2);
    assert_no_output(f, "w.out.jsonl");
    free(rep);
    /* strict passes a clean run; unknown fields dropped are not kept. */
    const char *clean = "{\"version\":1,\"unknown_fields\":\"drop\",\"fields\":{\"name\":{\"action\":\"redact\"}}}";
    assert_int_equal(run_opts(f, clean, "w.jsonl", NULL, 0, "w.out.jsonl", &o, &out, &n, NULL), 0);
    assert_string_equal(out, "{\"name\":\"[REDACTED]\",\"a\":{}}\n");
    free(out);
    /* A version 1 caller's struct ends before strict: not read. */
    struct { unsigned int version; phicrypt_deid_format format; unsigned int threads; int skip_bad;
             phicrypt_deid_progress_fn progress; void *progress_user; } v1 = { 1, PHICRYPT_DEID_AUTO, 1, 0, NULL, NULL };
    assert_int_equal(run_opts(f, pol, "w.jsonl", NULL, 0, "w.out.jsonl", (phicrypt_deid_opts *)(void *)&v1, &out, &n,
                              NULL),
                     0);
    free(out);
}

static void test_deid__action_errors_name_file_and_record(void **state)
{
    fx *f = *state;
    /* A key version that does not exist fails at the first value. */
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"ssn\":{\"action\":\"tokenize\","
                      "\"key\":\"tok:ssn\",\"format\":\"ssn\",\"key_version\":7}}}";
    const char *jl = "{\"a\":1}\n\n{\"ssn\":\"123-45-6789\"}\n";
    assert_int_not_equal(run_file(f, pol, "ae.jsonl", jl, strlen(jl), "ae.out.jsonl", NULL, NULL, 2, 0, NULL), 0);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "ae.jsonl: line 3: ssn: "));
    const char *ja = "[{\"a\":1},\n\n {\"ssn\":\"123-45-6789\"}]";
    assert_int_not_equal(run_file(f, pol, "ae.json", ja, strlen(ja), "ae.out.json", NULL, NULL, 1, 0, NULL), 0);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "ae.json: line 3: ssn: "));
    const char *csv = "ssn\n\"1\n\"\n123-45-6789\n";
    assert_int_not_equal(run_file(f, pol, "ae.csv", csv, strlen(csv), "ae.out.csv", NULL, NULL, 1, 0, NULL), 0);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "ae.csv: line 2: ssn: "));
    bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER;
    BSON_APPEND_INT32(&a, "x", 1);
    BSON_APPEND_UTF8(&b, "ssn", "123-45-6789");
    char two[256];
    memcpy(two, bson_get_data(&a), a.len);
    memcpy(two + a.len, bson_get_data(&b), b.len);
    char want[64];
    snprintf(want, sizeof want, "ae.bson: record 2, byte %u: ssn: ", a.len);
    assert_int_not_equal(run_file(f, pol, "ae.bson", two, a.len + b.len, "ae.out.bson", NULL, NULL, 1, 0, NULL), 0);
    if (!tu_contains(phicrypt_errmsg(f->ph), want))
        fail_msg("'%s' lacks '%s'", phicrypt_errmsg(f->ph), want);
    assert_no_output(f, "ae.out.bson");
    bson_destroy(&a);
    bson_destroy(&b);
}

/* A JSON-lines file with a record of `big` bytes between two small ones. */
static char *with_big_record(size_t big, const char *pre, const char *post, size_t *len)
{
    size_t pl = strlen(pre), ql = strlen(post);
    char *s = malloc(pl + big + ql + 1);
    memcpy(s, pre, pl);
    memset(s + pl, 'x', big);
    memcpy(s + pl + big, post, ql + 1);
    *len = pl + big + ql;
    return s;
}

static void test_deid__skip_bad_skips_oversized_records(void **state)
{
    fx *f = *state;
    const char *pol = "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"name\":{\"action\":\"redact\"}}}";
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    char *out, *rep;
    size_t n, len;
    /* Just over the limit (read whole) and far over it (read past). */
    const size_t sizes[] = { PHICRYPT_DEID_MAX_RECORD + 16, 2 * PHICRYPT_DEID_MAX_RECORD + 5 };
    for (size_t i = 0; i < 2; i++) {
        struct { const char *name, *pre, *post, *want, *line; } cases[] = {
            { "ov.jsonl", "{\"name\":\"A\"}\n{\"name\":\"", "\"}\n{\"name\":\"C\"}\n{\"name\":}\n",
              "{\"name\":\"[REDACTED]\"}\n{\"name\":\"[REDACTED]\"}\n", "{\"line\":4}" },
            { "ov.json", "[{\"name\":\"A\"},\n{\"t\":[\"]}\\\"\",{\"u\":\"\n\"}],\"n\":\"", "\"},\n{\"name\":\"C\"},\n{\"name\":}]",
              "[{\"name\":\"[REDACTED]\"},\n{\"name\":\"[REDACTED]\"}]\n", "{\"line\":5}" },
            { "ov.csv", "name,x\r\nA,1\r\n\"a\n,\"\"", "\",2\r\nC,3\r\nD\r\n",
              "name,x\r\n[REDACTED],1\r\n[REDACTED],3\r\n", "{\"line\":6}" },
        };
        for (size_t c = 0; c < 3; c++) {
            char *in = with_big_record(sizes[i], cases[c].pre, cases[c].post, &len);
            o.skip_bad = 0;
            assert_int_equal(run_opts(f, pol, cases[c].name, in, len, "ov.out", &o, NULL, NULL, NULL),
                             PHICRYPT_EBADDATA);
            assert_true(tu_contains(phicrypt_errmsg(f->ph), "record larger than 16777216 bytes (--skip-bad"));
            o.skip_bad = 1;
            o.threads = 1 + (unsigned)c;
            int rc = run_opts(f, pol, cases[c].name, NULL, 0, "ov.out", &o, &out, &n, &rep);
            if (rc)
                fail_msg("%s, %zu bytes: %s", cases[c].name, sizes[i], phicrypt_errmsg(f->ph));
            assert_string_equal(out, cases[c].want);
            assert_true(tu_contains(rep, "\"bad_records_count\":2"));
            assert_true(tu_contains(rep, "record larger than 16777216 bytes (skipped)"));
            assert_true(tu_contains(rep, cases[c].line)); /* line numbers go on after it */
            assert_true(tu_contains(rep, "\"records_in\":4,\"records_out\":2"));
            free(out);
            free(rep);
            free(in);
        }
    }
    /* BSON: the length prefix says it; the records around it come out. */
    bson_t a = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&a, "name", "A");
    size_t big = PHICRYPT_DEID_MAX_RECORD + 100;
    char *in = malloc(2 * a.len + big);
    memcpy(in, bson_get_data(&a), a.len);
    uint32_t bl = (uint32_t)big;
    memcpy(in + a.len, &bl, 4); /* (little-endian host) */
    memset(in + a.len + 4, 'x', big - 4);
    memcpy(in + a.len + big, bson_get_data(&a), a.len);
    o.skip_bad = 0;
    assert_int_equal(run_opts(f, pol, "ov.bson", in, 2 * a.len + big, "ov.out.bson", &o, NULL, NULL, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "ov.bson: record 2, byte"));
    o.skip_bad = 1;
    assert_int_equal(run_opts(f, pol, "ov.bson", NULL, 0, "ov.out.bson", &o, &out, &n, &rep), 0);
    assert_int_equal(n, 2 * (size_t)a.len + 2 * 9); /* "A" -> "[REDACTED]" */
    assert_true(tu_contains(rep, "\"bad_records_count\":1,\"bad_records\":[{\"record\":{\"offset\":"));
    assert_true(tu_contains(rep, "ov.bson: record 2, byte"));
    free(out);
    free(rep);
    /* Skipped or not, a file that ends inside a record is broken: a BSON
     * length past the end, a CSV quote never closed. */
    assert_int_equal(run_opts(f, pol, "ov2.bson", in, a.len + 1000, "ov2.out.bson", &o, NULL, NULL, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "ov2.bson: record 2, byte"));
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "truncated BSON document"));
    free(in);
    in = with_big_record(PHICRYPT_DEID_MAX_RECORD + 16, "name,x\nA,1\n\"", "\nB,2\n", &len);
    assert_int_equal(run_opts(f, pol, "ov3.csv", in, len, "ov3.out.csv", &o, NULL, NULL, NULL), PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "ov3.csv: line 3: unterminated quoted CSV field"));
    free(in);
    bson_destroy(&a);
}

static void test_deid__report_written_on_failure(void **state)
{
    fx *f = *state;
    const char *in = "{\"name\":\"A\"}\n{\"name\":\"B\"}\n{\"name\":\n";
    char *rep;
    assert_int_equal(run_file(f, keep_pol, "rf.jsonl", in, strlen(in), "rf.out.jsonl", NULL, NULL, 1, 0, &rep),
                     PHICRYPT_EBADDATA);
    assert_non_null(rep);
    assert_true(tu_contains(rep, "\"completed\":false,\"error\":\""));
    assert_true(tu_contains(rep, "rf.jsonl: line 3, byte 8 of the record: unexpected end"));
    /* (the rules of an unfinished run are not said to match nothing) */
    assert_true(tu_contains(rep, "\"unmatched_rules\":[]"));
    assert_true(tu_contains(rep, "\"records_in\":3"));
    assert_no_output(f, "rf.out.jsonl");
    /* The message is still the first error's. */
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "rf.jsonl: line 3"));
    free(rep);
    assert_int_equal(run_file(f, keep_pol, "rf2.jsonl", "{}\n", 3, "rf2.out.jsonl", NULL, NULL, 1, 0, &rep), 0);
    assert_true(tu_contains(rep, "\"completed\":true"));
    free(rep);
}

static void test_deid__pretty_printed_export_is_named(void **state)
{
    fx *f = *state;
    /* mongoexport --pretty: every line was "bad", and --skip-bad skipped
     * the whole file with success. */
    const char *in = "{\n\t\"_id\": {\n\t\t\"$oid\": \"5f1d7a3b9c1e4a2b3c4d5e6f\"\n\t},\n\t\"name\": \"Ann\"\n}\n";
    phicrypt_deid_opts o = PHICRYPT_DEID_OPTS_INIT;
    for (int skip = 0; skip < 2; skip++) {
        o.skip_bad = skip;
        assert_int_equal(run_opts(f, keep_pol, "pretty.jsonl", in, strlen(in), "pretty.out.jsonl", &o, NULL, NULL,
                                  NULL),
                         PHICRYPT_EBADDATA);
        assert_true(tu_contains(phicrypt_errmsg(f->ph), "pretty.jsonl: line 1: a record spans several lines"));
        assert_true(tu_contains(phicrypt_errmsg(f->ph), "pretty-printed"));
        assert_no_output(f, "pretty.out.jsonl");
    }
    const char *arr = "[\n  {\"name\": \"Ann\"}\n]\n";
    assert_int_equal(run_opts(f, keep_pol, "arr.jsonl", arr, strlen(arr), "arr.out.jsonl", &o, NULL, NULL, NULL),
                     PHICRYPT_EBADDATA);
    assert_true(tu_contains(phicrypt_errmsg(f->ph), "--format json"));
}

static void test_deid__out_extension_mismatch_warns(void **state)
{
    fx *f = *state;
    const char *name_pol = "{\"version\":1,\"fields\":{\"name\":{\"action\":\"redact\"}}}";
    warnlog w = { "", 0 };
    phicrypt_deid_opts o = warn_opts(&w);
    char *out, *rep;
    size_t n;
    const char *in = "{\"name\":\"A\"}\n";
    assert_int_equal(run_opts(f, name_pol, "x.jsonl", in, strlen(in), "x.out.json", &o, &out, &n, &rep), 0);
    assert_int_equal(w.n, 1);
    assert_true(tu_contains(w.text, "x.out.json: the name ends in '.json' but the output is jsonl"));
    assert_true(tu_contains(rep, "the name ends in"));
    free(out);
    free(rep);
    w.n = 0;
    assert_int_equal(run_opts(f, name_pol, "x.jsonl", NULL, 0, "x.ndjson", &o, &out, &n, NULL), 0);
    free(out);
    assert_int_equal(run_opts(f, name_pol, "x.jsonl", NULL, 0, "noext", &o, &out, &n, NULL), 0);
    free(out);
    assert_int_equal(w.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deid__policy_errors_name_the_location),
        cmocka_unit_test(test_deid__policy_member_given_twice),
        cmocka_unit_test(test_deid__simple_actions_rewrite_only_their_spans),
        cmocka_unit_test(test_deid__every_restricted_zip3_becomes_000),
        cmocka_unit_test(test_deid__path_forms),
        cmocka_unit_test(test_deid__extended_json_types_are_kept),
        cmocka_unit_test(test_deid__unknown_fields_error_names_the_path),
        cmocka_unit_test(test_deid__scrub_finds_identifiers_in_free_text),
        cmocka_unit_test(test_deid__keyed_actions_and_reid),
        cmocka_unit_test(test_deid__date_shift_subjects_per_record),
        cmocka_unit_test(test_deid__csv_quoting_and_columns),
        cmocka_unit_test(test_deid__json_array_and_bson_round_trip),
        cmocka_unit_test(test_deid__same_output_with_any_thread_count),
        cmocka_unit_test(test_deid__safe_harbor_reports_unrecognised_fields),
        cmocka_unit_test(test_deid__malformed_inputs_leave_no_output),
        cmocka_unit_test(test_deid__skip_bad_lists_and_skips),
        cmocka_unit_test(test_deid__report_buffer_reused_is_wiped),
        cmocka_unit_test(test_deid__bad_arguments),
        cmocka_unit_test(test_deid__bson_and_csv_keyed_round_trip),
        cmocka_unit_test(test_deid__malformed_bson),
        cmocka_unit_test(test_deid__bson_safe_harbor_leaves_no_planted_identifier),
        cmocka_unit_test(test_deid__string_scanners_agree_with_a_byte_loop),
        cmocka_unit_test(test_deid__paths_beyond_the_path_table),
        cmocka_unit_test(test_deid__dates_beyond_range_are_redacted),
        cmocka_unit_test(test_deid__preset_keep_on_a_container_walks_it),
        cmocka_unit_test(test_deid__csv_decides_unknown_columns_per_value_like_json),
        cmocka_unit_test(test_deid__text_inside_a_preset_identifier_is_that_identifier),
        cmocka_unit_test(test_deid__preset_treats_object_ids_and_timestamps_by_type),
        cmocka_unit_test(test_deid__mask_never_shows_a_whole_value),
        cmocka_unit_test(test_deid__numeric_dates_are_dates),
        cmocka_unit_test(test_deid__birth_years_of_the_90_and_over_are_aggregated),
        cmocka_unit_test(test_deid__ff1_tokens_hide_domains_and_take_short_values),
        cmocka_unit_test(test_deid__csv_bom_is_not_part_of_the_first_column),
        cmocka_unit_test(test_deid__csv_keeps_its_line_ends),
        cmocka_unit_test(test_deid__csv_delimiter),
        cmocka_unit_test(test_deid__rules_that_match_nothing_warn),
        cmocka_unit_test(test_deid__action_errors_name_file_and_record),
        cmocka_unit_test(test_deid__skip_bad_skips_oversized_records),
        cmocka_unit_test(test_deid__report_written_on_failure),
        cmocka_unit_test(test_deid__pretty_printed_export_is_named),
        cmocka_unit_test(test_deid__out_extension_mismatch_warns),
        cmocka_unit_test(test_deid__worker_keys_match_the_public_calls),
        cmocka_unit_test(test_deid__many_distinct_field_names_stay_bounded),
    };
    return cmocka_run_group_tests_name("deid", tests, setup, teardown);
}
