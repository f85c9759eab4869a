/* phicrypt token create|rotate|retire|destroy|list, tokenize, detokenize,
 * pseudonymize. Values are read on standard input, one per line, and the
 * results written only when every line succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "cli.h"
#include "cli_args.h"

#define STDIN_LIMIT (256u << 20)

static const char token_usage[] =
    "Usage: phicrypt token SUBCOMMAND NAME [OPTIONS]\n"
    "\n"
    "Manage keyring keys (token and pseudonym keys, stored wrapped by the CSFLE data key\n"
    "'phicrypt-keyring', which is created on first use).\n"
    "\n"
    "  create NAME --algorithm ff1|siv|hmac\n"
    "        ff1: format-preserving tokens (SSN stays ddd-dd-dddd); siv: opaque reversible tokens\n"
    "        (tk1.<version>.<base64url>); hmac: one-way pseudonyms (ps1.<version>.<base32>)\n"
    "  rotate NAME          add a version and make it primary; prints the new version\n"
    "  retire NAME --version N\n"
    "        keep version N for reversing old tokens, never for new ones\n"
    "  destroy NAME [--version N] --yes [--force REASON]\n"
    "        delete version N (or the whole key): its tokens can never be reversed again.\n"
    "        Versions of audit:sign / audit:subject that the audit log names are refused unless\n"
    "        --force REASON (the override and REASON are recorded in the audit log)\n"
    "  list                 one JSON line per key: name, algorithm, primary, versions (never material)\n";

static const char tok_usage[] =
    "Usage: phicrypt tokenize --key NAME [--format F] [--context C] [--alphabet A] [--key-version N]\n"
    "       phicrypt detokenize --key NAME [--format F] [--context C] [--alphabet A] [--key-version N]\n"
    "\n"
    "Tokenize (or reverse) the values read on standard input, one per line; the results are\n"
    "written one per line, in order, and only if every line succeeded. Empty lines stay empty.\n"
    "  --format siv (default; needs an siv key): tk1.<version>.<base64url>, carries its version\n"
    "  --format digits|ssn|phone|mrn|alnum|credit_card|email|custom (needs an ff1 key): same length\n"
    "           and alphabet as the value; separators kept. FF1 tokens do not carry the key version:\n"
    "           pass --key-version to detokenize tokens made before a rotation.\n"
    "  --context C   field context (FF1 tweak / SIV associated data): the same value gets different\n"
    "                tokens in different contexts\n"
    "  --alphabet A  the symbols of --format custom\n"
    "detokenize only:\n"
    CLI_SESSION_HELP
    "  --field PATH [--ns DB.COLL] [--subject ID]   the field the tokens belong to (default: the\n"
    "                   context) and the patient they concern (pseudonymised in the audit log)\n";

static const char ps_usage[] =
    "Usage: phicrypt pseudonymize --key NAME [--context C] [--normalize LIST] [--length BYTES]\n"
    "\n"
    "Print the one-way pseudonym (ps1.<version>.<base32>) of each value read on standard input,\n"
    "one per line. Needs an hmac key.\n"
    "  --context C        subkey context: pseudonyms of one context link, across contexts they do not\n"
    "  --normalize LIST   comma-separated: trim, casefold, collapse (or all), so that \"Smith \" and\n"
    "                     \"smith\" give the same pseudonym\n"
    "  --length BYTES     16 (default, 128 bits) to 32\n";

typedef struct topts {
    const char *key, *format, *context, *alphabet, *algorithm, *normalize;
    unsigned long key_version, version, length;
    int yes;
    const char *force; /* destroy: the reason for overriding the audit log's veto */
    cli_session_opts sess;
} topts;

/* One table for the keyring commands and the value commands (each reads what it needs). */
static const cli_option options[] = { CLI_OPT_STR(topts, "key", key),
                                      CLI_OPT_STR(topts, "format", format),
                                      CLI_OPT_STR(topts, "context", context),
                                      CLI_OPT_STR(topts, "alphabet", alphabet),
                                      CLI_OPT_STR(topts, "algorithm", algorithm),
                                      CLI_OPT_STR(topts, "normalize", normalize),
                                      CLI_OPT_U32(topts, "key-version", key_version),
                                      CLI_OPT_U32(topts, "version", version),
                                      CLI_OPT_U32(topts, "length", length),
                                      CLI_OPT_FLAG(topts, "yes", yes),
                                      CLI_OPT_STR(topts, "force", force),
                                      CLI_OPT_SESSION(topts, sess),
                                      CLI_OPT_STR(topts, "ns", sess.ns),
                                      CLI_OPT_END };
