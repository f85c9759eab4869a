/* The run manifest: what a de-identification run did, in a form a
 * compliance officer can keep and check later. Policy hash, preset and its
 * version, the restricted-ZIP list in force, key names and versions (never
 * material), input and output hashes, counts per field path, action and
 * identifier class, the residual-PHI gate's result, the reference date;
 * signed (Ed25519) with the audit log's checkpoint key, so the public key
 * file `phicrypt audit public-keys` writes checks it. It holds no value of
 * any record: only names the report already holds.
 *
 * The signature covers the manifest's bytes up to `,"signature":`, the
 * way checkpoint lines are signed up to `,"sig":`. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "audit/sign_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/gate_private.h"

/* Bumped whenever the preset's table of names and actions changes meaning. */
#define PHI_SAFE_HARBOR_PRESET_VERSION 1
#define SIG_TAG ",\"signature\":"

static void put_hex(phi_sbuf *b, const uint8_t *d, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    phi_sbuf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        phi_sbuf_putc(b, hx[d[i] >> 4]);
        phi_sbuf_putc(b, hx[d[i] & 15]);
    }
    phi_sbuf_putc(b, '"');
}

static void put_str(phi_sbuf *b, const char *s) { phi_sbuf_json_str(b, s, strlen(s)); }

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* "input"/"output": {"name", "sha256", "bytes"}; a stream has no hash. */
static int put_file(phi_sbuf *b, const void *eh, const char *key, const char *path)
{
    struct stat st;
    phi_sbuf_printf(b, ",\"%s\":{\"name\":", key);
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        put_str(b, strcmp(path, "-") == 0 ? (strcmp(key, "input") == 0 ? "stdin" : "stdout") : base_name(path));
        phi_sbuf_puts(b, ",\"sha256\":null,\"bytes\":null}");
        return 0;
    }
    uint8_t h[32];
    uint64_t n = 0;
    int rc = phi_audit_sha256_file(eh, path, h, &n);
    if (rc)
        return rc;
    put_str(b, base_name(path));
    phi_sbuf_puts(b, ",\"sha256\":");
    put_hex(b, h, 32);
    phi_sbuf_printf(b, ",\"bytes\":%llu}", (unsigned long long)n);
    return 0;
}

static int64_t doc_int(const bson_t *d, const char *k)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_int64(&it) : -1;
}

/* A sub-document of the report as compact JSON, or "null". */
static void put_subdoc(phi_sbuf *b, const bson_t *rep, const char *k)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, rep, k) || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        phi_sbuf_puts(b, "null");
        return;
    }
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(&it, &len, &data);
    bson_t sub;
    size_t jl;
    char *j = bson_init_static(&sub, data, len) ? bson_as_relaxed_extended_json(&sub, &jl) : NULL;
    if (j) {
        /* Compact, like the rest: no spaces outside strings. */
        int q = 0;
        for (size_t i = 0; i < jl; i++) {
            if (j[i] == '"' && (i == 0 || j[i - 1] != '\\' || (i >= 2 && j[i - 2] == '\\')))
                q = !q;
            if (q || j[i] != ' ')
                phi_sbuf_putc(b, j[i]);
        }
        bson_free(j);
    } else {
        phi_sbuf_puts(b, "null");
    }
}

static void put_keys(phi_sbuf *b, const phicrypt_deid_policy *p)
{
    phi_sbuf_puts(b, ",\"keys\":[");
    int first = 1;
    for (size_t i = 0; i < p->nrules; i++) {
        const phi_deid_rule *r = &p->rules[i];
        if (!r->key)
            continue;
        phi_sbuf_puts(b, first ? "{\"path\":" : ",{\"path\":");
        put_str(b, r->path_text);
        phi_sbuf_printf(b, ",\"action\":\"%s\",\"kind\":\"%s\",\"name\":", phi_deid_act_name(r->act),
                        r->act == PHI_ACT_ENCRYPT ? "data_key_alt_name" : "keyring");
        put_str(b, r->key);
        if (r->act != PHI_ACT_ENCRYPT)
            phi_sbuf_printf(b, ",\"version\":%u", r->key_version); /* 0: the current version at run time */
        phi_sbuf_putc(b, '}');
        first = 0;
    }
    phi_sbuf_putc(b, ']');
}

