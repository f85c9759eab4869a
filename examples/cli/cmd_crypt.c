/* phicrypt encrypt / decrypt: explicit encryption of Extended JSON values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "cli.h"
#include "cli_args.h"

#define STDIN_LIMIT (64u << 20)

static const char enc_usage[] =
    "Usage: phicrypt encrypt (--key-alt-name NAME | --key-id UUID) --algorithm deterministic|random [--lines]\n"
    "\n"
    "Read one Extended JSON value (relaxed or canonical) on standard input and print its\n"
    "MongoDB CSFLE ciphertext as canonical Extended JSON: {\"$binary\":{...,\"subType\":\"06\"}}.\n"
    "  --algorithm deterministic  equal values give equal ciphertexts (queryable by equality);\n"
    "                             not for double, decimal, bool, object or array values\n"
    "  --algorithm random         a fresh IV each time (not queryable)\n"
    "  --lines                    one value per input line, one ciphertext per output line\n"
    "\n"
    "Example: echo '\"123-45-6789\"' | phicrypt encrypt --key-alt-name patients --algorithm deterministic\n";

static const char dec_usage[] =
    "Usage: phicrypt decrypt [--canonical] [--lines]\n"
    "\n"
    "Read a ciphertext ({\"$binary\":{...,\"subType\":\"06\"}}) on standard input and print the\n"
    "value as relaxed Extended JSON (canonical with --canonical). The data key is found in the\n"
    "key vault from the id inside the ciphertext.\n"
    "  --lines   one ciphertext per input line, one value per output line\n"
    CLI_SESSION_HELP
    "  --field PATH [--ns DB.COLL] [--subject ID]   the field the value belongs to (checked against\n"
    "                   the role's fields) and the patient it concerns (pseudonymised in the audit log)\n";

typedef struct copts {
    const char *key_id, *key_alt_name, *algorithm;
    int canonical, lines;
    cli_session_opts sess;
} copts;

#define VALUES_ON_STDIN "values are read on standard input"
static const cli_option enc_options[] = { CLI_OPT_STR(copts, "key-id", key_id),
                                          CLI_OPT_STR(copts, "key-alt-name", key_alt_name),
                                          CLI_OPT_STR(copts, "algorithm", algorithm),
                                          CLI_OPT_FLAG(copts, "lines", lines),
                                          CLI_OPT_END };
static const cli_option dec_options[] = { CLI_OPT_FLAG(copts, "canonical", canonical),
                                          CLI_OPT_FLAG(copts, "lines", lines),
                                          CLI_OPT_SESSION(copts, sess),
                                          CLI_OPT_STR(copts, "ns", sess.ns),
                                          CLI_OPT_END };
const cli_command cli_spec_encrypt = { "encrypt", enc_usage, enc_options, 0, VALUES_ON_STDIN, NULL };
const cli_command cli_spec_decrypt = { "decrypt", dec_usage, dec_options, 0, VALUES_ON_STDIN, NULL };

static int parse(int argc, char **argv, copts *o, const cli_command *cmd)
{
    int first;
    memset(o, 0, sizeof *o);
    return cli_parse(cmd, argc, argv, o, &first);
}

typedef struct enc_ctx {
    phicrypt_t *ph;
    const phicrypt_encrypt_opts *opts;
} enc_ctx;

static int encrypt_one(char *in, size_t lineno, void *arg)
{
    enc_ctx *e = arg;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = phicrypt_encrypt_json(e->ph, &out, in, e->opts);
    if (rc != 0) {
        const char *p = in + strspn(in, " \t\r\n");
        int status = cli_fail_input(e->ph, rc, lineno);
        /* `echo 123-45-6789 | phicrypt encrypt`: a bare word is not JSON (the value is not repeated) */
        if (rc == PHICRYPT_EBADDATA && *p && !strchr("{[\"", *p))
            fputs("phicrypt: hint: values are Extended JSON: quote strings, "
                  "e.g. echo '\"123-45-6789\"' | phicrypt encrypt ...\n", stderr);
        return status;
    }
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
    phicrypt_buf_dispose(&out);
    return EXIT_OK;
}

typedef struct dec_ctx {
    phicrypt_t *ph;
    int canonical, use_session;
    phicrypt_session session;
    const char *ns, *field;
} dec_ctx;

/* Through a session: {"v": ciphertext} -> phicrypt_decrypt_as -> the
 * value's Extended JSON (the text of the result document after "{"v":). */
