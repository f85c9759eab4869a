/* Explicit encryption and decryption of single values. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "fle/fle_private.h"

/* MongoDB refuses single-valued types under any algorithm (their
 * ciphertext would reveal the value) and, for deterministic encryption,
 * types whose equality is not byte equality or that cannot be queried. */
const char *phi_fle_type_refusal(int t, int algorithm)
{
    switch (t) {
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
    case BSON_TYPE_MINKEY:
    case BSON_TYPE_MAXKEY:
        return "has a single possible value and cannot be encrypted";
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128:
    case BSON_TYPE_BOOL:
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
    case BSON_TYPE_CODEWSCOPE:
        return algorithm == PHICRYPT_ALG_DETERMINISTIC ? "cannot be encrypted deterministically (use random)" : NULL;
    default:
        return NULL;
    }
}

static int value_of(phicrypt_t *ph, const bson_t *doc, const char *what, bson_iter_t *it)
{
    if (!bson_iter_init(it, doc) || !bson_iter_next(it) || strcmp(bson_iter_key(it), "v") != 0)
        return phi_error(ph, PHICRYPT_EBADDATA, "%s: expected the document {\"v\": <value>}", what);
    {
        bson_iter_t more = *it;
        if (bson_iter_next(&more))
            return phi_error(ph, PHICRYPT_EBADDATA, "%s: expected only the field \"v\"", what);
    }
    return 0;
}

static int is_ciphertext(const bson_iter_t *it)
{
    bson_subtype_t st;
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_BINARY(it))
        return 0;
    bson_iter_binary(it, &st, &len, &data);
    return st == BSON_SUBTYPE_ENCRYPTED;
}

static int encrypt_doc(phicrypt_t *ph, const bson_t *in, const phicrypt_encrypt_opts *opts, bson_t *out)
{
    bson_iter_t it;
    const char *why;
    phi_mcrypt_io io;
    int rc;

    if (!opts)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_encrypt: options are required (a key and an algorithm)");
    if (opts->version != PHICRYPT_ENCRYPT_OPTS_VERSION)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_encrypt_opts: version %u unknown (expected %u)",
                         opts->version, PHICRYPT_ENCRYPT_OPTS_VERSION);
    if (opts->algorithm != PHICRYPT_ALG_DETERMINISTIC && opts->algorithm != PHICRYPT_ALG_RANDOM)
        return phi_error(ph, PHICRYPT_EINVAL, "algorithm %d unknown (deterministic or random)", (int)opts->algorithm);
    if (!opts->key_id == !opts->key_alt_name)
        return phi_error(ph, PHICRYPT_EINVAL, "give exactly one of key_id and key_alt_name");
    if (opts->key_alt_name && !*opts->key_alt_name)
        return phi_error(ph, PHICRYPT_EINVAL, "key_alt_name is empty");
    if ((rc = value_of(ph, in, "encrypt", &it)) != 0)
        return rc;
    if (is_ciphertext(&it))
        return phi_error(ph, PHICRYPT_EINVAL, "encrypt: the value is already encrypted (binary subtype 6)");
    if ((why = phi_fle_type_refusal(bson_iter_type(&it), opts->algorithm)) != NULL)
        return phi_error(ph, PHICRYPT_EINVAL, "encrypt: a value of BSON type %s %s",
                         phi_bson_type_name(bson_iter_type(&it)), why);
    phi_fle_io(ph, &io);
    rc = phi_mcrypt_encrypt_value(phi_fle_acquire(ph), ph, &io, in, (int)opts->algorithm, opts->key_id,
                                  opts->key_alt_name, out);
    phi_fle_release(ph);
    return rc;
}

