/* Helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

const char *cli_config_path;
const char *cli_key_vault;
const char *cli_key_vault_ns;

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("phicrypt: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_ERR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("phicrypt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'phicrypt %s --help'.\n", cmd);
    return EXIT_USAGE;
}

int cli_lib_fail(const phicrypt_t *ph, int rc, const char *what)
{
    return cli_fail("%s: %s (%s)", what, phicrypt_errmsg(ph), phicrypt_strerror(rc));
}

int cli_open(phicrypt_t **ph)
{
    const char *path = cli_config_path;
    int rc;
    if (!path)
        path = getenv("PHICRYPT_CONFIG");
    if (!path || !*path) {
        if (access("phicrypt.json", R_OK) == 0)
            path = "phicrypt.json";
        else
            return cli_fail("no configuration: pass --config FILE or set PHICRYPT_CONFIG "
                            "(create one with 'phicrypt init --dir DIR')");
    }
    phicrypt_open_opts opts = PHICRYPT_OPEN_OPTS_INIT;
    opts.key_vault = cli_key_vault;
    opts.key_vault_namespace = cli_key_vault_ns;
    rc = phicrypt_new_from_file_opts(ph, path, &opts);
    if (rc != 0) /* the message says key_vault: say where that value came from */
        return cli_fail("%s (%s)%s", phicrypt_errmsg(NULL), phicrypt_strerror(rc),
                        cli_key_vault || cli_key_vault_ns ? " (key vault given by --key-vault/--key-vault-namespace)"
                                                          : "");
    return EXIT_OK;
}

char *cli_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap) {
            char *nb = cap < (16u << 20) ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}

int cli_read_stdin(char **out, size_t *len, size_t limit)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return cli_fail("out of memory");
    for (;;) {
        size_t r;
        if (n + 1 >= cap) {
            char *nb;
            if (cap >= limit) {
                cli_wipe_free(buf, cap);
                return cli_fail("standard input is larger than %zu bytes", limit);
            }
            /* Grow by copying so the old plaintext can be wiped. */
            nb = malloc(cap * 2);
            if (!nb) {
                cli_wipe_free(buf, cap);
                return cli_fail("out of memory");
            }
            memcpy(nb, buf, n);
            cli_wipe_free(buf, cap);
            buf = nb;
            cap *= 2;
        }
        r = fread(buf + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) {
            if (ferror(stdin)) {
                cli_wipe_free(buf, cap);
                return cli_fail("reading standard input: %s", strerror(errno));
            }
            break;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n; /* bytes past n never held input: wiping n + 1 bytes suffices */
    return EXIT_OK;
}

int cli_each_input(int lines, size_t limit, cli_input_fn fn, void *arg)
{
    char *in = NULL, *p;
    size_t len = 0, lineno = 0;
    int rc = EXIT_OK;
    if (cli_read_stdin(&in, &len, limit) != 0)
        return EXIT_ERR;
    if (!lines) {
        rc = fn(in, 0, arg);
    } else {
        for (p = in; rc == EXIT_OK && *p;) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            lineno++;
            if (p[strspn(p, " \t\r")] != '\0')
                rc = fn(p, lineno, arg);
            p = nl ? nl + 1 : p + strlen(p);
        }
    }
    cli_wipe_free(in, len + 1);
    return rc;
}

int cli_fail_input(const phicrypt_t *ph, int rc, size_t lineno)
{
    if (lineno)
        return cli_fail("standard input line %zu: %s (%s)", lineno, phicrypt_errmsg(ph), phicrypt_strerror(rc));
    return cli_fail("%s (%s)", phicrypt_errmsg(ph), phicrypt_strerror(rc));
}

void cli_wipe_free(char *p, size_t len)
{
    if (p) {
        sodium_memzero(p, len);
        free(p);
    }
}

int cli_parse_uuid(uint8_t id[16], const char *text)
{
    size_t n = 0;
    if (!text)
        return -1;
    for (const char *p = text; *p; p++) {
        int v;
        if (*p == '-')
            continue;
        if (*p >= '0' && *p <= '9') v = *p - '0';
        else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F') v = *p - 'A' + 10;
        else return -1;
        if (n >= 32)
            return -1;
        if (n % 2 == 0)
            id[n / 2] = (uint8_t)(v << 4);
        else
            id[n / 2] |= (uint8_t)v;
        n++;
    }
    return n == 32 ? 0 : -1;
}

