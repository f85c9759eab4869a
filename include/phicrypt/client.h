/**
 * @file phicrypt/client.h
 * @brief The client handle: configuration, lifetime, error messages.
 *
 * Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_CLIENT_H
#define PHICRYPT_CLIENT_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/client.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief A client: configuration, key vault, KMS providers.
 *
 * Thread-safe once created: any number of threads may call functions on one
 * client at the same time. Each thread sees its own last error message.
 */
typedef struct phicrypt phicrypt_t;

/**
 * @brief Create a client from a configuration document (JSON).
 *
 * The document is described in README.md ("Configuration"): `kms_providers`,
 * `key_vault`, `key_vault_namespace`, `keyring`, `schema_map`. Relative file
 * paths in it are resolved against the current directory; use
 * phicrypt_new_from_file() to resolve them against the file's directory.
 * Unknown or misspelt keys are errors that name the key.
 *
 * @param[out] out  the new client, or NULL on failure.
 * @param config_json  NUL-terminated JSON text.
 * @return 0, or PHICRYPT_ECONFIG, PHICRYPT_EKEYVAULT, PHICRYPT_ENOMEM ...;
 *         on failure the message is phicrypt_errmsg(NULL) on this thread.
 */
PHICRYPT_API
int phicrypt_new(phicrypt_t **out, const char *config_json);

/**
 * @brief Create a client from a configuration file; relative paths in it
 * are resolved against the directory that holds the file.
 * @see phicrypt_new
 */
PHICRYPT_API
int phicrypt_new_from_file(phicrypt_t **out, const char *config_path);

/** Version of ::phicrypt_open_opts this header describes. */
#define PHICRYPT_OPEN_OPTS_VERSION 1

/** @brief Overrides of a configuration file, for phicrypt_new_from_file_opts(). */
typedef struct phicrypt_open_opts {
    unsigned int version; /**< #PHICRYPT_OPEN_OPTS_VERSION */
    /** The key vault to use instead of the configuration's `key_vault`
     *  (`file:PATH`, relative to the configuration's directory, or a
     *  `mongodb://` URI), or NULL: the configuration's. */
    const char *key_vault;
    /** "db.collection" instead of the configuration's `key_vault_namespace`,
     *  or NULL: the configuration's. */
    const char *key_vault_namespace;
} phicrypt_open_opts;

/** Static initialiser: no override. */
#define PHICRYPT_OPEN_OPTS_INIT { PHICRYPT_OPEN_OPTS_VERSION, NULL, NULL }

/**
 * @brief phicrypt_new_from_file() with overrides (the CLI's `--key-vault`).
 *
 * The file is checked exactly as by phicrypt_new_from_file(); an override
 * replaces the value before the key vault is opened.
 * @param opts  NULL means no override.
 * @return as phicrypt_new_from_file(); PHICRYPT_EINVAL for an unknown
 *         opts->version; PHICRYPT_ECONFIG for a malformed namespace.
 */
PHICRYPT_API
int phicrypt_new_from_file_opts(phicrypt_t **out, const char *config_path, const phicrypt_open_opts *opts);

/** @brief Destroy a client and wipe the keys it holds. NULL is ignored. */
PHICRYPT_API
void phicrypt_free(phicrypt_t *ph);

/**
 * @brief The message of the last failed call on @p ph by this thread.
 *
 * Valid until the next call on that handle by this thread. With NULL:
 * the last failure of a call that had no handle (phicrypt_new, the
 * stand-alone primitives). Never contains keys, plaintext or credentials.
 * @return never NULL; "no error" when there is none.
 */
PHICRYPT_API
const char *phicrypt_errmsg(const phicrypt_t *ph);

/** @brief The code of the last failed call on @p ph by this thread, or 0. */
PHICRYPT_API
int phicrypt_errcode(const phicrypt_t *ph);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_CLIENT_H */
