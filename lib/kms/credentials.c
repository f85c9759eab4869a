/* On-demand KMS credentials: the places the cloud SDKs look, in their
 * order, each endpoint overridable (configuration, then environment) so
 * that tests never reach a real cloud or a link-local address.
 *   AWS   environment → web identity (STS AssumeRoleWithWebIdentity) →
 *         ECS task role → EC2 instance role (IMDSv2)
 *   Azure managed identity from IMDS (an access token)
 *   GCP   the metadata server's service account (an access token) */
#define _GNU_SOURCE /* timegm */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/file_private.h"
#include "core/mem_private.h"
#include "kms/kms_impl_private.h"

#define REFRESH_MARGIN_S 300 /* renew five minutes before expiry */
#define MAX_TOKEN_FILE (64 * 1024)

typedef struct http_req {
    const char *provider; /* for messages */
    const char *what;     /* "EC2 metadata" ... */
    const char *endpoint; /* host[:port] */
    int tls;
    const char *method, *path, *headers, *body;
} http_req;

/* Sends one request; on HTTP 200 *body (phi_malloc'd, NUL-terminated,
 * wipe it) is the reply body. */
static int http_call(phi_kms *k, const void *eh, const http_req *r, char **body)
{
    phi_kms_where w = { r->provider, r->endpoint };
    phi_kms_reply rep = { 0 };
    char host[256], *msg = NULL;
    int port, rc, n;
    const char *b = r->body ? r->body : "";
    const uint8_t *sep;

    *body = NULL;
    if ((rc = phi_kms_split_endpoint(eh, &w, r->endpoint, r->tls ? 443 : 80, host, sizeof host, &port)) != 0)
        return rc;
    n = asprintf(&msg, "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 r->method, r->path, r->endpoint, r->headers ? r->headers : "", strlen(b), b);
    if (n < 0)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    rc = phi_kms_exchange_to(k, eh, &w, host, port, !r->tls, 0, (const uint8_t *)msg, (size_t)n, &rep);
    phi_wipe(msg, (size_t)n);
    free(msg);
    if (rc != 0)
        return phi_error_wrap(eh, rc, "credentials (%s)", r->what);
    if (rep.http_status != 200) {
        rc = (rep.http_status == 401 || rep.http_status == 403) ? PHICRYPT_EKMSAUTH : PHICRYPT_EKMS;
        phi_error(eh, rc, "credentials (%s): kms %s %s: HTTP %d", r->what, r->provider, r->endpoint,
                  rep.http_status);
        phi_kms_reply_dispose(&rep);
        return rc;
    }
    sep = rep.len >= 4 ? memmem(rep.data, rep.len, "\r\n\r\n", 4) : NULL;
    if (!sep || !(*body = phi_strndup((const char *)sep + 4, rep.len - (size_t)(sep + 4 - rep.data))))
        rc = phi_error(eh, sep ? PHICRYPT_ENOMEM : PHICRYPT_EKMS, "credentials (%s): unreadable reply", r->what);
    phi_kms_reply_dispose(&rep);
    return rc;
}

/* The configured endpoint, else the environment's, else the default. */
static const char *endpoint(const char *configured, const char *env, const char *def)
{
    const char *e = env ? getenv(env) : NULL;
    if (configured)
        return configured;
    return (e && *e) ? e : def;
}

static int parse_json(const void *eh, const char *what, const char *text, bson_t *out)
{
    bson_error_t err;
    if (!bson_init_from_json(out, text, -1, &err))
        return phi_error(eh, PHICRYPT_EKMS, "credentials (%s): the reply is not JSON", what);
    return 0;
}

static const char *str_at(const bson_t *doc, const char *path)
{
    bson_iter_t it, f;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &f) && BSON_ITER_HOLDS_UTF8(&f))
        return bson_iter_utf8(&f, NULL);
    return NULL;
}

/* "2026-11-23T11:00:00Z" or a number of seconds since the epoch. */
static int64_t expiration_at(const bson_t *doc, const char *path)
{
    bson_iter_t it, f;
    struct tm tm;
    const char *s;
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &f))
        return 0;
    if (BSON_ITER_HOLDS_NUMBER(&f))
        return (int64_t)bson_iter_as_double(&f);
    if (!BSON_ITER_HOLDS_UTF8(&f))
        return 0;
    s = bson_iter_utf8(&f, NULL);
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) !=
        6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* Seconds from now given as a number or a string ("3599"). */
