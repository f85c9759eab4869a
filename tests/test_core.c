/* lib/core: error codes and messages, memory, JSON helpers, files. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <phicrypt.h>
#include "core/docstore_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "test_util.h"

static void test_core__strerror_covers_every_code(void **state)
{
    (void)state;
    const char *seen[18] = { 0 };
    for (int c = 0; c >= PHICRYPT_EINTERNAL; c--) {
        const char *s = phicrypt_strerror(c);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error code");
        for (int j = 0; j < -c; j++)
            assert_string_not_equal(s, seen[j]); /* distinct texts */
        seen[-c] = s;
    }
    assert_string_equal(phicrypt_strerror(-999), "unknown error code");
    assert_string_equal(phicrypt_strerror(5), "unknown error code");
}

static void test_core__version_and_init(void **state)
{
    (void)state;
    assert_string_equal(phicrypt_version(), PHICRYPT_VERSION_STRING);
    assert_int_equal(phicrypt_init(), 0);
    assert_int_equal(phicrypt_init(), 0); /* idempotent */
    assert_non_null(phicrypt_mongocrypt_version());
    assert_true(strncmp(phicrypt_mongocrypt_version(), "1.", 2) == 0);
}

static void test_core__buf_dispose_is_safe(void **state)
{
    (void)state;
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    phicrypt_buf_dispose(NULL);
    phicrypt_buf_dispose(&b);
    b.data = malloc(8);
    memcpy(b.data, "12345678", 8);
    b.len = 8;
    phicrypt_buf_dispose(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    phicrypt_buf_dispose(&b); /* twice */
}

static void *other_thread(void *arg)
{
    const char **out = arg;
    *out = phi_error_message(&out);
    return NULL;
}

static void test_core__messages_are_per_handle_and_thread(void **state)
{
    (void)state;
    int h1 = 0, h2 = 0;
    pthread_t t;
    const char *seen = NULL;
    assert_int_equal(phi_error(&h1, PHICRYPT_EKMS, "provider %s failed", "aws"), PHICRYPT_EKMS);
    assert_string_equal(phi_error_message(&h1), "provider aws failed");
    assert_int_equal(phi_error_code(&h1), PHICRYPT_EKMS);
    assert_string_equal(phi_error_message(&h2), "no error");
    phi_error_wrap(&h1, PHICRYPT_EKMS, "create key");
    assert_string_equal(phi_error_message(&h1), "create key: provider aws failed");
    /* Another thread has its own slot. */
    pthread_create(&t, NULL, other_thread, &seen);
    pthread_join(t, NULL);
    assert_string_equal(seen, "no error");
    phi_error_move(&h1, &h2);
    assert_string_equal(phi_error_message(&h2), "create key: provider aws failed");
    phi_error_clear(&h2);
    assert_string_equal(phi_error_message(&h2), "no error");
    assert_string_equal(phicrypt_errmsg(NULL), "no error");
}

static void test_core__allocation_failure_hook(void **state)
{
    (void)state;
    void *p;
    phi_test_fail_alloc_after(2);
    p = phi_malloc(16);
    assert_non_null(p);
    phi_free(p);
    assert_null(phi_malloc(16));
    assert_null(phi_secure_alloc(16));
    phi_test_fail_alloc_after(0);
    p = phi_secure_alloc(32);
    assert_non_null(p);
    phi_secure_free(p);
}

static void test_core__ct_equal_and_random(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    assert_int_equal(phi_random(a, sizeof a), 0);
    memcpy(b, a, sizeof a);
    assert_true(phi_ct_equal(a, b, sizeof a));
    b[31] ^= 1;
    assert_false(phi_ct_equal(a, b, sizeof a));
    assert_int_equal(phi_random(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_core__uuid_parse_and_format(void **state)
{
    (void)state;
    uint8_t id[16];
    char out[37];
    assert_int_equal(phi_uuid_parse(id, "0123abcd-4567-89ef-0123-456789ABCDEF"), 0);
    phi_uuid_format(out, id);
    assert_string_equal(out, "0123abcd-4567-89ef-0123-456789abcdef");
    assert_int_not_equal(phi_uuid_parse(id, "0123abcd-4567-89ef-0123-456789ABCDE"), 0);
    assert_int_not_equal(phi_uuid_parse(id, "0123abcd+4567-89ef-0123-456789ABCDEF"), 0);
    assert_int_not_equal(phi_uuid_parse(id, "0123abcd-4567-89ef-0123-456789ABCDEG"), 0);
    assert_int_not_equal(phi_uuid_parse(id, NULL), 0);
}

static void test_core__json_value_parsing(void **state)
{
    (void)state;
    bson_t b;
    bson_iter_t it;
    int h = 0;
    assert_int_equal(phi_json_value_to_bson(&h, "t", "\"x\"", 3, &b), 0);
    assert_true(bson_iter_init_find(&it, &b, "v"));
    assert_true(BSON_ITER_HOLDS_UTF8(&it));
    bson_destroy(&b);
    assert_int_equal(phi_json_value_to_bson(&h, "t", "{\"$numberLong\": \"5\"}\n", 21, &b), 0);
    assert_true(bson_iter_init_find(&it, &b, "v") && BSON_ITER_HOLDS_INT64(&it));
    bson_destroy(&b);
    /* A second field smuggled in by the wrapping is refused. */
    assert_int_equal(phi_json_value_to_bson(&h, "t", "1, \"x\": 2", 9, &b), PHICRYPT_EBADDATA);
    assert_int_equal(phi_json_value_to_bson(&h, "t", "", 0, &b), PHICRYPT_EBADDATA);
    assert_int_equal(phi_json_value_to_bson(&h, "t", "\"unterminated", 13, &b), PHICRYPT_EBADDATA);
}

static void test_core__json_errors_do_not_quote_input(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"ssn\": \"SECRET-PHI-4242\" oops}",
        "{\"n\": {\"$numberLong\": \"SECRET-PHI-4242\"}}",
        "{\"d\": {\"$date\": \"SECRET-PHI-4242\"}}",
        "{\"o\": {\"$oid\": \"SECRET-PHI-4242\"}}",
        "{\"b\": {\"$binary\": {\"base64\": \"SECRET-PHI-4242\", \"subType\": \"zz\"}}}",
    };
    int h = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bson_t b;
        assert_int_equal(phi_json_to_bson(&h, "input", bad[i], strlen(bad[i]), &b), PHICRYPT_EBADDATA);
        assert_false(tu_contains(phi_error_message(&h), "SECRET"));
        assert_true(tu_contains(phi_error_message(&h), "input: invalid JSON"));
    }
}

/* issue 22: a person fixes a configuration by line and column, and is told when
 * the problem is nesting depth rather than syntax. */
static void test_core__json_error_line_and_column(void **state)
{
    (void)state;
    static const char text[] = "{\n  \"key_vault\": \"file:x\",\n  oops\n}";
    int h = 0;
    bson_t b;
    assert_int_equal(phi_json_to_bson(&h, "phicrypt.json", text, strlen(text), &b), PHICRYPT_EBADDATA);
    assert_true(tu_contains(phi_error_message(&h), "phicrypt.json: invalid JSON at line 3, column "));
    /* a single value: the wrapper the library adds is not counted */
    assert_int_equal(phi_json_value_to_bson(&h, "input", "123-45-6789", 11, &b), PHICRYPT_EBADDATA);
    assert_true(tu_contains(phi_error_message(&h), "input: invalid JSON at line 1, column "));
    assert_false(tu_contains(phi_error_message(&h), "45-6789"));
}

static void test_core__json_nesting_depth_is_named(void **state)
{
    (void)state;
    char deep[512], ok[512];
    int h = 0;
    bson_t b;
    size_t n = 0;
    for (int i = 0; i < 150; i++)
        deep[n++] = '[';
    for (int i = 0; i < 150; i++)
        deep[n++] = ']';
    assert_int_equal(phi_json_value_to_bson(&h, "input", deep, n, &b), PHICRYPT_EBADDATA);
    assert_true(tu_contains(phi_error_message(&h), "nested deeper than 100 levels"));
    assert_true(tu_contains(phi_error_message(&h), "line 1, column 100:"));
    /* brackets inside strings do not count */
    n = (size_t)snprintf(ok, sizeof ok, "{\"s\": \"%0150d\"}", 0);
    for (size_t i = 7; i < 157; i++)
        ok[i] = '[';
    assert_int_equal(phi_json_to_bson(&h, "input", ok, n, &b), 0);
    bson_destroy(&b);
}

/* issue 26: {"$type": 2} is a query operator, not a broken legacy binary */
static void test_core__json_type_operator_is_not_legacy_binary(void **state)
{
    (void)state;
    int h = 0;
    bson_t b;
    bson_iter_t it;
    static const char q[] = "{\"find\": \"c\", \"filter\": {\"x\": {\"$type\": 2}, \"y\": [{\"$type\": \"string\"}]}}";
    assert_int_equal(phi_json_to_bson(&h, "t", q, strlen(q), &b), 0);
    assert_true(bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "filter.x.$type", &it));
    assert_true(BSON_ITER_HOLDS_INT32(&it) && bson_iter_int32(&it) == 2);
    assert_true(bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "filter.y.0.$type", &it));
    assert_true(BSON_ITER_HOLDS_UTF8(&it) && strcmp(bson_iter_utf8(&it, NULL), "string") == 0);
    bson_destroy(&b);
    /* the legacy wrapper itself still reads as binary */
    static const char legacy[] = "{\"b\": {\"$binary\": \"AQID\", \"$type\": \"00\"}, \"x\": {\"$type\": 2}}";
    assert_int_equal(phi_json_to_bson(&h, "t", legacy, strlen(legacy), &b), 0);
    assert_true(bson_iter_init_find(&it, &b, "b") && BSON_ITER_HOLDS_BINARY(&it));
    bson_destroy(&b);
    /* a "$type" inside a string is text, and broken JSON stays an error */
    static const char bad[] = "{\"s\": \"\\\"$type\\\"\", \"x\": {\"$type\": 2}";
    assert_int_equal(phi_json_to_bson(&h, "t", bad, strlen(bad), &b), PHICRYPT_EBADDATA);
}

