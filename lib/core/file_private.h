/* Files: whole-file reads, atomic replacement, inter-process locks,
 * permission checks for secret files, path resolution. */
#ifndef PHI_FILE_PRIVATE_H
#define PHI_FILE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads the whole file into a phi_malloc'd, NUL-terminated buffer. */
int phi_file_read_all(const void *eh, int errcode, const char *path, char **data, size_t *len);
/* The same, and the file's fstat (of the descriptor read) in *st. */
struct stat;
int phi_file_read_all_stat(const void *eh, int errcode, const char *path, char **data, size_t *len,
                           struct stat *st);

/* Replaces `path` atomically: writes a temporary file in the same
 * directory, fsyncs it, renames it over `path` and fsyncs the directory.
 * A reader sees either the old or the new file, never a mix; a crash
 * leaves at most a stray temporary file. */
int phi_file_write_atomic(const void *eh, int errcode, const char *path, const void *data, size_t len, mode_t mode);

/* Exclusive advisory lock on "<path>.lock" (created if missing); blocks.
 * The lock file is separate so that renames of `path` do not drop it. */
int phi_file_lock(const void *eh, int errcode, const char *path, int *fd_out);
void phi_file_unlock(int fd);

/* Refuses a secret file that group or others may read or write (as ssh
 * does for private keys), or that is not a regular file. */
int phi_file_check_private(const void *eh, const char *path, const char *what);
/* Opens a secret file for reading (O_NOFOLLOW | O_CLOEXEC) and checks the
 * descriptor: a regular file, owned by the effective user, no group or
 * other permission bits. Returns the descriptor (fstat in *st) or a
 * negative code (error recorded, `errcode` or another). */
int phi_file_open_private(const void *eh, int errcode, const char *path, const char *what, struct stat *st);
/* Refuses a file or directory that group or others may write. */
int phi_file_check_not_writable_by_others(const void *eh, int errcode, const char *path, const char *what);
/* Refuses writing a file whose owner write bit is off (a read-only store). */
int phi_file_check_writable(const void *eh, int errcode, const char *path, const char *what);

/* `path` if absolute, else base_dir/path (base_dir may be NULL: cwd).
 * Returns a phi_malloc'd string or NULL. */
char *phi_path_resolve(const char *base_dir, const char *path);

/* The directory part of `path` ("." if none), phi_malloc'd. */
char *phi_path_dirname(const char *path);

/* Fsyncs directory `dir`, or the directory holding `path`, so that a
 * file's creation or a rename into it is durable. Best effort: errors are
 * ignored (some file systems refuse to fsync a directory). */
void phi_fsync_dir(const char *dir);
/* Writes all n bytes (a short write or EINTR is continued); 0 or -1 (errno). */
int phi_write_all(int fd, const void *data, size_t n);
void phi_fsync_dir_of(const char *path);

#endif
