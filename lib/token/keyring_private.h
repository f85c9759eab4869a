/* The keyring: named, versioned token and pseudonym keys whose material is
 * stored encrypted with a CSFLE data key (see include/phicrypt/keyring.h).
 *
 * Records live in a docstore, one per key name:
 *   {name, algorithm: "ff1"|"siv"|"hmac", primary: N,
 *    versions: [{version, created, status: "active"|"retired",
 *                material: BinData(6) (CSFLE random, alt name phicrypt-keyring)}]}
 * Decrypted key objects are cached per (name, version); every lookup checks
 * the record first (an indexed lookup in the parsed file, no system call),
 * so a version destroyed through this client is never used again.
 *
 * Cross-process guarantee: the keyring file's identity (inode, size,
 * mtime) is rechecked at most once per PHI_KEYRING_RECHECK_MS, so a
 * rotation, retirement or destruction made by another process (or another
 * client in this process) is seen within that time; a running
 * de-identification picks it up at its next batch after that. */
#ifndef PHI_KEYRING_PRIVATE_H
#define PHI_KEYRING_PRIVATE_H

#include <pthread.h>
#include <stdint.h>

#include <phicrypt.h>
#include "token/token_private.h"

/* How stale this process's view of the keyring file may get. */
#define PHI_KEYRING_RECHECK_MS 1000

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
/* Per-thread copies of keyring keys for a caller that makes many calls in
 * a row (a de-identification worker, for one batch): each (key, version,
 * context) is looked up once, then used with no lookup, lock or system
 * call. Not thread-safe; *lp starts NULL and is created on first use.
 * The copies reflect the keyring at the time of that first use: free them
 * (phi_kr_local_free, which wipes) to see later changes. */
typedef struct phi_kr_local phi_kr_local;
void phi_kr_local_free(phi_kr_local *l);
/* phicrypt_tokenize (decrypt 0) / phicrypt_detokenize (decrypt 1), and
 * phicrypt_pseudonymize, through *lp (lp NULL: the shared cache). */
int phi_kr_tokenize(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *key_name, const char *value,
                    size_t value_len, const phicrypt_token_opts *opts, int decrypt);
int phi_kr_pseudonymize(phicrypt_t *ph, phi_kr_local **lp, phicrypt_buf *out, const char *key_name, const char *value,
                        size_t value_len, const phicrypt_pseudonym_opts *opts);
/* The longest pseudonym text: "ps1." + a 10-digit version + "." + 32
 * bytes in base32. */
#define PHI_KR_PSEUDONYM_TEXT_MAX (4 + 10 + 1 + 52)
/* phi_kr_pseudonymize into the caller's buffer (out_cap >=
 * PHI_KR_PSEUDONYM_TEXT_MAX + 1 always suffices): the text, NUL-terminated,
 * and its length in *out_len. No allocation: de-identification makes one
 * per pseudonymised value. PHICRYPT_EBUFSIZE when out_cap is too small. */
int phi_kr_pseudonymize_text(phicrypt_t *ph, phi_kr_local **lp, char *out, size_t out_cap, size_t *out_len,
                             const char *key_name, const char *value, size_t value_len,
                             const phicrypt_pseudonym_opts *opts);

#endif
