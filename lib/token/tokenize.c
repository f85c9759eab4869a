/* phicrypt_tokenize / detokenize / pseudonymize / pseudonym_verify. */
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "token/keyring_private.h"

#define MAX_VALUE (1u << 20)

static int check_opts(phicrypt_t *ph, const phicrypt_token_opts *o)
{
    if (!o)
        return 0;
    if (o->version != PHICRYPT_TOKEN_OPTS_VERSION)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_token_opts: version %u unknown (expected %u)", o->version,
                         PHICRYPT_TOKEN_OPTS_VERSION);
    return 0;
}

static int is_siv(const phicrypt_token_opts *o)
{
    return !o || !o->format || strcmp(o->format, "siv") == 0;
}

static int out_text(phicrypt_t *ph, phicrypt_buf *out, char *text, size_t len)
{
    phi_buf_give(out, text, len);
    (void)ph;
    return 0;
}

/* A key to use for one call: the shared cached key (locked until
 * kref_put), or a caller's per-thread copy (phi_kr_local). */
typedef struct kref {
    phi_kr_key *shared;
    phi_ff1_key *ff1;
    phi_siv_key *siv;
    const phi_hmac_key *hmac;
    uint32_t version;
    int retired;
} kref;

/* Per-thread copies of keyring keys: a de-identification worker resolves
 * each (key, version, context) once per batch and then makes no lookup,
 * lock or system call per value. Rule strings are the same pointers value
 * after value, so a pointer compare usually finds the entry. */
#define LOCAL_MAX 64
typedef struct lkey {
    const char *name_ptr, *ctx_ptr;
    char *name, *ctx;
    uint32_t want;
    int alg;
    uint32_t version;
    int retired;
    phi_ff1_key *ff1;
    phi_siv_key *siv;
    phi_hmac_key *hmac;
} lkey;

struct phi_kr_local {
    lkey e[LOCAL_MAX];
    size_t n;
};

static void lkey_clear(lkey *e)
{
    phi_ff1_key_free(e->ff1);
    phi_siv_key_free(e->siv);
    phi_hmac_key_free(e->hmac);
    phi_free(e->name);
    phi_free(e->ctx);
    memset(e, 0, sizeof *e);
}

void phi_kr_local_free(phi_kr_local *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        lkey_clear(&l->e[i]);
    phi_free(l);
}

static int same(const char *p, const char *q, const char *qcopy)
{
    return p == q || (qcopy && strcmp(p, qcopy) == 0);
}

