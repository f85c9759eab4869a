/* Drives a libmongocrypt context through its states, answering each with
 * the I/O the caller supplied. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "mcrypt/bridge_private.h"
#include "mcrypt/mcrypt_impl_private.h"

#define MAX_KEYS_PER_REQUEST 4096

typedef struct key_lookup {
    uint8_t (*ids)[16];
    size_t n_ids;
    const char **names;
    size_t n_names;
    unsigned char *found_id;
    unsigned char *found_name;
    mongocrypt_ctx_t *ctx;
    const void *eh;
    phi_mcrypt *m;
} key_lookup;

static int collect_in(const void *eh, bson_iter_t *in, key_lookup *kl, int want_ids)
{
    bson_iter_t arr;
    if (!BSON_ITER_HOLDS_ARRAY(in) || !bson_iter_recurse(in, &arr))
        return phi_error(eh, PHICRYPT_EINTERNAL, "key vault query: unexpected $in operand");
    while (bson_iter_next(&arr)) {
        if (want_ids) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            if (!BSON_ITER_HOLDS_BINARY(&arr))
                return phi_error(eh, PHICRYPT_EINTERNAL, "key vault query: key id is not binary");
            bson_iter_binary(&arr, &st, &len, &data);
            if (len != 16)
                return phi_error(eh, PHICRYPT_EBADDATA, "key id of %u bytes (a UUID has 16)", (unsigned)len);
            if (kl->n_ids >= MAX_KEYS_PER_REQUEST)
                return phi_error(eh, PHICRYPT_EBADDATA, "more than %d keys requested at once", MAX_KEYS_PER_REQUEST);
            memcpy(kl->ids[kl->n_ids++], data, 16);
        } else {
            if (!BSON_ITER_HOLDS_UTF8(&arr))
                return phi_error(eh, PHICRYPT_EINTERNAL, "key vault query: alt name is not a string");
            if (kl->n_names >= MAX_KEYS_PER_REQUEST)
                return phi_error(eh, PHICRYPT_EBADDATA, "more than %d keys requested at once", MAX_KEYS_PER_REQUEST);
            kl->names[kl->n_names++] = bson_iter_utf8(&arr, NULL);
        }
    }
    return 0;
}

/* libmongocrypt's key filter is {$or: [{_id: {$in: [...]}}, {keyAltNames:
 * {$in: [...]}}]}; walk it without assuming the order of the branches. */
static int parse_filter(const void *eh, bson_iter_t *it, key_lookup *kl, int depth)
{
    if (depth > 8)
        return phi_error(eh, PHICRYPT_EINTERNAL, "key vault query nested too deeply");
    while (bson_iter_next(it)) {
        const char *k = bson_iter_key(it);
        bson_iter_t child;
        if ((strcmp(k, "_id") == 0 || strcmp(k, "keyAltNames") == 0) && BSON_ITER_HOLDS_DOCUMENT(it)) {
            int rc;
            if (!bson_iter_recurse(it, &child) || !bson_iter_find(&child, "$in"))
                return phi_error(eh, PHICRYPT_EINTERNAL, "key vault query: expected $in under %s", k);
            if ((rc = collect_in(eh, &child, kl, k[0] == '_')) != 0)
                return rc;
        } else if (BSON_ITER_HOLDS_ARRAY(it) || BSON_ITER_HOLDS_DOCUMENT(it)) {
            int rc;
            if (!bson_iter_recurse(it, &child))
                return phi_error(eh, PHICRYPT_EINTERNAL, "key vault query: unreadable");
            if ((rc = parse_filter(eh, &child, kl, depth + 1)) != 0)
                return rc;
        }
    }
    return 0;
}

