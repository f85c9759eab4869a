/* Shared between the files of lib/mcrypt only. */
#ifndef PHI_MCRYPT_IMPL_PRIVATE_H
#define PHI_MCRYPT_IMPL_PRIVATE_H

#include <mongocrypt/mongocrypt.h>

#include "mcrypt/mcrypt_private.h"

struct phi_mcrypt {
    mongocrypt_t *crypt;
    /* bridge.c: set when the registry names providers libmongocrypt does
     * not know; bridge_key (secure memory, 96 bytes) is then libmongocrypt's
     * "local" key and real_local the configured one (or NULL). */
    uint8_t *bridge_key;
    const uint8_t *real_local;
    const struct phi_kms_registry *registry;
};

/* Runs ctx to completion; on success *out holds the finalized document. */
int phi_mcrypt_run(phi_mcrypt *m, mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io,
                   const char *what, bson_t *out);

/* State handlers, one file each: kms_states.c, markings.c. */
/* Per-thread state of one context's KMS steps (kms_states.c); saved and
 * restored around each phi_mcrypt_run, which may nest. */
typedef struct phi_mcrypt_kms_run {
    unsigned placeholders; /* 1 << (0 aws, 1 azure, 2 gcp) */
    char reason[256];
} phi_mcrypt_kms_run;
void phi_mcrypt_kms_run_begin(phi_mcrypt_kms_run *saved);
void phi_mcrypt_kms_run_end(const phi_mcrypt_kms_run *saved);
int phi_mcrypt_need_kms(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what);
int phi_mcrypt_need_kms_credentials(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what);
int phi_mcrypt_need_markings(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what);
int phi_mcrypt_need_collinfo(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what);

/* Creates a context, lets `init` set its options and initialise it with
 * `doc`, runs it to completion (see phi_mcrypt_run) and destroys it. */
typedef bool (*phi_ctx_init_fn)(mongocrypt_ctx_t *ctx, mongocrypt_binary_t *doc, void *arg);
int phi_mcrypt_run_with(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const char *what, const bson_t *doc,
                        phi_ctx_init_fn init, void *arg, bson_t *out);

/* Records ctx's error against eh with `what` as context; returns the code. */
int phi_mcrypt_ctx_error(mongocrypt_ctx_t *ctx, const void *eh, const char *what);

/* Installs our OpenSSL crypto (crypto_hooks.c) before mongocrypt_init. */
int phi_mcrypt_install_hooks(mongocrypt_t *crypt, const void *eh);

/* A binary view of a bson_t (no copy); size checked before narrowing. */
int phi_mcrypt_binary_of(const void *eh, const bson_t *doc, mongocrypt_binary_t **out);

#endif
