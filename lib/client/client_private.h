/* Client lifetime and the helpers every public entry point uses. */
#ifndef PHI_CLIENT_PRIVATE_H
#define PHI_CLIENT_PRIVATE_H

#include <phicrypt.h>
#include "core/handle_private.h"
#include "mcrypt/mcrypt_private.h"

/* Replaces the libmongocrypt instance so that its key cache forgets keys
 * this client just changed. */
int phi_client_reset_mcrypt(phicrypt_t *ph);
/* Refuses deleting a data key that wraps keyring keys or derives the
 * audit keys, unless `shred` (see phicrypt_datakey_delete_ex). */
int phi_client_key_dependants(phicrypt_t *ph, const uint8_t id[16], int shred);

/* audit_keys.c: gives the audit log its keys and connects core's event
 * sink and key guard to it. */
void phi_client_connect_audit(phicrypt_t *ph);

#endif
