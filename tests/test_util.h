/* Helpers shared by the C test suites: temporary key sets and clients. */
#ifndef PHI_TEST_UTIL_H
#define PHI_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <phicrypt.h>

/* A fresh directory under $TMPDIR; removed by tu_rm_rf. */
char *tu_tmpdir(void);
void tu_rm_rf(const char *dir);

/* Writes a file (creating it with `mode`). Aborts the test on failure. */
void tu_write_file(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file (NUL-terminated), or NULL. */
char *tu_read_file(const char *path, size_t *len);

/* Creates DIR/master.key (from `master` if not NULL, else random), an
 * empty DIR/keyvault.jsonl, and returns a configuration JSON (malloc'd)
 * with absolute paths. */
char *tu_keyset(const char *dir, const uint8_t *master);

/* A client on the key set of `dir` (asserts success). */
phicrypt_t *tu_client(const char *dir);

/* BSON {"v": <json value>} as malloc'd bytes. */
uint8_t *tu_value_doc(const char *json_value, size_t *len);

/* True if `hay` (len bytes) contains `needle`. */
int tu_contains(const char *hay, const char *needle);

#endif
