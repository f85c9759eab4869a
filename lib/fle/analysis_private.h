/* In-process query analysis for client-side field-level encryption (FLE1).
 *
 * libmongocrypt, when it auto-encrypts a command, enters
 * MONGOCRYPT_CTX_NEED_MONGO_MARKINGS and hands over (mongocrypt_ctx_mongo_op)
 * the command it would send to mongocryptd: the original command without
 * "$db", plus "jsonSchema: <doc>" and "isRemoteSchema: <bool>"
 * (libmongocrypt 1.7.2, src/mongocrypt-ctx-encrypt.c,
 * _create_markings_cmd_bson). We answer what mongocryptd would:
 *
 *   { hasEncryptionPlaceholders: <bool: result holds at least one marking>,
 *     schemaRequiresEncryption: <bool: the schema has an 'encrypt' node>,
 *     result: <the command without jsonSchema, isRemoteSchema and $db, every
 *              value to encrypt replaced by an intent-to-encrypt marking>,
 *     hasEncryptedPlaceholders: <same as hasEncryptionPlaceholders>,
 *     ok: 1.0 }
 *
 * The first three fields are what mongocryptd sends (its query analysis
 * serialises exactly those names, and drops "$db" from "result").
 * libmongocrypt 1.7.2 (_mongo_feed_markings in the same file) reads
 * "schemaRequiresEncryption" and "hasEncryptedPlaceholders" -- a name
 * mongocryptd never sends -- and, when either is false, ignores "result" and
 * sends the original command; so both spellings are given, with one value.
 * For explain, result is {explain: <marked inner command>, verbosity:
 * <given, else "allPlansExecution">, ...} as mongocryptd re-wraps it.
 *
 * A marking is BSON binary subtype 6 whose bytes are 0x00 followed by the
 * BSON document { a: int32 1 (deterministic) | 2 (random),
 *                 ki: <UUID, binary subtype 4, 16 bytes> | ka: <string>,
 *                 v: <the value> }
 * (src/mongocrypt-marking.c, _mongocrypt_marking_parse_fle1_placeholder).
 *
 * Only this directory's analysis_*.c files implement what is declared here;
 * none of them includes mongocrypt.h or does I/O. */
#ifndef PHI_FLE_ANALYSIS_PRIVATE_H
#define PHI_FLE_ANALYSIS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

/* Builds the mongocryptd-style reply for `request` (see above) in *reply,
 * which the caller destroys with bson_destroy. `db` is the database the
 * command runs in (only used in messages). A request {isMaster: 1} (sent by
 * libmongocrypt before "create"/"createIndexes") gets
 * {ok: 1.0, ismaster: true, maxWireVersion: 17}.
 * Returns 0; PHICRYPT_ESCHEMA when the schema or the command is refused
 * (message names the field path and the reason, never a value);
 * PHICRYPT_EBADDATA for malformed input; PHICRYPT_ENOMEM; PHICRYPT_EINVAL
 * for NULL arguments. On failure *reply is left uninitialised. */
int phi_analysis_mark(const void *eh, const char *db, const bson_t *request, bson_t *reply);
/* trusted 1: `request` was built by libmongocrypt from a command already
 * validated (phicrypt_encrypt_command), so it is not validated again. */
int phi_analysis_mark_ex(const void *eh, const char *db, const bson_t *request, bson_t *reply, int trusted);

/* Describes which fields `schema` encrypts, for tests and `phicrypt
 * analyze`. On success *out (caller bson_destroy) is
 *   { schemaRequiresEncryption: bool,
 *     fields: [ { path: "a.b" (a patternProperties step is written /re/,
 *                 an additionalProperties step *),
 *                 algorithm: "deterministic" | "random",
 *                 keyId: <UUID> | keyIdPointer: "/json/pointer",
 *                 bsonType: [ "string", ... ] (absent when unrestricted) },
 *               ... ] }
 * in schema order. Refuses what phi_analysis_mark would refuse for a local
 * schema (isRemoteSchema false: the schema_map case). */
