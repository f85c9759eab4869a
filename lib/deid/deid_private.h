/* De-identification engine: policies, path matching, value actions, the
 * record rewriters of each format and the threaded streaming engine.
 *
 * Data flow: a reader cuts the input into batches of whole records; each
 * worker rewrites the records of a batch into an output buffer (only the
 * spans of targeted values change); the writer appends the buffers in batch
 * order. Every record is processed on its own, which is what makes the
 * output independent of the thread count. */
#ifndef PHI_DEID_PRIVATE_H
#define PHI_DEID_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <bson/bson.h>
#include <phicrypt.h>

#define PHI_DEID_MAX_DEPTH 100 /* nesting levels of a record */

/* ---- growable byte buffer (wiped when freed: it may hold PHI) ---- */
typedef struct phi_sbuf {
    char *p;
    size_t len, cap;
    int oom;
} phi_sbuf;
void phi_sbuf_put_slow(phi_sbuf *b, const void *d, size_t n);
/* Appends n bytes (keeps a NUL after them). */
static inline void phi_sbuf_put(phi_sbuf *b, const void *d, size_t n)
{
    if (b->len + n + 1 <= b->cap) {
        if (n)
            __builtin_memcpy(b->p + b->len, d, n);
        b->len += n;
        b->p[b->len] = 0;
        return;
    }
    phi_sbuf_put_slow(b, d, n);
}
static inline void phi_sbuf_putc(phi_sbuf *b, char c)
{
    if (b->len + 2 <= b->cap) {
        b->p[b->len++] = c;
        b->p[b->len] = 0;
        return;
    }
    phi_sbuf_put_slow(b, &c, 1);
}
void phi_sbuf_puts(phi_sbuf *b, const char *s);
void phi_sbuf_printf(phi_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void phi_sbuf_reserve(phi_sbuf *b, size_t n);
void phi_sbuf_free(phi_sbuf *b);
/* Appends `s` as a JSON string literal (quotes and escapes). */
void phi_sbuf_json_str(phi_sbuf *b, const char *s, size_t n);

/* ---- policies ---- */
typedef enum phi_deid_act {
    PHI_ACT_KEEP,
    PHI_ACT_DROP,
    PHI_ACT_REDACT,
    PHI_ACT_MASK,
    PHI_ACT_ENCRYPT,
    PHI_ACT_TOKENIZE,
    PHI_ACT_PSEUDONYMIZE,
    PHI_ACT_GENERALIZE,
    PHI_ACT_DATE_SHIFT,
    PHI_ACT_ZIP3,
    PHI_ACT_AGE,
    PHI_ACT_SCRUB,
    PHI_ACT_COUNT
} phi_deid_act;
const char *phi_deid_act_name(int act);

/* Path segment: a key (`*` is any key), or `[]` (an array's elements). */
enum { PHI_SEG_KEY, PHI_SEG_ANY, PHI_SEG_ELEM };
typedef struct phi_pseg {
    int kind;
    char *key;
    size_t key_len;
} phi_pseg;

typedef struct phi_path {
    phi_pseg *segs;
    size_t n;
} phi_path;
/* Parses `a.b`, `a.*.c`, `a[].c`; PHICRYPT_EINVAL naming `where`. */
int phi_path_parse(const void *eh, const char *where, const char *text, phi_path *out);
void phi_path_free(phi_path *p);

/* Where a value sits in a record: keys and array positions, root first. */
typedef struct phi_pcomp {
    const char *key; /* NULL for an array element */
    size_t key_len;
} phi_pcomp;
/* True when `p` designates the value at `comps`. A key segment also steps
 * over array levels (MongoDB's `a.b` reaches into an array of documents). */
int phi_path_match(const phi_path *p, const phi_pcomp *comps, size_t n);

typedef struct phi_deid_rule {
    char *path_text;  /* as written, or the preset's name for preset rules */
    phi_path path;
    int act;
    int preset;       /* 1: chosen by the Safe Harbor preset from the field name */
    char *with;       /* redact */
    size_t keep_last; /* mask */
    char mask_char;
    char *key;        /* encrypt: key alt name; tokenize, pseudonymize, date_shift, scrub: keyring key */
    int algorithm;    /* encrypt: PHICRYPT_ALG_* */
    char *format;     /* tokenize */
    char *context;    /* tokenize, pseudonymize (default: the path text) */
    uint32_t key_version;
    int gen_month;    /* generalize dates: 0 year, 1 year-month */
    int64_t bucket;   /* generalize numbers: width, 0 none */
    phi_path subject; /* date_shift */
    char *subject_text;
    int max_days;
    int date_of;      /* generalize, date_shift: PHI_DATE_OF_* ("date_of" option, else from the field name) */
    int name_class;   /* PHI_SH_* of the path's last key when the path fixes it, else -1 */
    int email_domain; /* tokenize "email": 1 the domain is encrypted too ("domain" option) */
    int reid_withhold; /* reid through a session (lib/access): PHI_WITHHOLD_* */
} phi_deid_rule;

/* What a date is the date of: the preset aggregates the year of a birth
 * (or death) date that implies an age of 90 or more. */
enum { PHI_DATE_OF_ANY, PHI_DATE_OF_BIRTH, PHI_DATE_OF_DEATH };

/* What reid does with a reversible field the session may not see. */
enum { PHI_WITHHOLD_NONE, PHI_WITHHOLD_KEEP, PHI_WITHHOLD_REDACT, PHI_WITHHOLD_NULL };

/* Set by lib/access on reid: every ciphertext's data key is shown to
 * `key_ok` (from any worker thread) before it is decrypted. */
typedef struct phi_deid_guard {
    int (*key_ok)(void *arg, const uint8_t key_id[16], const struct phi_deid_rule *rule);
    void *arg;
} phi_deid_guard;

enum { PHI_UNKNOWN_ERROR, PHI_UNKNOWN_DROP, PHI_UNKNOWN_KEEP };

struct phicrypt_deid_policy {
    phicrypt_t *ph;
    int unknown;
    int safe_harbor;
    phi_deid_rule *rules;
    size_t nrules;
    /* Preset rules (Safe Harbor), one per action kind, matched by field name. */
    phi_deid_rule preset_rules[PHI_ACT_COUNT];
    int needs_identifiers; /* a scrub rule: collect the record's identifiers first */
    int needs_subjects;    /* a date_shift rule */
    size_t shift_lo, shift_hi, nshift; /* date_shift rules: indices [lo, hi), how many */
    char *scrub_key;       /* key of the first keyed scrub (for consistent tokens), or NULL */
    int ref_y, ref_m, ref_d; /* "reference_date" (default: the day the policy was made), for ages */
    int64_t young_ms;        /* dates from here on (1 January, reference year - 89) imply no age of 90+ */
    /* The risk report (risk_private.h): "quasi_identifiers" and "k". */
    struct phi_risk_qi *qi;
    size_t nqi;
    uint64_t risk_k;
};

/* The Safe Harbor action for a field called `name` (last key of its path),
 * or -1 when the preset does not recognise the name. */
int phi_safe_harbor_action(const char *name, size_t len);
/* What the preset makes of a field name besides its action: */
enum { PHI_SH_DATE = 1, PHI_SH_BIRTH = 2, PHI_SH_DEATH = 4 };
/* PHI_SH_* flags of the last key of a path as reports show it
 * ("visits[].date"): a date name, a date of birth, a date of death. */
int phi_safe_harbor_name_class(const char *path);
/* The i-th restricted three-digit ZIP prefix the zip3 action writes as
 * 000 (HHS, 2000 census), or NULL past the last: for the run manifest. */
const char *phi_zip3_restricted(size_t i);
/* True for actions that treat the value as an identifier (used by scrub to
 * find the record's own identifiers in its free text). */
int phi_deid_act_is_identifier(int act);

/* ---- values ---- */
enum { PHI_DV_NULL, PHI_DV_BOOL, PHI_DV_NUM, PHI_DV_STR, PHI_DV_DATE, PHI_DV_EXT, PHI_DV_OBJ, PHI_DV_ARR };
/* How a date was written, so that a rewritten one keeps its form. */
enum { PHI_DF_DAY, PHI_DF_ISO, PHI_DF_EXT_ISO, PHI_DF_EXT_LONG, PHI_DF_EXT_NUM, PHI_DF_BSON };

typedef struct phi_dv {
    int kind;
    const char *s; /* STR: decoded UTF-8; NUM: number text; EXT: raw JSON */
    size_t n;
    int64_t ms;    /* DATE: milliseconds since the epoch */
    int date_form;
    int ms_frac;   /* ISO: had fractional seconds */
    int oid;       /* an ObjectId (BSON, or {"$oid": ...}) */
    const char *json; /* the value's JSON text (JSON formats), or NULL */
    size_t json_len;
    const bson_iter_t *iter; /* BSON format, or NULL */
} phi_dv;

enum { PHI_OUT_SAME, PHI_OUT_DROP, PHI_OUT_STR, PHI_OUT_DATE, PHI_OUT_BSON, PHI_OUT_NULL };
typedef struct phi_dout {
    int op;
    phi_sbuf text;     /* STR */
    int64_t ms;        /* DATE (form of the input) */
    phicrypt_buf bson; /* BSON: {"v": value} */
} phi_dout;

/* A JSON-style decimal number, without strtod (whose decimal point
 * follows the process locale): 1 and *v on success, 0 if not a number or
 * out of a double's range. */
int phi_parse_decimal(const char *s, size_t n, double *v);

/* Dates: ISO 8601 text <-> milliseconds (UTC). Calendar arithmetic is done
 * within ECMAScript's range, +-100,000,000 days from 1970; a BSON or
 * Extended JSON date beyond it (a corrupt value) is still a date, but date
 * rules redact it instead of computing a year that would overflow. */
#define PHI_DATE_MS_MAX INT64_C(8640000000000000)
static inline int phi_date_ms_ok(int64_t ms) { return ms >= -PHI_DATE_MS_MAX && ms <= PHI_DATE_MS_MAX; }
int phi_date_parse(const char *s, size_t n, int64_t *ms, int *form, int *frac);
void phi_date_format(phi_sbuf *b, int64_t ms, int form, int frac);
void phi_civil_from_ms(int64_t ms, int *y, int *m, int *d);
int64_t phi_ms_from_civil(int y, int m, int d);

/* ---- per-record context ---- */
typedef struct phi_ident {
    size_t off, n;       /* the value, in the record's identifier arena */
    size_t loff, ln;     /* its placeholder label ("NAME"), in the arena */
    char first;          /* lower-cased first byte: a quick reject */
} phi_ident;

typedef struct phi_count_ent {
    char *path;
    size_t len;
    int act;
    uint64_t count;
} phi_count_ent;

/* Counts per (path, action), unknown fields and bad records of one batch
 * (merged into the run's report in order). */
typedef struct phi_deid_stats {
    phi_count_ent *ents;
    size_t n, cap;
    size_t hint; /* records repeat their fields in order: try the next entry first */
    char **unknown;
    size_t nunknown, capunknown;
    phi_sbuf bad; /* JSON objects of the bad records, comma-separated */
    uint64_t nbad;
    /* Hash indexes of ents and unknown (1 + index, 0 empty), so that
     * records with ever new field names cost the same as any other. */
    uint32_t *slots, *uslots;
    size_t nslots, nuslots;
} phi_deid_stats;
/* Distinct paths listed per run; past it, new paths are counted under the
 * path PHI_STATS_OTHER (per action) so that memory stays bounded. */
#define PHI_STATS_MAX_PATHS 10000
#define PHI_STATS_OTHER "(other paths)"
/* Counts one `act` on `path`; returns its entry's index (SIZE_MAX: out of memory). */
size_t phi_stats_count(phi_deid_stats *st, const char *path, size_t len, int act);
void phi_stats_unknown(phi_deid_stats *st, const char *path, size_t len);
void phi_stats_merge(phi_deid_stats *into, const phi_deid_stats *from);
void phi_stats_free(phi_deid_stats *st);

/* Paths seen by one worker (see pathstack.c): node 0 is the root; each
 * other node is a parent node plus a key or an array level. */
#define PHI_PNODE_NONE UINT32_MAX
typedef struct phi_pnode {
    uint64_t hash;
    uint32_t parent;
    uint32_t key_len;             /* UINT32_MAX: an array level */
    size_t key_off;               /* in the arena */
    size_t text_off, text_len;    /* the path as reports show it, in the arena */
    const struct phi_deid_rule *rule;
    int rule_known;
    uint32_t first, next;         /* hints: the first child, the next sibling seen last (0 none) */
    int stat_act;                 /* 1 + the action of stat_idx, or 0 */
    size_t stat_idx;              /* its entry in the worker's statistics */
} phi_pnode;

typedef struct phi_ptable {
    phi_pnode *nodes;
    uint32_t n, cap;
    uint32_t *slots; /* open addressing: node ids, 0 empty */
    size_t nslots;
    phi_sbuf arena;
    uint64_t misses; /* paths that did not fit */
} phi_ptable;
void phi_ptable_free(phi_ptable *t);
/* Between records: empties a table whose paths keep missing. */
void phi_ptable_record_start(phi_ptable *t);

/* A scrub deferred to the end of its record (JSON): where its output goes
 * and the value's span in the input. */
typedef struct phi_deferred {
    size_t out_off, v0, v1;
    const struct phi_deid_rule *rule;
} phi_deferred;

/* A date_shift rule's subject in the current record, and the shift it
 * gives: one pseudonym per record and rule, not one per date. */
typedef struct phi_subject {
    char *value; /* or NULL */
    int64_t days;
    int have_days;
} phi_subject;

typedef struct phi_deid_rec {
    const phicrypt_deid_policy *pol;
    phicrypt_t *ph;
    const void *eh;   /* error handle of this worker */
    int reid;
    const phi_deid_guard *guard; /* or NULL */
    phi_deid_stats *st;
    /* identifiers of the current record (scrub) and date_shift subjects */
    phi_ident *ids;
    size_t nids, capids;
    phi_sbuf idarena;
    phi_subject *subjects; /* per rule index */
    size_t nsubjects;
    size_t nsubjects_found; /* date_shift rules whose subject is known */
    int collecting;  /* first pass: only collect */
    char where[160];  /* "FILE: line 12" / "FILE: byte 1234", formatted only for messages */
    const char *where_file; /* NULL: `where` is already set */
    uint64_t where_pos;
    int where_is_byte;
    uint64_t where_rec; /* 1-based record number (BSON messages), 0 unknown */
    unsigned char *rule_hit; /* per explicit rule: set once it matched a value (or NULL) */
    phi_ptable pt;
    /* Scratch kept across the records of a batch: decoded strings and
     * action results (str, dtext: wiped at the next record, up to their
     * longest use), JSON's deferred scrubs (text, tail: wiped after use). */
    phi_sbuf str, dtext, text, tail;
    size_t str_used, dtext_used; /* the longest use of str and dtext since the last wipe */
    phi_deferred *dfr;
    size_t capdfr;
    /* This worker's copies of the keyring keys its keyed actions use,
     * made on first use and freed with the record context (once per
     * batch), which is when keyring changes are picked up. */
    struct phi_kr_local *keys;
    /* scrub: the index of the record's identifiers, rebuilt when ids_gen
     * moves (a new record, an identifier added), and a memo of short texts
     * in which no recogniser matched (see scrub.c); both freed (the memo
     * wiped) with the record context. */
    struct phi_id_index *idx;
    unsigned ids_gen, idx_gen;
    struct phi_scrub_memo *memo;
    struct phi_gate *gate; /* the residual-PHI gate (gate.c), or NULL */
} phi_deid_rec;

/* The path of the value being rewritten: its components, and its node in
 * the worker's table (PHI_PNODE_NONE when it did not fit). */
typedef struct phi_pstack {
    phi_deid_rec *r;
    phi_pcomp comps[PHI_DEID_MAX_DEPTH + 2];
    char *owned[PHI_DEID_MAX_DEPTH + 2]; /* decoded keys that had escapes */
    uint32_t node[PHI_DEID_MAX_DEPTH + 3]; /* node[k]: of the first k components */
    uint32_t sib[PHI_DEID_MAX_DEPTH + 4];  /* sib[k]: the last node[k] popped under node[k-1] */
    size_t nc;
    phi_sbuf text; /* the path text of a value whose node did not fit */
} phi_pstack;
void phi_ps_init(phi_pstack *ps, phi_deid_rec *r);
/* Enters a key (`owned`: freed on pop) or, with key NULL, an array level. */
void phi_ps_push(phi_pstack *ps, const char *key, size_t len, char *owned);
void phi_ps_pop(phi_pstack *ps);
void phi_ps_free(phi_pstack *ps);
/* The current path as text ("visits[].date"), its rule, and a count of
 * `act` on it in the record's statistics. */
const char *phi_ps_path(phi_pstack *ps, size_t *len);
const struct phi_deid_rule *phi_ps_rule(phi_pstack *ps);
void phi_ps_count(phi_pstack *ps, int act);
void phi_rec_reset(phi_deid_rec *r);
/* An action result whose text buffer is the worker's (no allocation per
 * value), and its return: the buffer is kept for the next value and wiped
 * by phi_rec_reset at the next record. */
void phi_dout_begin(phi_deid_rec *r, phi_dout *o);
void phi_dout_end(phi_deid_rec *r, phi_dout *o);
/* Wipes a scratch buffer up to the longest of its uses (`*used`, or its
 * length) and empties it. */
void phi_scratch_wipe(phi_sbuf *b, size_t *used);
/* Where the current record is, for an error message. */
const char *phi_rec_where(phi_deid_rec *r);
void phi_rec_free(phi_deid_rec *r);
/* During the collect pass: remembers a value of a rule's field. */
void phi_rec_collect(phi_deid_rec *r, const phi_deid_rule *rule, size_t rule_index, const phi_pcomp *comps, size_t n,
                     const phi_dv *v);
/* The date_shift subject fields are found by path, not by rule: */
void phi_rec_collect_subject(phi_deid_rec *r, const phi_pcomp *comps, size_t n, const phi_dv *v);

/* The rule for the value at `comps`: the first explicit rule that
 * matches, else the preset's (from the last key), else NULL. */
const phi_deid_rule *phi_rule_for(const phicrypt_deid_policy *p, const phi_pcomp *comps, size_t n);
/* Notes that `rule` matched a value (for the "rule matched nothing"
 * warning). Called once per distinct path, not per value. */
static inline void phi_rec_hit(phi_deid_rec *r, const phi_deid_rule *rule)
{
    if (rule && !rule->preset && r->rule_hit)
        r->rule_hit[rule - r->pol->rules] = 1;
}

/* One container semantics for every format. The rule of a value, given
 * the rule inherited from its containers: an explicit rule on a container
 * takes every value inside it; a preset rule is only the fallback of the
 * values the preset does not name itself. */
static inline const phi_deid_rule *phi_rule_pick(const phi_deid_rule *own, const phi_deid_rule *inherited)
{
    if (inherited && !inherited->preset)
        return inherited;
    /* Free text inside a preset identifier is that identifier, not notes:
     * a FHIR HumanName's "text" ({"name": {"text": "Ryan Jackson"}}), an
     * address's "text"; redacted, and one of the record's identifiers. */
    if (own && inherited && own->preset && own->act == PHI_ACT_SCRUB && inherited->act == PHI_ACT_REDACT)
        return inherited;
    return own ? own : inherited;
}
static inline const phi_deid_rule *phi_rule_resolve(phi_pstack *ps, const phi_deid_rule *inherited)
{
    if (inherited && !inherited->preset)
        return inherited;
    return phi_rule_pick(phi_ps_rule(ps), inherited);
}
/* The rule of a CSV column (a dotted path, array items numbered), as the
 * JSON walk reaches the same value: rules on the containers above it
 * count (telecom.0.value is a value of the preset's "telecom"). */
const phi_deid_rule *phi_rule_for_column(const phicrypt_deid_policy *p, const phi_pcomp *comps, size_t n);
/* An object or array whose rule is `rule`: 1 when the rule takes it
 * whole (an explicit keep, drop, redact, encrypt, pseudonymize; a preset
 * drop), else 0 and *child is the rule its values inherit. A preset keep
 * (diagnoses, reason ...) never keeps a subtree verbatim: it is walked. */
int phi_container_whole(const phi_deid_rule *rule, const phi_deid_rule *inherited, const phi_deid_rule **child);
/* The rule of a scalar after its type is seen: under the preset, a value
 * no explicit rule covers and the preset would keep (or does not know) is
 * still a date element when it is a date (BSON or Extended JSON date or
 * timestamp, ISO 8601 text), and an identifier when it is an ObjectId (it
 * carries its creation time). */
const phi_deid_rule *phi_rule_for_value(const phicrypt_deid_policy *p, const phi_deid_rule *rule, const phi_dv *v);
/* 1 when v is an ObjectId as mongoexport writes it in CSV text
 * ("ObjectId(" 24 hex digits ")"): the same value as a BSON ObjectId. */
int phi_oid_text(const phi_dv *v);

/* Applies a rule's action to a value (deid, or reid when r->reid). */
int phi_action_apply(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const phi_dv *v, phi_dout *out);
/* Keyed actions (lib/token present, else stubs returning EUNSUPPORTED). */
int phi_act_tokenize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const char *s, size_t n,
                     phi_sbuf *out);
