/* Stand-alone driver: runs a fuzz target over every file of the corpus
 * directories (or files) given, so the corpora replay under `meson test
 * --suite fuzz` with any compiler. Prints one TAP line per target. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    uint8_t *buf;
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    size_t runs = 0, bad = 0;
    const char *name = getenv("PHI_FUZZ_TARGET") ? getenv("PHI_FUZZ_TARGET") : "target";
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            bad++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **list;
            int n = scandir(argv[i], &list, NULL, alphasort);
            for (int j = 0; j < n; j++) {
                char *p;
                if (list[j]->d_name[0] != '.' && asprintf(&p, "%s/%s", argv[i], list[j]->d_name) > 0) {
                    if (run_file(p) == 0)
                        runs++;
                    else
                        bad++;
                    free(p);
                }
                free(list[j]);
            }
            free(list);
        } else if (run_file(argv[i]) == 0) {
            runs++;
        } else {
            bad++;
        }
    }
    /* Reaching this line means no input crashed (sanitizers abort). */
    printf("1..1\n%s 1 - test_fuzz__%s_corpus_replays (%zu inputs)\n", (runs > 0 && bad == 0) ? "ok" : "not ok", name,
           runs);
    return (runs > 0 && bad == 0) ? 0 : 1;
}
