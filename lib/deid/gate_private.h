/* The residual-PHI gate: every raw value a run transforms is remembered,
 * as a keyed hash of its folded words (never the value), for the length
 * of its record; the record's output is then scanned once and any of those
 * word sequences found again in it (any field, any position, any case) is
 * a hit, named by the field path it came from, its identifier class and
 * where it survived, never by its value.
 *
 * Why words: a value survives as "Noah Okafor", "NOAH  OKAFOR" or
 * "noah-okafor" alike, so values and output are both cut into runs of
 * letters, digits and non-ASCII bytes ("tokens"), ASCII letters
 * lower-cased. A value is a sequence of up to PHI_GATE_MAX_TOKENS tokens.
 * Why cheap: the scan hashes each output byte once (FNV-1a, keyed), and at
 * each token end a polynomial rolling hash over the last tokens gives the
 * hash of every remembered sequence length in O(1); each is one probe of a
 * small open-addressing table. */
#ifndef PHI_DEID_GATE_PRIVATE_H
#define PHI_DEID_GATE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "deid/deid_private.h"

#define PHI_GATE_MAX_TOKENS 16
/* Hits listed in a report (the count goes on). */
#define PHI_GATE_MAX_FINDINGS 100

/* The run's hash key (random, in memory only). */
typedef struct phi_gate_key {
    uint64_t k0, k1, base;
} phi_gate_key;
int phi_gate_key_new(phi_gate_key *k);

typedef struct phi_gate_src {
    size_t path_off, path_len; /* in `paths` */
    const struct phi_deid_rule *rule; /* its class: phi_gate_class(rule, path) */
} phi_gate_src;

#define PHI_GATE_NAMEC 256
#define PHI_GATE_NPLACEHOLDERS 26
typedef struct phi_gate_namec {
    uint64_t h; /* hash of a path (0: none) */
    int names;  /* its class is names */
} phi_gate_namec;

/* The words of an action's replacement text, as hashes. */
typedef struct phi_gate_own {
    uint64_t h[64];
    size_t n;
} phi_gate_own;

/* One worker's gate (a record at a time). */
typedef struct phi_gate {
    phi_gate_key key;
    uint64_t pow[PHI_GATE_MAX_TOKENS + 1]; /* base^k */
    uint64_t kc[PHI_GATE_MAX_TOKENS + 1];  /* what tells sequence lengths apart in the table */
    uint64_t last[4];                      /* bloom of the last words of remembered sequences */
    uint64_t *tab;                         /* 0: empty slot */
    uint32_t *tsrc;                        /* per slot: its source */
    uint32_t *used;                        /* slots filled in this record */
    size_t cap, n;
    uint32_t kmask; /* bit k: a sequence of k tokens is remembered */
    phi_gate_src *srcs;
    size_t nsrc, capsrc;
    phi_sbuf paths;
    phi_gate_namec namec[PHI_GATE_NAMEC];
    uint64_t placeholder[PHI_GATE_NPLACEHOLDERS]; /* word hashes of "unknown", "none" ... */
    /* The last replacement text seen and its words (most are "[REDACTED]"). */
    char own_text[32];
    size_t own_len;
    phi_gate_own own;
    uint64_t values; /* values remembered in the run so far (this worker) */
    int oom;
} phi_gate;

void phi_gate_init(phi_gate *g, const phi_gate_key *key);
void phi_gate_free(phi_gate *g);
/* Forgets the previous record's values. */
void phi_gate_record_start(phi_gate *g);
/* Remembers the raw value `v` of `path` that `rule` transformed into `o`. */
void phi_gate_remember(phi_gate *g, const phi_deid_rule *rule, const char *path, const phi_dv *v, const phi_dout *o);

/* A remembered value found in s[0..n): where (byte offset) and whose. */
typedef struct phi_gate_hit {
    size_t at;
    size_t src;
} phi_gate_hit;
/* Scans one output record (`json`: decode JSON string escapes). 1 and *hit
 * on the first remembered value found, else 0. s[n] must be readable and
 * not a letter or digit (a NUL, as phi_sbuf keeps after its bytes). */
int phi_gate_scan(const phi_gate *g, const char *s, size_t n, int json, phi_gate_hit *hit);

/* The HIPAA identifier class of a field path, from its last key (e.g.
 * "names", "telephone numbers"), else a description of the rule. */
const char *phi_gate_class(const phi_deid_rule *rule, const char *path);

/* The field path (as reports show it) of the byte at `at` of one output
 * record of format `fmt` (PHICRYPT_DEID_*), into `out`; CSV needs the
 * column names and separator. */
void phi_gate_locate(int fmt, const char *rec, size_t n, size_t at, char *const *csv_names, size_t ncols, char sep,
                     phi_sbuf *out);

#endif
