/* NEED_MONGO_MARKINGS and NEED_MONGO_COLLINFO: what mongocryptd and the
 * server would answer, answered in-process. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "mcrypt/mcrypt_impl_private.h"

int phi_mcrypt_need_markings(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what)
{
    mongocrypt_binary_t *op = NULL, *bin = NULL;
    bson_t request, reply;
    int rc;

    if (!io || !io->mark)
        return phi_error(eh, PHICRYPT_EUNSUPPORTED, "%s: automatic encryption is not available here", what);
    op = mongocrypt_binary_new();
    if (!op)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (!mongocrypt_ctx_mongo_op(ctx, op)) {
        rc = phi_mcrypt_ctx_error(ctx, eh, what);
        goto out;
    }
    if (!bson_init_static(&request, mongocrypt_binary_data(op), mongocrypt_binary_len(op))) {
        rc = phi_error(eh, PHICRYPT_EINTERNAL, "%s: libmongocrypt gave an unreadable markings request", what);
        goto out;
    }
    if ((rc = io->mark(io->ctx, eh, io->db ? io->db : "", &request, &reply)) != 0)
        goto out;
    rc = phi_mcrypt_binary_of(eh, &reply, &bin);
    if (rc == 0 && !mongocrypt_ctx_mongo_feed(ctx, bin))
        rc = phi_mcrypt_ctx_error(ctx, eh, what);
    if (rc == 0 && !mongocrypt_ctx_mongo_done(ctx))
        rc = phi_mcrypt_ctx_error(ctx, eh, what);
    /* The reply holds the command's plaintext values inside the markings. */
    phi_bson_wipe_destroy(&reply);
out:
    mongocrypt_binary_destroy(bin);
    mongocrypt_binary_destroy(op);
    return rc;
}

typedef struct collinfo_feed {
    mongocrypt_ctx_t *ctx;
    const void *eh;
    const char *what;
    int fed;
} collinfo_feed;

static int feed_collinfo(void *arg, const bson_t *doc)
{
    collinfo_feed *f = arg;
    mongocrypt_binary_t *bin;
    int rc;
    if (f->fed++) /* libmongocrypt takes one collection's info */
        return 0;
    if ((rc = phi_mcrypt_binary_of(f->eh, doc, &bin)) != 0)
        return rc;
    if (!mongocrypt_ctx_mongo_feed(f->ctx, bin))
        rc = phi_mcrypt_ctx_error(f->ctx, f->eh, f->what);
    mongocrypt_binary_destroy(bin);
    return rc;
}

int phi_mcrypt_need_collinfo(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what)
{
    /* Without a server (file key vault) there is no remote schema: the
     * schema_map alone decides, as for a collection without a validator. */
    if (io && io->collinfo && io->db) {
        mongocrypt_binary_t *op = mongocrypt_binary_new();
        bson_t filter;
        collinfo_feed f = { ctx, eh, what, 0 };
        int rc;
        if (!op)
            return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        if (!mongocrypt_ctx_mongo_op(ctx, op)) {
            rc = phi_mcrypt_ctx_error(ctx, eh, what);
        } else if (!bson_init_static(&filter, mongocrypt_binary_data(op), mongocrypt_binary_len(op))) {
            rc = phi_error(eh, PHICRYPT_EINTERNAL, "%s: libmongocrypt gave an unreadable listCollections filter", what);
        } else {
            rc = io->collinfo(io->ctx, eh, io->db, &filter, feed_collinfo, &f);
        }
        mongocrypt_binary_destroy(op);
        if (rc != 0)
            return rc;
    }
    if (!mongocrypt_ctx_mongo_done(ctx))
        return phi_mcrypt_ctx_error(ctx, eh, what);
    return 0;
}
