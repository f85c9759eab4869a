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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

extern char **environ;

/* "aws": {"allowed_endpoints": [...]}, ... for every loopback peer but the
 * evil one: key documents may name test peers only because the
 * configuration says so (the defaults allow the cloud services alone). */
static const char *loopback_allow(void)
{
    static char out[8192];
    char list[4096] = "";
    size_t n = 0;
    const char *const providers[] = { "aws", "azure", "gcp" };
    for (char **e = environ; *e; e++) {
        const char *v;
        if (strncmp(*e, "PHI_KMS_PORT_", 13) != 0 || strncmp(*e, "PHI_KMS_PORT_EVIL=", 18) == 0)
            continue;
        v = strchr(*e, '=') + 1;
        n += (size_t)snprintf(list + n, sizeof list - n, "%s\"127.0.0.1:%s\", \"localhost:%s\"", n ? ", " : "", v,
                              v);
        assert_true(n < sizeof list);
    }
    out[0] = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s\"%s\": {\"allowed_endpoints\": [%s]}", i ? ", " : "", providers[i],
                 list);
    }
    assert_true(strlen(out) + 1 < sizeof out);
    return out;
}

/* A client with local, aws, azure and gcp configured against the "OK"
 * peer; `aws_id`/`aws_secret` choose the AWS credentials. */
/* Replaces loopback_allow() in client_with (the allow-list tests). */
static const char *allow_override;

