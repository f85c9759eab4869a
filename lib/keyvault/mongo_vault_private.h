/* MongoDB key vault (libmongoc): the key documents in a collection of a
 * MongoDB deployment, as the drivers keep them. Same semantics as the file
 * vault (keyvault_private.h): reads and writes use majority read and write
 * concern, and a unique partial index on keyAltNames (created on first
 * write) makes alt names unique across every client. Only compiled with
 * libmongoc (PHI_HAVE_MONGOC). */
#ifndef PHI_MONGO_VAULT_PRIVATE_H
#define PHI_MONGO_VAULT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

#include "mcrypt/mcrypt_private.h"

typedef struct phi_mongo_vault phi_mongo_vault;

/* `uri` is a mongodb:// or mongodb+srv:// URI; `ns` is "db.collection".
 * Opening does not connect (the first operation does). */
int phi_mongo_vault_open(phi_mongo_vault **out, const void *eh, const char *uri, const char *ns);
void phi_mongo_vault_close(phi_mongo_vault *mv);
const char *phi_mongo_vault_describe(const phi_mongo_vault *mv);
int phi_mongo_vault_find(phi_mongo_vault *mv, const void *eh, const phi_key_request *req, phi_key_emit_fn emit,
                         void *ectx);
int phi_mongo_vault_insert(phi_mongo_vault *mv, const void *eh, const bson_t *doc);
int phi_mongo_vault_delete(phi_mongo_vault *mv, const void *eh, const uint8_t id[16]);
int phi_mongo_vault_alt_name(phi_mongo_vault *mv, const void *eh, const uint8_t id[16], const char *name, int add);
int phi_mongo_vault_replace_many(phi_mongo_vault *mv, const void *eh, const bson_t *docs, size_t *count);

/* listCollections in database `db` with `filter` (what libmongocrypt asks
 * to find a collection's $jsonSchema validator); emits each result. */
int phi_mongo_vault_collinfo(phi_mongo_vault *mv, const void *eh, const char *db, const bson_t *filter,
                             phi_key_emit_fn emit, void *ectx);

#endif
