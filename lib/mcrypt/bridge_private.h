/* Data keys of providers libmongocrypt does not know (named local keys,
 * KMS plug-ins): unwrapped here and handed to libmongocrypt re-wrapped
 * under an ephemeral per-instance local key in guarded memory. */
#ifndef PHI_MCRYPT_BRIDGE_PRIVATE_H
#define PHI_MCRYPT_BRIDGE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

#include "mcrypt/mcrypt_private.h"

#define PHI_LOCAL_WRAPPED_BYTES 160

/* localwrap.c: libmongocrypt's local-provider key wrap. */
int phi_mcrypt_local_wrap(const void *eh, const uint8_t kek[96], const uint8_t dek[96],
                          uint8_t out[PHI_LOCAL_WRAPPED_BYTES]);
int phi_mcrypt_local_unwrap(const void *eh, const uint8_t kek[96], const uint8_t *in, size_t len, uint8_t dek[96]);

/* A key document as libmongocrypt must see it: *translated = 0 when `doc`
 * goes as it is; else *out (initialised) is `doc` with keyMaterial
 * re-wrapped under the bridge key and masterKey {provider: "local"}. */
int phi_mcrypt_bridge_in(phi_mcrypt *m, const void *eh, const bson_t *doc, bson_t *out, int *translated);

#endif
