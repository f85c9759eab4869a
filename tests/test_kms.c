/* Remote KMS providers against loopback peers (tests/kms/kms_peers.py,
 * started by tests/kms/run_kms_tests.sh, which exports their ports):
 * round trips with aws, azure and gcp keys, retries, timeouts, TLS
 * verification, refused credentials. Nothing leaves 127.0.0.1. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>

#include "test_util.h"

#define AWS_ARN "arn:aws:kms:us-east-1:000000000000:key/phicrypt-test"
#define AWS_SECRET "phicrypt-test-secret-key"

typedef struct fx {
    char *dir;
} fx;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set: run through tests/kms/run_kms_tests.sh", name);
    return v;
}

static int port(const char *mode)
{
    char name[64];
    snprintf(name, sizeof name, "PHI_KMS_PORT_%s", mode);
    return atoi(env(name));
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char *cfg;
    f->dir = tu_tmpdir();
    cfg = tu_keyset(f->dir, NULL); /* master.key + empty keyvault.jsonl */
    free(cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A client with local, aws, azure and gcp configured against the "OK"
 * peer; `aws_id`/`aws_secret` choose the AWS credentials. */
static int client_with(fx *f, phicrypt_t **out, const char *aws_id, const char *aws_secret, const char *extra)
{
    const char *d = env("PHI_KMS_DIR");
    char path[4096], *gcp_key, *cfg;
    int rc;
    snprintf(path, sizeof path, "%s/gcp-key.b64", d);
    gcp_key = tu_read_file(path, NULL);
    assert_non_null(gcp_key);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"},"
                 "  \"aws\": {\"accessKeyId\": \"%s\", \"secretAccessKey\": \"%s\"},"
                 "  \"azure\": {\"tenantId\": \"phicrypt-tenant\", \"clientId\": \"phicrypt-client\","
                 "             \"clientSecret\": \"phicrypt-client-secret\", \"identityPlatformEndpoint\": \"127.0.0.1:%d\"},"
                 "  \"gcp\": {\"email\": \"phicrypt@test.iam.gserviceaccount.com\", \"privateKey\": \"%s\","
                 "           \"endpoint\": \"127.0.0.1:%d\"}},"
                 " \"tls\": {\"aws\": {\"ca_file\": \"%s/ca.pem\"}, \"azure\": {\"ca_file\": \"%s/ca.pem\"},"
                 "         \"gcp\": {\"ca_file\": \"%s/ca.pem\"}},"
                 " \"kms_options\": {\"connect_timeout_ms\": 1000, \"read_timeout_ms\": 1000,"
                 "                   \"total_timeout_ms\": 3000, \"max_attempts\": 3, \"backoff_base_ms\": 50%s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 f->dir, aws_id, aws_secret, port("OK"), gcp_key, port("OK"), d, d, d, extra ? extra : "",
                 f->dir) < 0)
        fail_msg("asprintf");
    free(gcp_key);
    *out = NULL;
    rc = phicrypt_new(out, cfg);
    free(cfg);
    return rc;
}

static phicrypt_t *client(fx *f)
{
    phicrypt_t *ph = NULL;
    int rc = client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, NULL);
    if (rc != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    return ph;
}

static char *aws_master_key(const char *mode)
{
    char *mk;
    if (asprintf(&mk, "{\"region\": \"us-east-1\", \"key\": \"" AWS_ARN "\", \"endpoint\": \"127.0.0.1:%d\"}",
                 port(mode)) < 0)
        fail_msg("asprintf");
    return mk;
}

static int create_key(phicrypt_t *ph, uint8_t id[16], const char *provider, const char *mk)
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    o.provider = provider;
    o.master_key_json = mk;
    return phicrypt_datakey_create(ph, id, &o);
}

static size_t vault_size(fx *f)
{
    char path[4096], *text;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    text = tu_read_file(path, &len);
    free(text);
    return len;
}

/* Encrypts with one client, decrypts with a fresh one (so that the data
 * key is unwrapped by the KMS again, not taken from a cache). */
static void round_trip(fx *f, const uint8_t id[16])
{
    phicrypt_t *a = client(f), *b = client(f);
    phicrypt_encrypt_opts eo = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
    size_t len;
    uint8_t *doc = tu_value_doc("\"123-45-6789\"", &len);
    eo.algorithm = PHICRYPT_ALG_DETERMINISTIC;
    eo.key_id = id;
    if (phicrypt_encrypt(a, &ct, doc, len, &eo) != 0)
        fail_msg("encrypt: %s", phicrypt_errmsg(a));
    if (phicrypt_decrypt(b, &pt, ct.data, ct.len) != 0)
        fail_msg("decrypt: %s", phicrypt_errmsg(b));
    assert_int_equal(pt.len, len);
    assert_memory_equal(pt.data, doc, len);
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&pt);
    free(doc);
    phicrypt_free(a);
    phicrypt_free(b);
}

static void aws_ok_on(void **state, const char *mode)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    uint8_t id[16];
    char *mk = aws_master_key(mode);
    if (create_key(ph, id, "aws", mk) != 0)
        fail_msg("create: %s", phicrypt_errmsg(ph));
    phicrypt_free(ph);
    free(mk);
    round_trip(f, id);
}

static void test_kms__aws_round_trip(void **state)
{
    aws_ok_on(state, "OK");
}

static void test_kms__aws_chunked_reply(void **state)
{
    aws_ok_on(state, "CHUNKED");
}

static void test_kms__http_500_is_retried(void **state)
{
    aws_ok_on(state, "FAIL500");
}

