/* A file of documents, one canonical Extended JSON document per line: the
 * storage of the file key vault and the keyring.
 *
 * Readers never lock: writers replace the whole file atomically (temp
 * file, fsync, rename), so a reader sees the old or the new version.
 * Writers serialise on "<file>.lock" (flock) and re-read the file under
 * the lock, so several processes can modify it at once without losing a
 * change. Parsed documents are cached and reloaded when the file's
 * identity (inode, size, mtime) changes. A damaged file is never
 * rewritten: every operation reports the bad line instead. */
#ifndef PHI_DOCSTORE_PRIVATE_H
#define PHI_DOCSTORE_PRIVATE_H

#include <stddef.h>
#include <bson/bson.h>

typedef struct phi_docstore phi_docstore;

/* Checks one parsed line; returns 0 or records an error naming `line`. */
typedef int (*phi_doc_validate_fn)(const void *eh, const char *path, size_t line, const bson_t *doc);

/* `what` names the store in messages ("key vault", "keyring"); errcode is
 * the code of its I/O and format errors. The file must exist. */
int phi_docstore_open(phi_docstore **out, const void *eh, const char *what, int errcode, const char *path,
                      phi_doc_validate_fn validate);
void phi_docstore_close(phi_docstore *s);
const char *phi_docstore_path(const phi_docstore *s);

typedef int (*phi_doc_each_fn)(void *arg, const bson_t *doc);
/* Calls fn on every document of a current view, in file order; stops at
 * the first non-zero return and returns it. */
int phi_docstore_each(phi_docstore *s, const void *eh, phi_doc_each_fn fn, void *arg);

/* A number that changes whenever the file does (this process's writes and
 * other processes' alike), subject to the recheck interval below; what
 * lets a client drop caches of what the file held. */
int phi_docstore_generation(phi_docstore *s, const void *eh, uint64_t *gen);

/* Reads check the file's identity at most once per `ms` (0, the default:
 * on every read). Writes through this store are seen at once; a change
 * made by another process is seen within `ms`. */
void phi_docstore_set_recheck_ms(phi_docstore *s, uint32_t ms);
/* Indexes documents by the string field `field` (a static string), for
 * phi_docstore_find. */
void phi_docstore_set_index(phi_docstore *s, const char *field);
/* Calls fn on the first document (file order) whose indexed field equals
 * `value`, if there is one (no call otherwise); returns fn's result, or
 * the error of reading the file. No scan: a hash lookup. */
int phi_docstore_find(phi_docstore *s, const void *eh, const char *value, phi_doc_each_fn fn, void *arg);

/* The documents a mutation edits (each a phi_bson_new'd bson_t). */
typedef struct phi_doclist {
    bson_t **docs;
    size_t n, cap;
} phi_doclist;

int phi_doclist_push_copy(phi_doclist *l, const bson_t *doc);
void phi_doclist_remove(phi_doclist *l, size_t i);
/* Replaces docs[i] by `doc`, taking ownership (doc from phi_bson_new). */
void phi_doclist_replace(phi_doclist *l, size_t i, bson_t *doc);

/* A heap bson_t with the alignment libbson declares (bson_init'd). */
bson_t *phi_bson_new(void);
void phi_bson_free(bson_t *b);

/* Lock, re-read, let fn edit the list, write the file, unlock. Nothing is
 * written when fn fails. */
typedef int (*phi_doc_mutate_fn)(void *arg, const void *eh, phi_doclist *l);
int phi_docstore_modify(phi_docstore *s, const void *eh, phi_doc_mutate_fn fn, void *arg);

#endif
