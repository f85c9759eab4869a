/* One exchange with a KMS: endpoint parsing, attempts and backoff. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "kms/kms_impl_private.h"

void phi_kms_settings_init(phi_kms_settings *s)
{
    memset(s, 0, sizeof *s);
    s->connect_timeout_ms = PHI_KMS_CONNECT_TIMEOUT_MS;
    s->read_timeout_ms = PHI_KMS_READ_TIMEOUT_MS;
    s->total_timeout_ms = PHI_KMS_TOTAL_TIMEOUT_MS;
    s->max_attempts = PHI_KMS_MAX_ATTEMPTS;
    s->backoff_base_ms = PHI_KMS_BACKOFF_BASE_MS;
    s->backoff_max_ms = PHI_KMS_BACKOFF_MAX_MS;
}

void phi_kms_settings_clear(phi_kms_settings *s)
{
    for (size_t i = 0; i < s->n_tls; i++) {
        phi_free(s->tls[i].provider);
        phi_free(s->tls[i].ca_file);
        phi_free(s->tls[i].cert_key_file);
        phi_secure_free(s->tls[i].key_password);
    }
    s->n_tls = 0;
    phi_free(s->aws_sts_endpoint);
    phi_free(s->aws_ecs_endpoint);
    phi_free(s->aws_ec2_endpoint);
    phi_free(s->azure_imds_endpoint);
    phi_free(s->gcp_metadata_endpoint);
    s->aws_sts_endpoint = s->aws_ecs_endpoint = s->aws_ec2_endpoint = NULL;
    s->azure_imds_endpoint = s->gcp_metadata_endpoint = NULL;
    phi_kms_settings_clear_allow(s);
}

int phi_kms_new(phi_kms **out, const void *eh, phi_kms_settings *s)
{
    phi_kms *k = phi_calloc(1, sizeof *k);
    *out = NULL;
    if (!k)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    k->s = *s;
    /* The settings' pointers now belong to k. */
    s->n_tls = 0;
    s->aws_sts_endpoint = s->aws_ecs_endpoint = s->aws_ec2_endpoint = NULL;
    s->azure_imds_endpoint = s->gcp_metadata_endpoint = NULL;
    memset(s->allowed, 0, sizeof s->allowed);
    memset(s->n_allowed, 0, sizeof s->n_allowed);
    memset(s->configured, 0, sizeof s->configured);
    memset(s->n_configured, 0, sizeof s->n_configured);
    pthread_mutex_init(&k->mu, NULL);
    *out = k;
    return 0;
}

void phi_kms_free(phi_kms *k)
{
    if (!k)
        return;
    phi_kms_cache_clear(k);
    pthread_mutex_destroy(&k->mu);
    phi_kms_settings_clear(&k->s);
    phi_free(k);
}

void phi_kms_reply_dispose(phi_kms_reply *r)
{
    if (r->data)
        phi_wipe_free(r->data, r->len);
    memset(r, 0, sizeof *r);
}

/* "host", "host:port", "[v6]" or "[v6]:port" into host and port; -1 if
 * malformed. */
int phi_kms_parse_endpoint(const char *ep, int def_port, char *host, size_t hostlen, int *port)
{
    const char *colon, *hend;
    size_t n;
    *port = def_port;
    if (ep[0] == '[') {
        hend = strchr(ep, ']');
        if (!hend)
            return -1;
        colon = hend[1] == ':' ? hend + 1 : NULL;
        if (hend[1] && !colon)
            return -1;
        ep++;
    } else {
        colon = strrchr(ep, ':');
        hend = colon ? colon : ep + strlen(ep);
    }
    n = (size_t)(hend - ep);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, ep, n);
    host[n] = 0;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p <= 0 || p > 65535)
            return -1;
        *port = (int)p;
    }
    return 0;
}

int phi_kms_split_endpoint(const void *eh, const phi_kms_where *w, const char *ep, int def_port, char *host,
                           size_t hostlen, int *port)
{
    if (phi_kms_parse_endpoint(ep, def_port, host, hostlen, port) == 0)
        return 0;
    return phi_error(eh, PHICRYPT_EKMS, "kms %s %s: not a valid endpoint (host[:port])", w->provider, w->endpoint);
}

