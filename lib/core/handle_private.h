/* The client handle's layout. It lives in core so that every module can
 * reach the parts it needs (they are opaque types, forward declared here)
 * without including the modules above it. */
#ifndef PHI_HANDLE_PRIVATE_H
#define PHI_HANDLE_PRIVATE_H

#include <pthread.h>
#include <stdint.h>

struct phi_config;
struct phi_mcrypt;
struct phi_keyvault;
struct phi_keyring;
struct phi_key_event;

struct phicrypt {
    struct phi_config *cfg;
    struct phi_keyvault *kv;
    struct phi_keyring *keyring; /* NULL when the configuration has none */
    /* libmongocrypt caches data keys for a minute; when this client changes
     * the key vault (delete, alt names) it swaps in a fresh instance so that
     * the change is seen at once. Operations hold the read side. */
    pthread_rwlock_t mc_lock;
    struct phi_mcrypt *mc;
    /* Changes other processes make to the key vault: its generation when
     * last looked at, and when (CLOCK_MONOTONIC ns); lib/fle swaps in a
     * fresh instance when it moved (see phi_fle_acquire). */
    _Atomic uint64_t kv_generation;
    _Atomic uint64_t kv_checked_ns;
    /* Set by lib/client: replaces `mc` with a fresh instance. Modules call
     * it through the handle so that they need not include the client. */
    int (*reset_mcrypt)(struct phicrypt *ph);
    /* Set by lib/client (see core/events_private.h): where key operations
     * report, and who may veto rotating or destroying a keyring key. */
    int (*key_event)(struct phicrypt *ph, const struct phi_key_event *ev);
    int (*key_guard)(struct phicrypt *ph, const char *op, const char *name, uint32_t version);
    /* Set by lib/client: 0 when data key `id` may be deleted, else an
     * error naming what depends on it (keyring or audit keys); `shred`
     * allows it anyway. */
    int (*key_dependants)(struct phicrypt *ph, const uint8_t id[16], int shred);
};

#endif
