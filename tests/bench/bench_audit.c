/* Audit append latency and throughput: phi_audit_write (the call every
 * disclosure path makes) N times on one configuration.
 *   bench_audit CONFIG N [cp]   prints "appends N seconds S per_append_us U lines_per_s R"
 * With "cp" every append is followed by phicrypt_audit_checkpoint() (v2
 * only), which gives the cost of one checkpoint by difference.
 * The same file compiles against the audit log v1 code (tests/bench/bench_audit.sh
 * builds both), so old and new are measured in one run on one machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <phicrypt.h>
#include "audit/audit_private.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#ifdef PHICRYPT_AUDIT_VERIFY_OPTS_VERSION
static int checkpoint(phicrypt_t *ph)
{
    return phicrypt_audit_checkpoint(ph);
}
#else
static int checkpoint(phicrypt_t *ph)
{
    (void)ph;
    return -1; /* audit log v1 has no checkpoints */
}
#endif

int main(int argc, char **argv)
{
    phicrypt_t *ph = NULL;
    phi_audit_event ev;
    const char *fields[] = { "ssn", "diagnosis" };
    uint8_t kid[1][16] = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };
    long n;
    double t0, t1;
    int cp = argc == 4 && strcmp(argv[3], "cp") == 0;
    if ((argc != 3 && !cp) || (n = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: bench_audit CONFIG N [cp]\n");
        return 2;
    }
    if (phicrypt_new_from_file(&ph, argv[1]) != 0) {
        fprintf(stderr, "bench_audit: %s\n", phicrypt_errmsg(NULL));
        return 1;
    }
    memset(&ev, 0, sizeof ev);
    ev.actor = "clerk";
    ev.role = "billing";
    ev.purpose = "PAYMENT";
    ev.op = "decrypt";
    ev.ns = "hospital.patients";
    ev.outcome = "ok";
    ev.fields = fields;
    ev.n_fields = 2;
    ev.key_ids = (const uint8_t(*)[16])kid;
    ev.n_key_ids = 1;
    ev.count = 1;
    ev.subject = "MRN-0000042";
    ev.subject_len = strlen(ev.subject);
    /* The first append creates the keys: not part of the measurement. */
    if (phi_audit_write(ph, &ev) != 0) {
        fprintf(stderr, "bench_audit: %s\n", phicrypt_errmsg(ph));
        return 1;
    }
    t0 = now();
    for (long i = 0; i < n; i++)
        if (phi_audit_write(ph, &ev) != 0 || (cp && checkpoint(ph) != 0)) {
            fprintf(stderr, "bench_audit: %s\n", phicrypt_errmsg(ph));
            return 1;
        }
    t1 = now();
    phicrypt_free(ph);
    printf("appends %ld seconds %.3f per_append_us %.1f lines_per_s %.0f\n", n, t1 - t0, (t1 - t0) * 1e6 / (double)n,
           (double)n / (t1 - t0));
    return 0;
}