static int decrypt_doc(phicrypt_t *ph, const bson_t *in, bson_t *out)
{
    bson_iter_t it;
    phi_mcrypt_io io;
    int rc;
    bson_subtype_t st;
    uint32_t len;
    const uint8_t *data;

    if ((rc = value_of(ph, in, "decrypt", &it)) != 0)
        return rc;
    if (!is_ciphertext(&it))
        return phi_error(ph, PHICRYPT_EBADDATA, "decrypt: the value is not a ciphertext (binary subtype 6), it is %s",
                         phi_bson_type_name(bson_iter_type(&it)));
    /* FLE1 ciphertext: 1 byte type (1 det, 2 random), 16-byte key id, then
     * IV + at least one AES block + 32-byte tag. Checking the frame here
     * gives "truncated" rather than an opaque crypto failure. */
    bson_iter_binary(&it, &st, &len, &data);
    if (len < 1 || (data[0] != 1 && data[0] != 2))
        return phi_error(ph, PHICRYPT_EBADDATA,
                         "decrypt: not a CSFLE (FLE1) ciphertext (blob subtype %u)", len ? (unsigned)data[0] : 0u);
    if (len < 1 + 16 + 16 + 16 + 32)
        return phi_error(ph, PHICRYPT_EBADDATA, "decrypt: truncated ciphertext (%u bytes; at least 81 expected)",
                         (unsigned)len);
    phi_fle_io(ph, &io);
    rc = phi_mcrypt_decrypt_value(phi_fle_acquire(ph), ph, &io, in, out);
    phi_fle_release(ph);
    return rc;
}

int phicrypt_encrypt(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *value_doc, size_t value_doc_len,
                     const phicrypt_encrypt_opts *opts)
{
    bson_t in, res;
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_encrypt: NULL argument");
    if ((rc = phi_bson_view(ph, "encrypt", value_doc, value_doc_len, &in)) != 0)
        return rc;
    if ((rc = encrypt_doc(ph, &in, opts, &res)) != 0)
        return rc;
    rc = phi_buf_from_bson(ph, out, &res);
    bson_destroy(&res);
    return rc;
}

/* The ungated decryption; the public call (lib/access/plain.c) decides first. */
int phi_decrypt_raw(phicrypt_t *ph, phicrypt_buf *out, const uint8_t *ciphertext_doc, size_t ciphertext_doc_len)
{
    bson_t in, res;
    int rc;
    if (!ph || !out)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_decrypt: NULL argument");
    if ((rc = phi_bson_view(ph, "decrypt", ciphertext_doc, ciphertext_doc_len, &in)) != 0)
        return rc;
    if ((rc = decrypt_doc(ph, &in, &res)) != 0)
        return rc;
    rc = phi_buf_from_bson(ph, out, &res);
    phi_bson_wipe_destroy(&res);
    return rc;
}

/* Turns {"v": value} into the value's Extended JSON in a phicrypt_buf. */
static int value_json_out(phicrypt_t *ph, phicrypt_buf *out, const bson_t *doc, int canonical)
{
    bson_iter_t it;
    size_t n;
    char *json;
    if (!bson_iter_init_find(&it, doc, "v"))
        return phi_error(ph, PHICRYPT_EINTERNAL, "result without a value");
    json = phi_bson_value_to_json(ph, &it, canonical, &n);
    if (!json)
        return phicrypt_errcode(ph);
    phi_buf_give(out, json, n);
    return 0;
}

int phicrypt_encrypt_json(phicrypt_t *ph, phicrypt_buf *out, const char *value_json, const phicrypt_encrypt_opts *opts)
{
    bson_t in, res;
    int rc;
    if (!ph || !out || !value_json)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_encrypt_json: NULL argument");
    if ((rc = phi_json_value_to_bson(ph, "encrypt: input", value_json, strlen(value_json), &in)) != 0)
        return rc;
    rc = encrypt_doc(ph, &in, opts, &res);
    phi_bson_wipe_destroy(&in);
    if (rc != 0)
        return rc;
    rc = value_json_out(ph, out, &res, 1);
    bson_destroy(&res);
    return rc;
}

int phi_decrypt_json_raw(phicrypt_t *ph, phicrypt_buf *out, const char *ciphertext_json, int canonical)
{
    bson_t in, res;
    int rc;
    if (!ph || !out || !ciphertext_json)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_decrypt_json: NULL argument");
    if ((rc = phi_json_value_to_bson(ph, "decrypt: input", ciphertext_json, strlen(ciphertext_json), &in)) != 0)
        return rc;
    rc = decrypt_doc(ph, &in, &res);
    bson_destroy(&in);
    if (rc != 0)
        return rc;
    rc = value_json_out(ph, out, &res, canonical);
    phi_bson_wipe_destroy(&res);
    return rc;
}
