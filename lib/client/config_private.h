/* Parsing the configuration document (see README "Configuration"):
 * unknown keys are errors that name the key. The result's layout is in
 * core/config_private.h so that modules below the client can read it. */
#ifndef PHI_CONFIG_PRIVATE_H
#define PHI_CONFIG_PRIVATE_H

#include <stdint.h>
#include <bson/bson.h>

#include "core/config_private.h"

int phi_config_parse(phi_config **out, const void *eh, const char *json, const char *base_dir);
void phi_config_free(phi_config *cfg);

/* config_kms.c: the remote providers, "tls" and "kms_options". */
int phi_config_parse_remote(phi_config *cfg, const void *eh, const char *provider, bson_iter_t *it);
int phi_config_parse_tls(phi_config *cfg, const void *eh, bson_iter_t *it);
int phi_config_parse_kms_options(phi_config *cfg, const void *eh, bson_iter_t *it);
/* "kms_plugins": loads each plug-in into cfg->kms_registry. */
int phi_config_parse_plugins(phi_config *cfg, const void *eh, bson_iter_t *it);
/* After the whole document: builds cfg->kms when a remote provider is set. */
int phi_config_kms_finish(phi_config *cfg, const void *eh);
void phi_config_kms_free(phi_config *cfg);

#endif
