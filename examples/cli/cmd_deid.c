/* phicrypt deid / reid: de-identify an export with a policy, and reverse
 * its tokens and ciphertexts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bson/bson.h>

#include "cli.h"
#include "cli_args.h"

static const char deid_usage[] =
    "Usage: phicrypt deid --policy POLICY.json --in FILE|- --out FILE|- [--format jsonl|json|bson|csv]\n"
    "                     [--threads N] [--report FILE] [--skip-bad] [--strict] [--delimiter C] [--gate M]\n"
    "                     [--manifest FILE | --no-manifest] [--explain] [--dry-run] [--suppress-below-k] [--risk-memory N]\n"
    "\n"
    "De-identify an export (mongoexport JSON lines or --jsonArray, mongodump .bson, mongoexport CSV)\n"
    "with a policy. Only the values the policy targets are rewritten; every other byte is copied.\n"
    "The output keeps the input's format, and is written to a temporary file renamed at the end:\n"
    "on any error (or a kill) no partial output file is left.\n"
    "\n"
    "  --policy FILE    the policy (see docs/deid.md); it is checked before any input is read\n"
    "  --in FILE|-      input file, or - for standard input\n"
    "  --out FILE|-     output file, or - for standard output (/dev/fd/N, a device such as\n"
    "                   /dev/null or a FIFO is written in place; a link's target is replaced)\n"
    "  --format F       jsonl, json (one array), bson or csv; default: from the file extension\n"
    "  --threads N      worker threads (default 1); the output is the same with any N\n"
    "  --report FILE    write the report (counts per field and action, unknown fields, rules that\n"
    "                   matched nothing, warnings, bad records, elapsed time) as JSON; written on\n"
    "                   failure too, with \"completed\": false and the error\n"
    "  --skip-bad       skip malformed records and records over 16 MiB (listed in the report)\n"
    "                   instead of stopping\n"
    "  --strict         a rule that matched no field (a misspelt path: \"snn\" for \"ssn\") or an\n"
    "                   unknown field kept (\"unknown_fields\": \"keep\") is an error: exit 1 and no\n"
    "                   output file (without it, each is a warning on stderr)\n"
    "  --delimiter C    CSV field separator: one character, or \\t (tab); default ','. A one-column\n"
    "                   header holding ';', '|' or a tab is refused unless the delimiter is given\n"
    "  --gate M         residual-PHI gate: a value the policy transforms found anywhere in its\n"
    "                   record's output is, with fail, an error (exit 1, no output; it names the\n"
    "                   field, class and place, never the value); warn: a warning. Default: fail\n"
    "                   with the Safe Harbor preset, else off\n"
    "  --manifest FILE  the run manifest (default OUT.manifest.json; needed for stdout): hashes\n"
    "                   of policy, input and output, key names, counts, gate; signed with the\n"
    "                   audit key when configured ('phicrypt manifest verify' checks it)\n"
    "  --explain        print per field path the rule that decided it (or why none), the action\n"
    "                   and the count, never values (stdout; stderr when --out is -)\n"
    "  --dry-run        --explain without writing any output (--out not needed)\n"
    "  --suppress-below-k  with \"quasi_identifiers\" in the policy: a second pass replaces the\n"
    "                   quasi-identifier values of records in classes smaller than k (\"*\" for a\n"
    "                   string, null otherwise) and counts again; a suppressed record still alone\n"
    "                   in a class (its missing values differ) is dropped. Needs a file --out\n"
    "  --risk-memory N  memory of the risk report's class tables (bytes, or with K, M, G; default\n"
    "                   64M); past it, keyed hashes spill to unlinked files beside the output\n"
    "\n"
    "A run ends with one line on stderr, terminal or not: the summary (records in and out, values\n"
    "rewritten, bad records, warnings), or the error. Warnings come before it: rules that matched\n"
    "nothing, unknown fields kept, an --out extension that says another format. On a terminal a\n"
    "progress line is shown while it runs.\n"
    "CSV keeps its line ends (CRLF stays CRLF) and its UTF-8 byte order mark, if any. Errors name\n"
    "the file and line (BSON: record number and byte offset).\n"
    "\n";

/* The rest of deid --help (one string would pass C's 4095-byte limit). */
static const char deid_usage_policy[] =
    "Policy: {\"version\":1, \"unknown_fields\":\"error\"|\"drop\"|\"keep\", \"preset\":\"safe-harbor\",\n"
    "         \"fields\": {\"PATH\": {\"action\": ACTION, ...options}},\n"
    "         \"quasi_identifiers\": [\"address.zip\", \"dob\", \"sex\"], \"k\": 5}   (risk report)\n"
    "  PATH     a.b, a.*.c (any key), a[].c (elements of array a)\n"
    "  ACTION   keep | drop | redact {with} | mask {keep_last, char}\n"
    "           encrypt {key_alt_name, algorithm: deterministic|random}   (CSFLE, queryable)\n"
    "           tokenize {key, format: ssn|phone|digits|mrn|email|alnum|siv, context, key_version}\n"
    "           pseudonymize {key, context} | generalize {to: year|month} or {bucket: N}\n"
    "           date_shift {subject: PATH, key, max_days} | zip3 | age | scrub {key}\n"
    "  Keyed actions use the keyring and data keys of the configuration (--config).\n"
    "\n"
    "Which fields does the Safe Harbor preset recognise?  Run with \"unknown_fields\":\"keep\" and\n"
    "read \"unknown_fields\" in the report; docs/deid.md lists the names per HIPAA identifier.\n"
    "\n"
    "Examples:\n"
    "  mongoexport -d hospital -c patients -o patients.jsonl\n"
    "  phicrypt deid --policy examples/data/policy-safe-harbor.json --in patients.jsonl \\\n"
    "                --out patients.deid.jsonl --threads 4 --report report.json\n"
    "  mongodump -d hospital -c patients && phicrypt deid --policy p.json \\\n"
    "                --in dump/hospital/patients.bson --out patients.deid.bson\n"
    "\n"
    "Exit status: 0 success, 1 error (the message names the file, line or byte offset), 2 usage.\n";