int phi_act_detokenize(phi_deid_rec *r, const phi_deid_rule *rule, const char *path, const char *s, size_t n,
                       phi_sbuf *out);
int phi_act_pseudonym(phi_deid_rec *r, const char *key, const char *context, const char *s, size_t n,
                      phi_sbuf *out);
/* The same into a caller's buffer of cap bytes (PHI_DEID_PSEUDONYM_CAP
 * always suffices): NUL-terminated text, its length in *out_len. */
#define PHI_DEID_PSEUDONYM_CAP 80
int phi_act_pseudonym_text(phi_deid_rec *r, const char *key, const char *context, const char *s, size_t n, char *out,
                           size_t cap, size_t *out_len);
/* Frees (wipes) r->keys. */
void phi_act_keys_free(phi_deid_rec *r);
/* Checks, before any input is read, that the keys a policy names exist:
 * keyring keys (`names`, n of them) and data key alt names. Errors name
 * the JSON location `where[i]`. */
int phi_deid_check_keys(phicrypt_t *ph, const char *const *names, const char *const *where, const int *is_data_key,
                        size_t n);
/* phicrypt_reid_file without the access/audit gate, `guard` optional. */
int phi_reid_file_raw(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_deid_policy *p, const char *in_path,
                      const char *out_path, const phicrypt_deid_opts *opts, const phi_deid_guard *guard);
