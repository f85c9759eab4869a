/* NEED_KMS and NEED_KMS_CREDENTIALS: libmongocrypt builds each KMS request
 * and parses each reply; lib/kms moves the bytes (with TLS, timeouts and
 * retries). The local provider never reaches these states. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "phi_config.h"

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "kms/kms_private.h"
#include "mcrypt/mcrypt_impl_private.h"

/* Replies of the services that mean "your credentials are refused". */
static const char *const auth_words[] = { "HTTP status=401", "HTTP status=403", "ExpiredToken", "UnrecognizedClient",
                                          "InvalidSignature", "AccessDenied", "invalid_client", "invalid_grant",
                                          "unauthorized_client", "Unauthorized", "PERMISSION_DENIED",
                                          "UNAUTHENTICATED", NULL };

static int kms_code(const char *msg, int http_status)
{
    if (http_status == 401 || http_status == 403)
        return PHICRYPT_EKMSAUTH;
    for (size_t i = 0; auth_words[i]; i++)
        if (strstr(msg, auth_words[i]))
            return PHICRYPT_EKMSAUTH;
    return PHICRYPT_EKMS;
}

static int kms_ctx_error(mongocrypt_kms_ctx_t *kc, const void *eh, const char *what, const char *provider,
                         const char *endpoint, int http_status)
{
    mongocrypt_status_t *st = mongocrypt_status_new();
    const char *msg;
    char line[601];
    int code;
    mongocrypt_kms_ctx_status(kc, st);
    msg = mongocrypt_status_message(st, NULL);
    if (!msg || !*msg)
        msg = "unknown error";
    code = kms_code(msg, http_status);
    /* One line: the quoted reply body may hold newlines. */
    snprintf(line, sizeof line, "%s", msg);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    msg = line;
    /* libmongocrypt's message quotes the service's error reply, which
     * holds no secret of ours (requests are signed, never echoed). */
    if (http_status)
        phi_error(eh, code, "%s: kms %s %s: HTTP %d: libmongocrypt: %s", what, provider, endpoint, http_status,
                  msg);
    else
        phi_error(eh, code, "%s: kms %s %s: libmongocrypt: %s", what, provider, endpoint, msg);
    mongocrypt_status_destroy(st);
    return code;
}

/* On-demand providers whose credentials could not be found for the
 * context this thread is running: libmongocrypt 1.7 asks for every {}
 * provider before it knows which the keys use, and wants a document for
 * each. Those get a placeholder, and a KMS request for them is refused
 * here (before any connection) with the reason they were missing. */
static const char *const placeholder_names[3] = { "aws", "azure", "gcp" };
static _Thread_local phi_mcrypt_kms_run run_state;

void phi_mcrypt_kms_run_begin(phi_mcrypt_kms_run *saved)
{
    *saved = run_state;
    memset(&run_state, 0, sizeof run_state);
}

void phi_mcrypt_kms_run_end(const phi_mcrypt_kms_run *saved)
{
    run_state = *saved;
}

void phi_mcrypt_kms_run_lazy(unsigned want)
{
    run_state.lazy = 1;
    run_state.want = want;
}

unsigned phi_mcrypt_kms_run_missing(void)
{
    return run_state.missing;
}

void phi_mcrypt_kms_note_provider(const char *provider)
{
    run_state.needed_known = 1;
    if (!provider)
        return;
    for (int i = 0; i < 3; i++)
        if (strcmp(provider, placeholder_names[i]) == 0)
            run_state.needed |= i == 0 ? PHI_KMS_AWS : i == 1 ? PHI_KMS_AZURE : PHI_KMS_GCP;
}

void phi_mcrypt_kms_note_key(const bson_t *key_doc)
{
    bson_iter_t it, mk;
    if (bson_iter_init_find(&it, key_doc, "masterKey") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &mk) && bson_iter_find(&mk, "provider") && BSON_ITER_HOLDS_UTF8(&mk))
        phi_mcrypt_kms_note_provider(bson_iter_utf8(&mk, NULL));
    else
        run_state.needed_known = 1; /* libmongocrypt refuses it: nothing to fetch for it */
}

