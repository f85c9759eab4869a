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

/* How often an operation looks whether another process changed the key
 * vault (delete, rotate, rewrap, shred): such a change is seen by the
 * next operation after at most this long (docs/kms.md). */
#define PHI_FLE_KEYVAULT_RECHECK_MS 250

/* Holds the client's libmongocrypt instance for the length of one call;
 * first drops cached keys when another process changed the key vault. */
phi_mcrypt *phi_fle_acquire(phicrypt_t *ph);
void phi_fle_release(phicrypt_t *ph);

/* Why `t` may not be encrypted with `algorithm` (1 det, 2 random), or NULL. */
const char *phi_fle_type_refusal(int t, int algorithm);

/* phicrypt_decrypt, phicrypt_decrypt_json and phicrypt_decrypt_document
 * without the access/audit gate: only lib/access (which decides and
 * audits) and the engines it drives call these. */
int phi_decrypt_raw(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len);
int phi_decrypt_json_raw(phicrypt_t *ph, phicrypt_buf *out, const char *ciphertext_json, int canonical);
int phi_decrypt_document_raw(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *doc_bson, size_t doc_len);
/* Checks a master key document for `provider` (masterkey.c): every
 * required member present (the error names the missing one), no unknown
 * member, all strings. */
int phi_fle_check_master_key(const void *eh, const char *provider, const bson_t *mk);

#endif