static int emit_key(void *ectx, const bson_t *doc)
{
    key_lookup *kl = ectx;
    bson_iter_t it;
    mongocrypt_binary_t *bin = NULL;
    bson_t bridged;
    int rc, translated = 0;

    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_BINARY(&it)) {
        bson_subtype_t st;
        uint32_t len;
        const uint8_t *data;
        bson_iter_binary(&it, &st, &len, &data);
        for (size_t i = 0; len == 16 && i < kl->n_ids; i++)
            if (memcmp(kl->ids[i], data, 16) == 0)
                kl->found_id[i] = 1;
    }
    if (bson_iter_init_find(&it, doc, "keyAltNames") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t a;
        bson_iter_recurse(&it, &a);
        while (bson_iter_next(&a)) {
            if (!BSON_ITER_HOLDS_UTF8(&a))
                continue;
            for (size_t i = 0; i < kl->n_names; i++)
                if (strcmp(kl->names[i], bson_iter_utf8(&a, NULL)) == 0)
                    kl->found_name[i] = 1;
        }
    }
    /* Keys of providers libmongocrypt does not know go re-wrapped. */
    if ((rc = phi_mcrypt_bridge_in(kl->m, kl->eh, doc, &bridged, &translated)) != 0)
        return rc;
    rc = phi_mcrypt_binary_of(kl->eh, translated ? &bridged : doc, &bin);
    if (rc == 0 && !mongocrypt_ctx_mongo_feed(kl->ctx, bin))
        rc = 1;
    mongocrypt_binary_destroy(bin);
    if (translated)
        phi_bson_wipe_destroy(&bridged);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        rc = phi_mcrypt_ctx_error(kl->ctx, kl->eh, "key vault document");
        if (rc == PHICRYPT_EAUTH) {
            /* The local provider unwraps while the key is fed. */
            char u[37] = "(unknown id)";
            const uint8_t *id;
            bson_subtype_t st;
            uint32_t len;
            if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_BINARY(&it)) {
                bson_iter_binary(&it, &st, &len, &id);
                if (len == 16)
                    phi_uuid_format(u, id);
            }
            phi_error(kl->eh, rc, "data key %s could not be unwrapped with the configured master key "
                      "(wrong master key, or a tampered key vault)", u);
        }
        return rc;
    }
    return 0;
}

/* The caller matches the filter itself (rewrapping). */
static int need_keys_by_filter(phi_mcrypt *m, mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io)
{
    mongocrypt_binary_t *op = mongocrypt_binary_new();
    key_lookup kl = { 0 };
    bson_t filter;
    int rc = 0;
    kl.ctx = ctx;
    kl.eh = eh;
    kl.m = m;
    if (!op)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (!mongocrypt_ctx_mongo_op(ctx, op))
        rc = phi_mcrypt_ctx_error(ctx, eh, "key vault query");
    else if (!bson_init_static(&filter, mongocrypt_binary_data(op), mongocrypt_binary_len(op)))
        rc = phi_error(eh, PHICRYPT_EINTERNAL, "libmongocrypt gave an unreadable key vault query");
    else if ((rc = io->find_by_filter(io->ctx, eh, &filter, emit_key, &kl)) == 0 && !mongocrypt_ctx_mongo_done(ctx))
        rc = phi_mcrypt_ctx_error(ctx, eh, "data key");
    mongocrypt_binary_destroy(op);
    return rc;
}

static int need_keys(phi_mcrypt *m, mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io)
{
    mongocrypt_binary_t *op = mongocrypt_binary_new();
    bson_t filter;
    bson_iter_t it;
    key_lookup kl = { 0 };
    int rc = 0;

    kl.ctx = ctx;
    kl.eh = eh;
    kl.m = m;
    if (!op)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (!mongocrypt_ctx_mongo_op(ctx, op)) {
        rc = phi_mcrypt_ctx_error(ctx, eh, "key vault query");
        goto out;
    }
    if (!bson_init_static(&filter, mongocrypt_binary_data(op), mongocrypt_binary_len(op)) ||
        !bson_iter_init(&it, &filter)) {
        rc = phi_error(eh, PHICRYPT_EINTERNAL, "libmongocrypt gave an unreadable key vault query");
        goto out;
    }
    kl.ids = phi_calloc(MAX_KEYS_PER_REQUEST, 16);
    kl.names = phi_calloc(MAX_KEYS_PER_REQUEST, sizeof *kl.names);
    kl.found_id = phi_calloc(MAX_KEYS_PER_REQUEST, 1);
    kl.found_name = phi_calloc(MAX_KEYS_PER_REQUEST, 1);
    if (!kl.ids || !kl.names || !kl.found_id || !kl.found_name) {
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = parse_filter(eh, &it, &kl, 0)) != 0)
        goto out;
    if (!io || !io->find_keys) {
        rc = phi_error(eh, PHICRYPT_EINTERNAL, "no key vault to look keys up in");
        goto out;
    }
    {
        phi_key_request req = { (const uint8_t(*)[16])kl.ids, kl.n_ids, kl.names, kl.n_names };
        if ((rc = io->find_keys(io->ctx, eh, &req, emit_key, &kl)) != 0)
            goto out;
    }
    for (size_t i = 0; i < kl.n_ids; i++) {
        if (!kl.found_id[i]) {
            char u[37];
            phi_uuid_format(u, kl.ids[i]);
            /* drivers report this as "not all keys requested were satisfied";
             * code that matches their message keeps working */
            rc = phi_error(eh, PHICRYPT_EKEYNOTFOUND,
                           "not all keys requested were satisfied: data key %s not found in the key vault", u);
            goto out;
        }
    }
    for (size_t i = 0; i < kl.n_names; i++) {
        if (!kl.found_name[i]) {
            rc = phi_error(eh, PHICRYPT_EKEYNOTFOUND,
                           "not all keys requested were satisfied: no data key with alt name '%s' in the key vault",
                           kl.names[i]);
            goto out;
        }
    }
    if (!mongocrypt_ctx_mongo_done(ctx)) {
        rc = phi_mcrypt_ctx_error(ctx, eh, "data key");
        if (rc == PHICRYPT_EAUTH)
            phi_error(eh, rc, "a data key could not be unwrapped with the configured master key "
                      "(wrong master key, or a tampered key vault)");
    }
