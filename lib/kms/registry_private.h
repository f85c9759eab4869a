/* Named master-key providers phicrypt handles itself: local keys under a
 * name ("local:ward-a"), and plug-ins (include/phicrypt/kms.h). lib/mcrypt
 * unwraps their data keys and hands them to libmongocrypt re-wrapped under
 * an ephemeral key (mcrypt/bridge.c). */
#ifndef PHI_KMS_REGISTRY_PRIVATE_H
#define PHI_KMS_REGISTRY_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <phicrypt.h>

#define PHI_KMS_MAX_NAMED 32
#define PHI_KMS_NAME_MAX 64

typedef struct phi_kms_entry {
    char name[PHI_KMS_NAME_MAX]; /* "local", "local:ward-a", "hsm" */
    uint8_t *local_key;          /* secure memory, 96 bytes; NULL for a plug-in */
    phicrypt_kms_plugin plugin;
    void *ctx;
    void *dl;                    /* dlopen handle of a loaded module, or NULL */
} phi_kms_entry;

typedef struct phi_kms_registry {
    phi_kms_entry e[PHI_KMS_MAX_NAMED];
    size_t n;
} phi_kms_registry;

int phi_kms_registry_new(phi_kms_registry **out, const void *eh);
void phi_kms_registry_free(phi_kms_registry *reg);

/* A 96-byte local master key under `name` ("local" or "local:<name>"); copied. */
int phi_kms_registry_add_local(phi_kms_registry *reg, const void *eh, const char *name, const uint8_t key[96]);
/* A plug-in under `name`; the table is copied, ctx and dl are owned from now
 * on (closed by phi_kms_registry_free), also when this fails. */
int phi_kms_registry_add_plugin(phi_kms_registry *reg, const void *eh, const char *name,
                                const phicrypt_kms_plugin *plugin, void *ctx, void *dl);
/* Loads a plug-in shared object (kms_plugins.<name>.module) and opens it with its options. */
int phi_kms_registry_load(phi_kms_registry *reg, const void *eh, const char *name, const char *module,
                          const char *options_json, const char *base_dir);

/* The entry for a key document's masterKey.provider: the exact name, or for
 * plug-ins the part before ':'. NULL when none. */
const phi_kms_entry *phi_kms_registry_find(const phi_kms_registry *reg, const char *provider);
/* Entries other than plain "local": when there are any, libmongocrypt's
 * local provider becomes the ephemeral bridge key. */
size_t phi_kms_registry_named(const phi_kms_registry *reg);

/* A plug-in name is [a-z0-9_-]{1,32} and not a standard provider. */
int phi_kms_plugin_name_ok(const char *name);

/* The plug-in's wrap/unwrap with its error text prefixed by the provider. */
int phi_kms_entry_wrap(const phi_kms_entry *e, const void *eh, const uint8_t key[96], const char *master_key_json,
                       uint8_t *out, size_t cap, size_t *out_len);
int phi_kms_entry_unwrap(const phi_kms_entry *e, const void *eh, const uint8_t *wrapped, size_t len,
                         const char *master_key_json, uint8_t key[96]);

#endif
