/* The configuration of remote KMS providers (aws, azure, gcp, kmip), of
 * TLS towards them ("tls") and of timeouts and retries ("kms_options").
 * Field names are the MongoDB drivers' (see docs/kms.md). */
#include <stdlib.h>
#include <string.h>

#include <phicrypt.h>
#include "client/config_private.h"
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "kms/kms_private.h"
#include "kms/registry_private.h"

typedef struct provider_spec {
    const char *name;
    const char *const *keys;     /* every key allowed */
    const char *const *required; /* unless the document is {} */
    const char *env_endpoint;    /* environment override of the endpoint key */
    const char *endpoint_key;
    int empty_ok;                /* {}: credentials on demand */
} provider_spec;

static const char *const aws_keys[] = { "accessKeyId", "secretAccessKey", "sessionToken", NULL };
static const char *const aws_req[] = { "accessKeyId", "secretAccessKey", NULL };
static const char *const azure_keys[] = { "tenantId", "clientId", "clientSecret", "identityPlatformEndpoint", NULL };
static const char *const azure_req[] = { "tenantId", "clientId", "clientSecret", NULL };
static const char *const gcp_keys[] = { "email", "privateKey", "endpoint", NULL };
static const char *const gcp_req[] = { "email", "privateKey", NULL };
static const char *const kmip_keys[] = { "endpoint", NULL };
static const char *const kmip_req[] = { "endpoint", NULL };

static const provider_spec specs[] = {
    { "aws", aws_keys, aws_req, NULL, NULL, 1 },
    { "azure", azure_keys, azure_req, "PHICRYPT_AZURE_IDENTITY_ENDPOINT", "identityPlatformEndpoint", 1 },
    { "gcp", gcp_keys, gcp_req, "PHICRYPT_GCP_OAUTH_ENDPOINT", "endpoint", 1 },
    { "kmip", kmip_keys, kmip_req, "PHICRYPT_KMIP_ENDPOINT", "endpoint", 0 },
};

static const char *const tls_providers[] = { "aws", "azure", "gcp", "kmip", NULL };
static const char *const tls_keys[] = { "ca_file", "cert_key_file", "cert_key_password", NULL };
static const char *const option_keys[] = { "connect_timeout_ms", "read_timeout_ms", "total_timeout_ms",
                                           "max_attempts", "backoff_base_ms", "backoff_max_ms",
                                           "aws_sts_endpoint", "aws_ecs_endpoint", "aws_ec2_endpoint",
                                           "azure_imds_endpoint", "gcp_metadata_endpoint", "aws", "azure", "gcp",
                                           "kmip", NULL };
static const char *const provider_option_keys[] = { "allowed_endpoints", NULL };

static int known(const char *key, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(key, list[i]) == 0)
            return 1;
    return 0;
}

static int settings(phi_config *cfg, const void *eh)
{
    if (cfg->kms_settings)
        return 0;
    cfg->kms_settings = phi_calloc(1, sizeof *cfg->kms_settings);
    if (!cfg->kms_settings)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    phi_kms_settings_init(cfg->kms_settings);
    return 0;
}

/* A PEM private key becomes the base64 of its DER body, which is what
 * libmongocrypt takes for gcp.privateKey; base64 passes through. */
static int append_private_key(const void *eh, bson_t *dst, const char *text)
{
    const char *b = strstr(text, "-----BEGIN");
    char *out;
    size_t n = 0;
    if (!b)
        return BSON_APPEND_UTF8(dst, "privateKey", text) ? 0 : phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    b = strchr(b, '\n');
    out = phi_malloc(strlen(text) + 1);
    if (!b || !out) {
        phi_free(out);
        return b ? phi_error(eh, PHICRYPT_ENOMEM, "out of memory")
                 : phi_error(eh, PHICRYPT_ECONFIG, "kms_providers.gcp.privateKey: malformed PEM");
    }
    for (b++; *b && *b != '-'; b++)
        if (*b != '\n' && *b != '\r' && *b != ' ' && *b != '\t')
            out[n++] = *b;
    out[n] = 0;
    if (!*b || n == 0) {
        phi_wipe_free(out, n + 1);
        return phi_error(eh, PHICRYPT_ECONFIG, "kms_providers.gcp.privateKey: malformed PEM");
    }
    BSON_APPEND_UTF8(dst, "privateKey", out);
    phi_wipe_free(out, n + 1);
    return 0;
}

