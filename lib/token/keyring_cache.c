/* Unwrapping keyring versions and caching the key objects. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/handle_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/fle_private.h"
#include "token/keyring_impl_private.h"

#define MAX_SUBKEYS 256

static void key_free(phi_kr_key *k)
{
    phi_kr_subkey *s = k->subkeys;
    while (s) {
        phi_kr_subkey *next = s->next;
        phi_hmac_key_free(s->key);
        phi_free(s->context);
        phi_free(s);
        s = next;
    }
    phi_ff1_key_free(k->ff1);
    phi_siv_key_free(k->siv);
    phi_secure_free(k->hmac_root);
    pthread_mutex_destroy(&k->mu);
    phi_free(k->name);
    phi_free(k);
}

void phi_kr_cache_clear(phi_keyring *kr)
{
    phi_kr_key *k = kr->cache;
    while (k) {
        phi_kr_key *next = k->next;
        key_free(k);
        k = next;
    }
    kr->cache = NULL;
}

void phi_kr_cache_forget(phi_keyring *kr, const char *name, uint32_t version)
{
    phi_kr_key **pp;
    pthread_mutex_lock(&kr->mu);
    pp = &kr->cache;
    while (*pp) {
        phi_kr_key *k = *pp;
        if (strcmp(k->name, name) == 0 && (version == 0 || k->version == version)) {
            *pp = k->next;
            /* Wait for a user of this key to finish before wiping it. */
            pthread_mutex_lock(&k->mu);
            pthread_mutex_unlock(&k->mu);
            key_free(k);
        } else {
            pp = &k->next;
        }
    }
    pthread_mutex_unlock(&kr->mu);
}

/* The version document `version` (0: primary) of a record; sets *number,
 * *retired and the wrapped material. */
static int pick_version(phicrypt_t *ph, const bson_t *rec, const char *name, uint32_t version, uint32_t *number,
                        int *retired, bson_t *material_doc)
{
    bson_iter_t it, v;
    int32_t primary = 0;
    if (bson_iter_init_find(&it, rec, "primary"))
        primary = bson_iter_int32(&it);
    if (version == 0)
        version = (uint32_t)primary;
    bson_iter_init_find(&it, rec, "versions");
    bson_iter_recurse(&it, &v);
    while (bson_iter_next(&v)) {
        bson_t ver;
        bson_iter_t f;
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&v, &len, &data);
        bson_init_static(&ver, data, len);
        if (!bson_iter_init_find(&f, &ver, "version") || (uint32_t)bson_iter_int32(&f) != version)
            continue;
        *number = version;
        *retired = bson_iter_init_find(&f, &ver, "status") && strcmp(bson_iter_utf8(&f, NULL), "retired") == 0;
        bson_iter_init_find(&f, &ver, "material");
        bson_init(material_doc);
        bson_append_iter(material_doc, "v", 1, &f);
        return 0;
    }
    return phi_error(ph, PHICRYPT_EKEYNOTFOUND,
                     "keyring key '%s' has no version %u (destroyed, or never created)", name, version);
}

static int unwrap(phicrypt_t *ph, const bson_t *material_doc, int algorithm, phi_kr_key *k)
{
    bson_t plain;
    bson_iter_t it;
    phi_mcrypt_io io;
    int rc;
    bson_subtype_t st;
    uint32_t len = 0;
    const uint8_t *m = NULL;

    phi_fle_io(ph, &io);
    rc = phi_mcrypt_decrypt_value(phi_fle_acquire(ph), ph, &io, material_doc, &plain);
    phi_fle_release(ph);
    if (rc != 0)
        return phi_error_wrap(ph, rc, "keyring key '%s' version %u", k->name, k->version);
    if (bson_iter_init_find(&it, &plain, "v") && BSON_ITER_HOLDS_BINARY(&it))
        bson_iter_binary(&it, &st, &len, &m);
    if (!m || len != phi_kr_material_len(algorithm)) {
        phi_bson_wipe_destroy(&plain);
        return phi_error(ph, PHICRYPT_EKEYVAULT, "keyring key '%s' version %u: material of the wrong size", k->name,
                         k->version);
    }
    switch (algorithm) {
    case PHICRYPT_KEYRING_FF1: {
        /* Values too short for FF1's minimum domain get an opaque AES-SIV
         * token under a key derived from this one (no second key to keep). */
        static const char info[] = "phicrypt ff1 short-value siv";
        uint8_t *sk = phi_secure_alloc(64);
        rc = phi_ff1_key_new(&k->ff1, m, len);
        if (rc == 0 && !sk)
            rc = PHICRYPT_ENOMEM;
        if (rc == 0)
            rc = phi_hkdf_sha256(sk, 64, m, len, NULL, 0, (const uint8_t *)info, sizeof info - 1);
        if (rc == 0)
            rc = phi_siv_key_new(&k->siv, sk, 64);
        phi_secure_free(sk);
        break;
    }
    case PHICRYPT_KEYRING_SIV: rc = phi_siv_key_new(&k->siv, m, len); break;
    default:
        k->hmac_root = phi_secure_alloc(32);
        if (k->hmac_root)
            memcpy(k->hmac_root, m, 32);
        else
            rc = PHICRYPT_ENOMEM;
    }
    phi_bson_wipe_destroy(&plain);
    if (rc != 0)
        return phi_error(ph, rc, "keyring key '%s' version %u: cannot load the key", k->name, k->version);
    return 0;
}

