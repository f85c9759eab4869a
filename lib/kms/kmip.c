/* Reads one KMIP message. KMIP 1.x TTLV (KMIP spec §9.1): a 3-byte tag,
 * a 1-byte type, a 4-byte big-endian length, then the value; a response
 * message is one Structure (type 0x01) whose length covers the rest. */
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "kms/kms_impl_private.h"

#define MAX_KMIP_BYTES (1024 * 1024)

static int read_exact(phi_kms_conn *c, const void *eh, const phi_kms_where *w, uint8_t *p, size_t n)
{
    while (n > 0) {
        long r = phi_kms_conn_read(c, eh, w, p, n);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return phi_error(eh, PHICRYPT_EKMS, "kms %s %s: read reply: connection closed before the end of the reply",
                             w->provider, w->endpoint);
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int phi_kms_read_kmip(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_reply *out)
{
    uint8_t hdr[8];
    size_t len;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = read_exact(c, eh, w, hdr, 8)) != 0)
        return rc;
    if (hdr[3] != 0x01)
        return phi_error(eh, PHICRYPT_EKMS, "kms %s %s: read reply: not a KMIP TTLV structure", w->provider,
                         w->endpoint);
    len = ((size_t)hdr[4] << 24) | ((size_t)hdr[5] << 16) | ((size_t)hdr[6] << 8) | hdr[7];
    if (len > MAX_KMIP_BYTES)
        return phi_error(eh, PHICRYPT_EKMS, "kms %s %s: read reply: KMIP message of %zu bytes is too large",
                         w->provider, w->endpoint, len);
    out->data = phi_malloc(len + 8);
    if (!out->data)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    memcpy(out->data, hdr, 8);
    if ((rc = read_exact(c, eh, w, out->data + 8, len)) != 0) {
        phi_wipe_free(out->data, len + 8);
        out->data = NULL;
        return rc;
    }
    out->len = len + 8;
    return 0;
}