int phicrypt_deid_manifest(phicrypt_t *ph, phicrypt_buf *out, int *is_signed, const phicrypt_deid_policy *p,
                           const phicrypt_deid_manifest_opts *o)
{
    const void *eh = ph;
    if (!out || !p || !o || !o->in_path || !o->out_path || !o->report_json)
        return phi_error(eh, PHICRYPT_EINVAL, "manifest: NULL argument");
    if (o->version != PHICRYPT_DEID_MANIFEST_OPTS_VERSION)
        return phi_error(eh, PHICRYPT_EINVAL, "phicrypt_deid_manifest_opts: version %u unknown (expected %u)",
                         o->version, PHICRYPT_DEID_MANIFEST_OPTS_VERSION);
    out->data = NULL;
    out->len = 0;
    if (is_signed)
        *is_signed = 0;
    bson_t rep;
    int rc = phi_json_to_bson(eh, "report", o->report_json, strlen(o->report_json), &rep);
    if (rc)
        return rc;
    phi_sbuf b = { 0 };
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    bson_iter_t it;
    const char *op = bson_iter_init_find(&it, &rep, "operation") && BSON_ITER_HOLDS_UTF8(&it)
                         ? bson_iter_utf8(&it, NULL) : "deid";
    phi_sbuf_puts(&b, "{\"phicrypt_manifest\":1,\"operation\":");
    put_str(&b, strcmp(op, "reid") == 0 ? "reid" : "deid");
    phi_sbuf_printf(&b, ",\"created\":\"%s\",\"completed\":%s", when,
                    bson_iter_init_find(&it, &rep, "completed") && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it)
                        ? "true" : "false");
    /* The policy: its hash (the text as given), preset and version. */
    uint8_t h[32];
    phi_sbuf_puts(&b, ",\"policy\":{\"sha256\":");
    if (o->policy_json) {
        phi_audit_sha256(o->policy_json, strlen(o->policy_json), h);
        put_hex(&b, h, 32);
    } else {
        phi_sbuf_puts(&b, "null");
    }
    if (p->safe_harbor)
        phi_sbuf_printf(&b, ",\"preset\":\"safe-harbor\",\"preset_version\":%d,\"reference_date\":\"%04d-%02d-%02d\"",
                        PHI_SAFE_HARBOR_PRESET_VERSION, p->ref_y, p->ref_m, p->ref_d);
    else
        phi_sbuf_puts(&b, ",\"preset\":null");
    phi_sbuf_printf(&b, ",\"unknown_fields\":\"%s\"}",
                    p->unknown == PHI_UNKNOWN_ERROR ? "error" : p->unknown == PHI_UNKNOWN_DROP ? "drop" : "keep");
    /* The restricted ZIP prefixes in force: which list, and its hash (the
     * prefixes comma-separated), so a changed list shows. */
    phi_sbuf z = { 0 };
    size_t nz = 0;
    for (const char *zp; (zp = phi_zip3_restricted(nz)) != NULL; nz++) {
        if (nz)
            phi_sbuf_putc(&z, ',');
        phi_sbuf_puts(&z, zp);
    }
    phi_audit_sha256(z.p ? z.p : "", z.len, h);
    phi_sbuf_free(&z);
    phi_sbuf_printf(&b, ",\"restricted_zip3\":{\"id\":\"hhs-2000-census\",\"count\":%zu,\"sha256\":", nz);
    put_hex(&b, h, 32);
    phi_sbuf_putc(&b, '}');
    put_keys(&b, p);
    if ((rc = put_file(&b, eh, "input", o->in_path)) == 0)
        rc = put_file(&b, eh, "output", o->out_path);
    phi_sbuf_printf(&b, ",\"records_in\":%lld,\"records_out\":%lld", (long long)doc_int(&rep, "records_in"),
                    (long long)doc_int(&rep, "records_out"));
    /* Counts per field path, action and identifier class. */
    phi_sbuf_puts(&b, ",\"fields\":[");
    bson_iter_t f, e;
    int first = 1;
    if (bson_iter_init_find(&it, &rep, "fields") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &f)) {
        while (bson_iter_next(&f)) {
            const char *path = NULL, *act = NULL;
            int64_t count = 0;
            if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &e))
                continue;
            while (bson_iter_next(&e)) {
                if (strcmp(bson_iter_key(&e), "path") == 0 && BSON_ITER_HOLDS_UTF8(&e))
                    path = bson_iter_utf8(&e, NULL);
                else if (strcmp(bson_iter_key(&e), "action") == 0 && BSON_ITER_HOLDS_UTF8(&e))
                    act = bson_iter_utf8(&e, NULL);
                else if (strcmp(bson_iter_key(&e), "count") == 0 && BSON_ITER_HOLDS_NUMBER(&e))
                    count = bson_iter_as_int64(&e);
            }
            if (!path || !act)
                continue;
            phi_sbuf_puts(&b, first ? "{\"path\":" : ",{\"path\":");
            put_str(&b, path);
            phi_sbuf_puts(&b, ",\"action\":");
            put_str(&b, act);
            phi_sbuf_puts(&b, ",\"class\":");
            put_str(&b, phi_gate_class(NULL, path));
            phi_sbuf_printf(&b, ",\"count\":%lld}", (long long)count);
            first = 0;
        }
    }
    phi_sbuf_puts(&b, "],\"gate\":");
    put_subdoc(&b, &rep, "gate");
    phi_sbuf_puts(&b, ",\"risk\":");
    put_subdoc(&b, &rep, "risk");
    bson_destroy(&rep);
    if (rc == 0 && b.oom)
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (rc) {
        phi_sbuf_free(&b);
        return rc;
    }
    /* The signature covers every byte before it. */
    uint32_t kv = 0;
    uint8_t sig[64], pk[32];
    int src = o->sign && ph ? phi_audit_sign(ph, b.p, b.len, &kv, sig, pk) : PHICRYPT_EUNSUPPORTED;
    phi_sbuf_puts(&b, SIG_TAG);
    if (src == 0) {
        phi_sbuf_printf(&b, "{\"alg\":\"ed25519\",\"key\":\"audit:sign\",\"kv\":%u,\"public_key\":", kv);
        put_hex(&b, pk, 32);
        phi_sbuf_puts(&b, ",\"sig\":");
        put_hex(&b, sig, 64);
        phi_sbuf_putc(&b, '}');
        if (is_signed)
            *is_signed = 1;
    } else {
        phi_sbuf_puts(&b, "null");
    }
    phi_sbuf_puts(&b, "}\n");
    if (b.oom) {
        phi_sbuf_free(&b);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    /* A signing failure other than "no audit log" is an error: a manifest
     * that should be signed is not silently left unsigned. */
    if (src != 0 && src != PHICRYPT_EUNSUPPORTED && o->sign && ph) {
        phi_sbuf_free(&b);
        return src;
    }
    phi_error_clear(eh);
    return phi_buf_from_bytes(eh, out, (const uint8_t *)b.p, b.len) == 0 ? (phi_sbuf_free(&b), 0)
                                                                         : (phi_sbuf_free(&b), PHICRYPT_ENOMEM);
}