/* Scrubs free text into `out`. */
int phi_scrub(phi_deid_rec *r, const phi_deid_rule *rule, const char *s, size_t n, phi_sbuf *out);
/* Frees scrub's per-worker index and memo (the memo wiped). */
void phi_scrub_free(phi_deid_rec *r);
/* Whether values under the field name key[0..n) are names of people. */
int phi_scrub_is_name(const char *key, size_t n);
/* Adds a value of the record (label at loff, ln in the arena) to what scrub
 * looks for in its text: folded, with its words; names at any length. */
void phi_scrub_add_ident(phi_deid_rec *r, const char *s, size_t n, size_t loff, size_t ln, int name);

/* ---- formats ---- */
/* Rewrites one JSON document (a record) into `out`. */
int phi_json_rewrite(phi_deid_rec *r, const char *s, size_t n, phi_sbuf *out);
/* A CSV cell holding a JSON object or array at the column's path (what
 * mongoexport writes for nested values), treated as the same value in a
 * JSON record: collected (r->collecting) or rewritten into `out`. 1 when
 * the cell is not JSON object or array text, else 0 or an error. */
int phi_json_cell(phi_deid_rec *r, const phi_pcomp *comps, size_t nc, const char *s, size_t n, phi_sbuf *out);
/* Rewrites one BSON document into `out` (BSON bytes). */
int phi_bson_rewrite(phi_deid_rec *r, const uint8_t *d, size_t n, phi_sbuf *out);