#define VALUES_ON_STDIN "values are read on standard input"
const cli_command cli_spec_token = { "token", token_usage, options, 1, NULL, NULL };
const cli_command cli_spec_tokenize = { "tokenize", tok_usage, options, 0, VALUES_ON_STDIN, NULL };
const cli_command cli_spec_detokenize = { "detokenize", tok_usage, options, 0, VALUES_ON_STDIN, NULL };
const cli_command cli_spec_pseudonymize = { "pseudonymize", ps_usage, options, 0, VALUES_ON_STDIN, NULL };

static int parse(int argc, char **argv, topts *o, const cli_command *spec, int *first)
{
    memset(o, 0, sizeof *o);
    return cli_parse(spec, argc, argv, o, first);
}

static int print_list(phicrypt_t *ph)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    bson_t doc;
    bson_iter_t it, a;
    int rc = phicrypt_keyring_list(ph, &b);
    if (rc != 0)
        return cli_lib_fail(ph, rc, "token list");
    if (bson_init_static(&doc, b.data, b.len) && bson_iter_init_find(&it, &doc, "keys") && bson_iter_recurse(&it, &a))
        while (bson_iter_next(&a)) {
            bson_t k;
            uint32_t len;
            const uint8_t *data;
            char *json;
            bson_iter_document(&a, &len, &data);
            bson_init_static(&k, data, len);
            json = bson_as_relaxed_extended_json(&k, NULL);
            cli_compact_json(json);
            puts(json);
            bson_free(json);
        }
    phicrypt_buf_dispose(&b);
    return EXIT_OK;
}

int cmd_token(int argc, char **argv)
{
    topts o;
    phicrypt_t *ph = NULL;
    const char *sub, *name = NULL;
    int rc, first;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(token_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    sub = argv[1];
    if (strcmp(sub, "create") && strcmp(sub, "rotate") && strcmp(sub, "retire") && strcmp(sub, "destroy") &&
        strcmp(sub, "list"))
        return cli_usage_error("token", "unknown subcommand '%s'", sub);
    rc = parse(argc - 1, argv + 1, &o, &cli_spec_token, &first);
    if (rc < 0)
        return EXIT_OK;
    if (rc != 0)
        return rc;
    /* the parser moved the operands after the options: argv[1 + first...]. */
    {
        int nargs = (argc - 1) - first;
        if (strcmp(sub, "list") == 0 ? nargs != 0 : nargs != 1)
            return cli_usage_error("token", "%s takes %s", sub, strcmp(sub, "list") == 0 ? "no NAME" : "one key NAME");
        if (nargs == 1)
            name = argv[1 + first];
    }
    if (strcmp(sub, "create") == 0 && !o.algorithm)
        return cli_usage_error("token", "create: --algorithm ff1|siv|hmac is required");
    if (strcmp(sub, "retire") == 0 && !o.version)
        return cli_usage_error("token", "retire: --version N is required");
    if (strcmp(sub, "destroy") == 0 && !o.yes)
        return cli_usage_error("token", "destroy: refusing without --yes: tokens made with it become irreversible");
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    if (strcmp(sub, "create") == 0) {
        int alg = strcmp(o.algorithm, "ff1") == 0 ? PHICRYPT_KEYRING_FF1
                  : strcmp(o.algorithm, "siv") == 0 ? PHICRYPT_KEYRING_SIV
                  : strcmp(o.algorithm, "hmac") == 0 ? PHICRYPT_KEYRING_HMAC : 0;
        if (!alg)
            rc = cli_usage_error("token", "--algorithm: '%s' is not ff1, siv or hmac", o.algorithm);
        else if ((rc = phicrypt_keyring_create(ph, name, (phicrypt_keyring_algorithm)alg)) != 0)
            rc = cli_lib_fail(ph, rc, "token create");
        else
            printf("created %s (%s, version 1)\n", name, o.algorithm);
    } else if (strcmp(sub, "rotate") == 0) {
        uint32_t v;
        if ((rc = phicrypt_keyring_rotate(ph, &v, name)) != 0)
            rc = cli_lib_fail(ph, rc, "token rotate");
        else
            printf("%u\n", v);
    } else if (strcmp(sub, "retire") == 0) {
        if ((rc = phicrypt_keyring_retire(ph, name, (uint32_t)o.version)) != 0)
            rc = cli_lib_fail(ph, rc, "token retire");
    } else if (strcmp(sub, "destroy") == 0) {
        if ((rc = o.force ? phicrypt_keyring_destroy_forced(ph, name, (uint32_t)o.version, o.force)
                          : phicrypt_keyring_destroy(ph, name, (uint32_t)o.version)) != 0)
            rc = cli_lib_fail(ph, rc, "token destroy");
        else if (o.version)
            printf("destroyed %s version %lu\n", name, o.version);
        else
            printf("destroyed %s (all versions)\n", name);
    } else {
        rc = print_list(ph);
    }
    phicrypt_free(ph);
    return rc;
}

/* Tokens and pseudonyms are not secret, but detokenized values are PHI. */
static void phi_cli_wipe_string(bson_string_t *s)
{
    memset(s->str, 0, s->len);
    bson_string_free(s, true);
}

typedef enum { OP_TOKENIZE, OP_DETOKENIZE, OP_PSEUDONYMIZE } op_t;

static int parse_normalize(const char *s, unsigned int *flags)
{
    char buf[128], *tok, *save = NULL;
    *flags = 0;
    if (!s)
        return 0;
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "trim") == 0) *flags |= PHICRYPT_NORM_TRIM;
        else if (strcmp(tok, "casefold") == 0) *flags |= PHICRYPT_NORM_CASEFOLD;
        else if (strcmp(tok, "collapse") == 0) *flags |= PHICRYPT_NORM_COLLAPSE;
        else if (strcmp(tok, "all") == 0) *flags |= PHICRYPT_NORM_TRIM | PHICRYPT_NORM_CASEFOLD | PHICRYPT_NORM_COLLAPSE;
        else return -1;
    }
    return 0;
}