out:
    phi_free(kl.ids);
    phi_free(kl.names);
    phi_free(kl.found_id);
    phi_free(kl.found_name);
    mongocrypt_binary_destroy(op);
    return rc;
}

static int run(phi_mcrypt *m, mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what, bson_t *out);

int phi_mcrypt_run(phi_mcrypt *m, mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io,
                   const char *what, bson_t *out)
{
    phi_mcrypt_kms_run saved;
    int rc;
    phi_mcrypt_kms_run_begin(&saved);
    rc = run(m, ctx, eh, io, what, out);
    phi_mcrypt_kms_run_end(&saved);
    return rc;
}

static int run(phi_mcrypt *m, mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what, bson_t *out)
{
    for (;;) {
        int rc;
        switch (mongocrypt_ctx_state(ctx)) {
        case MONGOCRYPT_CTX_NEED_MONGO_KEYS:
            if ((rc = (io && io->find_by_filter) ? need_keys_by_filter(m, ctx, eh, io) : need_keys(m, ctx, eh, io)) != 0)
                return rc;
            break;
        case MONGOCRYPT_CTX_NEED_KMS:
            if ((rc = phi_mcrypt_need_kms(ctx, eh, io, what)) != 0)
                return rc;
            break;
        case MONGOCRYPT_CTX_NEED_KMS_CREDENTIALS:
            if ((rc = phi_mcrypt_need_kms_credentials(ctx, eh, io, what)) != 0)
                return rc;
            break;
        case MONGOCRYPT_CTX_NEED_MONGO_MARKINGS:
            if ((rc = phi_mcrypt_need_markings(ctx, eh, io, what)) != 0)
                return rc;
            break;
        case MONGOCRYPT_CTX_NEED_MONGO_COLLINFO:
            if ((rc = phi_mcrypt_need_collinfo(ctx, eh, io, what)) != 0)
                return rc;
            break;
        case MONGOCRYPT_CTX_READY: {
            mongocrypt_binary_t *res = mongocrypt_binary_new();
            bson_t view;
            if (!res)
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            if (!mongocrypt_ctx_finalize(ctx, res)) {
                mongocrypt_binary_destroy(res);
                return phi_mcrypt_ctx_error(ctx, eh, what);
            }
            if (!bson_init_static(&view, mongocrypt_binary_data(res), mongocrypt_binary_len(res))) {
                mongocrypt_binary_destroy(res);
                return phi_error(eh, PHICRYPT_EINTERNAL, "%s: libmongocrypt returned invalid BSON", what);
            }
            bson_copy_to(&view, out);
            /* The result may be plaintext; libmongocrypt frees its copy. */
            phi_wipe(mongocrypt_binary_data(res), mongocrypt_binary_len(res));
            mongocrypt_binary_destroy(res);
            return 0;
        }
        case MONGOCRYPT_CTX_ERROR:
            return phi_mcrypt_ctx_error(ctx, eh, what);
        case MONGOCRYPT_CTX_DONE:
            return phi_error(eh, PHICRYPT_EINTERNAL, "%s: libmongocrypt finished without a result", what);
        default:
            return phi_error(eh, PHICRYPT_EUNSUPPORTED, "%s: libmongocrypt needs I/O this version does not provide (state %d)",
                             what, (int)mongocrypt_ctx_state(ctx));
        }
    }
}

int phi_mcrypt_run_with(phi_mcrypt *m, const void *eh, const phi_mcrypt_io *io, const char *what, const bson_t *doc,
                        phi_ctx_init_fn init, void *arg, bson_t *out)
{
    mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(m->crypt);
    mongocrypt_binary_t *bin = NULL;
    int rc;
    if (!ctx)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory creating a libmongocrypt context");
    if ((rc = phi_mcrypt_binary_of(eh, doc, &bin)) == 0) {
        if (!init(ctx, bin, arg))
            rc = phi_mcrypt_ctx_error(ctx, eh, what);
        else
            rc = phi_mcrypt_run(m, ctx, eh, io, what, out);
    }
    mongocrypt_binary_destroy(bin);
    mongocrypt_ctx_destroy(ctx);
    return rc;
}
