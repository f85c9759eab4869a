/* phicrypt: command-line tool over libphicrypt. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "cli.h"
#include "cli_args.h"

/* Every command: the top-level help, `phicrypt help COMMAND` and the completion come from here. */
const cli_entry cli_commands[] = {
    { "init", "create a local master key, key vault and configuration", { &cli_spec_init }, NULL, cmd_init },
    { "keys", "create, list, get, delete, rewrap data keys; manage their alt names", { &cli_spec_keys },
      "create list get delete add-alt-name remove-alt-name rewrap", cmd_keys },
    { "encrypt", "encrypt one Extended JSON value read on standard input", { &cli_spec_encrypt }, NULL, cmd_encrypt },
    { "decrypt", "decrypt a ciphertext read on standard input", { &cli_spec_decrypt }, NULL, cmd_decrypt },
    { "encrypt-command", "encrypt a MongoDB command per the schema map (no mongocryptd)",
      { &cli_spec_encrypt_command }, NULL, cmd_encrypt_command },
    { "encrypt-document", "encrypt a document as it would be inserted into DB.COLLECTION",
      { &cli_spec_encrypt_document }, NULL, cmd_encrypt_document },
    { "decrypt-document", "decrypt every encrypted value of a document", { &cli_spec_decrypt_document }, NULL,
      cmd_decrypt_document },
    { "analyze", "show which fields of a command would be encrypted, or why it is refused", { &cli_spec_analyze },
      NULL, cmd_analyze },
    { "token", "create, rotate, retire, destroy, list keyring keys (token/pseudonym keys)", { &cli_spec_token },
      "create rotate retire destroy list", cmd_token },
    { "tokenize", "format-preserving (FF1) or opaque (AES-SIV) tokens, one value per line", { &cli_spec_tokenize },
      NULL, cmd_tokenize },
    { "detokenize", "reverse tokenize, one token per line", { &cli_spec_detokenize }, NULL, cmd_detokenize },
    { "pseudonymize", "one-way HMAC pseudonyms, one value per line", { &cli_spec_pseudonymize }, NULL,
      cmd_pseudonymize },
    { "audit", "verify the audit log's chain; list the disclosures of one patient",
      { &cli_spec_audit_verify, &cli_spec_audit_disclosures, &cli_spec_audit_admin },
      "verify disclosures public-key checkpoint rotate-key resume", cmd_audit },
    { "deid", "de-identify an export (JSON lines, JSON array, BSON, CSV) with a policy", { &cli_spec_deid }, NULL,
      cmd_deid },
    { "reid", "reverse the tokens and ciphertexts of a de-identified export", { &cli_spec_reid }, NULL, cmd_reid },
    { "manifest", "verify the signed manifest of a deid or reid run", { &cli_spec_manifest }, "verify", cmd_manifest },
    { "policy", "check a de-identification policy against Safe Harbor or a limited data set", { &cli_spec_policy },
      "check", cmd_policy },
    { "help", "show a command's help: phicrypt help COMMAND", { NULL }, NULL, NULL },
    { "completion", "print the bash completion script: phicrypt completion bash", { NULL }, "bash", NULL },
    { NULL, NULL, { NULL }, NULL, NULL },
};

static const char usage_line[] = "Usage: phicrypt [--config FILE] [--key-vault URI] COMMAND [OPTIONS]\n";

static void print_usage(FILE *f)
{
    fputs(usage_line, f);
    fputs("\nProtect PHI with MongoDB-compatible client-side field-level encryption.\n\nCommands:\n", f);
    for (const cli_entry *e = cli_commands; e->name; e++)
        fprintf(f, "  %-17s %s\n", e->name, e->summary);
    fputs("\n"
          "Options:\n"
          "  --config FILE   configuration file (default: $PHICRYPT_CONFIG, then ./phicrypt.json)\n"
          "  --key-vault URI the key vault to use instead of the configuration's key_vault:\n"
          "                  a mongodb:// URI or file:PATH (relative to the configuration's directory)\n"
          "  --key-vault-namespace DB.COLL   instead of the configuration's key_vault_namespace\n"
          "  --version       print the versions of phicrypt, libmongocrypt, OpenSSL and libsodium\n"
          "  -h, --help      this help; 'phicrypt help COMMAND' or 'phicrypt COMMAND --help' for a command\n"
          "  --              end of options (what follows is the command and its arguments)\n"
          "\n"
          "Errors go to standard error. Exit status: 0 success, 1 error, 2 usage error\n"
          "(audit verify: 3 when the log is intact but its last line is torn).\n",
          f);
}

static const cli_entry *find(const char *name)
{
    for (const cli_entry *e = cli_commands; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "phicrypt: unknown command '%s'\n%sTry 'phicrypt --help'.\n", name, usage_line);
    return EXIT_USAGE;
}

static int help(int argc, char **argv)
{
    const cli_entry *e;
    char *args[3];
    if (argc < 2) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (argc > 2)
        return cli_usage_error("help", "help takes one COMMAND");
    if (!(e = find(argv[1])))
        return unknown_command(argv[1]);
    if (!e->run) { /* help, completion */
        printf("Usage: phicrypt %s\n\n%s.\n", strcmp(e->name, "help") == 0 ? "help [COMMAND]" : "completion bash",
               e->summary);
        return EXIT_OK;
    }
    args[0] = argv[1];
    args[1] = "--help";
    args[2] = NULL;
    return e->run(2, args);
}

static int completion(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "bash") != 0)
        return cli_usage_error("completion", "say 'phicrypt completion bash' (bash is the one shell supported)");
    cli_print_bash_completion();
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    int i = 1;
    const cli_entry *e;
    /* Before any key is read: no core dumps, no ptrace by the same user
     * (libmongocrypt's heap holds copies of keys we cannot guard). */
    if (phicrypt_harden_process(0) != 0) {
        fprintf(stderr, "phicrypt: error: %s\n", phicrypt_errmsg(NULL));
        return EXIT_ERR;
    }
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "phicrypt: --config needs a FILE\n%s", usage_line);
                return EXIT_USAGE;
            }
            cli_config_path = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            cli_config_path = argv[i] + 9;
            i++;
        } else if (strcmp(argv[i], "--key-vault") == 0 || strcmp(argv[i], "--key-vault-namespace") == 0) {
            int ns = strcmp(argv[i], "--key-vault-namespace") == 0;
            if (i + 1 >= argc || !*argv[i + 1])
                return cli_usage_error("", "%s needs %s", argv[i], ns ? "a DB.COLLECTION" : "a URI");
            if (ns)
                cli_key_vault_ns = argv[i + 1];
            else
                cli_key_vault = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--key-vault=", 12) == 0) {
            cli_key_vault = argv[i] + 12;
            i++;
        } else if (strncmp(argv[i], "--key-vault-namespace=", 22) == 0) {
            cli_key_vault_ns = argv[i] + 22;
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("phicrypt %s\n", phicrypt_version());
            printf("libmongocrypt %s\n", phicrypt_mongocrypt_version());
            printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
            printf("libsodium %s\n", sodium_version_string());
            return EXIT_OK;
        } else {
            fprintf(stderr, "phicrypt: unknown option '%.*s'\n%sTry 'phicrypt --help'.\n",
                    (int)strcspn(argv[i], "="), argv[i], usage_line);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    argc -= i;
    argv += i;
    if (strcmp(argv[0], "help") == 0)
        return help(argc, argv);
    if (strcmp(argv[0], "completion") == 0)
        return completion(argc, argv);
    if (!(e = find(argv[0])))
        return unknown_command(argv[0]);
    return e->run(argc, argv);
}
