/* Network I/O with key management services: TCP + TLS (OpenSSL), whole
 * HTTP or KMIP replies, timeouts and retries. libmongocrypt builds every
 * request and parses every reply; this module only moves bytes, so it
 * never includes mongocrypt.h (lib/mcrypt/kms_states.c is the adapter). */
#ifndef PHI_KMS_PRIVATE_H
#define PHI_KMS_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <bson/bson.h>

#define PHI_KMS_CONNECT_TIMEOUT_MS 10000
#define PHI_KMS_READ_TIMEOUT_MS 10000
#define PHI_KMS_TOTAL_TIMEOUT_MS 30000
#define PHI_KMS_MAX_ATTEMPTS 3
#define PHI_KMS_BACKOFF_BASE_MS 200
#define PHI_KMS_BACKOFF_MAX_MS 5000
#define PHI_KMS_MAX_TLS 8

/* TLS options of one provider (the configuration's "tls.<provider>"). */
typedef struct phi_kms_tls {
    char *provider;
    char *ca_file;       /* PEM bundle, or NULL: the system store */
    char *cert_key_file; /* client certificate + key (PEM), or NULL */
    char *key_password;  /* secure memory, or NULL */
} phi_kms_tls;

typedef struct phi_kms_settings {
    int connect_timeout_ms;
    int read_timeout_ms;  /* longest silence while a reply is awaited */
    int total_timeout_ms; /* one exchange, all attempts included */
    int max_attempts;     /* 1: no retry */
    int backoff_base_ms;
    int backoff_max_ms;
    phi_kms_tls tls[PHI_KMS_MAX_TLS];
    size_t n_tls;
    /* Providers configured as {} (PHI_KMS_AWS | ...): credentials on demand. */
    unsigned on_demand;
    /* Where on-demand credentials come from ("host[:port]"), or NULL for
     * the environment (PHICRYPT_AWS_STS_ENDPOINT ...) or the default. */
    char *aws_sts_endpoint, *aws_ecs_endpoint, *aws_ec2_endpoint, *azure_imds_endpoint, *gcp_metadata_endpoint;
    /* Where key documents may send requests, per provider (aws, azure,
     * gcp, kmip in PHI_KMS_P_* order): "host[:port]" patterns whose
     * labels may be "*" (one DNS label). NULL: the defaults. The
     * endpoints the configuration itself names (identity platform, GCP
     * OAuth, KMIP) are always allowed: the key vault cannot change them. */
    char **allowed[4];
    size_t n_allowed[4];
    char **configured[4];
    size_t n_configured[4];
} phi_kms_settings;

#define PHI_KMS_P_AWS 0
#define PHI_KMS_P_AZURE 1
#define PHI_KMS_P_GCP 2
#define PHI_KMS_P_KMIP 3
/* Index of a provider name ("aws", "azure:name" ...) or -1. */
int phi_kms_provider_index(const char *provider);
/* Appends a pattern to the allow-list (allowed != 0) or to the endpoints
 * the configuration names; checks the pattern's syntax. An empty list
 * set with allowed != 0 and n == 0 means "nothing but the configured". */
int phi_kms_settings_allow(phi_kms_settings *s, const void *eh, int provider, int allowed, const char *pattern,
                           const char *where);
void phi_kms_settings_clear_allow(phi_kms_settings *s);
/* 0 when `endpoint` may receive `provider` requests, else PHICRYPT_EKMS
 * naming the endpoint and the option that would allow it. */
int phi_kms_endpoint_check(const phi_kms_settings *s, const void *eh, const char *provider, const char *endpoint);

#define PHI_KMS_AWS 1u
#define PHI_KMS_AZURE 2u
#define PHI_KMS_GCP 4u

typedef struct phi_kms phi_kms;

/* Sets the defaults above and no TLS options. */
void phi_kms_settings_init(phi_kms_settings *s);
/* Frees what the settings own (wiping the password). */
void phi_kms_settings_clear(phi_kms_settings *s);

/* Takes ownership of what *s owns (s is left empty). */
int phi_kms_new(phi_kms **out, const void *eh, phi_kms_settings *s);
void phi_kms_free(phi_kms *k);

/* A complete reply: for HTTP the status line, the headers and a body
 * with Content-Length (a chunked body is reassembled); for KMIP one TTLV
 * message. */
typedef struct phi_kms_reply {
    uint8_t *data;
    size_t len;
    int http_status; /* 0 for KMIP */
} phi_kms_reply;

void phi_kms_reply_dispose(phi_kms_reply *r);

/* Sends `msg` to `endpoint` ("host[:port]"; port 443, or 5696 for kmip)
 * and reads the whole reply, retrying network errors, timeouts and HTTP
 * 429/5xx with jittered exponential backoff. Errors name the provider,
 * the endpoint and the step: PHICRYPT_EKMS, PHICRYPT_ETIMEOUT. */
int phi_kms_exchange(phi_kms *k, const void *eh, const char *provider, const char *endpoint, const uint8_t *msg,
                     size_t len, phi_kms_reply *out);

/* Credentials for every provider configured as {} (libmongocrypt's
 * NEED_KMS_CREDENTIALS), appended to `out` as {aws: {accessKeyId,
 * secretAccessKey, sessionToken?}, azure: {accessToken}, gcp:
 * {accessToken}}. AWS: environment, web identity (STS), ECS, EC2 IMDSv2;
 * Azure: IMDS managed identity; GCP: the metadata server. Fetched
 * credentials are cached until shortly before they expire (thread-safe).
 * A provider whose credentials cannot be found is left out (the reason
 * goes to `left_out`, "" if none was); an error only when all fail.
 * `out` holds secrets: wipe it. */
/* The providers configured as {} (PHI_KMS_AWS | ...). */
unsigned phi_kms_on_demand_mask(const phi_kms *k);
/* The on-demand providers whose credentials are cached and fresh. */
unsigned phi_kms_on_demand_cached(phi_kms *k);
/* Credentials of the on-demand providers in `want` (PHI_KMS_AWS | ...). */
int phi_kms_on_demand_credentials(phi_kms *k, const void *eh, unsigned want, bson_t *out, char *left_out,
                                  size_t left_out_len);

#endif
