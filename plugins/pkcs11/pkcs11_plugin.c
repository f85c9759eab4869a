/* libphicrypt-pkcs11: the PKCS#11 KMS plug-in (an HSM, or SoftHSM2 in the
 * tests), written against the public header <phicrypt.h> only.
 *
 * Data keys are encrypted with CKM_AES_GCM by an AES key that lives in the
 * token and is sensitive and not extractable (a key that could leave the
 * token is refused). Wrapped form: "P11G" || IV (12, from the token's RNG)
 * || ciphertext || tag (16); the associated data is the provider name of
 * the master key document ("hsm:ward-a"), so a key relabelled to another
 * provider does not unwrap.
 *
 * Options (kms_plugins.<name>.options):
 *   "module":      the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so)
 *   "token_label": the token to use
 *   "key_label":   the AES key (default; a master key document may name
 *                  another with {"key_label": "..."})
 *   "pin_file":    a file holding the user PIN (mode 0600), or
 *   "pin_env":     the name of an environment variable holding it
 *   "sessions":    sessions in the pool shared by threads (default 4)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include <phicrypt.h>

#define MAGIC "P11G"
#define IV_LEN 12
#define TAG_LEN 16
#define MAX_SESSIONS 32

typedef struct p11 {
    void *dl;
    CK_FUNCTION_LIST *f;
    int finalize;                   /* we initialised the library */
    CK_SLOT_ID slot;
    char key_label[128];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    CK_SESSION_HANDLE sessions[MAX_SESSIONS];
    int busy[MAX_SESSIONS];
    int n;
} p11;

static void say(char *err, unsigned long rv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One line into the caller's error buffer, with the PKCS#11 code when any. */
static void say(char *err, unsigned long rv, const char *fmt, ...)
{
    char msg[PHICRYPT_KMS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rv)
        snprintf(err, PHICRYPT_KMS_ERRMSG_MAX, "%.200s (PKCS#11 0x%lx)", msg, rv);
    else
        snprintf(err, PHICRYPT_KMS_ERRMSG_MAX, "%s", msg);
}

/* A phicrypt code for a PKCS#11 return value. */
static int code_of(CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
    case CKR_USER_NOT_LOGGED_IN:
        return PHICRYPT_EKMSAUTH;
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
        return PHICRYPT_EAUTH;
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_MEMORY:
        return PHICRYPT_ENOMEM;
    default:
        return PHICRYPT_EKMS;
    }
}

static const char *what_of(CK_RV rv)
{
    switch (rv) {
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_ERROR:
        return "the token is gone (removed, or the HSM closed the session)";
    case CKR_PIN_INCORRECT:
        return "the token refused the PIN";
    case CKR_PIN_LOCKED:
        return "the token's user PIN is locked";
    default:
        return NULL;
    }
}

/* The string value of "key" in a flat JSON object. */
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

static long json_int(const char *json, const char *key, long dflt)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    if (!(p = strstr(json, pat)))
        return dflt;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    return strtol(p, NULL, 10);
}

/* The PIN from pin_file or pin_env; never echoed. */
static int read_pin(const char *opts, const char *base_dir, char *pin, size_t cap, char *err)
{
    char name[1024], path[2048];
    struct stat st;
    ssize_t n;
    int fd;
    if (json_string(opts, "pin_env", name, sizeof name)) {
        const char *v = getenv(name);
        if (!v || !*v || strlen(v) >= cap) {
            say(err, 0, "options.pin_env: the environment variable %s is not set (or too long)", name);
            return PHICRYPT_ECONFIG;
        }
        strcpy(pin, v);
        return 0;
    }
    if (!json_string(opts, "pin_file", name, sizeof name)) {
        say(err, 0, "options: pin_file or pin_env is required");
        return PHICRYPT_ECONFIG;
    }
    snprintf(path, sizeof path, "%s%s%s", name[0] != '/' && base_dir ? base_dir : "",
             name[0] != '/' && base_dir ? "/" : "", name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        say(err, 0, "options.pin_file: cannot open %s", name);
        return PHICRYPT_ECONFIG;
    }
    if (st.st_mode & 077) {
        close(fd);
        say(err, 0, "options.pin_file: %s is readable by group or others (chmod 600)", name);
        return PHICRYPT_ECONFIG;
    }
    n = read(fd, pin, cap - 1);
    close(fd);
    if (n <= 0) {
        say(err, 0, "options.pin_file: %s is empty", name);
        return PHICRYPT_ECONFIG;
    }
    pin[n] = 0;
    while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
        pin[--n] = 0;
    return 0;
}

