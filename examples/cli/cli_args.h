/* The one option parser of the phicrypt tool: each command describes its options in a
 * table (name, kind, where the value goes), and cli_parse() does the rest the same way
 * for every command: --config, -h/--help, `--`, unknown options and missing values
 * (exit 2 with the command's one-line usage), numbers, stray operands. The same tables
 * drive `phicrypt help COMMAND` and the bash completion (`phicrypt completion bash`). */
#ifndef PHICRYPT_CLI_ARGS_H
#define PHICRYPT_CLI_ARGS_H

#include <stddef.h>

typedef enum cli_kind {
    CLI_END = 0,
    CLI_FLAG,   /* no value: sets the int at `offset` to 1 */
    CLI_STRING, /* value: the const char * at `offset` points at it */
    CLI_UINT32, /* value: a decimal number 0..2^32-1 into the unsigned long at `offset` */
    CLI_CUSTOM  /* value (or none when `fn` is given a NULL value): `fn` checks and stores it */
} cli_kind;

/* Returns 0, or prints a usage error (cli_usage_error) and returns its EXIT_USAGE. */
typedef int (*cli_store_fn)(void *opts, const char *cmd, const char *value);

typedef struct cli_option {
    const char *name; /* long name, without "--" */
    cli_kind kind;
    size_t offset;   /* into the command's options struct */
    cli_store_fn fn; /* CLI_CUSTOM */
    int no_value;    /* CLI_CUSTOM: the option takes no value */
} cli_option;

#define CLI_OPT_FLAG(T, name, field) { name, CLI_FLAG, offsetof(T, field), NULL, 0 }
#define CLI_OPT_STR(T, name, field) { name, CLI_STRING, offsetof(T, field), NULL, 0 }
#define CLI_OPT_U32(T, name, field) { name, CLI_UINT32, offsetof(T, field), NULL, 0 }
#define CLI_OPT_FN(name, fn) { name, CLI_CUSTOM, 0, fn, 0 }
#define CLI_OPT_FN0(name, fn) { name, CLI_CUSTOM, 0, fn, 1 }
/* --actor --role --purpose --subject --field into a cli_session_opts member. */
#define CLI_OPT_SESSION(T, member)                                                                        \
    CLI_OPT_STR(T, "actor", member.actor), CLI_OPT_STR(T, "role", member.role),                           \
        CLI_OPT_STR(T, "purpose", member.purpose), CLI_OPT_STR(T, "subject", member.subject),             \
        CLI_OPT_STR(T, "field", member.field)
#define CLI_OPT_END { NULL, CLI_END, 0, NULL, 0 }

/* A command (or a subcommand's group): its name for messages, its --help text (whose
 * first line is the one-line usage), its options, and how many operands it takes. */
typedef struct cli_command {
    const char *name;          /* "encrypt", "keys", "audit" */
    const char *usage;         /* the full --help text */
    const cli_option *options; /* ends with CLI_OPT_END */
    int max_operands;          /* -1: any number */
    const char *operands_hint; /* said when there are too many, e.g. "values are read on standard input" */
    const char *synopsis;      /* the usage line(s) for errors; NULL: the usage text up to its first blank line */
} cli_command;

enum { CLI_HELP_SHOWN = -1 };

/* Parses argv[1..argc-1] (argv[0] is the command's name) into `opts`. Returns 0 and
 * sets *first_operand (the operands are argv[*first_operand..argc-1], in order);
 * CLI_HELP_SHOWN after printing the usage on stdout (the command exits 0); or
 * EXIT_USAGE after a one-line message and the one-line usage on stderr. */
int cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, int *first_operand);

/* Every command's table, for `phicrypt help` and the completion script. */
typedef struct cli_entry {
    const char *name;               /* as typed after "phicrypt" */
    const char *summary;            /* one line for the top-level --help */
    const cli_command *specs[4];    /* its option tables (one per group of subcommands), NULL-ended */
    const char *subcommands;        /* space-separated, or NULL */
    int (*run)(int argc, char **argv);
} cli_entry;
extern const cli_entry cli_commands[];

/* The command tables, defined next to each command. */
extern const cli_command cli_spec_init, cli_spec_keys, cli_spec_encrypt, cli_spec_decrypt, cli_spec_encrypt_command,
    cli_spec_encrypt_document, cli_spec_decrypt_document, cli_spec_analyze, cli_spec_token, cli_spec_tokenize,
    cli_spec_detokenize, cli_spec_pseudonymize, cli_spec_audit_verify, cli_spec_audit_disclosures,
    cli_spec_audit_admin, cli_spec_deid, cli_spec_reid, cli_spec_policy, cli_spec_manifest;

/* The bash completion script, generated from cli_commands. */
void cli_print_bash_completion(void);

#endif
