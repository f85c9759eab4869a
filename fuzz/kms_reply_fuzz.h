/* Shared by the KMS reply fuzz targets: the input arrives on a real
 * socket, read by the same connection code as a KMS reply (plain mode:
 * TLS is OpenSSL's, the framing after it is ours). */
#ifndef PHI_KMS_REPLY_FUZZ_H
#define PHI_KMS_REPLY_FUZZ_H

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kms/kms_impl_private.h"

typedef struct feed {
    int fd;
    const uint8_t *data;
    size_t size;
} feed;

static void *writer(void *p)
{
    feed *f = p;
    size_t off = 0;
    while (off < f->size) {
        ssize_t w = write(f->fd, f->data + off, f->size - off);
        if (w <= 0)
            break; /* the reader stopped early: fine */
        off += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

/* Feeds `data` to `read_fn` through a socket pair, as a peer would. */
static void phi_fuzz_kms_reply(const uint8_t *data, size_t size,
                               int (*read_fn)(phi_kms_conn *, const void *, const phi_kms_where *, phi_kms_reply *))
{
    int sv[2];
    pthread_t t;
    feed f;
    phi_kms_where w = { "fuzz", "127.0.0.1:0" };
    phi_kms_conn c = { -1, NULL, NULL, 2000, 0, 1 };
    phi_kms_reply r = { 0 };
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    f.fd = sv[1];
    f.data = data;
    f.size = size;
    if (pthread_create(&t, NULL, writer, &f) != 0)
        abort();
    c.fd = sv[0];
    c.deadline = phi_kms_now_ms() + 5000;
    if (read_fn(&c, NULL, &w, &r) == 0)
        phi_kms_reply_dispose(&r);
    /* Unblocks a writer still sending what the reader refused. */
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(t, NULL);
    close(sv[0]);
}

#endif
