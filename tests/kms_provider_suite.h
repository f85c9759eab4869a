/* One suite every KMS plug-in passes (test_kms_plugin for the example
 * XChaCha20-Poly1305 module, test_kms_pkcs11 for the PKCS#11 one): round
 * trips under two provider names, relabelled and tampered key material,
 * rewrap to the standard local provider and back, threads. */
#ifndef KMS_PROVIDER_SUITE_H
#define KMS_PROVIDER_SUITE_H

#include <phicrypt.h>

typedef struct kps_fixture {
    const char *dir;      /* holds keyvault.jsonl */
    const char *provider; /* the plug-in's name, e.g. "hsm" */
    /* A new client with the plug-in and a plain "local" provider; NULL
     * skips the case (e.g. no SoftHSM2). */
    phicrypt_t *(*open)(void *ctx);
    void *ctx;
} kps_fixture;

/* Each takes a kps_fixture * as cmocka state. */
void kps__roundtrip_two_names(void **state);
void kps__relabelled_and_tampered_refused(void **state);
void kps__rewrap_to_local_and_back(void **state);
void kps__threads_create_keys(void **state);

#endif