static const char reid_usage[] =
    "Usage: phicrypt reid --policy POLICY.json --in FILE|- --out FILE|- [--format F] [--threads N]\n"
    "                     [--report REPORT.json] [--delimiter C]\n"
    "\n"
    "Reverse the reversible actions of a de-identification policy: tokens (tokenize) are\n"
    "detokenized and ciphertexts (encrypt) decrypted; every other value is copied unchanged.\n"
    "Redacted, masked, pseudonymised, generalised and scrubbed values cannot come back.\n"
    "Needs the same configuration (keyring, key vault) as the deid run.\n"
    CLI_SESSION_HELP
    "  --ns DB.COLLECTION   where the records come from (selects per-namespace access rules)\n";

typedef struct dopts {
    const char *policy, *in, *out, *format, *report;
    unsigned threads;
    int skip_bad, strict, delimiter, gate, no_manifest, explain, dry_run, suppress;
    size_t risk_memory;
    const char *manifest;
    cli_session_opts sess;
} dopts;

static int store_threads(void *opts, const char *cmd, const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 256)
        return cli_usage_error(cmd, "--threads needs a number from 1 to 256");
    ((dopts *)opts)->threads = (unsigned)n;
    return 0;
}

static int store_delimiter(void *opts, const char *cmd, const char *v)
{
    dopts *o = opts;
    if (strcmp(v, "\\t") == 0 || strcmp(v, "tab") == 0)
        o->delimiter = '\t';
    else if (strlen(v) == 1 && v[0] != '"' && (unsigned char)v[0] < 127 && v[0] != '\n' && v[0] != '\r')
        o->delimiter = v[0];
    else
        return cli_usage_error(cmd, "--delimiter needs one ASCII character (or \\t for a tab), not a quote");
    return 0;
}

static int store_gate(void *opts, const char *cmd, const char *v)
{
    dopts *o = opts;
    if (strcmp(v, "fail") == 0)
        o->gate = PHICRYPT_DEID_GATE_FAIL;
    else if (strcmp(v, "warn") == 0)
        o->gate = PHICRYPT_DEID_GATE_WARN;
    else if (strcmp(v, "off") == 0)
        o->gate = PHICRYPT_DEID_GATE_OFF;
    else
        return cli_usage_error(cmd, "--gate must be fail, warn or off");
    return 0;
}

static int store_risk_memory(void *opts, const char *cmd, const char *v)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1ull << 10;
    else if (*end == 'M' || *end == 'm')
        mul = 1ull << 20;
    else if (*end == 'G' || *end == 'g')
        mul = 1ull << 30;
    if (mul > 1)
        end++;
    if (!*v || *v == '-' || *end || n == 0 || n > (1ull << 40) / mul || n * mul < 4096)
        return cli_usage_error(cmd, "--risk-memory needs a size of at least 4096 bytes (e.g. 64M)");
    ((dopts *)opts)->risk_memory = (size_t)(n * mul);
    return 0;
}

