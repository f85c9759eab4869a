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
} phi_config;

int phi_config_parse(phi_config **out, const void *eh, const char *json, const char *base_dir);
void phi_config_free(phi_config *cfg);

#endif
