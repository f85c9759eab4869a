/* Assembly of the audit log: its keys (from the keyring, or derived from
 * the CSFLE data key "phicrypt-audit" without one), and core's event sink
 * and key guard connected to it. Here, in the client, so that lib/audit
 * includes no key store and fle/token do not include audit. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include <phicrypt.h>
#include "audit/audit_private.h"
#include "client/client_private.h"
#include "core/config_private.h"
#include "core/error_private.h"
#include "core/events_private.h"
#include "core/handle_private.h"
#include "token/keyring_private.h"

/* Set while this thread creates an audit key (under the log's lock): the
 * key operations that involves must not try to audit themselves. */
static _Thread_local int creating;
/* Set while phicrypt_audit_rotate_key rotates: the guard lets it through. */
static _Thread_local int rotating;

static const char *key_name(int which)
{
    return which == PHI_AUDIT_SIGN_KEY ? "audit:sign" : "audit:subject";
}

/* The signing key's keyring material is an HMAC root; the Ed25519 seed is
 * a hash of it, so the same bytes never serve two algorithms. */
static void to_material(int which, const uint8_t root[32], uint8_t out[32])
{
    static const char label[] = "phicrypt audit ed25519 seed v1";
    crypto_hash_sha256_state st;
    if (which != PHI_AUDIT_SIGN_KEY) {
        memcpy(out, root, 32);
        return;
    }
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)label, sizeof label);
    crypto_hash_sha256_update(&st, root, 32);
    crypto_hash_sha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

static int keyring_material(phicrypt_t *ph, int which, uint32_t version, uint32_t *got, uint8_t out[32])
{
    const char *name = key_name(which);
    phi_kr_key *key = NULL;
    int rc = phi_keyring_get(ph, name, version, PHICRYPT_KEYRING_HMAC, &key);
    if (rc == PHICRYPT_EKEYNOTFOUND && version == 0) {
        creating = 1;
        rc = phicrypt_keyring_create(ph, name, PHICRYPT_KEYRING_HMAC);
        creating = 0;
        if (rc == PHICRYPT_EEXIST || rc == 0) /* another process may have made it */
            rc = phi_keyring_get(ph, name, 0, PHICRYPT_KEYRING_HMAC, &key);
    }
    if (rc != 0)
        return phi_error_wrap(ph, rc, "audit key '%s' in the keyring", name);
    to_material(which, key->hmac_root, out);
    *got = key->version;
    phi_keyring_put(key);
    return 0;
}

/* A deterministic CSFLE ciphertext of a fixed label is a PRF of the data
 * key: hashing it gives a key only holders of the master key can compute. */
static int derive(phicrypt_t *ph, const char *label, uint8_t out[32])
{
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    phicrypt_buf ct = PHICRYPT_BUF_INIT;
    bson_t v = BSON_INITIALIZER;
    int rc;
    o.key_alt_name = PHI_AUDIT_DATA_KEY;
    BSON_APPEND_UTF8(&v, "v", label);
    rc = phicrypt_encrypt(ph, &ct, bson_get_data(&v), v.len, &o);
    bson_destroy(&v);
    if (rc != 0)
        return rc;
    crypto_hash_sha256(out, ct.data, ct.len);
    phicrypt_buf_dispose(&ct);
    return 0;
}

static int ensure_data_key(phicrypt_t *ph)
{
    phicrypt_buf doc = PHICRYPT_BUF_INIT;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    const char *names[1] = { PHI_AUDIT_DATA_KEY };
    uint8_t id[16];
    int rc = phicrypt_datakey_get_by_alt_name(ph, &doc, PHI_AUDIT_DATA_KEY);
    phicrypt_buf_dispose(&doc);
    if (rc != PHICRYPT_EKEYNOTFOUND)
        return rc;
    o.alt_names = names;
    o.alt_names_count = 1;
    creating = 1;
    rc = phicrypt_datakey_create(ph, id, &o);
    creating = 0;
    return rc == PHICRYPT_EEXIST ? 0 : rc; /* another process may have made it */
}

static int audit_get(phicrypt_t *ph, int which, uint32_t version, uint32_t *got, uint8_t out[32])
{
    int rc;
    if (ph->keyring)
        return keyring_material(ph, which, version, got, out);
    if (version > 1)
        return phi_error(ph, PHICRYPT_EKEYNOTFOUND,
                         "audit key '%s' version %u: without a keyring there is only version 1", key_name(which),
                         version);
    *got = 1;
    if ((rc = ensure_data_key(ph)) != 0 ||
        (rc = derive(ph, which == PHI_AUDIT_SIGN_KEY ? "phicrypt audit sign v2" : "phicrypt audit subject v1",
                     out)) != 0)
        return phi_error_wrap(ph, rc, "audit key (data key '%s')", PHI_AUDIT_DATA_KEY);
    return 0;
}

static int audit_rotate(phicrypt_t *ph, int which, uint32_t *new_version)
{
    uint32_t got;
    uint8_t m[32];
    int rc;
    if (!ph->keyring)
        return phi_error(ph, PHICRYPT_EUNSUPPORTED, "audit rotate-key needs a keyring (\"keyring\": \"file:...\")");
    /* The key must exist before it can get a second version. */
    if ((rc = keyring_material(ph, which, 0, &got, m)) != 0)
        return rc;
    sodium_memzero(m, sizeof m);
    rotating = 1;
    rc = phicrypt_keyring_rotate(ph, new_version, key_name(which));
    rotating = 0;
    return rc;
}

static int key_event(phicrypt_t *ph, const phi_key_event *ev)
{
    return creating ? 0 : phi_audit_key_event(ph, ev);
}

static int key_guard(phicrypt_t *ph, const char *op, const char *name, uint32_t version)
{
    int need;
    if (strncmp(name, "audit:", 6) != 0)
        return 0;
    if (strcmp(op, "rotate") == 0) {
        if (rotating)
            return 0;
        return phi_error(ph, PHICRYPT_EINVAL,
                         "keyring key '%s' belongs to the audit log: rotate it with 'phicrypt audit rotate-key%s' "
                         "(which records the rotation in the log)",
                         name, strcmp(name, "audit:subject") == 0 ? " --subject" : "");
    }
    if (strcmp(name, "audit:chain") == 0)
        return phi_error(ph, PHICRYPT_EINVAL,
                         "keyring key 'audit:chain' verifies audit logs written by phicrypt's audit log v1: "
                         "destroying it makes them unverifiable (--force to do it anyway, recorded)");
    if ((need = phi_audit_needs_key(ph, name, version)) < 0)
        return need;
    if (need)
        return phi_error(ph, PHICRYPT_EINVAL,
                         "keyring key '%s'%s is still needed by the audit log %s (its lines name %s): destroying "
                         "it would make them unverifiable (--force to do it anyway, recorded in the log)",
                         name, version ? " at that version" : "", phi_audit_path(ph),
                         version ? "that version" : "its versions");
    return 0;
}

void phi_client_connect_audit(phicrypt_t *ph)
{
    static const phi_audit_keys keys = { audit_get, audit_rotate };
    ph->key_event = key_event;
    ph->key_guard = key_guard;
    if (ph->cfg && ph->cfg->audit)
        phi_audit_set_keys(ph->cfg->audit, &keys);
}
