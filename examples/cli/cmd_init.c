/* phicrypt init --dir DIR */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "Usage: phicrypt init --dir DIR\n"
    "\n"
    "Create a key set for the local KMS provider in DIR (created if missing, mode 0700):\n"
    "  DIR/master.key      96 random bytes, mode 0600: the local master key that wraps every data key\n"
    "  DIR/keyvault.jsonl  the file key vault (one MongoDB key document per line)\n"
    "  DIR/keyring.jsonl   the token keyring\n"
    "  DIR/phicrypt.json   a configuration naming them (paths relative to DIR)\n"
    "\n"
    "Refuses a DIR that already holds master.key: replacing a master key would make\n"
    "every data key wrapped by it unusable. Back up master.key; whoever reads it can\n"
    "decrypt everything.\n";

static const char config_text[] =
    "{\n"
    "  \"kms_providers\": { \"local\": { \"key_file\": \"master.key\" } },\n"
    "  \"key_vault\": \"file:keyvault.jsonl\",\n"
    "  \"key_vault_namespace\": \"encryption.__keyVault\",\n"
    "  \"keyring\": \"file:keyring.jsonl\"\n"
    "}\n";

static int mkdirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                free(p);
                return -1;
            }
            *s = '/';
        }
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

/* Creates `path` with `text` unless it exists; 1 if created, 0 if kept. */
static int create_file(const char *path, const char *text, int *created)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    *created = 0;
    if (fd < 0)
        return errno == EEXIST ? 0 : -1;
    if ((len && write(fd, text, len) != (ssize_t)len) || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    *created = 1;
    return 0;
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    const char *dir = NULL;
    char path[4096];
    int c, rc, created;
    struct { const char *name; const char *text; } files[] = {
        { "keyvault.jsonl", "" }, { "keyring.jsonl", "" }, { "phicrypt.json", config_text } };

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'h') {
            fputs(usage, stdout);
            return EXIT_OK;
        } else
            return cli_usage_error("init", "invalid option");
    }
    if (optind < argc)
        return cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return cli_usage_error("init", "--dir DIR is required");
    if (strlen(dir) > 4000)
        return cli_usage_error("init", "--dir: path too long");
    if (mkdirs(dir) != 0)
        return cli_fail("cannot create directory %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/master.key", dir);
    if (access(path, F_OK) == 0)
        return cli_fail("%s already exists; refusing to replace a master key (every data key it wraps would be lost)",
                        path);
    {
        char vault[4096];
        struct stat st;
        snprintf(vault, sizeof vault, "%s/keyvault.jsonl", dir);
        if (stat(vault, &st) == 0 && st.st_size > 0)
            return cli_fail("%s holds data keys but %s is missing; a new master key could not unwrap them. "
                            "Restore the master key, or use another directory",
                            vault, path);
    }
    if ((rc = phicrypt_local_key_file_create(path)) != 0)
        return cli_lib_fail(NULL, rc, "init");
    printf("created %s (local master key, mode 0600; back it up and keep it secret)\n", path);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        if (create_file(path, files[i].text, &created) != 0)
            return cli_fail("cannot create %s: %s", path, strerror(errno));
        printf("%s %s\n", created ? "created" : "kept existing", path);
    }
    printf("\nNext:\n  export PHICRYPT_CONFIG=%s/phicrypt.json\n"
           "  phicrypt keys create --provider local --alt-name patients\n",
           dir);
    return EXIT_OK;
}
