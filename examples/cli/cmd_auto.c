/* phicrypt encrypt-command / encrypt-document / decrypt-document / analyze:
 * automatic encryption driven by the configuration's schema_map. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "cli.h"

#define STDIN_LIMIT (64u << 20)

static const char ec_usage[] =
    "Usage: phicrypt encrypt-command --db DB [--relaxed]\n"
    "\n"
    "Read a MongoDB command (relaxed or canonical Extended JSON) on standard input and print it\n"
    "as the MongoDB driver would send it with automatic encryption: every value at a path that\n"
    "the configuration's schema_map encrypts is replaced by its ciphertext. No mongocryptd.\n"
    "Output is canonical Extended JSON (relaxed with --relaxed).\n"
    "\n"
    "Example:\n"
    "  echo '{\"find\": \"patients\", \"filter\": {\"ssn\": \"123-45-6789\"}}' | phicrypt encrypt-command --db hospital\n";

static const char ed_usage[] =
    "Usage: phicrypt encrypt-document --ns DB.COLLECTION [--relaxed] [--lines]\n"
    "\n"
    "Read a document (Extended JSON) on standard input and print it as it would be inserted into\n"
    "DB.COLLECTION: its fields encrypted per the schema_map. --lines: one document per line.\n";

static const char dd_usage[] =
    "Usage: phicrypt decrypt-document [--canonical] [--lines]\n"
    "\n"
    "Read a document (a server reply, a mongoexport record) on standard input and print it with\n"
    "every encrypted value (binary subtype 6) decrypted, as relaxed Extended JSON (canonical with\n"
    "--canonical). --lines: one document per line (mongoexport's format).\n"
    CLI_SESSION_HELP
    "  --ns DB.COLLECTION   where the documents come from (selects per-namespace access rules)\n";

static const char an_usage[] =
    "Usage: phicrypt analyze --db DB\n"
    "\n"
    "Read a MongoDB command on standard input and print which fields automatic encryption would\n"
    "encrypt, with which key and algorithm -- or why it refuses the command (a random field in a\n"
    "query, a range operator on an encrypted field, a wrong BSON type ...). Values are never\n"
    "printed. Exit status 1 when the command is refused.\n";

typedef struct aopts {
    const char *db, *ns;
    int canonical, relaxed, lines;
    cli_session_opts sess;
    int use_session;
    phicrypt_session session;
} aopts;

static int parse(int argc, char **argv, aopts *o, const char *cmd, const char *usage)
{
    static const struct option opts[] = { { "db", required_argument, NULL, 'd' },
                                          { "ns", required_argument, NULL, 'n' },
                                          { "canonical", no_argument, NULL, 'C' },
                                          { "relaxed", no_argument, NULL, 'R' },
                                          { "lines", no_argument, NULL, 'l' },
                                          { "config", required_argument, NULL, 'c' },
                                          { "help", no_argument, NULL, 'h' },
                                          CLI_SESSION_LONGOPTS,
                                          { NULL, 0, NULL, 0 } };
    int c;
    memset(o, 0, sizeof *o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'n': o->ns = optarg; break;
        case 'C': o->canonical = 1; break;
        case 'R': o->relaxed = 1; break;
        case 'l': o->lines = 1; break;
        case 'c': cli_config_path = optarg; break;
        case 'h': fputs(usage, stdout); return -1;
        default:
            if (cli_session_opt(&o->sess, c, optarg))
                break;
            return cli_usage_error(cmd, "invalid option");
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' (input is read on standard input)", argv[optind]);
    return 0;
}

/* Parses one Extended JSON document; the text may hold PHI, so parse
 * errors are reported by position only. */
static int parse_doc(const char *text, bson_t *out, size_t lineno)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    /* the library's reader: {"$type": 2} is a query operator there */
    if (phicrypt_json_to_bson(NULL, &b, text, strlen(text)) == 0) {
        bson_t view;
        bool ok = bson_init_static(&view, b.data, b.len);
        if (ok) {
            bson_init(out);
            bson_concat(out, &view);
        }
        phicrypt_buf_dispose(&b);
        if (ok)
            return 0;
    }
    if (lineno)
        return cli_fail("standard input line %zu: not a valid Extended JSON document", lineno);
    return cli_fail("standard input: not a JSON document");
}

static void print_bson(const uint8_t *data, size_t len, int canonical)
{
    bson_t d;
    char *json;
    if (!bson_init_static(&d, data, len))
        return;
    json = canonical ? bson_as_canonical_extended_json(&d, NULL) : bson_as_relaxed_extended_json(&d, NULL);
    if (json) {
        cli_compact_json(json);
        puts(json);
        cli_wipe_free(json, strlen(json)); /* may be plaintext */
    }
}

typedef int (*doc_fn)(phicrypt_t *ph, const aopts *o, const bson_t *doc, size_t lineno);

typedef struct doc_run {
    phicrypt_t *ph;
    const aopts *o;
    doc_fn fn;
} doc_run;

/* One input (the whole of it, or one line): parse, then hand on. */
static int one_doc(char *text, size_t lineno, void *arg)
{
    doc_run *r = arg;
    bson_t d;
    int rc;
    if (parse_doc(text, &d, lineno) != 0)
        return EXIT_ERR;
    rc = r->fn(r->ph, r->o, &d, lineno);
    bson_destroy(&d);
    return rc;
}

