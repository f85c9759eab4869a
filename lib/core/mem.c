/* Allocation wrappers (with a fault-injection hook for tests) and secure
 * memory for key material. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <phicrypt.h>
#include "core/mem_private.h"

/* Fault injection: when fail_at is non-zero, the allocation whose count
 * reaches it fails. Atomic so that threaded tests stay well defined.
 * Allocations are counted only once a test has armed the hook: in
 * production an atomic increment per allocation would be a shared cache
 * line bounced between worker threads, for nothing; a relaxed load of a
 * flag that never changes costs a plain read. */
static atomic_ulong alloc_count;
static atomic_ulong fail_at;
static atomic_bool fail_once; /* only that allocation fails, later ones succeed */
static atomic_bool armed;     /* set by the first phi_test_fail_alloc_* call */

static int should_fail(void)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return 0;
    unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
    unsigned long f = atomic_load(&fail_at);
    return f != 0 && (atomic_load(&fail_once) ? n == f : n >= f);
}

void phi_test_fail_alloc_after(unsigned long nth)
{
    atomic_store(&armed, true);
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_once, false);
    atomic_store(&fail_at, nth);
}

void phi_test_fail_alloc_only(unsigned long nth)
{
    atomic_store(&armed, true);
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_once, true);
    atomic_store(&fail_at, nth);
}

unsigned long phi_test_alloc_count(void)
{
    return atomic_load(&alloc_count);
}

static _Atomic(phi_free_observer_fn) free_observer;

void phi_test_set_free_observer(phi_free_observer_fn fn)
{
    atomic_store(&free_observer, fn);
}

static void observe(const void *p, size_t n)
{
    phi_free_observer_fn fn = atomic_load(&free_observer);
    if (fn)
        fn(p, n);
}

void *phi_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *phi_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *phi_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *phi_aligned_alloc(size_t align, size_t n)
{
    if (should_fail())
        return NULL;
    n = (n + align - 1) / align * align; /* C11 wants a multiple of align */
    return aligned_alloc(align, n ? n : align);
}

void phi_free(void *p)
{
    free(p);
}

char *phi_strndup(const char *s, size_t n)
{
    char *d = phi_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *phi_strdup(const char *s)
{
    return phi_strndup(s, strlen(s));
}

void *phi_secure_alloc(size_t n)
{
    if (should_fail())
        return NULL;
    /* sodium_malloc aborts before sodium_init; stand-alone primitives
     * (FF1, SIV) may be the first thing a program calls. */
    if (phicrypt_init() != 0)
        return NULL;
    /* sodium_malloc adds guard pages, mlock()s and marks the pages
     * MADV_DONTDUMP, so key material stays out of swap and core dumps. */
    return sodium_malloc(n ? n : 1);
}

void phi_secure_free(void *p)
{
    if (p)
        sodium_free(p); /* wipes before unmapping */
}

void phi_wipe(void *p, size_t n)
{
    if (p && n)
        sodium_memzero(p, n);
}

void phi_wipe_free(void *p, size_t n)
{
    if (p) {
        sodium_memzero(p, n);
        observe(p, n);
        free(p);
    }
}

int phi_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int phi_random(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            return PHICRYPT_EINTERNAL;
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

void phi_buf_give(phicrypt_buf *out, void *data, size_t len)
{
    phicrypt_buf_dispose(out);
    out->data = data;
    out->len = len;
}

void phicrypt_buf_dispose(phicrypt_buf *buf)
{
    if (!buf)
        return;
    if (buf->data) {
        sodium_memzero(buf->data, buf->len);
        observe(buf->data, buf->len);
        free(buf->data);
    }
    buf->data = NULL;
    buf->len = 0;
}
