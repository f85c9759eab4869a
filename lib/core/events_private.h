/* The event sink: key operations in lib/fle and lib/token report here, and
 * lib/client connects the sink to the audit log (and the guard to the
 * audit log's "which key versions does the log still need"). Defined in
 * core so that neither side includes the other. */
#ifndef PHI_EVENTS_PRIVATE_H
#define PHI_EVENTS_PRIVATE_H

#include <stdint.h>

#include <phicrypt.h>

/* A successful key operation ("key_create", "key_delete", "key_rewrap",
 * "keyring_create", "keyring_rotate", "keyring_destroy", ...). */
typedef struct phi_key_event {
    const char *op;
    const uint8_t *id;      /* a data key id (16 bytes), or NULL */
    const char *key_name;   /* a keyring key, or NULL */
    uint32_t version;       /* a keyring key version, or 0 */
    int64_t count;
    const char *reason;     /* e.g. why a guard was overridden, or NULL */
} phi_key_event;

typedef int (*phi_key_event_fn)(phicrypt_t *ph, const phi_key_event *ev);

/* Asked before a keyring key version is rotated or destroyed ("rotate",
 * "destroy"); returns 0 to allow, or an error recorded against ph. */
typedef int (*phi_key_guard_fn)(phicrypt_t *ph, const char *op, const char *name, uint32_t version);

/* Returns `rc` when it is not 0 (nothing is reported), else what the sink
 * returns (0 without a sink). */
int phi_key_event_emit(phicrypt_t *ph, int rc, const char *op, const uint8_t *id, const char *key_name,
                       uint32_t version, int64_t count);
int phi_key_event_send(phicrypt_t *ph, const phi_key_event *ev);

/* 0 without a guard. */
int phi_key_guard(phicrypt_t *ph, const char *op, const char *name, uint32_t version);

#endif