/* A failure: the code, a bounded time, a message naming the provider and
 * endpoint, no secret in it, and an untouched key vault. */
static void expect_failure(void **state, const char *mode, int code, const char *in_msg, double max_s)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    uint8_t id[16];
    char *mk = aws_master_key(mode), ep[64];
    double t0 = now_s(), took;
    int rc = create_key(ph, id, "aws", mk);
    took = now_s() - t0;
    if (rc != code)
        fail_msg("expected %d, got %d: %s", code, rc, phicrypt_errmsg(ph));
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port(mode));
    assert_true(tu_contains(phicrypt_errmsg(ph), "aws"));
    assert_true(tu_contains(phicrypt_errmsg(ph), ep));
    if (in_msg && !tu_contains(phicrypt_errmsg(ph), in_msg))
        fail_msg("message lacks '%s': %s", in_msg, phicrypt_errmsg(ph));
    assert_false(tu_contains(phicrypt_errmsg(ph), AWS_SECRET));
    if (took > max_s)
        fail_msg("took %.1f s (limit %.1f)", took, max_s);
    assert_int_equal(vault_size(f), 0);
    phicrypt_free(ph);
    free(mk);
}

static void test_kms__http_400_is_not_retried(void **state)
{
    expect_failure(state, "BAD400", PHICRYPT_EKMS, "HTTP 400", 1.0);
}

static void test_kms__malformed_json(void **state)
{
    expect_failure(state, "BADJSON", PHICRYPT_EKMS, NULL, 1.0);
}

static void test_kms__refused_connection(void **state)
{
    expect_failure(state, "REFUSED", PHICRYPT_EKMS, "connect", 3.5);
}

static void test_kms__hang_times_out(void **state)
{
    expect_failure(state, "HANG", PHICRYPT_ETIMEOUT, "timed out", 4.5);
}

static void test_kms__slow_drip_times_out(void **state)
{
    expect_failure(state, "DRIP", PHICRYPT_ETIMEOUT, NULL, 4.5);
}

static void test_kms__unknown_ca_is_refused(void **state)
{
    expect_failure(state, "UNKNOWNCA", PHICRYPT_EKMS, "certificate verify failed", 1.0);
}

static void test_kms__hostname_mismatch_is_refused(void **state)
{
    expect_failure(state, "WRONGHOST", PHICRYPT_EKMS, "certificate verify failed", 1.0);
}

static void test_kms__expired_credentials(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    uint8_t id[16];
    char *mk = aws_master_key("OK");
    assert_int_equal(client_with(f, &ph, "AKIDEXPIRED", "expired-secret", NULL), 0);
    assert_int_equal(create_key(ph, id, "aws", mk), PHICRYPT_EKMSAUTH);
    assert_true(tu_contains(phicrypt_errmsg(ph), "ExpiredToken"));
    assert_int_equal(vault_size(f), 0);
    phicrypt_free(ph);
    free(mk);
}

static void test_kms__wrong_secret_is_auth_error(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    uint8_t id[16];
    char *mk = aws_master_key("OK");
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", "not-the-secret", NULL), 0);
    assert_int_equal(create_key(ph, id, "aws", mk), PHICRYPT_EKMSAUTH);
    assert_false(tu_contains(phicrypt_errmsg(ph), "not-the-secret"));
    assert_int_equal(vault_size(f), 0);
    phicrypt_free(ph);
    free(mk);
}

static void test_kms__azure_round_trip(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    uint8_t id[16];
    char *mk;
    if (asprintf(&mk, "{\"keyVaultEndpoint\": \"127.0.0.1:%d\", \"keyName\": \"phi-key\"}", port("OK")) < 0)
        fail_msg("asprintf");
    if (create_key(ph, id, "azure", mk) != 0)
        fail_msg("create: %s", phicrypt_errmsg(ph));
    phicrypt_free(ph);
    free(mk);
    round_trip(f, id);
}

static void test_kms__gcp_round_trip(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    uint8_t id[16];
    char *mk;
    if (asprintf(&mk,
                 "{\"projectId\": \"phi\", \"location\": \"global\", \"keyRing\": \"ring\", \"keyName\": \"k\","
                 " \"endpoint\": \"127.0.0.1:%d\"}",
                 port("OK")) < 0)
        fail_msg("asprintf");
    if (create_key(ph, id, "gcp", mk) != 0)
        fail_msg("create: %s", phicrypt_errmsg(ph));
    phicrypt_free(ph);
    free(mk);
    round_trip(f, id);
}

static void test_kms__configuration_errors(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, ", \"max_attempt\": 2"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_options.max_attempt"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "max_attempts"));
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, ", \"max_attempts\": 0"), PHICRYPT_ECONFIG);
    assert_false(tu_contains(phicrypt_errmsg(NULL), AWS_SECRET));
    /* A provider that is not configured, and one that needs a master key. */
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, NULL), 0);
    {
        uint8_t id[16];
        assert_int_equal(create_key(ph, id, "kmip", "{}"), PHICRYPT_ECONFIG);
        assert_int_equal(create_key(ph, id, "aws", NULL), PHICRYPT_EINVAL);
    }
    phicrypt_free(ph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms__aws_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__aws_chunked_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__http_500_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__http_400_is_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__malformed_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__refused_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__hang_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__slow_drip_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__unknown_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__hostname_mismatch_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__expired_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__wrong_secret_is_auth_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__azure_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__gcp_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__configuration_errors, setup, teardown),
    };
    return cmocka_run_group_tests_name("kms", tests, NULL, NULL);
}