/* The endpoint the configuration names for a provider (identity
 * platform, GCP OAuth, KMIP server) may always be contacted: only key
 * documents are held to kms_options.<provider>.allowed_endpoints. */
static int configured_endpoint(phi_config *cfg, const void *eh, const provider_spec *sp, const char *provider)
{
    bson_iter_t it, c;
    char where[96];
    int rc;
    if (!sp->endpoint_key || !bson_iter_init_find(&it, cfg->kms_remote, provider) || !bson_iter_recurse(&it, &c) ||
        !bson_iter_find(&c, sp->endpoint_key))
        return 0;
    if ((rc = settings(cfg, eh)) != 0)
        return rc;
    snprintf(where, sizeof where, "kms_providers.%s.%s", provider, sp->endpoint_key);
    return phi_kms_settings_allow(cfg->kms_settings, eh, phi_kms_provider_index(provider), 0,
                                  bson_iter_utf8(&c, NULL), where);
}

int phi_config_parse_remote(phi_config *cfg, const void *eh, const char *provider, bson_iter_t *it)
{
    const provider_spec *sp = NULL;
    bson_iter_t c;
    bson_t sub;
    char where[64];
    int n = 0, rc = 0, have_endpoint = 0;

    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (strcmp(specs[i].name, provider) == 0)
            sp = &specs[i];
    if (!sp)
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: unknown KMS provider '%s'", provider);
    snprintf(where, sizeof where, "kms_providers.%s.", provider);
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'kms_providers.%s' must be an object", provider);
    if (!cfg->kms_remote && !(cfg->kms_remote = bson_new()))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (bson_has_field(cfg->kms_remote, provider))
        return phi_error(eh, PHICRYPT_ECONFIG, "kms_providers.%s: given twice", provider);
    BSON_APPEND_DOCUMENT_BEGIN(cfg->kms_remote, provider, &sub);
    while (rc == 0 && bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        if (!known(k, sp->keys)) {
            rc = phi_config_unknown_key(eh, where, k, sp->keys);
            break;
        }
        if (!BSON_ITER_HOLDS_UTF8(&c) || bson_iter_utf8(&c, NULL)[0] == 0) {
            rc = phi_error(eh, PHICRYPT_ECONFIG, "%s%s: must be a non-empty string", where, k);
            break;
        }
        if (strcmp(provider, "gcp") == 0 && strcmp(k, "privateKey") == 0)
            rc = append_private_key(eh, &sub, bson_iter_utf8(&c, NULL));
        else
            BSON_APPEND_UTF8(&sub, k, bson_iter_utf8(&c, NULL));
        if (sp->endpoint_key && strcmp(k, sp->endpoint_key) == 0)
            have_endpoint = 1;
        n++;
    }
    /* Tests (and unusual deployments) point a provider elsewhere without
     * editing the configuration; the configuration wins when it says. */
    if (rc == 0 && sp->env_endpoint && !have_endpoint && (n > 0 || !sp->empty_ok) && getenv(sp->env_endpoint) &&
        *getenv(sp->env_endpoint)) {
        BSON_APPEND_UTF8(&sub, sp->endpoint_key, getenv(sp->env_endpoint));
        n++;
    }
    bson_append_document_end(cfg->kms_remote, &sub);
    if (rc != 0)
        return rc;
    if ((rc = configured_endpoint(cfg, eh, sp, provider)) != 0)
        return rc;
    if (n == 0 && sp->empty_ok) {
        cfg->kms_on_demand = 1;
        if ((rc = settings(cfg, eh)) != 0)
            return rc;
        cfg->kms_settings->on_demand |= provider[0] == 'a' ? (provider[1] == 'w' ? PHI_KMS_AWS : PHI_KMS_AZURE)
                                                           : PHI_KMS_GCP;
        return 0;
    }
    for (size_t i = 0; sp->required[i]; i++) {
        bson_iter_t s2;
        if (!bson_iter_init_find(&s2, cfg->kms_remote, provider) || !bson_iter_recurse(&s2, &c) ||
            !bson_iter_find(&c, sp->required[i]))
            return phi_error(eh, PHICRYPT_ECONFIG, "%s%s is required%s", where, sp->required[i],
                             sp->empty_ok ? " (or write {} to find credentials on demand)" : "");
    }
    return settings(cfg, eh);
}

