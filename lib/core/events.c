/* The event sink and key guard (see events_private.h). */
#include <string.h>

#include "core/events_private.h"
#include "core/handle_private.h"

int phi_key_event_send(phicrypt_t *ph, const phi_key_event *ev)
{
    return (ph && ph->key_event) ? ph->key_event(ph, ev) : 0;
}

int phi_key_event_emit(phicrypt_t *ph, int rc, const char *op, const uint8_t *id, const char *key_name,
                       uint32_t version, int64_t count)
{
    phi_key_event ev;
    if (rc != 0)
        return rc;
    memset(&ev, 0, sizeof ev);
    ev.op = op;
    ev.id = id;
    ev.key_name = key_name;
    ev.version = version;
    ev.count = count;
    return phi_key_event_send(ph, &ev);
}

int phi_key_guard(phicrypt_t *ph, const char *op, const char *name, uint32_t version)
{
    return (ph && ph->key_guard) ? ph->key_guard(ph, op, name, version) : 0;
}