/* Found by the fuzzers (issue 19): the "$type" retry scanned an array
 * holding a stray '}' or ']' forever. Each input must fail, and quickly:
 * the alarm ends a scan that loops (the test then fails). */
static void test_core__json_type_scan_stray_closer(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"$type\": [}]}",
        "{\"x\": {\"$type\": 2}, \"y\": [1, }]}",
        "[{\"$type\": 2}, }",
        "{\"a\": [[{\"$type\": 2}] }]}",
        "{\"$type\": [ ] ]}",
    };
    int h = 0;
    alarm(20);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bson_t b;
        if (phi_json_to_bson(&h, "t", bad[i], strlen(bad[i]), &b) != PHICRYPT_EBADDATA)
            fail_msg("input %zu was accepted", i);
    }
    alarm(0);
    /* A well-formed query with the operator in an array still parses. */
    {
        static const char ok[] = "{\"y\": [1, {\"$type\": 2}, []]}";
        bson_t b;
        assert_int_equal(phi_json_to_bson(&h, "t", ok, strlen(ok), &b), 0);
        bson_destroy(&b);
    }
}

/* issue 20: doubles as the shortest text that reads back the same (the
 * Extended JSON specification's form: 1.0, -0.0, 98.6, 1e+21), in both
 * modes; expected texts written by hand from the specification */
