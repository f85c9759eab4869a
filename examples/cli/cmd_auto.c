/* phicrypt encrypt-command / encrypt-document / decrypt-document / analyze:
 * automatic encryption driven by the configuration's schema_map. */
#define _GNU_SOURCE 1 /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>
#include <sodium.h>

#include "cli.h"
#include "cli_args.h"

#define STDIN_LIMIT (64u << 20)
#define LINE_LIMIT (16u << 20) /* MongoDB's largest document, as text, fits easily */

#define LINES_HELP                                                                                        \
    "  --lines      one document per line (mongoexport's format), streamed: memory stays bounded\n"        \
    "               whatever the input's size; blank lines are kept, so line numbers match\n"             \
    "  --out FILE   write to FILE, all or nothing: a temporary file beside it is renamed over FILE\n"     \
    "               only when every document succeeded (standard output is written as it goes)\n"

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
    "Usage: phicrypt encrypt-document --ns DB.COLLECTION [--relaxed] [--lines] [--out FILE]\n"
    "\n"
    "Read a document (Extended JSON) on standard input and print it as it would be inserted into\n"
    "DB.COLLECTION: its fields encrypted per the schema_map.\n"
    LINES_HELP;

static const char dd_usage[] =
    "Usage: phicrypt decrypt-document [--canonical] [--lines] [--out FILE]\n"
    "\n"
    "Read a document (a server reply, a mongoexport record) on standard input and print it with\n"
    "every encrypted value (binary subtype 6) decrypted, as relaxed Extended JSON (canonical with\n"
    "--canonical).\n"
    LINES_HELP
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
    const char *db, *ns, *out;
    int canonical, relaxed, lines;
    cli_session_opts sess;
    int use_session;
    phicrypt_session session;
} aopts;

#define INPUT_ON_STDIN "input is read on standard input"
static const cli_option ec_options[] = { CLI_OPT_STR(aopts, "db", db), CLI_OPT_FLAG(aopts, "relaxed", relaxed),
                                         CLI_OPT_END };
static const cli_option ed_options[] = { CLI_OPT_STR(aopts, "ns", ns), CLI_OPT_FLAG(aopts, "relaxed", relaxed),
                                         CLI_OPT_FLAG(aopts, "lines", lines), CLI_OPT_STR(aopts, "out", out),
                                         CLI_OPT_END };
static const cli_option dd_options[] = { CLI_OPT_FLAG(aopts, "canonical", canonical),
                                         CLI_OPT_FLAG(aopts, "lines", lines), CLI_OPT_STR(aopts, "out", out),
                                         CLI_OPT_SESSION(aopts, sess), CLI_OPT_STR(aopts, "ns", ns), CLI_OPT_END };
static const cli_option an_options[] = { CLI_OPT_STR(aopts, "db", db), CLI_OPT_END };
const cli_command cli_spec_encrypt_command = { "encrypt-command", ec_usage, ec_options, 0, INPUT_ON_STDIN, NULL };
const cli_command cli_spec_encrypt_document = { "encrypt-document", ed_usage, ed_options, 0, INPUT_ON_STDIN, NULL };
const cli_command cli_spec_decrypt_document = { "decrypt-document", dd_usage, dd_options, 0, INPUT_ON_STDIN, NULL };
const cli_command cli_spec_analyze = { "analyze", an_usage, an_options, 0, INPUT_ON_STDIN, NULL };

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

/* The output: standard output, or --out's temporary file (renamed over
 * the target only when every input succeeded). */
static FILE *out_fp;

/* Extended JSON through the library, so doubles read as mongoexport
 * writes them (98.6, not 98.599999999999994316). */
static int print_bson(const uint8_t *data, size_t len, int canonical)
{
    phicrypt_buf j = PHICRYPT_BUF_INIT;
    int rc = phicrypt_bson_to_json(NULL, &j, data, len, canonical);
    if (rc != 0)
        return cli_fail_input(NULL, rc, 0);
    if (fwrite(j.data, 1, j.len, out_fp) != j.len || fputc('\n', out_fp) == EOF)
        rc = cli_fail("writing the output failed");
    phicrypt_buf_dispose(&j); /* may be plaintext */
    return rc ? EXIT_ERR : EXIT_OK;
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
    rc = print_bson(out.data, out.len, !o->relaxed);
    phicrypt_buf_dispose(&out);
    return rc;
}

