/* A fixed key set for fuzz targets that need a client: a local master key
 * and the audit data key, both constant, so that inputs made
 * once (seed audit logs) stay valid across runs. Not for real keys. */
#ifndef PHI_FUZZ_KEYSET_H
#define PHI_FUZZ_KEYSET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <phicrypt.h>

static char phi_fuzz_dir[64];
static phicrypt_t *phi_fuzz_ph;

/* The temporary key set goes when the process ends (replay runs). */
static void phi_fuzz_cleanup(void)
{
    static const char *const names[] = { "keyvault.jsonl", "keyvault.jsonl.lock", "audit.jsonl", "audit.jsonl.lock",
                                         NULL };
    char path[128];
    /* Freed before LeakSanitizer looks: phicrypt_free also releases this
     * thread's crypto-hook state, which lives in guarded memory LSan does
     * not scan. */
    phicrypt_free(phi_fuzz_ph);
    phi_fuzz_ph = NULL;
    for (size_t i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", phi_fuzz_dir, names[i]);
        unlink(path);
    }
    rmdir(phi_fuzz_dir);
}

/* The audit data key ("phicrypt-audit", material 0x5a * 96) wrapped by
 * the master key below: a fixed id too, since the audit keys derive from
 * CSFLE ciphertexts that carry the key id. */
static const char phi_fuzz_audit_key[] =
    "{\"_id\":{\"$binary\":{\"base64\":\"F1xtxl8/R0C2ENRzZmZJ1A==\",\"subType\":\"04\"}},\"keyAltNames\":[\"phicrypt-audit\"],\"keyMaterial\":{\"$binary\":{\"base64\":\"HCEAikNTjPk03uJQvhU3MTj/MvuLRvWEOKcYmBpWgiAi72vOmAqy2D4ZoB0b/HwUV7xgdV4bBI13pvQQgTXieqZ6fc0ea2F64HTn/SiiqR3H22Tttcq/UTTi+yUJMxJukRzgU/a+i2yZyt0B7DgYMCtQLJRl8wO1AwlSZdMBgicIsjV1QuafdaK/IqapzpJjoBAoyKTfZbbwZwQ2S9O3Ig==\",\"subType\":\"00\"}},\"creationDate\":{\"$date\":{\"$numberLong\":\"1796405736428\"}},\"updateDate\":{\"$date\":{\"$numberLong\":\"1796405736428\"}},\"status\":{\"$numberInt\":\"0\"},\"masterKey\":{\"provider\":\"local\"}}\n";

/* Creates the key set in a new temporary directory and returns a client
 * with an audit log configured; `audit_path` (>= 4200 bytes) receives the
 * log's path when not NULL. */
static phicrypt_t *phi_fuzz_client(char *audit_path)
{
    static const char b64[] = "ZnV6ei1tYXN0ZXIta2V5LWZ1enotbWFzdGVyLWtleS1mdXp6LW1hc3Rlci1rZXktZnV6ei1tYXN0ZXIta2V5LWZ1enotbWFzdGVyLWtleS1mdXp6LW1hc3Rlci1rZXkt";
    char dir[] = "/tmp/phicrypt-fuzz-XXXXXX", path[4200], cfg[8192];
    phicrypt_t *ph = NULL;
    FILE *f;
    if (!mkdtemp(dir))
        return NULL;
    snprintf(phi_fuzz_dir, sizeof phi_fuzz_dir, "%s", dir);
    atexit(phi_fuzz_cleanup);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", dir);
    if (!(f = fopen(path, "w")))
        return NULL;
    fputs(phi_fuzz_audit_key, f);
    fclose(f);
    chmod(path, 0600);
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);
    snprintf(cfg, sizeof cfg,
             "{\"kms_providers\": {\"local\": {\"key\": \"%s\"}}, \"key_vault\": \"file:%s/keyvault.jsonl\","
             " \"audit\": {\"path\": \"%s\", \"subject_field\": \"mrn\"}}",
             b64, dir, path);
    if (phicrypt_new(&ph, cfg) != 0)
        return NULL;
    if (audit_path)
        snprintf(audit_path, 4200, "%s", path);
    phi_fuzz_ph = ph;
    return ph;
}

#endif