/* The last 32 bytes of the CSFLE ciphertext (its HMAC tag). */
static void wrap_tag_of(const bson_t *material, uint8_t tag[32])
{
    bson_iter_t it;
    bson_subtype_t st;
    uint32_t len = 0;
    const uint8_t *data = NULL;
    memset(tag, 0, 32);
    if (bson_iter_init_find(&it, material, "v") && BSON_ITER_HOLDS_BINARY(&it))
        bson_iter_binary(&it, &st, &len, &data);
    if (data && len >= 32)
        memcpy(tag, data + len - 32, 32);
}

int phi_keyring_get(phicrypt_t *ph, const char *name, uint32_t version, int algorithm, phi_kr_key **out)
{
    uint8_t tag[32];
    phi_keyring *kr;
    bson_t *rec = NULL, material;
    bson_iter_t it;
    uint32_t number = 0;
    int retired = 0, rec_alg, rc;
    phi_kr_key *k;

    if ((rc = phi_kr_need(ph)) != 0 || (rc = phi_kr_check_name(ph, name)) != 0)
        return rc;
    kr = ph->keyring;
    /* The record decides: a version destroyed elsewhere is never used. */
    if ((rc = phi_kr_find_record(ph, name, &rec)) != 0)
        return rc;
    bson_iter_init_find(&it, rec, "algorithm");
    rec_alg = phi_kr_algorithm_from_name(bson_iter_utf8(&it, NULL));
    if (rec_alg != algorithm) {
        phi_bson_free(rec);
        return phi_error(ph, PHICRYPT_EINVAL, "keyring key '%s' is an %s key; this operation needs an %s key", name,
                         phi_keyring_algorithm_name(rec_alg), phi_keyring_algorithm_name(algorithm));
    }
    rc = pick_version(ph, rec, name, version, &number, &retired, &material);
    phi_bson_free(rec);
    if (rc != 0) {
        phi_kr_cache_forget(kr, name, version);
        return rc;
    }
    wrap_tag_of(&material, tag);
    pthread_mutex_lock(&kr->mu);
    for (k = kr->cache; k; k = k->next)
        if (k->version == number && strcmp(k->name, name) == 0)
            break;
    if (k && memcmp(k->wrap_tag, tag, 32) != 0) {
        /* Destroyed and re-created elsewhere: the cached material is stale. */
        pthread_mutex_unlock(&kr->mu);
        phi_kr_cache_forget(kr, name, number);
        pthread_mutex_lock(&kr->mu);
        k = NULL;
    }
    if (!k) {
        k = phi_calloc(1, sizeof *k);
        if (!k || !(k->name = phi_strdup(name))) {
            phi_free(k);
            pthread_mutex_unlock(&kr->mu);
            bson_destroy(&material);
            return phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        }
        pthread_mutex_init(&k->mu, NULL);
        k->version = number;
        k->algorithm = algorithm;
        memcpy(k->wrap_tag, tag, 32);
        if ((rc = unwrap(ph, &material, algorithm, k)) != 0) {
            pthread_mutex_unlock(&kr->mu);
            bson_destroy(&material);
            key_free(k);
            return rc;
        }
        k->next = kr->cache;
        kr->cache = k;
    }
    pthread_mutex_lock(&k->mu);
    k->retired = retired; /* read by the holder of k->mu only */
    pthread_mutex_unlock(&kr->mu);
    bson_destroy(&material);
    *out = k;
    return 0;
}

void phi_keyring_put(phi_kr_key *k)
{
    if (k)
        pthread_mutex_unlock(&k->mu);
}

int phi_kr_pseudo_subkey(const void *eh, phi_kr_key *k, const char *context, const phi_hmac_key **out)
{
    phi_kr_subkey *s;
    size_t n = 0;
    int rc;
    for (s = k->subkeys; s; s = s->next, n++)
        if (strcmp(s->context, context) == 0) {
            *out = s->key;
            return 0;
        }
    s = phi_calloc(1, sizeof *s);
    if (!s || !(s->context = phi_strdup(context))) {
        phi_free(s);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    if ((rc = phi_pseudo_key_new(&s->key, k->hmac_root, 32, context, strlen(context))) != 0) {
        phi_free(s->context);
        phi_free(s);
        return phi_error(eh, rc, "pseudonym: cannot derive the context subkey");
    }
    /* Bounded: past MAX_SUBKEYS contexts the oldest are dropped. */
    if (n >= MAX_SUBKEYS) {
        phi_kr_subkey **pp = &k->subkeys;
        while ((*pp)->next)
            pp = &(*pp)->next;
        phi_hmac_key_free((*pp)->key);
        phi_free((*pp)->context);
        phi_free(*pp);
        *pp = NULL;
    }
    s->next = k->subkeys;
    k->subkeys = s;
    *out = s->key;
    return 0;
}
