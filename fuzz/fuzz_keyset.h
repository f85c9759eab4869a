/* A fixed key set for fuzz targets that need a client: a local master key
 * and the audit data key made from constant bytes, so that inputs made
 * once (seed audit logs) stay valid across runs. Not for real keys. */
#ifndef PHI_FUZZ_KEYSET_H
#define PHI_FUZZ_KEYSET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <phicrypt.h>

/* Creates the key set in a new temporary directory and returns a client
 * with an audit log configured; `audit_path` (>= 4200 bytes) receives the
 * log's path when not NULL. */
static phicrypt_t *phi_fuzz_client(char *audit_path)
{
    static const char b64[] = "ZnV6ei1tYXN0ZXIta2V5LWZ1enotbWFzdGVyLWtleS1mdXp6LW1hc3Rlci1rZXktZnV6ei1tYXN0ZXIta2V5LWZ1enotbWFzdGVyLWtleS1mdXp6LW1hc3Rlci1rZXkt";
    uint8_t material[96];
    char dir[] = "/tmp/phicrypt-fuzz-XXXXXX", path[4200], cfg[8192];
    const char *names[1] = { "phicrypt-audit" };
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    phicrypt_t *ph = NULL;
    uint8_t id[16];
    FILE *f;
    if (!mkdtemp(dir))
        return NULL;
    snprintf(path, sizeof path, "%s/keyvault.jsonl", dir);
    if (!(f = fopen(path, "w")))
        return NULL;
    fclose(f);
    chmod(path, 0600);
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);
    snprintf(cfg, sizeof cfg,
             "{\"kms_providers\": {\"local\": {\"key\": \"%s\"}}, \"key_vault\": \"file:%s/keyvault.jsonl\","
             " \"audit\": {\"path\": \"%s\", \"subject_field\": \"mrn\"}}",
             b64, dir, path);
    if (phicrypt_new(&ph, cfg) != 0)
        return NULL;
    memset(material, 0x5a, sizeof material);
    o.alt_names = names;
    o.alt_names_count = 1;
    o.key_material = material;
    o.key_material_len = sizeof material;
    if (phicrypt_datakey_create(ph, id, &o) != 0) {
        phicrypt_free(ph);
        return NULL;
    }
    if (audit_path)
        snprintf(audit_path, 4200, "%s", path);
    return ph;
}

#endif