/* deid and reid take the same options (reid ignores none: --strict and --skip-bad apply to its reading). */
static const cli_option options[] = { CLI_OPT_STR(dopts, "policy", policy),
                                      CLI_OPT_STR(dopts, "in", in),
                                      CLI_OPT_STR(dopts, "out", out),
                                      CLI_OPT_STR(dopts, "format", format),
                                      CLI_OPT_FN("threads", store_threads),
                                      CLI_OPT_STR(dopts, "report", report),
                                      CLI_OPT_FLAG(dopts, "skip-bad", skip_bad),
                                      CLI_OPT_FLAG(dopts, "strict", strict),
                                      CLI_OPT_FN("delimiter", store_delimiter),
                                      CLI_OPT_FN("gate", store_gate),
                                      CLI_OPT_STR(dopts, "manifest", manifest),
                                      CLI_OPT_FLAG(dopts, "no-manifest", no_manifest),
                                      CLI_OPT_FLAG(dopts, "explain", explain),
                                      CLI_OPT_FLAG(dopts, "dry-run", dry_run),
                                      CLI_OPT_FLAG(dopts, "suppress-below-k", suppress),
                                      CLI_OPT_FN("risk-memory", store_risk_memory),
                                      CLI_OPT_SESSION(dopts, sess),
                                      CLI_OPT_STR(dopts, "ns", sess.ns),
                                      CLI_OPT_END };
const cli_command cli_spec_deid = { "deid", deid_usage, options, 0, NULL, NULL };
const cli_command cli_spec_reid = { "reid", reid_usage, options, 0, NULL, NULL };

static int parse(int argc, char **argv, dopts *o, const cli_command *spec)
{
    int first, rc;
    memset(o, 0, sizeof *o);
    o->threads = 1;
    if ((rc = cli_parse(spec, argc, argv, o, &first)) != 0) {
        if (rc == CLI_HELP_SHOWN && spec == &cli_spec_deid)
            fputs(deid_usage_policy, stdout);
        return rc;
    }
    if (o->dry_run)
        o->explain = o->no_manifest = 1;
    if (o->dry_run && o->out)
        return cli_usage_error(spec->name, "--dry-run writes no output: leave out --out");
    if (o->dry_run)
        o->out = "/dev/null"; /* a device is written in place: nothing is kept */
    if (!o->policy || !o->in || !o->out)
        return cli_usage_error(spec->name, "--policy, --in and --out are required");
    if (o->suppress && spec != &cli_spec_deid)
        return cli_usage_error(spec->name, "--suppress-below-k is a deid option");
    if (o->suppress && o->dry_run)
        return cli_usage_error(spec->name, "--suppress-below-k rewrites the output: not with --dry-run");
    return 0;
}


/* The library's progress callback draws the shared progress line (only on a terminal). */
static void show_progress(void *user, uint64_t records, uint64_t done, uint64_t total)
{
    cli_progress_show(user, records, done, total);
}

/* Warnings go to stderr as they come (at the end of the run). They quote
 * field names from the input: control bytes are shown as '?', so that a
 * hostile key cannot drive the terminal. */
static void show_warning(void *user, const char *msg)
{
    (void)user;
    fputs("phicrypt: warning: ", stderr);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
    fputc('\n', stderr);
}

/* The one line every run ends with, from the report: scripts and logs see
 * what happened without opening it. */
