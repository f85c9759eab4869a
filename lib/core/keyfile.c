/* Creating a local master key file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"

size_t phicrypt_local_key_bytes(void)
{
    return PHICRYPT_LOCAL_KEY_BYTES;
}

int phicrypt_local_key_file_create(const char *path)
{
    uint8_t *key;
    int fd, rc = 0;
    size_t off = 0;

    if (!path || !*path)
        return phi_error(NULL, PHICRYPT_EINVAL, "local master key: no path");
    if ((rc = phicrypt_init()) != 0)
        return rc;
    key = phi_secure_alloc(PHICRYPT_LOCAL_KEY_BYTES);
    if (!key)
        return phi_error(NULL, PHICRYPT_ENOMEM, "out of secure memory");
    if (phi_random(key, PHICRYPT_LOCAL_KEY_BYTES) != 0) {
        phi_secure_free(key);
        return phi_error(NULL, PHICRYPT_EINTERNAL, "local master key: no randomness from OpenSSL");
    }
    /* O_EXCL: never replace a master key, whatever the caller intended. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        phi_secure_free(key);
        return phi_error(NULL, e == EEXIST ? PHICRYPT_EEXIST : PHICRYPT_EIO, "local master key %s: %s", path,
                         e == EEXIST ? "already exists; refusing to overwrite a master key" : strerror(e));
    }
    while (off < PHICRYPT_LOCAL_KEY_BYTES) {
        ssize_t w = write(fd, key + off, PHICRYPT_LOCAL_KEY_BYTES - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = phi_error(NULL, PHICRYPT_EIO, "local master key %s: write failed: %s", path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    phi_secure_free(key);
    if (rc == 0 && (fchmod(fd, 0600) != 0 || fsync(fd) != 0))
        rc = phi_error(NULL, PHICRYPT_EIO, "local master key %s: %s", path, strerror(errno));
    close(fd);
    if (rc != 0)
        unlink(path); /* a short key file would be worse than none */
    return rc;
}
