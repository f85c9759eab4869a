/* An example KMS plug-in written only against the public header
 * <phicrypt.h>: data keys wrapped with XChaCha20-Poly1305 (libsodium) under
 * a 32-byte key file. Options: {"key_file": "wrap.key"} (mode 0600).
 *
 * Wrapped form: "XCP1" || nonce (24) || ciphertext+tag. The associated data
 * is the provider name from the master key document, so a key wrapped for
 * "xc:ward-a" does not unwrap as "xc:ward-b".
 *
 * Build out of tree:
 *   cc -shared -fPIC -o phicrypt-kms-xchacha.so xchacha_plugin.c \
 *      $(pkg-config --cflags --libs phicrypt libsodium) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <phicrypt.h>

#define MAGIC "XCP1"
#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

typedef struct xc {
    unsigned char *key; /* sodium_malloc'd, 32 bytes */
} xc;

static void say(char *err, const char *msg)
{
    snprintf(err, PHICRYPT_KMS_ERRMSG_MAX, "%s", msg);
}

/* The string value of "key" in a flat JSON object (no escapes needed for
 * the file names and provider names this plug-in reads). */
static int json_string(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    const char *p, *q;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    if (!(p = strstr(json, pat)))
        return 0;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p++ != '"' || !(q = strchr(p, '"')) || (size_t)(q - p) >= cap)
        return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 1;
}

static int xc_open(void **ctx, const char *options_json, const char *base_dir, char *err)
{
    char name[1024], path[2048];
    struct stat st;
    xc *x;
    int fd;
    ssize_t n;
    if (sodium_init() < 0) {
        say(err, "libsodium failed to initialise");
        return PHICRYPT_EINTERNAL;
    }
    if (!json_string(options_json, "key_file", name, sizeof name)) {
        say(err, "options.key_file is required (a 32-byte file, mode 0600)");
        return PHICRYPT_ECONFIG;
    }
    snprintf(path, sizeof path, "%s%s%s", name[0] != '/' && base_dir ? base_dir : "",
             name[0] != '/' && base_dir ? "/" : "", name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        say(err, "options.key_file: cannot open it");
        return PHICRYPT_ECONFIG;
    }
    if ((st.st_mode & 077) != 0 || st.st_size != 32) {
        close(fd);
        say(err, (st.st_mode & 077) ? "options.key_file: readable by group or others (chmod 600)"
                                     : "options.key_file: must hold exactly 32 bytes");
        return PHICRYPT_ECONFIG;
    }
    x = calloc(1, sizeof *x);
    if (!x || !(x->key = sodium_malloc(32))) {
        free(x);
        close(fd);
        say(err, "out of memory");
        return PHICRYPT_ENOMEM;
    }
    n = read(fd, x->key, 32);
    close(fd);
    if (n != 32) {
        sodium_free(x->key);
        free(x);
        say(err, "options.key_file: short read");
        return PHICRYPT_ECONFIG;
    }
    *ctx = x;
    return 0;
}

static int xc_wrap(void *ctx, const uint8_t *key, size_t key_len, const char *mk, uint8_t *out, size_t cap,
                   size_t *out_len, char *err)
{
    xc *x = ctx;
    char provider[128];
    unsigned long long clen = 0;
    if (!json_string(mk, "provider", provider, sizeof provider)) {
        say(err, "master key without provider");
        return PHICRYPT_EINVAL;
    }
    if (cap < 4 + NONCE + key_len + ABYTES) {
        say(err, "output buffer too small");
        return PHICRYPT_EBUFSIZE;
    }
    memcpy(out, MAGIC, 4);
    randombytes_buf(out + 4, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 4 + NONCE, &clen, key, key_len, (const unsigned char *)provider,
                                               strlen(provider), NULL, out + 4, x->key);
    *out_len = 4 + NONCE + (size_t)clen;
    return 0;
}

static int xc_unwrap(void *ctx, const uint8_t *wrapped, size_t len, const char *mk, uint8_t *key, size_t key_len,
                     char *err)
{
    xc *x = ctx;
    char provider[128];
    unsigned long long mlen = 0;
    if (!json_string(mk, "provider", provider, sizeof provider)) {
        say(err, "master key without provider");
        return PHICRYPT_EINVAL;
    }
    if (len != 4 + NONCE + key_len + ABYTES || memcmp(wrapped, MAGIC, 4) != 0) {
        say(err, "not a key this plug-in wrapped");
        return PHICRYPT_EAUTH;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, &mlen, NULL, wrapped + 4 + NONCE, len - 4 - NONCE,
                                                   (const unsigned char *)provider, strlen(provider), wrapped + 4,
                                                   x->key) != 0 ||
        mlen != key_len) {
        sodium_memzero(key, key_len);
        say(err, "the wrapped key does not authenticate (other key file or provider name, or tampered)");
        return PHICRYPT_EAUTH;
    }
    return 0;
}

static int xc_describe(void *ctx, char *out, size_t cap)
{
    (void)ctx;
    snprintf(out, cap, "XChaCha20-Poly1305 under a key file (libsodium %s)", sodium_version_string());
    return 0;
}

static void xc_close(void *ctx)
{
    xc *x = ctx;
    if (!x)
        return;
    sodium_free(x->key);
    free(x);
}

static const phicrypt_kms_plugin table = { PHICRYPT_KMS_PLUGIN_VERSION, xc_open, xc_wrap, xc_unwrap, xc_describe,
                                           xc_close };

__attribute__((visibility("default"))) const phicrypt_kms_plugin *phicrypt_kms_plugin_v1(void);

const phicrypt_kms_plugin *phicrypt_kms_plugin_v1(void)
{
    return &table;
}
