/**
 * @file phicrypt/kms.h
 * @brief Pluggable KMS: master-key providers phicrypt wraps data keys with
 * besides those libmongocrypt knows (an HSM over PKCS#11, an in-house service).
 *
 * A plug-in is a table of callbacks (::phicrypt_kms_plugin) registered on a
 * client under a provider name, either in C (phicrypt_kms_register()) or
 * from the configuration as a shared object:
 * @code{.json}
 * "kms_plugins": { "hsm": { "module": "libphicrypt-pkcs11.so", "options": { ... } } }
 * @endcode
 * A key document whose `masterKey.provider` is `"hsm"` or `"hsm:<name>"` is
 * then unwrapped by that plug-in. Inside phicrypt the unwrapped data key is
 * handed to libmongocrypt re-wrapped under a per-process ephemeral key kept
 * in guarded memory (never written anywhere), so encryption itself is still
 * libmongocrypt's. Key documents of plug-in providers can only be read by
 * phicrypt: other MongoDB drivers do not know the provider
 * (phicrypt_datakey_rewrap() moves a key to a standard provider and back).
 *
 * A shared object exports one function, ::PHICRYPT_KMS_PLUGIN_SYMBOL,
 * returning its table. Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_KMS_H
#define PHICRYPT_KMS_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/kms.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Version of ::phicrypt_kms_plugin this header describes. */
#define PHICRYPT_KMS_PLUGIN_VERSION 1

/** Largest wrapped key a plug-in may return (bytes). */
#define PHICRYPT_KMS_MAX_WRAPPED 4096

/** Size of the error text buffer the callbacks receive. */
#define PHICRYPT_KMS_ERRMSG_MAX 256

/** Name of the function a plug-in shared object exports:
 *  `const phicrypt_kms_plugin *phicrypt_kms_plugin_v1(void);` */
#define PHICRYPT_KMS_PLUGIN_SYMBOL "phicrypt_kms_plugin_v1"

/**
 * @brief A KMS plug-in: callbacks phicrypt calls to wrap and unwrap data keys.
 *
 * Every callback returns 0 or a negative ::phicrypt_error_code
 * (PHICRYPT_EKMS: the KMS failed, PHICRYPT_EKMSAUTH: it refused us,
 * PHICRYPT_EAUTH: the wrapped key is not authentic, PHICRYPT_ECONFIG: bad
 * options or master key, PHICRYPT_EINVAL ...) and on failure writes one line
 * of explanation into @c err (#PHICRYPT_KMS_ERRMSG_MAX bytes; never a key,
 * PIN or credential). Callbacks may be called from several threads at once
 * with the same @c ctx. Master key documents arrive as canonical Extended
 * JSON and always hold `"provider"` (the full provider name, e.g. `"hsm:ward-a"`).
 */
typedef struct phicrypt_kms_plugin {
    unsigned int version; /**< #PHICRYPT_KMS_PLUGIN_VERSION */
    /** Creates the plug-in state from its options (JSON object text, "{}" when
     *  none; relative paths resolve against @c base_dir, which may be NULL).
     *  May be NULL: @c ctx is then NULL (or what phicrypt_kms_register() gives). */
    int (*open)(void **ctx, const char *options_json, const char *base_dir, char *err);
    /** Wraps @c key (@c key_len bytes) under the master key; writes at most
     *  @c out_cap bytes to @c out and their number to @c out_len. */
    int (*wrap)(void *ctx, const uint8_t *key, size_t key_len, const char *master_key_json, uint8_t *out,
                size_t out_cap, size_t *out_len, char *err);
    /** Unwraps @c wrapped into exactly @c key_len bytes at @c key. */
    int (*unwrap)(void *ctx, const uint8_t *wrapped, size_t wrapped_len, const char *master_key_json, uint8_t *key,
                  size_t key_len, char *err);
    /** Optional: one line describing the backend (no secrets), for `phicrypt kms list`. */
    int (*describe)(void *ctx, char *out, size_t out_cap);
    /** Optional: releases the state @c open made (or the registered @c ctx). */
    void (*close)(void *ctx);
} phicrypt_kms_plugin;

/**
 * @brief Register @p plugin under provider @p name on a client.
 *
 * @p name is `[a-z0-9_-]{1,32}`, not a standard provider (local, aws, azure,
 * gcp, kmip); key documents name it as `"name"` or `"name:<anything>"`.
 * @p plugin is copied; @p ctx is handed to every callback and, when the
 * table has @c close, released with it by phicrypt_free().
 * @return 0, PHICRYPT_EINVAL (bad name or table), PHICRYPT_EEXIST (name taken).
 */
PHICRYPT_API
int phicrypt_kms_register(phicrypt_t *ph, const char *name, const phicrypt_kms_plugin *plugin, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* PHICRYPT_KMS_H */
