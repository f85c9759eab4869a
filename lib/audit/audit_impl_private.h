/* Inside lib/audit only: the audit object, the locked log, text building. */
#ifndef PHI_AUDIT_IMPL_PRIVATE_H
#define PHI_AUDIT_IMPL_PRIVATE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "audit/anchor_mongo_private.h"
#include "audit/audit_private.h"

typedef struct phi_audit_kcache {
    int which;
    uint32_t version;
    uint8_t *material; /* secure memory, 32 bytes */
    struct phi_audit_kcache *next;
} phi_audit_kcache;

/* Where the newest anchored checkpoint was last found in the log, so that
 * the next check is one pread (the bytes are compared every time). */
typedef struct phi_audit_acache {
    int valid;
    dev_t dev;
    ino_t ino;
    int64_t seq;
    off_t off;
    /* The anchor's newest line as last read, and the file state it came
     * from: while the anchor is unchanged it is not read again. */
    char *line;
    size_t len;
    int64_t a_seq;
    dev_t a_dev;
    ino_t a_ino;
    off_t a_size;
    struct timespec a_mtime;
} phi_audit_acache;

struct phi_audit {
    char *path;
    char *subject_field;
    int fsync_each;
    int64_t cp_lines, cp_ms;
    char **anchors;            /* NULL-terminated anchor file paths (a MongoDB
                                * anchor's entry is its name), or NULL */
    phi_audit_manchor **manchors; /* one per anchor: the MongoDB anchor, or NULL */
    phi_audit_keys keys;
    pthread_mutex_t mu;        /* guards the members below */
    phi_audit_kcache *kcache;
    phi_audit_acache *acache;  /* one per anchor */
    int64_t last_cp_ms;        /* this process's last checkpoint (0: none yet) */
    /* The log id (line 1's chain) of the file last seen: line 1 is not
     * read again while the file is the same. */
    int lid_valid;
    dev_t lid_dev;
    ino_t lid_ino;
    uint8_t lid[16];
    int dirty;                 /* appended since this process's last checkpoint */
};

/* What the log's last complete line says. */
typedef struct phi_audit_tail {
    int64_t seq;               /* 0: empty log */
    uint8_t chain[32];
    uint32_t kv, skv;          /* versions the next line names */
    int is_checkpoint;
    uint8_t log_id[16];        /* line 1's chain, truncated */
    int have_log_id;
    off_t size;                /* file size */
    int torn;                  /* the file ends in an incomplete line ... */
    off_t frag_start;          /* ... that starts here */
} phi_audit_tail;

/* Parsed members of a line. */
typedef struct phi_audit_meta {
    int64_t seq;
    int64_t kv, skv, kv_new;   /* -1 when absent */
    char op[32];
} phi_audit_meta;
int phi_audit_meta_parse(const char *line, size_t len, phi_audit_meta *m);

typedef struct phi_audit_lock {
    int fd, rfd, created, checkpointed;
    phi_audit_tail tail;
    size_t cp_start, cp_len;   /* the checkpoint line in the commit buffer */
    off_t cp_off;              /* ... and in the file */
    int64_t cp_seq;
    /* The first anchor the log is behind (check mode 2). */
    int behind;
    int64_t behind_seq;
    uint8_t behind_sha[32];
    char behind_why[160];
} phi_audit_lock;

typedef struct phi_sbuf {
    char *p;
    size_t n, cap;
    int oom;
} phi_sbuf;
void phi_sb_add(phi_sbuf *b, const char *s, size_t n);
void phi_sb_lit(phi_sbuf *b, const char *s);
void phi_sb_field(phi_sbuf *b, const char *name, const char *s);
void phi_sb_int(phi_sbuf *b, const char *name, int64_t v);
void phi_sb_hex(phi_sbuf *b, const char *name, const uint8_t *bin, size_t n);
void phi_sb_time(phi_sbuf *b);

phi_audit *phi_audit_of(const phicrypt_t *ph);
int64_t phi_audit_now_ms(void);
int phi_audit_key(phicrypt_t *ph, int which, uint32_t version, uint32_t *got, const uint8_t **mat);

/* Opens and locks the log and reads its tail. anchors: 0 no check, 1
 * refuse when behind an anchor, 2 record it in lk->behind. */
int phi_audit_lock_open(phicrypt_t *ph, phi_audit_lock *lk, int anchors);
void phi_audit_lock_close(phicrypt_t *ph, phi_audit_lock *lk, int appended);
size_t phi_audit_line_begin(phi_sbuf *b, const phi_audit_tail *t);
void phi_audit_line_end(phi_sbuf *b, size_t start, phi_audit_tail *t);
int phi_audit_add_checkpoint(phicrypt_t *ph, phi_audit_lock *lk, phi_sbuf *b, uint32_t kv_new);
int phi_audit_commit(phicrypt_t *ph, phi_audit_lock *lk, const phi_sbuf *b);
/* Copies the committed checkpoint (if any) to every anchor. */
int phi_audit_anchor_out(phicrypt_t *ph, phi_audit_lock *lk, const phi_sbuf *b);

/* The last complete line of an open file: *line (malloc'd, NUL-terminated,
 * no newline) or NULL when there is none; *start its offset; *end_torn
 * where an incomplete last line starts (== size when none). */
int phi_audit_last_line(int fd, off_t size, char **line, size_t *len, off_t *start, off_t *end_torn);

#endif