static int run_values(int argc, char **argv, op_t op)
{
    static const char *names[] = { "tokenize", "detokenize", "pseudonymize" };
    const char *cmd = names[op];
    topts o;
    phicrypt_t *ph = NULL;
    phicrypt_token_opts to = PHICRYPT_TOKEN_OPTS_INIT;
    phicrypt_pseudonym_opts po = PHICRYPT_PSEUDONYM_OPTS_INIT;
    char *in = NULL, *p;
    size_t len = 0, lineno = 0;
    bson_string_t *outbuf;
    phicrypt_session session = PHICRYPT_SESSION_INIT;
    int use_session = 0;
    static const cli_command *const specs[] = { &cli_spec_tokenize, &cli_spec_detokenize, &cli_spec_pseudonymize };
    int first;
    int rc = parse(argc, argv, &o, specs[op], &first);
    if (rc < 0)
        return EXIT_OK;
    if (rc != 0)
        return rc;
    if (!o.key)
        return cli_usage_error(cmd, "--key NAME is required");
    to.format = o.format;
    to.context = o.context;
    to.alphabet = o.alphabet;
    to.key_version = (uint32_t)o.key_version;
    po.context = o.context;
    po.length = o.length;
    po.key_version = (uint32_t)o.key_version;
    if (parse_normalize(o.normalize, &po.normalize) != 0)
        return cli_usage_error(cmd, "--normalize: use trim, casefold, collapse or all, comma-separated");
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    if (op == OP_DETOKENIZE && (rc = cli_session_from_opts(ph, cmd, &o.sess, &session, &use_session)) != 0) {
        phicrypt_free(ph);
        return rc;
    }
    if (use_session && !o.sess.field && !(o.sess.field = o.context)) {
        phicrypt_free(ph);
        return cli_usage_error(cmd, "--field PATH (or --context) is required with a session");
    }
    if (cli_read_stdin(&in, &len, STDIN_LIMIT) != 0) {
        phicrypt_free(ph);
        return EXIT_ERR;
    }
    outbuf = bson_string_new(NULL);
    p = in;
    rc = EXIT_OK;
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        phicrypt_buf r = PHICRYPT_BUF_INIT;
        int lrc = 0;
        lineno++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 0) {
            if (op == OP_TOKENIZE)
                lrc = phicrypt_tokenize(ph, &r, o.key, p, n, &to);
            else if (op == OP_DETOKENIZE && use_session)
                lrc = phicrypt_detokenize_as(ph, &r, &session, o.sess.ns, o.sess.field, o.key, p, n, &to);
            else if (op == OP_DETOKENIZE)
                lrc = phicrypt_detokenize(ph, &r, o.key, p, n, &to);
            else
                lrc = phicrypt_pseudonymize(ph, &r, o.key, p, n, &po);
            if (lrc != 0) {
                rc = cli_fail("standard input line %zu: %s (%s); nothing was written", lineno, phicrypt_errmsg(ph),
                              phicrypt_strerror(lrc));
                break;
            }
            bson_string_append(outbuf, (const char *)r.data);
            phicrypt_buf_dispose(&r);
        }
        bson_string_append_c(outbuf, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    if (rc == EXIT_OK)
        fwrite(outbuf->str, 1, outbuf->len, stdout);
    cli_wipe_free(in, len + 1);
    phi_cli_wipe_string(outbuf);
    phicrypt_free(ph);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    return run_values(argc, argv, OP_TOKENIZE);
}

int cmd_detokenize(int argc, char **argv)
{
    return run_values(argc, argv, OP_DETOKENIZE);
}

int cmd_pseudonymize(int argc, char **argv)
{
    return run_values(argc, argv, OP_PSEUDONYMIZE);
}
