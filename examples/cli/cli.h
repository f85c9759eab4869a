/* Shared helpers of the phicrypt command-line tool. */
#ifndef PHICRYPT_CLI_H
#define PHICRYPT_CLI_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include <phicrypt.h>

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

extern const char *cli_config_path; /* from --config, or NULL */
extern const char *cli_key_vault;    /* from --key-vault, or NULL */
extern const char *cli_key_vault_ns; /* from --key-vault-namespace, or NULL */

/* Prints "phicrypt: error: ..." to stderr; returns EXIT_ERR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error and a hint to --help; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a failed library call on ph (or NULL) with context. */
int cli_lib_fail(const phicrypt_t *ph, int rc, const char *what);

/* Opens the client from --config, PHICRYPT_CONFIG or ./phicrypt.json, with
 * --key-vault / --key-vault-namespace replacing the configuration's. */
int cli_open(phicrypt_t **ph);

/* Reads standard input (at most `limit` bytes) and calls fn on all of it
 * (lines == 0, lineno 0) or on each line that is not blank, NUL-terminated,
 * with its 1-based number; stops at the first non-zero return and returns
 * it. The input is wiped afterwards (it may be PHI). */
typedef int (*cli_input_fn)(char *text, size_t lineno, void *arg);
int cli_each_input(int lines, size_t limit, cli_input_fn fn, void *arg);

/* Reports a failed library call on input: "standard input line N: ..."
 * when lineno is not 0. Returns EXIT_ERR. */
int cli_fail_input(const phicrypt_t *ph, int rc, size_t lineno);

/* Reads all of stdin (at most `limit` bytes) into a NUL-terminated buffer.
 * The buffer may hold plaintext: free it with cli_wipe_free. */
int cli_read_stdin(char **out, size_t *len, size_t limit);
void cli_wipe_free(char *p, size_t len);
/* A whole (policy or manifest) file, NUL-terminated, at most 16 MiB; NULL
 * when it cannot be read (errno says why). Not for plaintext. */
char *cli_read_file(const char *path);

/* Removes insignificant whitespace from JSON text in place. */
void cli_compact_json(char *s);

/* Parses --key-id UUID. */
int cli_parse_uuid(uint8_t id[16], const char *text);
void cli_format_uuid(char out[37], const uint8_t id[16]);

/* Who discloses PHI, and why: --actor, --role, --purpose (required when
 * the configuration has access rules), --subject (the patient id, for the
 * audit line of single values and tokens), --field (the path a single
 * value or token belongs to). Add CLI_SESSION_LONGOPTS to a getopt_long
 * table and hand unknown codes to cli_session_opt. */
typedef struct cli_session_opts {
    const char *actor, *role, *purpose, *subject, *field, *ns;
} cli_session_opts;
enum { CLI_OPT_ACTOR = 0x1100, CLI_OPT_ROLE, CLI_OPT_PURPOSE, CLI_OPT_SUBJECT, CLI_OPT_FIELD, CLI_OPT_NS };
#define CLI_SESSION_LONGOPTS                                                                                   \
    { "actor", required_argument, NULL, CLI_OPT_ACTOR }, { "role", required_argument, NULL, CLI_OPT_ROLE },   \
        { "purpose", required_argument, NULL, CLI_OPT_PURPOSE },                                             \
        { "subject", required_argument, NULL, CLI_OPT_SUBJECT }, { "field", required_argument, NULL, CLI_OPT_FIELD }
#define CLI_SESSION_HELP                                                                                       \
    "  --actor NAME --role ROLE --purpose PURPOSE   who reads and why (required when the configuration\n"     \
    "                   has access rules; every disclosure is then audited)\n"
/* 1 when `c` is one of the session options (stored in *o), else 0. */
int cli_session_opt(cli_session_opts *o, int c, const char *arg);
/* *use = 1 and *out filled when the configuration has access rules (then
 * --actor, --role and --purpose are required: EXIT_USAGE otherwise) or when
 * any session option was given; *use = 0 otherwise. */
int cli_session_from_opts(phicrypt_t *ph, const char *cmd, const cli_session_opts *o, phicrypt_session *out,
                          int *use);

/* Subcommands: argc/argv start at the subcommand's name. */
int cmd_init(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_encrypt_command(int argc, char **argv);
int cmd_encrypt_document(int argc, char **argv);
int cmd_decrypt_document(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_pseudonymize(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_deid(int argc, char **argv);
int cmd_reid(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_policy(int argc, char **argv);

/* A progress line on stderr, shared by deid/reid (records and bytes from the library's
 * progress callback) and keys rewrap (one library call that reports nothing: a ticker thread
 * redraws an elapsed-time line). Drawn only when `tty`; cli_progress_end() clears it. */
typedef struct cli_progress {
    const char *label;
    double t0, last;
    int tty;
    /* the ticker (cli_progress_tick_start) */
    int ticking, stop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} cli_progress;

/** Seconds on the monotonic clock. */
double cli_now(void);
/** Start: `tty` is whether to draw (isatty(STDERR_FILENO) and whatever else the caller needs). */
void cli_progress_start(cli_progress *p, const char *label, int tty);
/** Draw at most every 0.2 s (and at 100%): a bar with `total` bytes, a rate without, an
 * elapsed-time line with neither. */
void cli_progress_show(cli_progress *p, uint64_t records, uint64_t done, uint64_t total);
/** Redraw from a thread until cli_progress_end(), for a call that reports no progress. */
void cli_progress_tick_start(cli_progress *p);
/** Stop the ticker and clear the line. */
void cli_progress_end(cli_progress *p);

#endif
