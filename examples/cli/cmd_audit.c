/* phicrypt audit verify | disclosures: check the hash chain of the audit
 * log, and list the disclosures of one patient's data. */
#define _GNU_SOURCE /* timegm */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>

#include "cli.h"
#include "cli_args.h"

static const char usage[] =
    "Usage: phicrypt audit verify [LOG] [--public-key FILE] [--anchors FILE|mongodb|URI]\n"
    "       phicrypt audit disclosures --subject VALUE [--since DATE] [--format table|json|csv|html]\n"
    "                                  [--unverified]\n"
    "       phicrypt audit public-key | checkpoint\n"
    "       phicrypt audit rotate-key [--subject]\n"
    "       phicrypt audit resume --reason TEXT\n"
    "\n"
    "  verify        check the audit log (LOG, or the configured audit.path): its SHA-256 chain, every\n"
    "                checkpoint's Ed25519 signature, and that it still holds every checkpoint in the\n"
    "                anchors (--anchors FILE, mongodb or a mongodb:// URI, or the configured ones). With\n"
    "                --public-key FILE (the output\n"
    "                of 'audit public-key') no configuration, keyring or master key is needed.\n"
    "                Exit 0 intact, 1 tampered (edited, deleted, reordered, forged, truncated, rolled\n"
    "                back), 3 intact but the last line is torn (a crash), 2 could not check.\n"
    "  disclosures   the accounting of disclosures (45 CFR 164.528) of one patient: every decrypt,\n"
    "                detokenize and re-identification of the record whose audit.subject_field is VALUE\n"
    "                (--subject - reads VALUE from standard input). Verifies the log first and refuses\n"
    "                when it does not verify, unless --unverified (then every output line says so).\n"
    "                --since YYYY-MM-DD[THH:MM:SS] (UTC); --json is --format json.\n"
    "  public-key    the checkpoint signing key's public keys, one JSON line per version\n"
    "  checkpoint    sign the log's tail now\n"
    "  rotate-key    add a signing key version (the next checkpoint is signed by both), or with\n"
    "                --subject a subject pseudonym key version; recorded in the log\n"
    "  resume        after truncation or rollback (appends are refused), record why appends go on\n";

static int64_t parse_since(const char *s)
{
    struct tm tm;
    int n = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
        return -1;
    if (s[n] == 'T' && sscanf(s + n + 1, "%2d:%2d:%2d", &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 3)
        return -1;
    else if (s[n] && s[n] != 'T')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

static const cli_option verify_options[] = { CLI_OPT_STR(phicrypt_audit_verify_opts, "public-key", public_key_file),
                                             CLI_OPT_STR(phicrypt_audit_verify_opts, "anchors", anchors_file),
                                             CLI_OPT_END };
const cli_command cli_spec_audit_verify = { "audit", usage, verify_options, 1, NULL,
                                            "Usage: phicrypt audit verify [LOG] [--public-key FILE] [--anchors FILE]" };

static int verify(int argc, char **argv)
{
    phicrypt_audit_verify_opts o = PHICRYPT_AUDIT_VERIFY_OPTS_INIT;
    phicrypt_t *ph = NULL;
    phicrypt_buf report = PHICRYPT_BUF_INIT;
    const char *log = NULL;
    int first, rc, torn = 0;
    if ((rc = cli_parse(&cli_spec_audit_verify, argc, argv, &o, &first)) != 0)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (first < argc)
        log = argv[first];
    /* An auditor with the public key needs nothing else. */
    if (!(o.public_key_file && log) && (rc = cli_open(&ph)) != 0)
        return EXIT_USAGE;
    rc = phicrypt_audit_verify_log(ph, &report, &torn, log, &o);
    if (report.data)
        printf("%s\n", (const char *)report.data);
    else if (rc != 0)
        cli_lib_fail(ph, rc, "audit verify");
    phicrypt_buf_dispose(&report);
    phicrypt_free(ph);
    if (rc == PHICRYPT_EAUTH)
        return EXIT_ERR;
    if (rc != 0)
        return EXIT_USAGE;
    return torn ? 3 : EXIT_OK;
}

static const char *str_of(const bson_t *d, const char *k)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return "-";
}

/* Output goes through here so that an unverified accounting says so on
 * every line, whatever the format. */
static int unverified_out;
static int at_line_start = 1;

static void out_text(const char *t)
{
    for (; *t; t++) {
        if (at_line_start && unverified_out)
            fputs("UNVERIFIED ", stdout);
        putchar(*t);
        at_line_start = *t == '\n';
    }
}

static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out_text(buf);
}

