/* TCP + TLS connections to a KMS, every wait bounded by a deadline.
 * The socket stays non-blocking so that connect, handshake, write and
 * read all wait in poll() with the time that is left. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/mem_private.h"
#include "kms/kms_impl_private.h"

int64_t phi_kms_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const void *eh, int code, const phi_kms_where *w, const char *step, const char *detail)
{
    return phi_error(eh, code, "kms %s %s: %s: %s", w->provider, w->endpoint, step, detail);
}

/* The last OpenSSL error as text (the queue is cleared). */
static void ssl_reason(char *buf, size_t n, long verify)
{
    unsigned long e = ERR_peek_last_error();
    if (verify != X509_V_OK)
        snprintf(buf, n, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
    else if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "connection closed by peer");
    ERR_clear_error();
}

/* Waits until fd is ready for `events` or the earlier of the deadline and
 * `limit_ms` from now; 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int64_t deadline, int limit_ms)
{
    for (;;) {
        int64_t now = phi_kms_now_ms(), left = deadline - now;
        struct pollfd p = { fd, events, 0 };
        int r;
        if (limit_ms >= 0 && left > limit_ms)
            left = limit_ms;
        if (left <= 0)
            return 0;
        r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return 1; /* let the next call report the error */
    }
}

static int tcp_connect(phi_kms_conn *c, const void *eh, const phi_kms_where *w, const phi_kms_settings *s,
                       const char *host, int port, int *retry)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[16], why[160] = "no address";
    int code = PHICRYPT_EKMS, r;
    int64_t cdeadline = phi_kms_now_ms() + s->connect_timeout_ms;
    if (cdeadline > c->deadline)
        cdeadline = c->deadline;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof portstr, "%d", port);
    if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0) {
        *retry = (r == EAI_AGAIN);
        return fail(eh, PHICRYPT_EKMS, w, "resolve", gai_strerror(r));
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        int err = 0;
        socklen_t el = sizeof err;
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(why, sizeof why, "%s", strerror(errno));
            close(fd);
            continue;
        }
        if (!wait_fd(fd, POLLOUT, cdeadline, -1)) {
            snprintf(why, sizeof why, "timed out");
            code = PHICRYPT_ETIMEOUT;
            close(fd);
            continue;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            snprintf(why, sizeof why, "%s", strerror(err ? err : errno));
            close(fd);
            continue;
        }
        c->fd = fd;
        freeaddrinfo(res);
        return 0;
    }
    freeaddrinfo(res);
    *retry = 1;
    return fail(eh, code, w, "connect", why);
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int pem_password(char *buf, int size, int rwflag, void *u)
{
    const char *pw = u;
    size_t n;
    (void)rwflag;
    if (!pw)
        return 0;
    n = strlen(pw);
    if (n > (size_t)size)
        return 0;
    memcpy(buf, pw, n);
    return (int)n;
}

#define MAX_CERT_KEY_BYTES (1024 * 1024)

/* The client certificate chain and key, read from the descriptor whose
 * owner and mode were checked (no second open of the path: it may have
 * been swapped for a link meanwhile). Returns 1 on success like OpenSSL. */
static int use_cert_key(SSL_CTX *ctx, const void *eh, const phi_kms_tls *tls)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t n = 0;
    BIO *b = NULL;
    X509 *cert = NULL, *extra;
    EVP_PKEY *key = NULL;
    int ok = 0, fd = phi_file_open_private(eh, PHICRYPT_ECONFIG, tls->cert_key_file, "tls client key", &st);
    if (fd < 0)
        return -1;
    if (st.st_size <= 0 || st.st_size > MAX_CERT_KEY_BYTES || !(buf = phi_secure_alloc((size_t)st.st_size)))
        goto out;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        n += (size_t)r;
    }
    if (!(b = BIO_new_mem_buf(buf, (int)n)) || !(cert = PEM_read_bio_X509_AUX(b, NULL, pem_password, tls->key_password)) ||
        SSL_CTX_use_certificate(ctx, cert) != 1)
        goto out;
    while ((extra = PEM_read_bio_X509(b, NULL, pem_password, tls->key_password)) != NULL)
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            goto out;
        }
    ERR_clear_error(); /* the end of the chain */
    /* The key may come before or after the certificates. */
    if (BIO_reset(b) != 1)
        goto out;
    if (!(key = PEM_read_bio_PrivateKey(b, NULL, pem_password, tls->key_password)) ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        goto out;
    ok = 1;
out:
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(b);
    if (buf)
        phi_secure_free(buf);
    close(fd);
    return ok;
}