static void show_summary(const char *cmd, const dopts *o, const phicrypt_buf *rep)
{
    bson_error_t err;
    bson_t *b = rep->data ? bson_new_from_json(rep->data, (ssize_t)rep->len, &err) : NULL;
    if (!b)
        return;
    bson_iter_t it, f, e;
    int64_t in = 0, out = 0, bad = 0, changed = 0, unknown = 0, warnings = 0, unmatched = 0;
    double secs = 0;
    if (bson_iter_init(&it, b)) {
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            if (BSON_ITER_HOLDS_NUMBER(&it)) {
                if (strcmp(k, "records_in") == 0)
                    in = bson_iter_as_int64(&it);
                else if (strcmp(k, "records_out") == 0)
                    out = bson_iter_as_int64(&it);
                else if (strcmp(k, "bad_records_count") == 0)
                    bad = bson_iter_as_int64(&it);
                else if (strcmp(k, "elapsed_seconds") == 0)
                    secs = bson_iter_as_double(&it);
                continue;
            }
            if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &f))
                continue;
            while (bson_iter_next(&f)) {
                if (strcmp(k, "unknown_fields") == 0)
                    unknown++;
                else if (strcmp(k, "warnings") == 0)
                    warnings++;
                else if (strcmp(k, "unmatched_rules") == 0)
                    unmatched++;
                else if (strcmp(k, "fields") == 0 && BSON_ITER_HOLDS_DOCUMENT(&f) && bson_iter_recurse(&f, &e) &&
                         bson_iter_find(&e, "action") && BSON_ITER_HOLDS_UTF8(&e) &&
                         strcmp(bson_iter_utf8(&e, NULL), "keep") != 0 && bson_iter_recurse(&f, &e) &&
                         bson_iter_find(&e, "count"))
                    changed += bson_iter_as_int64(&e);
            }
        }
    }
    bson_destroy(b);
    fprintf(stderr,
            "phicrypt %s: %s -> %s: %lld records in, %lld out, %lld bad%s, %lld values %s, %lld unknown fields, "
            "%lld rules matched nothing, %lld warnings, %.2f s\n",
            cmd, strcmp(o->in, "-") == 0 ? "stdin" : o->in, strcmp(o->out, "-") == 0 ? "stdout" : o->out,
            (long long)in, (long long)out, (long long)bad, bad && o->skip_bad ? " (skipped)" : "", (long long)changed,
            strcmp(cmd, "reid") == 0 ? "processed" : "de-identified", (long long)unknown, (long long)unmatched,
            (long long)warnings, secs);
}

/* The risk report in one line (counts only), before the run's summary. */
static void show_risk(const char *cmd, const phicrypt_buf *rep)
{
    bson_error_t err;
    bson_t *b = rep->data ? bson_new_from_json(rep->data, (ssize_t)rep->len, &err) : NULL;
    bson_iter_t it, r, s;
    if (!b)
        return;
    if (bson_iter_init_find(&it, b, "risk") && BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &r)) {
        long long k = 0, recs = 0, classes = 0, kmin = 0, below = 0, unique = 0, srec = -1, sval = 0, after = 0,
                  dropped = 0;
        double share = 0;
        while (bson_iter_next(&r)) {
            const char *key = bson_iter_key(&r);
            if (BSON_ITER_HOLDS_NUMBER(&r)) {
                long long v = bson_iter_as_int64(&r);
                if (strcmp(key, "k") == 0) k = v;
                else if (strcmp(key, "records") == 0) recs = v;
                else if (strcmp(key, "classes") == 0) classes = v;
                else if (strcmp(key, "k_min") == 0) kmin = v;
                else if (strcmp(key, "records_below_k") == 0) below = v;
                else if (strcmp(key, "unique_records") == 0) unique = v;
                if (strcmp(key, "share_below_k") == 0) share = bson_iter_as_double(&r);
            } else if (strcmp(key, "suppression") == 0 && BSON_ITER_HOLDS_DOCUMENT(&r) && bson_iter_recurse(&r, &s)) {
                while (bson_iter_next(&s)) {
                    if (strcmp(bson_iter_key(&s), "records") == 0) srec = bson_iter_as_int64(&s);
                    else if (strcmp(bson_iter_key(&s), "values") == 0) sval = bson_iter_as_int64(&s);
                    else if (strcmp(bson_iter_key(&s), "records_dropped") == 0) dropped = bson_iter_as_int64(&s);
                    else if (strcmp(bson_iter_key(&s), "after") == 0 && BSON_ITER_HOLDS_DOCUMENT(&s)) {
                        bson_iter_t a;
                        if (bson_iter_recurse(&s, &a) && bson_iter_find(&a, "records_below_k"))
                            after = bson_iter_as_int64(&a);
                    }
                }
            }
        }
        fprintf(stderr, "phicrypt %s: risk: k=%lld: %lld records in %lld classes, k_min %lld, %lld records (%.2f%%) "
                        "in classes below k, %lld unique",
                cmd, k, recs, classes, kmin, below, share * 100.0, unique);
        if (srec >= 0)
            fprintf(stderr, "; suppressed %lld values in %lld records (%lld of them dropped), %lld records below k after",
                    sval, srec, dropped, after);
        fputc('\n', stderr);
    }
    bson_destroy(b);
}