int phi_analysis_describe(const void *eh, const bson_t *schema, bson_t *out);

/* ---- shared between the analysis_*.c files ---- */

/* PHI_ALG_OPAQUE marks what an aggregation stage made of encrypted values
 * that no ciphertext comparison can match: arrays built by $push or
 * $addToSet, and values whose encryption is known only at run time ($cond
 * branches that differ). It never reaches a marking. */
enum { PHI_ALG_DETERMINISTIC = 1, PHI_ALG_RANDOM = 2, PHI_ALG_OPAQUE = 3 };

/* Resolved encryption of one schema node (encrypt + inherited
 * encryptMetadata). */
typedef struct phi_encinfo {
    int algorithm;          /* PHI_ALG_* */
    bool key_is_pointer;    /* keyId is a JSON pointer (key alt name) */
    uint8_t key_uuid[16];   /* when !key_is_pointer */
    char *key_pointer;      /* when key_is_pointer, e.g. "/altname" */
    uint32_t types;         /* phi_type_bit() set; 0 = any type */
} phi_encinfo;

typedef struct phi_snode phi_snode;

/* A set of schema nodes that all apply to one document position (several
 * properties / patternProperties entries may match one field name). */
typedef struct phi_nodeset {
    const phi_snode **v;
    size_t n, cap;
} phi_nodeset;

/* State of one analysis. */
typedef struct phi_actx {
    const void *eh;
    phi_snode *root;
    const bson_t *schema; /* the jsonSchema the tree came from */
    bool marked;    /* a marking was produced */
    bool collation;  /* the statement has a non-simple collation */
    bool comparison; /* markings are for a query, not a write */
    bool set_value;  /* marking a $set value: no scalar may replace an
                        object that holds encrypted fields */
    int depth;       /* nesting of $and/$or/$nor/$not being analysed */
    /* aggregate: the collection the command names (NULL for aggregate: 1),
     * its schema root (a->root changes stage by stage), and the synthetic
     * nodes the stages built (freed by phi_synth_free_all) */
    const char *coll;
    phi_snode *coll_root;
    phi_snode *synth;
} phi_actx;

/* analysis_schema.c */
/* `remote`: the schema is the collection's validator (isRemoteSchema),
 * which may use every validation keyword; a local one may not. */
int phi_schema_parse(const void *eh, const bson_t *schema, bool remote, phi_snode **out);
void phi_schema_free(phi_snode *node);
bool phi_snode_has_encrypt(const phi_snode *node); /* at or below */

void phi_nodeset_clear(phi_nodeset *s);
int phi_nodeset_add(const void *eh, phi_nodeset *s, const phi_snode *node);
/* Children of every node in `in` for field `name` (properties and matching
 * patternProperties, else additionalProperties) into `out` (cleared first). */
int phi_nodeset_child(const void *eh, const phi_nodeset *in, const char *name, phi_nodeset *out);
/* The encryption of a position: NULL when no node encrypts it; refuses
 * (naming `path`) when the nodes disagree. */
int phi_nodeset_enc(const void *eh, const phi_nodeset *s, const char *path, const phi_encinfo **enc);
bool phi_nodeset_has_encrypt(const phi_nodeset *s);
bool phi_encinfo_equal(const phi_encinfo *x, const phi_encinfo *y);
/* Walks the dotted `path` from the root: *enc is its encryption (NULL if
 * none); `below` (optional) receives the nodes at the end of the path.
 * Refuses a path that continues below an encrypted field. */
int phi_schema_resolve(phi_actx *a, const char *path, const phi_encinfo **enc, phi_nodeset *below);

/* Synthetic nodes: the shape of documents after an aggregation stage. They
 * share subtrees with the parsed schema and are freed together by
 * phi_synth_free_all. NULL (with the error set) when out of memory. */
