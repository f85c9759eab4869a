/* The keyring: named, versioned token and pseudonym keys whose material is
 * stored encrypted with a CSFLE data key (see include/phicrypt/keyring.h).
 *
 * Records live in a docstore, one per key name:
 *   {name, algorithm: "ff1"|"siv"|"hmac", primary: N,
 *    versions: [{version, created, status: "active"|"retired",
 *                material: BinData(6) (CSFLE random, alt name phicrypt-keyring)}]}
 * Decrypted key objects are cached per (name, version); every lookup checks
 * the record first, so a version destroyed by any process is never used
 * again. */
#ifndef PHI_KEYRING_PRIVATE_H
#define PHI_KEYRING_PRIVATE_H

#include <pthread.h>
#include <stdint.h>

#include <phicrypt.h>
#include "token/token_private.h"

/* The CSFLE data key that wraps keyring material. */
#define PHI_KEYRING_DATA_KEY "phicrypt-keyring"

typedef struct phi_keyring phi_keyring;

int phi_keyring_open(phi_keyring **out, const void *eh, const char *uri, const char *base_dir);
void phi_keyring_close(phi_keyring *kr);

/* A usable key version. The key objects are not thread-safe: hold `mu`
 * while using them (phi_keyring_get returns it locked). */
typedef struct phi_kr_key {
    pthread_mutex_t mu;
    char *name;
    uint32_t version;
    int algorithm;         /* PHICRYPT_KEYRING_* */
    int retired;
    uint8_t wrap_tag[32];  /* MAC of the wrapped material: tells a re-created version apart */
    phi_ff1_key *ff1;
    phi_siv_key *siv;
    uint8_t *hmac_root;    /* secure memory, 32 bytes */
    struct phi_kr_subkey *subkeys; /* pseudonym subkeys per context */
    struct phi_kr_key *next;
} phi_kr_key;

/* Finds (and unwraps on first use) version `version` (0: primary) of key
 * `name`, checks it is of `algorithm`, and returns it locked. Release with
 * phi_keyring_put. */
int phi_keyring_get(phicrypt_t *ph, const char *name, uint32_t version, int algorithm, phi_kr_key **out);
void phi_keyring_put(phi_kr_key *k);

/* The pseudonym subkey of `context` for an HMAC key (cached; caller holds k->mu). */
int phi_kr_pseudo_subkey(const void *eh, phi_kr_key *k, const char *context, const phi_hmac_key **out);

const char *phi_keyring_algorithm_name(int algorithm);

/* Keyring keys (and their versions) whose material data key `id` wraps;
 * `names` lists them, cut short with "..." (keyring_deps.c). */
typedef struct phi_kr_deps {
    size_t keys, versions;
    char names[160];
} phi_kr_deps;
int phi_keyring_wrapped_by(phicrypt_t *ph, const uint8_t id[16], phi_kr_deps *out);
/* Drops every unwrapped key this client holds (after a shred). */
void phi_keyring_forget_all(phicrypt_t *ph);

#endif
