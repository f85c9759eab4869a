/* The re-identification risk report: equivalence classes of the records
 * over the policy's quasi-identifiers, as the values are after
 * de-identification (read back from each output record, in the worker
 * that wrote it), and the optional suppression pass over the output.
 *
 * A class is never kept by its values: each record's tuple of
 * quasi-identifier values is hashed (BLAKE2b keyed with a random per-run
 * key that is never written, 16 bytes), and only the hashes and their
 * counts are kept: in a hash table per worker up to a memory budget, then
 * as sorted runs in unlinked temporary files, merged and counted at the
 * end. Memory stays within the budget whatever the number of records. */
#ifndef PHI_DEID_RISK_PRIVATE_H
#define PHI_DEID_RISK_PRIVATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "deid/deid_private.h"

/* A quasi-identifier of the policy: a path of plain keys ("address.zip"). */
typedef struct phi_risk_qi {
    char *text;
    char **segs;
    size_t *seglen;
    size_t nseg;
} phi_risk_qi;

#define PHI_RISK_DEFAULT_K 5
#define PHI_RISK_DEFAULT_MEMORY ((size_t)64 << 20)
#define PHI_RISK_MIN_MEMORY ((size_t)4096)

/* Parses the policy's "quasi_identifiers" (an array of field paths) into
 * p->qi; "k" is parsed by the caller. PHICRYPT_EINVAL naming the element. */
int phi_risk_parse_qi(const void *eh, const bson_iter_t *it, phicrypt_deid_policy *p);
void phi_risk_qi_free(phicrypt_deid_policy *p);

typedef struct phi_risk_ent {
    uint8_t h[16];
    uint64_t n; /* 0: empty slot */
} phi_risk_ent;

struct phi_risk;

/* One worker's classes (single thread). */
typedef struct phi_risk_tab {
    struct phi_risk *rk;
    phi_risk_ent *e;
    size_t cap, used, max_cap;
    uint64_t records;
    uint64_t *missing; /* per quasi-identifier: records without a value */
    phi_csv_row row;   /* CSV scratch */
} phi_risk_tab;

/* A sorted run spilled to an unlinked temporary file. */
typedef struct phi_risk_run {
    int fd;
    uint64_t n;
} phi_risk_run;

typedef struct phi_risk_hist {
    uint64_t size, classes;
} phi_risk_hist;

/* Results of a count. */
typedef struct phi_risk_res {
    uint64_t records, classes, k_min, records_below_k, classes_below_k, unique;
    phi_risk_hist *hist;
    size_t nhist;
    uint64_t *missing; /* per quasi-identifier */
    uint64_t runs;     /* runs spilled */
} phi_risk_res;

typedef struct phi_risk {
    const phicrypt_deid_policy *pol;
    int fmt;
    const phi_csv_cols *cols; /* CSV: the columns (output index per quasi-identifier) */
    size_t *csv_col;          /* CSV: output column of each quasi-identifier, SIZE_MAX none */
    uint8_t key[32];          /* random, never written */
    size_t budget;            /* bytes of hash tables in all */
    size_t ntabs_max;
    char *tmpdir;
    pthread_mutex_t mu;
    phi_risk_tab **tabs; /* finished tables, waiting for the merge */
    size_t ntabs;
    phi_risk_run *runs;
    size_t nruns, capruns;
    uint64_t spilled;
    int err;         /* a PHICRYPT_E* of a spill */
    char errmsg[256];
    /* suppression: the sorted hashes of the classes below k, in an
     * unlinked file (below_fd); a part of them loaded (below); with more
     * than the budget holds, a bit per record (bitmap) */
    int want_below;
    int below_fd;
    uint64_t nbelow, records_total, passes;
    uint8_t (*below)[16];
    size_t nbelow_loaded, capbelow;
    uint8_t *bitmap;
} phi_risk;

/* `tables`: how many tables will share the budget (workers + 1). */
int phi_risk_init(const void *eh, phi_risk *rk, const phicrypt_deid_policy *p, int fmt, size_t budget,
                  size_t tables, const char *out_path);
void phi_risk_free(phi_risk *rk);
void phi_risk_set_csv(phi_risk *rk, const phi_csv_cols *cols);

phi_risk_tab *phi_risk_tab_new(phi_risk *rk);
/* Counts the output record rec[0..n) (a JSON document, BSON document or
 * CSV row without its line end). */
int phi_risk_add(const void *eh, phi_risk_tab *t, const char *rec, size_t n);
/* Hands a finished table to the run (thread-safe). */
void phi_risk_tab_done(phi_risk_tab *t);
void phi_risk_tab_free(phi_risk_tab *t);

/* Merges every table and run: the results (free with phi_risk_res_free). */
int phi_risk_finish(const void *eh, phi_risk *rk, phi_risk_res *res);
void phi_risk_res_free(phi_risk_res *res);
/* Appends the report's "risk" object (counts and paths only). */
void phi_risk_report(phi_sbuf *b, const phi_risk *rk, const phi_risk_res *res, const phi_risk_res *after,
                     uint64_t sup_records, uint64_t sup_values, uint64_t dropped);

/* The suppression pass: reads the output written so far from `in_fd`
 * (from its start) and writes to `out_fd` the same records, except those
 * whose class (by rk's key) is in rk's below-k set: with drop 0, their
 * quasi-identifier values are replaced ("*" for a string, null otherwise;
 * a missing value stays missing); with drop 1, they are left out. Every
 * record written is counted into `after` (initialised by the caller;
 * phi_risk_finish gives its counts). *records: records concerned; *values:
 * values replaced. */
int phi_risk_suppress(const void *eh, phi_risk *rk, phi_risk *after, int drop, int in_fd, int out_fd,
                      const char *name, uint64_t *records, uint64_t *values, uint64_t *bytes_out);

#endif