static int find_slot(p11 *p, const char *label, char *err)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    CK_RV rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        say(err, rv, "C_GetSlotList failed");
        return code_of(rv);
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        char l[33];
        size_t len = 32;
        if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        memcpy(l, ti.label, 32);
        while (len > 0 && l[len - 1] == ' ')
            len--;
        l[len] = 0;
        if (strcmp(l, label) == 0) {
            p->slot = slots[i];
            return 0;
        }
    }
    say(err, 0, "no token labelled '%s' is present", label);
    return PHICRYPT_ECONFIG;
}

static CK_SESSION_HANDLE take(p11 *p, int *idx)
{
    pthread_mutex_lock(&p->lock);
    for (;;) {
        for (int i = 0; i < p->n; i++)
            if (!p->busy[i]) {
                p->busy[i] = 1;
                *idx = i;
                pthread_mutex_unlock(&p->lock);
                return p->sessions[i];
            }
        pthread_cond_wait(&p->cond, &p->lock);
    }
}

static void give(p11 *p, int idx)
{
    pthread_mutex_lock(&p->lock);
    p->busy[idx] = 0;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* The AES key labelled `label`, refused unless sensitive and never extractable. */
static int find_key(p11 *p, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *key, char *err)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof cls },
                            { CKA_KEY_TYPE, &kt, sizeof kt },
                            { CKA_LABEL, (void *)label, strlen(label) } };
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE, never = CK_FALSE;
    CK_ATTRIBUTE a[] = { { CKA_EXTRACTABLE, &extractable, sizeof extractable },
                         { CKA_SENSITIVE, &sensitive, sizeof sensitive },
                         { CKA_NEVER_EXTRACTABLE, &never, sizeof never } };
    CK_RV rv = p->f->C_FindObjectsInit(s, tmpl, 3);
    if (rv == CKR_OK) {
        rv = p->f->C_FindObjects(s, found, 2, &n);
        p->f->C_FindObjectsFinal(s);
    }
    if (rv != CKR_OK) {
        say(err, rv, "%s", what_of(rv) ? what_of(rv) : "C_FindObjects failed");
        return code_of(rv);
    }
    if (n != 1) {
        say(err, 0, n == 0 ? "no AES key labelled '%s' in the token" : "more than one AES key labelled '%s'", label);
        return PHICRYPT_ECONFIG;
    }
    if ((rv = p->f->C_GetAttributeValue(s, found[0], a, 3)) != CKR_OK) {
        say(err, rv, "C_GetAttributeValue failed");
        return code_of(rv);
    }
    if (extractable || !sensitive || !never) {
        say(err, 0, "the key '%s' can leave the token (extractable, not sensitive, or once extractable): refused; "
                 "create it with CKA_EXTRACTABLE false and CKA_SENSITIVE true", label);
        return PHICRYPT_ECONFIG;
    }
    *key = found[0];
    return 0;
}

