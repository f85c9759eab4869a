/* The one option parser of the tool (see cli_args.h), and the bash completion
 * generated from the same tables. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"

#define MAX_OPTIONS 64

/* The usage block (up to the first blank line) of a --help text. */
static void print_usage_lines(FILE *f, const char *usage)
{
    const char *end = strstr(usage, "\n\n");
    size_t n = end ? (size_t)(end - usage) + 1 : strlen(usage);
    fwrite(usage, 1, n, f);
}

/* An option as the user typed it, without any "=value" (which may be a secret). */
static void print_option_name(FILE *f, const char *arg)
{
    fprintf(f, "'%.*s'", (int)strcspn(arg, "="), arg);
}

static int bad_option(const cli_command *cmd, const char *what, const char *arg, int short_opt)
{
    fprintf(stderr, "phicrypt: %s: %s ", cmd->name, what);
    if (short_opt)
        fprintf(stderr, "'-%c'", short_opt);
    else
        print_option_name(stderr, arg);
    fputc('\n', stderr);
    if (cmd->synopsis)
        fprintf(stderr, "%s\n", cmd->synopsis);
    else
        print_usage_lines(stderr, cmd->usage);
    return EXIT_USAGE;
}

static int store(const cli_command *cmd, const cli_option *o, void *opts, const char *value)
{
    char *base = opts, *end;
    unsigned long v;
    switch (o->kind) {
    case CLI_FLAG: *(int *)(base + o->offset) = 1; return 0;
    case CLI_STRING: *(const char **)(base + o->offset) = value; return 0;
    case CLI_UINT32:
        v = strtoul(value, &end, 10); /* digits only: no sign, no blanks */
        if (!*value || *end || value[strspn(value, "0123456789")] || v > 0xffffffffUL)
            return cli_usage_error(cmd->name, "--%s: '%s' is not a number", o->name, value);
        *(unsigned long *)(base + o->offset) = v;
        return 0;
    case CLI_CUSTOM: return o->fn(opts, cmd->name, o->no_value ? NULL : value);
    case CLI_END: break;
    }
    return 0;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, int *first_operand)
{
    struct option lo[MAX_OPTIONS + 3];
    size_t n = 0;
    int c, rc, operands;
    for (; cmd->options && cmd->options[n].name; n++) {
        const cli_option *o = &cmd->options[n];
        if (n == MAX_OPTIONS)
            abort(); /* a table too long for this parser: a programming error */
        lo[n].name = o->name;
        lo[n].has_arg = o->kind == CLI_FLAG || (o->kind == CLI_CUSTOM && o->no_value) ? no_argument : required_argument;
        lo[n].flag = NULL;
        lo[n].val = 256 + (int)n;
    }
    lo[n] = (struct option){ "config", required_argument, NULL, 'c' };
    lo[n + 1] = (struct option){ "help", no_argument, NULL, 'h' };
    lo[n + 2] = (struct option){ NULL, 0, NULL, 0 };

    opterr = 0;  /* our messages, in our format */
    optind = 0;  /* glibc: a full restart, for commands that parse twice */
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        if (c == 'h') {
            fputs(cmd->usage, stdout);
            return CLI_HELP_SHOWN;
        }
        if (c == 'c') {
            cli_config_path = optarg;
            continue;
        }
        if (c == ':')
            return bad_option(cmd, "this option needs a value:", argv[optind - 1], optopt > 0 && optopt < 256 ? optopt : 0);
        if (c == '?')
            return bad_option(cmd, "unknown option", argv[optind - 1], optopt > 0 && optopt < 256 ? optopt : 0);
        if ((rc = store(cmd, &cmd->options[c - 256], opts, optarg)) != 0)
            return rc;
    }
    operands = argc - optind;
    if (cmd->max_operands >= 0 && operands > cmd->max_operands) {
        const char *hint = cmd->operands_hint;
        return cli_usage_error(cmd->name, "unexpected argument '%s'%s%s%s", argv[optind + cmd->max_operands],
                               hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
    }
    *first_operand = optind;
    return 0;
}

/* Options whose value is a file or directory (completed as such). */
static int takes_path(const char *name)
{
    static const char *const names[] = { "config", "in", "out", "policy", "report", "public-key", "anchors",
                                         "key-material-file", "dir", NULL };
    for (size_t i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* Whether an earlier option of the tables has this name (each case label once). */
static int listed_before(const cli_entry *upto, const cli_command *const *spec_upto, const cli_option *opt)
{
    for (const cli_entry *e = cli_commands; e <= upto; e++)
        for (const cli_command *const *sp = e->specs; *sp; sp++)
            for (const cli_option *o = (*sp)->options; o && o->name; o++) {
                if (o == opt)
                    return 0;
                if (strcmp(o->name, opt->name) == 0)
                    return 1;
            }
    (void)spec_upto;
    return 0;
}

void cli_print_bash_completion(void)
{
    const cli_entry *e;
    const cli_option *o;
    fputs("# bash completion for phicrypt; generated by `phicrypt completion bash` from the tool's own\n"
          "# option tables. Install: phicrypt completion bash > /usr/share/bash-completion/completions/phicrypt\n"
          "_phicrypt() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i words\n"
          "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
          "        case ${COMP_WORDS[i]} in\n"
          "            --config) ((i++)) ;;\n"
          "            -*) ;;\n"
          "            *) cmd=${COMP_WORDS[i]}; break ;;\n"
          "        esac\n"
          "    done\n"
          "    case $prev in\n"
          "        --dir) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n",
          stdout);
    fputs("        --config", stdout);
    for (e = cli_commands; e->name; e++)
        for (const cli_command *const *sp = e->specs; *sp; sp++)
            for (o = (*sp)->options; o && o->name; o++)
                if (takes_path(o->name) && strcmp(o->name, "dir") != 0 && !listed_before(e, sp, o))
                    printf("|--%s", o->name);
    fputs(")\n"
          "            COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
          "    esac\n"
          "    case $cmd in\n"
          "        '') words='--config --key-vault --key-vault-namespace --version --help",
          stdout);
    for (e = cli_commands; e->name; e++)
        printf(" %s", e->name);
    fputs("' ;;\n", stdout);
    for (e = cli_commands; e->name; e++) {
        printf("        %s) words='--help --config", e->name);
        if (e->subcommands)
            printf(" %s", e->subcommands);
        if (strcmp(e->name, "help") == 0)
            for (const cli_entry *h = cli_commands; h->name; h++)
                printf(" %s", h->name);
        for (const cli_command *const *sp = e->specs; *sp; sp++)
            for (o = (*sp)->options; o && o->name; o++) {
                int seen = 0; /* an option of two tables of one command is offered once */
                for (const cli_command *const *q = e->specs; q != sp && !seen; q++)
                    for (const cli_option *p = (*q)->options; p && p->name; p++)
                        seen |= strcmp(p->name, o->name) == 0;
                if (!seen)
                    printf(" --%s", o->name);
            }
        fputs("' ;;\n", stdout);
    }
    fputs("        *) words= ;;\n"
          "    esac\n"
          "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "}\n"
          "complete -o default -F _phicrypt phicrypt\n",
          stdout);
}