static int client_with(fx *f, phicrypt_t **out, const char *aws_id, const char *aws_secret, const char *extra)
{
    const char *d = env("PHI_KMS_DIR");
    char path[4096], *gcp_key, *cfg, kmip[128] = "";
    int rc;
    if (getenv("PHI_KMS_PORT_KMIP"))
        snprintf(kmip, sizeof kmip,
                 ", \"kmip\": {\"endpoint\": \"127.0.0.1:%d\"}", port("KMIP"));
    snprintf(path, sizeof path, "%s/gcp-key.b64", d);
    gcp_key = tu_read_file(path, NULL);
    assert_non_null(gcp_key);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"},"
                 "  \"aws\": {\"accessKeyId\": \"%s\", \"secretAccessKey\": \"%s\"},"
                 "  \"azure\": {\"tenantId\": \"phicrypt-tenant\", \"clientId\": \"phicrypt-client\","
                 "             \"clientSecret\": \"phicrypt-client-secret\", \"identityPlatformEndpoint\": \"127.0.0.1:%d\"},"
                 "  \"gcp\": {\"email\": \"phicrypt@test.iam.gserviceaccount.com\", \"privateKey\": \"%s\","
                 "           \"endpoint\": \"127.0.0.1:%d\"}%s},"
                 " \"tls\": {\"aws\": {\"ca_file\": \"%s/ca.pem\"}, \"azure\": {\"ca_file\": \"%s/ca.pem\"},"
                 "         \"gcp\": {\"ca_file\": \"%s/ca.pem\"},"
                 "         \"kmip\": {\"ca_file\": \"%s/ca.pem\", \"cert_key_file\": \"%s/client-enc.pem\","
                 "                  \"cert_key_password\": \"client-pass\"}},"
                 " \"kms_options\": {\"connect_timeout_ms\": 1000, \"read_timeout_ms\": 1000,"
                 "                   \"total_timeout_ms\": 3000, \"max_attempts\": 3, \"backoff_base_ms\": 50, %s%s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 f->dir, aws_id, aws_secret, port("OK"), gcp_key, port("OK"), kmip, d, d, d, d, d,
                 allow_override ? allow_override : loopback_allow(), extra ? extra : "",
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

/* A master key document of `provider` whose endpoint is the peer `mode`. */
static char *master_key_at(const char *provider, const char *mode)
{
    char *mk;
    if (strcmp(provider, "aws") == 0)
        return aws_master_key(mode);
    if (asprintf(&mk,
                 strcmp(provider, "azure") == 0
                     ? "{\"keyVaultEndpoint\": \"127.0.0.1:%d\", \"keyName\": \"phi-key\"}"
                     : "{\"projectId\": \"phi\", \"location\": \"global\", \"keyRing\": \"ring\","
                       " \"keyName\": \"k\", \"endpoint\": \"127.0.0.1:%d\"}",
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

static const char *vault_path(fx *f)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    return path;
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
    print_message("# %s\n", phicrypt_errmsg(ph));
    assert_int_equal(phicrypt_errcode(ph), code);
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

static void test_kms__silent_peer_handshake_times_out(void **state)
{
    expect_failure(state, "SILENT", PHICRYPT_ETIMEOUT, "TLS handshake", 4.5);
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

/* Peak resident memory of this process, in MB (Linux: ru_maxrss in kB). */
static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* A peer that never stops sending (kms_peers.py ENDLESS): the reply is
 * refused for its size or shape, not for the time it took, and memory
 * stays bounded. */
static void hostile_reply(void **state, const char *mode, const char *in_msg)
{
    expect_failure(state, mode, PHICRYPT_EKMS, in_msg, 30.0);
    print_message("# peak RSS %ld MB\n", peak_rss_mb());
    assert_true(peak_rss_mb() < 64);
}

static void test_kms__hostile_repeated_content_length(void **state)
{
    hostile_reply(state, "REPEATCL", "headers too large or too many");
}

static void test_kms__hostile_repeated_transfer_encoding(void **state)
{
    hostile_reply(state, "REPEATTE", "headers too large or too many");
}

static void test_kms__hostile_endless_trailers(void **state)
{
    hostile_reply(state, "TRAILERS", "too many or too large chunked trailers");
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

static void test_kms__kmip_round_trip(void **state)
{
    fx *f = *state;
    phicrypt_t *ph;
    uint8_t id[16];
    if (getenv("PHI_KMS_KMIP_SKIP")) {
        print_message("# SKIP %s\n", getenv("PHI_KMS_KMIP_SKIP"));
        skip();
    }
    ph = client(f);
    if (create_key(ph, id, "kmip", "{}") != 0)
        fail_msg("create: %s", phicrypt_errmsg(ph));
    phicrypt_free(ph);
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
    /* A provider that does not exist, and one that needs a master key. */
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, NULL), 0);
    {
        uint8_t id[16];
        assert_int_equal(create_key(ph, id, "awz", "{}"), PHICRYPT_EINVAL);
        assert_true(tu_contains(phicrypt_errmsg(ph), "did you mean 'aws'"));
        assert_int_equal(create_key(ph, id, "aws", NULL), PHICRYPT_EINVAL);
    }
    phicrypt_free(ph);
    /* Only local configured: a remote provider is refused by name. */
    {
        phicrypt_t *local = tu_client(f->dir);
        uint8_t id[16];
        assert_int_equal(create_key(local, id, "kmip", "{}"), PHICRYPT_ECONFIG);
        assert_true(tu_contains(phicrypt_errmsg(local), "kms_providers.kmip"));
        phicrypt_free(local);
    }
}


/* Master key documents are checked per provider, naming what is wrong,
 * before libmongocrypt (or any KMS) sees them. */
static void test_kms__master_key_document_checked(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    uint8_t id[16];
    size_t n;
    struct {
        const char *provider, *mk, *want;
    } cases[] = {
        { "aws", "{\"region\": \"us-east-1\"}", "master key (aws): 'key' is missing" },
        { "aws", "{\"key\": \"arn:aws:kms:us-east-1:1:key/x\"}", "master key (aws): 'region' is missing" },
        { "aws", "{\"region\": \"us-east-1\", \"key\": 5}", "'key' must be a non-empty string" },
        { "azure", "{\"keyVaultEndpoint\": \"v.vault.azure.net\"}", "master key (azure): 'keyName' is missing" },
        { "azure", "{\"keyVaultEndpoint\": \"v.vault.azure.net\", \"keyName\": \"k\", \"keyVersio\": \"1\"}",
          "did you mean 'keyVersion'" },
        { "gcp", "{\"projectId\": \"p\", \"location\": \"global\", \"keyName\": \"k\"}",
          "master key (gcp): 'keyRing' is missing" },
        { "kmip", "{\"keyid\": \"1\"}", "did you mean 'keyId'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = create_key(ph, id, cases[i].provider, cases[i].mk);
        if (rc != PHICRYPT_EINVAL || !tu_contains(phicrypt_errmsg(ph), cases[i].want))
            fail_msg("%s %s: got %d: %s (wanted '%s')", cases[i].provider, cases[i].mk, rc, phicrypt_errmsg(ph),
                     cases[i].want);
        assert_false(tu_contains(phicrypt_errmsg(ph), "internal error"));
    }
    /* Rewrap takes the same documents. */
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, NULL, "aws", "{\"region\": \"us-east-1\"}"), PHICRYPT_EINVAL);
    assert_true(tu_contains(phicrypt_errmsg(ph), "'key' is missing"));
    assert_int_equal(vault_size(f), 0);
    phicrypt_free(ph);
}

static char *vault_text(fx *f)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    return tu_read_file(path, NULL);
}

static void encrypt_with(phicrypt_t *ph, const uint8_t id[16], phicrypt_buf *ct)
{
    phicrypt_encrypt_opts eo = PHICRYPT_ENCRYPT_OPTS_INIT;
    size_t len;
    uint8_t *doc = tu_value_doc("\"MRN-000123\"", &len);
    eo.algorithm = PHICRYPT_ALG_RANDOM;
    eo.key_id = id;
    if (phicrypt_encrypt(ph, ct, doc, len, &eo) != 0)
        fail_msg("encrypt: %s", phicrypt_errmsg(ph));
    free(doc);
}

static void decrypts(fx *f, const phicrypt_buf *ct)
{
    phicrypt_t *ph = client(f);
    phicrypt_buf pt = PHICRYPT_BUF_INIT;
    if (phicrypt_decrypt(ph, &pt, ct->data, ct->len) != 0)
        fail_msg("decrypt: %s", phicrypt_errmsg(ph));
    assert_true(pt.len > 0);
    phicrypt_buf_dispose(&pt);
    phicrypt_free(ph);
}

static void test_kms__rewrap_local_to_aws_and_back(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, ct2 = PHICRYPT_BUF_INIT;
    uint8_t id[16], id2[16];
    size_t n = 99;
    char *mk = aws_master_key("OK"), *text;
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, NULL, "aws", mk), 0); /* empty vault */
    assert_int_equal(n, 0);
    assert_int_equal(phicrypt_datakey_create(ph, id, &o), 0);
    assert_int_equal(phicrypt_datakey_create(ph, id2, &o), 0);
    encrypt_with(ph, id, &ct);
    encrypt_with(ph, id2, &ct2);
    if (phicrypt_datakey_rewrap(ph, &n, "{\"masterKey.provider\": \"local\"}", "aws", mk) != 0)
        fail_msg("rewrap: %s", phicrypt_errmsg(ph));
    assert_int_equal(n, 2);
    text = vault_text(f);
    assert_true(tu_contains(text, "\"provider\":\"aws\""));
    assert_false(tu_contains(text, "\"provider\":\"local\""));
    free(text);
    decrypts(f, &ct); /* unwrapped by the AWS peer now */
    decrypts(f, &ct2);
    /* Back to local, one key only, chosen by id. */
    {
        char filter[200], u[37];
        static const char hex[] = "0123456789abcdef";
        for (int i = 0, j = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10)
                u[j++] = '-';
            u[j++] = hex[id[i] >> 4];
            u[j++] = hex[id[i] & 15];
            u[j] = 0;
        }
        snprintf(filter, sizeof filter, "{\"_id\": {\"$in\": [{\"$uuid\": \"%s\"}]}}", u);
        if (phicrypt_datakey_rewrap(ph, &n, filter, "local", NULL) != 0)
            fail_msg("rewrap: %s", phicrypt_errmsg(ph));
        assert_int_equal(n, 1);
    }
    decrypts(f, &ct);
    decrypts(f, &ct2);
    /* Rewrapping in place (no provider) keeps every key's master key. */
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{}", NULL, NULL), 0);
    assert_int_equal(n, 2);
    decrypts(f, &ct);
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{\"keyAltNames\": {\"$gt\": 1}}", "local", NULL),
                     PHICRYPT_EUNSUPPORTED);
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{", "local", NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{}", "gcp", NULL), PHICRYPT_EINVAL);
    assert_int_equal(phicrypt_datakey_rewrap(NULL, &n, "{}", "local", NULL), PHICRYPT_EINVAL);
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&ct2);
    phicrypt_free(ph);
    free(mk);
}

static void test_kms__failed_rewrap_changes_nothing(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    uint8_t id[16];
    size_t n = 99;
    char *mk = aws_master_key("BAD400"), *before, *after;
    assert_int_equal(phicrypt_datakey_create(ph, id, &o), 0);
    before = vault_text(f);
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, NULL, "aws", mk), PHICRYPT_EKMS);
    assert_int_equal(n, 0);
    after = vault_text(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
    phicrypt_free(ph);
    free(mk);
}



/* ------------------------------------------------- endpoint allow-list
 * Whoever can write the key vault names the endpoint of each key's master
 * key. The evil peer has a valid certificate for its own address and
 * logs every connection: it must never see one. */

static size_t evil_log_size(void)
{
    size_t len = 0;
    char *text = tu_read_file(env("PHI_KMS_EVIL_LOG"), &len);
    if (len)
        print_message("# the evil peer received:\n%.300s\n", text);
    free(text);
    return len;
}

