/* Automatic encryption of commands and decryption of documents. */
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/analysis_private.h"
#include "fle/fle_private.h"

static int mark(void *ctx, const void *eh, const char *db, const bson_t *request, bson_t *reply)
{
    (void)ctx;
    return phi_analysis_mark_ex(eh, db, request, reply, 1);
}

void phi_fle_auto_io(phicrypt_t *ph, phi_mcrypt_io *io)
{
    phi_fle_io(ph, io);
    io->mark = mark;
}

static int check_db(phicrypt_t *ph, const char *db)
{
    if (!db || !*db)
        return phi_error(ph, PHICRYPT_EINVAL, "database name is empty");
    if (strpbrk(db, "./\\ \"$") || strlen(db) > 63)
        return phi_error(ph, PHICRYPT_EINVAL, "'%s' is not a valid database name", db);
    return 0;
}

static int encrypt_command(phicrypt_t *ph, const char *db, const bson_t *cmd, bson_t *out)
{
    phi_mcrypt_io io;
    int rc;
    if (bson_empty(cmd))
        return phi_error(ph, PHICRYPT_EBADDATA, "encrypt command: the command is an empty document");
    phi_fle_auto_io(ph, &io);
    rc = phi_mcrypt_encrypt_command(phi_fle_acquire(ph), ph, &io, db, cmd, out);
    phi_fle_release(ph);
    return rc;
}

int phicrypt_json_to_bson(phicrypt_t *ph, phicrypt_buf *out, const char *json, size_t json_len)
{
    bson_t doc;
    int rc;
    if (!out || !json)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_json_to_bson: NULL argument");
    size_t i = 0;
    while (i < json_len && strchr(" \t\r\n", json[i]) && json[i])
        i++;
    /* libbson would read a top-level array as the document {"0": ...} */
    if (i == json_len || json[i] != '{')
        return phi_error(ph, PHICRYPT_EBADDATA, "JSON document: expected a document starting with '{'");
    if ((rc = phi_json_to_bson(ph, "JSON document", json, json_len, &doc)) != 0)
        return rc;
    rc = phi_buf_from_bson(ph, out, &doc);
    phi_bson_wipe_destroy(&doc); /* commands hold plaintext values */
    return rc;
}

int phicrypt_bson_to_json(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *doc_bson, size_t doc_len, int canonical)
{
    bson_t doc;
    size_t n;
    int rc;
    if (!out || !doc_bson)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_bson_to_json: NULL argument");
    if ((rc = phi_bson_view(ph, "BSON document", doc_bson, doc_len, &doc)) != 0)
        return rc;
    char *text = phi_bson_to_json(ph, &doc, canonical, &n);
    if (!text)
        return phi_error_code(ph) ? phi_error_code(ph) : PHICRYPT_EBADDATA;
    phi_buf_give(out, text, n);
    return 0;
}

int phicrypt_encrypt_command(phicrypt_t *ph, phicrypt_buf *out, const char *db, const uint8_t *cmd_bson,
                             size_t cmd_len)
{
    bson_t cmd, res;
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_encrypt_command: NULL argument");
    if ((rc = check_db(ph, db)) != 0 || (rc = phi_bson_view(ph, "encrypt command", cmd_bson, cmd_len, &cmd)) != 0)
        return rc;
    if ((rc = encrypt_command(ph, db, &cmd, &res)) != 0)
        return rc;
    rc = phi_buf_from_bson(ph, out, &res);
    bson_destroy(&res);
    return rc;
}

/* Refuses subtype-6 values that are not CSFLE (FLE1) ciphertexts before
 * libmongocrypt parses them: phicrypt does not do Queryable Encryption, and
 * libmongocrypt 1.7.2 double-frees on some malformed FLE2 payloads (found by
 * fuzz/decrypt_fuzzer.c; regression input in fuzz/corpora/decrypt/). */
/* Where check_ciphertexts is: the keys from the root, as a chain on the
 * stack. The path text is only built for an error message. */
typedef struct key_chain {
    const char *key;
    const struct key_chain *up;
    size_t len; /* of the dotted path down to here */
} key_chain;

static const char *chain_path(const key_chain *c, char *buf)
{
    buf[c->len] = '\0';
    for (; c; c = c->up) {
        size_t n = strlen(c->key), at = c->len - n;
        memcpy(buf + at, c->key, n);
        if (at)
            buf[at - 1] = '.';
    }
    return buf;
}