phi_snode *phi_synth_object(phi_actx *a);                        /* {} : nothing encrypted */
phi_snode *phi_synth_leaf(phi_actx *a, const phi_encinfo *enc);  /* a value encrypted as `enc` */
phi_snode *phi_synth_opaque(phi_actx *a);                        /* encrypted values no stage may compare */
phi_snode *phi_synth_clone(phi_actx *a, const phi_snode *src);   /* shallow copy; NULL src: {} */
/* Defines field `name` of synthetic `node` as `child` (replacing what the
 * schema said of that name, patterns and additionalProperties included). */
int phi_synth_set(phi_actx *a, phi_snode *node, const char *name, const phi_snode *child);
void phi_synth_free_all(phi_actx *a);
const phi_encinfo *phi_snode_enc(const phi_snode *node);

/* analysis_value.c: BSON types and markings */
uint32_t phi_type_bit(bson_type_t t);
const char *phi_type_name(bson_type_t t);
/* "[ string int ]" for a type mask, as mongocryptd lists allowed types. */
void phi_types_string(uint32_t types, char *buf, size_t size);
/* Appends key: marking(value) to `out`, after checking the value's type
 * against the schema (and, when a->comparison, that a query can use it:
 * deterministic only, no string under a non-simple collation). `doc` is the whole document the value belongs to, used
 * to resolve a JSON-pointer keyId; NULL where none may be used (updates,
 * queries). */
int phi_mark_value(phi_actx *a, const phi_encinfo *enc, const char *path, const bson_value_t *value,
                   const bson_t *doc, bson_t *out, const char *key);
/* Copies `in` into `out` (initialised by the caller), marking every value at
 * an encrypted position below the nodes `set`. `prefix` is the dotted path
 * of `in` ("" at the top). */
int phi_mark_document(phi_actx *a, const bson_t *in, const phi_nodeset *set, const char *prefix,
                      const bson_t *doc, bool top, bson_t *out);
/* $set may not replace an object holding encrypted fields by a non-object
 * (mongocryptd's rule): the refusal, naming `path`. */
int phi_set_prefix_refusal(phi_actx *a, const char *path);
/* "prefix.key" (or "key") in a caller buffer; returns false if too long. */
bool phi_path_join(char *buf, size_t size, const char *prefix, const char *key);
#define PHI_PATH_MAX 1024

/* analysis_commands.c: applies `fn` to every element of the array field at
 * `it` (each must be a document), appending the array of results to `out`. */
typedef int (*phi_doc_fn)(phi_actx *a, const bson_t *in, bson_t *out);
/* A read-only view of the document the iterator holds (false if none). */
bool phi_sub_document(bson_iter_t *it, bson_t *sub);
int phi_each_document(phi_actx *a, bson_iter_t *it, phi_doc_fn fn, bson_t *out);

/* analysis_match.c: query filters */
int phi_mark_filter(phi_actx *a, const bson_t *filter, bson_t *out);

/* analysis_expr.c: aggregation expressions. Appends key: <expression with
 * every constant compared to a deterministically encrypted field marked> to
 * `out`; *result is the node describing the expression's value (NULL when
 * it holds nothing encrypted). Refuses what cannot be evaluated on
 * ciphertext, naming the operator and the field. */
int phi_mark_expr(phi_actx *a, bson_iter_t *it, bson_t *out, const char *key, const phi_snode **result);
/* The node at dotted `path` of the current document shape: *node is NULL
 * when nothing encrypted is there; refuses a path that several schema rules
 * describe differently, or that continues below an encrypted value. */
int phi_shape_at(phi_actx *a, const char *path, const phi_snode **node);
/* A copy of `base` (NULL: {}) with dotted `path` defined as `value`. */
int phi_shape_set(phi_actx *a, const phi_snode *base, const char *path, const phi_snode *value, phi_snode **out);

/* analysis_pipeline.c: aggregate pipelines (a->root is the input shape; on
 * return it is the output shape) */
int phi_mark_pipeline(phi_actx *a, bson_iter_t *it, bson_t *out);

/* analysis_update.c: update documents (operators, replacement) */
int phi_mark_update(phi_actx *a, const bson_t *update, bson_t *out);

#endif
