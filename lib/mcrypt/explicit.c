/* Data key creation and explicit encryption/decryption contexts. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "mcrypt/mcrypt_impl_private.h"

static mongocrypt_ctx_t *new_ctx(phi_mcrypt *m, const void *eh)
{
    mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(m->crypt);
    if (!ctx)
        phi_error(eh, PHICRYPT_ENOMEM, "out of memory creating a libmongocrypt context");
    return ctx;
}

/* Sets a one-field document option such as {keyAltName: "x"}. */
typedef bool (*doc_setter)(mongocrypt_ctx_t *, mongocrypt_binary_t *);

static int set_doc_opt(mongocrypt_ctx_t *ctx, const void *eh, doc_setter fn, const bson_t *doc, const char *what)
{
    mongocrypt_binary_t *bin;
    int rc;
    if ((rc = phi_mcrypt_binary_of(eh, doc, &bin)) != 0)
        return rc;
    if (!fn(ctx, bin))
        rc = phi_mcrypt_ctx_error(ctx, eh, what);
    mongocrypt_binary_destroy(bin);
    return rc;
}

int phi_mcrypt_datakey(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const phi_datakey_req *req,
                       bson_t *out)
{
    mongocrypt_ctx_t *ctx = new_ctx(m, eh);
    bson_t kek = BSON_INITIALIZER;
    int rc = 0;

    if (!ctx)
        return PHICRYPT_ENOMEM;
    if (req->master_key)
        bson_copy_to_excluding_noinit(req->master_key, &kek, "provider", NULL);
    BSON_APPEND_UTF8(&kek, "provider", req->provider ? req->provider : "local");
    if ((rc = set_doc_opt(ctx, eh, mongocrypt_ctx_setopt_key_encryption_key, &kek, "master key")) != 0)
        goto out;
    for (size_t i = 0; i < req->n_alt_names; i++) {
        bson_t an = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&an, "keyAltName", req->alt_names[i]);
        rc = set_doc_opt(ctx, eh, mongocrypt_ctx_setopt_key_alt_name, &an, "key alt name");
        bson_destroy(&an);
        if (rc != 0)
            goto out;
    }
    if (req->key_material) {
        bson_t km = BSON_INITIALIZER;
        BSON_APPEND_BINARY(&km, "keyMaterial", BSON_SUBTYPE_BINARY, req->key_material, 96);
        rc = set_doc_opt(ctx, eh, mongocrypt_ctx_setopt_key_material, &km, "key material");
        phi_bson_wipe_destroy(&km);
        if (rc != 0)
            goto out;
    }
    if (!mongocrypt_ctx_datakey_init(ctx)) {
        rc = phi_mcrypt_ctx_error(ctx, eh, "data key creation");
        goto out;
    }
    rc = phi_mcrypt_run_for(m, ctx, eh, io, "data key creation", req->provider ? req->provider : "local", out);
out:
    bson_destroy(&kek);
    mongocrypt_ctx_destroy(ctx);
    return rc;
}

typedef struct encrypt_args {
    const char *algorithm;
    const uint8_t *key_id;
    const char *alt_name;
} encrypt_args;

static bool encrypt_init(mongocrypt_ctx_t *ctx, mongocrypt_binary_t *value, void *arg)
{
    encrypt_args *a = arg;
    bool ok;
    if (a->key_id) {
        mongocrypt_binary_t *id = mongocrypt_binary_new_from_data((uint8_t *)a->key_id, 16);
        ok = id && mongocrypt_ctx_setopt_key_id(ctx, id);
        mongocrypt_binary_destroy(id);
    } else {
        bson_t an = BSON_INITIALIZER;
        mongocrypt_binary_t *bin;
        BSON_APPEND_UTF8(&an, "keyAltName", a->alt_name);
        bin = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(&an), an.len);
        ok = bin && mongocrypt_ctx_setopt_key_alt_name(ctx, bin);
        mongocrypt_binary_destroy(bin);
        bson_destroy(&an);
    }
    return ok && mongocrypt_ctx_setopt_algorithm(ctx, a->algorithm, -1) &&
           mongocrypt_ctx_explicit_encrypt_init(ctx, value);
}

int phi_mcrypt_encrypt_value(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *value_doc,
                             int algorithm, const uint8_t *key_id, const char *alt_name, bson_t *out)
{
    encrypt_args a = { algorithm == 1 ? MONGOCRYPT_ALGORITHM_DETERMINISTIC_STR : MONGOCRYPT_ALGORITHM_RANDOM_STR,
                       key_id, alt_name };
    return phi_mcrypt_run_with(m, eh, io, "encrypt", value_doc, encrypt_init, &a, out);
}

static bool decrypt_init(mongocrypt_ctx_t *ctx, mongocrypt_binary_t *doc, void *arg)
{
    (void)arg;
    return mongocrypt_ctx_explicit_decrypt_init(ctx, doc);
}

int phi_mcrypt_decrypt_value(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const bson_t *cipher_doc,
                             bson_t *out)
{
    return phi_mcrypt_run_with(m, eh, io, "decrypt", cipher_doc, decrypt_init, NULL, out);
}
