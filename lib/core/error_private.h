/* Per-handle, per-thread error messages.
 *
 * A message is recorded against the handle (any pointer that identifies the
 * object the caller holds) in thread-local storage, so a phicrypt_t shared by
 * many threads gives each thread its own last message. Messages must never
 * contain keys, plaintext, token inputs or credentials: callers pass field
 * paths, key ids, file names and line numbers only. */
#ifndef PHI_ERROR_PRIVATE_H
#define PHI_ERROR_PRIVATE_H

#include <stdarg.h>

#define PHI_ERRMSG_MAX 1024

/* Records `code` and the formatted message against `handle`; returns `code`
 * so that callers can write `return phi_error(h, PHICRYPT_EINVAL, ...)`. */
int phi_error(const void *handle, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int phi_verror(const void *handle, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prefixes the current message of `handle` with "<context>: " (so that a
 * lower layer's message gains where it happened); returns `code`. */
int phi_error_wrap(const void *handle, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Moves this thread's message from one handle to another (e.g. from a
 * temporary object to the client handle the caller will query). */
void phi_error_move(const void *from, const void *to);

/* Takes over the message a lower layer recorded against `from` (often
 * NULL, for stand-alone primitives), prefixed with "<prefix>: ", as the
 * message of `to` with `code`; returns `code`. */
int phi_error_adopt(const void *from, const void *to, int code, const char *prefix);

void phi_error_clear(const void *handle);
const char *phi_error_message(const void *handle);
int phi_error_code(const void *handle);

#endif
