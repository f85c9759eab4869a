/* The key vault: where data key documents live. Backends share one
 * interface; the file backend (one canonical Extended JSON document per
 * line) is the embedded default. */
#ifndef PHI_KEYVAULT_PRIVATE_H
#define PHI_KEYVAULT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

#include "mcrypt/mcrypt_private.h"

typedef struct phi_keyvault phi_keyvault;

/* `uri` is "file:PATH"; relative paths are resolved against base_dir. */
int phi_keyvault_open(phi_keyvault **out, const void *eh, const char *uri, const char *base_dir);
/* The same, with the "db.collection" a mongodb:// key vault uses. */
int phi_keyvault_open_ns(phi_keyvault **out, const void *eh, const char *uri, const char *base_dir, const char *ns);
/* Tests only: called with every key request (to see which keys are asked for). */
extern void (*phi_keyvault_test_hook)(const phi_key_request *req);
void phi_keyvault_close(phi_keyvault *kv);
const char *phi_keyvault_describe(const phi_keyvault *kv);

/* A number that changes whenever the key vault does, in any process; 0
 * when the backend cannot tell (a mongodb:// key vault). */
int phi_keyvault_generation(phi_keyvault *kv, const void *eh, uint64_t *gen);

/* Emits every key matching one of the ids or alt names. */
int phi_keyvault_find(phi_keyvault *kv, const void *eh, const phi_key_request *req, phi_key_emit_fn emit,
                      void *ectx);

/* Emits every key (for listing). */
int phi_keyvault_each(phi_keyvault *kv, const void *eh, phi_key_emit_fn emit, void *ectx);

/* Adds a key document; PHICRYPT_EEXIST when its _id or an alt name is
 * already in the vault. */
int phi_keyvault_insert(phi_keyvault *kv, const void *eh, const bson_t *doc);

/* Removes the key; PHICRYPT_EKEYNOTFOUND when absent. */
int phi_keyvault_delete(phi_keyvault *kv, const void *eh, const uint8_t id[16]);

/* Adds (add=1) or removes an alt name, updating updateDate. Adding a name
 * the key already has is a no-op; one another key has is PHICRYPT_EEXIST;
 * removing the last name removes the keyAltNames field, as MongoDB does. */
int phi_keyvault_alt_name(phi_keyvault *kv, const void *eh, const uint8_t id[16], const char *name, int add);

/* Replaces keyMaterial and masterKey (and updateDate) of every key in
 * `docs` (a BSON array or document whose values are {_id, keyMaterial,
 * masterKey}), all in one atomic write: if one key is missing nothing is
 * written (PHICRYPT_EKEYNOTFOUND). *count: keys replaced. */
int phi_keyvault_replace_many(phi_keyvault *kv, const void *eh, const bson_t *docs, size_t *count);

/* The phi_mcrypt_io.collinfo adapter: listCollections on a MongoDB key
 * vault's deployment; a file key vault has no server and emits nothing. */
int phi_keyvault_io_collinfo(void *ctx, const void *eh, const char *db, const bson_t *filter, phi_key_emit_fn emit,
                             void *ectx);

/* The phi_mcrypt_io.find_keys adapter (ctx is the phi_keyvault). */
int phi_keyvault_io_find(void *ctx, const void *eh, const phi_key_request *req, phi_key_emit_fn emit, void *ectx);

#endif
