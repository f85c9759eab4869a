/**
 * @file phicrypt/common.h
 * @brief Return codes, byte buffers, version and library initialisation.
 *
 * Include <phicrypt.h>, not this file.
 */
#ifndef PHICRYPT_COMMON_H
#define PHICRYPT_COMMON_H

#ifndef PHICRYPT_H_INSIDE
#error "include <phicrypt.h>, not <phicrypt/common.h>"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PHICRYPT_BUILDING) && defined(__GNUC__)
#define PHICRYPT_API __attribute__((visibility("default")))
#else
#define PHICRYPT_API
#endif

/** @name Version of these headers (compare with phicrypt_version() at run time). */
/**@{*/
#define PHICRYPT_VERSION_MAJOR 0
#define PHICRYPT_VERSION_MINOR 1
#define PHICRYPT_VERSION_PATCH 0
#define PHICRYPT_VERSION_STRING "0.1.0"
/**@}*/

/**
 * @brief Return codes. Every function returns 0 on success or one of these.
 *
 * The numbers are stable and never reused; new codes are only appended.
 */
typedef enum phicrypt_error_code {
    PHICRYPT_OK = 0,            /**< success */
    PHICRYPT_EINVAL = -1,       /**< invalid argument (a caller's programming error) */
    PHICRYPT_EBADDATA = -2,     /**< malformed input data: BSON, JSON, ciphertext, file contents */
    PHICRYPT_ESCHEMA = -3,      /**< schema or query analysis refused the command */
    PHICRYPT_EKEYNOTFOUND = -4, /**< a data key or keyring key was not found */
    PHICRYPT_EKEYVAULT = -5,    /**< key vault I/O failed (file, lock, database) */
    PHICRYPT_EKMS = -6,         /**< KMS network or protocol failure */
    PHICRYPT_EKMSAUTH = -7,     /**< KMS refused our credentials */
    PHICRYPT_ETIMEOUT = -8,     /**< a KMS or network operation timed out */
    PHICRYPT_EAUTH = -9,        /**< authentication failed: MAC check, wrong key, tampered data */
    PHICRYPT_EACCESS = -10,     /**< access denied by policy (role, purpose) */
    PHICRYPT_ENOMEM = -11,      /**< out of memory */
    PHICRYPT_EBUFSIZE = -12,    /**< caller's buffer too small */
    PHICRYPT_ECONFIG = -13,     /**< invalid configuration document */
    PHICRYPT_EIO = -14,         /**< file I/O failed (other than the key vault) */
    PHICRYPT_EEXIST = -15,      /**< already exists (a key alt name, a file) */
    PHICRYPT_EUNSUPPORTED = -16,/**< valid request this build or version does not support */
    PHICRYPT_EINTERNAL = -17    /**< unexpected failure inside phicrypt or libmongocrypt */
} phicrypt_error_code;

/**
 * @brief Bytes returned by the library.
 *
 * Release with phicrypt_buf_dispose(), which wipes the bytes before freeing
 * them (they may hold plaintext). A zero-initialised buffer is empty. A
 * buffer that still holds bytes may be passed again as an out-parameter:
 * on success the call wipes and frees what it held (its bytes may also be
 * the call's input); on failure it is left as it was. Report buffers
 * (phicrypt_audit_verify*, phicrypt_deid_file, phicrypt_reid_file and
 * their _as forms), which are written on failure too, are wiped and
 * emptied when the call starts.
 */
typedef struct phicrypt_buf {
    uint8_t *data; /**< owned bytes, or NULL */
    size_t len;    /**< number of bytes in @c data */
} phicrypt_buf;

/** Static initialiser for an empty phicrypt_buf. */
#define PHICRYPT_BUF_INIT { NULL, 0 }

/**
 * @brief Wipe and free the bytes of @p buf and reset it to empty.
 * Safe to call on an empty buffer, twice, or with NULL.
 */
PHICRYPT_API
void phicrypt_buf_dispose(phicrypt_buf *buf);

/**
 * @brief A static English description of a return code.
 * @return never NULL; "unknown error code" for codes this version does not know.
 */
PHICRYPT_API
const char *phicrypt_strerror(int code);

/**
 * @brief Initialise the library (libsodium, OpenSSL, libmongocrypt checks).
 *
 * Idempotent and thread-safe. Every entry point that needs it calls it
 * (phicrypt_new(), the stand-alone FF1 functions), so calling it yourself is
 * optional: do it early to fail fast.
 * @return 0, or PHICRYPT_EINTERNAL if a dependency cannot be initialised.
 */
PHICRYPT_API
int phicrypt_init(void);

/** phicrypt_harden_process() flag: also lock every page in memory (no swap). */
#define PHICRYPT_HARDEN_MLOCKALL 1u
/** phicrypt_harden_process() flag: route libbson's (and so libmongocrypt's)
 * allocations through an allocator that wipes every block before freeing it
 * (about +50% instructions on small decrypts; see SECURITY.md). */
#define PHICRYPT_HARDEN_WIPE_BSON 2u

/**
 * @brief Harden the calling process for holding keys (Linux).
 *
 * Sets `PR_SET_DUMPABLE` to 0 (no core dump; ptrace, gcore and
 * /proc/PID/mem refused to other processes of the same user) and
 * `RLIMIT_CORE` to 0; with #PHICRYPT_HARDEN_MLOCKALL also
 * `mlockall(MCL_CURRENT | MCL_FUTURE)`. libmongocrypt keeps copies of the
 * local master key and of unwrapped data keys in its ordinary heap, which
 * phicrypt cannot move to guarded memory: services should call this once
 * at start (the `phicrypt` tool does). Root (CAP_SYS_PTRACE) can still
 * read the process's memory.
 * @param flags 0, or #PHICRYPT_HARDEN_MLOCKALL and/or #PHICRYPT_HARDEN_WIPE_BSON.
 * @return 0, PHICRYPT_EINVAL (unknown flag) or PHICRYPT_EINTERNAL (the
 *         message names the call that failed).
 */
PHICRYPT_API
int phicrypt_harden_process(unsigned int flags);

/** @brief The run-time library version, "MAJOR.MINOR.PATCH". */
PHICRYPT_API
const char *phicrypt_version(void);

/** @brief The version of the libmongocrypt phicrypt is running with. */
PHICRYPT_API
const char *phicrypt_mongocrypt_version(void);

#ifdef __cplusplus
}
#endif
#endif /* PHICRYPT_COMMON_H */
