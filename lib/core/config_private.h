/* The parsed configuration: data only, so that every module can read the
 * part that concerns it (lib/client parses it; see client/config_private.h).
 * The module-specific parts are opaque pointers owned by their modules. */
#ifndef PHI_CORE_CONFIG_PRIVATE_H
#define PHI_CORE_CONFIG_PRIVATE_H

#include <stdint.h>
#include <bson/bson.h>

struct phi_kms_settings;
struct phi_kms;
struct phi_kms_registry;
struct phi_access;
struct phi_audit;

#define PHI_LOCAL_KEY_BYTES 96

typedef struct phi_config {
    char *base_dir;          /* relative paths resolve against this (NULL: cwd) */
    uint8_t *local_key;      /* secure memory, 96 bytes, or NULL */
    int local_key_inline;    /* written in the configuration ("key"), not a key_file */
    char *key_vault;         /* "file:PATH" as written */
    char *key_vault_ns;      /* "db.coll" */
    char *keyring;           /* "file:PATH" as written, or NULL */
    bson_t *schema_map;      /* or NULL */
    int crypto_hooks;        /* 1 (default): phicrypt's OpenSSL crypto for libmongocrypt */
    int64_t key_cache_ttl_ms; /* -1: libmongocrypt's default (60 s) */
    /* Remote KMS providers (config_kms.c): the kms_providers document
     * libmongocrypt takes, secrets included (wiped when freed). */
    bson_t *kms_remote;      /* or NULL */
    int kms_on_demand;       /* a remote provider is {} */
    struct phi_kms_settings *kms_settings; /* "tls" and "kms_options" while parsing */
    struct phi_kms *kms;     /* network I/O, built from the above; or NULL */
    /* Named local keys ("local:ward-a") and KMS plug-ins ("kms_plugins",
     * phicrypt_kms_register): kms/registry_private.h; or NULL. */
    struct phi_kms_registry *kms_registry;
    struct phi_access *access; /* "access" rules (lib/access), or NULL */
    struct phi_audit *audit;   /* "audit" log (lib/audit), or NULL */
} phi_config;

#endif