static void test_core__json_doubles_are_shortest(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *canonical, *relaxed;
    } cases[] = {
        { 98.6, "{\"d\":{\"$numberDouble\":\"98.6\"}}", "{\"d\":98.6}" },
        { 0.1, "{\"d\":{\"$numberDouble\":\"0.1\"}}", "{\"d\":0.1}" },
        { 1.0, "{\"d\":{\"$numberDouble\":\"1.0\"}}", "{\"d\":1.0}" },
        { -1.0001220703125, "{\"d\":{\"$numberDouble\":\"-1.0001220703125\"}}", "{\"d\":-1.0001220703125}" },
        { -0.0, "{\"d\":{\"$numberDouble\":\"-0.0\"}}", "{\"d\":-0.0}" },
        { 123456789012.0, "{\"d\":{\"$numberDouble\":\"123456789012.0\"}}", "{\"d\":123456789012.0}" },
        { 1e21, "{\"d\":{\"$numberDouble\":\"1e+21\"}}", "{\"d\":1e+21}" },
        { 1.2345678921232e18, "{\"d\":{\"$numberDouble\":\"1.2345678921232e+18\"}}", "{\"d\":1.2345678921232e+18}" },
        { 5e-324, "{\"d\":{\"$numberDouble\":\"5e-324\"}}", "{\"d\":5e-324}" },
        { 1.7976931348623157e308, "{\"d\":{\"$numberDouble\":\"1.7976931348623157e+308\"}}",
          "{\"d\":1.7976931348623157e+308}" },
    };
    int h = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bson_t b = BSON_INITIALIZER;
        size_t n;
        BSON_APPEND_DOUBLE(&b, "d", cases[i].d);
        char *c = phi_bson_to_json(&h, &b, 1, &n);
        char *r = phi_bson_to_json(&h, &b, 0, &n);
        if (strcmp(c, cases[i].canonical) != 0 || strcmp(r, cases[i].relaxed) != 0)
            fail_msg("case %zu: %s / %s", i, c, r);
        phi_free(c);
        phi_free(r);
        bson_destroy(&b);
    }
    /* non-finite values and other numbers are left as they are */
    bson_t b = BSON_INITIALIZER;
    size_t n;
    BSON_APPEND_DOUBLE(&b, "inf", INFINITY);
    BSON_APPEND_DOUBLE(&b, "nan", NAN);
    BSON_APPEND_INT32(&b, "i", -12);
    BSON_APPEND_INT64(&b, "l", 1234567890123);
    BSON_APPEND_UTF8(&b, "s", "98.599999999999994316");
    char *r = phi_bson_to_json(&h, &b, 0, &n);
    assert_string_equal(r, "{\"inf\":{\"$numberDouble\":\"Infinity\"},\"nan\":{\"$numberDouble\":\"NaN\"},\"i\":-12,"
                           "\"l\":1234567890123,\"s\":\"98.599999999999994316\"}");
    phi_free(r);
    bson_destroy(&b);
    /* every double reads back to itself (random bit patterns, both modes) */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        double d;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d))
            continue;
        for (int canonical = 0; canonical < 2; canonical++) {
            bson_t in = BSON_INITIALIZER, back;
            bson_iter_t it;
            BSON_APPEND_DOUBLE(&in, "d", d);
            char *j = phi_bson_to_json(&h, &in, canonical, &n);
            assert_int_equal(phi_json_to_bson(&h, "t", j, n, &back), 0);
            assert_true(bson_iter_init_find(&it, &back, "d") && BSON_ITER_HOLDS_DOUBLE(&it));
            double e = bson_iter_double(&it);
            if (memcmp(&d, &e, sizeof d) != 0)
                fail_msg("%s does not read back to the same double", j);
            phi_free(j);
            bson_destroy(&back);
            bson_destroy(&in);
        }
    }
}