static int decrypt_as_json(phicrypt_buf *out, const bson_t *doc, const dec_ctx *d)
{
    char *json;
    bson_t res;
    phicrypt_buf r = PHICRYPT_BUF_INIT;
    size_t jl;
    int rc = phicrypt_decrypt_as(d->ph, &r, &d->session, d->ns, d->field, bson_get_data(doc), doc->len);
    if (rc != 0)
        return rc;
    bson_init_static(&res, r.data, r.len);
    json = d->canonical ? bson_as_canonical_extended_json(&res, NULL) : bson_as_relaxed_extended_json(&res, NULL);
    phicrypt_buf_dispose(&r);
    if (!json)
        return PHICRYPT_ENOMEM;
    cli_compact_json(json);
    jl = strlen(json);
    /* {"v":VALUE} -> VALUE; the bytes the move leaves behind are wiped. */
    memmove(json, json + 5, jl - 6);
    memset(json + jl - 6, 0, 7);
    out->data = (uint8_t *)json;
    out->len = jl - 6;
    return 0;
}

static int decrypt_one(char *in, size_t lineno, void *arg)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    const dec_ctx *d = arg;
    int rc;
    if (d->use_session) {
        size_t n = strlen(in) + 8;
        char *wrapped = malloc(n);
        bson_t doc;
        int ok;
        if (!wrapped)
            return cli_fail("out of memory");
        snprintf(wrapped, n, "{\"v\":%s}", in);
        ok = bson_init_from_json(&doc, wrapped, -1, NULL);
        cli_wipe_free(wrapped, n);
        if (!ok)
            return lineno ? cli_fail("standard input line %zu: not an Extended JSON ciphertext", lineno)
                          : cli_fail("standard input: not an Extended JSON ciphertext");
        rc = decrypt_as_json(&out, &doc, d);
        bson_destroy(&doc);
    } else {
        rc = phicrypt_decrypt_json(d->ph, &out, in, d->canonical);
    }
    if (rc != 0)
        return cli_fail_input(d->ph, rc, lineno);
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
    if (d->use_session)
        cli_wipe_free((char *)out.data, out.len + 1); /* from libbson's allocator */
    else
        phicrypt_buf_dispose(&out);
    return EXIT_OK;
}

int cmd_encrypt(int argc, char **argv)
{
    copts o;
    phicrypt_encrypt_opts eo = PHICRYPT_ENCRYPT_OPTS_INIT;
    uint8_t id[16];
    phicrypt_t *ph = NULL;
    int rc = parse(argc, argv, &o, &cli_spec_encrypt);
    if (rc < 0)
        return EXIT_OK;
    if (rc != 0)
        return rc;
    if (!o.key_id == !o.key_alt_name)
        return cli_usage_error("encrypt", "give exactly one of --key-alt-name and --key-id");
    if (!o.algorithm)
        return cli_usage_error("encrypt", "--algorithm deterministic|random is required");
    if (strcmp(o.algorithm, "deterministic") == 0)
        eo.algorithm = PHICRYPT_ALG_DETERMINISTIC;
    else if (strcmp(o.algorithm, "random") == 0)
        eo.algorithm = PHICRYPT_ALG_RANDOM;
    else
        return cli_usage_error("encrypt", "--algorithm: '%s' is neither deterministic nor random", o.algorithm);
    if (o.key_id) {
        if (cli_parse_uuid(id, o.key_id) != 0)
            return cli_usage_error("encrypt", "--key-id: '%s' is not a UUID", o.key_id);
        eo.key_id = id;
    } else {
        eo.key_alt_name = o.key_alt_name;
    }
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    {
        enc_ctx e = { ph, &eo };
        rc = cli_each_input(o.lines, STDIN_LIMIT, encrypt_one, &e);
    }
    phicrypt_free(ph);
    return rc;
}

int cmd_decrypt(int argc, char **argv)
{
    copts o;
    phicrypt_t *ph = NULL;
    int rc = parse(argc, argv, &o, &cli_spec_decrypt);
    if (rc < 0)
        return EXIT_OK;
    if (rc != 0)
        return rc;
    if (o.key_id || o.key_alt_name || o.algorithm)
        return cli_usage_error("decrypt", "decrypt takes no key options: the key id is inside the ciphertext");
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    {
        dec_ctx d = { ph, o.canonical, 0, PHICRYPT_SESSION_INIT, o.sess.ns, o.sess.field };
        if ((rc = cli_session_from_opts(ph, "decrypt", &o.sess, &d.session, &d.use_session)) != 0) {
            phicrypt_free(ph);
            return rc;
        }
        if (d.use_session && !d.field) {
            phicrypt_free(ph);
            return cli_usage_error("decrypt", "--field PATH is required with a session (the field the value is from)");
        }
        rc = cli_each_input(o.lines, STDIN_LIMIT, decrypt_one, &d);
    }
    phicrypt_free(ph);
    return rc;
}