static int64_t expires_in(const bson_t *doc)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "expires_in"))
        return 0;
    if (BSON_ITER_HOLDS_NUMBER(&it))
        return (int64_t)time(NULL) + bson_iter_as_int64(&it);
    if (BSON_ITER_HOLDS_UTF8(&it))
        return (int64_t)time(NULL) + strtoll(bson_iter_utf8(&it, NULL), NULL, 10);
    return 0;
}

/* Builds {accessKeyId, secretAccessKey, sessionToken?} from a reply. */
static int aws_doc(const void *eh, const char *what, const bson_t *reply, const char *prefix, const char *token_name,
                   bson_t *out, int64_t *expires)
{
    char p1[160], p2[160], p3[160], p4[160];
    const char *id, *secret, *token;
    snprintf(p1, sizeof p1, "%sAccessKeyId", prefix);
    snprintf(p2, sizeof p2, "%sSecretAccessKey", prefix);
    snprintf(p3, sizeof p3, "%s%s", prefix, token_name);
    snprintf(p4, sizeof p4, "%sExpiration", prefix);
    id = str_at(reply, p1);
    secret = str_at(reply, p2);
    token = str_at(reply, p3);
    if (!id || !secret)
        return phi_error(eh, PHICRYPT_EKMS, "credentials (%s): the reply has no AccessKeyId/SecretAccessKey", what);
    BSON_APPEND_UTF8(out, "accessKeyId", id);
    BSON_APPEND_UTF8(out, "secretAccessKey", secret);
    if (token)
        BSON_APPEND_UTF8(out, "sessionToken", token);
    *expires = expiration_at(reply, p4);
    return 0;
}

static int aws_from_json(const void *eh, const char *what, char *body, const char *prefix, const char *token_name,
                         bson_t *out, int64_t *expires)
{
    bson_t reply;
    int rc = parse_json(eh, what, body, &reply);
    phi_wipe(body, strlen(body));
    phi_free(body);
    if (rc != 0)
        return rc;
    rc = aws_doc(eh, what, &reply, prefix, token_name, out, expires);
    phi_wipe((void *)bson_get_data(&reply), reply.len);
    bson_destroy(&reply);
    return rc;
}

static char *form_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = phi_malloc(strlen(s) * 3 + 1), *p = o;
    if (!o)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = 0;
    return o;
}

static int aws_web_identity(phi_kms *k, const void *eh, const char *token_file, const char *role, bson_t *out,
                            int64_t *expires)
{
    static const char what[] = "AWS web identity";
    char *token = NULL, *etoken = NULL, *erole = NULL, *body = NULL, *req_body = NULL;
    size_t len = 0;
    const char *session = getenv("AWS_ROLE_SESSION_NAME");
    http_req r = { "aws", what, NULL, 1, "POST", "/",
                   "Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n", NULL };
    int rc;

    r.endpoint = endpoint(k->s.aws_sts_endpoint, "PHICRYPT_AWS_STS_ENDPOINT", "sts.amazonaws.com");
    if ((rc = phi_file_read_all(eh, PHICRYPT_EKMS, token_file, &token, &len)) != 0)
        return phi_error_wrap(eh, rc, "credentials (%s): AWS_WEB_IDENTITY_TOKEN_FILE", what);
    while (len && (token[len - 1] == '\n' || token[len - 1] == '\r'))
        token[--len] = 0;
    etoken = form_escape(token);
    erole = form_escape(role);
    if (!etoken || !erole ||
        asprintf(&req_body,
                 "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=%s&RoleSessionName=%s"
                 "&WebIdentityToken=%s",
                 erole, session && *session ? session : "phicrypt", etoken) < 0) {
        req_body = NULL;
        rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
        goto out;
    }
    r.body = req_body;
    if ((rc = http_call(k, eh, &r, &body)) == 0)
        rc = aws_from_json(eh, what, body,
                           "AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult.Credentials.",
                           "SessionToken", out, expires);
out:
    if (req_body) {
        phi_wipe(req_body, strlen(req_body));
        free(req_body);
    }
    if (etoken)
        phi_wipe_free(etoken, strlen(etoken));
    phi_free(erole);
    phi_wipe_free(token, len);
    return rc;
}

