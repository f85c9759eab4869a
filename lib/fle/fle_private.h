/* Shared by the files of lib/fle. */
#ifndef PHI_FLE_PRIVATE_H
#define PHI_FLE_PRIVATE_H

#include <phicrypt.h>
#include "core/handle_private.h"
#include "mcrypt/mcrypt_private.h"

/* The key-vault I/O every libmongocrypt operation of this client uses. */
void phi_fle_io(phicrypt_t *ph, phi_mcrypt_io *io);

/* The same, plus in-process query analysis for automatic encryption. */
void phi_fle_auto_io(phicrypt_t *ph, phi_mcrypt_io *io);

/* Holds the client's libmongocrypt instance for the length of one call. */
phi_mcrypt *phi_fle_acquire(phicrypt_t *ph);
void phi_fle_release(phicrypt_t *ph);

/* Why `t` may not be encrypted with `algorithm` (1 det, 2 random), or NULL. */
const char *phi_fle_type_refusal(int t, int algorithm);

/* Checks a master key document for `provider` (masterkey.c): every
 * required member present (the error names the missing one), no unknown
 * member, all strings. */
int phi_fle_check_master_key(const void *eh, const char *provider, const bson_t *mk);

#endif
