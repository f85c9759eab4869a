/* The adapter around libmongocrypt: the only code that includes
 * mongocrypt.h. It drives libmongocrypt's state machine and turns its
 * statuses into phicrypt codes; the I/O it needs (key vault, markings,
 * KMS) is supplied by the caller through phi_mcrypt_io. */
#ifndef PHI_MCRYPT_PRIVATE_H
#define PHI_MCRYPT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

typedef struct phi_mcrypt phi_mcrypt;

typedef struct phi_mcrypt_opts {
    const uint8_t *local_key; /* 96 bytes, or NULL when no local provider */
    const bson_t *schema_map; /* or NULL */
    int crypto_hooks;         /* our OpenSSL crypto instead of libmongocrypt's */
    int64_t key_cache_ttl_ms; /* -1: libmongocrypt's default */
    /* The remote providers ({aws: {...}, azure: ..., gcp: ..., kmip: ...}) as
     * libmongocrypt takes them, or NULL; copied, never retained. */
    const bson_t *kms_remote;
    int kms_on_demand;        /* one of them is {}: credentials on demand */
    /* Named local keys and KMS plug-ins (kms/registry_private.h), or NULL.
     * When it names any, libmongocrypt's local provider is an ephemeral
     * key and phicrypt wraps for "local" itself (mcrypt/bridge.c). */
    const struct phi_kms_registry *registry;
} phi_mcrypt_opts;

int phi_mcrypt_new(phi_mcrypt **out, const void *eh, const phi_mcrypt_opts *opts);
void phi_mcrypt_free(phi_mcrypt *m);

/* What libmongocrypt asked the key vault for. */
typedef struct phi_key_request {
    const uint8_t (*ids)[16];
    size_t n_ids;
    const char *const *names;
    size_t n_names;
} phi_key_request;

/* Called for each key document found; returns 0 or an error code. */
typedef int (*phi_key_emit_fn)(void *ectx, const bson_t *keydoc);

struct phi_kms;

typedef struct phi_mcrypt_io {
    void *ctx;
    /* Emits every key document matching the request (missing ones are
     * simply not emitted; the driver reports them). */
    int (*find_keys)(void *ctx, const void *eh, const phi_key_request *req, phi_key_emit_fn emit, void *ectx);
    /* Answers libmongocrypt's NEED_MONGO_MARKINGS (mongocryptd's job):
     * `request` is the command with jsonSchema/isRemoteSchema appended;
     * *reply is initialised on success. NULL: automatic encryption is off. */
    int (*mark)(void *ctx, const void *eh, const char *db, const bson_t *request, bson_t *reply);
    /* KMS network I/O and credentials (lib/kms); NULL: local provider only. */
    struct phi_kms *kms;
    /* The database of the command being encrypted (for `mark`). */
    const char *db;
    /* Emits every key document matching a MongoDB filter as libmongocrypt
     * wrote it (rewrapping takes the caller's filter). NULL: the driver
     * reads ids and alt names out of the filter and calls find_keys. */
    int (*find_by_filter)(void *ctx, const void *eh, const bson_t *filter, phi_key_emit_fn emit, void *ectx);
    /* Answers NEED_MONGO_COLLINFO: emits listCollections results for
     * `filter` in database `db` (the collection's $jsonSchema validator).
     * NULL, or no result: the schema_map alone decides. */
    int (*collinfo)(void *ctx, const void *eh, const char *db, const bson_t *filter, phi_key_emit_fn emit, void *ectx);
} phi_mcrypt_io;

typedef struct phi_datakey_req {
    const char *provider;          /* "local" */
    const bson_t *master_key;      /* provider-specific, or NULL for local */
    const char *const *alt_names;
    size_t n_alt_names;
    const uint8_t *key_material;   /* 96 bytes or NULL */
} phi_datakey_req;

/* Creates a data key document (not stored). */
int phi_mcrypt_datakey(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const phi_datakey_req *req,
                       bson_t *out);

/* Explicit encryption of {v: value}; algorithm 1 deterministic, 2 random;
 * exactly one of key_id and alt_name. *out is {v: BinData(6)}. */
int phi_mcrypt_encrypt_value(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *value_doc,
                             int algorithm, const uint8_t *key_id, const char *alt_name, bson_t *out);

/* Explicit decryption of {v: BinData(6)} into {v: value}. */
int phi_mcrypt_decrypt_value(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *cipher_doc,
                             bson_t *out);

/* Automatic encryption of a command run in database `db`; *out is the
 * command to send. */
int phi_mcrypt_encrypt_command(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const char *db,
                               const bson_t *cmd, bson_t *out);

/* Automatic decryption of every subtype-6 value in `doc`. */
int phi_mcrypt_decrypt_document(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *doc,
                                bson_t *out);

/* Rewraps every data key matching `filter` under `provider` and
 * `master_key` (NULL provider: each key's current master key). *out is
 * {v: [{_id, keyMaterial, masterKey}, ...]} (possibly empty); nothing is
 * stored. */
int phi_mcrypt_rewrap(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *filter,
                      const char *provider, const bson_t *master_key, bson_t *out);

/* 1 when this instance bridges providers libmongocrypt does not know. */
int phi_mcrypt_bridged(const phi_mcrypt *m);
/* 1 when phicrypt wraps for `provider` itself (bridge.c): "local" on a
 * bridged instance, "local:<name>", a plug-in. */
int phi_mcrypt_own_provider(const phi_mcrypt *m, const char *provider);
/* `doc` (a key document, or a rewrap result {_id, keyMaterial, masterKey})
 * holds keyMaterial under the bridge key; *out (initialised) is the same
 * with keyMaterial wrapped for `provider` and masterKey = master_key (may
 * be NULL) plus provider. */
int phi_mcrypt_bridge_out(phi_mcrypt *m, const void *eh, const bson_t *doc, const char *provider,
                          const bson_t *master_key, bson_t *out);

/* Maps a libmongocrypt error message to a phicrypt code. */
int phi_mcrypt_code_for_message(const char *msg);

/* Wipes and frees the calling thread's crypto-hook state (contexts and
 * cached keys); other threads' go at their exit. phicrypt_free calls it:
 * the main thread never "exits" for pthread key destructors. */
void phi_mcrypt_hooks_thread_clear(void);

#endif
