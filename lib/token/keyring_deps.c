/* Which keyring keys a data key wraps: deleting that data key destroys
 * them all (every token and pseudonym key, the audit keys), so the
 * client refuses it unless told to shred (see phi_client_key_dependants). */
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/handle_private.h"
#include "core/mem_private.h"
#include "token/keyring_impl_private.h"

typedef struct deps_args {
    const uint8_t *id;
    phi_kr_deps *out;
} deps_args;

/* A CSFLE ciphertext (BinData 6) names its data key in bytes 1..16. */
static int wrapped_by(const bson_t *ver, const uint8_t id[16])
{
    bson_iter_t f;
    bson_subtype_t st;
    uint32_t len;
    const uint8_t *b;
    if (!bson_iter_init_find(&f, ver, "material") || !BSON_ITER_HOLDS_BINARY(&f))
        return 0;
    bson_iter_binary(&f, &st, &len, &b);
    return len > 17 && memcmp(b + 1, id, 16) == 0;
}

static int deps_cb(void *arg, const bson_t *doc)
{
    deps_args *a = arg;
    bson_iter_t it, v;
    size_t here = 0;
    if (!bson_iter_init_find(&it, doc, "versions") || !bson_iter_recurse(&it, &v))
        return 0;
    while (bson_iter_next(&v)) {
        bson_t ver;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&v))
            continue;
        bson_iter_document(&v, &len, &data);
        if (bson_init_static(&ver, data, len) && wrapped_by(&ver, a->id))
            here++;
    }
    if (here) {
        size_t l = strlen(a->out->names);
        a->out->keys++;
        a->out->versions += here;
        if (bson_iter_init_find(&it, doc, "name") && BSON_ITER_HOLDS_UTF8(&it) && l + 8 < sizeof a->out->names)
            snprintf(a->out->names + l, sizeof a->out->names - l, "%s'%s'", l ? ", " : "", bson_iter_utf8(&it, NULL));
    }
    return 0;
}

int phi_keyring_wrapped_by(phicrypt_t *ph, const uint8_t id[16], phi_kr_deps *out)
{
    deps_args a = { id, out };
    int rc;
    memset(out, 0, sizeof *out);
    if (!ph->keyring)
        return 0;
    rc = phi_docstore_each(ph->keyring->store, ph, deps_cb, &a);
    /* Names that did not fit end the list with "...". */
    if (strlen(out->names) + 8 >= sizeof out->names)
        memcpy(out->names + sizeof out->names - 5, "...", 4);
    return rc;
}

void phi_keyring_forget_all(phicrypt_t *ph)
{
    phi_keyring *kr = ph->keyring;
    for (;;) {
        char *name;
        if (!kr)
            return;
        pthread_mutex_lock(&kr->mu);
        name = kr->cache ? phi_strdup(kr->cache->name) : NULL;
        pthread_mutex_unlock(&kr->mu);
        if (!name)
            return; /* empty, or out of memory: forget what we can */
        /* One name at a time, waiting for its users as forget does. */
        phi_kr_cache_forget(kr, name, 0);
        phi_free(name);
    }
}