static int aws_ecs(phi_kms *k, const void *eh, const char *uri, bson_t *out, int64_t *expires)
{
    http_req r = { "aws", "ECS task role", NULL, 0, "GET", uri, "Accept: application/json\r\n", NULL };
    char *body;
    int rc;
    if (uri[0] != '/')
        return phi_error(eh, PHICRYPT_EKMS, "credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
    r.endpoint = endpoint(k->s.aws_ecs_endpoint, "PHICRYPT_AWS_ECS_ENDPOINT", "169.254.170.2");
    if ((rc = http_call(k, eh, &r, &body)) != 0)
        return rc;
    return aws_from_json(eh, r.what, body, "", "Token", out, expires);
}

static int aws_ec2(phi_kms *k, const void *eh, bson_t *out, int64_t *expires)
{
    http_req r = { "aws", "EC2 instance metadata", NULL, 0, "PUT", "/latest/api/token",
                   "X-aws-ec2-metadata-token-ttl-seconds: 30\r\n", NULL };
    char *token = NULL, *role = NULL, *body = NULL, hdr[512], path[512];
    size_t i;
    int rc;
    r.endpoint = endpoint(k->s.aws_ec2_endpoint, "PHICRYPT_AWS_EC2_METADATA_ENDPOINT", "169.254.169.254");
    if ((rc = http_call(k, eh, &r, &token)) != 0)
        return rc;
    if (strlen(token) > 300 || strpbrk(token, "\r\n")) {
        rc = phi_error(eh, PHICRYPT_EKMS, "credentials (%s): malformed session token", r.what);
        goto out;
    }
    snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %s\r\n", token);
    r.method = "GET";
    r.headers = hdr;
    r.path = "/latest/meta-data/iam/security-credentials/";
    if ((rc = http_call(k, eh, &r, &role)) != 0)
        goto out;
    for (i = 0; role[i] && role[i] != '\n' && role[i] != '\r'; i++)
        if (role[i] == '/' || role[i] == ' ' || role[i] == '?' || role[i] == '#')
            break;
    if (i == 0 || (role[i] && role[i] != '\n' && role[i] != '\r') || i > 200) {
        rc = phi_error(eh, PHICRYPT_EKMS, "credentials (%s): no usable instance role", r.what);
        goto out;
    }
    role[i] = 0;
    snprintf(path, sizeof path, "/latest/meta-data/iam/security-credentials/%s", role);
    r.path = path;
    if ((rc = http_call(k, eh, &r, &body)) == 0)
        rc = aws_from_json(eh, r.what, body, "", "Token", out, expires);
out:
    if (token)
        phi_wipe_free(token, strlen(token));
    phi_free(role);
    phi_wipe(hdr, sizeof hdr);
    return rc;
}

static int aws_fetch(phi_kms *k, const void *eh, bson_t *out, int64_t *expires)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token_file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = getenv("AWS_ROLE_ARN");
    const char *ecs = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    if (id && *id && secret && *secret) {
        const char *token = getenv("AWS_SESSION_TOKEN");
        BSON_APPEND_UTF8(out, "accessKeyId", id);
        BSON_APPEND_UTF8(out, "secretAccessKey", secret);
        if (token && *token)
            BSON_APPEND_UTF8(out, "sessionToken", token);
        *expires = 0; /* read again each time: the environment is cheap */
        return 0;
    }
    if (token_file && *token_file && role && *role)
        return aws_web_identity(k, eh, token_file, role, out, expires);
    if (ecs && *ecs)
        return aws_ecs(k, eh, ecs, out, expires);
    return aws_ec2(k, eh, out, expires);
}

/* Azure and GCP: an OAuth access token from the instance's metadata. */
static int token_fetch(phi_kms *k, const void *eh, int azure, bson_t *out, int64_t *expires)
{
    http_req r = { 0 };
    char *body;
    bson_t reply;
    const char *tok;
    int rc;
    r.tls = 0;
    r.method = "GET";
    if (azure) {
        r.provider = "azure";
        r.what = "Azure managed identity";
        r.endpoint = endpoint(k->s.azure_imds_endpoint, "PHICRYPT_AZURE_IMDS_ENDPOINT", "169.254.169.254");
        r.path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net";
        r.headers = "Metadata: true\r\nAccept: application/json\r\n";
    } else {
        r.provider = "gcp";
        r.what = "GCP metadata server";
        r.endpoint = endpoint(k->s.gcp_metadata_endpoint, "PHICRYPT_GCP_METADATA_ENDPOINT",
                              endpoint(NULL, "GCE_METADATA_HOST", "metadata.google.internal"));
        r.path = "/computeMetadata/v1/instance/service-accounts/default/token";
        r.headers = "Metadata-Flavor: Google\r\n";
    }
    if ((rc = http_call(k, eh, &r, &body)) != 0)
        return rc;
    rc = parse_json(eh, r.what, body, &reply);
    phi_wipe(body, strlen(body));
    phi_free(body);
    if (rc != 0)
        return rc;
    if (!(tok = str_at(&reply, "access_token")))
        rc = phi_error(eh, PHICRYPT_EKMS, "credentials (%s): the reply has no access_token", r.what);
    else
        BSON_APPEND_UTF8(out, "accessToken", tok);
    *expires = expires_in(&reply);
    phi_wipe((void *)bson_get_data(&reply), reply.len);
    bson_destroy(&reply);
    return rc;
}