static int make_ctx(phi_kms_conn *c, const void *eh, const phi_kms_where *w, const phi_kms_tls *tls)
{
    char why[256];
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        return fail(eh, PHICRYPT_ENOMEM, w, "TLS setup", "out of memory");
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    /* A reply without a length ends when the peer closes, often without
     * close_notify; lengths given are still enforced (http.c, kmip.c). */
    SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (tls && tls->ca_file) {
        if (SSL_CTX_load_verify_locations(c->ctx, tls->ca_file, NULL) != 1) {
            ssl_reason(why, sizeof why, X509_V_OK);
            return phi_error(eh, PHICRYPT_ECONFIG, "kms %s %s: tls.%s.ca_file %s: %s", w->provider, w->endpoint,
                             w->provider, tls->ca_file, why);
        }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        ssl_reason(why, sizeof why, X509_V_OK);
        return fail(eh, PHICRYPT_EKMS, w, "TLS setup: system certificate store", why);
    }
    if (tls && tls->cert_key_file) {
        SSL_CTX_set_default_passwd_cb(c->ctx, pem_password);
        SSL_CTX_set_default_passwd_cb_userdata(c->ctx, tls->key_password);
        int ok = use_cert_key(c->ctx, eh, tls);
        if (ok < 0)
            return phi_error_wrap(eh, PHICRYPT_ECONFIG, "kms %s %s", w->provider, w->endpoint);
        if (ok != 1) {
            ssl_reason(why, sizeof why, X509_V_OK);
            return phi_error(eh, PHICRYPT_ECONFIG, "kms %s %s: tls.%s.cert_key_file %s: %s", w->provider,
                             w->endpoint, w->provider, tls->cert_key_file, why);
        }
    }
    return 0;
}

/* Runs one SSL operation until it completes or the time is up. */
typedef int (*ssl_op)(SSL *ssl, void *buf, size_t n, size_t *done);

static int op_handshake(SSL *ssl, void *buf, size_t n, size_t *done)
{
    (void)buf;
    (void)n;
    (void)done;
    return SSL_connect(ssl);
}

static int op_write(SSL *ssl, void *buf, size_t n, size_t *done)
{
    return SSL_write_ex(ssl, buf, n, done);
}

static int op_read(SSL *ssl, void *buf, size_t n, size_t *done)
{
    return SSL_read_ex(ssl, buf, n, done);
}

/* OpenSSL writes to the socket with write(2): a peer that has gone would
 * raise SIGPIPE and end the whole process. Block it in this thread while
 * OpenSSL runs, and swallow one that we caused. */
typedef struct pipe_guard {
    sigset_t old;
    int was_pending;
} pipe_guard;

static void pipe_block(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

static void pipe_restore(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static int run_op_unguarded(phi_kms_conn *c, ssl_op op, void *buf, size_t n, size_t *done, int limit_ms, char *why,
                            size_t whylen);

/* 1 done, 0 clean EOF (read), or a negative code with *why filled. */
static int run_op(phi_kms_conn *c, ssl_op op, void *buf, size_t n, size_t *done, int limit_ms, char *why,
                  size_t whylen)
{
    pipe_guard g;
    int rc;
    pipe_block(&g);
    rc = run_op_unguarded(c, op, buf, n, done, limit_ms, why, whylen);
    pipe_restore(&g);
    return rc;
}

static int run_op_unguarded(phi_kms_conn *c, ssl_op op, void *buf, size_t n, size_t *done, int limit_ms, char *why,
                            size_t whylen)
{
    for (;;) {
        int r, e;
        ERR_clear_error();
        r = op(c->ssl, buf, n, done);
        if (r > 0)
            return 1;
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (!wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, c->deadline, limit_ms)) {
                snprintf(why, whylen, "timed out");
                return PHICRYPT_ETIMEOUT;
            }
            continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            if (errno && errno != EAGAIN)
                snprintf(why, whylen, "%s", strerror(errno));
            else
                snprintf(why, whylen, "connection closed by peer");
            return PHICRYPT_EKMS;
        }
        ssl_reason(why, whylen, SSL_get_verify_result(c->ssl));
        return PHICRYPT_EKMS;
    }
}

