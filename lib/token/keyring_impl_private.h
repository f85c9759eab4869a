/* Shared by the keyring files of lib/token only. */
#ifndef PHI_KEYRING_IMPL_PRIVATE_H
#define PHI_KEYRING_IMPL_PRIVATE_H

#include <bson/bson.h>

#include "core/docstore_private.h"
#include "token/keyring_private.h"

struct phi_keyring {
    phi_docstore *store;
    pthread_mutex_t mu; /* guards the cache list */
    phi_kr_key *cache;
};

typedef struct phi_kr_subkey {
    char *context;
    phi_hmac_key *key;
    struct phi_kr_subkey *next;
} phi_kr_subkey;

int phi_kr_algorithm_from_name(const char *name);
size_t phi_kr_material_len(int algorithm);
int phi_kr_check_name(const void *eh, const char *name);
int phi_kr_need(phicrypt_t *ph);
/* A copy of the record of `name` (phi_bson_free it). */
int phi_kr_find_record(phicrypt_t *ph, const char *name, bson_t **out);

void phi_kr_cache_clear(phi_keyring *kr);
/* Drops cached versions of `name` (version 0: all of them). */
void phi_kr_cache_forget(phi_keyring *kr, const char *name, uint32_t version);

#endif