int phicrypt_deid_manifest_verify(phicrypt_t *ph, phicrypt_buf *report, const char *path, const char *public_key_file)
{
    const void *eh = ph;
    char *text = NULL, *keys = NULL;
    size_t len = 0, klen = 0;
    if (report) {
        report->data = NULL;
        report->len = 0;
    }
    if (!path)
        return phi_error(eh, PHICRYPT_EINVAL, "manifest verify: NULL argument");
    int rc = phi_file_read_all(eh, PHICRYPT_EIO, path, &text, &len);
    if (rc)
        return rc;
    if (public_key_file && (rc = phi_file_read_all(eh, PHICRYPT_EIO, public_key_file, &keys, &klen)) != 0) {
        phi_free(text);
        return rc;
    }
    phi_sbuf msg = { 0 };
    bson_t d;
    int have_doc = 0;
    /* The last ,"signature": splits what is signed from the signature. */
    const char *tag = NULL;
    for (const char *s = text; (s = strstr(s, SIG_TAG)) != NULL; s++)
        tag = s;
    if (!tag)
        rc = phi_error(eh, PHICRYPT_EBADDATA, "%s: not a phicrypt manifest (no signature member)", path);
    else if ((rc = phi_json_to_bson(eh, path, text, len, &d)) == 0)
        have_doc = 1;
    bson_iter_t it, s;
    uint8_t sig[64];
    int64_t kv = -1;
    if (rc == 0 && (!bson_iter_init_find(&it, &d, "phicrypt_manifest")))
        rc = phi_error(eh, PHICRYPT_EBADDATA, "%s: not a phicrypt manifest", path);
    if (rc == 0 && bson_iter_init_find(&it, &d, "signature") && BSON_ITER_HOLDS_NULL(&it))
        rc = phi_error(eh, PHICRYPT_EAUTH, "%s: not signed (no audit signing key was configured for the run)", path);
    if (rc == 0) {
        const char *hex = NULL;
        if (bson_iter_init_find(&it, &d, "signature") && BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &s))
            while (bson_iter_next(&s)) {
                if (strcmp(bson_iter_key(&s), "kv") == 0 && BSON_ITER_HOLDS_NUMBER(&s))
                    kv = bson_iter_as_int64(&s);
                else if (strcmp(bson_iter_key(&s), "sig") == 0 && BSON_ITER_HOLDS_UTF8(&s))
                    hex = bson_iter_utf8(&s, NULL);
            }
        if (kv < 1 || kv > UINT32_MAX || !hex || strlen(hex) != 128 ||
            sodium_hex2bin(sig, 64, hex, 128, NULL, NULL, NULL) != 0)
            rc = phi_error(eh, PHICRYPT_EBADDATA, "%s: malformed signature", path);
    }
    if (rc == 0)
        rc = phi_audit_verify_sig(ph, eh, keys, (uint32_t)kv, text, (size_t)(tag - text), sig);
    if (rc == 0 && tag)
        phi_sbuf_printf(&msg, "signature: good (audit:sign version %lld)\n", (long long)kv);
    /* The output beside the manifest (its default place) must still be the
     * file the run wrote. */
    if (rc == 0 && bson_iter_init_find(&it, &d, "output") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &s)) {
        const char *name = NULL, *want = NULL;
        while (bson_iter_next(&s)) {
            if (strcmp(bson_iter_key(&s), "name") == 0 && BSON_ITER_HOLDS_UTF8(&s))
                name = bson_iter_utf8(&s, NULL);
            else if (strcmp(bson_iter_key(&s), "sha256") == 0 && BSON_ITER_HOLDS_UTF8(&s))
                want = bson_iter_utf8(&s, NULL);
        }
        char *dir = phi_path_dirname(path);
        phi_sbuf op = { 0 };
        struct stat st;
        if (name && want && dir && !strchr(name, '/')) {
            phi_sbuf_printf(&op, "%s/%s", dir, name);
            if (stat(op.p, &st) == 0 && S_ISREG(st.st_mode)) {
                uint8_t h[32];
                char hex[65];
                if ((rc = phi_audit_sha256_file(eh, op.p, h, NULL)) == 0) {
                    sodium_bin2hex(hex, sizeof hex, h, 32);
                    if (strcmp(hex, want) != 0)
                        rc = phi_error(eh, PHICRYPT_EAUTH, "%s: the output file %s is not the one the run wrote "
                                                           "(its SHA-256 differs)", path, name);
                    else
                        phi_sbuf_printf(&msg, "output: %s matches\n", name);
                }
            } else {
                phi_sbuf_printf(&msg, "output: %s not beside the manifest (not checked)\n", name);
            }
        }
        phi_sbuf_free(&op);
        phi_free(dir);
    }
    if (have_doc)
        bson_destroy(&d);
    if (rc == 0 && report && msg.p)
        rc = phi_buf_from_bytes(eh, report, (const uint8_t *)msg.p, msg.len + 1) == 0 ? 0 : PHICRYPT_ENOMEM;
    if (rc == 0 && report && report->len)
        report->len--;
    phi_sbuf_free(&msg);
    phi_free(text);
    phi_free(keys);
    return rc;
}
