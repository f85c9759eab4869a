/* phicrypt deid / reid: de-identify an export with a policy, and reverse
 * its tokens and ciphertexts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char deid_usage[] =
    "Usage: phicrypt deid --policy POLICY.json --in FILE|- --out FILE|- [--format jsonl|json|bson|csv]\n"
    "                     [--threads N] [--report REPORT.json] [--skip-bad]\n"
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
    "  --report FILE    write the report (counts per field and action, unknown fields, bad\n"
    "                   records, elapsed time) as JSON; without it a summary goes to stderr\n"
    "  --skip-bad       skip malformed records (listed in the report) instead of stopping\n"
    "\n"
    "Policy: {\"version\":1, \"unknown_fields\":\"error\"|\"drop\"|\"keep\", \"preset\":\"safe-harbor\",\n"
    "         \"fields\": {\"PATH\": {\"action\": ACTION, ...options}}}\n"
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
    "                     [--report REPORT.json]\n"
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
    int skip_bad;
    cli_session_opts sess;
} dopts;

static int parse(int argc, char **argv, dopts *o, const char *cmd, const char *usage)
{
    static const struct option opts[] = { { "policy", required_argument, NULL, 'p' },
                                          { "in", required_argument, NULL, 'i' },
                                          { "out", required_argument, NULL, 'o' },
                                          { "format", required_argument, NULL, 'f' },
                                          { "threads", required_argument, NULL, 't' },
                                          { "report", required_argument, NULL, 'r' },
                                          { "skip-bad", no_argument, NULL, 's' },
                                          { "config", required_argument, NULL, 'c' },
                                          { "help", no_argument, NULL, 'h' },
                                          CLI_SESSION_LONGOPTS,
                                          { "ns", required_argument, NULL, CLI_OPT_NS },
                                          { NULL, 0, NULL, 0 } };
    int c;
    memset(o, 0, sizeof *o);
    o->threads = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': o->policy = optarg; break;
        case 'i': o->in = optarg; break;
        case 'o': o->out = optarg; break;
        case 'f': o->format = optarg; break;
        case 'r': o->report = optarg; break;
        case 's': o->skip_bad = 1; break;
        case 'c': cli_config_path = optarg; break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 256)
                return cli_usage_error(cmd, "--threads needs a number from 1 to 256");
            o->threads = (unsigned)v;
            break;
        }
        case 'h': fputs(usage, stdout); return -1;
        default:
            if (cli_session_opt(&o->sess, c, optarg))
                break;
            return cli_usage_error(cmd, "invalid option");
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->policy || !o->in || !o->out)
        return cli_usage_error(cmd, "--policy, --in and --out are required");
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap) {
            char *nb = cap < (16u << 20) ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}

typedef struct progress {
    double t0, last;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A one-line progress bar on stderr (only when it is a terminal). */
static void show_progress(void *user, uint64_t records, uint64_t done, uint64_t total)
{
    progress *p = user;
    double t = now_s();
    if (t - p->last < 0.2 && (total == 0 || done < total))
        return;
    p->last = t;
    double el = t - p->t0 > 1e-6 ? t - p->t0 : 1e-6;
    double mbs = (double)done / el / 1e6;
    if (total) {
        int pct = (int)((double)done * 100.0 / (double)total);
        int bar = pct / 5;
        double eta = done ? el * (double)(total - done) / (double)done : 0;
        fprintf(stderr, "\r[%.*s%.*s] %3d%%  %llu records  %.1f MB/s  ETA %.0fs   ", bar, "####################",
                20 - bar, "                    ", pct, (unsigned long long)records, mbs, eta);
    } else {
        fprintf(stderr, "\r%llu records  %.1f MB/s   ", (unsigned long long)records, mbs);
    }
}

static int run(int argc, char **argv, int reid)
{
    const char *cmd = reid ? "reid" : "deid";
    dopts o;
    int rc = parse(argc, argv, &o, cmd, reid ? reid_usage : deid_usage);
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
    progress pr = { now_s(), 0 };
    int tty = isatty(STDERR_FILENO) && strcmp(o.out, "-") != 0;
    if (tty) {
        opts.progress = show_progress;
        opts.progress_user = &pr;
    }
    char *pol_text = read_file(o.policy);
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
    free(pol_text);
    if (rc) {
        fprintf(stderr, "phicrypt: error: %s: %s\n", o.policy, ph ? phicrypt_errmsg(ph) : phicrypt_deid_errmsg());
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
        return rc;
    }
    if (use_session)
        rc = reid ? phicrypt_reid_file_as(ph, &rep, &ses, o.sess.ns, pol, o.in, o.out, &opts)
                  : phicrypt_deid_file_as(ph, &rep, &ses, o.sess.ns, pol, o.in, o.out, &opts);
    else
        rc = reid ? phicrypt_reid_file(ph, &rep, pol, o.in, o.out, &opts)
                  : phicrypt_deid_file(ph, &rep, pol, o.in, o.out, &opts);
    if (tty)
        fputs("\r\033[K", stderr);
    int status = EXIT_OK;
    if (rc) {
        fprintf(stderr, "phicrypt: error: %s (%s)\n", ph ? phicrypt_errmsg(ph) : phicrypt_deid_errmsg(),
                phicrypt_strerror(rc));
        status = EXIT_ERR;
    } else if (o.report) {
        FILE *f = fopen(o.report, "wb");
        if (!f || fwrite(rep.data, 1, rep.len, f) != rep.len || fputc('\n', f) == EOF) {
            status = cli_fail("%s: cannot write the report", o.report);
        }
        if (f && fclose(f) != 0)
            status = cli_fail("%s: cannot write the report", o.report);
    } else if (tty) {
        fprintf(stderr, "%s\n", (const char *)rep.data);
    }
    phicrypt_buf_dispose(&rep);
    phicrypt_deid_policy_free(pol);
    phicrypt_free(ph);
    return status;
}

int cmd_deid(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_reid(int argc, char **argv) { return run(argc, argv, 1); }
