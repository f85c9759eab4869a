#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bson/bson.h>

#include "test_util.h"

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *t;
    if (!base || !*base)
        base = "/tmp";
    if (asprintf(&t, "%s/phicrypt-test-XXXXXX", base) < 0)
        fail_msg("asprintf");
    if (!mkdtemp(t))
        fail_msg("mkdtemp failed");
    return t;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tu_rm_rf(const char *dir)
{
    if (dir)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        fail_msg("cannot create %s", path);
    if (len && write(fd, data, len) != (ssize_t)len)
        fail_msg("cannot write %s", path);
    fchmod(fd, mode);
    close(fd);
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

char *tu_keyset(const char *dir, const uint8_t *master)
{
    char path[4096], *cfg;
    uint8_t key[96];
    if (master) {
        memcpy(key, master, 96);
    } else {
        FILE *r = fopen("/dev/urandom", "rb");
        if (!r || fread(key, 1, 96, r) != 96)
            fail_msg("urandom");
        fclose(r);
    }
    snprintf(path, sizeof path, "%s/master.key", dir);
    tu_write_file(path, key, 96, 0600);
    memset(key, 0, sizeof key);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", dir);
    if (access(path, F_OK) != 0)
        tu_write_file(path, "", 0, 0600);
    if (asprintf(&cfg,
                 "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                 " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                 dir, dir) < 0)
        fail_msg("asprintf");
    return cfg;
}

phicrypt_t *tu_client(const char *dir)
{
    char path[4096];
    char *cfg;
    phicrypt_t *ph = NULL;
    int rc;
    snprintf(path, sizeof path, "%s/master.key", dir);
    if (access(path, F_OK) != 0) {
        cfg = tu_keyset(dir, NULL);
    } else {
        if (asprintf(&cfg,
                     "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}},"
                     " \"key_vault\": \"file:%s/keyvault.jsonl\"}",
                     dir, dir) < 0)
            fail_msg("asprintf");
    }
    rc = phicrypt_new(&ph, cfg);
    free(cfg);
    if (rc != 0)
        fail_msg("phicrypt_new: %s", phicrypt_errmsg(NULL));
    return ph;
}

uint8_t *tu_value_doc(const char *json_value, size_t *len)
{
    char *text;
    bson_t b;
    bson_error_t err;
    uint8_t *out;
    if (asprintf(&text, "{\"v\": %s}", json_value) < 0)
        fail_msg("asprintf");
    if (!bson_init_from_json(&b, text, -1, &err))
        fail_msg("test value is not valid Extended JSON: %s", err.message);
    free(text);
    out = malloc(b.len);
    memcpy(out, bson_get_data(&b), b.len);
    *len = b.len;
    bson_destroy(&b);
    return out;
}

int tu_contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}