static void p11_close(void *ctx)
{
    p11 *p = ctx;
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        p->f->C_CloseSession(p->sessions[i]);
    if (p->finalize)
        p->f->C_Finalize(NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    /* The module stays loaded: PKCS#11 libraries may keep atexit handlers. */
    free(p);
}

static int p11_open(void **ctx, const char *opts, const char *base_dir, char *err)
{
    char module[1024], token[64], pin[256];
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;
    void *sym;
    long n;
    int rc;
    p11 *p;

    if (!json_string(opts, "module", module, sizeof module) || !json_string(opts, "token_label", token, sizeof token)) {
        say(err, 0, "options: module (the PKCS#11 library) and token_label are required");
        return PHICRYPT_ECONFIG;
    }
    n = json_int(opts, "sessions", 4);
    if (n < 1 || n > MAX_SESSIONS) {
        say(err, 0, "options.sessions: must be 1 to 32");
        return PHICRYPT_ECONFIG;
    }
    if (!(p = calloc(1, sizeof *p))) {
        say(err, 0, "out of memory");
        return PHICRYPT_ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (!json_string(opts, "key_label", p->key_label, sizeof p->key_label))
        snprintf(p->key_label, sizeof p->key_label, "phicrypt-master");
    if (!(p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL))) {
        say(err, 0, "options.module: cannot load %s", module);
        free(p);
        return PHICRYPT_ECONFIG;
    }
    sym = dlsym(p->dl, "C_GetFunctionList");
    memcpy(&get, &sym, sizeof get);
    if (!get || get(&p->f) != CKR_OK || !p->f) {
        say(err, 0, "options.module: %s is not a PKCS#11 library", module);
        dlclose(p->dl);
        free(p);
        return PHICRYPT_ECONFIG;
    }
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = p->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        say(err, rv, "C_Initialize failed");
        free(p);
        return code_of(rv);
    }
    p->finalize = rv == CKR_OK;
    if ((rc = find_slot(p, token, err)) != 0) {
        p11_close(p);
        return rc;
    }
    for (; p->n < n; p->n++) {
        if ((rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, &p->sessions[p->n])) != CKR_OK) {
            say(err, rv, "C_OpenSession failed");
            p11_close(p);
            return code_of(rv);
        }
    }
    if ((rc = read_pin(opts, base_dir, pin, sizeof pin, err)) != 0) {
        p11_close(p);
        return rc;
    }
    /* Login is per token: one session logs in all of them. */
    rv = p->f->C_Login(p->sessions[0], CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
    explicit_bzero(pin, sizeof pin);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        say(err, rv, "%s", what_of(rv) ? what_of(rv) : "C_Login failed");
        p11_close(p);
        return code_of(rv);
    }
    {
        CK_OBJECT_HANDLE k;
        if ((rc = find_key(p, p->sessions[0], p->key_label, &k, err)) != 0) {
            p11_close(p);
            return rc;
        }
    }
    *ctx = p;
    return 0;
}