static void test_core__bson_to_json_is_compact(void **state)
{
    (void)state;
    bson_t *b = BCON_NEW("a", BCON_INT32(1), "s", BCON_UTF8("x y"));
    int h = 0;
    size_t n;
    char *j = phi_bson_to_json(&h, b, 1, &n);
    assert_string_equal(j, "{\"a\":{\"$numberInt\":\"1\"},\"s\":\"x y\"}");
    assert_int_equal(n, strlen(j));
    phi_free(j);
    bson_destroy(b);
}

static void test_core__atomic_write_and_permissions(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4096], *data;
    int h, fd;
    size_t len;
    snprintf(path, sizeof path, "%s/f", dir);
    assert_int_equal(phi_file_write_atomic(&h, PHICRYPT_EIO, path, "one\n", 4, 0600), 0);
    assert_int_equal(phi_file_write_atomic(&h, PHICRYPT_EIO, path, "two\n", 4, 0600), 0);
    assert_int_equal(phi_file_read_all(&h, PHICRYPT_EIO, path, &data, &len), 0);
    assert_string_equal(data, "two\n");
    phi_free(data);
    assert_int_equal(phi_file_check_private(&h, path, "key"), 0);
    chmod(path, 0640);
    assert_int_equal(phi_file_check_private(&h, path, "key"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phi_error_message(&h), "too open"));
    assert_int_equal(phi_file_lock(&h, PHICRYPT_EIO, path, &fd), 0);
    phi_file_unlock(fd);
    assert_int_equal(phi_file_read_all(&h, PHICRYPT_EIO, "/nonexistent/x", &data, &len), PHICRYPT_EIO);
    assert_true(tu_contains(phi_error_message(&h), "/nonexistent/x"));
    /* Writing into a missing directory fails cleanly. */
    assert_int_equal(phi_file_write_atomic(&h, PHICRYPT_EIO, "/nonexistent/dir/f", "x", 1, 0600), PHICRYPT_EIO);
    tu_rm_rf(dir);
    free(dir);
}

static void test_core__suggestions(void **state)
{
    (void)state;
    static const char *const keys[] = { "key_file", "key", NULL };
    assert_string_equal(phi_suggest("keyfile", keys), "key_file");
    assert_null(phi_suggest("completely_different", keys));
}