static void expect_refused(phicrypt_t *ph, int rc, const char *provider, int bad_port)
{
    char want[128];
    const char *msg = phicrypt_errmsg(ph);
    if (rc != PHICRYPT_EKMS)
        fail_msg("expected PHICRYPT_EKMS, got %d: %s", rc, rc ? msg : "accepted");
    snprintf(want, sizeof want, "kms %s 127.0.0.1:%d: endpoint not allowed", provider, bad_port);
    if (!tu_contains(msg, want))
        fail_msg("message lacks '%s': %s", want, msg);
    snprintf(want, sizeof want, "kms_options.%s.allowed_endpoints", provider);
    if (!tu_contains(msg, want))
        fail_msg("message lacks '%s': %s", want, msg);
    assert_false(tu_contains(msg, AWS_SECRET));
    assert_false(tu_contains(msg, "phicrypt-client-secret"));
    assert_int_equal(evil_log_size(), 0);
}

/* Replaces every "127.0.0.1:<from>" of the key vault by "127.0.0.1:<to>". */
static void tamper_vault(fx *f, int from, int to)
{
    char path[4096], a[32], b[32], *text, *out, *p, *q;
    size_t len;
    snprintf(path, sizeof path, "%s/keyvault.jsonl", f->dir);
    text = tu_read_file(path, &len);
    snprintf(a, sizeof a, "127.0.0.1:%d", from);
    snprintf(b, sizeof b, "127.0.0.1:%d", to);
    out = calloc(1, len * 2 + 64);
    assert_non_null(strstr(text, a));
    for (p = text, q = out; *p;) {
        if (strncmp(p, a, strlen(a)) == 0) {
            memcpy(q, b, strlen(b));
            q += strlen(b);
            p += strlen(a);
        } else {
            *q++ = *p++;
        }
    }
    tu_write_file(path, out, strlen(out), 0600);
    free(text);
    free(out);
}

/* Create (AWS Encrypt would send the plaintext data key) and rewrap to an
 * endpoint the configuration does not allow: nothing leaves. */
static void test_kms__allow_list_create_and_rewrap_refused(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = client(f);
    uint8_t id[16];
    size_t n = 0;
    int evil = port("EVIL");
    const char *providers[] = { "aws", "azure", "gcp" };
    char *mk;
    for (size_t i = 0; i < 3; i++) {
        mk = master_key_at(providers[i], "EVIL");
        expect_refused(ph, create_key(ph, id, providers[i], mk), providers[i], evil);
        assert_int_equal(vault_size(f), 0);
        free(mk);
    }
    /* Rewrap of a local key towards the evil endpoint. */
    {
        phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
        char *before;
        assert_int_equal(phicrypt_datakey_create(ph, id, &o), 0);
        before = vault_text(f);
        mk = aws_master_key("EVIL");
        expect_refused(ph, phicrypt_datakey_rewrap(ph, &n, NULL, "aws", mk), "aws", evil);
        free(mk);
        mk = vault_text(f);
        assert_string_equal(mk, before);
        free(mk);
        free(before);
    }
    phicrypt_free(ph);
}

/* A key created against the good peer, then its document pointed at the
 * evil one: decrypting must not hand it the bearer token, the signed
 * request or the wrapped key. */
static void test_kms__allow_list_tampered_key_document(void **state)
{
    fx *f = *state;
    const char *providers[] = { "aws", "azure", "gcp" };
    int ok = port("OK"), evil = port("EVIL");
    for (size_t i = 0; i < 3; i++) {
        phicrypt_t *ph = client(f), *ph2;
        phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
        uint8_t id[16];
        char *mk;
        mk = master_key_at(providers[i], "OK");
        if (create_key(ph, id, providers[i], mk) != 0)
            fail_msg("create: %s", phicrypt_errmsg(ph));
        encrypt_with(ph, id, &ct);
        phicrypt_free(ph);
        tamper_vault(f, ok, evil);
        ph2 = client(f);
        expect_refused(ph2, phicrypt_decrypt(ph2, &pt, ct.data, ct.len), providers[i], evil);
        assert_null(pt.data);
        phicrypt_free(ph2);
        phicrypt_buf_dispose(&ct);
        free(mk);
        /* The next provider starts from an empty vault. */
        tu_write_file(vault_path(f), "", 0, 0600);
    }
}

/* Defaults: the cloud services only, so a loopback endpoint needs the
 * configuration; patterns match whole DNS labels. */
static void test_kms__allow_list_defaults_and_patterns(void **state)
{
    fx *f = *state;
    phicrypt_t *ph;
    uint8_t id[16];
    char *mk;
    const char *bad[] = { "x.y.vault.azure.net", "vault.azure.net", "evil.example", "x.vault.azure.net.evil.example",
                          "x.vault.azure.net:8443", NULL };
    allow_override = "\"aws\": {\"allowed_endpoints\": [\"kms.*.amazonaws.com\"]}";
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, NULL), 0);
    allow_override = NULL;
    mk = aws_master_key("OK");
    assert_int_equal(create_key(ph, id, "aws", mk), PHICRYPT_EKMS);
    assert_true(tu_contains(phicrypt_errmsg(ph), "kms_options.aws.allowed_endpoints"));
    free(mk);
    /* Azure defaults (*.vault.azure.net ...): refused before any DNS. */
    for (size_t i = 0; bad[i]; i++) {
        if (asprintf(&mk, "{\"keyVaultEndpoint\": \"%s\", \"keyName\": \"phi-key\"}", bad[i]) < 0)
            fail_msg("asprintf");
        assert_int_equal(create_key(ph, id, "azure", mk), PHICRYPT_EKMS);
        if (!tu_contains(phicrypt_errmsg(ph), "endpoint not allowed"))
            fail_msg("%s: %s", bad[i], phicrypt_errmsg(ph));
        free(mk);
    }
    phicrypt_free(ph);
    /* Malformed patterns are configuration errors naming the option. */
    allow_override = "\"gcp\": {\"allowed_endpoints\": [\"ev*il.example\"]}";
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, NULL), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_options.gcp.allowed_endpoints"));
    allow_override = "\"gcp\": {\"allowed_endpoint\": []}";
    assert_int_equal(client_with(f, &ph, "AKIDPHICRYPTTEST", AWS_SECRET, NULL), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "did you mean 'allowed_endpoints'"));
    allow_override = NULL;
    assert_int_equal(vault_size(f), 0);
    assert_int_equal(evil_log_size(), 0);
}

/* ---- on-demand credentials ({} providers), every endpoint on 127.0.0.1 */

static void clear_cloud_env(void)
{
    static const char *const vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "PHICRYPT_AWS_EC2_METADATA_ENDPOINT",
                                        NULL };
    for (size_t i = 0; vars[i]; i++)
        unsetenv(vars[i]);
}

/* aws, azure and gcp as {}; `ec2_in_config` 0 leaves the EC2 endpoint to
 * the environment (which the caller then sets). */
