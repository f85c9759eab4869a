/* phicrypt audit verify | disclosures: check the hash chain of the audit
 * log, and list the disclosures of one patient's data. */
#define _GNU_SOURCE /* timegm */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>

#include "cli.h"

static const char usage[] =
    "Usage: phicrypt audit verify [FILE]\n"
    "       phicrypt audit disclosures --subject VALUE [--since DATE] [--json]\n"
    "\n"
    "  verify        check the HMAC chain of the audit log (FILE, or the configured audit.path):\n"
    "                print 'intact: N lines' and exit 0, or name the first bad line and why\n"
    "                (edited, deleted, reordered, forged, torn) and exit 1\n"
    "  disclosures   the accounting of disclosures of one patient: every decrypt, detokenize and\n"
    "                re-identification of the record whose audit.subject_field is VALUE\n"
    "                (--subject - reads VALUE from standard input, keeping it out of the process\n"
    "                list). --since YYYY-MM-DD[THH:MM:SS] (UTC); --json prints the JSON document.\n";

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

static int verify(int argc, char **argv)
{
    phicrypt_t *ph = NULL;
    phicrypt_buf report = PHICRYPT_BUF_INIT;
    int rc;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
        return cli_usage_error("audit", "verify takes at most one FILE (options go before 'audit')");
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    rc = phicrypt_audit_verify(ph, &report, argc == 2 ? argv[1] : NULL);
    if (report.data) {
        printf("%s\n", (const char *)report.data);
    } else if (rc != 0) {
        rc = cli_lib_fail(ph, rc, "audit verify");
        phicrypt_free(ph);
        return rc;
    }
    phicrypt_buf_dispose(&report);
    phicrypt_free(ph);
    return rc == 0 ? EXIT_OK : EXIT_ERR;
}

static const char *str_of(const bson_t *d, const char *k)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return "-";
}

static void print_table(const bson_t *res)
{
    bson_iter_t it, a;
    int n = 0;
    printf("subject %s\n", str_of(res, "subject"));
    printf("%-24s %-14s %-10s %-10s %-10s %-20s %-8s %s\n", "time (UTC)", "actor", "role", "purpose", "operation",
           "namespace", "outcome", "fields");
    if (bson_iter_init_find(&it, res, "disclosures") && bson_iter_recurse(&it, &a))
        while (bson_iter_next(&a)) {
            bson_t e;
            bson_iter_t f, x;
            uint32_t len;
            const uint8_t *data;
            char fields[512] = "";
            bson_iter_document(&a, &len, &data);
            if (!bson_init_static(&e, data, len))
                continue;
            if (bson_iter_init_find(&f, &e, "fields") && bson_iter_recurse(&f, &x))
                while (bson_iter_next(&x))
                    if (BSON_ITER_HOLDS_UTF8(&x) && strlen(fields) + strlen(bson_iter_utf8(&x, NULL)) + 2 < sizeof fields) {
                        if (*fields)
                            strcat(fields, ",");
                        strcat(fields, bson_iter_utf8(&x, NULL));
                    }
            if (bson_iter_init_find(&f, &e, "break_glass") && BSON_ITER_HOLDS_BOOL(&f) && bson_iter_bool(&f))
                strncat(fields, " [BREAK-GLASS]", sizeof fields - strlen(fields) - 1);
            printf("%-24s %-14s %-10s %-10s %-10s %-20s %-8s %s\n", str_of(&e, "time"), str_of(&e, "actor"),
                   str_of(&e, "role"), str_of(&e, "purpose"), str_of(&e, "op"), str_of(&e, "ns"),
                   str_of(&e, "outcome"), fields);
            n++;
        }
    printf("%d disclosure%s\n", n, n == 1 ? "" : "s");
}

static int disclosures(int argc, char **argv)
{
    static const struct option opts[] = { { "subject", required_argument, NULL, 's' },
                                          { "since", required_argument, NULL, 'S' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "config", required_argument, NULL, 'c' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    const char *subject = NULL;
    char *in = NULL;
    size_t in_len = 0;
    int64_t since = 0;
    int c, json = 0, rc;
    phicrypt_t *ph = NULL;
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': subject = optarg; break;
        case 'S':
            if ((since = parse_since(optarg)) < 0)
                return cli_usage_error("audit", "--since: '%s' is not YYYY-MM-DD[THH:MM:SS]", optarg);
            break;
        case 'j': json = 1; break;
        case 'c': cli_config_path = optarg; break;
        case 'h': fputs(usage, stdout); return EXIT_OK;
        default: return cli_usage_error("audit", "invalid option");
        }
    }
    if (!subject)
        return cli_usage_error("audit", "disclosures needs --subject VALUE");
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
    rc = phicrypt_audit_disclosures(ph, &out, subject, since);
    cli_wipe_free(in, in_len + 1);
    if (rc != 0) {
        rc = cli_lib_fail(ph, rc, "audit disclosures");
    } else {
        bson_t res;
        if (bson_init_static(&res, out.data, out.len)) {
            if (json) {
                char *text = bson_as_relaxed_extended_json(&res, NULL);
                cli_compact_json(text);
                puts(text);
                bson_free(text);
            } else {
                print_table(&res);
            }
        }
        rc = EXIT_OK;
    }
    phicrypt_buf_dispose(&out);
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
    return cli_usage_error("audit", "unknown subcommand '%s' (verify or disclosures)", argv[1]);
}
