/* phicrypt manifest verify: check a de-identification run's manifest. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"

static const char manifest_usage[] =
    "Usage: phicrypt manifest verify MANIFEST.json [--public-key FILE]\n"
    "\n"
    "Check the manifest a 'phicrypt deid' or 'reid' run wrote (OUT.manifest.json by default): its\n"
    "Ed25519 signature by the audit checkpoint key, and, when the output it names is beside it,\n"
    "that the output's SHA-256 is the one the run wrote. With --public-key FILE (the output of\n"
    "'phicrypt audit public-key') no configuration, keyring or master key is needed; without it\n"
    "the configuration's keyring gives the key.\n"
    "\n"
    "Exit status: 0 good, 1 changed, unsigned or not checkable (the message says which), 2 usage.\n";

typedef struct mopts {
    const char *public_key;
} mopts;

static const cli_option manifest_options[] = { CLI_OPT_STR(mopts, "public-key", public_key), CLI_OPT_END };
const cli_command cli_spec_manifest = { "manifest", manifest_usage, manifest_options, 1, NULL, NULL };

int cmd_manifest(int argc, char **argv)
{
    mopts o = { 0 };
    int first, prc;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(manifest_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "verify") != 0)
        return cli_usage_error("manifest", "unknown subcommand '%s' (verify)", argv[1]);
    argc--;
    argv++;
    if ((prc = cli_parse(&cli_spec_manifest, argc, argv, &o, &first)) != 0)
        return prc < 0 ? EXIT_OK : prc;
    if (first + 1 != argc)
        return cli_usage_error("manifest", "verify needs one manifest file");
    const char *pub = o.public_key;
    const char *path = argv[first];
    phicrypt_t *ph = NULL;
    if (!pub && cli_open(&ph) != EXIT_OK)
        return EXIT_ERR;
    phicrypt_buf rep = PHICRYPT_BUF_INIT;
    int rc = phicrypt_deid_manifest_verify(ph, &rep, path, pub);
    int status = EXIT_OK;
    if (rc) {
        status = cli_fail("%s: %s (%s)", path, ph ? phicrypt_errmsg(ph) : phicrypt_deid_errmsg(), phicrypt_strerror(rc));
    } else {
        if (rep.data)
            fputs((const char *)rep.data, stdout);
        printf("%s: intact\n", path);
    }
    phicrypt_buf_dispose(&rep);
    phicrypt_free(ph);
    return status;
}