static void cached_clear(phi_kms_cached *c)
{
    if (c->doc) {
        phi_wipe((void *)bson_get_data(c->doc), c->doc->len);
        bson_destroy(c->doc);
    }
    c->doc = NULL;
    c->expires = 0;
}

void phi_kms_cache_clear(phi_kms *k)
{
    cached_clear(&k->aws);
    cached_clear(&k->azure);
    cached_clear(&k->gcp);
}

/* One provider: from the cache while fresh, else fetched (and cached
 * when the source says how long it lasts). Caller holds k->mu. */
static int one(phi_kms *k, const void *eh, const char *name, phi_kms_cached *c, bson_t *out)
{
    bson_t fresh = BSON_INITIALIZER, sub;
    int64_t expires = 0;
    int rc;
    if (c->doc && c->expires - REFRESH_MARGIN_S > (int64_t)time(NULL)) {
        BSON_APPEND_DOCUMENT(out, name, c->doc);
        return 0;
    }
    cached_clear(c);
    rc = strcmp(name, "aws") == 0 ? aws_fetch(k, eh, &fresh, &expires) : token_fetch(k, eh, name[1] == 'z', &fresh, &expires);
    if (rc == 0) {
        BSON_APPEND_DOCUMENT_BEGIN(out, name, &sub);
        bson_concat(&sub, &fresh);
        bson_append_document_end(out, &sub);
        if (expires > (int64_t)time(NULL) + REFRESH_MARGIN_S && (c->doc = bson_copy(&fresh)) != NULL)
            c->expires = expires;
    }
    phi_wipe((void *)bson_get_data(&fresh), fresh.len);
    bson_destroy(&fresh);
    return rc;
}

unsigned phi_kms_on_demand_cached(phi_kms *k)
{
    unsigned m = 0;
    int64_t now = (int64_t)time(NULL);
    if (!k)
        return 0;
    pthread_mutex_lock(&k->mu);
    if (k->aws.doc && k->aws.expires - REFRESH_MARGIN_S > now)
        m |= PHI_KMS_AWS;
    if (k->azure.doc && k->azure.expires - REFRESH_MARGIN_S > now)
        m |= PHI_KMS_AZURE;
    if (k->gcp.doc && k->gcp.expires - REFRESH_MARGIN_S > now)
        m |= PHI_KMS_GCP;
    pthread_mutex_unlock(&k->mu);
    return m;
}

unsigned phi_kms_on_demand_mask(const phi_kms *k)
{
    return k ? k->s.on_demand : 0;
}

int phi_kms_on_demand_credentials(phi_kms *k, const void *eh, unsigned want, bson_t *out, char *left_out,
                                  size_t left_out_len)
{
    static const struct {
        unsigned bit;
        const char *name;
        size_t off;
    } order[] = { { PHI_KMS_AWS, "aws", offsetof(phi_kms, aws) },
                  { PHI_KMS_AZURE, "azure", offsetof(phi_kms, azure) },
                  { PHI_KMS_GCP, "gcp", offsetof(phi_kms, gcp) } };
    char first[PHI_ERRMSG_MAX] = "";
    int first_rc = 0, got = 0;

    /* libmongocrypt asks for every {} provider at once, before it knows
     * which one the keys need. A provider whose credentials cannot be
     * found here (say, GCP on an AWS host) is left out; only when none can
     * be found is that an error. An operation that needs a left-out
     * provider then fails in libmongocrypt, with its own message. */
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int rc;
        if (!(k->s.on_demand & want & order[i].bit))
            continue;
        rc = one(k, eh, order[i].name, (phi_kms_cached *)((char *)k + order[i].off), out);
        if (rc == 0)
            got++;
        else if (!first_rc) {
            first_rc = rc;
            snprintf(first, sizeof first, "%s", phi_error_message(eh));
        }
    }
    pthread_mutex_unlock(&k->mu);
    (void)got;
    /* Even when none could be found: an operation whose keys use none of
     * them (a local key with "azure": {} configured) needs none, and
     * libmongocrypt takes an empty document. One that does need them
     * fails there, and the caller reports `left_out`. */
    if (first_rc)
        phi_error_clear(eh);
    if (left_out && left_out_len)
        snprintf(left_out, left_out_len, "%s", first_rc ? first : "");
    return 0;
}