static int encrypt_command_one(phicrypt_t *ph, const aopts *o, const bson_t *doc, size_t lineno)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = phicrypt_encrypt_command(ph, &out, o->db, bson_get_data(doc), doc->len);
    if (rc != 0)
        return cli_fail_input(ph, rc, lineno);
    print_bson(out.data, out.len, !o->relaxed);
    phicrypt_buf_dispose(&out);
    return EXIT_OK;
}

static int encrypt_document_one(phicrypt_t *ph, const aopts *o, const bson_t *doc, size_t lineno)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = phicrypt_encrypt_document(ph, &out, o->ns, bson_get_data(doc), doc->len);
    if (rc != 0)
        return cli_fail_input(ph, rc, lineno);
    print_bson(out.data, out.len, !o->relaxed);
    phicrypt_buf_dispose(&out);
    return EXIT_OK;
}

static int decrypt_document_one(phicrypt_t *ph, const aopts *o, const bson_t *doc, size_t lineno)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = o->use_session
                 ? phicrypt_decrypt_document_as(ph, &out, &o->session, o->ns, bson_get_data(doc), doc->len)
                 : phicrypt_decrypt_document(ph, &out, bson_get_data(doc), doc->len);
    if (rc != 0)
        return cli_fail_input(ph, rc, lineno);
    print_bson(out.data, out.len, o->canonical);
    phicrypt_buf_dispose(&out);
    return EXIT_OK;
}

static int analyze_one(phicrypt_t *ph, const aopts *o, const bson_t *doc, size_t lineno)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    bson_t res;
    bson_iter_t it, f;
    int rc = phicrypt_analyze_command(ph, &out, o->db, bson_get_data(doc), doc->len);
    if (rc != 0)
        return cli_fail_input(ph, rc, lineno);
    rc = EXIT_OK;
    if (bson_init_static(&res, out.data, out.len) && bson_iter_init_find(&it, &res, "ok") && !bson_iter_bool(&it)) {
        bson_iter_init_find(&it, &res, "error");
        printf("refused: %s\n", bson_iter_utf8(&it, NULL));
        rc = EXIT_ERR;
    } else if (bson_iter_init_find(&it, &res, "fields") && bson_iter_recurse(&it, &f)) {
        int n = 0;
        while (bson_iter_next(&f)) {
            bson_t e;
            bson_iter_t x;
            uint32_t len;
            const uint8_t *data;
            const char *path = "?", *alg = "?", *key = "?", *kind = "key";
            bson_iter_document(&f, &len, &data);
            bson_init_static(&e, data, len);
            if (bson_iter_init_find(&x, &e, "path")) path = bson_iter_utf8(&x, NULL);
            if (bson_iter_init_find(&x, &e, "algorithm")) alg = bson_iter_utf8(&x, NULL);
            if (bson_iter_init_find(&x, &e, "keyId")) key = bson_iter_utf8(&x, NULL);
            if (bson_iter_init_find(&x, &e, "keyAltName")) { key = bson_iter_utf8(&x, NULL); kind = "key alt name"; }
            printf("encrypt %-40s %-13s %s %s\n", path, alg, kind, key);
            n++;
        }
        if (bson_iter_init_find(&it, &res, "note"))
            printf("%s\n", bson_iter_utf8(&it, NULL));
        else if (n == 0)
            printf("nothing to encrypt in this command\n");
    }
    phicrypt_buf_dispose(&out);
    return rc;
}

static int run(int argc, char **argv, const char *cmd, const char *usage, doc_fn fn)
{
    aopts o;
    phicrypt_t *ph = NULL;
    int rc = parse(argc, argv, &o, cmd, usage);
    if (rc < 0)
        return EXIT_OK;
    if (rc != 0)
        return rc;
    if ((fn == encrypt_command_one || fn == analyze_one) && !o.db)
        return cli_usage_error(cmd, "--db DB is required");
    if (fn == encrypt_document_one && !o.ns)
        return cli_usage_error(cmd, "--ns DB.COLLECTION is required");
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    if (fn == decrypt_document_one &&
        (rc = cli_session_from_opts(ph, cmd, &o.sess, &o.session, &o.use_session)) != 0) {
        phicrypt_free(ph);
        return rc;
    }
    {
        doc_run r = { ph, &o, fn };
        rc = cli_each_input(o.lines, STDIN_LIMIT, one_doc, &r);
    }
    phicrypt_free(ph);
    return rc;
}

int cmd_encrypt_command(int argc, char **argv)
{
    return run(argc, argv, "encrypt-command", ec_usage, encrypt_command_one);
}

int cmd_encrypt_document(int argc, char **argv)
{
    return run(argc, argv, "encrypt-document", ed_usage, encrypt_document_one);
}

int cmd_decrypt_document(int argc, char **argv)
{
    return run(argc, argv, "decrypt-document", dd_usage, decrypt_document_one);
}

int cmd_analyze(int argc, char **argv)
{
    return run(argc, argv, "analyze", an_usage, analyze_one);
}
