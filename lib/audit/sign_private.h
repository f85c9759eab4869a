/* Signatures and digests for evidence other modules write (the de-
 * identification run manifest): signed with the audit log's checkpoint
 * key, so that one public key file (phicrypt audit public-keys) checks
 * both. lib/audit is the one place that holds that key. */
#ifndef PHI_AUDIT_SIGN_PRIVATE_H
#define PHI_AUDIT_SIGN_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <phicrypt.h>

/* Ed25519 signature of msg[0..n) by the current checkpoint signing key
 * ("audit:sign"): its version, the signature and the public key.
 * PHICRYPT_EUNSUPPORTED when ph has no audit log configured. */
int phi_audit_sign(phicrypt_t *ph, const void *msg, size_t n, uint32_t *kv, uint8_t sig[64], uint8_t pk[32]);

/* Checks sig over msg[0..n) with version kv of the signing key, taken from
 * `pubkeys` (text of a public key file: lines {"kv": N, "ed25519": hex})
 * or, when NULL, from ph's keyring. 0 good, PHICRYPT_EAUTH bad,
 * PHICRYPT_EKEYNOTFOUND no such version, PHICRYPT_EBADDATA bad key file.
 * Errors are recorded against eh. */
int phi_audit_verify_sig(phicrypt_t *ph, const void *eh, const char *pubkeys, uint32_t kv, const void *msg, size_t n,
                         const uint8_t sig[64]);

/* SHA-256 of a file's bytes (and their count). PHICRYPT_EIO naming it. */
int phi_audit_sha256_file(const void *eh, const char *path, uint8_t out[32], uint64_t *bytes);
void phi_audit_sha256(const void *d, size_t n, uint8_t out[32]);

#endif