static void test_core__local_key_file_create(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/master.key", dir);
    assert_int_equal(phicrypt_local_key_file_create(path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 96);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(phicrypt_local_key_file_create(path), PHICRYPT_EEXIST);
    assert_int_equal(phicrypt_local_key_file_create("/nonexistent/dir/master.key"), PHICRYPT_EIO);
    assert_int_equal(phicrypt_local_key_file_create(NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_local_key_bytes(), 96);
    tu_rm_rf(dir);
    free(dir);
}

/* The hardening the CLI applies first and services may call. */
static void test_core__harden_process(void **state)
{
    struct rlimit rl;
    (void)state;
    assert_int_equal(phicrypt_harden_process(0x80), PHICRYPT_EINVAL);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1); /* untouched by the refusal */
    assert_int_equal(phicrypt_harden_process(PHICRYPT_HARDEN_WIPE_BSON), 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(rl.rlim_max, 0);
    /* libbson still allocates, grows and frees through the wiping allocator. */
    {
        bson_t *d = bson_new();
        for (int i = 0; i < 1000; i++)
            BSON_APPEND_UTF8(d, "k", "a value long enough to make the buffer grow a few times");
        assert_true(d->len > 10000);
        bson_destroy(d);
    }
}

static int found_cb(void *arg, const bson_t *doc)
{
    bson_iter_t it;
    *(int32_t *)arg = bson_iter_init_find(&it, doc, "n") ? bson_iter_int32(&it) : -1;
    return 0;
}

/* Lookups by name are indexed, the first of a name in file order wins,
 * and with a recheck interval the file is not re-read per lookup (an
 * outside change is not seen until then); with none it is seen at once. */
static void test_core__docstore_index_and_recheck(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4096];
    phi_docstore *s;
    int32_t n = 0;
    int eh;
    const char *v1 = "{\"name\":\"a\",\"n\":1}\n{\"name\":\"b\",\"n\":2}\n{\"name\":\"b\",\"n\":3}\n{\"n\":4}\n";
    const char *v2 = "{\"name\":\"c\",\"n\":5}\n";
    snprintf(path, sizeof path, "%s/store.jsonl", dir);
    tu_write_file(path, v1, strlen(v1), 0600);
    assert_int_equal(phi_docstore_open(&s, &eh, "store", PHICRYPT_EKEYVAULT, path, NULL), 0);
    phi_docstore_set_index(s, "name");
    phi_docstore_set_recheck_ms(s, 600000);
    assert_int_equal(phi_docstore_find(s, &eh, "b", found_cb, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(phi_docstore_find(s, &eh, "zz", found_cb, &n), 0);
    assert_int_equal(n, 0); /* not called */
    for (int i = 0; i < 300; i++) { /* many names: the index grows */
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        assert_int_equal(phi_docstore_find(s, &eh, name, found_cb, &n), 0);
    }
    tu_write_file(path, v2, strlen(v2), 0600);
    n = 0;
    assert_int_equal(phi_docstore_find(s, &eh, "c", found_cb, &n), 0);
    assert_int_equal(n, 0); /* the cached view, no stat */
    phi_docstore_set_recheck_ms(s, 0);
    assert_int_equal(phi_docstore_find(s, &eh, "c", found_cb, &n), 0);
    assert_int_equal(n, 5);
    n = 0;
    assert_int_equal(phi_docstore_find(s, &eh, "b", found_cb, &n), 0);
    assert_int_equal(n, 0);
    phi_docstore_close(s);
    phi_error_clear(&eh);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core__strerror_covers_every_code),
        cmocka_unit_test(test_core__version_and_init),
        cmocka_unit_test(test_core__buf_dispose_is_safe),
        cmocka_unit_test(test_core__messages_are_per_handle_and_thread),
        cmocka_unit_test(test_core__allocation_failure_hook),
        cmocka_unit_test(test_core__ct_equal_and_random),
        cmocka_unit_test(test_core__uuid_parse_and_format),
        cmocka_unit_test(test_core__json_value_parsing),
        cmocka_unit_test(test_core__json_errors_do_not_quote_input),
        cmocka_unit_test(test_core__json_error_line_and_column),
        cmocka_unit_test(test_core__json_nesting_depth_is_named),
        cmocka_unit_test(test_core__json_type_operator_is_not_legacy_binary),
        cmocka_unit_test(test_core__json_type_scan_stray_closer),
        cmocka_unit_test(test_core__json_doubles_are_shortest),
        cmocka_unit_test(test_core__bson_to_json_is_compact),
        cmocka_unit_test(test_core__atomic_write_and_permissions),
        cmocka_unit_test(test_core__suggestions),
        cmocka_unit_test(test_core__local_key_file_create),
        cmocka_unit_test(test_core__harden_process),
        cmocka_unit_test(test_core__docstore_index_and_recheck),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
