/**
 * @file phicrypt.h
 * @brief phicrypt: keep protected health information encrypted or
 * de-identified before it leaves the application.
 *
 * This umbrella header is the only one to include. Conventions:
 * - every function returns 0 or a negative ::phicrypt_error_code;
 * - the detail of the last failure on a handle is phicrypt_errmsg(handle);
 * - out-parameters come first; bytes come back in a ::phicrypt_buf that the
 *   caller releases with phicrypt_buf_dispose();
 * - inputs are copied, never retained;
 * - option structs start with `unsigned int version` and have an `_INIT` macro.
 */
#ifndef PHICRYPT_H
#define PHICRYPT_H

#define PHICRYPT_H_INSIDE
#include <phicrypt/common.h>
#include <phicrypt/client.h>
#include <phicrypt/keys.h>
#include <phicrypt/kms.h>
#include <phicrypt/fle.h>
#include <phicrypt/keyring.h>
#include <phicrypt/token.h>
#include <phicrypt/deid.h>
#include <phicrypt/access.h>
#include <phicrypt/audit.h>
#undef PHICRYPT_H_INSIDE

#endif /* PHICRYPT_H */