int phi_kms_conn_open(phi_kms_conn *c, const void *eh, const phi_kms_where *w, const phi_kms_settings *s,
                      const phi_kms_tls *tls, const char *host, int port, int *retry)
{
    char why[256];
    size_t done = 0;
    int rc;

    c->fd = -1;
    c->read_timeout_ms = s->read_timeout_ms;
    *retry = 0;
    if (c->plain)
        return tcp_connect(c, eh, w, s, host, port, retry);
    if ((rc = make_ctx(c, eh, w, tls)) != 0)
        return rc;
    if ((rc = tcp_connect(c, eh, w, s, host, port, retry)) != 0)
        return rc;
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return fail(eh, PHICRYPT_ENOMEM, w, "TLS setup", "out of memory");
    if (is_ip_literal(host)) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) != 1)
            return fail(eh, PHICRYPT_EKMS, w, "TLS setup", "cannot set the IP address to verify");
    } else {
        /* SNI only for names (RFC 6066 forbids IP literals there). */
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set_tlsext_host_name(c->ssl, host) != 1 || SSL_set1_host(c->ssl, host) != 1)
            return fail(eh, PHICRYPT_EKMS, w, "TLS setup", "cannot set the host name to verify");
    }
    rc = run_op(c, op_handshake, NULL, 0, &done, s->connect_timeout_ms, why, sizeof why);
    if (rc <= 0) {
        long v = SSL_get_verify_result(c->ssl);
        /* A certificate the peer cannot prove will not improve on retry. */
        *retry = (v == X509_V_OK);
        return fail(eh, rc == 0 ? PHICRYPT_EKMS : rc, w, "TLS handshake", rc == 0 ? "connection closed by peer" : why);
    }
    return 0;
}

void phi_kms_conn_close(phi_kms_conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

/* Plain TCP for the metadata services (HTTP on link-local addresses). */
static long plain_io(phi_kms_conn *c, int writing, uint8_t *p, size_t n, char *why, size_t whylen)
{
    for (;;) {
        ssize_t r = writing ? send(c->fd, p, n, MSG_NOSIGNAL) : recv(c->fd, p, n, 0);
        if (r >= 0)
            return (long)r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(why, whylen, "%s", strerror(errno));
            return PHICRYPT_EKMS;
        }
        if (!wait_fd(c->fd, writing ? POLLOUT : POLLIN, c->deadline, c->read_timeout_ms)) {
            snprintf(why, whylen, "timed out");
            return PHICRYPT_ETIMEOUT;
        }
    }
}

int phi_kms_conn_write(phi_kms_conn *c, const void *eh, const phi_kms_where *w, const uint8_t *p, size_t n)
{
    char why[256];
    while (c->plain && n > 0) {
        long r = plain_io(c, 1, (uint8_t *)p, n, why, sizeof why);
        if (r < 0)
            return fail(eh, (int)r, w, "send", why);
        p += r;
        n -= (size_t)r;
    }
    while (n > 0) {
        size_t done = 0;
        int rc = run_op(c, op_write, (void *)p, n, &done, c->read_timeout_ms, why, sizeof why);
        if (rc <= 0)
            return fail(eh, rc == 0 ? PHICRYPT_EKMS : rc, w, "send", rc == 0 ? "connection closed by peer" : why);
        p += done;
        n -= done;
    }
    return 0;
}

long phi_kms_conn_read(phi_kms_conn *c, const void *eh, const phi_kms_where *w, uint8_t *p, size_t n)
{
    char why[256];
    size_t done = 0;
    int rc;
    if (c->plain) {
        long r = plain_io(c, 0, p, n, why, sizeof why);
        return r < 0 ? fail(eh, (int)r, w, "read reply", why) : r;
    }
    rc = run_op(c, op_read, p, n, &done, c->read_timeout_ms, why, sizeof why);
    if (rc == 0)
        return 0;
    if (rc < 0)
        return fail(eh, rc, w, "read reply", why);
    return (long)done;
}