/* --report on failure: the library's report when the run got that far,
 * else one saying only why it stopped. */
static int write_report(const char *cmd, const char *path, const phicrypt_buf *rep, const char *error)
{
    char *own = NULL;
    const char *data = (const char *)rep->data;
    size_t len = rep->len;
    if (!data) {
        bson_t b = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&b, "operation", cmd);
        BSON_APPEND_BOOL(&b, "completed", false);
        BSON_APPEND_UTF8(&b, "error", error ? error : "");
        own = bson_as_relaxed_extended_json(&b, &len);
        bson_destroy(&b);
        if (!own)
            return cli_fail("%s: cannot write the report", path);
        cli_compact_json(own);
        len = strlen(own);
        data = own;
    }
    FILE *f = fopen(path, "wb");
    int status = EXIT_OK;
    if (!f || fwrite(data, 1, len, f) != len || fputc('\n', f) == EOF)
        status = cli_fail("%s: cannot write the report", path);
    if (f && fclose(f) != 0 && status == EXIT_OK)
        status = cli_fail("%s: cannot write the report", path);
    bson_free(own);
    return status;
}

static int show_explain(const dopts *o, const phicrypt_deid_policy *pol, const phicrypt_buf *rep)
{
    phicrypt_buf t = PHICRYPT_BUF_INIT;
    if (!rep->data || phicrypt_deid_explain(&t, pol, (const char *)rep->data) != 0)
        return cli_fail("explain: %s", phicrypt_deid_errmsg());
    FILE *f = strcmp(o->out, "-") == 0 ? stderr : stdout;
    /* Field names come from the input: control bytes are shown as '?'. */
    for (const unsigned char *p = t.data; p && *p; p++)
        fputc((*p < 0x20 && *p != '\n') || *p == 0x7f ? '?' : *p, f);
    fflush(f);
    phicrypt_buf_dispose(&t);
    return EXIT_OK;
}

/* The manifest of a finished run: --manifest FILE, or OUT.manifest.json
 * beside a file output (a stream or device output has no place for one). */
static int write_manifest(phicrypt_t *ph, const dopts *o, const phicrypt_deid_policy *pol, const char *pol_text,
                          const phicrypt_buf *rep)
{
    char *dflt = NULL;
    const char *path = o->manifest;
    struct stat st;
    if (o->no_manifest || !rep->data)
        return EXIT_OK;
    if (!path) {
        if (strcmp(o->out, "-") == 0 || stat(o->out, &st) != 0 || !S_ISREG(st.st_mode))
            return EXIT_OK;
        size_t n = strlen(o->out) + 16;
        if (!(dflt = malloc(n)))
            return cli_fail("out of memory");
        snprintf(dflt, n, "%s.manifest.json", o->out);
        path = dflt;
    }
    phicrypt_deid_manifest_opts mo = PHICRYPT_DEID_MANIFEST_OPTS_INIT;
    mo.policy_json = pol_text;
    mo.in_path = o->in;
    mo.out_path = o->out;
    mo.report_json = (const char *)rep->data;
    phicrypt_buf m = PHICRYPT_BUF_INIT;
    int is_signed = 0, status = EXIT_OK;
    int rc = phicrypt_deid_manifest(ph, &m, &is_signed, pol, &mo);
    if (rc) {
        status = cli_fail("%s: manifest: %s", path, ph ? phicrypt_errmsg(ph) : phicrypt_deid_errmsg());
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(m.data, 1, m.len, f) != m.len)
            status = cli_fail("%s: cannot write the manifest", path);
        if (f && fclose(f) != 0 && status == EXIT_OK)
            status = cli_fail("%s: cannot write the manifest", path);
        if (status == EXIT_OK && !is_signed)
            fprintf(stderr, "phicrypt: warning: %s is not signed: no audit signing key is configured (\"audit\" in "
                            "the configuration signs manifests with the audit checkpoint key)\n", path);
    }
    phicrypt_buf_dispose(&m);
    free(dflt);
    return status;
}

