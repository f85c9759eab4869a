/* Shared between the files of lib/kms only. */
#ifndef PHI_KMS_IMPL_PRIVATE_H
#define PHI_KMS_IMPL_PRIVATE_H

#include <stdint.h>
#include <openssl/ssl.h>

#include "kms/kms_private.h"

#include <pthread.h>

/* Fetched credentials of one provider, kept until `expires`. */
typedef struct phi_kms_cached {
    bson_t *doc;     /* the provider's document, or NULL */
    int64_t expires; /* seconds since the epoch */
} phi_kms_cached;

struct phi_kms {
    phi_kms_settings s;
    pthread_mutex_t mu;
    phi_kms_cached aws, azure, gcp;
};

void phi_kms_cache_clear(phi_kms *k);

/* Where an error happened, for messages ("kms aws 127.0.0.1:4431"). */
typedef struct phi_kms_where {
    const char *provider;
    const char *endpoint;
} phi_kms_where;

/* Milliseconds on the monotonic clock. */
int64_t phi_kms_now_ms(void);

/* One TLS connection with deadlines (tls.c). */
typedef struct phi_kms_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    int read_timeout_ms;
    int64_t deadline; /* end of the whole exchange */
    int plain;        /* no TLS: link-local metadata services speak HTTP */
} phi_kms_conn;

/* Connects, handshakes and verifies the peer (certificate chain and host
 * name or IP). Returns 0, PHICRYPT_EKMS or PHICRYPT_ETIMEOUT; *retry is
 * set when another attempt may succeed. */
int phi_kms_conn_open(phi_kms_conn *c, const void *eh, const phi_kms_where *w, const phi_kms_settings *s,
                      const phi_kms_tls *tls, const char *host, int port, int *retry);
void phi_kms_conn_close(phi_kms_conn *c);
int phi_kms_conn_write(phi_kms_conn *c, const void *eh, const phi_kms_where *w, const uint8_t *p, size_t n);
/* Reads up to n bytes (at least 1); 0 at a clean end of stream. Returns
 * the count, or a negative PHICRYPT_E* code (error recorded). */
long phi_kms_conn_read(phi_kms_conn *c, const void *eh, const phi_kms_where *w, uint8_t *p, size_t n);

/* One exchange with retries (kms.c): host and port already split. */
int phi_kms_exchange_to(phi_kms *k, const void *eh, const phi_kms_where *w, const char *host, int port, int plain,
                        int is_kmip, const uint8_t *msg, size_t len, phi_kms_reply *out);
int phi_kms_parse_endpoint(const char *ep, int def_port, char *host, size_t hostlen, int *port);
int phi_kms_split_endpoint(const void *eh, const phi_kms_where *w, const char *ep, int def_port, char *host,
                           size_t hostlen, int *port);

/* Reads one whole HTTP response (http.c) or KMIP message (kmip.c). */
int phi_kms_read_http(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_reply *out);
int phi_kms_read_kmip(phi_kms_conn *c, const void *eh, const phi_kms_where *w, phi_kms_reply *out);

/* Retry policy (retry.c). */
int phi_kms_http_retryable(int status);
/* The pause before attempt number `attempt` (2, 3 ...): full jitter over
 * min(max, base * 2^(attempt-2)). */
int phi_kms_backoff_ms(const phi_kms_settings *s, int attempt);

/* A growable byte buffer. */
typedef struct phi_kms_bytes {
    uint8_t *data;
    size_t len, cap;
} phi_kms_bytes;
int phi_kms_bytes_append(phi_kms_bytes *b, const void *p, size_t n);
void phi_kms_bytes_free(phi_kms_bytes *b);

#endif
