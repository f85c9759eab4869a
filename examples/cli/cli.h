/* Shared helpers of the phicrypt command-line tool. */
#ifndef PHICRYPT_CLI_H
#define PHICRYPT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <phicrypt.h>

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

extern const char *cli_config_path; /* from --config, or NULL */

/* Prints "phicrypt: error: ..." to stderr; returns EXIT_ERR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error and a hint to --help; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a failed library call on ph (or NULL) with context. */
int cli_lib_fail(const phicrypt_t *ph, int rc, const char *what);

/* Opens the client from --config, PHICRYPT_CONFIG or ./phicrypt.json. */
int cli_open(phicrypt_t **ph);

/* Reads all of stdin (at most `limit` bytes) into a NUL-terminated buffer.
 * The buffer may hold plaintext: free it with cli_wipe_free. */
int cli_read_stdin(char **out, size_t *len, size_t limit);
void cli_wipe_free(char *p, size_t len);

/* Removes insignificant whitespace from JSON text in place. */
void cli_compact_json(char *s);

/* Parses --key-id UUID. */
int cli_parse_uuid(uint8_t id[16], const char *text);
void cli_format_uuid(char out[37], const uint8_t id[16]);

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

#endif