static phicrypt_t *on_demand_client(fx *f, int ec2_in_config)
{
    const char *d = env("PHI_KMS_DIR");
    char *cfg, ec2[80] = "";
    phicrypt_t *ph = NULL;
    int meta = port("META");
    if (ec2_in_config)
        snprintf(ec2, sizeof ec2, "\"aws_ec2_endpoint\": \"127.0.0.1:%d\",", meta);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}, \"aws\": {}, \"azure\": {},"
                 "   \"gcp\": {}},"
                 " \"tls\": {\"aws\": {\"ca_file\": \"%s/ca.pem\"}, \"azure\": {\"ca_file\": \"%s/ca.pem\"},"
                 "         \"gcp\": {\"ca_file\": \"%s/ca.pem\"}},"
                 " \"kms_options\": {\"connect_timeout_ms\": 1000, \"read_timeout_ms\": 1000, \"total_timeout_ms\": 3000,"
                 "   \"aws_sts_endpoint\": \"127.0.0.1:%d\", \"aws_ecs_endpoint\": \"127.0.0.1:%d\", %s"
                 "   \"azure_imds_endpoint\": \"127.0.0.1:%d\", \"gcp_metadata_endpoint\": \"127.0.0.1:%d\", %s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 f->dir, d, d, d, port("OK"), meta, ec2, meta, meta, loopback_allow(), f->dir) < 0)
        fail_msg("asprintf");
    if (phicrypt_new(&ph, cfg) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    free(cfg);
    return ph;
}

/* Creates a key with `provider` and round-trips a value, all on demand. */
static int on_demand_key(phicrypt_t *ph, const char *provider, uint8_t id[16])
{
    char *mk = master_key_at(provider, "OK");
    int rc;
    rc = create_key(ph, id, provider, mk);
    free(mk);
    return rc;
}

static void on_demand_round_trip(fx *f, const char *provider, int ec2_in_config)
{
    phicrypt_t *ph = on_demand_client(f, ec2_in_config), *ph2;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    if (on_demand_key(ph, provider, id) != 0)
        fail_msg("create (%s): %s", provider, phicrypt_errmsg(ph));
    encrypt_with(ph, id, &ct);
    ph2 = on_demand_client(f, ec2_in_config);
    if (phicrypt_decrypt(ph2, &pt, ct.data, ct.len) != 0)
        fail_msg("decrypt: %s", phicrypt_errmsg(ph2));
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&pt);
    phicrypt_free(ph);
    phicrypt_free(ph2);
}

static void test_kms__on_demand_aws_environment(void **state)
{
    clear_cloud_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDPHICRYPTTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET, 1);
    setenv("AWS_SESSION_TOKEN", "env-session", 1);
    on_demand_round_trip(*state, "aws", 1);
    clear_cloud_env();
}

static void test_kms__on_demand_aws_web_identity(void **state)
{
    char path[4096];
    clear_cloud_env();
    snprintf(path, sizeof path, "%s/web-identity-token", env("PHI_KMS_DIR"));
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::000000000000:role/phicrypt", 1);
    on_demand_round_trip(*state, "aws", 1);
    clear_cloud_env();
}

static void test_kms__on_demand_aws_ec2_imdsv2(void **state)
{
    char ep[64];
    clear_cloud_env();
    on_demand_round_trip(*state, "aws", 1);
    /* The same through the environment override. */
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port("META"));
    setenv("PHICRYPT_AWS_EC2_METADATA_ENDPOINT", ep, 1);
    on_demand_round_trip(*state, "aws", 0);
    clear_cloud_env();
}

static void test_kms__on_demand_ecs_cached_then_expired(void **state)
{
    fx *f = *state;
    phicrypt_t *ph, *ph2;
    uint8_t id[16];
    clear_cloud_env();
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/ecs/creds", 1);
    ph = on_demand_client(f, 1);
    if (on_demand_key(ph, "aws", id) != 0)
        fail_msg("create: %s", phicrypt_errmsg(ph));
    /* From now on the task role hands out expired credentials; the cached
     * ones (valid for an hour) keep working in this client ... */
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/ecs/expired", 1);
    if (on_demand_key(ph, "aws", id) != 0)
        fail_msg("create with cached credentials: %s", phicrypt_errmsg(ph));
    /* ... while a new client fetches them and is refused. */
    ph2 = on_demand_client(f, 1);
    assert_int_equal(on_demand_key(ph2, "aws", id), PHICRYPT_EKMSAUTH);
    assert_false(tu_contains(phicrypt_errmsg(ph2), "expired-secret"));
    phicrypt_free(ph);
    phicrypt_free(ph2);
    clear_cloud_env();
}

typedef struct thread_arg {
    phicrypt_t *ph;
    int rc;
} thread_arg;

static void *create_in_thread(void *p)
{
    thread_arg *a = p;
    uint8_t id[16];
    for (int i = 0; i < 3 && a->rc == 0; i++)
        a->rc = on_demand_key(a->ph, "aws", id);
    return NULL;
}