/* CSV: the header decides each column's rule once. */
typedef struct phi_csv_cols {
    size_t n;
    char **names;
    phi_pcomp **comps;
    size_t *ncomps;
    const phi_deid_rule **rules;
    int *drop;
    int *unknown;
    char sep;
    int crlf; /* the header ended with CRLF: so does a last record without a line end */
} phi_csv_cols;
/* Reads the header `s` (without its line end) into `cols` and writes the
 * output header, ended like the input's (`crlf`). `sep`: the delimiter;
 * `sep_given` 0 when it is the default ',' (a one-column header that holds
 * ';', '|' or a tab is then refused). */
int phi_csv_header(phi_deid_rec *r, const char *s, size_t n, char sep, int sep_given, int crlf, phi_csv_cols *cols,
                   phi_sbuf *out);
int phi_csv_rewrite(phi_deid_rec *r, const phi_csv_cols *cols, const char *s, size_t n, phi_sbuf *out);
void phi_csv_cols_free(phi_csv_cols *c);
/* One CSV row split into fields (RFC 4180): raw spans and decoded text. */
typedef struct phi_csv_row {
    size_t n, cap;
    size_t *raw_off, *raw_len; /* in the row text */
    size_t *dec_off, *dec_len; /* in `dec` */
    phi_sbuf dec;
} phi_csv_row;
/* 0, or PHICRYPT_EBADDATA with the reason in *why. */
int phi_csv_split(const char *s, size_t n, char sep, phi_csv_row *row, const char **why);
void phi_csv_row_free(phi_csv_row *row);
/* Appends a CSV field, quoting it when needed. */
void phi_csv_put_field(phi_sbuf *b, const char *s, size_t n, char sep);