static int placeholder_refused(const void *eh, const char *what, const char *provider)
{
    for (int i = 0; i < 3; i++) {
        if (!(run_state.placeholders & (1u << i)) || strcmp(provider, placeholder_names[i]) != 0)
            continue;
        if (run_state.lazy && (run_state.skipped & (1u << i))) {
            /* Not fetched because unknown to be needed: run again with it. */
            run_state.missing |= i == 0 ? PHI_KMS_AWS : i == 1 ? PHI_KMS_AZURE : PHI_KMS_GCP;
            return PHI_MCRYPT_RERUN;
        }
        return phi_error(eh, PHICRYPT_EKMS, "%s: on-demand credentials: %s", what,
                             (run_state.skipped & (1u << i)) ? "not fetched (no key of this operation named the provider)"
                             : run_state.reason[0]           ? run_state.reason
                                                             : "none found");
    }
    return 0;
}

static int one_kms(mongocrypt_kms_ctx_t *kc, const void *eh, const phi_mcrypt_io *io, const char *what)
{
    mongocrypt_binary_t *msg = mongocrypt_binary_new();
    const char *endpoint = NULL, *provider = mongocrypt_kms_ctx_get_kms_provider(kc, NULL);
    phi_kms_reply reply = { 0 };
    size_t off = 0;
    int rc = 0;

    if (!msg)
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (!provider)
        provider = "?";
    if ((rc = placeholder_refused(eh, what, provider)) != 0)
        goto out;
    if (!mongocrypt_kms_ctx_endpoint(kc, &endpoint) || !endpoint) {
        rc = kms_ctx_error(kc, eh, what, provider, "?", 0);
        goto out;
    }
    if (!mongocrypt_kms_ctx_message(kc, msg)) {
        rc = kms_ctx_error(kc, eh, what, provider, endpoint, 0);
        goto out;
    }
    for (;;) {
        rc = phi_kms_exchange(io->kms, eh, provider, endpoint, mongocrypt_binary_data(msg),
                              mongocrypt_binary_len(msg), &reply);
#ifdef PHI_HAVE_MONGOCRYPT_RETRY
        /* Our attempts are spent; a libmongocrypt that keeps its own count
         * of network failures may still allow one more round. */
        if ((rc == PHICRYPT_EKMS || rc == PHICRYPT_ETIMEOUT) && mongocrypt_kms_ctx_fail(kc)) {
            int64_t us = mongocrypt_kms_ctx_usleep(kc);
            struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000L };
            phi_error_clear(eh);
            nanosleep(&ts, NULL);
            if (!mongocrypt_kms_ctx_message(kc, msg)) {
                rc = kms_ctx_error(kc, eh, what, provider, endpoint, 0);
                goto out;
            }
            continue;
        }
#endif
        break;
    }
    if (rc != 0) {
        phi_error_wrap(eh, rc, "%s", what);
        goto out;
    }
    while (mongocrypt_kms_ctx_bytes_needed(kc) > 0) {
        size_t n = mongocrypt_kms_ctx_bytes_needed(kc);
        mongocrypt_binary_t *chunk;
        if (off >= reply.len) {
            rc = phi_error(eh, PHICRYPT_EKMS, "%s: kms %s %s: reply ended before libmongocrypt had all of it", what,
                           provider, endpoint);
            goto out;
        }
        if (n > reply.len - off)
            n = reply.len - off;
        chunk = mongocrypt_binary_new_from_data(reply.data + off, (uint32_t)n);
        if (!chunk) {
            rc = phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
            goto out;
        }
        if (!mongocrypt_kms_ctx_feed(kc, chunk)) {
            mongocrypt_binary_destroy(chunk);
            rc = kms_ctx_error(kc, eh, what, provider, endpoint, reply.http_status);
            goto out;
        }
        mongocrypt_binary_destroy(chunk);
        off += n;
    }
out:
    phi_kms_reply_dispose(&reply);
    mongocrypt_binary_destroy(msg);
    return rc;
}

