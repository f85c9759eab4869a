/* The configuration document (see README "Configuration"), parsed and
 * checked: unknown keys are errors that name the key. */
#ifndef PHI_CONFIG_PRIVATE_H
#define PHI_CONFIG_PRIVATE_H

#include <stdint.h>
#include <bson/bson.h>

#define PHI_LOCAL_KEY_BYTES 96

typedef struct phi_config {
    char *base_dir;          /* relative paths resolve against this (NULL: cwd) */
    uint8_t *local_key;      /* secure memory, 96 bytes, or NULL */
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
    struct phi_access *access; /* "access" rules (lib/access), or NULL */
    struct phi_audit *audit;   /* "audit" log (lib/audit), or NULL */
} phi_config;

int phi_config_parse(phi_config **out, const void *eh, const char *json, const char *base_dir);
void phi_config_free(phi_config *cfg);

/* config_kms.c: the remote providers, "tls" and "kms_options". */
int phi_config_unknown_key(const void *eh, const char *where, const char *key, const char *const *known);
int phi_config_parse_remote(phi_config *cfg, const void *eh, const char *provider, bson_iter_t *it);
int phi_config_parse_tls(phi_config *cfg, const void *eh, bson_iter_t *it);
int phi_config_parse_kms_options(phi_config *cfg, const void *eh, bson_iter_t *it);
/* After the whole document: builds cfg->kms when a remote provider is set. */
int phi_config_kms_finish(phi_config *cfg, const void *eh);
void phi_config_kms_free(phi_config *cfg);

#endif
