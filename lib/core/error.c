/* Error codes and per-handle, per-thread messages. */
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"

/* One slot per thread: the last handle that failed on this thread and its
 * message. A handle queried from the thread that saw its error gets the
 * message; the NULL handle (stand-alone functions, failed phicrypt_new)
 * shares the same slot. */
static _Thread_local struct {
    const void *handle;
    int code;
    char msg[PHI_ERRMSG_MAX];
} tls_err;

const char *phicrypt_strerror(int code)
{
    switch (code) {
    case PHICRYPT_OK: return "success";
    case PHICRYPT_EINVAL: return "invalid argument";
    case PHICRYPT_EBADDATA: return "malformed input data";
    case PHICRYPT_ESCHEMA: return "refused by schema or query analysis";
    case PHICRYPT_EKEYNOTFOUND: return "key not found";
    case PHICRYPT_EKEYVAULT: return "key vault I/O error";
    case PHICRYPT_EKMS: return "KMS error";
    case PHICRYPT_EKMSAUTH: return "KMS authentication failed";
    case PHICRYPT_ETIMEOUT: return "operation timed out";
    case PHICRYPT_EAUTH: return "authentication failed (wrong key or tampered data)";
    case PHICRYPT_EACCESS: return "access denied";
    case PHICRYPT_ENOMEM: return "out of memory";
    case PHICRYPT_EBUFSIZE: return "buffer too small";
    case PHICRYPT_ECONFIG: return "invalid configuration";
    case PHICRYPT_EIO: return "I/O error";
    case PHICRYPT_EEXIST: return "already exists";
    case PHICRYPT_EUNSUPPORTED: return "not supported";
    case PHICRYPT_EINTERNAL: return "internal error";
    default: return "unknown error code";
    }
}

int phi_verror(const void *handle, int code, const char *fmt, va_list ap)
{
    tls_err.handle = handle;
    tls_err.code = code;
    vsnprintf(tls_err.msg, sizeof tls_err.msg, fmt, ap);
    return code;
}

int phi_error(const void *handle, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    phi_verror(handle, code, fmt, ap);
    va_end(ap);
    return code;
}

int phi_error_wrap(const void *handle, int code, const char *fmt, ...)
{
    char prefix[PHI_ERRMSG_MAX];
    char old[PHI_ERRMSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (tls_err.handle == handle && tls_err.code != 0)
        memcpy(old, tls_err.msg, sizeof old);
    else
        snprintf(old, sizeof old, "%s", phicrypt_strerror(code));
    tls_err.handle = handle;
    tls_err.code = code;
    snprintf(tls_err.msg, sizeof tls_err.msg, "%.400s: %.600s", prefix, old);
    return code;
}

int phi_error_adopt(const void *from, const void *to, int code, const char *prefix)
{
    char old[PHI_ERRMSG_MAX];
    if (tls_err.handle == from && tls_err.code != 0)
        memcpy(old, tls_err.msg, sizeof old);
    else
        snprintf(old, sizeof old, "%s", phicrypt_strerror(code));
    tls_err.handle = to;
    tls_err.code = code;
    snprintf(tls_err.msg, sizeof tls_err.msg, "%.200s: %.800s", prefix, old);
    return code;
}

void phi_error_move(const void *from, const void *to)
{
    if (tls_err.handle == from)
        tls_err.handle = to;
}

void phi_error_clear(const void *handle)
{
    if (tls_err.handle == handle) {
        tls_err.code = 0;
        tls_err.msg[0] = '\0';
    }
}

const char *phi_error_message(const void *handle)
{
    if (tls_err.handle == handle && tls_err.code != 0)
        return tls_err.msg;
    return "no error";
}

int phi_error_code(const void *handle)
{
    return tls_err.handle == handle ? tls_err.code : 0;
}