static int run(int argc, char **argv, int reid)
{
    const char *cmd = reid ? "reid" : "deid";
    dopts o;
    int rc = parse(argc, argv, &o, reid ? &cli_spec_reid : &cli_spec_deid);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    phicrypt_deid_opts opts = PHICRYPT_DEID_OPTS_INIT;
    if (o.format) {
        if (strcmp(o.format, "jsonl") == 0)
            opts.format = PHICRYPT_DEID_JSONL;
        else if (strcmp(o.format, "json") == 0)
            opts.format = PHICRYPT_DEID_JSON;
        else if (strcmp(o.format, "bson") == 0)
            opts.format = PHICRYPT_DEID_BSON;
        else if (strcmp(o.format, "csv") == 0)
            opts.format = PHICRYPT_DEID_CSV;
        else
            return cli_usage_error(cmd, "--format must be jsonl, json, bson or csv");
    }
    opts.threads = o.threads;
    opts.skip_bad = o.skip_bad;
    opts.strict = o.strict;
    opts.csv_delimiter = o.delimiter;
    opts.gate = (phicrypt_deid_gate)o.gate;
    opts.suppress_below_k = o.suppress;
    opts.risk_memory = o.risk_memory;
    opts.warn = show_warning;
    cli_progress pr;
    int tty = isatty(STDERR_FILENO) && strcmp(o.out, "-") != 0;
    cli_progress_start(&pr, cmd, tty);
    if (tty) {
        opts.progress = show_progress;
        opts.progress_user = &pr;
    }
    char *pol_text = cli_read_file(o.policy);
    if (!pol_text)
        return cli_fail("%s: cannot read the policy", o.policy);
    /* A client is only needed for keyed actions; try without one first so
     * that keyless policies work without any configuration. */
    phicrypt_t *ph = NULL;
    phicrypt_deid_policy *pol = NULL;
    int has_config = cli_config_path || getenv("PHICRYPT_CONFIG") || access("phicrypt.json", R_OK) == 0;
    if (has_config || reid) {
        if (cli_open(&ph) != EXIT_OK) {
            free(pol_text);
            return EXIT_ERR;
        }
    }
    rc = phicrypt_deid_policy_new(&pol, ph, pol_text);
    if (rc) {
        free(pol_text);
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: %s", o.policy, ph ? phicrypt_errmsg(ph) : phicrypt_deid_errmsg());
        fprintf(stderr, "phicrypt: error: %s\n", msg);
        if (o.report) {
            phicrypt_buf none = PHICRYPT_BUF_INIT;
            write_report(cmd, o.report, &none, msg);
        }
        phicrypt_free(ph);
        return EXIT_ERR;
    }
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    /* Re-identification discloses PHI: with access rules it needs a session. */
    phicrypt_session ses = PHICRYPT_SESSION_INIT;
    int use_session = 0;
    if (ph && (reid || o.sess.actor || o.sess.role || o.sess.purpose) &&
        (rc = cli_session_from_opts(ph, cmd, &o.sess, &ses, &use_session)) != 0) {
        phicrypt_deid_policy_free(pol);
        phicrypt_free(ph);
        free(pol_text);
        return rc;
    }
    if (use_session)
        rc = reid ? phicrypt_reid_file_as(ph, &rep, &ses, o.sess.ns, pol, o.in, o.out, &opts)
                  : phicrypt_deid_file_as(ph, &rep, &ses, o.sess.ns, pol, o.in, o.out, &opts);
    else
        rc = reid ? phicrypt_reid_file(ph, &rep, pol, o.in, o.out, &opts)
                  : phicrypt_deid_file(ph, &rep, pol, o.in, o.out, &opts);
    cli_progress_end(&pr);
    int status = EXIT_OK;
    const char *err = rc ? (ph ? phicrypt_errmsg(ph) : phicrypt_deid_errmsg()) : NULL;
    if (rc) {
        fprintf(stderr, "phicrypt: error: %s (%s)\n", err, phicrypt_strerror(rc));
        status = EXIT_ERR;
    } else if (o.explain && show_explain(&o, pol, &rep) != EXIT_OK) {
        status = EXIT_ERR;
    } else if (write_manifest(ph, &o, pol, pol_text, &rep) != EXIT_OK) {
        status = EXIT_ERR; /* its error is the last line */
    } else {
        show_risk(cmd, &rep);
        show_summary(cmd, &o, &rep);
    }
    if (o.report && write_report(cmd, o.report, &rep, err) != EXIT_OK)
        status = EXIT_ERR;
    free(pol_text);
    phicrypt_buf_dispose(&rep);
    phicrypt_deid_policy_free(pol);
    phicrypt_free(ph);
    return status;
}

int cmd_deid(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_reid(int argc, char **argv) { return run(argc, argv, 1); }
