/* Fuzz target: decryption of arbitrary documents and values. A key set is
 * made once in a temporary directory with the MongoDB specification's
 * custom key material under the all-zero key id, so that seeds holding that
 * key's ciphertexts reach the crypto. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>
#include <sodium.h>

#include <phicrypt.h>
#include "fuzz.h"

static phicrypt_t *client;

static void setup(void)
{
    static const char material_b64[] =
        "xPTAjBRG5JiPm+d3fj6XLi2q5DMXUS/f1f+SMAlhhwkhDRL0kr8r9GDLIGTAGlvC"
        "+HVjSIgdL+RKwZCvpXSyxTICWSXTUYsWYPyu3IoHbuBZdmw2faM3WhcRIgbMReU5";
    char dir[] = "/tmp/phicrypt-fuzz-XXXXXX", path[256], *cfg, line[4096];
    uint8_t material[96], id[16], zero[16] = { 0 };
    size_t mlen;
    phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
    FILE *f;
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/master.key", dir);
    if (phicrypt_local_key_file_create(path) != 0)
        abort();
    snprintf(path, sizeof path, "%s/keyvault.jsonl", dir);
    fclose(fopen(path, "w"));
    if (asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}}, \"key_vault\": \"file:%s\"}",
                 dir, path) < 0 || phicrypt_new(&client, cfg) != 0)
        abort();
    sodium_base642bin(material, sizeof material, material_b64, strlen(material_b64), NULL, &mlen, NULL,
                      sodium_base64_VARIANT_ORIGINAL);
    o.key_material = material;
    o.key_material_len = 96;
    if (phicrypt_datakey_create(client, id, &o) != 0)
        abort();
    /* Re-home the key under the all-zero id, as the specification's test does. */
    f = fopen(path, "r");
    if (!f || !fgets(line, sizeof line, f))
        abort();
    fclose(f);
    {
        bson_t doc, moved = BSON_INITIALIZER;
        char *json;
        if (!bson_init_from_json(&doc, line, -1, NULL))
            abort();
        BSON_APPEND_BINARY(&moved, "_id", BSON_SUBTYPE_UUID, zero, 16);
        bson_copy_to_excluding_noinit(&doc, &moved, "_id", NULL);
        json = bson_as_canonical_extended_json(&moved, NULL);
        f = fopen(path, "w");
        fprintf(f, "%s\n", json);
        fclose(f);
        bson_free(json);
        bson_destroy(&doc);
        bson_destroy(&moved);
    }
    phicrypt_free(client);
    if (phicrypt_new(&client, cfg) != 0)
        abort();
    free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    if (!client)
        setup();
    if (phicrypt_decrypt_document(client, &out, data, size) == 0)
        phicrypt_buf_dispose(&out);
    if (phicrypt_decrypt(client, &out, data, size) == 0)
        phicrypt_buf_dispose(&out);
    return 0;
}