/* One client, several threads, credentials fetched once and shared. */
static void test_kms__on_demand_shared_by_threads(void **state)
{
    fx *f = *state;
    phicrypt_t *ph;
    pthread_t t[4];
    thread_arg a[4];
    clear_cloud_env();
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/ecs/creds", 1);
    ph = on_demand_client(f, 1);
    for (int i = 0; i < 4; i++) {
        a[i].ph = ph;
        a[i].rc = 0;
        assert_int_equal(pthread_create(&t[i], NULL, create_in_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        if (a[i].rc != 0)
            fail_msg("thread %d: %d", i, a[i].rc);
    }
    phicrypt_free(ph);
    clear_cloud_env();
}

/* AWS credentials from the environment, GCP's metadata server gone: AWS
 * keys still work; a GCP key fails, in bounded time. */
static void test_kms__on_demand_partial(void **state)
{
    fx *f = *state;
    const char *d = env("PHI_KMS_DIR");
    char *cfg;
    phicrypt_t *ph = NULL;
    uint8_t id[16];
    int rc;
    clear_cloud_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDPHICRYPTTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET, 1);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"aws\": {}, \"gcp\": {}},"
                 " \"tls\": {\"aws\": {\"ca_file\": \"%s/ca.pem\"}, \"gcp\": {\"ca_file\": \"%s/ca.pem\"}},"
                 " \"kms_options\": {\"total_timeout_ms\": 2000, \"gcp_metadata_endpoint\": \"127.0.0.1:%d\", %s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 d, d, port("REFUSED"), loopback_allow(), f->dir) < 0)
        fail_msg("asprintf");
    assert_int_equal(phicrypt_new(&ph, cfg), 0);
    if (on_demand_key(ph, "aws", id) != 0)
        fail_msg("create: %s", phicrypt_errmsg(ph));
    rc = on_demand_key(ph, "gcp", id);
    print_message("# %s\n", phicrypt_errmsg(ph));
    assert_int_equal(rc, PHICRYPT_EKMS);
    assert_true(tu_contains(phicrypt_errmsg(ph), "GCP metadata server"));
    /* And with no credentials anywhere, the reason is the one reported. */
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("PHICRYPT_AWS_EC2_METADATA_ENDPOINT", "127.0.0.1:1", 1);
    phicrypt_free(ph);
    assert_int_equal(phicrypt_new(&ph, cfg), 0);
    assert_int_equal(on_demand_key(ph, "aws", id), PHICRYPT_EKMS);
    assert_true(tu_contains(phicrypt_errmsg(ph), "EC2 instance metadata"));
    phicrypt_free(ph);
    free(cfg);
    clear_cloud_env();
}

/* "azure": {} on a host without Azure: a local key still works (the
 * credentials are needed only by keys that use Azure), and an Azure key
 * fails with the reason the credentials could not be found. */
static void test_kms__on_demand_only_when_needed(void **state)
{
    fx *f = *state;
    const char *d = env("PHI_KMS_DIR");
    char *cfg, *mk;
    phicrypt_t *ph = NULL;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    uint8_t id[16];
    clear_cloud_env();
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}, \"azure\": {}},"
                 " \"tls\": {\"azure\": {\"ca_file\": \"%s/ca.pem\"}},"
                 " \"kms_options\": {\"total_timeout_ms\": 2000, \"max_attempts\": 1,"
                 "   \"azure_imds_endpoint\": \"127.0.0.1:%d\", %s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 f->dir, d, port("REFUSED"), loopback_allow(), f->dir) < 0)
        fail_msg("asprintf");
    if (phicrypt_new(&ph, cfg) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    if (phicrypt_datakey_create(ph, id, &o) != 0)
        fail_msg("create local: %s", phicrypt_errmsg(ph));
    encrypt_with(ph, id, &ct);
    if (phicrypt_decrypt(ph, &pt, ct.data, ct.len) != 0)
        fail_msg("decrypt local: %s", phicrypt_errmsg(ph));
    if (asprintf(&mk, "{\"keyVaultEndpoint\": \"127.0.0.1:%d\", \"keyName\": \"phi-key\"}", port("OK")) < 0)
        fail_msg("asprintf");
    assert_int_not_equal(create_key(ph, id, "azure", mk), 0);
    print_message("# %s\n", phicrypt_errmsg(ph));
    assert_true(tu_contains(phicrypt_errmsg(ph), "Azure"));
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&pt);
    phicrypt_free(ph);
    free(mk);
    free(cfg);
}

/* Requests the metadata peer (META) has answered whose path starts with
 * `prefix` (its /stats page). */
static long meta_hits(const char *prefix)
{
    struct sockaddr_in a;
    char buf[8192];
    size_t n = 0;
    ssize_t r;
    long hits = 0;
    const char *body;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bson_t *doc;
    bson_iter_t it;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port("META"));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("cannot reach the metadata peer");
    if (write(fd, "GET /stats HTTP/1.0\r\n\r\n", 23) != 23)
        fail_msg("write");
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    if (!(body = strstr(buf, "\r\n\r\n")) || !(doc = bson_new_from_json((const uint8_t *)body + 4, -1, NULL)))
        fail_msg("metadata peer: no stats");
    if (bson_iter_init(&it, doc))
        while (bson_iter_next(&it))
            if (strncmp(bson_iter_key(&it), prefix, strlen(prefix)) == 0)
                hits += (long)bson_iter_as_int64(&it);
    bson_destroy(doc);
    return hits;
}

/* Issue 19 item 7: with aws, azure and gcp all {}, an operation fetches
 * credentials only for the providers its keys name. The Azure and GCP
 * metadata endpoints count their requests: AWS and local keys (create,
 * encrypt, decrypt) never ask them; an Azure key then asks Azure's and
 * still not GCP's (so the count is no vacuous zero). */
static void test_kms__on_demand_not_fetched_for_other_keys(void **state)
{
    fx *f = *state;
    const char *d = env("PHI_KMS_DIR");
    const char *az = "/metadata/identity/oauth2/token", *gcp = "/computeMetadata/";
    char *cfg, *mk;
    phicrypt_t *ph = NULL;
    phicrypt_buf ct = PHICRYPT_BUF_INIT, pt = PHICRYPT_BUF_INIT;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    uint8_t local_id[16], aws_id[16], az_id[16];
    long az0, gcp0;
    int meta = port("META");
    clear_cloud_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDPHICRYPTTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET, 1);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}, \"aws\": {}, \"azure\": {},"
                 "   \"gcp\": {}},"
                 " \"tls\": {\"aws\": {\"ca_file\": \"%s/ca.pem\"}, \"azure\": {\"ca_file\": \"%s/ca.pem\"},"
                 "         \"gcp\": {\"ca_file\": \"%s/ca.pem\"}},"
                 " \"kms_options\": {\"connect_timeout_ms\": 1000, \"read_timeout_ms\": 1000, \"total_timeout_ms\": 3000,"
                 "   \"max_attempts\": 1, \"azure_imds_endpoint\": \"127.0.0.1:%d\","
                 "   \"gcp_metadata_endpoint\": \"127.0.0.1:%d\", %s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 f->dir, d, d, d, meta, meta, loopback_allow(), f->dir) < 0)
        fail_msg("asprintf");
    if (phicrypt_new(&ph, cfg) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    az0 = meta_hits(az);
    gcp0 = meta_hits(gcp);
    if (phicrypt_datakey_create(ph, local_id, &o) != 0)
        fail_msg("create local: %s", phicrypt_errmsg(ph));
    encrypt_with(ph, local_id, &ct);
    if (phicrypt_decrypt(ph, &pt, ct.data, ct.len) != 0)
        fail_msg("decrypt local: %s", phicrypt_errmsg(ph));
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&pt);
    if (on_demand_key(ph, "aws", aws_id) != 0)
        fail_msg("create aws: %s", phicrypt_errmsg(ph));
    encrypt_with(ph, aws_id, &ct);
    phicrypt_free(ph);
    assert_int_equal(phicrypt_new(&ph, cfg), 0); /* nothing cached */
    if (phicrypt_decrypt(ph, &pt, ct.data, ct.len) != 0)
        fail_msg("decrypt aws: %s", phicrypt_errmsg(ph));
    assert_int_equal(meta_hits(az), az0);
    assert_int_equal(meta_hits(gcp), gcp0);
    /* An Azure key asks Azure's endpoint, and still not GCP's. */
    if (asprintf(&mk, "{\"keyVaultEndpoint\": \"127.0.0.1:%d\", \"keyName\": \"phi-key\"}", port("OK")) < 0)
        fail_msg("asprintf");
    (void)create_key(ph, az_id, "azure", mk);
    assert_true(meta_hits(az) > az0);
    assert_int_equal(meta_hits(gcp), gcp0);
    phicrypt_buf_dispose(&ct);
    phicrypt_buf_dispose(&pt);
    phicrypt_free(ph);
    free(mk);
    free(cfg);
    clear_cloud_env();
}