static void out_escaped(const char *s, int html)
{
    char one[2] = { 0, 0 };
    if (!html)
        out_text("\"");
    for (; *s; s++) {
        if (html && *s == '<')
            out_text("&lt;");
        else if (html && *s == '>')
            out_text("&gt;");
        else if (html && *s == '&')
            out_text("&amp;");
        else if (html && *s == '"')
            out_text("&quot;");
        else if (!html && *s == '"')
            out_text("\"\"");
        else if ((unsigned char)*s < 0x20)
            out_text(" ");
        else {
            one[0] = *s;
            out_text(one);
        }
    }
    if (!html)
        out_text("\"");
}

/* One accounting entry, flattened. */
typedef struct entry {
    const char *cols[9];
} entry;

static const char *const col_names[9] = { "date (UTC)", "recipient (actor)", "role", "purpose", "operation",
                                          "namespace", "fields", "outcome", "break-glass" };

static int next_entry(bson_iter_t *a, bson_t *e, entry *x, char *fields, size_t fsz)
{
    bson_iter_t f, y;
    uint32_t len;
    const uint8_t *data;
    if (!bson_iter_next(a))
        return 0;
    bson_iter_document(a, &len, &data);
    if (!bson_init_static(e, data, len))
        return 0;
    fields[0] = '\0';
    if (bson_iter_init_find(&f, e, "fields") && bson_iter_recurse(&f, &y))
        while (bson_iter_next(&y))
            if (BSON_ITER_HOLDS_UTF8(&y) && strlen(fields) + strlen(bson_iter_utf8(&y, NULL)) + 2 < fsz) {
                if (*fields)
                    strcat(fields, ",");
                strcat(fields, bson_iter_utf8(&y, NULL));
            }
    x->cols[0] = str_of(e, "time");
    x->cols[1] = str_of(e, "actor");
    x->cols[2] = str_of(e, "role");
    x->cols[3] = str_of(e, "purpose");
    x->cols[4] = str_of(e, "op");
    x->cols[5] = str_of(e, "ns");
    x->cols[6] = fields;
    x->cols[7] = str_of(e, "outcome");
    x->cols[8] = (bson_iter_init_find(&f, e, "break_glass") && BSON_ITER_HOLDS_BOOL(&f) && bson_iter_bool(&f))
                     ? "BREAK-GLASS" : "";
    return 1;
}

