/* Memory: ordinary allocations (with a test hook that can make the N-th
 * allocation fail) and locked, guarded allocations for key material. */
#ifndef PHI_MEM_PRIVATE_H
#define PHI_MEM_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

void *phi_malloc(size_t n);
void *phi_calloc(size_t count, size_t size);
void *phi_realloc(void *p, size_t n);
void phi_free(void *p);
/* For structs with extended alignment (bson_t is 128-byte aligned). */
void *phi_aligned_alloc(size_t align, size_t n);
char *phi_strdup(const char *s);
char *phi_strndup(const char *s, size_t n);

/* Key material: sodium_malloc (guard pages, mlock, no core dump); freeing
 * wipes it. Returns NULL on failure. */
void *phi_secure_alloc(size_t n);
void phi_secure_free(void *p);

/* Wipe that the compiler may not elide. */
void phi_wipe(void *p, size_t n);
/* Wipe then free a heap buffer of known length. */
void phi_wipe_free(void *p, size_t n);
/* Constant-time equality of two n-byte buffers: 1 if equal. */
/* Stores `data` (phi_malloc'd, now owned by the buffer) in an out-param
 * phicrypt_buf, wiping and freeing what it held: callers may pass the
 * same buffer to call after call. Call it only once the result is made
 * (the old contents may be the call's input). */
struct phicrypt_buf;
void phi_buf_give(struct phicrypt_buf *out, void *data, size_t len);

int phi_ct_equal(const void *a, const void *b, size_t n);

/* Random bytes from OpenSSL RAND_bytes; 0 or PHICRYPT_EINTERNAL. */
int phi_random(void *out, size_t n);

/* Test hook (tests/ only): fail the allocation that would be number
 * `nth` (1-based) counted from now; 0 disables. Returns allocations so far. */
void phi_test_fail_alloc_after(unsigned long nth);
/* Only the nth allocation fails (0 = none): finds a failure that is
 * swallowed and taken for success. */
void phi_test_fail_alloc_only(unsigned long nth);
/* Allocations since the last phi_test_fail_alloc_* call; counting starts
 * with the first such call (phi_test_fail_alloc_after(0) to only count). */
unsigned long phi_test_alloc_count(void);

/* Test hook (tests/ only): called with every buffer that phicrypt wipes
 * before freeing it (phicrypt_buf_dispose, phi_wipe_free), after the wipe
 * and before the free, so a test can check that nothing survives. */
typedef void (*phi_free_observer_fn)(const void *p, size_t n);
void phi_test_set_free_observer(phi_free_observer_fn fn);

#endif
