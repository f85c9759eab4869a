/* JSON and BSON helpers shared by all modules. */
#ifndef PHI_JSON_PRIVATE_H
#define PHI_JSON_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

/* Parses Extended JSON (relaxed or canonical) text into *out (initialised on
 * success). `where` names the input for the error message (a file name and
 * line, "config", "stdin"); the message quotes libbson's reason, which
 * carries only a position, never the input text. */
int phi_json_to_bson(const void *eh, const char *where, const char *json, size_t len, bson_t *out);

/* Parses one Extended JSON *value* (not a document) into the document {v: value}. */
int phi_json_value_to_bson(const void *eh, const char *where, const char *json, size_t len, bson_t *out);

/* Canonical (or relaxed) Extended JSON without insignificant spaces.
 * Returns a phi_malloc'd string (wipe with phi_wipe_free if it may hold
 * plaintext), or NULL on failure (error recorded). */
char *phi_bson_to_json(const void *eh, const bson_t *doc, int canonical, size_t *len);

/* The same for the value of the iterator (a single value). */
char *phi_bson_value_to_json(const void *eh, const bson_iter_t *it, int canonical, size_t *len);

/* Copies BSON bytes into a bson_t that owns nothing (a read-only view);
 * returns PHICRYPT_EBADDATA when the bytes are not a valid document. */
int phi_bson_view(const void *eh, const char *what, const uint8_t *data, size_t len, bson_t *view);

/* Walks every nested document and array: true when all of them parse to
 * the end. bson_validate alone lets some inconsistent nested lengths
 * through, on which libbson's copy functions abort. */
bool phi_bson_deep_valid(const bson_t *doc);

/* Hands the bytes of `doc` to `out` (a phicrypt_buf *), copying them. */
struct phicrypt_buf;
int phi_buf_from_bson(const void *eh, struct phicrypt_buf *out, const bson_t *doc);
int phi_buf_from_bytes(const void *eh, struct phicrypt_buf *out, const uint8_t *data, size_t len);

/* Wipes and destroys a bson_t whose buffer may hold secrets or plaintext. */
void phi_bson_wipe_destroy(bson_t *doc);

/* The BSON type's name as MongoDB spells it ("string", "objectId" ...). */
const char *phi_bson_type_name(bson_type_t t);

/* The position of the dot in a MongoDB namespace "db.collection" (both
 * parts non-empty; the collection may contain dots), or NULL when `ns` is
 * not one. */
const char *phi_ns_dot(const char *ns);

/* UUIDs: 16 bytes <-> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
void phi_uuid_format(char out[37], const uint8_t id[16]);
int phi_uuid_parse(uint8_t id[16], const char *text);

/* Edit distance suggestion: the candidate closest to `word` (distance <= 3),
 * or NULL. Used for "unknown key 'keyfile' (did you mean 'key_file'?)". */
const char *phi_suggest(const char *word, const char *const *candidates);

/* "configuration: unknown key '<where><key>'", with a suggestion from
 * `known` (NULL-terminated) when one is close; returns PHICRYPT_ECONFIG. */
int phi_config_unknown_key(const void *eh, const char *where, const char *key, const char *const *known);

#endif