static int local_get(phicrypt_t *ph, phi_kr_local **lp, const char *name, uint32_t version, int alg,
                     const char *ctx, kref *r)
{
    phi_kr_local *l = *lp;
    phi_kr_key *k;
    lkey *e;
    int rc;
    if (l)
        for (size_t i = 0; i < l->n; i++) {
            e = &l->e[i];
            if (e->alg == alg && e->want == version && same(name, e->name_ptr, e->name) &&
                (alg != PHICRYPT_KEYRING_HMAC || same(ctx, e->ctx_ptr, e->ctx)))
                goto found;
        }
    if (!l && !(l = *lp = phi_calloc(1, sizeof *l)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    if (l->n == LOCAL_MAX) { /* a policy with this many keys is unusual: start over */
        for (size_t i = 0; i < l->n; i++)
            lkey_clear(&l->e[i]);
        l->n = 0;
    }
    if ((rc = phi_keyring_get(ph, name, version, alg, &k)) != 0)
        return rc;
    e = &l->e[l->n];
    e->name_ptr = name;
    e->ctx_ptr = ctx;
    e->want = version;
    e->alg = alg;
    e->version = k->version;
    e->retired = k->retired;
    e->name = phi_strdup(name);
    e->ctx = alg == PHICRYPT_KEYRING_HMAC ? phi_strdup(ctx) : NULL;
    if (!e->name || (alg == PHICRYPT_KEYRING_HMAC && !e->ctx))
        rc = PHICRYPT_ENOMEM;
    else if (alg == PHICRYPT_KEYRING_FF1) {
        /* with its derived SIV key, for values too short for FF1 */
        rc = phi_ff1_key_dup(&e->ff1, k->ff1);
        if (rc == 0 && k->siv)
            rc = phi_siv_key_dup(&e->siv, k->siv);
    }
    else if (alg == PHICRYPT_KEYRING_SIV)
        rc = phi_siv_key_dup(&e->siv, k->siv);
    else
        rc = phi_pseudo_key_new(&e->hmac, k->hmac_root, 32, ctx, strlen(ctx));
    phi_keyring_put(k);
    if (rc != 0) {
        lkey_clear(e);
        return phi_error(ph, rc, "keyring key '%s': cannot copy the key for this thread", name);
    }
    l->n++;
found:
    r->ff1 = e->ff1;
    r->siv = e->siv;
    r->hmac = e->hmac;
    r->version = e->version;
    r->retired = e->retired;
    return 0;
}

/* lp NULL: the shared cache (public calls); else the caller's copies. */
static int kref_get(phicrypt_t *ph, phi_kr_local **lp, const char *name, uint32_t version, int alg, const char *ctx,
                    kref *r)
{
    phi_kr_key *k;
    int rc;
    memset(r, 0, sizeof *r);
    if (lp)
        return local_get(ph, lp, name, version, alg, ctx, r);
    if ((rc = phi_keyring_get(ph, name, version, alg, &k)) != 0)
        return rc;
    r->shared = k;
    r->ff1 = k->ff1;
    r->siv = k->siv;
    r->version = k->version;
    r->retired = k->retired;
    if (alg == PHICRYPT_KEYRING_HMAC && (rc = phi_kr_pseudo_subkey(ph, k, ctx, &r->hmac)) != 0) {
        phi_keyring_put(k);
        return rc;
    }
    return 0;
}

static void kref_put(kref *r)
{
    phi_keyring_put(r->shared);
    r->shared = NULL;
}

/* A tk1 token of value under k->siv (the caller holds k: for an FF1 key,
 * its derived SIV key). */
static int siv_seal(phicrypt_t *ph, phicrypt_buf *out, const kref *k, const char *ctx, const char *value, size_t len)
{
    uint8_t *raw;
    char *text;
    size_t tl;
    int rc;
    if (!k->siv)
        return phi_error(ph, PHICRYPT_EINVAL, "tokenize: the key has no SIV key");
    raw = phi_malloc(PHI_SIV_TAG_LEN + len);
    tl = phi_tk_text_len(k->version, PHI_SIV_TAG_LEN + len);
    text = phi_malloc(tl + 1);
    if (!raw || !text) {
        phi_free(raw);
        phi_free(text);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = phi_siv_encrypt(k->siv, (const uint8_t *)ctx, strlen(ctx), (const uint8_t *)value, len, raw);
    if (rc == 0)
        rc = phi_tk_text_encode(text, tl + 1, k->version, raw, PHI_SIV_TAG_LEN + len);
    phi_free(raw);
    if (rc != 0) {
        phi_free(text);
        return phi_error_adopt(NULL, ph, rc, "tokenize");
    }
    return out_text(ph, out, text, tl);
}

static int siv_tokenize(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *name, const char *value,
                        size_t len, const phicrypt_token_opts *o)
{
    const char *ctx = (o && o->context) ? o->context : "";
    kref k;
    int rc;
    if ((rc = kref_get(ph, lp, name, o ? o->key_version : 0, PHICRYPT_KEYRING_SIV, NULL, &k)) != 0)
        return rc;
    if (k.retired && (!o || o->key_version == 0)) {
        kref_put(&k);
        return phi_error(ph, PHICRYPT_EINVAL, "keyring key '%s': the primary version is retired", name);
    }
    rc = siv_seal(ph, out, &k, ctx, value, len);
    kref_put(&k);
    return rc;
}

static int siv_detokenize(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *name, const char *token,
                          size_t len, const phicrypt_token_opts *o)
{
    const char *ctx = (o && o->context) ? o->context : "";
    uint32_t version = 0;
    size_t raw_len = 0;
    uint8_t *raw = phi_malloc(len + 1);
    char *plain;
    kref k;
    int rc;
    if (!raw)
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    if (phi_tk_text_decode(token, len, &version, raw, len + 1, &raw_len) != 0 || raw_len < PHI_SIV_TAG_LEN) {
        phi_free(raw);
        return phi_error(ph, PHICRYPT_EBADDATA, "detokenize: not a tk1 token");
    }
    if ((rc = kref_get(ph, lp, name, version, PHICRYPT_KEYRING_SIV, NULL, &k)) != 0) {
        phi_free(raw);
        return rc;
    }
    plain = phi_malloc(raw_len - PHI_SIV_TAG_LEN + 1);
    if (!plain) {
        kref_put(&k);
        phi_free(raw);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = phi_siv_decrypt(k.siv, (const uint8_t *)ctx, strlen(ctx), raw, raw_len, (uint8_t *)plain);
    kref_put(&k);
    phi_free(raw);
    if (rc != 0) {
        phi_wipe_free(plain, raw_len - PHI_SIV_TAG_LEN + 1);
        if (rc == PHICRYPT_EAUTH)
            return phi_error(ph, rc, "detokenize: the token does not authenticate under key '%s' version %u and "
                             "this context (altered, or made with another key or context)", name, version);
        return phi_error_adopt(NULL, ph, rc, "detokenize");
    }
    plain[raw_len - PHI_SIV_TAG_LEN] = '\0';
    return out_text(ph, out, plain, raw_len - PHI_SIV_TAG_LEN);
}

/* Opens the tk1 token an FF1 key gave a too-short value; 1 when it is
 * one (*rc: the outcome), 0 when it is not (then it is an FF1 token). */
static int ff1_open_short(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *name, const char *token,
                          size_t len, const char *ctx, int *rc)
{
    uint32_t version = 0;
    size_t raw_len = 0;
    kref k;
    if (len < 4 || memcmp(token, "tk1.", 4) != 0)
        return 0;
    uint8_t *raw = phi_malloc(len + 1);
    if (!raw) {
        *rc = phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        return 1;
    }
    if (phi_tk_text_decode(token, len, &version, raw, len + 1, &raw_len) != 0 || raw_len < PHI_SIV_TAG_LEN ||
        kref_get(ph, lp, name, version, PHICRYPT_KEYRING_FF1, NULL, &k) != 0) {
        phi_free(raw);
        return 0;
    }
    char *plain = phi_malloc(raw_len - PHI_SIV_TAG_LEN + 1);
    int r = plain && k.siv ? phi_siv_decrypt(k.siv, (const uint8_t *)ctx, strlen(ctx), raw, raw_len, (uint8_t *)plain)
                           : plain ? PHICRYPT_EAUTH : PHICRYPT_ENOMEM;
    kref_put(&k);
    phi_free(raw);
    if (r != 0) {
        if (plain)
            phi_wipe_free(plain, raw_len - PHI_SIV_TAG_LEN + 1);
        if (r == PHICRYPT_ENOMEM) {
            *rc = phi_error(ph, r, "out of memory");
            return 1;
        }
        return 0; /* an FF1 token that happens to read tk1. (MRN format) */
    }
    plain[raw_len - PHI_SIV_TAG_LEN] = '\0';
    *rc = out_text(ph, out, plain, raw_len - PHI_SIV_TAG_LEN);
    return 1;
}

static int ff1_run(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *name, const char *in,
                   size_t len, const phicrypt_token_opts *o, int decrypt)
{
    phi_fpe_format f;
    kref k;
    char *text;
    const char *ctx = o->context ? o->context : "";
    int rc, too_short = 0;
    if (phi_fpe_format_from_name(o->format, &f) != 0)
        return phi_error(ph, PHICRYPT_EINVAL,
                         "token format '%s' unknown (siv, digits, ssn, phone, mrn, alnum, credit_card, email, email_full, custom)",
                         o->format);
    if (f == PHI_FPE_CUSTOM && !o->alphabet)
        return phi_error(ph, PHICRYPT_EINVAL, "token format custom needs an alphabet");
    if (decrypt && ff1_open_short(ph, lp, out, name, in, len, ctx, &rc))
        return rc;
    if ((rc = kref_get(ph, lp, name, o->key_version, PHICRYPT_KEYRING_FF1, NULL, &k)) != 0)
        return rc;
    if (!decrypt && k.retired && o->key_version == 0) {
        kref_put(&k);
        return phi_error(ph, PHICRYPT_EINVAL, "keyring key '%s': the primary version is retired", name);
    }
    text = phi_malloc(len + 1);
    if (!text) {
        kref_put(&k);
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    }
    rc = phi_fpe_run(k.ff1, !decrypt, f, f == PHI_FPE_CUSTOM ? o->alphabet : NULL, (const uint8_t *)ctx,
                     strlen(ctx), in, len, text, len + 1, &too_short);
    if (rc != 0 && too_short && !decrypt) {
        /* Too short for a format-preserving token: an opaque one instead
         * (reversible by detokenize) rather than a failed run. */
        phi_wipe_free(text, len + 1);
        rc = siv_seal(ph, out, &k, ctx, in, len);
        kref_put(&k);
        return rc;
    }
    kref_put(&k);
    if (rc != 0) {
        phi_wipe_free(text, len + 1);
        return phi_error_adopt(NULL, ph, rc, decrypt ? "detokenize" : "tokenize");
    }
    return out_text(ph, out, text, len);
}

static int common_checks(phicrypt_t *ph, phicrypt_buf *out, const char *name, const char *value, size_t len,
                         const phicrypt_token_opts *o)
{
    int rc;
    if (!ph || !out || !name || (!value && len))
        return phi_error(ph, PHICRYPT_EINVAL, "tokenize: NULL argument");
    if ((rc = check_opts(ph, o)) != 0)
        return rc;
    if (len > MAX_VALUE)
        return phi_error(ph, PHICRYPT_EINVAL, "tokenize: values over %u bytes are not tokenized", MAX_VALUE);
    if (memchr(value, '\0', len))
        return phi_error(ph, PHICRYPT_EBADDATA, "tokenize: the value contains a NUL byte");
    return 0;
}

int phi_kr_tokenize(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *key_name, const char *value,
                    size_t value_len, const phicrypt_token_opts *opts, int decrypt)
{
    int rc = common_checks(ph, out, key_name, value ? value : "", value_len, opts);
    if (rc != 0)
        return rc;
    if (is_siv(opts))
        return (decrypt ? siv_detokenize : siv_tokenize)(ph, lp, out, key_name, value ? value : "", value_len, opts);
    return ff1_run(ph, lp, out, key_name, value, value_len, opts, decrypt);
}

int phicrypt_tokenize(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *value, size_t value_len,
                      const phicrypt_token_opts *opts)
{
    return phi_kr_tokenize(ph, NULL, out, key_name, value, value_len, opts, 0);
}

/* Ungated: the public phicrypt_detokenize is in lib/access/plain.c. */
int phi_detokenize_raw(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *token, size_t token_len,
                      const phicrypt_token_opts *opts)
{
    return phi_kr_tokenize(ph, NULL, out, key_name, token, token_len, opts, 1);
}

static int pseudo_mac(phicrypt_t *ph, phi_kr_local **lp, const char *name, const char *value, size_t len,
                      const phicrypt_pseudonym_opts *o, uint32_t version, uint8_t *mac, size_t mac_len,
                      uint32_t *used_version)
{
    const char *ctx = o->context ? o->context : "";
    kref k;
    int rc;
    if ((rc = kref_get(ph, lp, name, version, PHICRYPT_KEYRING_HMAC, ctx, &k)) != 0)
        return rc;
    if ((rc = phi_pseudonym(k.hmac, o->normalize, value, len, mac, mac_len)) != 0)
        phi_error_adopt(NULL, ph, rc, "pseudonymize");
    *used_version = k.version;
    kref_put(&k);
    return rc;
}

static int pseudo_checks(phicrypt_t *ph, const char *name, const char *value, size_t len,
                         const phicrypt_pseudonym_opts **o, const phicrypt_pseudonym_opts *def, size_t *mac_len)
{
    if (!ph || !name || (!value && len))
        return phi_error(ph, PHICRYPT_EINVAL, "pseudonymize: NULL argument");
    if (!*o)
        *o = def;
    if ((*o)->version != PHICRYPT_PSEUDONYM_OPTS_VERSION)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_pseudonym_opts: version %u unknown", (*o)->version);
    *mac_len = (*o)->length ? (*o)->length : 16;
    if (*mac_len < PHI_PSEUDO_MIN_LEN || *mac_len > PHI_PSEUDO_MAX_LEN)
        return phi_error(ph, PHICRYPT_EINVAL, "pseudonym length must be 16 to 32 bytes (128 to 256 bits)");
    if ((*o)->normalize & ~7u)
        return phi_error(ph, PHICRYPT_EINVAL, "pseudonym: unknown normalisation flags");
    if (len > MAX_VALUE)
        return phi_error(ph, PHICRYPT_EINVAL, "pseudonymize: values over %u bytes are not accepted", MAX_VALUE);
    return 0;
}

int phicrypt_pseudonymize(phicrypt_t *ph, phicrypt_buf *out, const char *key_name, const char *value,
                          size_t value_len, const phicrypt_pseudonym_opts *opts)
{
    return phi_kr_pseudonymize(ph, NULL, out, key_name, value, value_len, opts);
}

int phi_kr_pseudonymize_text(phicrypt_t *ph, phi_kr_local **lp, char *out, size_t out_cap, size_t *out_len,
                             const char *key_name, const char *value, size_t value_len,
                             const phicrypt_pseudonym_opts *opts)
{
    phicrypt_pseudonym_opts def = PHICRYPT_PSEUDONYM_OPTS_INIT;
    uint8_t mac[PHI_PSEUDO_MAX_LEN];
    size_t mac_len, tl;
    uint32_t used = 0;
    int rc;
    if (!out || !out_len)
        return phi_error(ph, PHICRYPT_EINVAL, "pseudonymize: NULL argument");
    if ((rc = pseudo_checks(ph, key_name, value, value_len, &opts, &def, &mac_len)) != 0)
        return rc;
    if ((rc = pseudo_mac(ph, lp, key_name, value ? value : "", value_len, opts, opts->key_version, mac, mac_len,
                         &used)) != 0)
        return rc;
    tl = phi_ps_text_len(used, mac_len);
    if (tl + 1 > out_cap) {
        phi_wipe(mac, sizeof mac);
        return phi_error(ph, PHICRYPT_EBUFSIZE, "pseudonymize: %zu bytes needed for the text", tl + 1);
    }
    rc = phi_ps_text_encode(out, out_cap, used, mac, mac_len);
    phi_wipe(mac, sizeof mac);
    if (rc != 0)
        return phi_error(ph, rc, "pseudonymize: encoding failed");
    *out_len = tl;
    return 0;
}

int phi_kr_pseudonymize(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *key_name, const char *value,
                        size_t value_len, const phicrypt_pseudonym_opts *opts)
{
    char buf[PHI_KR_PSEUDONYM_TEXT_MAX + 1], *text;
    size_t tl = 0;
    int rc;
    if (!out)
        return phi_error(ph, PHICRYPT_EINVAL, "pseudonymize: NULL argument");
    if ((rc = phi_kr_pseudonymize_text(ph, lp, buf, sizeof buf, &tl, key_name, value, value_len, opts)) != 0)
        return rc;
    if (!(text = phi_malloc(tl + 1)))
        return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
    memcpy(text, buf, tl + 1);
    return out_text(ph, out, text, tl);
}

int phicrypt_pseudonym_verify(phicrypt_t *ph, const char *key_name, const char *value, size_t value_len,
                              const char *pseudonym, const phicrypt_pseudonym_opts *opts)
{
    phicrypt_pseudonym_opts def = PHICRYPT_PSEUDONYM_OPTS_INIT;
    uint8_t want[PHI_PSEUDO_MAX_LEN + 8], got[PHI_PSEUDO_MAX_LEN];
    size_t want_len = 0, mac_len;
    uint32_t version = 0, used;
    int rc;
    if (!pseudonym)
        return phi_error(ph, PHICRYPT_EINVAL, "pseudonym_verify: NULL argument");
    if ((rc = pseudo_checks(ph, key_name, value, value_len, &opts, &def, &mac_len)) != 0)
        return rc;
    if (phi_ps_text_decode(pseudonym, strlen(pseudonym), &version, want, sizeof want, &want_len) != 0 ||
        want_len < PHI_PSEUDO_MIN_LEN || want_len > PHI_PSEUDO_MAX_LEN)
        return phi_error(ph, PHICRYPT_EBADDATA, "pseudonym_verify: not a ps1 pseudonym");
    if ((rc = pseudo_mac(ph, NULL, key_name, value ? value : "", value_len, opts, version, got, want_len, &used)) != 0)
        return rc;
    rc = phi_ct_equal(got, want, want_len) ? 0 : phi_error(ph, PHICRYPT_EAUTH, "pseudonym does not match the value");
    phi_wipe(got, sizeof got);
    return rc;
}