static int check_ciphertexts(phicrypt_t *ph, const bson_t *doc, const key_chain *up, int depth)
{
    bson_iter_t it;
    char path[PHI_PATH_MAX];
    if (depth > 100)
        return phi_error(ph, PHICRYPT_EBADDATA, "decrypt document: nested deeper than 100 levels");
    if (!bson_iter_init(&it, doc))
        return phi_error(ph, PHICRYPT_EBADDATA, "decrypt document: corrupt BSON");
    while (bson_iter_next(&it)) {
        key_chain here = { bson_iter_key(&it), up, 0 };
        int rc;
        here.len = (up ? up->len + 1 : 0) + strlen(here.key);
        if (here.len >= PHI_PATH_MAX)
            return phi_error(ph, PHICRYPT_EBADDATA, "decrypt document: field path too long");
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            uint32_t len;
            const uint8_t *data;
            bson_t sub;
            if (BSON_ITER_HOLDS_DOCUMENT(&it))
                bson_iter_document(&it, &len, &data);
            else
                bson_iter_array(&it, &len, &data);
            if (!bson_init_static(&sub, data, len))
                return phi_error(ph, PHICRYPT_EBADDATA, "decrypt document: corrupt BSON at '%s'",
                                 chain_path(&here, path));
            if ((rc = check_ciphertexts(ph, &sub, &here, depth + 1)) != 0)
                return rc;
        } else if (BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            bson_iter_binary(&it, &st, &len, &data);
            if (st != BSON_SUBTYPE_ENCRYPTED)
                continue;
            if (len == 0 || (data[0] != 1 && data[0] != 2))
                return phi_error(ph, PHICRYPT_EBADDATA,
                                 "decrypt document: '%s' is an encrypted value of blob type %u, not a CSFLE ciphertext "
                                 "(Queryable Encryption payloads and markings are not decrypted here)",
                                 chain_path(&here, path), len ? (unsigned)data[0] : 0u);
        }
    }
    return 0;
}

int phi_decrypt_document_raw(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *doc_bson, size_t doc_len)
{
    bson_t doc, res;
    phi_mcrypt_io io;
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_decrypt_document: NULL argument");
    if ((rc = phi_bson_view(ph, "decrypt document", doc_bson, doc_len, &doc)) != 0 ||
        (rc = check_ciphertexts(ph, &doc, NULL, 0)) != 0)
        return rc;
    phi_fle_io(ph, &io);
    rc = phi_mcrypt_decrypt_document(phi_fle_acquire(ph), ph, &io, &doc, &res);
    phi_fle_release(ph);
    if (rc != 0)
        return rc;
    rc = phi_buf_from_bson(ph, out, &res);
    phi_bson_wipe_destroy(&res);
    return rc;
}

/* Splits "db.coll" into its parts (coll may contain dots). */
static int split_ns(phicrypt_t *ph, const char *ns, char *db, size_t dbcap, const char **coll)
{
    const char *dot = phi_ns_dot(ns);
    if (!dot || (size_t)(dot - ns) >= dbcap)
        return phi_error(ph, PHICRYPT_EINVAL, "'%s' is not a namespace (\"db.collection\")", ns ? ns : "(null)");
    memcpy(db, ns, (size_t)(dot - ns));
    db[dot - ns] = '\0';
    *coll = dot + 1;
    return check_db(ph, db);
}

int phicrypt_encrypt_document(phicrypt_t *ph, phicrypt_buf *out, const char *ns, const uint8_t *doc_bson,
                              size_t doc_len)
{
    char db[64];
    const char *coll = NULL;
    bson_t doc, cmd = BSON_INITIALIZER, arr, res;
    bson_iter_t it;
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_encrypt_document: NULL argument");
    if ((rc = split_ns(ph, ns, db, sizeof db, &coll)) != 0 ||
        (rc = phi_bson_view(ph, "encrypt document", doc_bson, doc_len, &doc)) != 0)
        return rc;
    BSON_APPEND_UTF8(&cmd, "insert", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "documents", &arr);
    BSON_APPEND_DOCUMENT(&arr, "0", &doc);
    bson_append_array_end(&cmd, &arr);
    rc = encrypt_command(ph, db, &cmd, &res);
    phi_bson_wipe_destroy(&cmd);
    if (rc != 0)
        return rc;
    if (bson_iter_init(&it, &res) && bson_iter_find_descendant(&it, "documents.0", &it) &&
        BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&it, &len, &data);
        rc = phi_buf_from_bytes(ph, out, data, len);
    } else {
        rc = phi_error(ph, PHICRYPT_EINTERNAL, "encrypt document: the encrypted insert has no document");
    }
    bson_destroy(&res);
    return rc;
}