static int path_field(phi_config *cfg, const void *eh, bson_iter_t *it, const char *where, char **out)
{
    if (!BSON_ITER_HOLDS_UTF8(it) || !bson_iter_utf8(it, NULL)[0])
        return phi_error(eh, PHICRYPT_ECONFIG, "%s: must be a file name", where);
    phi_free(*out);
    *out = phi_path_resolve(cfg->base_dir, bson_iter_utf8(it, NULL));
    return *out ? 0 : phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
}

static int parse_tls_one(phi_config *cfg, const void *eh, const char *provider, bson_iter_t *it)
{
    phi_kms_settings *s = cfg->kms_settings;
    phi_kms_tls *t;
    bson_iter_t c;
    char where[96];
    int rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'tls.%s' must be an object", provider);
    if (s->n_tls >= PHI_KMS_MAX_TLS)
        return phi_error(eh, PHICRYPT_ECONFIG, "tls: too many entries");
    t = &s->tls[s->n_tls++];
    memset(t, 0, sizeof *t);
    if (!(t->provider = phi_strdup(provider)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        snprintf(where, sizeof where, "tls.%s.%s", provider, k);
        if (!known(k, tls_keys)) {
            snprintf(where, sizeof where, "tls.%s.", provider);
            return phi_config_unknown_key(eh, where, k, tls_keys);
        }
        if (strcmp(k, "ca_file") == 0)
            rc = path_field(cfg, eh, &c, where, &t->ca_file);
        else if (strcmp(k, "cert_key_file") == 0) {
            if ((rc = path_field(cfg, eh, &c, where, &t->cert_key_file)) == 0)
                rc = phi_file_check_private(eh, t->cert_key_file, "tls client key");
        } else {
            uint32_t len;
            const char *pw;
            if (!BSON_ITER_HOLDS_UTF8(&c))
                return phi_error(eh, PHICRYPT_ECONFIG, "%s: must be a string", where);
            pw = bson_iter_utf8(&c, &len);
            phi_secure_free(t->key_password);
            if (!(t->key_password = phi_secure_alloc(len + 1)))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of secure memory");
            memcpy(t->key_password, pw, len + 1);
            rc = 0;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int phi_config_parse_tls(phi_config *cfg, const void *eh, bson_iter_t *it)
{
    bson_iter_t c;
    int rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'tls' must be an object");
    if ((rc = settings(cfg, eh)) != 0)
        return rc;
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        if (!known(k, tls_providers))
            return phi_config_unknown_key(eh, "tls.", k, tls_providers);
        for (size_t i = 0; i < cfg->kms_settings->n_tls; i++)
            if (strcmp(cfg->kms_settings->tls[i].provider, k) == 0)
                return phi_error(eh, PHICRYPT_ECONFIG, "tls.%s: given twice", k);
        if ((rc = parse_tls_one(cfg, eh, k, &c)) != 0)
            return rc;
    }
    return 0;
}

/* kms_options.<provider>: {"allowed_endpoints": ["host[:port]", ...]}. */
static int parse_allowed(phi_kms_settings *s, const void *eh, const char *provider, bson_iter_t *it)
{
    int p = phi_kms_provider_index(provider), rc;
    bson_iter_t c, a;
    char where[96];
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "kms_options.%s: must be an object", provider);
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        snprintf(where, sizeof where, "kms_options.%s.", provider);
        if (!known(k, provider_option_keys))
            return phi_config_unknown_key(eh, where, k, provider_option_keys);
        snprintf(where, sizeof where, "kms_options.%s.allowed_endpoints", provider);
        if (s->allowed[p])
            return phi_error(eh, PHICRYPT_ECONFIG, "%s: given twice", where);
        if (!BSON_ITER_HOLDS_ARRAY(&c) || !bson_iter_recurse(&c, &a))
            return phi_error(eh, PHICRYPT_ECONFIG, "%s: must be an array of \"host[:port]\" strings", where);
        /* Set, even if empty: then only the configured endpoints remain. */
        if ((rc = phi_kms_settings_allow(s, eh, p, 1, NULL, where)) != 0)
            return rc;
        while (bson_iter_next(&a)) {
            if (!BSON_ITER_HOLDS_UTF8(&a))
                return phi_error(eh, PHICRYPT_ECONFIG, "%s[%s]: must be a string", where, bson_iter_key(&a));
            if ((rc = phi_kms_settings_allow(s, eh, p, 1, bson_iter_utf8(&a, NULL), where)) != 0)
                return rc;
        }
    }
    return 0;
}

int phi_config_parse_kms_options(phi_config *cfg, const void *eh, bson_iter_t *it)
{
    bson_iter_t c;
    int rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'kms_options' must be an object");
    if ((rc = settings(cfg, eh)) != 0)
        return rc;
    while (bson_iter_next(&c)) {
        const char *k = bson_iter_key(&c);
        phi_kms_settings *s = cfg->kms_settings;
        int64_t v;
        int *dst;
        if (!known(k, option_keys))
            return phi_config_unknown_key(eh, "kms_options.", k, option_keys);
        if (phi_kms_provider_index(k) >= 0) {
            if ((rc = parse_allowed(s, eh, k, &c)) != 0)
                return rc;
            continue;
        }
        if (strstr(k, "_endpoint")) {
            char **ep = strcmp(k, "aws_sts_endpoint") == 0   ? &s->aws_sts_endpoint
                      : strcmp(k, "aws_ecs_endpoint") == 0   ? &s->aws_ecs_endpoint
                      : strcmp(k, "aws_ec2_endpoint") == 0   ? &s->aws_ec2_endpoint
                      : strcmp(k, "azure_imds_endpoint") == 0 ? &s->azure_imds_endpoint
                                                              : &s->gcp_metadata_endpoint;
            if (!BSON_ITER_HOLDS_UTF8(&c) || !bson_iter_utf8(&c, NULL)[0])
                return phi_error(eh, PHICRYPT_ECONFIG, "kms_options.%s: must be \"host[:port]\"", k);
            phi_free(*ep);
            if (!(*ep = phi_strdup(bson_iter_utf8(&c, NULL))))
                return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            continue;
        }
        if (!BSON_ITER_HOLDS_INT(&c))
            return phi_error(eh, PHICRYPT_ECONFIG, "kms_options.%s: must be an integer", k);
        v = bson_iter_as_int64(&c);
        if (strcmp(k, "max_attempts") == 0) {
            if (v < 1 || v > 10)
                return phi_error(eh, PHICRYPT_ECONFIG, "kms_options.max_attempts: must be 1 to 10");
            s->max_attempts = (int)v;
            continue;
        }
        if (v < (strncmp(k, "backoff", 7) == 0 ? 0 : 1) || v > 600000)
            return phi_error(eh, PHICRYPT_ECONFIG, "kms_options.%s: must be %s to 600000 milliseconds", k,
                             strncmp(k, "backoff", 7) == 0 ? "0" : "1");
        dst = strcmp(k, "connect_timeout_ms") == 0 ? &s->connect_timeout_ms
            : strcmp(k, "read_timeout_ms") == 0    ? &s->read_timeout_ms
            : strcmp(k, "total_timeout_ms") == 0   ? &s->total_timeout_ms
            : strcmp(k, "backoff_base_ms") == 0    ? &s->backoff_base_ms
                                                   : &s->backoff_max_ms;
        *dst = (int)v;
    }
    return 0;
}

int phi_config_kms_finish(phi_config *cfg, const void *eh)
{
    int rc;
    if (!cfg->kms_remote)
        return 0;
    if ((rc = settings(cfg, eh)) != 0)
        return rc;
    return phi_kms_new(&cfg->kms, eh, cfg->kms_settings);
}

void phi_config_kms_free(phi_config *cfg)
{
    if (cfg->kms_remote) {
        phi_bson_wipe_destroy(cfg->kms_remote);
        /* bson_new'd: phi_bson_wipe_destroy wiped and released the buffer. */
    }
    cfg->kms_remote = NULL;
    phi_kms_free(cfg->kms);
    cfg->kms = NULL;
    if (cfg->kms_settings) {
        phi_kms_settings_clear(cfg->kms_settings);
        phi_free(cfg->kms_settings);
        cfg->kms_settings = NULL;
    }
}

/* "kms_plugins": {"<name>": {"module": "lib.so", "options": {...}}}. */
int phi_config_parse_plugins(phi_config *cfg, const void *eh, bson_iter_t *it)
{
    static const char *const plugin_keys[] = { "module", "options", NULL };
    bson_iter_t c, p;
    int rc;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
        return phi_error(eh, PHICRYPT_ECONFIG, "configuration: 'kms_plugins' must be an object");
    if (!cfg->kms_registry && (rc = phi_kms_registry_new(&cfg->kms_registry, eh)) != 0)
        return rc;
    while (bson_iter_next(&c)) {
        const char *name = bson_iter_key(&c), *module = NULL;
        char where[96], *options = NULL;
        size_t olen = 0;
        if (!phi_kms_plugin_name_ok(name))
            return phi_error(eh, PHICRYPT_ECONFIG,
                             "kms_plugins.%s: a plug-in name is [a-z0-9_-]{1,32} and not local, aws, azure, gcp or "
                             "kmip", name);
        if (!BSON_ITER_HOLDS_DOCUMENT(&c) || !bson_iter_recurse(&c, &p))
            return phi_error(eh, PHICRYPT_ECONFIG, "kms_plugins.%s: must be an object", name);
        while (bson_iter_next(&p)) {
            const char *k = bson_iter_key(&p);
            snprintf(where, sizeof where, "kms_plugins.%s.", name);
            if (!known(k, plugin_keys)) {
                if (options) {
                    phi_wipe(options, olen);
                    bson_free(options);
                }
                return phi_config_unknown_key(eh, where, k, plugin_keys);
            }
            if (strcmp(k, "module") == 0) {
                if (!BSON_ITER_HOLDS_UTF8(&p) || !bson_iter_utf8(&p, NULL)[0]) {
                    if (options) {
                        phi_wipe(options, olen);
                        bson_free(options);
                    }
                    return phi_error(eh, PHICRYPT_ECONFIG, "kms_plugins.%s.module: must be a file name", name);
                }
                module = bson_iter_utf8(&p, NULL);
            } else {
                bson_t sub;
                uint32_t len;
                const uint8_t *data;
                if (!BSON_ITER_HOLDS_DOCUMENT(&p) || options)
                    return phi_error(eh, PHICRYPT_ECONFIG, "kms_plugins.%s.options: must be an object", name);
                bson_iter_document(&p, &len, &data);
                if (!bson_init_static(&sub, data, len) || !(options = bson_as_relaxed_extended_json(&sub, &olen)))
                    return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            }
        }
        if (!module)
            rc = phi_error(eh, PHICRYPT_ECONFIG, "kms_plugins.%s: 'module' is required (the plug-in's shared object)",
                           name);
        else
            rc = phi_kms_registry_load(cfg->kms_registry, eh, name, module, options ? options : "{}",
                                       cfg->base_dir);
        /* Options may name a PIN or a key file: not left behind. */
        if (options) {
            phi_wipe(options, olen);
            bson_free(options);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