static const phi_kms_tls *tls_for(const phi_kms *k, const char *provider)
{
    for (size_t i = 0; i < k->s.n_tls; i++)
        if (strcmp(k->s.tls[i].provider, provider) == 0)
            return &k->s.tls[i];
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One attempt; *retry tells whether another may do better. */
static int attempt(phi_kms *k, const void *eh, const phi_kms_where *w, const char *host, int port, int plain,
                   int is_kmip, int64_t deadline, const uint8_t *msg, size_t len, phi_kms_reply *out, int *retry)
{
    phi_kms_conn c = { -1, NULL, NULL, 0, deadline, plain };
    int rc = phi_kms_conn_open(&c, eh, w, &k->s, tls_for(k, w->provider), host, port, retry);
    if (rc == 0 && (rc = phi_kms_conn_write(&c, eh, w, msg, len)) != 0)
        *retry = 1;
    if (rc == 0) {
        rc = is_kmip ? phi_kms_read_kmip(&c, eh, w, out) : phi_kms_read_http(&c, eh, w, out);
        *retry = rc == PHICRYPT_EKMS || rc == PHICRYPT_ETIMEOUT;
        if (rc == 0 && phi_kms_http_retryable(out->http_status)) {
            *retry = 1;
            rc = phi_error(eh, PHICRYPT_EKMS, "kms %s %s: HTTP %d", w->provider, w->endpoint, out->http_status);
        }
    }
    phi_kms_conn_close(&c);
    return rc;
}

int phi_kms_exchange(phi_kms *k, const void *eh, const char *provider, const char *endpoint, const uint8_t *msg,
                     size_t len, phi_kms_reply *out)
{
    phi_kms_where w = { provider ? provider : "?", endpoint ? endpoint : "?" };
    int is_kmip = provider && strcmp(provider, "kmip") == 0;
    char host[256];
    int port, rc;

    memset(out, 0, sizeof *out);
    if (!endpoint || !*endpoint)
        return phi_error(eh, PHICRYPT_EKMS, "kms %s: no endpoint", w.provider);
    /* Before any connection: the endpoint comes from a key document. */
    if ((rc = phi_kms_endpoint_check(&k->s, eh, w.provider, endpoint)) != 0)
        return rc;
    if ((rc = phi_kms_split_endpoint(eh, &w, endpoint, is_kmip ? 5696 : 443, host, sizeof host, &port)) != 0)
        return rc;
    return phi_kms_exchange_to(k, eh, &w, host, port, 0, is_kmip, msg, len, out);
}

int phi_kms_exchange_to(phi_kms *k, const void *eh, const phi_kms_where *wp, const char *host, int port, int plain,
                        int is_kmip, const uint8_t *msg, size_t len, phi_kms_reply *out)
{
    phi_kms_where w = *wp;
    int rc, n;
    int64_t start = phi_kms_now_ms(), deadline = start + k->s.total_timeout_ms;

    memset(out, 0, sizeof *out);
    for (n = 1;; n++) {
        int retry = 0, pause;
        phi_kms_reply_dispose(out);
        rc = attempt(k, eh, &w, host, port, plain, is_kmip, deadline, msg, len, out, &retry);
        if (rc == 0 || !retry || n >= k->s.max_attempts)
            break;
        pause = phi_kms_backoff_ms(&k->s, n + 1);
        if (phi_kms_now_ms() + pause >= deadline)
            break;
        sleep_ms(pause);
    }
    if (rc != 0) {
        int code = rc;
        /* Out of time counts as a timeout whatever the last symptom was. */
        if (phi_kms_now_ms() >= deadline && rc == PHICRYPT_EKMS)
            code = PHICRYPT_ETIMEOUT;
        phi_kms_reply_dispose(out);
        if (n > 1 || code != rc) {
            char m[PHI_ERRMSG_MAX], suffix[48] = "";
            snprintf(m, sizeof m, "%s", phi_error_message(eh));
            if (n > 1)
                snprintf(suffix, sizeof suffix, " (after %d attempts)", n);
            phi_error(eh, code, "%s%s", m, suffix);
        }
        rc = code;
    }
    return rc;
}
