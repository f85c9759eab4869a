/* The audit log's MongoDB anchor: checkpoints copied into the collection
 * <db>.phicrypt_audit_anchors of a MongoDB deployment that the log's
 * writer cannot silently rewrite (another host, other credentials).
 *
 * One document per checkpoint: {log: "<log id hex>", n: <seq>, path:
 * "<host>:<log path>", at: <date>, line: "<checkpoint line>"}, with a
 * unique index {log: 1, n: 1} (one checkpoint per seq of a log, whoever
 * writes it). The writer reads the newest document of its own path (like
 * the last line of an anchor file); a verifier reads every document of the
 * log's id. Every reply is bounded (line size, document count, bytes) and
 * a malformed one is an error, never a checkpoint. Without libmongoc every
 * entry point fails with PHICRYPT_EUNSUPPORTED. */
#ifndef PHI_ANCHOR_MONGO_PRIVATE_H
#define PHI_ANCHOR_MONGO_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <phicrypt.h>

#define PHI_AUDIT_MANCHOR_COLLECTION "phicrypt_audit_anchors"
/* A checkpoint line is about 600 bytes; anything far larger is hostile. */
#define PHI_AUDIT_MANCHOR_MAX_LINE 16384
/* What a verifier reads at most (about 100,000 checkpoints). */
#define PHI_AUDIT_MANCHOR_MAX_TEXT ((size_t)64 << 20)

typedef struct phi_audit_manchor phi_audit_manchor;

/* Whether an anchor spec names MongoDB: "mongodb" (the key vault's
 * deployment) or a mongodb:// / mongodb+srv:// URI. */
int phi_audit_manchor_spec(const char *spec);
/* Parses `spec` (see above); `what` names it in messages. */
int phi_audit_manchor_new(phi_audit_manchor **out, const void *eh, const char *what, const char *spec);
/* Connects it (no I/O yet): "mongodb" takes `kv_uri` (which must be a
 * MongoDB URI) and the database of `kv_ns`; a URI takes its own database,
 * or "phicrypt". `log_path` names the writer's log (NULL for a verifier). */
int phi_audit_manchor_bind(phi_audit_manchor *m, const void *eh, const char *kv_uri, const char *kv_ns,
                           const char *log_path);
void phi_audit_manchor_free(phi_audit_manchor *m);
/* "mongodb://host:port/db.phicrypt_audit_anchors" (never credentials). */
const char *phi_audit_manchor_name(const phi_audit_manchor *m);

/* The newest checkpoint anchored for this writer's log path: *line
 * (malloc'd, NUL-terminated) or NULL when there is none, and its seq. */
int phi_audit_manchor_newest(phi_audit_manchor *m, const void *eh, char **line, size_t *len, int64_t *seq);
/* Anchors one checkpoint line (no newline) of seq `seq`; fails when the
 * server does not take it (the caller fails closed). */
int phi_audit_manchor_insert(phi_audit_manchor *m, const void *eh, const char *line, size_t len, int64_t seq);
/* Every checkpoint anchored for log id `log_hex`, oldest first, as text
 * of complete lines (malloc'd; *text NULL when there are none). */
int phi_audit_manchor_text(phi_audit_manchor *m, const void *eh, const char *log_hex, char **text, size_t *len);

#endif
