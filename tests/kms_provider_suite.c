/* The provider suite shared by the KMS plug-in tests (kms_provider_suite.h). */
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

#include <bson/bson.h>

#include "kms_provider_suite.h"
#include "test_util.h"

static phicrypt_t *open_client(kps_fixture *f)
{
    phicrypt_t *ph = f->open(f->ctx);
    if (!ph)
        skip();
    return ph;
}

static int make_key(phicrypt_t *ph, const char *provider, const char *alt)
{
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[1] = { alt };
    uint8_t id[16];
    o.provider = provider;
    o.alt_names = names;
    o.alt_names_count = 1;
    return phicrypt_datakey_create(ph, id, &o);
}

static char *encrypt(phicrypt_t *ph, const char *value, const char *alt)
{
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char *s;
    o.key_alt_name = alt;
    if (phicrypt_encrypt_json(ph, &out, value, &o) != 0)
        fail_msg("encrypt under %s: %s", alt, phicrypt_errmsg(ph));
    s = strdup((const char *)out.data);
    phicrypt_buf_dispose(&out);
    return s;
}

static void expect_plain(phicrypt_t *ph, const char *cipher, const char *plain)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    if (phicrypt_decrypt_json(ph, &out, cipher, 0) != 0)
        fail_msg("decrypt: %s", phicrypt_errmsg(ph));
    assert_string_equal((const char *)out.data, plain);
    phicrypt_buf_dispose(&out);
}

static const char *provider_of(phicrypt_t *ph, const char *alt)
{
    static char name[64];
    phicrypt_buf kd = PHICRYPT_BUF_INIT;
    bson_t view;
    bson_iter_t it;
    assert_int_equal(phicrypt_datakey_get_by_alt_name(ph, &kd, alt), 0);
    assert_true(bson_init_static(&view, kd.data, kd.len));
    assert_true(bson_iter_init(&it, &view) && bson_iter_find_descendant(&it, "masterKey.provider", &it));
    snprintf(name, sizeof name, "%s", bson_iter_utf8(&it, NULL));
    phicrypt_buf_dispose(&kd);
    return name;
}

static char *vault_path(kps_fixture *f)
{
    char *p;
    assert_true(asprintf(&p, "%s/keyvault.jsonl", f->dir) > 0);
    return p;
}

void kps__roundtrip_two_names(void **state)
{
    kps_fixture *f = *state;
    phicrypt_t *ph = open_client(f);
    char named[64], *c1, *c2;
    snprintf(named, sizeof named, "%s:ward-a", f->provider);
    assert_int_equal(make_key(ph, f->provider, "s1"), 0);
    assert_int_equal(make_key(ph, named, "s2"), 0);
    assert_string_equal(provider_of(ph, "s2"), named);
    c1 = encrypt(ph, "\"one\"", "s1");
    c2 = encrypt(ph, "\"two\"", "s2");
    phicrypt_free(ph);
    ph = open_client(f);
    expect_plain(ph, c1, "\"one\"");
    expect_plain(ph, c2, "\"two\"");
    phicrypt_free(ph);
    free(c1);
    free(c2);
}

void kps__relabelled_and_tampered_refused(void **state)
{
    kps_fixture *f = *state;
    phicrypt_t *ph = open_client(f);
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    char named[64], other[64], *c, *path = vault_path(f), *vault, *p;
    size_t len;
    snprintf(named, sizeof named, "%s:ward-a", f->provider);
    snprintf(other, sizeof other, "%s:ward-x", f->provider);
    assert_int_equal(make_key(ph, named, "t"), 0);
    c = encrypt(ph, "5", "t");
    phicrypt_free(ph);
    vault = tu_read_file(path, &len);
    assert_non_null(p = strstr(vault, named));
    memcpy(p, other, strlen(other)); /* same length */
    tu_write_file(path, vault, len, 0600);
    ph = open_client(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_EAUTH);
    assert_true(tu_contains(phicrypt_errmsg(ph), f->provider));
    phicrypt_free(ph);
    memcpy(p, named, strlen(named));
    assert_non_null(p = strstr(vault, "keyMaterial"));
    assert_non_null(p = strstr(p, "base64"));
    p[32] = p[32] == 'A' ? 'B' : 'A';
    tu_write_file(path, vault, len, 0600);
    ph = open_client(f);
    assert_int_equal(phicrypt_decrypt_json(ph, &out, c, 0), PHICRYPT_EAUTH);
    phicrypt_free(ph);
    free(vault);
    free(path);
    free(c);
}

void kps__rewrap_to_local_and_back(void **state)
{
    kps_fixture *f = *state;
    phicrypt_t *ph = open_client(f);
    char named[64], filter[64], *c;
    size_t n = 0;
    snprintf(named, sizeof named, "%s:ward-a", f->provider);
    snprintf(filter, sizeof filter, "{\"keyAltNames\": \"r\"}");
    assert_int_equal(make_key(ph, named, "r"), 0);
    c = encrypt(ph, "\"moved\"", "r");
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, filter, "local", NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(provider_of(ph, "r"), "local");
    /* Under each key's own master key: stays "local". */
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{}", NULL, NULL), 0);
    assert_string_equal(provider_of(ph, "r"), "local");
    phicrypt_free(ph);
    ph = open_client(f);
    expect_plain(ph, c, "\"moved\"");
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, filter, named, NULL), 0);
    assert_string_equal(provider_of(ph, "r"), named);
    assert_int_equal(phicrypt_datakey_rewrap(ph, &n, "{}", NULL, NULL), 0);
    assert_string_equal(provider_of(ph, "r"), named);
    phicrypt_free(ph);
    ph = open_client(f);
    expect_plain(ph, c, "\"moved\"");
    phicrypt_free(ph);
    free(c);
}

typedef struct worker {
    phicrypt_t *ph;
    const char *provider;
    int index, failures;
} worker;

static void *create_keys(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 3; i++) {
        char alt[32];
        snprintf(alt, sizeof alt, "w%d-%d", w->index, i);
        if (make_key(w->ph, w->provider, alt) != 0)
            w->failures++;
    }
    return NULL;
}

void kps__threads_create_keys(void **state)
{
    kps_fixture *f = *state;
    phicrypt_t *ph = open_client(f);
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){ ph, f->provider, i, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, create_keys, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    phicrypt_free(ph);
    ph = open_client(f);
    for (int i = 0; i < 4; i++) {
        char alt[32], *c;
        snprintf(alt, sizeof alt, "w%d-2", i);
        c = encrypt(ph, "\"x\"", alt);
        expect_plain(ph, c, "\"x\"");
        free(c);
    }
    phicrypt_free(ph);
}