/* GCM over `in` with the key the master key document names. */
static int gcm(p11 *p, int enc, const char *mk, const uint8_t *iv_in, const uint8_t *in, size_t in_len,
               uint8_t *out, size_t cap, size_t *out_len, uint8_t iv_out[IV_LEN], char *err)
{
    char label[128], provider[128];
    CK_GCM_PARAMS gp;
    CK_MECHANISM mech = { CKM_AES_GCM, &gp, sizeof gp };
    CK_OBJECT_HANDLE key;
    CK_ULONG olen = cap;
    CK_SESSION_HANDLE s;
    CK_RV rv;
    int idx, rc;

    if (!json_string(mk, "provider", provider, sizeof provider)) {
        say(err, 0, "master key without provider");
        return PHICRYPT_EINVAL;
    }
    if (!json_string(mk, "key_label", label, sizeof label))
        snprintf(label, sizeof label, "%s", p->key_label);
    s = take(p, &idx);
    if ((rc = find_key(p, s, label, &key, err)) != 0) {
        give(p, idx);
        return rc;
    }
    if (enc && (rv = p->f->C_GenerateRandom(s, iv_out, IV_LEN)) != CKR_OK) {
        give(p, idx);
        say(err, rv, "%s", what_of(rv) ? what_of(rv) : "C_GenerateRandom failed");
        return code_of(rv);
    }
    memset(&gp, 0, sizeof gp);
    gp.pIv = enc ? iv_out : (CK_BYTE *)iv_in;
    gp.ulIvLen = IV_LEN;
    gp.ulIvBits = IV_LEN * 8;
    gp.pAAD = (CK_BYTE *)provider;
    gp.ulAADLen = strlen(provider);
    gp.ulTagBits = TAG_LEN * 8;
    rv = enc ? p->f->C_EncryptInit(s, &mech, key) : p->f->C_DecryptInit(s, &mech, key);
    if (rv == CKR_OK)
        rv = enc ? p->f->C_Encrypt(s, (CK_BYTE *)in, in_len, out, &olen)
                 : p->f->C_Decrypt(s, (CK_BYTE *)in, in_len, out, &olen);
    give(p, idx);
    if (rv != CKR_OK) {
        explicit_bzero(out, cap);
        if (!enc && code_of(rv) != PHICRYPT_EKMS)
            say(err, rv, "the wrapped key does not authenticate (another token key or provider name, or tampered)");
        else
            say(err, rv, "%s", what_of(rv) ? what_of(rv) : enc ? "C_Encrypt failed" : "C_Decrypt failed");
        /* SoftHSM2 reports a failed GCM tag as a general error. */
        return !enc && rv == CKR_GENERAL_ERROR ? PHICRYPT_EAUTH : code_of(rv);
    }
    *out_len = olen;
    return 0;
}

static int p11_wrap(void *ctx, const uint8_t *key, size_t key_len, const char *mk, uint8_t *out, size_t cap,
                    size_t *out_len, char *err)
{
    size_t n = 0;
    int rc;
    if (cap < 4 + IV_LEN + key_len + TAG_LEN) {
        say(err, 0, "output buffer too small");
        return PHICRYPT_EBUFSIZE;
    }
    memcpy(out, MAGIC, 4);
    if ((rc = gcm(ctx, 1, mk, NULL, key, key_len, out + 4 + IV_LEN, cap - 4 - IV_LEN, &n, out + 4, err)) != 0)
        return rc;
    *out_len = 4 + IV_LEN + n;
    return 0;
}

static int p11_unwrap(void *ctx, const uint8_t *w, size_t len, const char *mk, uint8_t *key, size_t key_len,
                      char *err)
{
    uint8_t buf[512];
    size_t n = 0;
    int rc;
    if (len != 4 + IV_LEN + key_len + TAG_LEN || memcmp(w, MAGIC, 4) != 0 || key_len > sizeof buf) {
        say(err, 0, "not a key this plug-in wrapped");
        return PHICRYPT_EAUTH;
    }
    rc = gcm(ctx, 0, mk, w + 4, w + 4 + IV_LEN, len - 4 - IV_LEN, buf, sizeof buf, &n, NULL, err);
    if (rc == 0 && n != key_len) {
        say(err, 0, "the token returned a key of the wrong size");
        rc = PHICRYPT_EAUTH;
    }
    if (rc == 0)
        memcpy(key, buf, key_len);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

static int p11_describe(void *ctx, char *out, size_t cap)
{
    p11 *p = ctx;
    CK_INFO info;
    if (p->f->C_GetInfo(&info) != CKR_OK)
        return PHICRYPT_EKMS;
    snprintf(out, cap, "PKCS#11 %.32s, AES-GCM under '%s'", (const char *)info.manufacturerID, p->key_label);
    return 0;
}

static const phicrypt_kms_plugin table = { PHICRYPT_KMS_PLUGIN_VERSION, p11_open, p11_wrap, p11_unwrap,
                                           p11_describe, p11_close };

__attribute__((visibility("default"))) const phicrypt_kms_plugin *phicrypt_kms_plugin_v1(void);

const phicrypt_kms_plugin *phicrypt_kms_plugin_v1(void)
{
    return &table;
}
