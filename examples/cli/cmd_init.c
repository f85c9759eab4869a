/* phicrypt init --dir DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"

static const char usage[] =
    "Usage: phicrypt init --dir DIR [--force]\n"
    "\n"
    "Create a key set for the local KMS provider in DIR (created if missing, mode 0700):\n"
    "  DIR/master.key      96 random bytes, mode 0600: the local master key that wraps every data key\n"
    "  DIR/keyvault.jsonl  the file key vault (one MongoDB key document per line)\n"
    "  DIR/keyring.jsonl   the token keyring\n"
    "  DIR/phicrypt.json   a configuration naming them (paths relative to DIR)\n"
    "\n"
    "Refuses a DIR that group or others may write or that another user owns, and a\n"
    "DIR/phicrypt.json it did not write (--force replaces it with the one above).\n"
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

/* Someone else's directory, or one others may write, could hold (or later
 * receive) a configuration or key files of theirs. */
static int check_dir(const char *dir)
{
    struct stat st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cli_fail("%s: %s", dir, errno == ELOOP || errno == ENOTDIR ? "not a directory (or a symbolic link)"
                                                                          : strerror(errno));
    if (fstat(fd, &st) != 0) {
        close(fd);
        return cli_fail("%s: %s", dir, strerror(errno));
    }
    close(fd);
    if (st.st_uid != geteuid())
        return cli_fail("%s is owned by uid %lu, not by you (uid %lu); refusing to keep keys there", dir,
                        (unsigned long)st.st_uid, (unsigned long)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return cli_fail("%s: permissions %04o let group or others write it; refusing to keep keys there "
                        "(chmod 700 %s)",
                        dir, (unsigned)(st.st_mode & 07777), dir);
    return 0;
}

/* An existing phicrypt.json that is not the one init writes may point at
 * someone else's key file, key vault or KMS: refused unless --force,
 * which replaces it. */
static int check_config(const char *path, int force)
{
    char buf[sizeof config_text + 1];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : cli_fail("%s: %s", path, strerror(errno));
    n = read(fd, buf, sizeof buf);
    close(fd);
    if (n == (ssize_t)strlen(config_text) && memcmp(buf, config_text, (size_t)n) == 0)
        return 0;
    if (!force)
        return cli_fail("%s exists and was not written by phicrypt init; refusing to use a configuration that may "
                        "name someone else's keys (check it, or --force to replace it)",
                        path);
    return -1; /* replace it, once everything else has been checked */
}

typedef struct iopts {
    const char *dir;
    int force;
} iopts;

static const cli_option options[] = { CLI_OPT_STR(iopts, "dir", dir), CLI_OPT_FLAG(iopts, "force", force),
                                      CLI_OPT_END };
const cli_command cli_spec_init = { "init", usage, options, 0, NULL, NULL };

int cmd_init(int argc, char **argv)
{
    iopts o = { NULL, 0 };
    const char *dir;
    int force, replace;
    char path[4096];
    int first, rc, created;
    struct { const char *name; const char *text; } files[] = {
        { "keyvault.jsonl", "" }, { "keyring.jsonl", "" }, { "phicrypt.json", config_text } };

    if ((rc = cli_parse(&cli_spec_init, argc, argv, &o, &first)) != 0)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    dir = o.dir;
    force = o.force;
    if (!dir)
        return cli_usage_error("init", "--dir DIR is required");
    if (strlen(dir) > 4000)
        return cli_usage_error("init", "--dir: path too long");
    if (mkdirs(dir) != 0)
        return cli_fail("cannot create directory %s: %s", dir, strerror(errno));
    if ((rc = check_dir(dir)) != 0)
        return rc;
    snprintf(path, sizeof path, "%s/phicrypt.json", dir);
    if ((replace = check_config(path, force)) > 0)
        return replace;
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
        if (replace < 0 && strcmp(files[i].name, "phicrypt.json") == 0 && unlink(path) != 0)
            return cli_fail("%s: cannot replace: %s", path, strerror(errno));
        if (create_file(path, files[i].text, &created) != 0)
            return cli_fail("cannot create %s: %s", path, strerror(errno));
        printf("%s %s\n", created ? "created" : "kept existing", path);
    }
    printf("\nNext:\n  export PHICRYPT_CONFIG=%s/phicrypt.json\n"
           "  phicrypt keys create --provider local --alt-name patients\n",
           dir);
    return EXIT_OK;
}
