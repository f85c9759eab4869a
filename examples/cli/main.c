/* phicrypt: command-line tool over libphicrypt. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "Usage: phicrypt [--config FILE] COMMAND [OPTIONS]\n"
    "\n"
    "Protect PHI with MongoDB-compatible client-side field-level encryption.\n"
    "\n"
    "Commands:\n"
    "  init      create a local master key, key vault and configuration\n"
    "  keys      create, list, get, delete, rewrap data keys; manage their alt names\n"
    "  encrypt   encrypt one Extended JSON value read on standard input\n"
    "  decrypt   decrypt a ciphertext read on standard input\n"
    "  encrypt-command   encrypt a MongoDB command per the schema map (no mongocryptd)\n"
    "  encrypt-document  encrypt a document as it would be inserted into DB.COLLECTION\n"
    "  decrypt-document  decrypt every encrypted value of a document\n"
    "  analyze   show which fields of a command would be encrypted, or why it is refused\n"
    "  token     create, rotate, retire, destroy, list keyring keys (token/pseudonym keys)\n"
    "  tokenize, detokenize   format-preserving (FF1) or opaque (AES-SIV) tokens, one value per line\n"
    "  pseudonymize           one-way HMAC pseudonyms, one value per line\n"
    "  audit     verify the audit log's chain; list the disclosures of one patient\n"
    "  deid      de-identify an export (JSON lines, JSON array, BSON, CSV) with a policy\n"
    "  reid      reverse the tokens and ciphertexts of a de-identified export\n"
    "  manifest  verify the signed manifest of a deid or reid run\n"
    "  policy    check a de-identification policy against Safe Harbor or a limited data set\n"
    "\n"
    "Options:\n"
    "  --config FILE   configuration file (default: $PHICRYPT_CONFIG, then ./phicrypt.json)\n"
    "  --version       print the versions of phicrypt and libmongocrypt\n"
    "  -h, --help      this help; 'phicrypt COMMAND --help' for a command\n"
    "\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

int main(int argc, char **argv)
{
    int i = 1;
    /* Before any key is read: no core dumps, no ptrace by the same user
     * (libmongocrypt's heap holds copies of keys we cannot guard). */
    if (phicrypt_harden_process(0) != 0) {
        fprintf(stderr, "phicrypt: error: %s\n", phicrypt_errmsg(NULL));
        return EXIT_ERR;
    }
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("", "--config needs a FILE");
            cli_config_path = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            cli_config_path = argv[i] + 9;
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("phicrypt %s (libmongocrypt %s)\n", phicrypt_version(), phicrypt_mongocrypt_version());
            return EXIT_OK;
        } else {
            fprintf(stderr, "phicrypt: unknown option '%s'\n\n%s", argv[i], usage);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    argc -= i;
    argv += i;
    if (strcmp(argv[0], "init") == 0)
        return cmd_init(argc, argv);
    if (strcmp(argv[0], "keys") == 0)
        return cmd_keys(argc, argv);
    if (strcmp(argv[0], "encrypt") == 0)
        return cmd_encrypt(argc, argv);
    if (strcmp(argv[0], "decrypt") == 0)
        return cmd_decrypt(argc, argv);
    if (strcmp(argv[0], "encrypt-command") == 0)
        return cmd_encrypt_command(argc, argv);
    if (strcmp(argv[0], "encrypt-document") == 0)
        return cmd_encrypt_document(argc, argv);
    if (strcmp(argv[0], "decrypt-document") == 0)
        return cmd_decrypt_document(argc, argv);
    if (strcmp(argv[0], "analyze") == 0)
        return cmd_analyze(argc, argv);
    if (strcmp(argv[0], "token") == 0)
        return cmd_token(argc, argv);
    if (strcmp(argv[0], "tokenize") == 0)
        return cmd_tokenize(argc, argv);
    if (strcmp(argv[0], "detokenize") == 0)
        return cmd_detokenize(argc, argv);
    if (strcmp(argv[0], "pseudonymize") == 0)
        return cmd_pseudonymize(argc, argv);
    if (strcmp(argv[0], "audit") == 0)
        return cmd_audit(argc, argv);
    if (strcmp(argv[0], "policy") == 0)
        return cmd_policy(argc, argv);
    if (strcmp(argv[0], "manifest") == 0)
        return cmd_manifest(argc, argv);
    if (strcmp(argv[0], "deid") == 0)
        return cmd_deid(argc, argv);
    if (strcmp(argv[0], "reid") == 0)
        return cmd_reid(argc, argv);
    if (strcmp(argv[0], "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    fprintf(stderr, "phicrypt: unknown command '%s'\n\n%s", argv[0], usage);
    return EXIT_USAGE;
}