static void print_report(const bson_t *res, const char *format)
{
    bson_iter_t it, a;
    bson_t e;
    entry x;
    char fields[512];
    int n = 0, html = strcmp(format, "html") == 0, csv = strcmp(format, "csv") == 0;
    if (!bson_iter_init_find(&it, res, "disclosures") || !bson_iter_recurse(&it, &a))
        return;
    if (csv) {
        for (int i = 0; i < 9; i++)
            outf("%s%s", i ? "," : "", col_names[i]);
        out_text("\n");
        while (next_entry(&a, &e, &x, fields, sizeof fields)) {
            for (int i = 0; i < 9; i++) {
                if (i)
                    out_text(",");
                out_escaped(x.cols[i], 0);
            }
            out_text("\n");
        }
        return;
    }
    if (html) {
        out_text("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                 "<title>Accounting of disclosures</title>\n"
                 "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                 "td,th{border:1px solid #999;padding:4px 8px;text-align:left}</style></head><body>\n");
        out_text("<h1>Accounting of disclosures</h1>\n");
        outf("<p>Patient reference (pseudonym): %s</p>\n", str_of(res, "subject"));
        if (unverified_out)
            out_text("<p><strong>UNVERIFIED: the audit log did not verify; this list is not evidence.</strong></p>\n");
        out_text("<table>\n<tr>");
        for (int i = 0; i < 9; i++)
            outf("<th>%s</th>", col_names[i]);
        out_text("</tr>\n");
        while (next_entry(&a, &e, &x, fields, sizeof fields)) {
            out_text("<tr>");
            for (int i = 0; i < 9; i++) {
                out_text("<td>");
                out_escaped(x.cols[i], 1);
                out_text("</td>");
            }
            out_text("</tr>\n");
            n++;
        }
        outf("</table>\n<p>%d disclosure%s.</p>\n</body></html>\n", n, n == 1 ? "" : "s");
        return;
    }
    outf("subject %s\n", str_of(res, "subject"));
    outf("%-24s %-14s %-10s %-10s %-10s %-20s %-8s %s\n", "time (UTC)", "actor", "role", "purpose", "operation",
         "namespace", "outcome", "fields");
    while (next_entry(&a, &e, &x, fields, sizeof fields)) {
        outf("%-24s %-14s %-10s %-10s %-10s %-20s %-8s %s%s%s\n", x.cols[0], x.cols[1], x.cols[2], x.cols[3],
             x.cols[4], x.cols[5], x.cols[7], x.cols[6], *x.cols[8] ? " [" : "", *x.cols[8] ? "BREAK-GLASS]" : "");
        n++;
    }
    outf("%d disclosure%s\n", n, n == 1 ? "" : "s");
}

typedef struct dsopts {
    const char *subject, *format;
    phicrypt_audit_accounting_opts ao;
} dsopts;

static int store_since(void *opts, const char *cmd, const char *v)
{
    if ((((dsopts *)opts)->ao.since_ms = parse_since(v)) < 0)
        return cli_usage_error(cmd, "--since: '%s' is not YYYY-MM-DD[THH:MM:SS]", v);
    return 0;
}

static int store_json(void *opts, const char *cmd, const char *v)
{
    (void)cmd;
    (void)v;
    ((dsopts *)opts)->format = "json";
    return 0;
}

static const cli_option disclosures_options[] = { CLI_OPT_STR(dsopts, "subject", subject),
                                                  CLI_OPT_FN("since", store_since),
                                                  CLI_OPT_FN0("json", store_json),
                                                  CLI_OPT_STR(dsopts, "format", format),
                                                  CLI_OPT_FLAG(dsopts, "unverified", ao.unverified),
                                                  CLI_OPT_END };
const cli_command cli_spec_audit_disclosures = {
    "audit", usage, disclosures_options, 0, NULL,
    "Usage: phicrypt audit disclosures --subject VALUE [--since DATE] [--format table|json|csv|html] [--unverified]"
};

static int disclosures(int argc, char **argv)
{
    dsopts d = { NULL, "table", PHICRYPT_AUDIT_ACCOUNTING_OPTS_INIT };
    phicrypt_audit_accounting_opts ao;
    const char *subject, *format;
    char *in = NULL;
    size_t in_len = 0;
    int first, rc;
    phicrypt_t *ph = NULL;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    if ((rc = cli_parse(&cli_spec_audit_disclosures, argc, argv, &d, &first)) != 0)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    subject = d.subject;
    format = d.format;
    ao = d.ao;
    if (!subject)
        return cli_usage_error("audit", "disclosures needs --subject VALUE");
    if (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv") && strcmp(format, "html"))
        return cli_usage_error("audit", "--format: '%s' is not table, json, csv or html", format);
    if (strcmp(subject, "-") == 0) {
        if (cli_read_stdin(&in, &in_len, 4096) != 0)
            return EXIT_ERR;
        in[strcspn(in, "\r\n")] = '\0';
        subject = in;
    }
    if ((rc = cli_open(&ph)) != 0) {
        cli_wipe_free(in, in_len + 1);
        return rc;
    }
    rc = phicrypt_audit_accounting(ph, &out, subject, &ao);
    cli_wipe_free(in, in_len + 1);
    if (rc != 0) {
        rc = cli_lib_fail(ph, rc, "audit disclosures");
    } else {
        bson_t res;
        bson_iter_t it;
        if (bson_init_static(&res, out.data, out.len)) {
            unverified_out = !(bson_iter_init_find(&it, &res, "verified") && bson_iter_as_bool(&it));
            if (strcmp(format, "json") == 0) {
                char *text = bson_as_relaxed_extended_json(&res, NULL);
                cli_compact_json(text);
                out_text(text);
                out_text("\n");
                bson_free(text);
            } else {
                print_report(&res, format);
            }
        }
        rc = EXIT_OK;
    }
    phicrypt_buf_dispose(&out);
    phicrypt_free(ph);
    return rc;
}

/* public-key | checkpoint | rotate-key [--subject] | resume --reason TEXT */
typedef struct adopts {
    int subject;
    const char *reason;
} adopts;

static const cli_option admin_options[] = { CLI_OPT_FLAG(adopts, "subject", subject),
                                            CLI_OPT_STR(adopts, "reason", reason), CLI_OPT_END };
const cli_command cli_spec_audit_admin = {
    "audit", usage, admin_options, 0, NULL,
    "Usage: phicrypt audit public-key | checkpoint | rotate-key [--subject] | resume --reason TEXT"
};

static int admin(const char *sub, int argc, char **argv)
{
    adopts a = { 0, NULL };
    const char *reason;
    int first, rc, subject;
    phicrypt_t *ph = NULL;
    if ((rc = cli_parse(&cli_spec_audit_admin, argc, argv, &a, &first)) != 0)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    subject = a.subject;
    reason = a.reason;
    if (subject && strcmp(sub, "rotate-key") != 0)
        return cli_usage_error("audit", "--subject goes with rotate-key");
    if (strcmp(sub, "resume") == 0 && (!reason || !*reason))
        return cli_usage_error("audit", "resume needs --reason TEXT (it is recorded in the log)");
    if (reason && strcmp(sub, "resume") != 0)
        return cli_usage_error("audit", "--reason goes with resume");
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    if (strcmp(sub, "public-key") == 0) {
        phicrypt_buf keys = PHICRYPT_BUF_INIT;
        if ((rc = phicrypt_audit_public_keys(ph, &keys)) == 0)
            fwrite(keys.data, 1, keys.len, stdout);
        phicrypt_buf_dispose(&keys);
    } else if (strcmp(sub, "checkpoint") == 0) {
        rc = phicrypt_audit_checkpoint(ph);
    } else if (strcmp(sub, "rotate-key") == 0) {
        uint32_t v = 0;
        if ((rc = phicrypt_audit_rotate_key(ph, &v, subject)) == 0)
            printf("%s version %u\n", subject ? "audit:subject" : "audit:sign", v);
    } else {
        rc = phicrypt_audit_resume(ph, reason);
    }
    if (rc != 0)
        rc = cli_lib_fail(ph, rc, sub);
    phicrypt_free(ph);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "disclosures") == 0)
        return disclosures(argc - 1, argv + 1);
    if (strcmp(argv[1], "public-key") == 0 || strcmp(argv[1], "checkpoint") == 0 ||
        strcmp(argv[1], "rotate-key") == 0 || strcmp(argv[1], "resume") == 0)
        return admin(argv[1], argc - 1, argv + 1);
    return cli_usage_error("audit",
                           "unknown subcommand '%s' (verify, disclosures, public-key, checkpoint, rotate-key, resume)",
                           argv[1]);
}