static void test_kms__on_demand_azure_imds(void **state)
{
    clear_cloud_env();
    on_demand_round_trip(*state, "azure", 1);
}

static void test_kms__on_demand_gcp_metadata(void **state)
{
    clear_cloud_env();
    on_demand_round_trip(*state, "gcp", 1);
}


/* A configuration with only `providers_json` and `tls_json` (in which %s
 * stands for the peers' directory). */
static int try_config(fx *f, const char *providers_json, const char *tls_json)
{
    const char *d = env("PHI_KMS_DIR");
    char *cfg, tls[1024];
    phicrypt_t *ph = NULL;
    int rc;
    /* Each "%s" of tls_json becomes the peers' directory. */
    {
        const char *t = tls_json ? tls_json : "{}";
        size_t j = 0;
        for (; *t && j + strlen(d) + 1 < sizeof tls; t++) {
            if (t[0] == '%' && t[1] == 's') {
                memcpy(tls + j, d, strlen(d));
                j += strlen(d);
                t++;
            } else {
                tls[j++] = *t;
            }
        }
        tls[j] = 0;
    }
    if (asprintf(&cfg, "{\"kms_providers\": %s, \"tls\": %s, \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 providers_json, tls, f->dir) < 0)
        fail_msg("asprintf");
    rc = phicrypt_new(&ph, cfg);
    free(cfg);
    phicrypt_free(ph);
    return rc;
}

static void test_kms__provider_configuration_is_checked(void **state)
{
    fx *f = *state;
    assert_int_equal(try_config(f, "{\"aws\": {\"accessKeyId\": \"A\"}}", NULL), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_providers.aws.secretAccessKey is required"));
    assert_int_equal(try_config(f, "{\"azure\": {\"tenantId\": \"t\", \"clientId\": \"c\", \"clientSecret\": \"s3cr3t\","
                                   " \"identityPlatformEndpoit\": \"x\"}}", NULL),
                     PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "'kms_providers.azure.identityPlatformEndpoit'"));
    assert_true(tu_contains(phicrypt_errmsg(NULL), "did you mean 'identityPlatformEndpoint'"));
    assert_false(tu_contains(phicrypt_errmsg(NULL), "s3cr3t"));
    assert_int_equal(try_config(f, "{\"gcp\": {\"email\": \"e\", \"privateKey\": 5}}", NULL), PHICRYPT_ECONFIG);
    assert_int_equal(try_config(f, "{\"kmip\": {}}", NULL), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "kms_providers.kmip.endpoint is required"));
    assert_int_equal(try_config(f, "{\"aws\": {}, \"azure\": {}, \"gcp\": {}}", NULL), 0);
    assert_int_equal(try_config(f, "{\"aws\": {}}", "{\"aws\": {\"cafile\": \"%s/ca.pem\"}}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "did you mean 'ca_file'"));
    assert_int_equal(try_config(f, "{\"aws\": {}}", "{\"awss\": {}}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(NULL), "'tls.awss'"));
    /* A client key others may read is refused (as ssh does). */
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/client.pem", env("PHI_KMS_DIR"));
        chmod(path, 0644);
        assert_int_equal(try_config(f, "{\"aws\": {}}", "{\"kmip\": {\"cert_key_file\": \"%s/client.pem\"}}"),
                         PHICRYPT_ECONFIG);
        chmod(path, 0600);
    }
}

static void test_kms__missing_ca_file_is_a_config_error(void **state)
{
    fx *f = *state;
    phicrypt_t *ph = NULL;
    const char *d = env("PHI_KMS_DIR");
    char *cfg, *mk = aws_master_key("OK");
    uint8_t id[16];
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"aws\": {\"accessKeyId\": \"AKIDPHICRYPTTEST\", \"secretAccessKey\": \"%s\"}},"
                 " \"tls\": {\"aws\": {\"ca_file\": \"%s/no-such-ca.pem\"}}, \"kms_options\": {%s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 AWS_SECRET, d, loopback_allow(), f->dir) < 0)
        fail_msg("asprintf");
    assert_int_equal(phicrypt_new(&ph, cfg), 0);
    assert_int_equal(create_key(ph, id, "aws", mk), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(ph), "tls.aws.ca_file"));
    assert_int_equal(vault_size(f), 0);
    phicrypt_free(ph);
    free(cfg);
    free(mk);
}

/* The KMIP client key is read through the descriptor whose owner and mode
 * were checked: a key file swapped for a link after the configuration was
 * loaded is refused, not followed. */
static void test_kms__cert_key_file_swapped_for_link(void **state)
{
    fx *f = *state;
    const char *d = env("PHI_KMS_DIR");
    char src[4096], dst[4096], *pem, *cfg;
    size_t len;
    phicrypt_t *ph = NULL;
    uint8_t id[16];
    if (getenv("PHI_KMS_KMIP_SKIP")) {
        print_message("# SKIP %s\n", getenv("PHI_KMS_KMIP_SKIP"));
        skip();
    }
    snprintf(src, sizeof src, "%s/client-enc.pem", d);
    snprintf(dst, sizeof dst, "%s/client.pem", f->dir);
    pem = tu_read_file(src, &len);
    tu_write_file(dst, pem, len, 0600);
    free(pem);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"kmip\": {\"endpoint\": \"127.0.0.1:%d\"}},"
                 " \"tls\": {\"kmip\": {\"ca_file\": \"%s/ca.pem\", \"cert_key_file\": \"%s\","
                 "   \"cert_key_password\": \"client-pass\"}},"
                 " \"kms_options\": {\"total_timeout_ms\": 3000}, \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 port("KMIP"), d, dst, f->dir) < 0)
        fail_msg("asprintf");
    assert_int_equal(phicrypt_new(&ph, cfg), 0);
    if (create_key(ph, id, "kmip", "{}") != 0) /* the control: the file itself works */
        fail_msg("create: %s", phicrypt_errmsg(ph));
    assert_int_equal(unlink(dst), 0);
    assert_int_equal(symlink(src, dst), 0);
    assert_int_equal(create_key(ph, id, "kmip", "{}"), PHICRYPT_ECONFIG);
    assert_true(tu_contains(phicrypt_errmsg(ph), "symbolic link"));
    assert_false(tu_contains(phicrypt_errmsg(ph), "client-pass"));
    phicrypt_free(ph);
    free(cfg);
}

static void test_kms__gcp_private_key_as_pem(void **state)
{
    fx *f = *state;
    const char *d = env("PHI_KMS_DIR");
    char path[4096], *pem, *esc, *cfg = NULL, *mk = NULL;
    phicrypt_t *ph = NULL;
    uint8_t id[16];
    size_t j = 0;
    snprintf(path, sizeof path, "%s/gcp-key.pem", d);
    pem = tu_read_file(path, NULL);
    assert_non_null(pem);
    esc = calloc(1, strlen(pem) * 2 + 1);
    for (size_t i = 0; pem[i]; i++) { /* newlines as JSON escapes */
        if (pem[i] == '\n') {
            esc[j++] = '\\';
            esc[j++] = 'n';
        } else {
            esc[j++] = pem[i];
        }
    }
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"gcp\": {\"email\": \"phicrypt@test.iam.gserviceaccount.com\","
                 "   \"privateKey\": \"%s\", \"endpoint\": \"127.0.0.1:%d\"}},"
                 " \"tls\": {\"gcp\": {\"ca_file\": \"%s/ca.pem\"}}, \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 esc, port("OK"), d, f->dir) < 0 ||
        asprintf(&mk,
                 "{\"projectId\": \"phi\", \"location\": \"global\", \"keyRing\": \"ring\", \"keyName\": \"k\","
                 " \"endpoint\": \"127.0.0.1:%d\"}",
                 port("OK")) < 0)
        fail_msg("asprintf");
    if (phicrypt_new(&ph, cfg) != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    if (create_key(ph, id, "gcp", mk) != 0)
        fail_msg("create: %s", phicrypt_errmsg(ph));
    phicrypt_free(ph);
    free(pem);
    free(esc);
    free(cfg);
    free(mk);
}

/* ------------------------------------------------------------------ TLS
 * Every provider must refuse a KMS whose TLS cannot be trusted, during the
 * handshake, before any request leaves: TLS < 1.2, a self-signed
 * certificate, an unknown CA, an expired certificate, a certificate for
 * another host. The fault peers (kms_peers.py) serve HTTP behind TLS; the
 * client never gets that far, whatever the protocol, KMIP included.
 * Azure and GCP make two TLS connections (OAuth, then the key service);
 * both are tried. */
typedef struct tls_target {
    const char *provider;
    int oauth; /* 1: the OAuth endpoint is the bad peer, 0: the key service */
    const char *label;
} tls_target;

static const tls_target tls_targets[] = {
    { "aws", 0, "aws (KMS)" },
    { "azure", 1, "azure (OAuth token endpoint)" },
    { "azure", 0, "azure (Key Vault)" },
    { "gcp", 1, "gcp (OAuth token endpoint)" },
    { "gcp", 0, "gcp (Cloud KMS)" },
    { "kmip", 0, "kmip" },
};

/* A client for `t` whose bad endpoint is host:bad, every other endpoint
 * the good peer; *mk receives the master key to create a key with. */
static phicrypt_t *tls_client(fx *f, const tls_target *t, const char *host, int bad, char **mk)
{
    const char *d = env("PHI_KMS_DIR");
    char path[4096], *gcp_key, *cfg, bad_ep[128], ok_ep[64], *oauth_ep, *key_ep;
    phicrypt_t *ph = NULL;
    snprintf(bad_ep, sizeof bad_ep, "%s:%d", host, bad);
    snprintf(ok_ep, sizeof ok_ep, "127.0.0.1:%d", port("OK"));
    oauth_ep = t->oauth ? bad_ep : ok_ep;
    key_ep = t->oauth ? ok_ep : bad_ep;
    snprintf(path, sizeof path, "%s/gcp-key.b64", d);
    gcp_key = tu_read_file(path, NULL);
    assert_non_null(gcp_key);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {"
                 "  \"aws\": {\"accessKeyId\": \"AKIDPHICRYPTTEST\", \"secretAccessKey\": \"%s\"},"
                 "  \"azure\": {\"tenantId\": \"phicrypt-tenant\", \"clientId\": \"phicrypt-client\","
                 "             \"clientSecret\": \"phicrypt-client-secret\", \"identityPlatformEndpoint\": \"%s\"},"
                 "  \"gcp\": {\"email\": \"phicrypt@test.iam.gserviceaccount.com\", \"privateKey\": \"%s\","
                 "           \"endpoint\": \"%s\"},"
                 "  \"kmip\": {\"endpoint\": \"%s\"}},"
                 " \"tls\": {\"aws\": {\"ca_file\": \"%s/ca.pem\"}, \"azure\": {\"ca_file\": \"%s/ca.pem\"},"
                 "         \"gcp\": {\"ca_file\": \"%s/ca.pem\"},"
                 "         \"kmip\": {\"ca_file\": \"%s/ca.pem\", \"cert_key_file\": \"%s/client-enc.pem\","
                 "                  \"cert_key_password\": \"client-pass\"}},"
                 " \"kms_options\": {\"connect_timeout_ms\": 1000, \"read_timeout_ms\": 1000,"
                 "                   \"total_timeout_ms\": 3000, \"max_attempts\": 3, \"backoff_base_ms\": 50, %s},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 AWS_SECRET, oauth_ep, gcp_key, oauth_ep, bad_ep, d, d, d, d, d, loopback_allow(), f->dir) < 0)
        fail_msg("asprintf");
    free(gcp_key);
    if (phicrypt_new(&ph, cfg) != 0)
        fail_msg("%s: phicrypt_new: %s", t->label, phicrypt_errmsg(NULL));
    free(cfg);
    if (strcmp(t->provider, "aws") == 0) {
        if (asprintf(mk, "{\"region\": \"us-east-1\", \"key\": \"" AWS_ARN "\", \"endpoint\": \"%s\"}", key_ep) < 0)
            fail_msg("asprintf");
    } else if (strcmp(t->provider, "azure") == 0) {
        if (asprintf(mk, "{\"keyVaultEndpoint\": \"%s\", \"keyName\": \"phi-key\"}", key_ep) < 0)
            fail_msg("asprintf");
    } else if (strcmp(t->provider, "gcp") == 0) {
        if (asprintf(mk,
                     "{\"projectId\": \"phi\", \"location\": \"global\", \"keyRing\": \"ring\", \"keyName\": \"k\","
                     " \"endpoint\": \"%s\"}",
                     key_ep) < 0)
            fail_msg("asprintf");
    } else {
        *mk = strdup("{}");
    }
    return ph;
}

/* libmongocrypt takes a host name without a dot ("localhost", the only
 * name that resolves here) for the KMIP endpoint only: the cloud
 * endpoints must look like "a.b". */
static int takes_plain_name(const tls_target *t)
{
    return strcmp(t->provider, "kmip") == 0;
}

/* Creates a key through every target in turn against the peer `mode`
 * reached as `host`: each must fail with PHICRYPT_EKMS within 2 s, the
 * message naming the provider, the bad endpoint, the TLS handshake and
 * `detail` (or `detail2`), and the key vault must stay empty. */
static void tls_refused_on(fx *f, const char *mode, const char *host, const char *detail, const char *detail2)
{
    int bad = port(mode);
    for (size_t i = 0; i < sizeof tls_targets / sizeof tls_targets[0]; i++) {
        const tls_target *t = &tls_targets[i];
        char *mk, want[192];
        if (strcmp(host, "127.0.0.1") != 0 && !takes_plain_name(t))
            continue;
        phicrypt_t *ph = tls_client(f, t, host, bad, &mk);
        uint8_t id[16];
        double t0 = now_s(), took;
        int rc = create_key(ph, id, t->provider, mk);
        const char *msg = phicrypt_errmsg(ph);
        took = now_s() - t0;
        print_message("# %s, %s: %s (%.2f s)\n", mode, t->label, rc ? msg : "ACCEPTED", took);
        if (rc != PHICRYPT_EKMS)
            fail_msg("%s via %s:%d (peer %s): expected PHICRYPT_EKMS (%d), got %d: %s", t->label, host, bad, mode,
                     PHICRYPT_EKMS, rc, rc ? msg : "the key was created");
        if (phicrypt_errcode(ph) != PHICRYPT_EKMS)
            fail_msg("%s: phicrypt_errcode %d", t->label, phicrypt_errcode(ph));
        snprintf(want, sizeof want, "kms %s %s:%d: TLS handshake: ", t->provider, host, bad);
        if (!tu_contains(msg, want))
            fail_msg("%s (peer %s): message lacks '%s': %s", t->label, mode, want, msg);
        if (!tu_contains(msg, detail) && !(detail2 && tu_contains(msg, detail2)))
            fail_msg("%s (peer %s): message lacks '%s'%s%s: %s", t->label, mode, detail, detail2 ? " or " : "",
                     detail2 ? detail2 : "", msg);
        if (tu_contains(msg, AWS_SECRET) || tu_contains(msg, "phicrypt-client-secret") ||
            tu_contains(msg, "client-pass"))
            fail_msg("%s: a secret in the message: %s", t->label, msg);
        if (took > 2.0)
            fail_msg("%s (peer %s): took %.2f s (limit 2 s)", t->label, mode, took);
        if (vault_size(f) != 0)
            fail_msg("%s (peer %s): the key vault was written", t->label, mode);
        phicrypt_free(ph);
        free(mk);
    }
}

static void test_kms__tls_below_1_2(void **state)
{
    const char *why = getenv("PHI_KMS_TLS11_SKIP");
    if (why) {
        print_message("# SKIP no TLS <= 1.1 peer: %s\n", why);
        skip();
    }
    /* The peer speaks TLS 1.0/1.1 only (kms_peers.py proved it at start)
     * with a certificate the client would otherwise accept. */
    print_message("# the peer, probed: %s\n", env("PHI_KMS_TLS11_PROBE"));
    /* OpenSSL says "tlsv1 alert protocol version" when the peer refuses our
     * ClientHello, "unsupported protocol" when it answers with TLS 1.1. */
    tls_refused_on(*state, "TLS11", "127.0.0.1", "alert protocol version", "unsupported protocol");
}

static void test_kms__tls_self_signed(void **state)
{
    tls_refused_on(*state, "SELFSIGNED", "127.0.0.1", "certificate verify failed: self-signed certificate", NULL);
}

static void test_kms__tls_unknown_ca(void **state)
{
    tls_refused_on(*state, "UNKNOWNCA", "127.0.0.1",
                   "certificate verify failed: unable to get local issuer certificate", NULL);
}

static void test_kms__tls_expired(void **state)
{
    tls_refused_on(*state, "EXPIRED", "127.0.0.1", "certificate verify failed: certificate has expired", NULL);
}

static void test_kms__tls_hostname_mismatch(void **state)
{
    /* The certificate names wrong.example and 127.0.0.2: refused when the
     * endpoint is the IP 127.0.0.1 (every provider) and when it is the name
     * localhost (the providers that take it, see takes_plain_name). */
    tls_refused_on(*state, "WRONGHOST", "127.0.0.1", "certificate verify failed: IP address mismatch", NULL);
    tls_refused_on(*state, "WRONGHOST", "localhost", "certificate verify failed: hostname mismatch", NULL);
}

/* The control: the same clients, through every target, reach the good
 * peers (KMIP: PyKMIP) by IP and, where taken, by name, so the refusals
 * above come from the certificates and versions alone. */
static void test_kms__tls_control_good_peer(void **state)
{
    fx *f = *state;
    const char *hosts[] = { "127.0.0.1", "localhost" };
    for (size_t h = 0; h < 2; h++) {
        for (size_t i = 0; i < sizeof tls_targets / sizeof tls_targets[0]; i++) {
            const tls_target *t = &tls_targets[i];
            int kmip = strcmp(t->provider, "kmip") == 0;
            char *mk;
            phicrypt_t *ph;
            uint8_t id[16];
            if (h == 1 && !takes_plain_name(t))
                continue;
            if (kmip && getenv("PHI_KMS_KMIP_SKIP")) {
                print_message("# kmip control skipped: %s\n", getenv("PHI_KMS_KMIP_SKIP"));
                continue;
            }
            ph = tls_client(f, t, hosts[h], port(kmip ? "KMIP" : "OK"), &mk);
            if (create_key(ph, id, t->provider, mk) != 0)
                fail_msg("%s via %s: %s", t->label, hosts[h], phicrypt_errmsg(ph));
            print_message("# control: %s via %s accepted\n", t->label, hosts[h]);
            phicrypt_free(ph);
            free(mk);
        }
    }
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
        cmocka_unit_test_setup_teardown(test_kms__silent_peer_handshake_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__unknown_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__hostname_mismatch_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__hostile_repeated_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__hostile_repeated_transfer_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__hostile_endless_trailers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__expired_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__wrong_secret_is_auth_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__azure_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__gcp_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__kmip_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__configuration_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__provider_configuration_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__master_key_document_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__missing_ca_file_is_a_config_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__gcp_private_key_as_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__cert_key_file_swapped_for_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__tls_control_good_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__tls_below_1_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__tls_self_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__tls_unknown_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__tls_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__tls_hostname_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__rewrap_local_to_aws_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__allow_list_create_and_rewrap_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__allow_list_tampered_key_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__allow_list_defaults_and_patterns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__failed_rewrap_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_aws_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_aws_web_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_aws_ec2_imdsv2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_ecs_cached_then_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_shared_by_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_azure_imds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_only_when_needed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_not_fetched_for_other_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms__on_demand_gcp_metadata, setup, teardown),
    };
    return cmocka_run_group_tests_name("kms", tests, NULL, NULL);
}