static int encrypt_document_one(phicrypt_t *ph, const aopts *o, const bson_t *doc, size_t lineno)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = phicrypt_encrypt_document(ph, &out, o->ns, bson_get_data(doc), doc->len);
    if (rc != 0)
        return cli_fail_input(ph, rc, lineno);
    rc = print_bson(out.data, out.len, !o->relaxed);
    phicrypt_buf_dispose(&out);
    return rc;
}

static int decrypt_document_one(phicrypt_t *ph, const aopts *o, const bson_t *doc, size_t lineno)
{
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    int rc = o->use_session
                 ? phicrypt_decrypt_document_as(ph, &out, &o->session, o->ns, bson_get_data(doc), doc->len)
                 : phicrypt_decrypt_document(ph, &out, bson_get_data(doc), doc->len);
    if (rc != 0)
        return cli_fail_input(ph, rc, lineno);
    rc = print_bson(out.data, out.len, o->canonical);
    phicrypt_buf_dispose(&out);
    return rc;
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

/* --lines: one document per line, read and written as it comes, so a
 * mongoexport stream of any size runs in the memory of one line. */
static int each_line(doc_run *r)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = EXIT_OK;
    while (rc == EXIT_OK && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if ((size_t)n > LINE_LIMIT) {
            rc = cli_fail("standard input line %zu: longer than %u MiB", lineno, LINE_LIMIT >> 20);
            break;
        }
        if (line[strspn(line, " \t\r\n")] == '\0') { /* blank: kept, so line counts match */
            if (fputc('\n', out_fp) == EOF)
                rc = cli_fail("writing the output failed");
            continue;
        }
        rc = one_doc(line, lineno, r);
        sodium_memzero(line, (size_t)n); /* plaintext or ciphertext of one record */
    }
    if (rc == EXIT_OK && ferror(stdin))
        rc = cli_fail("reading standard input failed");
    cli_wipe_free(line, cap);
    return rc;
}

/* --out FILE: a temporary file beside FILE, mode 0600. */
static int open_out(const char *path, char **tmp)
{
    if (asprintf(tmp, "%s.phicrypt-XXXXXX", path) < 0)
        return cli_fail("out of memory");
    int fd = mkstemp(*tmp);
    if (fd < 0 || !(out_fp = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd), unlink(*tmp);
        out_fp = stdout;
        free(*tmp);
        *tmp = NULL;
        return cli_fail("%s: cannot create a file beside it", path);
    }
    return 0;
}

/* Renames the temporary file over FILE when everything succeeded; removes
 * it otherwise, so no partial output is left. */
static int finish_out(const char *path, char *tmp, int rc)
{
    if (!tmp)
        return rc == EXIT_OK && fflush(stdout) != 0 ? cli_fail("writing standard output failed") : rc;
    if (rc == EXIT_OK && (fflush(out_fp) != 0 || fsync(fileno(out_fp)) != 0))
        rc = cli_fail("%s: writing failed", path);
    if (fclose(out_fp) != 0 && rc == EXIT_OK)
        rc = cli_fail("%s: writing failed", path);
    out_fp = stdout;
    if (rc == EXIT_OK && rename(tmp, path) != 0)
        rc = cli_fail("%s: cannot rename the finished output into place", path);
    if (rc != EXIT_OK)
        unlink(tmp);
    return rc;
}

static int run(int argc, char **argv, const cli_command *spec, doc_fn fn)
{
    aopts o;
    phicrypt_t *ph = NULL;
    const char *cmd = spec->name;
    int first, rc;
    memset(&o, 0, sizeof o);
    rc = cli_parse(spec, argc, argv, &o, &first);
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
        char *tmp = NULL;
        out_fp = stdout;
        if (o.out && (rc = open_out(o.out, &tmp)) != 0) {
            phicrypt_free(ph);
            return rc;
        }
        rc = o.lines ? each_line(&r) : cli_each_input(0, STDIN_LIMIT, one_doc, &r);
        rc = finish_out(o.out, tmp, rc);
        free(tmp);
    }
    phicrypt_free(ph);
    return rc;
}

int cmd_encrypt_command(int argc, char **argv)
{
    return run(argc, argv, &cli_spec_encrypt_command, encrypt_command_one);
}

int cmd_encrypt_document(int argc, char **argv)
{
    return run(argc, argv, &cli_spec_encrypt_document, encrypt_document_one);
}

int cmd_decrypt_document(int argc, char **argv)
{
    return run(argc, argv, &cli_spec_decrypt_document, decrypt_document_one);
}

int cmd_analyze(int argc, char **argv)
{
    return run(argc, argv, &cli_spec_analyze, analyze_one);
}
