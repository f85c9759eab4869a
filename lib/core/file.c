/* File helpers: atomic replace, locks, permission checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/mem_private.h"

int phi_file_read_all(const void *eh, int errcode, const char *path, char **data, size_t *len)
{
    return phi_file_read_all_stat(eh, errcode, path, data, len, NULL);
}

int phi_file_read_all_stat(const void *eh, int errcode, const char *path, char **data, size_t *len,
                           struct stat *st_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t cap, n = 0;

    if (fd < 0)
        return phi_error(eh, errcode, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return phi_error(eh, errcode, "%s: cannot stat: %s", path, strerror(e));
    }
    cap = (size_t)(st.st_size > 0 ? st.st_size : 0) + 1;
    buf = phi_malloc(cap);
    if (!buf) {
        close(fd);
        return phi_error(eh, PHICRYPT_ENOMEM, "%s: out of memory reading file", path);
    }
    for (;;) {
        ssize_t r;
        if (n + 1 >= cap) {
            /* The file grew while we read it. Not realloc: that may leave
             * a copy of these (possibly secret) bytes behind, unwiped. */
            char *nb = phi_malloc(cap * 2);
            if (!nb) {
                phi_wipe_free(buf, cap);
                close(fd);
                return phi_error(eh, PHICRYPT_ENOMEM, "%s: out of memory reading file", path);
            }
            memcpy(nb, buf, n);
            phi_wipe_free(buf, cap);
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            phi_wipe_free(buf, cap);
            close(fd);
            return phi_error(eh, errcode, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    if (st_out)
        *st_out = st;
    return 0;
}

char *phi_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return phi_strdup(".");
    if (slash == path)
        return phi_strdup("/");
    return phi_strndup(path, (size_t)(slash - path));
}

char *phi_path_resolve(const char *base_dir, const char *path)
{
    size_t lb, lp;
    char *out;
    if (path[0] == '/' || !base_dir || !base_dir[0])
        return phi_strdup(path);
    lb = strlen(base_dir);
    lp = strlen(path);
    out = phi_malloc(lb + lp + 2);
    if (!out)
        return NULL;
    memcpy(out, base_dir, lb);
    out[lb] = '/';
    memcpy(out + lb + 1, path, lp + 1);
    return out;
}

int phi_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int phi_file_write_atomic(const void *eh, int errcode, const char *path, const void *data, size_t len, mode_t mode)
{
    char *dir = phi_path_dirname(path);
    size_t tl = strlen(path) + 32;
    char *tmp = phi_malloc(tl);
    uint32_t rnd = 0;
    int fd = -1, rc = 0;

    if (!dir || !tmp) {
        phi_free(dir);
        phi_free(tmp);
        return phi_error(eh, PHICRYPT_ENOMEM, "%s: out of memory", path);
    }
    phi_random(&rnd, sizeof rnd);
    snprintf(tmp, tl, "%s.tmp.%ld.%08x", path, (long)getpid(), rnd);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = phi_error(eh, errcode, "%s: cannot create temporary file: %s", path, strerror(errno));
        goto out;
    }
    if (phi_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        rc = phi_error(eh, errcode, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) != 0) {
        rc = phi_error(eh, errcode, "%s: close failed: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = phi_error(eh, errcode, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    phi_fsync_dir(dir); /* make the rename itself durable (dir found before: no allocation after the rename) */
out:
    phi_free(dir);
    phi_free(tmp);
    return rc;
}

void phi_fsync_dir(const char *dir)
{
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

void phi_fsync_dir_of(const char *path)
{
    char *dir = phi_path_dirname(path);
    phi_fsync_dir(dir);
    phi_free(dir);
}

int phi_file_lock(const void *eh, int errcode, const char *path, int *fd_out)
{
    size_t n = strlen(path) + 6;
    char *lp = phi_malloc(n);
    int fd;
    if (!lp)
        return phi_error(eh, PHICRYPT_ENOMEM, "%s: out of memory", path);
    snprintf(lp, n, "%s.lock", path);
    fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        phi_error(eh, errcode, "%s: cannot open lock file: %s", lp, strerror(e));
        phi_free(lp);
        return errcode;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        phi_error(eh, errcode, "%s: cannot lock: %s", lp, strerror(e));
        phi_free(lp);
        return errcode;
    }
    phi_free(lp);
    *fd_out = fd;
    return 0;
}

void phi_file_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

int phi_file_open_private(const void *eh, int errcode, const char *path, const char *what, struct stat *st)
{
    /* One descriptor, checked with fstat: no window between the check
     * and the read, and no symbolic link followed to someone else's file. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return phi_error(eh, errcode, "%s %s: %s", what, path,
                         e == ELOOP ? "is a symbolic link; give the file itself" : strerror(e));
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return phi_error(eh, errcode, "%s %s: %s", what, path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return phi_error(eh, errcode, "%s %s: not a regular file", what, path);
    }
    if (st->st_uid != geteuid()) {
        close(fd);
        return phi_error(eh, errcode, "%s %s: owned by uid %lu, not by this user (uid %lu)", what, path,
                         (unsigned long)st->st_uid, (unsigned long)geteuid());
    }
    if (st->st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return phi_error(eh, errcode,
                         "%s %s: permissions %04o are too open; it must not be accessible by group or others "
                         "(chmod 600 %s)",
                         what, path, (unsigned)(st->st_mode & 07777), path);
    }
    return fd;
}

int phi_file_check_private(const void *eh, const char *path, const char *what)
{
    struct stat st;
    int fd = phi_file_open_private(eh, PHICRYPT_ECONFIG, path, what, &st);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int phi_file_check_not_writable_by_others(const void *eh, int errcode, const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return phi_error(eh, errcode, "%s %s: %s", what, path, strerror(errno));
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return phi_error(eh, errcode,
                         "%s %s: permissions %04o let group or others write it; anyone who can could replace "
                         "keys or configuration (chmod go-w %s)",
                         what, path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

int phi_file_check_writable(const void *eh, int errcode, const char *path, const char *what)
{
    struct stat st;
    /* The owner's write bit, not access(2): a key vault made read-only
     * (chmod 400) stays so even for root, who could rename over it. */
    if (stat(path, &st) == 0 && !(st.st_mode & S_IWUSR))
        return phi_error(eh, errcode, "%s %s: read-only (mode %04o); nothing was written (chmod u+w %s to allow it)",
                         what, path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}