/* ---- readers: cut the input into whole records ---- */
typedef struct phi_span {
    size_t off, len;
    uint64_t line;    /* 1-based line of the record's start (text formats) */
    uint64_t byte;    /* byte offset of the record in the input */
} phi_span;

typedef struct phi_reader {
    FILE *f;
    int fmt;
    const char *name;
    int eof;
    uint64_t line;  /* next line number */
    uint64_t byte;  /* offset of carry[0] in the input */
    char *carry;    /* bytes read but not yet handed out */
    size_t carry_len, carry_cap;
    int array_state; /* JSON array: 0 before '[', 1 inside, 2 after ']' */
    int need_sep;
    uint64_t records; /* records cut or skipped so far */
    int bom;          /* the input started with a UTF-8 BOM (not part of any record) */
    int crlf;         /* CSV: the header line ended with CRLF */
    /* With skip_bad, a record over PHICRYPT_DEID_MAX_RECORD is read past
     * without being kept, and listed in `skipped` (report objects). */
    int skip_bad;
    int skipping;
    uint64_t skip_left; /* BSON: bytes of the record still to skip */
    int skip_depth, skip_str, skip_esc; /* JSON array: where the skipped value is */
    uint64_t skip_line, skip_byte; /* where the skipped record starts */
    phi_sbuf skipped;
    uint64_t nskipped;
} phi_reader;
/* Fills `buf` with whole records (about `target` bytes) and their spans.
 * Records skipped before them (skip_bad) are in rd->skipped. */
int phi_reader_next(const void *eh, phi_reader *rd, phi_sbuf *buf, phi_span **spans, size_t *nspans,
                    size_t *cap_spans, size_t target);
/* CSV: reads the header line. */
int phi_reader_csv_header(const void *eh, phi_reader *rd, phi_sbuf *line);

#endif
