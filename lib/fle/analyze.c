/* phicrypt_analyze_command: which fields automatic encryption would
 * encrypt, with which key and algorithm — the markings, without values. */
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"
#include "fle/fle_private.h"

/* Returned by the capture callback to stop libmongocrypt once the
 * markings are known; never escapes this file. */
#define ANALYZE_CAPTURED 1

typedef struct capture {
    bson_t result;
    int have;
    int no_schema; /* libmongocrypt asked with an empty schema: the namespace has none */
} capture;

static int capture_mark(void *ctx, const void *eh, const char *db, const bson_t *request, bson_t *reply)
{
    capture *c = ctx;
    bson_t tmp;
    bson_iter_t it;
    int rc;
    if (bson_iter_init_find(&it, request, "jsonSchema") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&it, &len, &data);
        c->no_schema = len <= 5; /* {} */
    }
    rc = phi_analysis_mark(eh, db, request, &tmp);
    if (rc != 0)
        return rc;
    if (bson_iter_init_find(&it, &tmp, "result") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_t view;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&view, data, len);
        bson_copy_to(&view, &c->result);
        c->have = 1;
    }
    phi_bson_wipe_destroy(&tmp);
    (void)reply;
    return ANALYZE_CAPTURED;
}

/* Appends one {path, algorithm, keyId|keyAltName} per marking in `doc`. */
static void collect(const bson_t *doc, const char *prefix, bson_t *fields, uint32_t *n, int depth)
{
    bson_iter_t it;
    if (depth > 100 || !bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        char path[PHI_PATH_MAX];
        if (!phi_path_join(path, sizeof path, prefix, bson_iter_key(&it)))
            continue;
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            uint32_t len;
            const uint8_t *data;
            bson_t sub;
            if (BSON_ITER_HOLDS_DOCUMENT(&it))
                bson_iter_document(&it, &len, &data);
            else
                bson_iter_array(&it, &len, &data);
            if (bson_init_static(&sub, data, len))
                collect(&sub, path, fields, n, depth + 1);
        } else if (BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            bson_t mk, entry;
            bson_iter_t m;
            char idx[16];
            const char *key;
            bson_iter_binary(&it, &st, &len, &data);
            if (st != BSON_SUBTYPE_ENCRYPTED || len < 6 || data[0] != 0 || !bson_init_static(&mk, data + 1, len - 1))
                continue;
            bson_uint32_to_string((*n)++, &key, idx, sizeof idx);
            bson_append_document_begin(fields, key, -1, &entry);
            BSON_APPEND_UTF8(&entry, "path", path);
            if (bson_iter_init_find(&m, &mk, "a") && BSON_ITER_HOLDS_INT32(&m))
                BSON_APPEND_UTF8(&entry, "algorithm", bson_iter_int32(&m) == 1 ? "deterministic" : "random");
            if (bson_iter_init_find(&m, &mk, "ki") && BSON_ITER_HOLDS_BINARY(&m)) {
                bson_subtype_t kst;
                uint32_t klen;
                const uint8_t *kid;
                char u[37];
                bson_iter_binary(&m, &kst, &klen, &kid);
                if (klen == 16) {
                    phi_uuid_format(u, kid);
                    BSON_APPEND_UTF8(&entry, "keyId", u);
                }
            }
            if (bson_iter_init_find(&m, &mk, "ka") && BSON_ITER_HOLDS_UTF8(&m))
                BSON_APPEND_UTF8(&entry, "keyAltName", bson_iter_utf8(&m, NULL));
            bson_append_document_end(fields, &entry);
        }
    }
}

int phicrypt_analyze_command(phicrypt_t *ph, phicrypt_buf *out, const char *db, const uint8_t *cmd_bson,
                             size_t cmd_len)
{
    bson_t cmd, res, doc = BSON_INITIALIZER, fields;
    capture cap = { 0 };
    phi_mcrypt_io io;
    uint32_t n = 0;
    int rc;

    if (!ph || !out || !db || !*db)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_analyze_command: NULL argument");
    if ((rc = phi_bson_view(ph, "analyze", cmd_bson, cmd_len, &cmd)) != 0)
        return rc;
    phi_fle_io(ph, &io);
    io.mark = capture_mark;
    io.ctx = &cap;
    /* phi_fle_io's key lookup context is the vault; the capture needs its
     * own, and analysis never asks for keys before markings. */
    io.find_keys = NULL;
    rc = phi_mcrypt_encrypt_command(phi_fle_acquire(ph), ph, &io, db, &cmd, &res);
    phi_fle_release(ph);
    if (rc == 0)
        bson_destroy(&res); /* nothing to encrypt: no schema for this collection */
    if (rc == 0 || rc == ANALYZE_CAPTURED) {
        BSON_APPEND_BOOL(&doc, "ok", true);
        BSON_APPEND_ARRAY_BEGIN(&doc, "fields", &fields);
        if (cap.have)
            collect(&cap.result, "", &fields, &n, 0);
        bson_append_array_end(&doc, &fields);
        if (!cap.have || (cap.no_schema && n == 0)) {
            /* name the namespace: a typo in it ("patient" for "patients") is the usual cause */
            bson_iter_t first;
            char note[512];
            const char *coll = bson_iter_init(&first, &cmd) && bson_iter_next(&first) && BSON_ITER_HOLDS_UTF8(&first)
                                   ? bson_iter_utf8(&first, NULL)
                                   : NULL;
            if (coll && strlen(coll) < 200 && strlen(db) < 200)
                snprintf(note, sizeof note, "no schema for %s.%s (schema_map or a $jsonSchema validator); "
                         "the command is sent unencrypted", db, coll);
            else
                snprintf(note, sizeof note, "no schema applies to this command's collection; it is sent unencrypted");
            BSON_APPEND_UTF8(&doc, "note", note);
        }
        rc = 0;
    } else if (rc == PHICRYPT_ESCHEMA || rc == PHICRYPT_EBADDATA) {
        BSON_APPEND_BOOL(&doc, "ok", false);
        BSON_APPEND_UTF8(&doc, "error", phicrypt_errmsg(ph));
        rc = 0;
    }
    if (cap.have)
        phi_bson_wipe_destroy(&cap.result);
    if (rc == 0)
        rc = phi_buf_from_bson(ph, out, &doc);
    bson_destroy(&doc);
    return rc;
}