int phi_mcrypt_need_kms(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what)
{
    mongocrypt_kms_ctx_t *kc;
    int rc;
    while ((kc = mongocrypt_ctx_next_kms_ctx(ctx)) != NULL) {
        if (!io || !io->kms)
            return phi_error(eh, PHICRYPT_ECONFIG, "%s: a KMS provider is needed but none is configured", what);
        if ((rc = one_kms(kc, eh, io, what)) != 0)
            return rc;
    }
    if (!mongocrypt_ctx_kms_done(ctx))
        return phi_mcrypt_ctx_error(ctx, eh, what);
    return 0;
}

int phi_mcrypt_need_kms_credentials(mongocrypt_ctx_t *ctx, const void *eh, const phi_mcrypt_io *io, const char *what)
{
    bson_t creds = BSON_INITIALIZER;
    mongocrypt_binary_t *bin = NULL;
    char left_out[PHI_ERRMSG_MAX] = "";
    int rc;
    if (!io || !io->kms)
        return phi_error(eh, PHICRYPT_ECONFIG, "%s: on-demand KMS credentials are needed but no KMS is configured",
                         what);
    /* libmongocrypt 1.7 asks for every {} provider, for encryption and
     * decryption before it has asked for the keys. Only providers known to
     * be needed are fetched (a metadata server is not asked for what is
     * not used): those the master key or key documents name; in a run
     * that can be repeated (lazy), those cached or found missing by the
     * previous run; otherwise, all of them. */
    unsigned want = phi_kms_on_demand_mask(io->kms);
    if (run_state.needed_known)
        want &= run_state.needed;
    else if (run_state.lazy)
        want &= run_state.want | phi_kms_on_demand_cached(io->kms);
    for (int i = 0; i < 3; i++) {
        unsigned bit = i == 0 ? PHI_KMS_AWS : i == 1 ? PHI_KMS_AZURE : PHI_KMS_GCP;
        if ((phi_kms_on_demand_mask(io->kms) & bit) && !(want & bit))
            run_state.skipped |= 1u << i;
    }
    if ((rc = phi_kms_on_demand_credentials(io->kms, eh, want, &creds, left_out, sizeof left_out)) != 0) {
        phi_error_wrap(eh, rc, "%s", what);
        goto out;
    }
    /* Placeholders for the providers left out (see run_state). */
    for (int i = 0; i < 3; i++) {
        unsigned bit = i == 0 ? PHI_KMS_AWS : i == 1 ? PHI_KMS_AZURE : PHI_KMS_GCP;
        bson_t sub;
        if (!(phi_kms_on_demand_mask(io->kms) & bit) || bson_has_field(&creds, placeholder_names[i]))
            continue;
        BSON_APPEND_DOCUMENT_BEGIN(&creds, placeholder_names[i], &sub);
        if (i == 0) {
            BSON_APPEND_UTF8(&sub, "accessKeyId", "phicrypt-unavailable");
            BSON_APPEND_UTF8(&sub, "secretAccessKey", "phicrypt-unavailable");
        } else {
            BSON_APPEND_UTF8(&sub, "accessToken", "phicrypt-unavailable");
        }
        bson_append_document_end(&creds, &sub);
        run_state.placeholders |= 1u << i;
    }
    snprintf(run_state.reason, sizeof run_state.reason, "%s", left_out);
    if ((rc = phi_mcrypt_binary_of(eh, &creds, &bin)) != 0)
        goto out;
    if (!mongocrypt_ctx_provide_kms_providers(ctx, bin) || mongocrypt_ctx_state(ctx) == MONGOCRYPT_CTX_ERROR) {
        rc = phi_mcrypt_ctx_error(ctx, eh, what);
        /* Most likely the operation needs a provider left out above:
         * its reason is the useful message. */
        if (left_out[0])
            rc = phi_error(eh, PHICRYPT_EKMS, "%s: on-demand credentials: %s", what, left_out);
    }
out:
    mongocrypt_binary_destroy(bin);
    /* libmongocrypt keeps its own copy; ours holds secrets. */
    phi_wipe((void *)bson_get_data(&creds), creds.len);
    bson_destroy(&creds);
    return rc;
}
