/* phicrypt policy check: does a de-identification policy meet Safe Harbor
 * or the limited data set rules, and if not, which rules and why. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"

static const char policy_usage[] =
    "Usage: phicrypt policy check --standard safe-harbor|limited-data-set POLICY.json\n"
    "\n"
    "List each rule of a de-identification policy whose output does not meet the standard, with\n"
    "the reason: for safe-harbor (45 CFR 164.514(b)(2)), HMAC pseudonyms, deterministic tokens and\n"
    "encrypted values are codes derived from the individual's information (164.514(c)), shifted or\n"
    "month-level dates keep more than the year, 'keep' on a field of an identifier class or on free\n"
    "text, masks that keep part of an identifier, \"unknown_fields\": \"keep\". For limited-data-set\n"
    "(164.514(e)(2)) codes, dates, city, state, ZIP and ages may stay; direct identifiers may not.\n"
    "The policy is read, not any data: 'deid --gate' checks what an export holds.\n"
    "\n"
    "Exit status: 0 meets the standard, 1 it does not (or the policy is invalid), 2 usage.\n";


typedef struct popts {
    const char *standard;
} popts;

static const cli_option policy_options[] = { CLI_OPT_STR(popts, "standard", standard), CLI_OPT_END };
const cli_command cli_spec_policy = { "policy", policy_usage, policy_options, 1, NULL, NULL };

int cmd_policy(int argc, char **argv)
{
    popts o = { 0 };
    int first, prc;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(policy_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "check") != 0)
        return cli_usage_error("policy", "unknown subcommand '%s' (check)", argv[1]);
    argc--;
    argv++;
    if ((prc = cli_parse(&cli_spec_policy, argc, argv, &o, &first)) != 0)
        return prc < 0 ? EXIT_OK : prc;
    const char *standard = o.standard;
    if (!standard || (strcmp(standard, "safe-harbor") != 0 && strcmp(standard, "limited-data-set") != 0))
        return cli_usage_error("policy", "--standard safe-harbor or limited-data-set is required");
    if (first + 1 != argc)
        return cli_usage_error("policy", "check needs one policy file");
    const char *path = argv[first];
    char *text = cli_read_file(path);
    if (!text)
        return cli_fail("%s: cannot read the policy", path);
    /* Keyed actions need the configuration's client to be read (as deid does). */
    phicrypt_t *ph = NULL;
    if ((cli_config_path || getenv("PHICRYPT_CONFIG") || access("phicrypt.json", R_OK) == 0) &&
        cli_open(&ph) != EXIT_OK) {
        free(text);
        return EXIT_ERR;
    }
    phicrypt_deid_policy *p = NULL;
    int rc = phicrypt_deid_policy_new(&p, ph, text);
    free(text);
    if (rc) {
        int st = cli_fail("%s: %s", path, ph ? phicrypt_errmsg(ph) : phicrypt_deid_errmsg());
        phicrypt_free(ph);
        return st;
    }
    phicrypt_buf out = PHICRYPT_BUF_INIT;
    size_t n = 0;
    int status = EXIT_OK;
    if (phicrypt_deid_policy_check(&out, &n, p, standard) != 0) {
        status = cli_fail("%s: %s", path, phicrypt_deid_errmsg());
    } else if (n) {
        fputs((const char *)out.data, stdout);
        printf("%s: does not meet %s (%zu finding%s)\n", path, standard, n, n == 1 ? "" : "s");
        status = EXIT_ERR;
    } else {
        printf("%s: meets %s (as far as a policy can: 'deid --gate' checks the data)\n", path, standard);
    }
    phicrypt_buf_dispose(&out);
    phicrypt_deid_policy_free(p);
    phicrypt_free(ph);
    return status;
}
