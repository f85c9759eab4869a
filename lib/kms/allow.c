/* Which endpoints may receive requests of each provider. Key documents
 * name the Azure/GCP/AWS/KMIP endpoint of their master key, so whoever
 * can write the key vault could otherwise send our bearer token (Azure,
 * GCP), our signed request, or a plaintext data key (AWS Encrypt) to a
 * host of their choosing. Checked before any connection is made. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "kms/kms_impl_private.h"

static const char *const names[4] = { "aws", "azure", "gcp", "kmip" };
static const int default_ports[4] = { 443, 443, 443, 5696 };

/* The services' own hosts. A "*" is one DNS label. */
static const char *const defaults_aws[] = { "kms.*.amazonaws.com", "kms-fips.*.amazonaws.com", NULL };
static const char *const defaults_azure[] = { "*.vault.azure.net", "*.vault.azure.cn", "*.vault.usgovcloudapi.net",
                                              "*.managedhsm.azure.net", NULL };
static const char *const defaults_gcp[] = { "cloudkms.googleapis.com", NULL };
static const char *const defaults_kmip[] = { NULL };
static const char *const *const defaults[4] = { defaults_aws, defaults_azure, defaults_gcp, defaults_kmip };
/* Where libmongocrypt asks for tokens when the configuration names no
 * identity endpoint: chosen by the configuration, never by a key. */
static const char *const identity[4] = { NULL, "login.microsoftonline.com", "oauth2.googleapis.com", NULL };

int phi_kms_provider_index(const char *provider)
{
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(names[i]);
        /* "azure:name": libmongocrypt's named providers. */
        if (strncmp(provider, names[i], n) == 0 && (provider[n] == 0 || provider[n] == ':'))
            return i;
    }
    return -1;
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == ':' || c == '[' || c == ']' || c == '*';
}

/* Host patterns compare label by label; "*" is exactly one label. */
static int host_match(const char *pat, const char *host)
{
    for (;;) {
        const char *pe = strchr(pat, '.'), *he = strchr(host, '.');
        size_t pl = pe ? (size_t)(pe - pat) : strlen(pat), hl = he ? (size_t)(he - host) : strlen(host);
        if (pl == 1 && pat[0] == '*') {
            if (hl == 0)
                return 0;
            for (size_t i = 0; i < hl; i++)
                if (!host_char(host[i]) || host[i] == '*' || host[i] == ':' || host[i] == '[' || host[i] == ']')
                    return 0;
        } else if (pl != hl || strncasecmp(pat, host, pl) != 0) {
            return 0;
        }
        if (!pe || !he)
            return !pe && !he;
        pat = pe + 1;
        host = he + 1;
    }
}

static int matches(const char *pattern, int def_port, const char *host, int port)
{
    char ph[256];
    int pp;
    if (phi_kms_parse_endpoint(pattern, def_port, ph, sizeof ph, &pp) != 0)
        return 0;
    return pp == port && host_match(ph, host);
}

int phi_kms_settings_allow(phi_kms_settings *s, const void *eh, int provider, int allowed, const char *pattern,
                           const char *where)
{
    char ***list = allowed ? &s->allowed[provider] : &s->configured[provider];
    size_t *n = allowed ? &s->n_allowed[provider] : &s->n_configured[provider];
    char **nl, host[256];
    int port;
    if (pattern) {
        int bad = !*pattern || phi_kms_parse_endpoint(pattern, default_ports[provider], host, sizeof host, &port) != 0;
        for (const char *p = pattern; !bad && *p; p++)
            bad = !host_char(*p);
        /* "*" only as a whole label: "ev*il.com" or "*evil" is a typo. */
        for (const char *p = strchr(host, '*'); !bad && p; p = strchr(p + 1, '*'))
            bad = (p != host && p[-1] != '.') || (p[1] && p[1] != '.');
        if (bad)
            return phi_error(eh, PHICRYPT_ECONFIG, "%s: '%s' is not \"host[:port]\" (a \"*\" stands for one DNS label)",
                             where, pattern);
    }
    /* One spare slot keeps an empty list distinguishable from "unset". */
    nl = phi_malloc((*n + 2) * sizeof *nl);
    if (!nl)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (*n)
        memcpy(nl, *list, *n * sizeof *nl);
    nl[*n] = nl[*n + 1] = NULL;
    if (pattern && !(nl[*n] = phi_strdup(pattern))) {
        phi_free(nl);
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    }
    phi_free(*list);
    *list = nl;
    if (pattern)
        (*n)++;
    return 0;
}

void phi_kms_settings_clear_allow(phi_kms_settings *s)
{
    for (int p = 0; p < 4; p++) {
        for (size_t i = 0; i < s->n_allowed[p]; i++)
            phi_free(s->allowed[p][i]);
        for (size_t i = 0; i < s->n_configured[p]; i++)
            phi_free(s->configured[p][i]);
        phi_free(s->allowed[p]);
        phi_free(s->configured[p]);
        s->allowed[p] = s->configured[p] = NULL;
        s->n_allowed[p] = s->n_configured[p] = 0;
    }
}

int phi_kms_endpoint_check(const phi_kms_settings *s, const void *eh, const char *provider, const char *endpoint)
{
    int p = phi_kms_provider_index(provider);
    char host[256];
    int port;
    if (p < 0)
        return phi_error(eh, PHICRYPT_EKMS, "kms %s %s: unknown provider", provider, endpoint);
    if (phi_kms_parse_endpoint(endpoint, default_ports[p], host, sizeof host, &port) == 0) {
        if (identity[p] && matches(identity[p], default_ports[p], host, port))
            return 0;
        for (size_t i = 0; i < s->n_configured[p]; i++)
            if (matches(s->configured[p][i], default_ports[p], host, port))
                return 0;
        if (s->allowed[p]) {
            for (size_t i = 0; i < s->n_allowed[p]; i++)
                if (matches(s->allowed[p][i], default_ports[p], host, port))
                    return 0;
        } else {
            for (size_t i = 0; defaults[p][i]; i++)
                if (matches(defaults[p][i], default_ports[p], host, port))
                    return 0;
        }
    }
    return phi_error(eh, PHICRYPT_EKMS,
                     "kms %s %s: endpoint not allowed (named by the key's master key document); nothing was sent. "
                     "To trust it, add it to kms_options.%s.allowed_endpoints",
                     provider, endpoint, names[p]);
}