void cli_format_uuid(char out[37], const uint8_t id[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o] = '\0';
}

void cli_compact_json(char *s)
{
    size_t o = 0;
    int in_str = 0, esc = 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (in_str) {
            s[o++] = c;
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            if (c == '"')
                in_str = 1;
            s[o++] = c;
        }
    }
    s[o] = '\0';
}

int cli_session_opt(cli_session_opts *o, int c, const char *arg)
{
    switch (c) {
    case CLI_OPT_ACTOR: o->actor = arg; return 1;
    case CLI_OPT_ROLE: o->role = arg; return 1;
    case CLI_OPT_PURPOSE: o->purpose = arg; return 1;
    case CLI_OPT_SUBJECT: o->subject = arg; return 1;
    case CLI_OPT_FIELD: o->field = arg; return 1;
    case CLI_OPT_NS: o->ns = arg; return 1;
    default: return 0;
    }
}

int cli_session_from_opts(phicrypt_t *ph, const char *cmd, const cli_session_opts *o, phicrypt_session *out,
                          int *use)
{
    phicrypt_session s = PHICRYPT_SESSION_INIT;
    *use = 0;
    if (!phicrypt_access_enabled(ph) && !o->actor && !o->role && !o->purpose)
        return EXIT_OK;
    if (!o->actor || !o->role || !o->purpose)
        return cli_usage_error(cmd, "--actor NAME --role ROLE --purpose PURPOSE are required%s",
                               phicrypt_access_enabled(ph) ? " (the configuration has access rules)" : "");
    s.actor = o->actor;
    s.role = o->role;
    s.purpose = o->purpose;
    s.subject = o->subject;
    *out = s;
    *use = 1;
    return EXIT_OK;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_start(cli_progress *p, const char *label, int tty)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->tty = tty;
    p->t0 = cli_now();
}

static void progress_draw(cli_progress *p, uint64_t records, uint64_t done, uint64_t total, double t)
{
    double el = t - p->t0 > 1e-6 ? t - p->t0 : 1e-6;
    double mbs = (double)done / el / 1e6;
    if (total) {
        int pct = (int)((double)done * 100.0 / (double)total);
        int bar = pct / 5;
        double eta = done ? el * (double)(total - done) / (double)done : 0;
        fprintf(stderr, "\r[%.*s%.*s] %3d%%  %llu records  %.1f MB/s  ETA %.0fs   ", bar, "####################",
                20 - bar, "                    ", pct, (unsigned long long)records, mbs, eta);
    } else if (done || records) {
        fprintf(stderr, "\r%llu records  %.1f MB/s   ", (unsigned long long)records, mbs);
    } else {
        /* nothing countable: a bouncing block and the elapsed time */
        static const char track[] = "                    ";
        int pos = (int)(el * 5.0) % 38;
        pos = pos < 20 ? pos : 38 - pos;
        fprintf(stderr, "\r%s [%.*s#%.*s] %.0fs   ", p->label ? p->label : "working", pos, track, 19 - pos, track, el);
    }
    fflush(stderr);
}

void cli_progress_show(cli_progress *p, uint64_t records, uint64_t done, uint64_t total)
{
    double t = cli_now();
    if (!p->tty || (p->last != 0 && t - p->last < 0.2 && (total == 0 || done < total)))
        return;
    p->last = t;
    progress_draw(p, records, done, total, t);
}

static void *progress_ticker(void *arg)
{
    cli_progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        progress_draw(p, 0, 0, 0, cli_now());
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void cli_progress_tick_start(cli_progress *p)
{
    if (!p->tty)
        return;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->ticking = pthread_create(&p->thread, NULL, progress_ticker, p) == 0;
    if (!p->ticking)
        progress_draw(p, 0, 0, 0, cli_now()); /* no thread: one line still says what is running */
}

void cli_progress_end(cli_progress *p)
{
    if (!p->tty)
        return;
    if (p->ticking) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        p->ticking = 0;
    }
    fputs("\r\033[K", stderr);
    fflush(stderr);
}
